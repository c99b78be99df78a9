import Audit
import BulkheadModel
import BulkheadTestSupport
import ContainerEngine
import Foundation
import Inventory
import Reporting
import Testing

@testable import Lab

/// The default audit — no policy file — against scenarios/mtls-zoo.yaml: real TLS servers in containers that
/// answer, close after every handshake, accept any certificate, make certificates optional, never ask for one,
/// or speak HTTP in clear. Every edge from the client must carry the endpoint's true verdict, and the one
/// endpoint nothing can be proven about must be inconclusive (the audit incomplete), never secure.
@Suite(
    "The default audit tests TLS on every edge", .serialized,
    .enabled(
        if: DockerCLI.isAvailable, "no Docker engine or lab image (scripts/test.sh starts dockerd and builds the image)"
    ))
struct MTLSZooTests {
    @Test("each edge shows the endpoint's verdict; inconclusive is listed as such in JSON, SARIF and JUnit")
    func zoo() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        let (scenario, relocation) = try LabScenarios.load("scenarios/mtls-zoo.yaml")
        #expect(scenario.policy == nil, "the point: no policy decides which endpoints are tested")
        let lab = LabRunner(engine: DockerEngine(socketPath: "/var/run/docker.sock"))
        try lab.up(scenario)
        defer { try? lab.down(scenario) }
        #expect(try lab.waitUntilReady(scenario))
        let outcome = ScenarioAudit.run(scenario, lab: lab)
        let report = outcome.report
        #expect(outcome.findings.missing.isEmpty, "missing: \(outcome.findings.missing)")
        #expect(outcome.findings.unexpected.isEmpty, "unexpected: \(outcome.findings.unexpected)")

        let client = scenario.qualified("client")
        func verdict(_ service: String, _ port: Int) -> (EdgeVerdict?, String?) {
            let edge = report.edges.first {
                $0.source == client && $0.destination == scenario.qualified(service) && $0.port == port
            }
            return (edge?.verdict, edge?.tls?.verdict.rawValue)
        }
        let expected: [(String, Int, EdgeVerdict, String)] = [
            ("strict", 8443, .mtlsEnforced, "mtls-enforced"),
            ("strict-closing", 8443, .mtlsEnforced, "mtls-enforced"),
            ("any-cert", 8443, .tlsAcceptsRogueClient, "tls-accepts-rogue-client"),
            ("any-cert-closing", 8443, .inconclusive, "inconclusive"),
            ("optional", 8443, .tlsAcceptsRogueClient, "tls-accepts-rogue-client"),
            ("no-client-auth", 8443, .tlsNoClientAuth, "tls-no-client-auth"),
            ("redis-tls", 6380, .mtlsOptional, "mtls-optional"),
            ("plain", 8080, .plaintext, "plaintext-accepted"),
        ]
        for (service, port, edgeVerdict, tlsVerdict) in expected {
            let (edge, tls) = verdict(service, port)
            #expect(
                edge == edgeVerdict && tls == tlsVerdict,
                "\(service):\(port): edge \(edge?.rawValue ?? "missing"), tls \(tls ?? "none")")
        }
        #expect(
            !report.edges.contains { $0.source == client && $0.verdict == .openUnverified && $0.destination != "host" },
            "every container edge was tested")

        // Inconclusive is incomplete: the audit says which endpoint and why, and exit status 3 follows.
        #expect(!report.complete)
        #expect(
            report.problems.contains {
                $0.contains(relocation.apply(to: "198.18.76.13:8443") + ": inconclusive")
                    && $0.contains("supply a client certificate")
            }, "\(report.problems)")

        let sarif = try #require(
            try JSONSerialization.jsonObject(
                with: SARIFReport.render(
                    findings: report.findings, toolVersion: "test", complete: report.complete, problems: report.problems
                )) as? [String: Any])
        let results = ((sarif["runs"] as? [[String: Any]])?.first?["results"] as? [[String: Any]]) ?? []
        let sarifText = String(decoding: try JSONSerialization.data(withJSONObject: results), as: UTF8.self)
        #expect(
            sarifText.contains("rogue-client-accepted") && sarifText.contains(relocation.apply(to: "198.18.76.12:8443"))
        )
        #expect(sarifText.contains("tls-inconclusive") && sarifText.contains(relocation.apply(to: "198.18.76.13:8443")))
        #expect(
            sarifText.contains("plaintext-accepted") && sarifText.contains(relocation.apply(to: "198.18.76.17:8080")))

        let junit = JUnitReport.render(report, failOn: .high)
        #expect(
            junit.contains("<skipped message=\"inconclusive: TLS battery: inconclusive"),
            "the inconclusive edge is listed as skipped with its reason")
        #expect(junit.contains("tls-accepts-rogue-client"), "the rogue-accepting edges fail")

        // The same audit as a security engineer opens it: the HTML report in a real browser at 1400 × 1000.
        if let missing = ReportBrowser.missing {
            Issue.record(Comment(rawValue: missing))
        } else {
            let edges = report.edges.map {
                ReportBrowser.EdgeKey(
                    source: $0.source, destination: $0.destination, protocol: $0.protocol.rawValue, port: $0.port,
                    verdict: $0.verdict.rawValue)
            }
            let check = try ReportBrowser.check(html: AuditReports.html(report), edges: edges, name: "lab-mtls-zoo")
            #expect(check.status == 0, "\(check.output)\(check.error)")
            let overview = AuditOverview(report)
            #expect(
                overview.status == .incomplete && overview.problems.first?.verdict == .tlsAcceptsRogueClient,
                "the rogue-accepting servers lead the summary: \(overview.problems.map(\.endpoint))")
        }
    }
}
