import BulkheadModel
import CBulkheadLinux
import Foundation
import SystemCalls

#if canImport(Glibc)
    import Glibc
#endif

/// A failure entering or reading a network namespace; `path` is the namespace file.
public typealias NamespaceError = CodedPathError<NamespaceErrorCode>

/// The codes of ``NamespaceError``.
public enum NamespaceErrorCode: String, Sendable {
    /// The namespace file cannot be opened (the process exited, no permission).
    case cannotOpen = "cannot-open"
    /// setns refused (no CAP_SYS_ADMIN, not a network namespace).
    case cannotEnter = "cannot-enter"
    /// The file now refers to another namespace than the inventory saw (a recycled pid, a restart).
    case replaced
    /// The namespace's thread ended without a result.
    case threadLost = "thread-lost"
}

/// A Linux network namespace, named by a file that refers to it (`/proc/<pid>/ns/net`, `/run/netns/<name>`,
/// a container's sandbox key).
public struct NetworkNamespace: Hashable, Sendable {
    public var path: String

    public init(path: String) {
        self.path = path
    }

    /// The namespace of a process.
    public init(pid: Int) {
        self.path = "/proc/\(pid)/ns/net"
    }

    /// The kernel's identity for the namespace: `net:[<inode>]`, the same for every file that refers to it.
    public func identity() -> String? {
        var info = stat()
        guard stat(self.path, &info) == 0 else { return nil }
        return "net:[\(info.st_ino)]"
    }

    /// Runs `body` on a dedicated thread that has entered this namespace, and returns its result.
    ///
    /// Why a dedicated thread: `setns` changes only the calling thread, and a Swift concurrency or Dispatch
    /// thread moved into another namespace would leak it to unrelated work (and to threads it spawns). The
    /// thread exits after `body`, so nothing else ever runs in the namespace. Sockets created in `body` keep
    /// the namespace for their lifetime, wherever they are used later; files under `/proc/thread-self/net`
    /// show the namespace's view.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        let fd = open(self.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw NamespaceError(.cannotOpen, path: self.path, message: "cannot open (\(SystemCallError.last("open")))")
        }
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        let path = self.path
        let thread = Thread {
            defer {
                close(fd)
                done.signal()
            }
            guard bh_setns_net(fd) == 0 else {
                box.result = .failure(
                    NamespaceError(.cannotEnter, path: path, message: "cannot enter (\(SystemCallError.last("setns")))")
                )
                return
            }
            box.result = Result { try body() }
        }
        thread.stackSize = 1 << 20
        thread.start()
        done.wait()
        guard let result = box.result else {
            throw NamespaceError(.threadLost, path: path, message: "namespace thread did not report")
        }
        return try result.get()
    }
}

/// Carries a result out of the namespace thread; written once before the semaphore is signalled.
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// An open network namespace that one dedicated thread enters, leaves for another, and enters again, as often as
/// it likes: the probe engine's loop thread creates each source's sockets inside that source's namespace (a
/// socket keeps the namespace it was made in), hopping with `setns` (~3 µs) instead of one thread per source.
///
/// Opened once and checked against the identity the inventory recorded, so a recycled pid cannot put probes in
/// some other process's namespace. Only for a thread that runs nothing else (see ``NetworkNamespace/run(_:)``
/// for why); closed with the handle.
public final class NamespaceEntry {
    public let path: String
    private let fd: Int32

    /// Opens `namespace`; with `identity` (`net:[<inode>]`), fails unless the file still refers to it.
    public init(_ namespace: NetworkNamespace, identity: String? = nil) throws(NamespaceError) {
        let fd = open(namespace.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw NamespaceError(
                .cannotOpen, path: namespace.path,
                message: "cannot open (\(SystemCallError.last("open"))): the container stopped?")
        }
        var info = stat()
        if let identity, fstat(fd, &info) == 0, "net:[\(info.st_ino)]" != identity {
            close(fd)
            throw NamespaceError(
                .replaced, path: namespace.path,
                message: "is no longer the namespace \(identity) (the container restarted or exited)")
        }
        self.path = namespace.path
        self.fd = fd
    }

    deinit { close(self.fd) }

    /// Moves the calling thread into the namespace; on failure the thread stays where it was and errno says why.
    public func enter() -> Bool { bh_setns_net(self.fd) == 0 }
}
