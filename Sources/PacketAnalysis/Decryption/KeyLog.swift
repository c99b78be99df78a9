import BulkheadModel
import Foundation
import SystemCalls

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

    /// Where one connection's secrets are in the ``SecretStore`` (nil: not given).
    struct StoredSecrets: Sendable {
        var masterSecret: SecretStore.Place?
        var clientHandshake: SecretStore.Place?
        var serverHandshake: SecretStore.Place?
        var clientTraffic: SecretStore.Place?
        var serverTraffic: SecretStore.Place?
    }

    /// The secrets' bytes, one after the other in blocks of a megabyte (a block never moves once made, so the store
    /// grows without copying what it holds).
    struct SecretStore: Sendable {
        /// A secret: its block, where it starts there, its length.
        struct Place: Sendable {
            var block: UInt32
            var start: UInt32
            var length: UInt8
        }

        static let blockSize = 1 << 20
        private var blocks: [[UInt8]] = []

        /// Stores the bytes `hex` spells (an even number of hex digits, at most 128); nil when one is not a hex digit.
        mutating func store(hex digits: UnsafeRawBufferPointer) -> Place? {
            let length = digits.count / 2
            guard length > 0, length <= 64 else { return nil }
            if self.blocks.isEmpty || self.blocks[self.blocks.count - 1].count + length > Self.blockSize {
                var block: [UInt8] = []
                block.reserveCapacity(Self.blockSize)
                self.blocks.append(block)
            }
            let index = self.blocks.count - 1
            let start = self.blocks[index].count
            self.blocks[index].append(contentsOf: repeatElement(0, count: length))
            let decoded = self.blocks[index].withUnsafeMutableBytes {
                KeyLog.decodeHex(digits, into: UnsafeMutableRawBufferPointer(rebasing: $0[start..<(start + length)]))
            }
            guard decoded else {
                self.blocks[index].removeLast(length)
                return nil
            }
            return Place(block: UInt32(index), start: UInt32(start), length: UInt8(length))
        }

        func bytes(_ place: Place?) -> [UInt8]? {
            guard let place else { return nil }
            let start = Int(place.start)
            return Array(self.blocks[Int(place.block)][start..<(start + Int(place.length))])
        }
    }

    /// A ClientHello random (32 bytes) as a dictionary key: four words, hashed as one round over the first (the bytes
    /// are random) and compared in full. Hashing it as a `[UInt8]` combined its 32 elements one by one, three times
    /// per key log line.
    struct ClientRandom: Hashable, Sendable {
        var words: (UInt64, UInt64, UInt64, UInt64)

        /// The random of `bytes`, nil unless they are exactly 32.
        init?(_ bytes: UnsafeRawBufferPointer) {
            guard bytes.count == 32 else { return nil }
            self.words = (
                bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self),
                bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
            )
        }

        /// The random 64 hex digits spell, nil for any other text.
        init?(hex digits: UnsafeRawBufferPointer) {
            guard digits.count == 64 else { return nil }
            var bytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            let decoded = withUnsafeMutableBytes(of: &bytes) { KeyLog.decodeHex(digits, into: $0) }
            guard decoded else { return nil }
            self.words = bytes
        }

        static func == (left: ClientRandom, right: ClientRandom) -> Bool {
            left.words.0 == right.words.0 && left.words.1 == right.words.1 && left.words.2 == right.words.2
                && left.words.3 == right.words.3
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(self.words.0)
        }
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
        var randoms: Set<ClientRandom> = []
    }

    private let lock = NSLock()
    /// Each connection's secrets, as places in `store`: a key log of a busy capture holds hundreds of thousands of
    /// connections, and an array per secret cost a heap block each (about half a kilobyte a connection).
    private var secrets: [ClientRandom: StoredSecrets] = [:]
    private var store = SecretStore()
    private var matched: Set<ClientRandom> = []
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
        // Read a megabyte at a time, whole lines parsed as they come: a key log of a busy capture holds hundreds of
        // thousands of lines, and reading it whole (then copying it) cost several times its size in memory.
        let descriptor: Int32
        switch RegularFile.openForReading(path) {
        case .success(let opened): descriptor = opened.descriptor
        case .failure(let failure): throw PathError(path: path, message: failure.message)
        }
        defer { close(descriptor) }
        var reader = LineReader(source: path)
        var buffer = [UInt8](repeating: 0, count: Self.readSize)
        var kept = 0
        while true {
            let read = buffer.withUnsafeMutableBytes { raw -> Result<Int, SystemCallError> in
                guard let base = raw.baseAddress else { return .success(0) }
                return Result { () throws(SystemCallError) -> Int in
                    try SystemCall.retrying("read") { Glibc.read(descriptor, base + kept, raw.count - kept) }
                }
            }
            let count: Int
            switch read {
            case .success(let got): count = got
            case .failure(let error): throw PathError(path: path, message: "cannot read: \(error.message)")
            }
            let available = kept + count
            let consumed = buffer.withUnsafeBytes { raw in
                self.parse(UnsafeRawBufferPointer(rebasing: raw[0..<available]), final: count == 0, &reader)
            }
            if count == 0 { break }
            // The line not finished yet moves to the front. A line longer than the buffer is dropped, and reported
            // as malformed when its end comes (so that no tail of it is read as an entry).
            kept = available - consumed
            if kept == buffer.count {
                kept = 0
                reader.overlong = true
            }
            if kept > 0 {
                buffer.withUnsafeMutableBytes {
                    $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[consumed..<available]))
                }
            }
        }
        self.finish(reader)
    }

    /// How much of a key log file is read at once; also the longest line it takes.
    static let readSize = 1 << 20

    /// Where a read of key log text is: the line number reached and what the source has given so far.
    private struct LineReader {
        var report: SourceReport
        var lineNumber = 0
        /// The start of the current line was dropped: longer than a read.
        var overlong = false

        init(source: String) { self.report = SourceReport(source: source) }
    }

    private func finish(_ reader: LineReader) {
        self.lock.withLock { self.reports.append(reader.report) }
    }

    /// The labels of a key log line, by the secret they give.
    private enum Label: CaseIterable {
        case clientRandom, clientHandshake, serverHandshake, clientTraffic, serverTraffic, exporter, clientEarlyTraffic
        case earlyExporter

        var text: StaticString {
            switch self {
            case .clientRandom: "CLIENT_RANDOM"
            case .clientHandshake: "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
            case .serverHandshake: "SERVER_HANDSHAKE_TRAFFIC_SECRET"
            case .clientTraffic: "CLIENT_TRAFFIC_SECRET_0"
            case .serverTraffic: "SERVER_TRAFFIC_SECRET_0"
            case .exporter: "EXPORTER_SECRET"
            case .clientEarlyTraffic: "CLIENT_EARLY_TRAFFIC_SECRET"
            case .earlyExporter: "EARLY_EXPORTER_SECRET"
            }
        }

        private static let all = Self.allCases

        /// The label spelled by `bytes`, nil for any other word.
        init?(_ bytes: UnsafeRawBufferPointer) {
            guard let base = bytes.baseAddress else { return nil }
            for label in Self.all
            where label.text.utf8CodeUnitCount == bytes.count && memcmp(base, label.text.utf8Start, bytes.count) == 0 {
                self = label
                return
            }
            return nil
        }
    }

    /// Reads key log text (from a file or a Decryption Secrets Block).
    public func load(text: Data, source: String) {
        var reader = LineReader(source: source)
        text.withUnsafeBytes { _ = self.parse($0, final: true, &reader) }
        self.finish(reader)
    }

    /// Reads the whole lines of `bytes` (and, when `final`, a last line without its newline), fields in place with no
    /// per-line String, each secret stored as it is read; returns how many bytes the lines took.
    private func parse(_ bytes: UnsafeRawBufferPointer, final: Bool, _ reader: inout LineReader) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        var lineStart = 0
        self.lock.lock()
        defer { self.lock.unlock() }
        while lineStart < bytes.count {
            let found = memchr(base + lineStart, 0x0a, bytes.count - lineStart).map {
                base.distance(to: UnsafeRawPointer($0))
            }
            guard let lineEnd = found ?? (final ? bytes.count : nil) else { break }
            defer { lineStart = lineEnd + 1 }
            reader.lineNumber += 1
            let lineNumber = reader.lineNumber
            if reader.overlong {
                reader.overlong = false
                reader.report.linesRead += 1
                reader.report.malformedLines += 1
                if reader.report.problems.count < 5 {
                    reader.report.problems.append("line \(lineNumber): longer than \(Self.readSize) bytes")
                }
                continue
            }
            // Fields separated by spaces, tabs (and a CR); blank, whitespace-only and comment lines are not entries.
            var fields: (Range<Int>, Range<Int>, Range<Int>) = (0..<0, 0..<0, 0..<0)
            var fieldCount = 0
            var index = lineStart
            while index < lineEnd {
                while index < lineEnd && Self.isSeparator(bytes[index]) { index += 1 }
                let start = index
                while index < lineEnd && !Self.isSeparator(bytes[index]) { index += 1 }
                guard index > start else { continue }
                switch fieldCount {
                case 0: fields.0 = start..<index
                case 1: fields.1 = start..<index
                case 2: fields.2 = start..<index
                default: break
                }
                fieldCount += 1
            }
            if fieldCount == 0 || bytes[fields.0.lowerBound] == UInt8(ascii: "#") { continue }
            reader.report.linesRead += 1
            func problem(_ text: String) {
                reader.report.malformedLines += 1
                if reader.report.problems.count < 5 { reader.report.problems.append("line \(lineNumber): \(text)") }
            }
            guard fieldCount == 3 else {
                problem("expected LABEL CLIENT_RANDOM SECRET, found \(fieldCount) fields")
                continue
            }
            guard let random = ClientRandom(hex: UnsafeRawBufferPointer(rebasing: bytes[fields.1])) else {
                problem("client random is not 64 hex digits")
                continue
            }
            let secretDigits = UnsafeRawBufferPointer(rebasing: bytes[fields.2])
            guard [64, 96, 128].contains(secretDigits.count), Self.isHex(secretDigits) else {
                problem("secret is not 32, 48 or 64 bytes of hex")
                continue
            }
            let labelBytes = UnsafeRawBufferPointer(rebasing: bytes[fields.0])
            guard let label = Label(labelBytes) else {
                problem("unknown label \(String(decoding: labelBytes, as: UTF8.self).prefix(40))")
                continue
            }
            // Changed in place: one lookup, no copy of the connection's other secrets.
            switch label {
            case .clientRandom:
                self.secrets[random, default: StoredSecrets()].masterSecret = self.store.store(hex: secretDigits)
            case .clientHandshake:
                self.secrets[random, default: StoredSecrets()].clientHandshake = self.store.store(hex: secretDigits)
            case .serverHandshake:
                self.secrets[random, default: StoredSecrets()].serverHandshake = self.store.store(hex: secretDigits)
            case .clientTraffic:
                self.secrets[random, default: StoredSecrets()].clientTraffic = self.store.store(hex: secretDigits)
            case .serverTraffic:
                self.secrets[random, default: StoredSecrets()].serverTraffic = self.store.store(hex: secretDigits)
            case .exporter, .clientEarlyTraffic, .earlyExporter:
                // Kept as a connection with secrets, as before, though none of these is used.
                if self.secrets[random] == nil { self.secrets[random] = StoredSecrets() }
            }
            reader.report.randoms.insert(random)
            reader.report.secrets += 1
        }
        return min(lineStart, bytes.count)
    }

    /// The secrets for a connection, by its ClientHello random; marks them as used.
    func secrets(forClientRandom bytes: [UInt8]) -> Secrets? {
        guard let random = bytes.withUnsafeBytes({ ClientRandom($0) }) else { return nil }
        return self.lock.withLock {
            guard let found = self.secrets[random] else { return nil }
            self.matched.insert(random)
            return Secrets(
                masterSecret: self.store.bytes(found.masterSecret),
                clientHandshake: self.store.bytes(found.clientHandshake),
                serverHandshake: self.store.bytes(found.serverHandshake),
                clientTraffic: self.store.bytes(found.clientTraffic),
                serverTraffic: self.store.bytes(found.serverTraffic))
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

    /// The bytes the hex digits spell (either case), nil for an odd count or any other character (for test vectors
    /// and tools: the key log's own secrets are decoded straight into its store).
    static func hex(_ text: some Collection<UInt8>) -> [UInt8]? {
        let digits = Array(text)
        guard digits.count % 2 == 0 else { return nil }
        var bytes = [UInt8](repeating: 0, count: digits.count / 2)
        let decoded = digits.withUnsafeBytes { digits in
            bytes.withUnsafeMutableBytes { Self.decodeHex(digits, into: $0) }
        }
        return decoded ? bytes : nil
    }

    /// Writes the bytes the hex digits spell into `output` (half as long); false when any digit is not hex.
    static func decodeHex(_ digits: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool {
        Self.hexValues.withUnsafeBufferPointer { values in
            var invalid: UInt8 = 0
            for index in 0..<min(output.count, digits.count / 2) {
                let high = values[Int(digits[2 * index])]
                let low = values[Int(digits[2 * index + 1])]
                // A non-digit is 0xFF in the table: its high bit marks the whole text invalid, checked once.
                invalid |= high | low
                output[index] = high << 4 | (low & 0x0f)
            }
            return invalid & 0x80 == 0
        }
    }

    /// Whether `byte` separates the fields of a key log line: a space, a tab, or the CR of a CRLF line end.
    @inline(__always)
    private static func isSeparator(_ byte: UInt8) -> Bool {
        // One compare for the usual case (a hex digit or a letter is above the space).
        byte <= 0x20 && (byte == 0x20 || byte == 0x09 || byte == 0x0d)
    }

    /// Whether every byte is a hex digit.
    static func isHex(_ digits: UnsafeRawBufferPointer) -> Bool {
        Self.hexValues.withUnsafeBufferPointer { values in digits.allSatisfy { values[Int($0)] & 0x80 == 0 } }
    }

    /// Each byte's value as a hex digit, 0xFF for any other byte.
    private static let hexValues: [UInt8] = (0...255).map { byte in
        switch UInt8(byte) {
        case 0x30...0x39: UInt8(byte) - 0x30
        case 0x61...0x66: UInt8(byte) - 0x61 + 10
        case 0x41...0x46: UInt8(byte) - 0x41 + 10
        default: 0xFF
        }
    }
}
