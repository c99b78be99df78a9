import BulkheadModel
import Foundation

/// JUnit XML for CI systems: first whether the audit did its job (one test case per stage, in error when the stage
/// failed or did not finish, and one in error per problem the report names: an incomplete audit is never green),
/// then one test case per edge (failing when its verdict is a violation), one per policy rule (failing when any edge
/// it decided is a violation), and one per finding (failing at or above the failure threshold).
public enum JUnitReport {
    /// One `<testsuite>`: its test cases, in order.
    public struct Suite: Sendable {
        public var name: String
        public var cases: [TestCase]

        public init(name: String, cases: [TestCase]) {
            self.name = name
            self.cases = cases
        }
    }

    /// One `<testcase>` and how it ended.
    public struct TestCase: Sendable {
        public var name: String
        public var className: String
        public var outcome: Outcome

        public init(name: String, className: String, outcome: Outcome = .passed) {
            self.name = name
            self.className = className
            self.outcome = outcome
        }
    }

    /// How a test case ended, in JUnit's words.
    public enum Outcome: Sendable {
        case passed
        /// A check that ran and found something wrong (`<failure>`).
        case failed(type: String, message: String)
        /// A check that could not be made (`<error>`): the audit did not examine what it should have.
        case error(type: String, message: String)
        /// Neither passed nor failed, with the reason (`<skipped>`).
        case skipped(message: String)
    }

    /// The audit's JUnit document.
    public static func render(_ report: AuditReport, failOn: Severity) -> String {
        Self.document(
            name: "bulkhead audit", suites: Self.suites(report, failOn: failOn), time: report.summary.durationSeconds)
    }

    /// The audit's suites: completeness, edges, policy, findings.
    public static func suites(_ report: AuditReport, failOn: Severity) -> [Suite] {
        var edges: [TestCase] = []
        for edge in report.edges {
            let outcome: Outcome
            // A forged identity accepted is a failure with or without a policy.
            if edge.verdict == .violation || edge.verdict == .tlsAcceptsRogueClient {
                outcome = .failed(type: edge.verdict.rawValue, message: edge.reasons.joined(separator: "; "))
            } else if edge.verdict == .inconclusive {
                // An edge nothing could be proven about is neither passed nor failed: skipped, with the reason.
                outcome = .skipped(message: "inconclusive: " + edge.reasons.joined(separator: "; "))
            } else {
                outcome = .passed
            }
            edges.append(
                TestCase(name: edge.name, className: "edges.\(Self.escapeName(edge.source))", outcome: outcome))
        }

        var policy: [TestCase] = []
        let rules = Dictionary(grouping: report.edges.filter { $0.rule != nil }, by: { $0.rule ?? "" })
        for rule in rules.keys.sorted() {
            let violations = rules[rule, default: []].filter { $0.verdict == .violation }
            policy.append(
                TestCase(
                    name: rule, className: "policy",
                    outcome: violations.isEmpty
                        ? .passed
                        : .failed(
                            type: "violation",
                            message: "\(violations.count) edge(s): "
                                + violations.prefix(10).map(\.name).joined(separator: ", "))))
        }

        // With a baseline, the exit status counts only new findings: one the baseline accepted is skipped (and says
        // so) rather than failed, so that a CI reading JUnit agrees with the exit status.
        let new = report.baseline?.newFlags(report.findings) ?? report.findings.map { _ in true }
        let findings = zip(report.findings, new).map { finding, isNew in
            // Named by the finding's identity, which tells two findings of one kind at one place apart (CI tools merge
            // test cases of one name) and stays the same from run to run (their history follows it).
            let outcome: Outcome
            if finding.severity < failOn {
                outcome = .passed
            } else if !isNew, let baseline = report.baseline {
                outcome = .skipped(message: "accepted by the baseline \(baseline.baseline): not new. \(finding.title)")
            } else {
                outcome = .failed(type: finding.severity.rawValue, message: "\(finding.title). \(finding.detail)")
            }
            return TestCase(
                name: finding.identity.name, className: "findings.\(finding.severity.rawValue)", outcome: outcome)
        }
        return [
            Suite(name: "completeness", cases: Self.completeness(report)), Suite(name: "edges", cases: edges),
            Suite(name: "policy", cases: policy), Suite(name: "findings", cases: findings),
        ]
    }

    /// Whether the audit examined what it should have: a case per stage (an error when it failed or did not finish;
    /// skipped when it was switched off or had nothing to work on) and an error per problem the report names. A CI
    /// reading JUnit alone must see an incomplete audit as red, as the exit status (3), the JSON (`complete`), SARIF
    /// (`executionSuccessful`) and Prometheus (`bulkhead_audit_complete`) say it.
    static func completeness(_ report: AuditReport) -> [TestCase] {
        var cases = report.stages.map { stage in
            let outcome: Outcome
            switch stage.status {
            case .ran: outcome = .passed
            case .skipped: outcome = .skipped(message: stage.note ?? "skipped")
            case .failed, .incomplete:
                outcome = .error(type: stage.status.rawValue, message: stage.note ?? stage.status.rawValue)
            }
            return TestCase(name: "stage \(stage.name)", className: "completeness.stages", outcome: outcome)
        }
        for problem in report.problems {
            cases.append(
                TestCase(
                    name: problem, className: "completeness.problems",
                    outcome: .error(type: "incomplete", message: problem)))
        }
        let erring = cases.contains {
            if case .error = $0.outcome { return true }
            return false
        }
        if !report.complete && !erring {
            cases.append(
                TestCase(
                    name: "complete", className: "completeness",
                    outcome: .error(type: "incomplete", message: "the report says the audit is incomplete")))
        }
        return cases
    }

    /// A JUnit document of `suites`, with the totals of its cases, failures and errors on the root element.
    public static func document(name: String, suites: [Suite], time: Double) -> String {
        let all = suites.flatMap(\.cases)
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuites name="\(XMLText.escape(name))" tests="\(all.count)" failures="\(Self.failures(all))" \
            errors="\(Self.errors(all))" time="\(time)">
            \(suites.map(Self.suite).joined(separator: "\n"))
            </testsuites>

            """
    }

    static func failures(_ cases: [TestCase]) -> Int {
        cases.filter {
            if case .failed = $0.outcome { return true }
            return false
        }.count
    }

    static func errors(_ cases: [TestCase]) -> Int {
        cases.filter {
            if case .error = $0.outcome { return true }
            return false
        }.count
    }

    static func suite(_ suite: Suite) -> String {
        "  <testsuite name=\"\(XMLText.escape(suite.name))\" tests=\"\(suite.cases.count)\" "
            + "failures=\"\(Self.failures(suite.cases))\" errors=\"\(Self.errors(suite.cases))\">\n"
            + Self.numberingRepeats(suite.cases).map(Self.testCase).joined(separator: "\n")
            + (suite.cases.isEmpty ? "" : "\n") + "  </testsuite>"
    }

    /// `cases` with the second and later cases of one class and name numbered (`name (2)`): CI tools merge or
    /// overwrite test cases of the same class and name, and two problems, or two findings, may read the same.
    static func numberingRepeats(_ cases: [TestCase]) -> [TestCase] {
        var seen: [String: Int] = [:]
        return cases.map { testCase in
            let key = testCase.className + "\u{0}" + testCase.name
            seen[key, default: 0] += 1
            guard let count = seen[key], count > 1 else { return testCase }
            var numbered = testCase
            numbered.name += " (\(count))"
            return numbered
        }
    }

    static func testCase(_ testCase: TestCase) -> String {
        let head =
            "    <testcase name=\"\(XMLText.escape(testCase.name))\" classname=\"\(XMLText.escape(testCase.className))\""
        let element: String
        switch testCase.outcome {
        case .passed: return head + "/>"
        case .failed(let type, let message):
            element = "<failure type=\"\(XMLText.escape(type))\" message=\"\(XMLText.escape(message))\"/>"
        case .error(let type, let message):
            element = "<error type=\"\(XMLText.escape(type))\" message=\"\(XMLText.escape(message))\"/>"
        case .skipped(let message):
            element = "<skipped message=\"\(XMLText.escape(message))\"/>"
        }
        return head + ">\n      " + element + "\n    </testcase>"
    }

    static func escapeName(_ text: String) -> String {
        text.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? String($0) : "_" }.joined()
    }
}

/// XML/HTML escaping of text and attribute values. Besides the markup characters, a character that acts instead of
/// showing is written as the table writes it (``TerminalText/visibleEscape(_:)``): C0 controls and U+FFFE/U+FFFF,
/// which XML 1.0 forbids (a hostile name must not break the document), C1 controls, and the bidi embeddings,
/// overrides, isolates and marks, which would otherwise reorder the report's own text around an outside string (a
/// container named `db` + U+202E shows the rest of the sentence mirrored). Newline and tab stay: XML allows them and
/// tooltips break lines. A backslash is kept as it is (text read off the wire arrives with its bytes already written
/// `\xNN`), so in these formats an outside string can spell an escape but never perform one.
public enum XMLText {
    public static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            case "\n", "\t": result.unicodeScalars.append(scalar)
            default:
                if let visible = TerminalText.visibleEscape(scalar) {
                    result += visible
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result
    }
}
