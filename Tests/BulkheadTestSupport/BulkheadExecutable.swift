import Foundation

/// The built `bulkhead` executable, for tests that run it as a user would.
public enum BulkheadExecutable {
    /// The `bulkhead` binary next to the test bundle (the same build), else the default debug build.
    public static var url: URL {
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("bulkhead")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        return Repository.root.appendingPathComponent(".build/debug/bulkhead")
    }

    /// Runs `bulkhead` with `arguments` (never through a shell) from the repository root.
    public static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> ProcessOutput {
        try ProcessRunner.run(Self.url, arguments, environment: environment, directory: Repository.root)
    }
}
