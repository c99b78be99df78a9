import BulkheadModel
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A two-node Docker Swarm on this machine, for tests, CI and `scenario up/run/down`: each node an extra dockerd in
/// its own network namespace, joined by an underlay bridge in a namespace of its own, all on 198.19.0.0/16 away
/// from the shared engine. The one implementation is `scenarios/swarm-lab/lab.sh` (up, down, status); this type
/// drives it and the nodes' engines with argument lists, never a shell with outside strings.
public struct SwarmLab: Sendable {
    /// One node of the lab.
    public struct Node: Sendable, Hashable {
        /// 1 (the manager) or 2 (the worker).
        public var index: Int
        /// The engine's unix socket (`DOCKER_HOST=unix://<socket>` audits this node).
        public var socket: String
        /// The node's underlay address.
        public var address: String
        /// Its network namespace (`/run/netns/<netns>`).
        public var netns: String
        /// Its Swarm node ID.
        public var id: String
    }

    public var name: String
    public var script: String
    public var nodes: [Node]
    /// The underlay's namespace and bridge (where a capture sees the VXLAN between the nodes).
    public var underlayNetns: String
    public var underlayBridge: String
    public var clusterID: String
    /// The overlay address pool (`--default-addr-pool`).
    public var pool: String

    /// The engine client used against the nodes (Debian's 20.10 client; the engines speak API 1.41).
    public static let dockerClient = "/usr/bin/docker"

    /// The lab script in a repository checkout: `BULKHEAD_SWARM_LAB`, or `scenarios/swarm-lab/lab.sh` below `root`.
    public static func script(root: String) -> String {
        ProcessInfo.processInfo.environment["BULKHEAD_SWARM_LAB"] ?? root + "/scenarios/swarm-lab/lab.sh"
    }

    /// A free lab name: `bh` and six random lowercase hex digits.
    public static func freshName() -> String {
        "bh" + String(format: "%06x", UInt32.random(in: 0...0xFF_FFFF))
    }

    /// Stands the lab up (about 5 s) and returns it. On failure the script has torn down what it built.
    ///
    /// - Parameter slot: 1…14, the lab's block 198.19.(16×slot).0/20; the script refuses one in use.
    /// - Throws: ``SwarmLabError`` `up` with the script's own explanation (not root, no dockerd, slot taken…).
    public static func up(name: String, slot: Int, script: String) throws(SwarmLabError) -> SwarmLab {
        let result = try Self.run(["/bin/bash", script, "up", name, String(slot)], what: "lab \(name) up")
        guard result.status == 0 else {
            throw SwarmLabError(.up, path: name, message: "lab.sh up failed: \(result.error.suffix(2000))")
        }
        var values: [String: String] = [:]
        for line in result.output.split(separator: "\n") {
            let pair = line.split(separator: "=", maxSplits: 1).map(String.init)
            if pair.count == 2 { values[pair[0]] = pair[1] }
        }
        func value(_ key: String) throws(SwarmLabError) -> String {
            guard let text = values[key], !text.isEmpty else {
                throw SwarmLabError(.up, path: name, message: "lab.sh up did not report \(key)")
            }
            return text
        }
        var nodes: [Node] = []
        for index in 1...2 {
            nodes.append(
                Node(
                    index: index, socket: try value("NODE\(index)_SOCKET"), address: try value("NODE\(index)_ADDRESS"),
                    netns: try value("NODE\(index)_NETNS"), id: try value("NODE\(index)_ID")))
        }
        return SwarmLab(
            name: name, script: script, nodes: nodes, underlayNetns: try value("UNDERLAY_NETNS"),
            underlayBridge: try value("UNDERLAY_BRIDGE"), clusterID: try value("CLUSTER_ID"),
            pool: try value("SWARM_POOL"))
    }

    /// Tears the lab down (safe to repeat, and after a half-built lab): nil when everything is gone, else what the
    /// script says is left.
    @discardableResult
    public static func down(name: String, script: String) -> String? {
        do {
            let result = try Self.run(["/bin/bash", script, "down", name], what: "lab \(name) down")
            return result.status == 0 ? nil : "lab.sh down \(name) exited \(result.status): \(result.error)"
        } catch { return error.description }
    }

    @discardableResult
    public func down() -> String? { Self.down(name: self.name, script: self.script) }

    /// The environment that points the engine client (or `bulkhead`) at a node.
    public func environment(node: Int) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["DOCKER_HOST"] = "unix://" + self.nodes[node - 1].socket
        environment["DOCKER_API_VERSION"] = "1.41"
        return environment
    }

    /// Runs the engine client against a node; returns its standard output.
    ///
    /// - Throws: ``SwarmLabError`` `docker` with the client's standard error when it fails.
    @discardableResult
    public func docker(node: Int = 1, _ arguments: [String]) throws(SwarmLabError) -> String {
        let result = try Self.run(
            [Self.dockerClient] + arguments, environment: self.environment(node: node),
            what: "docker \(arguments.first ?? "")")
        guard result.status == 0 else {
            throw SwarmLabError(
                .docker, path: "node \(node)",
                message: "docker \(arguments.joined(separator: " ")): \(result.error.prefix(1000))")
        }
        return result.output
    }

    /// Creates the overlays and services of `spec` on the manager and waits until every service has a running task on
    /// every node (global services), at most `timeout` seconds.
    public func deploy(_ spec: SwarmLabSpec, timeout: Double = 60) throws(SwarmLabError) {
        for network in spec.overlays {
            var arguments = ["network", "create", "--driver", "overlay"]
            if network.attachable { arguments.append("--attachable") }
            if network.encrypted { arguments += ["--opt", "encrypted"] }
            try self.docker(arguments + ["--label", "bulkhead.lab=\(self.name)", network.name])
        }
        for service in spec.services {
            var arguments = [
                "service", "create", "--detach", "--name", service.name, "--mode", "global", "--endpoint-mode",
                "dnsrr", "--no-resolve-image", "--label", "bulkhead.lab=\(self.name)",
            ]
            for network in service.networks { arguments += ["--network", network] }
            for (key, value) in service.environment.sorted(by: { $0.key < $1.key }) {
                arguments += ["--env", "\(key)=\(value)"]
            }
            for port in service.hostPorts {
                arguments += ["--publish", "published=\(port.published),target=\(port.target),mode=host"]
            }
            for capability in service.capabilities { arguments += ["--cap-add", capability] }
            try self.docker(arguments + [service.image] + service.command)
        }
        let deadline = Date().addingTimeInterval(timeout)
        var pending: [String] = []
        repeat {
            pending = []
            for service in spec.services {
                let states = try self.docker([
                    "service", "ps", "--filter", "desired-state=running", "--format", "{{.CurrentState}}", service.name,
                ]).split(separator: "\n")
                if states.filter({ $0.hasPrefix("Running") }).count < self.nodes.count { pending.append(service.name) }
            }
            if pending.isEmpty { return }
            Thread.sleep(forTimeInterval: 0.5)
        } while Date() < deadline
        throw SwarmLabError(
            .deploy, path: self.name,
            message: "services not running on every node after \(Int(timeout)) s: \(pending.joined(separator: ", "))")
    }

    /// Starts a program (argument list, no shell) with its outputs discarded (standard error into the file
    /// `standardError` when given), and returns its pid; ``wait(_:)`` reaps it. For tests that interrupt the lab
    /// script, or a capture.
    public static func start(_ arguments: [String], standardError: String? = nil) throws(SwarmLabError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for descriptor in Int32(0)...2 {
            if descriptor == 2, let standardError {
                posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
                continue
            }
            posix_spawn_file_actions_addopen(
                &actions, descriptor, "/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        var attributes = Self.spawnAttributes()
        defer { posix_spawnattr_destroy(&attributes) }
        let spawned = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, environ)
        guard spawned == 0 else {
            throw SwarmLabError(
                .process, path: arguments[0], message: "cannot start: \(String(cString: strerror(spawned)))")
        }
        return pid
    }

    /// A child starts with no signal blocked and default dispositions (the calling thread, a test runner's or a
    /// Dispatch worker, may block some: tcpdump would then ignore its SIGINT).
    static func spawnAttributes() -> posix_spawnattr_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        return attributes
    }

    /// Waits for a child and returns its exit status (128 + the signal's number when a signal ended it); nil when
    /// `waitpid` fails.
    public static func wait(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return nil }
        }
        // WIFEXITED / WEXITSTATUS spelled out (the macros are not imported).
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    struct Output {
        var status: Int32
        var output: String
        var error: String
    }

    /// Runs a program with an argument list (no shell), its outputs in temporary files, and waits for it with
    /// `waitpid`. (Not `Process`: the lab's engines outlive the script that starts them, and `waitUntilExit` was
    /// seen to hang after such a script had exited.)
    static func run(_ arguments: [String], environment: [String: String]? = nil, what: String) throws(SwarmLabError)
        -> Output
    {
        let directory = FileManager.default.temporaryDirectory.path
        let stamp = "\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let outPath = "\(directory)/bulkhead-swarm-\(stamp).out"
        let errPath = "\(directory)/bulkhead-swarm-\(stamp).err"
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let environmentLines = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environmentLines.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        var attributes = Self.spawnAttributes()
        defer { posix_spawnattr_destroy(&attributes) }
        let spawned = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard spawned == 0 else {
            throw SwarmLabError(
                .process, path: arguments[0], message: "\(what): cannot start: \(String(cString: strerror(spawned)))")
        }
        guard let code = Self.wait(pid) else {
            throw SwarmLabError(.process, path: arguments[0], message: "\(what): waitpid failed")
        }
        let read = { (path: String) in
            String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
        }
        return Output(status: code, output: read(outPath), error: read(errPath))
    }
}

/// What to run on a Swarm lab: overlays and global services (dnsrr, host-mode ports: this kernel has no IPVS).
public struct SwarmLabSpec: Sendable, Hashable {
    public struct Overlay: Sendable, Hashable {
        public var name: String
        public var encrypted: Bool
        public var attachable: Bool

        public init(name: String, encrypted: Bool = false, attachable: Bool = true) {
            self.name = name
            self.encrypted = encrypted
            self.attachable = attachable
        }
    }

    public struct HostPort: Sendable, Hashable {
        public var published: Int
        public var target: Int

        public init(published: Int, target: Int) {
            self.published = published
            self.target = target
        }
    }

    public struct Service: Sendable, Hashable {
        public var name: String
        public var image: String
        public var command: [String]
        public var networks: [String]
        public var environment: [String: String]
        public var hostPorts: [HostPort]
        public var capabilities: [String]

        public init(
            name: String, image: String = "bulkhead-lab:latest", command: [String], networks: [String],
            environment: [String: String] = [:], hostPorts: [HostPort] = [], capabilities: [String] = []
        ) {
            self.name = name
            self.image = image
            self.command = command
            self.networks = networks
            self.environment = environment
            self.hostPorts = hostPorts
            self.capabilities = capabilities
        }
    }

    public var overlays: [Overlay]
    public var services: [Service]

    public init(overlays: [Overlay], services: [Service]) {
        self.overlays = overlays
        self.services = services
    }
}

/// A Swarm lab that cannot be stood up or driven.
public typealias SwarmLabError = CodedPathError<SwarmLabErrorCode>

/// The codes of ``SwarmLabError``.
public enum SwarmLabErrorCode: String, Sendable {
    /// `lab.sh up` failed (its standard error says why: not root, no dockerd, slot taken…).
    case up
    /// An engine client command failed.
    case docker
    /// Services did not come up on every node.
    case deploy
    /// A program could not be started.
    case process
}
