import BulkheadTestSupport
import Foundation
import Reporting
import Testing

/// Every finding kind the code can emit has its entry in ``FindingCatalogue`` (the SARIF rule's name and help, the
/// markdown's reference). Until kinds are a typed registry (issue 16), the kinds are read from the sources: every
/// `Finding(kind: "…")`, both sides of a `kind: … ? "…" : "…"`, every `add("…"` in a file whose local `add` takes a
/// finding kind, and every certificate lint rule in each of its three families.
@Suite("The finding catalogue")
struct FindingCatalogueTests {
    static func emittedKinds() throws -> Set<String> {
        var kinds = Set<String>()
        let sources = URL(fileURLWithPath: Repository.path("Sources"))
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" } ?? []
        func matches(_ pattern: String, in text: String) throws -> [[String]] {
            let expression = try NSRegularExpression(pattern: pattern)
            return expression.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { match in
                (1..<match.numberOfRanges).compactMap { Range(match.range(at: $0), in: text).map { String(text[$0]) } }
            }
        }
        for file in files where !file.path.contains("/Fuzzing/") {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in try matches(#"Finding\(\s*kind:\s*"([a-z0-9-]+)""#, in: text) { kinds.formUnion(match) }
            for match in try matches(#"kind:\s*[A-Za-z.]+\s*\?\s*"([a-z0-9-]+)"\s*:\s*"([a-z0-9-]+)""#, in: text) { kinds.formUnion(match) }
            if text.contains("func add(_ kind: String") {
                for match in try matches(#"\badd\("([a-z0-9-]+)""#, in: text) { kinds.formUnion(match) }
            }
            if file.lastPathComponent == "CertificateLint.swift" {
                for match in try matches(#"\badd\("([a-z0-9-]+)""#, in: text) {
                    for rule in match { kinds.formUnion(["certificate-\(rule)", "server-certificate-\(rule)", "client-certificate-\(rule)"]) }
                }
            }
        }
        return kinds
    }

    @Test("every kind the sources emit has a catalogue entry with a name and help")
    func everyKindRegistered() throws {
        let kinds = try Self.emittedKinds()
        // The scan itself must work: it knows the kinds of every stage.
        for known in ["plaintext-flow", "tls-weak-cipher", "rogue-client-accepted", "tls-inconclusive", "docker-socket-mounted", "unexpected-reachable",
                      "mtls-required-not-enforced", "server-certificate-weak-key", "certificate-expired"] {
            #expect(kinds.contains(known), "the scan misses \(known)")
        }
        #expect(kinds.count > 90)
        let missing = kinds.filter { FindingCatalogue.entry($0) == nil }.sorted()
        #expect(missing.isEmpty, "no catalogue entry (SARIF rules without help): \(missing)")
        for kind in kinds {
            let entry = FindingCatalogue.entry(kind)
            #expect(entry.map { !$0.name.isEmpty && $0.help.count > 20 } ?? false, "\(kind)")
        }
        #expect(FindingCatalogue.entry("server-certificate-weak-key")?.name == "Server certificate: weak certificate key")
        #expect(FindingCatalogue.entry("no-such-kind") == nil && FindingCatalogue.entry("server-certificate-no-such-rule") == nil)
    }
}
