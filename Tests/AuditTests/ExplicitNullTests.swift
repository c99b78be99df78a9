import Audit
import BulkheadModel
import Foundation
import Testing

/// Every record Bulkhead writes keeps all its keys, absent values written as `null` (`@ExplicitNull`): checked by
/// reflection over real report values full of absent fields, so a stored property added without it fails here.
@Suite("Explicit null: every stored property is a key")
struct ExplicitNullTests {
    /// Keys written only when they have a value, each documented so on its property.
    static let presentOnly: Set<String> = ["parseError", "cluster", "swarm"]

    /// Walks `value` and its JSON side by side: every struct must be an object whose keys are exactly its stored
    /// properties (a property wrapper's storage `_name` counts as `name`). Returns what does not match.
    func mismatches(_ value: Any, _ json: Any, path: String) -> [String] {
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .struct:
            // Values that encode themselves as one string or number (Timestamp, IPAddress…) are not objects.
            guard let object = json as? [String: Any] else { return [] }
            var problems: [String] = []
            var labels = Set<String>()
            for child in mirror.children {
                guard var label = child.label else { continue }
                var value = child.value
                if label.hasPrefix("_") {
                    // A property wrapper's storage: the key is the property's name, the value its wrapped value.
                    label.removeFirst()
                    if let wrapped = Mirror(reflecting: value).children.first(where: { $0.label == "wrappedValue" }) {
                        value = wrapped.value
                    }
                }
                labels.insert(label)
                if let nested = object[label] {
                    problems += self.mismatches(value, nested, path: "\(path).\(label)")
                }
            }
            let keys = Set(object.keys)
            // The audit writes the probe's inventory once, as `evidence.inventory` (AuditEvidence).
            if path.hasSuffix("evidence.probe") { labels.remove("inventory") }
            // Documented as written only when present: a certificate's parse error (placeholders only).
            for key in Self.presentOnly where object[key] == nil { labels.remove(key) }
            if keys != labels {
                problems.append(
                    "\(path) (\(type(of: value))): missing keys \(labels.subtracting(keys).sorted()), unexpected \(keys.subtracting(labels).sorted())"
                )
            }
            return problems
        case .optional:
            guard let child = mirror.children.first else { return [] }
            return self.mismatches(child.value, json, path: path)
        case .collection:
            guard let array = json as? [Any] else { return [] }
            return zip(mirror.children, array).prefix(3).flatMap {
                self.mismatches($0.0.value, $0.1, path: path + "[]")
            }
        case .dictionary:
            guard let object = json as? [String: Any] else { return [] }
            return mirror.children.prefix(3).flatMap { pair -> [String] in
                let entry = Mirror(reflecting: pair.value).children.map(\.value)
                guard entry.count == 2, let key = entry[0] as? String, let nested = object[key] else { return [] }
                return self.mismatches(entry[1], nested, path: "\(path)[\(key)]")
            }
        default:
            return []
        }
    }

    func check<T: Encodable>(_ value: T) throws -> [String] {
        let data = try JSONEncoder().encode(value)
        return self.mismatches(value, try JSONSerialization.jsonObject(with: data), path: "\(T.self)")
    }

    @Test("an audit report: inventory, probe cells, TLS results, edges, findings, stages, summary")
    func auditReport() throws {
        var report = SampleAudit.report()
        // The inventory is written once, and a stored report reads back whole (its probe has the inventory again).
        let stored = try JSONDecoder().decode(AuditReport.self, from: JSONEncoder().encode(report))
        #expect(
            stored.evidence.probe?.inventory.containers.map(\.name) == report.evidence.inventory?.containers.map(\.name)
        )
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any]
        #expect(((object?["evidence"] as? [String: Any])?["probe"] as? [String: Any])?["inventory"] == nil)
        report.baseline = BaselineComparison(baseline: "before.json", new: report.findings, resolved: [], unchanged: 0)
        let problems = try self.check(report)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        // Absent values really are written: a finding without a location keeps the key, as null.
        let finding = Finding(
            kind: FindingKind(identifier: "k"), severity: .low, title: "t", detail: "d", location: nil)
        let findingObject = try JSONSerialization.jsonObject(with: JSONEncoder().encode(finding)) as? [String: Any]
        #expect(findingObject?.keys.contains("location") == true && findingObject?["location"] is NSNull)
        // And read back, with the key missing or null alike.
        let decoded = try JSONDecoder().decode(
            Finding.self,
            from: Data(#"{"kind":"k","severity":"low","title":"t","detail":"d","flowCount":0,"flowIDs":[]}"#.utf8))
        #expect(decoded.location == nil)
    }

    @Test("a TLS report: endpoints, probe records, the server chain and its certificates")
    func tlsReport() throws {
        let certificate = CertificateSummary(
            subject: "CN=s", issuer: "CN=ca", sans: [], serial: "01", notBefore: nil, notAfter: nil, sha256: "00",
            keyType: "ec", keyBits: 256,
            curve: nil, signatureAlgorithm: "ecdsa-with-SHA256", isCA: false, selfSigned: false, keyUsage: [],
            extendedKeyUsage: [])
        let record = TLSProbeRecord(endpoint: "127.0.0.1:1", source: "host", probe: .rogueCA, result: .rejected)
        let endpoint = TLSEndpointReport(
            endpoint: "127.0.0.1:1", source: "host", verdict: .inconclusive, clientAuth: .unknown, authorization: nil,
            serverChain: ServerChainReport(
                certificates: [certificate], pathValidation: .notChecked, pathError: nil, missingDNSNames: [],
                spiffeMatch: nil, lint: []),
            probes: [record], findings: [])
        let problems = try self.check(TLSReport(endpoints: [endpoint], durationSeconds: 0.1))
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }
}
