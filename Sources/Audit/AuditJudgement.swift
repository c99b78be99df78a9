import BulkheadModel
import Foundation
import Policy

/// What the audit's stages gathered, before any judgement: the evidence of every stage (facts only, what
/// `audit --evidence` reloads), how each stage went, and what went wrong while gathering.
public struct GatheredEvidence: Sendable {
    public var evidence: AuditEvidence
    public var stages: [AuditStage]
    /// Problems met while gathering (a stage that failed, endpoints the battery could not judge).
    public var problems: [String]
    /// Wall time of the gathering.
    public var durationSeconds: Double
    /// The host the evidence was gathered on: this one for a live audit, the stored report's for `--evidence`.
    public var host: String
    /// When the evidence was gathered (ISO 8601), for a stored report; nil for a live audit, which is judged as soon
    /// as it has gathered: the time of its judgement.
    public var gatheredAt: String?

    /// Evidence gathered on `host` (this host unless said otherwise) at `gatheredAt` (now unless said otherwise).
    public init(
        evidence: AuditEvidence, stages: [AuditStage], problems: [String], durationSeconds: Double,
        host: String = ProcessInfo.processInfo.hostName, gatheredAt: String? = nil
    ) {
        self.evidence = evidence
        self.stages = stages
        self.problems = problems
        self.durationSeconds = durationSeconds
        self.host = host
        self.gatheredAt = gatheredAt
    }

    /// The evidence of a stored report, without its judgement (its problems of judgement are dropped: they are made
    /// again against the policy it is judged with now). Its host and time stay the report's: judged again elsewhere
    /// or later, it is still the audit of that host at that time (a title, a Prometheus timestamp and `merge`'s node
    /// name must not turn it into an audit of the machine that judged it, made now).
    public init(stored report: AuditReport) {
        self.init(
            evidence: report.evidence, stages: report.stages,
            problems: report.problems.filter { !$0.hasPrefix(AuditJudgement.problemPrefix) },
            durationSeconds: report.summary.durationSeconds, host: report.host, gatheredAt: report.generatedAt)
    }
}

/// The judgement of gathered evidence, made once: the policy (probe cells, edges, mTLS requirements), then the
/// accepted risks, then the baseline, then the totals. A live audit, `--evidence` re-judgement and `scenario run`
/// all come through here; the command line only prints what it returns.
public enum AuditJudgement {
    /// Problems of judgement start with this, so a stored report re-judged later drops them.
    public static let problemPrefix = "judgement: "

    /// An earlier report the findings are compared with, and where it was read from.
    public struct BaselineReport: Sendable {
        public var report: AuditReport
        public var path: String
        public init(report: AuditReport, path: String) {
            self.report = report
            self.path = path
        }
    }

    /// A judged report, and what the user should be told beside it (acceptances that expired).
    public struct Judged: Sendable {
        public var report: AuditReport
        public var notes: [String]
        /// The probe matrix as the judgement's one evaluation judged it (each cell's expectation, rule and violation;
        /// the report keeps the facts only), for a caller that compares it with something (`scenario run`).
        public var matrix: ProbeReport?
    }

    public static func judge(
        _ gathered: GatheredEvidence, policy: Policy, policyName: String, risks: (AcceptedRisks, source: String)? = nil,
        baseline: BaselineReport? = nil,
        today: Date = Date()
    ) -> Judged {
        let evaluation = Self.evaluate(gathered.evidence, policy: policy, policyName: policyName)
        var report = Self.assemble(
            evidence: gathered.evidence, evaluation: evaluation, stages: gathered.stages, policyName: policyName,
            problems: gathered.problems, host: gathered.host,
            generatedAt: gathered.gatheredAt ?? ISO8601DateFormatter().string(from: today))
        report.summary.durationSeconds = gathered.durationSeconds
        var notes: [String] = []
        let lacking = Self.lackingFacts(evaluation)
        if !lacking.isEmpty {
            report.problems += lacking.map { Self.problemPrefix + $0 }
            report.complete = false
        }
        if let (risks, source) = risks {
            let applied = risks.apply(to: report.findings, today: today)
            report.findings = applied.kept
            report.summary.ignored = applied.ignored.count
            for entry in applied.expired {
                notes.append(
                    "\(source): the acceptance of \(entry.kind)\(entry.location.map { " at \($0)" } ?? "") expired on \(entry.expires); it is reported again"
                )
            }
        }
        if let baseline {
            let comparison = Baseline.compare(report.findings, with: baseline.report, path: baseline.path)
            report.baseline = comparison
            report.summary.unchangedSinceBaseline = comparison.unchanged
        }
        report.summary.findingsBySeverity = [:]
        for finding in report.findings { report.summary.findingsBySeverity[finding.severity.rawValue, default: 0] += 1 }
        return Judged(report: report, notes: notes, matrix: evaluation.probe)
    }

    /// The policy's one evaluation of an audit's evidence: every path it is asked about — each probe cell and each
    /// edge seen only in traffic — evaluated once, in one pass of one ``PolicyEvaluator``; the probe matrix, the edges
    /// and the mTLS requirements are all read from those answers.
    public struct PolicyEvaluation: Sendable {
        /// Every path the policy was asked about, with its expectation, rule and violation, once each: the probe's
        /// cells in their order, then the paths of the edges seen only in traffic in edge order.
        public var cells: [ReachabilityCell]
        /// The probe matrix judged (its cells are the first of `cells`): its findings and violation counts.
        public var probe: ProbeReport?
        /// The edges with their verdicts (none without an inventory).
        public var edges: [Edge]
        /// The findings only edges can show (mTLS requirements not met), and those of the policy itself against
        /// the inventory (a selector that matches no container).
        public var edgeFindings: [Finding]
        /// Per edge, in the same order, the mTLS requirement covering its path.
        var requirements: [(name: String, requirement: MTLSRequirement)?]
    }

    /// Evaluates `policy` once over the evidence: the probe's cells (stored evidence of earlier versions carried a
    /// judgement: it is replaced) and the paths of edges seen only in traffic, in one call; then the edges' verdicts.
    public static func evaluate(_ evidence: AuditEvidence, policy: Policy, policyName: String) -> PolicyEvaluation {
        let probe = evidence.probe?.facts
        let probeCells = probe?.cells ?? []
        let joined = evidence.inventory.map {
            EdgeBuilder(inventory: $0).join(probe: probe, tls: evidence.tls ?? [:], capture: evidence.capture)
        }
        guard let inventory = evidence.inventory ?? probe?.inventory else {
            return PolicyEvaluation(cells: [], probe: nil, edges: [], edgeFindings: [], requirements: [])
        }
        let evaluator = PolicyEvaluator(policy: policy, inventory: inventory)
        let cells = evaluator.evaluate(probeCells + (joined?.trafficPaths ?? []))
        var requirements: [(name: String, requirement: MTLSRequirement)?] = []
        var answers: [EdgeBuilder.Answer] = []
        var traffic = probeCells.count
        for path in joined?.paths ?? [] {
            let cell: ReachabilityCell
            switch path {
            case .probed(let index):
                cell = cells[index]
            case .traffic:
                cell = cells[traffic]
                traffic += 1
            }
            let requirement = evaluator.mtlsRequirement(for: cell)
            requirements.append(requirement)
            answers.append(
                EdgeBuilder.Answer(expected: cell.expected, rule: cell.rule, mtlsRequirement: requirement?.name))
        }
        let judged = joined.map { EdgeBuilder.judge($0, answers: answers) }
        return PolicyEvaluation(
            cells: cells, probe: probe?.judged(cells: Array(cells.prefix(probeCells.count)), name: policyName),
            edges: judged?.edges ?? [],
            edgeFindings: (judged?.findings ?? [])
                + evaluator.selectorsSelectingNothing(cells: cells, namespaces: inventory.namespaces),
            requirements: requirements)
    }

    /// The report from evidence and the policy's evaluation of it: edges, findings, problems, totals; of the evidence
    /// gathered on `host` at `generatedAt`.
    static func assemble(
        evidence: AuditEvidence, evaluation: PolicyEvaluation, stages: [AuditStage], policyName: String,
        problems: [String], host: String, generatedAt: String
    ) -> AuditReport {
        // The report keeps the facts only; the probe matrix judged against the policy feeds the edges and findings.
        var evidence = evidence
        var problems = problems
        evidence.probe = evidence.probe?.facts
        var findings: [Finding] = []
        var edges = evaluation.edges
        // Probe findings a Swarm diagnosis explains (an encrypted overlay's cross-node cells), left out below.
        var absorbed = Set<String>()
        if let inventory = evidence.inventory {
            findings += inventory.findings
            findings += SwarmFleetJudgement.apply(
                inventory: inventory, cells: evidence.probe?.cells ?? [], flows: evidence.capture?.flows ?? [],
                edges: &edges, absorbed: &absorbed)
        }
        findings += evaluation.edgeFindings
        findings += (evaluation.probe?.findings ?? []).filter {
            !($0.kind == .unexpectedBlocked && absorbed.contains($0.location ?? ""))
        }
        findings += evidence.tlsFindings ?? []
        findings += evidence.capture?.findings ?? []
        if let probe = evidence.probe, !probe.complete { problems += probe.problems.filter { !problems.contains($0) } }
        if let inventory = evidence.inventory, !inventory.complete {
            // The probe report repeats the inventory's problems under the same prefix: each is said once.
            problems += inventory.problems.map { "inventory: \($0)" }.filter { !problems.contains($0) }
        }
        var summary = AuditSummary()
        summary.edges = edges.count
        for edge in edges { summary.edgesByVerdict[edge.verdict.rawValue, default: 0] += 1 }
        for finding in findings { summary.findingsBySeverity[finding.severity.rawValue, default: 0] += 1 }
        for stage in stages { summary.durations[stage.name] = AuditRunner.round(stage.durationSeconds) }
        let complete = stages.allSatisfy(\.status.isComplete) && problems.isEmpty
        return AuditReport(
            generatedAt: generatedAt, host: host, policy: policyName, stages: stages,
            edges: edges,
            findings: findings.sorted {
                ($1.severity, $0.kind, $0.location ?? "") < ($0.severity, $1.kind, $1.location ?? "")
            },
            baseline: nil, complete: complete, problems: problems, summary: summary, evidence: evidence
        )
    }

    /// The facts the policy's mTLS requirements need that the evidence lacks: an endpoint the TLS stage checked
    /// without something a requirement names (its valid client certificate, the CA key, the trust bundle, the
    /// expected server identity). The edge is still judged (fail closed: what is not proven is not enforced), but
    /// the judgement is incomplete, and says what a new audit with this policy would check. One line per endpoint.
    static func lackingFacts(_ evaluation: PolicyEvaluation) -> [String] {
        var lacking: [String: String] = [:]
        for (edge, requirement) in zip(evaluation.edges, evaluation.requirements) where edge.protocol == .tcp {
            guard let tls = edge.tls, lacking[edge.address + ":\(edge.port)"] == nil,
                let (name, requirement) = requirement
            else { continue }
            let checked = Set(tls.checks ?? [.forgedCertificates])
            let missing = requirement.expectations(relativeTo: nil).checks.filter { !checked.contains($0) }
            guard !missing.isEmpty else { continue }
            let endpoint = EdgeBuilder.endpoint(of: edge)
            lacking[edge.address + ":\(edge.port)"] =
                "\(endpoint): \(name) needs \(missing.map(\.rawValue).joined(separator: ", ")), which the evidence lacks "
                + "(\(tls.checks == nil ? "evidence written before checks were recorded" : "the TLS stage had no \(missing.map(\.needs).joined(separator: ", "))")); "
                + "audit again with this policy to check them"
        }
        return lacking.keys.sorted().compactMap { lacking[$0] }
    }
}
