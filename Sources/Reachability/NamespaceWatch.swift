import BulkheadModel
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A plain network namespace (`ip netns`, a CNI sandbox) as the plan knows it: its identity and the processes the
/// inventory saw in it.
public struct PlainNamespace: Sendable, Hashable {
    /// `net:[<inode>]`.
    public var identity: String
    /// The processes in it when the inventory was read (none for a bare `ip netns add` namespace).
    public var pids: [Int]

    public init(identity: String, pids: [Int]) {
        self.identity = identity
        self.pids = pids
    }
}

/// Whether a plain network namespace still exists, for the probe engine: a namespace has no "main process" (its
/// lowest pid may be a short-lived helper while the namespace keeps serving, and a bare `ip netns add` namespace has
/// none), so what is watched is the namespace itself. It lives while its `/run/netns` name still refers to it or
/// while any process is still in it; when neither holds, it was deleted (`ip netns del`) or its last process
/// exited, and its unfinished cells are errors.
///
/// The watch does not hold the namespace open: that would keep a deleted namespace's interfaces, addresses and
/// kernel alive (answering probes, and on a CNI host holding a pod's address on the bridge while a new pod may be
/// given it) until the run ends. The price: a namespace deleted and another made at once that the kernel gives the
/// same inode number (under the same name, or by a process of a recycled pid) would pass for it. The engine checks
/// the namespace before it decides each of its cells, not only every few tenths of a second.
final class NamespaceWatch {
    let name: String
    let identity: String
    /// The namespace's inode number (the identity's number).
    let inode: UInt64
    /// Whether `/run/netns/<name>` referred to it when the watch began.
    let named: Bool
    /// Processes last seen in it, lowest first; those seen elsewhere since are dropped.
    private(set) var pids: [Int]

    /// Starts watching; nil when the namespace is already gone (no name refers to it, no process of the inventory
    /// is in it) or its identity cannot be read.
    init?(name: String, namespace: PlainNamespace) {
        guard namespace.identity.hasPrefix("net:["), namespace.identity.hasSuffix("]"),
            let inode = UInt64(namespace.identity.dropFirst(5).dropLast())
        else { return nil }
        self.name = name
        self.identity = namespace.identity
        self.inode = inode
        self.named = !name.contains("/") && Self.inode(of: "/run/netns/\(name)") == inode
        self.pids = namespace.pids
        guard self.isAlive() else { return nil }
    }

    /// Whether the namespace still exists for anyone but this watch: its name still refers to it, or a process is
    /// still in it (one the inventory saw, else any on the host: /proc is searched only then).
    func isAlive() -> Bool {
        if self.named, Self.inode(of: "/run/netns/\(self.name)") == self.inode { return true }
        self.pids.removeAll { Self.inode(of: "/proc/\($0)/ns/net") != self.inode }
        if !self.pids.isEmpty { return true }
        if let pid = Self.processes(in: self.identity).first {
            self.pids = [pid]
            return true
        }
        return false
    }

    /// A process in the namespace now (for reading its counters through `/proc/<pid>/net`), or nil.
    func livePid() -> Int? {
        self.pids.first { Self.inode(of: "/proc/\($0)/ns/net") == self.inode }
    }

    /// The inode number of the file at `path` (following links), or nil.
    static func inode(of path: String) -> UInt64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return UInt64(info.st_ino)
    }

    /// Every process whose network namespace is `identity`, lowest first.
    static func processes(in identity: String) -> [Int] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var buffer = [CChar](repeating: 0, count: 64)
        return entries.compactMap(Int.init).sorted().filter { pid in
            let length = readlink("/proc/\(pid)/ns/net", &buffer, buffer.count - 1)
            guard length > 0 else { return false }
            return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self) == identity
        }
    }
}
