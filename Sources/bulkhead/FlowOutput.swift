import BulkheadModel
import Foundation
import Reporting

/// Takes flow records as the analysis emits them and turns them into the chosen output on a second thread,
/// so encoding JSON for thousands of flows overlaps the analysis instead of following it.
///
/// `@unchecked Sendable`: all mutable state is touched only on `queue`, a serial queue.
final class FlowOutput: @unchecked Sendable {
    enum Mode {
        /// Keep the records (the table needs them all, sorted).
        case collect
        /// Encode each record now; the document is assembled at the end.
        case document
        /// Write each record as a JSON line as soon as it is encoded.
        case lines(OutputSink)
    }

    private let mode: Mode
    private let queue = DispatchQueue(label: "bulkhead.flow-output")
    private var records: [FlowRecord] = []
    private var fragments: [(id: Int, json: Data)] = []
    private var failure: (any Error)?

    init(mode: Mode) {
        self.mode = mode
    }

    func submit(_ flow: FlowRecord) {
        switch self.mode {
        case .collect:
            self.records.append(flow)
        case .document:
            self.queue.async {
                do { self.fragments.append((flow.id, try JSONReport.compact(flow))) } catch { self.failure = error }
            }
        case .lines(let sink):
            self.queue.async {
                do { sink.write(try JSONReport.line(JSONLinesRecord.flow(flow))) } catch { self.failure = error }
            }
        }
    }

    /// Waits for pending work; returns the records (collect mode) sorted by id.
    func finish() throws -> [FlowRecord] {
        self.queue.sync {}
        if let failure = self.failure { throw failure }
        return self.records.sorted { $0.id < $1.id }
    }

    /// The whole `{findings, flows, summary}` document, with flows in id order, one per line.
    func document(findings: [Finding], summary: AnalysisSummary) throws -> Data {
        _ = try self.finish()
        let flows = self.fragments.sorted { $0.id < $1.id }.map(\.json)
        return try JSONReport.assembleDocument(findings: findings, flows: flows, summary: summary)
    }
}
