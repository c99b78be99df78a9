import ArgumentParser
import BulkheadModel
import Certificates
import ContainerEngine
import Foundation
import Inventory
import NetworkNamespaces
import Policy
import Reporting
import TLSVerification

extension AppProbeProtocol: ExpressibleByArgument {}
extension StartTLSProtocol: ExpressibleByArgument {}

extension Bulkhead {
    /// `bulkhead tls`: active mTLS verification of service endpoints.
    struct TLS: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tls",
            abstract: "Prove that each TLS endpoint refuses every bad client and presents a proper certificate.",
            discussion: """
                Per endpoint: a plaintext request on the TLS port; TLS without a client certificate (was one requested, \
                and which CAs are acceptable); client certificates Bulkhead forges for this run (untrusted CA, \
                self-signed with the right identity, and with --ca-key an expired one and a serverAuth-only one from \
                the right CA), each of which must be refused; your own client certificate (must be accepted) and \
                another identity's (the authorization result); each protocol version and weak cipher category \
                alone; and the server chain against --ca-bundle, the expected identity and the certificate lint.

                Evidence: a connection is "served" only when application bytes came back over TLS (the answer to a \
                request that fits the service: HTTP/1.1, HTTP/2, Redis PING, a PostgreSQL StartupMessage…, or a \
                server's greeting), and "refused" on a TLS alert, an application refusal naming the certificate, or a \
                handshake the server aborted. A close, silence, or an HTTP 401/403 naming no certificate proves \
                nothing by itself: a close or such a denial where your valid certificate (or no certificate) is served \
                every time, before and after the forgeries, is a refusal; one identical to your valid certificate's \
                proves nothing; silence is never resolved (a slow server is silent too: raise --read-wait). Forged \
                certificates copy your certificate's whole subject, serial, extensions and kind of key, and the rogue \
                CA its issuer's name; a forgery the client could not send (its key fits no signature algorithm the \
                server allows) tests nothing. Each forged certificate is tried \
                --attempts times (at least 20 forged connections per endpoint): one acceptance is an acceptance.

                Verdicts, worst first: tls-accepts-rogue-client, mtls-optional, tls-no-client-auth, plaintext-accepted, \
                mtls-enforced (the only secure one: every forged certificate refused in every attempt); inconclusive \
                (nothing proves refusal or acceptance: supply --client-cert, or --app-protocol), unreachable, timeout, \
                error (not tested). Any of the last four makes the exit status 3.

                Services that upgrade in clear (SMTP, IMAP, POP3, FTP, PostgreSQL, LDAP, XMPP, NATS) are tested over the \
                upgrade, recognised by port or greeting (or --starttls); serving the protocol in clear without the \
                upgrade is the finding starttls-optional.

                Endpoints: --endpoint A.B.C.D:PORT (repeatable), probed from the host, or from inside a container's \
                network namespace with --from-container NAME. Without --endpoint: every TCP listener of every running \
                container, probed from another container on a shared network (a paused container's listeners are \
                listed as not tested: its frozen server cannot answer; a container the engine failed to inspect makes \
                the run incomplete, exit 3). Only those addresses are probed (never \
                a range; names are not resolved); BULKHEAD_ALLOWED_RANGES=CIDR,… fences every probe in further \
                (127.0.0.0/8,198.18.0.0/15: loopback and a lab alone).

                Examples:
                  bulkhead tls --endpoint 127.0.0.1:8443 --ca-bundle ca.pem \\
                      --client-cert c.pem --client-key c.key
                  bulkhead tls --from-container client --endpoint 198.18.1.3:443 \\
                      --ca-bundle ca.pem --ca-key ca.key \\
                      --expect-spiffe spiffe://lab.test/ns/lab/sa/api --format json
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case table, json
        }

        @Option(
            help: ArgumentHelp(
                "Test the endpoints the policy's mtls section requires mTLS on, with its trust bundles and identities (paths relative to the policy file).",
                valueName: "file"))
        var policy: String?

        @Option(
            name: .customLong("endpoint"),
            help: ArgumentHelp("An endpoint to probe, A.B.C.D:PORT (repeatable).", valueName: "host:port"))
        var endpoints: [String] = []

        @Option(
            name: .customLong("from-container"),
            help: ArgumentHelp("Probe from inside this container's network namespace.", valueName: "name"))
        var fromContainer: String?

        @Option(
            name: .customLong("ca-bundle"),
            help: ArgumentHelp(
                "PEM trust bundle the server chain must validate against (repeatable).", valueName: "file"))
        var caBundles: [String] = []

        @Option(
            name: .customLong("ca-key"),
            help: ArgumentHelp(
                "The client CA's private key (PEM): enables the expired and serverAuth-only certificates from the right CA.",
                valueName: "file"))
        var caKey: String?

        @Option(
            name: .customLong("client-cert"),
            help: ArgumentHelp("A valid client certificate chain (PEM) that must be accepted.", valueName: "file"))
        var clientCert: String?

        @Option(
            name: .customLong("client-key"),
            help: ArgumentHelp("Its private key (PEM, unencrypted).", valueName: "file"))
        var clientKey: String?

        @Option(
            name: .customLong("other-cert"),
            help: ArgumentHelp(
                "A valid certificate of another identity from the same CA (authorization probe).", valueName: "file"))
        var otherCert: String?

        @Option(
            name: .customLong("other-key"), help: ArgumentHelp("Its private key (PEM, unencrypted).", valueName: "file")
        )
        var otherKey: String?

        @Option(
            name: .customLong("expect-dns"),
            help: ArgumentHelp(
                "A DNS name the server certificate must carry (repeatable; the first is sent as SNI).",
                valueName: "name"))
        var expectDNS: [String] = []

        @Option(
            name: .customLong("expect-spiffe"),
            help: ArgumentHelp("The SPIFFE ID the server certificate must carry as its only URI SAN.", valueName: "uri")
        )
        var expectSPIFFE: String?

        @Option(
            name: .customLong("expiry-warn"), parsing: .unconditional,
            help: ArgumentHelp("Report certificates expiring within this horizon (30d, 12h).", valueName: "duration"))
        var expiryWarn: String = "30d"

        @Option(
            name: .customLong("max-validity"),
            parsing: .unconditional,
            help: ArgumentHelp("Report leaves valid for longer than this many days.", valueName: "days"))
        var maxValidity: Int = 398

        @Flag(
            name: .customLong("mtls-not-required"),
            help: "mTLS is not required here: plaintext, no client auth and optional client auth are not high findings."
        )
        var notRequired = false

        @Flag(name: .customLong("no-ciphers"), help: "Skip the weak cipher probes.")
        var noCiphers = false

        @Flag(name: .customLong("no-versions"), help: "Skip the protocol version probes.")
        var noVersions = false

        @Option(parsing: .unconditional, help: ArgumentHelp("Seconds allowed per connection.", valueName: "seconds"))
        var timeout: Double = 5

        @Option(
            name: .customLong("read-wait"),
            parsing: .unconditional,
            help: ArgumentHelp(
                "Seconds to wait after a handshake for the answer or a rejection alert (TLS 1.3 rejects there).",
                valueName: "seconds"))
        var readWait: Double = 1.5

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "Connections per forged client certificate (one acceptance in any attempt is an acceptance).",
                valueName: "n"))
        var attempts: Int = 5

        @Option(
            name: .customLong("app-protocol"),
            help: ArgumentHelp(
                "What to speak after the handshake (default: chosen from the port, the server's ALPN choice and its greeting).",
                valueName: "protocol"))
        var appProtocol: AppProbeProtocol?

        @Option(
            help: ArgumentHelp(
                "A cleartext upgrade to run before every handshake (default: from the port or the server's greeting).",
                valueName: "protocol"))
        var starttls: StartTLSProtocol?

        @Option(help: "Output format: table or json.")
        var format: Format = .table

        @OptionGroup var report: ReportOptions

        func run() throws {
            try checkAddressLimit()
            if self.policy != nil
                && (!self.endpoints.isEmpty || !self.caBundles.isEmpty || self.clientCert != nil
                    || self.otherCert != nil
                    || self.caKey != nil || !self.expectDNS.isEmpty || self.expectSPIFFE != nil)
            {
                throw failInput(
                    "--policy takes the endpoints, trust bundles and identities from the policy's mtls section: leave out --endpoint, --ca-bundle, --ca-key, --client-cert, --other-cert, --expect-dns and --expect-spiffe"
                )
            }
            let expectations = try self.expectations()
            let options = try self.options()
            let (chosen, inventory) = try self.targets(expectations)
            let (targets, paused) = TLSTarget.settingAsidePaused(chosen, containers: inventory?.containers ?? [])
            if chosen.isEmpty {
                throw failInput(
                    self.policy.map {
                        "nothing to probe: no running container endpoint is covered by the mtls section of \($0)"
                    }
                        ?? "nothing to probe: no --endpoint given and no container listens on a TCP port")
            }
            var result: TLSReport
            do { result = try ProbeBattery.run(targets, options: options) } catch {
                throw failInput(error.description)
            }
            if !paused.isEmpty {
                result = TLSReport(endpoints: result.endpoints + paused, durationSeconds: result.durationSeconds)
            }
            // Endpoints taken from an inventory that is missing containers (one the engine failed to inspect) are not
            // all the endpoints there are: the run is incomplete, and says what is missing.
            let missing = inventory.map { $0.complete ? [] : $0.problems } ?? []
            if !missing.isEmpty && self.endpoints.isEmpty { result.complete = false }
            let sink = try self.report.openSink()
            do {
                switch self.format {
                case .table:
                    sink.write(
                        TLSTableReport.render(result, style: TerminalStyle.forDescriptor(self.report.descriptor)))
                case .json: sink.write(try JSONReport.document(result))
                }
                try sink.commit()
            } catch {
                sink.abandon()
                throw OutputSink.failure(error)
            }
            if self.endpoints.isEmpty {
                for problem in missing { warn("inventory: \(problem)") }
            }
            for endpoint in result.endpoints where !endpoint.verdict.tested {
                warn(
                    "\(endpoint.endpoint) (from \(endpoint.source)) \(endpoint.verdict == .inconclusive ? "could not be judged" : "could not be tested"): \(endpoint.verdict.rawValue): \(endpoint.reason)"
                )
            }
            try self.report.failIfNeeded(result.findings, complete: result.complete)
        }

        /// The flags as the engine's plain expectations value (what the policy file will build later).
        func expectations() throws -> TLSExpectations {
            func pair(_ certificate: String?, _ key: String?, _ name: String) throws -> IdentityFiles? {
                switch (certificate, key) {
                case (nil, nil): return nil
                case (let certificate?, let key?): return IdentityFiles(certificate: certificate, key: key)
                default: throw failInput("--\(name)-cert and --\(name)-key go together")
                }
            }
            if self.caKey != nil && self.caBundles.isEmpty {
                throw failInput("--ca-key needs --ca-bundle (the CA certificate it belongs to)")
            }
            return TLSExpectations(
                trustBundles: self.caBundles, caKey: self.caKey,
                clientIdentity: try pair(self.clientCert, self.clientKey, "client"),
                otherIdentity: try pair(self.otherCert, self.otherKey, "other"), expectedDNSNames: self.expectDNS,
                expectedSPIFFEID: self.expectSPIFFE, required: !self.notRequired)
        }

        func options() throws -> TLSBatteryOptions {
            guard let horizon = Self.seconds(self.expiryWarn) else {
                throw failInput("--expiry-warn \(self.expiryWarn): expected a duration like 30d or 12h")
            }
            guard self.timeout > 0, self.timeout <= 3600, self.readWait > 0, self.readWait <= self.timeout else {
                throw failInput(
                    "--timeout and --read-wait must be positive, --timeout at most an hour (3600 s), and --read-wait at most --timeout"
                )
            }
            guard (1...100).contains(self.attempts) else {
                throw failInput("--attempts \(self.attempts): expected 1 to 100")
            }
            // A negative or zero number of days (accepted as a value now that `-5` is not taken for an option) would
            // report every leaf as valid too long.
            guard self.maxValidity >= 1 else {
                throw failInput("--max-validity \(self.maxValidity): expected 1 or more days")
            }
            return TLSBatteryOptions(
                timeouts: TLSTimeouts(connection: self.timeout, readAfterHandshake: self.readWait),
                lint: CertificateLint.Options(expiryWarningSeconds: horizon, maximumLeafValidityDays: self.maxValidity),
                probeVersions: !self.noVersions, probeCiphers: !self.noCiphers, attempts: self.attempts,
                applicationProtocol: self.appProtocol, startTLS: self.starttls)
        }

        /// `30d`, `12h`, `90m`, `45s`, or a bare number of days.
        static func seconds(_ text: String) -> Int64? {
            let units: [Character: Int64] = ["d": 86_400, "h": 3600, "m": 60, "s": 1]
            if let last = text.last, let unit = units[last], let value = Int64(text.dropLast()), value >= 0 {
                return value * unit
            }
            if let days = Int64(text), days >= 0 { return days * 86_400 }
            return nil
        }

        /// The endpoints to probe, and the inventory they were taken from (nil when the engine was not asked).
        func targets(_ expectations: TLSExpectations) throws -> ([TLSTarget], InventoryReport?) {
            var source = TLSSource.host
            var inventory: InventoryReport?
            if self.fromContainer != nil || self.endpoints.isEmpty {
                do {
                    inventory = try InventoryCollector.fromEngine(
                        DockerEngine(socketPath: try DockerEngine.socketPath()))
                } catch {
                    throw failInput(error.description)
                }
            }
            if let name = self.fromContainer {
                guard let container = inventory?.containers.first(where: { $0.name == name || $0.id.hasPrefix(name) })
                else {
                    throw failInput("--from-container \(name): no such container")
                }
                guard let pid = container.pid, pid > 0 else {
                    throw failInput("--from-container \(name): the container is not running")
                }
                source = .container(name: container.name, namespace: NetworkNamespace(pid: pid))
            }
            if !self.endpoints.isEmpty {
                let named = try self.endpoints.map { text in
                    guard let endpoint = TLSEndpoint(text) else {
                        throw failInput("--endpoint \(text): expected an IPv4 address and a port, A.B.C.D:PORT")
                    }
                    guard TLSScope.permits(endpoint) else { throw failInput(TLSScope.refusal(endpoint)) }
                    return TLSTarget(endpoint: endpoint, source: source, expectations: expectations)
                }
                return (named, inventory)
            }
            let all = TLSTarget.fromInventory(
                inventory?.containers ?? [], source: self.fromContainer == nil ? nil : source,
                expectations: expectations)
            guard let path = self.policy, let inventory else { return (all, inventory) }
            // With a policy: only the endpoints an mTLS requirement covers, each with that requirement's expectations.
            let policy = try PolicyOptions.load(path: path)
            let evaluator = PolicyEvaluator(policy: policy, inventory: inventory)
            let directory = (path as NSString).deletingLastPathComponent
            let covered = all.compactMap { target -> TLSTarget? in
                let text = target.endpoint.description
                guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
                    return nil
                }
                let source: String
                switch target.source {
                case .host: source = "host"
                case .container(let name, _): source = name
                }
                guard
                    let (_, requirement) = evaluator.mtlsRequirement(
                        address: String(text[..<colon]), port: port, source: source)
                else { return nil }
                return TLSTarget(
                    endpoint: target.endpoint, source: target.source,
                    expectations: requirement.expectations(relativeTo: directory.isEmpty ? "." : directory))
            }
            return (covered, inventory)
        }
    }
}
