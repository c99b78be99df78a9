import BulkheadTestSupport
import Foundation
import Lab
import Testing

/// The README's main job: the demo shop audited end to end, with its exact findings.
@Suite(
    "The demo (README command 1)", .serialized,
    .enabled(
        if: DockerCLI.isAvailable, "no Docker engine or lab image (scripts/test.sh starts dockerd and builds the image)"
    ))
struct DemoTests {
    @Test(
        "scenario run scenarios/demo.yaml: exactly the planted findings, the edges they come from, the stage times, the HTML report"
    )
    func demo() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        let html = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bh-demo-\(UUID().uuidString.prefix(8)).html"
        ).path
        defer { try? FileManager.default.removeItem(atPath: html) }
        // As README command 1 runs it: moved off subnets this host already uses, if any; the same moves as the
        // library plans here (the lab lock keeps other tests from taking subnets meanwhile).
        let relocation = try LabScenarios.load("scenarios/demo.yaml").relocation
        let run = try AnalyzeCommandTests.run([
            "scenario", "run", "scenarios/demo.yaml", "--relocate", "--format", "json", "--report", "html=\(html)",
        ])
        #expect(run.status == 0, "\(run.error.suffix(2000))")
        for move in relocation.moves { #expect(run.error.contains("bulkhead: demo: \(move)")) }
        func address(_ declared: String) -> String { relocation.apply(to: declared) }
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        #expect((document["relocation"] as? [Any])?.count == relocation.moves.count)
        let comparison = try #require(document["comparison"] as? [String: Any])
        #expect((comparison["missing"] as? [Any])?.isEmpty == true, "\(comparison["missing"] ?? "")")
        #expect((comparison["unexpected"] as? [Any])?.isEmpty == true, "\(comparison["unexpected"] ?? "")")
        #expect((document["traffic"] as? [[String: Any]])?.count == 5)

        let audit = try #require(document["audit"] as? [String: Any])
        #expect(audit["complete"] as? Bool == true, "\(audit["problems"] ?? "")")
        let edges = try #require(audit["edges"] as? [[String: Any]])
        func edge(_ source: String, _ address: String, _ port: Int) -> [String: Any]? {
            edges.first {
                $0["source"] as? String == "demo-\(source)" && $0["address"] as? String == address
                    && $0["port"] as? Int == port
            }
        }
        // payments: strict mTLS, and the api's traffic to it was mutually authenticated.
        let payments = try #require(edge("api", address("198.18.41.30"), 8443))
        #expect(payments["verdict"] as? String == "mtls-enforced")
        #expect((payments["tls"] as? [String: Any])?["refusesBadClients"] as? Bool == true)
        #expect(((payments["traffic"] as? [String: Any])?["mutualTLSFlows"] as? Int ?? 0) >= 1)
        #expect(
            ((payments["tls"] as? [String: Any])?["serverIdentities"] as? [String])?.contains(
                "URI:spiffe://shop.demo/payments") == true)
        // orders: asks for a certificate, accepts any.
        let orders = try #require(edge("api", address("198.18.41.40"), 8443))
        #expect(orders["verdict"] as? String == "violation")
        #expect((orders["tls"] as? [String: Any])?["verdict"] as? String == "tls-accepts-rogue-client")
        // the cache: Redis in clear, with the password (redacted in the flows, never printed).
        let cache = try #require(edge("api", address("198.18.41.50"), 6379))
        #expect(cache["verdict"] as? String == "plaintext")
        #expect(((cache["traffic"] as? [String: Any])?["credentialsInClear"] as? Int ?? 0) >= 1)
        // The password the cache's traffic sent appears nowhere in the audit (the scenario's own commands aside).
        let auditText = String(decoding: try JSONSerialization.data(withJSONObject: audit), as: UTF8.self)
        #expect(!auditText.contains("demo-cache-password"), "the cache password appears nowhere in the audit")
        #expect(auditText.contains("redacted") || auditText.contains("***"), "the credential is reported, redacted")
        // the debug container reaches the database, which only orders may.
        let debug = try #require(edge("debug", address("198.18.42.60"), 6379))
        #expect(debug["verdict"] as? String == "violation" && debug["allowed"] as? Bool == false)
        #expect(edge("frontend", address("198.18.41.30"), 8443)?["verdict"] as? String == "blocked")

        // Every stage ran, and the report records each stage's time (the 30 s target is measured by
        // Benchmarks/audit-benchmark.sh, not asserted here).
        let stages = try #require(audit["stages"] as? [[String: Any]])
        #expect(stages.map { $0["name"] as? String ?? "" } == ["inventory", "probe", "tls", "capture"])
        #expect(stages.allSatisfy { $0["status"] as? String == "ran" }, "\(stages)")
        let summary = try #require(audit["summary"] as? [String: Any])
        #expect((summary["durationSeconds"] as? Double ?? 0) > 0)
        #expect(
            Set((summary["durations"] as? [String: Double])?.keys.map { $0 } ?? []) == [
                "inventory", "probe", "tls", "capture",
            ])

        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("<svg") && page.contains("demo-payments") && !page.contains("<script"))
    }
}
