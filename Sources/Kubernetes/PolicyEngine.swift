import BulkheadModel

/// networking.k8s.io/v1 NetworkPolicy semantics, evaluated for one connection from a pod to a pod's address and
/// port.
///
/// A connection is allowed when both ends allow it:
/// - **egress** of the source: not isolated (no policy with `Egress` in its types selects it), or some egress rule
///   of a policy selecting it matches the destination and the port;
/// - **ingress** of the destination: not isolated, or some ingress rule of a policy selecting it matches the source
///   and the port.
///
/// The union of every policy selecting a pod applies; policies only ever add allowed traffic. The rest, as the API
/// reference and the Kubernetes documentation define it:
/// - `policyTypes` absent or empty: Ingress, plus Egress when the policy has egress rules (``NetworkPolicy/defaultTypes``).
/// - A rule with no peers matches every peer; with no ports, every port and protocol. An isolated pod with no
///   rules (`ingress: []`) accepts nothing: the default-deny pattern.
/// - A peer with `podSelector` alone selects pods of the policy's own namespace; with `namespaceSelector` alone,
///   every pod of the selected namespaces; with both (one peer), pods matching both; two peers are ORed.
/// - `ipBlock` matches by address (the source's for ingress, the destination address for egress), minus `except`.
/// - A port by name resolves against the destination pod's container ports of that protocol; `endPort` makes a
///   range; the protocol defaults to TCP.
/// - A pod cannot block access to itself; hostNetwork pods are not isolated (policies do not apply to the node's
///   namespace); traffic from the node a pod runs on is always allowed. A hostNetwork source on another node is
///   seen from its node's address: only `ipBlock` peers can match it (pod and namespace selectors do not select
///   node traffic; implementations differ, and the stricter reading is the one a breach is measured against).
public struct PolicyEngine: Sendable {
    public let dump: ClusterDump
    private let namespaceLabels: [String: [String: String]]
    /// The policies selecting each pod of the dump, by pod key: (ingress, egress). Worked out once: a matrix asks
    /// for them pods² times.
    private let selecting: [String: Selection]

    private struct Selection {
        /// What selection depends on, to tell a pod of the dump from another pod of the same name.
        var labels: [String: String]
        var hostNetwork: Bool
        var ingress: [NetworkPolicy]
        var egress: [NetworkPolicy]
    }

    public init(_ dump: ClusterDump) {
        self.dump = dump
        self.namespaceLabels = Dictionary(
            dump.namespaces.map { ($0.name, $0.effectiveLabels) }, uniquingKeysWith: { _, last in last })
        var selecting: [String: Selection] = [:]
        for pod in dump.pods {
            selecting[pod.key] = Selection(
                labels: pod.labels, hostNetwork: pod.hostNetwork,
                ingress: Self.policies(in: dump, selecting: pod, ingress: true),
                egress: Self.policies(in: dump, selecting: pod, ingress: false))
        }
        self.selecting = selecting
    }

    /// One side's reason.
    public enum Side: Hashable, Sendable, Codable, CustomStringConvertible {
        /// No policy isolates this side of the pod.
        case notIsolated
        /// Allowed by these rules (`x/allow-b ingress[0]`).
        case allowedBy([String])
        /// Isolated by these policies, and no rule of theirs matches.
        case denied(isolatedBy: [String])
        /// Not subject to policy: a pod to itself, a hostNetwork pod, traffic from the pod's own node.
        case exempt(String)

        public var allows: Bool {
            if case .denied = self { return false }
            return true
        }

        public var description: String {
            switch self {
            case .notIsolated: "not isolated"
            case .allowedBy(let rules): "allowed by " + rules.joined(separator: ", ")
            case .denied(let policies): "isolated by " + policies.joined(separator: ", ") + ", no rule allows"
            case .exempt(let why): why
            }
        }
    }

    /// The verdict on one connection: both sides, and whether they let it through.
    public struct Decision: Hashable, Sendable {
        public var egress: Side
        public var ingress: Side
        public var allowed: Bool { self.egress.allows && self.ingress.allows }

        /// `egress: …; ingress: …`.
        public var explanation: String { "egress: \(self.egress); ingress: \(self.ingress)" }
    }

    /// The policies that select `pod`, for one direction.
    public func policies(selecting pod: KubePod, ingress: Bool) -> [NetworkPolicy] {
        if let known = self.selecting[pod.key], known.labels == pod.labels, known.hostNetwork == pod.hostNetwork {
            return ingress ? known.ingress : known.egress
        }
        return Self.policies(in: self.dump, selecting: pod, ingress: ingress)
    }

    static func policies(in dump: ClusterDump, selecting pod: KubePod, ingress: Bool) -> [NetworkPolicy] {
        Self.policyNumbers(in: dump, selecting: pod, ingress: ingress).map { dump.policies[$0] }
    }

    /// ``policies(in:selecting:ingress:)`` as places in `dump.policies` (for ``IntentEvaluator``'s tables).
    static func policyNumbers(in dump: ClusterDump, selecting pod: KubePod, ingress: Bool) -> [Int] {
        guard !pod.hostNetwork else { return [] }
        return dump.policies.indices.filter { number in
            let policy = dump.policies[number]
            return policy.namespace == pod.namespace && (ingress ? policy.affectsIngress : policy.affectsEgress)
                && policy.podSelector.matches(pod.labels)
        }
    }

    /// Whether a connection from `source` to `destination`'s `address` on `port` is allowed.
    public func decide(from source: KubePod, to destination: KubePod, address: String, port: KubePort) -> Decision {
        if source.key == destination.key {
            let exempt = Side.exempt("a pod cannot block access to itself")
            return Decision(egress: exempt, ingress: exempt)
        }
        let sourceAddress = Self.address(of: source, sameFamilyAs: address)
        let egress: Side
        if source.hostNetwork {
            egress = .exempt("hostNetwork source: egress not isolated")
        } else {
            egress = self.side(
                policies: self.policies(selecting: source, ingress: false), ingress: false, peer: destination,
                peerAddress: address, destination: destination, port: port)
        }
        let ingress: Side
        if destination.hostNetwork {
            ingress = .exempt("hostNetwork destination: not isolated")
        } else if source.hostNetwork, let node = source.nodeName, node == destination.nodeName {
            ingress = .exempt("from the pod's own node: always allowed")
        } else {
            ingress = self.side(
                policies: self.policies(selecting: destination, ingress: true), ingress: true, peer: source,
                peerAddress: sourceAddress, destination: destination, port: port)
        }
        return Decision(egress: egress, ingress: ingress)
    }

    private func side(
        policies: [NetworkPolicy], ingress: Bool, peer: KubePod, peerAddress: String?, destination: KubePod,
        port: KubePort
    ) -> Side {
        guard !policies.isEmpty else { return .notIsolated }
        var rules: [String] = []
        for policy in policies {
            let list = ingress ? policy.ingress : policy.egress
            for (index, rule) in list.enumerated()
            where self.matches(rule, policy: policy, peer: peer, peerAddress: peerAddress)
                && Self.matches(rule.ports, destination: destination, port: port)
            {
                rules.append("\(policy.key) \(ingress ? "ingress" : "egress")[\(index)]")
            }
        }
        return rules.isEmpty ? .denied(isolatedBy: policies.map(\.key)) : .allowedBy(rules)
    }

    private func matches(_ rule: PolicyRule, policy: NetworkPolicy, peer: KubePod, peerAddress: String?) -> Bool {
        rule.peers.isEmpty
            || rule.peers.contains {
                self.matches($0, policyNamespace: policy.namespace, pod: peer, address: peerAddress)
            }
    }

    /// Whether `peer` selects `pod` (seen at `address`).
    public func matches(_ peer: PolicyPeer, policyNamespace: String, pod: KubePod, address: String?) -> Bool {
        if let block = peer.ipBlock {
            guard let address else { return false }
            return block.contains(address)
        }
        // Selectors pick pods by identity; a hostNetwork pod's traffic carries its node's address, not a pod's.
        guard !pod.hostNetwork else { return false }
        if let namespaces = peer.namespaceSelector {
            guard
                namespaces.matches(
                    self.namespaceLabels[pod.namespace] ?? ["kubernetes.io/metadata.name": pod.namespace])
            else { return false }
        } else if pod.namespace != policyNamespace {
            return false
        }
        return peer.podSelector?.matches(pod.labels) ?? true
    }

    /// Whether a rule's ports admit `port` on `destination` (no ports: every port).
    public static func matches(_ ports: [PolicyPort], destination: KubePod, port: KubePort) -> Bool {
        ports.isEmpty || ports.contains { Self.matches($0, destination: destination, port: port) }
    }

    static func matches(_ entry: PolicyPort, destination: KubePod, port: KubePort) -> Bool {
        guard entry.proto == port.proto else { return false }
        switch entry.port {
        case nil: return true
        case .number(let start): return (start...(entry.endPort ?? start)).contains(port.port)
        case .name(let name): return destination.resolve(namedPort: name, proto: port.proto) == port.port
        }
    }

    /// The pod's address of the same family as `address` (IPv4 or IPv6).
    static func address(of pod: KubePod, sameFamilyAs address: String) -> String? {
        let six = address.contains(":")
        return pod.ips.first { $0.contains(":") == six }
    }
}
