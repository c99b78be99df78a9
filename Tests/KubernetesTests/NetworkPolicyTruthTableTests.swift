import BulkheadModel
import BulkheadTestSupport
import Foundation
import Kubernetes
import Testing
import Yams

/// The cases of the upstream network-policy e2e suite (kubernetes/kubernetes `test/e2e/network/netpol`), re-created
/// as fixtures from their published descriptions: namespaces x, y, z with pods a, b, c (each pod labelled
/// `pod: <name>`, each serving ports 80 and 81 on TCP, UDP and SCTP under the names `serve-<port>-<protocol>`),
/// the case's policies, and its truth table written as the upstream case states it: everything allowed, then
/// `deny FROM -> TO` and `allow FROM -> TO` statements applied in order (`*`, `x/*`, `x/a`). As upstream, traffic
/// from a pod to itself is not compared.
///
/// Fixtures: `Fixtures/netpol/cluster.json` (a kubectl List of the namespaces and pods), and one file per case in
/// `Fixtures/netpol/cases/`: policies (and label changes), then a `TruthTable` document; a case with several
/// steps repeats objects and tables (objects accumulate, a later object of the same name replaces the earlier one,
/// `DeleteAllPolicies` deletes every policy).
@Suite("Kubernetes: upstream network-policy e2e truth tables")
struct NetworkPolicyTruthTableTests {
    static let folder = Repository.path("Tests/KubernetesTests/Fixtures/netpol")

    static let cases: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Self.folder + "/cases")) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }()

    @Test("the fixtures hold every case of the upstream suite")
    func fixtureCount() {
        // 42 TCP cases of "NetworkPolicy between server and client", 3 UDP and 3 SCTP ones.
        #expect(Self.cases.count == 48)
    }

    @Test("each case's intended matrix matches its truth table exactly", arguments: Self.cases)
    func truthTable(_ file: String) throws {
        let base = try ClusterDump.load(paths: [Self.folder + "/cluster.json"])
        var state = base
        let text = try String(contentsOfFile: Self.folder + "/cases/" + file, encoding: .utf8)
        var pending: [String] = []
        var steps = 0
        for document in Self.documents(text) {
            guard let node = try Yams.load(yaml: document) as? [String: Any] else { continue }
            switch node["kind"] as? String {
            case "TruthTable":
                if !pending.isEmpty {
                    state.merge(try ClusterDump.parse(pending.joined(separator: "\n---\n"), name: file))
                    pending = []
                }
                steps += 1
                try Self.check(state: state, table: node, file: file, step: steps)
            case "DeleteAllPolicies":
                state.policies = []
            default:
                pending.append(document)
            }
        }
        #expect(steps > 0, "\(file) has no truth table")
        #expect(pending.isEmpty, "\(file) ends with objects after its last truth table")
    }

    static func documents(_ text: String) -> [String] {
        var documents: [String] = []
        var current: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "---" {
                documents.append(current.joined(separator: "\n"))
                current = []
            } else {
                current.append(line)
            }
        }
        documents.append(current.joined(separator: "\n"))
        return documents.filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
    }

    static func check(state: ClusterDump, table: [String: Any], file: String, step: Int) throws {
        let name = table["name"] as? String ?? file
        let podNames = try #require(table["pods"] as? [String], "\(file): pods")
        var dump = state
        dump.pods = state.pods.filter { podNames.contains($0.key) }
        #expect(dump.pods.count == podNames.count, "\(file): every listed pod is in the cluster")
        let engine = PolicyEngine(dump)
        let probes = try #require(table["probes"] as? [[String: Any]], "\(file): probes")
        for probe in probes {
            let ports = try (probe["ports"] as? [String] ?? []).map { text in
                try #require(KubePort(text), "\(file): port \(text)")
            }
            let statements = probe["expect"] as? [String] ?? []
            let matrix = IntentMatrix(engine: engine, ports: .list(ports))
            for port in ports {
                var expected: [String: Bool] = [:]
                for source in podNames { for destination in podNames { expected["\(source)>\(destination)"] = true } }
                for statement in statements {
                    let words = statement.split(separator: " ").map(String.init)
                    try #require(words.count == 4 && words[2] == "->", "\(file): statement '\(statement)'")
                    for source in podNames where Self.matches(words[1], source) {
                        for destination in podNames where Self.matches(words[3], destination) {
                            expected["\(source)>\(destination)"] = words[0] == "allow"
                        }
                    }
                }
                var actual: [String: Bool] = [:]
                for cell in matrix.cells where cell.port == port {
                    actual["\(cell.source)>\(cell.destination)"] = cell.allowed
                }
                var wrong: [String] = []
                for source in podNames {
                    for destination in podNames where source != destination {
                        let key = "\(source)>\(destination)"
                        if actual[key] != expected[key] {
                            let reason =
                                matrix.cells.first {
                                    $0.source == source && $0.destination == destination && $0.port == port
                                }?.reason ?? "no cell"
                            wrong.append(
                                "\(source) -> \(destination): expected \(expected[key] == true ? "allowed" : "denied"), engine says \(actual[key].map { $0 ? "allowed" : "denied" } ?? "nothing") (\(reason))"
                            )
                        }
                    }
                }
                #expect(
                    wrong.isEmpty,
                    "\(file) step \(step) [\(name)] \(port):\n\(Self.render(podNames, actual))\n\(wrong.joined(separator: "\n"))"
                )
            }
        }
    }

    static func matches(_ pattern: String, _ pod: String) -> Bool {
        if pattern == "*" { return true }
        let parts = pattern.split(separator: "/")
        let podParts = pod.split(separator: "/")
        guard parts.count == 2, podParts.count == 2 else { return false }
        return (parts[0] == "*" || parts[0] == podParts[0]) && (parts[1] == "*" || parts[1] == podParts[1])
    }

    /// The upstream suite's printed form: `.` allowed, `X` denied, rows are sources.
    static func render(_ pods: [String], _ cells: [String: Bool]) -> String {
        var lines = ["-\t" + pods.joined(separator: "\t")]
        for source in pods {
            lines.append(
                source + "\t"
                    + pods.map { destination in
                        cells["\(source)>\(destination)"].map { $0 ? "." : "X" } ?? "?"
                    }.joined(separator: "\t"))
        }
        return lines.joined(separator: "\n")
    }
}
