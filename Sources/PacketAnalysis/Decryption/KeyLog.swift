import BulkheadModel
import Foundation

/// Secrets from NSS key log files (SSLKEYLOGFILE, RFC 9850) and pcapng Decryption Secrets Blocks, indexed by
/// the ClientHello random they belong to.
///
/// Lines look like `LABEL <client random, 64 hex digits> <secret, hex>`; `#` starts a comment. Labels Bulkhead
/// uses: `CLIENT_RANDOM` (TLS ≤ 1.2 master secret), `CLIENT_HANDSHAKE_TRAFFIC_SECRET`,
/// `SERVER_HANDSHAKE_TRAFFIC_SECRET`, `CLIENT_TRAFFIC_SECRET_0`, `SERVER_TRAFFIC_SECRET_0`. Others that are
/// valid (`EXPORTER_SECRET`, `CLIENT_EARLY_TRAFFIC_SECRET`, `EARLY_EXPORTER_SECRET`) are kept but unused.
public final class KeyLog: @unchecked Sendable {
    /// The secrets of one TLS connection.
    public struct Secrets: Sendable, Hashable {
        public var masterSecret: [UInt8]?
        public var clientHandshake: [UInt8]?
        public var serverHandshake: [UInt8]?
        public var clientTraffic: [UInt8]?
        public var serverTraffic: [UInt8]?
    }

    /// What reading one source of secrets found.
    public struct SourceReport: Sendable, Hashable {
        public var source: String
        public var linesRead = 0
        public var secrets = 0
        public var malformedLines = 0
        /// Up to five problems, each naming the line.
        public var problems: [String] = []
        /// Client randoms this source provided.
        var randoms: Set<[UInt8]> = []
    }

    private let lock = NSLock()
    private var secrets: [[UInt8]: Secrets] = [:]
    private var matched: Set<[UInt8]> = []
    public private(set) var reports: [SourceReport] = []

    public init() {}

    /// Whether any secret was loaded.
    public var isEmpty: Bool { self.lock.withLock { self.secrets.isEmpty } }

    /// Whether any source was read (even one that yielded nothing: that deserves a report).
    public var hasSources: Bool { self.lock.withLock { !self.reports.isEmpty } }

    /// Reads a key log file.
    ///
    /// - Throws: ``PathError`` naming the cause when the file cannot be read, or is not a regular file (a FIFO
    ///   would block; a malformed line is not an error: it is counted and named in the report).
    public func load(path: String) throws(PathError) {
        switch RegularFile.contents(path) {
        case .success(let bytes): self.load(text: Data(bytes), source: path)
        case .failure(let failure): throw PathError(path: path, message: failure.message)
        }
    }

    /// Reads key log text (from a file or a Decryption Secrets Block).
    public func load(text: Data, source: String) {
        var report = SourceReport(source: source)
        var parsed: [([UInt8], String, [UInt8])] = []
        // A key log holds a few lines per connection: parse bytes directly (no per-line Data or String).
        let bytes = [UInt8](text)
        var lineNumber = 0
        var lineStart = 0
        while lineStart <= bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != 0x0a { lineEnd += 1 }
            defer { lineStart = lineEnd + 1 }
            lineNumber += 1
            if lineStart == bytes.count { break }
            // Fields separated by spaces or tabs; blank, whitespace-only and comment lines are not entries.
            var fields: [Range<Int>] = []
            var index = lineStart
            while index < lineEnd {
                while index < lineEnd && (bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == 0x0d) {
                    index += 1
                }
                let start = index
                while index < lineEnd && bytes[index] != 0x20 && bytes[index] != 0x09 && bytes[index] != 0x0d {
                    index += 1
                }
                if index > start { fields.append(start..<index) }
            }
            if fields.isEmpty || bytes[fields[0].lowerBound] == UInt8(ascii: "#") { continue }
            report.linesRead += 1
            func problem(_ text: String) {
                report.malformedLines += 1
                if report.problems.count < 5 { report.problems.append("line \(lineNumber): \(text)") }
            }
            guard fields.count == 3 else {
                problem("expected LABEL CLIENT_RANDOM SECRET, found \(fields.count) fields")
                continue
            }
            let label = String(decoding: bytes[fields[0]], as: UTF8.self)
            guard let random = Self.hex(bytes[fields[1]]), random.count == 32 else {
                problem("client random is not 64 hex digits")
                continue
            }
            guard let secret = Self.hex(bytes[fields[2]]), [32, 48, 64].contains(secret.count) else {
                problem("secret is not 32, 48 or 64 bytes of hex")
                continue
            }
            switch label {
            case "CLIENT_RANDOM", "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET", "CLIENT_EARLY_TRAFFIC_SECRET",
                "EARLY_EXPORTER_SECRET":
                parsed.append((random, label, secret))
            default:
                problem("unknown label \(label.prefix(40))")
            }
        }
        self.lock.withLock {
            for (random, label, secret) in parsed {
                var entry = self.secrets[random] ?? Secrets()
                switch label {
                case "CLIENT_RANDOM": entry.masterSecret = secret
                case "CLIENT_HANDSHAKE_TRAFFIC_SECRET": entry.clientHandshake = secret
                case "SERVER_HANDSHAKE_TRAFFIC_SECRET": entry.serverHandshake = secret
                case "CLIENT_TRAFFIC_SECRET_0": entry.clientTraffic = secret
                case "SERVER_TRAFFIC_SECRET_0": entry.serverTraffic = secret
                default: break
                }
                self.secrets[random] = entry
                report.randoms.insert(random)
                report.secrets += 1
            }
            self.reports.append(report)
        }
    }

    /// The secrets for a connection, by its ClientHello random; marks them as used.
    func secrets(forClientRandom random: [UInt8]) -> Secrets? {
        self.lock.withLock {
            guard let found = self.secrets[random] else { return nil }
            self.matched.insert(random)
            return found
        }
    }

    /// One line per source: how many connections it had secrets for and how many of them the captures showed.
    public var summaryLines: [String] {
        self.lock.withLock {
            self.reports.map { report in
                let matched = report.randoms.intersection(self.matched).count
                let connections = report.randoms.count == 1 ? "1 connection" : "\(report.randoms.count) connections"
                var line =
                    "\(report.source): \(report.linesRead) lines read, \(report.secrets) secrets for \(connections); "
                    + "\(matched) matched a connection in the capture, \(report.randoms.count - matched) did not"
                if report.malformedLines > 0 {
                    line += "; \(report.malformedLines) malformed (" + report.problems.joined(separator: "; ") + ")"
                }
                return line
            }
        }
    }

    /// Whether a source's secrets matched nothing or it had malformed lines (worth a warning).
    public var hasProblems: Bool {
        self.lock.withLock {
            self.reports.contains { $0.malformedLines > 0 || $0.randoms.isDisjoint(with: self.matched) }
        }
    }

    static func hex(_ bytes: some Collection<UInt8>) -> [UInt8]? {
        guard bytes.count % 2 == 0 else { return nil }
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count / 2)
        var high: UInt8?
        for byte in bytes {
            let value: UInt8
            switch byte {
            case 0x30...0x39: value = byte - 0x30
            case 0x61...0x66: value = byte - 0x61 + 10
            case 0x41...0x46: value = byte - 0x41 + 10
            default: return nil
            }
            if let first = high {
                result.append(first << 4 | value)
                high = nil
            } else {
                high = value
            }
        }
        return result
    }
}
