import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

/// `bulkhead k8s inventory | intent | diff`, run as the built executable.
@Suite("Kubernetes: the k8s command")
struct KubernetesCommandTests {
    static let folder = NetworkPolicyTruthTableTests.folder
    static let cluster = folder + "/cluster.json"

    @Test("k8s inventory --node writes the inventory model with the cluster and node")
    func inventory() throws {
        let result = try BulkheadExecutable.run([
            "k8s", "inventory", Self.cluster, "--node", "node-1", "--format", "json",
        ])
        #expect(result.status == 0, "\(result.error)")
        let report = try JSONDecoder().decode(InventoryReport.self, from: Data(result.output.utf8))
        #expect(report.containers.count == 9)
        #expect(report.cluster?.orchestrator == .kubernetes)
        #expect(report.cluster?.clusterID == "unknown")
        #expect(report.cluster?.nodeName == "node-1")
        // Every pod of the dump runs on node-1: the fleet merge expects that one node's report.
        #expect(report.cluster?.members?.map(\.nodeID) == ["node-1"])
    }

    @Test("k8s intent: probe-format cells with the intent, findings, and a truth table per port")
    func intent() throws {
        let policy = Self.folder + "/cases/28-deny-egress-on-client-side.yaml"
        let json = try BulkheadExecutable.run([
            "k8s", "intent", Self.cluster, policy, "--ports", "tcp/80,sctp/80", "--format", "json", "--fail-on",
            "critical",
        ])
        #expect(json.status == 0, "\(json.error)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        let cells = try #require(object["cells"] as? [[String: Any]])
        let namespaces = try #require(object["namespaces"] as? [[String: Any]])
        #expect(namespaces.map { $0["name"] as? String } == ["x", "y", "z"])
        let sctp = try #require(object["sctp"] as? [[String: Any]])
        #expect(cells.count == 81, "9 × 9 TCP cells; SCTP apart")
        #expect(sctp.count == 81)
        #expect(sctp.allSatisfy { ($0["port"] as? [String: Any])?["proto"] as? String == "SCTP" })
        // One port written three ways is one port: the same 81 cells, not each three times.
        let repeated = try BulkheadExecutable.run([
            "k8s", "intent", Self.cluster, policy, "--ports", "tcp/80,80,TCP/80,sctp/80", "--format", "json",
            "--fail-on", "critical",
        ])
        let repeatedObject = try JSONSerialization.jsonObject(with: Data(repeated.output.utf8)) as? [String: Any]
        #expect((repeatedObject?["cells"] as? [Any])?.count == 81, "\(repeated.error)")
        let xaToYb = try #require(
            cells.first { $0["source"] as? String == "x/a" && $0["destinationName"] as? String == "y/b" })
        #expect(xaToYb["expected"] as? String == "deny")
        #expect(xaToYb["state"] as? String == "skipped")
        let findings = try #require(object["findings"] as? [[String: Any]])
        #expect(
            findings.contains {
                $0["kind"] as? String == "k8s-egress-without-dns" && $0["location"] as? String == "x/a"
            })
        let table = try BulkheadExecutable.run(["k8s", "intent", Self.cluster, policy, "--ports", "tcp/80"])
        #expect(table.status == 0)
        #expect(table.output.contains("tcp/80") && table.output.contains("k8s-pod-not-isolated"))
        let failing = try BulkheadExecutable.run(["k8s", "intent", Self.cluster, policy, "--fail-on", "medium"])
        #expect(failing.status == 1)
        let bad = try BulkheadExecutable.run(["k8s", "intent", Self.folder + "/nothing.json"])
        #expect(bad.status == 2 && bad.error.contains("nothing.json"))
    }

    /// The `k8s intent` runs whose output `Fixtures/intent/expected-*` holds, as the in-memory rendering of 876dc3d
    /// wrote it (the `generatedAt` value replaced by `GENERATED`): several namespaces and policies, declared ports
    /// (TCP, UDP, SCTP, named), dual-stack, hostNetwork, pending and finished pods, ipBlock with except, a
    /// default-deny; the truth-table dump on three protocols; and UDP alone (no SCTP cell).
    static let intentRuns: [(name: String, arguments: [String])] = [
        // Paths relative to the repository (where the executable runs): the inventory names the dumps as given.
        ("declared", ["Tests/KubernetesTests/Fixtures/intent/cluster.json"]),
        (
            "netpol",
            [
                "Tests/KubernetesTests/Fixtures/netpol/cluster.json",
                "Tests/KubernetesTests/Fixtures/netpol/cases/28-deny-egress-on-client-side.yaml", "--ports",
                "tcp/80,sctp/80,udp/53",
            ]
        ),
        // No SCTP cell: the empty `sctp` array.
        ("udp", ["Tests/KubernetesTests/Fixtures/intent/cluster.json", "--ports", "udp/53"]),
    ]

    @Test(
        "k8s intent streams cells as they are decided: table and JSON byte for byte what the in-memory rendering wrote",
        arguments: [
            ("declared", "table"), ("declared", "json"), ("netpol", "table"), ("netpol", "json"), ("udp", "table"),
            ("udp", "json"),
        ])
    func intentStreamedOutputUnchanged(run: String, format: String) throws {
        let arguments = try #require(Self.intentRuns.first { $0.name == run }).arguments
        let result = try BulkheadExecutable.run(["k8s", "intent"] + arguments + ["--format", format])
        #expect(result.status == 0, "\(result.error)")
        let expected = try String(
            contentsOfFile: Self.folder + "/../intent/expected-\(run).\(format == "json" ? "json" : "txt")",
            encoding: .utf8)
        let output = result.output.replacingOccurrences(
            of: #""generatedAt" : "[^"]*""#, with: #""generatedAt" : "GENERATED""#, options: .regularExpression)
        #expect(output == expected)
    }

    @Test("k8s diff: connections opened and closed; exit 1 when the change opens one")
    func diff() throws {
        try TemporaryFile.with(
            """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: deny, namespace: x}
            spec:
              podSelector: {}
            """, named: "deny.yaml"
        ) { deny in
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bh-k8s-\(UUID().uuidString)")
                .path
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            try FileManager.default.copyItem(atPath: Self.cluster, toPath: folder + "/cluster.json")
            try FileManager.default.copyItem(atPath: deny, toPath: folder + "/deny.yaml")
            let closing = try BulkheadExecutable.run(["k8s", "diff", Self.cluster, folder, "--ports", "tcp/80"])
            #expect(closing.status == 0, "\(closing.error)")
            #expect(closing.output.contains("Connections opened: 0"))
            // 9 sources to 3 pods of x, minus each x pod to itself (a pod cannot block itself).
            #expect(closing.output.contains("Connections closed: 24"))
            let opening = try BulkheadExecutable.run([
                "k8s", "diff", folder, Self.cluster, "--ports", "tcp/80", "--format", "json",
            ])
            #expect(opening.status == 1)
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(opening.output.utf8)) as? [String: Any])
            #expect((object["added"] as? [Any])?.count == 24)
        }
    }

    @Test("k8s intent reads a dump from standard input (-)")
    func standardInput() throws {
        let dump = try String(contentsOfFile: Self.cluster, encoding: .utf8)
        let result = try ProcessRunner.run(
            BulkheadExecutable.url,
            ["k8s", "intent", "-", "--ports", "tcp/80", "--format", "json", "--fail-on", "critical"],
            input: dump)
        #expect(result.status == 0, "\(result.error)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect((object["cells"] as? [Any])?.count == 81)
    }

    @Test("standard input is checked as a file is: bytes that are not UTF-8 are refused at their line, not repaired")
    func standardInputNotUTF8() throws {
        var dump = Data(try String(contentsOfFile: Self.cluster, encoding: .utf8).utf8)
        let named = FileManager.default.temporaryDirectory.appendingPathComponent("bh-k8s-latin1-\(getpid()).json")
        defer { try? FileManager.default.removeItem(at: named) }
        // A Latin-1 "é" at the end of the second line.
        let secondLineEnd = try #require(dump.indices.filter { dump[$0] == 0x0A }.dropFirst(1).first)
        dump.insert(0xE9, at: secondLineEnd)
        try dump.write(to: named)
        let piped = try ProcessRunner.run(
            BulkheadExecutable.url, ["k8s", "intent", "-", "--ports", "tcp/80"], inputBytes: dump)
        #expect(piped.status == 2)
        #expect(piped.output.isEmpty)
        #expect(piped.error.contains("standard input:2:"), "its line named: \(piped.error)")
        #expect(piped.error.contains("not valid UTF-8"), "\(piped.error)")
        let file = try ProcessRunner.run(BulkheadExecutable.url, ["k8s", "intent", named.path, "--ports", "tcp/80"])
        #expect(file.status == 2)
        #expect(file.error.contains("\(named.path):2:"), "the same refusal for the same bytes in a file: \(file.error)")
    }
}
