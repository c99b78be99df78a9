import BulkheadModel
import Foundation

/// What the owner of a container host expects: which containers may reach which, on which ports — and, for the
/// endpoints that must speak mutual TLS, what that means.
///
/// ```yaml
/// version: 1
/// baseline: deny              # deny: everything not allowed is denied; docker: what Docker's own settings intend
/// allow:
///   - name: web to api
///     from: { container: "web-*" }
///     to: { service: api }
///     ports: [tcp/8080]
///   - from: { network: backend }
///     to: { host: true }       # the host side: gateways, published ports
///     ports: [icmp]
/// deny:                        # explicit denies win over allows (and over the docker baseline)
///   - from: { label: "tier=frontend" }
///     to: { cidr: 198.18.20.0/24 }
/// mtls:
///   require:
///     - to: { service: payments }
///       ports: [tcp/8443]
///       trustBundle: pki/ca.crt
///       expectSPIFFE: spiffe://shop.example/payments
/// ```
public struct Policy: Codable, Sendable {
    /// The format version (1).
    public var version: Int?
    public var baseline: Baseline
    public var allow: [Rule]
    public var deny: [Rule]
    public var mtls: MTLSSection?
    /// Where each selector was written, by its path (`allow[0].from[1]` → `policy.yaml:12`), for findings that cite a
    /// rule; empty for a policy not read from a file. Not part of the file's format.
    public var sourceLocations: [String: String]

    public enum Baseline: String, Codable, Sendable {
        /// Everything not allowed is denied.
        case deny
        /// What Docker's configuration intends: containers reach each other on shared networks with ICC on; not
        /// across networks; the host side (gateways) unless the network is internal.
        case docker
    }

    /// An allow or deny rule: traffic from any `from` selector to any `to` selector on any of `ports`.
    public struct Rule: Codable, Sendable {
        /// Shown in reports; `allow[2]` / `deny[0]` when absent.
        public var name: String?
        public var from: [Selector]
        public var to: [Selector]
        /// `tcp/80`, `udp/53`, `tcp/8000-8010`, `tcp`, `udp`, `icmp`, or `any` (the default).
        public var ports: [PortMatch]

        public init(name: String? = nil, from: [Selector], to: [Selector], ports: [PortMatch] = [.any]) {
            self.name = name
            self.from = from
            self.to = to
            self.ports = ports
        }

        enum CodingKeys: String, CodingKey { case name, from, to, ports }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.name = try container.decodePresentValue(String.self, forKey: .name)
            self.from = try Selector.decodeList(container, .from)
            self.to = try Selector.decodeList(container, .to)
            self.ports = try container.decodePresentValue([PortMatch].self, forKey: .ports) ?? [.any]
        }
    }

    public init(version: Int? = 1, baseline: Baseline, allow: [Rule] = [], deny: [Rule] = [], mtls: MTLSSection? = nil)
    {
        self.version = version
        self.baseline = baseline
        self.allow = allow
        self.deny = deny
        self.mtls = mtls
        self.sourceLocations = [:]
    }

    enum CodingKeys: String, CodingKey { case version, baseline, allow, deny, mtls }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.version = try container.decodePresentValue(Int.self, forKey: .version)
        self.baseline = try container.decodePresentValue(Baseline.self, forKey: .baseline) ?? .deny
        self.allow = try container.decodePresentValue([Rule].self, forKey: .allow) ?? []
        self.deny = try container.decodePresentValue([Rule].self, forKey: .deny) ?? []
        self.mtls = try container.decodePresentValue(MTLSSection.self, forKey: .mtls)
        self.sourceLocations = [:]
    }

    /// The intent Docker's own configuration expresses, used when no policy is given.
    public static let dockerDefault = Policy(version: 1, baseline: .docker)

    /// The same policy with container and network name patterns prefixed (`web` → `<prefix>web`): a lab
    /// scenario's policy names its own services, which the engine knows as `<scenario>-<service>`.
    public func qualified(prefix: String) -> Policy {
        func qualify(_ selectors: [Selector]) -> [Selector] {
            selectors.map { selector in
                var copy = selector
                copy.container = selector.container.map { prefix + $0 }
                copy.network = selector.network.map { prefix + $0 }
                return copy
            }
        }
        func qualify(_ rules: [Rule]) -> [Rule] {
            rules.map { Rule(name: $0.name, from: qualify($0.from), to: qualify($0.to), ports: $0.ports) }
        }
        var copy = self
        copy.allow = qualify(self.allow)
        copy.deny = qualify(self.deny)
        if var mtls = self.mtls {
            mtls.require = mtls.require.map { requirement in
                var copy = requirement
                copy.to = qualify(requirement.to)
                return copy
            }
            copy.mtls = mtls
        }
        return copy
    }
}

/// Which traffic a rule applies to: a protocol and port range, a whole protocol, or anything.
public enum PortMatch: Codable, Hashable, Sendable, CustomStringConvertible {
    case any
    case proto(ProbeProtocol)
    case ports(ProbeProtocol, ClosedRange<Int>)

    /// Spaces around the text are refused, as in a CIDR: YAML already drops them where no quotes keep them.
    public init?(_ text: String) {
        let lowered = text.lowercased()
        if lowered == "any" || lowered == "*" {
            self = .any
            return
        }
        if let proto = ProbeProtocol(rawValue: lowered) {
            self = .proto(proto)
            return
        }
        // A bare number is TCP for `--ports`, but a policy says what it means: the protocol is required here.
        guard lowered.contains("/"), let spec = PortSpec(lowered) else { return nil }
        self = .ports(spec.proto, spec.range)
    }

    /// Reads a port as written. A bare number (`53`) is refused rather than taken as TCP: a policy meaning DNS would
    /// silently cover tcp/53 only, and YAML 1.1 reads `80:80` (base 60), `017620` (octal), `0x1f90` and `80_80` as
    /// numbers too. Yams hands any scalar over as its text, so every one of these reaches ``init(_:)`` as written.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let match = PortMatch(text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: Int(text) != nil
                    ? "'\(text)' is a bare number: a policy names the protocol (write tcp/\(text) or udp/\(text))"
                    : "'\(text)' is not a port: use tcp/80, udp/53, tcp/8000-8010, tcp, udp, icmp or any")
        }
        self = match
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }

    public var description: String {
        switch self {
        case .any: "any"
        case .proto(let proto): proto.rawValue
        case .ports(let proto, let range):
            range.count == 1
                ? "\(proto.rawValue)/\(range.lowerBound)" : "\(proto.rawValue)/\(range.lowerBound)-\(range.upperBound)"
        }
    }

    public func matches(_ proto: ProbeProtocol, _ port: Int?) -> Bool {
        switch self {
        case .any: return true
        case .proto(let expected): return proto == expected
        case .ports(let expected, let range): return proto == expected && port.map { range.contains($0) } == true
        }
    }
}

/// Picks out containers, networks, addresses or the host side. Every field given must match (AND); a rule's list
/// of selectors matches when any does (OR). An empty selector `{}` matches everything.
///
/// A plain string is shorthand for a container name pattern: `from: web` is `from: { container: web }`.
public struct Selector: Codable, Hashable, Sendable {
    /// Container name, with `*` and `?` wildcards.
    public var container: String?
    /// `key=value`, or `key` for the label's presence.
    public var label: String?
    /// Docker Compose service (`com.docker.compose.service`).
    public var service: String?
    /// Docker Compose project (`com.docker.compose.project`).
    public var project: String?
    /// A network name pattern: as a source, a container attached to it; as a destination, an address on it.
    public var network: String?
    /// An address range: as a source, a container with an address in it; as a destination, the address probed.
    public var cidr: String?
    /// The host side: as a destination, the gateways (Docker API ports, published ports, host-network services);
    /// as a source, a container in the host's network namespace.
    public var host: Bool?

    public init(
        container: String? = nil, label: String? = nil, service: String? = nil, project: String? = nil,
        network: String? = nil, cidr: String? = nil, host: Bool? = nil
    ) {
        self.container = container
        self.label = label
        self.service = service
        self.project = project
        self.network = network
        self.cidr = cidr
        self.host = host
    }

    static let keys: Set<String> = ["container", "label", "service", "project", "network", "cidr", "host"]

    /// The selector as a policy writes it, for findings: `{service: wbe}`.
    public var summary: String {
        let fields: [(String, String?)] = [
            ("container", self.container), ("label", self.label), ("service", self.service),
            ("project", self.project), ("network", self.network), ("cidr", self.cidr),
            ("host", self.host.map { "\($0)" }),
        ]
        return "{" + fields.compactMap { key, value in value.map { "\(key): \($0)" } }.joined(separator: ", ") + "}"
    }

    enum CodingKeys: String, CodingKey, CaseIterable { case container, label, service, project, network, cidr, host }

    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let name = try? single.decode(String.self) {
            self.init(container: name)
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let cidr = try container.decodePresentValue(String.self, forKey: .cidr)
        if let cidr, let address = CIDR.parse(cidr)?.address ?? IPAddress(cidr), address.isIPv4Mapped {
            throw DecodingError.dataCorruptedError(
                forKey: .cidr, in: container,
                debugDescription:
                    "'\(cidr)' is an IPv4-mapped IPv6 range, which never matches the IPv4 addresses containers have: write the IPv4 range"
            )
        }
        if let cidr, CIDR.parse(cidr) == nil, IPAddress(cidr) == nil {
            throw DecodingError.dataCorruptedError(
                forKey: .cidr, in: container, debugDescription: "'\(cidr)' is not a CIDR (e.g. 198.18.20.0/24)")
        }
        self.init(
            container: try container.decodePresentValue(String.self, forKey: .container),
            label: try container.decodePresentValue(String.self, forKey: .label),
            service: try container.decodePresentValue(String.self, forKey: .service),
            project: try container.decodePresentValue(String.self, forKey: .project),
            network: try container.decodePresentValue(String.self, forKey: .network),
            cidr: cidr,
            host: try container.decodePresentValue(Bool.self, forKey: .host)
        )
    }

    /// `from:`/`to:` take one selector or a list of them.
    static func decodeList<K: CodingKey>(_ container: KeyedDecodingContainer<K>, _ key: K) throws -> [Selector] {
        if container.contains(key), try container.decodeNil(forKey: key) {
            // `from:` with nothing after it would decode as a container named "" and match nothing, silently.
            throw DecodingError.dataCorruptedError(
                forKey: key, in: container,
                debugDescription:
                    "`\(key.stringValue):` has no value: give a selector or a list of them ({} matches everything)")
        }
        if let list = try? container.decode([Selector].self, forKey: key) { return list }
        return [try container.decode(Selector.self, forKey: key)]
    }

    /// Matches `*` (any run) and `?` (one character), case-sensitively, over the whole name.
    public static func glob(_ pattern: String, matches text: String) -> Bool {
        let p = Array(pattern.unicodeScalars)
        let t = Array(text.unicodeScalars)
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count && (p[pi] == "?" || p[pi] == t[ti]) {
                pi += 1
                ti += 1
            } else if pi < p.count && p[pi] == "*" {
                star = pi
                mark = ti
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }

    /// A `label` selector read as a requirement: `key=value` (the value may be empty: `tier=` wants the label with an
    /// empty value, as Docker can set it), or `key` alone for the label's presence. The one reading that both
    /// ``check(at:_:)`` and matching use, so the rule checked is the rule applied.
    static func labelRequirement(_ label: String) -> (key: String, value: String?) {
        let parts = label.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let key = parts.first.map(String.init) ?? ""
        return (key, parts.count == 2 ? String(parts[1]) : nil)
    }

    func labelMatches(_ labels: [String: String]) -> Bool {
        guard let label = self.label else { return true }
        let requirement = Self.labelRequirement(label)
        guard let value = labels[requirement.key] else { return false }
        return requirement.value.map { $0 == value } ?? true
    }
}

extension KeyedDecodingContainer {
    /// `decodeIfPresent` that refuses a key written with no value (`ports:` alone): in a security policy an empty
    /// value must not silently mean the default (every port) or nothing.
    public func decodePresentValue<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard self.contains(key) else { return nil }
        if try self.decodeNil(forKey: key) {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self,
                debugDescription:
                    "`\(key.stringValue):` has no value (YAML reads an empty string, ~ and null as no value; write [] for an empty list)"
            )
        }
        return try self.decode(type, forKey: key)
    }
}

/// mTLS requirements: which endpoints must enforce mutual TLS, against which trust, with which identities.
public struct MTLSSection: Codable, Sendable {
    public var require: [MTLSRequirement]

    public init(require: [MTLSRequirement]) {
        self.require = require
    }
}

/// One mTLS requirement: endpoints picked by `to` and `ports` must enforce client certificates.
public struct MTLSRequirement: Codable, Sendable {
    public var name: String?
    public var to: [Selector]
    public var ports: [PortMatch]
    /// PEM file with the CA certificates the server's chain must validate against (and client certs come from).
    public var trustBundle: String?
    /// A client certificate and key of an identity the server must accept.
    public var clientCertificate: String?
    public var clientKey: String?
    /// A valid certificate of another identity from the same CA (authorization test).
    public var otherCertificate: String?
    public var otherKey: String?
    /// The CA's key, when the auditor has it: lets the battery forge an expired certificate from the right CA.
    public var caKey: String?
    /// DNS names the server certificate must carry.
    public var expectDNS: [String]?
    /// The one SPIFFE ID the server certificate must carry.
    public var expectSPIFFE: String?

    /// What the mTLS battery must check on an endpoint this requirement covers. Relative paths are taken from
    /// `directory` (the policy file's folder, or a lab scenario's PKI).
    public func expectations(relativeTo directory: String?) -> TLSExpectations {
        func path(_ value: String?) -> String? {
            guard let value else { return nil }
            guard let directory, !value.hasPrefix("/") else { return value }
            return directory + "/" + value
        }
        var identity: IdentityFiles?
        if let certificate = path(self.clientCertificate), let key = path(self.clientKey) {
            identity = IdentityFiles(certificate: certificate, key: key)
        }
        var other: IdentityFiles?
        if let certificate = path(self.otherCertificate), let key = path(self.otherKey) {
            other = IdentityFiles(certificate: certificate, key: key)
        }
        return TLSExpectations(
            trustBundles: path(self.trustBundle).map { [$0] } ?? [], caKey: path(self.caKey), clientIdentity: identity,
            otherIdentity: other,
            expectedDNSNames: self.expectDNS ?? [], expectedSPIFFEID: self.expectSPIFFE, required: true
        )
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, to, ports, trustBundle, clientCertificate, clientKey, otherCertificate, otherKey, caKey, expectDNS,
            expectSPIFFE
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decodePresentValue(String.self, forKey: .name)
        self.to = try Selector.decodeList(container, .to)
        self.ports = try container.decodePresentValue([PortMatch].self, forKey: .ports) ?? [.proto(.tcp)]
        self.trustBundle = try container.decodePresentValue(String.self, forKey: .trustBundle)
        self.clientCertificate = try container.decodePresentValue(String.self, forKey: .clientCertificate)
        self.clientKey = try container.decodePresentValue(String.self, forKey: .clientKey)
        self.otherCertificate = try container.decodePresentValue(String.self, forKey: .otherCertificate)
        self.otherKey = try container.decodePresentValue(String.self, forKey: .otherKey)
        self.caKey = try container.decodePresentValue(String.self, forKey: .caKey)
        self.expectDNS = try container.decodePresentValue([String].self, forKey: .expectDNS)
        self.expectSPIFFE = try container.decodePresentValue(String.self, forKey: .expectSPIFFE)
    }
}
