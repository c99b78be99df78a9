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

    @Test("a paused container is a destination (the kernel answers for its sockets) and a source (its namespace lives)")
    func pausedContainer() throws {
        let paused = Self.container(
            "paused", state: "paused", [Self.on("net", "198.18.40.30")],
            listening: [ListeningSocket(proto: "tcp", address: "0.0.0.0", port: 8080)])
        let client = Self.container("client", [Self.on("net", "198.18.40.20")])
        let plan = try ProbePlanner.plan(inventory: Self.inventory([client, paused]), options: Self.options())
        #expect(plan.cells.contains { $0.source == "client" && $0.destinationName == "paused" && $0.port == 8080 })
        #expect(plan.sources.first { $0.name == "paused" }?.skipReason == nil)
        #expect(plan.cells.contains { $0.source == "paused" && $0.destinationName == "client" && $0.state == .error })
        #expect(plan.destinationPids["paused"] != nil, "watched like any destination")
        let exited = Self.container("gone", state: "exited", [Self.on("net", "198.18.40.40")])
        let withExited = try ProbePlanner.plan(inventory: Self.inventory([client, exited]), options: Self.options())
        #expect(withExited.sources.first { $0.name == "gone" }?.skipReason == "container is exited")
    }

    @Test("a source with no address of a family has no path of that family: those cells are skipped, with the reason")
    func addressFamilies() throws {
        let v4 = Self.container("v4", [Self.on("v4net", "198.18.40.20")])
        let dual = Self.container(
            "dual", [Self.on("v6net", "198.18.41.20", "fd00:bead:41::20")],
            listening: [ListeningSocket(proto: "tcp", address: "::", port: 8080)])
        let hostNet = Self.container("hostnet", mode: "host", [Self.on("host", nil)])
        let plan = try ProbePlanner.plan(inventory: Self.inventory([v4, dual, hostNet]), options: Self.options())
        let toV6 = plan.cells.filter { $0.source == "v4" && $0.address == "fd00:bead:41::20" }
        #expect(toV6.count == 2 && toV6.allSatisfy { $0.state == .skipped })
        #expect(toV6.first?.note == "v4 has no IPv6 address (none on its networks): no IPv6 path from it to probe")
        #expect(
            plan.cells.filter { $0.source == "v4" && $0.address == "198.18.41.20" }.allSatisfy { $0.state == .error },
            "IPv4 is planned (error until probed)")
        #expect(
            plan.cells.filter { $0.source == "dual" }.allSatisfy { $0.state == .error },
            "a dual-stack source probes both families")
        #expect(
            plan.cells.filter { $0.source == "hostnet" }.allSatisfy { $0.state == .error }
                && plan.cells.contains { $0.source == "hostnet" && $0.address == "fd00:bead:41::20" },
            "the host's addresses are not listed: a host-network source is never assumed to lack a family")
        #expect(plan.sourceNetworks["v4"] == ["v4net"])
    }

    @Test("a container sharing another's namespace (container:X) is probed once, through X, on X's networks")
    func sharedNamespace() throws {
        let app = Self.container("app", [Self.on("net", "198.18.40.10")], netns: "net:[1]")
        let sidecar = Self.container("sidecar", mode: "container:app", [], netns: "net:[1]")
        let peer = Self.container(
            "peer", [Self.on("net", "198.18.40.20")],
            listening: [ListeningSocket(proto: "tcp", address: "::", port: 80)])
        var options = Self.options()
        options.allNetworks = false
        let plan = try ProbePlanner.plan(inventory: Self.inventory([app, peer, sidecar]), options: options)
        #expect(plan.sharedNamespaces == ["sidecar": "app"])
        #expect(!plan.cells.contains { $0.source == "sidecar" }, "not probed a second time")
        #expect(!plan.cells.contains { $0.destinationName == "sidecar" }, "the namespace is app's destination")
        #expect(plan.sourceNetworks["app"] == ["net"])
        #expect(plan.sources.map(\.name) == ["app", "peer", "sidecar"], "still a source of the report")

        // Left out by --source, the owner cannot stand in: the sharer is probed itself, on the owner's networks.
        options.sources = ["sidecar"]
        let alone = try ProbePlanner.plan(inventory: Self.inventory([app, peer, sidecar]), options: options)
        #expect(alone.sharedNamespaces.isEmpty)
        #expect(alone.cells.contains { $0.source == "sidecar" && $0.destinationName == "peer" && $0.port == 80 })
        #expect(alone.sourceNetworks["sidecar"] == ["net"])

        // After the run, the sharer gets the owner's cells under its own name.
        var cell = try #require(plan.cells.first { $0.source == "app" && $0.port == 80 })
        cell.state = .reachable
        cell.note = nil
        let result = ProbeRunResult(
            cells: [cell], sources: plan.sources, problems: [], attemptsSent: 1, durationSeconds: 0
        ).sharingNamespaces(plan.sharedNamespaces)
        #expect(result.cells.map(\.source) == ["app", "sidecar"])
        let copy = try #require(result.cells.last)
        #expect(copy.state == .reachable && copy.destination == cell.destination)
        #expect(copy.sourcePid == sidecar.pid)
        #expect(copy.note?.contains("the probe from app") == true)
    }

    @Test("who owns a shared namespace: by name, by id prefix, through a chain, by netns; none for a loop")
    func namespaceOwner() {
        let app = Self.container("app", [Self.on("net", "198.18.40.10")], netns: "net:[1]")
        let byName = Self.container("a1", mode: "container:app", [], netns: "net:[1]")
        let byID = Self.container("a2", mode: "container:app-01234567", [], netns: "net:[1]")
        let chained = Self.container("a3", mode: "container:a1", [], netns: "net:[1]")
        let unnamed = Self.container("a4", mode: "container:feedfacefeed", [], netns: "net:[1]")
        let loopA = Self.container("la", mode: "container:lb", [], netns: "net:[9]")
        let loopB = Self.container("lb", mode: "container:la", [], netns: "net:[9]")
        let all = [app, byName, byID, chained, unnamed, loopA, loopB]
        #expect(app.namespaceOwner(among: all) == nil)
        for sharer in [byName, byID, chained, unnamed] { #expect(sharer.namespaceOwner(among: all)?.name == "app") }
        #expect(loopA.namespaceOwner(among: all) == nil)
        #expect(byName.namespaceOwner(among: [byName]) == nil, "out of scope: unknown")
    }
}
