import BulkheadModel
import Testing

@testable import Reachability

/// The planner on inventories built by hand: which namespaces are probed, from where, and to which addresses
/// (the engine's side of the same cases is tested against real containers in `DockerNamespaceAuditTests`).
@Suite("Probe planner: namespaces, listeners and address families")
struct PlannerNamespaceTests {
    static func container(
        _ name: String, pid: Int? = nil, state: String = "running", mode: String = "net",
        _ networks: [ContainerNetwork], netns: String? = nil, listening: [ListeningSocket] = []
    ) -> ContainerRecord {
        ContainerRecord(
            name: name, id: "\(name)-0123456789abcdef", image: "lab", state: state, pid: pid ?? 100 + name.count,
            netns: netns ?? "net:[\(name)]", networkMode: mode, networks: networks, publishedPorts: [],
            capabilities: [],
            privileged: false, dockerSocketMounted: false, listening: listening, labels: [:])
    }

    static func on(_ network: String, _ ipv4: String?, _ ipv6: String? = nil) -> ContainerNetwork {
        ContainerNetwork(name: network, ipv4: ipv4, ipv6: ipv6, gateway: nil, aliases: [])
    }

    static func inventory(_ containers: [ContainerRecord]) -> InventoryReport {
        InventoryReport(
            sources: [], networks: [], containers: containers, namespaces: [], findings: [], complete: true,
            problems: [], summary: InventorySummary())
    }

    static func options() -> ProbeOptions {
        var options = ProbeOptions()
        options.hostSide = false
        return options
    }

    @Test(
        "a listener bound to an IPv4-mapped address (::ffff:a.b.c.d) is probed at a.b.c.d; one on ::ffff:127.0.0.1 is not"
    )
    func ipv4MappedListener() throws {
        let server = Self.container(
            "server", [Self.on("net", "198.18.40.30")],
            listening: [
                ListeningSocket(proto: "tcp", address: "::ffff:198.18.40.30", port: 7003),
                ListeningSocket(proto: "tcp", address: "::ffff:127.0.0.1", port: 7004),
                ListeningSocket(proto: "udp", address: "::ffff:0.0.0.0", port: 7005),
            ])
        let client = Self.container("client", [Self.on("net", "198.18.40.20")])
        let plan = try ProbePlanner.plan(inventory: Self.inventory([client, server]), options: Self.options())
        let probed = plan.cells.filter { $0.source == "client" }.map { "\($0.destination)/\($0.protocol.rawValue)" }
        #expect(probed == ["198.18.40.30:7003/tcp", "198.18.40.30:7005/udp", "198.18.40.30/icmp"])
        #expect(ListeningSocket(proto: "tcp", address: "::ffff:127.0.0.1", port: 1).isLoopbackOnly)
        #expect(!ListeningSocket(proto: "tcp", address: "::ffff:198.18.40.30", port: 1).isLoopbackOnly)
        #expect(ListeningSocket.acceptedAddress("::ffff:198.18.40.30") == "198.18.40.30")
        #expect(ListeningSocket.acceptedAddress("fd00::1") == "fd00::1")
    }
}
