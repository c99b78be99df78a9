import BulkheadModel
import Foundation
import Reporting

/// Takes flow records as the analysis emits them (one call at a time, possibly from several analysis
/// threads) and turns them into the chosen output.
///
/// `@unchecked Sendable`: `submit` is only called serially (the analysis collector holds its lock), and the
/// other methods after the analysis has finished.
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
    private var writer = FlowJSONWriter()

    init(mode: Mode) {
        self.mode = mode
    }

    func submit(_ flow: FlowRecord) {
        switch self.mode {
        case .collect:
            self.records.append(flow)
        case .document(let spool):
            self.writer.reset()
            self.writer.write(flow)
            spool.append(id: flow.id, self.writer.bytes)
        case .lines(let sink):
            self.writer.reset()
            self.writer.write(flow)
            var line = Array(#"{"flow":"#.utf8)
            line += self.writer.bytes
            line += Array(#","type":"flow"}"#.utf8)
            line.append(0x0a)
            line.withUnsafeBytes { sink.buffered($0) }
        }
    }

    /// The collected records, sorted by id.
    func sortedRecords() -> [FlowRecord] {
        self.records.sorted { $0.id < $1.id }
    }

    /// Writes the whole `{findings, flows, summary}` document to `sink`, with flows in id order, one per line.
    func writeDocument(findings: [Finding], summary: AnalysisSummary, to sink: OutputSink) throws {
        guard case .document(let spool) = self.mode else { return }
        try JSONReport.writeDocument(findings: findings, summary: summary, flows: { element in try spool.forEachInIDOrder(element) },
                                     to: { sink.buffered($0) })
    }
}
