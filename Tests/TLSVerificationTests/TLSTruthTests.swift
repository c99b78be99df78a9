import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import TLSVerification

/// The evidence model against a zoo of real servers that behave the ways real ones do: answer, close after the
/// handshake, close TCP without an alert, answer in clear with an error, accept sometimes, speak STARTTLS, stall,
/// stream garbage. Every test asserts the exact verdict and the evidence behind it; the point of each is what
/// else could have produced the same observation.
@Suite("mTLS verdicts need positive evidence", .serialized)
struct TLSTruthTests {
    static let pki: TestPKI? = {
        guard let pki = try? TestPKI() else { return nil }
        do {
            try pki.issue("server", extensions: TestPKI.server())
            // CN=bulkhead: the PostgreSQL user the battery logs in as with this certificate (clientcert=verify-full).
            try pki.issue("client", subject: "/CN=bulkhead", extensions: TestPKI.client("client"))
            return pki
        } catch {
            return nil
        }
    }()

    func thePKI() throws -> TestPKI { try #require(Self.pki, "the openssl command line could not build the test PKI") }

    func expectations(_ pki: TestPKI, client: Bool = true, caKey: Bool = true) -> TLSExpectations {
        TLSExpectations(
            trustBundles: [pki.path("ca.pem")], caKey: caKey ? pki.path("ca.key") : nil,
            clientIdentity: client
                ? IdentityFiles(certificate: pki.path("client-chain.pem"), key: pki.path("client.key")) : nil,
            expectedDNSNames: ["svc.test"])
    }

    func run(
        _ server: PeerProcess, _ expectations: TLSExpectations, application: AppProbeProtocol? = nil,
        startTLS: StartTLSProtocol? = nil, timeouts: TLSTimeouts = TLSTimeouts(connection: 5, readAfterHandshake: 1)
    ) throws -> TLSEndpointReport {
        let endpoint = try #require(TLSEndpoint(server.endpoint))
        let options = TLSBatteryOptions(
            timeouts: timeouts, probeVersions: false, probeCiphers: false, applicationProtocol: application,
            startTLS: startTLS)
        let report = try ProbeBattery.run([TLSTarget(endpoint: endpoint, expectations: expectations)], options: options)
        return try #require(report.endpoints.first)
    }

    func probe(_ report: TLSEndpointReport, _ kind: TLSProbeKind, _ variant: String? = nil) -> TLSProbeRecord? {
        report.probes.first { $0.probe == kind && $0.variant == variant }
    }

    func kinds(_ report: TLSEndpointReport) -> Set<FindingKind> { Set(report.findings.map(\.kind)) }

    /// Every forged certificate ended with `evidence`, in every attempt.
    func forged(
        _ report: TLSEndpointReport, _ result: TLSProbeResult, _ evidence: TLSEvidence? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for kind in [TLSProbeKind.rogueCA, .selfSigned, .expired, .serverAuthOnly] {
            guard let record = self.probe(report, kind) else {
                Issue.record("\(kind.rawValue) missing", sourceLocation: sourceLocation)
                continue
            }
            #expect(record.result == result, "\(kind.rawValue): \(record.detail ?? "")", sourceLocation: sourceLocation)
            if let evidence {
                #expect(
                    record.evidence == evidence, "\(kind.rawValue): \(record.evidence.rawValue) \(record.detail ?? "")",
                    sourceLocation: sourceLocation)
            }
            #expect(
                record.attempts >= 5, "\(kind.rawValue) tried \(record.attempts) times", sourceLocation: sourceLocation)
        }
    }

    static let strict = ["-Verify", "1", "-verify_return_error"]

    // MARK: - Servers that close after the handshake

    @Test(
        "s_server accepting any certificate, closing after each handshake: the valid certificate gets the same close, so nothing tells acceptance from refusal (inconclusive, never enforced)",
        arguments: ["-tls1_3", "-tls1_2"])
    func closingAcceptAny(version: String) throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.sServerClosing(pki, ["-Verify", "1", "-CAfile", pki.path("ca.pem"), version])
        let report = try self.run(server, self.expectations(pki))
        // A strict server that closes a refused certificate at the TLS layer, and the valid one after a request it does
        // not speak, ends both connections the same way too: the same close proves neither.
        #expect(report.verdict == .inconclusive, "\(report.reason)")
        #expect(!report.verdict.tested, "inconclusive is incomplete: exit status 3")
        #expect(self.probe(report, .clientCertificate)?.evidence == .closedWithoutReason)
        let rogue = try #require(self.probe(report, .rogueCA))
        #expect(rogue.result == .inconclusive)
        #expect(rogue.evidence == .closedWithoutReason)
        #expect(rogue.comparedWith?.hasPrefix("client-cert:") == true)
        #expect(rogue.detail?.contains("ends the same way") == true, "\(rogue.detail ?? "")")
        #expect(self.kinds(report).contains(.tlsInconclusive))
        #expect(self.kinds(report).contains(.validClientNotServed))
    }

    @Test("the same server without a valid certificate to compare with: inconclusive, never enforced, with the reason")
    func closingWithoutControl() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.sServerClosing(pki, ["-Verify", "1", "-CAfile", pki.path("ca.pem"), "-tls1_3"])
        let report = try self.run(server, self.expectations(pki, client: false, caKey: false))
        #expect(report.verdict == .inconclusive)
        #expect(!report.verdict.tested, "inconclusive is incomplete: exit status 3")
        #expect(report.reason.contains("supply a client certificate"), "\(report.reason)")
        #expect(self.probe(report, .rogueCA)?.result == .inconclusive)
        #expect(self.kinds(report).contains(.tlsInconclusive))
    }

    @Test(
        "strict s_server that closes after the handshake: forged certificates refused by alert, valid one closed (its own finding)"
    )
    func closingStrict() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.sServerClosing(pki, Self.strict + ["-CAfile", pki.path("ca.pem"), "-tls1_3"])
        let report = try self.run(server, self.expectations(pki))
        #expect(report.verdict == .mtlsEnforced, "\(report.reason)")
        self.forged(report, .rejected, .refusedByTLS)
        #expect(self.kinds(report).contains(.validClientNotServed))
    }

    @Test(
        "-verify 1 that closes after each handshake: no certificate and forged ones get what the valid one gets, which proves nothing"
    )
    func closingOptional() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.sServerClosing(pki, ["-verify", "1", "-CAfile", pki.path("ca.pem")])
        let report = try self.run(server, self.expectations(pki))
        #expect(report.verdict == .inconclusive, "\(report.reason)")
        #expect(self.probe(report, .noClientCertificate)?.result == .inconclusive)
        #expect(self.kinds(report).contains(.tlsInconclusive))
    }

    // MARK: - Servers that refuse without an alert

    @Test(
        "a server that enforces by closing TCP without an alert, TLS 1.3: refused by comparison with the served valid certificate"
    )
    func closeNoAlertTLS13() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.python("close-no-alert", pki, ["--tls", "1.3"])
        let report = try self.run(server, self.expectations(pki))
        #expect(report.verdict == .mtlsEnforced, "\(report.reason)")
        #expect(self.probe(report, .clientCertificate)?.evidence == .served)
        self.forged(report, .rejected, .closedWithoutReason)
        #expect(self.probe(report, .rogueCA)?.comparedWith == "client-cert: served")
        #expect(!self.kinds(report).contains(.rogueClientAccepted))
    }

    @Test("the same server with no valid certificate to compare with: inconclusive (a close proves nothing by itself)")
    func closeNoAlertWithoutControl() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.python("close-no-alert", pki, ["--tls", "1.3"])
        let report = try self.run(server, self.expectations(pki, client: false))
        #expect(report.verdict == .inconclusive, "\(report.reason)")
    }

    @Test("TLS 1.2: closing during the handshake leaves no session: refused on its own evidence")
    func closeNoAlertTLS12() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.python("close-no-alert", pki, ["--tls", "1.2"])
        let report = try self.run(server, self.expectations(pki, client: false))
        #expect(report.verdict == .mtlsEnforced, "\(report.reason)")
        self.forged(report, .rejected, .handshakeAborted)
    }

    // MARK: - Servers that accept sometimes

    @Test("a load balancer with one backend in three accepting unverified certificates is caught, run after run")
    func acceptsSometimes() throws {
        let pki = try self.thePKI()
        let ca = pki.path("ca.pem")
        let strictA = try PeerProcess.sServer(pki, "server", Self.strict + ["-CAfile", ca])
        let strictB = try PeerProcess.sServer(pki, "server", Self.strict + ["-CAfile", ca])
        let permissive = try PeerProcess.sServer(pki, "server", ["-Verify", "1", "-CAfile", ca])
        let front = try PeerProcess.python(
            "proxy", pki,
            ["--backend", "\(strictA.port)", "--backend", "\(strictB.port)", "--backend", "\(permissive.port)"])
        // No CA key: only the two forgeries that need none, tried 10 times each (20 connections: a miss is < 0.1%).
        for run in 1...3 {
            let report = try self.run(front, self.expectations(pki, client: false, caKey: false))
            #expect(report.verdict == .tlsAcceptsRogueClient, "run \(run): \(report.reason)")
            let rogue = try #require(self.probe(report, .rogueCA))
            let selfSigned = try #require(self.probe(report, .selfSigned))
            // Ten attempts each, or fewer when one was served (acceptance is proven: the rest are not made).
            for record in [rogue, selfSigned] {
                #expect(
                    record.attempts == 10 || (record.servedAttempts == 1 && record.attempts < 10),
                    "\(record.probe.rawValue): \(record.attempts) attempts, \(record.servedAttempts) served")
            }
            #expect(rogue.servedAttempts + selfSigned.servedAttempts >= 1)
            #expect(rogue.servedAttempts + rogue.refusedAttempts <= rogue.attempts)
        }
    }

    // MARK: - Answers in clear

    @Test("HTTP 400 in clear on the TLS port is a refusal and does not hide a battery that accepts forged certificates")
    func plainTextRefusal() throws {
        let pki = try self.thePKI()
        let backend = try PeerProcess.sServer(pki, "server", ["-Verify", "1", "-CAfile", pki.path("ca.pem")])
        let front = try PeerProcess.python("proxy", pki, ["--plain-400", "--backend", "\(backend.port)"])
        let report = try self.run(front, self.expectations(pki))
        let plaintext = try #require(self.probe(report, .plaintext))
        #expect(plaintext.result == .plaintextRefused)
        #expect(plaintext.evidence == .refusedInClear)
        #expect(plaintext.detail?.contains("400") == true)
        #expect(report.verdict == .tlsAcceptsRogueClient)
        #expect(!self.kinds(report).contains(.plaintextAccepted))
    }

    // MARK: - nginx, haproxy, redis

    @Test(
        "nginx ssl_verify_client on | optional | optional_no_ca | off, TLS 1.2 and 1.3",
        arguments: [
            ("on", TLSVerdict.mtlsEnforced), ("optional", .mtlsOptional), ("optional_no_ca", .tlsAcceptsRogueClient),
            ("off", .tlsNoClientAuth),
        ],
        ["TLSv1.2", "TLSv1.3"])
    func nginx(mode: (String, TLSVerdict), version: String) throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.nginx(pki, verify: mode.0, protocols: version)
        let report = try self.run(server, self.expectations(pki), application: .http)
        #expect(report.verdict == mode.1, "\(mode.0) \(version): \(report.reason)")
        #expect(self.probe(report, .plaintext)?.result == .plaintextRefused, "nginx answers plain HTTP with 400")
        #expect(self.probe(report, .clientCertificate)?.evidence == .served)
        switch mode.1 {
        case .mtlsEnforced:
            self.forged(report, .rejected, .refusedByApplication)
            #expect(self.probe(report, .noClientCertificate)?.evidence == .refusedByApplication)
        case .mtlsOptional:
            self.forged(report, .rejected, .refusedByApplication)
            #expect(self.probe(report, .noClientCertificate)?.evidence == .served)
        case .tlsAcceptsRogueClient:
            #expect(self.probe(report, .rogueCA)?.evidence == .served)
            #expect(self.probe(report, .rogueCA)?.detail?.contains("200") == true)
        default:
            #expect(self.probe(report, .rogueCA)?.result == .skipped)
        }
    }

    @Test(
        "haproxy verify required | optional",
        arguments: [("required", TLSVerdict.mtlsEnforced), ("optional", .mtlsOptional)])
    func haproxy(mode: (String, TLSVerdict)) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/haproxy") else {
            Issue.record("haproxy is not installed (scripts/install-deps.sh --test installs it)")
            return
        }
        let pki = try self.thePKI()
        let server = try PeerProcess.haproxy(pki, verify: mode.0)
        let report = try self.run(server, self.expectations(pki), application: .http)
        #expect(report.verdict == mode.1, "\(mode.0): \(report.reason)")
        self.forged(report, .rejected, .refusedByTLS)
        #expect(self.probe(report, .clientCertificate)?.evidence == .served)
    }

    @Test(
        "redis tls-auth-clients yes | optional | no",
        arguments: [("yes", TLSVerdict.mtlsEnforced), ("optional", .mtlsOptional), ("no", .tlsNoClientAuth)])
    func redis(mode: (String, TLSVerdict)) throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.redis(pki, authClients: mode.0)
        let report = try self.run(server, self.expectations(pki), application: .redis)
        #expect(report.verdict == mode.1, "\(mode.0): \(report.reason)")
        let valid = try #require(self.probe(report, .clientCertificate))
        #expect(valid.evidence == .served && valid.detail?.contains("PONG") == true, "\(valid.detail ?? "")")
        #expect(valid.application == "redis")
        if mode.1 != .tlsNoClientAuth { self.forged(report, .rejected, .refusedByTLS) }
    }

    // MARK: - STARTTLS

    @Test("SMTP with STARTTLS and client certificates required after the upgrade: the battery runs over the upgrade")
    func smtpStartTLS() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.python("smtp", pki, ["--verify", "required"])
        // An unknown port: the greeting tells SMTP apart.
        let report = try self.run(server, self.expectations(pki))
        #expect(report.startTLS == "smtp")
        #expect(report.verdict == .mtlsEnforced, "\(report.reason)")
        #expect(self.probe(report, .plaintext)?.result == .plaintextRefused, "530 before STARTTLS")
        #expect(self.probe(report, .clientCertificate)?.evidence == .served)
        #expect(self.probe(report, .clientCertificate)?.application == "smtp")
        self.forged(report, .rejected, .refusedByTLS)
        #expect(!self.kinds(report).contains(.starttlsOptional))
    }

    @Test("SMTP that serves mail in clear without STARTTLS: starttls-optional")
    func smtpStartTLSOptional() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.python("smtp", pki, ["--verify", "required", "--clear-ok"])
        let report = try self.run(server, self.expectations(pki), startTLS: .smtp)
        #expect(self.kinds(report).contains(.starttlsOptional))
        #expect(report.verdict == .plaintextAccepted, "\(report.reason)")
        self.forged(report, .rejected, .refusedByTLS)
    }

    @Test(
        "PostgreSQL with clientcert=verify-full, over the SSLRequest: forged certificates refused by TLS, no certificate by the server's error"
    )
    func postgres() throws {
        let pki = try self.thePKI()
        guard let server = try PeerProcess.postgres(pki) else {
            Issue.record("PostgreSQL is not installed (scripts/install-deps.sh --test installs it)")
            return
        }
        let report = try self.run(server, self.expectations(pki), startTLS: .postgres)
        #expect(report.startTLS == "postgres")
        #expect(report.verdict == .mtlsEnforced, "\(report.reason)")
        let noCert = try #require(self.probe(report, .noClientCertificate))
        #expect(
            noCert.evidence == .refusedByApplication && noCert.detail?.contains("certificate") == true,
            "\(noCert.detail ?? "")")
        let valid = try #require(self.probe(report, .clientCertificate))
        #expect(valid.evidence == .served && valid.application == "postgres", "\(valid.detail ?? "")")
        self.forged(report, .rejected, .refusedByTLS)
        #expect(
            self.probe(report, .plaintext)?.result == .plaintextRefused, "hostssl only: a startup in clear is refused")
    }

    @Test(
        "IMAP, POP3 and FTP: the battery over STARTTLS / STLS / AUTH TLS (recognised by the greeting); in clear only with --clear-ok",
        arguments: [("imap", "imap"), ("pop3", "pop3"), ("ftp", "ftp")], [false, true])
    func lineProtocols(mode: (String, String), clearOK: Bool) throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.python(mode.0, pki, ["--verify", "required"] + (clearOK ? ["--clear-ok"] : []))
        let report = try self.run(server, self.expectations(pki))
        #expect(report.startTLS == mode.1)
        #expect(report.verdict == (clearOK ? .plaintextAccepted : .mtlsEnforced), "\(mode.0): \(report.reason)")
        #expect(
            self.probe(report, .clientCertificate)?.evidence == .served,
            "\(self.probe(report, .clientCertificate)?.detail ?? "")")
        #expect(self.probe(report, .clientCertificate)?.application == mode.1)
        self.forged(report, .rejected, .refusedByTLS)
        #expect(self.kinds(report).contains(.starttlsOptional) == clearOK)
    }

    @Test(
        "Python ssl servers: CERT_REQUIRED is enforced, CERT_OPTIONAL is optional",
        arguments: [("required", TLSVerdict.mtlsEnforced), ("optional", .mtlsOptional)])
    func pythonSSL(mode: (String, TLSVerdict)) throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.python("http", pki, ["--verify", mode.0])
        let report = try self.run(server, self.expectations(pki))
        #expect(report.verdict == mode.1, "\(report.reason)")
        self.forged(report, .rejected, .refusedByTLS)
    }

    @Test("HTTP/2 by ALPN: nginx selects h2, and its 200 to the request on stream 1 is served")
    func http2() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.nginx(pki, verify: "optional_no_ca", http2: true)
        let report = try self.run(server, self.expectations(pki))
        let rogue = try #require(self.probe(report, .rogueCA))
        #expect(
            rogue.application == "h2" && rogue.evidence == .served && rogue.detail?.contains("HTTP/2 200") == true,
            "\(rogue.application ?? "-"): \(rogue.detail ?? "")")
        #expect(report.verdict == .tlsAcceptsRogueClient)
    }

    @Test(
        "over TLS, only an error that names the certificate is a refusal: a password wanted means the TLS layer let the client in"
    )
    func refusalsNameTheCertificate() {
        let context = ApplicationProbes.Context(host: "svc.test")
        func judge(_ proto: AppProbeProtocol, _ bytes: [UInt8]) -> ExchangeStep? {
            ApplicationProbes.application(proto, alpn: nil, context).exchanges.first?.judge(bytes)
        }
        #expect(
            judge(.redis, Array("-NOAUTH Authentication required.\r\n".utf8))
                == .done(.served("-NOAUTH Authentication required.")))
        #expect(
            judge(.redis, Array("-ERR client certificate required\r\n".utf8))
                == .done(.refused("-ERR client certificate required")))
        func errorResponse(_ message: String) -> [UInt8] {
            let body = Array("SFATAL\0M\(message)\0\0".utf8)
            let length = UInt32(body.count + 4)
            return [
                UInt8(ascii: "E"), UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff),
                UInt8(length & 0xff),
            ] + body
        }
        #expect(
            judge(.postgres, errorResponse("password authentication failed for user \"x\""))
                == .done(.served("ErrorResponse: password authentication failed for user \"x\"")))
        if case .done(.refused(let text))? = judge(
            .postgres, errorResponse("connection requires a valid client certificate"))
        {
            #expect(text.contains("certificate"))
        } else {
            Issue.record("a PostgreSQL error about the certificate is a refusal")
        }
        // In clear, any ErrorResponse refuses the startup.
        #expect(
            ApplicationProbes.plaintext(.postgres, context).first?.judge(errorResponse("no encryption"))
                == .done(.refused("ErrorResponse: no encryption")))
    }

    @Test(
        "NATS: the INFO line decides the upgrade; PONG is served, -ERR refuses in clear and, over TLS, only when it names TLS"
    )
    func natsJudges() {
        let context = ApplicationProbes.Context(host: "svc.test")
        let info = Array(#"INFO {"server_id":"N","version":"2.9.10","tls_required":true,"max_payload":1048576}"#.utf8)
        let upgrade = ApplicationProbes.upgrade(.nats, context)
        #expect(upgrade.count == 1 && upgrade[0].send.isEmpty, "the client sends nothing before its ClientHello")
        // The line split anywhere is read whole; TLS required or available goes on; no TLS, or not INFO, fails.
        #expect(upgrade[0].judge(Array(info.prefix(30))) == .needMore)
        #expect(upgrade[0].judge(info + Array("\r\n".utf8)) == .proceed)
        #expect(upgrade[0].judge(Array(#"INFO {"tls_available":true}"#.utf8) + [0x0a]) == .proceed)
        #expect(
            upgrade[0].judge(Array(#"INFO {"server_id":"N"}"#.utf8) + [0x0a])
                == .done(.failed("the server's INFO offers no TLS")))
        if case .done(.failed)? = upgrade.first?.judge(Array("220 smtp.test ESMTP\r\n".utf8)) {
        } else {
            Issue.record("a line that is not INFO cannot be upgraded")
        }
        // After the handshake: PONG served (after +OK, INFO, PING lines); an authorization error is the service
        // answering (served); an error naming TLS refuses.
        func overTLS(_ text: String) -> ExchangeStep? {
            ApplicationProbes.application(.nats, alpn: nil, context).exchanges.first?.judge(Array(text.utf8))
        }
        #expect(overTLS("INFO {}\r\nPING\r\nPO") == .needMore)
        #expect(overTLS("+OK\r\nINFO {}\r\nPONG\r\n") == .done(.served("PONG")))
        #expect(
            overTLS("-ERR 'Authorization Violation'\r\n") == .done(.served("-ERR 'Authorization Violation'")))
        #expect(
            overTLS("-ERR 'TLS Handshake Error: certificate required'\r\n")
                == .done(.refused("-ERR 'TLS Handshake Error: certificate required'")))
        // In clear: INFO then CONNECT; PONG is served, any -ERR refuses; bytes that are not NATS are never served.
        let clear = ApplicationProbes.plaintext(.nats, context)
        #expect(clear.count == 2 && clear[1].send.starts(with: Array("CONNECT {".utf8)))
        #expect(clear[0].judge(info + [0x0a]) == .proceed)
        #expect(
            clear[1].judge(Array("-ERR 'Secure Connection - TLS Required'\r\n".utf8))
                == .done(.refused("-ERR 'Secure Connection - TLS Required'")))
        #expect(clear[1].judge(Array("PONG\r\n".utf8)) == .done(.served("PONG")))
        if case .done(.served)? = clear.first?.judge([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]) {
            Issue.record("a TLS alert in clear is not NATS served")
        }
    }

    // MARK: - Hostile peers: bounded, never served or enforced

    @Test("garbage, a stalled handshake, an endless stream, a 1 MB chain: bounded time and memory, never enforced")
    func hostile() throws {
        let pki = try self.thePKI()
        let timeouts = TLSTimeouts(connection: 2, readAfterHandshake: 0.5)
        let garbage = try PeerProcess.python("garbage", pki)
        let started = Date()
        let garbageReport = try self.run(garbage, self.expectations(pki), timeouts: timeouts)
        #expect(garbageReport.verdict == .error, "\(garbageReport.reason)")
        #expect(
            self.probe(garbageReport, .plaintext)?.result == .plaintextRefused,
            "binary noise in clear proves no service")

        let stall = try PeerProcess.python("stall", pki)
        let stallReport = try self.run(stall, self.expectations(pki), timeouts: timeouts)
        #expect(stallReport.verdict == .timeout)

        let endless = try PeerProcess.python("endless", pki)
        let endlessReport = try self.run(endless, self.expectations(pki), timeouts: timeouts)
        #expect(endlessReport.verdict == .tlsNoClientAuth)
        let answer = try #require(self.probe(endlessReport, .noClientCertificate))
        #expect(answer.evidence == .served)

        // About 1 MB of certificates after the leaf: more than the client reads (ConnectionLoop.chainLimit).
        var chain = try String(contentsOfFile: pki.path("server-chain.pem"), encoding: .utf8)
        let intermediate = try String(contentsOfFile: pki.path("int.pem"), encoding: .utf8)
        while chain.utf8.count < 1_100_000 { chain += intermediate }
        let chainFile = pki.path("big-chain.pem")
        try chain.write(toFile: chainFile, atomically: true, encoding: .utf8)
        let big = try PeerProcess(
            "/usr/bin/python3",
            [
                "-u", Repository.path("Tests/Peers/tls_peer.py"), "big-chain", "--chain", chainFile,
                "--key", pki.path("server.key"), "--ca", pki.path("ca.pem"),
            ], portAfter: "port ")
        let bigReport = try self.run(big, self.expectations(pki), timeouts: timeouts)
        #expect(bigReport.verdict == .error, "\(bigReport.reason)")
        #expect(
            bigReport.reason.lowercased().contains("excessive") || bigReport.reason.lowercased().contains("too long"),
            "\(bigReport.reason)")
        #expect(Date().timeIntervalSince(started) < 30)
    }

    @Test(
        "post-handshake client authentication (TLS 1.3, as Apache's SSLVerifyClient in a <Location>): asked for after the request, judged like any other"
    )
    func postHandshakeAuthentication() throws {
        let pki = try self.thePKI()
        // The handshake asks for nothing; the certificate is asked for once the request is read.
        let required = try PeerProcess.python("post-handshake", pki, ["--verify", "required"])
        let strict = try self.run(required, self.expectations(pki))
        #expect(strict.verdict == .mtlsEnforced, "\(strict.verdict.rawValue): \(strict.reason)")
        #expect(self.probe(strict, .noClientCertificate)?.certificateRequest == true)
        #expect(self.probe(strict, .noClientCertificate)?.evidence == .refusedByTLS)
        #expect(self.probe(strict, .clientCertificate)?.result == .accepted)
        for kind in TLSProbeKind.allCases where kind.isForgedCertificate {
            #expect(self.probe(strict, kind)?.result == .rejected, "\(kind.rawValue)")
        }
        let optional = try PeerProcess.python("post-handshake", pki, ["--verify", "optional"])
        let loose = try self.run(optional, self.expectations(pki))
        #expect(loose.verdict == .mtlsOptional, "\(loose.verdict.rawValue): \(loose.reason)")
    }

    @Test(
        "Apache asking for the client certificate per location, after the request (TLS 1.2 renegotiation, TLS 1.3 post-handshake): judged like a CertificateRequest in the handshake"
    )
    func apachePerLocation() throws {
        let pki = try self.thePKI()
        for version in ["TLSv1.2", "TLSv1.3"] {
            let required = try PeerProcess.apache(pki, protocol: version, verify: "require")
            let strict = try self.run(required, self.expectations(pki))
            #expect(strict.verdict == .mtlsEnforced, "\(version) \(strict.verdict.rawValue): \(strict.reason)")
            #expect(self.probe(strict, .noClientCertificate)?.certificateRequest == true, "\(version)")
            #expect(self.probe(strict, .clientCertificate)?.result == .accepted, "\(version)")
            for kind in TLSProbeKind.allCases where kind.isForgedCertificate {
                #expect(self.probe(strict, kind)?.evidence == .refusedByTLS, "\(version) \(kind.rawValue)")
            }
            let optional = try PeerProcess.apache(pki, protocol: version, verify: "optional")
            let loose = try self.run(optional, self.expectations(pki))
            #expect(loose.verdict == .mtlsOptional, "\(version) \(loose.verdict.rawValue): \(loose.reason)")
        }
    }

    @Test(
        "a server that asks to renegotiate again and again after the handshake: followed twice, then ended (error), bounded, never enforced"
    )
    func renegotiation() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.python("renegotiate", pki)
        let started = Date()
        let report = try self.run(
            server, self.expectations(pki), timeouts: TLSTimeouts(connection: 2, readAfterHandshake: 0.5))
        #expect(report.verdict != .mtlsEnforced, "\(report.verdict.rawValue): \(report.reason)")
        #expect(
            [TLSVerdict.tlsAcceptsRogueClient, .inconclusive].contains(report.verdict),
            "\(report.verdict.rawValue): \(report.reason)")
        // The HelloRequests are real: the forged certificates' connections were ended after the second renegotiation.
        let ended = report.probes.filter { $0.detail?.contains("asked to renegotiate more than 2 times") == true }
        #expect(!ended.isEmpty, "\(report.probes.map { "\($0.probe.rawValue): \($0.detail ?? "")" })")
        #expect(Date().timeIntervalSince(started) < 20)
    }
}
