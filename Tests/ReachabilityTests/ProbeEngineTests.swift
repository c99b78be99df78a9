import BulkheadModel
import Foundation
import SystemCalls
import Testing

@testable import Reachability

#if canImport(Glibc)
    import Glibc
#endif

/// The engine against real sockets in the test's own namespace, on loopback only (ARCHITECTURE.md, "Safety"): a listener, a
/// closed port, a UDP echo, a closed UDP port, ICMP echo, and an address outside the scope.
@Suite("Probe engine on loopback")
struct ProbeEngineTests {
    /// A TCP listener and a UDP echo on 127.0.0.1, on ports the kernel picks.
    final class Servers: @unchecked Sendable {
        let tcp: Int32
        let udp: Int32
        let tcpPort: Int
        let udpPort: Int
        var running = true

        init() throws {
            func bound(_ type: Int32) throws -> (Int32, Int) {
                let fd = socket(AF_INET, type, 0)
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
                let result = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
                guard fd >= 0, result == 0 else { throw POSIXError(.EADDRINUSE) }
                guard let port = SocketAddress.localPort(of: fd) else { throw POSIXError(.EINVAL) }
                return (fd, port)
            }
            (self.tcp, self.tcpPort) = try bound(Int32(SOCK_STREAM.rawValue))
            listen(self.tcp, 128)
            let tcp = self.tcp
            Thread.detachNewThread {
                while true {
                    let client = accept(tcp, nil, nil)
                    if client < 0 { return }
                    close(client)
                }
            }
            (self.udp, self.udpPort) = try bound(Int32(SOCK_DGRAM.rawValue))
            let udp = self.udp
            Thread.detachNewThread {
                var buffer = [UInt8](repeating: 0, count: 2048)
                var peer = sockaddr_storage()
                while true {
                    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                    let count = buffer.withUnsafeMutableBytes { raw in
                        withUnsafeMutablePointer(to: &peer) {
                            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                                recvfrom(udp, raw.baseAddress, raw.count, 0, $0, &length)
                            }
                        }
                    }
                    if count < 0 { return }
                    _ = buffer.withUnsafeBytes { raw in
                        withUnsafePointer(to: &peer) {
                            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                                sendto(udp, raw.baseAddress, count, 0, $0, length)
                            }
                        }
                    }
                }
            }
        }

        deinit {
            shutdown(self.tcp, Int32(SHUT_RDWR))
            close(self.tcp)
            shutdown(self.udp, Int32(SHUT_RDWR))
            close(self.udp)
        }
    }

    /// A port nothing listens on (bound then closed, so the kernel just gave it out).
    static func closedPort(_ type: Int32) -> Int {
        let fd = socket(AF_INET, type, 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return SocketAddress.localPort(of: fd) ?? 9
    }

    static func cell(_ proto: ProbeProtocol, _ address: String, _ port: Int?) -> ReachabilityCell {
        ReachabilityCell(
            source: "self", destination: ReachabilityCell.destinationText(address: address, port: port),
            protocol: proto, state: .error, attempts: 0,
            latencyMs: nil, destinationName: "loopback", destinationKind: .explicit, network: nil, address: address,
            port: port, reason: "extra",
            sourcePid: Int(getpid()), evidence: []
        )
    }

    static func ownSource() -> ProbeSource {
        ProbeSource(
            name: "self", pid: Int(getpid()), netns: NetworkNamespaceIdentity.of(pid: Int(getpid())), skipReason: nil)
    }

    @Test(
        "listener → reachable, closed TCP → reachable-closed, UDP echo → reachable, closed UDP → reachable-closed, echo → reachable, out of scope → error"
    )
    func loopback() throws {
        let servers = try Servers()
        var scope = ScopeGuard()
        scope.allow("127.0.0.1")
        let cells = [
            Self.cell(.tcp, "127.0.0.1", servers.tcpPort),
            Self.cell(.tcp, "127.0.0.1", Self.closedPort(Int32(SOCK_STREAM.rawValue))),
            Self.cell(.udp, "127.0.0.1", servers.udpPort),
            Self.cell(.udp, "127.0.0.1", Self.closedPort(Int32(SOCK_DGRAM.rawValue))),
            Self.cell(.icmp, "127.0.0.1", nil),
            // 127.0.0.2 is loopback too, but not in the scope: the engine must refuse to send to it.
            Self.cell(.tcp, "127.0.0.2", servers.tcpPort),
        ]
        let plan = ProbePlan(sources: [Self.ownSource()], cells: cells, scope: scope, destinationPids: [:])
        var options = ProbeOptions()
        options.attempts = 2
        options.tcpTimeout = 1
        options.udpTimeout = 1
        options.icmpTimeout = 1
        let result = ProbeEngine.run(plan: plan, options: options)
        let states = result.cells.map(\.state)
        #expect(
            states == [.reachable, .reachableClosed, .reachable, .reachableClosed, .reachable, .error],
            "\(result.cells.map { ($0.destination, $0.protocol, $0.state, $0.note ?? "") })")
        #expect(result.cells[0].attempts == 1, "one success ends a cell")
        #expect(result.cells[1].evidence.first?.errno == "ECONNREFUSED")
        #expect(
            result.cells[3].evidence.first?.icmpType == 3 && result.cells[3].evidence.first?.icmpCode == 3,
            "ICMP port unreachable is kept as evidence")
        #expect(result.cells[5].note?.contains("outside the probe scope") == true)
        #expect(result.cells[5].evidence.allSatisfy { $0.outcome == .failed }, "nothing was sent out of scope")
        #expect(result.cells[0].latencyMs != nil)
        _ = servers
    }

    @Test("a source whose process is gone: its cells are errors, never blocked")
    func goneSource() {
        var scope = ScopeGuard()
        scope.allow("127.0.0.1")
        let source = ProbeSource(name: "self", pid: 999_999_999, netns: "net:[1]", skipReason: nil)
        var cell = Self.cell(.tcp, "127.0.0.1", 9)
        cell.sourcePid = 999_999_999
        let result = ProbeEngine.run(
            plan: ProbePlan(sources: [source], cells: [cell], scope: scope, destinationPids: [:]),
            options: ProbeOptions())
        #expect(result.cells.map(\.state) == [.error])
        #expect(result.cells.first?.note?.contains("cannot open") == true)
        #expect(!result.problems.isEmpty)
    }

    @Test("many probes at once respect the caps and all finish")
    func concurrency() throws {
        let servers = try Servers()
        var scope = ScopeGuard()
        scope.allow("127.0.0.1")
        let cells = (0..<600).map { _ in Self.cell(.tcp, "127.0.0.1", servers.tcpPort) }
        var options = ProbeOptions()
        options.maxInFlight = 50
        options.maxInFlightPerDestination = 20
        let result = ProbeEngine.run(
            plan: ProbePlan(sources: [Self.ownSource()], cells: cells, scope: scope, destinationPids: [:]),
            options: options)
        #expect(
            result.cells.allSatisfy { $0.state == .reachable || $0.state == .flapping },
            "\(Dictionary(grouping: result.cells, by: \.state).mapValues(\.count))")
        #expect(result.attemptsSent >= 600)
        _ = servers
    }
}

/// `net:[inode]` of a process's namespace, as the inventory records it.
enum NetworkNamespaceIdentity {
    static func of(pid: Int) -> String? {
        var info = stat()
        guard stat("/proc/\(pid)/ns/net", &info) == 0 else { return nil }
        return "net:[\(info.st_ino)]"
    }
}

/// Failing system calls on the verdict path: the engine's own epoll registration made to fail for real (its epoll
/// descriptor replaced by one that is not an epoll instance, so `epoll_ctl` answers EINVAL). Every cell must be an
/// `error` with the errno at once — before the fix the cells waited out their timeout and read as `filtered`.
@Suite("Probe engine: failed system calls are errors")
struct ProbeEngineFailureTests {
    @Test("epoll_ctl failing for TCP, UDP and the raw ICMP socket: error with EINVAL, never filtered")
    func registrationFails() throws {
        let servers = try ProbeEngineTests.Servers()
        var scope = ScopeGuard()
        scope.allow("127.0.0.1")
        let cells = [
            ProbeEngineTests.cell(.tcp, "127.0.0.1", servers.tcpPort),
            ProbeEngineTests.cell(.udp, "127.0.0.1", servers.udpPort),
            ProbeEngineTests.cell(.icmp, "127.0.0.1", nil),
        ]
        let plan = ProbePlan(sources: [ProbeEngineTests.ownSource()], cells: cells, scope: scope, destinationPids: [:])
        var options = ProbeOptions()
        options.attempts = 2
        options.tcpTimeout = 0.5
        options.udpTimeout = 0.5
        options.icmpTimeout = 0.5
        let fixed = options
        // The engine's steps, on a thread of its own (it enters the source's namespace: here the test's own).
        let box = LoopResult()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let loop = ProbeLoop(plan: plan, options: fixed, progress: nil)
            // A descriptor that is no epoll: every registration fails with EINVAL, as a real failure would.
            loop.poller = Poller(adopting: open("/dev/null", O_RDONLY | O_CLOEXEC))
            loop.prepareSources()
            for index in loop.cells.indices { loop.launch(index) }
            box.launchedDecided = loop.decided
            box.inFlight = loop.attempts.count
            loop.cleanUp()
            box.result = loop.finish()
            done.signal()
        }
        done.wait()
        let result = try #require(box.result)
        #expect(
            box.launchedDecided == [true, true, true], "every cell decided when its launch failed, not left to time out"
        )
        #expect(box.inFlight == 0)
        #expect(
            result.cells.map(\.state) == [.error, .error, .error], "\(result.cells.map { ($0.state, $0.note ?? "") })")
        #expect(result.cells[0].evidence.last?.errno == "EINVAL" && result.cells[0].note?.contains("epoll_ctl") == true)
        #expect(result.cells[1].evidence.last?.errno == "EINVAL" && result.cells[1].note?.contains("epoll_ctl") == true)
        #expect(result.cells[2].note?.contains("no raw ICMP socket") == true)
        #expect(
            result.problems.contains { $0.contains("cannot watch the raw ICMP socket") && $0.contains("EINVAL") },
            "\(result.problems)")
        _ = servers
    }

    final class LoopResult: @unchecked Sendable {
        var result: ProbeRunResult?
        var launchedDecided: [Bool] = []
        var inFlight = -1
    }
}
