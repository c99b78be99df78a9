import BulkheadModel
import Foundation
import Reporting

extension FleetReport {
    /// The fleet as one audit report, for the audit's renderers: the merged edges and findings, one stage per node
    /// (its status and duration: the per-node rows of the stages table and of the Prometheus stage metric), the
    /// merged inventory for the matrix and the topology.
    public var auditView: AuditReport {
        let stages = self.nodes.map { node in
            AuditStage(
                name: "node \(node.nodeName)",
                status: node.status == .complete ? .ran : (node.status == .missing ? .failed : .incomplete),
                durationSeconds: node.durationSeconds,
                note: node.problems.isEmpty ? nil : node.problems.joined(separator: "; "))
        }
        return AuditReport(
            generatedAt: self.generatedAt, host: self.title, policy: self.policy, stages: stages,
            edges: self.edges.map(\.edge), findings: self.findings, baseline: nil, complete: self.complete,
            problems: self.problems, summary: self.summary,
            evidence: AuditEvidence(inventory: self.inventory, probe: nil, tls: nil, capture: nil, tlsFindings: nil))
    }
}

/// The fleet report in every format the audit writes: the audit's own renderings of ``FleetReport/auditView``, with
/// the fleet's node rows and disagreements added where a person or a tool reads them.
public enum FleetReports {
    /// The node rows' columns.
    static let headers = ["NODE", "ID", "ROLE", "STATUS", "EDGES", "FINDINGS", "SECONDS", "REPORT"]

    static func columns(_ node: FleetNode) -> [String] {
        [
            node.nodeName, node.nodeID, node.role?.rawValue ?? "-", node.status.rawValue, "\(node.edges)",
            "\(node.findings)", String(format: "%.2f", node.durationSeconds), node.file ?? "-",
        ]
    }

    /// The JSON document (schema `bulkhead.fleet/1`): the same object as the report's `Codable` form, keys sorted,
    /// with one edge per line.
    public static func json(_ fleet: FleetReport) throws -> Data {
        // Written by hand (keys sorted, as the Codable form: a test holds them equal), on every core.
        let lines = EncodedLines(count: fleet.edges.count)
        let chunks = max(1, min(64, fleet.edges.count / 512))
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let range = (fleet.edges.count * chunk / chunks)..<(fleet.edges.count * (chunk + 1) / chunks)
            var writer = FlowJSONWriter()
            var encoded: [Data] = []
            encoded.reserveCapacity(range.count)
            for index in range {
                writer.reset()
                writer.write(edge: fleet.edges[index].edge, seenBy: fleet.edges[index].seenBy)
                encoded.append(Data(writer.bytes))
            }
            lines.set(range.lowerBound, encoded)
        }
        let edges = lines.values
        var data = try JSONReport.assemble([
            ("schema", .value(fleet.schema)), ("generatedAt", .value(fleet.generatedAt)),
            ("orchestrator", .value(ExplicitNull(wrappedValue: fleet.orchestrator))),
            ("clusterID", .value(ExplicitNull(wrappedValue: fleet.clusterID))), ("policy", .value(fleet.policy)),
            ("nodes", .value(fleet.nodes)), ("edges", .lines(edges)), ("findings", .value(fleet.findings)),
            ("disagreements", .value(fleet.disagreements)), ("complete", .value(fleet.complete)),
            ("problems", .value(fleet.problems)), ("summary", .value(fleet.summary)),
            ("inventory", .value(ExplicitNull(wrappedValue: fleet.inventory))),
        ])
        if data.last != 0x0a { data.append(0x0a) }
        return data
    }

    /// The terminal report: the node rows and the disagreements, then the audit's table of the merged fleet.
    public static func table(_ fleet: FleetReport, style: TerminalStyle, wide: Bool = false) -> String {
        let rows = [Self.headers] + fleet.nodes.map { TerminalText.escape(Self.columns($0)) }
        var widths = Array(repeating: 0, count: Self.headers.count)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], DisplayWidth.of(cell)) }
        }
        var lines = [style.bold("Nodes of \(TerminalText.escape(fleet.title))")]
        for (number, row) in rows.enumerated() {
            var cells = row.enumerated().map { index, cell in
                index == row.count - 1
                    ? cell : cell + String(repeating: " ", count: widths[index] - DisplayWidth.of(cell))
            }
            if number > 0, let node = fleet.nodes[safe: number - 1], node.status != .complete {
                cells[3] = style.severity(cells[3], .high)
            }
            lines.append("  " + cells.joined(separator: "  "))
        }
        if !fleet.disagreements.isEmpty {
            lines.append("")
            lines.append(style.bold("Where the nodes disagree") + " (the merged report keeps the worse)")
            for disagreement in fleet.disagreements {
                lines += DisplayWidth.wrap(
                    "  \(TerminalText.escape(disagreement.subject)): \(TerminalText.escape(disagreement.text))",
                    width: style.width, hanging: 4)
            }
        }
        return lines.joined(separator: "\n") + "\n\n" + AuditReports.table(fleet.auditView, style: style, wide: wide)
    }

    /// Markdown: the audit's, with a Nodes section (and the disagreements) after the summary.
    public static func markdown(_ fleet: FleetReport) -> String {
        func cell(_ text: String) -> String {
            XMLText.escape(TerminalText.escape(text)).replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(
                of: "`", with: "&#96;")
        }
        var lines = ["## Nodes", "", "| " + Self.headers.joined(separator: " | ") + " |"]
        lines.append("|" + String(repeating: "---|", count: Self.headers.count))
        for node in fleet.nodes { lines.append("| " + Self.columns(node).map(cell).joined(separator: " | ") + " |") }
        if !fleet.disagreements.isEmpty {
            lines += ["", "### Where the nodes disagree", ""]
            for disagreement in fleet.disagreements {
                lines.append("- \(cell(disagreement.subject)): \(cell(disagreement.text))")
            }
        }
        lines.append("")
        return Self.insert(
            lines.joined(separator: "\n") + "\n", into: AuditReports.markdown(fleet.auditView), before: "## Edges")
    }

    /// HTML: the audit's page, with a Nodes table (and the disagreements) after the summary.
    public static func html(_ fleet: FleetReport) -> String {
        let escape = XMLText.escape
        var block = [
            "<h2>Nodes</h2>",
            "<table class=\"nodes\"><tr>" + Self.headers.map { "<th>\(escape($0))</th>" }.joined() + "</tr>",
        ]
        for node in fleet.nodes {
            block.append(
                "<tr class=\"\(node.status.rawValue)\">" + Self.columns(node).map { "<td>\(escape($0))</td>" }.joined()
                    + "</tr>")
        }
        block.append("</table>")
        if !fleet.disagreements.isEmpty {
            block.append("<h3>Where the nodes disagree</h3><ul class=\"disagreements\">")
            for disagreement in fleet.disagreements {
                block.append("<li><b>\(escape(disagreement.subject))</b>: \(escape(disagreement.text))</li>")
            }
            block.append("</ul>")
        }
        return Self.insert(
            block.joined(separator: "\n") + "\n", into: AuditReports.html(fleet.auditView),
            before: "<h2>Who reaches whom</h2>")
    }

    /// JUnit: the audit's suites, and one suite of the nodes (a missing or incomplete node fails). The nodes are not
    /// listed again as stages in the completeness suite; the fleet's problems are (each an error), those about one
    /// node as well as those about the cluster's membership, which no node's case shows.
    public static func junit(_ fleet: FleetReport, failOn: Severity) -> String {
        var view = fleet.auditView
        view.stages = []
        let nodes = fleet.nodes.map { node in
            JUnitReport.TestCase(
                name: "\(node.nodeName) (\(node.nodeID))", className: "nodes",
                outcome: node.status == .complete
                    ? .passed : .failed(type: node.status.rawValue, message: node.problems.joined(separator: "; ")))
        }
        return JUnitReport.document(
            name: "bulkhead merge",
            suites: JUnitReport.suites(view, failOn: failOn) + [JUnitReport.Suite(name: "nodes", cases: nodes)],
            time: view.summary.durationSeconds)
    }

    /// Prometheus: the audit's metrics of the fleet, and per node whether its part is complete.
    public static func prometheus(_ fleet: FleetReport, now: Date = Date()) -> String {
        func label(_ text: String) -> String {
            text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n")
        }
        var lines = [
            "# HELP bulkhead_fleet_node_complete 1 when the node's report is complete; 0 when incomplete or missing.",
            "# TYPE bulkhead_fleet_node_complete gauge",
        ]
        for node in fleet.nodes {
            lines.append(
                "bulkhead_fleet_node_complete{node=\"\(label(node.nodeName))\",node_id=\"\(label(node.nodeID))\",status=\"\(node.status.rawValue)\"} \(node.status == .complete ? 1 : 0)"
            )
        }
        lines += [
            "# HELP bulkhead_fleet_disagreements Edges and endpoints the nodes saw differently.",
            "# TYPE bulkhead_fleet_disagreements gauge",
            "bulkhead_fleet_disagreements \(fleet.disagreements.count)",
        ]
        return PrometheusReport.render(fleet.auditView, now: now, lastSuccess: nil) + lines.joined(separator: "\n")
            + "\n"
    }

    /// `text` with `block` inserted before the first `marker` (at the end when the marker is not there).
    static func insert(_ block: String, into text: String, before marker: String) -> String {
        guard let range = text.range(of: marker) else { return text + block }
        var result = text
        result.insert(contentsOf: block, at: range.lowerBound)
        return result
    }
}

/// Encoded edges filled in by concurrent encoders, a run of lines each.
private final class EncodedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [Data]

    init(count: Int) { self.lines = Array(repeating: Data(), count: count) }

    func set(_ start: Int, _ encoded: [Data]) {
        self.lock.lock()
        self.lines.replaceSubrange(start..<(start + encoded.count), with: encoded)
        self.lock.unlock()
    }

    var values: [Data] {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.lines
    }
}

extension Array {
    fileprivate subscript(safe index: Int) -> Element? { self.indices.contains(index) ? self[index] : nil }
}
