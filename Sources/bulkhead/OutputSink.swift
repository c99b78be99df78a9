import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a report goes: standard output, or a file written atomically (a temporary file in the same folder,
/// renamed into place when complete), so a reader never sees half a report and a failure leaves the previous
/// file intact.
/// `@unchecked Sendable`: written from one thread at a time (the analysis, or the flow output queue).
final class OutputSink: @unchecked Sendable {
    private let path: String?
    private let temporaryPath: String?
    private let handle: FileHandle

    init(path: String?) throws {
        // `-` is standard output; an existing path that is not a regular file (a terminal, /dev/stdout, a FIFO) is
        // written in place: renaming a temporary file over it would replace the device or the link with a file.
        if let path, path == "-" || Self.isSpecialFile(path) {
            self.path = nil
            self.temporaryPath = nil
            if path == "-" || path == "/dev/stdout" {
                self.handle = FileHandle.standardOutput
            } else {
                guard let handle = FileHandle(forWritingAtPath: path) else {
                    throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
                }
                self.handle = handle
            }
            return
        }
        self.path = path
        if let path {
            let directory = (path as NSString).deletingLastPathComponent
            let name = (path as NSString).lastPathComponent
            let temporary = (directory.isEmpty ? "." : directory) + "/.\(name).\(getpid()).tmp"
            guard FileManager.default.createFile(atPath: temporary, contents: nil) ,
                  let handle = FileHandle(forWritingAtPath: temporary)
            else {
                throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
            }
            self.temporaryPath = temporary
            self.handle = handle
        } else {
            self.temporaryPath = nil
            self.handle = FileHandle.standardOutput
        }
    }

    /// Whether `path` exists and is not a plain regular file: a device, a FIFO, or a symlink (`/dev/stdout` is one;
    /// replacing a symlink with a file would break what it points to).
    static func isSpecialFile(_ path: String) -> Bool {
        // attributesOfItem does not follow a final symlink (lstat), which is what matters here.
        guard let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType else { return false }
        return type != .typeRegular
    }

    func write(_ data: Data) {
        self.handle.write(data)
    }

    func write(_ text: String) {
        self.write(Data(text.utf8))
    }

    /// Finishes the report: renames the temporary file into place.
    func commit() throws {
        guard let path = self.path, let temporary = self.temporaryPath else { return }
        try self.handle.synchronize()
        try self.handle.close()
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path, NSLocalizedDescriptionKey: reason])
        }
    }

    /// Drops an unfinished report file.
    func abandon() {
        guard let temporary = self.temporaryPath else { return }
        try? self.handle.close()
        unlink(temporary)
    }
}
