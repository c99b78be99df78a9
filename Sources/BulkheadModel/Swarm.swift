/// What a Docker Swarm node says about its swarm (Engine API 1.41): the nodes, services, tasks and swarm-scoped
/// networks. A manager sees the whole swarm (`fullView`); a worker sees its own tasks, and the task endpoints of the
/// overlays it is attached to (what the overlay's gossip tells it), and says so.
public struct SwarmInventory: Codable, Hashable, Sendable {
    /// The node this view was read on (the same value as the inventory's `cluster`).
    public var node: ClusterNode
    /// The node's address on the underlay (`Swarm.NodeAddr`).
    public var nodeAddress: String
    /// Manager autolock (`EncryptionConfig.AutoLockManagers`); nil when not readable (a worker).
    @ExplicitNull public var autolock: Bool?
    /// The whole swarm's nodes (a manager), or this node alone (a worker).
    public var nodes: [SwarmNodeRecord]
    /// Every service (a manager), or the services of this node's tasks (a worker: no spec details).
    public var services: [SwarmServiceRecord]
    public var tasks: [SwarmTaskRecord]
    public var networks: [SwarmNetworkRecord]
    /// What this view cannot see, in words (a worker's limits).
    public var limits: [String]
    /// Whether this node's kernel offers AES-GCM for IPsec (`rfc4106(gcm(aes))` or `gcm(aes)` in `/proc/crypto`), which
    /// encrypted overlays need; nil when not read. A modular kernel may load it on demand: only failed traffic proves
    /// it missing, this names the node to look at.
    @ExplicitNull public var ipsecGCM: Bool?
    /// The nodes' control-plane ports and the services' host-mode published ports, as probed from this node's local
    /// tasks (`audit --swarm`); empty when not probed.
    public var controlPlane: [SwarmControlPlaneProbe] = []

    public init(
        node: ClusterNode, nodeAddress: String, autolock: Bool?, nodes: [SwarmNodeRecord],
        services: [SwarmServiceRecord], tasks: [SwarmTaskRecord], networks: [SwarmNetworkRecord], limits: [String],
        ipsecGCM: Bool? = nil
    ) {
        self.ipsecGCM = ipsecGCM
        self.node = node
        self.nodeAddress = nodeAddress
        self.autolock = autolock
        self.nodes = nodes
        self.services = services
        self.tasks = tasks
        self.networks = networks
        self.limits = limits
    }

    enum CodingKeys: String, CodingKey {
        case node, nodeAddress, autolock, nodes, services, tasks, networks, limits, ipsecGCM, controlPlane
    }
}

/// One TCP probe of a node's port from a task's namespace: a swarm control-plane port (2377/tcp management,
/// 7946/tcp gossip), or a service's host-mode published port on a node that runs one of its tasks.
public struct SwarmControlPlaneProbe: Codable, Hashable, Sendable {
    /// The local task (its container name) the probe left from.
    public var source: String
    /// The node address probed.
    public var address: String
    public var port: Int
    public var state: CellState
    /// The errno or timeout behind the state.
    public var detail: String
    /// The service whose host-mode published port this is; nil for a control-plane port.
    @ExplicitNull public var service: String?

    public init(source: String, address: String, port: Int, state: CellState, detail: String, service: String? = nil) {
        self.source = source
        self.address = address
        self.port = port
        self.state = state
        self.detail = detail
        self.service = service
    }

    enum CodingKeys: String, CodingKey { case source, address, port, state, detail, service }
}

/// A swarm node.
public struct SwarmNodeRecord: Codable, Hashable, Sendable {
    public var id: String
    public var hostname: String
    /// `manager` or `worker`.
    public var role: String
    /// `active`, `pause`, `drain`.
    public var availability: String
    /// `ready`, `down`, `unknown`…
    public var state: String
    /// The node's address on the underlay.
    public var address: String
    /// The engine version it runs.
    public var engine: String
    /// Whether it leads the managers' Raft.
    public var leader: Bool

    public init(
        id: String, hostname: String, role: String, availability: String, state: String, address: String,
        engine: String, leader: Bool
    ) {
        self.id = id
        self.hostname = hostname
        self.role = role
        self.availability = availability
        self.state = state
        self.address = address
        self.engine = engine
        self.leader = leader
    }
}

/// A port a service publishes.
public struct SwarmPublishedPort: Codable, Hashable, Sendable {
    public var targetPort: Int
    @ExplicitNull public var publishedPort: Int?
    /// `tcp`, `udp`, `sctp`.
    public var proto: String
    /// `ingress` (the routing mesh: every node) or `host` (the nodes running a task).
    public var mode: String

    public init(targetPort: Int, publishedPort: Int?, proto: String, mode: String) {
        self.targetPort = targetPort
        self.publishedPort = publishedPort
        self.proto = proto
        self.mode = mode
    }

    enum CodingKeys: String, CodingKey { case targetPort, publishedPort, proto, mode }
}

/// A mount of a service's tasks.
public struct SwarmMount: Codable, Hashable, Sendable {
    /// `bind`, `volume`, `tmpfs`, `npipe`.
    public var type: String
    public var source: String
    public var target: String
    public var readOnly: Bool

    public init(type: String, source: String, target: String, readOnly: Bool) {
        self.type = type
        self.source = source
        self.target = target
        self.readOnly = readOnly
    }
}

/// A swarm service.
public struct SwarmServiceRecord: Codable, Hashable, Sendable {
    public var id: String
    public var name: String
    /// `replicated`, `global`, `replicated-job`, `global-job`, or `unknown` (a worker cannot read the spec).
    public var mode: String
    @ExplicitNull public var replicas: Int?
    /// `vip` or `dnsrr`; nil when not readable.
    @ExplicitNull public var endpointMode: String?
    public var image: String
    public var publishedPorts: [SwarmPublishedPort]
    public var mounts: [SwarmMount]
    /// `CapabilityAdd` of the task template.
    public var capabilitiesAdded: [String]
    public var capabilitiesDropped: [String]
    /// Names of the networks it is attached to (`host` for host networking).
    public var networks: [String]
    /// Whether the spec was read (a manager) or the service is only known by its tasks (a worker).
    public var specKnown: Bool

    public init(
        id: String, name: String, mode: String, replicas: Int?, endpointMode: String?, image: String,
        publishedPorts: [SwarmPublishedPort], mounts: [SwarmMount], capabilitiesAdded: [String],
        capabilitiesDropped: [String], networks: [String], specKnown: Bool
    ) {
        self.id = id
        self.name = name
        self.mode = mode
        self.replicas = replicas
        self.endpointMode = endpointMode
        self.image = image
        self.publishedPorts = publishedPorts
        self.mounts = mounts
        self.capabilitiesAdded = capabilitiesAdded
        self.capabilitiesDropped = capabilitiesDropped
        self.networks = networks
        self.specKnown = specKnown
    }

    enum CodingKeys: String, CodingKey {
        case id, name, mode, replicas, endpointMode, image, publishedPorts, mounts, capabilitiesAdded
        case capabilitiesDropped, networks, specKnown
    }
}

/// One address of a task on a network.
public struct SwarmTaskAddress: Codable, Hashable, Sendable {
    public var network: String
    /// Without its prefix length.
    public var address: String

    public init(network: String, address: String) {
        self.network = network
        self.address = address
    }
}

/// A swarm task: one container of a service on one node.
public struct SwarmTaskRecord: Codable, Hashable, Sendable {
    public var id: String
    /// `service.slot` or `service.node` (global), as Docker names the container `service.X.taskID`.
    public var name: String
    public var serviceID: String
    public var serviceName: String
    public var nodeID: String
    /// `running`, `failed`, `shutdown`…
    public var state: String
    public var desiredState: String
    /// The container, when on this node (its name in the inventory's `containers`).
    @ExplicitNull public var container: String?
    public var addresses: [SwarmTaskAddress]
    /// Whether the task runs on the node this view was read on.
    public var local: Bool

    public init(
        id: String, name: String, serviceID: String, serviceName: String, nodeID: String, state: String,
        desiredState: String, container: String?, addresses: [SwarmTaskAddress], local: Bool
    ) {
        self.id = id
        self.name = name
        self.serviceID = serviceID
        self.serviceName = serviceName
        self.nodeID = nodeID
        self.state = state
        self.desiredState = desiredState
        self.container = container
        self.addresses = addresses
        self.local = local
    }

    enum CodingKeys: String, CodingKey {
        case id, name, serviceID, serviceName, nodeID, state, desiredState, container, addresses, local
    }
}

/// A peer of an overlay: a node where it is instantiated.
public struct SwarmNetworkPeer: Codable, Hashable, Sendable {
    public var name: String
    public var address: String

    public init(name: String, address: String) {
        self.name = name
        self.address = address
    }
}

/// A swarm-scoped network.
public struct SwarmNetworkRecord: Codable, Hashable, Sendable {
    public var id: String
    public var name: String
    public var driver: String
    public var subnets: [String]
    public var encrypted: Bool
    public var attachable: Bool
    /// The routing mesh's network.
    public var ingress: Bool
    /// The VXLAN network identifiers (`com.docker.network.driver.overlay.vxlanid_list`).
    public var vxlanIDs: [Int]
    /// Nodes where the overlay is instantiated (empty where this node has no task on it).
    public var peers: [SwarmNetworkPeer]

    public init(
        id: String, name: String, driver: String, subnets: [String], encrypted: Bool, attachable: Bool, ingress: Bool,
        vxlanIDs: [Int], peers: [SwarmNetworkPeer]
    ) {
        self.id = id
        self.name = name
        self.driver = driver
        self.subnets = subnets
        self.encrypted = encrypted
        self.attachable = attachable
        self.ingress = ingress
        self.vxlanIDs = vxlanIDs
        self.peers = peers
    }
}

extension SwarmInventory {
    /// The label of an inventory container record that stands for a task on another node (its value: that node's
    /// ID). Such a record has no process or namespace on this host: it is a probe destination only.
    public static let remoteTaskLabel = "bulkhead.swarm.remote-node"

    /// The task holding `address` (on any of its networks), if the view knows one.
    public func task(at address: String) -> SwarmTaskRecord? {
        self.tasks.first { task in task.addresses.contains { $0.address == address } }
    }

    /// The hostname of a node ID, or the ID when the view does not know the node.
    public func nodeName(_ id: String) -> String {
        self.nodes.first { $0.id == id }?.hostname ?? id
    }
}
