/// The transport a reachability probe uses.
public enum ProbeProtocol: String, Codable, Hashable, Sendable, CaseIterable, Comparable {
    case tcp
    case udp
    case icmp

    private var rank: Int {
        switch self {
        case .tcp: 0
        case .udp: 1
        case .icmp: 2
        }
    }

    public static func < (lhs: ProbeProtocol, rhs: ProbeProtocol) -> Bool { lhs.rank < rhs.rank }
}

/// What one cell of the reachability matrix proved. The states are kept apart on purpose: a tool error is never
/// "blocked", and "connection refused" (no listener) is an open path, not a blocked one.
public enum CellState: String, Codable, Hashable, Sendable, CaseIterable {
    /// TCP connected, UDP got a reply, ICMP echo got a reply.
    case reachable
    /// A TCP RST or an ICMP port-unreachable for UDP: packets arrive, nothing listens there.
    case reachableClosed = "reachable-closed"
    /// An ICMP error that a firewall or router sends (administratively prohibited, host/net unreachable, or a
    /// port-unreachable answer to TCP, which only an iptables REJECT gives).
    case rejected
    /// Silence on every attempt: a DROP rule, or nothing there.
    case filtered
    /// Attempts disagreed: some got through, some did not. Counts as reachable (one success proves the path).
    case flapping
    /// UDP without any answer: the datagram may have arrived at a silent service or been dropped.
    case unknown
    /// Not probed, for a stated reason (e.g. a source with no network namespace).
    case skipped
    /// The tool could not probe (a socket call failed, a container died mid-probe). Never counted as blocked.
    case error

    /// The path was shown to be open.
    public var isOpen: Bool { self == .reachable || self == .reachableClosed || self == .flapping }
    /// The path was shown to be closed.
    public var isBlocked: Bool { self == .rejected || self == .filtered }
    /// One letter for the truth table.
    public var symbol: String {
        switch self {
        case .reachable: "✓"
        case .reachableClosed: "○"
        case .rejected: "R"
        case .filtered: "·"
        case .flapping: "~"
        case .unknown: "?"
        case .skipped: "-"
        case .error: "!"
        }
    }
}

/// What a destination address belongs to.
public enum DestinationKind: String, Codable, Hashable, Sendable {
    /// An address of an enumerated container.
    case container
    /// The gateway of one of the source's networks: the host side (Docker API ports, published ports).
    case gateway
    /// An address the user listed with `--target`.
    case explicit
    /// An address of a plain network namespace (`ip netns`, containerd/CNI sandboxes): `probe --namespaces`.
    case namespace
}

/// How one attempt ended.
public enum AttemptOutcome: String, Codable, Hashable, Sendable, CaseIterable {
    /// TCP handshake completed / UDP or ICMP reply received.
    case connected
    /// TCP RST (connection refused without an ICMP error).
    case refused
    /// ICMP port unreachable for a UDP probe.
    case portUnreachable = "port-unreachable"
    /// An ICMP destination-unreachable (other than port-unreachable for UDP), or an errno that means one.
    case icmpError = "icmp-error"
    /// No answer within the timeout.
    case timeout
    /// The probe could not be made (socket/connect failed locally).
    case failed
}

/// One attempt of a probe, with the evidence it left.
public struct ProbeAttempt: Codable, Hashable, Sendable {
    public var outcome: AttemptOutcome
    /// Milliseconds from sending to the answer (or the timeout).
    public var latencyMs: Double
    /// The errno the socket reported (`ECONNREFUSED`, `EHOSTUNREACH`…), by name.
    @ExplicitNull public var errno: String?
    /// ICMP type and code of the error that answered the probe, when one was seen.
    @ExplicitNull public var icmpType: Int?
    @ExplicitNull public var icmpCode: Int?
    /// The address that sent the ICMP error (a router or firewall may answer for the destination).
    @ExplicitNull public var icmpFrom: String?

    public init(
        outcome: AttemptOutcome, latencyMs: Double, errno: String? = nil, icmpType: Int? = nil, icmpCode: Int? = nil,
        icmpFrom: String? = nil
    ) {
        self.outcome = outcome
        self.latencyMs = latencyMs
        self.errno = errno
        self.icmpType = icmpType
        self.icmpCode = icmpCode
        self.icmpFrom = icmpFrom
    }

    enum CodingKeys: String, CodingKey { case outcome, latencyMs, errno, icmpType, icmpCode, icmpFrom }
}

/// What the policy expected of a cell.
public enum Expectation: String, Codable, Hashable, Sendable {
    case allow
    case deny
}

/// A cell whose observation contradicts the policy.
public enum Violation: String, Codable, Hashable, Sendable {
    /// Denied by policy, yet the path is open: an isolation breach.
    case unexpectedReachable = "unexpected-reachable"
    /// Allowed by policy, yet blocked: a broken dependency.
    case unexpectedBlocked = "unexpected-blocked"
}

/// One cell of the reachability matrix: a source namespace, a destination address and port, and what probing
/// it proved — plus, once a policy is applied, what was expected.
public struct ReachabilityCell: Codable, Hashable, Sendable {
    /// The source container (or namespace) name.
    public var source: String
    /// The destination as `ip:port` (`ip` for ICMP; IPv6 as `[ip]:port`).
    public var destination: String
    public var `protocol`: ProbeProtocol
    public var state: CellState
    /// Attempts made (0 when skipped).
    public var attempts: Int
    /// Latency of the conclusive answer, in milliseconds (nil when nothing answered).
    @ExplicitNull public var latencyMs: Double?
    /// The policy's expectation (nil before evaluation, or when no rule and no baseline decide).
    @ExplicitNull public var expected: Expectation?
    @ExplicitNull public var violation: Violation?

    /// The destination container's name, or `host` / `explicit` for host-side (gateway) and user-listed targets.
    public var destinationName: String
    public var destinationKind: DestinationKind
    /// The network the destination address is on (nil for explicit targets).
    @ExplicitNull public var network: String?
    public var address: String
    /// nil for ICMP.
    @ExplicitNull public var port: Int?
    /// Why the port was probed: `listening`, `published`, `docker-api`, `extra`, `echo`.
    public var reason: String
    /// Why the cell is skipped or an error.
    @ExplicitNull public var note: String?
    /// The policy rule that decided `expected` (`allow[2]`, `deny[0]`, `baseline deny`, `baseline docker: …`).
    @ExplicitNull public var rule: String?
    /// The source's main process (for `nsenter -t <pid> -n`), when known.
    @ExplicitNull public var sourcePid: Int?
    public var evidence: [ProbeAttempt]

    public init(
        source: String, destination: String, protocol: ProbeProtocol, state: CellState, attempts: Int,
        latencyMs: Double?,
        destinationName: String, destinationKind: DestinationKind, network: String?, address: String, port: Int?,
        reason: String, note: String? = nil, sourcePid: Int?, evidence: [ProbeAttempt]
    ) {
        self.source = source
        self.destination = destination
        self.protocol = `protocol`
        self.state = state
        self.attempts = attempts
        self.latencyMs = latencyMs
        self.destinationName = destinationName
        self.destinationKind = destinationKind
        self.network = network
        self.address = address
        self.port = port
        self.reason = reason
        self.note = note
        self.sourcePid = sourcePid
        self.evidence = evidence
    }

    /// `ip:port`, with brackets for IPv6; the bare address for ICMP.
    public static func destinationText(address: String, port: Int?) -> String {
        guard let port else { return address }
        return address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
    }

    enum CodingKeys: String, CodingKey {
        case source, destination, `protocol`, state, attempts, latencyMs, expected, violation, destinationName,
            destinationKind
        case network, address, port, reason, note, rule, sourcePid, evidence
    }
}

/// A namespace probes start from.
public struct ProbeSource: Codable, Hashable, Sendable {
    /// Container (or namespace) name.
    public var name: String
    /// The main process; its `/proc/<pid>/ns/net` is entered to create the sockets.
    @ExplicitNull public var pid: Int?
    /// `net:[inode]` when known.
    @ExplicitNull public var netns: String?
    /// Why this source is not probed (not running, no namespace…); nil when it is.
    @ExplicitNull public var skipReason: String?
    /// The file naming the namespace when no process does (`/run/netns/<name>`); `/proc/<pid>/ns/net` otherwise.
    @ExplicitNull public var namespacePath: String?

    public init(name: String, pid: Int?, netns: String?, skipReason: String?, namespacePath: String? = nil) {
        self.name = name
        self.pid = pid
        self.netns = netns
        self.skipReason = skipReason
        self.namespacePath = namespacePath
    }

    enum CodingKeys: String, CodingKey { case name, pid, netns, skipReason, namespacePath }
}

/// Totals of one probe run.
public struct ProbeSummary: Codable, Hashable, Sendable {
    public var sources: Int = 0
    public var cells: Int = 0
    /// Cells by state (`reachable`, `filtered`…).
    public var byState: [String: Int] = [:]
    /// Cells by violation (`unexpected-reachable`, `unexpected-blocked`).
    public var violations: [String: Int] = [:]
    public var attemptsSent: Int = 0
    public var durationSeconds: Double = 0

    public init() {}
}

/// How the probes were run (kept in the evidence so a re-evaluation knows what the cells mean).
public struct ProbeSettings: Codable, Hashable, Sendable {
    public var attempts: Int
    public var timeoutsSeconds: [String: Double]
    public var maxInFlight: Int
    public var maxInFlightPerDestination: Int
    public var extraPorts: [String]
    public var explicitTargets: [String]

    public init(
        attempts: Int, timeoutsSeconds: [String: Double], maxInFlight: Int, maxInFlightPerDestination: Int,
        extraPorts: [String], explicitTargets: [String]
    ) {
        self.attempts = attempts
        self.timeoutsSeconds = timeoutsSeconds
        self.maxInFlight = maxInFlight
        self.maxInFlightPerDestination = maxInFlightPerDestination
        self.extraPorts = extraPorts
        self.explicitTargets = explicitTargets
    }
}

/// The JSON document `bulkhead probe --format json` writes: the inventory it planned from, every cell with its
/// evidence, and the policy evaluation. `bulkhead probe --evidence FILE --policy OTHER` re-evaluates it offline.
public struct ProbeReport: Codable, Sendable, SchemaVersioned {
    /// `bulkhead.probe/1`.
    public var schema: String
    /// When the probes ran (RFC 3339).
    public var generatedAt: String
    /// The policy the cells were evaluated against: a path, or `docker default (no policy given)`.
    public var policy: String
    public var settings: ProbeSettings
    public var inventory: InventoryReport
    public var sources: [ProbeSource]
    public var cells: [ReachabilityCell]
    public var findings: [Finding]
    /// False when some cells are `error`, or the inventory was incomplete.
    public var complete: Bool
    public var problems: [String]
    public var summary: ProbeSummary

    public static let currentSchema = "bulkhead.probe/1"

    public init(
        generatedAt: String, policy: String, settings: ProbeSettings, inventory: InventoryReport,
        sources: [ProbeSource],
        cells: [ReachabilityCell], findings: [Finding], complete: Bool, problems: [String], summary: ProbeSummary
    ) {
        self.schema = Self.currentSchema
        self.generatedAt = generatedAt
        self.policy = policy
        self.settings = settings
        self.inventory = inventory
        self.sources = sources
        self.cells = cells
        self.findings = findings
        self.complete = complete
        self.problems = problems
        self.summary = summary
    }
}

/// A protocol and a port range, written `tcp/8080`, `udp/53` or `tcp/8000-8010`: `--ports`, policy ports, scenario
/// firewall rules all read it.
public struct PortSpec: Hashable, Sendable, CustomStringConvertible {
    public var proto: ProbeProtocol
    public var range: ClosedRange<Int>

    /// A protocol and a port range.
    public init(proto: ProbeProtocol, range: ClosedRange<Int>) {
        self.proto = proto
        self.range = range
    }

    /// Parses `tcp/80`, `udp/53`, `tcp/8000-8010`, or a bare `80` (TCP). Nil for anything else.
    public init?(_ text: String) {
        let parts = text.lowercased().split(separator: "/", maxSplits: 1)
        let protoText = parts.count == 2 ? String(parts[0]) : "tcp"
        guard let proto = ProbeProtocol(rawValue: protoText), proto != .icmp, let portText = parts.last else {
            return nil
        }
        // Digits only on both sides: `tcp/-8080`, `tcp/8080-` and `tcp/+80` are no ports.
        let bounds = portText.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map {
            CIDR.decimal($0, digits: 5)
        }
        guard let low = bounds.first ?? nil, let high = bounds.last ?? nil, (1...65535).contains(low),
            (low...65535).contains(high)
        else {
            return nil
        }
        self.init(proto: proto, range: low...high)
    }

    public var description: String {
        self.range.count == 1
            ? "\(self.proto.rawValue)/\(self.range.lowerBound)"
            : "\(self.proto.rawValue)/\(self.range.lowerBound)-\(self.range.upperBound)"
    }
}
