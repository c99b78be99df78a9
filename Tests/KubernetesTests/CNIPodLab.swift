import BulkheadTestSupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Pod sandboxes made the way a container runtime makes them: a network namespace pinned under /run/netns, then the
/// real CNI `bridge` plugin (Debian's containernetworking-plugins, with `host-local` IPAM) invoked with
/// `CNI_COMMAND=ADD` and its JSON configuration on standard input, torn down with `CNI_COMMAND=DEL`.
///
/// The plugin runs inside a hub namespace standing in for the node, so its bridge and gateway address never touch the
/// host's interfaces or firewall. The subnet is a /24 of 198.19.0.0/16 that no namespace on the host uses.
final class CNIPodLab: @unchecked Sendable {
    static let pluginFolder = "/usr/lib/cni"
    static let ip = URL(fileURLWithPath: "/usr/sbin/ip")

    static var isAvailable: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: Self.pluginFolder + "/bridge")
            && FileManager.default.isExecutableFile(atPath: Self.pluginFolder + "/host-local")
    }

    let id = String(UInt32.random(in: 0x1000_0000...0xFFFF_FFFF), radix: 16)
    var hub: String { "bhk\(self.id)h" }
    var bridge: String { "bhk\(self.id)" }
    let dataDir: String
    let subnet: String
    private var sandboxes: [String] = []
    private var processes: [Process] = []
    private var hubMade = false

    init() throws {
        self.dataDir = NSTemporaryDirectory() + "bh-cni-\(self.id)"
        self.subnet = try Self.freeSubnet()
        try Self.run(Self.ip, ["netns", "add", self.hub])
        self.hubMade = true
        try Self.run(Self.ip, ["-n", self.hub, "link", "set", "lo", "up"])
    }

    deinit { self.remove() }

    var configuration: String {
        """
        {"cniVersion": "1.0.0", "name": "bhk8s-\(self.id)", "type": "bridge", "bridge": "\(self.bridge)",
         "isGateway": true, "ipMasq": false, "hairpinMode": false,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": "\(self.subnet)"}]], "dataDir": "\(self.dataDir)"}}
        """
    }

    private func plugin(_ command: String, sandbox: String) throws -> ProcessOutput {
        try ProcessRunner.run(
            Self.ip, ["netns", "exec", self.hub, Self.pluginFolder + "/bridge"],
            environment: [
                "CNI_COMMAND": command, "CNI_CONTAINERID": sandbox, "CNI_NETNS": "/var/run/netns/\(sandbox)",
                "CNI_IFNAME": "eth0", "CNI_PATH": Self.pluginFolder, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            ], input: self.configuration)
    }

    /// Makes a pod sandbox `bhk<id>-<name>` and attaches it with the plugin; returns the address IPAM gave it.
    func addPod(_ name: String) throws -> (namespace: String, address: String) {
        let sandbox = "bhk\(self.id)-\(name)"
        try Self.run(Self.ip, ["netns", "add", sandbox])
        self.sandboxes.append(sandbox)
        let result = try self.plugin("ADD", sandbox: sandbox)
        guard result.status == 0,
            let object = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any],
            let ips = object["ips"] as? [[String: Any]], let cidr = ips.first?["address"] as? String,
            let address = cidr.split(separator: "/").first
        else {
            throw CNILabError(
                message: "CNI ADD for \(sandbox) failed: \(result.status) \(result.output) \(result.error)")
        }
        return (sandbox, String(address))
    }

    /// Starts a long-running program inside a sandbox (stopped by ``remove()``).
    func start(in sandbox: String, _ command: [String]) throws {
        let process = Process()
        process.executableURL = Self.ip
        process.arguments = ["netns", "exec", sandbox] + command
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.processes.append(process)
    }

    func run(in sandbox: String, _ command: [String]) throws -> ProcessOutput {
        try ProcessRunner.run(Self.ip, ["netns", "exec", sandbox] + command)
    }

    /// Stops the servers, detaches every sandbox with `CNI_COMMAND=DEL`, deletes the namespaces, the hub (and the
    /// bridge in it) and the IPAM state. Safe to call twice.
    func remove() {
        for process in self.processes where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        self.processes.removeAll()
        for sandbox in self.sandboxes.reversed() {
            _ = try? self.plugin("DEL", sandbox: sandbox)
            _ = try? ProcessRunner.run(Self.ip, ["netns", "del", sandbox])
        }
        self.sandboxes.removeAll()
        if self.hubMade {
            _ = try? ProcessRunner.run(Self.ip, ["netns", "del", self.hub])
            self.hubMade = false
        }
        try? FileManager.default.removeItem(atPath: self.dataDir)
    }

    private static func run(_ executable: URL, _ arguments: [String]) throws {
        let result = try ProcessRunner.run(executable, arguments)
        guard result.status == 0 else {
            throw CNILabError(message: "\(arguments.joined(separator: " ")): \(result.error)")
        }
    }

    /// A /24 of 198.19.0.0/16 (the half of 198.18.0.0/15 Docker's test pools leave) that no address on the host or in
    /// any named namespace falls in; 198.19.255.0/24 is the test dockerd's bridge.
    static func freeSubnet() throws -> String {
        var used = Set<Int>()
        let host = try ProcessRunner.run(Self.ip, ["-4", "-o", "addr"])
        let all = try ProcessRunner.run(Self.ip, ["-all", "netns", "exec", "ip", "-4", "-o", "addr"])
        for line in (host.output + all.output).split(separator: "\n") {
            guard let range = line.range(of: "inet 198.19.") else { continue }
            let third = line[range.upperBound...].prefix { $0.isNumber }
            if let value = Int(third) { used.insert(value) }
        }
        let candidates = (1...250).filter { !used.contains($0) }
        guard let third = candidates.randomElement() else { throw CNILabError(message: "no free /24 in 198.19.0.0/16") }
        return "198.19.\(third).0/24"
    }
}

struct CNILabError: Error, CustomStringConvertible {
    var message: String
    var description: String { self.message }
}
