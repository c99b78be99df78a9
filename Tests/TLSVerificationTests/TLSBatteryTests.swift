import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import TLSVerification

/// The battery against real peers on 127.0.0.1: `openssl s_server` in every configuration of issue 6, nginx,
/// and a plaintext server. Each test asserts the exact verdict.
@Suite("mTLS battery against real servers", .serialized)
struct TLSBatteryTests {
    /// One PKI for the whole suite (generation takes a second).
    static let pki: TestPKI? = {
        guard let pki = try? TestPKI() else { return nil }
        do {
            try pki.issue("server", extensions: TestPKI.server())
            try pki.issue("client", extensions: TestPKI.client("client"))
            try pki.issue("other", extensions: TestPKI.client("other"))
            try pki.issue("expired", days: -1, extensions: TestPKI.server())
            try pki.issue(
                "wrongsan", extensions: TestPKI.server("DNS:other.test,URI:spiffe://bulkhead.test/ns/lab/sa/server"))
            try pki.issue(
                "wrongspiffe", extensions: TestPKI.server("DNS:svc.test,URI:spiffe://bulkhead.test/ns/lab/sa/intruder"))
            try pki.issue("weak", key: ["rsa:1024"], digest: "sha1", extensions: TestPKI.server())
            try pki.issue("zeroserial", serial: "0", extensions: TestPKI.server())
            try pki.issue(
                "caleaf",
                extensions: [
                    "basicConstraints=critical,CA:TRUE", "extendedKeyUsage=serverAuth", "subjectAltName=DNS:svc.test",
                ])
            return pki
        } catch {
            return nil
        }
    }()

    func thePKI() throws -> TestPKI {
        try #require(Self.pki, "the openssl command line could not build the test PKI")
    }

    /// Expectations as the CLI would build them from flags.
    func expectations(_ pki: TestPKI, caKey: Bool = true, client: Bool = true, other: Bool = false) -> TLSExpectations {
        TLSExpectations(
            trustBundles: [pki.path("ca.pem")], caKey: caKey ? pki.path("ca.key") : nil,
            clientIdentity: client
                ? IdentityFiles(certificate: pki.path("client-chain.pem"), key: pki.path("client.key")) : nil,
            otherIdentity: other
                ? IdentityFiles(certificate: pki.path("other-chain.pem"), key: pki.path("other.key")) : nil,
            expectedDNSNames: ["svc.test"], expectedSPIFFEID: "spiffe://bulkhead.test/ns/lab/sa/server")
    }

    func probe(_ server: PeerProcess, _ expectations: TLSExpectations, ciphers: Bool = false) throws
        -> TLSEndpointReport
    {
        let endpoint = try #require(TLSEndpoint(server.endpoint))
        let options = TLSBatteryOptions(
            timeouts: TLSTimeouts(connection: 5, readAfterHandshake: 1), probeCiphers: ciphers)
        let report = try ProbeBattery.run([TLSTarget(endpoint: endpoint, expectations: expectations)], options: options)
        return try #require(report.endpoints.first)
    }

    func probe(_ report: TLSEndpointReport, _ kind: TLSProbeKind, _ variant: String? = nil) -> TLSProbeRecord? {
        report.probes.first { $0.probe == kind && $0.variant == variant }
    }

    func kinds(_ report: TLSEndpointReport) -> Set<FindingKind> { Set(report.findings.map(\.kind)) }

    static let strict = ["-Verify", "1", "-verify_return_error"]

    @Test("strict mTLS, TLS 1.3: every forged certificate refused with an alert, the valid one accepted")
    func strictTLS13() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.sServer(pki, "server", Self.strict + ["-CAfile", pki.path("ca.pem"), "-tls1_3"])
        let report = try self.probe(server, self.expectations(pki, other: true))
        #expect(report.verdict == .mtlsEnforced)
        #expect(report.clientAuth == .required)
        let noCert = try #require(self.probe(report, .noClientCertificate))
        #expect(noCert.result == .rejected)
        #expect(noCert.alert == 116)
        #expect(noCert.tlsVersion == "TLSv1.3")
        #expect(noCert.certificateRequest == true)
        #expect(noCert.acceptableCAs == ["CN=Bulkhead Test Root"])
        for kind in [TLSProbeKind.rogueCA, .selfSigned, .expired, .serverAuthOnly] {
            let forged = try #require(self.probe(report, kind))
            #expect(forged.result == .rejected, "\(kind.rawValue): \(forged.detail ?? "")")
            #expect(forged.alert != nil, "\(kind.rawValue) refused without an alert")
        }
        #expect(self.probe(report, .expired)?.alert == 45)
        #expect(self.probe(report, .rogueCA)?.alert == 48)
        #expect(self.probe(report, .clientCertificate)?.result == .accepted)
        // s_server authorizes any valid certificate: the other identity gets in.
        #expect(report.authorization == "accepted")
        #expect(self.kinds(report).contains(.authorizationAnyIdentity))
        #expect(report.serverChain?.pathValidation == .valid, "\(report.serverChain?.pathError ?? "")")
        #expect(report.serverChain?.spiffeMatch == true)
        #expect(report.serverChain?.missingDNSNames == [])
        #expect(!self.kinds(report).contains { $0.identifier.hasPrefix("server-") })
        let data = try JSONEncoder().encode(report)
        #expect(
            try JSONDecoder().decode(TLSEndpointReport.self, from: data) == report, "a full report reads back unchanged"
        )
    }

    @Test("strict mTLS, TLS 1.2: refusal during the handshake")
    func strictTLS12() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.sServer(pki, "server", Self.strict + ["-CAfile", pki.path("ca.pem"), "-tls1_2"])
        let report = try self.probe(server, self.expectations(pki))
        #expect(report.verdict == .mtlsEnforced)
        #expect(self.probe(report, .noClientCertificate)?.tlsVersion == "TLSv1.2")
        #expect(self.probe(report, .noClientCertificate)?.acceptableCAs == ["CN=Bulkhead Test Root"])
        #expect(self.probe(report, .clientCertificate)?.result == .accepted)
        #expect(self.probe(report, .protocolVersion, "TLSv1.3")?.result == .rejected)
        // TLS 1.2 is what the no-certificate probe negotiated (TLS 1.0 to 1.3 offered): accepted on that
        // connection's evidence, with no connection of its own; TLS 1.3 is then refused (a server that supports it
        // must choose it).
        let version = try #require(self.probe(report, .protocolVersion, "TLSv1.2"))
        #expect(version.result == .accepted)
        #expect(version.attempts == 0)
        #expect(version.detail?.hasPrefix("negotiated by the no-certificate probe") == true, "\(version.detail ?? "")")
        #expect(version.cipher != nil)
        // The alert that refused the missing certificate belongs to the no-certificate probe, not to the version.
        #expect(self.probe(report, .noClientCertificate)?.alert != nil)
        #expect(version.alert == nil && version.alertName == nil)
        #expect(self.probe(report, .protocolVersion, "TLSv1.3")?.attempts == 0)
    }

    /// The weak cipher categories are offered together and split only as the server accepts (group testing). The
    /// oracle is `openssl s_client` offering each category alone, as the battery did before.
    @Test("weak cipher categories offered together: the same acceptances as each category alone, in fewer connections")
    func cipherGroups() throws {
        let pki = try self.thePKI()
        // An RSA certificate beside the EC one (the test root doubles as one), so static-RSA suites can be chosen;
        // anonymous ECDH and CBC suites are in ALL at security level 0, NULL suites are not.
        let server = try PeerProcess.sServer(
            pki, "server",
            ["-tls1_2", "-cipher", "ALL:@SECLEVEL=0", "-dcert", pki.path("ca.pem"), "-dkey", pki.path("ca.key")])
        let report = try self.probe(server, self.expectations(pki), ciphers: true)
        let categories = report.probes.filter { $0.probe == .cipher && $0.result != .skipped }
        #expect(categories.count >= 4, "NULL, anonymous, static-RSA and CBC at least")
        for record in categories {
            let list = try #require(WeakCiphers.suites[record.variant ?? ""]).joined(separator: ":") + ":@SECLEVEL=0"
            let alone = try ProcessRunner.run(
                URL(fileURLWithPath: "/usr/bin/openssl"),
                [
                    "s_client", "-connect", server.endpoint, "-tls1_2", "-cipher", list, "-brief", "-no_ign_eof",
                ], input: "")
            let acceptedAlone = alone.error.contains("Ciphersuite:") || alone.output.contains("Ciphersuite:")
            #expect(
                (record.result == .accepted) == acceptedAlone,
                "\(record.variant ?? ""): battery \(record.result), s_client alone: \(acceptedAlone)")
        }
        #expect(self.probe(report, .cipher, "NULL")?.result == .rejected)
        for name in ["anonymous", "static-RSA", "CBC"] {
            #expect(self.probe(report, .cipher, name)?.result == .accepted, "\(name)")
        }
        // One connection per accepted category and one refusal for the rest: 4, where offering each alone took 4 + the
        // refused ones; every record of a shared connection says so.
        #expect(categories.map(\.attempts).reduce(0, +) == 4)
        #expect(categories.filter { $0.attempts == 0 }.allSatisfy { $0.detail?.contains("offered together") == true })
    }

    @Test(
        "-Verify 1 without -verify_return_error accepts rogue certificates (TLS 1.3 and 1.2)",
        arguments: ["-tls1_3", "-tls1_2"])
    func misconfigured(version: String) throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.sServer(pki, "server", ["-Verify", "1", "-CAfile", pki.path("ca.pem"), version])
        let report = try self.probe(server, self.expectations(pki, caKey: false))
        #expect(report.verdict == .tlsAcceptsRogueClient)
        #expect(report.clientAuth == .required)
        #expect(self.probe(report, .rogueCA)?.result == .accepted)
        #expect(self.probe(report, .selfSigned)?.result == .accepted)
        #expect(self.probe(report, .expired)?.result == .skipped)
        #expect(self.probe(report, .expired)?.detail?.contains("needs the CA key") == true)
        #expect(report.findings.first?.severity == .critical)
        #expect(report.findings.filter { $0.kind == .rogueClientAccepted }.count == 2)
    }

    @Test("-verify 1: optional client authentication that also accepts forged certificates: the worse fact wins")
    func optional() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.sServer(pki, "server", ["-verify", "1", "-CAfile", pki.path("ca.pem")])
        let report = try self.probe(server, self.expectations(pki))
        #expect(report.verdict == .tlsAcceptsRogueClient)
        #expect(report.clientAuth == .optional)
        #expect(self.kinds(report).contains(.mtlsOptional))
        #expect(self.kinds(report).contains(.rogueClientAccepted))
        #expect(self.probe(report, .rogueCA)?.evidence == .served)
    }

    @Test("no client authentication")
    func noClientAuth() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.sServer(pki, "server", [])
        let report = try self.probe(server, self.expectations(pki))
        #expect(report.verdict == .tlsNoClientAuth)
        #expect(report.clientAuth == ClientAuthMode.none)
        #expect(self.probe(report, .noClientCertificate)?.certificateRequest == false)
        #expect(self.probe(report, .rogueCA)?.result == .skipped)
    }

    @Test("plaintext on the TLS port")
    func plaintext() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.plaintextHTTP()
        let report = try self.probe(server, self.expectations(pki))
        #expect(report.verdict == .plaintextAccepted)
        #expect(self.probe(report, .plaintext)?.result == .plaintextAnswered)
        #expect(report.findings.first?.kind == .plaintextAccepted)
        #expect(report.findings.first?.severity == .high)
    }

    @Test("TLS 1.0 only: legacy version finding; weak ciphers probed")
    func tls10() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.sServer(pki, "server", ["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"])
        let report = try self.probe(server, self.expectations(pki), ciphers: true)
        #expect(report.verdict == .tlsNoClientAuth)
        #expect(self.probe(report, .protocolVersion, "TLSv1")?.result == .accepted)
        #expect(self.probe(report, .protocolVersion, "TLSv1.2")?.result == .rejected)
        #expect(self.kinds(report).contains(.tlsLegacyVersion))
        // DEFAULT has CBC suites in TLS 1.0; static RSA too.
        #expect(self.probe(report, .cipher, "CBC")?.result == .accepted)
        #expect(self.probe(report, .cipher, "NULL")?.result == .rejected)
    }

    @Test(
        "server certificate defects: expired, wrong SAN, wrong SPIFFE ID, SHA-1/RSA-1024, CA:TRUE leaf, zero serial, missing intermediate"
    )
    func serverChainDefects() throws {
        let pki = try self.thePKI()
        let cases: [(name: String, chain: Bool, options: [String], kinds: [FindingKind])] = [
            ("server", true, [], []),
            ("expired", true, [], [.certificate(.expired, family: .server), .serverChainUntrusted]),
            ("wrongsan", true, [], [.serverIdentityMismatch]),
            ("wrongspiffe", true, [], [.serverSPIFFEMismatch]),
            (
                "weak", true, ["-cipher", "DEFAULT@SECLEVEL=0"],
                [.certificate(.weakKey, family: .server), .certificate(.weakSignature, family: .server)]
            ),
            ("caleaf", true, [], [.certificate(.leafIsCA, family: .server)]),
            ("zeroserial", true, [], [.certificate(.serial, family: .server)]),
            ("server", false, [], [.serverChainUntrusted]),
        ]
        for item in cases {
            let server = try PeerProcess.sServer(pki, item.name, chain: item.chain, item.options)
            let report = try self.probe(server, self.expectations(pki, client: false))
            let kinds = self.kinds(report)
            #expect(report.verdict == .tlsNoClientAuth, "\(item.name)")
            for kind in item.kinds {
                #expect(kinds.contains(kind), "\(item.name): \(kind) missing from \(kinds.sorted())")
            }
            if item.kinds.isEmpty {
                #expect(report.serverChain?.pathValidation == .valid, "\(report.serverChain?.pathError ?? "")")
                #expect(!kinds.contains { $0.identifier.hasPrefix("server-") }, "\(kinds.sorted())")
            }
            if !item.chain {
                #expect(report.serverChain?.pathError?.contains("missing intermediate") == true)
            }
        }
    }

    @Test("nginx ssl_verify_client on / optional", arguments: ["on", "optional"])
    func nginx(verify: String) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx") else {
            print("skipped: nginx is not installed (scripts/install-deps.sh --test installs it)")
            return
        }
        let pki = try self.thePKI()
        let server = try PeerProcess.nginx(pki, verify: verify)
        let report = try self.probe(server, self.expectations(pki))
        #expect(report.verdict == (verify == "on" ? .mtlsEnforced : .mtlsOptional))
        #expect(self.probe(report, .rogueCA)?.result == .rejected)
        #expect(self.probe(report, .rogueCA)?.detail?.contains("refused by the application") == true)
        #expect(self.probe(report, .clientCertificate)?.result == .accepted)
    }

    @Test("an endpoint nobody listens on is untested, never secure")
    func unreachable() throws {
        let pki = try self.thePKI()
        let endpoint = try #require(TLSEndpoint("127.0.0.1:\(PeerProcess.freePort())"))
        let report = try ProbeBattery.run([TLSTarget(endpoint: endpoint, expectations: self.expectations(pki))])
        #expect(report.endpoints.first?.verdict == .unreachable)
        #expect(!report.complete)
    }

    @Test("a listener that never answers: timeout, never secure")
    func silent() throws {
        let pki = try self.thePKI()
        // The peer's sleep is the point of the test: it accepts connections and then says nothing for two minutes.
        let server = try PeerProcess(
            "/usr/bin/env",
            [
                "python3", "-u", "-c",
                """
                import socket, time
                s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
                print("port", s.getsockname()[1]); time.sleep(120)
                """,
            ], portAfter: "port ")
        let endpoint = try #require(TLSEndpoint(server.endpoint))
        let options = TLSBatteryOptions(
            timeouts: TLSTimeouts(connection: 1, readAfterHandshake: 0.5), probeCiphers: false)
        let report = try ProbeBattery.run(
            [TLSTarget(endpoint: endpoint, expectations: self.expectations(pki))], options: options)
        #expect(report.endpoints.first?.verdict == .timeout)
        #expect(report.endpoints.first?.clientAuth == .unknown)
        #expect(!report.complete)
        #expect(report.durationSeconds < 5, "every probe runs concurrently, each bounded by its deadline")
    }

    @Test("the operator's limit (BULKHEAD_ALLOWED_RANGES): ranges read, a bad value refuses everything, names never")
    func addressLimit() throws {
        let address = { (text: String) in try #require(IPAddress(text)) }
        let lab = AddressLimit(environmentValue: " 127.0.0.0/8, 198.18.0.0/15 ,,::1/128")
        #expect(lab.permits(try address("127.0.0.5")))
        #expect(lab.permits(try address("198.19.3.4")))
        #expect(lab.permits(try address("::1")))
        #expect(!lab.permits(try address("198.20.0.1")))
        #expect(!lab.permits(try address("10.0.0.1")))
        #expect(!lab.permits(try address("::2")))
        #expect(
            lab.refusal(try address("10.0.0.1")).contains(
                "outside BULKHEAD_ALLOWED_RANGES (127.0.0.0/8, 198.18.0.0/15, ::1/128)"))
        // Unset or empty: the scope guard's own rule alone (enumerated or named addresses).
        #expect(AddressLimit(environmentValue: nil) == .none)
        #expect(AddressLimit(environmentValue: " , ") == .none)
        #expect(AddressLimit(environmentValue: nil).permits(try address("10.0.0.1")))
        // A value that cannot be read refuses everything (fail closed), naming the item.
        for bad in ["10.0.0.0/33", "198.18.0.0", "lab", "127.0.0.0/8;198.18.0.0/15"] {
            let limit = AddressLimit(environmentValue: bad)
            #expect(!limit.permits(try address("127.0.0.1")), "\(bad)")
            #expect(limit.problem?.contains("BULKHEAD_ALLOWED_RANGES") == true, "\(bad)")
        }
        #expect(AddressLimit(environmentValue: "lab").problem?.contains("\"lab\" is not a CIDR range") == true)
        // The reachability probe's guard: only its own addresses, and those inside the operator's limit.
        var scope = ScopeGuard()
        scope.allow("127.0.0.1")
        #expect(scope.permits(try address("127.0.0.1")) == AddressLimit.current.permits(try address("127.0.0.1")))
        #expect(!scope.permits(try address("127.0.0.2")))
        #expect(scope.refusal(try address("127.0.0.2")).contains("outside the probe scope"))
        // Endpoints are IPv4 literals: names are never resolved.
        #expect(TLSEndpoint("svc.test:443") == nil)
        #expect(TLSEndpoint("127.0.0.1:0") == nil)
    }

    @Test("a file error names the file")
    func fileError() throws {
        let pki = try self.thePKI()
        var expectations = self.expectations(pki)
        expectations.caKey = pki.path("client.key")
        #expect {
            try ProbeBattery.run([
                TLSTarget(endpoint: try #require(TLSEndpoint("127.0.0.1:1")), expectations: expectations)
            ])
        } throws: { error in
            (error as? TLSProbeError)?.code == .unusableFile
                && (error as? TLSProbeError)?.path == pki.path("client.key")
                && "\(error)".contains("trust bundle")
        }
    }
}

/// sslyze (PyPI) as an oracle: on what it can see — client authentication none / optional / required, and the
/// highest TLS version — it must agree with Bulkhead. Where it cannot see (a server that accepts forged
/// certificates), it calls the server "REQUIRED" and Bulkhead must say `tls-accepts-rogue-client`.
@Suite("sslyze agrees on what it can see", .serialized)
struct SslyzeComparisonTests {
    /// `sslyze` on PATH, or nil.
    static let sslyze: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/usr/local/bin"
        return path.split(separator: ":").map { "\($0)/sslyze" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }()

    @Test("client auth and highest version, four servers")
    func compare() throws {
        guard let sslyze = Self.sslyze else {
            print("skipped: sslyze is not installed (pip install sslyze; scripts/install-deps.sh --test installs it)")
            return
        }
        let pki = try #require(TLSBatteryTests.pki)
        let ca = pki.path("ca.pem")
        let servers: [(String, [String], String, TLSVerdict)] = [
            ("strict", ["-Verify", "1", "-verify_return_error", "-CAfile", ca], "REQUIRED", .mtlsEnforced),
            ("misconfigured", ["-Verify", "1", "-CAfile", ca], "REQUIRED", .tlsAcceptsRogueClient),
            // -verify 1 serves clients without a certificate and accepts forged ones: sslyze sees only the first.
            ("optional", ["-verify", "1", "-CAfile", ca], "OPTIONAL", .tlsAcceptsRogueClient),
            ("none", [], "DISABLED", .tlsNoClientAuth),
        ]
        let peers = try servers.map { try PeerProcess.sServer(pki, "server", $0.1) }
        let output = pki.path("sslyze-\(UUID().uuidString).json")
        let run = try ProcessRunner.run(
            URL(fileURLWithPath: sslyze),
            ["--json_out=\(output)", "--mozilla_config=disable", "--tlsv1_2", "--tlsv1_3"] + peers.map(\.endpoint))
        #expect(run.status == 0, "sslyze failed: \(run.error)")
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as? [String: Any])
        let results = try #require(document["server_scan_results"] as? [[String: Any]])
        var sslyzeAuth: [Int: String] = [:]
        var sslyzeVersion: [Int: String] = [:]
        for result in results {
            guard let location = result["server_location"] as? [String: Any], let port = location["port"] as? Int,
                let connectivity = result["connectivity_result"] as? [String: Any]
            else { continue }
            sslyzeAuth[port] = connectivity["client_auth_requirement"] as? String
            sslyzeVersion[port] = connectivity["highest_tls_version_supported"] as? String
        }
        let expectations = TLSExpectations(trustBundles: [ca])
        let targets = peers.map { TLSTarget(endpoint: TLSEndpoint($0.endpoint)!, expectations: expectations) }
        let report = try ProbeBattery.run(targets, options: TLSBatteryOptions(probeCiphers: false))
        for ((name, _, expectedSslyze, expectedVerdict), (peer, endpoint)) in zip(servers, zip(peers, report.endpoints))
        {
            #expect(
                sslyzeAuth[peer.port] == expectedSslyze, "\(name): sslyze said \(sslyzeAuth[peer.port] ?? "nothing")")
            let ours: String =
                switch endpoint.clientAuth {
                case .required: "REQUIRED"
                case .optional: "OPTIONAL"
                case .none: "DISABLED"
                case .unknown: "unknown"
                }
            #expect(ours == sslyzeAuth[peer.port], "\(name): client auth differs from sslyze")
            #expect(endpoint.verdict == expectedVerdict, "\(name)")
            let highest = endpoint.probes.filter { $0.probe == .protocolVersion && $0.result == .accepted }.compactMap(
                \.variant
            ).max()
            #expect(
                highest == "TLSv1.3" && sslyzeVersion[peer.port] == "TLS_1_3",
                "\(name): highest version \(highest ?? "-") vs \(sslyzeVersion[peer.port] ?? "-")")
        }
    }
}
