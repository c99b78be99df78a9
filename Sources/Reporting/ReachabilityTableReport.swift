import BulkheadModel
import Foundation

/// The readable `probe` report: one truth table per network (sources × destinations on it), the host side, then
/// violations with a command to reproduce each, then problems and totals.
public enum ReachabilityTableReport {
    public static let legend =
        "✓ reachable  ○ reachable-closed (path open, nothing listens)  R rejected  · filtered  ~ flapping  ? unknown (UDP, no answer)  - skipped  ! error"

    /// Every name, address, rule and note is escaped (``TerminalText``): a container name holding `ESC[2J` prints
    /// as text.
    public static func render(_ report: ProbeReport, style: TerminalStyle) -> String {
        let e = TerminalText.escape as (String) -> String
        var sections: [String] = []
        let sources = report.sources.map(\.name)
        // Group destinations by the network their address is on; the host side and explicit targets apart.
        var groups: [(title: String, cells: [ReachabilityCell])] = []
        let byNetwork = Dictionary(
            grouping: report.cells.filter { $0.destinationKind == .container }, by: { $0.network ?? "-" })
        for network in byNetwork.keys.sorted() {
            groups.append(("Network \(e(network))", byNetwork[network] ?? []))
        }
        let host = report.cells.filter { $0.destinationKind == .gateway }
        if !host.isEmpty { groups.append(("Host side (gateways)", host)) }
        let namespaced = report.cells.filter { $0.destinationKind == .namespace }
        if !namespaced.isEmpty { groups.append(("Other network namespaces", namespaced)) }
        let explicit = report.cells.filter { $0.destinationKind == .explicit }
        if !explicit.isEmpty { groups.append(("Listed targets", explicit)) }

        for group in groups {
            // Columns: destination (name + address), cells: one symbol per probed port, in port order.
            let columns = Array(Set(group.cells.map { Column(name: $0.destinationName, address: $0.address) })).sorted()
            // A matrix wider than a terminal reads worse than a count per source: past 8 destinations, one row per
            // source with its cells by state (the violations are listed below either way, the JSON has every cell).
            if columns.count > 8 {
                var table = TextTable(
                    header: ["FROM", "CELLS"] + CellState.allCases.map { $0.symbol + " " + $0.rawValue } + [
                        "VIOLATIONS"
                    ])
                for source in sources {
                    let cells = group.cells.filter { $0.source == source }
                    guard !cells.isEmpty else { continue }
                    var row = [e(source), String(cells.count)]
                    for state in CellState.allCases {
                        let count = cells.filter { $0.state == state }.count
                        row.append(count == 0 ? "" : String(count))
                    }
                    let violations = cells.filter { $0.violation != nil }.count
                    row.append(violations == 0 ? "" : style.severity(String(violations), .high))
                    table.rows.append(row)
                }
                sections.append(
                    style.bold(group.title) + " (\(columns.count) destinations: counts per source)\n" + table.render())
                continue
            }
            var ports: [Column: [String]] = [:]
            for column in columns {
                let keys = Set(
                    group.cells.filter { $0.destinationName == column.name && $0.address == column.address }.map(
                        Self.portLabel))
                ports[column] = keys.sorted(by: Self.portOrder)
            }
            var table = TextTable(header: ["FROM \\ TO"] + columns.map { "\(e($0.name)) \(e($0.address))" })
            let index = Dictionary(
                group.cells.map { ("\($0.source)|\($0.destinationName)|\($0.address)|\(Self.portLabel($0))", $0) },
                uniquingKeysWith: { first, _ in first })
            let rowSources = sources.filter { source in group.cells.contains { $0.source == source } }
            for source in rowSources {
                var row = [e(source)]
                for column in columns {
                    var text = ""
                    for port in ports[column] ?? [] {
                        guard let cell = index["\(source)|\(column.name)|\(column.address)|\(port)"] else {
                            text += " "
                            continue
                        }
                        text += cell.violation != nil ? style.severity(cell.state.symbol, .high) : cell.state.symbol
                    }
                    row.append(text.trimmingCharacters(in: .whitespaces).isEmpty ? "" : text)
                }
                table.rows.append(row)
            }
            var portsLine = columns.map { "\(e($0.name)): \((ports[$0] ?? []).joined(separator: " "))" }
            portsLine = Array(Set(portsLine)).sorted()
            sections.append(
                style.bold(group.title) + "\n" + table.render() + "\nports, in cell order — "
                    + portsLine.joined(separator: "; "))
        }
        if groups.isEmpty {
            sections.append("No cells: nothing to probe (no running containers with a network namespace?).")
        }
        sections.append(
            "Legend: " + Self.legend
                + (report.findings.isEmpty ? "" : "; " + style.severity("red", .high) + " = violation"))

        let violations = report.cells.filter { $0.violation != nil }
        var lines: [String] = []
        for cell in violations {
            let severity: Severity =
                cell.violation == .unexpectedReachable ? (cell.state == .reachableClosed ? .medium : .high) : .medium
            lines.append(
                "\(style.severity(severity.rawValue.uppercased().padding(toLength: 8, withPad: " ", startingAt: 0), severity)) \(cell.violation?.rawValue ?? ""): \(e(cell.source)) -> \(e(cell.destinationName)) \(e(cell.destination))/\(cell.protocol.rawValue) is \(cell.state.rawValue); expected \(cell.expected?.rawValue ?? "-") (\(e(cell.rule ?? "-")))"
            )
            if let repro = ReproCommand.line(for: cell) { lines.append("         reproduce: \(e(repro))") }
        }
        sections.append(
            style.bold("Violations") + " (policy: \(e(report.policy)))\n"
                + (lines.isEmpty ? "None." : lines.joined(separator: "\n")))

        // Findings other than the violations listed above (a policy rule that selects no container…).
        let others = report.findings.filter { $0.kind != .unexpectedReachable && $0.kind != .unexpectedBlocked }
        if !others.isEmpty {
            var findings: [String] = []
            for finding in others {
                findings.append(
                    "\(style.severity(finding.severity.rawValue.uppercased().padding(8), finding.severity)) \(e(finding.kind.identifier)): \(e(finding.title))"
                )
                findings.append("         \(e(finding.detail))")
            }
            sections.append(style.bold("Other findings") + "\n" + findings.joined(separator: "\n"))
        }

        let errors = report.cells.filter { $0.state == .error || $0.state == .skipped }
        if !errors.isEmpty {
            var notes: [String] = []
            for (note, cells) in Dictionary(
                grouping: errors, by: { "\($0.state.rawValue): \($0.note ?? "no reason recorded")" }
            ).sorted(by: { $0.key < $1.key }) {
                notes.append("  \(cells.count) × \(e(note))")
            }
            sections.append(style.bold("Not probed") + "\n" + notes.joined(separator: "\n"))
        }
        let states = CellState.allCases.compactMap { state in
            report.summary.byState[state.rawValue].map { "\($0) \(state.rawValue)" }
        }
        var summary =
            "\(report.summary.cells) cells from \(report.summary.sources) sources: " + states.joined(separator: ", ")
        summary += String(format: "; %d probes in %.2f s", report.summary.attemptsSent, report.summary.durationSeconds)
        if !report.complete {
            summary += "\n" + style.severity("INCOMPLETE", .high) + ": " + e(report.problems.joined(separator: "; "))
        }
        sections.append(summary)
        return sections.joined(separator: "\n\n") + "\n"
    }

    struct Column: Hashable, Comparable {
        var name: String
        var address: String
        static func < (lhs: Column, rhs: Column) -> Bool {
            (lhs.name, IPAddress(lhs.address) ?? IPAddress(ipv4: 0)) < (
                rhs.name, IPAddress(rhs.address) ?? IPAddress(ipv4: 0)
            )
        }
    }

    static func portLabel(_ cell: ReachabilityCell) -> String {
        cell.protocol == .icmp ? "icmp" : "\(cell.protocol.rawValue)/\(cell.port ?? 0)"
    }

    static func portOrder(_ lhs: String, _ rhs: String) -> Bool {
        func key(_ label: String) -> (Int, Int) {
            if label == "icmp" { return (2, 0) }
            let parts = label.split(separator: "/")
            return (parts.first == "tcp" ? 0 : 1, Int(parts.last ?? "") ?? 0)
        }
        return key(lhs) < key(rhs)
    }
}
