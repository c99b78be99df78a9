import BulkheadModel
import ContainerEngine
import Foundation
import NetworkNamespaces

/// Builds an inventory from a live engine, from `docker inspect` files, or from the host's network namespaces.
public enum InventoryCollector {
    /// Everything the engine knows about networks and containers, plus each running container's namespace,
    /// capabilities and listening sockets read from `/proc`.
    ///
    /// A container that disappears between listing and inspection is kept, marked `vanished`, and the
    /// inventory is marked incomplete: nothing is dropped silently. So is one whose inspection fails otherwise (an
    /// HTTP 500, an engine that goes away half-way), marked `uninspected`: everything else read is kept. Only the
    /// lists themselves are needed whole.
    public static func fromEngine(_ engine: DockerEngine) throws(EngineError) -> InventoryReport {
        let started = Date()
        try engine.connect()
        let networkList = try engine.get("/networks", as: [DockerAPI.Network].self)
        let containerList = try engine.get("/containers/json?all=true", as: [DockerAPI.ContainerSummary].self)
        var report = Self.inspect(engine, networkList: networkList, containerList: containerList)
        report.summary.apiCalls = engine.apiCalls
        report.summary.durationSeconds = Date().timeIntervalSince(started)
        return report
    }

    /// The second half of ``fromEngine(_:)``: inspects what the lists named. Objects that are gone by now
    /// are reported as vanished; one whose inspection fails otherwise is a problem of its own, named, and the rest
    /// is kept (one bad answer threw away every container and network already read).
    static func inspect(
        _ engine: DockerEngine, networkList: [DockerAPI.Network], containerList: [DockerAPI.ContainerSummary]
    ) -> InventoryReport {
        var problems: [String] = []
        // Inspections are independent: run a few at once (the engine serves them concurrently).
        let networks = Self.concurrently(networkList) { summary -> Result<DockerAPI.Network, EngineError> in
            Result { () throws(EngineError) in try engine.get("/networks/\(summary.Id)", as: DockerAPI.Network.self) }
        }
        let containers = Self.concurrently(containerList) { summary -> Result<DockerAPI.Container, EngineError> in
            Result { () throws(EngineError) in
                try engine.get("/containers/\(summary.Id)/json", as: DockerAPI.Container.self)
            }
        }
        var inspectedNetworks: [DockerAPI.Network] = []
        for (summary, result) in zip(networkList, networks) {
            switch result {
            case .success(let network): inspectedNetworks.append(network)
            case .failure(let error) where error.code == .notFound:
                problems.append("network \(summary.Name) vanished while being inventoried")
            case .failure(let error):
                // The list's entry has the subnets, options and labels; only the members are missing.
                problems.append(
                    "network \(summary.Name) could not be inspected (\(Self.cause(error))): its members are not listed")
                inspectedNetworks.append(summary)
            }
        }
        var records: [ContainerRecord] = []
        for (summary, result) in zip(containerList, containers) {
            switch result {
            case .success(let container):
                records.append(Self.record(container, live: true))
            case .failure(let error):
                let name = summary.Names?.first.map { String($0.drop { $0 == "/" }) } ?? String(summary.Id.prefix(12))
                let vanished = error.code == .notFound
                let cause = Self.cause(error)
                problems.append(
                    vanished
                        ? "container \(name) vanished while being inventoried"
                        : "container \(name) could not be inspected (\(cause)): its network, sockets and isolation were "
                            + "not examined")
                records.append(
                    ContainerRecord(
                        name: name, id: summary.Id, image: "", state: vanished ? "vanished" : "uninspected", pid: nil,
                        netns: nil, networkMode: "", networks: [], publishedPorts: [], capabilities: [],
                        privileged: false, dockerSocketMounted: false, listening: [], labels: summary.Labels ?? [:]))
            }
        }
        return Self.assemble(
            networks: inspectedNetworks.map(Self.record), containers: records,
            sources: ["docker \(engine.client.socketPath) (engine \(engine.engineVersion), API \(engine.version))"],
            problems: problems)
    }

    /// What went wrong with an inspection, without the request it names (`GET /containers/<id>/json: `): the
    /// problem names the object by its name, where the id told a reader nothing.
    static func cause(_ error: EngineError) -> String {
        guard error.message.hasPrefix("GET "), let colon = error.message.range(of: ": ") else { return error.message }
        return String(error.message[colon.upperBound...])
    }

    /// Reads `docker inspect` and `docker network inspect` output (JSON arrays, or one object), for analysis
    /// away from the host. Each element is recognised by its shape.
    ///
    /// - Throws: ``InventoryFileError`` naming the file (and the element) that cannot be read.
    /// The same object (same `Id`, same content) given twice, in one file or in two (`--from-file x --from-file x`),
    /// is read once: listed twice it would overlap itself (a false `overlapping-subnets`). The same `Id` with other
    /// content, two containers of one name (a policy's selectors would see only one of them) and addresses or
    /// subnets that are not addresses (`999.1.1.1`, `/33`: nothing would ever match them) are refused, naming the
    /// file, line and column and the JSON path.
    public static func fromFiles(_ paths: [String]) throws(InventoryFileError) -> InventoryReport {
        var networks: [NetworkRecord] = []
        var containers: [ContainerRecord] = []
        var seen = InspectObjects()
        for path in paths {
            let bytes: [UInt8]
            do { bytes = try InputFile.contents(of: path, limit: JSONInput.sizeLimit) } catch {
                throw InventoryFileError(.unreadable, path: error.path, message: error.message)
            }
            let parsed: Any
            do { parsed = try JSONSerialization.jsonObject(with: Data(bytes)) } catch {
                var located = path
                var problem = Self.jsonProblem(error)
                if let syntax = JSONGrammar.firstProblem(in: bytes) {
                    located = JSONInput.place(path, at: syntax.offset, in: bytes)
                    problem = syntax.message
                }
                throw InventoryFileError(
                    .notInspectOutput, path: located,
                    message: "not JSON (\(problem)); expected `docker inspect` or `docker network inspect` output")
            }
            let isArray = parsed is [Any]
            let elements: [Any] = (parsed as? [Any]) ?? [parsed]
            for (index, element) in elements.enumerated() {
                guard let object = element as? [String: Any] else {
                    throw InventoryFileError(.badElement, path: path, message: "element \(index) is not an object")
                }
                let elementData: Data
                do { elementData = try JSONSerialization.data(withJSONObject: object) } catch {
                    throw InventoryFileError(.badElement, path: path, message: "element \(index) cannot be re-encoded")
                }
                let place = InspectPlace(path: path, bytes: bytes, element: index, inArray: isArray)
                do {
                    if object["IPAM"] != nil || (object["Driver"] != nil && object["State"] == nil) {
                        let network = try JSONDecoder().decode(DockerAPI.Network.self, from: elementData)
                        try Self.checkAddresses(network, at: place)
                        guard try seen.isNew(network.Id, name: nil, object: object, at: place) else { continue }
                        networks.append(Self.record(network))
                    } else if object["State"] != nil || object["HostConfig"] != nil {
                        let container = try JSONDecoder().decode(DockerAPI.Container.self, from: elementData)
                        try Self.checkAddresses(container, at: place)
                        let record = Self.record(container, live: false)
                        guard try seen.isNew(container.Id, name: record.name, object: object, at: place) else {
                            continue
                        }
                        containers.append(record)
                    } else {
                        throw InventoryFileError(
                            .badElement, path: path,
                            message:
                                "element \(index) is neither a container nor a network (no State/HostConfig or IPAM/Driver)"
                        )
                    }
                } catch let error as InventoryFileError {
                    throw error
                } catch let error as DecodingError {
                    // Said where the value is in the file: the element, then the path the decoder reached in it.
                    let (named, at, problem) = JSONInput.explain(error)
                    let inFile: [any CodingKey] = (isArray ? [ElementIndex(index)] : []) + at
                    throw InventoryFileError(
                        .badElement, path: JSONInput.located(path, inFile, in: bytes),
                        message: "element \(index), \(JSONInput.path(named)): \(problem)")
                } catch {
                    throw InventoryFileError(.badElement, path: path, message: "element \(index): \(error)")
                }
            }
        }
        return Self.assemble(
            networks: networks, containers: containers, sources: paths.map { "file \($0)" }, problems: [])
    }

    /// Refuses a subnet or gateway of a `docker network inspect` element that is not one.
    static func checkAddresses(_ network: DockerAPI.Network, at place: InspectPlace) throws(InventoryFileError) {
        for (number, config) in (network.IPAM?.Config ?? []).enumerated() {
            let at: [InspectPlace.Key] = [.key("IPAM"), .key("Config"), .index(number)]
            if let subnet = config.Subnet, !subnet.isEmpty, CIDR.parse(subnet) == nil {
                throw place.fail(at + [.key("Subnet")], "'\(subnet)' is not a subnet (an address and a prefix length)")
            }
            if let gateway = config.Gateway, !gateway.isEmpty, IPAddress(gateway) == nil {
                throw place.fail(at + [.key("Gateway")], "'\(gateway)' is not an IP address")
            }
        }
    }

    /// Refuses an address or gateway of a `docker inspect` element's networks that is not an IP address.
    static func checkAddresses(_ container: DockerAPI.Container, at place: InspectPlace) throws(InventoryFileError) {
        for (name, endpoint) in (container.NetworkSettings?.Networks ?? [:]).sorted(by: { $0.key < $1.key }) {
            for (key, value) in [
                ("IPAddress", endpoint.IPAddress), ("Gateway", endpoint.Gateway),
                ("GlobalIPv6Address", endpoint.GlobalIPv6Address), ("IPv6Gateway", endpoint.IPv6Gateway),
            ] {
                guard let value, !value.isEmpty, IPAddress(value) == nil else { continue }
                throw place.fail(
                    [.key("NetworkSettings"), .key("Networks"), .key(name), .key(key)],
                    "'\(value)' is not an IP address")
            }
        }
    }

    /// Adds the host's network namespaces that no listed container owns.
    public static func addNamespaces(to report: inout InventoryReport) {
        let owned = Set(report.containers.compactMap(\.netns))
        // The namespace Bulkhead itself runs in is the host's (it runs on the host, as root, to see the others).
        let host = NetworkNamespace(path: "/proc/self/ns/net").identity()
        for namespace in ProcNet.discoverNamespaces()
        where !owned.contains(namespace.identity) && namespace.identity != host {
            let name =
                namespace.name ?? namespace.pids.first.map { "pid \($0) (\(ProcNet.command(pid: $0) ?? "?"))" }
                ?? namespace.path
            var addresses: [String] = []
            var listening: [ListeningSocket] = []
            if let pid = namespace.pids.first {
                addresses = ProcNet.addresses(root: "/proc/\(pid)/net")
                listening = ProcNet.listeningSockets(root: "/proc/\(pid)/net")
            } else if let view = try? NetworkNamespace(path: namespace.path).run({
                (
                    ProcNet.addresses(root: "/proc/thread-self/net"),
                    ProcNet.listeningSockets(root: "/proc/thread-self/net")
                )
            }) {
                addresses = view.0
                listening = view.1
            } else {
                report.problems.append("namespace \(name): cannot be entered to read its addresses")
                report.complete = false
            }
            report.namespaces.append(
                NamespaceRecord(
                    name: name, netns: namespace.identity, pids: namespace.pids, addresses: addresses,
                    listening: listening))
        }
        report.sources.append("network namespaces (/run/netns, /proc/*/ns/net)")
        report.summary.namespaces = report.namespaces.count
    }

    // MARK: - Records

    static func record(_ network: DockerAPI.Network) -> NetworkRecord {
        let options = network.Options ?? [:]
        let configs = network.IPAM?.Config ?? []
        let isDefault = options["com.docker.network.bridge.default_bridge"] == "true"
        var bridge: String?
        if network.Driver == "bridge" {
            bridge = options["com.docker.network.bridge.name"] ?? "br-\(network.Id.prefix(12))"
        }
        let members = (network.Containers ?? [:]).map { $0.value.Name ?? String($0.key.prefix(12)) }.sorted()
        return NetworkRecord(
            name: network.Name, id: network.Id, driver: network.Driver ?? "unknown", scope: network.Scope ?? "local",
            subnets: configs.compactMap(\.Subnet), gateways: configs.compactMap(\.Gateway),
            internal: network.Internal ?? false,
            icc: options["com.docker.network.bridge.enable_icc"].map { $0 != "false" } ?? true,
            encrypted: network.Driver == "overlay" ? options["encrypted"] != nil : nil,
            attachable: network.Attachable ?? false, isDefaultBridge: isDefault, bridge: bridge, containers: members,
            labels: network.Labels ?? [:])
    }

    /// Docker's default capability set holds these network-relevant ones.
    static let defaultCapabilities: Set<String> = ["NET_RAW", "NET_BIND_SERVICE"]

    static func record(_ container: DockerAPI.Container, live: Bool) -> ContainerRecord {
        let name = (container.Name ?? String(container.Id.prefix(12))).drop { $0 == "/" }
        let host = container.HostConfig
        let privileged = host?.Privileged ?? false
        var pid = container.State?.Pid
        if pid == 0 { pid = nil }
        var capabilities: [String]
        if live, let pid, let effective = ProcNet.networkCapabilities(pid: pid) {
            capabilities = effective
        } else {
            // Offline: default set, plus CapAdd, minus CapDrop (ALL drops every default).
            let normalise = { (cap: String) in cap.uppercased().replacingOccurrences(of: "CAP_", with: "") }
            var set = Self.defaultCapabilities
            let dropped = Set((host?.CapDrop ?? []).map(normalise))
            if dropped.contains("ALL") { set.removeAll() } else { set.subtract(dropped) }
            set.formUnion(
                (host?.CapAdd ?? []).map(normalise).filter {
                    ProcNet.networkCapabilityBits.map(\.1).contains($0) || $0 == "ALL"
                })
            if set.contains("ALL") || privileged { set = Set(ProcNet.networkCapabilityBits.map(\.1)) }
            capabilities = ProcNet.networkCapabilityBits.map(\.1).filter(set.contains)
        }
        var networks: [ContainerNetwork] = []
        for (networkName, endpoint) in (container.NetworkSettings?.Networks ?? [:]).sorted(by: { $0.key < $1.key }) {
            let ipv4 = endpoint.IPAddress.flatMap { $0.isEmpty ? nil : $0 }
            let ipv6 = endpoint.GlobalIPv6Address.flatMap { $0.isEmpty ? nil : $0 }
            let gateway = endpoint.Gateway.flatMap { $0.isEmpty ? nil : $0 }
            let aliases = Array(Set((endpoint.Aliases ?? []) + (endpoint.DNSNames ?? []))).sorted()
            networks.append(
                ContainerNetwork(name: networkName, ipv4: ipv4, ipv6: ipv6, gateway: gateway, aliases: aliases))
        }
        var ports: [PublishedPort] = []
        let portMap = container.NetworkSettings?.Ports ?? host?.PortBindings ?? [:]
        for (key, bindings) in portMap {
            let parts = key.split(separator: "/")
            guard let containerPort = parts.first.flatMap({ Int($0) }) else { continue }
            let proto = parts.count > 1 ? String(parts[1]) : "tcp"
            for binding in bindings ?? [] {
                guard let hostPort = binding.HostPort.flatMap(Int.init) else { continue }
                let hostIP = binding.HostIp.flatMap { $0.isEmpty ? nil : $0 } ?? "0.0.0.0"
                ports.append(
                    PublishedPort(containerPort: containerPort, proto: proto, hostIP: hostIP, hostPort: hostPort))
            }
        }
        ports.sort { ($0.hostPort, $0.proto, $0.hostIP) < ($1.hostPort, $1.proto, $1.hostIP) }
        let socketMounted = (container.Mounts ?? []).contains { mount in
            let source = mount.Source ?? ""
            return source.hasSuffix("docker.sock") || source.hasSuffix("podman.sock")
                || (mount.Destination ?? "").hasSuffix("docker.sock")
        }
        var netns: String?
        var listening: [ListeningSocket] = []
        if live, let pid {
            netns = NetworkNamespace(pid: pid).identity()
            listening = ProcNet.listeningSockets(root: "/proc/\(pid)/net")
        }
        return ContainerRecord(
            name: String(name), id: container.Id, image: container.Config?.Image ?? container.Image ?? "",
            state: container.State?.Status ?? "unknown", pid: pid, netns: netns,
            networkMode: host?.NetworkMode ?? "default",
            networks: networks, publishedPorts: ports, capabilities: capabilities, privileged: privileged,
            dockerSocketMounted: socketMounted, listening: listening, labels: container.Config?.Labels ?? [:])
    }

    static func assemble(
        networks: [NetworkRecord], containers: [ContainerRecord], sources: [String], problems: [String]
    ) -> InventoryReport {
        // Resolve `container:<id>` network modes to names, so reports read well.
        var names: [String: String] = [:]
        for container in containers {
            names[container.id] = container.name
            names[String(container.id.prefix(12))] = container.name
        }
        let resolved = containers.map { container -> ContainerRecord in
            var copy = container
            if copy.networkMode.hasPrefix("container:") {
                let target = String(copy.networkMode.dropFirst("container:".count))
                copy.networkMode = "container:" + (names[target] ?? target)
            }
            return copy
        }.sorted { $0.name < $1.name }
        let sortedNetworks = networks.sorted { $0.name < $1.name }
        var summary = InventorySummary()
        summary.networks = sortedNetworks.count
        summary.containers = resolved.count
        let findings = InventoryFindings.evaluate(networks: sortedNetworks, containers: resolved)
        for finding in findings { summary.findingsBySeverity[finding.severity.rawValue, default: 0] += 1 }
        return InventoryReport(
            sources: sources, networks: sortedNetworks, containers: resolved, namespaces: [], findings: findings,
            complete: problems.isEmpty, problems: problems, summary: summary)
    }

    /// Maps `body` over `items` with up to eight at a time, keeping order.
    static func concurrently<T: Sendable, R: Sendable>(_ items: [T], _ body: @escaping @Sendable (T) -> R) -> [R] {
        let results = ConcurrentResults<R>(count: items.count)
        DispatchQueue.concurrentPerform(iterations: min(8, max(1, items.count))) { worker in
            var index = worker
            while index < items.count {
                results.set(index, body(items[index]))
                index += min(8, max(1, items.count))
            }
        }
        return results.values()
    }

    static func jsonProblem(_ error: any Error) -> String {
        let description = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
        return description ?? "malformed JSON"
    }
}

/// Where an element of an inspect file sits, to name the file, line and column of a value refused in it.
struct InspectPlace {
    /// One step of a JSON path inside the element.
    enum Key {
        case key(String)
        case index(Int)
    }

    var path: String
    var bytes: [UInt8]
    /// The element's index in the file (0 when the file holds one object).
    var element: Int
    /// Whether the file is an array of elements (`docker inspect` writes one) rather than one object.
    var inArray: Bool

    /// `file:line:column: element N, A.B[0].C: message`.
    func fail(_ keys: [Key], _ message: String) -> InventoryFileError {
        let path: [any CodingKey] = keys.map { key in
            switch key {
            case .key(let name): NamedKey(name)
            case .index(let index): ElementIndex(index)
            }
        }
        return InventoryFileError(
            .badElement,
            path: JSONInput.located(
                self.path, (self.inArray ? [ElementIndex(self.element)] : []) + path, in: self.bytes),
            message: "element \(self.element), \(JSONInput.path(path)): \(message)")
    }

    /// `file:line:column` of the element itself.
    var located: String {
        self.inArray ? JSONInput.located(self.path, [ElementIndex(self.element)], in: self.bytes) : self.path
    }
}

/// The objects read so far from inspect files, by `Id`, and the containers by name: what makes a second reading of
/// one object a duplicate to drop and a second object of one name or `Id` an error.
struct InspectObjects {
    private var byID: [String: (content: Data, place: String)] = [:]
    private var containerNames: [String: String] = [:]

    /// Whether the element at `place` is new; false for an exact duplicate of one read before (same `Id`, same
    /// content). Throws for the same `Id` with other content, or a container name already taken by another `Id`.
    mutating func isNew(_ id: String, name: String?, object: [String: Any], at place: InspectPlace)
        throws(InventoryFileError) -> Bool
    {
        // The content compared as canonical JSON (keys sorted): Foundation's dictionary equality is not reliable
        // across the bridged values JSONSerialization returns on Linux.
        let content = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        if let earlier = self.byID[id] {
            guard earlier.content == content, !content.isEmpty else {
                throw InventoryFileError(
                    .badElement, path: place.located,
                    message:
                        "element \(place.element) has the Id \(id.prefix(12)) of the object at \(earlier.place), with other content: two versions of one object"
                )
            }
            return false
        }
        if let name {
            if let earlier = self.containerNames[name] {
                throw InventoryFileError(
                    .badElement, path: place.located,
                    message:
                        "element \(place.element): a second container named \(name) (the first at \(earlier)); a container's name is unique on a host"
                )
            }
            self.containerNames[name] = place.located
        }
        self.byID[id] = (content, place.located)
        return true
    }
}

/// A member of an object, as a coding path names it.
private struct NamedKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }

    init(_ name: String) { self.stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// The position of an element in a top-level array, as a coding path names it.
private struct ElementIndex: CodingKey {
    let intValue: Int?
    var stringValue: String { "Index \(self.intValue ?? 0)" }

    init(_ index: Int) { self.intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

/// Results written by several threads at distinct indexes.
private final class ConcurrentResults<R>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [R?]

    init(count: Int) { self.storage = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: R) { self.lock.withLock { self.storage[index] = value } }

    func values() -> [R] { self.lock.withLock { self.storage.compactMap { $0 } } }
}

/// An inventory file that cannot be read, naming the file and what is wrong with it.
public typealias InventoryFileError = CodedPathError<InventoryFileErrorCode>

/// The codes of ``InventoryFileError``.
public enum InventoryFileErrorCode: String, Sendable {
    case unreadable
    /// Not JSON, or not the array `docker inspect` writes.
    case notInspectOutput = "not-inspect-output"
    /// An element that is neither a container nor a network, or does not decode as one.
    case badElement = "bad-element"
}
