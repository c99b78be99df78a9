import ContainerEngine
import Foundation
import Lab

#if canImport(Glibc)
    import Glibc
#endif

/// Drives the real Docker engine for tests through `/usr/bin/docker` (arguments passed as an array, never
/// through a shell). Tests that need it are enabled only when an engine answers; `scripts/test.sh` starts one.
public enum DockerCLI {
    public static let path = "/usr/bin/docker"
    public static let labImage = ProcessInfo.processInfo.environment["BULKHEAD_LAB_IMAGE"] ?? "bulkhead-lab:latest"

    /// Whether an engine answers and the lab image exists.
    public static let isAvailable: Bool = {
        guard FileManager.default.isExecutableFile(atPath: path) else { return false }
        guard let version = try? run(["version", "--format", "{{.Server.Version}}"]), version.status == 0 else {
            return false
        }
        guard let image = try? run(["image", "inspect", labImage]), image.status == 0 else { return false }
        return true
    }()

    @discardableResult
    public static func run(_ arguments: [String]) throws -> ProcessOutput {
        try ProcessRunner.run(URL(fileURLWithPath: path), arguments)
    }

    /// Waits until `container` runs and a TCP socket listens on `port` in its network namespace (read through its
    /// pid, from `docker inspect`); throws naming both when it does not within `seconds`.
    public static func waitUntilListening(_ container: String, port: Int, seconds: TimeInterval = 20) throws {
        let pid = try Poll.value("container \(container) running", seconds: seconds) { () -> pid_t? in
            guard let pid = pid_t(try Self.must(["inspect", "-f", "{{.State.Pid}}", container])), pid > 0 else {
                return nil
            }
            return pid
        }
        try Poll.until("\(container) listening on TCP port \(port)", seconds: seconds) {
            Poll.listening(tcpPort: port, inNamespaceOf: pid)
        }
    }

    /// Runs a docker command that must succeed.
    @discardableResult
    public static func must(_ arguments: [String]) throws -> String {
        try ProcessRunner.must(URL(fileURLWithPath: path), arguments)
    }

    /// A /24 a test network was made on.
    public struct TestSubnet: Sendable, Equatable {
        /// The first three octets, e.g. `198.18.143`.
        public let prefix: String
        public var cidr: String { "\(self.prefix).0/24" }

        /// The address of host `host` in it, e.g. `198.18.143.10`.
        public func address(_ host: Int) -> String { "\(self.prefix).\(host)" }
    }

    /// `count` different /24s of 198.18.128.0/17 that no Docker network and no route of this host uses now, for a
    /// scenario file whose networks `bulkhead scenario up` makes (the caller holds ``LabLock`` until they are made, so
    /// no other test takes the same ones first).
    public static func freeSubnets(_ count: Int) throws -> [TestSubnet] {
        let free = try Self.untaken().prefix(count)
        guard free.count == count else {
            throw ProcessRunner.Failure(description: "fewer than \(count) free /24s in 198.18.128.0/17")
        }
        return Array(free)
    }

    /// Creates network `name` on a /24 of 198.18.128.0/17 that no Docker network and no route of this host uses now,
    /// trying another when the engine still finds an overlap (a network made at the same moment): a fixed subnet made
    /// the tests fail on hosts where another network already held it. `options` go before the name (`--label`,
    /// `--internal`, `-o`…); the gateway is `.1` when `gateway` is set. Returns the network's id and subnet.
    @discardableResult
    public static func createNetwork(_ name: String, options: [String] = [], gateway: Bool = false) throws -> (
        id: String, subnet: TestSubnet
    ) {
        var lastError: (any Error)?
        for subnet in try Self.untaken() {
            var arguments = ["network", "create", "--subnet", subnet.cidr]
            if gateway { arguments += ["--gateway", subnet.address(1)] }
            do {
                let id = try Self.must(arguments + options + [name])
                return (id, subnet)
            } catch let failure as ProcessRunner.Failure where failure.description.contains("overlap") {
                lastError = failure
            }
        }
        throw lastError ?? ProcessRunner.Failure(description: "no free /24 in 198.18.128.0/17 for network \(name)")
    }

    /// The third octets of the /24s the namespace labs use (`CaptureCommandTests` 230–234, `NamespaceProbeTests`
    /// 237–241). They live in private network namespaces, so no host route shows them taken; but `bulkhead capture`
    /// names an address from every view at once, and a Docker network there (made by a test running at the same
    /// time) gave a namespace lab's address a second owner. Docker test networks never take them.
    private static let namespaceLabOctets = 230...241

    /// The /24s of 198.18.128.0/17 no Docker network and no host route uses now (what `bulkhead scenario up` checks
    /// too), from a random one on (tests running side by side in other processes rarely try the same first), the
    /// namespace labs' left out.
    private static func untaken() throws -> [TestSubnet] {
        let engine = DockerEngine(socketPath: "/var/run/docker.sock")
        try engine.connect()
        let space = try LabAddressSpace.current(engine: engine)
        let start = Int.random(in: 0..<127)
        return (0..<127).map { 128 + (start + $0) % 127 }.filter { !Self.namespaceLabOctets.contains($0) }
            .map { TestSubnet(prefix: "198.18.\($0)") }.filter { space.holder(overlapping: $0.cidr) == nil }
    }

    /// `count` different TCP ports that no socket of this host holds now, on IPv4 and IPv6 alike (each is found by
    /// binding a dual-stack socket on `::` to port 0; all stay bound until every one is chosen, so they differ). A
    /// test publishing a fixed host port failed where another program held it; the port may still be taken before
    /// the caller binds it, so callers retry on "already allocated" (see ``runPublishing(portCount:retries:_:cleanUp:)``).
    public static func freeHostPorts(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { for socket in sockets { close(socket) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let socket = Glibc.socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
            guard socket >= 0 else { throw ProcessRunner.Failure(description: "socket(AF_INET6): errno \(errno)") }
            sockets.append(socket)
            var off: Int32 = 0
            setsockopt(socket, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &off, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_addr = in6addr_any
            var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                    bind(socket, pointer, length) == 0 && getsockname(socket, pointer, &length) == 0
                }
            }
            guard bound else { throw ProcessRunner.Failure(description: "bind([::]:0): errno \(errno)") }
            ports.append(Int(UInt16(bigEndian: address.sin6_port)))
        }
        return ports
    }

    /// Runs `docker` with `arguments(ports)` for `ports` from ``freeHostPorts(_:)`` (`portCount` of them), trying
    /// again with other ports when the engine finds one taken meanwhile. Returns the ports used.
    @discardableResult
    public static func runPublishing(
        portCount: Int, retries: Int = 3, _ arguments: ([Int]) -> [String], cleanUp: () -> Void = {}
    ) throws -> [Int] {
        var attempt = 0
        while true {
            let ports = try Self.freeHostPorts(portCount)
            let run = try Self.run(arguments(ports))
            if run.status == 0 { return ports }
            attempt += 1
            let taken = run.error.contains("already allocated") || run.error.contains("address already in use")
            guard taken, attempt <= retries else {
                throw ProcessRunner.Failure(
                    description: "docker \(arguments(ports).joined(separator: " ")) exited \(run.status): \(run.error)")
            }
            cleanUp()
        }
    }

    /// Removes every container and network carrying `label` (what a test made, even after a crash).
    public static func removeLabelled(_ label: String) {
        if let ids = try? run(["ps", "-aq", "--filter", "label=\(label)"]).output.split(separator: "\n").map(
            String.init), !ids.isEmpty
        {
            _ = try? run(["rm", "-f"] + ids)
        }
        if let ids = try? run(["network", "ls", "-q", "--filter", "label=\(label)"]).output.split(separator: "\n").map(
            String.init), !ids.isEmpty
        {
            _ = try? run(["network", "rm"] + ids)
        }
    }
}

/// Tests that make or remove Docker networks and containers, or probe across them, take this lock and so run one at
/// a time even across suites (Swift Testing runs suites in parallel). Why: Docker rewrites its iptables chains
/// whenever a network is made or removed, and for that moment isolation between networks is not in force (the probe
/// benchmark caught answers from other networks then), so a parallel test's probe could see a path that is closed.
/// Test bodies that take it are synchronous: the lock is released on the thread that took it.
///
/// It is also held across processes (an `flock` on a file in /run/lock): two test runs at once on one host share the
/// engine, its container names and its address space, so their Docker tests take turns too instead of removing each
/// other's containers or choosing the same free subnet.
public enum LabLock {
    private static let lock = NSLock()
    /// The lock file, opened once; -1 when it cannot be (then only this process's tests take turns).
    nonisolated(unsafe) private static var descriptor: Int32 = -1
    private static let path =
        FileManager.default.fileExists(atPath: "/run/lock")
        ? "/run/lock/bulkhead-docker-tests.lock" : "/tmp/bulkhead-docker-tests.lock"

    public static func acquire() {
        Self.lock.lock()
        // Guarded by `lock`: opened by the first holder, then only read. Read-only is enough for `flock`, so another
        // user's test run can take the lock on a file root made.
        if Self.descriptor < 0 { Self.descriptor = open(Self.path, O_RDONLY | O_CREAT | O_CLOEXEC, 0o644) }
        if Self.descriptor >= 0 {
            while flock(Self.descriptor, LOCK_EX) != 0 && errno == EINTR {}
        }
    }

    public static func release() {
        if Self.descriptor >= 0 { _ = flock(Self.descriptor, LOCK_UN) }
        Self.lock.unlock()
    }
}
