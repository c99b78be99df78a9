import BulkheadModel
import BulkheadTestSupport
import Foundation
import PacketAnalysis
import Testing

@testable import Reporting

/// `analyze`'s table is written a row at a time as flows end (``FlowTableLayout``), in bounded memory; it must read
/// exactly as the table of every flow held at once (``AnalysisTableReport/flows(_:)``, rendered by ``TextTable``).
@Suite("The analyze table, written as flows end")
struct FlowTableLayoutTests {
    @Test(
        "rows kept by two lanes in any order, padded to the merged widths, give the held table's text byte for byte (every capture, and wide, combining, emoji and control characters)"
    )
    func sameTextAsTheHeldTable() throws {
        let captures = try FileManager.default.contentsOfDirectory(
            atPath: Repository.root.appendingPathComponent("captures").path
        ).filter { $0.hasSuffix(".pcap") || $0.hasSuffix(".pcapng") }.sorted()
        #expect(captures.count > 20)
        var flows: [FlowRecord] = []
        let collected = NSLock()
        for name in captures {
            let path = Repository.root.appendingPathComponent("captures/\(name)").path
            _ = try CaptureAnalysis.run(files: [path]) { flow in collected.withLock { flows.append(flow) } }
        }
        // Ids are per file: number them again so they are distinct, as in one run.
        flows = flows.enumerated().map { index, flow in
            var flow = flow
            flow.id = index + 1
            return flow
        }
        // Cells a terminal shows wider or narrower than their bytes, or that must be escaped, in the widest column.
        let strange = [
            "日本語.example:443", "e\u{301}x\u{301}ample:80", "🔥🇩🇪:8080", "\u{1b}[2Jclear:22", "a\u{200B}b:1",
            "back\\slash:9",
        ]
        for (offset, server) in strange.enumerated() {
            var flow = flows[offset % flows.count]
            flow.id = flows.count + 1
            flow.server = server
            flow.client = String(repeating: "長", count: offset + 9) + ":1"
            flows.append(flow)
        }
        let held = AnalysisTableReport.flows(flows)
        #expect(held.contains("\\x1b[2J"), "the escape shows as text")

        // Two lanes, each with the flows whose id it owns, met in an order other than by id.
        var lanes = [FlowTableLayout(), FlowTableLayout()]
        var kept: [Int: [UInt8]] = [:]
        for flow in flows.reversed() {
            var row: [UInt8] = []
            lanes[flow.id % 2].appendRow(flow, to: &row)
            kept[flow.id] = row
        }
        var layout = FlowTableLayout()
        for lane in lanes { layout.merge(lane) }
        var streamed = layout.headerLine
        for id in kept.keys.sorted() {
            streamed.append(0x0a)
            kept[id]?.withUnsafeBytes { layout.appendLine(row: $0, to: &streamed) }
        }
        #expect(String(decoding: streamed, as: UTF8.self) == held)
        // One lane alone does not know the other's widest cells: the merge is what lines the table up.
        #expect(lanes[0].widths != layout.widths || lanes[1].widths != layout.widths)
    }
}
