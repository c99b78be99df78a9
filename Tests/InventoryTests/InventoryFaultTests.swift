import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import ContainerEngine
@testable import Inventory

/// What the inventory keeps when the engine fails part-way, and where a container sharing a host-network
/// container's namespace is: against the real engine (through ``EngineFaultProxy`` for the failures).
@Suite(
    "Inventory when the engine fails part-way, and namespaces shared with the host", .serialized,
    .enabled(
        if: DockerCLI.isAvailable, "no Docker engine or lab image (scripts/test.sh starts dockerd and builds the image)"
    ))
struct InventoryFaultTests {
    static let label = "bulkhead.test=inventory-faults"

    /// Three containers on one network of a free subnet; returns the middle one's id.
    static func threeContainers() throws -> String {
        DockerCLI.removeLabelled(Self.label)
        try DockerCLI.createNetwork("bh-fault-net", options: ["--label", Self.label])
        for name in ["bh-fault-a", "bh-fault-b", "bh-fault-c"] {
            try DockerCLI.must([
                "run", "-d", "--label", Self.label, "--name", name, "--network", "bh-fault-net", DockerCLI.labImage,
                "sleep", "600",
            ])
        }
        return try DockerCLI.must(["inspect", "-f", "{{.Id}}", "bh-fault-b"]).trimmingCharacters(
            in: .whitespacesAndNewlines)
    }

    @Test(
        "one container's inspection answered HTTP 500: that container is named (by name) as not examined, the rest is kept"
    )
    func oneInspectionFails() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        defer { DockerCLI.removeLabelled(Self.label) }
        let id = try Self.threeContainers()
        let proxy = try EngineFaultProxy(failing: "/containers/\(id)/json")
        defer { proxy.stop() }
        let report = try InventoryCollector.fromEngine(DockerEngine(socketPath: proxy.socketPath))
        #expect(!report.complete)
        let problem = try #require(report.problems.first { $0.contains("bh-fault-b") }, "\(report.problems)")
        #expect(problem.contains("could not be inspected") && problem.contains("HTTP 500"), "\(problem)")
        #expect(!problem.contains(id), "named by its name, not its id: \(problem)")
        #expect(report.containers.first { $0.name == "bh-fault-b" }?.state == "uninspected")
        #expect(
            report.containers.first { $0.name == "bh-fault-b" }?.labels["bulkhead.test"] == "inventory-faults",
            "its labels kept: an audit scoped by label still names it")
        for name in ["bh-fault-a", "bh-fault-c"] {
            let container = try #require(report.containers.first { $0.name == name })
            #expect(container.state == "running" && container.pid != nil && !container.networks.isEmpty)
        }
        #expect(report.networks.contains { $0.name == "bh-fault-net" })
    }

    @Test("an engine that stops answering after the lists: every container is still named, none dropped")
    func engineGoesAway() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        defer { DockerCLI.removeLabelled(Self.label) }
        _ = try Self.threeContainers()
        // _ping, version, the two lists: then nothing answers.
        let proxy = try EngineFaultProxy(requestLimit: 4)
        defer { proxy.stop() }
        let report = try InventoryCollector.fromEngine(DockerEngine(socketPath: proxy.socketPath))
        #expect(!report.complete)
        for name in ["bh-fault-a", "bh-fault-b", "bh-fault-c"] {
            #expect(report.containers.first { $0.name == name }?.state == "uninspected")
            #expect(report.problems.contains { $0.hasPrefix("container \(name) could not be inspected") })
        }
        #expect(report.networks.contains { $0.name == "bh-fault-net" }, "the list's entry kept: \(report.problems)")
        #expect(report.problems.contains { $0.hasPrefix("network bh-fault-net could not be inspected") })
    }

    @Test("joined to a host-network container (--network container:X), a container is in the host's namespace: high")
    func joinedToHostNetwork() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        DockerCLI.removeLabelled(Self.label)
        defer { DockerCLI.removeLabelled(Self.label) }
        try DockerCLI.must([
            "run", "-d", "--label", Self.label, "--name", "bh-fault-hostnet", "--network", "host", DockerCLI.labImage,
            "sleep", "600",
        ])
        try DockerCLI.must([
            "run", "-d", "--label", Self.label, "--name", "bh-fault-joins", "--network", "container:bh-fault-hostnet",
            DockerCLI.labImage, "sleep", "600",
        ])
        let report = try InventoryCollector.fromEngine(DockerEngine(socketPath: "/var/run/docker.sock"))
        let joins = try #require(report.containers.first { $0.name == "bh-fault-joins" })
        #expect(joins.netns == NetworkNamespaceIdentity.host, "the host's namespace, by its identity")
        let finding = report.findings.first { $0.kind == .hostNetworkMode && $0.location == "bh-fault-joins" }
        #expect(finding?.severity == .high, "\(report.findings.filter { $0.location == "bh-fault-joins" })")
        #expect(finding?.title.contains("bh-fault-hostnet") == true)
        #expect(report.findings.contains { $0.kind == .sharedNetworkNamespace && $0.location == "bh-fault-joins" })
    }
}

/// The identity of the namespace this test process runs in (the host's).
enum NetworkNamespaceIdentity {
    static var host: String? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net"))
    }
}
