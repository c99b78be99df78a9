import BulkheadModel

extension ProbeReport {
    /// The same evidence evaluated against `policy`: each cell's expectation, rule and violation; findings; the
    /// violation counts. Earlier evaluations are replaced, so stored evidence can be re-evaluated offline.
    public func evaluated(with policy: Policy, name: String) -> ProbeReport {
        let evaluator = PolicyEvaluator(policy: policy, inventory: self.inventory)
        var report = self.judged(cells: evaluator.evaluate(self.cells), name: name)
        report.findings += evaluator.selectorsSelectingNothing(cells: self.cells, namespaces: self.inventory.namespaces)
        return report
    }

    /// The same evidence with its cells replaced by `cells`, evaluated already (by ``PolicyEvaluator/evaluate(_:)``,
    /// in the same order) against the policy called `name`: findings and violation counts made from them.
    public func judged(cells: [ReachabilityCell], name: String) -> ProbeReport {
        var copy = self
        copy.cells = cells
        copy.policy = name
        copy.findings = ReachabilityFindings.findings(copy.cells)
        copy.summary.violations = [:]
        for cell in copy.cells {
            if let violation = cell.violation { copy.summary.violations[violation.rawValue, default: 0] += 1 }
        }
        return copy
    }

    /// The evidence alone, as an audit keeps it: every cell without the policy's expectation, rule and violation,
    /// no policy name, no findings and no violation counts (those are the judgement's, made again whenever it is).
    public var facts: ProbeReport {
        var copy = self
        copy.cells = self.cells.map { cell in
            var fact = cell
            fact.expected = nil
            fact.violation = nil
            fact.rule = nil
            return fact
        }
        copy.policy = ""
        copy.findings = []
        copy.summary.violations = [:]
        return copy
    }

    /// Cells that contradict the policy.
    public var violations: [ReachabilityCell] { self.cells.filter { $0.violation != nil } }
}
