import Audit
import BulkheadModel
import BulkheadTestSupport
import Foundation
import Policy
import Reporting
import Testing

/// A small audit assembled from evidence values (the renderers' input), covering every verdict.
enum SampleAudit {
    static func network(_ name: String, _ subnet: String, isInternal: Bool = false, icc: Bool = true) -> NetworkRecord {
        NetworkRecord(
            name: name, id: name, driver: "bridge", scope: "local", subnets: [subnet],
            gateways: [subnet.replacingOccurrences(of: ".0/24", with: ".1")],
            internal: isInternal, icc: icc, encrypted: nil, attachable: false, isDefaultBridge: false, bridge: nil,
            containers: [], labels: [:])
    }

    static func container(_ name: String, _ networks: [(String, String)]) -> ContainerRecord {
        ContainerRecord(
            name: name, id: name, image: "lab", state: "running", pid: 7, netns: nil,
            networkMode: networks.first?.0 ?? "none",
            networks: networks.map { ContainerNetwork(name: $0.0, ipv4: $0.1, ipv6: nil, gateway: nil, aliases: []) },
            publishedPorts: [], capabilities: [], privileged: false, dockerSocketMounted: false, listening: [],
            labels: [:])
    }

    /// The database container's name: markup characters, to check each format's escaping.
    static let database = "db <&\"x\">"

    static func inventory(database: String = Self.database) -> InventoryReport {
        InventoryReport(
            sources: ["test"],
            networks: [
                Self.network("front", "198.18.50.0/24"), Self.network("back", "198.18.51.0/24", isInternal: true),
            ],
            containers: [
                Self.container("web", [("front", "198.18.50.10")]),
                Self.container("api", [("front", "198.18.50.11"), ("back", "198.18.51.11")]),
                Self.container("pay", [("back", "198.18.51.12")]),
                Self.container(database, [("back", "198.18.51.13")]),
            ],
            namespaces: [],
            findings: [
                Finding(
                    kind: .bridgesNetworks, severity: .medium, title: "Container api is attached to 2 networks",
                    detail: "d", location: "api")
            ],
            complete: true, problems: [], summary: InventorySummary())
    }

    static func cell(
        _ source: String, _ destination: String, _ network: String, _ address: String, _ port: Int, _ state: CellState
    ) -> ReachabilityCell {
        ReachabilityCell(
            source: source, destination: ReachabilityCell.destinationText(address: address, port: port), protocol: .tcp,
            state: state, attempts: 1,
            latencyMs: 0.2, destinationName: destination, destinationKind: .container, network: network,
            address: address, port: port,
            reason: "listening", sourcePid: 7, evidence: [ProbeAttempt(outcome: .connected, latencyMs: 0.2)])
    }

    static func report(policy: Policy = .dockerDefault, database: String = Self.database) -> AuditReport {
        let inventory = Self.inventory(database: database)
        let probe = ProbeReport(
            generatedAt: "2026-11-29T12:00:00Z", policy: "",
            settings: ProbeSettings(
                attempts: 1, timeoutsSeconds: [:], maxInFlight: 1, maxInFlightPerDestination: 1, extraPorts: [],
                explicitTargets: []),
            inventory: inventory, sources: [],
            cells: [
                Self.cell("web", "api", "front", "198.18.50.11", 8080, .reachable),
                Self.cell("api", "pay", "back", "198.18.51.12", 8443, .reachable),
                Self.cell("web", "pay", "back", "198.18.51.12", 8443, .reachable),
                Self.cell("web", database, "back", "198.18.51.13", 5432, .filtered),
                Self.cell("api", database, "back", "198.18.51.13", 5432, .reachable),
            ],
            findings: [], complete: true, problems: [], summary: ProbeSummary())
        let evidence = AuditEvidence(
            inventory: inventory, probe: probe,
            tls: [
                "198.18.51.12:8443": EndpointTLS(
                    verdict: .mtlsEnforced, refusesBadClients: true, serverIdentities: ["spiffe://lab/pay"])
            ],
            capture: nil, tlsFindings: nil)
        let stages = [
            AuditStage(name: "inventory", status: .ran, durationSeconds: 0.02, note: nil),
            AuditStage(name: "probe", status: .ran, durationSeconds: 1.1, note: nil),
        ]
        return AuditRunner.assemble(
            evidence: evidence, stages: stages, policy: policy, policyName: "test", problems: [])
    }
}

@Suite("Audit report formats")
struct ReportFormatTests {
    func python(_ script: String, _ input: String) throws -> ProcessOutput {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bh-\(UUID().uuidString.prefix(8))")
            .path
        try input.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script, path])
    }

    @Test("edges: the verdicts, and mTLS-enforced / violation / open-unverified / blocked")
    func verdicts() {
        let report = SampleAudit.report()
        let byName = Dictionary(
            uniqueKeysWithValues: report.edges.map { ("\($0.source)->\($0.destination):\($0.port)", $0.verdict) })
        #expect(byName["web->api:8080"] == .openUnverified)
        #expect(byName["api->pay:8443"] == .mtlsEnforced)
        #expect(
            byName["web->pay:8443"] == .violation,
            "web is not on back: an isolation breach even though the endpoint enforces mTLS")
        #expect(byName["web->db <&\"x\">:5432"] == .blocked)
        #expect(report.summary.edgesByVerdict["violation"] == 1)
        #expect(
            report.findings.contains { $0.kind == .unexpectedReachable }
                && report.findings.contains { $0.kind == .bridgesNetworks })
    }

    @Test("an mTLS requirement the endpoint does not meet is a violation and a finding")
    func mtlsRequirement() throws {
        let yaml =
            "baseline: docker\nmtls:\n  require:\n    - { name: db needs mtls, to: { network: back }, ports: [tcp/5432] }\n"
        let policy = try YAMLDocument.decode(Policy.self, text: yaml, path: "inline", knownKeys: Policy.knownKeys)
        let report = SampleAudit.report(policy: policy)
        let edge = try #require(report.edges.first { $0.source == "api" && $0.port == 5432 })
        #expect(edge.verdict == .violation)
        #expect(edge.reasons.contains { $0.contains("mTLS required") })
        #expect(
            report.findings.filter { $0.kind == .mtlsRequiredNotEnforced }.map(\.location) == [
                "\(edge.destination) 198.18.51.13:5432/tcp"
            ], "one finding per endpoint")
    }

    @Test("SARIF 2.1.0: rules per kind with help, results with logical locations, valid structure")
    func sarif() throws {
        let report = SampleAudit.report()
        let data = try SARIFReport.render(findings: report.findings, toolVersion: "0.1.0", complete: true, problems: [])
        let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(document["version"] as? String == "2.1.0")
        let run = try #require((document["runs"] as? [[String: Any]])?.first)
        let driver = try #require((run["tool"] as? [String: Any])?["driver"] as? [String: Any])
        let rules = try #require(driver["rules"] as? [[String: Any]])
        let results = try #require(run["results"] as? [[String: Any]])
        #expect(rules.count == Set(report.findings.map(\.kind)).count)
        for result in results {
            let index = try #require(result["ruleIndex"] as? Int)
            #expect(rules[index]["id"] as? String == result["ruleId"] as? String)
            #expect(["error", "warning", "note", "none"].contains(result["level"] as? String ?? ""))
            #expect(((result["message"] as? [String: Any])?["text"] as? String)?.isEmpty == false)
            let logical = ((result["locations"] as? [[String: Any]])?.first?["logicalLocations"] as? [[String: Any]])?
                .first
            #expect(logical?["name"] != nil && ["resource", "member"].contains(logical?["kind"] as? String ?? ""))
        }
        #expect(
            rules.allSatisfy {
                ($0["help"] as? [String: Any])?["text"] != nil
                    && ($0["shortDescription"] as? [String: Any])?["text"] != nil
            })
        // A rule's help link goes to the benchmark its reference names: Docker's, or Kubernetes' for etcd.
        let kinds: [FindingKind] = [.containerEngineAPIInClear, .etcdAPIInClear]
        let linked = try SARIFReport.render(
            findings: kinds.map { Finding(kind: $0, severity: .critical, title: "t", detail: "d", location: "x:1") },
            toolVersion: "0.1.0", complete: true, problems: [])
        let text = String(decoding: linked, as: UTF8.self).replacingOccurrences(of: "\\/", with: "/")
        #expect(text.contains("https://www.cisecurity.org/benchmark/docker#CIS-Docker-2.6"))
        #expect(text.contains("https://www.cisecurity.org/benchmark/kubernetes#CIS-Kubernetes-2.1"))
    }

    /// The SARIF 2.1.0 schema fetched by `scripts/install-deps.sh --test` (from the sarif-om source package on PyPI),
    /// or the file BULKHEAD_SARIF_SCHEMA names.
    static let sarifSchemaPath: String? = {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["BULKHEAD_SARIF_SCHEMA"] { return path }
        let cache = environment["XDG_CACHE_HOME"].map { $0 + "/bulkhead" } ?? NSHomeDirectory() + "/.cache/bulkhead"
        let path = cache + "/sarif-schema-2.1.0.json"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }()

    @Test(
        "SARIF validates against the SARIF 2.1.0 JSON schema",
        .enabled(
            if: sarifSchemaPath != nil,
            "no SARIF schema: scripts/install-deps.sh --test fetches it from PyPI (sarif-om)"))
    func sarifSchema() throws {
        let schema = try #require(Self.sarifSchemaPath)
        let report = SampleAudit.report()
        let data = try SARIFReport.render(
            findings: report.findings, toolVersion: "0.1.0", complete: false, problems: ["a stage failed"])
        let check = try self.python(
            "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open('\(schema)'))); print('valid')",
            String(decoding: data, as: UTF8.self))
        #expect(check.output.contains("valid"), "\(check.error)")
        // And a document the schema must refuse, so the check cannot pass vacuously.
        let broken = try self.python(
            "import json,sys,jsonschema; d=json.load(open(sys.argv[1])); d['runs'][0]['results'][0]['level']='fatal'; jsonschema.validate(d, json.load(open('\(schema)')))",
            String(decoding: data, as: UTF8.self))
        #expect(broken.status != 0)
    }

    @Test("JUnit: well-formed XML, one case per edge and per rule, violations fail, hostile names escaped")
    func junit() throws {
        let report = SampleAudit.report()
        let xml = JUnitReport.render(report, failOn: .high)
        let check = try self.python(
            """
            import sys, xml.etree.ElementTree as ET
            root = ET.parse(sys.argv[1]).getroot()
            suites = {s.get('name'): s for s in root}
            print(len(suites['edges']), suites['edges'].get('failures'), len(suites['policy']), suites['policy'].get('failures'))
            """, xml)
        #expect(check.status == 0, "\(check.error)")
        let rules = Set(report.edges.compactMap(\.rule)).count
        #expect(check.output.trimmingCharacters(in: .whitespacesAndNewlines) == "\(report.edges.count) 1 \(rules) 1")
        #expect(xml.contains("db &lt;&amp;&quot;x&quot;&gt;"))
    }

    @Test(
        "HTML (both pictures), dot and JUnit: bidi controls and control characters from outside are shown as the table shows them"
    )
    func hostileTextInMarkup() throws {
        // A right-to-left override, an isolate, the Arabic letter mark, a right-to-left mark; ESC, BEL and a C1 CSI.
        let name = "db\u{202e}\u{2066}\u{61c}\u{200f}-\u{1b}]0;owned\u{07}\u{9b}"
        let report = SampleAudit.report(database: name)
        #expect(report.edges.contains { $0.destination == name }, "the name reaches the edges")
        func acting(_ text: String) -> [String] {
            text.unicodeScalars.filter { scalar in
                (scalar.value < 0x20 && scalar != "\n" && scalar != "\t") || (0x7F..<0xA0).contains(scalar.value)
                    || [0x061C, 0x200E, 0x200F, 0x2028, 0x2029].contains(scalar.value)
                    || (0x202A...0x202E).contains(scalar.value) || (0x2066...0x2069).contains(scalar.value)
            }.map { String($0.value, radix: 16) }
        }
        let shown = "db\\u{202e}\\u{2066}\\u{61c}\\u{200f}-\\x1b]0;owned\\x07\\u{9b}"
        for layout in [TopologyGraph.Layout.builtIn, .automatic] {
            let html = AuditReports.html(report, layout: layout)
            #expect(acting(html).isEmpty, "\(layout): \(acting(html))")
            #expect(html.contains(shown), "\(layout)")
        }
        let dot = TopologyGraph(report).dot()
        #expect(acting(dot).isEmpty, "\(acting(dot))")
        // Graphviz reads its own escape of the backslash: the label shows what the table shows.
        #expect(dot.contains("label=\"" + shown.replacingOccurrences(of: "\\", with: "\\\\") + "\""), "\(dot)")
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/dot") {
            let svg = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/dot"), ["-Tsvg"], input: dot)
            #expect(svg.status == 0, "\(svg.error)")
            let parsed = try self.python(
                "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1]); print('ok')", svg.output)
            #expect(parsed.output.hasPrefix("ok"), "dot -Tsvg of the dot format is well-formed XML: \(parsed.error)")
        }
        let junit = JUnitReport.render(report, failOn: .high)
        #expect(acting(junit).isEmpty, "\(acting(junit))")
    }

    @Test("U+FFFE and U+FFFF, which XML forbids: JUnit, HTML and dot -Tsvg stay XML, the characters shown as escapes")
    func xmlNoncharacters() throws {
        let report = SampleAudit.report(database: "db\u{fffe}\u{ffff}")
        let parse = "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1]); print('ok')"
        let junit = JUnitReport.render(report, failOn: .high)
        let parsed = try self.python(parse, junit)
        #expect(parsed.output.hasPrefix("ok"), "the JUnit file is XML: \(parsed.error)")
        #expect(junit.contains("db\\u{fffe}\\u{ffff}"))
        let html = AuditReports.html(report, layout: .builtIn)
        #expect(!html.unicodeScalars.contains { $0.value == 0xFFFE || $0.value == 0xFFFF })
        #expect(html.contains("db\\u{fffe}\\u{ffff}"))
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/dot") {
            let svg = try ProcessRunner.run(
                URL(fileURLWithPath: "/usr/bin/dot"), ["-Tsvg"], input: TopologyGraph(report).dot())
            let drawn = try self.python(parse, svg.output)
            #expect(drawn.output.hasPrefix("ok"), "dot -Tsvg of the dot format is XML: \(drawn.error)")
        }
    }

    @Test("JUnit: an incomplete audit is red: an error per stage that failed or did not finish and per problem")
    func junitIncomplete() throws {
        var report = SampleAudit.report()
        report.edges = []
        report.findings = []
        report.stages = [
            AuditStage(name: "inventory", status: .ran, durationSeconds: 0.1, note: nil),
            AuditStage(name: "probe", status: .failed, durationSeconds: 0.1, note: "the engine went away"),
            AuditStage(name: "tls", status: .incomplete, durationSeconds: 0, note: "2 endpoint(s) inconclusive"),
            AuditStage(name: "capture", status: .skipped, durationSeconds: 0, note: nil),
        ]
        report.complete = false
        report.problems = ["probe: the engine went away", "tls: 198.18.51.12:8443 inconclusive"]
        let script = """
            import sys, xml.etree.ElementTree as ET
            root = ET.parse(sys.argv[1]).getroot()
            errors = [(c.get('classname'), c.get('name'), e.get('type')) for c in root.iter('testcase') for e in c if e.tag == 'error']
            print(root.get('errors'), root.get('failures'), errors)
            """
        let check = try self.python(script, JUnitReport.render(report, failOn: .high))
        #expect(check.status == 0, "\(check.error)")
        #expect(
            check.output.trimmingCharacters(in: .whitespacesAndNewlines)
                == "4 0 [('completeness.stages', 'stage probe', 'failed'), ('completeness.stages', 'stage tls', 'incomplete'), "
                + "('completeness.problems', 'probe: the engine went away', 'incomplete'), "
                + "('completeness.problems', 'tls: 198.18.51.12:8443 inconclusive', 'incomplete')]")
        // Incomplete with nothing to name (a report that says so and no more): still one error.
        report.stages = []
        report.problems = []
        let bare = try self.python(script, JUnitReport.render(report, failOn: .high))
        #expect(
            bare.output.trimmingCharacters(in: .whitespacesAndNewlines)
                == "1 0 [('completeness', 'complete', 'incomplete')]", "\(bare.error)")
        // Complete: no error at all (its violations are failures, as before).
        let complete = try self.python(script, JUnitReport.render(SampleAudit.report(), failOn: .high))
        #expect(
            complete.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0 3 []",
            "\(complete.output) \(complete.error)")
    }

    @Test(
        "Prometheus textfile: parsed by the official client parser; findings by severity, edges by verdict, durations")
    func prometheus() throws {
        let text = PrometheusReport.render(
            SampleAudit.report(), now: Date(timeIntervalSince1970: 1_795_000_000), lastSuccess: 1_794_990_000)
        let check = try self.python(
            """
            import sys
            from prometheus_client.parser import text_string_to_metric_families
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                for sample in family.samples:
                    print(sample.name, ','.join(f'{k}={v}' for k, v in sorted(sample.labels.items())), float(sample.value))
            """, text)
        try #require(
            !check.error.contains("No module named"),
            "prometheus_client is missing (scripts/install-deps.sh --test installs it)")
        #expect(check.status == 0, "\(check.error)")
        #expect(check.output.contains("bulkhead_findings severity=medium 1.0"))
        #expect(check.output.contains("bulkhead_edges verdict=mtls-enforced 1.0"))
        #expect(check.output.contains("bulkhead_audit_stage_duration_seconds stage=probe,status=ran 1.1"))
        #expect(check.output.contains("bulkhead_audit_complete  1.0"))
        #expect(check.output.contains("bulkhead_audit_last_success_timestamp_seconds  1794990000.0"))
    }

    @Test("dot: Graphviz renders it; html: self-contained (inline SVG, no scripts or external resources), escaped")
    func pictures() throws {
        let report = SampleAudit.report()
        let dot = TopologyGraph(report).dot()
        let graphviz = URL(fileURLWithPath: "/usr/bin/dot")
        try #require(
            FileManager.default.isExecutableFile(atPath: graphviz.path),
            "graphviz is missing (scripts/install-deps.sh --test installs it)")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bh-\(UUID().uuidString.prefix(8)).dot"
        ).path
        try dot.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let rendered = try ProcessRunner.run(graphviz, ["-Tsvg", path])
        #expect(rendered.status == 0, "\(rendered.error)")
        #expect(rendered.output.contains("<svg"))
        #expect(dot.contains("color=\"#c62828\""), "the violation is red")

        let html = AuditReports.html(report)
        #expect(html.contains("<svg") && html.contains("</svg>"))
        #expect(
            !html.contains("<script") && !html.contains("src=\"http") && !html.contains("href=\"http")
                && !html.contains("@import"))
        #expect(html.contains("db &lt;&amp;&quot;x&quot;&gt;") && !html.contains("db <&\"x\">"))
        let parse = try self.python(
            "import sys, xml.dom.minidom as m, re; h=open(sys.argv[1]).read(); m.parseString(re.search(r'<svg.*?</svg>', h, re.S).group(0)); print('ok')",
            html)
        #expect(parse.output.contains("ok"), "the inline SVG is well-formed XML: \(parse.error)")
        let markdown = AuditReports.markdown(report)
        #expect(markdown.contains("| SOURCE | DESTINATION |") && markdown.contains("## Findings"))
    }
}

@Suite("Accepted risks, baselines, the run lock")
struct CronTests {
    /// `text` in a file of its own, removed when the tests end (the loaders under test are handed its path).
    func file(_ text: String) throws -> String {
        let path = try ScratchSpace.folder("bh-cron").appendingPathComponent("file.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(
        "ignore file: unexpired entries hide matching findings, expired ones hide nothing and are reported; reason and date required"
    )
    func acceptedRisks() throws {
        let risks = try AcceptedRisks.load(
            path: try self.file(
                """
                ignore:
                  - { kind: bridges-networks, location: "ap*", reason: the api joins front and back by design, expires: 2099-12-31 }
                  - { kind: unexpected-reachable, reason: old exception, expires: 2020-01-01 }
                """))
        let report = SampleAudit.report()
        let applied = risks.apply(to: report.findings)
        #expect(applied.ignored.map(\.kind) == [FindingKind.bridgesNetworks])
        #expect(applied.kept.contains { $0.kind == .unexpectedReachable })
        #expect(applied.expired.map(\.kind) == ["unexpected-reachable"])
        #expect(throws: PathError.self) {
            try AcceptedRisks.load(path: try self.file("ignore:\n  - { kind: x, reason: r, expires: soon }\n"))
        }
        #expect(throws: PathError.self) {
            try AcceptedRisks.load(path: try self.file("ignore:\n  - { kind: x, reason: '  ', expires: 2099-01-01 }\n"))
        }
        #expect(throws: PathError.self) {
            try AcceptedRisks.load(path: try self.file("ignore:\n  - { kind: x, expires: 2099-01-01 }\n"))
        }
        // Bad dates and reasons name their line; an impossible day is not rolled over into the next month.
        for (yaml, line) in [
            ("ignore:\n  - kind: x\n    reason: r\n    expires: soon\n", ":4"),
            ("ignore:\n  - kind: x\n    reason: r\n    expires: 2027-02-30\n", ":4"),
            ("ignore:\n  - kind: x\n    reason: '  '\n    expires: 2099-01-01\n", ":3"),
        ] {
            do {
                _ = try AcceptedRisks.load(path: try self.file(yaml))
                Issue.record("accepted \(yaml)")
            } catch { #expect("\(error)".contains(line), "\(error)") }
        }
    }

    @Test("ignore file: a location or kind left empty is refused with its line, not read as every location")
    func emptyAcceptance() throws {
        for (value, line) in [("", ":3"), (" ~", ":3"), (" null", ":3"), (" ''", ":3"), (" '  '", ":3")] {
            let yaml =
                "ignore:\n  - kind: unexpected-reachable\n    location:\(value)\n    reason: r\n    expires: 2099-01-01\n"
            do {
                let risks = try AcceptedRisks.load(path: try self.file(yaml))
                Issue.record("accepted location:\(value) as \(String(describing: risks.ignore.first?.location))")
            } catch {
                #expect("\(error)".contains(line) && "\(error)".contains("location"), "\(error)")
            }
        }
        do {
            _ = try AcceptedRisks.load(
                path: try self.file("ignore:\n  - kind: ''\n    reason: r\n    expires: 2099-01-01\n"))
            Issue.record("accepted an empty kind")
        } catch { #expect("\(error)".contains(":2") && "\(error)".contains("kind"), "\(error)") }
        // "*" says every location; leaving the key out still does too.
        let every = try AcceptedRisks.load(
            path: try self.file(
                "ignore:\n  - { kind: bridges-networks, location: '*', reason: r, expires: 2099-01-01 }\n"))
        #expect(every.apply(to: SampleAudit.report().findings).ignored.map(\.kind) == [FindingKind.bridgesNetworks])
    }

    @Test("baseline: new and resolved findings by kind and location")
    func baseline() {
        let before = SampleAudit.report()
        var findings = before.findings.filter { $0.kind != .bridgesNetworks }
        findings.append(
            Finding(kind: .plaintextFlow, severity: .medium, title: "t", detail: "d", location: "198.18.50.11:8080"))
        let comparison = Baseline.compare(findings, with: before, path: "before.json")
        #expect(comparison.new.map(\.kind) == [FindingKind.plaintextFlow])
        #expect(comparison.resolved.map(\.kind) == [FindingKind.bridgesNetworks])
        #expect(comparison.unchanged == before.findings.count - 1)
    }

    @Test("the lock: a second holder is refused, naming the first; released when the holder goes")
    func lock() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bh-state-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var first: AuditLock? = try AuditLock(stateDirectory: directory)
        do {
            _ = try AuditLock(stateDirectory: directory)
            Issue.record("a second lock must fail")
        } catch {
            #expect(error.description.contains("another audit is running (pid \(getpid()))"))
        }
        first = nil
        _ = first
        _ = try AuditLock(stateDirectory: directory)
    }
}

@Suite("The analyze document written in pieces")
struct StreamedDocumentTests {
    @Test(
        "writeDocument (findings written by hand) gives byte for byte what assembleDocument builds with JSONEncoder (no flows, one, many; no findings; hostile text)"
    )
    func sameBytes() throws {
        var every = ""
        for value in 0..<0x20 { every.unicodeScalars.append(Unicode.Scalar(UInt8(value))) }
        every += "\"\\/\u{7f}\u{2028}\u{202e}é😀 <script>"
        var generator = SystemRandomNumberGenerator()
        let random = (0..<50).map { _ in
            String(
                (0..<40).compactMap { _ in Unicode.Scalar(UInt32.random(in: 0...0x2FF, using: &generator)) }.map(
                    Character.init))
        }
        var findings = [
            Finding(
                kind: .plaintextFlow, severity: .medium, title: "Plaintext http to 198.18.0.1:80 \"<x>\"\n",
                detail: "d\u{1b}[2J", location: "198.18.0.1:80", flowCount: 2, flowIDs: [1, 2]),
            Finding(
                kind: FindingKind(identifier: "k\(every)"), severity: .critical, title: every, detail: every,
                location: nil, flowCount: 0, flowIDs: []),
            Finding(
                kind: .tlsNoClientAuth, severity: .info, title: "t", detail: "", location: "", flowCount: 10,
                flowIDs: Array(1...10)),
        ]
        findings += random.enumerated().map { index, text in
            Finding(
                kind: FindingKind(identifier: text), severity: .low, title: text, detail: text,
                location: index % 2 == 0 ? text : nil, flowCount: index, flowIDs: [index])
        }
        var summary = AnalysisSummary()
        summary.flows = 3
        #expect(
            try JSONReport.assembleDocument(findings: [], flows: [], summary: summary)
                == {
                    var pieces = Data()
                    try JSONReport.writeDocument(
                        findings: [], summary: summary, flows: { _ in }, to: { pieces.append(contentsOf: $0) })
                    return pieces
                }(), "no findings")
        for flows in [[], [#"{"id":1}"#], (1...500).map { #"{"id":\#($0),"s":"é\n"}"# }] {
            let data = flows.map { Data($0.utf8) }
            let whole = try JSONReport.assembleDocument(findings: findings, flows: data, summary: summary)
            var pieces = Data()
            try JSONReport.writeDocument(
                findings: findings, summary: summary,
                flows: { element in
                    for flow in data { flow.withUnsafeBytes(element) }
                }, to: { pieces.append(contentsOf: $0) })
            #expect(pieces == whole)
            #expect(try JSONSerialization.jsonObject(with: pieces) is [String: Any])
        }
        // Enough findings to be written in parts side by side (a capture of many servers), hostile ones among them.
        let many = (0..<9_001).map { index in
            var finding = findings[index % findings.count]
            finding.flowCount = index
            finding.flowIDs = Array(index..<(index + index % 11))
            return finding
        }
        var pieces = Data()
        try JSONReport.writeDocument(
            findings: many, summary: summary, flows: { _ in }, to: { pieces.append(contentsOf: $0) })
        #expect(
            pieces == (try JSONReport.assembleDocument(findings: many, flows: [], summary: summary)), "9,001 findings")
        // JSON Lines: the hand-written finding records say what JSONEncoder says.
        var lines = Data()
        FindingsJSONWriter.writeLines(findings + many) { lines.append(contentsOf: $0) }
        var encoded = Data()
        for finding in findings + many { encoded += try JSONReport.line(JSONLinesRecord.finding(finding)) }
        #expect(lines == encoded)
    }
}
