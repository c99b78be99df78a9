import Audit
import BulkheadModel
import BulkheadTestSupport
import Fleet
import Foundation
import Policy
import Reporting
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

    @Test(
        "the judged matrix (what scenario run compares) comes from the judgement's one evaluation: the same cells as the probe judged alone, its findings in the report"
    )
    func judgedMatrix() throws {
        let deny = try self.policy("version: 1\nbaseline: deny\n")
        let gathered = self.gathered(checks: [.forgedCertificates])
        let judged = AuditJudgement.judge(gathered, policy: deny, policyName: "deny")
        let matrix = try #require(judged.matrix)
        let alone = try #require(gathered.evidence.probe?.facts.evaluated(with: deny, name: "deny"))
        #expect(matrix.cells == alone.cells && matrix.policy == "deny")
        #expect(matrix.summary.violations == alone.summary.violations && !matrix.violations.isEmpty)
        #expect(matrix.findings == alone.findings && !matrix.findings.isEmpty)
        for finding in matrix.findings { #expect(judged.report.findings.contains(finding), "\(finding.kind)") }
        // The report keeps the facts; the judged matrix is not stored.
        #expect(judged.report.evidence.probe?.cells.allSatisfy { $0.violation == nil } == true)
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

    @Test(
        "stored evidence judged again stays the audit of its host at its time: JSON, titles, Prometheus, merge by host")
    func storedHostAndTime() throws {
        func stored(_ host: String) throws -> AuditReport {
            var report = SampleAudit.report()
            report.host = host
            report.generatedAt = "2026-01-01T03:17:00Z"
            // As `audit --evidence` reads it: the file `audit --format json` wrote.
            return try TemporaryFile.with(
                String(decoding: try JSONReport.document(report), as: UTF8.self), named: "\(host).json"
            ) {
                path in try Baseline.load(path: path)
            }
        }
        let judged = try ["node-a", "node-b"].map { host in
            AuditJudgement.judge(GatheredEvidence(stored: try stored(host)), policy: .dockerDefault, policyName: "p")
                .report
        }
        #expect(judged.map(\.host) == ["node-a", "node-b"])
        #expect(judged.map(\.generatedAt) == ["2026-01-01T03:17:00Z", "2026-01-01T03:17:00Z"])
        #expect(AuditReports.markdown(judged[0]).hasPrefix("# Bulkhead audit of node-a"))
        #expect(AuditReports.html(judged[0]).contains("<title>Bulkhead audit of node-a</title>"))
        #expect(
            PrometheusReport.render(judged[0], lastSuccess: nil).contains(
                "\nbulkhead_audit_timestamp_seconds 1767237420\n"),
            "the evidence's time, not now")
        // Two hosts' reports judged again on one workstation are still two hosts.
        let fleet = try FleetMerge.merge(
            judged.enumerated().map { NodeReport(report: $1, path: "\($0).json") },
            options: FleetMergeOptions(allowStandalone: true, generatedAt: "2026-12-04T22:00:00Z"))
        #expect(fleet.nodes.map(\.nodeName).sorted() == ["node-a", "node-b"])
        // A live audit is this host's, now.
        let live = AuditJudgement.judge(
            GatheredEvidence(evidence: SampleAudit.report().evidence, stages: [], problems: [], durationSeconds: 0),
            policy: .dockerDefault, policyName: "p", today: Date(timeIntervalSince1970: 1_795_000_000)
        ).report
        #expect(live.host == ProcessInfo.processInfo.hostName && live.generatedAt == "2026-11-18T11:06:40Z")
    }

    /// A plaintext flow from `client` to `server`, as the capture stage records it.
    static func flow(_ id: Int, _ client: String, _ server: String) -> FlowRecord {
        let time = Timestamp(seconds: 1_764_400_000, nanoseconds: 0)
        return FlowRecord(
            id: id, client: client, server: server, clientBasis: .syn, transport: .tcp, proto: .http, encrypted: false,
            starttls: false, tls: nil, credentials: [], truncated: false, anomalies: [], firstSeen: time,
            lastSeen: time,
            packets: DirectionCounts(toServer: 3, toClient: 2), bytes: DirectionCounts(toServer: 200, toClient: 300),
            file: nil)
    }

    @Test(
        "an edge seen only in traffic takes its verdict from the one evaluation: its path is asked once, beside the probe's cells, and the edge builder holds no policy"
    )
    func trafficOnlyEdge() throws {
        var evidence = SampleAudit.report().evidence
        // web → pay:9000 was never probed (traffic only); web → api:8080 was (its flow joins the probed edge).
        evidence.capture = AnalysisReport(
            flows: [
                Self.flow(1, "198.18.50.10:40000", "198.18.51.12:9000"),
                Self.flow(2, "198.18.50.10:40001", "198.18.50.11:8080"),
            ], findings: [], summary: AnalysisSummary())
        let probeCells = try #require(evidence.probe?.cells.count)
        let allowing = try self.policy(
            "version: 1\nbaseline: docker\nallow:\n  - { name: web to pay, from: web, to: pay, ports: [tcp/9000] }\n")
        for (policy, allowed) in [(Policy.dockerDefault, false), (allowing, true)] {
            let evaluation = AuditJudgement.evaluate(evidence, policy: policy, policyName: "p")
            #expect(
                evaluation.cells.count == probeCells + 1, "every probe cell and the one traffic-only path, once each")
            #expect(evaluation.cells.filter { $0.source == "web" && $0.port == 9000 }.count == 1)
            let path = try #require(evaluation.cells.last)
            #expect(path.reason == "traffic" && path.source == "web" && path.address == "198.18.51.12")
            #expect(path.expected == (allowed ? .allow : .deny))
            let edge = try #require(evaluation.edges.first { $0.source == "web" && $0.port == 9000 })
            #expect(edge.reachability == nil && edge.traffic?.flows == 1 && edge.destination == "pay")
            #expect(edge.allowed == allowed && edge.rule == path.rule, "the edge carries the path's one answer")
            #expect(
                edge.rule
                    == (allowed
                        ? "allow \"web to pay\""
                        : "baseline docker: web is not on back (networks are isolated from each other)"))
            #expect(edge.verdict == (allowed ? .plaintext : .violation), "\(edge.reasons)")
            let probed = try #require(evaluation.edges.first { $0.source == "web" && $0.port == 8080 })
            #expect(probed.reachability == .reachable && probed.traffic?.flows == 1)
            // The judgement writes the same edges.
            let judged = AuditJudgement.judge(
                GatheredEvidence(evidence: evidence, stages: [], problems: [], durationSeconds: 0), policy: policy,
                policyName: "p")
            #expect(judged.report.edges == evaluation.edges)
            #expect(
                judged.matrix?.cells == Array(evaluation.cells.prefix(probeCells)),
                "the matrix handed on (scenario run's comparison) is that evaluation's")
        }
        // By structure: the edge builder holds no policy, and joining judges nothing.
        let inventory = try #require(evidence.inventory)
        let builder = EdgeBuilder(inventory: inventory)
        #expect(!Mirror(reflecting: builder).children.contains { $0.value is Policy || $0.value is PolicyEvaluator })
        let joined = builder.join(probe: evidence.probe, tls: evidence.tls ?? [:], capture: evidence.capture)
        #expect(joined.edges.allSatisfy { $0.allowed == nil && $0.rule == nil && $0.verdict == .unknown })
        #expect(joined.edges.count == joined.paths.count)
        #expect(joined.trafficPaths.count == 1 && joined.trafficPaths.first?.expected == nil)
    }

    @Test(
        "an edge the probe could not decide (skipped, error, unknown) and no traffic crossed takes no verdict from the endpoint's TLS battery: unknown, never mtls-enforced"
    )
    func undecidedPathTakesNoTLSVerdict() throws {
        for state in [CellState.skipped, .error, .unknown] {
            var evidence = SampleAudit.report().evidence
            let index = try #require(
                evidence.probe?.cells.firstIndex { $0.source == "api" && $0.port == 8443 })
            evidence.probe?.cells[index].state = state
            let evaluation = AuditJudgement.evaluate(evidence, policy: .dockerDefault, policyName: "docker")
            let undecided = try #require(evaluation.edges.first { $0.source == "api" && $0.port == 8443 })
            #expect(undecided.verdict == .unknown, "\(state): \(undecided.reasons)")
            #expect(
                undecided.reasons == [
                    "probe: \(state.rawValue): this path was not established; the endpoint's own TLS verdict (mtls-enforced) is not this path's"
                ])
            // The battery still holds for the endpoint: another source's reached path keeps its verdict.
            let reached = try #require(evaluation.edges.first { $0.source == "web" && $0.port == 8443 })
            #expect(reached.reachability == .reachable && reached.verdict != .unknown)
        }
    }

    @Test(
        "an edge's mTLS requirement is read from the same answer as its expectation: a namespace a requirement names by `container:` is held to it"
    )
    func namespaceRequirement() throws {
        var evidence = SampleAudit.report().evidence
        var cell = SampleAudit.cell("api", "bh-ns-pay", "back", "198.18.51.40", 8080, .reachable)
        cell.destinationKind = .namespace
        cell.network = nil
        evidence.probe?.cells.append(cell)
        let policy = try self.policy(
            """
            version: 1
            baseline: docker
            allow:
              - { name: api to the namespace, from: api, to: { container: bh-ns-pay }, ports: [tcp/8080] }
            mtls:
              require:
                - { name: namespace payments, to: { container: bh-ns-pay }, ports: [tcp/8080] }
            """)
        let evaluation = AuditJudgement.evaluate(evidence, policy: policy, policyName: "p")
        let judged = try #require(evaluation.cells.last)
        #expect(judged.rule == "allow \"api to the namespace\"", "the `container:` selector names the namespace")
        let edge = try #require(evaluation.edges.first { $0.destination == "bh-ns-pay" })
        #expect(edge.allowed == true && edge.rule == judged.rule)
        #expect(
            edge.verdict == .violation && edge.reasons.contains { $0.hasPrefix("mTLS required") }, "\(edge.reasons)")
        #expect(
            evaluation.edgeFindings.map(\.location) == ["bh-ns-pay 198.18.51.40:8080/tcp"],
            "the requirement the expectation's selector matches holds the edge too")
    }
}
