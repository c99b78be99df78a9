import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

/// The finding kind registry (`BulkheadModel/FindingKind.swift`): every kind has its name and help, emitters name
/// kinds by case and never by string, and a kind survives a stored report, known or not.
@Suite("The finding kind registry")
struct FindingKindTests {
    @Test("every registered kind has a name, help and a unique identifier of the report vocabulary")
    func everyKindDescribed() throws {
        let kinds = FindingKind.allRegistered
        // 59 plain kinds (8 Kubernetes, 1 fleet, 9 Swarm), and 22 certificate lint rules in each of three families.
        #expect(kinds.count == 59 + 3 * CertificateLintRule.allCases.count)
        let identifiers = kinds.map(\.identifier)
        #expect(
            Set(identifiers).count == identifiers.count,
            "duplicate identifiers: \(Dictionary(grouping: identifiers, by: { $0 }).filter { $1.count > 1 }.keys.sorted())"
        )
        let vocabulary = try Regex("^[a-z0-9]+(-[a-z0-9]+)*$")
        for kind in kinds {
            let entry = try #require(kind.entry, "\(kind) has no entry")
            #expect(kind.isRegistered)
            #expect(!entry.name.isEmpty && entry.help.count > 20, "\(kind)")
            #expect(kind.identifier.wholeMatch(of: vocabulary) != nil, "\(kind)")
            #expect(FindingKind(identifier: kind.identifier).isRegistered, "\(kind) does not decode back")
            #expect(kind.defaultSeverity == entry.defaultSeverity)
        }
        #expect(FindingKind.certificate(.weakKey, family: .server).identifier == "server-certificate-weak-key")
        #expect(
            FindingKind.certificate(.weakKey, family: .server).entry?.name == "Server certificate: weak certificate key"
        )
        #expect(FindingKind.certificate(.expired, family: .captured).identifier == "certificate-expired")
        #expect(FindingKind.dockerSocketMounted.entry?.reference == "CIS Docker 5.32")
        #expect(FindingKind.rogueClientAccepted.defaultSeverity == .critical)
        // The duplicate legacy-TLS kind is gone: the TLS check reports `tls-legacy-version` too.
        #expect(!FindingKind(identifier: "legacy-tls-version").isRegistered)
        #expect(FindingKind(identifier: "tls-legacy-version") == .tlsLegacyVersion)
    }

    @Test("every case the registry declares is in allRegistered")
    func registryComplete() throws {
        // `allRegistered` lists the plain cases by hand; a case added to the enum but not to the list would have no
        // identifier that decodes. The declarations without a payload are the lines `    case name`.
        let text = try String(
            contentsOfFile: Repository.path("Sources/BulkheadModel/FindingKind.swift"), encoding: .utf8)
        let plainCase = try Regex("^    case [a-z][A-Za-z]*$")
        let declared = text.split(separator: "\n").filter { $0.wholeMatch(of: plainCase) != nil }
        let plain = FindingKind.allRegistered.filter { if case .certificate = $0 { false } else { true } }
        #expect(declared.count == plain.count, "cases declared: \(declared.count), listed: \(plain.count)")
    }

    @Test("the sources name finding kinds by case, never by string literal")
    func noStringLiteralKinds() throws {
        let sources = URL(fileURLWithPath: Repository.path("Sources"))
        let files =
            FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL }
            .filter { $0.pathExtension == "swift" } ?? []
        #expect(files.count > 50, "the scan must see the sources")
        // The patterns the old catalogue test read kinds from: `Finding(kind: "…")`, `kind: c ? "…" : "…"`, the local
        // `add("…", …)` helpers of the TLS check and the inventory, the lint's `add("rule", …)`; and any kind made
        // from a string outside the registry.
        let patterns: [(what: String, regex: Regex<AnyRegexOutput>)] = try [
            ("Finding(kind: \"…\")", Regex(#"Finding\(\s*kind:\s*""#)),
            ("kind: c ? \"…\" : \"…\"", Regex(#"kind:\s*[A-Za-z.]+\s*\?\s*""#)),
            ("add(\"…\"", Regex(#"\badd\(\s*""#)),
            ("FindingKind(identifier:", Regex(#"FindingKind\(\s*identifier:"#)),
            (".unregistered(", Regex(#"\.unregistered\("#)),
        ]
        // The scan itself must work: each pattern catches the code it replaced.
        let replaced = [
            #"Finding(kind: "plaintext-flow", severity: .info"#,
            #"kind: weakness.serious ? "tls-weak-cipher" : "tls-legacy-cipher""#,
            #"add("rogue-client-accepted", .critical"#, #"FindingKind(identifier: "plaintext-flow")"#,
            #"Finding(kind: .unregistered("x")"#,
        ]
        for (code, pattern) in zip(replaced, patterns) {
            #expect(code.firstMatch(of: pattern.regex) != nil, "\(pattern.what) misses \(code)")
        }
        var offenders: [String] = []
        for file in files where file.lastPathComponent != "FindingKind.swift" {
            let text = try String(contentsOf: file, encoding: .utf8)
            // `add("…"` only where the file's local `add` takes a finding kind or a lint rule (the probe plan's
            // `add("host", …)` names a destination).
            let kindAdder = text.contains("func add(_ kind:") || text.contains("func add(_ rule:")
            for pattern in patterns where pattern.what != "add(\"…\"" || kindAdder {
                for match in text.matches(of: pattern.regex) {
                    let line = text[..<match.range.lowerBound].count { $0 == "\n" } + 1
                    offenders.append("\(file.lastPathComponent):\(line): \(pattern.what)")
                }
            }
        }
        #expect(offenders.isEmpty, "string-literal finding kinds: \(offenders)")
    }

    @Test("a finding's kind encodes as its identifier; an unknown identifier decodes, keeps its string and re-encodes")
    func roundTrip() throws {
        let finding = Finding(
            kind: .certificate(.weakKey, family: .server), title: "t", detail: "d", location: "198.18.0.1:443")
        #expect(finding.severity == .high, "the kind's default severity")
        let data = try JSONEncoder().encode(finding)
        let json = try #require(String(data: data, encoding: .utf8))
        #expect(json.contains(#""kind":"server-certificate-weak-key""#), "\(json)")
        let decoded = try JSONDecoder().decode(Finding.self, from: data)
        #expect(decoded == finding)
        #expect(decoded.kind == .certificate(.weakKey, family: .server))

        let stored =
            #"{"kind":"kind-from-a-newer-bulkhead","severity":"low","title":"Something new","detail":"d","location":null,"flowCount":0,"flowIDs":[]}"#
        let unknown = try JSONDecoder().decode(Finding.self, from: Data(stored.utf8))
        #expect(unknown.kind == .unregistered("kind-from-a-newer-bulkhead"))
        #expect(!unknown.kind.isRegistered && unknown.kind.entry == nil)
        #expect(unknown.kind.identifier == "kind-from-a-newer-bulkhead")
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let again = try #require(String(data: try encoder.encode(unknown), encoding: .utf8))
        #expect(again.contains(#""kind":"kind-from-a-newer-bulkhead""#), "\(again)")
        // A registered identifier read from a report is the registered case.
        let known = try JSONDecoder().decode(FindingKind.self, from: Data(#""plaintext-flow""#.utf8))
        #expect(known == .plaintextFlow && known.isRegistered)
    }
}
