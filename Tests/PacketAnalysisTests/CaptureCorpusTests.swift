import BulkheadModel
import BulkheadTestSupport
import Foundation
import PacketAnalysis
import Testing

/// Runs the analyser over every real capture in `captures/` and checks it against the capture's expected
/// analysis in `captures/expected/`, which was written from what the capture script actually did (not from
/// Bulkhead's output).
@Suite("Capture corpus")
struct CaptureCorpusTests {
    static let repositoryRoot = Repository.root

    static var expectedFiles: [String] {
        let folder = repositoryRoot.appendingPathComponent("captures/expected")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted()
    }

    @Test("the corpus is there")
    func corpusExists() {
        #expect(Self.expectedFiles.count >= 15, "captures/expected should describe the committed captures")
    }

    @Test("analysis matches the expected analysis", arguments: expectedFiles)
    func matchesExpected(_ name: String) throws {
        let expectedURL = Self.repositoryRoot.appendingPathComponent("captures/expected/\(name)")
        let expected = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: expectedURL)) as? [String: Any])
        let capture = try #require(expected["capture"] as? String)
        let path = Self.repositoryRoot.appendingPathComponent("captures/\(capture)").path
        // `"keylog": [paths]` runs the analysis with those key logs (an empty list: secrets embedded in the file).
        var options = AnalysisOptions()
        if let keyLogs = expected["keylog"] as? [String] {
            let keyLog = KeyLog()
            for keyPath in keyLogs {
                try keyLog.load(path: Self.repositoryRoot.appendingPathComponent("captures/\(keyPath)").path)
            }
            options.keyLog = keyLog
        }
        var flows: [FlowRecord] = []
        let result = try CaptureAnalysis.run(files: [path], options: options) { flows.append($0) }
        let report = AnalysisReport(flows: flows, findings: result.findings, summary: result.summary)
        let encoder = JSONEncoder()
        let actual = try #require(try JSONSerialization.jsonObject(with: encoder.encode(report)) as? [String: Any])
        let actualFlows = try #require(actual["flows"] as? [Any])

        if let count = expected["flowCount"] as? Int {
            #expect(actualFlows.count == count, "\(capture): flow count")
        }
        // A capture whose number of connections depends on timing (etcd members starting) names a minimum.
        if let minimum = expected["flowCountAtLeast"] as? Int {
            #expect(actualFlows.count >= minimum, "\(capture): flow count")
        }
        var problems: [String] = []
        if let expectedFlows = expected["flows"] as? [Any] {
            SubsetMatcher.matchDistinct(
                expectedFlows, actualFlows, path: "flows", requireSameCount: false, problems: &problems)
        }
        if let expectedFindings = expected["findings"] as? [Any], let actualFindings = actual["findings"] as? [Any] {
            SubsetMatcher.matchDistinct(
                expectedFindings, actualFindings, path: "findings", requireSameCount: false, problems: &problems)
            // Findings are checked both ways: every kind the analysis reports must be expected, so a false finding
            // (a plaintext-flow on an encrypted connection) fails as a missed one does, and a capture whose
            // certificates were valid when it was taken cannot gain an expiry judged at today's date.
            let expectedKinds = Set(expectedFindings.compactMap { ($0 as? [String: Any])?["kind"] as? String })
            for case let finding as [String: Any] in actualFindings {
                if let kind = finding["kind"] as? String, !expectedKinds.contains(kind) {
                    problems.append("findings: unexpected \(kind): \(finding["title"] ?? "")")
                }
            }
        }
        #expect(problems.isEmpty, Comment(rawValue: "\(capture):\n" + problems.joined(separator: "\n")))
    }
}

/// Compares an expected JSON fragment with actual output: every key the expected side names must match;
/// arrays of objects match element by element to distinct actual elements; `"addr:*"` matches any port.
enum SubsetMatcher {
    /// Arrays whose length must be equal as well as their elements matched.
    static let exactLengthArrays: Set<String> = [
        "credentials", "serverCertificates", "clientCertificates", "hops", "encapsulation",
    ]

    static func matches(_ expected: Any, _ actual: Any, path: String, problems: inout [String]) {
        switch expected {
        case let object as [String: Any]:
            guard let actualObject = actual as? [String: Any] else {
                problems.append("\(path): expected an object, got \(actual)")
                return
            }
            for (key, value) in object {
                guard let actualValue = actualObject[key] else {
                    problems.append("\(path).\(key): missing")
                    continue
                }
                matches(value, actualValue, path: "\(path).\(key)", problems: &problems)
            }
        case let array as [Any]:
            guard let actualArray = actual as? [Any] else {
                problems.append("\(path): expected an array, got \(actual)")
                return
            }
            if array.contains(where: { $0 is [String: Any] }) {
                let key = String(path.split(separator: ".").last ?? "")
                matchDistinct(
                    array, actualArray, path: path, requireSameCount: exactLengthArrays.contains(key),
                    problems: &problems)
            } else if array.isEmpty {
                if !actualArray.isEmpty && exactLengthArrays.contains(String(path.split(separator: ".").last ?? "")) {
                    problems.append("\(path): expected none, got \(actualArray.count)")
                }
            } else if !NSArray(array: array).isEqual(to: actualArray) {
                problems.append("\(path): expected \(array), got \(actualArray)")
            }
        case let text as String:
            if text.hasSuffix(":*"), let actualText = actual as? String {
                let prefix = String(text.dropLast())
                if !actualText.hasPrefix(prefix) { problems.append("\(path): expected \(text), got \(actualText)") }
            } else if (actual as? String) != text {
                problems.append("\(path): expected \(text), got \(actual)")
            }
        case is NSNull:
            if !(actual is NSNull) { problems.append("\(path): expected null, got \(actual)") }
        default:
            if let number = expected as? NSNumber, let actualNumber = actual as? NSNumber, number == actualNumber {
                return
            }
            problems.append("\(path): expected \(expected), got \(actual)")
        }
    }

    /// Each expected element must match a different actual element.
    static func matchDistinct(
        _ expected: [Any], _ actual: [Any], path: String, requireSameCount: Bool, problems: inout [String]
    ) {
        if requireSameCount && expected.count != actual.count {
            problems.append("\(path): expected \(expected.count) elements, got \(actual.count)")
        }
        var used = Set<Int>()
        for (index, element) in expected.enumerated() {
            var best: [String]?
            var matched = false
            for (candidateIndex, candidate) in actual.enumerated() where !used.contains(candidateIndex) {
                var local: [String] = []
                matches(element, candidate, path: "\(path)[\(index)]", problems: &local)
                if local.isEmpty {
                    used.insert(candidateIndex)
                    matched = true
                    break
                }
                if best == nil || local.count < best!.count { best = local }
            }
            if !matched {
                problems.append("\(path)[\(index)]: no matching element; closest differences:")
                problems.append(contentsOf: (best ?? ["(no candidates)"]).map { "    " + $0 })
            }
        }
    }
}
