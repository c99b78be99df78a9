import Audit
import BulkheadModel
import BulkheadTestSupport
import Foundation
import Policy
import Testing

/// The judgement is made once, in `AuditJudgement`: the policy, then accepted risks, the baseline and the totals.
/// Re-judging stored evidence against another policy says which facts that policy needs and the evidence lacks.
@Suite("Audit judgement")
struct AuditJudgementTests {
    func policy(_ yaml: String) throws -> Policy {
        try TemporaryFile.with(yaml, named: "policy.yaml") { path in try Policy.load(path: path) }
    }

    /// The sample audit's evidence, as `--evidence` reloads it, with the battery of `pay` recorded as run with `checks`.
    func gathered(checks: [TLSCheck]?) -> GatheredEvidence {
        var gathered = GatheredEvidence(stored: SampleAudit.report())
        gathered.evidence.tls?["198.18.51.12:8443"]?.checks = checks
        return gathered
    }

    static let requiresClientCertificate = """
        version: 1
        baseline: docker
        mtls:
          require:
            - name: payments
              to: pay
              ports: [tcp/8443]
              trustBundle: pki/ca.pem
              clientCertificate: pki/web.pem
              clientKey: pki/web.key
        """

    @Test("evidence checked with what the policy names: judged, complete, nothing said to be lacking")
    func sufficientEvidence() throws {
        let policy = try self.policy(Self.requiresClientCertificate)
        let judged = AuditJudgement.judge(
            self.gathered(checks: [.forgedCertificates, .validClientCertificate, .serverChainTrust]), policy: policy,
            policyName: "p")
        #expect(judged.report.complete, "\(judged.report.problems)")
        #expect(!judged.report.problems.contains { $0.hasPrefix(AuditJudgement.problemPrefix) })
        #expect(judged.report.edges.first { $0.destination == "pay" }?.verdict == .mtlsEnforced)
    }

    @Test(
        "another policy needs a valid client certificate and a trust bundle the battery never had: said per endpoint, incomplete"
    )
    func lackingEvidence() throws {
        let policy = try self.policy(Self.requiresClientCertificate)
        let judged = AuditJudgement.judge(
            self.gathered(checks: [.forgedCertificates]), policy: policy, policyName: "other.yaml")
        let lacking = judged.report.problems.filter { $0.hasPrefix(AuditJudgement.problemPrefix) }
        #expect(lacking.count == 1, "one line per endpoint, however many sources reach it: \(lacking)")
        let line = try #require(lacking.first)
        for fragment in [
            "pay 198.18.51.12:8443/tcp", "mtls \"payments\"", "valid-client-certificate", "server-chain-trust",
            "clientCertificate and clientKey", "trustBundle",
        ] {
            #expect(line.contains(fragment), "\(fragment) in \(line)")
        }
        #expect(!line.contains("ca-issued"), "only what the requirement names")
        #expect(!judged.report.complete)
        // Re-judging the judged report drops the old line and makes it again, once.
        let again = AuditJudgement.judge(
            GatheredEvidence(stored: judged.report), policy: policy, policyName: "other.yaml")
        #expect(again.report.problems.filter { $0.hasPrefix(AuditJudgement.problemPrefix) } == lacking)
        // Without the requirement there is nothing to lack.
        let plain = AuditJudgement.judge(
            self.gathered(checks: [.forgedCertificates]), policy: .dockerDefault, policyName: "default")
        #expect(plain.report.complete)
    }

    @Test("evidence written before checks were recorded: says so rather than assume anything was checked")
    func evidenceWithoutChecks() throws {
        let policy = try self.policy(Self.requiresClientCertificate)
        let judged = AuditJudgement.judge(self.gathered(checks: nil), policy: policy, policyName: "p")
        let line = try #require(judged.report.problems.first { $0.hasPrefix(AuditJudgement.problemPrefix) })
        #expect(line.contains("evidence written before checks were recorded"))
    }

    @Test(
        "the evidence keeps facts only: no cell carries the policy's judgement, and a stale one in stored evidence is dropped"
    )
    func evidenceIsFacts() throws {
        let deny = try self.policy("version: 1\nbaseline: deny\n")
        // Evidence stored by an earlier version, its cells judged against a deny-all policy.
        var gathered = self.gathered(checks: [.forgedCertificates])
        gathered.evidence.probe = gathered.evidence.probe?.evaluated(with: deny, name: "deny")
        #expect(gathered.evidence.probe?.cells.contains { $0.violation != nil } == true)
        let judged = AuditJudgement.judge(gathered, policy: .dockerDefault, policyName: "default").report
        let cells = try #require(judged.evidence.probe?.cells)
        #expect(cells.allSatisfy { $0.expected == nil && $0.violation == nil && $0.rule == nil })
        #expect(judged.evidence.probe?.findings.isEmpty == true && judged.evidence.probe?.policy == "")
        // The judgement is in the edges and findings, against the policy given now.
        #expect(judged.edges.contains { $0.allowed == true })
        #expect(!judged.findings.contains { $0.kind == .unexpectedReachable && $0.detail.contains("deny") })
        let strict = AuditJudgement.judge(GatheredEvidence(stored: judged), policy: deny, policyName: "deny").report
        #expect(strict.edges.allSatisfy { $0.allowed != true })
        #expect(strict.findings.contains { $0.kind == .unexpectedReachable })
    }

    @Test("accepted risks, then the baseline, then the totals: applied once, to the judged findings")
    func risksAndBaseline() throws {
        let gathered = self.gathered(checks: [.forgedCertificates])
        let plain = AuditJudgement.judge(gathered, policy: .dockerDefault, policyName: "default").report
        let accepted = try #require(plain.findings.first)
        let risksText = """
            ignore:
              - kind: \(accepted.kind.identifier)
                location: "\(accepted.location ?? "")"
                reason: accepted for the test
                expires: 2999-01-01
              - kind: no-such-kind
                reason: expired long ago
                expires: 2001-01-01
            """
        let risks = try TemporaryFile.with(risksText, named: "risks.yaml") { path in try AcceptedRisks.load(path: path)
        }
        var baseline = plain
        baseline.findings = Array(plain.findings.dropLast())
        let judged = AuditJudgement.judge(
            gathered, policy: .dockerDefault, policyName: "default", risks: (risks, source: "risks.yaml"),
            baseline: AuditJudgement.BaselineReport(report: baseline, path: "before.json"))
        let report = judged.report
        #expect(!report.findings.contains { $0.kind == accepted.kind && $0.location == accepted.location })
        #expect(report.summary.ignored == 1)
        #expect(
            judged.notes.count == 1 && judged.notes[0].contains("risks.yaml")
                && judged.notes[0].contains("no-such-kind"))
        #expect(report.summary.findingsBySeverity.values.reduce(0, +) == report.findings.count)
        #expect(report.baseline?.baseline.hasPrefix("before.json") == true)
        #expect((report.baseline?.new.count ?? 0) + (report.baseline?.unchanged ?? 0) == report.findings.count)
    }
}
