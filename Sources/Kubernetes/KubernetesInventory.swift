import BulkheadModel

/// A cluster dump in the inventory model the Docker side uses, so that probe, audit and the reports read pods as
/// they read containers.
///
/// - Each pod is a ``ContainerRecord`` named `namespace/pod`, its network mode `host` (hostNetwork) or `pod`, its
///   addresses on the one pod network, its declared container ports as `listening` (declared, not observed: a probe
///   plans from them), `hostPort`s as published ports, and its labels plus `io.kubernetes.pod.namespace` and
///   `io.kubernetes.pod.name` (the labels the kubelet puts on containers).
/// - The pod network is one ``NetworkRecord`` (driver `cni`): Kubernetes pods share one flat network, whatever
///   namespace they are in.
/// - `cluster` is set when the node the inventory describes is known (``ClusterNode``, orchestrator `kubernetes`).
public enum KubernetesInventory {
    /// The name of the pod network in the inventory.
    public static let podNetworkName = "kubernetes-pods"
    /// The name of the service network (cluster IPs) in the inventory.
    public static let serviceNetworkName = "kubernetes-services"

    /// A service as a record of state `service`, named `service <namespace>/<name>`: its cluster IPs on the service
    /// network, its ports as `listening` (virtual: kube-proxy forwards them), its selector as `selector.<key>` labels,
    /// where each port goes as `io.kubernetes.service.targets` (`tcp/80->http`) and the endpoint addresses the
    /// EndpointSlices list as `io.kubernetes.service.endpoints`. Not running, so never a probe source.
    static func record(_ service: KubeService, dump: ClusterDump) -> ContainerRecord {
        var labels: [String: String] = [:]
        for (key, value) in service.selector ?? [:] { labels["selector.\(key)"] = value }
        labels["io.kubernetes.service.targets"] = service.ports.map {
            "\($0.proto.lowercased)/\($0.port)->\($0.targetPort)"
        }.joined(separator: ",")
        let endpoints = dump.endpointSlices.filter {
            $0.namespace == service.namespace && $0.serviceName == service.name
        }.flatMap(\.addresses)
        labels["io.kubernetes.service.endpoints"] = Array(Set(endpoints)).sorted().joined(separator: ",")
        labels["io.kubernetes.service.type"] = service.type
        return ContainerRecord(
            name: "service \(service.key)", id: service.key, image: "", state: "service", pid: nil, netns: nil,
            networkMode: "service",
            networks: service.clusterIPs.isEmpty
                ? []
                : [
                    ContainerNetwork(
                        name: Self.serviceNetworkName, ipv4: service.clusterIPs.first { !$0.contains(":") },
                        ipv6: service.clusterIPs.first { $0.contains(":") }, gateway: nil, aliases: [])
                ],
            publishedPorts: [], capabilities: [], privileged: false, dockerSocketMounted: false,
            listening: service.ports.filter { $0.proto != .sctp }.map {
                ListeningSocket(proto: $0.proto.lowercased, address: "0.0.0.0", port: $0.port)
            }.sorted(), labels: labels)
    }

    /// The cluster's identity when none is given: the `kube-system` namespace's UID (stable for a cluster's life,
    /// what tools use as a cluster ID), else nil.
    public static func clusterID(of dump: ClusterDump) -> String? {
        dump.namespaces.first { $0.name == "kube-system" }?.uid
    }

    /// The cluster and node a node's report is for: `clusterID`, else the kube-system namespace's UID, else
    /// `unknown`; a node sees its own pods only. The members are the nodes the dump's pods run on (the dump is the
    /// cluster's view): `bulkhead merge` then expects a report from each, and one that sent none makes the fleet
    /// report incomplete.
    public static func clusterNode(_ dump: ClusterDump, node: String, clusterID: String?) -> ClusterNode {
        let nodes = Set(dump.pods.compactMap(\.nodeName)).union([node]).sorted()
        return ClusterNode(
            orchestrator: .kubernetes, clusterID: clusterID ?? Self.clusterID(of: dump) ?? "unknown", nodeID: node,
            nodeName: node, role: .node, fullView: false,
            members: nodes.map { ClusterNode.Member(nodeID: $0, nodeName: $0, role: .node) })
    }

    /// Refuses a node name no pod of the dump runs on: a mistyped `--node` would otherwise give a complete report of
    /// no pods, which `merge` counts as a clean node. The message lists the nodes the dump does hold.
    public static func checkNode(_ node: String, in dump: ClusterDump) throws(KubernetesError) {
        let nodes = Set(dump.pods.compactMap(\.nodeName))
        guard !nodes.contains(node) else { return }
        let known =
            nodes.isEmpty ? "no pod of the dump names its node" : "its nodes: \(nodes.sorted().joined(separator: ", "))"
        throw KubernetesError(
            .badObject, path: dump.sources.joined(separator: ", "),
            message: "no pod of the dump runs on node '\(node)' (\(known))")
    }

    /// The inventory of `dump`; `node` names the node it was read on (its pods only are then listed, and the report
    /// says the view is the node's own).
    public static func report(_ dump: ClusterDump, node: String? = nil, clusterID: String? = nil) -> InventoryReport {
        let pods = dump.pods.filter { node == nil || $0.nodeName == node }.sorted { $0.key < $1.key }
        let containers = pods.map(Self.record)
        let services = dump.services.sorted { $0.key < $1.key }.map { Self.record($0, dump: dump) }
        let network = NetworkRecord(
            name: Self.podNetworkName, id: Self.podNetworkName, driver: "cni", scope: "global", subnets: [],
            gateways: [], internal: false, icc: true, encrypted: nil, attachable: false, isDefaultBridge: false,
            bridge: nil, containers: containers.filter { $0.networkMode != "host" }.map(\.name), labels: [:])
        let serviceNetwork = NetworkRecord(
            name: Self.serviceNetworkName, id: Self.serviceNetworkName, driver: "kube-proxy", scope: "global",
            subnets: [], gateways: [], internal: false, icc: true, encrypted: nil, attachable: false,
            isDefaultBridge: false, bridge: nil, containers: services.map(\.name), labels: [:])
        var summary = InventorySummary()
        summary.networks = 2
        summary.containers = containers.count + services.count
        let cluster = node.map { Self.clusterNode(dump, node: $0, clusterID: clusterID) }
        let findings = Self.findings(containers)
        summary.findingsBySeverity = Dictionary(grouping: findings, by: \.severity.rawValue).mapValues(\.count)
        return InventoryReport(
            sources: dump.sources.map { "kubernetes dump \($0)" }, networks: [network, serviceNetwork],
            containers: containers + services,
            namespaces: [], findings: findings, complete: true, problems: dump.notes, summary: summary,
            cluster: cluster)
    }

    /// The static findings a dump shows of pods: hostNetwork, privileged containers, the runtime's socket mounted.
    static func findings(_ containers: [ContainerRecord]) -> [Finding] {
        let checks: [(KeyPath<ContainerRecord, Bool>, FindingKind, String, String)] = [
            (
                \.usesHostNetwork, .hostNetworkMode, "uses the node's network (hostNetwork)",
                "NetworkPolicies do not apply to it, and it sees every interface of the node."
            ),
            (
                \.privileged, .privilegedContainer, "runs a privileged container",
                "A privileged container can change the node's network configuration."
            ),
            (
                \.dockerSocketMounted, .dockerSocketMounted, "mounts the container runtime's socket",
                "Whoever controls the pod controls the runtime, and so the node."
            ),
        ]
        return containers.flatMap { container in
            checks.filter { container[keyPath: $0.0] }.map {
                Finding(kind: $0.1, title: "\(container.name) \($0.2)", detail: $0.3, location: container.name)
            }
        }
    }

    static func record(_ pod: KubePod) -> ContainerRecord {
        let v4 = pod.ips.first { !$0.contains(":") }
        let v6 = pod.ips.first { $0.contains(":") }
        var labels = pod.labels
        labels["io.kubernetes.pod.namespace"] = pod.namespace
        labels["io.kubernetes.pod.name"] = pod.name
        let capabilities = Set(pod.containers.flatMap(\.addedCapabilities).map { $0.uppercased() })
            .intersection(["NET_ADMIN", "NET_RAW", "SYS_ADMIN", "NET_BIND_SERVICE"]).sorted()
        return ContainerRecord(
            name: pod.key, id: pod.uid ?? pod.key, image: pod.containers.first?.image ?? "",
            state: pod.phase.lowercased(), pid: nil, netns: nil, networkMode: pod.hostNetwork ? "host" : "pod",
            networks: pod.hostNetwork
                ? [] : [ContainerNetwork(name: Self.podNetworkName, ipv4: v4, ipv6: v6, gateway: nil, aliases: [])],
            publishedPorts: pod.ports.compactMap { port in
                port.hostPort.map {
                    PublishedPort(
                        containerPort: port.containerPort, proto: port.proto.lowercased, hostIP: "0.0.0.0", hostPort: $0
                    )
                }
            },
            capabilities: capabilities, privileged: pod.containers.contains(where: \.privileged),
            dockerSocketMounted: pod.hostPaths.contains {
                $0.hasSuffix("docker.sock") || $0.hasSuffix("containerd.sock")
            },
            listening: Array(
                Set(
                    pod.ports.filter { $0.proto != .sctp }.map {
                        ListeningSocket(proto: $0.proto.lowercased, address: "0.0.0.0", port: $0.containerPort)
                    })
            ).sorted(),
            labels: labels)
    }
}

extension ContainerRecord {
    /// Whether the pod shares its node's network namespace (`hostNetwork`).
    fileprivate var usesHostNetwork: Bool { self.networkMode == "host" }
}
