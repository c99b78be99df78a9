import BulkheadModel
import Foundation
import SystemCalls

#if canImport(Glibc)
    import Glibc
#endif

/// Encoded flows kept on disk until the `analyze` document is written: the document lists flows in id order after
/// the findings, which are only known at the end, so the flows wait somewhere; here that is an unlinked temporary
/// file (in the report's folder, or `TMPDIR`/`/var/tmp` for standard output), written through buffers, and not
/// memory, which stays flat whatever the number of flows. Only a 24-byte index entry per flow is kept.
///
/// Each analysis lane appends through a ``Writer`` of its own, with its own buffer: lanes only meet to reserve the
/// stretch of the file a full buffer goes to, once a megabyte, not once a flow.
///
/// `@unchecked Sendable`: `written`, `entries` and `failure` are guarded by `lock`; the file is written at stretches
/// reserved under it; ``forEachInIDOrder(_:)`` runs after every writer is done.
final class FlowSpool: @unchecked Sendable {
    private struct Entry {
        var id: Int
        var offset: Int64
        var length: Int
    }

    private let fd: Int32
    /// Where the spool lives, for messages.
    let folder: String
    private let lock = NSLock()
    private var written: Int64 = 0
    private var entries: [Entry] = []
    private var failure: String?
    private var writers: [Writer] = []
    static let bufferSize = 1 << 20
    /// The stretch of the spool whose pages are given back once every flow in it has been read (see
    /// ``forEachInIDOrder(_:)``).
    static let releaseChunk = 1 << 20

    /// Opens an unlinked spool file in `folder`.
    init(folder: String) throws(OutputError) {
        self.folder = folder
        // A named file, unlinked at once: nothing is left behind, whatever ends the run.
        var template = Array("\(folder)/.bulkhead-flows.XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { name -> Result<Int32, SystemCallError> in
            guard let base = name.baseAddress else { return .failure(SystemCallError("mkstemp", code: EINVAL)) }
            let fd = mkstemp(base)
            guard fd >= 0 else { return .failure(SystemCallError.last("mkstemp")) }
            unlink(base)
            return .success(fd)
        }
        let fd: Int32
        do throws(SystemCallError) {
            fd = try made.get()
            // Not inherited by a process started meanwhile: it would keep the flows' disk space after this run.
            do throws(SystemCallError) {
                try SystemCall.retrying("fcntl(F_SETFD)") { fcntl(fd, F_SETFD, FD_CLOEXEC) }
            } catch {
                close(fd)
                throw error
            }
        } catch {
            throw OutputError(
                path: folder, reason: "cannot hold the flows until the report is written: " + error.message)
        }
        self.fd = fd
    }

    deinit { close(self.fd) }

    /// The folder a spool for a report at `path` (nil: standard output) goes in: next to the report, which needs the
    /// room anyway, or the system's place for large temporary files.
    static func folder(forReport path: String?) -> String {
        if let path, path != "-", path != "/dev/stdout", !path.hasPrefix("/dev/") {
            return InputFile.folder(of: OutputSink.resolvingLinks(path))
        }
        return ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/tmp"
    }

    /// A new writer, for one analysis lane, whose buffer holds `capacity` bytes.
    func writer(capacity: Int = FlowSpool.bufferSize) -> Writer {
        let writer = Writer(spool: self, capacity: capacity)
        self.lock.withLock { self.writers.append(writer) }
        return writer
    }

    /// One lane's way into the spool: flows gather in its buffer, which goes to a stretch of the file reserved for it
    /// when full.
    ///
    /// `@unchecked Sendable`: used by one thread at a time (its lane's, then the one that reads the spool back).
    final class Writer: @unchecked Sendable {
        private let spool: FlowSpool
        private let capacity: Int
        private var buffer: [UInt8] = []
        /// The flows in `buffer`, their offsets counted from its start.
        private var pending: [Entry] = []

        fileprivate init(spool: FlowSpool, capacity: Int) {
            self.spool = spool
            self.capacity = capacity
            self.buffer.reserveCapacity(capacity)
        }

        func append(id: Int, _ bytes: UnsafeRawBufferPointer) {
            if self.buffer.count + bytes.count > self.capacity { self.flush() }
            if bytes.count > self.capacity {
                // Larger than a buffer: straight to a stretch of its own.
                self.spool.write(bytes, entries: [Entry(id: id, offset: 0, length: bytes.count)])
                return
            }
            self.pending.append(Entry(id: id, offset: Int64(self.buffer.count), length: bytes.count))
            self.buffer.append(contentsOf: bytes)
        }

        fileprivate func flush() {
            guard !self.buffer.isEmpty else { return }
            self.buffer.withUnsafeBytes { self.spool.write($0, entries: self.pending) }
            self.buffer.removeAll(keepingCapacity: true)
            self.pending.removeAll(keepingCapacity: true)
        }
    }

    /// Writes `bytes` to a stretch of the file reserved now, and indexes `entries` (offsets relative to `bytes`).
    private func write(_ bytes: UnsafeRawBufferPointer, entries: [Entry]) {
        let start: Int64? = self.lock.withLock {
            guard self.failure == nil else { return nil }
            let start = self.written
            self.written += Int64(bytes.count)
            self.entries += entries.lazy.map { Entry(id: $0.id, offset: start + $0.offset, length: $0.length) }
            return start
        }
        guard let start, let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let count: Int
            do throws(SystemCallError) {
                count = try SystemCall.retrying("pwrite") {
                    pwrite(self.fd, base + done, bytes.count - done, off_t(start) + off_t(done))
                }
            } catch {
                self.lock.withLock { self.failure = self.failure ?? error.message }
                return
            }
            done += count
        }
    }

    /// Every flow in id order, each handed to `body` as its bytes (valid only during the call).
    ///
    /// Flows end roughly, not exactly, in id order: the ones open at once end in any order, and a long flow ends far
    /// after the ids around it. The spool is mapped and read in place, and each megabyte of it is given back to the
    /// kernel (`MADV_DONTNEED`) as soon as every flow in it has been read, so what stays resident is the stretch the
    /// ids in flight span, not the spool. (Reading it through a window instead took one `pread` for every other
    /// flow, the jumps to late-ending flows defeating any window.)
    func forEachInIDOrder(_ body: (UnsafeRawBufferPointer) -> Void) throws(OutputError) {
        for writer in self.lock.withLock({ self.writers }) { writer.flush() }
        if let failure {
            throw OutputError(
                path: self.folder, reason: "the flows could not be kept until the report was written: \(failure)")
        }
        guard self.written > 0, !self.entries.isEmpty else { return }
        self.entries.sort { $0.id < $1.id }
        let length = Int(self.written)
        guard let mapping = mmap(nil, length, PROT_READ, MAP_SHARED, self.fd, 0), mapping != MAP_FAILED else {
            throw OutputError(
                path: self.folder,
                reason: "the kept flows could not be read back: \(SystemCallError.last("mmap").message)")
        }
        defer { munmap(mapping, length) }
        let base = UnsafeRawPointer(mapping)
        let chunk = Self.releaseChunk
        func chunks(of entry: Entry) -> ClosedRange<Int> {
            Int(entry.offset) / chunk...(Int(entry.offset) + max(entry.length, 1) - 1) / chunk
        }
        // How many flows each megabyte still holds (a flow that straddles two counts in both).
        var unread = [Int](repeating: 0, count: (length + chunk - 1) / chunk)
        for entry in self.entries {
            for index in chunks(of: entry) { unread[index] += 1 }
        }
        for entry in self.entries {
            guard entry.offset >= 0, Int(entry.offset) + entry.length <= length else {
                throw OutputError(
                    path: self.folder, reason: "the kept flows could not be read back: the file is shorter than written"
                )
            }
            body(UnsafeRawBufferPointer(start: base + Int(entry.offset), count: entry.length))
            for index in chunks(of: entry) {
                unread[index] -= 1
                if unread[index] == 0 {
                    // Only the mapping's pages go: the file and the page cache are untouched.
                    _ = madvise(mapping + index * chunk, min(chunk, length - index * chunk), MADV_DONTNEED)
                }
            }
        }
    }

    var count: Int { self.entries.count }
}
