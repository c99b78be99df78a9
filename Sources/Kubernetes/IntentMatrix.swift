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

    /// The ports two or more dumps are compared on: every port a pod of any declares, and every single port a
    /// policy of any names by number (a range's ends stand for it).
    public static func comparablePorts(_ dumps: [ClusterDump]) -> [KubePort] {
        var ports = Set<KubePort>()
        for dump in dumps {
            for port in dump.pods.flatMap(\.ports) {
                ports.insert(KubePort(port: port.containerPort, proto: port.proto))
            }
            for policy in dump.policies {
                for entry in (policy.ingress + policy.egress).flatMap(\.ports) {
                    guard case .number(let number) = entry.port else { continue }
                    ports.insert(KubePort(port: number, proto: entry.proto))
                    if let end = entry.endPort { ports.insert(KubePort(port: end, proto: entry.proto)) }
                }
            }
        }
        return ports.sorted()
    }

    /// Evaluates every pair. Pods without an address are left out as destinations (a problem says which).
    public init(engine: PolicyEngine, ports: Ports = .declared) {
        let pods = engine.dump.pods.sorted { $0.key < $1.key }
        self.pods = pods.map(\.key)
        self.cells = []
        self.problems = []
        for destination in pods {
            guard !destination.ips.isEmpty else {
                self.problems.append(
                    "\(destination.key) has no address (phase \(destination.phase)): not a destination")
                continue
            }
            let destinationPorts: [KubePort]
            switch ports {
            case .declared:
                destinationPorts = Array(
                    Set(destination.ports.map { KubePort(port: $0.containerPort, proto: $0.proto) })
                ).sorted()
            case .list(let list): destinationPorts = list
            }
            for address in destination.ips {
                for source in pods {
                    for port in destinationPorts {
                        let decision = engine.decide(from: source, to: destination, address: address, port: port)
                        self.cells.append(
                            IntentCell(
                                source: source.key, destination: destination.key, address: address, port: port,
                                allowed: decision.allowed, reason: decision.explanation))
                    }
                }
            }
        }
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

    /// Compares two matrices cell by cell (source, destination, port and protocol; addresses may differ).
    public init(old: IntentMatrix, new: IntentMatrix) {
        let oldCells = Dictionary(
            old.cells.map { ($0.connection, $0) },
            uniquingKeysWith: { first, second in
                first.allowed ? first : second
            })
        let newCells = Dictionary(
            new.cells.map { ($0.connection, $0) },
            uniquingKeysWith: { first, second in
                first.allowed ? first : second
            })
        self.added = newCells.values.filter { cell in
            cell.allowed && oldCells[cell.connection].map { !$0.allowed } ?? false
        }
        .sorted { $0.connection < $1.connection }
        self.removed = oldCells.values.filter { cell in
            cell.allowed && newCells[cell.connection].map { !$0.allowed } ?? false
        }.sorted { $0.connection < $1.connection }
        let oldPods = Set(old.pods)
        let newPods = Set(new.pods)
        self.podsOnlyInOld = oldPods.subtracting(newPods).sorted()
        self.podsOnlyInNew = newPods.subtracting(oldPods).sorted()
    }

    /// Whether the change leaves every compared connection as it was.
    public var isEmpty: Bool { self.added.isEmpty && self.removed.isEmpty }
}
