import Audit
import BulkheadModel
import BulkheadTestSupport
import Foundation
import PacketAnalysis
import Policy
import Reporting
import Testing

/// What an edge's verdict may say when the only evidence is traffic (no TLS battery ran: `--no-tls`, an endpoint
/// outside `--tls-required-only`, or flows to an endpoint the probes never reached). The flows are real: the
/// committed captures of real `openssl s_client` / `s_server` handshakes, analysed as the audit's capture stage does.
@Suite("Edge verdicts from traffic alone")
struct TrafficVerdictTests {
    /// The sample audit's inventory with no probe and no battery, and the captures named as its capture stage.
    func gathered(captures: [String]) throws -> GatheredEvidence {
        var records: [FlowRecord] = []
        let result = try CaptureAnalysis.run(
            files: captures.map { Repository.path("captures/\($0)") }, options: AnalysisOptions(threads: 1),
            onFlow: { records.append($0) })
        var gathered = GatheredEvidence(stored: SampleAudit.report())
        gathered.evidence.probe = nil
        gathered.evidence.tls = [:]
        gathered.evidence.capture = AnalysisReport(
            flows: records, findings: result.findings, summary: result.summary)
        return gathered
    }

    /// The edge to the captures' server (198.18.1.2:9000, in none of the sample's networks).
    func edge(_ report: AuditReport) throws -> Edge {
        try #require(report.edges.first { $0.address == "198.18.1.2" && $0.port == 9000 })
    }

    @Test(
        "clients that all presented a certificate prove nothing about refusal: inconclusive, never mtls-enforced"
    )
    func mutualTrafficIsNotEnforcement() throws {
        // One TLS 1.2 handshake read in clear, one TLS 1.3 handshake inferred from record sizes.
        let gathered = try self.gathered(captures: ["tls12-mutual.pcap", "tls13-mutual.pcap"])
        let flows = gathered.evidence.capture?.flows ?? []
        #expect(flows.compactMap { $0.tls?.clientCertificate.isPresented }.filter { $0 }.count == 2)
        let judged = AuditJudgement.judge(gathered, policy: .dockerDefault, policyName: "default")
        let edge = try self.edge(judged.report)
        #expect(edge.traffic?.tlsFlows == 2 && edge.traffic?.mutualTLSFlows == 2)
        #expect(edge.traffic?.clientCertificateInferred == 1, "the TLS 1.3 one")
        #expect(edge.verdict == .inconclusive, "\(edge.verdict): \(edge.reasons)")
        #expect(
            edge.reasons == [
                "every TLS flow seen (2, 1 of them inferred from TLS 1.3 record sizes) presented a client certificate, "
                    + "but no TLS check tested whether the endpoint refuses clients without one"
            ])
        #expect(!judged.report.edges.contains { $0.verdict == .mtlsEnforced })
        // The report says why, and what to do: run the TLS check.
        let text = AuditReports.table(judged.report, style: TerminalStyle(enabled: false, width: nil))
        #expect(text.contains("presented a client certificate, but no TLS check tested"), "\(text)")
        #expect(text.contains("run the TLS check on it"), "\(text)")
    }

    @Test("a policy that requires mTLS there is not met by mutual traffic alone: a violation and its finding")
    func requiredButUntested() throws {
        let policy = try YAMLDocument.decode(
            Policy.self,
            text:
                "baseline: docker\nmtls:\n  require:\n    - { name: backend mtls, to: { cidr: 198.18.1.0/24 }, ports: [tcp/9000] }\n",
            path: "inline", knownKeys: Policy.knownKeys)
        let gathered = try self.gathered(captures: ["tls12-mutual.pcap", "tls13-mutual.pcap"])
        let judged = AuditJudgement.judge(gathered, policy: policy, policyName: "inline")
        let edge = try self.edge(judged.report)
        #expect(edge.verdict == .violation, "\(edge.reasons)")
        #expect(edge.reasons.contains { $0.hasPrefix("mTLS required, not verified: every TLS flow seen (2,") })
        let finding = try #require(judged.report.findings.first { $0.kind == .mtlsRequiredNotEnforced })
        #expect(finding.severity == .high && finding.detail.contains("no TLS check tested"))
    }

    @Test("a client that declined the server's request and was served proves mTLS is not enforced")
    func declinedAndServed() throws {
        // TLS 1.2 (read in clear) and TLS 1.3 (inferred), each handshake completed without a certificate.
        for (capture, inferred) in [
            ("tls12-client-cert-declined.pcap", ""),
            ("tls13-client-cert-declined.pcap", ", 1 of them inferred from TLS 1.3 record sizes"),
        ] {
            let gathered = try self.gathered(captures: [capture])
            let judged = AuditJudgement.judge(gathered, policy: .dockerDefault, policyName: "default")
            let edge = try #require(judged.report.edges.first { $0.address == "198.18.1.2" && $0.port == 8443 })
            #expect(edge.traffic?.servedWithoutCertificate == 1, "\(capture)")
            #expect(edge.verdict == .tlsNoClientAuth, "\(capture): \(edge.reasons)")
            #expect(
                edge.reasons == [
                    "1 of 1 TLS flow(s) seen served without a client certificate (traffic only: no TLS check made"
                        + "\(inferred))"
                ])
        }
    }

    @Test(
        "a client refused for want of a certificate proves no lack of enforcement: inconclusive, not tls-no-client-auth"
    )
    func refusedWithoutCertificate() throws {
        // The server required a certificate; the client sent none and the handshake was aborted (TLS 1.3), beside a
        // mutual one to the same endpoint.
        let gathered = try self.gathered(captures: ["tls13-client-cert-required-rejected.pcap", "tls12-mutual.pcap"])
        let judged = AuditJudgement.judge(gathered, policy: .dockerDefault, policyName: "default")
        let edge = try self.edge(judged.report)
        #expect(edge.traffic?.tlsFlows == 2 && edge.traffic?.mutualTLSFlows == 1)
        #expect(edge.traffic?.servedWithoutCertificate == 0)
        #expect(edge.verdict == .inconclusive, "\(edge.reasons)")
        #expect(
            edge.reasons.first?.hasPrefix("no TLS flow seen was served without a client certificate (1 of 2") == true)
    }

    @Test(
        "a TLS 1.2 handshake without a CertificateRequest, then a renegotiation not decrypted: not served without a certificate, inconclusive"
    )
    func renegotiatedUnseen() throws {
        // The server asked for a certificate in the renegotiation (encrypted) and refused the client's: without keys
        // the first handshake alone would read "not requested".
        let gathered = try self.gathered(captures: ["tls12-renegotiation-client-cert-rejected.pcap"])
        let flow = try #require(gathered.evidence.capture?.flows.first)
        #expect(flow.tls?.clientCertificate == .unknown && flow.tls?.renegotiated == true)
        let judged = AuditJudgement.judge(gathered, policy: .dockerDefault, policyName: "default")
        let edge = try self.edge(judged.report)
        #expect(edge.traffic?.servedWithoutCertificate == 0)
        #expect(edge.verdict == .inconclusive, "\(edge.verdict): \(edge.reasons)")
    }

    @Test("stored reports without the served count still decode (0)")
    func olderTraffic() throws {
        let older =
            #"{"flows":1,"plaintextFlows":0,"tlsFlows":1,"mutualTLSFlows":1,"protocols":["tls"],"clientIdentities":[],"serverIdentities":[],"credentialsInClear":0}"#
        let decoded = try JSONDecoder().decode(EdgeTraffic.self, from: Data(older.utf8))
        #expect(decoded.servedWithoutCertificate == 0 && decoded.mutualTLSFlows == 1)
        #expect(decoded.clientCertificateInferred == 0)
        var traffic = decoded
        traffic.servedWithoutCertificate = 3
        traffic.clientCertificateInferred = 2
        let encoded = try JSONEncoder().encode(traffic)
        #expect(try JSONDecoder().decode(EdgeTraffic.self, from: encoded) == traffic)
    }
}
