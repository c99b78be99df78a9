import BulkheadModel
import BulkheadTestSupport
import ContainerEngine
import Foundation
import Inventory
import Testing

/// The same inventory code against Podman's Docker-compatible API, served by a real `podman system service`.
///
/// Podman cannot start containers in this project's sandbox (runc may not set RLIMIT_NOFILE here), so the
/// test inventories a created container and its network; the API, the version negotiation and the JSON are
/// what is under test.
@Suite(
    "Inventory from Podman's Docker-compatible API", .serialized,
    .enabled(
        if: FileManager.default.isExecutableFile(atPath: "/usr/bin/podman") && getuid() == 0 && DockerCLI.isAvailable,
        "podman (and the lab image) not installed"))
struct PodmanInventoryTests {
    static func podman(_ arguments: [String]) throws -> Int32 {
        try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/podman"), arguments).status
    }

    @Test("networks and containers through podman.sock")
    func podmanInventory() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bh-podman-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let socket = directory.appendingPathComponent("podman.sock").path
        let service = try ProcessRunner.start(
            URL(fileURLWithPath: "/usr/bin/podman"), ["system", "service", "--time=0", "unix://\(socket)"])
        defer { ProcessRunner.stop(service) }
        _ = try Self.podman(["rm", "-f", "bh-podtest-c"])
        _ = try Self.podman(["network", "rm", "bh-podtest-net"])
        defer {
            _ = try? Self.podman(["rm", "-f", "bh-podtest-c"])
            _ = try? Self.podman(["network", "rm", "bh-podtest-net"])
        }
        // Podman refuses a subnet that a host interface or route already uses (a Docker network's bridge among
        // them): a free /24 is picked, under the lock every test making networks holds.
        LabLock.acquire()
        defer { LabLock.release() }
        let subnet = try #require(try DockerCLI.freeSubnets(1).first)
        let archive = directory.appendingPathComponent("lab.tar").path
        try DockerCLI.must(["save", "-o", archive, DockerCLI.labImage])
        #expect(try Self.podman(["load", "-i", archive]) == 0)
        #expect(try Self.podman(["network", "create", "--subnet", subnet.cidr, "bh-podtest-net"]) == 0)
        #expect(
            try Self.podman([
                "create", "--name", "bh-podtest-c", "--network", "bh-podtest-net", "--ip", subnet.address(10),
                "localhost/" + DockerCLI.labImage, "sleep", "60",
            ]) == 0)
        try Poll.until("podman's API socket \(socket)", seconds: 10) { FileManager.default.fileExists(atPath: socket) }

        let engine = DockerEngine(socketPath: socket)
        let report = try InventoryCollector.fromEngine(engine)
        #expect(report.sources.first?.contains("podman.sock") == true)
        let network = try #require(report.networks.first { $0.name == "bh-podtest-net" })
        #expect(network.subnets == [subnet.cidr])
        #expect(network.containers == ["bh-podtest-c"])
        let container = try #require(report.containers.first { $0.name == "bh-podtest-c" })
        #expect(container.state == "created")
        #expect(container.networks.map(\.name) == ["bh-podtest-net"])
    }
}
