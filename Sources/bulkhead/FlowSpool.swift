import BulkheadModel
import Foundation
import Reporting
import SystemCalls

#if canImport(Glibc)
    import Glibc
#endif

/// Encoded flows kept on disk until the `analyze` document is written: the document lists flows in id order after
/// the findings, which are only known at the end, so the flows wait somewhere; here that is an unlinked temporary
/// file (in the report's folder, or `TMPDIR`/`/var/tmp` for standard output), written through buffers, and not
/// memory, which stays flat whatever the number of flows.
///
/// The index (a flow's id, where its bytes are, their length: 24 bytes a flow) is kept in memory up to ``runLimit``
/// entries; then that run of entries is sorted by id and written to the spool file too, so the index costs bounded
/// memory whatever the number of flows. Reading back merges the sorted runs.
///
/// Each analysis lane appends through a ``Writer`` of its own, with its own buffer: lanes only meet to reserve the
/// stretch of the file a full buffer goes to, once a megabyte, not once a flow.
///
/// `@unchecked Sendable`: `written`, `entries`, `runs`, `unread` and `failure` are guarded by `lock`; the file is
/// written at stretches reserved under it; ``forEachInIDOrder(_:)`` runs after every writer is done.
final class FlowSpool: @unchecked Sendable {
    /// Where one flow's bytes are. Plain data: runs of them are written to the file as they are in memory.
    private struct Entry {
        var id: Int
        var offset: Int64
        var length: Int
    }

    /// A run of index entries sorted by id, written to the spool file at `offset`.
    private struct Run {
        var offset: Int64
        var count: Int
    }

    private let file: ScratchFile
    /// Where the spool lives, for messages.
    var folder: String { self.file.folder }
    private let lock = NSLock()
    // Unchecked exclusivity for the index, touched for every flow: every access holds `lock` (or runs after the writers
    // are done), and the dynamic checks were a measurable part of spooling the flows.
    @exclusivity(unchecked) private var written: Int64 = 0
    /// The index entries not yet written out as a run.
    @exclusivity(unchecked) private var entries: [Entry] = []
    private var runs: [Run] = []
    /// How many flows each ``releaseChunk`` of the file holds and have not been read back yet.
    @exclusivity(unchecked) private var unread: [Int32] = []
    @exclusivity(unchecked) private var indexed = 0
    private var failure: String?
    private var writers: [Writer] = []
    /// Index entries kept in memory before they go to the file as a sorted run (6 MB of them).
    let runLimit: Int
    static let bufferSize = 1 << 20
    /// The stretch of the spool whose pages are given back once every flow in it has been read (see
    /// ``forEachInIDOrder(_:)``).
    static let releaseChunk = 1 << 20

    /// Opens an unlinked spool file in `folder`; the index goes to it in sorted runs of `runLimit` entries.
    init(folder: String, runLimit: Int = 1 << 18) throws(OutputError) {
        self.runLimit = max(1, runLimit)
        do throws(SystemCallError) {
            self.file = try ScratchFile(folder: folder, prefix: "bulkhead-flows")
        } catch {
            throw OutputError(
                path: folder, reason: "cannot hold the flows until the report is written: " + error.message)
        }
    }

    /// The folder a spool for a report at `path` (nil: standard output) goes in: next to the report, which needs the
    /// room anyway, or the system's place for large temporary files.
    static func folder(forReport path: String?) -> String {
        if let path, path != "-", path != "/dev/stdout", !path.hasPrefix("/dev/") {
            return InputFile.folder(of: OutputSink.resolvingLinks(path))
        }
        return ScratchFile.defaultFolder
    }

    /// A new writer, for one analysis lane, whose buffer holds `capacity` bytes.
    func writer(capacity: Int = FlowSpool.bufferSize) -> Writer {
        let writer = Writer(spool: self, capacity: capacity)
        self.lock.withLock { self.writers.append(writer) }
        return writer
    }

    /// One lane's way into the spool: flows are encoded straight into its buffer (no copy of each into it), which goes
    /// to a stretch of the file reserved for it once it holds `capacity` bytes or more.
    ///
    /// `@unchecked Sendable`: used by one thread at a time (its lane's, then the one that reads the spool back).
    final class Writer: @unchecked Sendable {
        private let spool: FlowSpool
        private let capacity: Int
        /// The flows not yet written out, one after the other (and the lane's certificate JSON, kept by the writer).
        /// Unchecked exclusivity: only its lane's thread touches it, and the dynamic check cost five calls per flow.
        @exclusivity(unchecked) private var json = FlowJSONWriter()
        /// The flows in `json`, their offsets counted from its start.
        @exclusivity(unchecked) private var pending: [Entry] = []

        fileprivate init(spool: FlowSpool, capacity: Int) {
            self.spool = spool
            self.capacity = capacity
        }

        /// Appends flow `id` as `encode` writes it (one JSON object).
        func append(id: Int, encoding encode: (inout FlowJSONWriter) -> Void) {
            let start = self.json.count
            encode(&self.json)
            self.pending.append(Entry(id: id, offset: Int64(start), length: self.json.count - start))
            if self.json.count >= self.capacity { self.flush() }
        }

        /// Appends flow `id` already encoded.
        func append(id: Int, _ bytes: UnsafeRawBufferPointer) {
            self.append(id: id) { $0.append(raw: bytes) }
        }

        fileprivate func flush() {
            guard !self.pending.isEmpty else { return }
            self.json.withBytes { self.spool.write($0, entries: self.pending) }
            self.json.reset()
            self.pending.removeAll(keepingCapacity: true)
        }
    }

    /// Writes `bytes` to a stretch of the file reserved now, and indexes `entries` (offsets relative to `bytes`). When
    /// the index in memory reaches ``runLimit`` entries, the calling lane sorts it and writes it out as a run.
    private func write(_ bytes: UnsafeRawBufferPointer, entries: [Entry]) {
        let reserved: (start: Int64, run: [Entry], runStart: Int64)? = self.lock.withLock {
            guard self.failure == nil else { return nil }
            let start = self.written
            self.written += Int64(bytes.count)
            for entry in entries {
                let placed = Entry(id: entry.id, offset: start + entry.offset, length: entry.length)
                self.entries.append(placed)
                for chunk in Self.chunks(of: placed) {
                    while self.unread.count <= chunk { self.unread.append(0) }
                    self.unread[chunk] += 1
                }
            }
            self.indexed += entries.count
            guard self.entries.count >= self.runLimit else { return (start, [], 0) }
            let run = self.entries
            self.entries = []
            self.entries.reserveCapacity(self.runLimit)
            let runStart = self.written
            self.written += Int64(run.count * MemoryLayout<Entry>.stride)
            self.runs.append(Run(offset: runStart, count: run.count))
            return (start, run, runStart)
        }
        guard let reserved else { return }
        self.pwriteAll(bytes, at: reserved.start)
        if !reserved.run.isEmpty {
            var run = reserved.run
            run.sort { $0.id < $1.id }
            run.withUnsafeBytes { self.pwriteAll($0, at: reserved.runStart) }
        }
    }

    private func pwriteAll(_ bytes: UnsafeRawBufferPointer, at start: Int64) {
        do throws(SystemCallError) {
            try self.file.write(bytes, at: start)
        } catch {
            self.lock.withLock { self.failure = self.failure ?? error.message }
        }
    }

    /// The release chunks an entry's bytes lie in (a flow that straddles two counts in both).
    private static func chunks(of entry: Entry) -> ClosedRange<Int> {
        Int(entry.offset) / Self.releaseChunk...(Int(entry.offset) + max(entry.length, 1) - 1) / Self.releaseChunk
    }

    /// A sorted run read back through a small buffer (`pread`), so merging many runs holds little of each.
    /// The runs' readers in a min-heap by the id at their head. A value with mutating methods: the merge's nested
    /// functions over captured variables paid a dynamic exclusivity check on every access, twice per flow.
    private struct RunHeap {
        private var readers: [RunReader]
        /// Indices of the readers that still have entries, as a heap.
        private var heap: [Int]

        init(readers: [RunReader]) {
            self.readers = readers
            self.heap = readers.indices.filter { readers[$0].head != nil }
            for slot in stride(from: self.heap.count / 2 - 1, through: 0, by: -1) { self.siftDown(slot) }
        }

        /// The entry with the lowest id, nil when every run is read.
        var head: Entry? { self.heap.first.flatMap { self.readers[$0].head } }

        /// Moves past ``head``.
        mutating func advance() throws(SystemCallError) {
            guard let top = self.heap.first else { return }
            try self.readers[top].advance()
            if self.readers[top].head == nil {
                self.heap[0] = self.heap[self.heap.count - 1]
                self.heap.removeLast()
            }
            self.siftDown(0)
        }

        private func id(_ slot: Int) -> Int { self.readers[self.heap[slot]].head?.id ?? .max }

        private mutating func siftDown(_ start: Int) {
            var slot = start
            while true {
                let (left, right) = (2 * slot + 1, 2 * slot + 2)
                var smallest = slot
                if left < self.heap.count && self.id(left) < self.id(smallest) { smallest = left }
                if right < self.heap.count && self.id(right) < self.id(smallest) { smallest = right }
                guard smallest != slot else { return }
                self.heap.swapAt(slot, smallest)
                slot = smallest
            }
        }
    }

    private struct RunReader {
        let file: ScratchFile?
        var next: Int64
        var left: Int
        var buffer: [Entry] = []
        var position = 0

        var head: Entry? { self.position < self.buffer.count ? self.buffer[self.position] : nil }

        /// Moves to the next entry, reading the next stretch of the run when the buffer is used up.
        mutating func advance() throws(SystemCallError) {
            self.position += 1
            if self.position >= self.buffer.count { try self.refill() }
        }

        mutating func refill() throws(SystemCallError) {
            let count = min(self.left, 2048)
            self.buffer = [Entry](repeating: Entry(id: 0, offset: 0, length: 0), count: count)
            self.position = 0
            guard count > 0, let file = self.file else { return }
            let next = self.next
            // The run was written whole before reading began: an early end is a damaged file.
            let read = self.buffer.withUnsafeMutableBytes { raw in
                Result { () throws(SystemCallError) in try file.read(into: raw, at: next) }
            }
            try read.get()
            self.next += Int64(count * MemoryLayout<Entry>.stride)
            self.left -= count
        }
    }

    /// Every flow in id order, each handed to `body` as its bytes: valid until `settle` is next called (before any
    /// page of the mapping is released, and before this returns), so a caller may hold on to them until then.
    ///
    /// Flows end roughly, not exactly, in id order: the ones open at once end in any order, and a long flow ends far
    /// after the ids around it. The index's sorted runs are merged; the spool is mapped and read in place, and each
    /// megabyte of it is given back to the kernel (`MADV_DONTNEED`) as soon as every flow in it has been read, so what
    /// stays resident is the stretch the ids in flight span, not the spool. (Reading it through a window instead took
    /// one `pread` for every other flow, the jumps to late-ending flows defeating any window.)
    func forEachInIDOrder(_ body: (UnsafeRawBufferPointer) -> Void, settle: () -> Void = {}) throws(OutputError) {
        for writer in self.lock.withLock({ self.writers }) { writer.flush() }
        if let failure {
            throw OutputError(
                path: self.folder, reason: "the flows could not be kept until the report was written: \(failure)")
        }
        guard self.written > 0, self.indexed > 0 else { return }
        // The entries still in memory are the last run (not written out).
        var last = self.entries
        self.entries = []
        last.sort { $0.id < $1.id }
        var readers: [RunReader] = []
        do throws(SystemCallError) {
            for run in self.runs {
                var reader = RunReader(file: self.file, next: run.offset, left: run.count)
                try reader.refill()
                readers.append(reader)
            }
        } catch {
            throw OutputError(path: self.folder, reason: "the kept flows could not be read back: \(error.message)")
        }
        let length = Int(self.written)
        guard let mapping = mmap(nil, length, PROT_READ, MAP_SHARED, self.file.descriptor, 0), mapping != MAP_FAILED
        else {
            throw OutputError(
                path: self.folder,
                reason: "the kept flows could not be read back: \(SystemCallError.last("mmap").message)")
        }
        defer {
            settle()
            munmap(mapping, length)
        }
        let base = UnsafeRawPointer(mapping)
        var unread = self.unread
        if !last.isEmpty { readers.append(RunReader(file: nil, next: 0, left: 0, buffer: last)) }
        // A min-heap of the runs by the id at their head: each flow costs a few comparisons however many runs there are.
        var heap = RunHeap(readers: readers)
        while let entry = heap.head {
            do throws(SystemCallError) {
                try heap.advance()
            } catch {
                throw OutputError(path: self.folder, reason: "the kept flows could not be read back: \(error.message)")
            }
            guard entry.offset >= 0, entry.length >= 0, Int(entry.offset) + entry.length <= length else {
                throw OutputError(
                    path: self.folder, reason: "the kept flows could not be read back: the file is shorter than written"
                )
            }
            body(UnsafeRawBufferPointer(start: base + Int(entry.offset), count: entry.length))
            for index in Self.chunks(of: entry) where index < unread.count {
                unread[index] -= 1
                if unread[index] == 0 {
                    // What the caller still holds of these pages is written first (it would fault them back in).
                    settle()
                    // Only the mapping's pages go: the file and the page cache are untouched.
                    _ = madvise(
                        mapping + index * Self.releaseChunk, min(Self.releaseChunk, length - index * Self.releaseChunk),
                        MADV_DONTNEED)
                }
            }
        }
    }

    /// The flows kept.
    var count: Int { self.lock.withLock { self.indexed } }
}
