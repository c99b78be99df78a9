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
        /// Encode each record now; the document is assembled at the end, in id order.
        case document
        /// Write each record as a JSON line as it ends.
        case lines(OutputSink)
    }

    private let mode: Mode
    private var records: [FlowRecord] = []
    private var fragments: [(id: Int, json: [UInt8])] = []
    private var writer = FlowJSONWriter()

    init(mode: Mode) {
        self.mode = mode
    }

    func submit(_ flow: FlowRecord) {
        switch self.mode {
        case .collect:
            self.records.append(flow)
        case .document:
            self.writer.reset()
            self.writer.write(flow)
            self.fragments.append((flow.id, self.writer.bytes))
        case .lines(let sink):
            self.writer.reset()
            self.writer.write(flow)
            var line = Array(#"{"flow":"#.utf8)
            line += self.writer.bytes
            line += Array(#","type":"flow"}"#.utf8)
            line.append(0x0a)
            sink.write(Data(line))
        }
    }

    /// The collected records, sorted by id.
    func sortedRecords() -> [FlowRecord] {
        self.records.sorted { $0.id < $1.id }
    }

    /// The whole `{findings, flows, summary}` document, with flows in id order, one per line.
    func document(findings: [Finding], summary: AnalysisSummary) throws -> Data {
        let flows = self.fragments.sorted { $0.id < $1.id }.map { Data($0.json) }
        return try JSONReport.assembleDocument(findings: findings, flows: flows, summary: summary)
    }
}
