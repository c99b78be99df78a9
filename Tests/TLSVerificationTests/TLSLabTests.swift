import BulkheadModel
import BulkheadTestSupport
import ContainerEngine
import Foundation
import Inventory
import Lab
import NetworkNamespaces
import Testing

@testable import TLSVerification

/// The battery run from inside containers' network namespaces, against the lab of scenarios/tls-lab.yaml.
@Suite(
    "mTLS battery from inside lab containers", .serialized,
    .enabled(
        if: DockerCLI.isAvailable, "no Docker engine or lab image (scripts/test.sh starts dockerd and builds the image)"
    ))
struct TLSLabTests {
    /// scenarios/tls-lab.yaml under another name and subnet (the scenario tests may stand up the original meanwhile).
    static func copy(named name: String, subnet: String) throws -> Scenario {
        let path = try ScenarioCopy.write(
            "scenarios/tls-lab.yaml", name: name, replacing: ("tls-lab", "198.18.71."), subnetPrefix: "\(subnet).")
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try Scenario.load(path: path)
    }

    @Test(
        "strict, misconfigured and plaintext servers probed from the client container; loopback probed inside the server's namespace"
    )
    func lab() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        let subnet = try #require(try DockerCLI.freeSubnets(1).first).prefix
        let scenario = try Self.copy(named: "tls-probe", subnet: subnet)
        let lab = LabRunner(engine: DockerEngine(socketPath: "/var/run/docker.sock"))
        try lab.up(scenario)
        defer { try? lab.down(scenario) }
        #expect(try lab.waitUntilReady(scenario))
        let inventory = try InventoryCollector.fromEngine(lab.engine)
        func source(_ service: String) throws -> TLSSource {
            let container = try #require(inventory.containers.first { $0.name == scenario.qualified(service) })
            let pid = try #require(container.pid)
            return .container(name: container.name, namespace: NetworkNamespace(pid: pid))
        }
        let pki = lab.pkiDirectory(scenario)
        let expectations = TLSExpectations(
            trustBundles: [pki.appendingPathComponent("ca.crt").path], caKey: pki.appendingPathComponent("ca.key").path,
            clientIdentity: IdentityFiles(
                certificate: pki.appendingPathComponent("client.crt").path,
                key: pki.appendingPathComponent("client.key").path),
            expectedDNSNames: ["server.lab"], expectedSPIFFEID: "spiffe://bulkhead.lab/server")
        let client = try source("client")
        let strict = try source("strict")
        let targets = [
            TLSTarget(endpoint: TLSEndpoint("\(subnet).10:8443")!, source: client, expectations: expectations),
            TLSTarget(endpoint: TLSEndpoint("\(subnet).11:8443")!, source: client, expectations: expectations),
            TLSTarget(endpoint: TLSEndpoint("\(subnet).12:8443")!, source: client, expectations: expectations),
            // Only inside the strict server's own namespace does 127.0.0.1:8443 answer: proof the socket was made there.
            TLSTarget(endpoint: TLSEndpoint("127.0.0.1:8443")!, source: strict, expectations: expectations),
        ]
        // The servers start listening a moment after the containers run.
        for server in ["strict", "loose", "plain"] {
            try DockerCLI.waitUntilListening(scenario.qualified(server), port: 8443)
        }
        let report = try ProbeBattery.run(targets, options: TLSBatteryOptions(probeCiphers: false))
        let verdicts = report.endpoints.map(\.verdict)
        #expect(
            verdicts == [.mtlsEnforced, .tlsAcceptsRogueClient, .plaintextAccepted, .mtlsEnforced],
            "\(report.endpoints.map { "\($0.endpoint): \($0.verdict.rawValue)" })")
        #expect(report.endpoints[0].source == "container:\(scenario.qualified("client"))")
        #expect(report.endpoints[0].probes.allSatisfy { $0.source == "container:\(scenario.qualified("client"))" })
        #expect(report.endpoints[0].serverChain?.pathValidation == .valid)
        #expect(report.endpoints[0].probes.first { $0.probe == .expired }?.alert == 45)
        #expect(report.endpoints[3].source == "container:\(scenario.qualified("strict"))")

        // The default of `bulkhead tls`: every listener of the scenario's containers, from a peer container.
        let ours = inventory.containers.filter { $0.labels["bulkhead.scenario"] == scenario.name }
        let discovered = TLSTarget.fromInventory(ours, expectations: expectations)
        #expect(
            Set(discovered.map(\.endpoint.description)) == [
                "\(subnet).10:8443", "\(subnet).11:8443", "\(subnet).12:8443",
            ])
        #expect(discovered.allSatisfy { $0.source != .host })
        let byEndpoint = try ProbeBattery.run(
            discovered, options: TLSBatteryOptions(probeVersions: false, probeCiphers: false))
        #expect(
            Dictionary(uniqueKeysWithValues: byEndpoint.endpoints.map { ($0.endpoint, $0.verdict) }) == [
                "\(subnet).10:8443": .mtlsEnforced, "\(subnet).11:8443": .tlsAcceptsRogueClient,
                "\(subnet).12:8443": .plaintextAccepted,
            ])
    }
}
