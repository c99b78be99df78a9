import BulkheadModel

extension ProbeRunResult {
    /// Gives each source that shares another's network namespace (``ProbePlan/sharedNamespaces``: a sidecar started
    /// with `--network container:app`) the cells of the source probed in its stead, under its own name and process.
    ///
    /// Why copies rather than probes: the two are one network endpoint — the same interfaces, addresses, routes and
    /// firewall marks — so probing from each would send every probe twice and prove nothing more. Why copies rather
    /// than nothing: a policy names containers, and a rule about the sidecar (or its labels) must be judged on the
    /// paths the sidecar has, which are exactly those of the namespace it shares. Each copy says whose probe it is.
    public func sharingNamespaces(_ shared: [String: String]) -> ProbeRunResult {
        guard !shared.isEmpty else { return self }
        var byProbed: [String: [String]] = [:]
        for (sharer, probed) in shared { byProbed[probed, default: []].append(sharer) }
        let pids = Dictionary(self.sources.map { ($0.name, $0.pid) }, uniquingKeysWith: { first, _ in first })
        var result = self
        var copies: [ReachabilityCell] = []
        for cell in self.cells {
            for sharer in byProbed[cell.source]?.sorted() ?? [] {
                var copy = cell
                copy.source = sharer
                copy.sourcePid = pids[sharer] ?? cell.sourcePid
                let whose =
                    "the probe from \(cell.source), whose network namespace \(sharer) shares: one namespace, probed once"
                copy.note = cell.note.map { "\($0) (\(whose))" } ?? whose
                copies.append(copy)
            }
        }
        // In the order of the sources, as the plan orders cells, so the sharer's rows sit where its own would.
        var bySource: [String: [ReachabilityCell]] = [:]
        for cell in self.cells + copies { bySource[cell.source, default: []].append(cell) }
        result.cells = self.sources.flatMap { bySource.removeValue(forKey: $0.name) ?? [] }
        // A cell of no listed source (none today) is kept, never dropped.
        result.cells += bySource.keys.sorted().flatMap { bySource[$0] ?? [] }
        return result
    }
}
