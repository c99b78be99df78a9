import BulkheadModel
import Policy
import Testing

@testable import Audit

/// An audit over an inventory the engine did not answer in full: incomplete, each problem said once.
@Suite("Audit over an incomplete inventory")
struct IncompleteInventoryTests {
    @Test("an inventory problem that the probe report repeats is one problem of the audit, not two")
    func problemsOnce() {
        let problem = "container b could not be inspected (HTTP 500: injected failure): not examined"
        let inventory = InventoryReport(
            sources: [], networks: [], containers: [], namespaces: [], findings: [], complete: false,
            problems: [problem], summary: InventorySummary())
        let probe = ProbeReport(
            generatedAt: "2026-12-07T12:00:00Z", policy: "",
            settings: ProbeSettings(
                attempts: 1, timeoutsSeconds: [:], maxInFlight: 1, maxInFlightPerDestination: 1, extraPorts: [],
                explicitTargets: []),
            inventory: inventory, sources: [], cells: [], findings: [], complete: false,
            problems: ["inventory: \(problem)"], summary: ProbeSummary())
        let report = AuditRunner.assemble(
            evidence: AuditEvidence(inventory: inventory, probe: probe, tls: nil, capture: nil, tlsFindings: nil),
            stages: [
                AuditStage(name: "inventory", status: .incomplete, durationSeconds: 0.01, note: problem),
                AuditStage(name: "probe", status: .incomplete, durationSeconds: 0.01, note: nil),
            ], policy: .dockerDefault, policyName: "test", problems: [])
        #expect(report.problems == ["inventory: \(problem)"])
        #expect(!report.complete)
    }
}
