import Foundation

/// A file with `text` in the temporary folder, for as long as `body` runs: how the tests hand YAML, policies and
/// scenarios to loaders that take a path.
public enum TemporaryFile {
    /// `named: "policy.yaml"` makes `bh-policy-1A2B3C4D.yaml`: errors name the file, and tests look for its stem.
    public static func with<T>(_ text: String, named name: String = "file.yaml", _ body: (String) throws -> T) throws
        -> T
    {
        let stem = (name as NSString).deletingPathExtension
        let suffix = (name as NSString).pathExtension
        let file = "bh-\(stem)-\(UUID().uuidString.prefix(8))" + (suffix.isEmpty ? "" : ".\(suffix)")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(file).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }
}
