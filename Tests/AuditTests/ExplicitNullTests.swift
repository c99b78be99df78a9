import Audit
import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

/// Every record Bulkhead writes keeps all its keys, absent values written as `null` (`@ExplicitNull`): checked by
/// reflection (`ExplicitNullReflection`) over real report values full of absent fields, so a stored property added
/// without it fails here. The command line's own records are checked in `CommandRecordTests` (bulkheadTests).
@Suite("Explicit null: every stored property is a key")
struct ExplicitNullTests {
    func check<T: Encodable>(_ value: T) throws -> [String] { try ExplicitNullReflection.check(value) }

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
