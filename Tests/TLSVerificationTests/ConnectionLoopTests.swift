import BulkheadModel
import Foundation
import Testing

@testable import TLSVerification

#if canImport(Glibc)
    import Glibc
#endif

/// The handshake loop's own failures end a connection as a local error, never as an answer about the server.
@Suite("Handshake loop: local failures")
struct ConnectionLoopTests {
    /// Hands out UDP sockets, which refuse TCP_NODELAY (ENOPROTOOPT).
    final class DatagramSource: SocketSource {
        func makeSocket() throws -> Int32 {
            socket(
                AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        func close() {}
    }

    @Test("a socket that refuses TCP_NODELAY: a local error naming the call, no connection made, no answer")
    func noDelayRefused() throws {
        // A real listener on loopback, to see that nothing reached it.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        try #require(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(listener, pointer, length) == 0 && listen(listener, 8) == 0
                    && getsockname(listener, pointer, &length) == 0
            }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))

        let plan = ConnectionPlan(
            endpoint: TLSEndpoint(address: 0x7F00_0001, port: port), clear: [], tls: TLSSettings(),
            application: .http, context: ApplicationProbes.Context(host: nil))
        let loop = ConnectionLoop(timeouts: TLSTimeouts(connection: 2, readAfterHandshake: 0.5))
        var outcomes: [ConnectionOutcome] = []
        loop.submit(plan, from: DatagramSource()) { outcomes.append($0) }
        loop.run()
        let outcome = try #require(outcomes.first)
        #expect(outcomes.count == 1)
        #expect(outcome.failure?.hasPrefix("setsockopt(TCP_NODELAY): ") == true, "\(outcome.failure ?? "no failure")")
        #expect(!outcome.connected && !outcome.handshakeCompleted && outcome.applicationAnswer == nil)
        #expect(accept(listener, nil, nil) < 0 && errno == EAGAIN, "nothing reached the listener")
    }
}
