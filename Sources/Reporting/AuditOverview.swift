import BulkheadModel

extension EdgeVerdict {
    /// Worst first: the order of the report's edge list, and the verdict a matrix cell, a service or an arrow shows
    /// when its edges disagree. A breach of the policy first, then traffic anyone can read, then endpoints that let
    /// anyone in under any name, then the weaker forms of client authentication, then what nothing proves.
    public static let riskOrder: [EdgeVerdict] = [
        .violation, .plaintext, .tlsAcceptsRogueClient, .mtlsOptional, .tlsNoClientAuth, .inconclusive, .openUnverified,
        .unknown,
        .mtlsEnforced, .blocked,
    ]

    /// Position in ``riskOrder`` (0 is the worst).
    public var riskRank: Int { Self.riskOrder.firstIndex(of: self) ?? Self.riskOrder.count }

    /// The worst of `verdicts` (`.unknown` for none).
    public static func worst<S: Sequence>(_ verdicts: S) -> EdgeVerdict where S.Element == EdgeVerdict {
        verdicts.min { $0.riskRank < $1.riskRank } ?? .unknown
    }

    /// What a person calls it in a summary line.
    public var label: String {
        switch self {
        case .violation: "policy violation"
        case .plaintext: "plaintext"
        case .tlsAcceptsRogueClient: "rogue client accepted"
        case .mtlsOptional: "mTLS optional"
        case .tlsNoClientAuth: "no client auth"
        case .inconclusive: "inconclusive"
        case .openUnverified: "open, unverified"
        case .unknown: "unknown"
        case .mtlsEnforced: "mTLS enforced"
        case .blocked: "blocked as expected"
        }
    }

    /// A verdict that needs someone to act (or, for `inconclusive` and `unknown`, to look again).
    public var isProblem: Bool {
        switch self {
        case .violation, .plaintext, .tlsAcceptsRogueClient, .mtlsOptional, .tlsNoClientAuth, .inconclusive, .unknown:
            true
        case .openUnverified, .mtlsEnforced, .blocked: false
        }
    }

    /// How bad a service with this verdict is, for the summary's problem list.
    var severity: Severity {
        switch self {
        case .tlsAcceptsRogueClient: .critical
        case .violation, .plaintext: .high
        case .mtlsOptional, .tlsNoClientAuth, .inconclusive: .medium
        case .unknown, .openUnverified: .low
        case .mtlsEnforced, .blocked: .info
        }
    }

    /// What to change for a violation whose paths the policy allows and the probe found closed.
    static let blockedRemedy =
        "find what drops the allowed path (a DOCKER-USER rule, ICC off, a firewall inside the container), or change the policy if the block is intended"

    /// What to change, in one line.
    var remedy: String {
        switch self {
        case .violation: "separate the two (networks, a DOCKER-USER rule), or change the policy if the path is intended"
        case .plaintext: "serve it over TLS with required client certificates, or keep it off shared networks"
        case .tlsAcceptsRogueClient:
            "verify client certificates against the service CA and refuse the handshake when they fail (nginx `ssl_verify_client on`)"
        case .mtlsOptional:
            "require client certificates instead of asking for them (nginx `ssl_verify_client on`, redis `tls-auth-clients yes`)"
        case .tlsNoClientAuth: "require client certificates issued by the service CA (mutual TLS)"
        case .inconclusive:
            "run the TLS check on it (traffic alone proves no refusal) with a client certificate the service accepts (policy `mtls` identity), or name its application protocol"
        case .unknown: "look at the probe problems: the path could not be judged"
        case .openUnverified: "capture its traffic or run the TLS check on it"
        case .mtlsEnforced, .blocked: "nothing"
        }
    }
}

/// The edges to one destination service (container, address, port, protocol), worst first: how the report groups
/// its edge list.
public struct ServiceEdges: Sendable {
    /// `db 198.18.51.13:5432/tcp`: the same text findings use as their location.
    public var name: String
    public var destination: String
    public var edges: [Edge]
    public var worst: EdgeVerdict

    /// The edges grouped per destination service, the worst service first; inside a service, the worst edge first.
    public static func group(_ edges: [Edge]) -> [ServiceEdges] {
        let groups = Dictionary(grouping: edges) { edge in
            "\(edge.destination) \(ReachabilityCell.destinationText(address: edge.address, port: edge.port))/\(edge.protocol.rawValue)"
        }
        return groups.map { name, edges in
            let sorted = edges.sorted { ($0.verdict.riskRank, $0.source) < ($1.verdict.riskRank, $1.source) }
            return ServiceEdges(
                name: name, destination: sorted.first?.destination ?? "", edges: sorted,
                worst: EdgeVerdict.worst(sorted.map(\.verdict)))
        }.sorted { ($0.worst.riskRank, $0.name) < ($1.worst.riskRank, $1.name) }
    }
}

/// What a security engineer reads first, shared by every human format (terminal, markdown, HTML): whether the audit
/// passed, the counts, and the worst problems each in one line.
public struct AuditOverview: Sendable {
    public enum Status: String, Sendable {
        /// Every stage ran, every edge is enforced or blocked as expected (positive evidence for each), and no
        /// finding is above info.
        case pass
        /// Every stage ran, and something needs action.
        case findings
        /// A stage failed or was cut short: what the report does not show may be worse (exit status 3).
        case incomplete
    }

    /// One line of the problem list: the endpoint, who reaches it, what is wrong, what to change.
    public struct Problem: Sendable, Hashable {
        public var severity: Severity
        /// `db 198.18.51.13:5432/tcp`, or a finding's location.
        public var endpoint: String
        /// The source containers of the edges concerned (empty for a finding).
        public var sources: [String]
        public var what: String
        public var change: String
        /// The verdict the line is about (nil for a finding).
        public var verdict: EdgeVerdict?
    }

    public var status: Status
    /// Why the status is what it is, in one sentence.
    public var statusReason: String
    /// Edges per verdict, in ``EdgeVerdict/riskOrder``; verdicts with no edge left out.
    public var edgeCounts: [(verdict: EdgeVerdict, count: Int)]
    /// Findings per severity, worst first; severities with no finding left out.
    public var findingCounts: [(severity: Severity, count: Int)]
    /// Worst first, at most ``problemLimit``.
    public var problems: [Problem]
    /// How many problems there are in all (the list is cut at ``problemLimit``).
    public var problemTotal: Int

    public static let problemLimit = 8

    /// A violating edge's severity as its finding has it, so that the summary and the findings agree: a path the
    /// policy allows found closed (unexpected-blocked) and a denied path where nothing listens and no traffic was
    /// seen (reachable-closed: the path is open, no service is exposed) are medium; a breach reaching a service or
    /// carrying traffic, and an mTLS requirement not met, are high.
    static func violationSeverity(_ edge: Edge) -> Severity {
        if edge.reasons.contains(where: { $0.hasPrefix("mTLS required") || $0.contains("accepts a client certificate") }
        ) {
            return .high
        }
        if edge.allowed == true { return .medium }
        if edge.reachability == .reachableClosed && (edge.traffic?.flows ?? 0) == 0 { return .medium }
        return .high
    }

    public init(_ report: AuditReport) {
        var counts: [EdgeVerdict: Int] = [:]
        for edge in report.edges { counts[edge.verdict, default: 0] += 1 }
        self.edgeCounts = EdgeVerdict.riskOrder.compactMap { verdict in counts[verdict].map { (verdict, $0) } }
        let findings = report.baseline?.new ?? report.findings
        var severities: [Severity: Int] = [:]
        for finding in findings { severities[finding.severity, default: 0] += 1 }
        self.findingCounts = Severity.allCases.reversed().compactMap { severity in
            severities[severity].map { (severity, $0) }
        }

        var problems: [Problem] = []
        let services = ServiceEdges.group(report.edges)
        for service in services where service.worst.isProblem {
            let concerned = service.edges.filter { $0.verdict == service.worst }
            let sources = Array(Set(concerned.map(\.source))).sorted()
            let what = Self.what(service.worst, concerned.first)
            // A violation that is only paths the policy allows and the probe found closed is a broken dependency
            // (its finding, unexpected-blocked, is medium), and the remedy is to open them, not to separate.
            let onlyBlocked = service.worst == .violation && concerned.allSatisfy { $0.allowed == true }
            let severity =
                service.worst == .violation
                ? (concerned.map(Self.violationSeverity).max() ?? .high) : service.worst.severity
            problems.append(
                Problem(
                    severity: severity, endpoint: service.name, sources: sources,
                    what: what,
                    change: onlyBlocked ? EdgeVerdict.blockedRemedy : service.worst.remedy, verdict: service.worst))
        }
        // Findings at high or above that no service line already names (a mounted Docker socket, a privileged
        // container, credentials in clear…).
        let named = Set(problems.map(\.endpoint))
        for finding in findings where finding.severity >= .high && !named.contains(finding.location ?? "") {
            let help = finding.kind.entry?.help
            problems.append(
                Problem(
                    severity: finding.severity, endpoint: finding.location ?? finding.kind.identifier, sources: [],
                    what: finding.title,
                    change: help ?? finding.detail, verdict: nil))
        }
        problems.sort { ($1.severity, $1.verdict == nil ? 0 : 1) < ($0.severity, $0.verdict == nil ? 0 : 1) }
        self.problemTotal = problems.count
        self.problems = Array(problems.prefix(Self.problemLimit))

        if !report.complete {
            self.status = .incomplete
            self.statusReason =
                "not every stage ran to the end, so what is not shown may be worse: "
                + report.problems.joined(separator: "; ")
        } else if !problems.isEmpty || findings.contains(where: { $0.severity >= .low })
            || counts[.openUnverified, default: 0] > 0
        {
            // An edge open with nothing known about what crosses it is no pass: nothing proves it is fine.
            self.status = .findings
            let worst = self.edgeCounts.filter { $0.verdict.isProblem || $0.verdict == .openUnverified }.map {
                "\($0.count) \($0.verdict.label)"
            }
            let bySeverity = self.findingCounts.filter { $0.severity >= .low }.map {
                "\($0.count) \($0.severity.rawValue)"
            }
            self.statusReason =
                (worst.isEmpty ? "" : "edges: " + worst.joined(separator: ", ") + (bySeverity.isEmpty ? "" : "; "))
                + (bySeverity.isEmpty ? "" : "findings: " + bySeverity.joined(separator: ", "))
        } else {
            self.status = .pass
            self.statusReason =
                "every stage ran; every edge is enforced or blocked as expected, and no finding is above info"
        }
    }

    /// The one-line "what is wrong" of a service, from its worst edge.
    static func what(_ verdict: EdgeVerdict, _ edge: Edge?) -> String {
        switch verdict {
        case .violation: return edge?.reasons.first ?? "contradicts the policy"
        case .plaintext:
            if let traffic = edge?.traffic, traffic.credentialsInClear > 0 {
                return "credentials crossed in clear (\(traffic.credentialsInClear))"
            }
            return edge?.traffic.map { "\($0.plaintextFlows) flow(s) in clear" } ?? "served in clear"
        case .tlsAcceptsRogueClient: return "accepts forged client certificates: anyone can claim any identity"
        case .mtlsOptional: return "asks for a client certificate but serves clients without one"
        case .tlsNoClientAuth: return "TLS without client authentication"
        case .inconclusive:
            return edge?.tls?.reason ?? edge?.reasons.first ?? "nothing proves it refuses forged certificates"
        case .unknown: return edge?.reasons.first ?? "could not be judged"
        case .openUnverified, .mtlsEnforced, .blocked: return verdict.label
        }
    }

    /// `web, api` or `web, api and 7 more`.
    public static func names(_ names: [String], limit: Int = 3) -> String {
        names.count <= limit
            ? names.joined(separator: ", ")
            : names.prefix(limit).joined(separator: ", ") + " and \(names.count - limit) more"
    }
}
