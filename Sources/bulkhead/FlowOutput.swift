import BulkheadModel
import Foundation
import Reporting

/// Takes flow records as the analysis emits them (from several analysis threads at once) and turns them into the
/// chosen output.
///
/// `@unchecked Sendable`: a lane's receiver encodes in the lane's thread and holds `lock` for what it keeps in
/// common with the others (the spool has a writer per lane); the other methods run after the analysis has finished.
final class FlowOutput: @unchecked Sendable {
    enum Mode {
        /// Turn each record into its table row now and keep it on disk (``FlowSpool``); the table is written at the
        /// end, in id order, once the widest cell of each column is known (``FlowTableLayout``).
        case table(FlowSpool)
        /// Keep the records, for the table when no scratch file can be made (a read-only host): memory then grows
        /// with the flows, as the table's did before it streamed.
        case collect
        /// Encode each record now and keep it on disk (``FlowSpool``); the document is written at the end, in id
        /// order.
        case document(FlowSpool)
        /// Write each record as a JSON line as it ends.
        case lines(OutputSink)
    }

    private let mode: Mode
    private let lock = NSLock()
    private var records: [FlowRecord] = []

    init(mode: Mode) {
        self.mode = mode
    }

    /// The receiver of one analysis lane's flows (see ``ResultCollector``): called from that lane's thread only.
    func receiver() -> (FlowRecord) -> Void {
        switch self.mode {
        case .collect:
            return { flow in self.lock.withLock { self.records.append(flow) } }
        case .table(let spool):
            let writer = spool.writer()
            let rows = LaneRows()
            self.lock.withLock { self.laneRows.append(rows) }
            return { flow in
                rows.row.removeAll(keepingCapacity: true)
                rows.layout.appendRow(flow, to: &rows.row)
                rows.row.withUnsafeBytes { writer.append(id: flow.id, $0) }
            }
        case .document(let spool):
            // The lane's own writer, which the flows are encoded into: lanes meet only when a writer's buffer is full.
            let writer = spool.writer()
            return { flow in writer.append(id: flow.id) { $0.write(flow) } }
        case .lines(let sink):
            // JSON Lines is for streams too (`tcpdump -w - | bulkhead analyze - --format jsonl | jq`): each flow goes
            // out as it ends unless the report is a file, where each lane gathers whole lines in a buffer of its own
            // and hands them over a buffer at a time.
            let encoder = LaneEncoder()
            guard sink.isFile else {
                return { flow in
                    var line: [UInt8] = []
                    Self.appendLine(flow, to: &line, encoder)
                    self.lock.withLock { line.withUnsafeBytes { sink.write($0) } }
                }
            }
            let lines = LaneLines()
            lines.bytes.reserveCapacity(LaneLines.capacity + 4096)
            self.lock.withLock { self.laneLines.append(lines) }
            return { flow in
                Self.appendLine(flow, to: &lines.bytes, encoder)
                if lines.bytes.count >= LaneLines.capacity { self.hand(lines, to: sink) }
            }
        }
    }

    /// One lane's flow writer, kept from flow to flow (its buffer is allocated once, and stays warm). `@unchecked
    /// Sendable`: used by its lane's thread alone.
    private final class LaneEncoder: @unchecked Sendable {
        var json = FlowJSONWriter()
    }

    /// The lines one lane has not handed over yet. `@unchecked Sendable`: used by its lane's thread, then by the one
    /// that ends the output.
    private final class LaneLines: @unchecked Sendable {
        static let capacity = 256 << 10
        var bytes: [UInt8] = []
    }

    private var laneLines: [LaneLines] = []

    /// One lane's table layout, and the row it is writing. `@unchecked Sendable`: used by its lane's thread, then by
    /// the one that writes the table.
    private final class LaneRows: @unchecked Sendable {
        var layout = FlowTableLayout()
        var row: [UInt8] = []
    }

    private var laneRows: [LaneRows] = []

    private func hand(_ lines: LaneLines, to sink: OutputSink) {
        // A quarter megabyte of whole lines: written as it is, not copied into the sink's buffer first.
        self.lock.withLock { lines.bytes.withUnsafeBytes { sink.write($0) } }
        lines.bytes.removeAll(keepingCapacity: true)
    }

    /// Appends `{"flow":{…},"type":"flow"}` and a newline to `line`, the flow written by the lane's own writer.
    private static func appendLine(_ flow: FlowRecord, to line: inout [UInt8], _ encoder: LaneEncoder) {
        encoder.json.reset()
        encoder.json.write(flow)
        line.append(contentsOf: #"{"flow":"#.utf8)
        encoder.json.withBytes { line.append(contentsOf: $0) }
        line.append(contentsOf: #","type":"flow"}"#.utf8)
        line.append(0x0a)
    }

    /// Hands over the lines the lanes still hold (JSON Lines to a file), once the analysis has finished and before
    /// anything else is written.
    func finishLines() {
        guard case .lines(let sink) = self.mode else { return }
        for lines in self.lock.withLock({ self.laneLines }) where !lines.bytes.isEmpty { self.hand(lines, to: sink) }
    }

    /// Writes the flow table (in id order, its columns as wide as the widest cell any lane saw), then the findings,
    /// which come in order from `findingBatches`, a batch to each call of its argument, then `summary`.
    func writeTable(
        findingBatches: (_ each: ([Finding]) -> Void) throws -> Void, summary: AnalysisSummary, complete: Bool,
        style: TerminalStyle, to sink: OutputSink
    ) throws {
        switch self.mode {
        case .table(let spool):
            var layout = FlowTableLayout()
            for rows in self.lock.withLock({ self.laneRows }) { layout.merge(rows.layout) }
            var line = layout.headerLine
            line.withUnsafeBytes { sink.buffered($0) }
            try spool.forEachInIDOrder { row in
                line.removeAll(keepingCapacity: true)
                line.append(0x0a)
                layout.appendLine(row: row, to: &line)
                line.withUnsafeBytes { sink.buffered($0) }
            }
        case .collect:
            sink.write(AnalysisTableReport.flows(self.records.sorted { $0.id < $1.id }))
        default:
            return
        }
        var text = "\n\n" + style.bold("Findings") + "\n"
        // The findings a batch at a time (they may be read back from a scratch file), one line of text between them.
        var written = false
        try findingBatches { batch in
            guard !batch.isEmpty else { return }
            if written { text += "\n" }
            text += AnalysisTableReport.findings(batch, style: style, complete: complete)
            text.withUTF8 { sink.buffered(UnsafeRawBufferPointer($0)) }
            text = ""
            written = true
        }
        if !written { text += AnalysisTableReport.findings([], style: style, complete: complete) }
        text += "\n\n" + AnalysisTableReport.summary(summary) + "\n"
        text.withUTF8 { sink.buffered(UnsafeRawBufferPointer($0)) }
    }

    /// Writes the whole `{findings, flows, summary}` document to `sink`, with flows in id order, one per line.
    /// The findings come in order from `findingBatches`, a batch to each call of its argument.
    func writeDocument(
        findingBatches: @escaping (_ each: ([Finding]) -> Void) throws -> Void, summary: AnalysisSummary,
        to sink: OutputSink
    ) throws {
        guard case .document(let spool) = self.mode else { return }
        // The flows are handed to the sink where they lie in the spool's mapping, gathered and written with `writev`
        // (not copied into its buffer first), and written out before any of the mapping is released.
        try JSONReport.writeDocument(
            findingBatches: findingBatches, summary: summary,
            flows: { element in try spool.forEachInIDOrder(element, settle: { sink.flushGathered() }) },
            to: { sink.buffered($0) }, flowOutput: { sink.gathered($0) })
    }
}
