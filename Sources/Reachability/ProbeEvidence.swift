import BulkheadModel
import Foundation

extension ProbeOptions {
    /// The settings as recorded in the evidence.
    public var settings: ProbeSettings {
        ProbeSettings(
            attempts: self.attempts,
            timeoutsSeconds: ["tcp": self.tcpTimeout, "udp": self.udpTimeout, "icmp": self.icmpTimeout],
            maxInFlight: self.maxInFlight, maxInFlightPerDestination: self.maxInFlightPerDestination,
            extraPorts: self.extraPorts.map(\.description), explicitTargets: self.explicitTargets
        )
    }
}

extension ProbeRunResult {
    /// The evidence document, before any policy is applied.
    public func report(inventory: InventoryReport, options: ProbeOptions, generatedAt: Date = Date()) -> ProbeReport {
        var summary = ProbeSummary()
        summary.sources = self.sources.count
        summary.cells = self.cells.count
        for cell in self.cells { summary.byState[cell.state.rawValue, default: 0] += 1 }
        summary.attemptsSent = self.attemptsSent
        summary.durationSeconds = (self.durationSeconds * 1000).rounded() / 1000
        var problems = inventory.complete ? [] : inventory.problems.map { "inventory: \($0)" }
        problems += self.problems
        let errors = self.cells.filter { $0.state == .error }.count
        if errors > 0 { problems.append("\(errors) cell\(errors == 1 ? "" : "s") could not be probed (state error)") }
        return ProbeReport(
            generatedAt: ISO8601DateFormatter().string(from: generatedAt), policy: "", settings: options.settings,
            inventory: inventory,
            sources: self.sources, cells: self.cells, findings: [], complete: errors == 0 && inventory.complete,
            problems: problems,
            summary: summary
        )
    }
}
