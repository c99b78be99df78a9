import BulkheadTestSupport
import Foundation
import Testing

/// `bulkhead scenario up|run` on a host where another network already holds a declared subnet: refused before
/// anything is made, naming what holds it; with `--relocate`, stood up on free subnets and checked as declared.
@Suite(
    "bulkhead scenario on a busy host (end to end)", .serialized,
    .enabled(
        if: DockerCLI.isAvailable, "no Docker engine or lab image (scripts/test.sh starts dockerd and builds the image)"
    ))
struct ScenarioRelocationCommandTests {
    static let label = "bulkhead.test=relocation"

    @Test("a taken subnet: up refuses (exit 2) and makes nothing; run --relocate moves the scenario and it passes")
    func busyHost() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        DockerCLI.removeLabelled(Self.label)
        defer { DockerCLI.removeLabelled(Self.label) }
        // Another network on the firewall scenario's subnet (unless the host already has one there: then that one
        // is in the way, which is the point too).
        let holder = try DockerCLI.run([
            "network", "create", "--label", Self.label, "--subnet", "198.18.30.0/24", "bh-reloc-holder",
        ])
        let scenario = "scenarios/firewall.yaml"
        defer { _ = try? AnalyzeCommandTests.run(["scenario", "down", scenario]) }

        let refused = try AnalyzeCommandTests.run(["scenario", "up", scenario])
        #expect(refused.status == 2, "\(refused.error)")
        #expect(refused.error.contains("network net: subnet 198.18.30.0/24 overlaps"), "\(refused.error)")
        #expect(
            holder.status != 0 || refused.error.contains("Docker network bh-reloc-holder (198.18.30.0/24)"),
            "\(refused.error)")
        #expect(refused.error.contains("--relocate"))
        #expect(!refused.error.contains("what was made"), "nothing was made")
        #expect(try DockerCLI.must(["ps", "-aq", "--filter", "label=bulkhead.scenario=firewall"]).isEmpty)
        #expect(try DockerCLI.must(["network", "ls", "-q", "--filter", "label=bulkhead.scenario=firewall"]).isEmpty)

        // The same scenario moved: its firewall rules, its expected finding's endpoint and its exact matrix follow.
        let moved = try AnalyzeCommandTests.run(["scenario", "run", scenario, "--relocate", "--format", "json"])
        #expect(moved.status == 0, "\(moved.error.suffix(3000))")
        let line = try #require(
            moved.error.split(separator: "\n").first { $0.contains("network net moved from 198.18.30.0/24 to ") })
        let target = try #require(
            line.components(separatedBy: " to ").dropFirst().first?.split(separator: " ").first.map(String.init))
        #expect(target != "198.18.30.0/24" && target.hasSuffix(".0/24"), "\(line)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(moved.output.utf8)) as? [String: Any])
        // The document says what moved: its addresses are the moved ones.
        let relocation = try #require(document["relocation"] as? [[String: String]])
        #expect(relocation.count == 1 && relocation.first?["network"] == "net")
        #expect(relocation.first?["from"] == "198.18.30.0/24" && relocation.first?["to"] == target)
        #expect(relocation.first?["heldBy"]?.hasSuffix("(198.18.30.0/24)") == true)
        let comparison = try #require(document["comparison"] as? [String: Any])
        let observed = try #require(comparison["observed"] as? [[String: Any]])
        let prefix = String(target.dropLast("0/24".count))
        #expect(
            observed.contains {
                $0["kind"] as? String == "plaintext-accepted"
                    && $0["location"] as? String == "server \(prefix)10:8080/tcp"
            }, "\(observed)")
        #expect(try DockerCLI.must(["network", "ls", "-q", "--filter", "label=bulkhead.scenario=firewall"]).isEmpty)
        #expect(
            try !String(contentsOfFile: Repository.path(scenario), encoding: .utf8).contains(prefix),
            "the file is not changed")
    }
}
