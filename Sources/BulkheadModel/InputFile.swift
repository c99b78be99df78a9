import SystemCalls

#if canImport(Glibc)
    import Glibc
#endif

/// Reading a small input file someone else wrote (a policy, a scenario, an ignore file, a stored report) without
/// trusting it: never blocks on a FIFO or a device, refuses folders and anything larger than a limit, and says what is
/// wrong in words a person can act on (a missing folder, a folder given as a file, a folder that cannot be read).
public enum InputFile {
    /// The whole content of the regular file at `path`, at most `limit` bytes.
    ///
    /// - Throws: `PathError` naming the path: missing (or its folder missing), a folder, not a regular file (a FIFO,
    ///   a device, a socket), unreadable, or larger than `limit`.
    public static func contents(of path: String, limit: Int) throws(PathError) -> [UInt8] {
        // O_NONBLOCK: opening a FIFO must not wait for a writer; the type check below refuses it anyway.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw PathError(path: path, message: Self.openProblem(path, errno: errno, writing: false))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw PathError(path: path, message: "cannot read: \(Self.reason(errno))") }
        let type = info.st_mode & S_IFMT
        guard type != S_IFDIR else { throw PathError(path: path, message: "is a folder, not a file") }
        guard type == S_IFREG else {
            throw PathError(path: path, message: "not a regular file (\(Self.typeName(type)))")
        }
        guard info.st_size <= limit else {
            throw PathError(
                path: path, message: "is \(info.st_size) bytes; the limit for this kind of file is \(limit) bytes")
        }
        return try Self.readAll(fd, path: path, limit: limit, expected: Int(info.st_size))
    }

    /// Everything standard input holds, at most `limit` bytes (read until its end: a pipe, a file, a terminal).
    ///
    /// - Throws: `PathError` for `standard input`: unreadable, or more than `limit` bytes (reading stops there, so a
    ///   larger stream never sits in memory whole).
    public static func standardInput(limit: Int) throws(PathError) -> [UInt8] {
        try Self.readAll(STDIN_FILENO, path: "standard input", limit: limit, expected: 64 << 10)
    }

    /// Reads `fd` to its end into one buffer sized for `expected` bytes (grown if more come), failing past `limit`.
    private static func readAll(_ fd: Int32, path: String, limit: Int, expected: Int) throws(PathError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: min(expected, limit) + 1)
        var count = 0
        while true {
            if count == bytes.count {
                // More than expected (a file that grew while being read, or a stream): read on, within the limit.
                guard bytes.count <= limit else {
                    throw PathError(path: path, message: "is larger than the limit of \(limit) bytes")
                }
                bytes.append(contentsOf: repeatElement(0, count: min(max(4096, bytes.count), limit + 1 - bytes.count)))
            }
            let read = bytes.withUnsafeMutableBytes { raw in
                Result { () throws(SystemCallError) in
                    try SystemCall.retrying("read") { Glibc.read(fd, raw.baseAddress! + count, raw.count - count) }
                }
            }
            guard case .success(let got) = read else {
                if case .failure(let error) = read {
                    throw PathError(path: path, message: "cannot read: \(error.message)")
                }
                break
            }
            if got == 0 { break }
            count += got
        }
        guard count <= limit else { throw PathError(path: path, message: "is larger than the limit of \(limit) bytes") }
        return Array(bytes.prefix(count))
    }

    /// Why opening `path` failed, naming the real cause: which folder is missing or cannot be entered, a folder where
    /// a file was expected, a full disk.
    public static func openProblem(_ path: String, errno code: Int32, writing: Bool) -> String {
        let folder = Self.folder(of: path)
        switch code {
        case ENOENT:
            var info = stat()
            if stat(folder, &info) != 0 { return "the folder \(folder) does not exist" }
            if info.st_mode & S_IFMT != S_IFDIR { return "\(folder) is not a folder" }
            return writing ? "cannot create the file: \(Self.reason(code))" : "no such file"
        case ENOTDIR:
            var info = stat()
            if stat(folder, &info) == 0 && info.st_mode & S_IFMT != S_IFDIR { return "\(folder) is not a folder" }
            return "a part of the path is not a folder"
        case EISDIR:
            return "is a folder, not a file"
        case EACCES, EPERM:
            if access(folder, X_OK) != 0 { return "permission denied: the folder \(folder) cannot be entered" }
            if writing && access(folder, W_OK) != 0 && access(path, F_OK) != 0 {
                return "permission denied: the folder \(folder) is not writable"
            }
            return "permission denied"
        default:
            return Self.reason(code)
        }
    }

    /// The folder holding `path` (`.` for a bare name).
    public static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let folder = String(path[..<slash])
        return folder.isEmpty ? "/" : folder
    }

    /// The system's text for an errno, as every module says it (`SystemCallError.message`).
    static func reason(_ code: Int32) -> String { SystemCallError("", code: code).message }

    static func typeName(_ type: mode_t) -> String {
        switch type {
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "a special file"
        }
    }

    /// Checks that `bytes` are UTF-8, naming the line and column of the first invalid byte.
    public static func decodeUTF8(_ bytes: [UInt8], path: String) throws(PathError) -> String {
        var line = 1
        var lineStart = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte < 0x80 {
                if byte == 0x0A {
                    line += 1
                    lineStart = index + 1
                }
                index += 1
                continue
            }
            let width = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2
            var valid = byte >= 0xC2 && byte <= 0xF4 && index + width <= bytes.count
            if valid {
                for offset in 1..<width where bytes[index + offset] & 0xC0 != 0x80 { valid = false }
            }
            if valid {
                // Overlong 3- and 4-byte forms, surrogates and values past U+10FFFF.
                let second = bytes[index + 1]
                if (byte == 0xE0 && second < 0xA0) || (byte == 0xED && second >= 0xA0)
                    || (byte == 0xF0 && second < 0x90) || (byte == 0xF4 && second >= 0x90)
                {
                    valid = false
                }
            }
            guard valid else {
                throw PathError(
                    path: "\(path):\(line):\(index - lineStart + 1)",
                    message: "not valid UTF-8 (byte 0x\(String(byte, radix: 16)) at offset \(index))")
            }
            index += width
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
