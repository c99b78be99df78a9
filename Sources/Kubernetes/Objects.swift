import BulkheadModel

/// A transport a NetworkPolicy port names: `TCP` (the default), `UDP` or `SCTP`.
public enum KubeProtocol: String, Codable, Hashable, Sendable, CaseIterable, Comparable {
    case tcp = "TCP"
    case udp = "UDP"
    case sctp = "SCTP"

    /// The probe's protocol, for the two a probe can send (SCTP has none).
    public var probeProtocol: ProbeProtocol? {
        switch self {
        case .tcp: .tcp
        case .udp: .udp
        case .sctp: nil
        }
    }

    /// `tcp`, `udp`, `sctp`.
    public var lowercased: String { self.rawValue.lowercased() }

    public static func < (lhs: KubeProtocol, rhs: KubeProtocol) -> Bool {
        Self.allCases.firstIndex(of: lhs) ?? 0 < Self.allCases.firstIndex(of: rhs) ?? 0
    }
}

/// A port and protocol: one column of the intended matrix (`tcp/80`).
public struct KubePort: Codable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public var port: Int
    public var proto: KubeProtocol

    public init(port: Int, proto: KubeProtocol) {
        self.port = port
        self.proto = proto
    }

    public var description: String { "\(self.proto.lowercased)/\(self.port)" }

    /// Parses `tcp/80`, `udp/53`, `sctp/9000` or a bare `80` (TCP).
    public init?(_ text: String) {
        let parts = text.lowercased().split(separator: "/", maxSplits: 1)
        let protoText = parts.count == 2 ? String(parts[0]) : "tcp"
        guard let proto = KubeProtocol(rawValue: protoText.uppercased()), let last = parts.last,
            let port = Int(last), (1...65535).contains(port)
        else { return nil }
        self.init(port: port, proto: proto)
    }

    public static func < (lhs: KubePort, rhs: KubePort) -> Bool { (lhs.proto, lhs.port) < (rhs.proto, rhs.port) }
}

/// A namespace and its labels (the API server adds `kubernetes.io/metadata.name` to every namespace).
public struct KubeNamespace: Codable, Hashable, Sendable {
    public var name: String
    public var uid: String?
    public var labels: [String: String]
    /// Not in the dump: assumed from the pods and policies that name it (only its name label is known).
    public var assumed: Bool

    public init(name: String, uid: String? = nil, labels: [String: String], assumed: Bool = false) {
        self.name = name
        self.uid = uid
        self.labels = labels
        self.assumed = assumed
    }

    /// The labels a selector sees: the immutable name label is there even when a manifest left it out, as the API
    /// server sets it on every namespace since Kubernetes 1.21.
    public var effectiveLabels: [String: String] {
        var labels = self.labels
        labels["kubernetes.io/metadata.name"] = self.name
        return labels
    }
}

/// A port a container declares (`containerPorts`), by which a NetworkPolicy may name it.
public struct KubeContainerPort: Codable, Hashable, Sendable {
    public var name: String?
    public var containerPort: Int
    public var proto: KubeProtocol
    /// `hostPort`, when the port is also bound on the node.
    public var hostPort: Int?

    public init(name: String?, containerPort: Int, proto: KubeProtocol, hostPort: Int? = nil) {
        self.name = name
        self.containerPort = containerPort
        self.proto = proto
        self.hostPort = hostPort
    }
}

/// One container of a pod, what matters to the network.
public struct KubeContainer: Codable, Hashable, Sendable {
    public var name: String
    public var image: String
    public var ports: [KubeContainerPort]
    public var privileged: Bool
    /// Capabilities added (`securityContext.capabilities.add`).
    public var addedCapabilities: [String]

    public init(name: String, image: String, ports: [KubeContainerPort], privileged: Bool, addedCapabilities: [String])
    {
        self.name = name
        self.image = image
        self.ports = ports
        self.privileged = privileged
        self.addedCapabilities = addedCapabilities
    }
}

/// A pod: where it runs, its addresses and labels, and the ports its containers declare.
public struct KubePod: Codable, Hashable, Sendable {
    public var namespace: String
    public var name: String
    public var uid: String?
    public var labels: [String: String]
    /// `status.podIPs` (or `status.podIP`), in order; empty before the pod has an address.
    public var ips: [String]
    @ExplicitNull public var nodeName: String?
    /// `status.hostIP`.
    @ExplicitNull public var hostIP: String?
    public var hostNetwork: Bool
    /// `status.phase` (`Running`, `Pending`…).
    public var phase: String
    /// `spec.dnsPolicy`: `ClusterFirst` (the default) resolves names through the cluster DNS; `None` does not.
    public var dnsPolicy: String
    public var containers: [KubeContainer]
    /// hostPath volumes' paths (a mounted `docker.sock` or `containerd.sock`).
    public var hostPaths: [String]

    public init(
        namespace: String, name: String, uid: String? = nil, labels: [String: String], ips: [String],
        nodeName: String? = nil, hostIP: String? = nil, hostNetwork: Bool = false, phase: String = "Running",
        dnsPolicy: String = "ClusterFirst", containers: [KubeContainer], hostPaths: [String] = []
    ) {
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.labels = labels
        self.ips = ips
        self.nodeName = nodeName
        self.hostIP = hostIP
        self.hostNetwork = hostNetwork
        self.phase = phase
        self.dnsPolicy = dnsPolicy
        self.containers = containers
        self.hostPaths = hostPaths
    }

    /// `namespace/name`, the pod's name in every report.
    public var key: String { "\(self.namespace)/\(self.name)" }

    /// Whether the pod ran to its end (`Succeeded`, `Failed`): its sandbox and address are gone.
    public var hasFinished: Bool { self.phase == "Succeeded" || self.phase == "Failed" }

    /// Every declared container port.
    public var ports: [KubeContainerPort] { self.containers.flatMap(\.ports) }

    /// The port number a named port resolves to on this pod for `proto`, if a container declares it.
    public func resolve(namedPort: String, proto: KubeProtocol) -> Int? {
        self.ports.first { $0.name == namedPort && $0.proto == proto }?.containerPort
    }

    enum CodingKeys: String, CodingKey {
        case namespace, name, uid, labels, ips, nodeName, hostIP, hostNetwork, phase, dnsPolicy, containers, hostPaths
    }
}

/// A service port: what clients connect to, and the pods' port it forwards to (a number or a container port name).
public struct KubeServicePort: Codable, Hashable, Sendable {
    public var name: String?
    public var port: Int
    public var proto: KubeProtocol
    /// The target: a number, or the name of a container port (`targetPort: http`).
    public var targetPort: PortReference

    public init(name: String?, port: Int, proto: KubeProtocol, targetPort: PortReference) {
        self.name = name
        self.port = port
        self.proto = proto
        self.targetPort = targetPort
    }
}

/// A port given as a number or as a container port name (the API's IntOrString).
public enum PortReference: Codable, Hashable, Sendable, CustomStringConvertible {
    case number(Int)
    case name(String)

    public var description: String {
        switch self {
        case .number(let number): String(number)
        case .name(let name): name
        }
    }
}

/// A service: its selector, addresses and ports.
public struct KubeService: Codable, Hashable, Sendable {
    public var namespace: String
    public var name: String
    /// nil for a service without selector (its endpoints are managed by hand).
    public var selector: [String: String]?
    /// `ClusterIP`, `NodePort`, `LoadBalancer`, `ExternalName`.
    public var type: String
    public var clusterIPs: [String]
    public var ports: [KubeServicePort]

    public init(
        namespace: String, name: String, selector: [String: String]?, type: String, clusterIPs: [String],
        ports: [KubeServicePort]
    ) {
        self.namespace = namespace
        self.name = name
        self.selector = selector
        self.type = type
        self.clusterIPs = clusterIPs
        self.ports = ports
    }

    public var key: String { "\(self.namespace)/\(self.name)" }
}

/// An EndpointSlice: the addresses behind a service, as the control plane resolved them.
public struct KubeEndpointSlice: Codable, Hashable, Sendable {
    public var namespace: String
    public var name: String
    /// The owning service (`kubernetes.io/service-name`).
    public var serviceName: String?
    public var addresses: [String]
    public var ports: [KubeServicePort]

    public init(namespace: String, name: String, serviceName: String?, addresses: [String], ports: [KubeServicePort]) {
        self.namespace = namespace
        self.name = name
        self.serviceName = serviceName
        self.addresses = addresses
        self.ports = ports
    }
}

/// A label selector: every `matchLabels` pair and every expression must hold. An empty selector selects everything.
public struct LabelSelector: Codable, Hashable, Sendable {
    /// A `matchExpressions` requirement.
    public struct Requirement: Codable, Hashable, Sendable {
        public enum Operator: String, Codable, Hashable, Sendable {
            case `in` = "In"
            case notIn = "NotIn"
            case exists = "Exists"
            case doesNotExist = "DoesNotExist"
        }

        public var key: String
        public var `operator`: Operator
        public var values: [String]

        public init(key: String, operator: Operator, values: [String]) {
            self.key = key
            self.operator = `operator`
            self.values = values
        }

        /// Whether labels satisfy the requirement. `NotIn` holds for a label that is absent (as the API defines it).
        public func matches(_ labels: [String: String]) -> Bool {
            switch self.operator {
            case .in: labels[self.key].map { self.values.contains($0) } ?? false
            case .notIn: labels[self.key].map { !self.values.contains($0) } ?? true
            case .exists: labels[self.key] != nil
            case .doesNotExist: labels[self.key] == nil
            }
        }
    }

    public var matchLabels: [String: String]
    public var matchExpressions: [Requirement]

    public init(matchLabels: [String: String] = [:], matchExpressions: [Requirement] = []) {
        self.matchLabels = matchLabels
        self.matchExpressions = matchExpressions
    }

    /// Selects everything.
    public var isEmpty: Bool { self.matchLabels.isEmpty && self.matchExpressions.isEmpty }

    public func matches(_ labels: [String: String]) -> Bool {
        self.matchLabels.allSatisfy { labels[$0.key] == $0.value }
            && self.matchExpressions.allSatisfy { $0.matches(labels) }
    }
}

/// An `ipBlock`: a CIDR, minus its exceptions.
public struct IPBlock: Codable, Hashable, Sendable {
    public var cidr: String
    public var except: [String]

    public init(cidr: String, except: [String] = []) {
        self.cidr = cidr
        self.except = except
    }

    /// Whether `address` lies in the block and in none of its exceptions (false for an unparsable CIDR or address).
    public func contains(_ address: String) -> Bool {
        guard let ip = IPAddress(address), CIDR.contains(self.cidr, ip) else { return false }
        return !self.except.contains { CIDR.contains($0, ip) }
    }
}

/// One peer of a rule (`from` / `to` entry): pods by selector (in the policy's namespace, or in the namespaces a
/// namespace selector picks; both in one peer must hold together), or an address block.
public struct PolicyPeer: Codable, Hashable, Sendable {
    public var podSelector: LabelSelector?
    public var namespaceSelector: LabelSelector?
    public var ipBlock: IPBlock?

    public init(podSelector: LabelSelector? = nil, namespaceSelector: LabelSelector? = nil, ipBlock: IPBlock? = nil) {
        self.podSelector = podSelector
        self.namespaceSelector = namespaceSelector
        self.ipBlock = ipBlock
    }
}

/// One `ports` entry of a rule: a protocol (default TCP), and a port by number (with `endPort`, a range) or by
/// name; no port means every port of the protocol.
public struct PolicyPort: Codable, Hashable, Sendable {
    public var proto: KubeProtocol
    public var port: PortReference?
    public var endPort: Int?

    public init(proto: KubeProtocol = .tcp, port: PortReference? = nil, endPort: Int? = nil) {
        self.proto = proto
        self.port = port
        self.endPort = endPort
    }
}

/// One ingress or egress rule: traffic must match a peer (any; no peers means every peer) and a port (any; no ports
/// means every port).
public struct PolicyRule: Codable, Hashable, Sendable {
    public var peers: [PolicyPeer]
    public var ports: [PolicyPort]

    public init(peers: [PolicyPeer] = [], ports: [PolicyPort] = []) {
        self.peers = peers
        self.ports = ports
    }
}

/// A networking.k8s.io/v1 NetworkPolicy.
public struct NetworkPolicy: Codable, Hashable, Sendable {
    public enum PolicyType: String, Codable, Hashable, Sendable {
        case ingress = "Ingress"
        case egress = "Egress"
    }

    public var namespace: String
    public var name: String
    public var podSelector: LabelSelector
    /// The types in effect: as written, or the API's default when absent (Ingress always; Egress when the policy
    /// has egress rules).
    public var policyTypes: [PolicyType]
    public var ingress: [PolicyRule]
    public var egress: [PolicyRule]

    public init(
        namespace: String, name: String, podSelector: LabelSelector = LabelSelector(), policyTypes: [PolicyType]? = nil,
        ingress: [PolicyRule] = [], egress: [PolicyRule] = []
    ) {
        self.namespace = namespace
        self.name = name
        self.podSelector = podSelector
        self.policyTypes = policyTypes ?? Self.defaultTypes(egress: egress)
        self.ingress = ingress
        self.egress = egress
    }

    /// The API server's default for an absent `policyTypes`: Ingress, and Egress when there are egress rules.
    public static func defaultTypes(egress: [PolicyRule]) -> [PolicyType] {
        egress.isEmpty ? [.ingress] : [.ingress, .egress]
    }

    public var key: String { "\(self.namespace)/\(self.name)" }
    public var affectsIngress: Bool { self.policyTypes.contains(.ingress) }
    public var affectsEgress: Bool { self.policyTypes.contains(.egress) }
}
