import BulkheadModel
import Foundation

/// The `analyze` engine fed one packet at a time, for packets that arrive rather than sit in a file (live
/// capture): the same ``FlowAnalyzer`` and the same totals and findings as ``CaptureAnalysis/run(files:options:reader:progress:onFlow:)``,
/// with no file and no second pass.
///
/// Packets come from one or more *sources* (capture interfaces). Each source has its own flow table, as each
/// file has in a file run: a packet seen on two interfaces (a bridge and one of its ports) is then not taken
/// for a retransmission of itself. Frames are numbered across all sources in the order they are given, so a
/// flow's `id` is the number of its first packet in a capture file written in that same order.
///
/// Not thread-safe: call ``process(_:source:)`` and ``finish()`` from one thread (or serialise them).
public final class StreamingAnalysis {
    private let options: AnalysisOptions
    private let collector: ResultCollector
    private let keyLog: KeyLog
    private let started = DispatchTime.now()
    private let onFlow: (FlowRecord, Int) -> Void
    private var analyzers: [Int: FlowAnalyzer] = [:]
    private var counters = PacketCounters()
    private var frame = 0
    private let file: String?

    /// - Parameters:
    ///   - options: as for a file analysis (`threads` and `shardingThreshold` do not apply).
    ///   - file: recorded as each flow's `file` (e.g. the capture file the packets are also written to), or nil.
    ///   - onFlow: receives each flow as it ends, with the source it was seen on; called from the thread that
    ///     calls ``process(_:source:)`` or ``finish()``.
    public init(
        options: AnalysisOptions = AnalysisOptions(), file: String? = nil, onFlow: @escaping (FlowRecord, Int) -> Void
    ) {
        self.keyLog = options.keyLog ?? KeyLog()
        var options = options
        options.keyLog = self.keyLog.isEmpty ? nil : self.keyLog
        self.options = options
        self.file = file
        self.onFlow = onFlow
        self.collector = ResultCollector(onFlow: { _ in })
    }

    /// Packets processed so far, over every source.
    public var packets: UInt64 { self.counters.packets }

    /// Analyses one packet from `source` (any small integer naming where it was captured).
    public func process(_ packet: borrowing CapturedPacket, source: Int) {
        self.frame += 1
        guard let decoded = FlowAnalyzer.decode(packet, counting: &self.counters) else { return }
        self.analyzer(source).process(decoded, bytes: packet.bytes, time: packet.timestamp, frame: self.frame)
    }

    private func analyzer(_ source: Int) -> FlowAnalyzer {
        if let existing = self.analyzers[source] { return existing }
        // One thread calls this object: every source's analyzer can share one lane.
        let lane = self.collector.lane(0)
        let onFlow = self.onFlow
        let analyzer = FlowAnalyzer(options: self.options, framesBefore: self.frame, file: self.file) { record in
            lane.add(record)
            onFlow(record, source)
        }
        self.analyzers[source] = analyzer
        return analyzer
    }

    /// Ends every open flow (handing each to `onFlow`) and returns the totals and findings, exactly as a file
    /// run would for the same packets. `warnings` are carried into the result (e.g. an interface that failed).
    public func finish(warnings: [CaptureError] = []) -> CaptureAnalysisResult {
        for source in self.analyzers.keys.sorted() {
            self.analyzers[source]?.finish()
        }
        self.analyzers.removeAll()
        return CaptureAnalysis.result(
            self.collector, counters: self.counters, warnings: warnings, keyLog: self.keyLog, started: self.started)
    }
}
