import BulkheadModel

/// The JSON document `bulkhead merge --format json` writes (schema `bulkhead.fleet/1`): the node reports of one
/// cluster joined into one report, with a row per node, the edges deduplicated (each with the nodes that saw it),
/// the findings deduplicated, and every place where the nodes' evidence disagreed.
///
/// The node reports keep the evidence; the fleet report keeps what was judged, and the merged inventory the
/// pictures (matrix, topology) are drawn from.
public struct FleetReport: Codable, Sendable {
    public var schema: String
    public var generatedAt: String
    /// The cluster's orchestrator; nil when plain single-host reports were merged (`--allow-standalone`).
    @ExplicitNull public var orchestrator: ClusterNode.Orchestrator?
    /// The cluster's identity; nil when plain single-host reports were merged.
    @ExplicitNull public var clusterID: String?
    /// The policies the nodes were judged against (one name when they agree).
    public var policy: String
    /// One row per node: every node that sent a report, and every node a full-view report names that sent none.
    public var nodes: [FleetNode]
    public var edges: [FleetEdge]
    public var findings: [Finding]
    /// Every edge or endpoint the nodes saw differently, and how the merge settled it.
    public var disagreements: [FleetDisagreement]
    /// False when a node is missing, or a node's report is itself incomplete.
    public var complete: Bool
    public var problems: [String]
    public var summary: AuditSummary
    /// The nodes' inventories joined (networks and containers by name), for the matrix and the topology.
    @ExplicitNull public var inventory: InventoryReport?

    public static let currentSchema = JSONInput.Expected.fleetSchema

    public init(
        generatedAt: String, orchestrator: ClusterNode.Orchestrator?, clusterID: String?, policy: String,
        nodes: [FleetNode], edges: [FleetEdge], findings: [Finding], disagreements: [FleetDisagreement],
        complete: Bool, problems: [String], summary: AuditSummary, inventory: InventoryReport?
    ) {
        self.schema = Self.currentSchema
        self.generatedAt = generatedAt
        self.orchestrator = orchestrator
        self.clusterID = clusterID
        self.policy = policy
        self.nodes = nodes
        self.edges = edges
        self.findings = findings
        self.disagreements = disagreements
        self.complete = complete
        self.problems = problems
        self.summary = summary
        self.inventory = inventory
    }

    enum CodingKeys: String, CodingKey {
        case schema, generatedAt, orchestrator, clusterID, policy, nodes, edges, findings, disagreements, complete,
            problems, summary, inventory
    }

    /// `swarm cluster abc (3 nodes)`: what the report is about, for headings.
    public var title: String {
        let count = "\(self.nodes.count) node\(self.nodes.count == 1 ? "" : "s")"
        if let orchestrator = self.orchestrator, let clusterID = self.clusterID {
            return "\(orchestrator.rawValue) cluster \(clusterID) (\(count))"
        }
        return "fleet of \(count)"
    }
}

/// One node of the fleet: what its report said, or that it sent none.
public struct FleetNode: Codable, Sendable, Hashable {
    /// How a node's part of the fleet audit went.
    public enum Status: String, Codable, Sendable, Hashable {
        /// Its report is complete.
        case complete
        /// Its report says something could not be examined (a stage failed or ran short).
        case incomplete
        /// The cluster names the node, but no report came from it.
        case missing
    }

    public var nodeID: String
    public var nodeName: String
    @ExplicitNull public var role: ClusterNode.Role?
    /// Whether the node saw the whole cluster (a Swarm manager); nil for a node that sent no report.
    @ExplicitNull public var fullView: Bool?
    public var status: Status
    /// The report file the node's part came from; nil for a missing node.
    @ExplicitNull public var file: String?
    /// The host the node's audit ran on, and when.
    @ExplicitNull public var host: String?
    @ExplicitNull public var generatedAt: String?
    @ExplicitNull public var policy: String?
    public var edges: Int
    public var findings: Int
    public var durationSeconds: Double
    /// The node report's problems (for a missing node: that it sent none).
    public var problems: [String]

    public init(
        nodeID: String, nodeName: String, role: ClusterNode.Role?, fullView: Bool?, status: Status, file: String?,
        host: String?, generatedAt: String?, policy: String?, edges: Int, findings: Int, durationSeconds: Double,
        problems: [String]
    ) {
        self.nodeID = nodeID
        self.nodeName = nodeName
        self.role = role
        self.fullView = fullView
        self.status = status
        self.file = file
        self.host = host
        self.generatedAt = generatedAt
        self.policy = policy
        self.edges = edges
        self.findings = findings
        self.durationSeconds = durationSeconds
        self.problems = problems
    }

    enum CodingKeys: String, CodingKey {
        case nodeID, nodeName, role, fullView, status, file, host, generatedAt, policy, edges, findings,
            durationSeconds, problems
    }
}

/// An edge of the fleet, and the nodes whose reports carried it.
public struct FleetEdge: Codable, Sendable, Hashable {
    /// The edge as merged: agreeing evidence joined, the worse verdict kept where the nodes disagree.
    public var edge: Edge
    /// Node IDs, in the order of the node rows.
    public var seenBy: [String]

    public init(edge: Edge, seenBy: [String]) {
        self.edge = edge
        self.seenBy = seenBy
    }

    enum CodingKeys: String, CodingKey { case edge, seenBy }
}

/// Where the nodes' evidence about one edge or endpoint differs.
public struct FleetDisagreement: Codable, Sendable, Hashable {
    /// What the nodes disagree about.
    public enum Aspect: String, Codable, Sendable, Hashable, CaseIterable {
        /// The edge's verdict.
        case verdict
        /// The probe's cell state (open against closed, or a probe error against a result).
        case reachability
        /// Traffic: plaintext, mutual TLS or credentials seen by one node and not by the other.
        case traffic
        /// The TLS check's verdict on the endpoint.
        case tls
        /// The policy's expectation (the nodes were judged against different policies).
        case policy
        /// The name of the destination at that address.
        case destination
    }

    /// The edge's name (`web -> api 198.18.0.5:443/tcp`) or the endpoint (`198.18.0.5:443`).
    public var subject: String
    public var aspect: Aspect
    /// What each node said: node ID → value.
    public var observations: [Observation]
    /// What the merged report keeps, and why.
    public var resolution: String

    /// One node's value.
    public struct Observation: Codable, Sendable, Hashable {
        public var nodeID: String
        public var value: String

        public init(nodeID: String, value: String) {
            self.nodeID = nodeID
            self.value = value
        }
    }

    public init(subject: String, aspect: Aspect, observations: [Observation], resolution: String) {
        self.subject = subject
        self.aspect = aspect
        self.observations = observations
        self.resolution = resolution
    }

    /// `verdict: n1 says plaintext, n2 says mtls-enforced; kept plaintext (the worse)`.
    public var text: String {
        "\(self.aspect.rawValue): "
            + self.observations.map { "\($0.nodeID) says \($0.value)" }.joined(separator: ", ") + "; "
            + self.resolution
    }
}
