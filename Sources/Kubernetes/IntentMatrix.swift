import BulkheadModel

/// One cell of the intended matrix: a source pod, a destination pod's address and port, and what the policies say.
public struct IntentCell: Codable, Hashable, Sendable {
    /// `namespace/pod`.
    public var source: String
    public var destination: String
    public var address: String
    public var port: KubePort
    public var allowed: Bool
    /// Why: each side's reason (`egress: not isolated; ingress: allowed by x/allow-b ingress[0]`).
    public var reason: String

    public init(source: String, destination: String, address: String, port: KubePort, allowed: Bool, reason: String) {
        self.source = source
        self.destination = destination
        self.address = address
        self.port = port
        self.allowed = allowed
        self.reason = reason
    }

    /// The key a diff compares cells by: pods, port and protocol (addresses change between dumps).
    public var connection: String { "\(self.source) -> \(self.destination) \(self.port)" }

    /// `IPv4` or `IPv6`: the destination address's family. A dual-stack pod's two addresses can be decided
    /// differently (an ipBlock names one family), so a diff compares each family apart.
    public var family: String { self.address.contains(":") ? "IPv6" : "IPv4" }

    /// What a diff compares by: the connection and the address family (addresses change between dumps, their
    /// family does not).
    public var comparisonKey: String { "\(self.connection) \(self.family)" }
}

/// Ports a diff cannot tell apart: one protocol's ports `first` through `last`, which every policy of the dumps
/// compared treats alike, so the decision on ``representative`` is the decision on each of them.
public struct PortClass: Codable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public var proto: KubeProtocol
    public var first: Int
    public var last: Int

    public init(proto: KubeProtocol, first: Int, last: Int) {
        self.proto = proto
        self.first = first
        self.last = last
    }

    /// The port evaluated for the whole class (its first).
    public var representative: KubePort { KubePort(port: self.first, proto: self.proto) }

    /// `tcp/22`, or `tcp/23-5431` for a range.
    public var description: String {
        self.first == self.last
            ? self.representative.description : "\(self.proto.lowercased)/\(self.first)-\(self.last)"
    }

    public static func < (lhs: PortClass, rhs: PortClass) -> Bool {
        (lhs.proto, lhs.first) < (rhs.proto, rhs.first)
    }
}

/// The reachability NetworkPolicies intend between pods: every pod × every pod address × port/protocol.
public struct IntentMatrix: Codable, Sendable {
    /// `namespace/pod`, in order.
    public var pods: [String]
    public var cells: [IntentCell]
    /// Pods left out, and why (no address yet).
    public var problems: [String]

    /// Which ports each destination is evaluated on.
    public enum Ports: Sendable {
        /// Each destination's declared container ports.
        case declared
        /// The same list for every destination (`--ports tcp/80,udp/53`; the e2e suite's 80 and 81).
        case list([KubePort])
    }

    /// The ports two or more dumps are compared on, as classes no policy of any tells apart: every port a pod of
    /// any declares (what named ports resolve to), and every number or range a policy of any names, are classes of
    /// their own or cut the rest into ranges; every other port of a protocol falls in a range whose ports all get
    /// the same decision, so one port of each class stands for it exactly. A rule with no ports (or a protocol
    /// alone) is then judged on every class of every protocol: nothing it opens falls outside the comparison.
    public static func portClasses(_ dumps: [ClusterDump]) -> [PortClass] {
        var cuts: [KubeProtocol: Set<Int>] = [:]
        for proto in KubeProtocol.allCases { cuts[proto] = [1, 65536] }
        func cut(_ proto: KubeProtocol, _ first: Int, _ last: Int) {
            guard first >= 1, last <= 65535, first <= last else { return }
            cuts[proto, default: [1, 65536]].formUnion([first, last + 1])
        }
        for dump in dumps {
            for port in dump.pods.flatMap(\.ports) { cut(port.proto, port.containerPort, port.containerPort) }
            for policy in dump.policies {
                for entry in (policy.ingress + policy.egress).flatMap(\.ports) {
                    guard case .number(let number) = entry.port else { continue }
                    cut(entry.proto, number, max(number, entry.endPort ?? number))
                }
            }
        }
        var classes: [PortClass] = []
        for proto in KubeProtocol.allCases {
            let bounds = (cuts[proto] ?? [1, 65536]).sorted()
            for (first, next) in zip(bounds, bounds.dropFirst()) {
                classes.append(PortClass(proto: proto, first: first, last: next - 1))
            }
        }
        return classes
    }

    /// The rules of `dump` that allow ports outside `ports`: no ports (every port), a protocol alone, or a range
    /// wider than the ports evaluated in it. Named ports resolve to declared ports, so they are not counted. Each as
    /// `ns/policy ingress[0]`, for the note that the table or diff cannot show all they open.
    public static func rulesReaching(beyond ports: Set<KubePort>, in dump: ClusterDump) -> [String] {
        var found: [String] = []
        for policy in dump.policies.sorted(by: { $0.key < $1.key }) {
            let directions = [
                ("ingress", policy.affectsIngress ? policy.ingress : []),
                ("egress", policy.affectsEgress ? policy.egress : []),
            ]
            for (direction, rules) in directions {
                for (index, rule) in rules.enumerated() {
                    let beyond =
                        rule.ports.isEmpty
                        || rule.ports.contains { entry in
                            switch entry.port {
                            case nil: return true
                            case .name: return false
                            case .number(let first):
                                let last = max(first, entry.endPort ?? first)
                                // Cheaper than walking a wide range: count the evaluated ports inside it.
                                let inside = ports.filter {
                                    $0.proto == entry.proto && (first...last).contains($0.port)
                                }
                                return inside.count < last - first + 1
                            }
                        }
                    if beyond { found.append("\(policy.key) \(direction)[\(index)]") }
                }
            }
        }
        return found
    }

    /// Evaluates every pair. Pods without an address are left out as destinations (a problem says which). Every cell
    /// is kept: for a diff, which compares two matrices; `k8s intent` streams them from ``IntentEvaluator`` instead.
    public init(engine: PolicyEngine, ports: Ports = .declared) {
        let evaluator = IntentEvaluator(engine: engine, ports: ports)
        self.pods = evaluator.pods.map(\.key)
        self.problems = evaluator.problems
        var cells: [IntentCell] = []
        evaluator.forEachCell { source, destination, address, port, scratch in
            let to = evaluator.pods[destination]
            cells.append(
                IntentCell(
                    source: evaluator.pods[source].key, destination: to.key, address: to.ips[address], port: port,
                    allowed: scratch.allowed, reason: evaluator.reason(scratch)))
        }
        self.cells = cells
    }

    /// The cells in the probe's format (``ReachabilityCell``): the expectation and the deciding rules set, no
    /// observation (`state` is `skipped`: intent alone proves nothing about the network). SCTP cells, which no
    /// probe sends, are left out.
    public var reachabilityCells: [ReachabilityCell] {
        self.cells.compactMap { cell in
            guard let proto = cell.port.proto.probeProtocol else { return nil }
            var converted = ReachabilityCell(
                source: cell.source,
                destination: ReachabilityCell.destinationText(address: cell.address, port: cell.port.port),
                protocol: proto, state: .skipped, attempts: 0, latencyMs: nil, destinationName: cell.destination,
                destinationKind: .container, network: KubernetesInventory.podNetworkName, address: cell.address,
                port: cell.port.port, reason: "networkpolicy", note: "intent from NetworkPolicies; not probed",
                sourcePid: nil, evidence: [])
            converted.expected = cell.allowed ? .allow : .deny
            converted.rule = cell.reason
            return converted
        }
    }
}

/// What a policy change does to connections: those it opens and those it closes, by pods and port (`k8s diff`).
public struct IntentDiff: Codable, Sendable {
    public var added: [IntentCell]
    public var removed: [IntentCell]
    /// Pods in one dump only: their connections are not compared.
    public var podsOnlyInOld: [String]
    public var podsOnlyInNew: [String]
    /// Pods in both dumps whose connections to them are not all compared, and why (`x/b (no address after)`,
    /// `x/b (IPv6 before only)`): the diff cannot say what the change did to them.
    public var podsNotCompared: [String] = []
    /// The ports compared, as classes (a range's connections are reported on its first port).
    public var comparedPorts: [PortClass] = []
    /// What the comparison could not cover (rules reaching ports outside those compared, and the like).
    public var notes: [String] = []

    /// Compares two matrices cell by cell (source, destination, port and protocol, and the destination address's
    /// family: a dual-stack pod's IPv4 and IPv6 are compared apart, as a change can close one and open the other).
    public init(old: IntentMatrix, new: IntentMatrix) {
        // Two addresses of one family (not a pod Kubernetes makes) count as allowed when either is.
        let oldCells = Dictionary(
            old.cells.map { ($0.comparisonKey, $0) },
            uniquingKeysWith: { first, second in
                first.allowed ? first : second
            })
        let newCells = Dictionary(
            new.cells.map { ($0.comparisonKey, $0) },
            uniquingKeysWith: { first, second in
                first.allowed ? first : second
            })
        self.added = newCells.values.filter { cell in
            cell.allowed && oldCells[cell.comparisonKey].map { !$0.allowed } ?? false
        }
        .sorted { $0.comparisonKey < $1.comparisonKey }
        self.removed = oldCells.values.filter { cell in
            cell.allowed && newCells[cell.comparisonKey].map { !$0.allowed } ?? false
        }.sorted { $0.comparisonKey < $1.comparisonKey }
        let oldPods = Set(old.pods)
        let newPods = Set(new.pods)
        self.podsOnlyInOld = oldPods.subtracting(newPods).sorted()
        self.podsOnlyInNew = newPods.subtracting(oldPods).sorted()
        // A destination is compared where it has cells in both: an address family on one side only (no address
        // yet, or a single-stack pod moved to the other family) leaves its connections unseen.
        let oldFamilies = Dictionary(
            old.cells.map { ($0.destination, Set([$0.family])) }, uniquingKeysWith: { $0.union($1) })
        let newFamilies = Dictionary(
            new.cells.map { ($0.destination, Set([$0.family])) }, uniquingKeysWith: { $0.union($1) })
        for pod in oldPods.intersection(newPods).sorted() {
            let before = oldFamilies[pod] ?? []
            let after = newFamilies[pod] ?? []
            guard before != after else { continue }
            if before.isEmpty || after.isEmpty {
                self.podsNotCompared.append("\(pod) (no address \(before.isEmpty ? "before" : "after"))")
            } else {
                let sides = [("before", before.subtracting(after)), ("after", after.subtracting(before))]
                let only = sides.filter { !$0.1.isEmpty }.map {
                    "\($0.1.sorted().joined(separator: ", ")) \($0.0) only"
                }
                self.podsNotCompared.append("\(pod) (\(only.joined(separator: "; ")))")
            }
        }
    }

    /// Whether something was left out of the comparison (the diff is then incomplete, exit status 3).
    public var isIncomplete: Bool { !self.podsNotCompared.isEmpty }

    /// Whether the change leaves every compared connection as it was.
    public var isEmpty: Bool { self.added.isEmpty && self.removed.isEmpty }
}
