import BulkheadModel

extension Policy {
    /// The keys a policy file may hold (unknown keys are errors, naming the line).
    public static let knownKeys: YAMLDocument.KnownKeys = {
        let selector = Set(Selector.CodingKeys.allCases.map(\.rawValue))
        let rule: Set<String> = ["name", "from", "to", "ports"]
        let requirement = Set(MTLSRequirement.CodingKeys.allCases.map(\.rawValue))
        var keys: YAMLDocument.KnownKeys = [:]
        keys[""] = ["version", "baseline", "allow", "deny", "mtls"]
        keys["allow.*"] = rule
        keys["deny.*"] = rule
        for list in ["allow", "deny"] {
            for side in ["from", "to"] {
                keys["\(list).*.\(side)"] = selector
                keys["\(list).*.\(side).*"] = selector
            }
        }
        keys["mtls"] = ["require"]
        keys["mtls.require.*"] = requirement
        keys["mtls.require.*.to"] = selector
        keys["mtls.require.*.to.*"] = selector
        return keys
    }()

    /// The same keys under a prefix (`policy.` inside a scenario file).
    public static func knownKeys(prefix: String) -> YAMLDocument.KnownKeys {
        guard !prefix.isEmpty else { return [:] }
        var keys: YAMLDocument.KnownKeys = [:]
        for (path, names) in Self.knownKeys {
            keys[path.isEmpty ? prefix : "\(prefix).\(path)"] = names
        }
        return keys
    }

    /// Reads and checks a policy file.
    ///
    /// - Throws: `PathError` naming the file and line: YAML syntax, unknown keys, bad ports or CIDRs, a version
    ///   this build does not know.
    public static func load(path: String) throws(PathError) -> Policy {
        let policy = try YAMLDocument.load(Policy.self, path: path, knownKeys: Self.knownKeys)
        try policy.validate(path: path)
        return policy
    }

    /// Checks what decoding cannot: the version, and that every rule says something.
    public func validate(path: String) throws(PathError) {
        if let version = self.version, version != 1 {
            throw PathError(path: path, message: "version \(version): this build reads policy version 1")
        }
        for (kind, rules) in [("allow", self.allow), ("deny", self.deny)] {
            for (index, rule) in rules.enumerated() where rule.from.isEmpty || rule.to.isEmpty {
                throw PathError(path: path, message: "\(kind)[\(index)]: `from` and `to` need at least one selector ({} matches everything)")
            }
        }
    }
}
