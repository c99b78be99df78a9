import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import PacketAnalysis

/// `FlowFindings` folds by a compact key (kind, location and what else the title says) without writing the title of
/// every flow; the fold must be exactly the one by kind, location and title it stands for.
@Suite("Folding findings by compact key")
struct FindingFoldingTests {
    /// The reference fold: by kind, location and title text, the detail of the lowest flow id, the ten lowest ids.
    static func foldedByTitle(_ flows: [FlowRecord]) -> [Finding] {
        struct TitleKey: Hashable {
            var kind: String
            var location: String?
            var title: String
        }
        var folded: [TitleKey: Finding] = [:]
        for flow in flows.sorted(by: { $0.id < $1.id }) {
            for finding in FlowFindings.findings(for: flow) {
                let key = TitleKey(kind: finding.kind.identifier, location: finding.location, title: finding.title)
                if var existing = folded[key] {
                    existing.flowCount += 1
                    existing.flowIDs = Array((existing.flowIDs + [flow.id]).sorted().prefix(10))
                    folded[key] = existing
                } else {
                    var first = finding
                    first.flowCount = 1
                    first.flowIDs = [flow.id]
                    folded[key] = first
                }
            }
        }
        return Array(folded.values)
    }

    static func sorted(_ findings: [Finding]) -> [Finding] {
        findings.sorted {
            ($0.kind.identifier, $0.location ?? "", $0.title, $0.flowIDs.first ?? 0)
                < ($1.kind.identifier, $1.location ?? "", $1.title, $1.flowIDs.first ?? 0)
        }
    }

    @Test("the corpus and variations of it (tunnel destinations, credentials, protocols) fold as by title")
    func sameAsByTitle() throws {
        let files = try CaptureAnalysis.expand([Repository.path("captures")]).paths
        var corpus: [FlowRecord] = []
        _ = try CaptureAnalysis.run(files: files, options: AnalysisOptions(threads: 1)) { corpus.append($0) }
        #expect(corpus.count > 30)
        // Each flow again under other ids: through proxies to two destinations (one shaped like a title's own words),
        // and to a server of its own, so keys meet, part and repeat.
        var flows = corpus
        var nextID = (corpus.map(\.id).max() ?? 0) + 1
        for flow in corpus {
            for destination in ["198.19.5.5:443", "198.19.5.5:443 via 198.18.0.9:1080", nil] {
                var copy = flow
                copy.id = nextID
                nextID += 1
                if let destination {
                    copy.tunnel = TunnelRecord(proxy: flow.server, destination: destination, hops: [])
                } else {
                    copy.server = "198.18.77.\(nextID % 3):\(flow.server.split(separator: ":").last ?? "0")"
                }
                flows.append(copy)
            }
        }
        var folded = FlowFindings()
        // Out of id order, as lanes deliver them.
        for flow in flows.reversed() { folded.add(flow) }
        let expected = Self.foldedByTitle(flows)
        #expect(expected.count > 20)
        #expect(Self.sorted(folded.all) == Self.sorted(expected))
    }

    @Test("the folds of several lanes, thousands of findings shared out among parts, give what one fold gives")
    func lanesFoldAsOne() throws {
        let files = try CaptureAnalysis.expand([Repository.path("captures")]).paths
        var corpus: [FlowRecord] = []
        _ = try CaptureAnalysis.run(files: files, options: AnalysisOptions(threads: 1)) { corpus.append($0) }
        // 6,000 servers, each reached by a few flows that the two lanes share between them.
        var flows: [FlowRecord] = []
        var nextID = 1
        for round in 0..<3 {
            for server in 0..<6_000 {
                var flow = corpus[(server + round) % corpus.count]
                flow.id = nextID
                nextID += 1
                flow.server = "198.18.\(server / 250).\(server % 250):\(443 + round % 2)"
                flows.append(flow)
            }
        }
        // And flows whose findings tie on severity and first flow: a ten-year leaf, presented by both sides, gives two
        // long-validity findings (same kind, titles differ) beside the session's lack of client authentication.
        if let tls = corpus.first(where: { $0.tls?.established == true && !($0.tls?.serverCertificates ?? []).isEmpty })
        {
            for server in 0..<50 {
                var flow = tls
                flow.id = nextID
                nextID += 1
                flow.server = "198.18.99.\(server):443"
                var leaf = tls.tls?.serverCertificates.first
                let start = tls.firstSeen.seconds - 86_400
                leaf?.notBefore = Timestamp(seconds: start, nanoseconds: 0)
                leaf?.notAfter = Timestamp(seconds: start + 3_650 * 86_400, nanoseconds: 0)
                // A certificate of its own (lint results are kept by fingerprint).
                leaf?.sha256 = String(repeating: "5a", count: 32)
                flow.tls?.serverCertificates = leaf.map { [$0] } ?? []
                flow.tls?.clientCertificates = leaf.map { [$0] } ?? []
                flow.tls?.clientCertificate = .notRequested
                flows.append(flow)
            }
        }
        var one = FlowFindings()
        var lanes = [FlowFindings(), FlowFindings()]
        for flow in flows {
            one.add(flow)
            lanes[flow.id * 7 % 3 == 0 ? 0 : 1].add(flow)
        }
        let folded = FlowFindings.all(of: lanes)
        #expect(folded.count > 4_096)
        #expect(folded == one.all)
        #expect(Self.sorted(folded) == Self.sorted(Self.foldedByTitle(flows)))
        // In report order: most severe first, then by first flow, then kind and title. The end of a run sorts by small
        // keys and compares titles only on a full tie; these findings have both kinds of tie.
        let reference = Self.foldedByTitle(flows).sorted {
            if $0.severity != $1.severity { return $0.severity > $1.severity }
            let (left, right) = ($0.flowIDs.first ?? 0, $1.flowIDs.first ?? 0)
            if left != right { return left < right }
            return ($0.kind.identifier, $0.title) < ($1.kind.identifier, $1.title)
        }
        #expect(folded == reference)
        let sameStart = Dictionary(grouping: folded) { "\($0.severity.rawValue) \($0.flowIDs.first ?? 0)" }.values
        #expect(sameStart.contains { group in Set(group.map(\.kind.identifier)).count > 1 })
        let sameKind = Dictionary(grouping: folded) {
            "\($0.severity.rawValue) \($0.flowIDs.first ?? 0) \($0.kind.identifier)"
        }.values
        #expect(sameKind.contains { $0.count > 1 })
    }

    @Test("the summary counts the findings of each severity")
    func severityCounts() throws {
        let files = try CaptureAnalysis.expand([Repository.path("captures")]).paths
        let result = try CaptureAnalysis.run(files: files) { _ in }
        let counted = Dictionary(grouping: result.findings, by: \.severity.rawValue).mapValues(\.count)
        #expect(Set(counted.keys).count >= 3, "the corpus has findings of several severities: \(counted)")
        #expect(result.summary.findingsBySeverity == counted)
    }

    @Test("a finding's text joined in one allocation is the text interpolated")
    func joinedText() {
        #expect(FlowFindings.joined("Plaintext ", "http", " to ", "198.18.0.1:80") == "Plaintext http to 198.18.0.1:80")
        #expect(FlowFindings.joined("", "") == "")
        #expect(
            FlowFindings.joined("TLS to ", "[2001:db8::1]:443 via é", " without", "", "!")
                == "TLS to [2001:db8::1]:443 via é without!")
        let long = String(repeating: "ü", count: 300)
        #expect(FlowFindings.joined(long, " via ", long) == long + " via " + long)
    }

    @Test("a finding's ten lowest flow ids, held inline, are the ten lowest whatever the order ids come in")
    func lowestFlowIDs() {
        var generator = SystemRandomNumberGenerator()
        for count in [1, 2, 9, 10, 11, 50, 500] {
            let ids = (0..<count).map { _ in Int.random(in: 0..<1_000_000, using: &generator) }
            let unique = Array(Set(ids)).shuffled(using: &generator)
            guard let first = unique.first else { continue }
            var lowest = FlowFindings.LowestFlowIDs(first)
            for id in unique.dropFirst() { lowest.insert(id) }
            #expect(lowest.array == Array(unique.sorted().prefix(10)))
            #expect(lowest.first == unique.min())
            // Two lanes' ids (disjoint) merged give the ten lowest of both.
            let split = unique.count / 2
            if split > 0 {
                var left = FlowFindings.LowestFlowIDs(unique[0])
                for id in unique[1..<split] { left.insert(id) }
                var right = FlowFindings.LowestFlowIDs(unique[split])
                for id in unique[(split + 1)...] { right.insert(id) }
                left.merge(right)
                #expect(left.array == Array(unique.sorted().prefix(10)))
            }
        }
        // Ids in falling order, each new one the lowest: the highest falls off.
        var falling = FlowFindings.LowestFlowIDs(100)
        for id in stride(from: 99, through: 80, by: -1) { falling.insert(id) }
        #expect(falling.array == Array(80...89))
    }
}
