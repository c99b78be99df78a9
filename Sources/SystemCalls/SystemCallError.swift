#if canImport(Glibc)
    import Glibc
#endif

/// A system call that failed: which call, and the errno it left. Every call site that used to format
/// `strerror(errno)` by hand gets the same text from this one type, and the errno read at the failure, not later.
public struct SystemCallError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The call (`epoll_ctl`, `socket`, `connect`…).
    public var call: String
    /// The errno it failed with.
    public var code: Int32

    public init(_ call: String, code: Int32) {
        self.call = call
        self.code = code
    }

    /// The failure of `call` that just happened: reads errno now.
    public static func last(_ call: String) -> SystemCallError { SystemCallError(call, code: errno) }

    /// `ECONNREFUSED` (or `errno N` for a value without a name here).
    public var name: String { ErrnoName.name(self.code) }

    /// The C library's text for the errno (`Connection refused`).
    public var message: String { String(cString: strerror(self.code)) }

    /// `epoll_ctl: EBADF, Bad file descriptor`.
    public var description: String { "\(self.call): \(self.name), \(self.message)" }
}

/// Runs system calls the way every loop here needs: retried while interrupted by a signal (EINTR), and a failure
/// thrown as a ``SystemCallError`` carrying the errno of that failure.
public enum SystemCall {
    /// Calls `body` until it is not interrupted; returns its result when it is not -1.
    @discardableResult
    public static func retrying<Result: BinaryInteger>(_ call: String, _ body: () -> Result) throws(SystemCallError)
        -> Result
    {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = errno
            if code == EINTR { continue }
            throw SystemCallError(call, code: code)
        }
    }
}

/// Names for the errno values probes and loops meet (`ECONNREFUSED` reads better in evidence than "Connection
/// refused").
public enum ErrnoName {
    public static func name(_ code: Int32) -> String {
        switch code {
        case ECONNREFUSED: "ECONNREFUSED"
        case EHOSTUNREACH: "EHOSTUNREACH"
        case ENETUNREACH: "ENETUNREACH"
        case ETIMEDOUT: "ETIMEDOUT"
        case EACCES: "EACCES"
        case EPERM: "EPERM"
        case EADDRNOTAVAIL: "EADDRNOTAVAIL"
        case ECONNRESET: "ECONNRESET"
        case EPROTO: "EPROTO"
        case EMFILE: "EMFILE"
        case ENFILE: "ENFILE"
        case ENOBUFS: "ENOBUFS"
        case EINVAL: "EINVAL"
        case EAFNOSUPPORT: "EAFNOSUPPORT"
        case ENETDOWN: "ENETDOWN"
        case EHOSTDOWN: "EHOSTDOWN"
        case EBADF: "EBADF"
        case EEXIST: "EEXIST"
        case ENOENT: "ENOENT"
        case ENOMEM: "ENOMEM"
        case EAGAIN: "EAGAIN"
        case EINTR: "EINTR"
        case EPIPE: "EPIPE"
        default: "errno \(code)"
        }
    }
}
