import Foundation

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
public enum LabLock {
    private static let lock = NSLock()

    public static func acquire() { Self.lock.lock() }
    public static func release() { Self.lock.unlock() }
}
