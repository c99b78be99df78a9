import BulkheadModel
import Foundation
import Inventory
import NetworkNamespaces

#if canImport(Glibc)
    import Glibc
#endif

/// The Swarm control-plane ports (2377/tcp management, 7946/tcp gossip) of every node, and the services' host-mode
/// published ports on the nodes that run their tasks, probed with one TCP connect from each local task's namespace. The addresses are the swarm's enumerated node addresses, never a sweep. 4789/udp
/// (VXLAN) is not probed: a silent UDP port proves nothing.
public enum SwarmControlPlane {
    public static let ports = [2377, 7946]

    /// Probes and records the results in `inventory.swarm.controlPlane` (facts; judged by ``SwarmFleetJudgement``).
    public static func probe(_ inventory: inout InventoryReport, timeout: Double = 1.0) {
        guard var swarm = inventory.swarm else { return }
        var addresses = Set(swarm.nodes.map(\.address).filter { IPAddress($0) != nil })
        for network in swarm.networks {
            addresses.formUnion(network.peers.map(\.address).filter { IPAddress($0) != nil })
        }
        if IPAddress(swarm.nodeAddress) != nil { addresses.insert(swarm.nodeAddress) }
        // Host-mode published ports, on the nodes that run a task of their service (a manager's view).
        let nodeAddress = Dictionary(
            swarm.nodes.map { ($0.id, $0.address) }, uniquingKeysWith: { first, _ in first })
        var published: [(address: String, port: Int, service: String)] = []
        for service in swarm.services {
            for port in service.publishedPorts where port.mode == "host" && port.proto == "tcp" {
                guard let number = port.publishedPort else { continue }
                let nodes = Set(
                    swarm.tasks.filter { $0.serviceName == service.name && $0.state == "running" }.map(\.nodeID))
                for node in nodes.sorted() {
                    if let address = nodeAddress[node], IPAddress(address) != nil {
                        published.append((address, number, service.name))
                    }
                }
            }
        }
        var results: [SwarmControlPlaneProbe] = []
        let sources = inventory.containers.filter {
            $0.labels[SwarmInventory.remoteTaskLabel] == nil && $0.labels["com.docker.swarm.task.id"] != nil
                && $0.state == "running" && $0.pid != nil && $0.networkMode != "host"
        }
        for source in sources.sorted(by: { $0.name < $1.name }) {
            guard let pid = source.pid else { continue }
            let targets: [(String, Int, String?)] =
                addresses.sorted().flatMap { address in Self.ports.map { (address, $0, nil) } }
                + published.map { ($0.address, $0.port, $0.service) }
            let outcome = Result {
                try NetworkNamespace(pid: pid).run {
                    targets.map { target in
                        let (state, detail) = Self.connect(address: target.0, port: target.1, timeout: timeout)
                        return SwarmControlPlaneProbe(
                            source: source.name, address: target.0, port: target.1, state: state, detail: detail,
                            service: target.2)
                    }
                }
            }
            switch outcome {
            case .success(let probes): results += probes
            case .failure(let error):
                results += targets.map {
                    SwarmControlPlaneProbe(
                        source: source.name, address: $0.0, port: $0.1, state: .error, detail: "\(error)",
                        service: $0.2)
                }
            }
        }
        swarm.controlPlane = results
        inventory.swarm = swarm
    }

    /// One non-blocking TCP connect, on the calling thread (already in the source's namespace).
    static func connect(address: String, port: Int, timeout: Double) -> (CellState, String) {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, address, &sin.sin_addr) == 1 else { return (.error, "not an IPv4 address") }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return (.error, "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let started = withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if started == 0 { return (.reachable, "connected") }
        guard errno == EINPROGRESS else { return Self.state(errno: errno) }
        var poll = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let ready = Glibc.poll(&poll, 1, Int32(timeout * 1000))
        guard ready > 0 else { return ready == 0 ? (.filtered, "no answer in \(timeout) s") : (.error, "poll failed") }
        var failure: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &length) == 0 else { return (.error, "getsockopt failed") }
        return failure == 0 ? (.reachable, "connected") : Self.state(errno: failure)
    }

    static func state(errno code: Int32) -> (CellState, String) {
        let text = String(cString: strerror(code))
        switch code {
        case ECONNREFUSED: return (.reachableClosed, text)
        case EHOSTUNREACH, ENETUNREACH, EACCES, EPERM: return (.rejected, text)
        case ETIMEDOUT: return (.filtered, text)
        default: return (.error, text)
        }
    }
}

/// Judges what only a swarm view explains, from the evidence's facts (for a live audit and `--evidence` alike):
/// control-plane ports reachable from tasks, and an `encrypted` overlay whose cross-node cells all fail while its
/// same-node cells work — IPsec unavailable, reported as such, and its edges turned `unknown`, never `blocked`.
public enum SwarmFleetJudgement {
    ///
    /// - Parameter absorbed: receives the locations of the probe findings the diagnosis explains (the diagnosed cells'
    ///   `unexpected-blocked`: not a broken dependency of the policy's, but the overlay's IPsec), which the caller
    ///   leaves out.
    public static func apply(
        inventory: InventoryReport, cells: [ReachabilityCell], flows: [FlowRecord], edges: inout [Edge],
        absorbed: inout Set<String>
    ) -> [Finding] {
        guard let swarm = inventory.swarm else { return [] }
        var findings = SwarmCaptureAttribution.findings(swarm: swarm, flows: flows)
        func add(_ kind: FindingKind, _ title: String, _ detail: String, _ location: String) {
            findings.append(
                Finding(
                    kind: kind, severity: kind.entry?.defaultSeverity ?? .high, title: title, detail: detail,
                    location: location, flowCount: 0, flowIDs: []))
        }
        let nodeByAddress = Dictionary(
            swarm.nodes.map { ($0.address, $0.hostname) }, uniquingKeysWith: { first, _ in first })
        for probe in swarm.controlPlane
        where probe.state == .reachable && probe.service == nil && SwarmControlPlane.ports.contains(probe.port) {
            let node = nodeByAddress[probe.address] ?? probe.address
            let what = probe.port == 2377 ? "management (raft, join)" : "gossip (node membership, overlay peers)"
            add(
                .swarmControlPlaneReachable,
                "Task \(probe.source) reaches the swarm \(what) port \(probe.port)/tcp of node \(node) (\(probe.address))",
                "A TCP connection from the task's own namespace to \(probe.address):\(probe.port) succeeded. Restrict the "
                    + "control-plane ports to the underlay (host firewall, DOCKER-USER) so that tasks cannot reach them.",
                "\(probe.source),\(node)")
        }

        let remote = Dictionary(
            inventory.containers.compactMap { container in
                container.labels[SwarmInventory.remoteTaskLabel].map { (container.name, $0) }
            }, uniquingKeysWith: { first, _ in first })
        let local = Set(inventory.containers.filter { remote[$0.name] == nil }.map(\.name))
        for network in swarm.networks where network.encrypted && !network.ingress {
            // Sources attached to the overlay themselves: from elsewhere, a failure says nothing about the overlay.
            let members = Set(
                inventory.containers.filter { container in
                    local.contains(container.name) && container.networks.contains { $0.name == network.name }
                }.map(\.name))
            let onNetwork = cells.filter {
                $0.network == network.name && members.contains($0.source) && $0.protocol != .udp
            }
            let cross = onNetwork.filter { remote[$0.destinationName] != nil }
            let same = onNetwork.filter { local.contains($0.destinationName) }
            guard !cross.isEmpty, cross.allSatisfy(\.state.isBlocked), same.contains(where: \.state.isOpen) else {
                continue
            }
            let peers = Set(cross.compactMap { remote[$0.destinationName] }).map(swarm.nodeName).sorted()
            // The node without AES-GCM: this one when its own kernel shows none (seen here), else, inferred only, the
            // peers it cannot reach — whose kernels this node cannot read, and where a firewall dropping ESP on the
            // underlay would look the same.
            let seenHere = swarm.ipsecGCM == false
            let culprit = seenHere ? [swarm.node.nodeName] : peers
            add(
                .swarmEncryptedOverlayDrops,
                "Encrypted overlay \(network.name) drops traffic: IPsec (ESP/AES-GCM) \(seenHere ? "" : "likely ")unavailable on node \(culprit.joined(separator: ", "))",
                "Overlay \(network.name) is created encrypted. From \(swarm.node.nodeName), \(same.filter(\.state.isOpen).count) "
                    + "same-node cell(s) got through, while all \(cross.count) cell(s) to tasks on \(peers.joined(separator: ", ")) "
                    + "failed (\(Set(cross.map(\.state.rawValue)).sorted().joined(separator: ", "))). Docker drops what it cannot "
                    + "encrypt: the kernel lacks ESP or AES-GCM (CONFIG_INET_ESP, CONFIG_CRYPTO_GCM)"
                    + (seenHere
                        ? "; this node's /proc/crypto lists no gcm(aes)"
                        : "; this node's kernel offers AES-GCM, so the peers' kernels, or a firewall dropping ESP (IP protocol 50) on the underlay, are the likely cause")
                    + ". The service is broken across nodes; this is not isolation by policy and not proof of encryption.",
                network.name)
            for cell in cross {
                // The location the policy evaluation gives a cell's finding (`PolicyEvaluation`).
                absorbed.insert(
                    "\(cell.source) -> \(cell.destinationName) \(cell.destination)/\(cell.protocol.rawValue)")
            }
            let crossKeys = Set(cross.map { "\($0.source)|\($0.destinationName)" })
            for index in edges.indices where edges[index].network == network.name {
                guard crossKeys.contains("\(edges[index].source)|\(edges[index].destination)") else { continue }
                edges[index].verdict = .unknown
                edges[index].reasons.append(
                    "encrypted overlay \(network.name) drops traffic between nodes (IPsec unavailable): neither blocked by policy nor secure"
                )
            }
        }
        return findings
    }
}

/// Traffic captured on the underlay, attributed: a VXLAN flow's VNI names the overlay, its inner addresses the tasks
/// (and so the services and nodes) at both ends. Plaintext between tasks on different nodes is a finding that names
/// both services and the overlay.
public enum SwarmCaptureAttribution {
    /// One attributed flow.
    public struct Attribution: Hashable, Sendable {
        public var flow: Int
        public var network: String
        public var clientService: String
        public var clientNode: String
        public var serverService: String
        public var serverNode: String
    }

    /// The swarm flows in a capture: VXLAN whose VNI is one of the swarm's overlays, with both inner ends known tasks.
    public static func attribute(swarm: SwarmInventory, flows: [FlowRecord]) -> [Attribution] {
        var networkByVNI: [UInt32: String] = [:]
        for network in swarm.networks {
            for id in network.vxlanIDs { networkByVNI[UInt32(truncatingIfNeeded: id)] = network.name }
        }
        return flows.compactMap { flow -> Attribution? in
            guard let layer = flow.encapsulation?.first(where: { $0.kind == .vxlan }), let vni = layer.id,
                let network = networkByVNI[vni], let client = swarm.task(at: Self.host(flow.client)),
                let server = swarm.task(at: Self.host(flow.server))
            else { return nil }
            return Attribution(
                flow: flow.id, network: network, clientService: client.serviceName,
                clientNode: swarm.nodeName(client.nodeID), serverService: server.serviceName,
                serverNode: swarm.nodeName(server.nodeID))
        }
    }

    static func findings(swarm: SwarmInventory, flows: [FlowRecord]) -> [Finding] {
        let byID = Dictionary(flows.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var groups: [String: (Attribution, String, [Int])] = [:]
        for attribution in Self.attribute(swarm: swarm, flows: flows) {
            guard let flow = byID[attribution.flow], !flow.encrypted, flow.bytes.toServer + flow.bytes.toClient > 0,
                attribution.clientNode != attribution.serverNode
            else { continue }
            let key = [
                attribution.clientService, attribution.clientNode, attribution.serverService, attribution.serverNode,
                attribution.network, flow.proto.rawValue,
            ].joined(separator: "|")
            groups[key, default: (attribution, flow.proto.rawValue, [])].2.append(flow.id)
        }
        return groups.keys.sorted().compactMap { key in
            guard let (attribution, proto, ids) = groups[key] else { return nil }
            return Finding(
                kind: .swarmPlaintextBetweenNodes, severity: .high,
                title:
                    "Plaintext \(proto) from service \(attribution.clientService) (node \(attribution.clientNode)) to service "
                    + "\(attribution.serverService) (node \(attribution.serverNode)) on overlay \(attribution.network)",
                detail:
                    "Captured on the underlay: \(ids.count) flow(s) crossed between the nodes inside VXLAN of overlay "
                    + "\(attribution.network) with their payload in clear. Encrypt the overlay or use TLS between the services.",
                location: "\(attribution.clientService),\(attribution.serverService),\(attribution.network)",
                flowCount: ids.count, flowIDs: Array(ids.sorted().prefix(20)))
        }
    }

    /// `198.19.60.66:8080` → `198.19.60.66`; `[fd00::1]:80` → `fd00::1`.
    static func host(_ endpoint: String) -> String {
        if endpoint.hasPrefix("["), let end = endpoint.firstIndex(of: "]") {
            return String(endpoint[endpoint.index(after: endpoint.startIndex)..<end])
        }
        guard let colon = endpoint.lastIndex(of: ":") else { return endpoint }
        return String(endpoint[..<colon])
    }
}
