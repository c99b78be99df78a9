import ArgumentParser
import BulkheadModel
import Fleet
import Foundation
import Reporting

extension Bulkhead {
    /// `bulkhead merge`: the audit reports of a cluster's nodes joined into one fleet report.
    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "merge",
            abstract: "Merge the audit reports of a cluster's nodes (audit --format json) into one fleet report.",
            discussion: """
                Each node of a Swarm or Kubernetes cluster audits itself (`bulkhead audit --format json`); its report \
                names the cluster and the node (evidence.inventory.cluster). merge joins them: one row per node, the \
                edges once each with the nodes that saw them, the findings once per kind and subject. Where two nodes \
                saw the same edge or endpoint differently (reachability, traffic, the TLS check, the verdict), the \
                merged edge keeps the worse verdict and the disagreement is listed and reported as a \
                fleet-evidence-disagreement finding.

                The fleet report is incomplete (exit 3) when a node's report is incomplete, when a node named by a \
                manager's node list (or by --expect-node) sent no report, when a reporting node is not in a manager's \
                node list, or when two managers' node lists differ.

                merge refuses, naming the file (exit 2): a file it cannot read, a truncated file, text that is not \
                JSON (the probe cells and flows it does not read included, at their line and column), JSON that is \
                not an audit report (the message names the JSON path), another schema or version, a report without \
                cluster identity (unless --allow-standalone), reports from different clusters, the same node twice.

                Formats: as the audit's: table, json (schema bulkhead.fleet/1), sarif, junit, prometheus, markdown, \
                html, dot; several at once with --output FORMAT=FILE.

                Exit status: 0 clean, 1 findings at or above --fail-on, 2 refused input or usage error, 3 incomplete.

                Examples:
                  bulkhead merge node1.json node2.json node3.json
                  bulkhead merge reports/*.json \\
                      --output html=fleet.html --output json=fleet.json
                  bulkhead merge --expect-node n7x2 reports/*.json
                """
        )

        @Argument(help: ArgumentHelp("The nodes' audit reports (JSON).", valueName: "report"))
        var reports: [String] = []

        @Option(
            name: .customLong("expect-node"),
            help: ArgumentHelp(
                "A node ID the fleet must have a report from (repeatable), besides those a manager's report names.",
                valueName: "id"))
        var expectedNodes: [String] = []

        @Flag(help: "Merge plain single-host reports (no cluster identity), each host a node named by its host name.")
        var allowStandalone = false

        @OptionGroup var reporting: AuditReportOptions

        func validate() throws {
            if self.reports.isEmpty { throw ValidationError("give the nodes' audit reports to merge") }
            _ = try self.reporting.destinations()
        }

        func run() throws {
            let fleet: FleetReport
            do {
                let nodes = try NodeReport.readAll(paths: self.reports)
                fleet = try FleetMerge.merge(
                    nodes,
                    options: FleetMergeOptions(
                        allowStandalone: self.allowStandalone, expectedNodes: self.expectedNodes,
                        generatedAt: ISO8601DateFormatter().string(from: Date())))
            } catch { throw failInput(error.description) }

            var writeFailed = false
            for (format, path) in try self.reporting.destinations() {
                let failure = AuditCommand.write(format: format, path: path) { style in
                    try Self.render(
                        fleet, format: format, style: style, failOn: self.reporting.failOn, wide: self.reporting.wide)
                }
                if let failure {
                    reportError(failure)
                    writeFailed = true
                }
            }
            for problem in fleet.problems { warn(problem) }
            try ExitStatus.finish(
                usageError: writeFailed, incomplete: !self.reporting.exitZero && !fleet.complete,
                findings: !self.reporting.exitZero && fleet.findings.contains { $0.severity >= self.reporting.failOn })
        }

        static func render(
            _ fleet: FleetReport, format: AuditCommand.Format, style: TerminalStyle, failOn: Severity, wide: Bool
        ) throws -> Data {
            switch format {
            case .table: return Data(FleetReports.table(fleet, style: style, wide: wide).utf8)
            case .json: return try FleetReports.json(fleet)
            case .sarif:
                return try SARIFReport.render(
                    findings: fleet.findings, toolVersion: Bulkhead.configuration.version, complete: fleet.complete,
                    problems: fleet.problems)
            case .junit: return Data(FleetReports.junit(fleet, failOn: failOn).utf8)
            case .prometheus: return Data(FleetReports.prometheus(fleet).utf8)
            case .markdown: return Data(FleetReports.markdown(fleet).utf8)
            case .html: return Data(FleetReports.html(fleet).utf8)
            case .dot: return Data(TopologyGraph(fleet.auditView).dot().utf8)
            }
        }
    }
}
