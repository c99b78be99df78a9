import Audit
import BulkheadModel
import Foundation
import Policy
import Reachability

#if canImport(Glibc)
    import Glibc
#endif

/// `scenario run`'s audit of a lab scenario that is up (the lab harness sits above the audit: it runs one, the
/// audit knows nothing of scenarios): every stage on the scenario's own containers and networks,
/// the scenario's traffic run inside the capture stage (so the capture sees it, and only it), then the comparison
/// with what the scenario expects.
public enum ScenarioAudit {
    public struct Outcome: Sendable {
        public var report: AuditReport
        public var traffic: [TrafficResult]
        public var findings: ScenarioComparison
        /// nil when the scenario declares no expected matrix.
        public var reachability: ReachabilityComparison?
        /// The probe matrix judged against the scenario's policy (each cell's expectation and violation), for the
        /// comparison and the matrix table; nil without probes. The report's evidence keeps the facts only.
        public var matrix: ProbeReport?

        /// The findings, the traffic and the matrix all as expected.
        public var matches: Bool {
            self.findings.matches && self.traffic.allSatisfy(\.asExpected) && self.reachability?.matches != false
        }
    }

    /// Audits the scenario (which must be up). Without root the traffic runs before the audit, uncaptured.
    public static func run(
        _ scenario: Scenario, lab: LabRunner, progress: @escaping @Sendable (String) -> Void = { _ in }
    ) -> Outcome {
        let box = TrafficBox()
        let runTraffic: @Sendable () -> Void = {
            do { box.results = try lab.generateTraffic(scenario) } catch { box.error = "\(error)" }
        }
        var options = AuditOptions()
        (options.policy, options.policyName) = ScenarioProbe.policy(for: scenario)
        // Probing (and the TLS battery behind it) needs something to judge against, or a `probe:` section asking for it.
        options.probe = scenario.policy != nil || scenario.expect?.reachability != nil || scenario.probe != nil
        // Paths in the scenario policy's mTLS requirements name files of the scenario's generated PKI.
        options.policyDirectory = lab.pkiDirectory(scenario).path
        options.probeOptions = ScenarioProbe.options(for: scenario)
        options.scopeLabel = "bulkhead.scenario=\(scenario.name)"
        if getuid() == 0 {
            options.duringCapture = runTraffic
        } else {
            progress("not root: the traffic runs without a capture (live capture needs root or CAP_NET_RAW)")
            runTraffic()
        }
        let gathered = AuditRunner.gather(engine: lab.engine, options: options, progress: progress)
        // One judgement, one evaluation of the policy: the report and the judged matrix both come from it.
        let judged = AuditJudgement.judge(gathered, policy: options.policy, policyName: options.policyName)
        var report = judged.report
        if options.duringCapture != nil, report.stages.contains(where: { $0.name == "capture" && $0.status == .failed })
        {
            runTraffic()  // the capture could not start: the traffic must still run
        }
        if let error = box.error {
            report.problems.append("traffic: \(error)")
            report.complete = false
        }
        let matrix = judged.matrix
        let reachability =
            scenario.expect?.reachability == nil ? nil : matrix.map { ScenarioProbe.compare(scenario, cells: $0.cells) }
        return Outcome(
            report: report, traffic: box.results,
            findings: ScenarioComparison.compare(scenario, findings: report.findings), reachability: reachability,
            matrix: matrix)
    }
}

/// The traffic's outcome, written by the capture stage's thread and read after the audit returns.
final class TrafficBox: @unchecked Sendable {
    var results: [TrafficResult] = []
    var error: String?
}
