import BulkheadModel
import Foundation
import Yams

/// Reads a YAML file into a Decodable value with errors a person can act on: every message names the file and the
/// line (`policy.yaml:12: allow[1].ports[0]: 'tpc/80' is not a port …`), and unknown keys are errors — a typo such as
/// `alow:` in a security policy must not silently mean "no rules".
public enum YAMLDocument {
    /// The keys a mapping may hold, by path pattern. `*` stands for any list index or map key.
    public typealias KnownKeys = [String: Set<String>]

    /// Decodes `T` from the file at `path`, checking keys against `knownKeys` (paths like `allow.*.from.*`).
    public static func load<T: Decodable>(_ type: T.Type, path: String, knownKeys: KnownKeys) throws(PathError) -> T {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw PathError(path: path, message: "cannot read: \(error.localizedDescription)")
        }
        return try Self.decode(type, text: text, path: path, knownKeys: knownKeys)
    }

    /// Decodes `T` from YAML text; `path` only names the source in errors.
    public static func decode<T: Decodable>(_ type: T.Type, text: String, path: String, knownKeys: KnownKeys) throws(PathError) -> T {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { throw PathError(path: path, message: "the file is empty") }
            root = node
        } catch let error as PathError {
            throw error
        } catch let error as YamlError {
            throw PathError(path: path + Self.location(of: error), message: "not valid YAML: \(Self.problem(of: error))")
        } catch {
            throw PathError(path: path, message: "not valid YAML: \(error)")
        }
        try Self.checkKeys(root, path: [], knownKeys: knownKeys, file: path)
        do {
            return try YAMLDecoder().decode(type, from: text)
        } catch let error as DecodingError {
            let (codingPath, message) = Self.explain(error)
            let line = Self.node(at: codingPath, in: root)?.mark.map { ":\($0.line)" } ?? ""
            let location = codingPath.isEmpty ? "" : Self.describe(codingPath) + ": "
            throw PathError(path: path + line, message: location + message)
        } catch {
            throw PathError(path: path, message: "\(error)")
        }
    }

    // MARK: - Unknown keys

    static func checkKeys(_ node: Node, path: [String], knownKeys: KnownKeys, file: String) throws(PathError) {
        switch node {
        case .mapping(let mapping):
            let pattern = path.joined(separator: ".")
            let allowed = knownKeys[pattern]
            for (key, value) in mapping {
                guard let name = key.string else { continue }
                if let allowed, !allowed.contains(name) {
                    let line = key.mark.map { ":\($0.line)" } ?? ""
                    let near = pattern.isEmpty ? "at the top level" : "in \(pattern.replacingOccurrences(of: ".*", with: "[]"))"
                    throw PathError(path: file + line, message: "unknown key '\(name)' \(near) (expected one of: \(allowed.sorted().joined(separator: ", ")))")
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
        case .keyNotFound(let key, let context): return (context.codingPath, "required key '\(key.stringValue)' is missing")
        case .typeMismatch(let type, let context): return (context.codingPath, "expected \(Self.name(of: type))")
        case .valueNotFound(let type, let context): return (context.codingPath, "expected \(Self.name(of: type)), found nothing")
        case .dataCorrupted(let context):
            if let underlying = context.underlyingError as? YamlError { return (context.codingPath, Self.problem(of: underlying)) }
            return (context.codingPath, context.debugDescription)
        @unknown default: return ([], "\(error)")
        }
    }

    static func name(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "a whole number"
        case is Bool.Type: "true or false"
        case is Double.Type: "a number"
        default: "a \(type)".replacingOccurrences(of: "Array<", with: "list of ").replacingOccurrences(of: "Dictionary<", with: "map of ")
        }
    }

    static func location(of error: YamlError) -> String {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _): ":\(mark.line):\(mark.column)"
        default: ""
        }
    }

    static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _):
            [context.map { "\($0.text)" }, problem].compactMap { $0 }.joined(separator: ": ")
        default: "\(error)"
        }
    }
}
