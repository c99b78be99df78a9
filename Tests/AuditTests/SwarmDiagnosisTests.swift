import Audit
import BulkheadModel
import Testing

/// The encrypted-overlay diagnosis on its own, from facts written here: what it claims, and on what evidence. The
/// two-node lab test (`SwarmFleetTests`) runs it on a real swarm whose kernel has no AES-GCM; these cases cover what
/// that machine cannot show.
@Suite("Swarm: the encrypted-overlay diagnosis and its evidence")
struct SwarmDiagnosisTests {
    /// Node n1's view: its task `enc.n1` and its neighbour `enc2.n1` on overlay `secret`, and `enc.n2` on node n2.
    static func inventory(gcmHere: Bool?) -> InventoryReport {
        let node = ClusterNode(
            orchestrator: .swarm, clusterID: "c", nodeID: "n1", nodeName: "node1", role: .manager, fullView: true)
        let nodes = [
            SwarmNodeRecord(
                id: "n1", hostname: "node1", role: "manager", availability: "active", state: "ready",
                address: "198.19.16.2", engine: "20.10", leader: true),
            SwarmNodeRecord(
                id: "n2", hostname: "node2", role: "worker", availability: "active", state: "ready",
                address: "198.19.16.3", engine: "20.10", leader: false),
        ]
        let network = SwarmNetworkRecord(
            id: "s", name: "secret", driver: "overlay", subnets: ["198.19.30.0/26"], encrypted: true, attachable: false,
            ingress: false, vxlanIDs: [4097], peers: [])
        let view = SwarmInventory(
            node: node, nodeAddress: "198.19.16.2", autolock: false, nodes: nodes, services: [], tasks: [],
            networks: [network], limits: [], ipsecGCM: gcmHere)
        func task(_ name: String, _ address: String, remote: String?) -> ContainerRecord {
            ContainerRecord(
                name: name, id: name, image: "lab", state: "running", pid: nil, netns: nil, networkMode: "default",
                networks: [ContainerNetwork(name: "secret", ipv4: address, ipv6: nil, gateway: nil, aliases: [])],
                publishedPorts: [], capabilities: [], privileged: false, dockerSocketMounted: false, listening: [],
                labels: remote.map { [SwarmInventory.remoteTaskLabel: $0] } ?? [:])
        }
        var report = InventoryReport(
            sources: [], networks: [],
            containers: [
                task("enc.n1", "198.19.30.2", remote: nil), task("enc2.n1", "198.19.30.3", remote: nil),
                task("enc.n2", "198.19.30.4", remote: "n2"),
            ], namespaces: [], findings: [], complete: true, problems: [], summary: InventorySummary(), cluster: node)
        report.swarm = view
        return report
    }

    static func cell(_ destination: String, _ address: String, _ state: CellState) -> ReachabilityCell {
        ReachabilityCell(
            source: "enc.n1", destination: "\(address):8080", protocol: .tcp, state: state, attempts: 2, latencyMs: nil,
            destinationName: destination, destinationKind: .container, network: "secret", address: address, port: 8080,
            reason: "", sourcePid: nil, evidence: [])
    }

    static func diagnose(gcmHere: Bool?, same: CellState, cross: CellState) -> [Finding] {
        var edges: [Edge] = []
        var absorbed = Set<String>()
        return SwarmFleetJudgement.apply(
            inventory: Self.inventory(gcmHere: gcmHere),
            cells: [Self.cell("enc2.n1", "198.19.30.3", same), Self.cell("enc.n2", "198.19.30.4", cross)], flows: [],
            edges: &edges, absorbed: &absorbed
        ).filter { $0.kind == .swarmEncryptedOverlayDrops }
    }

    @Test("this node's kernel shows no AES-GCM: the diagnosis names this node as the cause")
    func seenHere() {
        let found = Self.diagnose(gcmHere: false, same: .reachable, cross: .filtered)
        #expect(found.count == 1)
        #expect(found.first?.title.hasSuffix("IPsec (ESP/AES-GCM) unavailable on node node1") == true)
    }

    @Test("this node's kernel offers AES-GCM: the peer is only the likely cause, and the detail says what else fits")
    func inferred() {
        let found = Self.diagnose(gcmHere: true, same: .reachable, cross: .filtered)
        #expect(found.first?.title.hasSuffix("IPsec (ESP/AES-GCM) likely unavailable on node node2") == true)
        #expect(found.first?.detail.contains("firewall dropping ESP") == true)
    }

    @Test("no diagnosis without the evidence: same-node traffic failing too, or the other node answering")
    func unproven() {
        #expect(Self.diagnose(gcmHere: false, same: .filtered, cross: .filtered).isEmpty, "nothing works: not IPsec")
        #expect(Self.diagnose(gcmHere: false, same: .reachable, cross: .reachable).isEmpty)
        #expect(
            Self.diagnose(gcmHere: false, same: .reachable, cross: .error).isEmpty, "a probe that failed proves nothing"
        )
    }
}
