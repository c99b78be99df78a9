import BulkheadTestSupport
import Foundation
import Testing

/// The release binary as it is shipped (`swift build -c release`, which the README's commands and CI run first).
@Suite("Release binary")
struct ReleaseBinaryTests {
    static let path = Repository.path(".build/release/bulkhead")

    /// The glibc symbol versions the binary needs, from its version-needs section (`readelf -V`).
    static func glibcVersionsNeeded() throws -> [String] {
        let run = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/readelf"), ["-V", "--wide", Self.path])
        #expect(run.status == 0, "\(run.error)")
        return run.output.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: "Name: GLIBC_") else { return nil }
            return String(line[range.upperBound...].prefix { !$0.isWhitespace })
        }
    }

    @Test(
        "it runs where glibc 2.35 does (Ubuntu 22.04 hosts): no symbol version newer, no packed relocations (GLIBC_ABI_DT_RELR)",
        .enabled(if: FileManager.default.isExecutableFile(atPath: Self.path)))
    func glibcNeeds() throws {
        let versions = try Self.glibcVersionsNeeded()
        #expect(!versions.isEmpty, "no GLIBC version needs read from \(Self.path)")
        #expect(!versions.contains("ABI_DT_RELR"), "packed relative relocations need glibc 2.36")
        // Numbered versions (GLIBC_2.2.5 … GLIBC_2.35); named ones are checked above.
        for version in versions where version.first?.isNumber == true {
            let parts = version.split(separator: ".").compactMap { Int($0) }
            #expect(parts.lexicographicallyPrecedes([2, 36]), "GLIBC_\(version) is newer than 2.35")
        }
    }
}
