import BulkheadModel
import Foundation

/// The human-readable audit renderings: terminal table, markdown and self-contained HTML. All three show the same
/// things in the same order: the summary (status, counts, the worst problems), the edges worst first per
/// destination service, the findings, the stages.
public enum AuditReports {
    /// The edge table's rows: the edges that carry (or could carry) service traffic, and every violation. Edges
    /// blocked as the policy expects, and open paths to ports nothing listens on, are counted, not listed.
    public static func listedEdges(_ report: AuditReport) -> (listed: [Edge], blockedAsExpected: Int) {
        let listed = report.edges.filter { edge in
            edge.verdict == .violation
                || (edge.verdict != .blocked && !(edge.reachability == .reachableClosed && edge.traffic == nil))
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
        let tls =
            edge.tls.map { tls in
                tls.verdict.rawValue + (tls.refusesBadClients == false ? " (accepts bad clients)" : "")
            } ?? "-"
        var identities = edge.tls?.serverIdentities ?? edge.traffic?.serverIdentities ?? []
        if let clients = edge.traffic?.clientIdentities, !clients.isEmpty {
            identities.append("client: " + clients.joined(separator: ","))
        }
        return [
            edge.source,
            "\(edge.destination) \(ReachabilityCell.destinationText(address: edge.address, port: edge.port))/\(edge.protocol.rawValue)",
            allowed,
            edge.reachability?.rawValue ?? "-", traffic, tls,
            identities.isEmpty ? "-" : identities.joined(separator: " "), edge.verdict.rawValue,
        ]
    }

    static let headers = [
        "SOURCE", "DESTINATION", "ALLOWED", "REACHABLE", "TRAFFIC", "mTLS CHECK", "IDENTITIES", "VERDICT",
    ]

    /// The listed edges, worst first, grouped per destination service.
    static func orderedServices(_ report: AuditReport) -> (services: [ServiceEdges], blockedAsExpected: Int) {
        let (listed, blocked) = Self.listedEdges(report)
        return (ServiceEdges.group(listed), blocked)
    }

    /// Why an edge has its verdict, in one line (the narrow table's last column).
    static func why(_ edge: Edge) -> String {
        switch edge.verdict {
        case .inconclusive: edge.tls?.reason ?? edge.reasons.first ?? "-"
        default: edge.reasons.first ?? "-"
        }
    }

    // MARK: - Terminal

    /// The terminal report: the summary, the edge table (worst first, per destination service), the findings, the
    /// baseline comparison, the stages. By default the table has the four columns that matter and fits the terminal
    /// (`style.width`), cutting only the last; `wide` shows every column in full.
    public static func table(_ report: AuditReport, style: TerminalStyle, wide: Bool = false) -> String {
        let e = TerminalText.escape as (String) -> String
        var sections: [String] = [Self.summary(AuditOverview(report), report: report, style: style)]
        let (services, blocked) = Self.orderedServices(report)
        let heading = style.bold("Edges") + ", worst first, per destination service (policy: \(e(report.policy)))"
        let listing =
            services.isEmpty
            ? "None." : (wide ? Self.wideTable(services, style: style) : Self.serviceTable(services, style: style))
        sections.append(
            DisplayWidth.wrap(heading, width: style.width).joined(separator: "\n") + "\n" + listing
                + (blocked > 0
                    ? "\n"
                        + DisplayWidth.wrap(
                            "\(blocked) more edge(s): blocked as the policy expects, or open to a port nothing listens on.",
                            width: style.width
                        ).joined(separator: "\n") : "")
                + (wide || services.isEmpty ? "" : "\n(--wide: every edge, every column)"))
        var findings: [String] = []
        // With a baseline, only what is new is listed (what went away follows below).
        for finding in report.baseline?.new ?? report.findings {
            findings += DisplayWidth.wrap(
                "\(style.severity(finding.severity.rawValue.uppercased().padding(toLength: 8, withPad: " ", startingAt: 0), finding.severity)) \(e(finding.kind.identifier)): \(e(finding.title))",
                width: style.width, hanging: 9)
        }
        sections.append(
            style.bold(report.baseline == nil ? "Findings" : "Findings new since the baseline") + "\n"
                + (findings.isEmpty ? "No findings." : findings.joined(separator: "\n")))
        if let baseline = report.baseline {
            sections.append(
                style.bold("Since the baseline")
                    + " \(e(baseline.baseline)): \(baseline.new.count) new, \(baseline.resolved.count) resolved, \(baseline.unchanged) unchanged"
                    + baseline.resolved.map { "\n  resolved: \(e($0.kind.identifier)) \(e($0.location ?? ""))" }
                    .joined())
        }
        sections.append(
            (DisplayWidth.wrap(Self.stagesLine(report), width: style.width)
                + (report.complete
                    ? []
                    : DisplayWidth.wrap(
                        style.severity("INCOMPLETE", .high) + ": " + e(report.problems.joined(separator: "; ")),
                        width: style.width)))
                .joined(separator: "\n"))
        return sections.joined(separator: "\n\n") + "\n"
    }

    /// Every edge, every column, in full.
    static func wideTable(_ services: [ServiceEdges], style: TerminalStyle) -> String {
        var table = TextTable(header: Self.headers)
        for edge in services.flatMap(\.edges) {
            var row = TerminalText.escape(Self.columns(edge))
            if let severity = Self.terminalSeverity(edge.verdict) { row[7] = style.severity(row[7], severity) }
            table.rows.append(row)
        }
        return table.render()
    }

    /// One heading per destination service, then one row per verdict and reason with the sources that share it
    /// (`web, api and 7 more`): a service with nine clients reads as one line, not nine. Columns line up across
    /// services and fit `style.width`, cutting the sources and the reason first.
    static func serviceTable(_ services: [ServiceEdges], style: TerminalStyle) -> String {
        var table = TextTable(header: ["VERDICT", "FROM", "WHY"])
        var headings: [(row: Int, text: String)] = []
        for service in services {
            headings.append(
                (table.rows.count, style.bold(TerminalText.escape(service.name)) + " (\(service.edges.count) edge(s))"))
            var groups: [(verdict: EdgeVerdict, why: String, sources: [String])] = []
            for edge in service.edges {
                let why = Self.why(edge)
                if let index = groups.firstIndex(where: { $0.verdict == edge.verdict && $0.why == why }) {
                    groups[index].sources.append(edge.source)
                } else {
                    groups.append((edge.verdict, why, [edge.source]))
                }
            }
            for group in groups {
                var verdict = group.verdict.rawValue
                if let severity = Self.terminalSeverity(group.verdict) { verdict = style.severity(verdict, severity) }
                table.rows.append([
                    verdict, TerminalText.escape(AuditOverview.names(group.sources, limit: 2)),
                    TerminalText.escape(group.why),
                ])
            }
        }
        let lines = table.render(indent: "  ", width: style.width, flexible: [2, 1], minimum: 12).split(separator: "\n")
            .map(String.init)
        var result = [lines.first ?? ""]
        for (index, line) in lines.dropFirst().enumerated() {
            for heading in headings where heading.row == index {
                result.append(
                    style.width.map {
                        DisplayWidth.of(heading.text) > $0
                            ? DisplayWidth.truncate(DisplayWidth.strippingEscapes(heading.text), to: $0) : heading.text
                    } ?? heading.text)
            }
            result.append(line)
        }
        return result.joined(separator: "\n")
    }

    static func terminalSeverity(_ verdict: EdgeVerdict) -> Severity? {
        switch verdict {
        case .violation: .high
        case .tlsAcceptsRogueClient: .critical
        case .plaintext, .mtlsOptional, .inconclusive: .medium
        default: nil
        }
    }

    /// The summary block: status and why, counts, the worst problems one per line.
    static func summary(_ overview: AuditOverview, report: AuditReport, style: TerminalStyle) -> String {
        let e = TerminalText.escape as (String) -> String
        let status: String
        switch overview.status {
        case .pass: status = style.bold("PASS")
        case .findings: status = style.severity("FINDINGS", .high)
        case .incomplete: status = style.severity("INCOMPLETE", .critical)
        }
        var lines = DisplayWidth.wrap(
            style.bold("Audit of \(e(report.host))") + ": " + status + " — " + e(overview.statusReason),
            width: style.width)
        lines += DisplayWidth.wrap(
            "Edges: "
                + (overview.edgeCounts.isEmpty
                    ? "none" : overview.edgeCounts.map { "\($0.count) \($0.verdict.label)" }.joined(separator: " · ")),
            width: style.width)
        lines += DisplayWidth.wrap(
            "Findings: "
                + (overview.findingCounts.isEmpty
                    ? "none"
                    : overview.findingCounts.map { "\($0.count) \($0.severity.rawValue)" }.joined(separator: " · ")),
            width: style.width)
        if !overview.problems.isEmpty {
            lines.append(
                style.bold("Worst problems")
                    + (overview.problemTotal > overview.problems.count
                        ? " (\(overview.problems.count) of \(overview.problemTotal))" : ""))
            for problem in overview.problems {
                let sources = problem.sources.isEmpty ? "" : " ← \(e(AuditOverview.names(problem.sources)))"
                // One problem per item; on a terminal of known width it wraps under itself, never into the next.
                lines += DisplayWidth.wrap(
                    "  "
                        + style.severity(
                            problem.severity.rawValue.uppercased().padding(toLength: 8, withPad: " ", startingAt: 0),
                            problem.severity)
                        + " \(e(problem.endpoint))\(sources): \(e(problem.what)). Change: \(e(problem.change))",
                    width: style.width, hanging: 11)
            }
        }
        return lines.joined(separator: "\n")
    }

    static func stagesLine(_ report: AuditReport) -> String {
        let stages = report.stages.map {
            "\(TerminalText.escape($0.name)) \($0.status.rawValue) \(String(format: "%.2f", $0.durationSeconds)) s"
        }.joined(separator: ", ")
        return "Stages: \(stages); total \(String(format: "%.2f", report.summary.durationSeconds)) s"
    }

    // MARK: - Markdown

    /// The same report as markdown (for a ticket or a wiki page).
    ///
    /// Every value from outside (names, traffic strings, a stored report's text) is escaped as in the HTML report
    /// (markdown renderers pass inline HTML through: `<script>` from captured traffic must arrive as text), with its
    /// control characters shown as escapes (the file may be `cat` to a terminal) and `|` escaped for the tables.
    public static func markdown(_ report: AuditReport) -> String {
        func cell(_ text: String) -> String {
            XMLText.escape(TerminalText.escape(text)).replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(
                of: "`", with: "&#96;")
        }
        /// Finding kinds sit in code spans, where entities do not apply: only the vocabulary's own characters.
        func code(_ text: String) -> String {
            String(
                text.unicodeScalars.filter {
                    $0.isASCII
                        && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0))
                })
        }
        let overview = AuditOverview(report)
        var lines = [
            "# Bulkhead audit of \(cell(report.host))", "",
            "Generated \(cell(report.generatedAt)); policy: \(cell(report.policy))", "",
        ]
        lines.append("## Summary: \(overview.status.rawValue.uppercased())")
        lines += ["", cell(overview.statusReason), ""]
        lines.append(
            "- Edges: "
                + (overview.edgeCounts.isEmpty
                    ? "none" : overview.edgeCounts.map { "\($0.count) \($0.verdict.label)" }.joined(separator: " · ")))
        lines.append(
            "- Findings: "
                + (overview.findingCounts.isEmpty
                    ? "none"
                    : overview.findingCounts.map { "\($0.count) \($0.severity.rawValue)" }.joined(separator: " · ")))
        if !overview.problems.isEmpty {
            lines += [
                "",
                "Worst problems"
                    + (overview.problemTotal > overview.problems.count
                        ? " (\(overview.problems.count) of \(overview.problemTotal))" : "") + ":", "",
            ]
            for (index, problem) in overview.problems.enumerated() {
                let sources = problem.sources.isEmpty ? "" : " ← \(cell(AuditOverview.names(problem.sources)))"
                lines.append(
                    "\(index + 1). **\(problem.severity.rawValue.uppercased())** \(cell(problem.endpoint))\(sources): \(cell(problem.what)). *Change:* \(cell(problem.change))"
                )
            }
        }
        lines += ["", "## Edges, worst first, per destination service", ""]
        let (services, blocked) = Self.orderedServices(report)
        for service in services {
            lines += ["### \(cell(service.name)): \(service.worst.rawValue)", ""]
            lines.append("| " + Self.headers.joined(separator: " | ") + " | WHY |")
            lines.append("|" + String(repeating: "---|", count: Self.headers.count + 1))
            for edge in service.edges {
                lines.append("| " + (Self.columns(edge) + [Self.why(edge)]).map(cell).joined(separator: " | ") + " |")
            }
            lines.append("")
        }
        if services.isEmpty { lines += ["None.", ""] }
        if blocked > 0 {
            lines += [
                "\(blocked) more edge(s): blocked as the policy expects, or open to a port nothing listens on.", "",
            ]
        }
        lines += ["## Findings", ""]
        if report.findings.isEmpty { lines.append("No findings.") }
        for finding in report.findings {
            let reference = finding.kind.entry?.reference.map { " (\($0))" } ?? ""
            lines.append(
                "- **\(finding.severity.rawValue.uppercased())** `\(code(finding.kind.identifier))`\(reference): \(cell(finding.title)) — \(cell(finding.detail))"
            )
        }
        if let baseline = report.baseline {
            lines += [
                "", "## Since the baseline", "",
                "\(baseline.new.count) new, \(baseline.resolved.count) resolved, \(baseline.unchanged) unchanged (\(cell(baseline.baseline))).",
            ]
        }
        lines += ["", "## Stages", "", "| stage | status | seconds | note |", "|---|---|---|---|"]
        for stage in report.stages {
            lines.append(
                "| \(cell(stage.name)) | \(cell(stage.status.rawValue)) | \(String(format: "%.2f", stage.durationSeconds)) | \(cell(stage.note ?? "")) |"
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: - HTML

    /// One self-contained page (inline CSS and SVG, no scripts, no external resources), readable offline and at
    /// 1400 px without scrolling sideways: the summary with the worst problems first, then the source × destination
    /// matrix, the edges per destination service with their evidence one click away, the topology, the findings.
    public static func html(_ report: AuditReport, layout: TopologyGraph.Layout = .automatic) -> String {
        let escape = XMLText.escape
        let overview = AuditOverview(report)
        var body: [String] = []
        body.append("<h1>Bulkhead audit of \(escape(report.host))</h1>")
        body.append(
            "<p class=\"meta\">Generated \(escape(report.generatedAt)) · policy \(escape(report.policy)) · \(escape(Self.stagesLine(report)))</p>"
        )

        // Summary: status, counts, the worst problems.
        var summary = [
            "<section id=\"summary\" class=\"summary \(overview.status.rawValue)\">",
            "<p class=\"status\"><strong>\(overview.status.rawValue.uppercased())</strong> \(escape(overview.statusReason))</p>",
        ]
        summary.append(
            "<p class=\"counts\">"
                + overview.edgeCounts.map { count in
                    "<span class=\"chip\" style=\"border-color:\(TopologyGraph.colour(count.verdict))\"><b style=\"background:\(TopologyGraph.colour(count.verdict))\">\(count.count)</b> \(escape(count.verdict.label))</span>"
                }.joined(separator: " ") + "</p>")
        summary.append(
            "<p class=\"counts\">"
                + (overview.findingCounts.isEmpty
                    ? "No findings."
                    : overview.findingCounts.map { count in
                        "<span class=\"sev \(count.severity.rawValue)\">\(count.count) \(count.severity.rawValue)</span>"
                    }.joined(separator: " ")) + "</p>")
        if !overview.problems.isEmpty {
            summary.append(
                "<ol id=\"top-problems\">"
                    + overview.problems.map { problem in
                        let sources =
                            problem.sources.isEmpty
                            ? "" : " <span class=\"from\">← \(escape(AuditOverview.names(problem.sources)))</span>"
                        return
                            "<li><span class=\"sev \(problem.severity.rawValue)\">\(problem.severity.rawValue.uppercased())</span> <b>\(escape(problem.endpoint))</b>\(sources): "
                            + "\(escape(problem.what)). <span class=\"change\">Change: \(escape(problem.change))</span></li>"
                    }.joined(separator: "\n") + "</ol>")
            if overview.problemTotal > overview.problems.count {
                summary.append(
                    "<p class=\"more\">\(overview.problemTotal - overview.problems.count) more below, in the edges and findings.</p>"
                )
            }
        }
        summary.append("</section>")
        body.append(summary.joined(separator: "\n"))

        body.append("<h2>Who reaches whom</h2>")
        body.append(AuditMatrix(report).html())

        body.append("<h2>Edges, worst first, per destination service</h2>")
        let (services, blocked) = Self.orderedServices(report)
        if services.isEmpty { body.append("<p>None.</p>") }
        let headers = ["SOURCE", "ALLOWED", "REACHABLE", "TRAFFIC", "mTLS CHECK", "IDENTITIES", "VERDICT"]
        for service in services {
            // Services that need action are open; the others fold to their summary line.
            var block = [
                "<details class=\"service\"\(service.worst.isProblem ? " open" : "")><summary><span class=\"verdict\" style=\"background:\(TopologyGraph.colour(service.worst))\">\(service.worst.rawValue)</span> "
                    + "<b>\(escape(service.name))</b> · \(service.edges.count) edge(s)</summary>"
            ]
            block.append("<table class=\"edges\"><tr>" + headers.map { "<th>\(escape($0))</th>" }.joined() + "</tr>")
            for edge in service.edges {
                var columns = Self.columns(edge)
                columns.remove(at: 1)  // the destination is the service's
                let cells = columns.enumerated().map { index, text in
                    index == columns.count - 1
                        ? "<td><span class=\"verdict\" style=\"background:\(TopologyGraph.colour(edge.verdict))\">\(escape(text))</span>\(Self.evidence(edge))</td>"
                        : "<td>\(escape(text))</td>"
                }
                block.append("<tr class=\"\(edge.verdict.rawValue)\">" + cells.joined() + "</tr>")
            }
            block.append("</table></details>")
            body.append(block.joined(separator: "\n"))
        }
        if blocked > 0 {
            body.append(
                "<p>\(blocked) more edge(s): blocked as the policy expects, or open to a port nothing listens on (all are in the matrix).</p>"
            )
        }

        let graph = TopologyGraph(report)
        body.append("<h2>Topology</h2>")
        body.append("<div class=\"graph\">\(graph.svg(layout: layout))</div>")
        body.append("<p class=\"legend\">\(escape(graph.caption))</p>")

        body.append("<h2>Findings</h2>")
        if report.findings.isEmpty { body.append("<p>No findings.</p>") }
        body.append(
            "<ul class=\"findings\">"
                + report.findings.map { finding in
                    "<li><span class=\"sev \(finding.severity.rawValue)\">\(finding.severity.rawValue.uppercased())</span> <code>\(escape(finding.kind.identifier))</code> \(escape(finding.title))<br><small>\(escape(finding.detail))</small></li>"
                }.joined(separator: "\n") + "</ul>")
        body.append("<h2>Stages</h2>")
        body.append(
            "<table><tr><th>stage</th><th>status</th><th>seconds</th><th>note</th></tr>"
                + report.stages.map {
                    "<tr><td>\(escape($0.name))</td><td>\($0.status.rawValue)</td><td>\(String(format: "%.2f", $0.durationSeconds))</td><td>\(escape($0.note ?? ""))</td></tr>"
                }.joined() + "</table>")
        let style = """
            body{font-family:Helvetica,Arial,sans-serif;margin:1.5em;color:#263238;max-width:1600px}h1{margin:0 0 .2em;font-size:24px}
            h2{font-size:18px;margin:1.4em 0 .5em}table{border-collapse:collapse;margin:.5em 0}
            td,th{border:1px solid #cfd8dc;padding:3px 7px;font-size:13px;text-align:left;vertical-align:top}th{background:#eceff1}
            .verdict{color:#fff;border-radius:4px;padding:1px 6px;white-space:nowrap}.meta{color:#546e7a;margin:0 0 1em;overflow-wrap:anywhere}
            .sev{font-weight:bold;font-size:11px;padding:1px 5px;border-radius:3px;color:#fff;background:#78909c;white-space:nowrap}
            .sev.critical,.sev.high{background:#c62828}.sev.medium{background:#ef6c00}.sev.low{background:#0277bd}
            .summary{border:2px solid #90a4ae;border-radius:8px;padding:.6em 1em;background:#fafafa}.summary.findings{border-color:#c62828}
            .summary.incomplete{border-color:#6a1b9a;background:#f3e5f5}.summary.pass{border-color:#2e7d32}
            .status{font-size:15px;margin:.2em 0 .5em}.status strong{font-size:18px;margin-right:.4em}
            .counts{margin:.3em 0}.chip{display:inline-block;border:2px solid;border-radius:12px;padding:0 8px 0 0;margin:2px;font-size:13px}
            .chip b{color:#fff;border-radius:10px 0 0 10px;padding:0 6px;margin-right:4px;display:inline-block}
            #top-problems{margin:.5em 0 .2em;padding-left:1.6em}#top-problems li{margin:.25em 0;font-size:14px;overflow-wrap:anywhere}
            .from{color:#37474f}.change{color:#1b5e20}.more{color:#546e7a;margin:.2em 0}
            .matrix table{table-layout:fixed;border-collapse:collapse}.matrix td,.matrix th{padding:0;font-size:11px}
            .matrix td{width:var(--cell);height:var(--cell);min-width:var(--cell);text-align:center;vertical-align:middle;color:#fff;border:1px solid #fff}
            .matrix td.none{background:#f5f5f5}.matrix th.col{height:150px;vertical-align:bottom;width:var(--cell);max-width:var(--cell);overflow:hidden}
            .matrix th.col span{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;display:inline-block;max-height:146px;overflow:hidden}
            .matrix th.row{white-space:nowrap;padding:0 6px;max-width:180px;overflow:hidden;text-overflow:ellipsis}.matrix th.corner{font-weight:normal;color:#546e7a;padding:0 6px}
            .legend{font-size:12px;color:#546e7a}.key{white-space:nowrap;margin-right:6px}.swatch{display:inline-block;width:14px;height:14px;color:#fff;text-align:center;font-size:10px;line-height:14px;border-radius:2px}
            details.service{margin:.4em 0;border:1px solid #cfd8dc;border-radius:6px;padding:.3em .6em}details.service>summary{cursor:pointer;font-size:14px}
            table.edges{width:100%;table-layout:fixed}table.edges td{overflow-wrap:anywhere}
            details.evidence{font-size:12px;color:#37474f;margin-top:3px}details.evidence ul{margin:.2em 0;padding-left:1.2em}
            .graph{border:1px solid #cfd8dc;border-radius:8px;padding:8px;background:#fafafa}.graph svg{display:block;height:auto}
            ul.findings li{margin:.3em 0;overflow-wrap:anywhere}
            """
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Bulkhead audit of \(escape(report.host))</title><style>\(style)</style></head>
            <body>
            \(body.joined(separator: "\n"))
            </body></html>

            """
    }

    /// An edge's evidence, one click away: every reason, the rule, the TLS check and where it ran from, the traffic.
    static func evidence(_ edge: Edge) -> String {
        let escape = XMLText.escape
        var items = edge.reasons.map { "<li>\(escape($0))</li>" }
        if let rule = edge.rule { items.append("<li>rule: \(escape(rule))</li>") }
        if let network = edge.network { items.append("<li>network: \(escape(network))</li>") }
        if let tls = edge.tls {
            items.append(
                "<li>TLS check: \(escape(tls.verdict.rawValue))\(tls.probedFrom.map { " (probed from \(escape($0)))" } ?? "")\(tls.reason.map { ": \(escape($0))" } ?? "")</li>"
            )
        }
        if let traffic = edge.traffic {
            items.append(
                "<li>traffic: \(traffic.flows) flow(s), \(traffic.plaintextFlows) in clear, \(traffic.tlsFlows) TLS of which \(traffic.mutualTLSFlows) mutual"
                    + "\(traffic.servedWithoutCertificate > 0 ? ", \(traffic.servedWithoutCertificate) served without a client certificate" : "")"
                    + "\(traffic.credentialsInClear > 0 ? ", \(traffic.credentialsInClear) credential(s) in clear (redacted in the JSON)" : "")</li>"
            )
        }
        return "<details class=\"evidence\"><summary>evidence</summary><ul>\(items.joined())</ul></details>"
    }
}
