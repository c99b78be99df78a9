import BulkheadModel
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads a network namespace's state from `/proc`: listening sockets, interface addresses. The `root` is
/// `/proc/<pid>/net` for a process's namespace, or `/proc/thread-self/net` on a thread inside one.
public enum ProcNet {
    /// Sockets in LISTEN state (TCP) or unconnected and bound (UDP), IPv4 and IPv6, sorted.
    public static func listeningSockets(root: String) -> [ListeningSocket] {
        var result = Set<ListeningSocket>()
        for (file, proto, listenState) in [
            ("tcp", "tcp", "0A"), ("tcp6", "tcp", "0A"), ("udp", "udp", "07"), ("udp6", "udp", "07"),
        ] {
            guard let text = try? String(contentsOfFile: "\(root)/\(file)", encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count > 3, fields[3] == listenState else { continue }
                if proto == "udp" && !fields[2].hasSuffix(":0000") { continue }  // connected UDP sockets are clients
                guard let (address, port) = Self.endpoint(fields[1]) else { continue }
                result.insert(ListeningSocket(proto: proto, address: address, port: port))
            }
        }
        return result.sorted()
    }

    /// The counters of a namespace that tell silence apart from a filter (see ``SilenceCounters``). Nil when
    /// `netstat` cannot be read.
    public static func silenceCounters(root: String) -> SilenceCounters? {
        guard let netstat = try? String(contentsOfFile: "\(root)/netstat", encoding: .utf8) else { return nil }
        let snmp = (try? String(contentsOfFile: "\(root)/snmp", encoding: .utf8)) ?? ""
        let snmp6 = (try? String(contentsOfFile: "\(root)/snmp6", encoding: .utf8)) ?? ""
        func sum(_ values: Int?...) -> Int? {
            values.contains { $0 != nil } ? values.reduce(0) { $0 + ($1 ?? 0) } : nil
        }
        return SilenceCounters(
            listenDrops: Self.counter("ListenDrops", group: "TcpExt", netstat: netstat),
            echoRequestsIn: sum(
                Self.counter("InEchos", group: "Icmp", netstat: snmp), Self.snmp6Counter("Icmp6InEchos", snmp6)),
            echoRepliesOut: sum(
                Self.counter("OutEchoReps", group: "Icmp", netstat: snmp),
                Self.snmp6Counter("Icmp6OutEchoReplies", snmp6)))
    }

    /// One counter of `snmp6`: a name and its value on each line.
    static func snmp6Counter(_ name: String, _ text: String) -> Int? {
        for line in text.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count == 2, fields[0] == name { return Int(fields[1]) }
        }
        return nil
    }

    /// One counter of a `netstat`/`snmp` file: a line of names after `group:`, then a line of their values.
    static func counter(_ name: String, group: String, netstat text: String) -> Int? {
        let lines = text.split(separator: "\n")
        for (index, line) in lines.enumerated() where index + 1 < lines.count {
            let names = line.split(separator: " ")
            let values = lines[index + 1].split(separator: " ")
            guard names.first == "\(group):", values.first == "\(group):", names.count == values.count,
                let column = names.firstIndex(where: { $0 == name })
            else { continue }
            return Int(values[column])
        }
        return nil
    }

    /// `0100007F:1F90` → ("127.0.0.1", 8080); 32 hex digits for IPv6. The kernel prints each 32-bit word in
    /// host byte order.
    static func endpoint(_ field: Substring) -> (String, Int)? {
        let parts = field.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1], radix: 16) else { return nil }
        let hex = Array(parts[0].utf8)
        guard hex.count == 8 || hex.count == 32 else { return nil }
        var words: [UInt32] = []
        for index in stride(from: 0, to: hex.count, by: 8) {
            guard let word = UInt32(String(decoding: hex[index..<(index + 8)], as: UTF8.self), radix: 16) else {
                return nil
            }
            words.append(word.byteSwapped)  // little-endian host: the printed word is the address bytes reversed
        }
        if words.count == 1 { return (IPAddress(ipv4: words[0]).description, port) }
        let high = UInt64(words[0]) << 32 | UInt64(words[1])
        let low = UInt64(words[2]) << 32 | UInt64(words[3])
        return (IPAddress(ipv6High: high, low: low).description, port)
    }

    /// Local interface addresses: IPv4 from `fib_trie` (host LOCAL routes), IPv6 from `if_inet6`.
    public static func addresses(root: String) -> [String] {
        var result: [String] = []
        if let trie = try? String(contentsOfFile: "\(root)/fib_trie", encoding: .utf8) {
            var last: String?
            var seen = Set<String>()
            for line in trie.split(separator: "\n") {
                let text = line.trimmingCharacters(in: .whitespaces)
                if text.hasPrefix("|-- ") {
                    last = String(text.dropFirst(4))
                } else if text.hasPrefix("/32 host LOCAL"), let address = last, !address.hasPrefix("127."),
                    seen.insert(address).inserted
                {
                    result.append(address)
                }
            }
        }
        if let inet6 = try? String(contentsOfFile: "\(root)/if_inet6", encoding: .utf8) {
            for line in inet6.split(separator: "\n") {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard let hex = fields.first, hex.count == 32, fields.count >= 6, fields[5] != "lo" else { continue }
                let bytes = Array(hex.utf8)
                guard let high = UInt64(String(decoding: bytes[0..<16], as: UTF8.self), radix: 16),
                    let low = UInt64(String(decoding: bytes[16..<32], as: UTF8.self), radix: 16),
                    let prefix = Int(fields[2], radix: 16)
                else { continue }
                let address = IPAddress(ipv6High: high, low: low)
                if high >> 48 == 0xfe80 { continue }  // link-local: not an address anything is reached on
                result.append("\(address)/\(prefix)")
            }
        }
        return result
    }

    /// Effective capabilities of a process that matter for the network.
    public static func networkCapabilities(pid: Int) -> [String]? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
            let mask = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return nil }
        return Self.capabilityNames(mask)
    }

    /// Bits of `capability.h` that bear on network isolation.
    public static let networkCapabilityBits: [(Int, String)] = [
        (10, "NET_BIND_SERVICE"), (12, "NET_ADMIN"), (13, "NET_RAW"), (21, "SYS_ADMIN"),
    ]

    static func capabilityNames(_ mask: UInt64) -> [String] {
        Self.networkCapabilityBits.compactMap { mask & (1 << UInt64($0.0)) != 0 ? $0.1 : nil }
    }

    /// Every network namespace on the host: named ones in `/run/netns` and the distinct namespaces of
    /// running processes, with the processes in each.
    public static func discoverNamespaces() -> [(name: String?, path: String, identity: String, pids: [Int])] {
        var byIdentity: [String: (name: String?, path: String, pids: [Int])] = [:]
        if let names = try? FileManager.default.contentsOfDirectory(atPath: "/run/netns") {
            for name in names.sorted() {
                let path = "/run/netns/\(name)"
                guard let identity = NetworkNamespace(path: path).identity() else { continue }
                byIdentity[identity] = (name, path, [])
            }
        }
        let processes = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int.init)
            .sorted()
        for pid in processes {
            var buffer = [CChar](repeating: 0, count: 64)
            let length = readlink("/proc/\(pid)/ns/net", &buffer, buffer.count - 1)
            guard length > 0 else { continue }
            let identity = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if var entry = byIdentity[identity] {
                entry.pids.append(pid)
                byIdentity[identity] = entry
            } else {
                byIdentity[identity] = (nil, "/proc/\(pid)/ns/net", [pid])
            }
        }
        return byIdentity.map { (name: $0.value.name, path: $0.value.path, identity: $0.key, pids: $0.value.pids) }
            .sorted { ($0.pids.first ?? 0, $0.path) < ($1.pids.first ?? 0, $1.path) }
    }

    /// The command name of a process.
    public static func command(pid: Int) -> String? {
        (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(
            in: .whitespacesAndNewlines)
    }
}

/// A namespace's kernel counters that say whether packets to it arrived though nothing answered: silence from
/// such a destination is no proof of a filter on the way.
public struct SilenceCounters: Sendable, Equatable {
    /// Connection attempts its TCP listeners dropped (`TcpExt: ListenDrops`): a full accept queue, among others.
    public var listenDrops: Int?
    /// ICMP (and ICMPv6) echo requests it received (`Icmp: InEchos`, `Icmp6InEchos`).
    public var echoRequestsIn: Int?
    /// Echo replies it sent (`Icmp: OutEchoReps`, `Icmp6OutEchoReplies`).
    public var echoRepliesOut: Int?

    public init(listenDrops: Int?, echoRequestsIn: Int?, echoRepliesOut: Int?) {
        self.listenDrops = listenDrops
        self.echoRequestsIn = echoRequestsIn
        self.echoRepliesOut = echoRepliesOut
    }

    /// What happened between `earlier` and this reading: connection attempts dropped at a full listen queue, and
    /// echo requests received but not answered (`net.ipv4.icmp_echo_ignore_all`; a reply dropped by a rule on its
    /// way out was still counted as sent). Nil for a counter missing from either reading.
    public func since(_ earlier: SilenceCounters) -> (listenDrops: Int?, unansweredEchoes: Int?) {
        func growth(_ now: Int?, _ then: Int?) -> Int? {
            guard let now, let then else { return nil }
            return max(0, now - then)
        }
        let requests = growth(self.echoRequestsIn, earlier.echoRequestsIn)
        let replies = growth(self.echoRepliesOut, earlier.echoRepliesOut)
        let unanswered = requests.flatMap { requests in replies.map { max(0, requests - $0) } }
        return (growth(self.listenDrops, earlier.listenDrops), unanswered)
    }
}
