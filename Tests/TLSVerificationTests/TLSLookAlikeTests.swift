import BulkheadModel
import BulkheadTestSupport
import CBulkheadOpenSSL
import Foundation
import Testing

@testable import TLSVerification

/// Real servers whose answers look like what they are not: a refusal that never saw the forged certificate (its key
/// fits no signature algorithm the server allows), a check of names that a copied name passes, a slow backend that
/// looks like a refusal, an HTTP/2 SETTINGS frame that looks like service, a banner that looks like a reason, a 403
/// that looks like service, an error in clear that looks like service, and forgeries from an intermediate CA refused
/// for a missing chain. Each test asserts the verdict the evidence proves, and fails with the judgement of before.
@Suite("mTLS verdicts against look-alike evidence", .serialized)
struct TLSLookAlikeTests {
    static let pki: TestPKI? = {
        guard let pki = try? TestPKI() else { return nil }
        do {
            try pki.issue("server", extensions: TestPKI.server())
            try pki.issue("client", subject: "/CN=bulkhead", extensions: TestPKI.client("client"))
            try pki.issue(
                "client-dn", subject: "/O=Lab/OU=payments/CN=client", serial: "0x5EED5EED",
                extensions: TestPKI.client("dn"))
            try pki.issue(
                "client-rsa", subject: "/CN=rsa-client", key: ["rsa:2048"], extensions: TestPKI.client("rsa"))
            return pki
        } catch {
            return nil
        }
    }()

    func thePKI() throws -> TestPKI { try #require(Self.pki, "the openssl command line could not build the test PKI") }

    func expectations(
        _ pki: TestPKI, client: String? = "client", caKey: String? = "ca", bundles: [String] = ["ca.pem"]
    ) -> TLSExpectations {
        TLSExpectations(
            trustBundles: bundles.map(pki.path), caKey: caKey.map { pki.path("\($0).key") },
            clientIdentity: client.map {
                IdentityFiles(certificate: pki.path("\($0)-chain.pem"), key: pki.path("\($0).key"))
            },
            expectedDNSNames: ["svc.test"])
    }

    func run(
        _ server: PeerProcess, _ expectations: TLSExpectations,
        timeouts: TLSTimeouts = TLSTimeouts(connection: 5, readAfterHandshake: 1)
    ) throws -> TLSEndpointReport {
        let endpoint = try #require(TLSEndpoint(server.endpoint))
        let options = TLSBatteryOptions(timeouts: timeouts, probeVersions: false, probeCiphers: false)
        let report = try ProbeBattery.run([TLSTarget(endpoint: endpoint, expectations: expectations)], options: options)
        return try #require(report.endpoints.first)
    }

    func probe(_ report: TLSEndpointReport, _ kind: TLSProbeKind) -> TLSProbeRecord? {
        report.probes.first { $0.probe == kind && $0.variant == nil }
    }

    // MARK: - A certificate never sent

    @Test(
        "a server that allows only RSA client signatures and accepts any RSA certificate: EC forgeries are never sent, so nothing is proven; forged with the client certificate's RSA key, they are served"
    )
    func signatureAlgorithms() throws {
        let pki = try self.thePKI()
        // -Verify 1 without -verify_return_error: any certificate that is sent is accepted.
        let server = try PeerProcess.sServer(
            pki, "server", ["-Verify", "1", "-client_sigalgs", "RSA+SHA256:rsa_pss_rsae_sha256"])
        let withEC = try self.run(server, self.expectations(pki))
        #expect(withEC.verdict == .inconclusive, "\(withEC.reason)")
        let rogue = try #require(self.probe(withEC, .rogueCA))
        #expect(rogue.result == .inconclusive && rogue.evidence == .none, "\(rogue.detail ?? "")")
        #expect(rogue.detail?.contains("not sent") == true, "\(rogue.detail ?? "")")
        #expect(self.probe(withEC, .clientCertificate)?.result == .inconclusive)

        let withRSA = try self.run(server, self.expectations(pki, client: "client-rsa"))
        #expect(withRSA.verdict == .tlsAcceptsRogueClient, "\(withRSA.reason)")
        #expect(self.probe(withRSA, .selfSigned)?.result == .accepted)
        #expect(self.probe(withRSA, .clientCertificate)?.result == .accepted)
    }

    // MARK: - Names copied whole

    @Test(
        "nginx that checks the subject, the issuer's name and the serial without verifying (optional_no_ca): a rogue CA with the right CA's name, the client's whole subject and serial is served"
    )
    func namesWithoutSignatures() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.nginx(
            pki, verify: "optional_no_ca",
            location: """
                if ($ssl_client_s_dn != "CN=client,OU=payments,O=Lab") { return 403 "client certificate not authorized\\n"; }
                if ($ssl_client_i_dn != "CN=Bulkhead Test Intermediate") { return 403 "client certificate not authorized\\n"; }
                if ($ssl_client_serial != "5EED5EED") { return 403 "client certificate not authorized\\n"; }
                return 200 "ok $ssl_client_s_dn\\n";
                """)
        let report = try self.run(server, self.expectations(pki, client: "client-dn"))
        #expect(report.verdict == .tlsAcceptsRogueClient, "\(report.reason)")
        let rogue = try #require(self.probe(report, .rogueCA))
        #expect(rogue.result == .accepted && rogue.evidence == .served, "\(rogue.detail ?? "")")
        // The self-signed forgery names itself as issuer: refused by the issuer check, in words.
        #expect(self.probe(report, .selfSigned)?.evidence == .refusedByApplication)
    }

    // MARK: - Silence

    @Test(
        "nginx accepting any certificate in front of a backend that hangs for unverified clients: silence is not a refusal, even where the valid certificate is served"
    )
    func slowBackend() throws {
        let pki = try self.thePKI()
        let backend = try PeerProcess.python("stall", pki)
        let server = try PeerProcess.nginx(
            pki, verify: "optional_no_ca",
            location: """
                proxy_read_timeout 60s;
                if ($ssl_client_verify = SUCCESS) { return 200 "ok\\n"; }
                proxy_pass http://127.0.0.1:\(backend.port);
                """)
        let report = try self.run(server, self.expectations(pki))
        #expect(report.verdict == .inconclusive, "\(report.reason)")
        #expect(self.probe(report, .clientCertificate)?.evidence == .served)
        let rogue = try #require(self.probe(report, .rogueCA))
        #expect(rogue.result == .inconclusive && rogue.evidence == .silent, "\(rogue.detail ?? "")")
        #expect(rogue.detail?.contains("--read-wait") == true)
        withExtendedLifetime(backend) {}
    }

    @Test(
        "nginx accepting any certificate behind a rate limit that answers 403: the valid certificate takes the one request allowed, and is tried again after the forgeries, which voids the comparison"
    )
    func rateLimited() throws {
        let pki = try self.thePKI()
        let www = pki.directory.appendingPathComponent("www-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: www, withIntermediateDirectories: true)
        try "hello\n".write(to: www.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        // limit_req runs after `return` (rewrite phase), so only requests with a certificate count.
        let server = try PeerProcess.nginx(
            pki, verify: "optional_no_ca",
            location: """
                if ($ssl_client_cert = "") { return 400 "No required SSL certificate was sent\\n"; }
                root \(www.path);
                """,
            server: "limit_req zone=perip; limit_req_status 403;",
            http: "limit_req_zone $binary_remote_addr zone=perip:1m rate=1r/m;")
        let report = try self.run(server, self.expectations(pki))
        // Whichever connection got the one request allowed, the forgeries' 403s are the limit's: never enforced. (A
        // forged certificate that got it is rightly an acceptance.)
        #expect(report.verdict == .inconclusive || report.verdict == .tlsAcceptsRogueClient, "\(report.reason)")
        if report.verdict == .inconclusive {
            let valid = try #require(self.probe(report, .clientCertificate))
            #expect(valid.attempts == 2 && valid.servedAttempts == 1, "\(valid.detail ?? "")")
            let rogue = try #require(self.probe(report, .rogueCA))
            #expect(rogue.result == .inconclusive && rogue.evidence == .deniedByApplication, "\(rogue.detail ?? "")")
            #expect(rogue.detail?.contains("not served after the forged certificates") == true, "\(rogue.detail ?? "")")
        }

        // Without a client certificate the control is no certificate at all: served at first, it is tried again too.
        let open = try PeerProcess.nginx(
            pki, verify: "optional_no_ca", location: "root \(www.path);",
            server: "limit_req zone=perip2; limit_req_status 403;",
            http: "limit_req_zone $binary_remote_addr zone=perip2:1m rate=1r/m;")
        let blind = try self.run(open, self.expectations(pki, client: nil, caKey: nil))
        #expect(blind.verdict != .mtlsEnforced, "\(blind.reason)")
        #expect(self.probe(blind, .rogueCA)?.result != .rejected, "\(self.probe(blind, .rogueCA)?.detail ?? "")")
    }

    @Test(
        "forged leaves carry the client certificate's serial and extensions byte for byte (email names, policies), with their own key identifiers and, for serverAuth only, their own EKU"
    )
    func forgeriesCopyExtensions() throws {
        let pki = try self.thePKI()
        try pki.issue(
            "client-policy", subject: "/O=Lab/CN=policy", serial: "0x0BADC0DE",
            extensions: TestPKI.client("policy").map {
                $0.hasPrefix("subjectAltName=") ? $0 + ",email:ops@lab.test" : $0
            } + ["certificatePolicies=2.16.840.1.101.3.2.1.3.13"])
        let template = try #require(try OpenSSL.loadCertificates(path: pki.path("client-policy.pem")).first)
        let forged = try ClientCertificateForge.forge(
            identity: .of(template), issuer: nil)
        func extensionBytes(_ certificate: X509Certificate, _ nid: Int32) -> [UInt8]? {
            let position = X509_get_ext_by_NID(certificate.pointer, nid, -1)
            guard position >= 0, let entry = X509_get_ext(certificate.pointer, position),
                let data = X509_EXTENSION_get_data(entry)
            else { return nil }
            return Array(UnsafeBufferPointer(start: ASN1_STRING_get0_data(data), count: Int(ASN1_STRING_length(data))))
        }
        for leaf in [forged.rogueCA.chain[0], forged.selfSigned.chain[0]] {
            for nid in [NID_subject_alt_name, NID_certificate_policies, NID_ext_key_usage, NID_key_usage] {
                #expect(extensionBytes(leaf, nid) == extensionBytes(template, nid), "extension \(nid)")
            }
            #expect(
                extensionBytes(leaf, NID_subject_key_identifier) != extensionBytes(template, NID_subject_key_identifier)
            )
            #expect(leaf.summary()?.serial == template.summary()?.serial && template.summary()?.serial != nil)
        }
    }

    // MARK: - HTTP/2

    @Test(
        "nginx with HTTP/2 and ssl_verify_client on: its SETTINGS frame comes before any check; the answer to the request (400 naming the certificate) is the refusal"
    )
    func http2Strict() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.nginx(pki, verify: "on", http2: true)
        let report = try self.run(server, self.expectations(pki))
        #expect(report.verdict == .mtlsEnforced, "\(report.reason)")
        for kind in [TLSProbeKind.rogueCA, .selfSigned, .expired, .serverAuthOnly, .noClientCertificate] {
            let record = try #require(self.probe(report, kind))
            #expect(record.application == "h2")
            #expect(record.evidence == .refusedByApplication, "\(kind.rawValue): \(record.detail ?? "")")
        }
        let valid = try #require(self.probe(report, .clientCertificate))
        #expect(valid.evidence == .served && valid.detail?.contains("HTTP/2 200") == true, "\(valid.detail ?? "")")
    }

    @Test("HTTP/2 answers read from their frames: indexed and literal statuses, Huffman-coded digits, a body's reason")
    func http2Frames() {
        func headers(_ block: [UInt8], endStream: Bool) -> [UInt8] {
            HTTP2.frame(type: 0x01, flags: 0x04 | (endStream ? 0x01 : 0), stream: 1, block)
        }
        let settings = HTTP2.frame(type: 0x04, flags: 0, stream: 0, [0, 3, 0, 0, 0, 100])
        #expect(HTTP2.judge(settings) == .needMore, "SETTINGS answers nothing")
        #expect(HTTP2.judge(settings + headers([0x88], endStream: true)) == .done(.served("HTTP/2 200")))
        // 403 as a literal with incremental indexing, raw and Huffman-coded (0x68 0x0c 0xff: 4, 0, 3 and padding).
        let raw403 = headers([0x48, 0x03] + Array("403".utf8), endStream: true)
        #expect(HTTP2.judge(settings + raw403) == .done(.denied(status: 403, "HTTP/2 403")))
        #expect(HPACKStatus.status(in: [0x48, 0x83, 0x68, 0x0c, 0xff]) == 403)
        #expect(HPACKStatus.status(in: [0x08, 0x83, 0x6c, 0x0c, 0xff]) == 503)
        #expect(HPACKStatus.status(in: [0x48, 0x83, 0x61, 0x0c, 0xff]) == nil, "a code that is not a digit")
        // A 400 waits for its body: the reason is there.
        let head400 = headers([0x8c], endStream: false)
        #expect(HTTP2.judge(head400) == .needMore)
        let body = HTTP2.frame(
            type: 0x00, flags: 0x01, stream: 1, Array("<title>400 No required SSL certificate was sent</title>".utf8))
        #expect(
            HTTP2.judge(head400 + body) == .done(.refused("HTTP/2 400 (400 No required SSL certificate was sent)")))
        // A GOAWAY before any answer is a close; one whose debug text names the certificate a refusal.
        let goaway = HTTP2.frame(type: 0x07, flags: 0, stream: 0, [0, 0, 0, 0, 0, 0, 0, 2])
        #expect(HTTP2.judge(goaway) == .done(.closed("HTTP/2 GOAWAY (error 2)")))
        let named = HTTP2.frame(type: 0x07, flags: 0, stream: 0, [0, 0, 0, 0, 0, 0, 0, 2] + Array("bad cert".utf8))
        #expect(HTTP2.judge(named) == .done(.refused("HTTP/2 GOAWAY (error 2): bad cert")))
        // A GOAWAY that keeps stream 1 (nginx with keepalive_timeout 0) comes before the answer, which is read.
        let keeping = HTTP2.frame(type: 0x07, flags: 0, stream: 0, [0, 0, 0, 1, 0, 0, 0, 0])
        #expect(HTTP2.judge(settings + keeping + headers([0x88], endStream: true)) == .done(.served("HTTP/2 200")))
        // A frame cut short waits for the rest.
        #expect(HTTP2.judge(Array(raw403.dropLast())) == .needMore)
    }

    // MARK: - What an answer says

    @Test(
        "a server that answers everyone 401 with OpenSSL in a header: the banner is no reason, and the same denial for the valid certificate proves nothing either way"
    )
    func bannerIsNoReason() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.nginx(
            pki, verify: "optional_no_ca",
            location: #"add_header X-Powered-By "Apache/2.4.57 (Unix) OpenSSL/3.0.11" always; return 401;"#)
        let report = try self.run(server, self.expectations(pki))
        // Not mtls-enforced (the banner read as a reason made it so), and not an acceptance either: a request denied
        // whoever asks (nginx answering 403 on `/` to everyone) says nothing of the certificate.
        #expect(report.verdict == .inconclusive, "\(report.reason)")
        let rogue = try #require(self.probe(report, .rogueCA))
        #expect(rogue.result == .inconclusive && rogue.evidence == .deniedByApplication, "\(rogue.detail ?? "")")
        #expect(rogue.comparedWith == "client-cert: denied:401 too")
        #expect(rogue.detail?.contains("gets the same denial") == true, "\(rogue.detail ?? "")")
        #expect(self.probe(report, .clientCertificate)?.result == .inconclusive)
    }

    @Test(
        "an application that answers 403 to any certificate that does not verify: refused by comparison with the valid certificate's 200, and inconclusive without one"
    )
    func plainForbidden() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.nginx(
            pki, verify: "optional_no_ca",
            location: #"if ($ssl_client_verify != SUCCESS) { return 403; } return 200 "ok\n";"#)
        let report = try self.run(server, self.expectations(pki))
        #expect(report.verdict == .mtlsEnforced, "\(report.reason)")
        let rogue = try #require(self.probe(report, .rogueCA))
        #expect(rogue.result == .rejected && rogue.evidence == .deniedByApplication, "\(rogue.detail ?? "")")
        #expect(rogue.comparedWith == "client-cert: served")

        let blind = try self.run(server, self.expectations(pki, client: nil, caKey: nil))
        #expect(blind.verdict == .inconclusive, "\(blind.reason)")
        #expect(self.probe(blind, .rogueCA)?.result == .inconclusive)
    }

    @Test("in clear, words that ask for TLS refuse; a link or a mention of TLS in an answer does not")
    func clearWords() {
        func judged(_ text: String) -> ServiceAnswer { HTTP.judgeInClear(Array((text + "\r\n").utf8)) }
        for refusal in [
            "-ERR TLS required", "-ERR 'Secure Connection - TLS Required'", "please use HTTPS",
            "530 Must issue a STARTTLS command first", "this port requires SSL",
            "534 SSL/TLS required on the control channel",
            "encryption required",
        ] {
            if case .refused = judged(refusal) {} else { Issue.record("\(refusal): a refusal") }
        }
        for served in [
            "-ERR unknown command 'GET', see https://redis.io/docs/latest/operate/oss_and_stack/management/security/encryption",
            "+OK TLS available", "220 mail.test ESMTP ready", "-ERR this port only speaks RESP; TLS is not enabled",
            "-ERR TLS optional, please see HELP", "-ERR TLS is not required here",
        ] {
            if case .served = judged(served) {} else { Issue.record("\(served): served in clear") }
        }
    }

    @Test(
        "a server that requires TLS and says so in clear (`-ERR TLS required`) refuses in clear: no plaintext finding")
    func refusalInClear() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.python(
            "http", pki, ["--verify", "required", "--clear-refusal", "-ERR TLS required"])
        let report = try self.run(server, self.expectations(pki))
        #expect(report.verdict == .mtlsEnforced, "\(report.reason)")
        let plaintext = try #require(self.probe(report, .plaintext))
        #expect(plaintext.evidence == .refusedInClear, "\(plaintext.detail ?? "")")
        #expect(!report.findings.contains { $0.kind == .plaintextAccepted })
    }

    // MARK: - An intermediate CA's key

    @Test(
        "with the intermediate CA's key, forgeries from the right CA are sent with the chain: a server that does not check dates serves the expired one"
    )
    func intermediateCAKey() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.python("http", pki, ["--verify", "required", "--no-check-time"])
        let report = try self.run(server, self.expectations(pki, caKey: "int", bundles: ["ca.pem", "int.pem"]))
        #expect(report.verdict == .tlsAcceptsRogueClient, "\(report.reason)")
        #expect(self.probe(report, .expired)?.result == .accepted)
        // Sent with its chain, the serverAuth-only certificate is refused for its purpose, not as from an unknown CA.
        let serverAuth = try #require(self.probe(report, .serverAuthOnly))
        #expect(serverAuth.result == .rejected && serverAuth.alert != 48, "\(serverAuth.detail ?? "")")
    }
}
