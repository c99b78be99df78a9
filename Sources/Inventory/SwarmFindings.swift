import BulkheadModel

/// The static findings of a swarm view: overlays carrying service traffic between nodes in clear, ports published
/// through the ingress mesh, manager autolock off, services on the host network, with the Docker socket or added
/// capabilities. (Control-plane ports reachable from tasks are probed: `SwarmControlPlane` in the audit.)
public enum SwarmFindings {
    public static func evaluate(_ view: SwarmInventory) -> [Finding] {
        var findings: [Finding] = []
        func add(_ kind: FindingKind, _ severity: Severity, _ title: String, _ detail: String, _ location: String) {
            findings.append(
                Finding(
                    kind: kind, severity: severity, title: title, detail: detail, location: location, flowCount: 0,
                    flowIDs: []))
        }
        let running = view.tasks.filter { $0.state == "running" }
        for network in view.networks where network.driver == "overlay" && !network.encrypted && !network.ingress {
            // Services with running tasks on this overlay on two or more nodes exchange traffic across the underlay.
            var nodesByService: [String: Set<String>] = [:]
            for task in running where task.addresses.contains(where: { $0.network == network.name }) {
                nodesByService[task.serviceName, default: []].insert(task.nodeID)
            }
            let allNodes = Set(nodesByService.values.flatMap { $0 })
            guard allNodes.count >= 2 else { continue }
            let services = nodesByService.keys.sorted()
            add(
                .swarmCrossNodePlaintextOverlay, .high,
                "Overlay \(network.name) carries service traffic between \(allNodes.count) nodes unencrypted (services \(services.joined(separator: ", ")))",
                "Tasks of \(services.joined(separator: ", ")) run on nodes \(allNodes.map(view.nodeName).sorted().joined(separator: ", ")) "
                    + "and share overlay \(network.name) (VXLAN \(network.vxlanIDs.map(String.init).joined(separator: ","))), created "
                    + "without --opt encrypted: what they exchange crosses the underlay as plaintext VXLAN.",
                network.name)
        }
        for service in view.services {
            for port in service.publishedPorts where port.mode == "ingress" {
                add(
                    .swarmIngressPublished, .medium,
                    "Service \(service.name) publishes \(port.targetPort)/\(port.proto) through the ingress mesh (port \(port.publishedPort.map(String.init) ?? "?") on every node)",
                    "An ingress-mode port is open on every node of the swarm, whether a task runs there or not. "
                        + "Publish it with mode=host on the nodes meant to serve it.", service.name)
            }
            if service.networks.contains("host") {
                add(
                    .swarmServiceHostNetwork, .high, "Service \(service.name) runs on the host network",
                    "Its tasks share each node's network namespace: no network isolation applies to them.",
                    service.name)
            }
            for mount in service.mounts
            where mount.source.hasSuffix("docker.sock") || mount.target.hasSuffix("docker.sock") {
                add(
                    .swarmServiceDockerSocket, .critical,
                    "Service \(service.name) mounts the Docker socket (\(mount.source) → \(mount.target))",
                    "Every task of the service controls its node's engine\(mount.readOnly ? " (read-only does not limit the API)" : "").",
                    service.name)
            }
            if !service.capabilitiesAdded.isEmpty {
                let added = service.capabilitiesAdded.map { $0.uppercased() }
                let network = added.contains { $0.contains("NET_ADMIN") || $0.contains("NET_RAW") || $0 == "ALL" }
                add(
                    .swarmServiceCapabilities, network ? .high : .medium,
                    "Service \(service.name) adds capabilities \(added.joined(separator: ", "))",
                    "Every task of the service gets these capabilities on every node it runs on.", service.name)
            }
        }
        if view.autolock == false {
            add(
                .swarmAutolockOff, .medium, "Swarm autolock is off on manager \(view.node.nodeName)",
                "The managers' Raft keys sit unencrypted on disk. Run docker swarm update --autolock=true.",
                view.node.nodeName)
        }
        return findings.sorted {
            ($0.severity, $1.kind.identifier, $1.title) > ($1.severity, $0.kind.identifier, $0.title)
        }
    }
}
