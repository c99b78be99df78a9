import BulkheadModel
import ContainerEngine
import Foundation
import Inventory
import Policy

extension EngineError.Code {
    /// A scenario's subnet overlaps a network or a route this host already has.
    public static let subnetTaken = EngineError.Code("subnet-taken")
}

/// Stands scenarios up as real Docker networks and containers, and removes exactly what it made.
///
/// Everything `up` creates carries the scenario's label; `down` removes by that label, so it also cleans up
/// after an `up` that failed half-way or a run that crashed.
public struct LabRunner: Sendable {
    public let engine: DockerEngine
    /// The image services use unless they name one (built by `scenarios/lab-image/build.sh`).
    public var labImage: String

    /// Where scenario state (the generated PKI) lives: `<stateDirectory>/<scenario>`.
    public var stateDirectory: URL

    public init(
        engine: DockerEngine,
        labImage: String = ProcessInfo.processInfo.environment["BULKHEAD_LAB_IMAGE"] ?? "bulkhead-lab:latest",
        stateDirectory: URL = URL(
            fileURLWithPath: ProcessInfo.processInfo.environment["BULKHEAD_LAB_STATE"] ?? "/tmp/bulkhead-lab")
    ) {
        self.engine = engine
        self.labImage = labImage
        self.stateDirectory = stateDirectory
    }

    /// The folder holding a scenario's generated PKI.
    public func pkiDirectory(_ scenario: Scenario) -> URL {
        self.stateDirectory.appendingPathComponent(scenario.name).appendingPathComponent("pki")
    }

    /// Creates the scenario's networks and containers and starts them (removing leftovers of an earlier run
    /// first).
    ///
    /// - Throws: ``EngineError`` from the engine, with the object that could not be made; what was made
    ///   before stays labelled for ``down(_:)``.
    public func up(_ scenario: Scenario) throws(EngineError) {
        try self.engine.connect()
        try self.down(scenario)
        // Before anything is made: a taken subnet would fail half-way with the engine's "Pool overlaps", which names
        // neither the network nor what holds the range.
        if let (network, holder) = scenario.conflicts(in: try LabAddressSpace.current(engine: self.engine)).first {
            throw EngineError(
                .subnetTaken,
                "network \(network.name): subnet \(network.subnet) overlaps \(holder) on this host; remove that, or move the "
                    + "scenario to free subnets with --relocate (every address in the file moves with its network)")
        }
        let image = try self.engine.send("GET", "/images/\(self.labImage)/json")
        guard image.status == 200 else {
            throw EngineError(
                .notFound, "the lab image \(self.labImage) is missing: build it with scenarios/lab-image/build.sh")
        }
        let labels = ["bulkhead.lab": "true", "bulkhead.scenario": scenario.name]
        if let pki = scenario.pki {
            do { try LabPKI.generate(pki, scenario: scenario.name, into: self.pkiDirectory(scenario)) } catch {
                throw EngineError(.malformed, error.description)
            }
        }
        for network in scenario.networks {
            var options: [String: String] = [:]
            if network.icc == false { options["com.docker.network.bridge.enable_icc"] = "false" }
            try self.post(
                "/networks/create",
                EngineAPI.NetworkCreate(
                    name: scenario.qualified(network.name), subnet: network.subnet, gateway: network.gateway,
                    internal: network.internal ?? false,
                    labels: labels, options: options), what: "network \(network.name)")
        }
        // Services sharing another's namespace start after it.
        let ordered = scenario.services.sorted {
            ($0.networkMode?.hasPrefix("container:") == true ? 1 : 0)
                < ($1.networkMode?.hasPrefix("container:") == true ? 1 : 0)
        }
        for service in ordered {
            let name = scenario.qualified(service.name)
            let attachments = (service.networks ?? [:]).sorted { $0.key < $1.key }
            let networkMode: String
            if let mode = service.networkMode {
                networkMode =
                    mode.hasPrefix("container:") ? "container:" + scenario.qualified(String(mode.dropFirst(10))) : mode
            } else if let first = attachments.first {
                networkMode = scenario.qualified(first.key)
            } else {
                networkMode = "none"
            }
            var binds: [String] = []
            if service.mountDockerSocket == true { binds.append("/var/run/docker.sock:/var/run/docker.sock") }
            if service.pki == true { binds.append("\(self.pkiDirectory(scenario).path):/pki:ro") }
            var exposed: [String] = []
            var bindings: [String: [EngineAPI.ContainerCreate.PortBinding]] = [:]
            for spec in service.publish ?? [] {
                guard let binding = Self.parsePublish(spec) else {
                    throw EngineError(
                        .malformed,
                        "service \(service.name): publish '\(spec)' is not [address:]hostPort:containerPort[/proto]")
                }
                exposed.append(binding.key)
                bindings[binding.key, default: []].append(
                    EngineAPI.ContainerCreate.PortBinding(hostIP: binding.hostIP, hostPort: binding.hostPort))
            }
            let host = EngineAPI.ContainerCreate.HostConfig(
                capAdd: service.capAdd ?? [], capDrop: service.capDrop ?? [], privileged: service.privileged ?? false,
                networkMode: networkMode,
                binds: binds, portBindings: bindings)
            let firstNetwork =
                service.networkMode == nil
                ? attachments.first.map { (scenario.qualified($0.key), Self.endpoint($0.value, alias: service.name)) }
                : nil
            try self.post(
                "/containers/create?name=\(name)",
                EngineAPI.ContainerCreate(
                    image: service.image ?? self.labImage,
                    labels: labels.merging(service.labels ?? [:]) { first, _ in first }, host: host,
                    exposedPorts: exposed, command: service.command, network: firstNetwork),
                what: "container \(service.name)")
            for (network, address) in attachments.dropFirst() where service.networkMode == nil {
                try self.post(
                    "/networks/\(scenario.qualified(network))/connect",
                    EngineAPI.NetworkConnect(container: name, endpoint: Self.endpoint(address, alias: service.name)),
                    what: "attaching \(service.name) to \(network)")
            }
            let started = try self.engine.send("POST", "/containers/\(name)/start")
            guard (200..<300).contains(started.status) else {
                throw EngineError(
                    .http,
                    "starting \(service.name): HTTP \(started.status): \(String(decoding: started.body.prefix(300), as: UTF8.self))",
                    status: started.status)
            }
        }
        try FirewallRules.apply(scenario)
    }

    /// Runs the scenario's traffic commands inside their services (through the engine's exec API) and
    /// returns each command's exit status; nil when it did not finish within `seconds`.
    public func generateTraffic(_ scenario: Scenario, seconds: Double = 30) throws(EngineError) -> [TrafficResult] {
        var results: [TrafficResult] = []
        for traffic in scenario.traffic ?? [] {
            let container = scenario.qualified(traffic.from)
            let created = try self.engine.send(
                "POST", "/containers/\(container)/exec", json: EngineAPI.ExecCreate(command: traffic.command))
            guard (200..<300).contains(created.status),
                let id = (try? JSONDecoder().decode(EngineAPI.Created.self, from: created.body))?.Id
            else {
                throw EngineError(
                    .http, "traffic from \(traffic.from): cannot create the exec (HTTP \(created.status))",
                    status: created.status)
            }
            let started = try self.engine.send("POST", "/exec/\(id)/start", json: EngineAPI.ExecStart())
            guard (200..<300).contains(started.status) else {
                throw EngineError(
                    .http, "traffic from \(traffic.from): cannot start the exec (HTTP \(started.status))",
                    status: started.status)
            }
            var exitCode: Int?
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                let inspected = try self.engine.send("GET", "/exec/\(id)/json")
                if let state = try? JSONDecoder().decode(EngineAPI.ExecInspect.self, from: inspected.body),
                    state.Running == false, let code = state.ExitCode
                {
                    exitCode = code
                    break
                }
                usleep(50_000)
            }
            results.append(
                TrafficResult(
                    from: traffic.from, command: traffic.command, exitCode: exitCode,
                    expectedExit: traffic.expectExit ?? 0))
        }
        return results
    }

    /// Removes every container and network labelled with the scenario's name, and its generated PKI.
    public func down(_ scenario: Scenario) throws(EngineError) {
        try? FileManager.default.removeItem(at: self.stateDirectory.appendingPathComponent(scenario.name))
        try FirewallRules.remove(scenario)
        let filter = Self.labelFilter(scenario.label)
        let containers = try self.engine.get(
            "/containers/json?all=true&filters=\(filter)", as: [DockerAPI.ContainerSummary].self)
        for container in containers {
            let removed = try self.engine.send("DELETE", "/containers/\(container.Id)?force=true&v=true")
            guard (200..<300).contains(removed.status) || removed.status == 404 else {
                throw EngineError(
                    .http, "removing container \(container.Id.prefix(12)): HTTP \(removed.status)",
                    status: removed.status)
            }
        }
        let networks = try self.engine.get("/networks?filters=\(filter)", as: [DockerAPI.Network].self)
        for network in networks {
            let removed = try self.engine.send("DELETE", "/networks/\(network.Id)")
            guard (200..<300).contains(removed.status) || removed.status == 404 else {
                throw EngineError(
                    .http, "removing network \(network.Name): HTTP \(removed.status)", status: removed.status)
            }
        }
    }

    /// Waits until every service container runs (or `seconds` pass).
    /// Waits until every container of the scenario runs and its listening sockets have settled: a server binds a
    /// moment after its container starts, and a probe sent before that would find the port closed. The sockets are
    /// read from each container's namespace (the inventory) until three readings 100 ms apart agree, at most
    /// `settleSeconds`; a server that binds later still is seen as closed, and the comparison with the scenario's
    /// expectations says so.
    ///
    /// - Returns: false when the containers are not all running within `seconds`.
    public func waitUntilReady(_ scenario: Scenario, seconds: Double = 20, settleSeconds: Double = 5)
        throws(EngineError) -> Bool
    {
        guard try self.waitUntilRunning(scenario, seconds: seconds) else { return false }
        let deadline = Date().addingTimeInterval(settleSeconds)
        var previous: [String: [ListeningSocket]]?
        var agreeing = 0
        while Date() < deadline {
            let inventory = try InventoryCollector.fromEngine(self.engine).scoped(label: scenario.label)
            let listening = Dictionary(
                inventory.containers.map { ($0.name, $0.listening.sorted()) }, uniquingKeysWith: { first, _ in first })
            if listening == previous {
                agreeing += 1
                if agreeing >= 2 { return true }
            } else {
                (previous, agreeing) = (listening, 0)
            }
            usleep(100_000)
        }
        return true
    }

    public func waitUntilRunning(_ scenario: Scenario, seconds: Double = 20) throws(EngineError) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        let filter = Self.labelFilter(scenario.label)
        while Date() < deadline {
            let containers = try self.engine.get(
                "/containers/json?all=true&filters=\(filter)", as: [DockerAPI.ContainerSummary].self)
            if containers.count == scenario.services.count && containers.allSatisfy({ $0.State == "running" }) {
                return true
            }
            usleep(100_000)
        }
        return false
    }

    private func post<Body: Encodable>(_ path: String, _ body: Body, what: String) throws(EngineError) {
        let response = try self.engine.send("POST", path, json: body)
        guard (200..<300).contains(response.status) else {
            let message =
                (try? JSONDecoder().decode(EngineAPI.ErrorMessage.self, from: response.body))?.message
                ?? "HTTP \(response.status)"
            throw EngineError(.http, "creating \(what): \(message)", status: response.status)
        }
    }

    static func endpoint(_ address: String?, alias: String) -> EngineAPI.EndpointSettings {
        EngineAPI.EndpointSettings(aliases: [alias], address: address)
    }

    static func labelFilter(_ label: String) -> String {
        let json = "{\"label\":[\"\(label)\"]}"
        return json.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? json
    }

    /// `[address:]hostPort:containerPort[/proto]` → ("containerPort/proto", hostIP, hostPort).
    static func parsePublish(_ spec: String) -> (key: String, hostIP: String, hostPort: String)? {
        var text = Substring(spec)
        var proto = "tcp"
        if let slash = text.lastIndex(of: "/") {
            proto = String(text[text.index(after: slash)...])
            text = text[..<slash]
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 || parts.count == 3, ["tcp", "udp"].contains(proto),
            let containerPort = Int(parts[parts.count - 1]), let hostPort = Int(parts[parts.count - 2]),
            (1...65_535).contains(containerPort), (1...65_535).contains(hostPort)
        else { return nil }
        let hostIP = parts.count == 3 ? String(parts[0]) : ""
        return ("\(containerPort)/\(proto)", hostIP, String(hostPort))
    }
}

/// The outcome of one traffic command.
public struct TrafficResult: Codable, Sendable, Hashable {
    public var from: String
    public var command: [String]
    /// Nil when the command had not finished in time.
    @ExplicitNull public var exitCode: Int?
    public var expectedExit: Int
    public var asExpected: Bool { self.exitCode == self.expectedExit }
}

/// How a scenario's findings compare with what it expects.
public struct ScenarioComparison: Codable, Sendable {
    public var scenario: String
    public var expected: [Scenario.ExpectedFinding]
    public var observed: [Scenario.ExpectedFinding]
    public var missing: [Scenario.ExpectedFinding]
    public var unexpected: [Scenario.ExpectedFinding]
    public var matches: Bool { self.missing.isEmpty && self.unexpected.isEmpty }

    /// Compares the findings about the scenario's own objects with its expectations. Locations are compared in
    /// the scenario's own names (the `<scenario>-` prefix removed); an expected location may use `*` and `?`
    /// (`"api -> host *:2375/tcp"`). Every observed finding must match an expected one, and every expected one
    /// must match at least one observed.
    public static func compare(_ scenario: Scenario, findings: [Finding]) -> ScenarioComparison {
        let prefix = "\(scenario.name)-"
        let ignored = Set(scenario.expect?.ignoreKinds ?? [])
        var observed = Set<Scenario.ExpectedFinding>()
        for finding in findings where !ignored.contains(finding.kind.identifier) {
            // Not about this scenario.
            guard let location = finding.location, location.contains(prefix) else { continue }
            observed.insert(
                Scenario.ExpectedFinding(
                    kind: finding.kind.identifier, location: location.replacingOccurrences(of: prefix, with: "")))
        }
        let expected = Set(scenario.expect?.findings ?? [])
        func matches(_ entry: Scenario.ExpectedFinding, _ finding: Scenario.ExpectedFinding) -> Bool {
            entry.kind == finding.kind && Selector.glob(entry.location, matches: finding.location)
        }
        let order = { (a: Scenario.ExpectedFinding, b: Scenario.ExpectedFinding) in
            (a.location, a.kind) < (b.location, b.kind)
        }
        return ScenarioComparison(
            scenario: scenario.name, expected: expected.sorted(by: order), observed: observed.sorted(by: order),
            missing: expected.filter { entry in !observed.contains { matches(entry, $0) } }.sorted(by: order),
            unexpected: observed.filter { finding in !expected.contains { matches($0, finding) } }.sorted(by: order))
    }
}
