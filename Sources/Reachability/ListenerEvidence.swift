import BulkheadModel
import CBulkheadLinux
import Foundation
import NetworkNamespaces
import SystemCalls

#if canImport(Glibc)
    import Glibc
#endif

/// What a refusal (a TCP reset, an ICMP port-unreachable) from a port the inventory showed listening proves, once
/// the destination's listeners are read again.
///
/// Why: a closed port and a firewall's REJECT send the same answer (`REJECT --reject-with tcp-reset` an RST,
/// iptables REJECT's default an ICMP port-unreachable from the destination's address). What tells them apart is
/// whether a socket listens there: if one does, nothing but a rule can have refused the probe, and the path is
/// blocked; if the listener is gone since the inventory, the port is closed and the path open.
enum ListenerEvidence: Equatable {
    /// A listener is there now: the refusal is a rule's (the note says which listener).
    case listening(String)
    /// No listener is there now: the port is closed, the path open (the note says the inventory's is gone).
    case gone(String)
    /// No verdict: the listeners cannot be read, or a listener on `::` may or may not take IPv4 (`IPV6_V6ONLY`).
    case undecidable(String)
}

extension ProbeLoop {
    /// Whether a cell's refusal is judged against the destination's listeners: its port was planned because the
    /// inventory showed a listener there, on a container or plain namespace whose namespace can be read.
    func refusalNeedsListener(_ index: Int, _ outcome: AttemptOutcome) -> Bool {
        let cell = self.cells[index]
        return (outcome == .refused || outcome == .portUnreachable) && cell.reason == "listening"
            && (cell.destinationKind == .container || cell.destinationKind == .namespace)
    }

    /// Reads the destination's listeners again and judges the cell's refusal by them.
    func listenerEvidence(_ index: Int) -> ListenerEvidence {
        let cell = self.cells[index]
        let name = cell.destinationName
        let proto = cell.protocol.rawValue
        guard let port = cell.port, let address = IPAddress(cell.address) else {
            return .undecidable("\(cell.destination) is no address and port: no verdict")
        }
        let answer = cell.protocol == .tcp ? "a TCP reset" : "an ICMP port-unreachable"
        let sockets: [ListeningSocket]
        switch self.listeners(of: name) {
        case .success(let read): sockets = read
        case .failure(let why):
            return .undecidable(
                "\(answer) from \(proto)/\(port), where the inventory showed \(name) listening, and its listeners "
                    + "cannot be read again (\(why)): a closed port cannot be told from a firewall's REJECT; no verdict"
            )
        }
        let matching = sockets.filter { $0.proto == proto && $0.port == port }
        let unspecified = address.isIPv6 ? "::" : "0.0.0.0"
        if let listener = matching.first(where: { IPAddress($0.address) == address || $0.address == unspecified }) {
            let rule = cell.protocol == .tcp ? "REJECT --reject-with tcp-reset" : "REJECT (icmp-port-unreachable)"
            return .listening(
                "\(answer) although \(name) listens on \(proto)/\(port) at \(listener.address) (read again from its "
                    + "namespace): a firewall's \(rule) answering for it, not a closed port")
        }
        if !address.isIPv6, matching.contains(where: { $0.address == "::" }) {
            return .undecidable(
                "\(answer) from \(proto)/\(port), where \(name) listens on :: only: a dual-stack listener behind a "
                    + "REJECT rule, or an IPv6-only one (IPV6_V6ONLY) with nothing for IPv4; the tool cannot tell "
                    + "which: no verdict")
        }
        return .gone(
            "the inventory showed \(name) listening on \(proto)/\(port); nothing listens there now (read again from "
                + "its namespace): a closed port, an open path")
    }

    /// The listening sockets in `name`'s namespace now (read at most twice a second per destination): through a
    /// process in it, else (a plain namespace without one) by entering it through its `/run/netns` name.
    func listeners(of name: String) -> Result<[ListeningSocket], ListenerReadError> {
        let now = monotonicNow()
        if let cached = self.listenerCache[name], now - cached.time < 0.5 { return .success(cached.sockets) }
        let read: Result<[ListeningSocket], ListenerReadError>
        if let watch = self.namespaceWatches[name] {
            if let pid = watch.livePid() {
                read = Self.readListeners(root: "/proc/\(pid)/net")
            } else if watch.named {
                read = self.readListenersInside(name, watch: watch)
            } else {
                read = .failure(ListenerReadError("no process is left in it"))
            }
        } else if self.deaths[name] == nil, let pid = self.plan.destinationPids[name] {
            read = Self.readListeners(root: "/proc/\(pid)/net")
        } else {
            read = .failure(ListenerReadError("its process is gone"))
        }
        if case .success(let sockets) = read { self.listenerCache[name] = (now, sockets) }
        return read
    }

    /// The listeners under `root` (`/proc/<pid>/net`, `/proc/thread-self/net`); a failure when the socket tables
    /// cannot be read (ProcNet reads an unreadable table as an empty one, which would read as "nothing listens").
    static func readListeners(root: String) -> Result<[ListeningSocket], ListenerReadError> {
        for table in ["tcp", "udp"] where !FileManager.default.isReadableFile(atPath: "\(root)/\(table)") {
            return .failure(ListenerReadError("\(root)/\(table) cannot be read"))
        }
        return .success(ProcNet.listeningSockets(root: root))
    }

    /// Enters a plain namespace through its name (checked to be the watched one) on the loop thread, and reads its
    /// listeners from inside; the next source is entered afresh.
    func readListenersInside(_ name: String, watch: NamespaceWatch) -> Result<[ListeningSocket], ListenerReadError> {
        let path = "/run/netns/\(name)"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(ListenerReadError("\(path): \(SystemCallError.last("open"))")) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, UInt64(info.st_ino) == watch.inode else {
            return .failure(ListenerReadError("\(path) is another namespace now"))
        }
        guard bh_setns_net(fd) == 0 else {
            return .failure(ListenerReadError("\(path): \(SystemCallError.last("setns"))"))
        }
        self.currentNamespace = nil  // no source's: the next probe enters its source again
        return Self.readListeners(root: "/proc/thread-self/net")
    }
}

/// Why a destination's listeners could not be read again.
struct ListenerReadError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
