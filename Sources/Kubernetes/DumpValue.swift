import BulkheadModel
import Foundation
import Policy
import Yams

/// What went wrong reading a Kubernetes dump, as a code a caller can switch on.
public enum KubernetesErrorCode: String, Sendable {
    /// The file (or standard input, or folder) could not be read.
    case unreadable
    /// Not JSON or YAML, or nested or sized past the limits.
    case malformed
    /// An object whose fields are not of the shape the API defines (a label that is not a string, a port that is
    /// not a number or a name…): the message names the JSON path.
    case badObject = "bad-object"
}

/// An error reading a Kubernetes dump: the path names the file (and document), the message the JSON path.
public typealias KubernetesError = CodedPathError<KubernetesErrorCode>

/// A parsed JSON or YAML value, kept as the API writes it, so that the typed objects can be read field by field
/// with a JSON path in every error.
public indirect enum DumpValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// A number; the text it was written as is kept for integers and ports.
    case number(Double)
    case string(String)
    case array([DumpValue])
    case object([String: DumpValue])

    /// The member `key` of an object (nil for a missing member, a JSON `null`, or a value that is not an object).
    public subscript(key: String) -> DumpValue? {
        guard case .object(let members) = self, let value = members[key] else { return nil }
        if case .null = value { return nil }
        return value
    }

    /// The name of the value's type, for errors.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "a list"
        case .object: "an object"
        }
    }
}

extension DumpValue: Decodable {
    /// Decodes any JSON value.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {
            self = .bool(flag)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else if let items = try? container.decode([DumpValue].self) {
            self = .array(items)
        } else {
            self = .object(try container.decode([String: DumpValue].self))
        }
    }
}

/// Reads JSON and YAML text (one or several documents) into ``DumpValue``s, within limits: the YAML event stream is
/// checked for depth, size and alias bombs before anything recurses (``YAMLDocument/checkStructure(_:path:limits:)``),
/// and the conversion refuses a tree nested deeper than ``maxDepth``.
enum DumpParser {
    /// The deepest nesting read; a kubectl dump nests about 15 levels.
    static let maxDepth = 64
    /// The most nodes a YAML document may expand to.
    static let maxNodes = 4_000_000

    /// One parsed document and, for YAML, the line of each value by its JSON path (`.spec.ingress[0]` → 12), so
    /// errors found while reading its objects name the line; JSON documents are located by their JSON path alone.
    struct Document {
        var value: DumpValue
        var lines: [String: Int] = [:]
    }

    /// Every document in `text`: a JSON text is one document; YAML may hold several (`---`).
    static func documents(_ text: String, path: String) throws(KubernetesError) -> [Document] {
        let trimmed = text.drop { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" || $0 == "\u{FEFF}" }
        if trimmed.first == "{" || trimmed.first == "[" {
            if let json = Self.json(text) {
                guard Self.depth(of: json) <= Self.maxDepth else {
                    throw KubernetesError(
                        .malformed, path: path, message: "nested more than \(Self.maxDepth) levels deep")
                }
                // A key given twice decodes as one of its values, silently (YAML dumps are refused the same way).
                let bytes = Array(text.utf8)
                if let twice = JSONGrammar.firstDuplicateKey(in: bytes) {
                    throw KubernetesError(
                        .malformed, path: JSONInput.place(path, at: twice.offset, in: bytes), message: twice.message)
                }
                return [Document(value: json)]
            }
            // Not strict JSON: YAML flow style is a superset, so fall through and let the YAML parser say where.
        }
        return try Self.yaml(text, path: path)
    }

    private static func json(_ text: String) -> DumpValue? {
        try? JSONDecoder().decode(DumpValue.self, from: Data(text.utf8))
    }

    /// The deepest nesting of a value (JSON's decoder stops at 512 levels by itself).
    static func depth(of value: DumpValue) -> Int {
        switch value {
        case .array(let items): 1 + (items.map(Self.depth).max() ?? 0)
        case .object(let members): 1 + (members.values.map(Self.depth).max() ?? 0)
        default: 0
        }
    }

    private static func yaml(_ text: String, path: String) throws(KubernetesError) -> [Document] {
        var limits = YAMLDocument.Limits()
        limits.maxBytes = Int.max
        limits.maxDepth = Self.maxDepth
        limits.maxNodes = Self.maxNodes
        do { try YAMLDocument.checkStructure(text, path: path, limits: limits) } catch {
            throw KubernetesError(.malformed, path: error.path, message: error.message)
        }
        var documents: [Document] = []
        do {
            var sequence = try Yams.compose_all(yaml: text)
            var index = 0
            while let node = sequence.next() {
                var lines: [String: Int] = [:]
                // Errors name the file and line: the line is the file's, whichever document holds it.
                let value = try Self.convert(node, path: path, at: "", lines: &lines, depth: 0)
                documents.append(Document(value: value, lines: lines))
                index += 1
            }
            if let error = sequence.error { throw error }
        } catch let error as KubernetesError {
            throw error
        } catch let error as YamlError {
            throw KubernetesError(.malformed, path: path, message: "not valid JSON or YAML: \(Self.describe(error))")
        } catch {
            throw KubernetesError(.malformed, path: path, message: "not valid JSON or YAML: \(error)")
        }
        return documents
    }

    private static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            "line \(mark.line): \(problem)\(context.map { " (\($0.text))" } ?? "")"
        default: "\(error)"
        }
    }

    /// `node` as a value; `at` is its JSON path, recorded with its line in `lines`. A key given twice in a mapping
    /// and a YAML merge key (`<<`) are refused, as kubectl's reader refuses the first ("key already set in map"):
    /// the policy Bulkhead models must be the one kubectl would apply, not a guess at it.
    private static func convert(_ node: Node, path: String, at: String, lines: inout [String: Int], depth: Int)
        throws(KubernetesError) -> DumpValue
    {
        guard depth <= Self.maxDepth else {
            throw KubernetesError(.malformed, path: path, message: "nested more than \(Self.maxDepth) levels deep")
        }
        if let line = node.mark?.line { lines[at] = line }
        switch node {
        case .scalar(let scalar):
            let text = scalar.string
            switch Tag.Name(rawValue: node.tag.description) {
            case .null: return .null
            case .bool:
                let lower = text.lowercased()
                if ["true", "yes", "on", "y"].contains(lower) { return .bool(true) }
                if ["false", "no", "off", "n"].contains(lower) { return .bool(false) }
                return .string(text)
            case .int, .float:
                // Plain decimal only: YAML 1.1's base-60, octal and hex forms stay text (no field takes them).
                if let value = Double(text.replacingOccurrences(of: "_", with: "")), value.isFinite {
                    return .number(value)
                }
                return .string(text)
            default: return .string(text)
            }
        case .sequence(let sequence):
            var items: [DumpValue] = []
            for (index, item) in sequence.enumerated() {
                items.append(
                    try Self.convert(item, path: path, at: "\(at)[\(index)]", lines: &lines, depth: depth + 1))
            }
            return .array(items)
        case .mapping(let mapping):
            var members: [String: DumpValue] = [:]
            var firstLines: [String: Int] = [:]
            for (key, value) in mapping {
                let place = path + (key.mark.map { ":\($0.line)" } ?? "")
                guard case .scalar(let keyScalar) = key else {
                    throw KubernetesError(.malformed, path: place, message: "a mapping key that is not text")
                }
                let name = keyScalar.string
                let member = "\(at.isEmpty ? "" : at).\(name)"
                if key.tag.description == Tag.Name.merge.rawValue {
                    throw KubernetesError(
                        .malformed, path: place,
                        message:
                            "\(at.isEmpty ? "." : at): a YAML merge key (<<) is not read (kubectl would expand it): write the keys it would merge out in full"
                    )
                }
                if let first = firstLines[name] {
                    throw KubernetesError(
                        .malformed, path: place,
                        message:
                            "\(member): key '\(name)' given twice\(first > 0 ? " (first on line \(first))" : ""): kubectl refuses it (key already set in map); merge the two"
                    )
                }
                firstLines[name] = key.mark?.line ?? 0
                members[name] = try Self.convert(value, path: path, at: member, lines: &lines, depth: depth + 1)
            }
            return .object(members)
        }
    }
}
