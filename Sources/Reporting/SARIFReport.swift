import BulkheadModel
import Foundation

/// SARIF 2.1.0 for code-scanning UIs: one rule per finding kind (with help), one result per finding, located by
/// logical locations (container, network, endpoint) since audit findings have no source file.
public enum SARIFReport {
    /// - Parameter baseline: with `--baseline`, the comparison: each result then carries SARIF's `baselineState`
    ///   (`new` or `unchanged`), so that code-scanning tools tell what the run's exit status counted.
    public static func render(
        findings: [Finding], toolVersion: String, complete: Bool, problems: [String],
        baseline: BaselineComparison? = nil
    ) throws -> Data {
        let new = baseline?.newFlags(findings)
        let kinds = Array(Set(findings.map(\.kind))).sorted()
        let index = Dictionary(uniqueKeysWithValues: kinds.enumerated().map { ($1, $0) })
        let rules: [[String: Any]] = kinds.map { kind in
            let entry = kind.entry
            let id = kind.identifier
            let example = findings.first { $0.kind == kind }
            let severity = findings.filter { $0.kind == kind }.map(\.severity).max() ?? .info
            var rule: [String: Any] = [
                "id": id,
                "name": Self.ruleName(id),
                "shortDescription": ["text": entry?.name ?? example?.title ?? id],
                "fullDescription": ["text": entry?.help ?? example?.detail ?? id],
                "help": [
                    "text": entry?.help ?? example?.detail ?? id,
                    "markdown": "**\(entry?.name ?? id)**\n\n\(entry?.help ?? example?.detail ?? "")",
                ],
                "defaultConfiguration": ["level": Self.level(severity)],
                "properties": ["tags": ["security", "network"], "security-severity": Self.securitySeverity(severity)],
            ]
            if let reference = entry?.reference {
                // "CIS Docker 2.6" → the Docker benchmark's page, "CIS Kubernetes 2.1" → Kubernetes'.
                let benchmark = reference.split(separator: " ").dropFirst().first?.lowercased() ?? "docker"
                rule["helpUri"] =
                    "https://www.cisecurity.org/benchmark/\(benchmark)#\(reference.replacingOccurrences(of: " ", with: "-"))"
            }
            return rule
        }
        let results: [[String: Any]] = findings.enumerated().map { offset, finding in
            var result: [String: Any] = [
                "ruleId": finding.kind.identifier,
                "ruleIndex": index[finding.kind] ?? 0,
                "level": Self.level(finding.severity),
                "message": ["text": "\(finding.title). \(finding.detail)"],
                // v2: kind|location|subject (FindingIdentity); v1's kind|location gave distinct findings one fingerprint.
                "partialFingerprints": ["bulkheadFinding/v2": finding.identity.key],
                "properties": ["severity": finding.severity.rawValue],
            ]
            if let new { result["baselineState"] = new[offset] ? "new" : "unchanged" }
            if let location = finding.location {
                result["locations"] = [
                    [
                        "logicalLocations": [
                            ["name": location, "fullyQualifiedName": location, "kind": Self.locationKind(location)]
                        ]
                    ]
                ]
            }
            return result
        }
        let invocation: [String: Any] = [
            "executionSuccessful": complete,
            "toolExecutionNotifications": problems.map { ["level": "warning", "message": ["text": $0]] },
        ]
        let document: [String: Any] = [
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [
                [
                    "tool": [
                        "driver": [
                            "name": "bulkhead", "version": toolVersion,
                            "informationUri": "https://github.com/bulkhead/bulkhead", "rules": rules,
                        ]
                    ],
                    "invocations": [invocation],
                    "results": results,
                ]
            ],
        ]
        var data = try JSONSerialization.data(
            withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        data.append(0x0a)
        return data
    }

    /// `unexpected-reachable` → `UnexpectedReachable` (SARIF's rule name is an identifier-like word).
    static func ruleName(_ kind: String) -> String {
        kind.split(separator: "-").map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    static func level(_ severity: Severity) -> String {
        switch severity {
        case .critical, .high: "error"
        case .medium: "warning"
        case .low, .info: "note"
        }
    }

    /// GitHub's numeric severity (0–10) for security results.
    static func securitySeverity(_ severity: Severity) -> String {
        switch severity {
        case .critical: "9.5"
        case .high: "8.0"
        case .medium: "5.5"
        case .low: "3.0"
        case .info: "0.0"
        }
    }

    /// SARIF logical-location kinds: `resource` for a container or network, `member` for an endpoint or an edge.
    static func locationKind(_ location: String) -> String {
        location.contains("->") || location.contains(":") ? "member" : "resource"
    }
}
