import BulkheadModel
import Foundation
import Policy

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
    /// iptables rules in the DOCKER-USER chain that `up` adds and `down` removes (comment `bulkhead-scenario=<name>`).
    public var firewall: [FirewallRule]?
    /// How `run` probes reachability.
    public var probe: ProbeSettingsSpec?
    /// The expected policy (the same format as a `--policy` file), written with the scenario's own names.
    public var policy: Policy?
    public var expect: Expectations?

    /// A DROP or REJECT between two services (their static addresses), for one port or ICMP echo.
    public struct FirewallRule: Codable, Sendable {
        /// The source service (any source when absent).
        public var from: String?
        /// The destination service.
        public var to: String
        /// `tcp/8081`, `udp/53` or `icmp`.
        public var port: String
        /// `drop` or `reject`.
        public var action: String
        /// For `reject`: `icmp-port-unreachable` (iptables' default), `icmp-admin-prohibited`, `icmp-host-unreachable`, `tcp-reset`.
        public var with: String?
    }

    /// Probe options for `run`.
    public struct ProbeSettingsSpec: Codable, Sendable {
        public var attempts: Int?
        /// Seconds, every protocol.
        public var timeout: Double?
        /// Extra ports on every destination (`tcp/9999`).
        public var ports: [String]?
        public var icmp: Bool?
        public var udp: Bool?
    }

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
        /// The exact reachability matrix: `"source -> destination[@network] proto[/port]": state`, or a map
        /// `{state: …, violation: …}`. Names may use `*` wildcards; `host` names the host side (the gateways). Every probed cell
        /// must match an entry (the first that matches decides), and every entry without wildcards must match a cell.
        public var reachability: [String: ExpectedCell]?
    }

    /// An expected cell state, and optionally the violation the policy must report for it.
    public struct ExpectedCell: Codable, Sendable, Hashable {
        public var state: CellState
        /// `unexpected-reachable`, `unexpected-blocked`, or `none`; when absent, any cell this entry matches must
        /// have no violation.
        public var violation: String?

        public init(state: CellState, violation: String? = nil) {
            self.state = state
            self.violation = violation
        }

        enum CodingKeys: String, CodingKey { case state, violation }

        public init(from decoder: any Decoder) throws {
            if let single = try? decoder.singleValueContainer(), let state = try? single.decode(CellState.self) {
                self.init(state: state)
                return
            }
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.init(
                state: try container.decode(CellState.self, forKey: .state),
                // `violation:` with no value would read as absent: "no violation", the opposite of what was meant.
                violation: try container.decodePresentValue(String.self, forKey: .violation))
        }
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

extension Scenario.Network {
    enum CodingKeys: String, CodingKey { case name, subnet, gateway, `internal`, icc }

    /// `icc:`, `internal:` or `gateway:` written with no value would read as absent, and so as the default (ICC on,
    /// not internal): a value left out by mistake would silently mean the opposite of an intended `false`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try container.decode(String.self, forKey: .name),
            subnet: try container.decode(String.self, forKey: .subnet),
            gateway: try container.decodePresentValue(String.self, forKey: .gateway),
            internal: try container.decodePresentValue(Bool.self, forKey: .internal),
            icc: try container.decodePresentValue(Bool.self, forKey: .icc))
    }
}

/// A scenario file that cannot be used, naming the file and where the problem is.
public typealias ScenarioError = CodedPathError<ScenarioErrorCode>

/// The codes of ``ScenarioError``.
public enum ScenarioErrorCode: String, Sendable {
    /// The file itself: unreadable, not YAML, an unknown key, a value out of range (the message names the line).
    case invalid
    /// Its PKI could not be generated (a folder, a file, openssl).
    case pki
}

extension ScenarioError {
    /// A problem the YAML reader or the policy found in the file.
    init(invalid error: PathError) {
        self.init(.invalid, path: error.path, message: error.message)
    }
}

extension Scenario {
    /// Reads and checks a scenario file.
    ///
    /// - Throws: ``ScenarioError`` naming the file, and the line or the key at fault.
    public static func load(path: String) throws(ScenarioError) -> Scenario {
        try Self.load(text: try Self.text(path: path), path: path)
    }

    /// The text of a scenario file, read as every YAML file of Bulkhead is.
    static func text(path: String) throws(ScenarioError) -> String {
        do throws(PathError) {
            return try YAMLDocument.text(path: path)
        } catch {
            throw ScenarioError(invalid: error)
        }
    }

    /// Reads and checks a scenario from YAML text; `path` names its source in errors.
    ///
    /// - Throws: ``ScenarioError`` naming `path`, and the line or the key at fault.
    public static func load(text: String, path: String) throws(ScenarioError) -> Scenario {
        let loaded: YAMLDocument.Loaded<Scenario>
        do throws(PathError) {
            loaded = try YAMLDocument.decodeDocument(Scenario.self, text: text, path: path, knownKeys: Self.knownKeys)
        } catch {
            throw ScenarioError(invalid: error)
        }
        try loaded.value.validate(path: path, locator: loaded.locator)
        return loaded.value
    }

    /// The keys a scenario file may hold; unknown keys are errors naming their line.
    static let knownKeys: YAMLDocument.KnownKeys = {
        var keys = Policy.knownKeys(prefix: "policy")
        keys[""] = [
            "name", "description", "networks", "services", "pki", "traffic", "firewall", "probe", "policy", "expect",
        ]
        keys["networks.*"] = ["name", "subnet", "gateway", "internal", "icc"]
        keys["services.*"] = [
            "name", "image", "command", "networks", "networkMode", "publish", "capAdd", "capDrop", "privileged",
            "mountDockerSocket", "pki", "labels",
        ]
        keys["pki"] = ["caName", "certificates"]
        keys["pki.certificates.*"] = ["name", "cn", "sans", "usage", "days", "issuer", "key", "isCA"]
        keys["traffic.*"] = ["from", "command", "expectExit"]
        keys["firewall.*"] = ["from", "to", "port", "action", "with"]
        keys["probe"] = ["attempts", "timeout", "ports", "icmp", "udp"]
        keys["expect"] = ["findings", "ignoreKinds", "reachability"]
        keys["expect.findings.*"] = ["kind", "location"]
        keys["expect.reachability.*"] = ["state", "violation"]
        return keys
    }()

    /// Names are unique and safe, subnets stay in 198.18.0.0/15 without overlapping, addresses lie in their subnets,
    /// references resolve, and every value means what it says. Errors name the line through `locator`.
    func validate(path: String, locator: YAMLLocator? = nil) throws(ScenarioError) {
        let locator = locator ?? YAMLLocator(file: path)
        /// An error at the value of `key` (a path such as `services[2].networks`), named by its line.
        func fail(_ key: String, _ message: String) -> ScenarioError {
            ScenarioError(.invalid, path: locator.location(key), message: message)
        }
        let safeName = { (text: String) in
            !text.isEmpty && text.count <= 40
                && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }
        guard safeName(self.name) else {
            throw fail("name", "name '\(self.name)': use letters, digits, - and _ (at most 40)")
        }
        var subnets: [String: (address: IPAddress, prefix: Int)] = [:]
        for (index, network) in self.networks.enumerated() {
            let at = "networks[\(index)]"
            guard safeName(network.name) else {
                throw fail("\(at).name", "networks.\(network.name): use letters, digits, - and _")
            }
            guard subnets[network.name] == nil else {
                throw fail("\(at).name", "networks.\(network.name): defined twice")
            }
            guard let (address, prefix) = CIDR.parse(network.subnet), !address.isIPv6, prefix >= 16,
                CIDR.contains("198.18.0.0/15", address)
            else {
                throw fail(
                    "\(at).subnet",
                    "networks.\(network.name).subnet \(network.subnet): lab networks must be IPv4 subnets inside 198.18.0.0/15 (RFC 2544), /16 or smaller"
                )
            }
            guard CIDR.masked(address, prefix).1 == address.low else {
                throw fail(
                    "\(at).subnet",
                    "networks.\(network.name).subnet \(network.subnet) has host bits set: write \(IPAddress(ipv4: UInt32(truncatingIfNeeded: CIDR.masked(address, prefix).1)))/\(prefix)"
                )
            }
            if let other = subnets.first(where: {
                CIDR.overlap($0.value.address.description + "/\($0.value.prefix)", network.subnet)
            }) {
                throw fail(
                    "\(at).subnet",
                    "networks.\(network.name).subnet \(network.subnet) overlaps network \(other.key): the engine refuses overlapping bridges"
                )
            }
            if let gateway = network.gateway {
                guard let gatewayAddress = IPAddress(gateway), !gatewayAddress.isIPv6,
                    CIDR.contains(network: address, prefix: prefix, gatewayAddress)
                else {
                    throw fail(
                        "\(at).gateway",
                        "networks.\(network.name).gateway \(gateway): an IPv4 address inside \(network.subnet)")
                }
            }
            subnets[network.name] = (address, prefix)
        }
        var serviceNames = Set<String>()
        for (index, service) in self.services.enumerated() {
            let at = "services[\(index)]"
            guard safeName(service.name) else {
                throw fail("\(at).name", "services.\(service.name): use letters, digits, - and _")
            }
            guard serviceNames.insert(service.name).inserted else {
                throw fail("\(at).name", "services.\(service.name): defined twice")
            }
            for (network, address) in (service.networks ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard let subnet = subnets[network] else {
                    throw fail("\(at).networks", "services.\(service.name).networks: no network named \(network)")
                }
                guard let address else { continue }
                guard let parsed = IPAddress(address), !parsed.isIPv6,
                    CIDR.contains(network: subnet.address, prefix: subnet.prefix, parsed)
                else {
                    throw fail(
                        "\(at).networks.\(network)",
                        "services.\(service.name).networks.\(network) \(address): an IPv4 address inside that network's subnet (or null for one the engine picks)"
                    )
                }
            }
            if let mode = service.networkMode {
                guard mode == "host" || mode == "none" || mode.hasPrefix("container:") else {
                    throw fail(
                        "\(at).networkMode",
                        "services.\(service.name).networkMode \(mode): use host, none or container:<service>")
                }
                guard service.networks == nil else {
                    throw fail(
                        "\(at).networkMode", "services.\(service.name): networkMode and networks exclude each other")
                }
            }
        }
        for (index, service) in self.services.enumerated() {
            if let mode = service.networkMode, mode.hasPrefix("container:"),
                !serviceNames.contains(String(mode.dropFirst(10)))
            {
                throw fail(
                    "services[\(index)].networkMode",
                    "services.\(service.name).networkMode: no service named \(mode.dropFirst(10))")
            }
        }
        for (index, traffic) in (self.traffic ?? []).enumerated() {
            guard serviceNames.contains(traffic.from) else {
                throw fail("traffic[\(index)].from", "traffic: no service named \(traffic.from)")
            }
            guard !traffic.command.isEmpty else {
                throw fail("traffic[\(index)].command", "traffic from \(traffic.from): the command is empty")
            }
        }
        try self.validatePKI(fail)
        for (index, finding) in (self.expect?.findings ?? []).enumerated() {
            let at = "expect.findings[\(index)]"
            // A service or network name, several joined by commas, an endpoint (`cache 198.18.41.50:6379/tcp`), or a
            // pattern (edges: "api -> db *:5432/tcp").
            let names = (finding.location.split(separator: " ").first.map(String.init) ?? "").split(separator: ",").map(
                String.init)
            let isPattern =
                finding.location.contains("->") || finding.location.contains("*") || finding.location.contains("?")
            guard
                isPattern
                    || names.allSatisfy({ serviceNames.contains($0) || subnets[$0] != nil || $0 == "host" })
            else {
                throw fail(
                    "\(at).location",
                    "expect.findings: location \(finding.location) is neither a service nor a network of this scenario")
            }
            guard Self.registeredKinds.contains(finding.kind) else {
                throw fail("\(at).kind", "expect.findings: \(finding.kind) is not a finding kind Bulkhead reports")
            }
        }
        for (index, rule) in (self.firewall ?? []).enumerated() {
            let at = "firewall[\(index)]"
            for (key, name) in [("from", rule.from), ("to", rule.to)] {
                guard let name else { continue }
                guard let service = self.services.first(where: { $0.name == name }) else {
                    throw fail("\(at).\(key)", "\(at): no service named \(name)")
                }
                guard (service.networks ?? [:]).values.contains(where: { $0 != nil }) else {
                    throw fail(
                        "\(at).\(key)",
                        "\(at): service \(name) needs a static address (networks: { net: 198.18.x.y }) for a firewall rule"
                    )
                }
            }
            guard FirewallRules.portArguments(rule.port) != nil else {
                throw fail("\(at).port", "\(at).port \(rule.port): use tcp/8081, udp/53 or icmp")
            }
            guard ["drop", "reject"].contains(rule.action) else {
                throw fail("\(at).action", "\(at).action \(rule.action): use drop or reject")
            }
            if let with = rule.with, !FirewallRules.rejectKinds.contains(with) {
                throw fail(
                    "\(at).with",
                    "\(at).with \(with): use one of \(FirewallRules.rejectKinds.sorted().joined(separator: ", "))")
            }
        }
        for (index, kind) in (self.expect?.ignoreKinds ?? []).enumerated() where !Self.registeredKinds.contains(kind) {
            throw fail(
                "expect.ignoreKinds[\(index)]", "expect.ignoreKinds: \(kind) is not a finding kind Bulkhead reports")
        }
        for port in self.probe?.ports ?? [] where PortSpec(port) == nil {
            throw fail("probe.ports", "probe.ports: \(port) is not a port (tcp/9999, udp/53)")
        }
        if let attempts = self.probe?.attempts, !(1...100).contains(attempts) {
            throw fail("probe.attempts", "probe.attempts \(attempts): 1 to 100")
        }
        if let timeout = self.probe?.timeout, !(timeout > 0 && timeout <= 60) {
            throw fail("probe.timeout", "probe.timeout \(timeout): more than 0 and at most 60 seconds")
        }
        do throws(PathError) {
            try self.policy?.validate(at: locator.scoped("policy"))
        } catch {
            throw ScenarioError(invalid: error)
        }
        for (key, value) in (self.expect?.reachability ?? [:]).sorted(by: { $0.key < $1.key }) {
            let at = "expect.reachability"
            guard let parsed = ReachabilityPattern(key) else {
                throw fail(at, "expect.reachability: '\(key)' is not 'source -> destination[@network] proto[/port]'")
            }
            for name in [parsed.source, parsed.destination]
            where !name.contains("*") && !name.contains("?") && name != "host" && !serviceNames.contains(name) {
                throw fail(at, "expect.reachability: '\(key)': no service named \(name)")
            }
            if let network = parsed.network, !network.contains("*"), !network.contains("?"), subnets[network] == nil {
                throw fail(at, "expect.reachability: '\(key)': no network named \(network)")
            }
            if let violation = value.violation,
                !["unexpected-reachable", "unexpected-blocked", "none"].contains(violation)
            {
                throw fail(
                    at,
                    "expect.reachability: '\(key)': violation \(violation): use unexpected-reachable, unexpected-blocked or none"
                )
            }
        }
    }

    /// The finding kinds an expectation may name.
    static let registeredKinds = Set(FindingKind.allRegistered.map(\.identifier))

    /// Certificate names are unique, issuers exist, and usage and key say something `up` can make: checked when the
    /// file is read, not half-way through `up`.
    private func validatePKI(_ fail: (String, String) -> ScenarioError) throws(ScenarioError) {
        var certificateNames = Set(["ca", "rogue-ca"])
        for (index, certificate) in (self.pki?.certificates ?? []).enumerated() {
            let at = "pki.certificates[\(index)]"
            guard certificateNames.insert(certificate.name).inserted else {
                throw fail("\(at).name", "pki.certificates.\(certificate.name): defined twice (or reserved)")
            }
            if let usage = certificate.usage, !["server", "client", "both", "none"].contains(usage) {
                throw fail(
                    "\(at).usage", "pki.certificates.\(certificate.name).usage \(usage): server, client, both or none")
            }
            if let issuer = certificate.issuer, !["ca", "rogue", "self"].contains(issuer) {
                throw fail("\(at).issuer", "pki.certificates.\(certificate.name).issuer \(issuer): ca, rogue or self")
            }
            if let key = certificate.key, !LabPKI.isKnownKey(key) {
                throw fail(
                    "\(at).key",
                    "pki.certificates.\(certificate.name).key \(key): ec (P-256) or rsa:<bits> (512 to 16384)")
            }
        }
        if self.services.contains(where: { $0.pki == true }) && self.pki == nil {
            throw fail("services", "a service mounts the PKI but the scenario has no pki section")
        }
    }
}
