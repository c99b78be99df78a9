import BulkheadModel
import Foundation
import Reporting

/// Takes flow records as the analysis emits them (from several analysis threads at once) and turns them into the
/// chosen output.
///
/// `@unchecked Sendable`: `submit` encodes in the calling thread and holds `lock` for what it keeps; the other
/// methods run after the analysis has finished.
final class FlowOutput: @unchecked Sendable {
    enum Mode {
        /// Keep the records (the table needs them all, sorted).
        case collect
        /// Encode each record now and keep it on disk (``FlowSpool``); the document is written at the end, in id
        /// order.
        case document(FlowSpool)
        /// Write each record as a JSON line as it ends.
        case lines(OutputSink)
    }

    private let mode: Mode
    private var records: [FlowRecord] = []
    private let lock = NSLock()

    init(mode: Mode) {
        self.mode = mode
    }

    func submit(_ flow: FlowRecord) {
        switch self.mode {
        case .collect:
            self.lock.withLock { self.records.append(flow) }
        case .document(let spool):
            var writer = FlowJSONWriter()
            writer.write(flow)
            writer.withBytes { bytes in self.lock.withLock { spool.append(id: flow.id, bytes) } }
        case .lines(let sink):
            var writer = FlowJSONWriter()
            var line = Array(#"{"flow":"#.utf8)
            writer.write(flow)
            writer.withBytes { line.append(contentsOf: $0) }
            line += Array(#","type":"flow"}"#.utf8)
            line.append(0x0a)
            // JSON Lines is for streams too (`tcpdump -w - | bulkhead analyze - --format jsonl | jq`): each flow goes
            // out as it ends unless the report is a file, where batching writes costs no one a wait.
            self.lock.withLock { line.withUnsafeBytes { sink.isFile ? sink.buffered($0) : sink.write($0) } }
        }
    }

    /// The collected records, sorted by id.
    func sortedRecords() -> [FlowRecord] {
        self.records.sorted { $0.id < $1.id }
    }

    /// Writes the whole `{findings, flows, summary}` document to `sink`, with flows in id order, one per line.
    func writeDocument(findings: [Finding], summary: AnalysisSummary, to sink: OutputSink) throws {
        guard case .document(let spool) = self.mode else { return }
        try JSONReport.writeDocument(
            findings: findings, summary: summary, flows: { element in try spool.forEachInIDOrder(element) },
            to: { sink.buffered($0) })
    }
}
