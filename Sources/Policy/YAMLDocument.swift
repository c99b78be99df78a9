import BulkheadModel
internal import CYaml
import Foundation
import Yams

/// Reads a YAML file into a Decodable value with errors a person can act on: every message names the file and the
/// line (`policy.yaml:12: allow[1].ports[0]: 'tpc/80' is not a port …`), and unknown keys are errors — a typo such as
/// `alow:` in a security policy must not silently mean "no rules".
///
/// The file is hostile until checked: before Yams builds anything, it must be a regular file within
/// ``Limits/maxBytes``, valid UTF-8, and its event stream (libyaml's parser, which does not recurse) must stay within
/// ``Limits/maxDepth`` levels of nesting and expand, with every alias counted as the whole subtree it stands for,
/// to at most ``Limits/maxNodes`` nodes (an alias bomb is refused at once instead of hanging). Yams' composer and
/// decoder recurse once per level, so the depth limit is what keeps them within their stack. A key given twice in a
/// mapping is an error (YAML forbids it; Yams would keep one of them and silently drop the other).
public enum YAMLDocument {
    /// The keys a mapping may hold, by path pattern. `*` stands for any list index or map key.
    public typealias KnownKeys = [String: Set<String>]

    /// How much a configuration file may hold. The defaults are far above any real policy or scenario.
    public struct Limits: Sendable {
        /// The largest file read, in bytes.
        public var maxBytes = 1 << 20
        /// The deepest nesting of sequences and mappings.
        public var maxDepth = 64
        /// The most nodes the document may expand to, aliases expanded.
        public var maxNodes = 200_000
        /// The most aliases (`*name`) the document may use.
        public var maxAliases = 1_000

        public init() {}
    }

    /// A decoded document and the parsed tree it came from, for errors found after decoding that should name a line.
    public struct Loaded<T> {
        public var value: T
        /// Finds lines in the document (`locator.location("allow[2].from")` → `policy.yaml:14`).
        public var locator: YAMLLocator
    }

    /// Decodes `T` from the file at `path`, checking keys against `knownKeys` (paths like `allow.*.from.*`).
    public static func load<T: Decodable>(_ type: T.Type, path: String, knownKeys: KnownKeys, limits: Limits = Limits())
        throws(PathError) -> T
    {
        try Self.loadDocument(type, path: path, knownKeys: knownKeys, limits: limits).value
    }

    /// Like ``load(_:path:knownKeys:limits:)``, keeping the tree for locating later errors.
    public static func loadDocument<T: Decodable>(
        _ type: T.Type, path: String, knownKeys: KnownKeys, limits: Limits = Limits()
    ) throws(PathError) -> Loaded<T> {
        try Self.decodeDocument(
            type, text: try Self.text(path: path, limits: limits), path: path, knownKeys: knownKeys, limits: limits)
    }

    /// The UTF-8 text of the file at `path`, refused past `limits.maxBytes`: what ``loadDocument(_:path:knownKeys:limits:)``
    /// decodes, for callers that change the text first (a scenario moved to free subnets).
    public static func text(path: String, limits: Limits = Limits()) throws(PathError) -> String {
        try InputFile.decodeUTF8(try InputFile.contents(of: path, limit: limits.maxBytes), path: path)
    }

    /// Decodes `T` from YAML text; `path` only names the source in errors.
    public static func decode<T: Decodable>(
        _ type: T.Type, text: String, path: String, knownKeys: KnownKeys, limits: Limits = Limits()
    ) throws(PathError) -> T {
        try Self.decodeDocument(type, text: text, path: path, knownKeys: knownKeys, limits: limits).value
    }

    /// Decodes `T` from YAML text, keeping the tree for locating later errors.
    public static func decodeDocument<T: Decodable>(
        _ type: T.Type, text: String, path: String, knownKeys: KnownKeys, limits: Limits = Limits()
    ) throws(PathError) -> Loaded<T> {
        // A byte-order mark is allowed at the start of a YAML stream (editors on Windows write one), but Yams hands
        // libyaml a string, in which it reads as content: 'did not find expected <document start>' on line 2.
        let text = text.unicodeScalars.first == "\u{FEFF}" ? String(text.unicodeScalars.dropFirst()) : text
        guard text.utf8.count <= limits.maxBytes else {
            throw PathError(path: path, message: "is \(text.utf8.count) bytes; the limit is \(limits.maxBytes) bytes")
        }
        try Self.checkStructure(text, path: path, limits: limits)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw PathError(path: path, message: "the file is empty")
            }
            root = node
        } catch let error as PathError {
            throw error
        } catch let error as YamlError {
            throw PathError(
                path: path + Self.location(of: error), message: "not valid YAML: \(Self.problem(of: error))")
        } catch {
            throw PathError(path: path, message: "not valid YAML: \(error)")
        }
        try Self.checkKeys(root, path: [], knownKeys: knownKeys, file: path)
        do {
            let value = try YAMLDecoder().decode(type, from: text)
            return Loaded(value: value, locator: YAMLLocator(file: path, root: root))
        } catch let error as DecodingError {
            let (codingPath, message) = Self.explain(error)
            let node = Self.node(at: codingPath, in: root)
            let line = node?.mark.map { ":\($0.line)" } ?? ""
            let location = codingPath.isEmpty ? "" : Self.describe(codingPath) + ": "
            throw PathError(path: path + line, message: location + message + Self.found(error, node))
        } catch {
            throw PathError(path: path, message: "\(error)")
        }
    }

    // MARK: - Limits, checked on libyaml's event stream before anything recurses

    /// Walks the parser's events (libyaml keeps its own explicit stacks, so this is safe at any depth) and refuses
    /// a document nested deeper than `maxDepth`, using more than `maxAliases` aliases, or expanding past `maxNodes`.
    /// Syntax errors are left to Yams, which reports them with their line; everything before them has been checked.
    public static func checkStructure(_ text: String, path: String, limits: Limits) throws(PathError) {
        var bytes = Array(text.utf8)
        bytes.append(0)
        let problem: PathError? = bytes.withUnsafeBufferPointer { buffer -> PathError? in
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else {
                return PathError(path: path, message: "cannot start the YAML parser (out of memory)")
            }
            defer { yaml_parser_delete(&parser) }
            guard let base = buffer.baseAddress else { return nil }
            yaml_parser_set_input_string(&parser, base, buffer.count - 1)
            var depth = 0
            var nodes = 0
            var aliases = 0
            /// Expanded sizes and heights (levels of nesting) of anchored nodes, by anchor name; the open collections
            /// with their anchor, node count at the start, their depth and the deepest level reached inside them with
            /// aliases expanded (an alias nests its anchor's whole height where it stands: a chain of anchors, each
            /// holding the previous one at its bottom, is deep only once expanded — and the key walk and Yams'
            /// decoder recurse through the expanded tree).
            var anchored: [String: (size: Int, height: Int)] = [:]
            var open: [(anchor: String?, start: Int, depth: Int, reached: Int)] = []
            func name(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
                pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
            }
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
                defer { yaml_event_delete(&event) }
                let line = "\(path):\(event.start_mark.line + 1)"
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return nil
                case YAML_SCALAR_EVENT:
                    nodes += 1
                    if let anchor = name(event.data.scalar.anchor) { anchored[anchor] = (1, 0) }
                    if let value = event.data.scalar.value, memchr(value, 0x3A, event.data.scalar.length) != nil {
                        let text = String(
                            decoding: UnsafeBufferPointer(start: value, count: event.data.scalar.length), as: UTF8.self)
                        if Self.sexagesimalOverflows(text) {
                            return PathError(
                                path: line,
                                message:
                                    "'\(text.prefix(40))\(text.count > 40 ? "…" : "")' reads (YAML 1.1, base 60) as a number too large for any field: quote it differently or write it in decimal"
                            )
                        }
                    }
                case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                    nodes += 1
                    depth += 1
                    guard depth <= limits.maxDepth else {
                        return PathError(
                            path: line,
                            message:
                                "nested more than \(limits.maxDepth) levels deep (the limit for a configuration file)")
                    }
                    let anchor =
                        event.type == YAML_SEQUENCE_START_EVENT
                        ? name(event.data.sequence_start.anchor) : name(event.data.mapping_start.anchor)
                    open.append((anchor, nodes - 1, depth, depth))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    depth -= 1
                    if let last = open.popLast() {
                        if let anchor = last.anchor {
                            anchored[anchor] = (nodes - last.start, last.reached - last.depth + 1)
                        }
                        if !open.isEmpty {
                            open[open.count - 1].reached = max(open[open.count - 1].reached, last.reached)
                        }
                    }
                case YAML_ALIAS_EVENT:
                    aliases += 1
                    guard aliases <= limits.maxAliases else {
                        return PathError(
                            path: line,
                            message: "more than \(limits.maxAliases) aliases (the limit for a configuration file)")
                    }
                    // An undefined alias is Yams' error to report; count it as one node.
                    let target = name(event.data.alias.anchor).flatMap { anchored[$0] } ?? (1, 0)
                    nodes += target.size
                    let reached = depth + target.height
                    guard reached <= limits.maxDepth else {
                        return PathError(
                            path: line,
                            message:
                                "nested more than \(limits.maxDepth) levels deep with its aliases expanded (the limit for a configuration file)"
                        )
                    }
                    if !open.isEmpty { open[open.count - 1].reached = max(open[open.count - 1].reached, reached) }
                default:
                    break
                }
                guard nodes <= limits.maxNodes else {
                    return PathError(
                        path: line,
                        message:
                            "expands to more than \(limits.maxNodes) nodes with its aliases expanded (an alias bomb?); the limit for a configuration file"
                    )
                }
            }
        }
        if let problem { throw problem }
    }

    /// Whether Yams, asked for an integer, would read `text` as a YAML 1.1 base-60 number (`1:30` is 90) whose value
    /// overflows `Int` — an arithmetic trap inside Yams (found by fuzzing: `version: 1:1:1:1:1:1:1:1:1:1:1:1`). The
    /// same steps as Yams' `String.sexagesimal()`: an optional sign, then the `:`-separated parts that are decimal
    /// numbers, least significant last.
    static func sexagesimalOverflows(_ text: String) -> Bool {
        guard text.contains(":") else { return false }
        var body = Substring(text)
        if body.hasPrefix("-") || body.hasPrefix("+") { body = body.dropFirst() }
        let digits = body.split(separator: ":", omittingEmptySubsequences: false).compactMap { Int($0, radix: 10) }
        // Yams multiplies its base by 60 once per part and adds signed parts; fuzzing found a scalar that traps in
        // Yams with ten parts this walk counts. No real value has more than a few parts: refuse eight or more, and a
        // sum of magnitudes (in Double, far below Int.max) above 10^15, whatever the signs.
        if digits.count > 7 { return true }
        var base = 1.0
        var magnitude = 0.0
        for digit in digits.reversed() {
            magnitude += Double(digit.magnitude) * base
            base *= 60
        }
        return magnitude > 1e15
    }

    // MARK: - Unknown keys

    static func checkKeys(_ node: Node, path: [String], knownKeys: KnownKeys, file: String) throws(PathError) {
        switch node {
        case .mapping(let mapping):
            let pattern = path.joined(separator: ".")
            let allowed = knownKeys[pattern]
            var seen: [String: Int] = [:]
            for (key, value) in mapping {
                // Where the key stands, for the refusals below (made only when one is thrown).
                var line: String { key.mark.map { ":\($0.line)" } ?? "" }
                var near: String {
                    pattern.isEmpty ? "at the top level" : "in \(pattern.replacingOccurrences(of: ".*", with: "[]"))"
                }
                // A key that is a list or a map (`? [deny]`) names nothing the reader knows: its value would vanish.
                guard let name = key.string else {
                    throw PathError(
                        path: file + line,
                        message: "a key \(near) is a list or a map, not a name: write the key as text")
                }
                if let first = seen[name] {
                    throw PathError(
                        path: file + line,
                        message:
                            "key '\(name)' given twice \(near) (first on line \(first)): YAML keeps only one of them; merge the two"
                    )
                }
                seen[name] = key.mark?.line ?? 0
                if let allowed, !allowed.contains(name) {
                    throw PathError(
                        path: file + line,
                        message:
                            "unknown key '\(name)' \(near) (expected one of: \(allowed.sorted().joined(separator: ", ")))"
                    )
                }
                try Self.checkKeys(value, path: path + [allowed == nil ? "*" : name], knownKeys: knownKeys, file: file)
            }
        case .sequence(let sequence):
            for item in sequence { try Self.checkKeys(item, path: path + ["*"], knownKeys: knownKeys, file: file) }
        default:
            break
        }
    }

    // MARK: - Locating errors

    static func node(at codingPath: [any CodingKey], in root: Node) -> Node? {
        var current = root
        var last = root
        for key in codingPath {
            let next: Node?
            if let index = key.intValue, case .sequence(let sequence) = current {
                next = index < sequence.count ? sequence[index] : nil
            } else {
                next = current[key.stringValue]
            }
            guard let next else { return last }
            last = next
            current = next
        }
        return current
    }

    static func describe(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text
    }

    static func explain(_ error: DecodingError) -> ([any CodingKey], String) {
        switch error {
        case .keyNotFound(let key, let context):
            return (context.codingPath, "required key '\(key.stringValue)' is missing")
        case .typeMismatch(let type, let context): return (context.codingPath, "expected \(Self.name(of: type))")
        case .valueNotFound(let type, let context):
            return (context.codingPath, "expected \(Self.name(of: type))")
        case .dataCorrupted(let context):
            if let underlying = context.underlyingError as? YamlError {
                return (context.codingPath, Self.problem(of: underlying))
            }
            return (context.codingPath, context.debugDescription)
        @unknown default: return ([], "\(error)")
        }
    }

    /// What stood where a value of another type was expected: `version: '1'` is the string '1', not the number the
    /// decoder wanted (it reports a quoted scalar as no value at all).
    static func found(_ error: DecodingError, _ node: Node?) -> String {
        switch error {
        case .typeMismatch, .valueNotFound: break
        default: return ""
        }
        switch node {
        case .scalar(let scalar)?:
            let text = String(scalar.string.prefix(60))  // errors are escaped where they are printed
            switch scalar.style {
            case .singleQuoted, .doubleQuoted:
                return ", found the quoted string '\(text)' (quotes make any value a string: leave them out)"
            case .plain where scalar.string.isEmpty || scalar.string == "~" || scalar.string.lowercased() == "null":
                return ", found nothing"
            default: return ", found '\(text)'"
            }
        case .mapping?: return ", found a map"
        case .sequence?: return ", found a list"
        default: return ", found nothing"
        }
    }

    static func name(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "a whole number"
        case is Bool.Type: "true or false"
        case is Double.Type: "a number"
        default:
            "a \(type)".replacingOccurrences(of: "Array<", with: "list of ").replacingOccurrences(
                of: "Dictionary<", with: "map of ")
        }
    }

    static func location(of error: YamlError) -> String {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            ":\(mark.line):\(mark.column)"
        default: ""
        }
    }

    static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _):
            [context.map { "\($0.text)" }, problem].compactMap { $0 }.joined(separator: ": ")
        case .composer(_, let problem, _, _) where problem == "but found another document":
            "a second document starts here ('---'): the file holds one YAML document (remove it, or move it to a file of its own)"
        case .composer(let context, let problem, _, _):
            [context.map { "\($0.text)" }, problem].compactMap { $0 }.joined(separator: ": ")
        default: "\(error)"
        }
    }
}

/// Finds the line of a value in a parsed document, for errors found after decoding (a CIDR with host bits set, an
/// empty selector): `location("allow[2].from[0].cidr")` → `policy.yaml:14`, or the nearest enclosing node's line
/// when that exact path does not exist; just the file when there is no tree.
public struct YAMLLocator {
    /// The file, as errors name it.
    public var file: String
    let root: Node?
    /// Prepended to every path asked about (`policy` for the policy embedded in a scenario file).
    public var prefix: String

    init(file: String, root: Node?, prefix: String = "") {
        self.file = file
        self.root = root
        self.prefix = prefix
    }

    /// A locator that knows no lines: errors name only the file.
    public init(file: String) {
        self.init(file: file, root: nil)
    }

    /// The same document with paths taken relative to `path` (`scoped("policy")`).
    public func scoped(_ path: String) -> YAMLLocator {
        YAMLLocator(file: self.file, root: self.root, prefix: self.prefix.isEmpty ? path : "\(self.prefix).\(path)")
    }

    /// `file:line` of the value at `path` (`allow[2].from`, `mtls.require[0].to`).
    public func location(_ path: String) -> String {
        guard var current = self.root else { return self.file }
        var line = current.mark?.line
        let full = self.prefix.isEmpty ? path : (path.isEmpty ? self.prefix : "\(self.prefix).\(path)")
        for component in Self.components(full) {
            let next: Node?
            switch component {
            case .index(let index):
                if case .sequence(let sequence) = current, index >= 0, index < sequence.count {
                    next = sequence[index]
                } else {
                    next = nil
                }
            case .key(let key):
                next = current[key]
            }
            guard let next else { break }
            current = next
            line = next.mark?.line ?? line
        }
        return line.map { "\(self.file):\($0)" } ?? self.file
    }

    enum Component: Equatable {
        case key(String)
        case index(Int)
    }

    /// `allow[2].from` → key allow, index 2, key from.
    static func components(_ path: String) -> [Component] {
        var result: [Component] = []
        for part in path.split(separator: ".") {
            var rest = Substring(part)
            if let bracket = rest.firstIndex(of: "[") {
                let key = rest[..<bracket]
                if !key.isEmpty { result.append(.key(String(key))) }
                rest = rest[bracket...]
                while rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
                    if let index = Int(rest[rest.index(after: rest.startIndex)..<close]) {
                        result.append(.index(index))
                    }
                    rest = rest[rest.index(after: close)...]
                }
            } else {
                result.append(.key(String(rest)))
            }
        }
        return result
    }
}
