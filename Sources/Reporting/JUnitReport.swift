import BulkheadModel
import Foundation

/// JUnit XML for CI systems: one test case per edge (failing when its verdict is a violation), one per policy rule
/// (failing when any edge it decided is a violation), and one per finding at or above the failure threshold.
public enum JUnitReport {
    public static func render(_ report: AuditReport, failOn: Severity) -> String {
        var suites: [String] = []
        var cases: [String] = []
        var failures = 0
        for edge in report.edges {
            // A forged identity accepted is a failure with or without a policy.
            let failed = edge.verdict == .violation || edge.verdict == .tlsAcceptsRogueClient
            if failed { failures += 1 }
            // An edge nothing could be proven about is neither passed nor failed: skipped, with the reason.
            let skipped = edge.verdict == .inconclusive ? edge.reasons.joined(separator: "; ") : nil
            cases.append(
                Self.testCase(
                    name: edge.name, className: "edges.\(Self.escapeName(edge.source))",
                    failure: failed ? (edge.verdict.rawValue, edge.reasons.joined(separator: "; ")) : nil,
                    skipped: skipped))
        }
        suites.append(Self.suite("edges", cases: cases, failures: failures))

        cases = []
        failures = 0
        let rules = Dictionary(grouping: report.edges.filter { $0.rule != nil }, by: { $0.rule ?? "" })
        for rule in rules.keys.sorted() {
            let violations = rules[rule, default: []].filter { $0.verdict == .violation }
            if !violations.isEmpty { failures += 1 }
            cases.append(
                Self.testCase(
                    name: rule, className: "policy",
                    failure: violations.isEmpty
                        ? nil
                        : (
                            "violation",
                            "\(violations.count) edge(s): " + violations.prefix(10).map(\.name).joined(separator: ", ")
                        )))
        }
        suites.append(Self.suite("policy", cases: cases, failures: failures))

        cases = []
        failures = 0
        for finding in report.findings {
            let failed = finding.severity >= failOn
            if failed { failures += 1 }
            cases.append(
                Self.testCase(
                    name: "\(finding.kind.identifier) \(finding.location ?? "")",
                    className: "findings.\(finding.severity.rawValue)",
                    failure: failed ? (finding.severity.rawValue, "\(finding.title). \(finding.detail)") : nil))
        }
        suites.append(Self.suite("findings", cases: cases, failures: failures))
        let total = report.edges.count + rules.count + report.findings.count
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuites name="bulkhead audit" tests="\(total)" time="\(report.summary.durationSeconds)">
            \(suites.joined(separator: "\n"))
            </testsuites>

            """
    }

    static func suite(_ name: String, cases: [String], failures: Int) -> String {
        "  <testsuite name=\"\(name)\" tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"0\">\n"
            + cases.joined(separator: "\n") + (cases.isEmpty ? "" : "\n") + "  </testsuite>"
    }

    static func testCase(
        name: String, className: String, failure: (type: String, message: String)?, skipped: String? = nil
    ) -> String {
        let head = "    <testcase name=\"\(XMLText.escape(name))\" classname=\"\(XMLText.escape(className))\""
        if failure == nil, let skipped {
            return head
                + ">\n      <skipped message=\"\(XMLText.escape("inconclusive: " + skipped))\"/>\n    </testcase>"
        }
        guard let failure else { return head + "/>" }
        return head
            + ">\n      <failure type=\"\(XMLText.escape(failure.type))\" message=\"\(XMLText.escape(failure.message))\"/>\n    </testcase>"
    }

    static func escapeName(_ text: String) -> String {
        text.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? String($0) : "_" }.joined()
    }
}

/// XML/HTML escaping of text and attribute values.
public enum XMLText {
    public static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default:
                // Control characters are not allowed in XML 1.0 (a hostile name must not break the document).
                if scalar.value < 0x20 && scalar != "\n" && scalar != "\t" {
                    result += "?"
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }
}
