#if canImport(Glibc)
    import Glibc
#endif

/// A temporary file for data a run keeps out of memory (the flows of a report waiting for its findings, the secrets
/// of a key log too large to hold): created unlinked, so that nothing is left behind whatever ends the run, readable
/// only by its owner, and not inherited by programs started meanwhile (which would keep its disk space).
public final class ScratchFile: @unchecked Sendable {
    /// The open descriptor; closed when the file is released.
    public let descriptor: Int32
    /// The folder it was made in, for messages.
    public let folder: String

    /// Makes an unlinked file named after `prefix` in `folder`.
    public init(folder: String, prefix: String) throws(SystemCallError) {
        var template = Array("\(folder)/.\(prefix).XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { name -> Result<Int32, SystemCallError> in
            guard let base = name.baseAddress else { return .failure(SystemCallError("mkstemp", code: EINVAL)) }
            // mkstemp makes the file with mode 0600.
            let fd = mkstemp(base)
            guard fd >= 0 else { return .failure(SystemCallError.last("mkstemp")) }
            unlink(base)
            return .success(fd)
        }
        let descriptor = try made.get()
        do throws(SystemCallError) {
            try SystemCall.retrying("fcntl(F_SETFD)") { fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        } catch {
            close(descriptor)
            throw error
        }
        self.descriptor = descriptor
        self.folder = folder
    }

    deinit { close(self.descriptor) }

    /// The folder for large temporary files when no better place is known: `TMPDIR`, else `/var/tmp` (on disk, where
    /// `/tmp` is often memory).
    public static var defaultFolder: String {
        if let folder = getenv("TMPDIR").map({ String(cString: $0) }), !folder.isEmpty { return folder }
        return "/var/tmp"
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(SystemCallError) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            done += try SystemCall.retrying("pwrite") {
                pwrite(self.descriptor, base + done, bytes.count - done, off_t(offset) + off_t(done))
            }
        }
    }

    /// Fills `buffer` from `offset`; an end of file before it is full is an error (`EIO`): what is read back was
    /// written before.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemCallError) {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            let read = try SystemCall.retrying("pread") {
                pread(self.descriptor, base + done, buffer.count - done, off_t(offset) + off_t(done))
            }
            guard read > 0 else { throw SystemCallError("pread", code: EIO) }
            done += read
        }
    }
}
