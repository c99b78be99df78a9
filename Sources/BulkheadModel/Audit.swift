/// What an edge of the audit amounts to, from best to worst. The colour of the edge in the pictures.
public enum EdgeVerdict: String, Codable, Hashable, Sendable, CaseIterable {
    /// The endpoint enforces mutual TLS (refuses clients without an acceptable certificate), or traffic on the edge
    /// was mutually authenticated and nothing crossed in clear.
    case mtlsEnforced = "mtls-enforced"
    /// The endpoint accepts a forged client certificate: anyone can claim any identity.
    case tlsAcceptsRogueClient = "tls-accepts-rogue-client"
    /// The endpoint asks for a client certificate but serves clients without one.
    case mtlsOptional = "mtls-optional"
    /// TLS, without (enforced) client authentication.
    case tlsNoClientAuth = "tls-no-client-auth"
    /// The TLS battery ran but nothing proves the endpoint refuses or accepts forged certificates (or it could not
    /// be tested): never secure.
    case inconclusive
    /// Plaintext seen on the edge, or accepted by the endpoint.
    case plaintext
    /// Reachable, but nothing is known about what crosses it (no traffic seen, no TLS check made).
    case openUnverified = "open-unverified"
    /// Not reachable, as the policy expects.
    case blocked
    /// Contradicts the policy: an isolation breach, a broken dependency, or an mTLS requirement not met.
    case violation
    /// The tool could not tell (probe errors, unknown UDP).
    case unknown
}

/// What the TLS check of an endpoint concluded, as far as an edge needs it.
public struct EndpointTLS: Codable, Hashable, Sendable {
    /// The battery's verdict on the endpoint.
    public var verdict: TLSVerdict
    /// Whether every bad client certificate (untrusted, expired, wrong purpose, self-signed) was refused; nil when
    /// the server did not ask for certificates or the battery could not run.
    @ExplicitNull public var refusesBadClients: Bool?
    /// DNS and URI SANs of the server certificate.
    public var serverIdentities: [String]
    /// Why the battery reached its verdict (what proves it, or why nothing does).
    @ExplicitNull public var reason: String?
    /// The container the endpoint was probed from.
    @ExplicitNull public var probedFrom: String?
    /// What the battery could check, given what it was handed (nil in evidence written before this was recorded).
    @ExplicitNull public var checks: [TLSCheck]?

    public init(
        verdict: TLSVerdict, refusesBadClients: Bool?, serverIdentities: [String], reason: String? = nil,
        probedFrom: String? = nil, checks: [TLSCheck]? = nil
    ) {
        self.checks = checks
        self.verdict = verdict
        self.refusesBadClients = refusesBadClients
        self.serverIdentities = serverIdentities
        self.reason = reason
        self.probedFrom = probedFrom
    }

    enum CodingKeys: String, CodingKey { case verdict, refusesBadClients, serverIdentities, reason, probedFrom, checks }
}

/// What captured traffic showed on an edge.
public struct EdgeTraffic: Codable, Hashable, Sendable {
    public var flows: Int = 0
    public var plaintextFlows: Int = 0
    public var tlsFlows: Int = 0
    /// TLS flows whose client presented a certificate (read, or inferred from TLS 1.3 record sizes).
    public var mutualTLSFlows: Int = 0
    /// TLS flows the server carried on with although the client sent no certificate (not asked for, or declined):
    /// traffic's only proof that the endpoint does not enforce mTLS. A flow refused for want of a certificate, or
    /// whose handshake was not seen, is in neither count.
    public var servedWithoutCertificate: Int = 0
    /// TLS flows whose client certificate state was inferred from TLS 1.3 record sizes (no keys), not read.
    public var clientCertificateInferred: Int = 0
    /// Application protocols seen (`http`, `redis`, `tls`…).
    public var protocols: [String] = []
    /// Identities presented by clients (SANs of client certificates seen).
    public var clientIdentities: [String] = []
    /// Identities of servers (SANs of server certificates seen).
    public var serverIdentities: [String] = []
    /// Credentials seen in clear (already redacted).
    public var credentialsInClear: Int = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case flows, plaintextFlows, tlsFlows, mutualTLSFlows, servedWithoutCertificate, clientCertificateInferred,
            protocols, clientIdentities, serverIdentities, credentialsInClear
    }

    /// Reports written before `servedWithoutCertificate` and `clientCertificateInferred` were recorded read them as
    /// 0 (their edges are judged again from the stored flows, which recount them).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.flows = try container.decode(Int.self, forKey: .flows)
        self.plaintextFlows = try container.decode(Int.self, forKey: .plaintextFlows)
        self.tlsFlows = try container.decode(Int.self, forKey: .tlsFlows)
        self.mutualTLSFlows = try container.decode(Int.self, forKey: .mutualTLSFlows)
        self.servedWithoutCertificate =
            try container.decodeIfPresent(Int.self, forKey: .servedWithoutCertificate) ?? 0
        self.clientCertificateInferred =
            try container.decodeIfPresent(Int.self, forKey: .clientCertificateInferred) ?? 0
        self.protocols = try container.decode([String].self, forKey: .protocols)
        self.clientIdentities = try container.decode([String].self, forKey: .clientIdentities)
        self.serverIdentities = try container.decode([String].self, forKey: .serverIdentities)
        self.credentialsInClear = try container.decode(Int.self, forKey: .credentialsInClear)
    }
}

/// One source → destination:port of the audit: what the policy says, what the probe proved, what traffic showed,
/// what the TLS check found, and the verdict that sums it up.
public struct Edge: Codable, Hashable, Sendable {
    public var source: String
    /// The destination container, or `host` for the host side.
    public var destination: String
    public var address: String
    public var port: Int
    public var `protocol`: ProbeProtocol
    /// The network the destination address is on.
    @ExplicitNull public var network: String?
    /// The policy's expectation, and the rule that decided it.
    @ExplicitNull public var allowed: Bool?
    @ExplicitNull public var rule: String?
    /// The probe's cell state (nil when not probed).
    @ExplicitNull public var reachability: CellState?
    @ExplicitNull public var traffic: EdgeTraffic?
    @ExplicitNull public var tls: EndpointTLS?
    public var verdict: EdgeVerdict
    /// Why the verdict is what it is (one line per reason).
    public var reasons: [String]

    public init(
        source: String, destination: String, address: String, port: Int, protocol: ProbeProtocol, network: String?,
        allowed: Bool?,
        rule: String?, reachability: CellState?, traffic: EdgeTraffic?, tls: EndpointTLS?, verdict: EdgeVerdict,
        reasons: [String]
    ) {
        self.source = source
        self.destination = destination
        self.address = address
        self.port = port
        self.protocol = `protocol`
        self.network = network
        self.allowed = allowed
        self.rule = rule
        self.reachability = reachability
        self.traffic = traffic
        self.tls = tls
        self.verdict = verdict
        self.reasons = reasons
    }

    /// `source -> destination address:port/proto`, the edge's name in reports and baselines.
    public var name: String {
        "\(self.source) -> \(self.destination) \(ReachabilityCell.destinationText(address: self.address, port: self.port))/\(self.protocol.rawValue)"
    }

    enum CodingKeys: String, CodingKey {
        case source, destination, address, port, `protocol`, network, allowed, rule, reachability, traffic, tls,
            verdict, reasons
    }
}

/// One stage of an audit and how it went.
public struct AuditStage: Codable, Hashable, Sendable {
    /// `inventory`, `probe`, `tls`, `capture`.
    public var name: String
    public var status: Status
    public var durationSeconds: Double
    @ExplicitNull public var note: String?

    /// How a stage went.
    public enum Status: String, Codable, Hashable, Sendable {
        /// Ran to the end.
        case ran
        /// Switched off, or not applicable (its input is missing).
        case skipped
        /// Could not run.
        case failed
        /// Ran, but not to the end (a part of it could not be examined or judged).
        case incomplete

        /// Whether the stage leaves nothing unexamined that it should have examined.
        public var isComplete: Bool { self == .ran || self == .skipped }
    }

    public init(name: String, status: Status, durationSeconds: Double, note: String?) {
        self.name = name
        self.status = status
        self.durationSeconds = durationSeconds
        self.note = note
    }

    enum CodingKeys: String, CodingKey { case name, status, durationSeconds, note }
}

/// Totals of an audit.
public struct AuditSummary: Codable, Hashable, Sendable {
    public var edges: Int = 0
    public var edgesByVerdict: [String: Int] = [:]
    public var findingsBySeverity: [String: Int] = [:]
    /// Seconds per stage (`inventory`, `probe`, `tls`, `capture`, `report`).
    public var durations: [String: Double] = [:]
    public var durationSeconds: Double = 0
    /// Findings left out by the ignore file, and by the baseline.
    public var ignored: Int = 0
    public var unchangedSinceBaseline: Int = 0

    public init() {}
}

/// The JSON document `bulkhead audit --format json` writes (schema `bulkhead.audit/1`): the edge table, every
/// finding, and the evidence of every stage, so `bulkhead audit --evidence report.json --policy other.yaml` can
/// re-evaluate it offline.
public struct AuditReport: Codable, Sendable, SchemaVersioned {
    public var schema: String
    public var generatedAt: String
    /// The host the audit ran on.
    public var host: String
    public var policy: String
    public var stages: [AuditStage]
    public var edges: [Edge]
    public var findings: [Finding]
    /// With `--baseline`: findings that are new since the baseline, and those that went away.
    @ExplicitNull public var baseline: BaselineComparison?
    public var complete: Bool
    public var problems: [String]
    public var summary: AuditSummary
    public var evidence: AuditEvidence

    public static let currentSchema = "bulkhead.audit/1"

    public init(
        generatedAt: String, host: String, policy: String, stages: [AuditStage], edges: [Edge], findings: [Finding],
        baseline: BaselineComparison?,
        complete: Bool, problems: [String], summary: AuditSummary, evidence: AuditEvidence
    ) {
        self.schema = Self.currentSchema
        self.generatedAt = generatedAt
        self.host = host
        self.policy = policy
        self.stages = stages
        self.edges = edges
        self.findings = findings
        self.baseline = baseline
        self.complete = complete
        self.problems = problems
        self.summary = summary
        self.evidence = evidence
    }

    enum CodingKeys: String, CodingKey {
        case schema, generatedAt, host, policy, stages, edges, findings, baseline, complete, problems, summary, evidence
    }
}

/// The raw evidence of each stage (null when the stage did not run).
public struct AuditEvidence: Codable, Sendable {
    @ExplicitNull public var inventory: InventoryReport?
    @ExplicitNull public var probe: ProbeReport?
    /// Per endpoint (`ip:port`), what the TLS check concluded.
    @ExplicitNull public var tls: [String: EndpointTLS]?
    /// The captured traffic's analysis (flows with container names resolved in `clientName`/`serverName` maps).
    @ExplicitNull public var capture: AnalysisReport?
    /// Findings of the TLS stage (kept here too, so re-evaluation keeps them).
    @ExplicitNull public var tlsFindings: [Finding]?

    public init(
        inventory: InventoryReport?, probe: ProbeReport?, tls: [String: EndpointTLS]?, capture: AnalysisReport?,
        tlsFindings: [Finding]?
    ) {
        self.inventory = inventory
        self.probe = probe
        self.tls = tls
        self.capture = capture
        self.tlsFindings = tlsFindings
    }

    enum CodingKeys: String, CodingKey { case inventory, probe, tls, capture, tlsFindings }

    /// The probe's keys. Its inventory is the audit's own, so the evidence writes it once, under `inventory`, not
    /// again inside `probe`; reading puts it back (and still accepts evidence that carried it twice).
    enum ProbeKeys: String, CodingKey {
        case schema, generatedAt, policy, settings, inventory, sources, cells, findings, complete, problems, summary
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self._inventory, forKey: .inventory)
        if let probe = self.probe {
            var nested = container.nestedContainer(keyedBy: ProbeKeys.self, forKey: .probe)
            try nested.encode(probe.schema, forKey: .schema)
            try nested.encode(probe.generatedAt, forKey: .generatedAt)
            try nested.encode(probe.policy, forKey: .policy)
            try nested.encode(probe.settings, forKey: .settings)
            try nested.encode(probe.sources, forKey: .sources)
            try nested.encode(probe.cells, forKey: .cells)
            try nested.encode(probe.findings, forKey: .findings)
            try nested.encode(probe.complete, forKey: .complete)
            try nested.encode(probe.problems, forKey: .problems)
            try nested.encode(probe.summary, forKey: .summary)
        } else {
            try container.encodeNil(forKey: .probe)
        }
        try container.encode(self._tls, forKey: .tls)
        try container.encode(self._capture, forKey: .capture)
        try container.encode(self._tlsFindings, forKey: .tlsFindings)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let inventory = try container.decodeIfPresent(InventoryReport.self, forKey: .inventory)
        self.inventory = inventory
        self.tls = try container.decodeIfPresent([String: EndpointTLS].self, forKey: .tls)
        self.capture = try container.decodeIfPresent(AnalysisReport.self, forKey: .capture)
        self.tlsFindings = try container.decodeIfPresent([Finding].self, forKey: .tlsFindings)
        guard container.contains(.probe), try !container.decodeNil(forKey: .probe) else {
            self.probe = nil
            return
        }
        let nested = try container.nestedContainer(keyedBy: ProbeKeys.self, forKey: .probe)
        guard let probeInventory = try nested.decodeIfPresent(InventoryReport.self, forKey: .inventory) ?? inventory
        else {
            throw DecodingError.keyNotFound(
                ProbeKeys.inventory,
                DecodingError.Context(
                    codingPath: nested.codingPath,
                    debugDescription:
                        "probe evidence without an inventory (neither evidence.inventory nor evidence.probe.inventory)")
            )
        }
        var probe = ProbeReport(
            generatedAt: try nested.decode(String.self, forKey: .generatedAt),
            policy: try nested.decode(String.self, forKey: .policy),
            settings: try nested.decode(ProbeSettings.self, forKey: .settings), inventory: probeInventory,
            sources: try nested.decode([ProbeSource].self, forKey: .sources),
            cells: try nested.decode([ReachabilityCell].self, forKey: .cells),
            findings: try nested.decode([Finding].self, forKey: .findings),
            complete: try nested.decode(Bool.self, forKey: .complete),
            problems: try nested.decode([String].self, forKey: .problems),
            summary: try nested.decode(ProbeSummary.self, forKey: .summary))
        probe.schema = try nested.decode(String.self, forKey: .schema)
        self.probe = probe
    }
}

/// How the findings compare with an accepted earlier report.
public struct BaselineComparison: Codable, Hashable, Sendable {
    /// The baseline report's path and time.
    public var baseline: String
    public var new: [Finding]
    public var resolved: [Finding]
    public var unchanged: Int

    public init(baseline: String, new: [Finding], resolved: [Finding], unchanged: Int) {
        self.baseline = baseline
        self.new = new
        self.resolved = resolved
        self.unchanged = unchanged
    }

    /// For each of `findings` (the report's, in order), whether it is one of ``new``; the others are the ones the
    /// baseline accepted. Matched whole, as many of each as are new.
    public func newFlags(_ findings: [Finding]) -> [Bool] {
        var remaining: [Finding: Int] = [:]
        for finding in self.new { remaining[finding, default: 0] += 1 }
        return findings.map { finding in
            guard let count = remaining[finding], count > 0 else { return false }
            remaining[finding] = count - 1
            return true
        }
    }
}
