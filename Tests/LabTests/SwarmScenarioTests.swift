import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import Lab

/// Swarm scenario files: read strictly, and `scenario run` builds the two-node lab, audits each node, compares and
/// tears down.
@Suite("Swarm scenarios")
struct SwarmScenarioTests {
    @Test("the committed Swarm scenario loads, and names its lab the same for up, run and down")
    func committedScenarioLoads() throws {
        let path = Repository.path("scenarios/swarm-fleet/scenario.yaml")
        #expect(SwarmScenario.isSwarm(path: path))
        let scenario = try SwarmScenario.load(path: path)
        #expect(scenario.overlays.map(\.name) == ["plain", "secret"])
        #expect(scenario.spec.services.first { $0.name == "web" }?.hostPorts == [.init(published: 18080, target: 8080)])
        #expect(scenario.labName == (try SwarmScenario.load(path: path)).labName)
        #expect(!SwarmScenario.isSwarm(path: Repository.path("scenarios/flat.yaml")))
    }

    @Test(
        "bad Swarm scenarios are refused naming the fault",
        arguments: [
            (
                "name: x1\nswarm: {}\noverlays: []\nservices:\n  - { name: a, command: [sh], networks: [nope] }\n",
                "nope"
            ),
            ("name: x1\nswarm: { slot: 20 }\noverlays: []\nservices: []\n", "slot"),
            (
                "name: x1\nswarm: {}\noverlays: []\nservices: []\nexpect: { findings: [{ kind: no-such-kind }] }\n",
                "no-such-kind"
            ),
            ("name: x1\nswarm: {}\noverlays: []\nservices: []\nextra: 1\n", "extra"),
            ("name: x1\nswarm: {}\noverlays: [\n", "x"),
        ])
    func badScenarios(_ text: String, _ named: String) throws {
        try TemporaryFile.with(text, named: "swarm.yaml") { path in
            #expect(throws: ScenarioError.self) { try SwarmScenario.load(path: path) }
            do { _ = try SwarmScenario.load(path: path) } catch {
                let text = "\(error)"
                #expect(text.contains(named) || text.contains(path), "\(text)")
            }
        }
    }

    @Test(
        "scenario run builds the two-node swarm, finds what the file expects on every node, and removes everything",
        .enabled(if: SwarmLabSupport.available, "\(SwarmLabSupport.unavailableReason ?? "")"))
    func scenarioRun() throws {
        // Its own copy with a free slot (the committed file names slot 9, which another lab may hold).
        var text = try String(contentsOfFile: Repository.path("scenarios/swarm-fleet/scenario.yaml"), encoding: .utf8)
        let slot = Int.random(in: 1...14)
        text = text.replacingOccurrences(of: "swarm: { slot: 9 }", with: "swarm: { slot: \(slot) }")
            .replacingOccurrences(of: "name: swarm-fleet", with: "name: swarm-fleet-\(UInt16.random(in: 0...9999))")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swarm-scenario-\(getpid())-\(slot)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("scenario.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["BULKHEAD_SWARM_LAB"] = SwarmLab.script(root: Repository.root.path)
        let result = try SwarmLabSupport.bulkhead(["scenario", "run", path], environment: environment)
        let name = try SwarmScenario.load(path: path).labName
        // A slot another lab holds makes `up` refuse (exit 3) without building anything: nothing to judge then.
        if result.error.contains("is taken by lab") || result.error.contains("is in use") { return }
        #expect(result.status == 0, "\(result.error.suffix(3000))")
        #expect(result.output.contains("findings match the expectations"))
        let namespaces = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        #expect(!namespaces.contains { $0.hasPrefix(name + "-") }, "lab \(name) left namespaces: \(namespaces)")
        #expect(!FileManager.default.fileExists(atPath: "/var/lib/bulkhead-swarm/\(name)"))
    }
}
