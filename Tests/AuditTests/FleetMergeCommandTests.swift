import BulkheadModel
import BulkheadTestSupport
import Fleet
import Foundation
import Reporting
import Testing

/// `bulkhead merge` as a user runs it, on node reports written by `bulkhead audit --evidence` (the audit's offline
/// path: the stored evidence judged again and written as the node's report).
@Suite("bulkhead merge: the command")
struct FleetMergeCommandTests {
    /// A scratch folder for one test, removed after it.
    final class Folder {
        let path: String

        init() throws {
            self.path =
                FileManager.default.temporaryDirectory.appendingPathComponent(
                    "bh-merge-\(UUID().uuidString.prefix(8))"
                ).path
            try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
        }

        deinit { try? FileManager.default.removeItem(atPath: self.path) }

        func file(_ name: String) -> String { self.path + "/" + name }

        /// The node's report as `bulkhead audit --evidence` writes it, from the sample evidence with `cluster`.
        func nodeReport(
            _ name: String, _ cluster: ClusterNode?, change: (inout AuditEvidence) -> Void = { _ in }
        ) throws -> String {
            let seed = self.file("seed-\(name)")
            try JSONReport.document(FleetNodes.report(cluster, change: change)).write(to: URL(fileURLWithPath: seed))
            let output = self.file(name)
            let run = try BulkheadExecutable.run([
                "audit", "--evidence", seed, "--format", "json", "--output", output, "--exit-zero",
            ])
            try #require(run.status == 0, "audit --evidence: \(run.error)")
            return output
        }
    }

    /// Manager n1's identity, its node list n1 and worker n2.
    static let managerOfTwo = FleetNodes.cluster(
        "n1", role: .manager,
        members: [
            ClusterNode.Member(nodeID: "n1", nodeName: "host-n1", role: .manager),
            ClusterNode.Member(nodeID: "n2", nodeName: "host-n2", role: .worker),
        ])

    static func merge(_ arguments: [String]) throws -> ProcessOutput {
        try BulkheadExecutable.run(["merge"] + arguments)
    }

    @Test("two node reports: one fleet report in JSON; exit 1 for findings at --fail-on, 0 above them")
    func merged() throws {
        let folder = try Folder()
        let a = try folder.nodeReport("a.json", Self.managerOfTwo)
        let b = try folder.nodeReport("b.json", FleetNodes.cluster("n2")) { evidence in
            FleetNodes.setCell(&evidence, source: "web", port: 8080, .filtered)
        }
        let json = folder.file("fleet.json")
        let run = try Self.merge([a, b, "--output", "json=\(json)", "--fail-on", "medium"])
        let fleet = try JSONDecoder().decode(FleetReport.self, from: Data(contentsOf: URL(fileURLWithPath: json)))
        #expect(fleet.complete && fleet.nodes.map(\.nodeID) == ["n1", "n2"])
        #expect(fleet.nodes.map(\.file) == [a, b])
        #expect(fleet.disagreements.contains { $0.aspect == .reachability })
        #expect(fleet.findings.contains { $0.kind == .fleetEvidenceDisagreement })
        #expect(run.status == 1, "a medium finding at --fail-on medium: \(run.error)")
        let critical = try Self.merge([a, b, "--output", "json=\(json)", "--fail-on", "critical"])
        #expect(fleet.findings.allSatisfy { $0.severity < .critical })
        #expect(critical.status == 0, "\(critical.error)")
    }

    @Test("a node of the manager's list without a report, or --expect-node: exit 3 and the node named; --exit-zero 0")
    func incomplete() throws {
        let folder = try Folder()
        let members = ["n1", "n2", "n3"].map {
            ClusterNode.Member(nodeID: $0, nodeName: "host-\($0)", role: $0 == "n1" ? .manager : .worker)
        }
        let a = try folder.nodeReport("a.json", FleetNodes.cluster("n1", role: .manager, members: members))
        let b = try folder.nodeReport("b.json", FleetNodes.cluster("n2"))
        let run = try Self.merge([a, b, "--format", "json", "--fail-on", "critical"])
        #expect(run.status == 3, "\(run.error)")
        #expect(run.error.contains("node host-n3 (n3) sent no report (named by the node list of \(a))"))
        let fleet = try JSONDecoder().decode(FleetReport.self, from: Data(run.output.utf8))
        #expect(!fleet.complete && fleet.nodes.last?.status == .missing)
        #expect(try Self.merge([a, b, "--exit-zero"]).status == 0)
        let expected = try Self.merge([b, "--expect-node", "n7", "--fail-on", "critical", "--format", "json"])
        #expect(expected.status == 3 && expected.error.contains("n7"))
    }

    @Test("refusals exit 2 naming the file: truncated, foreign schema, no cluster, other cluster, same node, missing")
    func refusals() throws {
        let folder = try Folder()
        let a = try folder.nodeReport("a.json", FleetNodes.cluster("n1"))
        let text = try String(contentsOfFile: a, encoding: .utf8)
        let truncated = folder.file("truncated.json")
        try String(text.prefix(text.count / 3)).write(toFile: truncated, atomically: true, encoding: .utf8)
        let foreign = folder.file("foreign.json")
        try text.replacingOccurrences(of: "\"bulkhead.audit/1\"", with: "\"bulkhead.audit/9\"").write(
            toFile: foreign, atomically: true, encoding: .utf8)
        let plain = try folder.nodeReport("plain.json", nil)
        let other = try folder.nodeReport("other.json", FleetNodes.cluster("n2", cluster: "swarm-elsewhere"))
        let again = try folder.nodeReport("again.json", FleetNodes.cluster("n1"))
        let missing = folder.file("never-written.json")
        let cases: [(file: String, says: String)] = [
            (truncated, "is cut short"), (foreign, "schema bulkhead.audit/9"), (plain, "has no cluster identity"),
            (other, "is from swarm cluster swarm-elsewhere"), (again, "is node n1 (host-n1) again"),
            (missing, "no such file"),
        ]
        for (file, says) in cases {
            let run = try Self.merge([a, file])
            #expect(run.status == 2, "\(file): \(run.error)")
            #expect(run.error.contains("bulkhead: error: \(file): "), "\(run.error)")
            #expect(run.error.contains(says), "\(run.error)")
            #expect(run.output.isEmpty, "no report is written when the input is refused")
        }
        #expect(try Self.merge([]).status == 2)
        // Plain hosts' reports merge when allowed, each host a node; the same host twice is still refused.
        let plainOne = try folder.nodeReport("plain1.json", nil)
        let same = try Self.merge([plainOne, plain, "--allow-standalone", "--exit-zero"])
        #expect(same.status == 2 && same.error.contains("\(plain): is node "), "\(same.error)")
        var object = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: plainOne))) as? [String: Any])
        object["host"] = "other-host"
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: plainOne))
        let allowed = try Self.merge([plainOne, plain, "--allow-standalone", "--exit-zero", "--format", "json"])
        #expect(allowed.status == 0, "\(allowed.error)")
        let fleet = try JSONDecoder().decode(FleetReport.self, from: Data(allowed.output.utf8))
        #expect(fleet.nodes.first?.nodeID == "other-host" && fleet.clusterID == nil)
    }

    @Test("a report whose evidence.probe is not JSON (cut out unread) exits 2 at the line and column audit names")
    func corruptedCutValue() throws {
        let folder = try Folder()
        let a = try folder.nodeReport("a.json", FleetNodes.cluster("n1"))
        let b = try folder.nodeReport("b.json", FleetNodes.cluster("n2"))
        var object = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: b))) as? [String: Any])
        var evidence = try #require(object["evidence"] as? [String: Any])
        try #require(evidence["probe"] is [String: Any], "the node report carries its probe cells")
        evidence["probe"] = "@@probe@@"
        object["evidence"] = evidence
        let text = String(
            decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]),
            as: UTF8.self)
        for (name, broken) in [
            ("brackets.json", #"{"cells": [1, 2} ,,, garbage }"#), ("cut.json", #"{"cells": [1, 2}"#),
            ("junk.json", #"{"cells": []} x"#),
        ] {
            let corrupted = folder.file(name)
            try text.replacingOccurrences(of: #""@@probe@@""#, with: broken).write(
                toFile: corrupted, atomically: true, encoding: .utf8)
            let run = try Self.merge([a, corrupted])
            #expect(run.status == 2 && run.output.isEmpty, "\(name): \(run.error)")
            let audit = try BulkheadExecutable.run(["audit", "--evidence", corrupted, "--format", "json"])
            // The same place as `audit --evidence` names: `file:line:column: not JSON`.
            let place = try #require(audit.error.split(separator: " ").first { $0.hasPrefix(corrupted + ":") })
            #expect(run.error.contains("bulkhead: error: \(place) not JSON"), "\(name): \(run.error) / \(audit.error)")
        }
    }

    @Test("a node absent from a manager's node list, or managers whose lists differ: a problem, exit 3, not complete")
    func conflictingMembership() throws {
        let folder = try Folder()
        let a = try folder.nodeReport("a.json", Self.managerOfTwo)
        let b = try folder.nodeReport("b.json", FleetNodes.cluster("n2"))
        let stranger = try folder.nodeReport(
            "stranger.json",
            FleetNodes.cluster(
                "n9", role: .manager, members: [ClusterNode.Member(nodeID: "n9", nodeName: "host-n9", role: .manager)]))
        #expect(try Self.merge([a, b, "--fail-on", "critical"]).status == 0, "the members agree")
        let run = try Self.merge([a, b, stranger, "--format", "json", "--fail-on", "critical"])
        #expect(run.status == 3, "\(run.error)")
        #expect(run.error.contains("node host-n9 (n9, \(stranger)) is not in the node list of \(a)"), "\(run.error)")
        #expect(run.error.contains("node host-n1 (n1, \(a)) is not in the node list of \(stranger)"), "\(run.error)")
        #expect(run.error.contains("the node lists of \(a) and \(stranger) differ"), "\(run.error)")
        let fleet = try JSONDecoder().decode(FleetReport.self, from: Data(run.output.utf8))
        #expect(!fleet.complete)
    }

    @Test("control characters of a node's name are shown escaped in the error, not sent to the terminal")
    func escapedErrors() throws {
        let folder = try Folder()
        let hostile = ClusterNode(
            orchestrator: .swarm, clusterID: "swarm-test-1", nodeID: "n2", nodeName: "two\u{1b}]0;owned\u{07}\u{1b}[2J",
            role: .worker, fullView: false)
        let first = try folder.nodeReport("first.json", hostile)
        let second = try folder.nodeReport("second.json", hostile)
        let run = try Self.merge([first, second])
        #expect(run.status == 2)
        #expect(!run.error.contains("\u{1b}") && !run.error.contains("\u{07}"), "\(run.error)")
        #expect(run.error.contains(#"two\x1b]0;owned\x07\x1b[2J"#), "\(run.error)")
    }

    @Test(
        "every format at once: JSON decodes, SARIF and JUnit parse, Prometheus, markdown, HTML, dot and table written")
    func formats() throws {
        let folder = try Folder()
        let a = try folder.nodeReport("a.json", FleetNodes.cluster("n1", role: .manager))
        let b = try folder.nodeReport("b.json", FleetNodes.cluster("n2"))
        var arguments = [a, b, "--exit-zero"]
        for format in ["table", "json", "sarif", "junit", "prometheus", "markdown", "html", "dot"] {
            arguments += ["--output", "\(format)=\(folder.file("fleet.\(format)"))"]
        }
        let run = try Self.merge(arguments)
        #expect(run.status == 0, "\(run.error)")
        func read(_ format: String) throws -> String {
            try String(contentsOfFile: folder.file("fleet.\(format)"), encoding: .utf8)
        }
        let fleet = try JSONDecoder().decode(FleetReport.self, from: Data(try read("json").utf8))
        #expect(fleet.nodes.count == 2 && fleet.complete)
        let sarif = try #require(
            try JSONSerialization.jsonObject(with: Data(try read("sarif").utf8)) as? [String: Any])
        let results = (sarif["runs"] as? [[String: Any]])?.first?["results"] as? [[String: Any]]
        #expect(results?.count == fleet.findings.count)
        let junit = try ReportFormatTests().python(
            "import sys, xml.etree.ElementTree as ET; r = ET.parse(sys.argv[1]).getroot(); print(r.get('name'), [s.get('name') for s in r])",
            try read("junit"))
        #expect(
            junit.output.contains("bulkhead merge ['completeness', 'edges', 'policy', 'findings', 'nodes']"),
            "\(junit.error)")
        #expect(try read("prometheus").contains("bulkhead_fleet_node_complete{node=\"host-n2\",node_id=\"n2\""))
        #expect(try read("markdown").contains("## Nodes"))
        #expect(try read("html").contains("<h2>Nodes</h2>"))
        #expect(try read("dot").hasPrefix("digraph"))
        #expect(try read("table").hasPrefix("Nodes of swarm cluster swarm-test-1 (2 nodes)"))
    }
}
