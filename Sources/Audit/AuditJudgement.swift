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

    public init(evidence: AuditEvidence, stages: [AuditStage], problems: [String], durationSeconds: Double) {
        self.evidence = evidence
        self.stages = stages
        self.problems = problems
        self.durationSeconds = durationSeconds
    }

    /// The evidence of a stored report, without its judgement (its problems of judgement are dropped: they are made
    /// again against the policy it is judged with now).
    public init(stored report: AuditReport) {
        self.init(
            evidence: report.evidence, stages: report.stages,
            problems: report.problems.filter { !$0.hasPrefix(AuditJudgement.problemPrefix) },
            durationSeconds: report.summary.durationSeconds)
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
    }

    public static func judge(
        _ gathered: GatheredEvidence, policy: Policy, policyName: String, risks: (AcceptedRisks, source: String)? = nil,
        baseline: BaselineReport? = nil,
        today: Date = Date()
    ) -> Judged {
        var report = AuditRunner.assemble(
            evidence: gathered.evidence, stages: gathered.stages, policy: policy, policyName: policyName,
            problems: gathered.problems)
        report.summary.durationSeconds = gathered.durationSeconds
        var notes: [String] = []
        let lacking = Self.lackingFacts(report, policy: policy)
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
        return Judged(report: report, notes: notes)
    }

    /// The facts the policy's mTLS requirements need that the evidence lacks: an endpoint the TLS stage checked
    /// without something a requirement names (its valid client certificate, the CA key, the trust bundle, the
    /// expected server identity). The edge is still judged (fail closed: what is not proven is not enforced), but
    /// the judgement is incomplete, and says what a new audit with this policy would check. One line per endpoint.
    static func lackingFacts(_ report: AuditReport, policy: Policy) -> [String] {
        guard let inventory = report.evidence.inventory, policy.mtls?.require.isEmpty == false else { return [] }
        let evaluator = PolicyEvaluator(policy: policy, inventory: inventory)
        var lacking: [String: String] = [:]
        for edge in report.edges where edge.protocol == .tcp {
            guard let tls = edge.tls, lacking[edge.address + ":\(edge.port)"] == nil,
                let (name, requirement) = evaluator.mtlsRequirement(
                    address: edge.address, port: edge.port, source: edge.source)
            else { continue }
            let checked = Set(tls.checks ?? [.forgedCertificates])
            let missing = requirement.expectations(relativeTo: nil).checks.filter { !checked.contains($0) }
            guard !missing.isEmpty else { continue }
            let endpoint =
                "\(edge.destination) \(ReachabilityCell.destinationText(address: edge.address, port: edge.port))/tcp"
            lacking[edge.address + ":\(edge.port)"] =
                "\(endpoint): \(name) needs \(missing.map(\.rawValue).joined(separator: ", ")), which the evidence lacks "
                + "(\(tls.checks == nil ? "evidence written before checks were recorded" : "the TLS stage had no \(missing.map(\.needs).joined(separator: ", "))")); "
                + "audit again with this policy to check them"
        }
        return lacking.keys.sorted().compactMap { lacking[$0] }
    }
}
