import BulkheadModel
import BulkheadTestSupport
import Foundation
import Inventory
import Testing

@testable import NetworkNamespaces

/// Namespaces made with `ip netns add` (what a containerd/CNI host has instead of Docker networks).
@Suite(
    "Inventory of plain network namespaces", .serialized,
    .enabled(
        if: getuid() == 0
            && (FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
                || FileManager.default.isExecutableFile(atPath: "/sbin/ip")),
        "needs root and iproute2"))
struct NamespaceInventoryTests {
    static let ip = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"

    /// Runs `ip` with `arguments`; throws with its standard error when it fails.
    static func ip(_ arguments: [String]) throws {
        try ProcessRunner.must(URL(fileURLWithPath: Self.ip), arguments)
    }

    /// Removes a namespace the test made (absent already is fine).
    static func deleteNamespace(_ name: String) {
        _ = try? ProcessRunner.run(URL(fileURLWithPath: Self.ip), ["netns", "del", name])
    }

    /// Sends SIGKILL to every process whose network namespace is the one `path` names (only the test's own).
    static func killProcesses(inNamespace path: String) {
        guard let identity = NetworkNamespace(path: path).identity() else { return }
        for namespace in ProcNet.discoverNamespaces() where namespace.identity == identity {
            for pid in namespace.pids { kill(pid_t(pid), SIGKILL) }
        }
    }

    @Test("a named namespace with and without processes: addresses and listening sockets")
    func namedNamespaces() throws {
        // Named after this process: a second test run at once on this host has namespaces of its own.
        let busy = "bh-inv-ns-\(getpid())-busy"
        let idle = "bh-inv-ns-\(getpid())-idle"
        for name in [busy, idle] {
            Self.deleteNamespace(name)  // left by an interrupted run
            try Self.ip(["netns", "add", name])
            try Self.ip(["-n", name, "link", "set", "lo", "up"])
        }
        defer { for name in [busy, idle] { Self.deleteNamespace(name) } }
        try Self.ip(["-n", busy, "addr", "add", "198.18.97.1/32", "dev", "lo"])
        try Self.ip(["-n", idle, "addr", "add", "198.18.97.2/32", "dev", "lo"])
        let listener = try ProcessRunner.start(
            URL(fileURLWithPath: Self.ip), ["netns", "exec", busy, "/bin/busybox", "nc", "-l", "-p", "7001"])
        defer {
            listener.terminate()
            // `ip netns exec` may leave nc behind as an orphan: end every process still in the namespace.
            Self.killProcesses(inNamespace: "/run/netns/\(busy)")
        }
        var report = InventoryReport(
            sources: [], networks: [], containers: [], namespaces: [], findings: [], complete: true, problems: [],
            summary: InventorySummary())
        // Wait until `ip netns exec` has become nc and nc listens.
        try Poll.until("nc listening in \(busy)", seconds: 10, lastSeen: { "\(report.namespaces)" }) {
            report.namespaces = []
            InventoryCollector.addNamespaces(to: &report)
            return report.namespaces.contains {
                $0.addresses.contains("198.18.97.1") && !$0.listening.isEmpty && !$0.pids.isEmpty
            }
        }
        let idleRecord = try #require(report.namespaces.first { $0.name == idle })
        #expect(idleRecord.addresses == ["198.18.97.2"])
        #expect(idleRecord.pids.isEmpty)
        let busyRecord = try #require(report.namespaces.first { $0.name == busy })
        #expect(busyRecord.listening.contains { $0.proto == "tcp" && $0.port == 7001 })
        #expect(!busyRecord.pids.isEmpty)
        #expect(report.complete)
    }

    @Test("/proc/net endpoints decode for IPv4 and IPv6")
    func endpoints() throws {
        #expect(ProcNet.endpoint("0100007F:1F90").map { "\($0.0):\($0.1)" } == "127.0.0.1:8080")
        #expect(ProcNet.endpoint("00000000000000000000000001000000:0050").map { "\($0.0):\($0.1)" } == "::1:80")
    }
}
