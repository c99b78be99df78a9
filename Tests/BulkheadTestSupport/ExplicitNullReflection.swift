import Foundation

/// The reflection check behind the explicit-null tests: every record Bulkhead writes keeps all its keys, absent values
/// written as `null` (`@ExplicitNull`). A value and its JSON are walked side by side; every struct must be an object
/// whose keys are exactly its stored properties, so a stored property added without `@ExplicitNull` fails.
public enum ExplicitNullReflection {
    /// Keys written only when they have a value, each documented so on its property.
    public static let presentOnly: Set<String> = ["parseError", "cluster", "swarm"]

    /// What does not match between `value` and its JSON (a property wrapper's storage `_name` counts as `name`).
    public static func mismatches(_ value: Any, _ json: Any, path: String) -> [String] {
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .struct:
            // Values that encode themselves as one string or number (Timestamp, IPAddress…) are not objects.
            guard let object = json as? [String: Any] else { return [] }
            var problems: [String] = []
            var labels = Set<String>()
            for child in mirror.children {
                guard var label = child.label else { continue }
                var value = child.value
                if label.hasPrefix("_") {
                    // A property wrapper's storage: the key is the property's name, the value its wrapped value.
                    label.removeFirst()
                    if let wrapped = Mirror(reflecting: value).children.first(where: { $0.label == "wrappedValue" }) {
                        value = wrapped.value
                    }
                }
                labels.insert(label)
                if let nested = object[label] {
                    problems += Self.mismatches(value, nested, path: "\(path).\(label)")
                }
            }
            let keys = Set(object.keys)
            // The audit writes the probe's inventory once, as `evidence.inventory` (AuditEvidence).
            if path.hasSuffix("evidence.probe") { labels.remove("inventory") }
            // Documented as written only when present: a certificate's parse error (placeholders only).
            for key in Self.presentOnly where object[key] == nil { labels.remove(key) }
            if keys != labels {
                problems.append(
                    "\(path) (\(type(of: value))): missing keys \(labels.subtracting(keys).sorted()), unexpected \(keys.subtracting(labels).sorted())"
                )
            }
            return problems
        case .optional:
            guard let child = mirror.children.first else { return [] }
            return Self.mismatches(child.value, json, path: path)
        case .collection:
            guard let array = json as? [Any] else { return [] }
            return zip(mirror.children, array).prefix(3).flatMap {
                Self.mismatches($0.0.value, $0.1, path: path + "[]")
            }
        case .dictionary:
            guard let object = json as? [String: Any] else { return [] }
            return mirror.children.prefix(3).flatMap { pair -> [String] in
                let entry = Mirror(reflecting: pair.value).children.map(\.value)
                guard entry.count == 2, let key = entry[0] as? String, let nested = object[key] else { return [] }
                return Self.mismatches(entry[1], nested, path: "\(path)[\(key)]")
            }
        default:
            return []
        }
    }

    /// Encodes `value` with `JSONEncoder` and checks it.
    public static func check<T: Encodable>(_ value: T) throws -> [String] {
        let data = try JSONEncoder().encode(value)
        return Self.mismatches(value, try JSONSerialization.jsonObject(with: data), path: "\(T.self)")
    }
}
