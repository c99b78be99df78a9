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
///
/// A key log of a busy capture holds hundreds of thousands of connections, so they are kept in a ``Store``: records
/// and secrets one after the other, about 256 bytes a TLS 1.3 connection, up to a memory budget (16 MB by default,
/// some 65,000 connections); past it in a scratch file, read back for each connection a capture shows, so that memory
/// stays bounded (about 20 bytes a further connection) however large the key log.
public final class KeyLog: @unchecked Sendable {
    /// The secrets of one TLS connection.
    public struct Secrets: Sendable, Hashable {
        public var masterSecret: [UInt8]?
        public var clientHandshake: [UInt8]?
        public var serverHandshake: [UInt8]?
        public var clientTraffic: [UInt8]?
        public var serverTraffic: [UInt8]?
    }

    /// A ClientHello random (32 bytes) as four words.
    struct ClientRandom: Equatable, Sendable {
        var words: (UInt64, UInt64, UInt64, UInt64)

        init(words: (UInt64, UInt64, UInt64, UInt64)) { self.words = words }

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

        /// The random the 64 hex digits at `digits` spell, nil when one is not a hex digit.
        init?(hex digits: UnsafeRawPointer) {
            var bytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            let decoded = withUnsafeMutableBytes(of: &bytes) { output in
                output.baseAddress.map { KeyLog.decodeHexBlocks(digits, count: 64, into: $0) } ?? false
            }
            guard decoded else { return nil }
            self.words = bytes
        }

        /// The 32 bytes.
        var bytes: [UInt8] { withUnsafeBytes(of: self.words) { Array($0) } }

        static func == (left: ClientRandom, right: ClientRandom) -> Bool {
            left.words.0 == right.words.0 && left.words.1 == right.words.1 && left.words.2 == right.words.2
                && left.words.3 == right.words.3
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
        /// The connections this source gave secrets for, as indices of the ``Store``'s entries, each once.
        var connections: [UInt32] = []
    }

    private let lock = NSLock()
    /// Held for a whole load: one source is read at a time (the entries' mark "given by the source being read"
    /// relies on it). Lookups take only `lock`.
    private let loading = NSLock()
    private var store: Store
    public private(set) var reports: [SourceReport] = []

    /// The memory budget for records and secrets by default: about 65,000 TLS 1.3 connections (a 300 MB capture of
    /// short connections has 16,300). Past it, a connection's secrets cost one read from the scratch file when the
    /// capture shows it, which did not measurably slow a run where every connection was read back (BENCHMARKS.md,
    /// session 13).
    public static let defaultResidentBytes = 16 << 20

    /// An empty key log keeping up to `residentBytes` of secrets in memory, the rest in an unlinked scratch file in
    /// `spillFolder` (made only when needed).
    public init(residentBytes: Int = KeyLog.defaultResidentBytes, spillFolder: String = ScratchFile.defaultFolder) {
        self.store = Store(residentBytes: residentBytes, spillFolder: spillFolder)
    }

    deinit { self.store.release() }

    /// Whether any secret was loaded.
    public var isEmpty: Bool { self.lock.withLock { self.store.count == 0 } }

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
        self.loading.lock()
        defer { self.loading.unlock() }
        var reader = LineReader(source: path)
        // On a read error the lines read so far stay, but their source is not reported (as before): only the marks
        // of the source being read are cleared.
        defer { self.lock.withLock { self.store.unmark(reader.report.connections) } }
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
        self.lock.withLock { self.reports.append(reader.report) }
    }

    /// How much of a key log file is read at once; also the longest line it takes.
    static let readSize = 1 << 20

    /// Where a read of key log text is: the line number reached and what the source has given so far.
    fileprivate struct LineReader {
        var report: SourceReport
        var lineNumber = 0
        /// The start of the current line was dropped: longer than a read.
        var overlong = false
        /// The hex digits of the last random read by the fast path, and its entry (-1: none yet): a connection's
        /// lines usually come one after the other.
        var lastRandom: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        var lastEntry = -1

        init(source: String) { self.report = SourceReport(source: source) }

        /// Counts a malformed line, naming it among the first five problems.
        mutating func problem(_ text: @autoclosure () -> String) {
            self.report.malformedLines += 1
            if self.report.problems.count < 5 { self.report.problems.append("line \(self.lineNumber): \(text())") }
        }
    }

    /// The labels of a key log line, by the secret they give.
    fileprivate enum Label: CaseIterable {
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

        /// Which of a connection's five secrets the label gives (an index of ``Store/Record/places``), nil for a
        /// label whose secret is not kept.
        var slot: Int? {
            switch self {
            case .clientRandom: 0
            case .clientHandshake: 1
            case .serverHandshake: 2
            case .clientTraffic: 3
            case .serverTraffic: 4
            case .exporter, .clientEarlyTraffic, .earlyExporter: nil
            }
        }

        /// The longest label.
        static let longest = 31

        /// The label spelled by the `count` bytes at `base`, nil for any other word: the one candidate its length and
        /// first letter leave, compared.
        init?(_ base: UnsafeRawPointer, count: Int) {
            guard count > 0 else { return nil }
            let client = base.load(as: UInt8.self) == UInt8(ascii: "C")
            let candidate: Label
            switch count {
            case 13: candidate = .clientRandom
            case 31: candidate = client ? .clientHandshake : .serverHandshake
            case 23: candidate = client ? .clientTraffic : .serverTraffic
            case 15: candidate = .exporter
            case 27: candidate = .clientEarlyTraffic
            case 21: candidate = .earlyExporter
            default: return nil
            }
            guard candidate.text.utf8CodeUnitCount == count, memcmp(base, candidate.text.utf8Start, count) == 0 else {
                return nil
            }
            self = candidate
        }
    }

    /// Reads key log text (from a file or a Decryption Secrets Block).
    public func load(text: Data, source: String) {
        self.loading.lock()
        defer { self.loading.unlock() }
        var reader = LineReader(source: source)
        text.withUnsafeBytes { _ = self.parse($0, final: true, &reader) }
        self.lock.withLock {
            self.store.unmark(reader.report.connections)
            self.reports.append(reader.report)
        }
    }

    /// Reads the whole lines of `bytes` (and, when `final`, a last line without its newline); returns how many bytes
    /// the lines took.
    private func parse(_ bytes: UnsafeRawBufferPointer, final: Bool, _ reader: inout LineReader) -> Int {
        self.lock.withLock { self.store.read(bytes, final: final, &reader) }
    }

    /// The secrets for a connection, by its ClientHello random; marks them as used.
    func secrets(forClientRandom bytes: [UInt8]) -> Secrets? {
        guard let random = bytes.withUnsafeBytes({ ClientRandom($0) }) else { return nil }
        let copies = UnsafeMutableRawPointer.allocate(byteCount: Store.copySize, alignment: 16)
        defer { copies.deallocate() }
        return self.secretViews(random, copies: { copies }).map { views in
            Secrets(
                masterSecret: views.masterSecret.map(Array.init),
                clientHandshake: views.clientHandshake.map(Array.init),
                serverHandshake: views.serverHandshake.map(Array.init),
                clientTraffic: views.clientTraffic.map(Array.init), serverTraffic: views.serverTraffic.map(Array.init))
        }
    }

    /// A connection's secrets: views of the key log's memory, which it neither moves nor frees while it lives (a
    /// secret read later for the same connection goes elsewhere), or of the copies the caller was asked for when the
    /// secrets were on disk. A session holding the key log (and its copies) can keep them, rather than five arrays per
    /// connection.
    struct SecretViews {
        var masterSecret: UnsafeRawBufferPointer?
        var clientHandshake: UnsafeRawBufferPointer?
        var serverHandshake: UnsafeRawBufferPointer?
        var clientTraffic: UnsafeRawBufferPointer?
        var serverTraffic: UnsafeRawBufferPointer?

        /// The secret of ``Label/slot`` `slot`.
        subscript(slot: Int) -> UnsafeRawBufferPointer? {
            get {
                switch slot {
                case 0: self.masterSecret
                case 1: self.clientHandshake
                case 2: self.serverHandshake
                case 3: self.clientTraffic
                default: self.serverTraffic
                }
            }
            set {
                switch slot {
                case 0: self.masterSecret = newValue
                case 1: self.clientHandshake = newValue
                case 2: self.serverHandshake = newValue
                case 3: self.clientTraffic = newValue
                default: self.serverTraffic = newValue
                }
            }
        }
    }

    /// The secrets for a connection, by its ClientHello random, as views; marks them as used. When they are on disk
    /// they are copied to the ``Store/copySize`` bytes (16-byte aligned) `copies()` gives, which the caller owns.
    func secretViews(_ random: ClientRandom, copies: () -> UnsafeMutableRawPointer) -> SecretViews? {
        self.lock.withLock { self.store.secrets(random, copies: copies) }
    }

    /// Whether some secrets went past the memory budget to the scratch file.
    var spilled: Bool { self.lock.withLock { self.store.spilled } }

    /// One line per source: how many connections it had secrets for and how many of them the captures showed; then a
    /// line when secrets kept on disk could not be read back (those connections were analysed without them), or when
    /// no scratch file could take the secrets past the memory budget.
    public var summaryLines: [String] {
        self.lock.withLock {
            self.reports.map { report in
                Self.summaryLine(
                    report, connections: report.connections.count,
                    matched: self.store.matchedCount(report.connections))
            } + self.store.notes
        }
    }

    /// The summary line of a source that gave secrets for `given` connections, `matched` of them seen.
    static func summaryLine(_ report: SourceReport, connections given: Int, matched: Int) -> String {
        let connections = given == 1 ? "1 connection" : "\(given) connections"
        var line =
            "\(report.source): \(report.linesRead) lines read, \(report.secrets) secrets for \(connections); "
            + "\(matched) matched a connection in the capture, \(given - matched) did not"
        if report.malformedLines > 0 {
            line += "; \(report.malformedLines) malformed (" + report.problems.joined(separator: "; ") + ")"
        }
        return line
    }

    /// Whether a source's secrets matched nothing or it had malformed lines (worth a warning).
    public var hasProblems: Bool {
        self.lock.withLock {
            !self.store.notes.isEmpty
                || self.reports.contains {
                    $0.malformedLines > 0 || self.store.matchedCount($0.connections, upTo: 1) == 0
                }
        }
    }

    /// The bytes the hex digits spell (either case), nil for an odd count or any other character (for test vectors
    /// and tools).
    static func hex(_ text: some Collection<UInt8>) -> [UInt8]? {
        var digits = Array(text)
        guard digits.count % 2 == 0 else { return nil }
        let count = digits.count / 2
        // Padded with zeros to whole blocks.
        digits += repeatElement(UInt8(ascii: "0"), count: (16 - digits.count % 16) % 16)
        var bytes = [UInt8](repeating: 0, count: digits.count / 2)
        let decoded = digits.withUnsafeBytes { digits in
            bytes.withUnsafeMutableBytes { output in
                guard let input = digits.baseAddress, let base = output.baseAddress else { return true }
                return Self.decodeHexBlocks(input, count: digits.count, into: base)
            }
        }
        return decoded ? Array(bytes[0..<count]) : nil
    }

    /// Writes the bytes the `count` (a multiple of 16) hex digits at `digits` spell at `output` (half as many);
    /// false when any is not a hex digit (what was written is then meaningless).
    @inline(__always)
    static func decodeHexBlocks(_ digits: UnsafeRawPointer, count: Int, into output: UnsafeMutableRawPointer) -> Bool {
        var invalid = SIMD2<UInt64>()
        var offset = 0
        while offset < count {
            let (value, bad) = Self.decodeHexBlocks(
                SIMD2(
                    UInt64(littleEndian: digits.loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
                    UInt64(littleEndian: digits.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))))
            invalid |= bad
            output.storeBytes(of: value.littleEndian, toByteOffset: offset / 2, as: UInt64.self)
            offset += 16
        }
        return invalid == .zero
    }

    /// ``decodeHexBlocks(_:count:into:)`` for a secret's 64, 96 or 128 digits: each a loop of known length, which the
    /// compiler unrolls.
    @inline(__always)
    static func decodeSecret(_ digits: UnsafeRawPointer, count: Int, into output: UnsafeMutableRawPointer) -> Bool {
        switch count {
        case 64: Self.decodeHexBlocks(digits, count: 64, into: output)
        case 96: Self.decodeHexBlocks(digits, count: 96, into: output)
        default: Self.decodeHexBlocks(digits, count: 128, into: output)
        }
    }

    /// The eight bytes two blocks of eight hex digits spell (in each word the first digit in the low byte; the first
    /// byte in the low byte of the value), and a value that is not zero when any digit is not hex: each byte is tested
    /// and converted at once within the words, both words at once (no table, no branch).
    @inline(__always)
    static func decodeHexBlocks(_ digits: SIMD2<UInt64>) -> (value: UInt64, invalid: SIMD2<UInt64>) {
        let high = SIMD2<UInt64>(repeating: 0x8080_8080_8080_8080)
        // For a byte below 0x80, adding 0x80 - n sets its high bit exactly when it is at least n (no carry out of
        // it); a byte with its high bit set is invalid anyway.
        let digit = (digits &+ 0x5050_5050_5050_5050) & ~(digits &+ 0x4646_4646_4646_4646)  // 0x30...0x39
        let folded = digits | 0x2020_2020_2020_2020  // A-F to a-f
        let letter = (folded &+ 0x1f1f_1f1f_1f1f_1f1f) & ~(folded &+ 0x1919_1919_1919_1919)  // 0x61...0x66
        let invalid = ((digit | letter) & high ^ high) | (digits & high)
        // Each digit's value in its byte: the low four bits, plus 9 for a letter.
        let nibbles = (digits & 0x0f0f_0f0f_0f0f_0f0f) &+ ((letter & high) &>> 7) &* 9
        // Pairs of digits to bytes (in the even bytes), then the even bytes together in the low half.
        var packed = ((nibbles &<< 4) | (nibbles &>> 8)) & 0x00ff_00ff_00ff_00ff
        packed = (packed | (packed &>> 8)) & 0x0000_ffff_0000_ffff
        packed |= packed &>> 16
        let halves = unsafeBitCast(packed, to: SIMD4<UInt32>.self)
        return (unsafeBitCast(SIMD2(halves[0], halves[2]), to: UInt64.self), invalid)
    }

    /// Whether `byte` separates the fields of a key log line: a space, a tab, or the CR of a CRLF line end.
    @inline(__always)
    fileprivate static func isSeparator(_ byte: UInt8) -> Bool {
        // One compare for the usual case (a hex digit or a letter is above the space).
        byte <= 0x20 && (byte == 0x20 || byte == 0x09 || byte == 0x0d)
    }

    /// Every connection's random and secrets, compact, and past a budget on disk. Used under the key log's lock; its
    /// memory is freed by ``release()``.
    ///
    /// An arena of 1 MB chunks receives, in the order lines come, each new connection's ``Record`` (its random, where
    /// each of its five secrets is and their lengths: 64 bytes) and each secret's bytes (32, 48 or 64). A place in the
    /// arena is 32 bits: chunk << 16 | 16-byte unit. The first `residentChunks` chunks stay in memory and never move,
    /// so a lookup hands out views of them. Later chunks go to an unlinked scratch file as each fills (only the one
    /// being filled stays in memory), and their secrets are read back and copied for the session that asks (one read
    /// of a few hundred bytes: a connection's record and the secrets after it): a key log of millions of connections
    /// costs the budget plus about 20 bytes a connection in memory (an open-addressing table of hash tags and entry
    /// indices, 8 bytes a slot at most 3/4 used, and each entry's record place and marks). Where no scratch file can
    /// be written, chunks stay in memory: complete results over the memory bound.
    struct Store {
        /// A connection in the arena.
        struct Record {
            var random: ClientRandom
            /// Where each secret starts, by ``Label/slot``.
            var places: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0, 0)
            /// Bits 2k and 2k + 1: the length of secret k (0: not given, 1: 32 bytes, 2: 48, 3: 64).
            var lengths: UInt16 = 0

            /// The place of secret `slot`.
            func place(_ slot: Int) -> UInt32 {
                switch slot {
                case 0: self.places.0
                case 1: self.places.1
                case 2: self.places.2
                case 3: self.places.3
                default: self.places.4
                }
            }

            /// The length of secret `slot` in bytes, 0 when it was not given.
            func length(_ slot: Int) -> Int {
                let code = Int(self.lengths >> (2 * slot) & 3)
                return code == 0 ? 0 : (code + 1) * 16
            }

            /// Gives secret `slot` the `length` bytes at `place`.
            @inline(__always)
            mutating func set(_ slot: Int, place: UInt32, length: Int) {
                switch slot {
                case 0: self.places.0 = place
                case 1: self.places.1 = place
                case 2: self.places.2 = place
                case 3: self.places.3 = place
                default: self.places.4 = place
                }
                let shift = UInt16(2 * slot)
                self.lengths = self.lengths & ~(3 << shift) | UInt16(length / 16 - 1) << shift
            }
        }

        /// What memory keeps of a connection: where its record is, and two marks.
        struct Entry {
            var record: UInt32
            var marks: UInt8 = 0
        }

        /// The scratch file the chunks past the budget go to, and the first failure to read it back (reported once
        /// the capture is read). A class: lookups, which only read the store, record a failure.
        final class Spill {
            let file: ScratchFile
            var failure: String?

            init(file: ScratchFile) { self.file = file }
        }

        /// The entry was given by the source being read (so it is counted once for it).
        static let inSource: UInt8 = 1
        /// A capture's connection asked for the entry.
        static let matched: UInt8 = 2
        static let entriesPerChunk = 1 << 14
        /// Bytes in a chunk of the arena: 2^16 units of 16 bytes, so that a place is chunk << 16 | unit.
        static let chunkSize = 1 << 20
        /// At most this many chunks (64 GB), as a place has 32 bits.
        static let maximumChunks = 1 << 16
        /// The arena bytes a record takes (a multiple of the unit).
        static let recordSize = 64
        /// Room for a connection's five secrets copied out of the file: five places of 64 bytes.
        static let copySize = 5 * 64

        private(set) var count = 0
        private var entries: [UnsafeMutablePointer<Entry>] = []
        /// Each chunk's memory, nil for one in the file (at chunk << 20). Memory here is never moved or freed while
        /// the store lives, but for ``filling``.
        private var chunks: [UnsafeMutableRawPointer?] = []
        /// Once chunks spill: the memory of the last chunk, being filled, which takes the next chunk once this one is
        /// in the file.
        private var filling: UnsafeMutableRawPointer?
        /// Bytes used in the last chunk.
        private var end = Self.chunkSize
        private let residentChunks: Int
        private let spillFolder: String
        private var spill: Spill?
        /// Why the store takes nothing more (it is full); nil while it takes lines.
        private(set) var refusal: String?
        /// Why chunks past the budget stayed in memory (no scratch file could be written), if they did.
        private(set) var keptInMemory: String?
        /// Per slot: the tag (the hash's high 32 bits) << 32 | entry index + 1; 0 for a free slot. A power of two long,
        /// at most 3/4 used; a slot is picked by the tag's high bits, so the table grows without reading the records.
        private var slots: UnsafeMutablePointer<UInt64>?
        private var slotCount = 0
        private var slotBits = 0
        /// Chosen per key log, so that randoms picked to collide in the table (a hostile capture's secrets) are not easily
        /// made: the hash mixes all 32 bytes with it.
        private let seed = UInt64.random(in: .min ... .max)

        /// A store keeping up to `residentBytes` of records and secrets in memory, the rest in a scratch file in
        /// `spillFolder`.
        init(residentBytes: Int, spillFolder: String) {
            self.residentChunks = min(Self.maximumChunks, max(0, residentBytes) / Self.chunkSize)
            self.spillFolder = spillFolder
        }

        /// Frees the memory (for the key log's deinit: the store is not used after).
        func release() {
            for chunk in self.entries { chunk.deallocate() }
            for case let chunk? in self.chunks where chunk != self.filling { chunk.deallocate() }
            self.filling?.deallocate()
            self.slots?.deallocate()
        }

        /// Whether the secrets went past the memory budget (some are on disk).
        var spilled: Bool { self.spill != nil }

        /// The first failure to read spilled secrets back, if any.
        var readFailure: String? { self.spill?.failure }

        /// What the key log's summary says about where its secrets were kept, when that went wrong.
        var notes: [String] {
            (self.readFailure.map { ["\($0); the connections concerned were analysed without them"] } ?? [])
                + (self.keptInMemory.map { [$0] } ?? [])
        }

        @inline(__always)
        private func entry(_ index: Int) -> UnsafeMutablePointer<Entry> {
            self.entries[index / Self.entriesPerChunk] + index % Self.entriesPerChunk
        }

        /// The arena's bytes at `place` in memory; nil when they are in the file.
        @inline(__always)
        private func memory(_ place: UInt32) -> UnsafeMutableRawPointer? {
            self.chunks[Int(place >> 16)].map { $0 + Int(place & 0xffff) << 4 }
        }

        /// Whether the arena's bytes at `place` stay where they are in memory (not in the file, nor in the chunk being
        /// filled, whose memory takes the next one).
        @inline(__always)
        private func isKept(_ place: UInt32) -> Bool {
            guard let chunk = self.chunks[Int(place >> 16)] else { return false }
            return chunk != self.filling
        }

        /// Where the bytes at `place` are in the file (each chunk at its own megabyte).
        private static func fileOffset(_ place: UInt32) -> Int64 {
            Int64(place >> 16) << 20 | Int64(place & 0xffff) << 4
        }

        /// Copies `count` arena bytes at `place` to `output`; false when they could not be read back.
        private func copy(_ place: UInt32, count: Int, into output: UnsafeMutableRawPointer) -> Bool {
            if let memory = self.memory(place) {
                output.copyMemory(from: memory, byteCount: count)
                return true
            }
            guard let spill = self.spill else { return false }
            do throws(SystemCallError) {
                try spill.file.read(
                    into: UnsafeMutableRawBufferPointer(start: output, count: count), at: Self.fileOffset(place))
                return true
            } catch {
                spill.failure =
                    spill.failure ?? "secrets kept in \(spill.file.folder) could not be read back: \(error.message)"
                return false
            }
        }

        /// The record of entry `index`; nil when it could not be read back. A record on disk is read with the arena
        /// bytes after it, up to ``windowSize`` (where the connection's secrets usually are, its lines having come
        /// together), into `window` when one is given; the count read is returned (0 for a record in memory).
        private func record(_ index: Int, window: UnsafeMutableRawPointer? = nil) -> (record: Record, read: Int)? {
            let place = self.entry(index).pointee.record
            if let memory = self.memory(place) { return (memory.load(as: Record.self), 0) }
            if let window {
                let count = min(Self.windowSize, Self.chunkSize - Int(place & 0xffff) << 4)
                guard self.copy(place, count: count, into: window) else { return nil }
                return (window.load(as: Record.self), count)
            }
            var record = Record(random: ClientRandom(words: (0, 0, 0, 0)))
            let read = withUnsafeMutableBytes(of: &record) { raw in
                raw.baseAddress.map { self.copy(place, count: raw.count, into: $0) } ?? false
            }
            return read ? (record, MemoryLayout<Record>.size) : nil
        }

        /// The bytes a lookup reads at once from the file: a record and four secrets of 64 bytes.
        static let windowSize = recordSize + 4 * 64

        /// Changes the record of entry `index` where it is; false when its file could not be read or written.
        private mutating func update(_ index: Int, _ change: (inout Record) -> Void) -> Bool {
            let place = self.entry(index).pointee.record
            if let memory = self.memory(place) {
                var record = memory.load(as: Record.self)
                change(&record)
                memory.storeBytes(of: record, as: Record.self)
                return true
            }
            // A later line for a connection whose record went to the file (rare: a connection's lines come close).
            guard var record = self.record(index)?.record, let spill = self.spill else { return false }
            change(&record)
            do throws(SystemCallError) {
                try withUnsafeBytes(of: &record) { raw throws(SystemCallError) in
                    try spill.file.write(raw, at: Self.fileOffset(place))
                }
                return true
            } catch {
                spill.failure = spill.failure ?? "secrets could not be kept in \(spill.file.folder): \(error.message)"
                return false
            }
        }

        /// A place for `bytes` (at most 64, a multiple of 16) at the arena's end; nil, with ``refusal`` set, when the
        /// store takes nothing more.
        private mutating func reserve(_ bytes: Int) -> UInt32? {
            if self.end + bytes > Self.chunkSize {
                guard self.beginChunk() else { return nil }
            }
            let place = UInt32(truncatingIfNeeded: (self.chunks.count - 1) << 16 | self.end >> 4)
            self.end += bytes
            return place
        }

        /// Begins a chunk: in memory within the budget; past it, the full chunk goes to the file and its memory takes
        /// the new one. When the file cannot be made or written, chunks stay in memory from then on.
        private mutating func beginChunk() -> Bool {
            guard self.refusal == nil else { return false }
            guard self.chunks.count < Self.maximumChunks else {
                self.refusal = "more secrets than a key log holds (64 GB)"
                return false
            }
            self.end = 0
            guard self.chunks.count >= self.residentChunks, self.keptInMemory == nil else {
                self.chunks.append(.allocate(byteCount: Self.chunkSize, alignment: 16))
                return true
            }
            do throws(SystemCallError) {
                if let filling = self.filling, let spill = self.spill {
                    let last = self.chunks.count - 1
                    try spill.file.write(
                        UnsafeRawBufferPointer(start: filling, count: Self.chunkSize), at: Int64(last) << 20)
                    self.chunks[last] = nil
                } else {
                    self.spill = Spill(file: try ScratchFile(folder: self.spillFolder, prefix: "bulkhead-keylog"))
                    self.filling = .allocate(byteCount: Self.chunkSize, alignment: 16)
                }
                self.chunks.append(self.filling)
            } catch {
                // The chunk being filled (if any) stays where it is, and is no longer reused.
                self.keptInMemory =
                    "secrets past \(self.residentChunks) MB stayed in memory: no scratch file in \(self.spillFolder) "
                    + "(\(error.message))"
                self.filling = nil
                self.chunks.append(.allocate(byteCount: Self.chunkSize, alignment: 16))
            }
            return true
        }

        /// The hash's high 32 bits, the tag kept in the table.
        @inline(__always)
        private func tag(_ random: ClientRandom) -> UInt32 {
            var hash = (self.seed ^ random.words.0) &* 0x9e37_79b9_7f4a_7c15
            hash = (hash ^ random.words.1) &* 0xc2b2_ae3d_27d4_eb4f
            hash = (hash ^ random.words.2) &* 0x9e37_79b9_7f4a_7c15
            hash = (hash ^ random.words.3) &* 0xc2b2_ae3d_27d4_eb4f
            return UInt32(truncatingIfNeeded: hash >> 32)
        }

        /// The entry for `random` and its record (read into `window` when on disk, see ``record(_:window:)``).
        private func find(_ random: ClientRandom, tag: UInt32, window: UnsafeMutableRawPointer? = nil) -> (
            index: Int, record: Record, read: Int
        )? {
            guard let slots = self.slots else { return nil }
            let mask = self.slotCount - 1
            var slot = Int(tag >> (32 - self.slotBits))
            while true {
                let stored = slots[slot]
                if stored == 0 { return nil }
                // A tag shared by two randoms is told apart by the record.
                if UInt32(truncatingIfNeeded: stored >> 32) == tag {
                    let index = Int(UInt32(truncatingIfNeeded: stored)) - 1
                    if let found = self.record(index, window: window), found.record.random == random {
                        return (index, found.record, found.read)
                    }
                }
                slot = (slot + 1) & mask
            }
        }

        /// The index of the entry for `random`, made when there is none; nil when the store takes nothing more.
        mutating func findOrAdd(_ random: ClientRandom) -> Int? {
            let tag = self.tag(random)
            if let found = self.find(random, tag: tag) { return found.index }
            guard self.count < 1 << 31, let place = self.reserve(Self.recordSize), let memory = self.memory(place)
            else {
                return nil
            }
            memory.storeBytes(of: Record(random: random), as: Record.self)
            if (self.count + 1) * 4 > self.slotCount * 3 { self.grow() }
            if self.count % Self.entriesPerChunk == 0 {
                self.entries.append(.allocate(capacity: Self.entriesPerChunk))
            }
            let index = self.count
            self.entry(index).initialize(to: Entry(record: place))
            self.count += 1
            self.insert(UInt64(tag) << 32 | UInt64(index + 1))
            return index
        }

        /// Puts a slot's value in the table.
        private mutating func insert(_ stored: UInt64) {
            guard let slots = self.slots else { return }
            let mask = self.slotCount - 1
            var slot = Int(UInt32(truncatingIfNeeded: stored >> 32) >> (32 - self.slotBits))
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = stored
        }

        /// Doubles the table (at first 4096 slots) and puts every slot's value back in it.
        private mutating func grow() {
            let (old, oldCount) = (self.slots, self.slotCount)
            self.slotCount = max(4096, 2 * self.slotCount)
            self.slotBits = self.slotCount.trailingZeroBitCount
            let slots = UnsafeMutablePointer<UInt64>.allocate(capacity: self.slotCount)
            slots.initialize(repeating: 0, count: self.slotCount)
            self.slots = slots
            if let old {
                for slot in 0..<oldCount where old[slot] != 0 { self.insert(old[slot]) }
                old.deallocate()
            }
        }

        /// Keeps the `length` bytes at `secret` as secret `slot` of entry `index`; false when the store takes nothing
        /// more.
        @inline(__always)
        mutating func keep(_ secret: UnsafeRawPointer, _ length: Int, slot: Int, of index: Int) -> Bool {
            guard let place = self.reserve(length), let memory = self.memory(place) else { return false }
            memory.copyMemory(from: secret, byteCount: length)
            return self.update(index) { $0.set(slot, place: place, length: length) }
        }

        /// The connection's secrets, by its random; marks it as matched. Secrets in memory are handed out as views;
        /// when any is on disk, all are copied to the `copySize` bytes `copies()` gives (asked once), which the caller
        /// keeps as long as it uses them. nil when there is no entry, or its secrets could not be read back.
        func secrets(_ random: ClientRandom, copies: () -> UnsafeMutableRawPointer) -> SecretViews? {
            withUnsafeTemporaryAllocation(byteCount: Self.windowSize, alignment: 16) { window in
                guard let windowStart = window.baseAddress,
                    let (index, record, read) = self.find(random, tag: self.tag(random), window: windowStart)
                else { return nil }
                self.entry(index).pointee.marks |= Self.matched
                let onDisk = (0..<5).contains {
                    record.length($0) > 0 && !self.isKept(record.place($0))
                }
                let target = onDisk ? copies() : nil
                // Where the window read from the file starts, in bytes of the arena.
                let recordPlace = self.entry(index).pointee.record
                let windowOffset = Int(recordPlace >> 16) << 20 | Int(recordPlace & 0xffff) << 4
                var views = SecretViews()
                for slot in 0..<5 {
                    let (place, length) = (record.place(slot), record.length(slot))
                    guard length > 0 else { continue }
                    guard let target else {
                        views[slot] = self.memory(place).map { UnsafeRawBufferPointer(start: $0, count: length) }
                        continue
                    }
                    let copy = target + 64 * slot
                    let offset = (Int(place >> 16) << 20 | Int(place & 0xffff) << 4) - windowOffset
                    if offset >= 0 && offset + length <= read {
                        copy.copyMemory(from: windowStart + offset, byteCount: length)
                    } else if !self.copy(place, count: length, into: copy) {
                        return nil
                    }
                    views[slot] = UnsafeRawBufferPointer(start: copy, count: length)
                }
                return views
            }
        }

        /// How many of the entries at `indices` were matched (counting stops at `limit`).
        func matchedCount(_ indices: [UInt32], upTo limit: Int = .max) -> Int {
            var matched = 0
            for index in indices where self.entry(Int(index)).pointee.marks & Self.matched != 0 {
                matched += 1
                if matched == limit { break }
            }
            return matched
        }

        /// Records that the source being read gave entry `index`.
        @inline(__always)
        fileprivate func mark(_ index: Int, _ reader: inout LineReader) {
            let entry = self.entry(index)
            guard entry.pointee.marks & Self.inSource == 0 else { return }
            entry.pointee.marks |= Self.inSource
            reader.report.connections.append(UInt32(index))
        }

        /// Clears the marks ``mark(_:_:)`` set once a source is read.
        func unmark(_ indices: [UInt32]) {
            for index in indices { self.entry(Int(index)).pointee.marks &= ~Self.inSource }
        }

        /// Reads the whole lines of `bytes` (and, when `final`, a last line without its newline), fields in place;
        /// returns how many bytes the lines took.
        fileprivate mutating func read(_ bytes: UnsafeRawBufferPointer, final: Bool, _ reader: inout LineReader) -> Int
        {
            guard let base = bytes.baseAddress else { return 0 }
            var lineStart = 0
            while lineStart < bytes.count {
                let found = memchr(base + lineStart, 0x0a, bytes.count - lineStart).map {
                    base.distance(to: UnsafeRawPointer($0))
                }
                guard let lineEnd = found ?? (final ? bytes.count : nil) else { break }
                defer { lineStart = lineEnd + 1 }
                reader.lineNumber += 1
                if reader.overlong {
                    reader.overlong = false
                    reader.report.linesRead += 1
                    reader.problem("longer than \(KeyLog.readSize) bytes")
                    continue
                }
                let line = base + lineStart
                if !self.readUsual(line, count: lineEnd - lineStart, &reader) {
                    self.readAny(line, count: lineEnd - lineStart, &reader)
                }
            }
            return min(lineStart, bytes.count)
        }

        /// Reads a line of the usual form, `LABEL<space><64 hex digits><space><64, 96 or 128 hex digits>` (and a CR),
        /// as ``readAny(_:count:_:)`` would; false, having changed nothing, for any other line.
        @inline(__always)
        private mutating func readUsual(_ line: UnsafeRawPointer, count: Int, _ reader: inout LineReader) -> Bool {
            var count = count
            if count > 0 && line.load(fromByteOffset: count - 1, as: UInt8.self) == 0x0d { count -= 1 }
            guard count >= 13 + 1 + 64 + 1 + 64,
                let space = memchr(line, 0x20, min(count, Label.longest + 1)).map({ line.distance(to: $0) }),
                let label = Label(line, count: space)
            else { return false }
            let secretDigits = count - space - 66
            guard secretDigits == 64 || secretDigits == 96 || secretDigits == 128,
                line.load(fromByteOffset: space + 65, as: UInt8.self) == 0x20
            else { return false }
            let randomDigits = line + space + 1
            var random: ClientRandom?
            let same =
                reader.lastEntry >= 0
                && withUnsafeBytes(of: reader.lastRandom) { last in
                    last.baseAddress.map { memcmp($0, randomDigits, 64) == 0 } ?? false
                }
            if !same {
                random = ClientRandom(hex: randomDigits)
                if random == nil { return false }
            }
            var secret = Self.secretBuffer
            let decoded = withUnsafeMutableBytes(of: &secret) { output in
                output.baseAddress.map { KeyLog.decodeSecret(line + space + 66, count: secretDigits, into: $0) }
                    ?? false
            }
            guard decoded else { return false }
            reader.report.linesRead += 1
            if let random {
                guard let entry = self.findOrAdd(random) else {
                    reader.problem(self.refusalText)
                    return true
                }
                reader.lastEntry = entry
                withUnsafeMutableBytes(of: &reader.lastRandom) {
                    $0.copyMemory(from: UnsafeRawBufferPointer(start: randomDigits, count: 64))
                }
            }
            if !self.accept(label, secret: &secret, length: secretDigits / 2, entry: reader.lastEntry, &reader) {
                reader.problem(self.refusalText)
            }
            return true
        }

        /// Room for a decoded secret (64 bytes).
        private static let secretBuffer: (SIMD32<UInt8>, SIMD32<UInt8>) = (.zero, .zero)

        /// The problem a line the store refused is reported with.
        private var refusalText: String {
            self.refusal ?? self.spill?.failure ?? "more connections than a key log holds"
        }

        /// Reads any line: fields separated by spaces, tabs (and a CR); blank, whitespace-only and comment lines are
        /// not entries, and a malformed line is counted and named.
        private mutating func readAny(_ line: UnsafeRawPointer, count: Int, _ reader: inout LineReader) {
            let bytes = line.assumingMemoryBound(to: UInt8.self)
            var fields: (Range<Int>, Range<Int>, Range<Int>) = (0..<0, 0..<0, 0..<0)
            var fieldCount = 0
            var index = 0
            while index < count {
                while index < count && KeyLog.isSeparator(bytes[index]) { index += 1 }
                let start = index
                while index < count && !KeyLog.isSeparator(bytes[index]) { index += 1 }
                guard index > start else { continue }
                switch fieldCount {
                case 0: fields.0 = start..<index
                case 1: fields.1 = start..<index
                case 2: fields.2 = start..<index
                default: break
                }
                fieldCount += 1
            }
            if fieldCount == 0 || bytes[fields.0.lowerBound] == UInt8(ascii: "#") { return }
            reader.report.linesRead += 1
            guard fieldCount == 3 else {
                reader.problem("expected LABEL CLIENT_RANDOM SECRET, found \(fieldCount) fields")
                return
            }
            guard fields.1.count == 64, let random = ClientRandom(hex: line + fields.1.lowerBound) else {
                reader.problem("client random is not 64 hex digits")
                return
            }
            let secretDigits = fields.2.count
            guard secretDigits == 64 || secretDigits == 96 || secretDigits == 128 else {
                reader.problem("secret is not 32, 48 or 64 bytes of hex")
                return
            }
            var secret = Self.secretBuffer
            let decoded = withUnsafeMutableBytes(of: &secret) { output in
                output.baseAddress.map {
                    KeyLog.decodeSecret(line + fields.2.lowerBound, count: secretDigits, into: $0)
                }
                    ?? false
            }
            guard decoded else {
                reader.problem("secret is not 32, 48 or 64 bytes of hex")
                return
            }
            guard let label = Label(line + fields.0.lowerBound, count: fields.0.count) else {
                let text = String(
                    decoding: UnsafeRawBufferPointer(start: line + fields.0.lowerBound, count: fields.0.count),
                    as: UTF8.self)
                reader.problem("unknown label \(text.prefix(40))")
                return
            }
            guard let entry = self.findOrAdd(random),
                self.accept(label, secret: &secret, length: secretDigits / 2, entry: entry, &reader)
            else {
                reader.problem(self.refusalText)
                return
            }
        }

        /// Takes a line's secret (the `length` bytes decoded in `secret`) for entry `index`; a later line with the same
        /// label replaces it. A label whose secret is not used still makes the connection an entry. False when the
        /// store takes nothing more.
        @inline(__always)
        private mutating func accept(
            _ label: Label, secret: inout (SIMD32<UInt8>, SIMD32<UInt8>), length: Int, entry index: Int,
            _ reader: inout LineReader
        ) -> Bool {
            if let slot = label.slot {
                let kept = withUnsafeBytes(of: &secret) { raw in
                    raw.baseAddress.map { self.keep($0, length, slot: slot, of: index) } ?? false
                }
                guard kept else { return false }
            }
            self.mark(index, &reader)
            reader.report.secrets += 1
            return true
        }
    }
}
