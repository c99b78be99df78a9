import BulkheadModel
import Testing

@testable import Policy

/// A container started with `--network container:X` is on X's networks (X's namespace is its own): the docker
/// baseline and the source selectors judge it so.
@Suite("Policy: containers sharing another's network namespace")
struct SharedNamespacePolicyTests {
    static func container(_ name: String, mode: String, _ networks: [String], address: String? = nil) -> ContainerRecord
    {
        ContainerRecord(
            name: name, id: "\(name)-0123456789abcdef", image: "lab", state: "running", pid: 100, netns: nil,
            networkMode: mode,
            networks: networks.map {
                ContainerNetwork(name: $0, ipv4: address, ipv6: nil, gateway: nil, aliases: [])
            }, publishedPorts: [], capabilities: [], privileged: false, dockerSocketMounted: false, listening: [],
            labels: [:])
    }

    static func inventory(_ containers: [ContainerRecord]) -> InventoryReport {
        let network = NetworkRecord(
            name: "net", id: "net", driver: "bridge", scope: "local", subnets: ["198.18.40.0/24"], gateways: [],
            internal: false, icc: true, encrypted: nil, attachable: false, isDefaultBridge: false, bridge: nil,
            containers: [], labels: [:])
        return InventoryReport(
            sources: [], networks: [network], containers: containers, namespaces: [], findings: [], complete: true,
            problems: [], summary: InventorySummary())
    }

    static func cell(from source: String) -> ReachabilityCell {
        ReachabilityCell(
            source: source, destination: "198.18.40.20:80", protocol: .tcp, state: .reachable, attempts: 1,
            latencyMs: 0.2, destinationName: "peer", destinationKind: .container, network: "net",
            address: "198.18.40.20", port: 80, reason: "listening", sourcePid: 100, evidence: [])
    }

    @Test("the docker baseline: a sidecar of app reaches app's peers as app does (no breach)")
    func dockerBaseline() {
        let app = Self.container("app", mode: "net", ["net"], address: "198.18.40.10")
        let sidecar = Self.container("sidecar", mode: "container:app", [])
        let peer = Self.container("peer", mode: "net", ["net"], address: "198.18.40.20")
        let evaluator = PolicyEvaluator(policy: .dockerDefault, inventory: Self.inventory([app, sidecar, peer]))
        let judged = evaluator.evaluate([Self.cell(from: "app"), Self.cell(from: "sidecar")])
        #expect(judged.map(\.expected) == [.allow, .allow])
        #expect(judged.allSatisfy { $0.violation == nil })
        #expect(judged.last?.rule == "baseline docker: both on net")

        // Its namespace out of the inventory (an audit scoped by label): no intent, never a breach on a guess.
        let alone = PolicyEvaluator(policy: .dockerDefault, inventory: Self.inventory([sidecar, peer]))
        let unknown = alone.evaluate([Self.cell(from: "sidecar")])[0]
        #expect(unknown.expected == nil && unknown.violation == nil)
        #expect(unknown.rule?.contains("not in the inventory") == true)

        // Joined to a host-network container, it is in the host's namespace.
        let hostNet = Self.container("hostnet", mode: "host", ["host"])
        let joined = Self.container("joined", mode: "container:hostnet", [])
        let host = PolicyEvaluator(policy: .dockerDefault, inventory: Self.inventory([hostNet, joined, peer]))
        #expect(
            host.evaluate([Self.cell(from: "joined")])[0].rule
                == "baseline docker: the host's namespace reaches containers")
    }

    @Test("source selectors by network and host side match a sidecar by the namespace it shares")
    func selectors() {
        let app = Self.container("app", mode: "net", ["net"], address: "198.18.40.10")
        let sidecar = Self.container("sidecar", mode: "container:app", [])
        let peer = Self.container("peer", mode: "net", ["net"], address: "198.18.40.20")
        let policy = Policy(
            baseline: .deny, allow: [Policy.Rule(from: [Selector(network: "net")], to: [Selector(container: "peer")])])
        let evaluator = PolicyEvaluator(policy: policy, inventory: Self.inventory([app, sidecar, peer]))
        let judged = evaluator.evaluate([Self.cell(from: "sidecar")])[0]
        #expect(judged.expected == .allow && judged.violation == nil, "\(judged.rule ?? "")")
    }
}
