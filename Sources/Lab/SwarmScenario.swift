import Audit
import BulkheadModel
import ContainerEngine
import Foundation
import Policy

/// A Swarm scenario: a two-node swarm (the lab of ``SwarmLab``), its overlays and global services, and the findings
/// every node's audit must report. `scenario up/run/down` recognise it by its `swarm` key.
///
/// ```yaml
/// name: swarm-fleet
/// swarm: { slot: 9 }
/// overlays:
///   - { name: plain }
///   - { name: secret, encrypted: true }
/// services:
///   - name: web
///     command: [httpd, -f, -p, "8080", -h, /tmp]
///     networks: [plain]
///     publish: [{ published: 18080, target: 8080 }]
/// expect:
///   findings:
///     - { kind: swarm-cross-node-plaintext-overlay, location: plain }
///     - { kind: swarm-encrypted-overlay-drops-traffic, location: secret, nodes: [1, 2] }
/// ```
public struct SwarmScenario: Codable, Sendable {
    public struct SwarmSettings: Codable, Sendable {
        /// The lab's address block 198.19.(16×slot).0/20, 1…14 (default 9).
        public var slot: Int?
    }

    public struct Overlay: Codable, Sendable {
        public var name: String
        public var encrypted: Bool?
    }

    public struct Port: Codable, Sendable {
        public var published: Int
        public var target: Int
    }

    public struct Service: Codable, Sendable {
        public var name: String
        public var command: [String]
        public var networks: [String]
        public var environment: [String: String]?
        public var publish: [Port]?
        public var capAdd: [String]?
    }

    public struct ExpectedFinding: Codable, Sendable, Hashable {
        public var kind: String
        /// The finding's location, when it must be this one.
        public var location: String?
        /// The nodes (1 = manager, 2 = worker) whose reports must hold it; both when absent.
        public var nodes: [Int]?
    }

    public struct Expectations: Codable, Sendable {
        public var findings: [ExpectedFinding]?
    }

    public var name: String
    public var description: String?
    public var swarm: SwarmSettings
    public var overlays: [Overlay]
    public var services: [Service]
    public var expect: Expectations?

    static let knownKeys: YAMLDocument.KnownKeys = [
        "": ["name", "description", "swarm", "overlays", "services", "expect"],
        "swarm": ["slot"],
        "overlays.*": ["name", "encrypted"],
        "services.*": ["name", "command", "networks", "environment", "publish", "capAdd"],
        "services.*.publish.*": ["published", "target"],
        "expect": ["findings"],
        "expect.findings.*": ["kind", "location", "nodes"],
    ]

    /// Whether a scenario file is a Swarm scenario (a top-level `swarm` key).
    public static func isSwarm(path: String) -> Bool {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return false }
        return text.split(separator: "\n").contains { $0.hasPrefix("swarm:") }
    }

    /// Reads and checks a Swarm scenario file.
    ///
    /// - Throws: ``ScenarioError`` naming the file and the line or key at fault.
    public static func load(path: String) throws(ScenarioError) -> SwarmScenario {
        let scenario: SwarmScenario
        do throws(PathError) {
            scenario = try YAMLDocument.load(SwarmScenario.self, path: path, knownKeys: Self.knownKeys)
        } catch {
            throw ScenarioError(.invalid, path: error.path, message: error.message)
        }
        func invalid(_ message: String) -> ScenarioError { ScenarioError(.invalid, path: path, message: message) }
        let safe = { (name: String) in
            !name.isEmpty && name.count <= 40
                && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
        guard safe(scenario.name) else { throw invalid("name \(scenario.name): use letters, digits and dashes") }
        if let slot = scenario.swarm.slot, !(1...14).contains(slot) { throw invalid("swarm.slot must be 1…14") }
        let overlays = Set(scenario.overlays.map(\.name))
        for overlay in scenario.overlays where !safe(overlay.name) {
            throw invalid("overlay \(overlay.name): bad name")
        }
        for service in scenario.services {
            guard safe(service.name) else { throw invalid("service \(service.name): bad name") }
            guard !service.command.isEmpty else { throw invalid("service \(service.name): empty command") }
            for network in service.networks where !overlays.contains(network) {
                throw invalid("service \(service.name): network \(network) is not one of the overlays")
            }
        }
        let registered = Set(FindingKind.allRegistered.map(\.identifier))
        for finding in scenario.expect?.findings ?? [] where !registered.contains(finding.kind) {
            throw invalid("expect.findings: \(finding.kind) is not a finding kind Bulkhead reports")
        }
        return scenario
    }

    /// The lab's name: `bs` and six hex digits of the scenario's name (the same for `up`, `run` and `down`).
    public var labName: String {
        var hash: UInt32 = 2_166_136_261
        for byte in self.name.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return "bs" + String(format: "%06x", hash & 0xFF_FFFF)
    }

    public var spec: SwarmLabSpec {
        SwarmLabSpec(
            overlays: self.overlays.map { SwarmLabSpec.Overlay(name: $0.name, encrypted: $0.encrypted ?? false) },
            services: self.services.map { service in
                SwarmLabSpec.Service(
                    name: service.name, command: service.command, networks: service.networks,
                    environment: service.environment ?? [:],
                    hostPorts: (service.publish ?? []).map {
                        SwarmLabSpec.HostPort(published: $0.published, target: $0.target)
                    },
                    capabilities: service.capAdd ?? [])
            })
    }

    /// The lab script for a scenario file: `BULKHEAD_SWARM_LAB`, else `../swarm-lab/lab.sh` beside its folder.
    public static func script(scenarioPath: String) -> String {
        let folder = URL(fileURLWithPath: scenarioPath).deletingLastPathComponent()
        return ProcessInfo.processInfo.environment["BULKHEAD_SWARM_LAB"]
            ?? folder.deletingLastPathComponent().appendingPathComponent("swarm-lab/lab.sh").path
    }
}

/// A Swarm scenario's run: each node's audit report and how its findings compare with the expectations.
public struct SwarmScenarioOutcome: Sendable {
    public var reports: [AuditReport]
    /// `node N: kind at location` for every expected finding a node's report lacks.
    public var missing: [String]

    public var matches: Bool { self.missing.isEmpty }
}

extension SwarmScenario {
    /// Audits every node of the lab (inventory with `--swarm`, probes, TLS), as `audit --swarm` does on each node, and
    /// compares each report with the expected findings.
    public func audit(lab: SwarmLab, progress: @escaping @Sendable (String) -> Void) -> SwarmScenarioOutcome {
        var reports: [AuditReport] = []
        var missing: [String] = []
        for node in lab.nodes {
            var options = AuditOptions()
            options.swarm = true
            let gathered = AuditRunner.gather(engine: DockerEngine(socketPath: node.socket), options: options) {
                progress("node \(node.index): \($0)")
            }
            let report = AuditJudgement.judge(gathered, policy: options.policy, policyName: options.policyName).report
            reports.append(report)
            for expected in self.expect?.findings ?? [] where expected.nodes?.contains(node.index) ?? true {
                let found = report.findings.contains { finding in
                    finding.kind.identifier == expected.kind
                        && (expected.location.map { $0 == finding.location } ?? true)
                }
                if !found {
                    missing.append("node \(node.index): \(expected.kind) at \(expected.location ?? "any location")")
                }
            }
        }
        return SwarmScenarioOutcome(reports: reports, missing: missing)
    }
}
