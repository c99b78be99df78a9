import Audit
import BulkheadModel
import BulkheadTestSupport
import Certificates
import Foundation
import Inventory
import PacketAnalysis
import Policy
import Reporting
import Testing

@testable import Fleet

/// One finding identity (`FindingIdentity`: kind, location, and what tells findings of one kind at one location
/// apart) for the baseline, SARIF's fingerprint, JUnit's test case names and the fleet merge. The findings are the
/// emitters' own: the committed captures analysed, the inventory's checks on containers, the certificate lint on a
/// certificate a capture carries, the policy's judgement of probe cells.
@Suite("Finding identity: baseline, SARIF fingerprint, JUnit name, merge")
struct FindingIdentityTests {
    /// The captures' findings, as the audit's capture stage has them.
    static func captured(_ names: [String]) throws -> (flows: [FlowRecord], findings: [Finding]) {
        var flows: [FlowRecord] = []
        let result = try CaptureAnalysis.run(
            files: names.map { Repository.path("captures/\($0)") }, options: AnalysisOptions(threads: 1),
            onFlow: { flows.append($0) })
        return (flows, result.findings)
    }

    /// Three credentials of different kinds sent in clear to one endpoint (198.18.1.2:8080).
    static let credentialCaptures = ["http-basic-auth.pcap", "http-bearer.pcap", "http-url-token.pcap"]

    /// The sample audit judged with the captures as its capture stage.
    static func audit(captures: [String]) throws -> AuditReport {
        var gathered = GatheredEvidence(stored: SampleAudit.report())
        let (flows, findings) = try Self.captured(captures)
        let summary = try CaptureAnalysis.run(
            files: captures.map { Repository.path("captures/\($0)") }, options: AnalysisOptions(threads: 1),
            onFlow: { _ in }
        ).summary
        gathered.evidence.capture = AnalysisReport(flows: flows, findings: findings, summary: summary)
        return AuditJudgement.judge(gathered, policy: .dockerDefault, policyName: "test").report
    }

    /// A container publishing `ports` on every interface, and its inventory findings.
    static func published(_ ports: [Int]) -> [Finding] {
        var web = SampleAudit.container("web", [("front", "198.18.50.10")])
        web.publishedPorts = ports.map {
            PublishedPort(containerPort: $0, proto: "tcp", hostIP: "0.0.0.0", hostPort: $0)
        }
        return InventoryFindings.evaluate(networks: [SampleAudit.network("front", "198.18.50.0/24")], containers: [web])
            .filter { $0.kind == .portPublishedAllInterfaces }
    }

    /// A policy that denies what it does not allow, and allows nothing.
    static func denyAll() throws -> Policy {
        try TemporaryFile.with("version: 1\nbaseline: deny\n", named: "policy.yaml") { path in
            try Policy.load(path: path)
        }
    }

    /// `findings` as the baseline report `audit --format json` writes, read back as `--baseline` reads it.
    static func baseline(_ findings: [Finding]) throws -> AuditReport {
        var report = SampleAudit.report()
        report.findings = findings
        let file = try ScratchSpace.folder("bh-baseline").appendingPathComponent("accepted.json").path
        try JSONReport.document(report).write(to: URL(fileURLWithPath: file))
        return try Baseline.load(path: file)
    }

    @Test("three credential kinds sent to one endpoint: three SARIF fingerprints, three JUnit test cases")
    func distinctAtOneLocation() throws {
        let report = try Self.audit(captures: Self.credentialCaptures)
        let credentials = report.findings.filter { $0.kind == .credentialsInCleartext }
        #expect(credentials.count == 3, "\(credentials.map(\.title))")
        #expect(Set(credentials.map(\.location)).count == 1, "one endpoint")
        let sarif = try SARIFReport.render(
            findings: report.findings, toolVersion: "test", complete: true, problems: [])
        let document = try #require(try JSONSerialization.jsonObject(with: sarif) as? [String: Any])
        let results = try #require((document["runs"] as? [[String: Any]])?.first?["results"] as? [[String: Any]])
        let fingerprints = results.compactMap {
            ($0["partialFingerprints"] as? [String: String])?["bulkheadFinding/v2"]
        }
        #expect(fingerprints.count == results.count, "every result has a v2 fingerprint")
        #expect(Set(fingerprints).count == fingerprints.count, "\(fingerprints)")
        let junit = try ReportFormatTests().python(
            """
            import sys, collections, xml.etree.ElementTree as ET
            cases = collections.Counter((c.get('classname'), c.get('name')) for c in ET.parse(sys.argv[1]).getroot().iter('testcase'))
            print([k for k, n in cases.items() if n > 1], sorted(k[1].rsplit(' (', 1)[1] for k in cases if 'credentials-in-cleartext' in k[1]))
            """, JUnitReport.render(report, failOn: .high))
        // Each named by what it is (not numbered as a repeat), so a CI's history follows each of them.
        #expect(
            junit.output.trimmingCharacters(in: .whitespacesAndNewlines)
                == "[] ['http-basic)', 'http-bearer)', 'http-url-secret)']", "\(junit.output) \(junit.error)")
    }

    @Test(
        "with a baseline, JUnit skips the findings it accepted and fails the new one, and SARIF marks each result new or unchanged: both agree with the exit status"
    )
    func baselineInJUnitAndSARIF() throws {
        let accepted = try Self.audit(captures: Array(Self.credentialCaptures.prefix(2)))
        let gathered = GatheredEvidence(stored: try Self.audit(captures: Self.credentialCaptures))
        let report = AuditJudgement.judge(
            gathered, policy: .dockerDefault, policyName: "test",
            baseline: AuditJudgement.BaselineReport(report: try Self.baseline(accepted.findings), path: "accepted.json")
        ).report
        let comparison = try #require(report.baseline)
        let credentials = report.findings.filter { $0.kind == .credentialsInCleartext }
        #expect(credentials.count == 3 && comparison.new.filter { $0.kind == .credentialsInCleartext }.count == 1)
        let junit = try ReportFormatTests().python(
            """
            import sys, xml.etree.ElementTree as ET
            for c in ET.parse(sys.argv[1]).getroot().iter('testcase'):
                if 'credentials-in-cleartext' in c.get('name'):
                    kind = c.get('name').rsplit(' (', 1)[1].rstrip(')')
                    state = 'failed' if c.find('failure') is not None else 'skipped' if c.find('skipped') is not None else 'passed'
                    print(kind, state)
            """, JUnitReport.render(report, failOn: .high))
        #expect(
            junit.output.split(separator: "\n").sorted()
                == ["http-basic skipped", "http-bearer skipped", "http-url-secret failed"],
            "\(junit.output) \(junit.error)")
        let sarif = try SARIFReport.render(
            findings: report.findings, toolVersion: "test", complete: true, problems: [], baseline: comparison)
        let document = try #require(try JSONSerialization.jsonObject(with: sarif) as? [String: Any])
        let results = try #require((document["runs"] as? [[String: Any]])?.first?["results"] as? [[String: Any]])
        let states = results.filter { $0["ruleId"] as? String == "credentials-in-cleartext" }.compactMap { result in
            (((result["message"] as? [String: Any])?["text"] as? String)?.contains("http-url-secret") == true)
                ? "url:\(result["baselineState"] ?? "-")" : "other:\(result["baselineState"] ?? "-")"
        }
        #expect(states.sorted() == ["other:unchanged", "other:unchanged", "url:new"], "\(states)")
        #expect(
            results.allSatisfy {
                $0["baselineState"] as? String == "new" || $0["baselineState"] as? String == "unchanged"
            })
    }

    @Test("baseline: a second port published, another credential kind, a finding grown more severe are new")
    func baselineSeesNewExposures() throws {
        // The container published 8080/tcp when the baseline was accepted; now also 5432/tcp.
        let ports = Baseline.compare(
            Self.published([8080, 5432]), with: try Self.baseline(Self.published([8080])), path: "accepted.json")
        #expect(ports.new.map(\.title) == ["Container web publishes 5432/tcp on every host interface (port 5432)"])
        #expect(ports.unchanged == 1 && ports.resolved.isEmpty)

        // Basic and bearer credentials were accepted; a URL token to the same endpoint is new.
        let before = try Self.captured(Array(Self.credentialCaptures.prefix(2))).findings
        let after = try Self.captured(Self.credentialCaptures).findings
        let credentials = Baseline.compare(after, with: try Self.baseline(before), path: "accepted.json")
        #expect(credentials.new.count == 1 && credentials.new.first?.kind == .credentialsInCleartext)
        #expect(credentials.new.first?.title.contains("http-url-secret") == true, "\(credentials.new.map(\.title))")

        // A path open where nothing listened (medium) now reaches a listener (high): new; the other way round: not.
        let deny = try Self.denyAll()
        func judged(_ state: CellState) -> [Finding] {
            var evidence = SampleAudit.report().evidence
            FleetNodes.setCell(&evidence, source: "web", port: 8080, state)
            return AuditJudgement.judge(
                GatheredEvidence(evidence: evidence, stages: [], problems: [], durationSeconds: 0), policy: deny,
                policyName: "deny"
            ).report.findings.filter { $0.kind == .unexpectedReachable }
        }
        let closed = judged(.reachableClosed), open = judged(.reachable)
        let worse = Baseline.compare(open, with: try Self.baseline(closed), path: "accepted.json")
        #expect(worse.new.map(\.severity) == [.high], "\(worse.new.map(\.title))")
        #expect(worse.resolved.isEmpty, "the path is still open: not resolved")
        let better = Baseline.compare(closed, with: try Self.baseline(open), path: "accepted.json")
        #expect(better.new.isEmpty && better.unchanged == closed.count)

        // The same situation again: nothing new, nothing resolved.
        let again = Baseline.compare(after, with: try Self.baseline(after), path: "accepted.json")
        #expect(again.new.isEmpty && again.resolved.isEmpty && again.unchanged == after.count)
    }

    @Test("what changes while the situation does not leaves the identity alone: counts, days left, a path's state")
    func stableAcrossRuns() throws {
        // ICC on the default bridge, as more containers join it.
        func icc(_ members: [String]) throws -> FindingIdentity {
            var bridge = SampleAudit.network("bridge", "198.18.60.0/24")
            bridge.isDefaultBridge = true
            bridge.containers = members
            return try #require(
                InventoryFindings.evaluate(networks: [bridge], containers: []).first { $0.kind == .defaultBridgeICC }
            ).identity
        }
        #expect(try icc(["a", "b"]) == icc(["a", "b", "c"]))

        // A certificate a capture carries, linted a day apart with a warning window that makes it expire soon.
        let (flows, _) = try Self.captured(["tls12-mutual.pcap"])
        let chain = try #require(flows.compactMap(\.tls).first { !$0.serverCertificates.isEmpty }?.serverCertificates)
        let notAfter = try #require(chain.first?.notAfter)
        func expiring(daysBefore: Int64) throws -> Finding {
            let issues = CertificateLint.lint(
                chain: chain, role: .server,
                at: Timestamp(seconds: notAfter.seconds - daysBefore * 86_400, nanoseconds: 0),
                options: CertificateLint.Options(expiryWarningSeconds: 10 * 365 * 86_400))
            return try #require(
                CertificateLint.findings(issues, about: "server certificate", family: .server, location: "pay:8443")
                    .first { $0.kind == .certificate(.expiringSoon, family: .server) })
        }
        let today = try expiring(daysBefore: 12), tomorrow = try expiring(daysBefore: 11)
        #expect(today.title != tomorrow.title, "the titles count the days: \(today.title)")
        #expect(today.identity == tomorrow.identity)
        #expect(!today.identity.subject.contains("days"), "\(today.identity.subject)")
        #expect(today.identity.subject.hasPrefix("server certificate #0: expires on "), "\(today.identity.subject)")

        // A denied path whose listener went away (high → medium) is the same finding, less severe.
        let deny = try Self.denyAll()
        func reachable(_ state: CellState) throws -> FindingIdentity {
            var evidence = SampleAudit.report().evidence
            FleetNodes.setCell(&evidence, source: "web", port: 8080, state)
            return try #require(
                AuditJudgement.judge(
                    GatheredEvidence(evidence: evidence, stages: [], problems: [], durationSeconds: 0), policy: deny,
                    policyName: "deny"
                ).report.findings.first {
                    $0.kind == .unexpectedReachable && $0.location?.hasPrefix("web -> api ") == true
                }
            ).identity
        }
        #expect(try reachable(.reachable) == reachable(.reachableClosed))
    }

    @Test("merge: two findings of one kind at one location on a node stay two")
    func mergeKeepsDistinctFindings() throws {
        let published = Self.published([8080, 5432])
        let report = FleetNodes.report(FleetNodes.cluster("n1", role: .manager)) { evidence in
            evidence.inventory?.findings = published
        }
        let fleet = try FleetNodes.merge([FleetNodes.node(report, "a.json")])
        #expect(fleet.findings.filter { $0.kind == .portPublishedAllInterfaces }.count == 2)
    }
}
