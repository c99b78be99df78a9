import BulkheadModel
import Foundation

/// The Prometheus textfile for node-exporter's textfile collector: findings by severity, edges by verdict, stage and
/// audit durations, whether the audit completed, and when it last succeeded.
public enum PrometheusReport {
    /// `lastSuccess`: Unix time of the last complete audit (this one when complete). The audit's timestamp is its
    /// report's `generatedAt`: when its evidence was gathered, also when stored evidence is judged again later (an
    /// old audit must look old); `now` only when that time cannot be read.
    public static func render(_ report: AuditReport, now: Date = Date(), lastSuccess: Double?) -> String {
        let ranAt = ISO8601DateFormatter().date(from: report.generatedAt) ?? now
        var lines: [String] = []
        func metric(_ name: String, _ help: String, _ samples: [(labels: String, value: Double)]) {
            lines.append("# HELP \(name) \(help)")
            lines.append("# TYPE \(name) gauge")
            for sample in samples { lines.append("\(name)\(sample.labels) \(Self.number(sample.value))") }
        }
        metric(
            "bulkhead_findings", "Findings of the last audit, by severity.",
            Severity.allCases.map {
                ("{severity=\"\($0.rawValue)\"}", Double(report.summary.findingsBySeverity[$0.rawValue] ?? 0))
            })
        metric(
            "bulkhead_edges", "Edges of the last audit, by verdict.",
            EdgeVerdict.allCases.map {
                ("{verdict=\"\($0.rawValue)\"}", Double(report.summary.edgesByVerdict[$0.rawValue] ?? 0))
            })
        metric(
            "bulkhead_audit_stage_duration_seconds", "Duration of each stage of the last audit.",
            report.stages.map {
                ("{stage=\"\(Self.label($0.name))\",status=\"\($0.status.rawValue)\"}", $0.durationSeconds)
            })
        metric("bulkhead_audit_duration_seconds", "Duration of the last audit.", [("", report.summary.durationSeconds)])
        metric(
            "bulkhead_audit_complete", "1 when every stage of the last audit ran to the end.",
            [("", report.complete ? 1 : 0)])
        metric(
            "bulkhead_audit_timestamp_seconds", "When the last audit gathered its evidence (Unix time).",
            [("", ranAt.timeIntervalSince1970.rounded())])
        if let lastSuccess {
            metric(
                "bulkhead_audit_last_success_timestamp_seconds", "When an audit last completed (Unix time).",
                [("", lastSuccess.rounded())])
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.3f", value)
    }

    /// Label values are escaped per the exposition format (backslash, quote, newline).
    static func label(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
