import ArgumentParser
import BulkheadModel
// `stat`'s fields come through CoreFoundation's view of the C library in release builds (MemberImportVisibility).
import CoreFoundation
import Foundation
import SystemCalls

#if canImport(Glibc)
    import Glibc
#endif

/// A report that could not be written, naming the file and the cause (`cannot write audit.json: No space left on
/// device`).
struct OutputError: Error, CustomStringConvertible, LocalizedError {
    /// The destination as the user gave it (`standard output` for `-`).
    var path: String
    var reason: String

    var description: String { "cannot write \(self.path): \(self.reason)" }
    var errorDescription: String? { self.description }
}

/// Where a report goes: standard output, or a file written atomically (a temporary file in the destination's folder,
/// renamed into place when complete), so a reader never sees half a report and a failure leaves the previous file
/// intact. A symlink is followed: the temporary file goes next to its target, and the rename replaces the target,
/// never the link (and never writes over the start of the old content, leaving its tail).
///
/// Every write is `write(2)` with its result checked. The first failure (a full disk, `/dev/full`, a closed pipe)
/// is kept, later writes are skipped, and ``commit()`` throws it, naming the file and the errno's text; the temporary
/// file is removed. Nothing traps.
///
/// `@unchecked Sendable`: written from one thread at a time (the analysis, or the flow output queue).
final class OutputSink: @unchecked Sendable {
    /// The destination as given (for messages).
    private let shownPath: String
    /// The file the temporary one is renamed onto; nil when writing in place (standard output, a device, a FIFO).
    private let finalPath: String?
    private let temporaryPath: String?
    private let fd: Int32
    private let ownsDescriptor: Bool
    private var failure: OutputError?
    private var finished = false

    /// Opens `path` for a report (`nil` or `-`: standard output).
    ///
    /// - Throws: ``OutputError`` naming the real cause: the folder does not exist, the path is a folder, the folder
    ///   is not writable.
    init(path: String?) throws(OutputError) {
        guard let path, path != "-", path != "/dev/stdout" else {
            self.shownPath = "standard output"
            self.finalPath = nil
            self.temporaryPath = nil
            self.fd = STDOUT_FILENO
            self.ownsDescriptor = false
            return
        }
        self.shownPath = path
        // stat follows links as the kernel does (also /dev/fd/1 and /proc/self/fd/1, whose link text is no path).
        var info = stat()
        let exists = stat(path, &info) == 0
        if exists && info.st_mode & S_IFMT == S_IFDIR {
            throw OutputError(path: path, reason: "is a folder: give a file name for the report")
        }
        if exists && info.st_mode & S_IFMT != S_IFREG {
            // A terminal, /dev/null, /dev/full, a FIFO: written in place (renaming over it would replace the device).
            let fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY)
            guard fd >= 0 else {
                throw OutputError(path: path, reason: InputFile.openProblem(path, errno: errno, writing: true))
            }
            self.finalPath = nil
            self.temporaryPath = nil
            self.fd = fd
            self.ownsDescriptor = true
            return
        }
        let target = Self.resolvingLinks(path)
        let folder = InputFile.folder(of: target)
        let name = target.split(separator: "/").last.map(String.init) ?? target
        let temporary = folder + "/.\(name).\(getpid()).tmp"
        unlink(temporary)  // a leftover of an earlier run of this pid
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else {
            let code = errno
            // Name the destination's own problem (its folder missing or not writable), not the temporary file's.
            throw OutputError(path: path, reason: InputFile.openProblem(target, errno: code, writing: true))
        }
        // An existing report keeps its permissions (a report readable only by its owner stays so): when they cannot be
        // carried over, the report is not written rather than replaced by one readable by more people.
        if exists && fchmod(fd, info.st_mode & 0o7777) != 0 {
            let reason = SystemCallError.last("fchmod").message
            close(fd)
            unlink(temporary)
            throw OutputError(path: path, reason: "cannot keep the existing report's permissions: \(reason)")
        }
        self.finalPath = target
        self.temporaryPath = temporary
        self.fd = fd
        self.ownsDescriptor = true
    }

    deinit {
        if !self.finished { self.abandon() }
    }

    /// `path` with every symlink followed (also a dangling one: its target is where the report goes).
    static func resolvingLinks(_ path: String) -> String {
        var current = path
        for _ in 0..<40 {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink(current, &buffer, buffer.count - 1)
            guard count > 0 else { return current }
            let target = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            current = target.hasPrefix("/") ? target : InputFile.folder(of: current) + "/" + target
        }
        return current
    }

    // Unchecked exclusivity for the buffers written piece by piece, twice per flow at the end of `analyze`: the sink
    // is used by one thread at a time, and the dynamic checks were a measurable part of writing the flows.
    /// Bytes of ``buffered(_:)`` not written yet.
    @exclusivity(unchecked) private var pending: [UInt8] = []

    /// Whether the report goes to a regular file (one written through a temporary file and renamed, or standard output
    /// redirected to a file), not to a terminal, pipe or device where a reader may be waiting for each piece.
    var isFile: Bool {
        guard self.finalPath == nil else { return true }
        var info = stat()
        return fstat(self.fd, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    /// Pieces of ``gathered(_:)`` not written yet (they point into the caller's memory).
    @exclusivity(unchecked) private var gatheredPieces: [iovec] = []
    /// The most pieces one `writev` takes (`IOV_MAX`).
    private static let gatherLimit = 1024

    /// Queues `bytes` to be written with the pieces queued after it in one `writev`, without copying them: for a report
    /// whose many pieces are already in memory (the flows mapped from the spool). The bytes must stay valid and
    /// unchanged until ``flushGathered()``, which any other write also does first.
    func gathered(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        self.flushPending()
        self.gatheredPieces.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: base), iov_len: bytes.count))
        if self.gatheredPieces.count == Self.gatherLimit { self.flushGathered() }
    }

    /// Writes the pieces ``gathered(_:)`` queued, in order, retrying short writes and EINTR.
    func flushGathered() {
        guard !self.gatheredPieces.isEmpty else { return }
        defer { self.gatheredPieces.removeAll(keepingCapacity: true) }
        guard self.failure == nil else { return }
        self.gatheredPieces.withUnsafeMutableBufferPointer { pieces in
            guard var next = pieces.baseAddress else { return }
            var left = pieces.count
            while left > 0 {
                var written: Int
                do throws(SystemCallError) {
                    written = try SystemCall.retrying("writev") { writev(self.fd, next, Int32(left)) }
                } catch {
                    self.failure = OutputError(path: self.shownPath, reason: error.message)
                    return
                }
                guard written > 0 else {
                    self.failure = OutputError(path: self.shownPath, reason: "writev wrote nothing")
                    return
                }
                // A short write: skip the pieces written whole, and the written start of the next.
                while left > 0 && written >= next.pointee.iov_len {
                    written -= next.pointee.iov_len
                    next += 1
                    left -= 1
                }
                if left > 0 && written > 0 {
                    next.pointee.iov_base += written
                    next.pointee.iov_len -= written
                }
            }
        }
    }

    /// Appends `bytes` to a 1 MiB buffer, written when full and before any unbuffered write or the commit: for
    /// reports made of many small pieces.
    func buffered(_ bytes: UnsafeRawBufferPointer) {
        self.flushGathered()
        if self.pending.count + bytes.count > 1 << 20 { self.flushPending() }
        if bytes.count > 1 << 20 { self.write(bytes) } else { self.pending.append(contentsOf: bytes) }
    }

    private func flushPending() {
        guard !self.pending.isEmpty else { return }
        // Written from the buffer itself, then emptied in place: a copy taken first made the emptying allocate a new
        // megabyte (the old one still shared), and every page of it was faulted in afresh.
        self.pending.withUnsafeBytes { self.writeNow($0) }
        self.pending.removeAll(keepingCapacity: true)
    }

    func write(_ data: Data) {
        data.withUnsafeBytes { self.write($0) }
    }

    func write(_ text: String) {
        var text = text
        text.withUTF8 { self.write(UnsafeRawBufferPointer($0)) }
    }

    /// Writes all of `bytes` (after what is buffered), retrying short writes and EINTR; the first failure is kept
    /// for ``commit()``.
    func write(_ bytes: UnsafeRawBufferPointer) {
        self.flushGathered()
        self.flushPending()
        self.writeNow(bytes)
    }

    private func writeNow(_ bytes: UnsafeRawBufferPointer) {
        guard self.failure == nil, let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            do throws(SystemCallError) {
                done += try SystemCall.retrying("write") { Glibc.write(self.fd, base + done, bytes.count - done) }
            } catch {
                self.failure = OutputError(path: self.shownPath, reason: error.message)
                return
            }
        }
    }

    /// Finishes the report: flushes it to disk and renames the temporary file into place.
    ///
    /// - Throws: ``OutputError`` for the first failed write, or a failed flush, close or rename; the temporary file
    ///   is then removed and the previous report is left as it was.
    func commit() throws(OutputError) {
        guard !self.finished else { return }
        self.flushGathered()
        self.flushPending()
        if let failure = self.failure {
            self.abandon()
            throw failure
        }
        guard let finalPath = self.finalPath, let temporary = self.temporaryPath else {
            self.finished = true
            if self.ownsDescriptor && close(self.fd) != 0 && errno != EINTR {
                throw OutputError(path: self.shownPath, reason: SystemCallError.last("close").message)
            }
            return
        }
        // A full disk may only show at fsync or close (delayed allocation, NFS).
        if fsync(self.fd) != 0 {
            let failure = OutputError(path: self.shownPath, reason: SystemCallError.last("fsync").message)
            self.abandon()
            throw failure
        }
        self.finished = true
        let closed = close(self.fd)
        let closeError = errno
        guard closed == 0 || closeError == EINTR else {
            unlink(temporary)
            throw OutputError(path: self.shownPath, reason: SystemCallError("close", code: closeError).message)
        }
        guard rename(temporary, finalPath) == 0 else {
            let reason = SystemCallError.last("rename").message
            unlink(temporary)
            throw OutputError(path: self.shownPath, reason: reason)
        }
    }

    /// Drops an unfinished report file (the previous report, if any, stays).
    func abandon() {
        guard !self.finished else { return }
        self.finished = true
        if self.ownsDescriptor { close(self.fd) }
        if let temporary = self.temporaryPath { unlink(temporary) }
    }

    /// The exit error for a failure while producing the report: an ``OutputError`` says which file and why;
    /// anything else (a report that could not be rendered) is named as such.
    static func failure(_ error: any Error) -> ExitCode {
        if let error = error as? OutputError { return failInput(error.description) }
        return failInput("cannot write the report: \(error.localizedDescription)")
    }
}
