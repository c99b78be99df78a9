import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Folders the tests make for the length of the test process and remove when it exits: a fixture shared by a suite
/// (a static PKI) or a helper that hands a path back to its caller cannot tell when the last use is, and each run used
/// to leave dozens of folders in the system's temporary folder (thousands over a day of CI on one host).
public enum ScratchSpace {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var folders: [String] = []
    /// Registers the removal at exit, once (a C function: it may capture nothing).
    private static let removalAtExit: Void = { atexit { ScratchSpace.removeAll() } }()

    /// A new, empty folder `prefix-XXXXXXXX` in the temporary folder, removed when the process exits.
    public static func folder(_ prefix: String) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        Self.removeAtExit(folder.path)
        return folder
    }

    /// A file `bh-XXXXXXXX-name` in the temporary folder holding `contents`, removed when the process exits: the
    /// scenarios, policies and evidence the command tests hand to `bulkhead` by path.
    public static func file(_ name: String, _ contents: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bh-\(UUID().uuidString.prefix(8))-\(name)"
        ).path
        Self.removeAtExit(path)
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Removes the folder (or file) at `path` when the process exits, if it is still there.
    public static func removeAtExit(_ path: String) {
        Self.removalAtExit
        Self.lock.withLock { Self.folders.append(path) }
    }

    private static func removeAll() {
        for path in Self.lock.withLock({ Self.folders }) { try? FileManager.default.removeItem(atPath: path) }
    }
}
