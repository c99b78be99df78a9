import BulkheadModel
import Foundation
import Yams

/// A lab topology: networks, services (containers from the lab image), and what Bulkhead should find.
///
/// ```yaml
/// name: two-networks
/// description: Two networks that must not reach each other, and one container on both.
/// networks:
///   - { name: front, subnet: 198.18.10.0/24 }
///   - { name: back, subnet: 198.18.11.0/24, internal: true, icc: false }
/// services:
///   - name: web
///     command: [busybox, httpd, -f, -p, "8080"]
///     networks: { front: 198.18.10.10 }
///     publish: ["127.0.0.1:18080:8080"]
///   - name: gateway
///     command: [sleep, "3600"]
///     networks: { front: null, back: null }
/// expect:
///   findings:
///     - { kind: bridges-networks, location: gateway }
/// ```
///
/// Names in `networks`, `services`, `networkMode: container:<service>` and `expect` are the scenario's own; on
/// the engine each object is named `<scenario>-<name>` and labelled `bulkhead.scenario=<scenario>`.
public struct Scenario: Codable, Sendable {
    public var name: String
    public var description: String?
    public var networks: [Network]
    public var services: [Service]
    /// Certificates the lab generates (a CA, a rogue CA, and these), mounted at /pki in services that ask.
    public var pki: PKISpec?
    /// Commands run inside services after they start (the traffic a capture or an audit sees).
    public var traffic: [Traffic]?
    public var expect: Expectations?

    public struct Traffic: Codable, Sendable {
        /// The service the command runs in.
        public var from: String
        public var command: [String]
        /// The exit status the command should have (default 0).
        public var expectExit: Int?
    }

    public struct Network: Codable, Sendable {
        public var name: String
        /// An IPv4 CIDR in 198.18.0.0/15 (the lab's only address range).
        public var subnet: String
        public var gateway: String?
        public var `internal`: Bool?
        /// Inter-container communication on the bridge (default true).
        public var icc: Bool?
    }

    public struct Service: Codable, Sendable {
        public var name: String
        /// The lab image unless given.
        public var image: String?
        public var command: [String]?
        /// Network name → static IPv4 address, or null for one from the subnet.
        public var networks: [String: String?]?
        /// `host`, `none`, or `container:<service>`, instead of `networks`.
        public var networkMode: String?
        /// `[address:]hostPort:containerPort[/proto]`.
        public var publish: [String]?
        public var capAdd: [String]?
        public var capDrop: [String]?
        public var privileged: Bool?
        public var mountDockerSocket: Bool?
        /// Mount the scenario's PKI folder read-only at /pki.
        public var pki: Bool?
        public var labels: [String: String]?
    }

    public struct Expectations: Codable, Sendable {
        /// Every finding about the scenario's own networks and containers; nothing more, nothing less.
        public var findings: [ExpectedFinding]?
        /// Finding kinds left out of the comparison (e.g. `net-raw-capability`, which Docker's defaults give
        /// every container).
        public var ignoreKinds: [String]?
    }

    public struct ExpectedFinding: Codable, Sendable, Hashable {
        public var kind: String
        /// A service or network name of the scenario.
        public var location: String
    }

    /// The engine-side name of a scenario object.
    public func qualified(_ name: String) -> String { "\(self.name)-\(name)" }

    /// The label that marks everything `up` creates for this scenario.
    public var label: String { "bulkhead.scenario=\(self.name)" }
}

/// A scenario file that cannot be used, naming the file and where the problem is.
public typealias ScenarioError = PathError

extension Scenario {
    /// Reads and checks a scenario file.
    ///
    /// - Throws: ``ScenarioError`` naming the file, and the line or the key at fault.
    public static func load(path: String) throws(ScenarioError) -> Scenario {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ScenarioError(path: path, message: "cannot read: \(error.localizedDescription)")
        }
        let scenario: Scenario
        do {
            scenario = try YAMLDecoder().decode(Scenario.self, from: text)
        } catch let error as YamlError {
            throw ScenarioError(path: path, message: "not valid YAML: \(error)")
        } catch let error as DecodingError {
            throw ScenarioError(path: path, message: Self.explain(error))
        } catch {
            throw ScenarioError(path: path, message: "\(error)")
        }
        try scenario.validate(path: path)
        return scenario
    }

    static func explain(_ error: DecodingError) -> String {
        func where_(_ path: [any CodingKey]) -> String {
            path.isEmpty ? "the top level" : path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(where_(context.codingPath + [key])): required key is missing"
        case .typeMismatch(let type, let context): return "\(where_(context.codingPath)): expected \(type)"
        case .valueNotFound(let type, let context): return "\(where_(context.codingPath)): expected a \(type), found nothing"
        case .dataCorrupted(let context): return "\(where_(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    /// Names are unique and safe, subnets stay in 198.18.0.0/15, references resolve.
    func validate(path: String) throws(ScenarioError) {
        func fail(_ message: String) -> ScenarioError { ScenarioError(path: path, message: message) }
        let safeName = { (text: String) in
            !text.isEmpty && text.count <= 40 && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }
        guard safeName(self.name) else { throw fail("name '\(self.name)': use letters, digits, - and _ (at most 40)") }
        var networkNames = Set<String>()
        for network in self.networks {
            guard safeName(network.name) else { throw fail("networks.\(network.name): use letters, digits, - and _") }
            guard networkNames.insert(network.name).inserted else { throw fail("networks.\(network.name): defined twice") }
            guard let (address, prefix) = Self.parseIPv4CIDR(network.subnet), prefix >= 16,
                  address >> 17 == (198 << 24 | 18 << 16) >> 17
            else {
                throw fail("networks.\(network.name).subnet \(network.subnet): lab networks must be IPv4 subnets inside 198.18.0.0/15 (RFC 2544), /16 or smaller")
            }
        }
        var serviceNames = Set<String>()
        for service in self.services {
            guard safeName(service.name) else { throw fail("services.\(service.name): use letters, digits, - and _") }
            guard serviceNames.insert(service.name).inserted else { throw fail("services.\(service.name): defined twice") }
            for network in (service.networks ?? [:]).keys where !networkNames.contains(network) {
                throw fail("services.\(service.name).networks: no network named \(network)")
            }
            if let mode = service.networkMode {
                guard mode == "host" || mode == "none" || mode.hasPrefix("container:") else {
                    throw fail("services.\(service.name).networkMode \(mode): use host, none or container:<service>")
                }
                guard service.networks == nil else { throw fail("services.\(service.name): networkMode and networks exclude each other") }
            }
        }
        for service in self.services {
            if let mode = service.networkMode, mode.hasPrefix("container:"), !serviceNames.contains(String(mode.dropFirst(10))) {
                throw fail("services.\(service.name).networkMode: no service named \(mode.dropFirst(10))")
            }
        }
        for traffic in self.traffic ?? [] {
            guard serviceNames.contains(traffic.from) else { throw fail("traffic: no service named \(traffic.from)") }
            guard !traffic.command.isEmpty else { throw fail("traffic from \(traffic.from): the command is empty") }
        }
        var certificateNames = Set(["ca", "rogue-ca"])
        for certificate in self.pki?.certificates ?? [] {
            guard certificateNames.insert(certificate.name).inserted else { throw fail("pki.certificates.\(certificate.name): defined twice (or reserved)") }
        }
        if self.services.contains(where: { $0.pki == true }) && self.pki == nil {
            throw fail("a service mounts the PKI but the scenario has no pki section")
        }
        for finding in self.expect?.findings ?? [] where !serviceNames.contains(finding.location) && !networkNames.contains(finding.location) {
            throw fail("expect.findings: location \(finding.location) is neither a service nor a network of this scenario")
        }
    }

    static func parseIPv4CIDR(_ text: String) -> (UInt32, Int)? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let prefix = Int(parts[1]), prefix >= 0, prefix <= 32 else { return nil }
        let octets = parts[0].split(separator: ".").compactMap { UInt32($0) }
        guard octets.count == 4, octets.allSatisfy({ $0 < 256 }) else { return nil }
        return (octets.reduce(0) { $0 << 8 | $1 }, prefix)
    }
}
