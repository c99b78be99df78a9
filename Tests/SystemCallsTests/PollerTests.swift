import SystemCalls
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The poller every event loop uses, on real descriptors (socket pairs): readiness, interest changes, removal, and
/// errors that name the call and the errno.
@Suite("Poller and system calls")
struct PollerTests {
    /// A connected pair of non-blocking stream sockets.
    func pair() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        try SystemCall.retrying("socketpair") {
            socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds)
        }
        return (fds[0], fds[1])
    }

    @Test("a readable descriptor comes back with its token; nothing ready, nothing back; interest changes are heard")
    func readiness() throws {
        let poller = try Poller(capacity: 8)
        let (a, b) = try self.pair()
        defer {
            close(a)
            close(b)
        }
        try poller.register(a, interest: .readable, token: 42)
        #expect(try poller.wait(timeoutMilliseconds: 0).isEmpty, "nothing written yet")
        var byte: UInt8 = 7
        #expect(write(b, &byte, 1) == 1)
        let ready = try poller.wait(timeoutMilliseconds: 1000)
        #expect(ready.count == 1)
        #expect(ready.first?.token == 42 && ready.first?.isReadable == true && ready.first?.isWritable == false)
        // Level-triggered: still readable until read.
        #expect(try poller.wait(timeoutMilliseconds: 0).count == 1)
        try poller.reregister(a, interest: .writable, token: 43)
        let writable = try poller.wait(timeoutMilliseconds: 1000)
        #expect(writable.first?.token == 43 && writable.first?.isWritable == true)
        try poller.deregister(a)
        #expect(try poller.wait(timeoutMilliseconds: 0).isEmpty)
    }

    @Test("the peer's close is a hang-up; many descriptors, no more than the capacity per wait")
    func hangUpAndCapacity() throws {
        let poller = try Poller(capacity: 2)
        var pairs: [(Int32, Int32)] = []
        defer {
            for (a, b) in pairs {
                close(a)
                close(b)
            }
        }
        for index in 0..<5 {
            let pair = try self.pair()
            pairs.append(pair)
            try poller.register(pair.0, interest: .readable, token: UInt64(index))
            shutdown(pair.1, Int32(SHUT_WR))
        }
        let first = try poller.wait(timeoutMilliseconds: 1000)
        #expect(first.count == 2, "at most the capacity")
        #expect(first.allSatisfy { $0.isReadable })
        close(pairs[0].1)
        pairs[0].1 = -1
        var seen = Set<UInt64>()
        var hungUp = false
        for _ in 0..<5 {
            for event in try poller.wait(timeoutMilliseconds: 100) {
                seen.insert(event.token)
                if event.token == 0 && event.isHangUp { hungUp = true }
            }
        }
        #expect(seen == [0, 1, 2, 3, 4], "every ready descriptor is handed back in turn, two at a time")
        #expect(hungUp, "the peer's close is a hang-up")
    }

    @Test("a failed call names itself and its errno; EINTR is retried, other errors thrown")
    func errors() throws {
        let poller = try Poller()
        #expect(throws: SystemCallError.self) { try poller.register(-1, interest: .readable, token: 1) }
        do {
            try poller.register(12_345, interest: .readable, token: 1)
            Issue.record("registering a descriptor that is not open succeeded")
        } catch {
            #expect(error.call == "epoll_ctl(ADD)" && error.code == EBADF)
            #expect(error.description == "epoll_ctl(ADD): EBADF, Bad file descriptor")
        }
        var calls = 0
        let result = try SystemCall.retrying("test") { () -> Int32 in
            calls += 1
            if calls < 3 {
                errno = EINTR
                return -1
            }
            return 5
        }
        #expect(result == 5 && calls == 3)
        #expect(throws: SystemCallError("test", code: ENOENT)) {
            try SystemCall.retrying("test") { () -> Int32 in
                errno = ENOENT
                return -1
            }
        }
    }
}
