/// The orchestrator cluster an inventory was read from, and the node that read it: what lets `bulkhead merge`
/// join the reports of a fleet's nodes, and refuse reports from different clusters or the same node twice.
///
/// Written only when the inventory came from a cluster member (a Swarm node, a Kubernetes node); a plain Docker
/// host's inventory has no `cluster` key.
public struct ClusterNode: Codable, Sendable, Hashable {
    /// Which orchestrator the cluster runs.
    public enum Orchestrator: String, Codable, Sendable, Hashable {
        case swarm
        case kubernetes
    }

    /// What the node is to its cluster, as the orchestrator says it.
    public enum Role: String, Codable, Sendable, Hashable {
        case manager
        case worker
        /// A Kubernetes node (control-plane membership is not visible from a node-local dump).
        case node
    }

    public var orchestrator: Orchestrator
    /// The cluster's identity: Swarm's `Cluster.ID`, or a Kubernetes cluster's name or UID.
    public var clusterID: String
    /// The node's identity in the cluster: Swarm's `NodeID`, a Kubernetes node's name or UID.
    public var nodeID: String
    /// The node's host name, for people.
    public var nodeName: String
    public var role: Role
    /// Whether this node can see the whole cluster (a Swarm manager) or only itself (a worker): a worker's
    /// inventory holds its local tasks and says so.
    public var fullView: Bool
    /// Every node of the cluster as a node with the full view sees it (a Swarm manager's node list); nil when the
    /// node cannot see them. `bulkhead merge` expects a report from each, and a node named here that sent none makes
    /// the fleet report incomplete.
    @ExplicitNull public var members: [Member]?

    /// A node of the cluster as seen from a node with the full view.
    public struct Member: Codable, Sendable, Hashable {
        public var nodeID: String
        public var nodeName: String
        public var role: Role

        public init(nodeID: String, nodeName: String, role: Role) {
            self.nodeID = nodeID
            self.nodeName = nodeName
            self.role = role
        }
    }

    public init(
        orchestrator: Orchestrator, clusterID: String, nodeID: String, nodeName: String, role: Role, fullView: Bool,
        members: [Member]? = nil
    ) {
        self.members = members
        self.orchestrator = orchestrator
        self.clusterID = clusterID
        self.nodeID = nodeID
        self.nodeName = nodeName
        self.role = role
        self.fullView = fullView
    }
}
