import BulkheadModel

/// What to probe and how hard to try.
public struct ProbeOptions: Sendable {
    /// Attempts before a failure counts (one success ends a cell early).
    public var attempts: Int = 2
    /// Per-protocol wait for an answer, in seconds.
    public var tcpTimeout: Double = 1.0
    public var udpTimeout: Double = 1.0
    public var icmpTimeout: Double = 1.0
    /// Probes in flight at once, over all sources; 0 (the default) takes what the open-file limit allows, up to
    /// 16,384. Every filtered cell holds its socket for the whole timeout, so this bounds the run time.
    public var maxInFlight: Int = 0
    /// Probes in flight at once towards one destination address.
    public var maxInFlightPerDestination: Int = 256
    /// Ports probed on every destination besides those it listens on.
    public var extraPorts: [PortSpec] = []
    /// Addresses the user lists explicitly (probed from every source on the listening ports of nothing: only
    /// `extraPorts` and ICMP apply). They widen the scope guard.
    public var explicitTargets: [String] = []
    /// Probe every container's addresses on every network (true), or only the networks the source shares.
    public var allNetworks: Bool = true
    public var icmp: Bool = true
    public var udp: Bool = true
    /// The host side: gateways of the source's networks on 2375/2376, published host ports, host-network listeners.
    public var hostSide: Bool = true
    /// Only these sources (container or namespace names); all when empty.
    public var sources: [String] = []
    /// Also probe from and to the inventory's plain network namespaces (`ip netns`, containerd/CNI sandboxes).
    public var namespaces: Bool = false

    /// The defaults: 2 attempts, 1 s per protocol, automatic caps, every network, ICMP, UDP and the host side.
    public init() {}

    /// The wait for an answer to a probe of `proto`.
    public func timeout(for proto: ProbeProtocol) -> Double {
        switch proto {
        case .tcp: self.tcpTimeout
        case .udp: self.udpTimeout
        case .icmp: self.icmpTimeout
        }
    }
}

/// The probes to run: sources, and one unprobed cell per (source, destination address, port, protocol).
public struct ProbePlan: Sendable {
    public var sources: [ProbeSource]
    /// Cells in a stable order (source, destination kind, destination, network, protocol, port).
    public var cells: [ReachabilityCell]
    /// Sources that share another source's network namespace (`--network container:X`), each with the source probed
    /// in its stead: one namespace is one set of paths, probed once; ``ProbeEngine/run(plan:options:progress:)`` gives
    /// the sharer a copy of each of those cells under its own name (see ``ProbeRunResult/sharingNamespaces(_:)``).
    public var sharedNamespaces: [String: String] = [:]
    /// The networks each container source is on (its own, or those of the container whose namespace it shares):
    /// whether a local "no route" is the namespace's isolation or a namespace that disagrees with its engine.
    public var sourceNetworks: [String: Set<String>] = [:]
    /// Every address the plan may send to: the enumerated containers' addresses, their gateways, and the
    /// user's explicit targets. The engine refuses anything else, and anything outside the operator's
    /// ``AddressLimit``.
    public var scope: ScopeGuard
    /// Destination containers' main processes, watched so that a death mid-probe turns their cells into errors
    /// (and a process of each plain namespace that has one, for reading its kernel's counters).
    public var destinationPids: [String: Int]
    /// The plain network namespaces among the sources and destinations, by name: watched as namespaces (their
    /// `/run/netns` name, their processes), not through one process, which may exit while the namespace serves on.
    public var namespaces: [String: PlainNamespace] = [:]
}

/// Builds the probe plan from an inventory.
public enum ProbePlanner {
    /// Plans probes from every running container's namespace to every other container's addresses (on every
    /// network), its listening ports, ICMP echo, the host side of the source's networks, and the user's explicit
    /// targets.
    ///
    /// - Throws: ``ProbePlanError`` when an explicit target is not an IP address.
    public static func plan(inventory: InventoryReport, options: ProbeOptions) throws(ProbePlanError) -> ProbePlan {
        var plan = try Self.planEachSource(inventory: inventory, options: options)
        // One namespace, one probe: a source sharing another's namespace gets that one's cells after the run.
        plan.sharedNamespaces = Self.sharedNamespaces(plan.sources, inventory: inventory)
        plan.cells.removeAll { plan.sharedNamespaces[$0.source] != nil }
        let byName = Dictionary(inventory.containers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for source in plan.sources {
            guard let container = byName[source.name] else { continue }
            let attached = container.namespaceOwner(among: inventory.containers) ?? container
            plan.sourceNetworks[source.name] = Set(attached.networks.map(\.name))
        }
        return plan
    }

    /// ``plan(inventory:options:)`` before a namespace shared by several sources is given to one of them.
    static func planEachSource(inventory: InventoryReport, options: ProbeOptions) throws(ProbePlanError) -> ProbePlan {
        var scope = ScopeGuard()
        // A Swarm task on another node (`SwarmInventory.remoteTaskLabel`) is a destination only: it has no process here.
        let isRemote = { (container: ContainerRecord) in container.labels[SwarmInventory.remoteTaskLabel] != nil }
        // Paused containers too: their namespaces live on, and the kernel answers for their sockets.
        let running = inventory.containers.filter { $0.hasLiveNamespace && ($0.pid != nil || isRemote($0)) }
        let networksByName = Dictionary(
            inventory.networks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for container in running {
            for network in container.networks {
                network.ipv4.map { scope.allow($0) }
                network.ipv6.map { scope.allow($0) }
                network.gateway.map { scope.allow($0) }
            }
        }
        for network in inventory.networks {
            for gateway in network.gateways { scope.allow(gateway) }
        }
        var explicit: [IPAddress] = []
        for target in options.explicitTargets {
            guard let address = IPAddress(target) else {
                throw ProbePlanError(
                    message: "--target \(target): not an IP address (Bulkhead probes single addresses, never subnets)")
            }
            if let why = ScopeGuard.notSingleHost(address) ?? Self.subnetAddress(address, of: inventory) {
                throw ProbePlanError(
                    message: "--target \(target): \(why), not a single host (Bulkhead probes single unicast addresses)")
            }
            scope.allow(target)
            explicit.append(address)
        }

        var sources: [ProbeSource] = []
        for container in inventory.containers.sorted(by: { $0.name < $1.name }) {
            guard options.sources.isEmpty || options.sources.contains(container.name), !isRemote(container) else {
                continue
            }
            var skip: String?
            if !container.hasLiveNamespace {
                skip = "container is \(container.state)"
            } else if container.pid == nil {
                skip = "no process id (the engine did not report one)"
            } else if container.networkMode == "none" {
                skip = "network mode none: only loopback"
            }
            sources.append(
                ProbeSource(name: container.name, pid: container.pid, netns: container.netns, skipReason: skip))
        }

        // Plain network namespaces: entered through their process, or their /run/netns file when none lives there.
        let namespaces = options.namespaces ? inventory.namespaces.sorted { $0.name < $1.name } : []
        for namespace in namespaces {
            let addresses = Self.addresses(of: namespace)
            addresses.forEach { scope.allow($0) }
            guard options.sources.isEmpty || options.sources.contains(namespace.name) else { continue }
            let path = namespace.pids.isEmpty ? "/run/netns/\(namespace.name)" : nil
            sources.append(
                ProbeSource(
                    name: namespace.name, pid: namespace.pids.first, netns: namespace.netns,
                    skipReason: addresses.isEmpty ? "no address outside loopback" : nil, namespacePath: path))
        }

        // Host-network containers' listeners are reached on the host side (the gateways).
        let hostListeners = running.filter { $0.networkMode == "host" }.flatMap { container in
            container.listening.filter { !Self.isLoopback($0.address) }.map { (container.name, $0) }
        }
        let published = inventory.containers.flatMap { $0.publishedPorts }

        var cells: [ReachabilityCell] = []
        let byName = Dictionary(inventory.containers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for source in sources {
            // A source is a container, or (with `namespaces`) a plain namespace, which has no networks of Docker's.
            let sourceContainer = byName[source.name]
            guard sourceContainer != nil || namespaces.contains(where: { $0.name == source.name }) else { continue }
            // Sharing another's namespace (`container:X`), it is on X's networks, with X's addresses.
            let attached = sourceContainer.map { $0.namespaceOwner(among: inventory.containers) ?? $0 }
            let sourceNetworks = Set(attached?.networks.map(\.name) ?? [])
            let sendsFrom = Self.sourceAddresses(attached, namespace: namespaces.first { $0.name == source.name })
            let sourceNetns = sourceContainer?.netns ?? source.netns
            var sourceCells: [ReachabilityCell] = []
            func add(
                _ name: String, _ kind: DestinationKind, _ network: String?, _ address: String, _ proto: ProbeProtocol,
                _ port: Int?, _ reason: String
            ) {
                guard proto != .udp || options.udp, proto != .icmp || options.icmp else { return }
                let skip = source.skipReason ?? Self.noAddressOfFamily(sendsFrom, source: source.name, to: address)
                sourceCells.append(
                    ReachabilityCell(
                        source: source.name,
                        destination: ReachabilityCell.destinationText(address: address, port: port), protocol: proto,
                        state: skip == nil ? .error : .skipped, attempts: 0, latencyMs: nil,
                        destinationName: name,
                        destinationKind: kind, network: network, address: address, port: port, reason: reason,
                        note: skip ?? "not probed yet", sourcePid: source.pid, evidence: []
                    ))
            }
            func addPorts(
                _ name: String, _ kind: DestinationKind, _ network: String?, _ address: String,
                listening: [ListeningSocket]
            ) {
                var seen = Set<String>()
                for socket in listening where Self.boundTo(socket.address, reaches: address) {
                    guard let proto = ProbeProtocol(rawValue: socket.proto),
                        seen.insert("\(proto)/\(socket.port)").inserted
                    else { continue }
                    add(name, kind, network, address, proto, socket.port, "listening")
                }
                for spec in options.extraPorts {
                    for port in spec.range where seen.insert("\(spec.proto)/\(port)").inserted {
                        add(name, kind, network, address, spec.proto, port, "extra")
                    }
                }
                add(name, kind, network, address, .icmp, nil, "echo")
            }

            for destination in running.sorted(by: { $0.name < $1.name }) where destination.name != source.name {
                // The same namespace (container:X sharing) is not a network path.
                if let a = sourceNetns, let b = destination.netns, a == b { continue }
                if destination.networkMode == "host" || destination.networkMode.hasPrefix("container:") { continue }
                for network in destination.networks.sorted(by: { $0.name < $1.name }) {
                    guard options.allNetworks || sourceNetworks.contains(network.name) else { continue }
                    for address in [network.ipv4, network.ipv6].compactMap({ $0 }) {
                        addPorts(destination.name, .container, network.name, address, listening: destination.listening)
                    }
                }
            }
            for namespace in namespaces where namespace.name != source.name && namespace.netns != sourceNetns {
                for address in Self.addresses(of: namespace) {
                    addPorts(namespace.name, .namespace, nil, address, listening: namespace.listening)
                }
            }
            if options.hostSide, let attached {
                var gateways: [(String, String)] = []
                for network in attached.networks.sorted(by: { $0.name < $1.name }) {
                    let fromRecord = networksByName[network.name]?.gateways ?? []
                    for gateway in Set(fromRecord + [network.gateway].compactMap { $0 }).sorted()
                    where IPAddress(gateway) != nil {
                        gateways.append((network.name, gateway))
                    }
                }
                for (network, gateway) in gateways {
                    var seen = Set<String>()
                    for port in [2375, 2376] where seen.insert("tcp/\(port)").inserted {
                        add("host", .gateway, network, gateway, .tcp, port, "docker-api")
                    }
                    for port in published where Self.boundTo(port.hostIP, reaches: gateway) {
                        guard let proto = ProbeProtocol(rawValue: port.proto),
                            seen.insert("\(proto)/\(port.hostPort)").inserted
                        else { continue }
                        add("host", .gateway, network, gateway, proto, port.hostPort, "published")
                    }
                    for (_, socket) in hostListeners where Self.boundTo(socket.address, reaches: gateway) {
                        guard let proto = ProbeProtocol(rawValue: socket.proto),
                            seen.insert("\(proto)/\(socket.port)").inserted
                        else { continue }
                        add("host", .gateway, network, gateway, proto, socket.port, "host-network")
                    }
                    for spec in options.extraPorts {
                        for port in spec.range where seen.insert("\(spec.proto)/\(port)").inserted {
                            add("host", .gateway, network, gateway, spec.proto, port, "extra")
                        }
                    }
                    add("host", .gateway, network, gateway, .icmp, nil, "echo")
                }
            }
            for address in explicit {
                var seen = Set<String>()
                for spec in options.extraPorts {
                    for port in spec.range where seen.insert("\(spec.proto)/\(port)").inserted {
                        add("explicit", .explicit, nil, address.description, spec.proto, port, "extra")
                    }
                }
                add("explicit", .explicit, nil, address.description, .icmp, nil, "echo")
            }
            cells.append(contentsOf: sourceCells)
        }
        var destinationPids: [String: Int] = [:]
        for container in running { destinationPids[container.name] = container.pid }
        var plainNamespaces: [String: PlainNamespace] = [:]
        for namespace in namespaces {
            destinationPids[namespace.name] = namespace.pids.first
            plainNamespaces[namespace.name] = PlainNamespace(identity: namespace.netns, pids: namespace.pids)
        }
        return ProbePlan(
            sources: sources, cells: cells, scope: scope, destinationPids: destinationPids, namespaces: plainNamespaces)
    }

    /// Why `address` is the network or broadcast address of an IPv4 subnet the inventory enumerates (a network's
    /// subnet, a namespace's interface prefix), and no host the inventory knows holds it; nil otherwise. Sent to,
    /// a subnet's broadcast reaches every host on it (or is refused by the source's kernel, which says nothing
    /// about any firewall). /31 and /32 have neither (RFC 3021).
    static func subnetAddress(_ address: IPAddress, of inventory: InventoryReport) -> String? {
        guard !address.isIPv6 else { return nil }
        var hosts: Set<IPAddress> = []
        var subnets: [(text: String, owner: String)] = []
        for network in inventory.networks {
            subnets += network.subnets.map { ($0, "network \(network.name)") }
            hosts.formUnion(network.gateways.compactMap(IPAddress.init))
        }
        for container in inventory.containers {
            for network in container.networks {
                hosts.formUnion(
                    [network.ipv4, network.ipv6, network.gateway].compactMap { $0.flatMap(IPAddress.init) })
            }
        }
        for namespace in inventory.namespaces {
            subnets += namespace.addresses.map { ($0, "namespace \(namespace.name)") }
            hosts.formUnion(Self.addresses(of: namespace).compactMap(IPAddress.init))
        }
        guard !hosts.contains(address) else { return nil }
        for subnet in subnets {
            guard let (base, prefix) = CIDR.parse(subnet.text), !base.isIPv6, prefix <= 30 else { continue }
            let mask: UInt64 = prefix == 0 ? 0 : (0xffff_ffff << UInt64(32 - prefix)) & 0xffff_ffff
            let network = base.low & mask
            let broadcast = network | (~mask & 0xffff_ffff)
            let range = "\(IPAddress(ipv4: UInt32(network)))/\(prefix)"
            if address.low == broadcast { return "the broadcast address of \(range) (\(subnet.owner))" }
            if address.low == network { return "the network address of \(range) (\(subnet.owner))" }
        }
        return nil
    }

    /// The sources probed through another (see ``ProbePlan/sharedNamespaces``): of the probed container sources in one
    /// namespace, the container that owns it (the one the others name in `container:X`) is probed, or, when it is not a
    /// source here (left out by `--source`), the first of them by name.
    static func sharedNamespaces(_ sources: [ProbeSource], inventory: InventoryReport) -> [String: String] {
        let byName = Dictionary(inventory.containers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var groups: [String: [String]] = [:]
        for source in sources where source.skipReason == nil {
            guard let container = byName[source.name] else { continue }
            let owner = container.namespaceOwner(among: inventory.containers)?.name ?? container.name
            groups[owner, default: []].append(container.name)
        }
        var probedInstead: [String: String] = [:]
        for (owner, members) in groups where members.count > 1 {
            let probed = members.contains(owner) ? owner : members.sorted()[0]
            for member in members where member != probed { probedInstead[member] = probed }
        }
        return probedInstead
    }

    /// The addresses a source can send from, when the inventory knows them all: a container's on its Docker networks
    /// (the engine gave it every one), a plain namespace's read from inside it. Nil for a host-network source, whose
    /// addresses are the host's and not listed.
    static func sourceAddresses(_ container: ContainerRecord?, namespace: NamespaceRecord?) -> [IPAddress]? {
        if let container {
            guard container.networkMode != "host" else { return nil }
            return container.networks.flatMap { [$0.ipv4, $0.ipv6] }.compactMap { $0.flatMap(IPAddress.init) }
        }
        return namespace.map { Self.addresses(of: $0).compactMap(IPAddress.init) }
    }

    /// Why a source cannot send to `address` at all: it has no address of that family (an IPv4-only container and a
    /// destination's IPv6 address), so there is no such path by construction; connect() would fail before any packet
    /// left (EADDRNOTAVAIL or ENETUNREACH), which is no answer from the network. Nil when it has one, or when its
    /// addresses are not known.
    static func noAddressOfFamily(_ addresses: [IPAddress]?, source: String, to address: String) -> String? {
        guard let addresses, let destination = IPAddress(address) else { return nil }
        let v6 = destination.unmapped.isIPv6
        guard !addresses.contains(where: { $0.unmapped.isIPv6 == v6 }) else { return nil }
        let family = v6 ? "IPv6" : "IPv4"
        return "\(source) has no \(family) address (none on its networks): no \(family) path from it to probe"
    }

    /// A namespace's addresses without their prefix length (`198.18.237.2/24` → `198.18.237.2`).
    static func addresses(of namespace: NamespaceRecord) -> [String] {
        namespace.addresses.compactMap { text in
            let address = String(text.split(separator: "/").first ?? "")
            guard let parsed = IPAddress(address), !Self.isLoopback(address) else { return nil }
            return parsed.description
        }
    }

    /// Whether a socket bound to `bound` accepts packets addressed to `address`.
    static func boundTo(_ bound: String, reaches address: String) -> Bool {
        // `::ffff:a.b.c.d` (a dual-stack runtime binding one IPv4 address) receives IPv4 packets to a.b.c.d only.
        let bound = ListeningSocket.acceptedAddress(bound)
        if bound == "0.0.0.0" || bound.isEmpty { return !address.contains(":") }
        if bound == "::" || bound == "[::]" { return true }  // dual-stack unless IPV6_V6ONLY: the listener accepts both
        return IPAddress(bound) == IPAddress(address)
    }

    static func isLoopback(_ address: String) -> Bool {
        IPAddress(address)?.isLoopback ?? false
    }
}

/// A probe plan that cannot be made (a bad explicit target).
public struct ProbePlanError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { self.message }
}
