import Foundation

/// Reading back a JSON document someone hands bulkhead (a stored report of an earlier run, `docker inspect` output)
/// without trusting it, and saying what is wrong with one that cannot be read in words a person can act on: the file,
/// the line and column (`audit.json:14:23: …`), the JSON path of the value at fault (`findings[2].severity`), and what
/// the document is when it is another kind of report.
///
/// Foundation's decoder says only "The given data was not valid JSON." for any syntax error, and nothing of where a
/// value of the wrong type sits; these are found again here, over the bytes, once the decoder has refused them.
public enum JSONInput {
    /// What a document should be, for the messages that say it is not.
    public struct Expected: Sendable, Hashable {
        /// What it is called: "an audit report".
        public var name: String
        /// What writes it: "bulkhead audit --format json".
        public var producer: String
        /// The `schema` value it carries, if its kind carries one.
        public var schema: String?

        public init(name: String, producer: String, schema: String?) {
            self.name = name
            self.producer = producer
            self.schema = schema
        }

        public static let auditReport = Expected(
            name: "an audit report", producer: "bulkhead audit --format json", schema: AuditReport.currentSchema)
        public static let probeReport = Expected(
            name: "a probe report", producer: "bulkhead probe --format json", schema: ProbeReport.currentSchema)
        public static let inventoryReport = Expected(
            name: "an inventory report", producer: "bulkhead inventory --format json", schema: nil)
        public static let fleetReport = Expected(
            name: "a fleet report", producer: "bulkhead merge --format json", schema: Self.fleetSchema)
        /// The fleet report's schema, here because the readers of every kind of report must know it, and the Fleet
        /// module (where `FleetReport.currentSchema` names it) comes after this one.
        public static let fleetSchema = "bulkhead.fleet/1"

        /// The kinds that carry a schema, to name a document handed to the wrong command.
        static let withSchemas: [Expected] = [.auditReport, .probeReport, .fleetReport]

        /// "an audit report (bulkhead audit --format json)".
        var phrase: String { "\(self.name) (\(self.producer))" }
    }

    /// The largest document read back (an audit report with a night of captured flows can be large).
    public static let sizeLimit = 1 << 30

    /// Reads the file at `path` (as ``InputFile`` reads) and decodes it as `type`.
    ///
    /// - Throws: `PathError` naming the file, and where the text is at fault its line and column.
    public static func load<T: Decodable>(_ type: T.Type, path: String, expected: Expected) throws(PathError) -> T {
        try Self.decode(
            type, from: try InputFile.contents(of: path, limit: Self.sizeLimit), path: path, expected: expected)
    }

    /// Decodes `bytes`, the content of `path`, as `type`; see ``load(_:path:expected:)``.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], path: String, expected: Expected)
        throws(PathError) -> T
    {
        let value: T
        do { value = try JSONDecoder().decode(type, from: Data(bytes)) } catch {
            throw Self.problem(error, in: bytes, path: path, expected: expected)
        }
        let found = (value as? any SchemaVersioned)?.schema
        if expected.schema != nil, let wrongKind = Self.schemaProblem(found: found, path: path, expected: expected) {
            throw wrongKind
        }
        return value
    }

    /// What is wrong with `bytes` (the content of `path`), which the decoder refused with `error`: text that is not
    /// UTF-8 or not JSON (where it breaks), a document cut short, another kind of document, or the value at fault.
    public static func problem(_ error: any Error, in bytes: [UInt8], path: String, expected: Expected) -> PathError {
        do { _ = try InputFile.decodeUTF8(bytes, path: path) } catch { return error }
        // The decoder refused the text itself (it says no more than that): find where it breaks. Text it read (it lets
        // a few things pass that RFC 8259 does not) is judged by what it found in it.
        let refusedText =
            if case .dataCorrupted(let context) = error as? DecodingError { context.codingPath.isEmpty } else { false }
        if refusedText, let syntax = JSONGrammar.firstProblem(in: bytes) {
            if syntax.cutShort {
                return PathError(
                    path: Self.place(path, at: syntax.offset, in: bytes),
                    message:
                        "is cut short: \(syntax.message) (a copy or a write that did not finish?); expected \(expected.phrase)"
                )
            }
            return PathError(
                path: Self.place(path, at: syntax.offset, in: bytes),
                message: "not JSON: \(syntax.message); expected \(expected.phrase)")
        }
        if refusedText, let limit = JSONGrammar.readerLimit(in: bytes) {
            return PathError(
                path: Self.place(path, at: limit.offset, in: bytes),
                message: "cannot be read: \(limit.message); expected \(expected.phrase)")
        }
        // Another kind of document (or version) says more than the first key it lacks.
        struct Peek: Decodable { var schema: String? }
        if let peek = try? JSONDecoder().decode(Peek.self, from: Data(bytes)),
            let wrongKind = Self.schemaProblem(found: peek.schema, path: path, expected: expected)
        {
            return wrongKind
        }
        guard let decoding = error as? DecodingError else {
            return PathError(path: path, message: "not \(expected.phrase): \(error.localizedDescription)")
        }
        let (named, at, message) = Self.explain(decoding)
        return PathError(
            path: Self.located(path, at, in: bytes),
            message:
                "\(Self.path(named)): \(message): not \(expected.name) as this build writes them (\(expected.producer))"
        )
    }

    /// `path:line:column` of the value at `keys` in `bytes`, or `path` when there is none.
    public static func located(_ path: String, _ keys: [any CodingKey], in bytes: [UInt8]) -> String {
        guard let offset = Self.offset(of: keys, in: bytes) else { return path }
        return Self.place(path, at: offset, in: bytes)
    }

    /// `path:line:column` of byte `offset` of `bytes`, the way compilers name a place in a file.
    public static func place(_ path: String, at offset: Int, in bytes: [UInt8]) -> String {
        let (line, column) = Self.lineAndColumn(of: offset, in: bytes)
        return "\(path):\(line):\(column)"
    }

    /// What a document whose `schema` is `found` is instead of the one expected; nil when it is the one expected.
    static func schemaProblem(found: String?, path: String, expected: Expected) -> PathError? {
        switch (found, expected.schema) {
        case (nil, nil):
            return nil
        case (nil, _?):
            return PathError(path: path, message: "has no schema key: not \(expected.phrase)")
        case (let found?, let wanted):
            if found == wanted { return nil }
            if let other = Expected.withSchemas.first(where: { $0.schema == found }) {
                return PathError(
                    path: path, message: "is \(other.phrase), schema \(found); expected \(expected.phrase)")
            }
            if let wanted, let family = wanted.split(separator: "/").first, found.hasPrefix(family + "/") {
                return PathError(
                    path: path, message: "schema \(found); this build reads \(wanted) (\(expected.producer))")
            }
            return PathError(path: path, message: "schema \(found): not \(expected.phrase)")
        }
    }

    /// What a decoding error is about: the JSON path it names (a missing key's own), the path of the value in the
    /// text it is found at (the object that lacks the key), and what is wrong.
    public static func explain(_ error: DecodingError) -> (named: [any CodingKey], at: [any CodingKey], message: String)
    {
        switch error {
        case .keyNotFound(let key, let context):
            return (context.codingPath + [key], context.codingPath, "missing")
        case .valueNotFound(_, let context):
            return (context.codingPath, context.codingPath, "null where a value is needed")
        case .typeMismatch(_, let context), .dataCorrupted(let context):
            return (context.codingPath, context.codingPath, Self.sentence(context.debugDescription))
        @unknown default:
            return ([], [], "\(error)")
        }
    }

    /// The decoder's description as a clause: no capital to start, no full stop at the end.
    private static func sentence(_ text: String) -> String {
        var clause = text.hasSuffix(".") ? String(text.dropLast()) : text
        if let first = clause.first, first.isUppercase, clause.dropFirst().first?.isLowercase ?? true {
            clause = first.lowercased() + clause.dropFirst()
        }
        return clause
    }

    /// A coding path as a JSON path: `findings[2].severity`; "the top level" for the document itself.
    public static func path(_ keys: [any CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue, key.stringValue == "Index \(index)" {
                text += "[\(index)]"
            } else {
                text += (text.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return text.isEmpty ? "the top level" : text
    }

    /// The line and column (both from 1; the column in characters) of byte `offset` of `bytes`.
    public static func lineAndColumn(of offset: Int, in bytes: [UInt8]) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        for byte in bytes.prefix(max(0, offset)) {
            if byte == 0x0A {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return (line, column)
    }

    /// Where in `bytes` (valid JSON) the value at `keys` starts; nil when the path does not lead to one (a key the
    /// text writes with an escape is compared as the decoder reads it).
    public static func offset(of keys: [any CodingKey], in bytes: [UInt8]) -> Int? {
        var grammar = JSONGrammar(bytes)
        grammar.skipWhitespace()
        for key in keys {
            guard grammar.moveInto(key) else { return nil }
        }
        return grammar.position
    }
}

/// A stored report that names its format and version in a `schema` key (`bulkhead.audit/1`).
public protocol SchemaVersioned {
    var schema: String { get }
}

/// JSON's grammar (RFC 8259) over bytes, without building values: where a document first breaks it, and how to walk to
/// the value at a path. Iterative (a stack of open containers, not recursion), so any depth of nesting is safe.
public struct JSONGrammar {
    /// Where and why a text is not JSON.
    public struct Problem: Sendable, Hashable {
        /// The byte at which the text stops being JSON.
        public var offset: Int
        public var message: String
        /// The text ends inside a value: what a file cut short looks like.
        public var cutShort: Bool
    }

    let bytes: [UInt8]
    var position = 0
    /// Whether a key given twice in one object is a problem (JSON readers keep one of them, silently).
    var refusesDuplicateKeys = false

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Why a reader refuses `bytes` although they follow JSON's grammar: text that is not UTF-8, nesting deeper than
    /// readers go (512 levels), or an integer wider than 64 bits. Nil when none of these is found: the reader's own
    /// words are all there is then.
    public static func readerLimit(in bytes: [UInt8]) -> Problem? {
        if let invalid = Self.firstInvalidUTF8(bytes) {
            return Problem(offset: invalid, message: "a byte that is not UTF-8 (JSON text is UTF-8)", cutShort: false)
        }
        var depth = 0
        var index = 0
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""):
                // Past the string, escapes and all.
                index += 1
                while index < bytes.count && bytes[index] != UInt8(ascii: "\"") {
                    index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > 512 {
                    return Problem(
                        offset: index, message: "nested more than 512 levels deep (JSON readers stop there)",
                        cutShort: false)
                }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = index
                // Digits after `.`, `e` or an exponent's sign are a fraction or an exponent, not an integer part.
                let previous = start > 0 ? bytes[start - 1] : 0
                let inNumber = [
                    UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"), UInt8(ascii: "-"),
                ]
                .contains(previous)
                while index + 1 < bytes.count, (0x30...0x39).contains(bytes[index + 1]) { index += 1 }
                let next = index + 1 < bytes.count ? bytes[index + 1] : 0
                let digits = index - start + (bytes[start] == UInt8(ascii: "-") ? 0 : 1)
                if !inNumber && digits > 19 && next != UInt8(ascii: ".") && next != UInt8(ascii: "e")
                    && next != UInt8(ascii: "E")
                {
                    return Problem(
                        offset: start, message: "an integer of \(digits) digits, wider than 64 bits", cutShort: false)
                }
            default:
                break
            }
            index += 1
        }
        return nil
    }

    /// The offset of the first byte that breaks UTF-8, or nil.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            let length: Int
            switch byte {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return index
            }
            guard index + length <= bytes.count else { return index }
            for continuation in bytes[(index + 1)..<(index + length)] where continuation & 0xC0 != 0x80 {
                return index
            }
            index += length
        }
        return nil
    }

    /// Where `bytes` (one JSON document) first gives a key twice in one object: decoders keep one of the two values
    /// and drop the other without a word, so a file edited by hand can say something else than it seems to. Nil when
    /// no key repeats (or the text is not JSON: ``firstProblem(in:)`` says where).
    public static func firstDuplicateKey(in bytes: [UInt8]) -> Problem? {
        var grammar = JSONGrammar(bytes)
        grammar.refusesDuplicateKeys = true
        grammar.skipWhitespace()
        guard let problem = grammar.skipValue(), problem.message.hasPrefix("key ") else { return nil }
        return problem
    }

    /// Where `bytes` stops being one JSON document, and why; nil when it is one.
    public static func firstProblem(in bytes: [UInt8]) -> Problem? {
        var grammar = JSONGrammar(bytes)
        grammar.skipWhitespace()
        if grammar.position == bytes.count {
            return Problem(offset: 0, message: "the file holds no JSON value", cutShort: false)
        }
        if let problem = grammar.skipValue() { return problem }
        grammar.skipWhitespace()
        guard grammar.position == bytes.count else {
            return Problem(
                offset: grammar.position, message: "text after the end of the JSON document", cutShort: false)
        }
        return nil
    }

    /// Where the value that `range` of `bytes` should hold stops being JSON, or ends before the range does; nil when
    /// the range holds exactly one JSON value. For readers that cut values out of a document unread (the merge cuts
    /// each node's probe cells and flows): what is cut is still checked to be JSON, and positions stay the file's.
    public static func firstProblem(inValueAt range: Range<Int>, of bytes: [UInt8]) -> Problem? {
        var grammar = JSONGrammar(bytes)
        grammar.position = range.lowerBound
        if let problem = grammar.skipValue() { return problem }
        guard grammar.position == range.upperBound else {
            return Problem(offset: grammar.position, message: "text after the end of a value", cutShort: false)
        }
        return nil
    }

    mutating func skipWhitespace() {
        while self.position < self.bytes.count {
            switch self.bytes[self.position] {
            case 0x20, 0x09, 0x0A, 0x0D: self.position += 1
            default: return
            }
        }
    }

    private enum Expect {
        case value
        case firstElementOrClose
        case firstKeyOrClose
        case key
        case commaOrClose
    }

    /// Past the one value that starts here (after whitespace), or where it breaks the grammar.
    mutating func skipValue() -> Problem? {
        var open: [UInt8] = []
        // The keys seen in each open object (only when ``refusesDuplicateKeys``).
        var keys: [Set<ArraySlice<UInt8>>] = []
        var expect = Expect.value
        while true {
            self.skipWhitespace()
            guard self.position < self.bytes.count else {
                let what =
                    open.isEmpty ? "a value" : open.count == 1 ? "1 object or array" : "\(open.count) objects or arrays"
                return Problem(
                    offset: self.position, message: "the document stops with \(what) still open", cutShort: true)
            }
            let byte = self.bytes[self.position]
            switch expect {
            case .value, .firstElementOrClose:
                if expect == .firstElementOrClose && byte == UInt8(ascii: "]") {
                    self.position += 1
                    open.removeLast()
                } else if byte == UInt8(ascii: "{") {
                    self.position += 1
                    open.append(byte)
                    if self.refusesDuplicateKeys { keys.append([]) }
                    expect = .firstKeyOrClose
                    continue
                } else if byte == UInt8(ascii: "[") {
                    self.position += 1
                    open.append(byte)
                    expect = .firstElementOrClose
                    continue
                } else if let problem = self.skipScalar() {
                    return problem
                }
            case .firstKeyOrClose, .key:
                if expect == .firstKeyOrClose && byte == UInt8(ascii: "}") {
                    self.position += 1
                    open.removeLast()
                    if self.refusesDuplicateKeys { keys.removeLast() }
                } else {
                    guard byte == UInt8(ascii: "\"") else {
                        return self.problem("expected a key in double quotes, found \(Self.describe(byte))")
                    }
                    let keyStart = self.position
                    if let problem = self.skipString() { return problem }
                    if self.refusesDuplicateKeys, !keys.isEmpty {
                        let key = self.bytes[(keyStart + 1)..<(self.position - 1)]
                        guard keys[keys.count - 1].insert(key).inserted else {
                            return Problem(
                                offset: keyStart,
                                message:
                                    "key \"\(String(decoding: key.prefix(80), as: UTF8.self))\" given twice in one object: readers keep one of the two values and drop the other",
                                cutShort: false)
                        }
                    }
                    self.skipWhitespace()
                    guard self.position < self.bytes.count else { continue }
                    guard self.bytes[self.position] == UInt8(ascii: ":") else {
                        return self.problem(
                            "expected ':' after the key, found \(Self.describe(self.bytes[self.position]))")
                    }
                    self.position += 1
                    expect = .value
                    continue
                }
            case .commaOrClose:
                let close = open.last == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                if byte == UInt8(ascii: ",") {
                    self.position += 1
                    expect = close == UInt8(ascii: "}") ? .key : .value
                    continue
                }
                guard byte == close else {
                    let container = close == UInt8(ascii: "}") ? "a member" : "an element"
                    return self.problem(
                        "expected ',' or '\(Character(Unicode.Scalar(close)))' after \(container), found \(Self.describe(byte))"
                    )
                }
                self.position += 1
                if open.removeLast() == UInt8(ascii: "{"), self.refusesDuplicateKeys { keys.removeLast() }
            }
            // A value ended here.
            if open.isEmpty { return nil }
            expect = .commaOrClose
        }
    }

    /// Past the string, number or literal that starts here.
    private mutating func skipScalar() -> Problem? {
        let byte = self.bytes[self.position]
        switch byte {
        case UInt8(ascii: "\""):
            return self.skipString()
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return self.skipNumber()
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            let literal = Array(
                byte == UInt8(ascii: "t") ? "true".utf8 : byte == UInt8(ascii: "f") ? "false".utf8 : "null".utf8)
            let available = self.bytes[self.position...].prefix(literal.count)
            guard available.elementsEqual(literal.prefix(available.count)) else {
                return self.problem("expected a value (a string, a number, an object, an array, true, false or null)")
            }
            guard available.count == literal.count else {
                return Problem(offset: self.bytes.count, message: "the document stops inside a value", cutShort: true)
            }
            self.position += literal.count
            return nil
        default:
            return self.problem(
                "expected a value (a string, a number, an object, an array, true, false or null), found \(Self.describe(byte))"
            )
        }
    }

    /// Past the string that starts here (at its opening quote).
    private mutating func skipString() -> Problem? {
        let start = self.position
        self.position += 1
        while self.position < self.bytes.count {
            let byte = self.bytes[self.position]
            switch byte {
            case UInt8(ascii: "\""):
                self.position += 1
                return nil
            case UInt8(ascii: "\\"):
                guard self.position + 1 < self.bytes.count else {
                    self.position = self.bytes.count
                    continue
                }
                let escaped = self.bytes[self.position + 1]
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    self.position += 2
                case UInt8(ascii: "u"):
                    let digits = self.bytes[(self.position + 2)...].prefix(4)
                    guard digits.allSatisfy(\.isHexDigit) else {
                        return self.problem("a \\u escape needs four hexadecimal digits")
                    }
                    if digits.count < 4 { self.position = self.bytes.count } else { self.position += 6 }
                default:
                    return self.problem("'\\\(Character(Unicode.Scalar(escaped)))' is not a JSON escape")
                }
            case 0..<0x20:
                return self.problem(
                    "a control character (\(Self.describe(byte))) inside a string: JSON needs it escaped")
            default:
                self.position += 1
            }
        }
        return Problem(
            offset: self.bytes.count, message: "the document stops inside the string that starts at byte \(start)",
            cutShort: true)
    }

    /// Past the number that starts here: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private mutating func skipNumber() -> Problem? {
        func digits() -> Int {
            let start = self.position
            while self.position < self.bytes.count, self.bytes[self.position].isDigit { self.position += 1 }
            return self.position - start
        }
        func byte(_ character: Unicode.Scalar) -> Bool {
            self.position < self.bytes.count && self.bytes[self.position] == UInt8(ascii: character)
        }
        let start = self.position
        if byte("-") { self.position += 1 }
        if byte("0") {
            self.position += 1
        } else if digits() == 0 {
            return self.numberProblem()
        }
        if byte(".") {
            self.position += 1
            if digits() == 0 { return self.numberProblem() }
        }
        if byte("e") || byte("E") {
            self.position += 1
            if byte("+") || byte("-") { self.position += 1 }
            if digits() == 0 { return self.numberProblem() }
        }
        // Grammatical, but past what a 64-bit float holds: Foundation's readers refuse it (`1e309`).
        if let value = Double(String(decoding: self.bytes[start..<self.position], as: UTF8.self)), value.isInfinite {
            return Problem(
                offset: start, message: "a number too large for a 64-bit float (JSON readers refuse it)",
                cutShort: false)
        }
        return nil
    }

    private func numberProblem() -> Problem? {
        if self.position == self.bytes.count {
            return Problem(offset: self.position, message: "the document stops inside a number", cutShort: true)
        }
        return self.problem("not a JSON number (digits, an optional fraction and exponent; no leading zeros)")
    }

    private func problem(_ message: String) -> Problem {
        Problem(offset: self.position, message: message, cutShort: false)
    }

    /// A byte as a message names it: the character, or its code when it does not print.
    static func describe(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(String(byte, radix: 16, uppercase: true))"
    }

    // MARK: - Walking to a value

    /// Moves from the value here into its member `key` (an object) or element (an array, by `key.intValue`), to that
    /// value's first byte; false when there is none. The text must be valid JSON (checked before).
    mutating func moveInto(_ key: any CodingKey) -> Bool {
        guard self.position < self.bytes.count else { return false }
        let opening = self.bytes[self.position]
        self.position += 1
        if opening == UInt8(ascii: "[") {
            guard let index = key.intValue, index >= 0 else { return false }
            for element in 0... {
                self.skipWhitespace()
                guard self.position < self.bytes.count, self.bytes[self.position] != UInt8(ascii: "]") else {
                    return false
                }
                if element == index { return true }
                guard self.skipValue() == nil else { return false }
                self.skipWhitespace()
                guard self.position < self.bytes.count, self.bytes[self.position] == UInt8(ascii: ",") else {
                    return false
                }
                self.position += 1
            }
            return false
        }
        guard opening == UInt8(ascii: "{") else { return false }
        while true {
            self.skipWhitespace()
            guard self.position < self.bytes.count, self.bytes[self.position] == UInt8(ascii: "\"") else {
                return false
            }
            let keyStart = self.position
            guard self.skipString() == nil else { return false }
            let written = Array(self.bytes[keyStart..<self.position])
            self.skipWhitespace()
            self.position += 1  // the colon
            self.skipWhitespace()
            if Self.keyText(written) == key.stringValue { return true }
            guard self.skipValue() == nil else { return false }
            self.skipWhitespace()
            guard self.position < self.bytes.count, self.bytes[self.position] == UInt8(ascii: ",") else {
                return false
            }
            self.position += 1
        }
    }

    /// A key as the decoder reads it (its quotes included in `written`).
    private static func keyText(_ written: [UInt8]) -> String? {
        guard written.contains(UInt8(ascii: "\\")) else {
            return String(decoding: written.dropFirst().dropLast(), as: UTF8.self)
        }
        return try? JSONDecoder().decode(String.self, from: Data(written))
    }
}

extension UInt8 {
    fileprivate var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
    fileprivate var isHexDigit: Bool {
        self.isDigit || (self >= UInt8(ascii: "a") && self <= UInt8(ascii: "f"))
            || (self >= UInt8(ascii: "A") && self <= UInt8(ascii: "F"))
    }
}
