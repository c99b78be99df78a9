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
/// Batches are raw buffers of ``DecodedItem`` (plain values, nothing to retain): filling an `Array` per lane cost the
/// reading thread two uniqueness checks and a copy of the item through the stack for every packet, about a hundred
/// instructions of the 280 it spent handing each packet out.
///
/// `@unchecked Sendable`: lanes and queues are guarded by `condition`; each analyzer is used by its lane's
/// thread alone until the lanes are joined; a batch's buffer belongs to the thread filling or reading it, and changes
/// hands under `condition`.
package final class ParallelAnalysis: @unchecked Sendable {
    /// Packets for one lane, in the order they were read.
    private struct Batch {
        var items: UnsafeMutablePointer<DecodedItem>
        var count = 0
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
    /// Batch buffers the lanes are done with, for the reading thread to fill again (guarded by `condition`): a batch
    /// is a few hundred kilobytes, and a fresh one each time was fresh pages to fault in, for every batch.
    private var spareBuffers: [UnsafeMutablePointer<DecodedItem>] = []
    /// Every buffer made (reading thread only), freed once the lanes are joined. Their number is bounded by the
    /// batches that can be queued, worked on and filled at once.
    private var allBuffers: [UnsafeMutablePointer<DecodedItem>] = []
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
            // Unowned: this call waits for every lane (`group`) before it returns, and the thread's closure outlives
            // its work (Foundation releases it as the thread exits, after `leave`). Strong captures left the analysis,
            // its lanes' analyzers and their findings to be freed by exiting threads at some point after this call
            // returned (LeakSanitizer, fuzzing the lanes, took them for leaks); now they go with their owner.
            let thread = Thread { [unowned(unsafe) self, unowned(unsafe) lane] in
                self.drain(lane)
                group.leave()
            }
            thread.stackSize = 4 << 20
            thread.start()
        }
        var counters = PacketCounters()
        var frame = framesBefore
        let laneCount = self.lanes.count
        // The batch each lane is being given, one slot per lane; a slot's buffer is made when its first packet comes.
        let pending = UnsafeMutableBufferPointer<Batch?>.allocate(capacity: laneCount)
        pending.initialize(repeating: nil)
        var sinceRelease = 0
        var sinceProgress = 0
        defer {
            self.condition.lock()
            self.producerDone = true
            self.condition.broadcast()
            self.condition.unlock()
            group.wait()
            pending.deallocate()
            for buffer in self.allBuffers { buffer.deallocate() }
            self.allBuffers = []
            self.spareBuffers = []
        }
        try capture.forEachPacket { packet in
            frame += 1
            if let decoded = FlowAnalyzer.decode(packet, counting: &counters) {
                let lane = Int(FlowKey.shardHash(of: decoded) % UInt64(laneCount))
                var batch = pending[lane] ?? Batch(items: self.spareBuffer(), start: packet.bytes.baseAddress)
                (batch.items + batch.count).initialize(
                    to: DecodedItem(packet: decoded, bytes: packet.bytes, time: packet.timestamp, frame: frame))
                batch.count += 1
                if batch.count == Self.batchSize {
                    self.push(batch, to: lane)
                    pending[lane] = nil
                } else {
                    pending[lane] = batch
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
        for (lane, batch) in pending.enumerated() {
            if let batch { self.push(batch, to: lane) }
            pending[lane] = nil
        }
        report(counters.packets, counters.bytes)
        return (counters, frame)
    }

    /// An empty batch buffer: one a lane handed back, or a new one.
    private func spareBuffer() -> UnsafeMutablePointer<DecodedItem> {
        self.condition.lock()
        let spare = self.spareBuffers.popLast()
        self.condition.unlock()
        if let spare { return spare }
        let fresh = UnsafeMutablePointer<DecodedItem>.allocate(capacity: Self.batchSize)
        self.allBuffers.append(fresh)
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
            let batch = lane.queue.removeFirst()
            lane.busyStart = batch.start
            self.condition.broadcast()
            self.condition.unlock()
            for index in 0..<batch.count {
                let item = batch.items + index
                lane.analyzer.process(
                    item.pointee.packet, bytes: item.pointee.bytes, time: item.pointee.time, frame: item.pointee.frame)
            }
            // DecodedItem holds plain values only: nothing to deinitialize before the buffer is filled again.
            self.condition.lock()
            lane.busyStart = nil
            self.spareBuffers.append(batch.items)
            self.condition.unlock()
        }
        lane.analyzer.finish()
    }

    /// Gives back the mapped pages that no lane will read again: everything before the oldest batch still
    /// queued, in progress, or being filled.
    private func releaseBehindLanes(
        _ capture: CaptureFile, current: UnsafeRawPointer, pending: UnsafeMutableBufferPointer<Batch?>
    ) {
        var bound = current
        for batch in pending { if let start = batch?.start, start < bound { bound = start } }
        self.condition.lock()
        for lane in self.lanes {
            if let start = lane.busyStart, start < bound { bound = start }
            if let start = lane.queue.first?.start, start < bound { bound = start }
        }
        self.condition.unlock()
        capture.releaseMapping(before: bound)
    }
}
