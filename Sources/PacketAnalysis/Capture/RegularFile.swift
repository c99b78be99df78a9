import SystemCalls

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Opens input files without ever blocking: a FIFO or device named where a file is expected is refused at once
/// (a plain `open` of a FIFO waits for a writer forever), and every failure names its real cause.
enum RegularFile {
    /// Why a path could not be opened as a regular file, in words for a one-line message.
    enum Failure: Error {
        case cannotOpen(String)
        case notRegular(String)

        var message: String {
            switch self {
            case .cannotOpen(let text), .notRegular(let text): text
            }
        }
    }

    /// Opens `path` read-only; the caller closes the descriptor. Returns it with the file's size.
    static func openForReading(_ path: String) -> Result<(descriptor: Int32, size: Int), Failure> {
        // O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer; for a regular
        // file it changes nothing.
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return .failure(.cannotOpen("cannot open: \(Self.describe(errno))")) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let code = errno
            close(descriptor)
            return .failure(.cannotOpen("cannot examine: \(Self.describe(code))"))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            return .failure(.notRegular("not a regular file (\(Self.kind(info.st_mode)))"))
        }
        return .success((descriptor, Int(info.st_size)))
    }

    /// What kind of file system object a mode describes.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFDIR: "a folder"
        default: "not a plain file"
        }
    }

    /// The system's text for an errno (`No such file or directory`, `Permission denied`…).
    static func describe(_ code: Int32) -> String {
        SystemCallError("", code: code).message
    }

    /// Reads a whole regular file (for small inputs such as key logs).
    static func contents(_ path: String) -> Result<[UInt8], Failure> {
        switch Self.openForReading(path) {
        case .failure(let failure): return .failure(failure)
        case .success(let (descriptor, size)):
            defer { close(descriptor) }
            var bytes = [UInt8](repeating: 0, count: max(size, 0))
            var filled = 0
            while true {
                if filled == bytes.count {
                    bytes.append(contentsOf: [UInt8](repeating: 0, count: max(4096, bytes.count)))
                }
                let read = bytes.withUnsafeMutableBytes { buffer in
                    Result { () throws(SystemCallError) -> Int in
                        guard let base = buffer.baseAddress else { return 0 }
                        return try SystemCall.retrying("read") {
                            Glibc.read(descriptor, base + filled, buffer.count - filled)
                        }
                    }
                }
                let count: Int
                switch read {
                case .success(let got): count = got
                case .failure(let error): return .failure(.cannotOpen("cannot read: \(error.message)"))
                }
                if count == 0 { break }
                filled += count
            }
            return .success(Array(bytes.prefix(filled)))
        }
    }
}
