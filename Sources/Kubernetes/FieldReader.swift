import BulkheadModel

/// Reads one object's fields with its JSON path at hand, so every error says where (`dump.json:
/// .items[4].spec.ingress[0].ports[1].port: …`). Missing and `null` fields read as absent.
struct FieldReader {
    let value: DumpValue
    /// The file (and document) the value came from.
    let file: String
    /// The JSON path of `value` in its document (`.items[4].spec`).
    let path: String
    /// The line of each value of a YAML document by JSON path (empty for JSON), for errors: `file:12: .spec…`.
    var lines: [String: Int] = [:]

    func fail(_ message: String, at key: String? = nil) -> KubernetesError {
        let where_ = key.map { "\(self.path).\($0)" } ?? self.path
        let line = (self.lines[where_] ?? self.lines[self.path]).map { ":\($0)" } ?? ""
        return KubernetesError(
            .badObject, path: self.file + line, message: "\(where_.isEmpty ? "." : where_): \(message)")
    }

    /// The reader of `value` found at `path` in the same document.
    private func reader(_ value: DumpValue, at path: String) -> FieldReader {
        FieldReader(value: value, file: self.file, path: path, lines: self.lines)
    }

    /// The member `key`, as a reader, if present.
    func child(_ key: String) throws(KubernetesError) -> FieldReader? {
        guard let member = self.value[key] else { return nil }
        guard case .object = member else { throw self.fail("expected an object, found \(member.typeName)", at: key) }
        return self.reader(member, at: "\(self.path).\(key)")
    }

    /// The elements of the list `key` (empty when absent).
    func list(_ key: String) throws(KubernetesError) -> [FieldReader] {
        guard let member = self.value[key] else { return [] }
        guard case .array(let items) = member else {
            throw self.fail("expected a list, found \(member.typeName)", at: key)
        }
        return items.enumerated().map { self.reader($1, at: "\(self.path).\(key)[\($0)]") }
    }

    /// Refuses a field the API does not define here: an unknown field is ignored by a lenient reader, and a typo
    /// (`podSelector: {matchLabel: …}`) would then silently widen a policy (an empty selector selects every pod),
    /// where kubectl's strict field validation refuses the manifest.
    func onlyFields(_ known: Set<String>, of what: String) throws(KubernetesError) {
        guard case .object(let members) = self.value else { return }
        for name in members.keys.sorted() where !known.contains(name) {
            throw self.fail(
                "unknown field '\(name)' in \(what) (expected one of: \(known.sorted().joined(separator: ", ")))",
                at: name)
        }
    }

    /// Whether the list `key` is present (even empty): `ingress: []` and a missing `ingress` differ for egress.
    func has(_ key: String) -> Bool { self.value[key] != nil }

    func string(_ key: String) throws(KubernetesError) -> String? {
        guard let member = self.value[key] else { return nil }
        guard case .string(let text) = member else {
            throw self.fail("expected a string, found \(member.typeName)", at: key)
        }
        return text
    }

    func requiredString(_ key: String) throws(KubernetesError) -> String {
        guard let text = try self.string(key), !text.isEmpty else { throw self.fail("missing", at: key) }
        return text
    }

    func bool(_ key: String) throws(KubernetesError) -> Bool? {
        guard let member = self.value[key] else { return nil }
        guard case .bool(let flag) = member else {
            throw self.fail("expected true or false, found \(member.typeName)", at: key)
        }
        return flag
    }

    func int(_ key: String) throws(KubernetesError) -> Int? {
        guard let member = self.value[key] else { return nil }
        guard case .number(let number) = member, number.rounded() == number, abs(number) < 1e15 else {
            throw self.fail("expected an integer, found \(member.typeName)", at: key)
        }
        return Int(number)
    }

    /// A port number, 1…65535.
    func port(_ key: String) throws(KubernetesError) -> Int? {
        guard let number = try self.int(key) else { return nil }
        guard (1...65535).contains(number) else { throw self.fail("\(number) is not a port (1-65535)", at: key) }
        return number
    }

    /// A port by number or by name (the API's IntOrString; a string of digits is a number).
    func portReference(_ key: String) throws(KubernetesError) -> PortReference? {
        guard let member = self.value[key] else { return nil }
        switch member {
        case .number:
            return .number(try self.port(key) ?? 0)
        case .string(let text):
            if let number = Int(text) {
                guard (1...65535).contains(number) else {
                    throw self.fail("\(number) is not a port (1-65535)", at: key)
                }
                return .number(number)
            }
            guard !text.isEmpty, text.count <= 15, text.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
                throw self.fail("'\(text)' is neither a port number nor a port name (IANA_SVC_NAME)", at: key)
            }
            return .name(text)
        default:
            throw self.fail("expected a port number or name, found \(member.typeName)", at: key)
        }
    }

    func stringList(_ key: String) throws(KubernetesError) -> [String] {
        var strings: [String] = []
        for item in try self.list(key) {
            guard case .string(let text) = item.value else {
                throw item.fail("expected a string, found \(item.value.typeName)")
            }
            strings.append(text)
        }
        return strings
    }

    /// A map of strings to strings (labels, a selector).
    func stringMap(_ key: String) throws(KubernetesError) -> [String: String] {
        guard let member = self.value[key] else { return [:] }
        guard case .object(let members) = member else {
            throw self.fail("expected an object, found \(member.typeName)", at: key)
        }
        var map: [String: String] = [:]
        for (name, value) in members {
            guard case .string(let text) = value else {
                throw self.fail("expected a string, found \(value.typeName) (quote it)", at: "\(key).\(name)")
            }
            map[name] = text
        }
        return map
    }

    func proto(_ key: String) throws(KubernetesError) -> KubeProtocol {
        guard let text = try self.string(key) else { return .tcp }
        guard let proto = KubeProtocol(rawValue: text) else {
            throw self.fail("'\(text)' is not a protocol (TCP, UDP or SCTP)", at: key)
        }
        return proto
    }
}
