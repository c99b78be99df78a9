import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import Policy

@Suite("Policy files")
struct PolicyFileTests {
    func load(_ yaml: String) throws -> Policy {
        try TemporaryFile.with(yaml, named: "policy.yaml") { path in try Policy.load(path: path) }
    }

    func expectError(_ yaml: String, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try self.load(yaml)
            Issue.record("expected an error", sourceLocation: sourceLocation)
        } catch {
            let text = "\(error)"
            for fragment in fragments + ["bh-policy-"] {
                #expect(text.contains(fragment), "\(text) lacks \(fragment)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test("a full policy: selectors as strings, maps and lists; ports; mTLS requirements")
    func full() throws {
        let policy = try self.load(
            """
            version: 1
            baseline: docker
            allow:
              - name: web to api
                from: web
                to: [{ service: api }, { label: "tier=backend" }]
                ports: [tcp/8080, 'tcp/9090', udp/53, icmp, tcp/8000-8010]
            deny:
              - from: { network: "front*" }
                to: { cidr: 198.18.20.0/24 }
            mtls:
              require:
                - to: { service: payments }
                  ports: [tcp/8443]
                  trustBundle: pki/ca.crt
                  expectSPIFFE: spiffe://shop/payments
            """)
        #expect(policy.baseline == .docker)
        #expect(policy.allow.first?.from == [Selector(container: "web")])
        #expect(policy.allow.first?.to.count == 2)
        #expect(
            policy.allow.first?.ports.map(\.description) == ["tcp/8080", "tcp/9090", "udp/53", "icmp", "tcp/8000-8010"])
        #expect(policy.deny.first?.ports == [.any])
        #expect(policy.mtls?.require.first?.expectSPIFFE == "spiffe://shop/payments")
        #expect(try self.load("allow: []\n").baseline == .deny, "a written policy denies by default")
    }

    @Test("broken files name the file and the line: syntax, unknown keys, bad ports, bad CIDRs, versions")
    func broken() {
        self.expectError("baseline: deny\nallow: [\n", ["not valid YAML", ":3"])
        self.expectError("baseline: deny\nalow:\n  - {from: a, to: b}\n", [":2", "unknown key 'alow'", "allow"])
        self.expectError("allow:\n  - from: a\n    to: b\n    prots: [tcp/1]\n", [":4", "unknown key 'prots'"])
        self.expectError("allow:\n  - from: { contaner: a }\n    to: b\n", [":2", "unknown key 'contaner'"])
        self.expectError(
            "allow:\n  - from: a\n    to: b\n    ports: [tpc/80]\n",
            [":4", "allow[0].ports[0]", "'tpc/80' is not a port"])
        self.expectError("deny:\n  - from: a\n    to: { cidr: 198.18.0.0/99 }\n", [":3", "not a CIDR"])
        self.expectError("version: 2\n", ["version 2"])
        self.expectError("baseline: allow-all\n", [":1", "baseline"])
        self.expectError("allow:\n  - from: a\n", ["to"])
        self.expectError("", ["empty"])
    }

    @Test("YAML as editors and people write it: a byte-order mark, a quoted number, a second document, a spaced port")
    func yamlAsWritten() throws {
        // A Windows editor's byte-order mark is part of YAML's grammar, not content.
        #expect(try self.load("\u{FEFF}baseline: docker\nallow:\n  - { from: web, to: db }\n").allow.count == 1)
        // The quotes make it a string: the message says so instead of "found nothing".
        self.expectError(
            "version: '1'\nbaseline: docker\n", [":1", "version", "the quoted string '1'", "leave them out"])
        self.expectError("version: [1]\n", [":1", "found a list"])
        // One line that names the second document, not libyaml's three.
        self.expectError("baseline: docker\n---\nbaseline: deny\n", [":2:1", "a second document starts here"])
        // Spaces kept by quotes are refused in a port as in a CIDR.
        self.expectError(
            "allow:\n  - { from: web, to: db, ports: [' tcp/80'] }\n", [":2", "' tcp/80' is not a port"])
    }

    @Test("hostile files fail fast with a limit: 20,000 nested [, an alias bomb under an unrestricted key, a huge file")
    func hostile() throws {
        let clock = ContinuousClock()
        let started = clock.now
        self.expectError(
            "version: 1\nallow: " + String(repeating: "[", count: 20_000) + "\n", [":2", "nested more than 64 levels"])
        self.expectError(
            "allow:\n" + String(repeating: "  ", count: 1) + String(repeating: "- ", count: 5_000) + "x\n",
            [":2", "nested more than"])
        var bomb =
            "version: 1\nallow:\n  - from: web\n    to: api\n    ports:\n      a: &a [x, x, x, x, x, x, x, x, x]\n"
        for (index, name) in ["b", "c", "d", "e", "f", "g", "h", "i"].enumerated() {
            let previous = index == 0 ? "a" : ["b", "c", "d", "e", "f", "g", "h"][index - 1]
            bomb +=
                "      \(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]\n"
        }
        self.expectError(bomb, ["expands to more than", "alias"])
        self.expectError("allow: [" + Array(repeating: "*a", count: 2_000).joined(separator: ",") + "]\n", ["aliases"])
        self.expectError("# " + String(repeating: "x", count: 2 << 20) + "\n", ["limit"])
        // Deep only once expanded: each anchor 40 levels deep, holding the previous one at its bottom.
        var chain = "version: 1\nx:\n"
        for index in 0..<30 {
            let inner = index == 0 ? "1" : "*a\(index - 1)"
            chain +=
                "  - &a\(index) " + String(repeating: "[", count: 40) + inner + String(repeating: "]", count: 40) + "\n"
        }
        self.expectError(chain, ["levels deep with its aliases expanded"])
        #expect(clock.now - started < .seconds(5), "each refusal is immediate")
    }

    @Test(
        "fuzz regressions: base-60 numbers that overflow inside Yams (fuzz/config/regressions/) are refused, not a trap"
    )
    func fuzzRegressions() throws {
        for file in ["policy-sexagesimal-version.bin", "policy-sexagesimal-port.bin", "policy-sexagesimal-signed.bin"] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: Repository.path("fuzz/config/regressions/\(file)")))
            self.expectError(String(decoding: bytes.dropFirst(), as: UTF8.self), ["base 60", "too large"])
        }
        // Eight parts or more are refused outright (a signed ten-part scalar trapped inside Yams); seven are fine.
        #expect(
            YAMLDocument.sexagesimalOverflows("1:1:1:1:1:1:1:1") && !YAMLDocument.sexagesimalOverflows("1:1:1:1:1:1:1"))
        #expect(
            YAMLDocument.sexagesimalOverflows("-999999999999999999:59")
                && !YAMLDocument.sexagesimalOverflows("fd00::1:2:3:4:5:6"))
        #expect(
            try self.load("version: 1\nallow:\n  - { name: \"at 12:30:00\", from: a, to: b }\n").allow.first?.name
                == "at 12:30:00")
    }

    @Test(
        "nothing silently ignored: a key twice, a key with no value, host bits, empty labels and patterns, invalid globs, bad UTF-8"
    )
    func silentlyIgnored() throws {
        self.expectError(
            "version: 1\ndeny:\n  - {from: a, to: b}\nallow: []\ndeny:\n  - {from: c, to: d}\n",
            [":5", "'deny' given twice", "line 2"])
        self.expectError("allow:\n  - from: a\n    to: b\n    to: c\n", [":4", "'to' given twice"])
        self.expectError("allow:\n  - from:\n    to: d\n", [":2", "allow[0].from", "has no value"])
        self.expectError("allow:\n  - from: a\n    to: b\n    ports:\n", [":4", "ports", "has no value"])
        self.expectError("deny:\n", [":1", "deny", "no value"])
        self.expectError("deny:\n  - from: a\n    to: { cidr: 198.18.1.7/16 }\n", [":3", "host bits", "198.18.0.0/16"])
        self.expectError("deny:\n  - from: a\n    to: { cidr: \"fd00::1/64\" }\n", [":3", "host bits", "fd00::/64"])
        self.expectError("deny:\n  - from: { label: \"\" }\n    to: a\n", [":2", "label"])
        self.expectError("deny:\n  - from: { label: \"=x\" }\n    to: a\n", [":2", "key=value"])
        self.expectError("deny:\n  - from: \"web[0-9]\"\n    to: a\n", [":2", "'web[0-9]' is not a name pattern"])
        self.expectError("deny:\n  - from: a\n    to: { network: \"back end\" }\n", [":3", "not a name pattern"])
        self.expectError("mtls:\n  require:\n    - to: { service: \"\" }\n", [":3", "service"])
        let invalid = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bh-policy-utf8-\(UUID().uuidString.prefix(8)).yaml"
        ).path
        try Data(Array("version: 1\nallow:\n  - from: \"caf".utf8) + [0xE9, 0x22, 0x0A] + Array("    to: a\n".utf8))
            .write(to: URL(fileURLWithPath: invalid))
        defer { try? FileManager.default.removeItem(atPath: invalid) }
        #expect(throws: PathError.self) { try Policy.load(path: invalid) }
        do { _ = try Policy.load(path: invalid) } catch {
            #expect("\(error)".contains(":3:") && "\(error)".contains("not valid UTF-8"), "\(error)")
        }
        // What stays valid: a CIDR naming a network, a single address, anchors used sparingly, label presence.
        let policy = try self.load(
            """
            version: 1
            allow:
              - from: &web { container: "web-*" }
                to: { cidr: 198.18.0.0/16 }
              - from: *web
                to: [{ cidr: 198.18.1.7 }, { label: tier }]
            """)
        #expect(policy.allow.count == 2 && policy.allow[1].from == [Selector(container: "web-*")])
    }

    @Test(
        "syntax that another reader would read otherwise is refused: 198.18.1.0//24, /+24, tcp/-8080, tcp/8080-, an IPv4-mapped range"
    )
    func lenientSyntax() {
        for cidr in ["198.18.1.0//24", "198.18.1.0/+24", "198.18.1.0/024"] {
            #expect(CIDR.parse(cidr) == nil, "\(cidr)")
            self.expectError("allow:\n  - from: a\n    to: { cidr: \"\(cidr)\" }\n", [":3", "is not a CIDR"])
        }
        #expect(CIDR.parse("198.18.1.0/24")?.prefix == 24 && CIDR.parse("0.0.0.0/0")?.prefix == 0)
        for port in ["tcp/-8080", "tcp/8080-", "tcp/+80", "tcp/080"] {
            #expect(PortSpec(port) == nil, "\(port)")
            self.expectError("allow:\n  - from: a\n    to: b\n    ports: ['\(port)']\n", [":4", "is not a port"])
        }
        #expect(PortSpec("tcp/8000-8010")?.range == 8000...8010)
        self.expectError(
            "deny:\n  - from: a\n    to: { cidr: '::ffff:198.18.1.0/120' }\n", [":3", "IPv4-mapped", "never matches"])
        self.expectError(
            "allow:\n  - name: x\n    from: a\n    to: b\ndeny:\n  - name: x\n    from: b\n    to: a\n",
            [":6", "deny[0]", "'x' is allow[0]'s too"])
        self.expectError("? [deny]\n: - from: a\n    to: b\n", [":1", "is a list or a map, not a name"])
    }

    @Test(
        "silently inert or wider rules refused: bare-number ports and YAML 1.1 number forms, ports: [], a certificate without its key"
    )
    func inertRules() throws {
        // A bare number would be TCP only (a policy meaning DNS), and YAML 1.1 turns 134:40, 017620, 0x1f90 and 80_80
        // into 8080; 80:80 (a compose mapping) into 4880.
        self.expectError(
            "allow:\n  - from: a\n    to: b\n    ports: [53]\n",
            [":4", "allow[0].ports[0]", "'53' is a bare number", "tcp/53 or udp/53"])
        for written in ["134:40", "017620", "0x1f90", "80_80", "80:80", "8080.0"] {
            self.expectError(
                "allow:\n  - from: a\n    to: b\n    ports:\n      - \(written)\n",
                [":5", "allow[0].ports[0]", "'\(written)' is"])
        }
        #expect(
            try self.load("allow:\n  - from: a\n    to: b\n    ports: ['tcp/80', \"udp/53\", tcp/8000-8010]\n").allow
                .first?.ports.map(\.description) == ["tcp/80", "udp/53", "tcp/8000-8010"])
        self.expectError(
            "deny:\n  - from: web\n    to: db\n    ports: []\n", [":4", "deny[0]", "`ports: []` matches nothing"])
        self.expectError(
            "mtls:\n  require:\n    - to: api\n      ports: []\n", [":4", "mtls.require[0]", "matches nothing"])
        self.expectError(
            "mtls:\n  require:\n    - to: api\n      ports: [tcp/8080]\n      clientCertificate: pki/api.crt\n",
            [":5", "mtls.require[0]", "clientCertificate and clientKey go together"])
        self.expectError(
            "mtls:\n  require:\n    - to: api\n      clientKey: pki/api.key\n",
            [":4", "clientCertificate and clientKey go together"])
        self.expectError(
            "mtls:\n  require:\n    - to: api\n      otherCertificate: o.crt\n",
            [":4", "otherCertificate and otherKey go together"])
        self.expectError(
            "mtls:\n  require:\n    - to: api\n      caKey: ca.key\n", [":4", "caKey needs trustBundle"])
        let whole = try self.load(
            "mtls:\n  require:\n    - to: api\n      trustBundle: ca.crt\n      caKey: ca.key\n"
                + "      clientCertificate: a.crt\n      clientKey: a.key\n")
        #expect(whole.mtls?.require.first?.expectations(relativeTo: nil).clientIdentity != nil)
    }

    @Test("label 'key=' wants the label with an empty value, not any value of the key")
    func emptyLabelValue() throws {
        let policy = try self.load("allow:\n  - from: web\n    to: { label: 'tier=' }\n")
        let selector = try #require(policy.allow.first?.to.first)
        #expect(selector.labelMatches(["tier": ""]))
        #expect(!selector.labelMatches(["tier": "backend"]) && !selector.labelMatches([:]))
        #expect(Selector(label: "tier").labelMatches(["tier": "backend"]), "a key alone is the label's presence")
        #expect(Selector(label: "a=b=c").labelMatches(["a": "b=c"]), "the value is what follows the first =")
    }

    @Test("input files that are not files: a folder, a FIFO (without blocking), a missing folder")
    func notFiles() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bh-policy-dir-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(mkfifo(folder + "/fifo.yaml", 0o600) == 0)
        func message(_ path: String) -> String {
            do {
                _ = try Policy.load(path: path)
                return "loaded"
            } catch { return "\(error)" }
        }
        #expect(message(folder).contains("is a folder, not a file"))
        #expect(message(folder + "/fifo.yaml").contains("not a regular file (a FIFO)"))
        #expect(message(folder + "/missing/policy.yaml").contains("the folder \(folder)/missing does not exist"))
        #expect(message(folder + "/policy.yaml").contains("no such file"))
    }

    @Test("the example policy in scenarios/policies loads")
    func example() throws {
        let policy = try Policy.load(path: Repository.path("scenarios/policies/shop.yaml"))
        #expect(policy.baseline == .deny && policy.allow.count == 6 && policy.deny.count == 2)
        #expect(
            policy.mtls?.require.first?.expectations(relativeTo: "/etc/bulkhead").trustBundles == [
                "/etc/bulkhead/pki/ca.crt"
            ])
    }

    @Test("glob patterns")
    func glob() {
        #expect(Selector.glob("web-*", matches: "web-1"))
        #expect(Selector.glob("*", matches: ""))
        #expect(Selector.glob("a?c", matches: "abc") && !Selector.glob("a?c", matches: "ac"))
        #expect(Selector.glob("*-db-*", matches: "shop-db-1") && !Selector.glob("*-db-*", matches: "shop-db"))
        #expect(!Selector.glob("web", matches: "web-1"))
    }
}

@Suite("Policy evaluation")
struct PolicyEvaluationTests {
    static let inventory: InventoryReport = {
        func network(_ name: String, isInternal: Bool = false, icc: Bool = true) -> NetworkRecord {
            NetworkRecord(
                name: name, id: name, driver: "bridge", scope: "local", subnets: [], gateways: [], internal: isInternal,
                icc: icc, encrypted: nil,
                attachable: false, isDefaultBridge: false, bridge: nil, containers: [], labels: [:])
        }
        func container(
            _ name: String, _ networks: [(String, String)], labels: [String: String] = [:], mode: String = "bridge"
        ) -> ContainerRecord {
            ContainerRecord(
                name: name, id: name, image: "lab", state: "running", pid: 1, netns: nil, networkMode: mode,
                networks: networks.map {
                    ContainerNetwork(name: $0.0, ipv4: $0.1, ipv6: nil, gateway: nil, aliases: [])
                },
                publishedPorts: [], capabilities: [], privileged: false, dockerSocketMounted: false, listening: [],
                labels: labels)
        }
        return InventoryReport(
            sources: [], networks: [network("front"), network("back", isInternal: true), network("quiet", icc: false)],
            containers: [
                container(
                    "web", [("front", "198.18.1.10")],
                    labels: ["com.docker.compose.service": "web", "tier": "frontend"]),
                container(
                    "api", [("front", "198.18.1.11"), ("back", "198.18.2.11")],
                    labels: ["com.docker.compose.service": "api", "com.docker.compose.project": "shop"]),
                container("db", [("back", "198.18.2.12")], labels: ["com.docker.compose.service": "db"]),
                container("q1", [("quiet", "198.18.3.10")]),
                container("q2", [("quiet", "198.18.3.11")]),
                container("hostly", [], mode: "host"),
            ], namespaces: [], findings: [], complete: true, problems: [], summary: InventorySummary())
    }()

    static func cell(
        _ source: String, _ destination: String, _ network: String?, _ address: String, _ proto: ProbeProtocol,
        _ port: Int?, _ state: CellState, kind: DestinationKind = .container
    ) -> ReachabilityCell {
        ReachabilityCell(
            source: source, destination: ReachabilityCell.destinationText(address: address, port: port),
            protocol: proto, state: state,
            attempts: 1, latencyMs: 1, destinationName: destination, destinationKind: kind, network: network,
            address: address, port: port,
            reason: "listening", sourcePid: 42, evidence: [ProbeAttempt(outcome: .connected, latencyMs: 1)])
    }

    @Test(
        "the docker baseline: shared network allowed, across networks denied, ICC off denied, internal gateway denied, host namespace allowed"
    )
    func dockerIntent() {
        let evaluator = PolicyEvaluator(policy: .dockerDefault, inventory: Self.inventory)
        let cells = evaluator.evaluate([
            Self.cell("web", "api", "front", "198.18.1.11", .tcp, 8080, .reachable),
            Self.cell("web", "db", "back", "198.18.2.12", .tcp, 5432, .reachable),
            Self.cell("web", "db", "back", "198.18.2.12", .tcp, 5432, .filtered),
            Self.cell("q1", "q2", "quiet", "198.18.3.11", .icmp, nil, .reachable),
            Self.cell("db", "host", "back", "198.18.2.1", .tcp, 2375, .reachableClosed, kind: .gateway),
            Self.cell("web", "host", "front", "198.18.1.1", .tcp, 2375, .filtered, kind: .gateway),
            Self.cell("hostly", "db", "back", "198.18.2.12", .tcp, 5432, .reachable),
            Self.cell("web", "api", "front", "198.18.1.11", .tcp, 8080, .error),
        ])
        #expect(cells.map(\.expected) == [.allow, .deny, .deny, .deny, .deny, .allow, .allow, .allow])
        #expect(
            cells.map(\.violation) == [
                nil, .unexpectedReachable, nil, .unexpectedReachable, .unexpectedReachable, .unexpectedBlocked, nil,
                nil,
            ])
        #expect(cells[1].rule?.contains("not on back") == true)
        let findings = ReachabilityFindings.findings(cells)
        #expect(
            findings.map(\.kind) == [
                FindingKind.unexpectedReachable, .unexpectedReachable, .unexpectedReachable, .unexpectedBlocked,
            ])
        #expect(
            findings.map(\.severity) == [.high, .high, .medium, .medium], "a closed port behind an open path is medium")
        // A reset from a port the destination listens on was judged a firewall's: the finding must not call the path
        // open.
        var rejected = Self.cell("web", "api", "front", "198.18.1.11", .tcp, 8080, .rejected)
        rejected.evidence = [ProbeAttempt(outcome: .refused, latencyMs: 1, errno: "ECONNREFUSED")]
        #expect(ReachabilityFindings.describe(rejected).contains("a firewall's REJECT"))
        rejected.state = .reachableClosed
        #expect(ReachabilityFindings.describe(rejected).contains("the path is open"))
    }

    @Test(
        "rules: explicit deny wins, selectors by name, label, compose service and project, network, CIDR, host side; ports"
    )
    func rules() throws {
        let policy = Policy(
            baseline: .deny,
            allow: [
                Policy.Rule(
                    from: [Selector(service: "web")], to: [Selector(project: "shop")],
                    ports: [.ports(.tcp, 8000...8080)]),
                Policy.Rule(from: [Selector(label: "tier")], to: [Selector(host: true)], ports: [.proto(.icmp)]),
                Policy.Rule(from: [Selector(network: "ba*")], to: [Selector(cidr: "198.18.2.0/24")]),
            ],
            deny: [
                Policy.Rule(
                    from: [Selector(container: "api")], to: [Selector(container: "db")],
                    ports: [.ports(.tcp, 5432...5432)])
            ])
        let evaluator = PolicyEvaluator(policy: policy, inventory: Self.inventory)
        func expected(_ cell: ReachabilityCell) -> BulkheadModel.Expectation? { evaluator.expectation(for: cell).0 }
        #expect(expected(Self.cell("web", "api", "front", "198.18.1.11", .tcp, 8080, .reachable)) == .allow)
        #expect(
            expected(Self.cell("web", "api", "front", "198.18.1.11", .tcp, 8081, .reachable)) == .deny,
            "port outside the range")
        #expect(
            expected(Self.cell("web", "api", "front", "198.18.1.11", .udp, 8080, .reachable)) == .deny, "wrong protocol"
        )
        #expect(
            expected(Self.cell("web", "host", "front", "198.18.1.1", .icmp, nil, .reachable, kind: .gateway)) == .allow)
        #expect(
            expected(Self.cell("api", "host", "front", "198.18.1.1", .icmp, nil, .reachable, kind: .gateway)) == .deny,
            "api has no tier label")
        #expect(
            expected(Self.cell("api", "db", "back", "198.18.2.12", .tcp, 6379, .reachable)) == .allow,
            "network + CIDR rule")
        #expect(
            expected(Self.cell("api", "db", "back", "198.18.2.12", .tcp, 5432, .reachable)) == .deny,
            "the explicit deny wins over the allow")
        #expect(
            evaluator.expectation(for: Self.cell("api", "db", "back", "198.18.2.12", .tcp, 5432, .reachable)).1
                == "deny[0]")
        #expect(expected(Self.cell("db", "api", "back", "198.18.2.11", .tcp, 80, .reachable)) == .allow)
        #expect(
            expected(Self.cell("db", "api", "front", "198.18.1.11", .tcp, 80, .reachable)) == .deny,
            "destination address outside the CIDR")
    }

    @Test("a selector that matches no container is a policy-rule-selects-nothing finding, naming the rule and selector")
    func selectsNothing() throws {
        let policy = try TemporaryFile.with(
            """
            baseline: docker
            deny:
              - { from: { service: wbe }, to: { service: db } }
              - { name: typo, from: web, to: [{ cidr: 198.18.2.0/24 }, { label: "tier=backnd" }] }
            allow:
              - { from: { network: "fr*" }, to: { container: bh-ns-pay } }
            """, named: "policy.yaml"
        ) { path in try Policy.load(path: path) }
        var namespace = Self.cell("web", "bh-ns-pay", nil, "198.18.9.9", .tcp, 80, .reachable)
        namespace.destinationKind = .namespace
        let report = ProbeReport(
            generatedAt: "2026-11-29T00:00:00Z", policy: "",
            settings: ProbeSettings(
                attempts: 1, timeoutsSeconds: [:], maxInFlight: 1, maxInFlightPerDestination: 1, extraPorts: [],
                explicitTargets: []),
            inventory: Self.inventory, sources: [], cells: [namespace], findings: [], complete: true, problems: [],
            summary: ProbeSummary())
        let findings = report.evaluated(with: policy, name: "p").findings.filter {
            $0.kind == .policyRuleSelectsNothing
        }
        #expect(findings.map(\.location) == ["deny[0].from[0]", "deny \"typo\".to[1]"])
        #expect(findings.first?.title == "deny[0].from[0] {service: wbe} matches no container")
        #expect(findings.allSatisfy { $0.severity == .low })
        // Each names the line its selector was written on.
        #expect(findings.map { $0.detail.hasSuffix(".yaml:3.") } == [true, false])
        #expect(findings.map { $0.detail.hasSuffix(".yaml:4.") } == [false, true])
    }

    @Test(
        "a cidr selector matches a plain namespace's address as a source too; a range holding no known address is a selects-nothing finding"
    )
    func namespaceCIDR() throws {
        // Namespaces only (`probe --namespaces` on a host without Docker): no container record for either side.
        let inventory = InventoryReport(
            sources: [], networks: [], containers: [],
            namespaces: [
                NamespaceRecord(
                    name: "fxp-a", netns: "net:[1]", pids: [], addresses: ["198.18.104.10/24"], listening: []),
                NamespaceRecord(
                    name: "fxp-b", netns: "net:[2]", pids: [], addresses: ["198.18.104.20/24", "fe80::2/64"],
                    listening: []),
            ], findings: [], complete: true, problems: [], summary: InventorySummary())
        var cell = Self.cell("fxp-a", "fxp-b", nil, "198.18.104.20", .tcp, 8080, .reachable, kind: .namespace)
        cell.reason = "listening"
        func evaluate(_ yaml: String, _ cell: ReachabilityCell) throws -> ProbeReport {
            let policy = try TemporaryFile.with(yaml, named: "policy.yaml") { path in try Policy.load(path: path) }
            let report = ProbeReport(
                generatedAt: "2026-11-29T00:00:00Z", policy: "",
                settings: ProbeSettings(
                    attempts: 1, timeoutsSeconds: [:], maxInFlight: 1, maxInFlightPerDestination: 1, extraPorts: [],
                    explicitTargets: []),
                inventory: inventory, sources: [], cells: [cell], findings: [], complete: true, problems: [],
                summary: ProbeSummary())
            return report.evaluated(with: policy, name: "p")
        }
        // A deny by address is enforced: the breach is a violation, named by the rule.
        let denied = try evaluate(
            """
            baseline: docker
            deny:
              - { name: no a to b, from: { cidr: 198.18.104.10/32 }, to: { cidr: 198.18.104.20/32 } }
            """, cell)
        #expect(denied.cells.first?.expected == .deny, "\(denied.cells)")
        #expect(denied.cells.first?.rule == "deny \"no a to b\"")
        #expect(denied.cells.first?.violation == .unexpectedReachable)
        #expect(denied.findings.filter { $0.kind == .policyRuleSelectsNothing }.isEmpty, "\(denied.findings)")
        // Under a deny baseline, an allow by address allows: no false broken dependency, no false breach.
        let allowYAML = """
            baseline: deny
            allow:
              - { from: { cidr: 198.18.104.0/24 }, to: { container: fxp-b }, ports: [tcp/8080] }
            """
        #expect(try evaluate(allowYAML, cell).cells.first?.expected == .allow)
        var blocked = cell
        blocked.state = .filtered
        #expect(try evaluate(allowYAML, blocked).cells.first?.violation == .unexpectedBlocked)
        // A range no source or destination has an address in (198.18.105 written for 198.18.104): flagged, with the
        // line, even though the inventory holds no container.
        let typo = try evaluate(
            """
            baseline: docker
            deny:
              - from: { cidr: 198.18.105.10/32 }
                to: { container: fxp-b }
            """, cell)
        let findings = typo.findings.filter { $0.kind == .policyRuleSelectsNothing }
        #expect(findings.map(\.location) == ["deny[0].from[0]"], "\(typo.findings)")
        #expect(findings.first?.title == "deny[0].from[0] {cidr: 198.18.105.10/32} matches no address of the inventory")
        #expect(findings.first?.detail.hasSuffix(".yaml:3.") == true, "\(findings)")
        #expect(typo.cells.first?.expected == nil, "the typo matched nothing, and Docker has no intent for namespaces")
    }

    @Test("re-evaluating stored evidence replaces the earlier evaluation")
    func reevaluate() {
        let cells = [Self.cell("web", "db", "back", "198.18.2.12", .tcp, 5432, .reachable)]
        let report = ProbeReport(
            generatedAt: "2026-11-29T00:00:00Z", policy: "",
            settings: ProbeSettings(
                attempts: 1, timeoutsSeconds: [:], maxInFlight: 1, maxInFlightPerDestination: 1, extraPorts: [],
                explicitTargets: []),
            inventory: Self.inventory, sources: [], cells: cells, findings: [], complete: true, problems: [],
            summary: ProbeSummary())
        let strict = report.evaluated(with: .dockerDefault, name: "docker")
        #expect(strict.violations.count == 1 && strict.summary.violations == ["unexpected-reachable": 1])
        let open = strict.evaluated(
            with: Policy(baseline: .deny, allow: [Policy.Rule(from: [Selector()], to: [Selector()])]), name: "open")
        #expect(
            open.violations.isEmpty && open.findings.isEmpty && open.summary.violations.isEmpty && open.policy == "open"
        )
    }
}
