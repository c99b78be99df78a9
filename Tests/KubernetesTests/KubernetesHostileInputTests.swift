import BulkheadModel
import BulkheadTestSupport
import Foundation
import Kubernetes
import Testing

/// The dump reader never crashes: truncated and corrupted dumps and manifests, YAML built to exhaust a parser. Each
/// input either reads or is refused with an error naming the input.
@Suite("Kubernetes: hostile dumps")
struct KubernetesHostileInputTests {
    static func readsOrRefuses(_ text: String, name: String) -> Bool {
        do {
            _ = try ClusterDump.parse(text, name: name)
            return true
        } catch {
            return error.path.hasPrefix(name) && !error.message.isEmpty
        }
    }

    @Test("every truncation and a sweep of corrupted bytes of a dump and a manifest")
    func truncatedAndCorrupted() throws {
        let folder = NetworkPolicyTruthTableTests.folder
        let inputs = [
            try String(contentsOfFile: folder + "/cluster.json", encoding: .utf8),
            try String(contentsOfFile: folder + "/cases/28-deny-egress-on-client-side.yaml", encoding: .utf8),
            try String(contentsOfFile: folder + "/cases/36-ip-in-both-cidr-and-except.yaml", encoding: .utf8),
        ]
        var tried = 0
        for (index, text) in inputs.enumerated() {
            let bytes = Array(text.utf8)
            let step = max(1, bytes.count / 400)
            for cut in stride(from: 0, to: bytes.count, by: step) {
                let prefix = String(decoding: bytes[..<cut], as: UTF8.self)
                #expect(Self.readsOrRefuses(prefix, name: "cut\(index)"), "cut at \(cut)")
                tried += 1
            }
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<300 {
                var copy = bytes
                let position = Int.random(in: 0..<copy.count, using: &generator)
                copy[position] =
                    [
                        UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: ":"), UInt8(ascii: "\""), 0x0A,
                        UInt8(ascii: "-"), UInt8(ascii: "&"), UInt8(ascii: "*"), UInt8(ascii: "9"),
                    ].randomElement(
                        using: &generator) ?? 0
                #expect(Self.readsOrRefuses(String(decoding: copy, as: UTF8.self), name: "flip\(index)"))
                tried += 1
            }
        }
        #expect(tried > 1000)
    }

    @Test("alias bombs, deep nesting and base-60 numbers are refused before any parser recurses")
    func parserAttacks() {
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            let list = Array(repeating: "*\(level == 1 ? "a" : "a\(level - 1)")", count: 10).joined(separator: ", ")
            bomb += "a\(level): &a\(level) [\(list)]\n"
        }
        let attacks = [
            bomb,
            String(repeating: "- ", count: 10_000) + "x",
            String(repeating: "{a: ", count: 10_000) + "1" + String(repeating: "}", count: 10_000),
            "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n    - ports: [{containerPort: 1:1:1:1:1:1:1:1:1:1:1:1}]\n",
        ]
        for (index, text) in attacks.enumerated() {
            #expect(throws: KubernetesError.self, "attack \(index)") { try ClusterDump.parse(text, name: "attack") }
        }
    }
}
