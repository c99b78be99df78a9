import BulkheadModel
import Foundation

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
    /// - Throws: `PathError` naming the file and line: YAML syntax, a key given twice, unknown keys, bad ports or
    ///   CIDRs (host bits set too), empty selectors, labels or name patterns, a version this build does not know,
    ///   and a file over the loader's limits (size, nesting, aliases).
    public static func load(path: String) throws(PathError) -> Policy {
        let loaded = try YAMLDocument.loadDocument(Policy.self, path: path, knownKeys: Self.knownKeys)
        try loaded.value.validate(at: loaded.locator)
        var policy = loaded.value
        policy.sourceLocations = policy.selectorLocations(loaded.locator)
        return policy
    }

    /// `file:line` of every selector, by the path findings cite it by (`allow[0].from[1]`, `mtls.require[0].to[0]`).
    func selectorLocations(_ locator: YAMLLocator) -> [String: String] {
        var locations: [String: String] = [:]
        for (kind, rules) in [("allow", self.allow), ("deny", self.deny)] {
            for (index, rule) in rules.enumerated() {
                for (side, selectors) in [("from", rule.from), ("to", rule.to)] {
                    for number in selectors.indices {
                        let path = "\(kind)[\(index)].\(side)[\(number)]"
                        locations[path] = locator.location(path)
                    }
                }
            }
        }
        for (index, requirement) in (self.mtls?.require ?? []).enumerated() {
            for number in requirement.to.indices {
                let path = "mtls.require[\(index)].to[\(number)]"
                locations[path] = locator.location(path)
            }
        }
        return locations
    }

    /// Checks what decoding cannot, naming only the file (see ``validate(at:)`` for lines).
    public func validate(path: String) throws(PathError) {
        try self.validate(at: YAMLLocator(file: path))
    }

    /// Checks what decoding cannot: the version; that every rule says something; that every selector's patterns,
    /// labels and CIDRs mean what they look like. Errors name the line through `locator`.
    public func validate(at locator: YAMLLocator) throws(PathError) {
        if let version = self.version, version != 1 {
            throw PathError(
                path: locator.location("version"), message: "version \(version): this build reads policy version 1")
        }
        // A rule's name is what reports and baselines cite it by: two of the same name would be told apart by no one.
        var named: [String: String] = [:]
        for (kind, rules) in [("allow", self.allow), ("deny", self.deny)] {
            for (index, rule) in rules.enumerated() {
                let at = "\(kind)[\(index)]"
                if let name = rule.name {
                    if let first = named[name] {
                        throw PathError(
                            path: locator.location("\(at).name"),
                            message: "\(at): the rule name '\(name)' is \(first)'s too: give each rule its own name")
                    }
                    named[name] = at
                }
                for (side, selectors) in [("from", rule.from), ("to", rule.to)] {
                    guard !selectors.isEmpty else {
                        throw PathError(
                            path: locator.location("\(at).\(side)"),
                            message: "\(at): `from` and `to` need at least one selector ({} matches everything)")
                    }
                    for (number, selector) in selectors.enumerated() {
                        try selector.check(at: locator, "\(at).\(side)[\(number)]")
                    }
                }
                try Self.checkPorts(rule.ports, at: locator, at)
            }
        }
        for (index, requirement) in (self.mtls?.require ?? []).enumerated() {
            let at = "mtls.require[\(index)]"
            guard !requirement.to.isEmpty else {
                throw PathError(
                    path: locator.location("\(at).to"),
                    message: "\(at): `to` needs at least one selector ({} matches everything)")
            }
            for (number, selector) in requirement.to.enumerated() {
                try selector.check(at: locator, "\(at).to[\(number)]")
            }
            try Self.checkPorts(requirement.ports, at: locator, at)
            try requirement.checkFiles(at: locator, at)
        }
    }

    /// `ports: []` matches no traffic: a deny rule or an mTLS requirement written so would silently do nothing, as
    /// `from: []` would (which is refused too). Leaving `ports` out means every port.
    static func checkPorts(_ ports: [PortMatch], at locator: YAMLLocator, _ path: String) throws(PathError) {
        guard ports.isEmpty else { return }
        throw PathError(
            path: locator.location("\(path).ports"),
            message: "\(path): `ports: []` matches nothing: list at least one port, or leave `ports` out for any")
    }
}

extension MTLSRequirement {
    /// Refuses file settings that only work in pairs, as the `tls` command line does: a certificate without its key
    /// (or a key without its certificate) would drop the identity it names from the battery, and with it the check
    /// that the endpoint accepts a valid client; a CA key without the CA certificate (`trustBundle`) forges nothing.
    func checkFiles(at locator: YAMLLocator, _ path: String) throws(PathError) {
        for (certificate, key, certificateKey, keyKey) in [
            (self.clientCertificate, self.clientKey, "clientCertificate", "clientKey"),
            (self.otherCertificate, self.otherKey, "otherCertificate", "otherKey"),
        ] where (certificate == nil) != (key == nil) {
            throw PathError(
                path: locator.location("\(path).\(certificate == nil ? keyKey : certificateKey)"),
                message: "\(path): \(certificateKey) and \(keyKey) go together (give both, or neither)")
        }
        if self.caKey != nil, self.trustBundle == nil {
            throw PathError(
                path: locator.location("\(path).caKey"),
                message: "\(path): caKey needs trustBundle (the CA certificate it belongs to)")
        }
    }
}

extension Selector {
    /// The characters a name pattern may hold: what Docker allows in container, network and Compose names, plus the
    /// wildcards `*` and `?`. Anything else (`[0-9]`, `{a,b}`, a space) can never match, so it is refused.
    static func isValidPattern(_ pattern: String) -> Bool {
        !pattern.isEmpty
            && pattern.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII
                    && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                        || "_.-*?/".unicodeScalars.contains(scalar))
            }
    }

    /// Refuses what would silently match nothing or something else than it says: an empty or invalid name
    /// pattern, an empty label or label key, a CIDR with host bits set.
    func check(at locator: YAMLLocator, _ path: String) throws(PathError) {
        for (key, value) in [
            ("container", self.container), ("service", self.service), ("project", self.project),
            ("network", self.network),
        ] {
            guard let value else { continue }
            guard Self.isValidPattern(value) else {
                let shown = value.isEmpty ? "an empty name" : "'\(value)'"
                throw PathError(
                    path: locator.location("\(path).\(key)"),
                    message:
                        "\(path).\(key): \(shown) is not a name pattern: use letters, digits, '.', '_', '-' and the wildcards * and ?"
                )
            }
        }
        if let label = self.label {
            let key = Self.labelRequirement(label).key
            guard !key.trimmingCharacters(in: .whitespaces).isEmpty, !key.contains(where: \.isWhitespace) else {
                throw PathError(
                    path: locator.location("\(path).label"),
                    message: "\(path).label '\(label)': give key=value, or key for the label's presence")
            }
        }
        if let cidr = self.cidr, let (address, prefix) = CIDR.parse(cidr) {
            let (high, low) = CIDR.masked(address, prefix)
            if high != address.high || low != address.low {
                let network =
                    address.isIPv6
                    ? IPAddress(ipv6High: high, low: low) : IPAddress(ipv4: UInt32(truncatingIfNeeded: low))
                throw PathError(
                    path: locator.location("\(path).cidr"),
                    message:
                        "\(path).cidr \(cidr) has host bits set: write \(network)/\(prefix) for the network, or \(address) alone for the one address"
                )
            }
        }
    }
}
