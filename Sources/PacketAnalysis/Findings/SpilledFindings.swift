import BulkheadModel
import SystemCalls

#if canImport(Glibc)
    import Glibc
#endif

/// A capture's findings when there are too many distinct ones to hold: a scan of many servers in clear makes one
/// finding per server, and each held while flows arrive costs a few hundred bytes.
///
/// How they stay bounded:
/// - Each analysis lane holds a budget of distinct findings (``FlowFindings/defaultSpillPast`` in `analyze`). Past
///   it, it writes them out, text and all, to its own scratch file, each part of its table as one *run* sorted by key
///   (``SpilledEntry/Order/fold``), and starts afresh. A finding seen again later is folded anew and written in a
///   later run.
/// - At the end every lane's runs, and what the lanes still hold, are merged by key: the copies of one finding are
///   folded together (counts added, the ten lowest flow ids, the detail of the lowest id's flow), as one table of all
///   the flows would have folded them.
/// - The merged findings are sorted into the document's order (``SpilledEntry/Order/document``) in batches of
///   ``sortBatch``, each batch written as a run of a second scratch file, and read back merged, batch by batch, while
///   the report is written (``forEachBatch(_:)``).
///
/// So memory holds at most a lane's table, one sort batch, and a read buffer per run, whatever the number of findings.
public final class SpilledFindings: @unchecked Sendable {
    /// How many findings there are.
    public let count: Int
    /// How many there are of each severity.
    public let countsBySeverity: [Severity: Int]
    /// The sorted runs, in the file.
    private let runs: [Range<Int64>]
    private let file: FindingSpillFile

    /// Findings a batch of the document's order holds in memory before it is written out as a run (about 15 MB of
    /// findings and their text).
    public static let sortBatch = 32_768
    /// Findings handed to ``forEachBatch(_:)`` at a time.
    static let outputBatch = 8_192

    init(count: Int, countsBySeverity: [Severity: Int], runs: [Range<Int64>], file: FindingSpillFile) {
        self.count = count
        self.countsBySeverity = countsBySeverity
        self.runs = runs
        self.file = file
    }

    /// Calls `body` with the findings in the document's order (as ``FlowFindings/all``), a few thousand at a time.
    /// Throws if the scratch file cannot be read back; can be called more than once.
    public func forEachBatch(_ body: ([Finding]) throws -> Void) throws {
        let readers = self.runs.map { SpilledEntryReader(file: self.file, run: $0) }
        var merge = try SpilledEntryMerge(readers, in: .document)
        var batch: [Finding] = []
        batch.reserveCapacity(Self.outputBatch)
        while let entry = try merge.next() {
            batch.append(entry.finding)
            if batch.count == Self.outputBatch {
                try body(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty { try body(batch) }
    }

    /// The findings of lanes' folds, some of which wrote runs: merged by key, then sorted into the document's order.
    /// Returns them as an array when they fit one sort batch (`sortBatch` findings), else as runs of a new scratch file
    /// in `folder`.
    static func gather(_ folds: [FlowFindings.Spilled], folder: String, sortBatch: Int) throws -> Gathered {
        var readers: [SpilledEntryReader] = []
        for fold in folds {
            if let file = fold.file {
                readers += fold.runs.map { SpilledEntryReader(file: file, run: $0) }
            }
            readers.append(SpilledEntryReader(held: fold.held, in: fold.heldPositions))
        }
        var merge = try SpilledEntryMerge(readers, in: .fold)
        var output: FindingSpillFile?
        var runs: [Range<Int64>] = []
        var batch: [SpilledEntry] = []
        var count = 0
        var bySeverity: [Severity: Int] = [:]
        func flush() throws {
            if output == nil { output = try FindingSpillFile(folder: folder) }
            guard let output else { return }
            runs.append(try output.append(batch, in: SpilledEntry.positions(of: batch, in: .document)))
            batch.removeAll(keepingCapacity: true)
        }
        var pending = try merge.next()
        while var entry = pending {
            // Every copy of this finding (the same key) is next in fold order: they are folded into the first.
            pending = try merge.next()
            while let next = pending, SpilledEntry.sameKey(next, entry) {
                entry.fold(next)
                pending = try merge.next()
            }
            count += 1
            bySeverity[entry.finding.severity, default: 0] += 1
            batch.append(entry)
            if batch.count == sortBatch { try flush() }
        }
        if runs.isEmpty { return .inMemory(SpilledEntry.positions(of: batch, in: .document).map { batch[$0].finding }) }
        if !batch.isEmpty { try flush() }
        guard let output else { return .inMemory([]) }
        return .spilled(SpilledFindings(count: count, countsBySeverity: bySeverity, runs: runs, file: output))
    }

    /// What ``gather(_:folder:sortBatch:)`` gives.
    enum Gathered {
        case inMemory([Finding])
        case spilled(SpilledFindings)
    }
}

/// A finding as it lies in a run: its text written, its key's hash (the fold order's first criterion) and its kind's
/// identifier (compared by both orders; writing a certificate kind's identifier is a dictionary lookup).
struct SpilledEntry {
    var hash: Int
    var kindIdentifier: String
    var finding: Finding

    init(hash: Int, finding: Finding) {
        self.hash = hash
        self.kindIdentifier = finding.kind.identifier
        self.finding = finding
    }

    fileprivate init(hash: Int, kindIdentifier: String, finding: Finding) {
        self.hash = hash
        self.kindIdentifier = kindIdentifier
        self.finding = finding
    }

    /// Whether the two are copies of one finding: the same kind, location and title (what it folds by: see
    /// ``FlowFindings/Key``).
    static func sameKey(_ left: SpilledEntry, _ right: SpilledEntry) -> Bool {
        left.hash == right.hash && left.finding.title == right.finding.title
            && left.finding.location == right.finding.location && left.kindIdentifier == right.kindIdentifier
    }

    /// The two orders runs are written in.
    enum Order {
        /// The order of the runs a lane writes, in which copies of one finding are side by side: by key hash, then
        /// kind, location and title (any order consistent with the key would do; the hash settles nearly every
        /// comparison).
        case fold
        /// The document's order, as ``FlowFindings/all(of:)`` sorts: most severe first, then by first flow, kind and
        /// title.
        case document

        /// What settles nearly every comparison, as two integers compared in turn: computed once per entry, so that
        /// sorting and merging compare integers (comparing entries themselves retains and releases their strings).
        func rank(_ entry: SpilledEntry) -> Rank {
            switch self {
            case .fold: Rank(first: entry.hash, second: 0)
            case .document:
                Rank(
                    first: Severity.allCases.count - (Severity.allCases.firstIndex(of: entry.finding.severity) ?? 0),
                    second: entry.finding.flowIDs.first ?? 0)
            }
        }

        /// Whether `left` comes before `right`, when their ranks are equal.
        func tieBreak(_ left: SpilledEntry, _ right: SpilledEntry) -> Bool {
            if left.kindIdentifier != right.kindIdentifier { return left.kindIdentifier < right.kindIdentifier }
            if case .fold = self, left.finding.location != right.finding.location {
                return (left.finding.location ?? "") < (right.finding.location ?? "")
            }
            return left.finding.title < right.finding.title
        }
    }

    /// An entry's place in an ``Order`` as far as two integers tell it.
    struct Rank: Comparable {
        var first: Int
        var second: Int

        static func < (left: Rank, right: Rank) -> Bool {
            left.first != right.first ? left.first < right.first : left.second < right.second
        }
    }

    /// The positions of `entries` in `order`: their ranks sorted with their positions (the entries themselves are not
    /// moved: a copy of one retains and releases each of its strings).
    static func positions(of entries: [SpilledEntry], in order: Order) -> [Int] {
        var ranked = entries.indices.map { (rank: order.rank(entries[$0]), index: $0) }
        entries.withUnsafeBufferPointer { entries in
            ranked.sort { left, right in
                left.rank != right.rank
                    ? left.rank < right.rank : order.tieBreak(entries[left.index], entries[right.index])
            }
        }
        return ranked.map(\.index)
    }

    /// Folds in another copy of the same finding from other flows: the counts added, the ten lowest ids, and the
    /// severity and detail of the copy with the lowest id (as ``FlowFindings`` folds).
    mutating func fold(_ other: SpilledEntry) {
        let mine = self.finding.flowIDs.first ?? Int.max
        let theirs = other.finding.flowIDs.first ?? Int.max
        if theirs < mine {
            self.finding.detail = other.finding.detail
            self.finding.severity = other.finding.severity
        }
        self.finding.flowCount += other.finding.flowCount
        if var lowest = FlowFindings.LowestFlowIDs(self.finding.flowIDs),
            let theirs = FlowFindings.LowestFlowIDs(other.finding.flowIDs)
        {
            lowest.merge(theirs)
            self.finding.flowIDs = lowest.array
        }
    }

    // MARK: - The bytes of a run

    /// The bytes ``write(to:kind:)`` writes.
    var encodedSize: Int {
        func string(_ value: String?) -> Int { 4 + (value?.utf8.count ?? 0) }
        return 4 + 8 + 1 + 4 + 8 + 1 + 8 * self.finding.flowIDs.count + string(self.finding.location)
            + string(self.finding.title) + string(self.finding.detail)
    }

    /// Writes the entry at `out` (``encodedSize`` bytes), and returns the end: its length (4 bytes, not counting
    /// these), hash, severity (its place in `Severity.allCases`), `kind` (the number its file gives the entry's kind:
    /// see ``FindingSpillFile/number(of:)``), flow count, ids, then location, title and detail, each string its length
    /// and UTF-8. Read back by the same process only (the hash is per process).
    func write(to out: UnsafeMutableRawPointer, kind: UInt32) -> UnsafeMutableRawPointer {
        var end = out + 4
        func integer<T: FixedWidthInteger>(_ value: T) {
            end.storeBytes(of: value.littleEndian, as: T.self)
            end += MemoryLayout<T>.size
        }
        func string(_ value: String?) {
            guard var value else { return integer(UInt32.max) }
            value.withUTF8 { bytes in
                integer(UInt32(bytes.count))
                guard let base = bytes.baseAddress else { return }
                end.copyMemory(from: base, byteCount: bytes.count)
                end += bytes.count
            }
        }
        integer(Int64(self.hash))
        integer(UInt8(Severity.allCases.firstIndex(of: self.finding.severity) ?? 0))
        integer(kind)
        integer(Int64(self.finding.flowCount))
        integer(UInt8(self.finding.flowIDs.count))
        for id in self.finding.flowIDs { integer(Int64(id)) }
        string(self.finding.location)
        string(self.finding.title)
        string(self.finding.detail)
        out.storeBytes(of: UInt32(end - out - 4).littleEndian, as: UInt32.self)
        return end
    }

    /// The entry `bytes` (one record, without its length) hold, or nil if they are not one; `kinds` are the kinds of
    /// its file, by number.
    static func read(_ bytes: UnsafeRawBufferPointer, kinds: [FindingSpillFile.Kind]) -> SpilledEntry? {
        var offset = 0
        func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
            guard offset + MemoryLayout<T>.size <= bytes.count else { return nil }
            defer { offset += MemoryLayout<T>.size }
            return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        func string() -> String?? {
            guard let length = integer(UInt32.self) else { return nil }
            if length == UInt32.max { return .some(nil) }
            guard offset + Int(length) <= bytes.count else { return nil }
            defer { offset += Int(length) }
            return String(
                decoding: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(length))]), as: UTF8.self)
        }
        guard let hash = integer(Int64.self), let severityIndex = integer(UInt8.self),
            Int(severityIndex) < Severity.allCases.count, let kindNumber = integer(UInt32.self),
            Int(kindNumber) < kinds.count, let flowCount = integer(Int64.self), let idCount = integer(UInt8.self)
        else { return nil }
        let kind = kinds[Int(kindNumber)]
        var ids: [Int] = []
        ids.reserveCapacity(Int(idCount))
        for _ in 0..<idCount {
            guard let id = integer(Int64.self) else { return nil }
            ids.append(Int(id))
        }
        guard let location = string(), let titleText = string(), let title = titleText, let detailText = string(),
            let detail = detailText, offset == bytes.count
        else { return nil }
        let finding = Finding(
            kind: kind.kind, severity: Severity.allCases[Int(severityIndex)], title: title, detail: detail,
            location: location, flowCount: Int(flowCount), flowIDs: ids)
        return SpilledEntry(hash: Int(hash), kindIdentifier: kind.identifier, finding: finding)
    }
}

/// A scratch file of runs of findings, written one after the other. Used by one thread at a time.
final class FindingSpillFile: @unchecked Sendable {
    let file: ScratchFile
    private var end: Int64 = 0
    /// The kinds of the findings written, by the number records name them by: the file is read back by the process
    /// that wrote it, so a kind is kept as the value it was (a kind is never made back from its identifier).
    private(set) var kinds: [Kind] = []
    private var numbers: [String: UInt32] = [:]

    /// A finding kind and its identifier.
    struct Kind {
        var kind: FindingKind
        var identifier: String
    }

    init(folder: String) throws(SystemCallError) {
        self.file = try ScratchFile(folder: folder, prefix: "bulkhead-findings")
    }

    /// The number of `entry`'s kind in this file (given at its first finding).
    func number(of entry: SpilledEntry) -> UInt32 {
        if let number = self.numbers[entry.kindIdentifier] { return number }
        let number = UInt32(self.kinds.count)
        self.kinds.append(Kind(kind: entry.finding.kind, identifier: entry.kindIdentifier))
        self.numbers[entry.kindIdentifier] = number
        return number
    }

    /// Writes `entries` after the runs before, in the order of `positions`; returns where they lie.
    func append(_ entries: [SpilledEntry], in positions: [Int]) throws -> Range<Int64> {
        let size = entries.reduce(0) { $0 + $1.encodedSize }
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer { bytes.deallocate() }
        guard var end = bytes.baseAddress else { return self.end..<self.end }
        for position in positions {
            end = entries[position].write(to: end, kind: self.number(of: entries[position]))
        }
        let start = self.end
        try self.file.write(UnsafeRawBufferPointer(bytes), at: start)
        self.end += Int64(size)
        return start..<self.end
    }
}

/// The entries of one run, read in order through a buffer; or of entries still held in memory, already sorted.
final class SpilledEntryReader {
    private let file: FindingSpillFile?
    private var next: Int64
    private let end: Int64
    private var buffer: [UInt8] = []
    /// The unread bytes of `buffer`.
    private var start = 0
    private var held: [SpilledEntry]
    private var heldPositions: [Int] = []
    private var heldIndex = 0

    /// Bytes read from the file at a time.
    static let bufferSize = 32 << 10

    init(file: FindingSpillFile, run: Range<Int64>) {
        self.file = file
        self.next = run.lowerBound
        self.end = run.upperBound
        self.held = []
    }

    /// Reads `held` in the order of `positions`.
    init(held: [SpilledEntry], in positions: [Int]) {
        self.file = nil
        self.next = 0
        self.end = 0
        self.held = held
        self.heldPositions = positions
    }

    /// The next entry, or nil at the end of the run.
    func read() throws -> SpilledEntry? {
        guard let file = self.file else {
            guard self.heldIndex < self.heldPositions.count else {
                self.held = []
                return nil
            }
            defer { self.heldIndex += 1 }
            return self.held[self.heldPositions[self.heldIndex]]
        }
        guard try self.fill(4, from: file) else { return nil }
        let length = self.buffer.withUnsafeBytes {
            Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: self.start, as: UInt32.self)))
        }
        guard try self.fill(4 + length, from: file) else { throw SystemCallError("read findings", code: EIO) }
        let entry = self.buffer.withUnsafeBytes {
            SpilledEntry.read(
                UnsafeRawBufferPointer(rebasing: $0[(self.start + 4)..<(self.start + 4 + length)]), kinds: file.kinds)
        }
        guard let entry else { throw SystemCallError("read findings", code: EIO) }
        self.start += 4 + length
        return entry
    }

    /// Makes `count` unread bytes available in the buffer; false if the run ends first (at its end: none left).
    private func fill(_ count: Int, from file: FindingSpillFile) throws -> Bool {
        let unread = self.buffer.count - self.start
        if unread >= count { return true }
        let remaining = Int(self.end - self.next)
        if remaining == 0 {
            if unread == 0 { return false }
            throw SystemCallError("read findings", code: EIO)
        }
        let take = min(remaining, max(Self.bufferSize, count - unread))
        var refilled = [UInt8](repeating: 0, count: unread + take)
        refilled.withUnsafeMutableBytes { target in
            self.buffer.withUnsafeBytes { source in
                guard unread > 0, let from = source.baseAddress, let to = target.baseAddress else { return }
                to.copyMemory(from: from + self.start, byteCount: unread)
            }
        }
        try refilled.withUnsafeMutableBytes { target in
            try file.file.read(into: UnsafeMutableRawBufferPointer(rebasing: target[unread...]), at: self.next)
        }
        self.next += Int64(take)
        self.buffer = refilled
        self.start = 0
        return self.buffer.count >= count
    }
}

/// Runs read in one order, merged into one stream in that order: a binary heap of the runs by their next entry.
struct SpilledEntryMerge {
    private let readers: [SpilledEntryReader]
    private var heads: [SpilledEntry?]
    private var ranks: [SpilledEntry.Rank]
    /// Indices of the readers with an entry, as a heap by ``heads`` (the first entry first).
    private var heap: [Int] = []
    private let order: SpilledEntry.Order

    init(_ readers: [SpilledEntryReader], in order: SpilledEntry.Order) throws {
        self.readers = readers
        self.order = order
        self.heads = try readers.map { try $0.read() }
        self.ranks = self.heads.map { $0.map(order.rank) ?? SpilledEntry.Rank(first: 0, second: 0) }
        for index in readers.indices where self.heads[index] != nil { self.push(index) }
    }

    /// The next entry of all the runs, or nil when all are read.
    mutating func next() throws -> SpilledEntry? {
        guard let top = self.heap.first, let entry = self.heads[top] else { return nil }
        let following = try self.readers[top].read()
        self.heads[top] = following
        if let following {
            self.ranks[top] = self.order.rank(following)
            self.siftDown(0)
        } else {
            let last = self.heap.removeLast()
            if !self.heap.isEmpty {
                self.heap[0] = last
                self.siftDown(0)
            }
        }
        return entry
    }

    private func before(_ left: Int, _ right: Int) -> Bool {
        if self.ranks[left] != self.ranks[right] { return self.ranks[left] < self.ranks[right] }
        guard let leftEntry = self.heads[left], let rightEntry = self.heads[right] else { return false }
        return self.order.tieBreak(leftEntry, rightEntry)
    }

    private mutating func push(_ reader: Int) {
        self.heap.append(reader)
        var child = self.heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard self.before(self.heap[child], self.heap[parent]) else { break }
            self.heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var first = parent
            if left < self.heap.count && self.before(self.heap[left], self.heap[first]) { first = left }
            if right < self.heap.count && self.before(self.heap[right], self.heap[first]) { first = right }
            if first == parent { return }
            self.heap.swapAt(parent, first)
            parent = first
        }
    }
}
