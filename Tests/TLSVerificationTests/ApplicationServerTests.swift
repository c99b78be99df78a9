import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import TLSVerification

/// The application probes and STARTTLS dialogues for MySQL, MQTT, AMQP, NATS, LDAP and XMPP against the real servers
/// of Debian 12 (MariaDB, Mosquitto, RabbitMQ, nats-server, slapd, Prosody), each a throwaway instance on 127.0.0.1 configured
/// strictly and loosely: the strict one must come out enforced on evidence of its own (or by comparison with the
/// served valid certificate), and the same server with client verification relaxed must not.
@Suite("Application probes against real servers", .serialized)
struct ApplicationServerTests {
    static let pki: TestPKI? = {
        guard let pki = try? TestPKI() else { return nil }
        do {
            try pki.issue("server", extensions: TestPKI.server())
            // The CN is the user the MySQL probe logs in as: one certificate per MariaDB account.
            try pki.issue("client", subject: "/CN=bulkhead", extensions: TestPKI.client("client"))
            for user in ["x509user", "ssluser", "subjectuser", "intruder"] {
                try pki.issue(user, subject: "/CN=\(user)", extensions: TestPKI.client(user))
            }
            return pki
        } catch {
            return nil
        }
    }()

    func thePKI() throws -> TestPKI { try #require(Self.pki, "the openssl command line could not build the test PKI") }

    /// The trust bundle, the CA key (for the expired and serverAuth-only forgeries) and the client certificate
    /// `client` (its CN is the MySQL user), optionally another identity of the same CA.
    func expectations(_ pki: TestPKI, client: String = "client", other: String? = nil, caKey: Bool = true)
        -> TLSExpectations
    {
        TLSExpectations(
            trustBundles: [pki.path("ca.pem")], caKey: caKey ? pki.path("ca.key") : nil,
            clientIdentity: IdentityFiles(certificate: pki.path("\(client)-chain.pem"), key: pki.path("\(client).key")),
            otherIdentity: other.map {
                IdentityFiles(certificate: pki.path("\($0)-chain.pem"), key: pki.path("\($0).key"))
            },
            expectedDNSNames: ["svc.test"])
    }

    func run(
        _ port: Int, _ expectations: TLSExpectations, application: AppProbeProtocol? = nil,
        startTLS: StartTLSProtocol? = nil
    ) throws -> TLSEndpointReport {
        let endpoint = try #require(TLSEndpoint("127.0.0.1:\(port)"))
        // A generous read wait: every server here answers or refuses at once, and the whole suite may be running on
        // two busy cores (a slow Erlang answer must not pass for silence).
        let options = TLSBatteryOptions(
            timeouts: TLSTimeouts(connection: 10, readAfterHandshake: 3), probeVersions: false, probeCiphers: false,
            applicationProtocol: application, startTLS: startTLS)
        let report = try ProbeBattery.run([TLSTarget(endpoint: endpoint, expectations: expectations)], options: options)
        return try #require(report.endpoints.first)
    }

    func probe(_ report: TLSEndpointReport, _ kind: TLSProbeKind) -> TLSProbeRecord? {
        report.probes.first { $0.probe == kind && $0.variant == nil }
    }

    func kinds(_ report: TLSEndpointReport) -> Set<FindingKind> { Set(report.findings.map(\.kind)) }

    /// The probe ended with `result` and `evidence`.
    func expect(
        _ report: TLSEndpointReport, _ kind: TLSProbeKind, _ result: TLSProbeResult, _ evidence: TLSEvidence,
        _ label: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let record = self.probe(report, kind) else {
            Issue.record("\(label): \(kind.rawValue) missing", sourceLocation: sourceLocation)
            return
        }
        #expect(
            record.result == result && record.evidence == evidence,
            "\(label): \(kind.rawValue) \(record.result.rawValue) \(record.evidence.rawValue): \(record.detail ?? "")",
            sourceLocation: sourceLocation)
    }

    /// Every forged certificate ended with `result` and `evidence`, tried at least five times unless served.
    func forged(
        _ report: TLSEndpointReport, _ result: TLSProbeResult, _ evidence: TLSEvidence, _ label: String,
        kinds: [TLSProbeKind] = [.rogueCA, .selfSigned, .expired, .serverAuthOnly],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for kind in kinds {
            self.expect(report, kind, result, evidence, label, sourceLocation: sourceLocation)
            if result == .rejected, let record = self.probe(report, kind) {
                #expect(
                    record.attempts >= 5, "\(label): \(kind.rawValue) tried \(record.attempts) times",
                    sourceLocation: sourceLocation)
            }
        }
    }

    /// The valid certificate was served by the application (`protocol` named as the probe spoke it).
    func validServed(
        _ report: TLSEndpointReport, _ application: String, _ label: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let valid = self.probe(report, .clientCertificate)
        #expect(
            valid?.evidence == .served && valid?.application == application,
            "\(label): client-cert \(valid?.evidence.rawValue ?? "-") \(valid?.application ?? "-"): \(valid?.detail ?? "")",
            sourceLocation: sourceLocation)
    }

    /// A server that verifies client certificates in the TLS layer (alerts), as each verdict shows it: enforced, no
    /// certificate and every forged one refused by an alert; optional, no certificate served and forged ones refused;
    /// rogue accepted, forged ones served and no certificate refused; no client auth, no certificate served.
    func expectTLSLayer(
        _ report: TLSEndpointReport, _ verdict: TLSVerdict, _ label: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(report.verdict == verdict, "\(label): \(report.reason)", sourceLocation: sourceLocation)
        switch verdict {
        case .mtlsEnforced:
            self.forged(report, .rejected, .refusedByTLS, label, sourceLocation: sourceLocation)
            self.expect(report, .noClientCertificate, .rejected, .refusedByTLS, label, sourceLocation: sourceLocation)
        case .mtlsOptional:
            self.forged(report, .rejected, .refusedByTLS, label, sourceLocation: sourceLocation)
            self.expect(report, .noClientCertificate, .accepted, .served, label, sourceLocation: sourceLocation)
        case .tlsAcceptsRogueClient:
            self.forged(report, .accepted, .served, label, sourceLocation: sourceLocation)
            self.expect(report, .noClientCertificate, .rejected, .refusedByTLS, label, sourceLocation: sourceLocation)
            #expect(self.kinds(report).contains(.rogueClientAccepted), sourceLocation: sourceLocation)
        default:
            self.expect(report, .noClientCertificate, .accepted, .served, label, sourceLocation: sourceLocation)
            #expect(
                self.probe(report, .rogueCA)?.result == .skipped,
                "\(label): no CertificateRequest, nothing to forge for", sourceLocation: sourceLocation)
        }
    }

    // MARK: - MySQL (MariaDB)

    @Test(
        "MariaDB: REQUIRE X509 and REQUIRE ISSUER/SUBJECT enforced (no certificate refused by comparison: ERR 1045 names no certificate), REQUIRE SSL optional, no requirement served in clear",
        .enabled(
            if: PeerProcess.Installed.mariadb,
            "mariadb-server is not installed (scripts/install-deps.sh --test installs it)"))
    func mariadb() throws {
        let pki = try self.thePKI()
        // Accounts without a password: the probe logs in with none, so only the certificate tells them apart.
        let server = try PeerProcess.mariadb(
            pki,
            initSQL: """
                CREATE USER 'x509user'@'%' REQUIRE X509;
                CREATE USER 'subjectuser'@'%' REQUIRE ISSUER '/CN=Bulkhead Test Intermediate' AND SUBJECT '/CN=subjectuser';
                CREATE USER 'ssluser'@'%' REQUIRE SSL;
                CREATE USER 'bulkhead'@'%';

                """)

        for (user, other) in [("x509user", "intruder"), ("subjectuser", "intruder")] {
            let report = try self.run(
                server.port, self.expectations(pki, client: user, other: other), application: .mysql)
            #expect(report.verdict == .mtlsEnforced, "\(user): \(report.reason)")
            self.validServed(report, "mysql", user)
            self.forged(report, .rejected, .refusedByTLS, user)
            // MariaDB answers the account without a certificate with the same ERR 1045 as a wrong password, then
            // closes: refused only because the valid certificate, same user and no password, was served.
            let noCert = try #require(self.probe(report, .noClientCertificate))
            #expect(
                noCert.result == .rejected && noCert.evidence == .closedWithoutReason
                    && noCert.comparedWith == "client-cert: served",
                "\(user): \(noCert.evidence.rawValue) \(noCert.detail ?? "")")
            #expect(noCert.detail?.contains("Access denied") == true, "\(user): \(noCert.detail ?? "")")
            let plaintext = self.probe(report, .plaintext)
            #expect(
                plaintext?.result == .plaintextRefused && plaintext?.detail?.contains("Access denied") == true,
                "\(user): \(plaintext?.detail ?? "")")
            #expect(!self.kinds(report).contains(.plaintextAccepted))
            // Another identity of the same CA: any will do for REQUIRE X509; REQUIRE SUBJECT refuses it.
            #expect(
                report.authorization == (user == "x509user" ? "accepted" : "rejected"),
                "\(user): \(report.authorization ?? "-")")
        }

        let optional = try self.run(server.port, self.expectations(pki, client: "ssluser"), application: .mysql)
        #expect(optional.verdict == .mtlsOptional, "REQUIRE SSL: \(optional.reason)")
        self.expect(optional, .noClientCertificate, .accepted, .served, "REQUIRE SSL")
        self.forged(optional, .rejected, .refusedByTLS, "REQUIRE SSL")
        self.validServed(optional, "mysql", "REQUIRE SSL")
        #expect(self.probe(optional, .plaintext)?.result == .plaintextRefused)

        let none = try self.run(server.port, self.expectations(pki), application: .mysql)
        #expect(none.verdict == .mtlsOptional, "no requirement: \(none.reason)")
        #expect(
            self.probe(none, .plaintext)?.evidence == .servedInClear, "\(self.probe(none, .plaintext)?.detail ?? "")")
        #expect(self.kinds(none).contains(.plaintextAccepted))
        self.validServed(none, "mysql", "no requirement")
        self.expect(none, .noClientCertificate, .accepted, .served, "no requirement")
        // ssl-ca makes the server verify any certificate it is sent, whatever the account requires.
        self.forged(none, .rejected, .refusedByTLS, "no requirement")
    }

    // MARK: - MQTT (Mosquitto)

    @Test(
        "Mosquitto require_certificate true | false: CONNECT → CONNACK served over TLS; CONNACK 5 (allow_anonymous false) is the broker answering, not a refusal of the certificate",
        .enabled(
            if: PeerProcess.Installed.mosquitto,
            "mosquitto is not installed (scripts/install-deps.sh --test installs it)"),
        arguments: [
            (true, true, TLSVerdict.mtlsEnforced), (false, true, .tlsNoClientAuth), (true, false, .mtlsEnforced),
        ])
    func mosquitto(mode: (requireCertificate: Bool, allowAnonymous: Bool, verdict: TLSVerdict)) throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.mosquitto(
            pki, requireCertificate: mode.requireCertificate, allowAnonymous: mode.allowAnonymous)
        let label = "require_certificate \(mode.requireCertificate) allow_anonymous \(mode.allowAnonymous)"
        let report = try self.run(server.port, self.expectations(pki), application: .mqtt)
        self.expectTLSLayer(report, mode.verdict, label)
        self.validServed(report, "mqtt", label)
        let connack = mode.allowAnonymous ? "CONNACK accepted" : "CONNACK return code 5"
        #expect(
            self.probe(report, .clientCertificate)?.detail?.contains(connack) == true,
            "\(label): \(self.probe(report, .clientCertificate)?.detail ?? "")")
        #expect(!self.kinds(report).contains(.validClientRefused), "\(label)")
        #expect(
            self.probe(report, .plaintext)?.result == .plaintextRefused,
            "\(label): \(self.probe(report, .plaintext)?.detail ?? "")")
    }

    @Test(
        "Mosquitto listener without TLS: CONNECT in clear → CONNACK is plaintext-accepted",
        .enabled(
            if: PeerProcess.Installed.mosquitto,
            "mosquitto is not installed (scripts/install-deps.sh --test installs it)"))
    func mosquittoPlain() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.mosquitto(pki, requireCertificate: nil)
        let report = try self.run(server.port, self.expectations(pki), application: .mqtt)
        #expect(report.verdict == .plaintextAccepted, "\(report.reason)")
        let plaintext = self.probe(report, .plaintext)
        #expect(
            plaintext?.evidence == .servedInClear && plaintext?.detail?.contains("CONNACK accepted") == true,
            "\(plaintext?.detail ?? "")")
    }

    // MARK: - NATS (nats-server)

    @Test(
        "nats-server tls verify true | no verify: the INFO in clear, then TLS; CONNECT and PING → PONG served over TLS, refused in clear",
        .enabled(
            if: PeerProcess.Installed.natsServer,
            "nats-server is not installed (scripts/install-deps.sh --test installs it)"),
        arguments: [(PeerProcess.NATSTLS.verify, TLSVerdict.mtlsEnforced), (.serverOnly, .tlsNoClientAuth)])
    func natsServer(mode: (tls: PeerProcess.NATSTLS, verdict: TLSVerdict)) throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.natsServer(pki, tls: mode.tls)
        let label = "nats \(mode.tls)"
        // No protocol named: a port Bulkhead has no default for, so the upgrade is recognised by the INFO greeting.
        let report = try self.run(server.port, self.expectations(pki))
        #expect(report.startTLS == "nats", "\(label): \(report.startTLS ?? "no upgrade")")
        self.expectTLSLayer(report, mode.verdict, label)
        self.validServed(report, "nats", label)
        #expect(
            self.probe(report, .clientCertificate)?.detail?.contains("PONG") == true,
            "\(label): \(self.probe(report, .clientCertificate)?.detail ?? "")")
        #expect(
            self.probe(report, .plaintext)?.result == .plaintextRefused,
            "\(label): \(self.probe(report, .plaintext)?.detail ?? "")")
    }

    @Test(
        "nats-server without TLS: CONNECT and PING in clear → PONG is plaintext-accepted; the upgrade fails as an error, never a refusal",
        .enabled(
            if: PeerProcess.Installed.natsServer,
            "nats-server is not installed (scripts/install-deps.sh --test installs it)"))
    func natsServerPlain() throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.natsServer(pki, tls: .none)
        let report = try self.run(server.port, self.expectations(pki), application: .nats, startTLS: .nats)
        #expect(report.verdict == .plaintextAccepted, "\(report.reason)")
        let plaintext = self.probe(report, .plaintext)
        #expect(
            plaintext?.evidence == .servedInClear && plaintext?.detail?.contains("PONG") == true,
            "\(plaintext?.detail ?? "")")
        let noCertificate = self.probe(report, .noClientCertificate)
        #expect(
            noCertificate?.result == .error && noCertificate?.detail?.contains("offers no TLS") == true,
            "\(noCertificate?.result.rawValue ?? "-"): \(noCertificate?.detail ?? "")")
    }

    // MARK: - etcd (gRPC over TLS)

    @Test(
        "etcd --client-cert-auth | TLS only: gRPC over h2 (GET / on stream 1 answered with a status) served to the valid client; no certificate and forged ones refused in the handshake, or no certificate asked for",
        .enabled(if: PeerProcess.Installed.etcd, "etcd is not installed (scripts/install-deps.sh --test installs it)"),
        arguments: [(true, TLSVerdict.mtlsEnforced), (false, .tlsNoClientAuth)])
    func etcd(mode: (clientCertAuth: Bool, verdict: TLSVerdict)) throws {
        let pki = try self.thePKI()
        let server = try PeerProcess.etcd(pki, clientCertAuth: mode.clientCertAuth)
        let label = mode.clientCertAuth ? "etcd --client-cert-auth" : "etcd TLS only"
        let report = try self.run(server.port, self.expectations(pki), application: .grpc)
        self.expectTLSLayer(report, mode.verdict, label)
        self.validServed(report, "h2", label)
        // Its SETTINGS frame proves nothing; the answer to the request does (grpc-go's gateway: a status on stream 1).
        #expect(
            self.probe(report, .clientCertificate)?.detail?.contains("HTTP/2 ") == true,
            "\(label): \(self.probe(report, .clientCertificate)?.detail ?? "")")
        // The same port asked in clear: Go's TLS listener answers 400 in plain HTTP, which is no service served.
        #expect(
            self.probe(report, .plaintext)?.result == .plaintextRefused,
            "\(label): \(self.probe(report, .plaintext)?.detail ?? "")")
    }

    // MARK: - LDAP (slapd)

    @Test(
        "slapd TLSVerifyClient demand, LDAPS and StartTLS: refuses no certificate and forged ones from other CAs, but serves a serverAuth-only certificate of the right CA",
        .enabled(if: PeerProcess.Installed.slapd, "slapd is not installed (scripts/install-deps.sh --test installs it)")
    )
    func slapdDemand() throws {
        let pki = try self.thePKI()
        let slapd = try PeerProcess.slapd(pki, verifyClient: "demand", requireTLS: true)
        for (port, startTLS, label) in [(slapd.ldaps, nil, "LDAPS"), (slapd.ldap, StartTLSProtocol.ldap, "StartTLS")]
            as [(Int, StartTLSProtocol?, String)]
        {
            let report = try self.run(port, self.expectations(pki), application: .ldap, startTLS: startTLS)
            #expect(report.startTLS == startTLS?.rawValue)
            // slapd (OpenSSL backend) checks no extended key usage: a certificate for servers only logs in.
            #expect(report.verdict == .tlsAcceptsRogueClient, "\(label): \(report.reason)")
            self.expect(report, .serverAuthOnly, .accepted, .served, label)
            // The rest end with a TCP close and no alert after the TLS 1.3 handshake: refused by comparison.
            self.forged(report, .rejected, .closedWithoutReason, label, kinds: [.rogueCA, .selfSigned, .expired])
            self.expect(report, .noClientCertificate, .rejected, .closedWithoutReason, label)
            #expect(self.probe(report, .rogueCA)?.comparedWith == "client-cert: served")
            self.validServed(report, "ldap", label)
            // `security tls=1`: the anonymous bind in clear is refused (13, confidentialityRequired).
            let plaintext = self.probe(report, .plaintext)
            #expect(plaintext?.result == .plaintextRefused, "\(label): \(plaintext?.detail ?? "")")
            if startTLS != nil { #expect(plaintext?.detail?.contains("(13)") == true, "\(plaintext?.detail ?? "")") }
            #expect(!self.kinds(report).contains(.starttlsOptional))
        }
        // Without the CA key (no forgery from the right CA) the same server is enforced, by comparison.
        let withoutKey = try self.run(slapd.ldaps, self.expectations(pki, caKey: false), application: .ldap)
        #expect(withoutKey.verdict == .mtlsEnforced, "\(withoutKey.reason)")
        self.forged(withoutKey, .rejected, .closedWithoutReason, "LDAPS, no CA key", kinds: [.rogueCA, .selfSigned])
    }

    @Test(
        "slapd TLSVerifyClient allow | never, and StartTLS without security tls=1 (the bind in clear is served: starttls-optional)",
        .enabled(
            if: PeerProcess.Installed.slapd, "slapd is not installed (scripts/install-deps.sh --test installs it)"),
        arguments: ["allow", "never"])
    func slapdLoose(verifyClient: String) throws {
        let pki = try self.thePKI()
        let slapd = try PeerProcess.slapd(pki, verifyClient: verifyClient, requireTLS: verifyClient == "allow")
        for (port, startTLS, label) in [
            (slapd.ldaps, nil, "LDAPS \(verifyClient)"),
            (slapd.ldap, StartTLSProtocol.ldap, "StartTLS \(verifyClient)"),
        ] as [(Int, StartTLSProtocol?, String)] {
            let report = try self.run(port, self.expectations(pki), application: .ldap, startTLS: startTLS)
            self.validServed(report, "ldap", label)
            self.expect(report, .noClientCertificate, .accepted, .served, label)
            if verifyClient == "allow" {
                // "allow": a bad certificate is ignored and the session goes on.
                #expect(report.verdict == .tlsAcceptsRogueClient, "\(label): \(report.reason)")
                self.forged(report, .accepted, .served, label)
                #expect(self.probe(report, .plaintext)?.result == .plaintextRefused)
            } else {
                #expect(report.verdict == .tlsNoClientAuth, "\(label): \(report.reason)")
                #expect(self.probe(report, .rogueCA)?.result == .skipped)
                if startTLS != nil {
                    #expect(
                        self.probe(report, .plaintext)?.evidence == .servedInClear,
                        "\(self.probe(report, .plaintext)?.detail ?? "")")
                    #expect(self.kinds(report).contains(.starttlsOptional))
                } else {
                    #expect(self.probe(report, .plaintext)?.result == .plaintextRefused)
                }
            }
        }
    }

    // MARK: - XMPP (Prosody)

    /// Prosody's `ssl` options beyond the files, and what each must come out as.
    static let prosodyModes: [(String, String, TLSVerdict)] = [
        // Its defaults add verifyext lsec_continue and lsec_ignore_purpose (for s2s): removed, verification holds.
        (
            "strict",
            #"verify = { "peer", "fail_if_no_peer_cert" }; verifyext = { lsec_continue = false, lsec_ignore_purpose = false };"#,
            .mtlsEnforced
        ),
        // What the documentation suggests for client certificates: with lsec_continue still on, any certificate
        // passes the handshake (and anonymous login is offered): only "no certificate" is refused.
        ("peer+fail", #"verify = { "peer", "fail_if_no_peer_cert" };"#, .tlsAcceptsRogueClient),
        ("none", #"verify = "none";"#, .tlsNoClientAuth),
    ]

    @Test(
        "Prosody c2s with client certificates: STARTTLS and direct TLS, stream features served",
        .enabled(
            if: PeerProcess.Installed.prosody, "prosody is not installed (scripts/install-deps.sh --test installs it)"),
        arguments: [0, 1, 2])
    func prosody(mode index: Int) throws {
        let (name, ssl, verdict) = Self.prosodyModes[index]
        let pki = try self.thePKI()
        let prosody = try PeerProcess.prosody(pki, ssl: ssl)
        for (port, startTLS, label) in [
            (prosody.starttls, StartTLSProtocol.xmpp, "\(name) STARTTLS"),
            (prosody.directTLS, nil, "\(name) direct TLS"),
        ] as [(Int, StartTLSProtocol?, String)] {
            let report = try self.run(port, self.expectations(pki), application: .xmpp, startTLS: startTLS)
            #expect(report.startTLS == startTLS?.rawValue)
            self.expectTLSLayer(report, verdict, label)
            self.validServed(report, "xmpp", label)
            // c2s_require_encryption: the stream in clear offers only STARTTLS, marked required.
            let plaintext = self.probe(report, .plaintext)
            #expect(plaintext?.result == .plaintextRefused, "\(label): \(plaintext?.detail ?? "")")
            if startTLS != nil {
                #expect(plaintext?.detail?.contains("STARTTLS required") == true, "\(plaintext?.detail ?? "")")
            }
        }
    }

    // MARK: - AMQP (RabbitMQ)

    @Test(
        "RabbitMQ ssl_options verify_peer with fail_if_no_peer_cert true | false, and verify_none: Connection.Start served",
        .enabled(
            if: PeerProcess.Installed.rabbitmq,
            "rabbitmq-server is not installed (scripts/install-deps.sh --test installs it)"))
    func rabbitmq() throws {
        let pki = try self.thePKI()
        let modes: [(verify: String, fail: Bool, verdict: TLSVerdict)] = [
            ("verify_peer", true, .mtlsEnforced), ("verify_peer", false, .mtlsOptional),
            ("verify_none", false, .tlsNoClientAuth),
        ]
        // One node at a time (each boots in seconds to tens of seconds), stopped before the next boots.
        for mode in modes {
            let label = "\(mode.verify) fail_if_no_peer_cert=\(mode.fail)"
            let started = Date()
            // The loosest node also listens without TLS: AMQP in clear there is plaintext-accepted.
            let plainPort = mode.verify == "verify_none" ? PeerProcess.freePort() : nil
            let server = try PeerProcess.rabbitmq(
                pki, verify: mode.verify, failIfNoPeerCert: mode.fail, plainPort: plainPort)
            print("RabbitMQ node (\(label)) booted in \(Int(Date().timeIntervalSince(started))) s")
            let report = try self.run(server.port, self.expectations(pki), application: .amqp)
            self.expectTLSLayer(report, mode.verdict, label)
            self.validServed(report, "amqp", label)
            #expect(self.probe(report, .clientCertificate)?.detail?.contains("Connection.Start") == true)
            #expect(
                self.probe(report, .plaintext)?.result == .plaintextRefused,
                "\(label): \(self.probe(report, .plaintext)?.detail ?? "")")
            if let plainPort {
                let plain = try self.run(plainPort, self.expectations(pki), application: .amqp)
                #expect(plain.verdict == .plaintextAccepted, "plain listener: \(plain.reason)")
                let plaintext = self.probe(plain, .plaintext)
                #expect(
                    plaintext?.evidence == .servedInClear && plaintext?.detail?.contains("Connection.Start") == true,
                    "\(plaintext?.detail ?? "")")
            }
        }
    }
}
