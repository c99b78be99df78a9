import BulkheadModel
import Foundation

/// One decoded packet on its way from the reading thread to the thread that owns its flow. The bytes point into
/// the capture file's read-only mapping, which is not released until every lane is past it.
struct DecodedItem {
    var packet: DecodedPacket
    /// The packet's captured bytes (the payload is a slice of them; tunnels are read from them again).
    var bytes: UnsafeRawBufferPointer
    var time: Timestamp
    var frame: Int
}

/// Analyses one mapped capture on several cores: this thread walks the file and decodes every packet once,
/// and hands each packet, in order, to the lane (thread + flow table) that owns its flow by key hash. A flow
/// is only ever seen by one lane, so flow state needs no locks; only the batch queues do.
///
/// Mapped pages are given back to the kernel behind the slowest lane, so resident memory stays flat.
///
/// `@unchecked Sendable`: lanes and queues are guarded by `condition`; each analyzer is used by its lane's
/// thread alone until the lanes are joined.
package final class ParallelAnalysis: @unchecked Sendable {
    private struct Batch {
        var items: [DecodedItem] = []
        /// Where in the mapping the batch's first packet starts.
        var start: UnsafeRawPointer?
    }

    /// `@unchecked Sendable`: its queue fields are guarded by the owner's condition lock.
    private final class Lane: @unchecked Sendable {
        let analyzer: FlowAnalyzer
        var queue: [Batch] = []
        /// Start of the batch the lane is working on, while it works on it.
        var busyStart: UnsafeRawPointer?

        init(analyzer: FlowAnalyzer) { self.analyzer = analyzer }
    }

    private let condition = NSCondition()
    private let lanes: [Lane]
    private var producerDone = false
    /// Emptied batch buffers handed back by the lanes for the reading thread to fill again (guarded by `condition`):
    /// a batch is a few hundred kilobytes, and a fresh one each time was fresh pages to fault in, for every batch.
    private var spareItems: [[DecodedItem]] = []
    private static let batchSize = 2048
    private static let queueLimit = 8

    package init(analyzers: [FlowAnalyzer]) {
        self.lanes = analyzers.map(Lane.init)
    }

    /// Walks `capture`, feeding the lanes; returns the decoding stage's packet counts and the last frame number.
    package func run(_ capture: CaptureFile, framesBefore: Int, report: (UInt64, UInt64) -> Void) throws(CaptureError)
        -> (counters: PacketCounters, frames: Int)
    {
        capture.releasesBehindWalker = false
        let group = DispatchGroup()
        for lane in self.lanes {
            group.enter()
            let thread = Thread { [self] in
                self.drain(lane)
                group.leave()
            }
            thread.stackSize = 4 << 20
            thread.start()
        }
        var counters = PacketCounters()
        var frame = framesBefore
        var pending = [Batch](repeating: Batch(), count: self.lanes.count)
        let laneCount = UInt64(self.lanes.count)
        var sinceRelease = 0
        var sinceProgress = 0
        defer {
            self.condition.lock()
            self.producerDone = true
            self.condition.broadcast()
            self.condition.unlock()
            group.wait()
        }
        try capture.forEachPacket { packet in
            frame += 1
            if let decoded = FlowAnalyzer.decode(packet, counting: &counters) {
                let lane = Int(FlowKey.of(decoded).0.shardHash % laneCount)
                if pending[lane].items.isEmpty {
                    pending[lane].start = packet.bytes.baseAddress
                    pending[lane].items = self.spareBuffer()
                }
                pending[lane].items.append(
                    DecodedItem(packet: decoded, bytes: packet.bytes, time: packet.timestamp, frame: frame))
                if pending[lane].items.count == Self.batchSize {
                    self.push(pending[lane], to: lane)
                    pending[lane] = Batch()
                }
            }
            sinceRelease &+= 1
            if sinceRelease == 16_384, let current = packet.bytes.baseAddress {
                sinceRelease = 0
                self.releaseBehindLanes(capture, current: current, pending: pending)
            }
            sinceProgress &+= 1
            if sinceProgress == 1 << 20 {
                sinceProgress = 0
                report(counters.packets, counters.bytes)
            }
        }
        for (lane, batch) in pending.enumerated() where !batch.items.isEmpty { self.push(batch, to: lane) }
        report(counters.packets, counters.bytes)
        return (counters, frame)
    }

    /// An empty buffer for a batch: one a lane handed back, or a new one.
    private func spareBuffer() -> [DecodedItem] {
        self.condition.lock()
        let spare = self.spareItems.popLast()
        self.condition.unlock()
        if let spare { return spare }
        var fresh: [DecodedItem] = []
        fresh.reserveCapacity(Self.batchSize)
        return fresh
    }

    private func push(_ batch: Batch, to index: Int) {
        self.condition.lock()
        while self.lanes[index].queue.count >= Self.queueLimit { self.condition.wait() }
        self.lanes[index].queue.append(batch)
        self.condition.broadcast()
        self.condition.unlock()
    }

    private func drain(_ lane: Lane) {
        while true {
            self.condition.lock()
            while lane.queue.isEmpty && !self.producerDone { self.condition.wait() }
            guard !lane.queue.isEmpty else {
                self.condition.unlock()
                break
            }
            var batch = lane.queue.removeFirst()
            lane.busyStart = batch.start
            self.condition.broadcast()
            self.condition.unlock()
            for item in batch.items {
                lane.analyzer.process(item.packet, bytes: item.bytes, time: item.time, frame: item.frame)
            }
            batch.items.removeAll(keepingCapacity: true)
            self.condition.lock()
            lane.busyStart = nil
            // At most as many spares as batches can be in flight: the rest are freed.
            if self.spareItems.count < self.lanes.count * (Self.queueLimit + 2) { self.spareItems.append(batch.items) }
            self.condition.unlock()
        }
        lane.analyzer.finish()
    }

    /// Gives back the mapped pages that no lane will read again: everything before the oldest batch still
    /// queued, in progress, or being filled.
    private func releaseBehindLanes(_ capture: CaptureFile, current: UnsafeRawPointer, pending: [Batch]) {
        var bound = current
        for batch in pending { if let start = batch.start, !batch.items.isEmpty, start < bound { bound = start } }
        self.condition.lock()
        for lane in self.lanes {
            if let start = lane.busyStart, start < bound { bound = start }
            if let start = lane.queue.first?.start, start < bound { bound = start }
        }
        self.condition.unlock()
        capture.releaseMapping(before: bound)
    }
}
