import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@Suite("bulkhead probe (end to end)")
struct ProbeCommandTests {
    func temporary(_ name: String, _ contents: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bh-\(UUID().uuidString.prefix(8))-\(name)").path
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Stored evidence: web (front) reached db (back) on 5432 and the host's Docker API port was closed.
    func evidence() throws -> String {
        func network(_ name: String) -> NetworkRecord {
            NetworkRecord(name: name, id: name, driver: "bridge", scope: "local", subnets: [], gateways: [], internal: false, icc: true, encrypted: nil,
                          attachable: false, isDefaultBridge: false, bridge: nil, containers: [], labels: [:])
        }
        func container(_ name: String, _ network: String, _ address: String) -> ContainerRecord {
            ContainerRecord(name: name, id: name, image: "lab", state: "running", pid: 4242, netns: nil, networkMode: network,
                            networks: [ContainerNetwork(name: network, ipv4: address, ipv6: nil, gateway: nil, aliases: [])], publishedPorts: [],
                            capabilities: [], privileged: false, dockerSocketMounted: false, listening: [], labels: [:])
        }
        let inventory = InventoryReport(sources: ["test"], networks: [network("front"), network("back")],
                                        containers: [container("web", "front", "198.18.1.10"), container("db", "back", "198.18.2.10")],
                                        namespaces: [], findings: [], complete: true, problems: [], summary: InventorySummary())
        let cell = ReachabilityCell(source: "web", destination: "198.18.2.10:5432", protocol: .tcp, state: .reachable, attempts: 1, latencyMs: 0.3,
                                    destinationName: "db", destinationKind: .container, network: "back", address: "198.18.2.10", port: 5432,
                                    reason: "listening", sourcePid: 4242, evidence: [ProbeAttempt(outcome: .connected, latencyMs: 0.3)])
        let report = ProbeReport(generatedAt: "2026-11-29T10:00:00Z", policy: "", settings: ProbeSettings(attempts: 2, timeoutsSeconds: ["tcp": 1], maxInFlight: 1, maxInFlightPerDestination: 1, extraPorts: [], explicitTargets: []),
                                 inventory: inventory, sources: [], cells: [cell], findings: [], complete: true, problems: [], summary: ProbeSummary())
        let encoder = JSONEncoder()
        return try self.temporary("evidence.json", String(decoding: try encoder.encode(report), as: UTF8.self))
    }

    @Test("--evidence re-evaluates offline: the docker intent flags the breach (exit 1) with a reproduction line; an allowing policy clears it (exit 0)")
    func reevaluate() throws {
        let evidence = try self.evidence()
        let intent = try AnalyzeCommandTests.run(["probe", "--evidence", evidence])
        #expect(intent.status == 1)
        #expect(intent.output.contains("unexpected-reachable: web -> db 198.18.2.10:5432/tcp"))
        #expect(intent.output.contains("reproduce: nsenter -t 4242 -n nc -vz -w 2 198.18.2.10 5432"))
        let policy = try self.temporary("policy.yaml", "baseline: deny\nallow:\n  - { from: web, to: { network: back }, ports: [tcp/5432] }\n")
        let allowed = try AnalyzeCommandTests.run(["probe", "--evidence", evidence, "--policy", policy, "--format", "json"])
        #expect(allowed.status == 0, "\(allowed.error)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(allowed.output.utf8)) as? [String: Any])
        let cells = try #require(document["cells"] as? [[String: Any]])
        for key in ["source", "destination", "protocol", "state", "attempts", "latencyMs", "expected", "violation"] {
            #expect(cells.first?.keys.contains(key) == true, "cell key \(key)")
        }
        #expect(cells.first?["expected"] as? String == "allow")
        #expect(cells.first?["violation"] is NSNull)
        #expect(document["policy"] as? String == policy)
    }

    @Test("bad input: a broken policy names file and line, evidence of another kind, bad ports, a CIDR target: exit 2")
    func badInput() throws {
        let evidence = try self.evidence()
        let policy = try self.temporary("policy.yaml", "baseline: deny\nallow:\n  - { from: web, to: db, ports: [tcp/99999] }\n")
        let broken = try AnalyzeCommandTests.run(["probe", "--evidence", evidence, "--policy", policy])
        #expect(broken.status == 2)
        #expect(broken.error.contains(policy + ":3"), "\(broken.error)")
        let notEvidence = try AnalyzeCommandTests.run(["probe", "--evidence", "captures/expected/http-basic-auth.json"])
        #expect(notEvidence.status == 2)
        #expect(notEvidence.error.contains("not a probe report"))
        #expect(try AnalyzeCommandTests.run(["probe", "--ports", "tcp/0", "--inventory", evidence]).status == 2)
        #expect(try AnalyzeCommandTests.run(["probe", "--attempts", "0"]).status == 2)
        #expect(try AnalyzeCommandTests.run(["probe", "--evidence", evidence, "--target", "198.18.1.1"]).status == 2)
    }

    @Test("--help teaches: states, policy, exit codes, examples")
    func help() throws {
        let help = try AnalyzeCommandTests.run(["probe", "--help"])
        for fragment in ["reachable-closed", "--policy", "--evidence", "Exit status", "Examples"] {
            #expect(help.output.contains(fragment), "\(fragment)")
        }
    }
}
