/// A container network as the engine describes it.
public struct NetworkRecord: Codable, Hashable, Sendable {
    public var name: String
    public var id: String
    /// `bridge`, `overlay`, `macvlan`, `ipvlan`, `host`, `null`…
    public var driver: String
    /// `local`, `swarm` or `global`.
    public var scope: String
    /// CIDRs, IPv4 and IPv6.
    public var subnets: [String]
    public var gateways: [String]
    /// No route out (`--internal`).
    public var `internal`: Bool
    /// Inter-container communication on the bridge (`com.docker.network.bridge.enable_icc`, default true).
    public var icc: Bool
    /// Overlay encryption (`encrypted` option); nil for drivers where it does not apply.
    @ExplicitNull public var encrypted: Bool?
    public var attachable: Bool
    /// Docker's default bridge (`docker0`).
    public var isDefaultBridge: Bool
    /// The bridge interface on the host (`docker0`, `br-<id>`), for bridge networks.
    @ExplicitNull public var bridge: String?
    /// Names of the attached containers.
    public var containers: [String]
    public var labels: [String: String]

    public init(
        name: String, id: String, driver: String, scope: String, subnets: [String], gateways: [String], internal: Bool,
        icc: Bool, encrypted: Bool?, attachable: Bool, isDefaultBridge: Bool, bridge: String?, containers: [String],
        labels: [String: String]
    ) {
        self.name = name
        self.id = id
        self.driver = driver
        self.scope = scope
        self.subnets = subnets
        self.gateways = gateways
        self.internal = `internal`
        self.icc = icc
        self.encrypted = encrypted
        self.attachable = attachable
        self.isDefaultBridge = isDefaultBridge
        self.bridge = bridge
        self.containers = containers
        self.labels = labels
    }

    enum CodingKeys: String, CodingKey {
        case name, id, driver, scope, subnets, gateways, `internal`, icc, encrypted, attachable, isDefaultBridge,
            bridge, containers, labels
    }
}

/// One network a container is attached to, with its addresses there.
public struct ContainerNetwork: Codable, Hashable, Sendable {
    public var name: String
    @ExplicitNull public var ipv4: String?
    @ExplicitNull public var ipv6: String?
    @ExplicitNull public var gateway: String?
    public var aliases: [String]

    public init(name: String, ipv4: String?, ipv6: String?, gateway: String?, aliases: [String]) {
        self.name = name
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.gateway = gateway
        self.aliases = aliases
    }

    enum CodingKeys: String, CodingKey { case name, ipv4, ipv6, gateway, aliases }
}

/// A container port published on the host.
public struct PublishedPort: Codable, Hashable, Sendable {
    public var containerPort: Int
    /// `tcp`, `udp` or `sctp`.
    public var proto: String
    /// The host address it binds (`0.0.0.0` and `::` mean every interface).
    public var hostIP: String
    public var hostPort: Int

    public init(containerPort: Int, proto: String, hostIP: String, hostPort: Int) {
        self.containerPort = containerPort
        self.proto = proto
        self.hostIP = hostIP
        self.hostPort = hostPort
    }
}

/// A socket listening inside a network namespace (read from `/proc/<pid>/net/{tcp,tcp6,udp,udp6}`).
public struct ListeningSocket: Codable, Hashable, Sendable, Comparable {
    /// `tcp` or `udp`.
    public var proto: String
    /// The bound address (`0.0.0.0`, `::`, or a specific one).
    public var address: String
    public var port: Int

    public init(proto: String, address: String, port: Int) {
        self.proto = proto
        self.address = address
        self.port = port
    }

    public static func < (lhs: ListeningSocket, rhs: ListeningSocket) -> Bool {
        (lhs.proto, lhs.port, lhs.address) < (rhs.proto, rhs.port, rhs.address)
    }

    /// The address packets must be sent to for a socket bound to `bound` to receive them: an IPv4-mapped address
    /// (`::ffff:198.18.1.2`, `::ffff:0.0.0.0`) as the IPv4 address it stands for (`198.18.1.2`, `0.0.0.0`), since such
    /// a socket receives IPv4 packets only; anything else as written. The inventory keeps the kernel's text.
    public static func acceptedAddress(_ bound: String) -> String {
        guard let address = IPAddress(bound), address.isIPv4Mapped else { return bound }
        return address.unmapped.description
    }

    /// Whether only the namespace itself can reach the socket: bound to 127.0.0.0/8, `::1` or `::ffff:127.x.y.z`.
    public var isLoopbackOnly: Bool { IPAddress(self.address)?.isLoopback ?? false }
}

/// A container and what matters about it for the network.
public struct ContainerRecord: Codable, Hashable, Sendable {
    public var name: String
    public var id: String
    public var image: String
    /// `running`, `exited`, `paused`…, `vanished` when it disappeared while being inventoried, or `uninspected` when
    /// the engine failed to answer its inspection (both named in the inventory's problems).
    public var state: String
    @ExplicitNull public var pid: Int?
    /// The network namespace (`net:[4026532001]`), from `/proc/<pid>/ns/net`.
    @ExplicitNull public var netns: String?
    /// `bridge`, `host`, `none`, `container:<name>`, or a network name.
    public var networkMode: String
    public var networks: [ContainerNetwork]
    public var publishedPorts: [PublishedPort]
    /// Network-relevant effective capabilities (`NET_RAW`, `NET_ADMIN`, `SYS_ADMIN`, `NET_BIND_SERVICE`).
    public var capabilities: [String]
    public var privileged: Bool
    public var dockerSocketMounted: Bool
    public var listening: [ListeningSocket]
    public var labels: [String: String]

    public init(
        name: String, id: String, image: String, state: String, pid: Int?, netns: String?, networkMode: String,
        networks: [ContainerNetwork], publishedPorts: [PublishedPort], capabilities: [String], privileged: Bool,
        dockerSocketMounted: Bool, listening: [ListeningSocket], labels: [String: String]
    ) {
        self.name = name
        self.id = id
        self.image = image
        self.state = state
        self.pid = pid
        self.netns = netns
        self.networkMode = networkMode
        self.networks = networks
        self.publishedPorts = publishedPorts
        self.capabilities = capabilities
        self.privileged = privileged
        self.dockerSocketMounted = dockerSocketMounted
        self.listening = listening
        self.labels = labels
    }

    enum CodingKeys: String, CodingKey {
        case name, id, image, state, pid, netns, networkMode, networks, publishedPorts, capabilities, privileged
        case dockerSocketMounted, listening, labels
    }
}

extension ContainerRecord {
    /// Whether the container's network namespace exists with a process in it: `running`, or `paused` (its processes
    /// are frozen, not gone: the kernel still answers for its sockets, completing TCP handshakes into their listen
    /// queues, and the namespace can be entered to probe from it).
    public var hasLiveNamespace: Bool { self.state == "running" || self.state == "paused" }

    /// The container whose network namespace this one uses (network mode `container:X`), among `containers`: X,
    /// found by name, id or id prefix (or, when the reference names none of them, by the same `netns` identity), and
    /// followed on when X itself shares another's. Nil when this container has a namespace of its own, or the one it
    /// shares is not among `containers` (out of the audit's scope, gone).
    public func namespaceOwner(among containers: [ContainerRecord]) -> ContainerRecord? {
        var current = self
        var seen: Set<String> = [self.name]
        while current.networkMode.hasPrefix("container:") {
            let reference = String(current.networkMode.dropFirst("container:".count))
            let netns = current.netns
            let next =
                containers.first { $0.name == reference || $0.id == reference }
                ?? containers.first { reference.count >= 12 && $0.id.hasPrefix(reference) }
                ?? containers.first { other in
                    netns != nil && other.netns == netns && !other.networkMode.hasPrefix("container:")
                }
            // A loop of `container:` references (only a hand-made inventory has one) has no owner.
            guard let next, seen.insert(next.name).inserted else { return nil }
            current = next
        }
        return current.name == self.name ? nil : current
    }
}

/// A network namespace that no container owns (made with `ip netns add`, by containerd/CNI, a sandbox…).
public struct NamespaceRecord: Codable, Hashable, Sendable {
    /// The `/run/netns` name, or `pid <n> (<command>)` for an unnamed one.
    public var name: String
    public var netns: String
    public var pids: [Int]
    /// Interface addresses (CIDR), IPv4 and IPv6.
    public var addresses: [String]
    public var listening: [ListeningSocket]

    public init(name: String, netns: String, pids: [Int], addresses: [String], listening: [ListeningSocket]) {
        self.name = name
        self.netns = netns
        self.pids = pids
        self.addresses = addresses
        self.listening = listening
    }
}

/// Totals for one `inventory` run.
public struct InventorySummary: Codable, Hashable, Sendable {
    public var networks: Int = 0
    public var containers: Int = 0
    public var namespaces: Int = 0
    public var findingsBySeverity: [String: Int] = [:]
    /// Requests made to the engine API.
    public var apiCalls: Int = 0
    public var durationSeconds: Double = 0

    public init() {}
}

/// The JSON document `bulkhead inventory --format json` writes.
public struct InventoryReport: Codable, Sendable {
    /// Where it came from: `docker unix:///var/run/docker.sock (engine 20.10.24, API 1.41)`, files, namespaces.
    public var sources: [String]
    public var networks: [NetworkRecord]
    public var containers: [ContainerRecord]
    public var namespaces: [NamespaceRecord]
    public var findings: [Finding]
    /// False when something could not be read (a container vanished mid-way, a file was cut short…).
    public var complete: Bool
    /// What was not read, and why.
    public var problems: [String]
    public var summary: InventorySummary
    /// The cluster and node this inventory was read on; written only when there is one (`ClusterNode`).
    public var cluster: ClusterNode?
    /// The Docker Swarm view read on this node (`inventory --swarm`); written only when there is one.
    public var swarm: SwarmInventory?

    public init(
        sources: [String], networks: [NetworkRecord], containers: [ContainerRecord], namespaces: [NamespaceRecord],
        findings: [Finding], complete: Bool, problems: [String], summary: InventorySummary, cluster: ClusterNode? = nil,
        swarm: SwarmInventory? = nil
    ) {
        self.cluster = cluster
        self.swarm = swarm
        self.sources = sources
        self.networks = networks
        self.containers = containers
        self.namespaces = namespaces
        self.findings = findings
        self.complete = complete
        self.problems = problems
        self.summary = summary
    }
}

extension InventoryReport {
    /// The inventory cut down to the networks and containers carrying `label` (`key=value`, or `key` for its
    /// presence), and to the findings about them alone; other namespaces are left out.
    public func scoped(label: String) -> InventoryReport {
        let parts = label.split(separator: "=", maxSplits: 1).map(String.init)
        let matches = { (labels: [String: String]) in
            parts.count == 2 ? labels[parts[0]] == parts[1] : labels[label] != nil
        }
        var copy = self
        copy.containers = self.containers.filter { matches($0.labels) }
        copy.networks = self.networks.filter { matches($0.labels) }
        copy.namespaces = []
        let names = Set(copy.containers.map(\.name) + copy.networks.map(\.name))
        copy.findings = self.findings.filter { finding in
            guard let location = finding.location else { return false }
            return location.split(separator: ",").allSatisfy { names.contains(String($0)) }
        }
        return copy
    }
}
