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
        #expect(try Self.sorted(folded.all) == Self.sorted(expected))
    }

    /// 6,000 servers, each reached by a few flows of the corpus, and flows whose findings tie on severity and first
    /// flow.
    static func manyServerFlows() throws -> [FlowRecord] {
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
        return flows
    }

    @Test("the folds of several lanes, thousands of findings shared out among parts, give what one fold gives")
    func lanesFoldAsOne() throws {
        let flows = try Self.manyServerFlows()
        var one = FlowFindings()
        var lanes = [FlowFindings(), FlowFindings()]
        for flow in flows {
            one.add(flow)
            lanes[flow.id * 7 % 3 == 0 ? 0 : 1].add(flow)
        }
        let folded = try FlowFindings.all(of: lanes)
        #expect(folded.count > 4_096)
        #expect(try folded == one.all)
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

    @Test(
        "findings written out to scratch files past a limit, merged and sorted back through them, are those held in memory",
        arguments: [(1, 1), (7, 100), (1_000, 4_096), (3_000, 1_000_000)])
    func writtenOutAsHeld(spillPast: Int, sortBatch: Int) throws {
        var flows = try Self.manyServerFlows()
        // Copies of one finding whose details differ (credentials sent before a STARTTLS upgrade, or not): the merge
        // must keep the detail of the lowest flow id (the only one upgraded), wherever its copy was written.
        let clear = try #require(flows.first { !$0.credentials.isEmpty })
        var nextID = (flows.map(\.id).max() ?? 0) + 1
        for copy in 0..<40 {
            var flow = clear
            flow.id = nextID
            nextID += 1
            flow.server = "198.18.200.1:25"
            flow.starttls = copy == 0
            flows.insert(flow, at: copy * 97 % flows.count)
        }
        var one = FlowFindings()
        let folder = FileManager.default.temporaryDirectory.path
        var lanes = [
            FlowFindings(spillingPast: spillPast, folder: folder, sortBatch: sortBatch),
            FlowFindings(spillingPast: spillPast, folder: folder, sortBatch: sortBatch),
        ]
        for flow in flows {
            one.add(flow)
            lanes[flow.id * 7 % 3 == 0 ? 0 : 1].add(flow)
        }
        #expect(lanes.allSatisfy { $0.spilledRuns > 0 })
        let expected = try one.all
        #expect(expected.count > 4_096)
        switch try FlowFindings.gathered(of: lanes) {
        case .inMemory(let findings):
            #expect(sortBatch >= expected.count)
            #expect(findings == expected)
        case .spilled(let spilled):
            #expect(sortBatch < expected.count)
            #expect(spilled.count == expected.count)
            #expect(spilled.countsBySeverity == Dictionary(grouping: expected, by: \.severity).mapValues(\.count))
            // Read back twice: the runs stay readable until the findings are released.
            for _ in 0..<2 {
                var batches: [[Finding]] = []
                try spilled.forEachBatch { batches.append($0) }
                #expect(batches.allSatisfy { $0.count <= SpilledFindings.outputBatch && !$0.isEmpty })
                #expect(Array(batches.joined()) == expected)
            }
        }
        // A copy of lanes folded on, as `all` of a lane that wrote out gives the same findings.
        #expect(try FlowFindings.all(of: lanes) == expected)
    }

    @Test("findings with nowhere to be written out stay in memory and come out the same")
    func nowhereToWriteOut() throws {
        let flows = try Self.manyServerFlows()
        var one = FlowFindings()
        var lane = FlowFindings(spillingPast: 10, folder: "/nonexistent-\(UUID().uuidString)", sortBatch: 10)
        for flow in flows {
            one.add(flow)
            lane.add(flow)
        }
        #expect(lane.spilledRuns == 0)
        #expect(try lane.all == one.all)
    }

    @Test("a finding written out reads back the same, hostile text included; a cut or damaged record is refused")
    func entryBytes() throws {
        let texts = [
            "", "plain", "quote \" backslash \\ newline \n tab \t NUL \u{0}", "é vs e\u{301}", "日本語 🔐",
            String(repeating: "x", count: 70_000),
        ]
        for (index, text) in texts.enumerated() {
            let finding = Finding(
                kind: index % 2 == 0 ? .plaintextFlow : .certificate(.expired, family: .captured),
                severity: Severity.allCases[index % Severity.allCases.count], title: text, detail: text + "!",
                location: index == 1 ? nil : text, flowCount: index * 1_000_003,
                flowIDs: Array(stride(from: index, to: index + 10 * index, by: max(1, index))))
            let entry = SpilledEntry(hash: Int.min + index, finding: finding)
            var bytes = [UInt8](repeating: 0, count: entry.encodedSize)
            let end = bytes.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return entry.write(to: base, kind: 1) - base
            }
            #expect(end == bytes.count)
            let length = bytes.withUnsafeBytes { Int($0.loadUnaligned(as: UInt32.self).littleEndian) }
            #expect(length == bytes.count - 4)
            let body = Array(bytes[4...])
            let kinds = [
                FindingSpillFile.Kind(kind: .tlsNoClientAuth, identifier: FindingKind.tlsNoClientAuth.identifier),
                FindingSpillFile.Kind(kind: finding.kind, identifier: finding.kind.identifier),
            ]
            let read = body.withUnsafeBytes { SpilledEntry.read($0, kinds: kinds) }
            #expect(read?.finding == finding)
            #expect(read?.hash == Int.min + index)
            #expect(read?.kindIdentifier == finding.kind.identifier)
            // Every shorter prefix is refused, not read past its end.
            for cut in stride(from: 0, to: body.count, by: max(1, body.count / 97)) {
                #expect(body[..<cut].withUnsafeBytes { SpilledEntry.read($0, kinds: kinds) } == nil)
            }
            // A kind number its file never gave is refused.
            #expect(body.withUnsafeBytes { SpilledEntry.read($0, kinds: Array(kinds.prefix(1))) } == nil)
        }
    }

    @Test("the orders of written-out findings are the report's order and one that keeps copies of a finding together")
    func entryOrders() {
        // Titles whose String order is not their bytes' order (canonical equivalence): the sort of held findings
        // compares Strings, and so must the merge.
        let titles = ["e\u{301}", "é", "f", "E", "ä", "a\u{308}"]
        var entries: [SpilledEntry] = []
        for (index, title) in titles.enumerated() {
            for severity in [Severity.high, .info] {
                let finding = Finding(
                    kind: index % 2 == 0 ? .plaintextFlow : .tlsNoClientAuth, severity: severity, title: title,
                    detail: "", location: "198.18.0.1:80", flowCount: 1, flowIDs: [index % 3])
                entries.append(SpilledEntry(hash: index % 2, finding: finding))
            }
        }
        let document = SpilledEntry.positions(of: entries, in: .document).map { entries[$0].finding }
        let reference = entries.map(\.finding).sorted {
            if $0.severity != $1.severity { return $0.severity > $1.severity }
            if $0.flowIDs.first != $1.flowIDs.first { return ($0.flowIDs.first ?? 0) < ($1.flowIDs.first ?? 0) }
            return ($0.kind.identifier, $0.title) < ($1.kind.identifier, $1.title)
        }
        #expect(document.map(\.title) == reference.map(\.title))
        #expect(document.map(\.severity) == reference.map(\.severity))
        // In fold order, entries of one key are next to each other.
        let fold = SpilledEntry.positions(of: entries, in: .fold).map { entries[$0] }
        #expect(zip(fold, fold.dropFirst()).allSatisfy { $0.hash <= $1.hash })
        for (position, entry) in fold.enumerated() {
            let copies = fold.indices.filter { SpilledEntry.sameKey(fold[$0], entry) }
            #expect(copies.count == 2 && copies.contains(position) && copies[1] == copies[0] + 1)
        }
    }

    @Test("a run that cannot be read back whole is an error, not fewer findings")
    func runReadBackFails() throws {
        let file = try FindingSpillFile(folder: FileManager.default.temporaryDirectory.path)
        let entries = (0..<20).map { index in
            SpilledEntry(
                hash: index,
                finding: Finding(
                    kind: .plaintextFlow, severity: .medium, title: "Plaintext HTTP to 198.18.0.\(index):80",
                    detail: "d", location: "198.18.0.\(index):80", flowCount: 1, flowIDs: [index]))
        }
        let run = try file.append(entries, in: Array(entries.indices))
        // The run as written reads back whole.
        let whole = SpilledFindings(count: 20, countsBySeverity: [.medium: 20], runs: [run], file: file)
        var read: [Finding] = []
        try whole.forEachBatch { read += $0 }
        #expect(read.count == 20)
        // Past the end of the file (what a file cut short would give), and ending inside a record.
        for broken in [run.lowerBound..<(run.upperBound + 100), run.lowerBound..<(run.upperBound - 3)] {
            let findings = SpilledFindings(count: 20, countsBySeverity: [.medium: 20], runs: [broken], file: file)
            #expect(throws: (any Error).self) { try findings.forEachBatch { _ in } }
        }
    }
}
