import BulkheadModel
import BulkheadTestSupport
import Foundation

@testable import Reachability

#if canImport(Glibc)
    import Glibc
#endif

/// Plain network namespaces on one bridge (a ``NetnsBridgeLab``), probed by the engine as `probe --namespaces` does:
/// an inventory of these namespaces only (never the host's others), planned and run from one of them. Each test
/// takes a /24 of 198.18.104.0/22 of its own (the hosts at `<subnet>.<octet>/24`), so the tests run side by side,
/// and nothing they send leaves the lab's namespaces.
final class NamespaceProbeLab: @unchecked Sendable {
    let lab: NetnsBridgeLab
    /// The first three octets of the lab's /24 (`198.18.104`).
    let subnet: String
    /// Each host's namespace name and address, in the order they were added.
    private(set) var hosts: [(name: String, address: String)] = []
    /// Listeners each host's record in the inventory lists (as the inventory reads them from the namespace).
    var listening: [String: [ListeningSocket]] = [:]

    init(prefix: String, subnet: String) throws {
        self.lab = try NetnsBridgeLab(prefix: prefix)
        self.subnet = subnet
        try self.lab.addBridge("br0")
    }

    deinit { self.lab.remove() }

    /// A lab of two hosts: `a` at `<subnet>.1` (the source) and `b` at `<subnet>.2`.
    static func pair(prefix: String, subnet: String) throws -> (NamespaceProbeLab, a: String, b: String) {
        let lab = try NamespaceProbeLab(prefix: prefix, subnet: subnet)
        return (lab, try lab.host("a", 1), try lab.host("b", 2))
    }

    /// Adds the namespace `<prefix><suffix>` at `<subnet>.<octet>`; returns its name.
    @discardableResult
    func host(_ suffix: String, _ octet: Int) throws -> String {
        let address = "\(self.subnet).\(octet)"
        let name = try self.lab.addHost(suffix, address: "\(address)/24", bridge: "br0")
        self.hosts.append((name, address))
        return name
    }

    /// Runs a command in `namespace` and waits for it (iptables, sysctl, ip).
    func run(in namespace: String, _ command: [String]) throws {
        let result = try self.lab.run(in: namespace, command)
        guard result.status == 0 else {
            throw POSIXError(.EIO, userInfo: [NSLocalizedDescriptionKey: "\(command): \(result.error)"])
        }
    }

    /// Starts a Python program in `namespace` (stopped with the lab) and waits until it wrote `ready` into the file
    /// it gets as its one argument.
    func python(in namespace: String, _ script: String) throws {
        let ready = FileManager.default.temporaryDirectory.appendingPathComponent("bh-fxp-\(getpid())-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: ready) }
        try self.lab.start(in: namespace, ["/usr/bin/python3", "-c", script, ready])
        try Poll.until("the Python peer in \(namespace) ready", seconds: 10) {
            FileManager.default.fileExists(atPath: ready)
        }
    }

    /// `net:[inode]` of a named namespace, as the inventory records it.
    static func identity(_ name: String) -> String {
        var info = stat()
        guard stat("/run/netns/\(name)", &info) == 0 else { return "net:[0]" }
        return "net:[\(info.st_ino)]"
    }

    /// The processes in `namespace` (`ip netns pids`), lowest first, as the inventory lists them.
    func pids(_ namespace: String) -> [Int] {
        let output =
            (try? ProcessRunner.run(URL(fileURLWithPath: NetnsBridgeLab.ipPath), ["netns", "pids", namespace]))?
            .output ?? ""
        return output.split(separator: "\n").compactMap { Int($0) }.sorted()
    }

    /// The inventory `probe --namespaces` would read: these namespaces, their addresses (IPv4 without a prefix
    /// length, as `ProcNet.addresses` reads them from `fib_trie`) and listeners.
    func inventory() -> InventoryReport {
        InventoryReport(
            sources: ["network namespaces (test lab)"], networks: [], containers: [],
            namespaces: self.hosts.map { host in
                NamespaceRecord(
                    name: host.name, netns: Self.identity(host.name), pids: self.pids(host.name),
                    addresses: [host.address], listening: self.listening[host.name] ?? [])
            }, findings: [], complete: true, problems: [], summary: InventorySummary())
    }

    /// Plans from `source` over `inventory` (this lab's unless given) and runs the engine; cells of `source` only.
    func probe(
        from source: String, ports: [String] = [], targets: [String] = [], attempts: Int = 2, timeout: Double = 0.5,
        inventory: InventoryReport? = nil, adjust: (inout ProbeOptions) -> Void = { _ in }
    ) throws -> ProbeRunResult {
        var options = ProbeOptions()
        options.namespaces = true
        options.sources = [source]
        options.attempts = attempts
        options.tcpTimeout = timeout
        options.udpTimeout = timeout
        options.icmpTimeout = timeout
        options.extraPorts = ports.compactMap(PortSpec.init)
        options.explicitTargets = targets
        adjust(&options)
        let plan = try ProbePlanner.plan(inventory: inventory ?? self.inventory(), options: options)
        return ProbeEngine.run(plan: plan, options: options)
    }
}

extension ProbeRunResult {
    /// The cell towards `destination` (`ip:port`, or the address for ICMP) over `proto`.
    func cell(_ destination: String, _ proto: ProbeProtocol) -> ReachabilityCell? {
        self.cells.first { $0.destination == destination && $0.protocol == proto }
    }
}

extension ReachabilityCell {
    /// `state [outcome{errno}(type/code from sender), …] note`, for expectation messages.
    var summary: String {
        let attempts = self.evidence.map { attempt in
            attempt.outcome.rawValue + (attempt.errno.map { "{\($0)}" } ?? "")
                + (attempt.icmpType.map { "(\($0)/\(attempt.icmpCode ?? -1) from \(attempt.icmpFrom ?? "?"))" } ?? "")
        }
        return
            "\(self.destination)/\(self.protocol.rawValue): \(self.state.rawValue) [\(attempts.joined(separator: ", "))] "
            + (self.note ?? "")
    }
}
