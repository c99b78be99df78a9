import Audit
import BulkheadModel
import BulkheadTestSupport
import Foundation
import Policy
import Reporting
import Testing

@testable import Fleet

/// Node reports of a small Swarm, judged by the audit's own path (`AuditRunner.assemble`, what `audit --evidence`
/// runs) from the sample evidence with the node's cluster identity in its inventory.
enum FleetNodes {
    static func cluster(
        _ nodeID: String, cluster: String = "swarm-test-1", role: ClusterNode.Role = .worker,
        members: [ClusterNode.Member]? = nil, orchestrator: ClusterNode.Orchestrator = .swarm
    ) -> ClusterNode {
        ClusterNode(
            orchestrator: orchestrator, clusterID: cluster, nodeID: nodeID, nodeName: "host-\(nodeID)", role: role,
            fullView: role == .manager, members: members)
    }

    /// The sample audit's evidence, changed by `change`, with `cluster` as the inventory's identity, judged.
    static func report(
        _ cluster: ClusterNode?, problems: [String] = [], change: (inout AuditEvidence) -> Void = { _ in }
    ) -> AuditReport {
        var evidence = SampleAudit.report().evidence
        evidence.inventory?.cluster = cluster
        evidence.probe?.inventory.cluster = cluster
        change(&evidence)
        var report = AuditRunner.assemble(
            evidence: evidence,
            stages: [AuditStage(name: "inventory", status: .ran, durationSeconds: 0.02, note: nil)],
            policy: .dockerDefault, policyName: "test", problems: problems)
        report.host = cluster.map { "host-\($0.nodeID)" } ?? "plain-host"
        return report
    }

    static func node(_ report: AuditReport, _ name: String) -> NodeReport { NodeReport(report: report, path: name) }

    static func merge(_ reports: [NodeReport], expect: [String] = [], standalone: Bool = false)
        throws(FleetMergeError) -> FleetReport
    {
        try FleetMerge.merge(
            reports,
            options: FleetMergeOptions(
                allowStandalone: standalone, expectedNodes: expect, generatedAt: "2026-12-04T22:00:00Z"))
    }

    /// Sets the state of the probe cell from `source` to `port`.
    static func setCell(_ evidence: inout AuditEvidence, source: String, port: Int, _ state: CellState) {
        guard var probe = evidence.probe else { return }
        for index in probe.cells.indices where probe.cells[index].source == source && probe.cells[index].port == port {
            probe.cells[index].state = state
        }
        evidence.probe = probe
    }

    /// The refusal `body` throws, or nil.
    static func refusal<T>(_ body: () throws(FleetMergeError) -> T) -> FleetMergeError? {
        do {
            _ = try body()
            return nil
        } catch { return error }
    }
}

@Suite("Fleet merge: node reports joined into one fleet report")
struct FleetMergeTests {
    @Test("two nodes with the same evidence: every edge and finding once, seen by both, nothing disagrees, complete")
    func agreeing() throws {
        let a = FleetNodes.report(FleetNodes.cluster("n1", role: .manager))
        let b = FleetNodes.report(FleetNodes.cluster("n2"))
        let fleet = try FleetNodes.merge([FleetNodes.node(a, "a.json"), FleetNodes.node(b, "b.json")])
        #expect(fleet.schema == "bulkhead.fleet/1")
        #expect(fleet.orchestrator == .swarm && fleet.clusterID == "swarm-test-1")
        #expect(fleet.edges.count == a.edges.count)
        #expect(fleet.edges.allSatisfy { $0.seenBy == ["n1", "n2"] })
        #expect(fleet.disagreements.isEmpty)
        #expect(fleet.findings.count == a.findings.count)
        #expect(fleet.findings.allSatisfy { $0.detail.hasSuffix("Seen on nodes host-n1, host-n2.") })
        #expect(fleet.complete && fleet.problems.isEmpty)
        #expect(fleet.nodes.map(\.status) == [.complete, .complete])
        #expect(fleet.nodes.map(\.file) == ["a.json", "b.json"])
        #expect(fleet.summary.edges == a.edges.count)
        #expect(
            Set(fleet.edges.map(\.edge.verdict.rawValue)).allSatisfy {
                fleet.summary.edgesByVerdict[$0] == a.summary.edgesByVerdict[$0]
            })
        // The same verdicts as either node's.
        let single = Dictionary(uniqueKeysWithValues: a.edges.map { ($0.name, $0.verdict) })
        #expect(fleet.edges.allSatisfy { single[$0.edge.name] == $0.edge.verdict })
        #expect(fleet.inventory?.containers.count == a.evidence.inventory?.containers.count)
    }

    @Test("nodes that saw different edges: the union, each edge with the node that saw it")
    func union() throws {
        let a = FleetNodes.report(FleetNodes.cluster("n1")) { evidence in
            evidence.probe?.cells.removeAll { $0.source != "web" }
        }
        let b = FleetNodes.report(FleetNodes.cluster("n2")) { evidence in
            evidence.probe?.cells.removeAll { $0.source == "web" }
        }
        let fleet = try FleetNodes.merge([FleetNodes.node(a, "a.json"), FleetNodes.node(b, "b.json")])
        #expect(fleet.edges.count == a.edges.count + b.edges.count)
        #expect(fleet.edges.filter { $0.edge.source == "web" }.allSatisfy { $0.seenBy == ["n1"] })
        #expect(fleet.edges.filter { $0.edge.source == "api" }.allSatisfy { $0.seenBy == ["n2"] })
        #expect(fleet.disagreements.isEmpty)
    }

    @Test("the same edge seen open by one node and blocked by the other: the worse verdict, the disagreement named")
    func disagreement() throws {
        let a = FleetNodes.report(FleetNodes.cluster("n1"))
        let b = FleetNodes.report(FleetNodes.cluster("n2")) { evidence in
            FleetNodes.setCell(&evidence, source: "web", port: 8080, .filtered)
        }
        let name = try #require(a.edges.first { $0.source == "web" && $0.port == 8080 }).name
        let verdictA = try #require(a.edges.first { $0.name == name }?.verdict)
        let verdictB = try #require(b.edges.first { $0.name == name }?.verdict)
        #expect(verdictA != verdictB, "the evidence must lead the judgement to different verdicts")
        for order in [[a, b], [b, a]] {
            let fleet = try FleetNodes.merge(order.enumerated().map { FleetNodes.node($1, "r\($0).json") })
            let edge = try #require(fleet.edges.first { $0.edge.name == name })
            #expect(edge.edge.verdict == EdgeVerdict.worst([verdictA, verdictB]))
            #expect(edge.edge.reachability == .reachable, "an open path outweighs a probe that saw it closed")
            let aspects = Set(fleet.disagreements.filter { $0.subject == name }.map(\.aspect))
            #expect(aspects == [.reachability, .verdict])
            #expect(edge.edge.reasons.contains { $0.hasPrefix("nodes disagree on reachability: ") })
            let finding = try #require(fleet.findings.first { $0.kind == .fleetEvidenceDisagreement })
            #expect(finding.location == name && finding.severity == .medium)
            #expect(fleet.complete, "a disagreement is a finding, not an incomplete fleet")
        }
    }

    @Test("the same endpoint checked from two nodes: the worse TLS verdict holds for every edge to it")
    func endpointCheck() throws {
        let endpoint = "198.18.51.12:8443"
        let a = FleetNodes.report(FleetNodes.cluster("n1")) { evidence in
            evidence.probe?.cells.removeAll { $0.source != "api" }
        }
        let b = FleetNodes.report(FleetNodes.cluster("n2")) { evidence in
            evidence.probe?.cells.removeAll { $0.source == "api" }
            evidence.tls?[endpoint] = EndpointTLS(
                verdict: .tlsAcceptsRogueClient, refusesBadClients: false, serverIdentities: ["spiffe://lab/pay"])
        }
        let fromA = try #require(a.edges.first { $0.source == "api" && $0.port == 8443 })
        #expect(fromA.verdict == .mtlsEnforced)
        let fleet = try FleetNodes.merge([FleetNodes.node(a, "a.json"), FleetNodes.node(b, "b.json")])
        let merged = try #require(fleet.edges.first { $0.edge.name == fromA.name })
        #expect(merged.edge.tls?.verdict == .tlsAcceptsRogueClient)
        #expect(merged.edge.verdict == .tlsAcceptsRogueClient)
        let disagreement = try #require(fleet.disagreements.first { $0.subject == endpoint })
        #expect(disagreement.aspect == .tls)
        #expect(Set(disagreement.observations.map(\.value)) == ["mtls-enforced", "tls-accepts-rogue-client"])
    }

    @Test("a node the manager's node list names that sent no report: a missing row, the fleet incomplete")
    func missingNode() throws {
        let members = ["n1", "n2", "n3"].map {
            ClusterNode.Member(nodeID: $0, nodeName: "host-\($0)", role: $0 == "n1" ? .manager : .worker)
        }
        let a = FleetNodes.report(FleetNodes.cluster("n1", role: .manager, members: members))
        let b = FleetNodes.report(FleetNodes.cluster("n2"))
        let fleet = try FleetNodes.merge([FleetNodes.node(a, "a.json"), FleetNodes.node(b, "b.json")])
        #expect(!fleet.complete)
        let missing = try #require(fleet.nodes.last)
        #expect(missing.nodeID == "n3" && missing.status == .missing && missing.file == nil)
        #expect(fleet.problems == ["node host-n3 (n3) sent no report (named by the node list of a.json)"])
        // --expect-node does the same for a node no report names.
        let expected = try FleetNodes.merge([FleetNodes.node(b, "b.json")], expect: ["n9"])
        #expect(!expected.complete && expected.nodes.map(\.status) == [.complete, .missing])
        #expect(expected.problems.first?.contains("--expect-node") == true)
    }

    @Test("an incomplete node report makes the fleet report incomplete and says which node")
    func incompleteNode() throws {
        let a = FleetNodes.report(FleetNodes.cluster("n1"))
        let b = FleetNodes.report(FleetNodes.cluster("n2"), problems: ["the probe stage failed: no namespace"])
        #expect(!b.complete)
        let fleet = try FleetNodes.merge([FleetNodes.node(a, "a.json"), FleetNodes.node(b, "b.json")])
        #expect(!fleet.complete)
        #expect(fleet.nodes.map(\.status) == [.complete, .incomplete])
        #expect(fleet.problems.count == 1)
        #expect(fleet.problems.first?.hasPrefix("node host-n2 (n2, b.json) is incomplete: ") == true)
        #expect(fleet.auditView.stages.map(\.status) == [.ran, .incomplete])
    }

    @Test("refused: different clusters, another orchestrator, the same node twice, no cluster identity")
    func refusals() throws {
        let a = FleetNodes.node(FleetNodes.report(FleetNodes.cluster("n1")), "a.json")
        let other = FleetNodes.node(FleetNodes.report(FleetNodes.cluster("n2", cluster: "swarm-other")), "other.json")
        var error = FleetNodes.refusal { () throws(FleetMergeError) in try FleetNodes.merge([a, other]) }
        #expect(error?.code == .differentClusters && error?.path == "other.json")
        #expect(error?.message.contains("swarm cluster swarm-other") == true)
        #expect(error?.message.contains("a.json from swarm cluster swarm-test-1") == true)

        let kubernetes = FleetNodes.node(
            FleetNodes.report(FleetNodes.cluster("n2", orchestrator: .kubernetes)), "k8s.json")
        error = FleetNodes.refusal { () throws(FleetMergeError) in try FleetNodes.merge([a, kubernetes]) }
        #expect(error?.code == .differentClusters && error?.path == "k8s.json")

        let again = FleetNodes.node(FleetNodes.report(FleetNodes.cluster("n1")), "again.json")
        error = FleetNodes.refusal { () throws(FleetMergeError) in try FleetNodes.merge([a, again]) }
        #expect(error?.code == .duplicateNode && error?.path == "again.json")
        #expect(error?.message.contains("already read from a.json") == true)

        let plain = FleetNodes.node(FleetNodes.report(nil), "plain.json")
        error = FleetNodes.refusal { () throws(FleetMergeError) in try FleetNodes.merge([a, plain]) }
        #expect(error?.code == .noClusterIdentity && error?.path == "plain.json")
        // Allowed plain reports still may not mix with a cluster's.
        error = FleetNodes.refusal { () throws(FleetMergeError) in try FleetNodes.merge([a, plain], standalone: true) }
        #expect(error?.code == .differentClusters && error?.path == "plain.json")
        error = FleetNodes.refusal { () throws(FleetMergeError) in try FleetNodes.merge([]) }
        #expect(error?.code == .noReports)
    }

    @Test("--allow-standalone: plain hosts' reports merged, each host a node; the same host twice refused")
    func standalone() throws {
        var one = FleetNodes.report(nil)
        one.host = "alpha"
        var two = FleetNodes.report(nil)
        two.host = "beta"
        let fleet = try FleetNodes.merge(
            [FleetNodes.node(one, "one.json"), FleetNodes.node(two, "two.json")], standalone: true)
        #expect(fleet.orchestrator == nil && fleet.clusterID == nil)
        #expect(fleet.nodes.map(\.nodeID) == ["alpha", "beta"] && fleet.title == "fleet of 2 nodes")
        let error = FleetNodes.refusal { () throws(FleetMergeError) in
            try FleetNodes.merge(
                [FleetNodes.node(one, "one.json"), FleetNodes.node(one, "copy.json")], standalone: true)
        }
        #expect(error?.code == .duplicateNode && error?.path == "copy.json")
    }
}

@Suite("Fleet merge: reading node reports")
struct FleetMergeReadingTests {
    static func document(_ report: AuditReport) throws -> String {
        String(decoding: try JSONReport.document(report), as: UTF8.self)
    }

    static func read(_ text: String) -> (NodeReport?, FleetMergeError?) {
        let bytes = Array(text.utf8)
        do { return (try NodeReport.decode(bytes, path: "node.json"), nil) } catch { return (nil, error) }
    }

    @Test("a written audit report reads back: edges, findings, cluster identity, TLS checks")
    func roundTrip() throws {
        let report = FleetNodes.report(FleetNodes.cluster("n1", role: .manager))
        let (node, error) = Self.read(try Self.document(report))
        #expect(error == nil)
        let read = try #require(node)
        #expect(read.edges == report.edges && read.findings == report.findings)
        #expect(read.cluster == FleetNodes.cluster("n1", role: .manager) && read.path == "node.json")
        #expect(read.tls == (report.evidence.tls ?? [:]).mapValues(\.verdict))
    }

    @Test("refused with the file named: truncated, empty, not JSON, another schema or version, a fleet report")
    func refusedDocuments() throws {
        let text = try Self.document(FleetNodes.report(FleetNodes.cluster("n1")))
        for cut in [text.count / 2, text.count - 3] {
            let error = Self.read(String(text.prefix(cut))).1
            #expect(error?.code == .truncated && error?.path == "node.json", "cut at \(cut)")
            #expect(error?.message.contains("cut short") == true)
        }
        #expect(Self.read("  \n").1?.code == .truncated)
        let notJSON = Self.read("{ this is not json }").1
        #expect(notJSON?.code == .notJSON && notJSON?.path == "node.json:1:3")
        #expect(notJSON?.message == "not JSON: expected a key in double quotes, found 't'")
        let version = Self.read(
            text.replacingOccurrences(of: "\"bulkhead.audit/1\"", with: "\"bulkhead.audit/2\"")
        ).1
        #expect(version?.code == .foreignSchema)
        #expect(version?.message.contains("schema bulkhead.audit/2; this build merges bulkhead.audit/1") == true)
        let fleet = Self.read("{\"schema\": \"bulkhead.fleet/1\"}").1
        #expect(fleet?.code == .foreignSchema && fleet?.message.contains("is a fleet report") == true)
        let noSchema = Self.read("{\"edges\": []}").1
        #expect(noSchema?.code == .foreignSchema && noSchema?.message.contains("has no schema") == true)
    }

    @Test("the probe cells and captured flows are cut before decoding: the rest reads the same, strings and all")
    func skim() throws {
        let report = FleetNodes.report(FleetNodes.cluster("n1"))
        var object = try #require(
            try JSONSerialization.jsonObject(with: try JSONReport.document(report)) as? [String: Any])
        var evidence = try #require(object["evidence"] as? [String: Any])
        // What the merge does not read may be any JSON: braces and quotes inside strings must not confuse the cut.
        evidence["probe"] = ["cells": [["weird \"}]{": "[{\\\"", "n": [1, 2.5e3, true, nil]]]]
        evidence["capture"] = "{not an object"
        object["evidence"] = evidence
        object["host"] = "h\"}{ost"
        let bytes = Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
        let cut = try #require(JSONSkim.cutting(["probe", "capture"], in: "evidence", of: bytes))
        let back = try #require(try JSONSerialization.jsonObject(with: Data(cut)) as? [String: Any])
        let backEvidence = try #require(back["evidence"] as? [String: Any])
        #expect(backEvidence["probe"] is NSNull && backEvidence["capture"] is NSNull)
        #expect(back["host"] as? String == "h\"}{ost")
        let node = try NodeReport.decode(bytes, path: "node.json")
        #expect(node.edges == report.edges && node.host == "h\"}{ost")
        // Nothing to cut, or not an object: nothing cut.
        #expect(JSONSkim.cutting(["probe"], in: "evidence", of: Array("[1, 2]".utf8)) == nil)
        #expect(JSONSkim.cutting(["probe"], in: "evidence", of: Array("{\"evidence\": {\"tls\": 1}}".utf8)) == nil)
        // A key written twice, or an escaped key that may spell it, is left to the decoder (which takes the first).
        for text in [
            #"{"evidence": {"probe": 1, "probe": 2}}"#, #"{"evidence": {"pr\u006fbe": 1, "probe": 2}}"#,
            #"{"evidence": {"probe": 1}, "evidence": {"probe": 2}}"#,
        ] {
            #expect(JSONSkim.cutting(["probe"], in: "evidence", of: Array(text.utf8)) == nil, "\(text)")
        }
        #expect(JSONSkim.spans(of: [["edges"]], in: Array(#"{"edges": [], "edges": [1]}"#.utf8)).isEmpty)
    }

    @Test("edges read by hand equal Codable's reading; anything unusual is left to Codable")
    func edgeReader() throws {
        var edges = FleetNodes.report(FleetNodes.cluster("n1")).edges
        var traffic = EdgeTraffic()
        traffic.flows = 12
        traffic.plaintextFlows = 0
        traffic.protocols = ["http", "tls"]
        traffic.clientIdentities = ["spiffe://lab/é \"q\" \\ \u{1}\n\t/😀"]
        traffic.credentialsInClear = -1
        traffic.servedWithoutCertificate = 2
        traffic.clientCertificateInferred = 5
        var edge = try #require(edges.first)
        edge.traffic = traffic
        edge.tls = EndpointTLS(
            verdict: .tlsAcceptsRogueClient, refusesBadClients: false, serverIdentities: [], reason: "\u{7f}\u{2028}",
            probedFrom: "web", checks: [.forgedCertificates, .caIssuedForgeries])
        edge.source = "\u{0}zero"
        edge.port = 0
        edges.append(edge)
        for pretty in [true, false] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : []
            let bytes = Array(try encoder.encode(edges))
            #expect(EdgeReader.edges(bytes, range: 0..<bytes.count) == edges, "pretty: \(pretty)")
        }
        // A traffic record written before `servedWithoutCertificate` existed reads as Codable reads it (0).
        let older = Array(
            #"[{"source":"s","destination":"d","address":"a","port":1,"protocol":"tcp","verdict":"blocked","reasons":[],"traffic":{"flows":1,"plaintextFlows":0,"tlsFlows":1,"mutualTLSFlows":1,"protocols":[],"clientIdentities":[],"serverIdentities":[],"credentialsInClear":0}}]"#
                .utf8)
        let olderRead = try #require(EdgeReader.edges(older, range: 0..<older.count))
        #expect(olderRead.first?.traffic?.servedWithoutCertificate == 0)
        #expect(olderRead.first?.traffic?.clientCertificateInferred == 0)
        #expect(try JSONDecoder().decode([Edge].self, from: Data(older)) == olderRead)
        // Escapes JSONEncoder does not write, read as JSON means them.
        let escaped = Array(
            #"[{"source":"\u00e9\ud83d\ude00\/","destination":"d","address":"a","port":1,"protocol":"tcp","verdict":"blocked","reasons":[],"extra":{"x":[1,{"y":"]"}]}}]"#
                .utf8)
        let read = try #require(EdgeReader.edges(escaped, range: 0..<escaped.count))
        #expect(read.first?.source == "é😀/" && read.first?.network == nil)
        #expect(try JSONDecoder().decode([Edge].self, from: Data(escaped)) == read)
        // An unknown key's value is skipped only when it is JSON (the decoder refuses the document otherwise).
        let unknown = Array(
            #"[{"source":"s","destination":"d","address":"a","port":1,"protocol":"tcp","verdict":"blocked","reasons":[],"extra":{"x":[1,-0.5e+3,0,2E-7,true,false,null,"s\n",{},[]]}}]"#
                .utf8)
        let skipped = try #require(EdgeReader.edges(unknown, range: 0..<unknown.count))
        #expect(try JSONDecoder().decode([Edge].self, from: Data(unknown)) == skipped)
        // Left to Codable: an unknown verdict, a fraction, a lone surrogate, a traffic record short of a key, a key
        // written twice (the decoder takes the first; this reader used to keep the last: found by the fuzz target),
        // a traffic record with one key twice and another missing (was taken as complete: eight keys counted), text
        // after the array.
        let unusual = [
            #"[{"source":"s","destination":"d","address":"a","port":1,"protocol":"tcp","verdict":"bogus","reasons":[]}]"#,
            #"[{"source":"s","destination":"d","address":"a","port":1.5,"protocol":"tcp","verdict":"blocked","reasons":[]}]"#,
            #"[{"source":"\ud83d","destination":"d","address":"a","port":1,"protocol":"tcp","verdict":"blocked","reasons":[]}]"#,
            #"[{"source":"s","destination":"d","address":"a","port":1,"protocol":"tcp","verdict":"blocked","reasons":[],"traffic":{"flows":1}}]"#,
            #"[{"source":"s","destination":"d","address":"a","port":1,"protocol":"tcp","verdict":"blocked"}]"#,
            #"[{"source":"s","source":"t","destination":"d","address":"a","port":1,"protocol":"tcp","verdict":"blocked","reasons":[]}]"#,
            #"[{"source":"s","destination":"d","address":"a","port":1,"protocol":"tcp","verdict":"blocked","reasons":[],"traffic":{"flows":1,"flows":1,"plaintextFlows":0,"mutualTLSFlows":0,"protocols":[],"clientIdentities":[],"serverIdentities":[],"credentialsInClear":0}}]"#,
            #"[{"source":"s","destination":"d","address":"a","port":1,"protocol":"tcp","verdict":"blocked","reasons":[],"tls":{"verdict":"mtls-enforced","verdict":"plaintext-accepted","serverIdentities":[]}}]"#,
            "[] , \"more\"", "[]]",
        ]
        // An unknown key's value that is not JSON (the decoder refuses the document), and values the decoder lets
        // pass in a key it ignores though they are not JSON either (giving up there is safe: the decoder decides).
        func withExtra(_ value: String) -> String {
            #"[{"source":"s","destination":"d","address":"a","port":1,"protocol":"tcp","verdict":"blocked","reasons":[],"extra":"#
                + value + "}]"
        }
        let notJSON = ["t\u{1}rue", "{]", #""\u00""#, #"{"a" 1}"#, "nul"].map(withExtra)
        let looseNumbers = ["01", "1.", "-", "1e", "[1,]"].map(withExtra)
        for text in unusual + notJSON + looseNumbers {
            let bytes = Array(text.utf8)
            #expect(EdgeReader.edges(bytes, range: 0..<bytes.count) == nil, "\(text)")
        }
        for text in notJSON {
            #expect(
                (try? JSONDecoder().decode([Edge].self, from: Data(text.utf8))) == nil, "the decoder refuses \(text)")
        }
    }

    @Test(
        "fuzz regression: an edge list with a key written twice reads as the decoder reads it (fuzz/config/regressions/)"
    )
    func edgeKeyTwice() throws {
        let file = Repository.path("fuzz/config/regressions/report-edge-key-twice.bin")
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: file)).dropFirst())  // byte 0 picks the target
        let decoded = try JSONDecoder().decode([Edge].self, from: Data(bytes))
        let read = EdgeReader.edges(bytes, range: 0..<bytes.count)
        #expect(read == nil || read == decoded, "the hand reader must give up or agree")
        #expect(decoded.count == 3 && decoded[2].source == "bh gateway", "the decoder takes a key's first value")
    }

    @Test(
        "fuzz regression: a string with a cut four-byte UTF-8 sequence is left to the decoder, which refuses it (fuzz/config/regressions/)"
    )
    func edgeInvalidUTF8() throws {
        let file = Repository.path("fuzz/config/regressions/report-edge-invalid-utf8.bin")
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: file)).dropFirst())  // byte 0 picks the target
        #expect((try? JSONDecoder().decode([Edge].self, from: Data(bytes))) == nil)
        #expect(EdgeReader.edges(bytes, range: 0..<bytes.count) == nil, "the hand reader must give up too")
        // The smallest case, with and without an escape in the string (the reader's two paths): F4 8E 9E then
        // `e` is a four-byte sequence cut after three, whose replacement character is three bytes long as well.
        for middle in [[0xF4, 0x8E, 0x9E, 0x65], [0x5C, 0x6E, 0xF4, 0x8E, 0x9E, 0x65]] as [[UInt8]] {
            let text =
                Array(#"[{"source":""#.utf8) + middle
                + Array(
                    #"","destination":"d","address":"a","port":1,"protocol":"tcp","verdict":"blocked","reasons":[]}]"#
                        .utf8)
            #expect(EdgeReader.edges(text, range: 0..<text.count) == nil, "\(middle)")
            #expect((try? JSONDecoder().decode([Edge].self, from: Data(text))) == nil)
        }
    }

    @Test("a value of the wrong shape is named by its JSON path")
    func jsonPaths() throws {
        var object = try #require(
            try JSONSerialization.jsonObject(
                with: try JSONReport.document(FleetNodes.report(FleetNodes.cluster("n1")))) as? [String: Any])
        var edges = try #require(object["edges"] as? [[String: Any]])
        edges[1]["verdict"] = "bogus"
        object["edges"] = edges
        var error = Self.read(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)).1
        #expect(error?.code == .invalidReport)
        #expect(error?.message.hasPrefix("edges[1].verdict: ") == true, "\(String(describing: error))")

        edges[1]["verdict"] = "blocked"
        edges[0]["port"] = "eighty"
        object["edges"] = edges
        error = Self.read(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)).1
        #expect(
            error?.message == "edges[0].port: expected to decode Int but found a string instead",
            "\(String(describing: error))")

        edges[0]["port"] = 80
        object["edges"] = edges
        var evidence = try #require(object["evidence"] as? [String: Any])
        var inventory = try #require(evidence["inventory"] as? [String: Any])
        var cluster = try #require(inventory["cluster"] as? [String: Any])
        cluster.removeValue(forKey: "nodeID")
        inventory["cluster"] = cluster
        evidence["inventory"] = inventory
        object["evidence"] = evidence
        error = Self.read(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)).1
        #expect(error?.message.hasPrefix("evidence.inventory.cluster.nodeID: missing") == true)
    }

    @Test("files: a missing file, a folder, each refused by name")
    func files() {
        var error = FleetNodes.refusal { () throws(FleetMergeError) in
            try NodeReport.read(path: "/nonexistent-bh-\(UUID().uuidString)/n.json")
        }
        #expect(error?.code == .unreadable && error?.message.contains("does not exist") == true)
        error = FleetNodes.refusal { () throws(FleetMergeError) in try NodeReport.read(path: "/tmp") }
        #expect(error?.code == .unreadable && error?.path == "/tmp")
    }
}

@Suite("Fleet merge: every format")
struct FleetMergeFormatTests {
    /// A fleet with a disagreement, a missing node and hostile names.
    static func fleet() throws -> FleetReport {
        let members = [
            ClusterNode.Member(nodeID: "n1", nodeName: "host-n1", role: .manager),
            ClusterNode.Member(nodeID: "n<3>", nodeName: "gone & \"away\"", role: .worker),
        ]
        let a = FleetNodes.report(FleetNodes.cluster("n1", role: .manager, members: members))
        let b = FleetNodes.report(FleetNodes.cluster("n2")) { evidence in
            FleetNodes.setCell(&evidence, source: "web", port: 8080, .filtered)
        }
        return try FleetNodes.merge([FleetNodes.node(a, "a.json"), FleetNodes.node(b, "b.json")])
    }

    @Test("JSON decodes back to the same fleet report")
    func json() throws {
        let fleet = try Self.fleet()
        let data = try JSONReport.document(fleet)
        let back = try JSONDecoder().decode(FleetReport.self, from: data)
        #expect(back.edges == fleet.edges && back.nodes == fleet.nodes && back.findings == fleet.findings)
        #expect(back.disagreements == fleet.disagreements && back.complete == fleet.complete)
        #expect(back.schema == FleetReport.currentSchema)
    }

    @Test("JSON written by hand (edges one per line) is the same object as the Codable form, every edge field set")
    func jsonByHand() throws {
        var fleet = try Self.fleet()
        var traffic = EdgeTraffic()
        traffic.flows = 3
        traffic.plaintextFlows = 1
        traffic.tlsFlows = 2
        traffic.mutualTLSFlows = 1
        traffic.servedWithoutCertificate = 1
        traffic.clientCertificateInferred = 1
        traffic.protocols = ["http", "tls"]
        traffic.clientIdentities = ["spiffe://lab/web \"quoted\"\n"]
        traffic.serverIdentities = ["api.lab"]
        traffic.credentialsInClear = 1
        var edge = try #require(fleet.edges.first).edge
        edge.traffic = traffic
        edge.tls = EndpointTLS(
            verdict: .mtlsOptional, refusesBadClients: false, serverIdentities: ["api.lab"], reason: "why\tnot",
            probedFrom: "web", checks: [.forgedCertificates])
        edge.allowed = true
        edge.rule = "rule <1>"
        fleet.edges.append(FleetEdge(edge: edge, seenBy: ["n1", "n2"]))
        var plain = try #require(fleet.edges.first)
        plain.edge.allowed = nil
        plain.edge.rule = nil
        plain.edge.network = nil
        plain.edge.reachability = nil
        plain.edge.tls = nil
        plain.edge.traffic = nil
        fleet.edges.append(plain)
        fleet.orchestrator = nil
        fleet.clusterID = nil
        let byHand = try #require(
            try JSONSerialization.jsonObject(with: try FleetReports.json(fleet)) as? NSDictionary)
        let codable = try #require(
            try JSONSerialization.jsonObject(with: try JSONReport.document(fleet)) as? NSDictionary)
        #expect(byHand == codable)
        #expect(try JSONDecoder().decode(FleetReport.self, from: try FleetReports.json(fleet)).edges == fleet.edges)
    }

    @Test("SARIF: a result per finding, the disagreement among them; incomplete said in the invocation")
    func sarif() throws {
        let fleet = try Self.fleet()
        let data = try SARIFReport.render(
            findings: fleet.findings, toolVersion: "0.1.0", complete: fleet.complete, problems: fleet.problems)
        let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let run = try #require((document["runs"] as? [[String: Any]])?.first)
        let results = try #require(run["results"] as? [[String: Any]])
        #expect(results.count == fleet.findings.count)
        #expect(results.contains { $0["ruleId"] as? String == "fleet-evidence-disagreement" })
        let invocation = try #require((run["invocations"] as? [[String: Any]])?.first)
        #expect(invocation["executionSuccessful"] as? Bool == false)
    }

    @Test("JUnit: well-formed XML with a nodes suite where the missing node fails, totals that add up")
    func junit() throws {
        let fleet = try Self.fleet()
        let xml = FleetReports.junit(fleet, failOn: .high)
        let check = try ReportFormatTests().python(
            """
            import sys, xml.etree.ElementTree as ET
            root = ET.parse(sys.argv[1]).getroot()
            suites = {s.get('name'): s for s in root}
            cases = sum(len(s) for s in root)
            print(root.get('name'), root.get('tests') == str(cases), len(suites['nodes']), suites['nodes'].get('failures'), len(suites['edges']))
            """, xml)
        #expect(check.status == 0, "\(check.error)")
        #expect(
            check.output.trimmingCharacters(in: .whitespacesAndNewlines)
                == "bulkhead merge True 3 1 \(fleet.edges.count)")
    }

    @Test("Prometheus: parsed by the official client parser, a completeness sample per node")
    func prometheus() throws {
        let text = FleetReports.prometheus(try Self.fleet(), now: Date(timeIntervalSince1970: 1_795_000_000))
        let check = try ReportFormatTests().python(
            """
            import sys
            from prometheus_client.parser import text_string_to_metric_families
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                for sample in family.samples:
                    print(sample.name, ','.join(f'{k}={v}' for k, v in sorted(sample.labels.items())), float(sample.value))
            """, text)
        try #require(!check.error.contains("No module named"), "prometheus_client is missing")
        #expect(check.status == 0, "\(check.error)")
        #expect(check.output.contains("bulkhead_fleet_node_complete node=host-n1,node_id=n1,status=complete 1.0"))
        #expect(
            check.output.contains(
                "bulkhead_fleet_node_complete node=gone & \"away\",node_id=n<3>,status=missing 0.0"))
        #expect(check.output.contains("bulkhead_audit_complete  0.0"))
        #expect(check.output.contains("bulkhead_fleet_disagreements  2.0"))
    }

    @Test("table, markdown, HTML: the node rows and the disagreements, names escaped; dot renders")
    func human() throws {
        let fleet = try Self.fleet()
        let table = FleetReports.table(fleet, style: TerminalStyle(enabled: false, width: 120))
        #expect(table.hasPrefix("Nodes of swarm cluster swarm-test-1 (3 nodes)"))
        #expect(table.contains("missing") && table.contains("Where the nodes disagree"))
        #expect(table.contains("Audit of swarm cluster swarm-test-1 (3 nodes): INCOMPLETE"))
        let markdown = FleetReports.markdown(fleet)
        let nodes = try #require(markdown.range(of: "## Nodes"))
        let edges = try #require(markdown.range(of: "## Edges"))
        #expect(nodes.lowerBound < edges.lowerBound)
        #expect(markdown.contains("| gone &amp; &quot;away&quot; | n&lt;3&gt; | worker | missing |"))
        let html = FleetReports.html(fleet)
        #expect(html.contains("<h2>Nodes</h2>") && html.contains("<td>gone &amp; &quot;away&quot;</td>"))
        #expect(html.contains("<ul class=\"disagreements\">"))
        let check = try ReportFormatTests().python(
            """
            import sys, html.parser
            class P(html.parser.HTMLParser):
                def __init__(self):
                    super().__init__(); self.stack = []; self.bad = []
                def handle_starttag(self, tag, attrs):
                    if tag in ('table', 'tr', 'ul', 'li', 'h2', 'section', 'details'): self.stack.append(tag)
                def handle_endtag(self, tag):
                    if tag in ('table', 'tr', 'ul', 'li', 'h2', 'section', 'details'):
                        if not self.stack or self.stack.pop() != tag: self.bad.append(tag)
            p = P(); p.feed(open(sys.argv[1]).read()); print('ok' if not p.bad and not p.stack else p.bad)
            """, html)
        #expect(check.output.trimmingCharacters(in: .whitespacesAndNewlines) == "ok", "\(check.output)\(check.error)")
        let dot = TopologyGraph(fleet.auditView).dot()
        let graphviz = URL(fileURLWithPath: "/usr/bin/dot")
        try #require(FileManager.default.isExecutableFile(atPath: graphviz.path), "graphviz is missing")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bh-fleet-\(UUID().uuidString).dot")
        try dot.write(to: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: path) }
        let rendered = try ProcessRunner.run(graphviz, ["-Tsvg", path.path])
        #expect(rendered.status == 0 && rendered.output.contains("<svg"), "\(rendered.error)")
    }
}
