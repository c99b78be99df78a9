import ContainerEngine
import Foundation
import Lab

/// Committed scenarios as the tests stand them up: moved off the subnets this host already uses, as
/// `bulkhead scenario up --relocate` would (the tests failed where another network held a declared subnet).
public enum LabScenarios {
    /// The scenario at `relativePath` (e.g. `scenarios/firewall.yaml`), with the moves made, if any: map an address
    /// a test expects through `relocation.apply(to:)`. Call it holding ``LabLock`` until the scenario is up, so no
    /// other test takes the free subnets first.
    public static func load(_ relativePath: String) throws -> (scenario: Scenario, relocation: ScenarioRelocation) {
        let path = Repository.path(relativePath)
        let declared = try Scenario.load(path: path)
        let engine = DockerEngine(socketPath: "/var/run/docker.sock")
        try engine.connect()
        let space = try LabAddressSpace.current(engine: engine, ignoring: declared.name)
        return try Scenario.load(path: path, relocatingAround: space)
    }
}
