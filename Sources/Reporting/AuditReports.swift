import BulkheadModel
import Foundation

/// The human-readable audit renderings: terminal table, markdown and self-contained HTML. All three show the same
/// things in the same order: the edge table (the centre of the audit), findings, stages, totals.
public enum AuditReports {
    /// The edge table's rows: the edges that carry (or could carry) service traffic, and every violation. Edges
    /// blocked as the policy expects, and open paths to ports nothing listens on, are counted, not listed.
    public static func listedEdges(_ report: AuditReport) -> (listed: [Edge], blockedAsExpected: Int) {
        let listed = report.edges.filter { edge in
            edge.verdict == .violation || (edge.verdict != .blocked && !(edge.reachability == .reachableClosed && edge.traffic == nil))
        }
        return (listed, report.edges.count - listed.count)
    }

    static func columns(_ edge: Edge) -> [String] {
        let allowed = edge.allowed.map { $0 ? "yes" : "no" } ?? "-"
        let traffic: String
        if let seen = edge.traffic {
            var parts: [String] = []
            if seen.plaintextFlows > 0 { parts.append("\(seen.plaintextFlows) plain") }
            if seen.tlsFlows > 0 { parts.append("\(seen.tlsFlows) tls (\(seen.mutualTLSFlows) mtls)") }
            if seen.credentialsInClear > 0 { parts.append("\(seen.credentialsInClear) cred!") }
            traffic = "\(seen.protocols.joined(separator: ",")) " + parts.joined(separator: ", ")
        } else {
            traffic = "-"
        }
        let tls = edge.tls.map { tls in tls.verdict + (tls.refusesBadClients == false ? " (accepts bad clients)" : "") } ?? "-"
        var identities = edge.tls?.serverIdentities ?? edge.traffic?.serverIdentities ?? []
        if let clients = edge.traffic?.clientIdentities, !clients.isEmpty { identities.append("client: " + clients.joined(separator: ",")) }
        return [edge.source, "\(edge.destination) \(ReachabilityCell.destinationText(address: edge.address, port: edge.port))/\(edge.protocol.rawValue)", allowed,
                edge.reachability?.rawValue ?? "-", traffic, tls, identities.isEmpty ? "-" : identities.joined(separator: " "), edge.verdict.rawValue]
    }

    static let headers = ["SOURCE", "DESTINATION", "ALLOWED", "REACHABLE", "TRAFFIC", "mTLS CHECK", "IDENTITIES", "VERDICT"]

    // MARK: - Terminal

    /// The terminal report: the edge table, the findings, the baseline comparison, the stages.
    public static func table(_ report: AuditReport, style: TerminalStyle) -> String {
        var sections: [String] = []
        let (listed, blocked) = Self.listedEdges(report)
        var table = TextTable(header: Self.headers)
        let e = TerminalText.escape as (String) -> String
        for edge in listed {
            var row = TerminalText.escape(Self.columns(edge))
            switch edge.verdict {
            case .violation: row[7] = style.severity(row[7], .high)
            case .tlsAcceptsRogueClient: row[7] = style.severity(row[7], .critical)
            case .plaintext, .mtlsOptional, .inconclusive: row[7] = style.severity(row[7], .medium)
            default: break
            }
            table.rows.append(row)
        }
        sections.append(style.bold("Edges") + " (policy: \(e(report.policy)))\n" + (listed.isEmpty ? "None." : table.render())
                        + (blocked > 0 ? "\n\(blocked) more edge(s): blocked as the policy expects, or open to a port nothing listens on." : ""))
        var findings: [String] = []
        // With a baseline, only what is new is listed (what went away follows below).
        for finding in report.baseline?.new ?? report.findings {
            findings.append("\(style.severity(finding.severity.rawValue.uppercased().padding(toLength: 8, withPad: " ", startingAt: 0), finding.severity)) \(e(finding.kind)): \(e(finding.title))")
        }
        sections.append(style.bold(report.baseline == nil ? "Findings" : "Findings new since the baseline") + "\n" + (findings.isEmpty ? "No findings." : findings.joined(separator: "\n")))
        if let baseline = report.baseline {
            sections.append(style.bold("Since the baseline") + " \(e(baseline.baseline)): \(baseline.new.count) new, \(baseline.resolved.count) resolved, \(baseline.unchanged) unchanged"
                            + baseline.resolved.map { "\n  resolved: \(e($0.kind)) \(e($0.location ?? ""))" }.joined())
        }
        sections.append(Self.stagesLine(report)
                        + (report.complete ? "" : "\n" + style.severity("INCOMPLETE", .high) + ": " + e(report.problems.joined(separator: "; "))))
        return sections.joined(separator: "\n\n") + "\n"
    }

    static func stagesLine(_ report: AuditReport) -> String {
        let stages = report.stages.map { "\(TerminalText.escape($0.name)) \(TerminalText.escape($0.status)) \(String(format: "%.2f", $0.durationSeconds)) s" }.joined(separator: ", ")
        let verdicts = EdgeVerdict.allCases.compactMap { verdict in report.summary.edgesByVerdict[verdict.rawValue].map { "\($0) \(verdict.rawValue)" } }
        return "Stages: \(stages); total \(String(format: "%.2f", report.summary.durationSeconds)) s\nEdges: \(report.summary.edges) (\(verdicts.joined(separator: ", ")))"
    }

    // MARK: - Markdown

    /// The same report as markdown (for a ticket or a wiki page).
    ///
    /// Every value from outside (names, traffic strings, a stored report's text) is escaped as in the HTML report
    /// (markdown renderers pass inline HTML through: `<script>` from captured traffic must arrive as text), with its
    /// control characters shown as escapes (the file may be `cat` to a terminal) and `|` escaped for the tables.
    public static func markdown(_ report: AuditReport) -> String {
        func cell(_ text: String) -> String { XMLText.escape(TerminalText.escape(text)).replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "`", with: "&#96;") }
        /// Finding kinds sit in code spans, where entities do not apply: only the vocabulary's own characters.
        func code(_ text: String) -> String { String(text.unicodeScalars.filter { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }) }
        var lines = ["# Bulkhead audit of \(cell(report.host))", "", "Generated \(cell(report.generatedAt)); policy: \(cell(report.policy)); \(report.complete ? "complete" : "**INCOMPLETE**: " + cell(report.problems.joined(separator: "; ")))", ""]
        lines.append("## Edges")
        lines.append("")
        let (listed, blocked) = Self.listedEdges(report)
        lines.append("| " + Self.headers.joined(separator: " | ") + " |")
        lines.append("|" + String(repeating: "---|", count: Self.headers.count))
        for edge in listed { lines.append("| " + Self.columns(edge).map(cell).joined(separator: " | ") + " |") }
        if blocked > 0 { lines += ["", "\(blocked) more edge(s): blocked as the policy expects, or open to a port nothing listens on."] }
        lines += ["", "## Findings", ""]
        if report.findings.isEmpty { lines.append("No findings.") }
        for finding in report.findings {
            let reference = FindingCatalogue.entry(finding.kind)?.reference.map { " (\($0))" } ?? ""
            lines.append("- **\(finding.severity.rawValue.uppercased())** `\(code(finding.kind))`\(reference): \(cell(finding.title)) — \(cell(finding.detail))")
        }
        if let baseline = report.baseline {
            lines += ["", "## Since the baseline", "", "\(baseline.new.count) new, \(baseline.resolved.count) resolved, \(baseline.unchanged) unchanged (\(cell(baseline.baseline)))."]
        }
        lines += ["", "## Stages", "", "| stage | status | seconds | note |", "|---|---|---|---|"]
        for stage in report.stages { lines.append("| \(cell(stage.name)) | \(cell(stage.status)) | \(String(format: "%.2f", stage.durationSeconds)) | \(cell(stage.note ?? "")) |") }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - HTML

    /// One self-contained page (inline CSS and SVG, no scripts, no external resources), readable offline.
    public static func html(_ report: AuditReport) -> String {
        let escape = XMLText.escape
        let graph = TopologyGraph(report)
        var body: [String] = []
        body.append("<h1>Bulkhead audit of \(escape(report.host))</h1>")
        body.append("<p class=\"meta\">Generated \(escape(report.generatedAt)) · policy \(escape(report.policy)) · \(report.complete ? "complete" : "<strong class=\"bad\">INCOMPLETE</strong>: " + escape(report.problems.joined(separator: "; ")))</p>")
        body.append("<h2>Topology</h2>")
        body.append("<div class=\"graph\">\(graph.svg())</div>")
        body.append("<h2>Edges</h2>")
        let (listed, blocked) = Self.listedEdges(report)
        var rows = ["<tr>" + Self.headers.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"]
        for edge in listed {
            let columns = Self.columns(edge)
            rows.append("<tr class=\"\(edge.verdict.rawValue)\">" + columns.enumerated().map { index, text in
                index == 7 ? "<td><span class=\"verdict\" style=\"background:\(TopologyGraph.colour(edge.verdict))\">\(escape(text))</span></td>" : "<td>\(escape(text))</td>"
            }.joined() + "</tr>")
        }
        body.append("<table>\(rows.joined(separator: "\n"))</table>")
        if blocked > 0 { body.append("<p>\(blocked) more edge(s): blocked as the policy expects, or open to a port nothing listens on.</p>") }
        body.append("<h2>Findings</h2>")
        if report.findings.isEmpty { body.append("<p>No findings.</p>") }
        body.append("<ul class=\"findings\">" + report.findings.map { finding in
            "<li><span class=\"sev \(finding.severity.rawValue)\">\(finding.severity.rawValue.uppercased())</span> <code>\(escape(finding.kind))</code> \(escape(finding.title))<br><small>\(escape(finding.detail))</small></li>"
        }.joined(separator: "\n") + "</ul>")
        body.append("<h2>Stages</h2>")
        body.append("<table><tr><th>stage</th><th>status</th><th>seconds</th><th>note</th></tr>" + report.stages.map {
            "<tr><td>\(escape($0.name))</td><td>\(escape($0.status))</td><td>\(String(format: "%.2f", $0.durationSeconds))</td><td>\(escape($0.note ?? ""))</td></tr>"
        }.joined() + "</table>")
        let style = """
            body{font-family:Helvetica,Arial,sans-serif;margin:2em;color:#263238}table{border-collapse:collapse;margin:1em 0}
            td,th{border:1px solid #cfd8dc;padding:4px 8px;font-size:13px;text-align:left;vertical-align:top}th{background:#eceff1}
            .verdict{color:#fff;border-radius:4px;padding:1px 6px;white-space:nowrap}.meta{color:#546e7a}.bad{color:#c62828}
            .sev{font-weight:bold;font-size:11px;padding:1px 5px;border-radius:3px;color:#fff;background:#78909c}
            .sev.critical,.sev.high{background:#c62828}.sev.medium{background:#ef6c00}.sev.low{background:#0277bd}
            .graph{overflow-x:auto;border:1px solid #cfd8dc;border-radius:8px;padding:8px;background:#fafafa}
            """
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Bulkhead audit of \(escape(report.host))</title><style>\(style)</style></head>
            <body>
            \(body.joined(separator: "\n"))
            </body></html>

            """
    }
}
