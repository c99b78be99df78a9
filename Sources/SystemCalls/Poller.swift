import CBulkheadLinux

#if canImport(Glibc)
    import Glibc
#endif

/// What a registration waits for.
public struct PollInterest: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let readable = PollInterest(rawValue: BH_EPOLLIN)
    public static let writable = PollInterest(rawValue: BH_EPOLLOUT)
}

/// One ready descriptor: the token it was registered with and what happened to it.
public struct PollEvent: Sendable {
    public var token: UInt64
    /// The raw event bits.
    public var bits: UInt32

    public var isReadable: Bool { self.bits & BH_EPOLLIN != 0 }
    public var isWritable: Bool { self.bits & BH_EPOLLOUT != 0 }
    /// An error is pending on the descriptor (EPOLLERR: for a socket, SO_ERROR holds it).
    public var hasError: Bool { self.bits & BH_EPOLLERR != 0 }
    /// The peer hung up (EPOLLHUP).
    public var isHangUp: Bool { self.bits & BH_EPOLLHUP != 0 }
}

/// The one selector behind Bulkhead's event loops (the probe engine, the TLS handshake loop, live capture), as
/// swift-nio keeps one selector behind a generic interface: descriptors are registered once with a 64-bit token and
/// an interest, re-registered when the interest changes, and `wait` hands back the ready ones. Level-triggered
/// epoll underneath; a wait interrupted by a signal returns no events rather than failing.
///
/// Not thread-safe: one loop thread owns a poller.
public final class Poller {
    private let descriptor: Int32
    private var buffer: [bh_epoll_event]

    /// - Parameter capacity: the most events one `wait` returns (more stay ready for the next).
    public init(capacity: Int = 256) throws(SystemCallError) {
        self.descriptor = try SystemCall.retrying("epoll_create1") { bh_epoll_create() }
        self.buffer = Array(repeating: bh_epoll_event(), count: max(1, capacity))
    }

    /// Adopts an epoll descriptor made elsewhere (the poller closes it). Tests hand it one that is not an epoll
    /// descriptor, to see every registration fail and the loops fail closed.
    public init(adopting descriptor: Int32, capacity: Int = 256) {
        self.descriptor = descriptor
        self.buffer = Array(repeating: bh_epoll_event(), count: max(1, capacity))
    }

    deinit { close(self.descriptor) }

    /// How many events one `wait` returns at most.
    public var capacity: Int { self.buffer.count }

    public func register(_ fd: Int32, interest: PollInterest, token: UInt64) throws(SystemCallError) {
        try SystemCall.retrying("epoll_ctl(ADD)") { bh_epoll_add(self.descriptor, fd, interest.rawValue, token) }
    }

    public func reregister(_ fd: Int32, interest: PollInterest, token: UInt64) throws(SystemCallError) {
        try SystemCall.retrying("epoll_ctl(MOD)") { bh_epoll_modify(self.descriptor, fd, interest.rawValue, token) }
    }

    /// Stops watching `fd` (before it is closed: a closed descriptor leaves epoll by itself only when no other copy
    /// of it is open).
    public func deregister(_ fd: Int32) throws(SystemCallError) {
        try SystemCall.retrying("epoll_ctl(DEL)") { bh_epoll_remove(self.descriptor, fd) }
    }

    /// Waits up to `timeoutMilliseconds` (0: do not wait; -1: until something is ready) and returns the ready
    /// descriptors. A signal ends the wait early with none.
    public func wait(timeoutMilliseconds: Int32) throws(SystemCallError) -> ArraySlice<PollEvent> {
        let count = self.buffer.withUnsafeMutableBufferPointer { buffer in
            bh_epoll_wait(self.descriptor, buffer.baseAddress, Int32(buffer.count), timeoutMilliseconds)
        }
        if count < 0 {
            let code = errno
            if code == EINTR { return [] }
            throw SystemCallError("epoll_wait", code: code)
        }
        return self.buffer.prefix(Int(count)).map { PollEvent(token: $0.token, bits: $0.events) }[...]
    }
}
