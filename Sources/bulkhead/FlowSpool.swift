import BulkheadModel
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Encoded flows kept on disk until the `analyze` document is written: the document lists flows in id order after
/// the findings, which are only known at the end, so the flows wait somewhere; here that is an unlinked temporary
/// file (in the report's folder, or `TMPDIR`/`/var/tmp` for standard output), written through a buffer, and not
/// memory, which stays flat whatever the number of flows. Only a 16-byte index entry per flow is kept.
///
/// `@unchecked Sendable`: appended to from one thread at a time (the analysis collector holds its lock), read after
/// the analysis has finished.
final class FlowSpool: @unchecked Sendable {
    private struct Entry {
        var id: Int
        var offset: Int64
        var length: Int
    }

    private let fd: Int32
    /// Where the spool lives, for messages.
    let folder: String
    private var buffer: [UInt8] = []
    private var written: Int64 = 0
    private var entries: [Entry] = []
    private var failure: String?
    static let bufferSize = 1 << 20
    static let readAhead = 32 << 10

    /// Opens an unlinked spool file in `folder`.
    init(folder: String) throws(OutputError) {
        self.folder = folder
        // A named file, unlinked at once: nothing is left behind, whatever ends the run.
        var template = Array("\(folder)/.bulkhead-flows.XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { name -> Int32 in
            guard let base = name.baseAddress else { return -1 }
            let fd = mkstemp(base)
            if fd >= 0 {
                unlink(base)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
            return fd
        }
        guard fd >= 0 else {
            throw OutputError(
                path: folder, reason: "cannot hold the flows until the report is written: " + InputFile.reason(errno))
        }
        self.fd = fd
        self.buffer.reserveCapacity(Self.bufferSize)
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

    func append(id: Int, _ bytes: UnsafeRawBufferPointer) {
        guard self.failure == nil else { return }
        self.entries.append(Entry(id: id, offset: self.written + Int64(self.buffer.count), length: bytes.count))
        if self.buffer.count + bytes.count > Self.bufferSize { self.flush() }
        if bytes.count > Self.bufferSize {
            self.writeAll(bytes)
        } else {
            self.buffer.append(contentsOf: bytes)
        }
    }

    private func flush() {
        guard !self.buffer.isEmpty else { return }
        self.buffer.withUnsafeBytes { self.writeAll($0) }
        self.buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) {
        guard self.failure == nil, let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let count = pwrite(self.fd, base + done, bytes.count - done, off_t(self.written))
            if count < 0 {
                if errno == EINTR { continue }
                self.failure = InputFile.reason(errno)
                return
            }
            done += count
            self.written += Int64(count)
        }
    }

    /// Every flow in id order, each handed to `body` as its bytes (valid only during the call).
    func forEachInIDOrder(_ body: (UnsafeRawBufferPointer) -> Void) throws(OutputError) {
        self.flush()
        if let failure {
            throw OutputError(
                path: self.folder, reason: "the flows could not be kept until the report was written: \(failure)")
        }
        self.entries.sort { $0.id < $1.id }
        // Flows end roughly, not exactly, in id order: each read takes the entry and what follows it up to
        // `readAhead`, which often holds the next ids; a larger window would be re-read for every entry that falls
        // outside it.
        var window = [UInt8](repeating: 0, count: Self.readAhead)
        var start: Int64 = 0
        var filled = 0
        for entry in self.entries {
            if entry.offset < start || entry.offset + Int64(entry.length) > start + Int64(filled) {
                if entry.length > window.count { window = [UInt8](repeating: 0, count: entry.length) }
                start = entry.offset
                filled = 0
                let want = min(window.count, Int(self.written - start))
                while filled < entry.length {
                    let count = window.withUnsafeMutableBytes { room -> Int in
                        guard let base = room.baseAddress else { return 0 }
                        return pread(self.fd, base + filled, want - filled, off_t(start) + off_t(filled))
                    }
                    if count < 0 && errno == EINTR { continue }
                    guard count > 0 else {
                        throw OutputError(
                            path: self.folder,
                            reason: "the kept flows could not be read back: "
                                + (count < 0 ? InputFile.reason(errno) : "the file is shorter than written"))
                    }
                    filled += count
                }
            }
            let from = Int(entry.offset - start)
            window.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[from..<(from + entry.length)])) }
        }
    }

    var count: Int { self.entries.count }
}
