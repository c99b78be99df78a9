import BulkheadModel
import Certificates
import ContainerEngine
import Foundation

/// Reads a Docker Swarm node's view of its swarm (Engine API 1.41) into an inventory: the node and cluster it was
/// read on (`InventoryReport.cluster`), the nodes, services, tasks and swarm-scoped networks (`InventoryReport.swarm`),
/// the tasks running on other nodes as probe destinations, and the Swarm static findings.
///
/// A manager reads `/nodes`, `/services` and `/tasks`; a worker (which the engine refuses those) reads its own
/// tasks from its containers' labels and the other nodes' task endpoints from the overlays' gossip
/// (`/networks/{id}?verbose=true`), and records in `swarm.limits` what it cannot see.
public enum SwarmCollector {
    /// The label a remote task's record carries in `containers`: the node ID it runs on. Such a record has no
    /// process or namespace here: it is a probe destination only.
    public static let remoteTaskLabel = SwarmInventory.remoteTaskLabel

    /// Adds the node's swarm view to `report` (read from the same engine).
    ///
    /// - Parameter nodeCertificate: the node's Swarm certificate (PEM), whose subject's O names the cluster on a
    ///   worker; by default `<DockerRootDir>/swarm/certificates/swarm-node.crt`.
    /// - Throws: ``EngineError`` when the engine cannot be read, or `not-in-swarm` when the node is in no swarm.
    public static func extend(
        _ report: inout InventoryReport, engine: DockerEngine, nodeCertificate: String? = nil
    ) throws(EngineError) {
        let info = try engine.get("/info", as: SwarmAPI.Info.self)
        guard let swarm = info.Swarm, swarm.LocalNodeState == "active", let nodeID = swarm.NodeID, !nodeID.isEmpty
        else {
            throw EngineError(
                .notInSwarm,
                "the engine at \(engine.client.socketPath) is not an active swarm node (state \(info.Swarm?.LocalNodeState ?? "unknown"))"
            )
        }
        let manager = swarm.ControlAvailable == true
        let hostname = info.Name ?? nodeID
        var problems: [String] = []
        var limits: [String] = []
        var clusterID = swarm.Cluster?.ID
        if clusterID == nil {
            let path =
                nodeCertificate ?? ((info.DockerRootDir ?? "/var/lib/docker") + "/swarm/certificates/swarm-node.crt")
            switch Self.clusterID(certificatePath: path) {
            case .success(let id): clusterID = id
            case .failure(let problem):
                problems.append("swarm: the cluster ID is not readable on this worker: \(problem)")
            }
        }
        var node = ClusterNode(
            orchestrator: .swarm, clusterID: clusterID ?? "unknown", nodeID: nodeID, nodeName: hostname,
            role: manager ? .manager : .worker, fullView: manager)

        // Swarm-scoped networks, verbose: peers and every service's task endpoints.
        let listed = try engine.get("/networks", as: [DockerAPI.Network].self).filter { $0.Scope == "swarm" }
        var verbose: [SwarmAPI.VerboseNetwork] = []
        for network in listed {
            do {
                verbose.append(
                    try engine.get("/networks/\(network.Id)?verbose=true", as: SwarmAPI.VerboseNetwork.self))
            } catch  where error.code == .notFound {
                problems.append("swarm network \(network.Name) vanished while being inventoried")
            }
        }
        let networks = verbose.map(Self.record).sorted { $0.name < $1.name }

        var nodes: [SwarmNodeRecord] = []
        var services: [SwarmServiceRecord] = []
        var tasks: [SwarmTaskRecord] = []
        var autolock: Bool?
        let networkNames = Dictionary(verbose.map { ($0.Id, $0.Name) }, uniquingKeysWith: { first, _ in first })
        let localContainers = Dictionary(
            report.containers.compactMap { container in
                container.labels["com.docker.swarm.task.id"].map { ($0, container.name) }
            }, uniquingKeysWith: { first, _ in first })
        if manager {
            autolock = swarm.Cluster?.Spec?.EncryptionConfig?.AutoLockManagers ?? false
            nodes = try engine.get("/nodes", as: [SwarmAPI.Node].self).map(Self.record).sorted {
                $0.hostname < $1.hostname
            }
            let serviceList = try engine.get("/services", as: [SwarmAPI.Service].self)
            services = serviceList.map { Self.record($0, networkNames: networkNames) }.sorted { $0.name < $1.name }
            let names = Dictionary(services.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
            tasks = try engine.get("/tasks", as: [SwarmAPI.Task].self).map { task in
                Self.record(
                    task, serviceName: names[task.ServiceID ?? ""] ?? (task.ServiceID ?? "?"), localNode: nodeID,
                    container: localContainers[task.ID])
            }
        } else {
            limits.append(
                "worker: the engine refuses /nodes, /services and /tasks here; services are known by their tasks, "
                    + "remote tasks by the overlays' endpoints, and autolock is not readable")
            nodes = [
                SwarmNodeRecord(
                    id: nodeID, hostname: hostname, role: "worker", availability: "unknown", state: "ready",
                    address: swarm.NodeAddr ?? "", engine: info.ServerVersion ?? "unknown", leader: false)
            ]
            tasks = Self.workerTasks(
                report: report, verbose: verbose, localNode: nodeID, localAddress: swarm.NodeAddr ?? "")
            var seen = Set<String>()
            for task in tasks where seen.insert(task.serviceName).inserted {
                let serviceNetworks = Set(
                    tasks.filter { $0.serviceName == task.serviceName }.flatMap(\.addresses).map(\.network))
                services.append(
                    SwarmServiceRecord(
                        id: task.serviceID, name: task.serviceName, mode: "unknown", replicas: nil, endpointMode: nil,
                        image: "", publishedPorts: [], mounts: [], capabilitiesAdded: [], capabilitiesDropped: [],
                        networks: serviceNetworks.sorted(), specKnown: false))
            }
            services.sort { $0.name < $1.name }
        }
        tasks.sort { ($0.serviceName, $0.nodeID, $0.id) < ($1.serviceName, $1.nodeID, $1.id) }
        if manager {
            // A manager's node list names every member: `bulkhead merge` expects a report from each.
            node.members = nodes.map {
                ClusterNode.Member(
                    nodeID: $0.id, nodeName: $0.hostname, role: $0.role == "manager" ? .manager : .worker)
            }
        }
        let view = SwarmInventory(
            node: node, nodeAddress: swarm.NodeAddr ?? "", autolock: autolock, nodes: nodes, services: services,
            tasks: tasks, networks: networks, limits: limits, ipsecGCM: Self.kernelOffersGCM())
        report.cluster = node
        report.swarm = view
        report.sources.append(
            "swarm \(manager ? "manager" : "worker") \(hostname) (node \(nodeID), cluster \(node.clusterID))")
        report.containers.append(contentsOf: Self.remoteTaskRecords(view, local: report.containers))
        report.containers.sort { $0.name < $1.name }
        report.summary.containers = report.containers.count
        let findings = SwarmFindings.evaluate(view)
        report.findings.append(contentsOf: findings)
        for finding in findings { report.summary.findingsBySeverity[finding.severity.rawValue, default: 0] += 1 }
        if !problems.isEmpty {
            report.problems.append(contentsOf: problems)
            report.complete = false
        }
    }

    /// Whether `/proc/crypto` (of the kernel Bulkhead runs on: the node's) lists AES-GCM; nil when unreadable.
    static func kernelOffersGCM(path: String = "/proc/crypto") -> Bool? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return text.split(separator: "\n").contains { line in
            line.hasPrefix("name") && (line.hasSuffix(": gcm(aes)") || line.hasSuffix(": rfc4106(gcm(aes))"))
        }
    }

    /// The cluster ID in a node certificate's subject (Swarm issues `O=<cluster ID>, OU=swarm-<role>, CN=<node ID>`).
    public static func clusterID(certificatePath path: String) -> Result<String, SwarmCertificateError> {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            return .failure(SwarmCertificateError(path: path, message: "cannot read the node certificate"))
        }
        let body = text.components(separatedBy: "-----BEGIN CERTIFICATE-----").dropFirst().first?
            .components(separatedBy: "-----END CERTIFICATE-----").first?
            .filter { !$0.isWhitespace }
        guard let body, let der = Data(base64Encoded: body) else {
            return .failure(SwarmCertificateError(path: path, message: "not a PEM certificate"))
        }
        let summary = der.withUnsafeBytes { bytes in try? CertificateParser.parse(der: bytes) }
        guard let subject = summary?.subject else {
            return .failure(SwarmCertificateError(path: path, message: "the certificate does not parse"))
        }
        for part in subject.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0] == "O", !pair[1].isEmpty { return .success(pair[1]) }
        }
        return .failure(SwarmCertificateError(path: path, message: "the subject (\(subject)) names no organisation"))
    }

    // MARK: - Records

    static func record(_ network: SwarmAPI.VerboseNetwork) -> SwarmNetworkRecord {
        let options = network.Options ?? [:]
        let vxlan = (options["com.docker.network.driver.overlay.vxlanid_list"] ?? "").split(separator: ",").compactMap {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        return SwarmNetworkRecord(
            id: network.Id, name: network.Name, driver: network.Driver ?? "unknown",
            subnets: (network.IPAM?.Config ?? []).compactMap(\.Subnet), encrypted: options["encrypted"] != nil,
            attachable: network.Attachable ?? false, ingress: network.Ingress ?? false, vxlanIDs: vxlan,
            peers: (network.Peers ?? []).map { SwarmNetworkPeer(name: $0.Name ?? "", address: $0.IP ?? "") })
    }

    static func record(_ node: SwarmAPI.Node) -> SwarmNodeRecord {
        SwarmNodeRecord(
            id: node.ID, hostname: node.Description?.Hostname ?? node.ID, role: node.Spec?.Role ?? "unknown",
            availability: node.Spec?.Availability ?? "unknown", state: node.Status?.State ?? "unknown",
            address: node.Status?.Addr ?? "", engine: node.Description?.Engine?.EngineVersion ?? "unknown",
            leader: node.ManagerStatus?.Leader ?? false)
    }

    static func record(_ service: SwarmAPI.Service, networkNames: [String: String]) -> SwarmServiceRecord {
        let spec = service.Spec
        let container = spec?.TaskTemplate?.ContainerSpec
        var mode = "unknown"
        var replicas: Int?
        if let modeSpec = spec?.Mode {
            if let replicated = modeSpec.Replicated {
                mode = "replicated"
                replicas = replicated.Replicas
            } else if modeSpec.Global != nil {
                mode = "global"
            } else if modeSpec.ReplicatedJob != nil {
                mode = "replicated-job"
            } else if modeSpec.GlobalJob != nil {
                mode = "global-job"
            }
        }
        let ports = (service.Endpoint?.Ports ?? spec?.EndpointSpec?.Ports ?? []).compactMap {
            port -> SwarmPublishedPort? in
            guard let target = port.TargetPort else { return nil }
            return SwarmPublishedPort(
                targetPort: target, publishedPort: port.PublishedPort, proto: port.Protocol ?? "tcp",
                mode: port.PublishMode ?? "ingress")
        }
        let attachments = spec?.TaskTemplate?.Networks ?? spec?.Networks ?? []
        let networks = attachments.compactMap(\.Target).map { networkNames[$0] ?? $0 }.sorted()
        return SwarmServiceRecord(
            id: service.ID, name: spec?.Name ?? service.ID, mode: mode, replicas: replicas,
            endpointMode: spec?.EndpointSpec?.Mode ?? service.Endpoint?.Spec?.Mode ?? "vip",
            image: container?.Image ?? "", publishedPorts: ports,
            mounts: (container?.Mounts ?? []).map {
                SwarmMount(
                    type: $0.Type ?? "volume", source: $0.Source ?? "", target: $0.Target ?? "",
                    readOnly: $0.ReadOnly ?? false)
            }, capabilitiesAdded: container?.CapabilityAdd ?? [], capabilitiesDropped: container?.CapabilityDrop ?? [],
            networks: networks, specKnown: true)
    }

    static func record(_ task: SwarmAPI.Task, serviceName: String, localNode: String, container: String?)
        -> SwarmTaskRecord
    {
        let node = task.NodeID ?? ""
        var addresses: [SwarmTaskAddress] = []
        for attachment in task.NetworksAttachments ?? [] {
            let network = attachment.Network?.Spec?.Name ?? attachment.Network?.ID ?? "?"
            for address in attachment.Addresses ?? [] {
                addresses.append(
                    SwarmTaskAddress(network: network, address: String(address.split(separator: "/").first ?? "")))
            }
        }
        let slot = task.Slot.map(String.init) ?? node
        return SwarmTaskRecord(
            id: task.ID, name: "\(serviceName).\(slot).\(task.ID)", serviceID: task.ServiceID ?? "",
            serviceName: serviceName, nodeID: node, state: task.Status?.State ?? "unknown",
            desiredState: task.DesiredState ?? "unknown", container: container, addresses: addresses,
            local: node == localNode)
    }

    /// A worker's tasks: its own (from its containers' labels) and the other nodes' (from the overlays' endpoints,
    /// where a task's node is known by the `Host IP` of its endpoint).
    static func workerTasks(
        report: InventoryReport, verbose: [SwarmAPI.VerboseNetwork], localNode: String, localAddress: String
    ) -> [SwarmTaskRecord] {
        var byID: [String: SwarmTaskRecord] = [:]
        for container in report.containers {
            guard let id = container.labels["com.docker.swarm.task.id"] else { continue }
            let addresses = container.networks.compactMap { network in
                network.ipv4.map { SwarmTaskAddress(network: network.name, address: $0) }
            }
            byID[id] = SwarmTaskRecord(
                id: id, name: container.labels["com.docker.swarm.task.name"] ?? container.name,
                serviceID: container.labels["com.docker.swarm.service.id"] ?? "",
                serviceName: container.labels["com.docker.swarm.service.name"] ?? "?", nodeID: localNode,
                state: container.state, desiredState: "unknown", container: container.name, addresses: addresses,
                local: true)
        }
        for network in verbose {
            for (serviceName, service) in network.Services ?? [:] {
                for endpoint in service.Tasks ?? [] {
                    guard let name = endpoint.Name, let ip = endpoint.EndpointIP, !ip.isEmpty else { continue }
                    let parts = name.split(separator: ".").map(String.init)
                    guard let id = parts.last, parts.count >= 3 else { continue }
                    let host = endpoint.Info?["Host IP"] ?? ""
                    let address = SwarmTaskAddress(network: network.Name, address: ip)
                    if var known = byID[id] {
                        if !known.addresses.contains(address) { known.addresses.append(address) }
                        byID[id] = known
                        continue
                    }
                    // A global task is named service.<node ID>.<task ID>; a replica service.<slot>.<task ID>.
                    let middle = parts[parts.count - 2]
                    let node = Int(middle) == nil ? middle : (host.isEmpty ? "unknown" : "node at \(host)")
                    byID[id] = SwarmTaskRecord(
                        id: id, name: name, serviceID: "", serviceName: serviceName, nodeID: node, state: "running",
                        desiredState: "running", container: nil, addresses: [address],
                        local: host == localAddress || node == localNode)
                }
            }
        }
        return Array(byID.values)
    }

    /// The running tasks of other nodes as inventory records: probe destinations with the listening ports of the
    /// same service's local tasks (global services run the same image everywhere) and the service's published
    /// target ports. They have no process, namespace or capabilities here.
    static func remoteTaskRecords(_ view: SwarmInventory, local: [ContainerRecord]) -> [ContainerRecord] {
        var listeningByService: [String: Set<ListeningSocket>] = [:]
        for container in local {
            guard let service = container.labels["com.docker.swarm.service.name"] else { continue }
            listeningByService[service, default: []].formUnion(
                container.listening.filter { !$0.isLoopbackOnly })
        }
        for service in view.services {
            for port in service.publishedPorts {
                listeningByService[service.name, default: []].insert(
                    ListeningSocket(proto: port.proto, address: "0.0.0.0", port: port.targetPort))
            }
        }
        let images = Dictionary(view.services.map { ($0.name, $0.image) }, uniquingKeysWith: { first, _ in first })
        return view.tasks.filter { !$0.local && $0.state == "running" && !$0.addresses.isEmpty }.map { task in
            ContainerRecord(
                name: task.name, id: task.id, image: images[task.serviceName] ?? "", state: "running", pid: nil,
                netns: nil, networkMode: task.addresses.first?.network ?? "default",
                networks: task.addresses.map {
                    ContainerNetwork(name: $0.network, ipv4: $0.address, ipv6: nil, gateway: nil, aliases: [])
                }, publishedPorts: [], capabilities: [], privileged: false, dockerSocketMounted: false,
                listening: (listeningByService[task.serviceName] ?? []).sorted(),
                labels: [
                    SwarmInventory.remoteTaskLabel: task.nodeID, "com.docker.swarm.service.name": task.serviceName,
                    "com.docker.swarm.task.id": task.id, "com.docker.swarm.node.id": task.nodeID,
                ])
        }
    }
}

extension EngineError.Code {
    /// The engine is not an active Swarm node (`inventory --swarm` on a plain engine).
    public static let notInSwarm = EngineError.Code("not-in-swarm")
}

/// A Swarm node certificate that cannot be read for its cluster ID.
public struct SwarmCertificateError: Error, Hashable, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String

    public var description: String { "\(self.path): \(self.message)" }
}
