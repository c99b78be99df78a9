import Foundation

/// Locations in the repository, for tests that read committed fixtures (captures, expected analyses).
public enum Repository {
    /// The folder holding Package.swift, found by walking up from this file.
    public static let root: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    /// A path below the repository root.
    public static func path(_ relative: String) -> String {
        root.appendingPathComponent(relative).path
    }
}
