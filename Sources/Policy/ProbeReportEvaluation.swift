import BulkheadModel

extension ProbeReport {
    /// The same evidence evaluated against `policy`: each cell's expectation, rule and violation; findings; the
    /// violation counts. Earlier evaluations are replaced, so stored evidence can be re-evaluated offline.
    public func evaluated(with policy: Policy, name: String) -> ProbeReport {
        var copy = self
        copy.cells = PolicyEvaluator(policy: policy, inventory: self.inventory).evaluate(self.cells)
        copy.policy = name
        copy.findings = ReachabilityFindings.findings(copy.cells)
        copy.summary.violations = [:]
        for cell in copy.cells {
            if let violation = cell.violation { copy.summary.violations[violation.rawValue, default: 0] += 1 }
        }
        return copy
    }

    /// Cells that contradict the policy.
    public var violations: [ReachabilityCell] { self.cells.filter { $0.violation != nil } }
}
