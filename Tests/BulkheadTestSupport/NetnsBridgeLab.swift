import Foundation

/// A small real network for capture tests, made of network namespaces (no Docker): a *hub* namespace holding
/// Linux bridges, and client namespaces attached to a bridge by veth pairs, with addresses in a
/// 198.18.x.0/24 the test chooses (the benchmarking range; nothing leaves these namespaces).
///
/// Everything lives in namespaces of its own, so the host's firewall (Docker's FORWARD DROP with
/// br_netfilter) never sees the bridged traffic, and nothing on the host is changed. Run commands in the hub
/// with ``hubCommand(_:)`` (e.g. `bulkhead capture --interface br0`). ``remove()`` deletes it all, and so does
/// a later lab with the same prefix once the process that made it has ended (after a crash).
///
/// Namespace names are the only names these labs share with the host: they carry the test process's id, so two test
/// runs at once on one host never use, or clean up, each other's namespaces.
public final class NetnsBridgeLab: @unchecked Sendable {
    public static let ipPath = "/usr/sbin/ip"

    /// Whether namespaces can be made here (root and iproute2).
    public static var isAvailable: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: ipPath)
    }

    /// What every namespace name of this lab starts with: the test's prefix and this process's id.
    public let prefix: String
    public var hub: String { "\(self.prefix)h" }
    private var namespaces: [String] = []
    private var processes: [Process] = []

    /// Makes the hub namespace. `prefix` must be unique per test (a few letters: names stay short).
    public init(prefix: String) throws {
        self.prefix = "\(prefix)-\(getpid())-"
        Self.removeLeftovers(prefix: prefix)
        try Self.ip(["netns", "add", self.hub])
        self.namespaces.append(self.hub)
        try Self.ip(["-n", self.hub, "link", "set", "lo", "up"])
    }

    deinit { self.remove() }

    /// Adds a bridge in the hub.
    public func addBridge(_ name: String) throws {
        try Self.ip(["-n", self.hub, "link", "add", name, "type", "bridge"])
        try Self.ip(["-n", self.hub, "link", "set", name, "up"])
    }

    /// Deletes a bridge from the hub (what removing a Docker network does to its bridge).
    public func deleteBridge(_ name: String) throws {
        try Self.ip(["-n", self.hub, "link", "del", name])
    }

    /// Adds a namespace `<prefix><suffix>` with `address` (CIDR) on its eth0, attached to `bridge`; returns its name.
    @discardableResult
    public func addHost(_ suffix: String, address: String, bridge: String) throws -> String {
        let name = self.prefix + suffix
        try Self.ip(["netns", "add", name])
        self.namespaces.append(name)
        let veth = "v\(suffix)"
        try Self.ip(["-n", self.hub, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name])
        try Self.ip(["-n", self.hub, "link", "set", veth, "master", bridge, "up"])
        try Self.ip(["-n", name, "link", "set", "lo", "up"])
        try Self.ip(["-n", name, "link", "set", "eth0", "up"])
        try Self.ip(["-n", name, "addr", "add", address, "dev", "eth0"])
        return name
    }

    /// Starts a long-running program inside `namespace` (stopped by ``remove()``).
    public func start(in namespace: String, _ command: [String]) throws {
        self.processes.append(
            try ProcessRunner.start(URL(fileURLWithPath: Self.ipPath), ["netns", "exec", namespace] + command))
    }

    /// Runs a program inside `namespace` and waits for it.
    @discardableResult
    public func run(in namespace: String, _ command: [String]) throws -> ProcessOutput {
        try ProcessRunner.run(URL(fileURLWithPath: Self.ipPath), ["netns", "exec", namespace] + command)
    }

    /// The command line that runs `command` in the hub namespace.
    public func hubCommand(_ command: [String]) -> (URL, [String]) {
        (URL(fileURLWithPath: Self.ipPath), ["netns", "exec", self.hub] + command)
    }

    /// Stops the programs started here and deletes the namespaces (their interfaces go with them).
    public func remove() {
        for process in self.processes where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        self.processes.removeAll()
        for namespace in self.namespaces.reversed() {
            _ = try? ProcessRunner.run(URL(fileURLWithPath: Self.ipPath), ["netns", "del", namespace])
        }
        self.namespaces.removeAll()
    }

    /// Deletes the namespaces of labs with this prefix whose test process has ended; a running process's are its own.
    private static func removeLeftovers(prefix: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/run/netns") else { return }
        for name in names where name.hasPrefix(prefix + "-") {
            let owner = name.dropFirst(prefix.count + 1).prefix { $0.isNumber }
            guard let pid = pid_t(owner), kill(pid, 0) != 0, errno == ESRCH else { continue }
            _ = try? ProcessRunner.run(URL(fileURLWithPath: ipPath), ["netns", "del", name])
        }
    }

    @discardableResult
    static func ip(_ arguments: [String]) throws -> String {
        try ProcessRunner.must(URL(fileURLWithPath: ipPath), arguments)
    }
}
