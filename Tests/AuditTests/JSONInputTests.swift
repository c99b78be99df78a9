import Audit
import BulkheadModel
import BulkheadTestSupport
import Foundation
import Reporting
import Testing

@testable import Fleet

/// Stored reports read back: where a broken one breaks, said with line and column, and what it is when it is another
/// kind of report.
@Suite("Reading JSON documents back")
struct JSONInputTests {
    /// The problem `text` has, as (line, column, message, cut short).
    static func syntax(_ text: String) -> (line: Int, column: Int, message: String, cutShort: Bool)? {
        let bytes = Array(text.utf8)
        guard let problem = JSONGrammar.firstProblem(in: bytes) else { return nil }
        let (line, column) = JSONInput.lineAndColumn(of: problem.offset, in: bytes)
        return (line, column, problem.message, problem.cutShort)
    }

    @Test("syntax errors: the line and column where the text stops being JSON, and why")
    func syntaxErrors() {
        let cases: [(text: String, line: Int, column: Int, says: String, cutShort: Bool)] = [
            ("{\"a\": 1,\n \"b\": x}", 2, 7, "expected a value", false),
            ("{\"a\" 1}", 1, 6, "expected ':' after the key", false),
            ("{\"a\": 1 \"b\": 2}", 1, 9, "expected ',' or '}' after a member", false),
            ("[1, 2 3]", 1, 7, "expected ',' or ']' after an element", false),
            ("{\"a\": 01}", 1, 8, "expected ',' or '}'", false),
            ("{\"a\": -}", 1, 8, "not a JSON number", false),
            ("{\"a\": 1.}", 1, 9, "not a JSON number", false),
            ("{\"a\": 1e+}", 1, 10, "not a JSON number", false),
            ("{\"a\": \"\\q\"}", 1, 8, "is not a JSON escape", false),
            ("{\"a\": \"\\u12x4\"}", 1, 8, "four hexadecimal digits", false),
            ("{\"a\": \"x\ty\"}", 1, 9, "control character", false),
            ("{\"a\": tru}", 1, 7, "expected a value", false),
            ("{'a': 1}", 1, 2, "expected a key in double quotes, found '''", false),
            ("{} x", 1, 4, "text after the end", false),
            ("[1,]", 1, 4, "expected a value", false),
            ("{\"a\": 866e4465377}", 1, 7, "too large for a 64-bit float", false),
            ("[1.7976931348623159e308]", 1, 2, "too large", false),
            ("{\"a\": 1,}", 1, 9, "expected a key", false),
            ("", 1, 1, "no JSON value", false),
            (" \n ", 1, 1, "no JSON value", false),
            ("{\"é\": \"ü\", \"b\": ?}", 1, 17, "found '?'", false),
            // Cut short: at the end of the text, whatever was open.
            ("{\"a\": [1, 2", 1, 12, "2 objects or arrays still open", true),
            ("{\"a\": \"abc", 1, 11, "inside the string", true),
            ("{\"a\": tr", 1, 9, "inside a value", true),
            ("{\"a\": 12.", 1, 10, "inside a number", true),
            ("{\"a\": \"\\", 1, 9, "inside the string", true),
            ("{\"a\": \"\\u00", 1, 12, "inside the string", true),
            ("{\"a\"", 1, 5, "still open", true),
            ("[", 1, 2, "1 object or array still open", true),
        ]
        for item in cases {
            let found = Self.syntax(item.text)
            #expect(
                found?.line == item.line && found?.column == item.column, "\(item.text): \(String(describing: found))")
            #expect(found?.message.contains(item.says) == true, "\(item.text): \(found?.message ?? "no problem")")
            #expect(found?.cutShort == item.cutShort, "\(item.text)")
        }
        for valid in [
            "{}", "[]", " {\"a\": [1, -2.5e-3, 0, true, false, null, \"x\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"]} ",
            "\"s\"",
            "0", "-0.0E+1", "[{}, [], {\"\": {}}]", "[1e308, 1e-400, 0e99999999999, 123456789012345678901234567890]",
        ] {
            #expect(Self.syntax(valid) == nil, "\(valid)")
        }
    }

    @Test(
        "fuzz regression: a number past a 64-bit float is where Foundation refuses the text (fuzz/config/regressions/)")
    func numberOverflow() throws {
        let file = Repository.path("fuzz/config/regressions/report-json-number-overflow.bin")
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: file)).dropFirst())  // byte 0 picks the target
        #expect((try? JSONSerialization.jsonObject(with: Data(bytes))) == nil)
        let problem = try #require(JSONGrammar.firstProblem(in: bytes))
        #expect(problem.message.contains("too large for a 64-bit float"))
        #expect(JSONInput.lineAndColumn(of: problem.offset, in: bytes) == (2, 19))
        // The decoder reads numbers only when asked for them: to it the text is a document without a schema.
        let refusal = Self.refusal(AuditReport.self, bytes, .auditReport)
        #expect(refusal?.message.hasPrefix("has no schema key") == true, "\(String(describing: refusal))")
    }

    @Test(
        "JSON that readers refuse all the same is located and named: nesting past 512 levels, an integer past 64 bits, bytes that are not UTF-8"
    )
    func readerLimits() {
        let deep = Array(
            ("{\"a\": " + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "}").utf8)
        #expect(JSONGrammar.firstProblem(in: deep) == nil, "JSON by its grammar")
        let nested = JSONGrammar.readerLimit(in: deep)
        #expect(
            nested?.message.contains("512 levels") == true && nested?.offset == 6 + 511, "\(String(describing: nested))"
        )
        let refusal = Self.refusal(AuditReport.self, deep, .auditReport)
        #expect(
            refusal?.message.hasPrefix("cannot be read: nested more than 512") == true, "\(String(describing: refusal))"
        )
        let huge = Array("{\"port\": 10000000000000000000000000000000000000000}".utf8)
        #expect(JSONGrammar.readerLimit(in: huge)?.message == "an integer of 41 digits, wider than 64 bits")
        #expect(JSONGrammar.readerLimit(in: huge)?.offset == 9)
        #expect(JSONGrammar.readerLimit(in: Array("{\"a\": 1.0000000000000000000000001e5}".utf8)) == nil)
        #expect(
            JSONGrammar.readerLimit(
                in: Array("{\"a\": 1.00000000000000000000001, \"b\": 2e-100000000000000000000}".utf8)) == nil,
            "a fraction's or an exponent's digits")
        #expect(JSONGrammar.readerLimit(in: [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D])?.offset == 6)
        #expect(JSONGrammar.readerLimit(in: Array("{\"a\": \"é\\\"[[[\"}".utf8)) == nil, "inside strings, escapes too")
    }

    @Test("deep nesting is read without recursion, open or closed")
    func deepNesting() {
        let depth = 200_000
        let closed = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(Self.syntax(closed) == nil)
        let open = Self.syntax(String(repeating: "{\"a\":[", count: depth))
        #expect(open?.cutShort == true && open?.message.contains("\(2 * depth) objects or arrays") == true)
    }

    /// Whenever Foundation refuses a text, the grammar finds where; whenever the grammar passes one, Foundation reads
    /// it. Checked on a real report cut and damaged at seeded random places.
    @Test("agrees with Foundation's parser on damaged reports")
    func agreesWithFoundation() throws {
        let document = Array(try JSONReport.document(SampleAudit.report()))
        var random = SeededGenerator(state: 0x1503)
        var refused = 0
        for round in 0..<600 {
            var bytes = document
            switch round % 3 {
            case 0: bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count))))
            case 1:
                let place = Int(random.next() % UInt64(bytes.count))
                let alphabet = Array("{}[],:\"\\ 0-e.tx\n".utf8)
                bytes[place] = alphabet[Int(random.next() % UInt64(alphabet.count))]
            default:
                let place = Int(random.next() % UInt64(bytes.count))
                bytes.remove(at: place)
            }
            // The grammar reads bytes; UTF-8 is checked before it (InputFile.decodeUTF8).
            guard String(validating: bytes, as: UTF8.self) != nil else { continue }
            let foundationReads =
                (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil
            let problem = JSONGrammar.firstProblem(in: bytes)
            if !foundationReads {
                refused += 1
                #expect(problem != nil, "round \(round): Foundation refuses, the grammar finds nothing")
            }
            if problem == nil { #expect(foundationReads, "round \(round): the grammar passes what Foundation refuses") }
        }
        #expect(refused > 300)
    }

    @Test("the value at a JSON path: found in objects and arrays, escaped keys read as the decoder reads them")
    func pathLookup() throws {
        let text = """
            {
              "schema": "x",
              "k\\u0065y": {"list": [10, {"deep": [true, "é"]}, 30]},
              "key": "second, ignored",
              "ünï": 5
            }
            """
        let bytes = Array(text.utf8)
        func at(_ keys: [any CodingKey]) -> (Int, Int)? {
            JSONInput.offset(of: keys, in: bytes).map { JSONInput.lineAndColumn(of: $0, in: bytes) }
        }
        #expect(at([]) ?? (0, 0) == (1, 1))
        #expect(at([Key("schema")]) ?? (0, 0) == (2, 13))
        #expect(at([Key("key")]) ?? (0, 0) == (3, 15))
        #expect(at([Key("key"), Key("list"), Key(index: 2)]) ?? (0, 0) == (3, 52))
        #expect(at([Key("key"), Key("list"), Key(index: 1), Key("deep"), Key(index: 1)]) ?? (0, 0) == (3, 45))
        #expect(at([Key("ünï")]) ?? (0, 0) == (5, 10))
        #expect(at([Key("missing")]) == nil)
        #expect(at([Key("key"), Key("list"), Key(index: 3)]) == nil)
        #expect(at([Key("schema"), Key("inside a string")]) == nil)
        #expect(JSONInput.path([Key("findings"), Key(index: 2), Key("severity")]) == "findings[2].severity")
        #expect(JSONInput.path([]) == "the top level")
    }

    /// A coding key as the decoder makes them: a member's name, or an element's index.
    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int?
        init(_ name: String) { self.stringValue = name }
        init(index: Int) {
            self.stringValue = "Index \(index)"
            self.intValue = index
        }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { self.init(index: intValue) }
    }

    static func refusal<T: Decodable>(_ type: T.Type, _ text: String, _ expected: JSONInput.Expected) -> PathError? {
        Self.refusal(type, Array(text.utf8), expected)
    }

    static func refusal<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], _ expected: JSONInput.Expected) -> PathError? {
        do {
            _ = try JSONInput.decode(type, from: bytes, path: "in.json", expected: expected)
            return nil
        } catch { return error }
    }

    @Test("stored reports: the value at fault located, another kind or version named, text that is not UTF-8")
    func storedReports() throws {
        let report = SampleAudit.report()
        let audit = String(decoding: try JSONReport.document(report), as: UTF8.self)
        #expect(Self.refusal(AuditReport.self, audit, .auditReport) == nil)

        // A value of the wrong type, far into the file: its line and column, and its JSON path.
        let lines = audit.split(separator: "\n", omittingEmptySubsequences: false)
        let severityLine = try #require(lines.firstIndex { $0.contains("\"severity\" :") })
        let broken = lines.enumerated().map { index, line in
            index == severityLine ? line.replacingOccurrences(of: #"" : ""#, with: #"" : 7, "x" : ""#) : String(line)
        }.joined(separator: "\n")
        let typeError = Self.refusal(AuditReport.self, broken, .auditReport)
        let column =
            try #require(lines[severityLine].range(of: "\" : ")).upperBound.utf16Offset(in: lines[severityLine]) + 1
        #expect(typeError?.path == "in.json:\(severityLine + 1):\(column)", "\(String(describing: typeError))")
        #expect(typeError?.message.contains("severity") == true)
        #expect(typeError?.message.contains("not an audit report as this build writes them") == true)

        // A missing key: the object that lacks it.
        let missing = Self.refusal(AuditReport.self, "{\n  \"schema\": \"bulkhead.audit/1\"\n}", .auditReport)
        #expect(
            missing?.path == "in.json:1:1"
                && missing?.message.hasPrefix("generatedAt: missing: not an audit report") == true)

        // Another kind of report, another version, no schema, and a report where an inventory was expected.
        let probe = String(decoding: try JSONEncoder().encode(try #require(report.evidence.probe)), as: UTF8.self)
        #expect(Self.refusal(AuditReport.self, probe, .auditReport)?.message.contains("is a probe report") == true)
        #expect(Self.refusal(ProbeReport.self, audit, .probeReport)?.message.contains("is an audit report") == true)
        let future = audit.replacingOccurrences(of: "bulkhead.audit/1", with: "bulkhead.audit/9")
        #expect(
            Self.refusal(AuditReport.self, future, .auditReport)?.message
                == "schema bulkhead.audit/9; this build reads bulkhead.audit/1 (bulkhead audit --format json)")
        #expect(Self.refusal(AuditReport.self, "{}", .auditReport)?.message.contains("has no schema key") == true)
        #expect(
            Self.refusal(InventoryReport.self, audit, .inventoryReport)?.message.contains("is an audit report") == true)
        #expect(Self.refusal(ProbeReport.self, probe, .probeReport) == nil)

        // Broken text: where, and what was expected.
        let cut = Self.refusal(AuditReport.self, String(audit.prefix(audit.count / 2)), .auditReport)
        #expect(cut?.message.hasPrefix("is cut short") == true && cut?.path.hasPrefix("in.json:") == true)
        var latin1 = Array(audit.utf8)
        latin1[40] = 0xE9
        let notUTF8 = try #require(Self.refusal(AuditReport.self, latin1, .auditReport))
        let (utf8Line, utf8Column) = JSONInput.lineAndColumn(of: 40, in: latin1)
        #expect(notUTF8.path == "in.json:\(utf8Line):\(utf8Column)" && notUTF8.message.contains("UTF-8"), "\(notUTF8)")
    }

    @Test("Baseline.load reads a file as the audit command does: its line and column when it is broken")
    func baselineFile() throws {
        let folder = try ScratchSpace.folder("bh-json")
        let file = folder.appendingPathComponent("accepted.json").path
        try Data("{\n  \"schema\": \"bulkhead.audit/1\",\n  \"findings\": [x]\n}\n".utf8).write(
            to: URL(fileURLWithPath: file))
        #expect(
            throws: PathError(
                path: "\(file):3:16",
                message:
                    "not JSON: expected a value (a string, a number, an object, an array, true, false or null), found 'x'; expected an audit report (bulkhead audit --format json)"
            )
        ) {
            try Baseline.load(path: file)
        }
        let report = SampleAudit.report()
        try JSONReport.document(report).write(to: URL(fileURLWithPath: file))
        #expect(try Baseline.load(path: file).findings == report.findings)
        #expect(throws: PathError.self) { try Baseline.load(path: folder.path) }
    }

    @Test("merge: a wrong value after the cut probe cells is placed where it is in the file, not in the cut text")
    func mergePositions() throws {
        let report = FleetNodes.report(FleetNodes.cluster("n1"))
        var text = try FleetMergeReadingTests.document(report)
        // Many lines of probe cells (cut before decoding), then a finding whose severity is a number.
        let probeStart = try #require(text.range(of: "\"probe\" : "))
        #expect(text[probeStart.upperBound...].hasPrefix("{"))
        text = text.replacingOccurrences(of: "\"severity\" : \"", with: "\"severity\" : 9, \"was\" : \"")
        let bytes = Array(text.utf8)
        let refusal: FleetMergeError?
        do {
            _ = try NodeReport.decode(bytes, path: "node.json")
            refusal = nil
        } catch { refusal = error }
        let found = try #require(refusal)
        #expect(found.code == .invalidReport && found.message.contains("severity"), "\(found)")
        // The position named is a `9` after `"severity" : ` in the file itself.
        let parts = found.path.split(separator: ":")
        let line = try #require(Int(parts[1]))
        let column = try #require(Int(parts[2]))
        let fileLine = text.split(separator: "\n", omittingEmptySubsequences: false)[line - 1]
        let prefix = String(fileLine.unicodeScalars.prefix(column - 1).map(Character.init))
        #expect(prefix.hasSuffix("\"severity\" : "), "\(found.path): \(fileLine)")
        #expect(fileLine.dropFirst(prefix.count).hasPrefix("9"))
        // And a cut offset maps back: before, inside and after two replacements.
        let cuts: [(range: Range<Int>, text: String)] = [(10..<30, "null"), (50..<52, "[]")]
        #expect(NodeReport.originalOffset(5, cuts: cuts) == 5)
        #expect(NodeReport.originalOffset(12, cuts: cuts) == 10)
        #expect(NodeReport.originalOffset(14, cuts: cuts) == 30)
        #expect(NodeReport.originalOffset(40, cuts: cuts) == 56)
        #expect(NodeReport.originalOffset(34, cuts: cuts) == 50)
        #expect(NodeReport.originalOffset(36, cuts: cuts) == 52)
    }
}
