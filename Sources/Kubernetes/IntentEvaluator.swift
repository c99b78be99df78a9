import BulkheadModel

/// The intent matrix (``IntentMatrix``) evaluated one cell at a time, with nothing kept per cell: what
/// ``PolicyEngine/decide(from:to:address:port:)`` decides, worked out from tables built once.
///
/// A 2,000-pod cluster is millions of cells. Deciding each one from scratch looked up the pods' policies by name,
/// matched every peer's selectors against label dictionaries and parsed every ipBlock's CIDR again, and its reason
/// was a new string; keeping them all took gigabytes. Here the policies selecting each pod, each rule's peer matches
/// (per pod for selectors, per pod address for ipBlocks) and each rule's port matches (per destination and port)
/// are computed once, so a cell is a few table reads, and its reason is told in pieces (``Side``, rule and policy
/// numbers) for a writer to spell from names it has prepared once. A test holds every cell equal to
/// ``PolicyEngine/decide(from:to:address:port:)``, reason included.
public struct IntentEvaluator: Sendable {
    /// The live pods (finished ones send and receive nothing), sorted by key: the sources, in order.
    public let pods: [KubePod]
    /// Each pod's key as a number: pods sharing a key (a dump may repeat one) share it, as the table, which names
    /// cells by key, merges them.
    public let keyIDs: [Int]
    /// The ports each pod is a destination on (none for a pod without an address).
    public let ports: [[KubePort]]
    /// Pods left out, and why: what ``IntentMatrix/problems`` says.
    public let problems: [String]
    /// The policies of the dump, by number: their keys (`ns/name`).
    public let policyKeys: [String]
    /// Every rule, by number: `ns/name ingress[0]`.
    public let ruleLabels: [String]

    /// Per pod: the policies isolating its egress, and its ingress (numbers, in the dump's order).
    private let egressPolicies: [[Int]]
    private let ingressPolicies: [[Int]]
    /// Per policy: its egress rules, and its ingress rules (numbers).
    private let egressRules: [[Int]]
    private let ingressRules: [[Int]]
    /// Per rule: whether it has no peers (matches every peer).
    private let everyPeer: [Bool]
    /// Per rule, per pod: whether a selector peer of it selects the pod.
    private let selects: [[Bool]]
    /// Per rule, per address slot (``slotStart`` + the address's index): whether an ipBlock peer contains it. Empty
    /// for a rule without ipBlock peers.
    private let blockContains: [[Bool]]
    /// Per rule: its ports.
    private let rulePorts: [[PolicyPort]]
    /// Per pod: where its addresses start among the slots.
    private let slotStart: [Int]
    /// Per pod: the index of its first IPv4 and first IPv6 address, when it has one.
    private let firstIPv4: [Int?]
    private let firstIPv6: [Int?]
    /// Per pod: whether each of its addresses is IPv6.
    private let isIPv6: [[Bool]]

    /// Why a side of a connection is not subject to policy (``PolicyEngine/Side/exempt(_:)``'s texts).
    public enum Exemption: Int, Sendable, CaseIterable {
        case itself, hostNetworkSource, hostNetworkDestination, ownNode

        public var text: String {
            switch self {
            case .itself: "a pod cannot block access to itself"
            case .hostNetworkSource: "hostNetwork source: egress not isolated"
            case .hostNetworkDestination: "hostNetwork destination: not isolated"
            case .ownNode: "from the pod's own node: always allowed"
            }
        }
    }

    /// One side's verdict, the rules or policies it names left in the ``Scratch``.
    public enum Side: Equatable, Sendable {
        case notIsolated
        /// Allowed by the rules in the scratch's list for this side.
        case allowedBy
        /// Isolated by the policies ``IntentEvaluator/isolating(_:)`` lists for this side's pod, no rule matching.
        case denied
        case exempt(Exemption)

        public var allows: Bool { self != .denied }
    }

    /// The verdict on the last cell evaluated, in lists reused from cell to cell (no allocation once grown).
    public struct Scratch: Sendable {
        public var egress: Side = .notIsolated
        public var ingress: Side = .notIsolated
        /// The rules allowing each side (``IntentEvaluator/ruleLabels`` numbers), when it is ``Side/allowedBy``.
        public var egressRules: [Int] = []
        public var ingressRules: [Int] = []
        /// The pods whose policies a ``Side/denied`` side names: the source for egress, the destination for ingress.
        public var source = 0
        public var destination = 0

        public init() {}

        public var allowed: Bool { self.egress.allows && self.ingress.allows }
    }

    public init(engine: PolicyEngine, ports: IntentMatrix.Ports = .declared) {
        let dump = engine.dump
        // A finished pod (Succeeded, Failed) sends and receives nothing, and its address may already be a live
        // pod's: it is neither source nor destination.
        let pods = dump.pods.filter { !$0.hasFinished }.sorted { $0.key < $1.key }
        self.pods = pods
        var ids: [String: Int] = [:]
        self.keyIDs = pods.map { pod in
            if let id = ids[pod.key] { return id }
            ids[pod.key] = ids.count
            return ids.count - 1
        }
        var problems: [String] = []
        let finished = dump.pods.filter(\.hasFinished).map(\.key).sorted()
        if !finished.isEmpty {
            problems.append(
                "\(finished.count) finished pod(s) left out (phase Succeeded or Failed): "
                    + finished.prefix(10).joined(separator: ", ")
                    + (finished.count > 10 ? " and \(finished.count - 10) more" : ""))
        }
        for pod in pods where pod.ips.isEmpty {
            problems.append("\(pod.key) has no address (phase \(pod.phase)): not a destination")
        }
        self.problems = problems
        self.ports = pods.map { pod in
            guard !pod.ips.isEmpty else { return [] }
            switch ports {
            case .declared:
                return Array(Set(pod.ports.map { KubePort(port: $0.containerPort, proto: $0.proto) })).sorted()
            case .list(let list): return list
            }
        }

        // Policies and rules by number.
        let policies = dump.policies
        self.policyKeys = policies.map(\.key)
        var labels: [String] = []
        var egressRules: [[Int]] = []
        var ingressRules: [[Int]] = []
        var everyPeer: [Bool] = []
        var rulePorts: [[PolicyPort]] = []
        var rulePeers: [(policy: NetworkPolicy, peers: [PolicyPeer])] = []
        for policy in policies {
            for (direction, rules) in [("ingress", policy.ingress), ("egress", policy.egress)] {
                var numbers: [Int] = []
                for (index, rule) in rules.enumerated() {
                    numbers.append(labels.count)
                    labels.append("\(policy.key) \(direction)[\(index)]")
                    everyPeer.append(rule.peers.isEmpty)
                    rulePorts.append(rule.ports)
                    rulePeers.append((policy, rule.peers))
                }
                if direction == "ingress" { ingressRules.append(numbers) } else { egressRules.append(numbers) }
            }
        }
        self.ruleLabels = labels
        self.egressRules = egressRules
        self.ingressRules = ingressRules
        self.everyPeer = everyPeer
        self.rulePorts = rulePorts

        // Which policies select each pod, by number, as the engine lists them (the dump's order).
        self.egressPolicies = pods.map { PolicyEngine.policyNumbers(in: dump, selecting: $0, ingress: false) }
        self.ingressPolicies = pods.map { PolicyEngine.policyNumbers(in: dump, selecting: $0, ingress: true) }

        // Addresses as slots, and each rule's peer matches.
        var slotStart: [Int] = []
        var slots: [String] = []
        for pod in pods {
            slotStart.append(slots.count)
            slots += pod.ips
        }
        self.slotStart = slotStart
        self.isIPv6 = pods.map { $0.ips.map { $0.contains(":") } }
        self.firstIPv4 = pods.map { $0.ips.firstIndex { !$0.contains(":") } }
        self.firstIPv6 = pods.map { $0.ips.firstIndex { $0.contains(":") } }
        self.selects = rulePeers.map { entry in
            let selectors = entry.peers.filter { $0.ipBlock == nil }
            guard !selectors.isEmpty else { return [] }
            return pods.map { pod in
                selectors.contains {
                    engine.matches($0, policyNamespace: entry.policy.namespace, pod: pod, address: nil)
                }
            }
        }
        self.blockContains = rulePeers.map { entry in
            let blocks = entry.peers.compactMap(\.ipBlock)
            guard !blocks.isEmpty else { return [] }
            return slots.map { address in blocks.contains { $0.contains(address) } }
        }
    }

    /// The policies a ``Side/denied`` side names: those isolating `pod`'s egress, or its ingress.
    public func isolating(_ pod: Int, ingress: Bool) -> [Int] {
        ingress ? self.ingressPolicies[pod] : self.egressPolicies[pod]
    }

    /// Decides the connection from pod `source` to pod `destination`'s address number `address` on `port`, into
    /// `scratch`; returns whether it is allowed. With `reasons` false, a side stops at its first matching rule (the
    /// lists are then incomplete: for the table, which shows only the verdict).
    public func decide(
        source: Int, destination: Int, address: Int, port: KubePort, reasons: Bool = true, into scratch: inout Scratch
    ) -> Bool {
        scratch.source = source
        scratch.destination = destination
        scratch.egressRules.removeAll(keepingCapacity: true)
        scratch.ingressRules.removeAll(keepingCapacity: true)
        if self.keyIDs[source] == self.keyIDs[destination] {
            scratch.egress = .exempt(.itself)
            scratch.ingress = .exempt(.itself)
            return true
        }
        let from = self.pods[source]
        let to = self.pods[destination]
        if from.hostNetwork {
            scratch.egress = .exempt(.hostNetworkSource)
        } else {
            scratch.egress = self.side(
                policies: self.egressPolicies[source], rules: self.egressRules, peer: destination,
                peerSlot: self.slotStart[destination] + address, destination: to, port: port, reasons: reasons,
                into: &scratch.egressRules)
            if !reasons && scratch.egress == .denied { return false }
        }
        if to.hostNetwork {
            scratch.ingress = .exempt(.hostNetworkDestination)
        } else if from.hostNetwork, let node = from.nodeName, node == to.nodeName {
            scratch.ingress = .exempt(.ownNode)
        } else {
            // The source is seen at its address of the destination address's family.
            let six = self.isIPv6[destination][address]
            let sourceAddress = six ? self.firstIPv6[source] : self.firstIPv4[source]
            scratch.ingress = self.side(
                policies: self.ingressPolicies[destination], rules: self.ingressRules, peer: source,
                peerSlot: sourceAddress.map { self.slotStart[source] + $0 }, destination: to, port: port,
                reasons: reasons, into: &scratch.ingressRules)
        }
        return scratch.allowed
    }

    private func side(
        policies: [Int], rules: [[Int]], peer: Int, peerSlot: Int?, destination: KubePod, port: KubePort,
        reasons: Bool, into found: inout [Int]
    ) -> Side {
        guard !policies.isEmpty else { return .notIsolated }
        for policy in policies {
            for rule in rules[policy] {
                let peerMatches =
                    self.everyPeer[rule]
                    || (!self.selects[rule].isEmpty && self.selects[rule][peer])
                    || (peerSlot.map { !self.blockContains[rule].isEmpty && self.blockContains[rule][$0] } ?? false)
                guard peerMatches, PolicyEngine.matches(self.rulePorts[rule], destination: destination, port: port)
                else { continue }
                found.append(rule)
                if !reasons { return .allowedBy }
            }
        }
        return found.isEmpty ? .denied : .allowedBy
    }

    /// The reason ``PolicyEngine/Decision/explanation`` gives for the cell in `scratch`, told piece by piece: fixed
    /// `text`, a policy's key (`policy`, its number) and a rule's label (`rule`). A writer that has the names ready
    /// (escaped for JSON, say) spells the reason without making a string per cell.
    public func tellReason(
        _ scratch: Scratch, text: (StaticString) -> Void, exemption: (Exemption) -> Void, policy: (Int) -> Void,
        rule: (Int) -> Void
    ) {
        func tell(_ side: Side, rules: [Int], pod: Int, ingress: Bool) {
            switch side {
            case .notIsolated: text("not isolated")
            case .allowedBy:
                text("allowed by ")
                for (index, number) in rules.enumerated() {
                    if index > 0 { text(", ") }
                    rule(number)
                }
            case .denied:
                text("isolated by ")
                for (index, number) in self.isolating(pod, ingress: ingress).enumerated() {
                    if index > 0 { text(", ") }
                    policy(number)
                }
                text(", no rule allows")
            case .exempt(let why): exemption(why)
            }
        }
        text("egress: ")
        tell(scratch.egress, rules: scratch.egressRules, pod: scratch.source, ingress: false)
        text("; ingress: ")
        tell(scratch.ingress, rules: scratch.ingressRules, pod: scratch.destination, ingress: true)
    }

    /// The reason as one string (``PolicyEngine/Decision/explanation``'s text).
    public func reason(_ scratch: Scratch) -> String {
        var reason = ""
        self.tellReason(
            scratch, text: { reason += String(describing: $0) }, exemption: { reason += $0.text },
            policy: { reason += self.policyKeys[$0] }, rule: { reason += self.ruleLabels[$0] })
        return reason
    }

    /// Calls `body` with every cell, in the order ``IntentMatrix/cells`` lists them (destination, its address,
    /// source, port), on the ports `include` admits, each decided into the scratch it is given.
    public func forEachCell(
        ports include: (KubePort) -> Bool = { _ in true },
        _ body: (_ source: Int, _ destination: Int, _ address: Int, _ port: KubePort, _ scratch: inout Scratch)
            throws -> Void
    ) rethrows {
        var scratch = Scratch()
        for destination in self.pods.indices {
            let ports = self.ports[destination].filter(include)
            guard !ports.isEmpty else { continue }
            for address in self.pods[destination].ips.indices {
                for source in self.pods.indices {
                    for port in ports {
                        _ = self.decide(
                            source: source, destination: destination, address: address, port: port, into: &scratch)
                        try body(source, destination, address, port, &scratch)
                    }
                }
            }
        }
    }
}
