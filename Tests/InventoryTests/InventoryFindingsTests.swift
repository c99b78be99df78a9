import BulkheadModel
import BulkheadTestSupport
import ContainerEngine
import Foundation
import Testing

@testable import Inventory

/// Findings the lab scenarios do not cover, from records (pure logic) and from a live engine.
@Suite("Inventory findings")
struct InventoryFindingsTests {
    func network(
        _ name: String, driver: String = "bridge", subnets: [String], encrypted: Bool? = nil, isDefault: Bool = false,
        containers: [String] = []
    ) -> NetworkRecord {
        NetworkRecord(
            name: name, id: name, driver: driver, scope: "local", subnets: subnets, gateways: [], internal: false,
            icc: true, encrypted: encrypted, attachable: false, isDefaultBridge: isDefault, bridge: nil,
            containers: containers, labels: [:])
    }

    @Test("overlapping subnets, unencrypted overlays, ICC on the default bridge")
    func networkFindings() {
        let findings = InventoryFindings.evaluate(
            networks: [
                self.network("a", subnets: ["198.18.40.0/24"]),
                self.network("b", subnets: ["198.18.40.128/25"]),
                self.network("c", subnets: ["198.18.41.0/24"]),
                self.network("mesh", driver: "overlay", subnets: ["198.18.42.0/24"], encrypted: false),
                self.network("bridge", subnets: ["198.19.255.0/24"], isDefault: true, containers: ["x"]),
            ], containers: [])
        #expect(findings.filter { $0.kind == .overlappingSubnets }.map(\.location) == ["a,b"])
        #expect(findings.contains { $0.kind == .overlayUnencrypted && $0.location == "mesh" })
        #expect(findings.contains { $0.kind == .defaultBridgeICC && $0.location == "bridge" })
    }

    @Test("CIDR arithmetic")
    func cidr() {
        #expect(CIDR.overlap("198.18.0.0/16", "198.18.5.0/24"))
        #expect(!CIDR.overlap("198.18.0.0/24", "198.18.1.0/24"))
        #expect(CIDR.overlap("2001:2::/48", "2001:2:0:1::/64"))
        #expect(!CIDR.overlap("2001:2::/64", "198.18.0.0/16"))
        #expect(CIDR.contains("198.18.0.0/15", IPAddress("198.19.255.1")!))
    }

    @Test(
        "live: a privileged container on the default bridge publishing port 80",
        .enabled(if: DockerCLI.isAvailable, "no Docker engine or lab image"))
    func live() throws {
        let label = "bulkhead.test=inventory-findings"
        DockerCLI.removeLabelled(label)
        defer { DockerCLI.removeLabelled(label) }
        // This sandbox's runc cannot start privileged containers: a created one carries the configuration.
        try DockerCLI.must([
            "create", "--label", label, "--name", "bh-inv-priv", "--privileged", DockerCLI.labImage, "sleep", "60",
        ])
        try DockerCLI.must([
            "run", "-d", "--label", label, "--name", "bh-inv-port80", "-p", "127.0.0.1:80:8080",
            DockerCLI.labImage, "busybox", "httpd", "-f", "-p", "8080",
        ])
        let report = try InventoryCollector.fromEngine(DockerEngine(socketPath: "/var/run/docker.sock"))
        let privileged = try #require(report.containers.first { $0.name == "bh-inv-priv" })
        #expect(privileged.privileged)
        #expect(privileged.capabilities.contains("NET_ADMIN"), "a privileged container has every capability")
        let web = try #require(report.containers.first { $0.name == "bh-inv-port80" })
        #expect(web.networkMode == "default" || web.networkMode == "bridge")
        #expect(report.findings.contains { $0.kind == .privilegedContainer && $0.location == "bh-inv-priv" })
        #expect(report.findings.contains { $0.kind == .privilegedPortPublished && $0.location == "bh-inv-port80" })
        #expect(report.findings.contains { $0.kind == .defaultBridgeICC && $0.location == "bridge" })
        #expect(!report.findings.contains { $0.kind == .portPublishedAllInterfaces && $0.location == "bh-inv-port80" })
        #expect(
            report.findings.contains { $0.kind == .userlandProxy },
            "dockerd runs docker-proxy for published ports by default")
    }
}
