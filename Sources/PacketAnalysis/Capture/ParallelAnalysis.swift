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
/// Several files can be fed in turn (``feed(_:framesBefore:report:)``): the lanes and their flows carry on from one to
/// the next when the next continues the capture (a capture rotated into many files), or end their flows at the
/// boundary when it does not (see ``FlowAnalyzer/nextFile(_:firstFrame:time:continues:)``).
///
/// Batches are raw buffers of ``DecodedItem`` (plain values, nothing to retain): filling an `Array` per lane cost the
/// reading thread two uniqueness checks and a copy of the item through the stack for every packet, about a hundred
/// instructions of the 280 it spent handing each packet out.
///
/// `@unchecked Sendable`: lanes and queues are guarded by `condition`; each analyzer is used by its lane's
/// thread alone until the lanes are joined; a batch's buffer belongs to the thread filling or reading it, and changes
/// hands under `condition`.
package final class ParallelAnalysis: @unchecked Sendable {
    /// Packets for one lane, in the order they were read, all from one file.
    private struct Batch {
        var items: UnsafeMutablePointer<DecodedItem>
        var count = 0
        /// Where in the mapping the batch's first packet starts.
        var start: UnsafeRawPointer?
        /// The file the packets are from (the number of ``feed(_:framesBefore:report:)`` calls before it).
        var file: Int
    }

    /// What a lane is given to do, in order.
    private enum Work {
        case batch(Batch)
        /// The next file begins: see ``FlowAnalyzer/nextFile(_:firstFrame:time:continues:)``.
        case nextFile(name: String, firstFrame: Int, time: Timestamp, continues: Bool)

        /// The file the work reads the mapping of, if any.
        var file: Int? {
            if case .batch(let batch) = self { batch.file } else { nil }
        }
    }

    /// `@unchecked Sendable`: its queue fields are guarded by the owner's condition lock.
    private final class Lane: @unchecked Sendable {
        let analyzer: FlowAnalyzer
        var queue: [Work] = []
        /// The batch the lane is working on (its start in the mapping, and its file), while it works on it.
        var busyStart: UnsafeRawPointer?
        var busyFile: Int?

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
    /// The lanes' threads, once started (``start()``), until ``finish()`` joins them.
    private var group: DispatchGroup?
    /// Files fed so far (reading thread only).
    private var filesFed = 0
    /// The latest packet time read so far, across files (reading thread only): where the next file must start to
    /// continue the capture.
    private var latest = Timestamp.zero
    /// Files walked whose packets some lane may still read (reading thread only): kept mapped until no lane has work
    /// from them, then their pages are given back.
    private var retired: [(file: Int, capture: CaptureFile)] = []

    package init(analyzers: [FlowAnalyzer]) {
        self.lanes = analyzers.map(Lane.init)
    }

    /// Walks `capture` with the lanes (``start()``, ``feed(_:framesBefore:report:)``, ``finish()``); returns the
    /// decoding stage's packet counts and the last frame number.
    package func run(_ capture: CaptureFile, framesBefore: Int, report: (UInt64, UInt64) -> Void) throws(CaptureError)
        -> (counters: PacketCounters, frames: Int)
    {
        self.start()
        defer { self.finish() }
        return try self.feed(capture, framesBefore: framesBefore, report: report)
    }

    /// Starts the lanes' threads. Call ``finish()`` once every file is fed, whatever happened.
    package func start() {
        guard self.group == nil else { return }
        let group = DispatchGroup()
        self.group = group
        for lane in self.lanes {
            group.enter()
            // Unowned: `finish()` waits for every lane (`group`) before it returns, and the thread's closure outlives
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
    }

    /// Tells the lanes no more files come, waits for them to end their flows, and frees the batch buffers.
    package func finish() {
        guard let group = self.group else { return }
        self.condition.lock()
        self.producerDone = true
        self.condition.broadcast()
        self.condition.unlock()
        group.wait()
        self.group = nil
        for buffer in self.allBuffers { buffer.deallocate() }
        self.allBuffers = []
        self.spareBuffers = []
        for (_, capture) in self.retired { capture.releaseAllPages() }
        self.retired = []
    }

    /// Walks `capture`, feeding the lanes; returns the decoding stage's packet counts and the last frame number. A
    /// file after the first tells each lane, before its first packet, whether it continues the capture: it does when
    /// its first packet is no earlier than the latest packet before it.
    package func feed(_ capture: CaptureFile, framesBefore: Int, report: (UInt64, UInt64) -> Void)
        throws(CaptureError) -> (counters: PacketCounters, frames: Int)
    {
        self.start()
        capture.releasesBehindWalker = false
        let file = self.filesFed
        self.filesFed += 1
        var counters = PacketCounters()
        var frame = framesBefore
        let laneCount = self.lanes.count
        // The batch each lane is being given, one slot per lane; a slot's buffer is made when its first packet comes.
        let pending = UnsafeMutableBufferPointer<Batch?>.allocate(capacity: laneCount)
        pending.initialize(repeating: nil)
        var sinceRelease = 0
        var sinceProgress = 0
        var first = file > 0
        defer {
            for (lane, batch) in pending.enumerated() {
                if let batch { self.push(.batch(batch), to: lane) }
            }
            pending.deallocate()
            // Its last batches may still be queued: the file's pages go once no lane has work from it.
            self.retired.append((file, capture))
            self.releaseRetired(pending: nil)
        }
        try capture.forEachPacket { packet in
            frame += 1
            if first {
                first = false
                let continues = FlowAnalyzer.continues(first: packet.timestamp, after: self.latest)
                for lane in 0..<laneCount {
                    self.push(
                        .nextFile(name: capture.path, firstFrame: frame, time: packet.timestamp, continues: continues),
                        to: lane)
                }
                if !continues { self.latest = .zero }
            }
            if self.latest < packet.timestamp { self.latest = packet.timestamp }
            if let decoded = FlowAnalyzer.decode(packet, counting: &counters) {
                let lane = Int(FlowKey.shardHash(of: decoded) % UInt64(laneCount))
                var batch =
                    pending[lane] ?? Batch(items: self.spareBuffer(), start: packet.bytes.baseAddress, file: file)
                (batch.items + batch.count).initialize(
                    to: DecodedItem(packet: decoded, bytes: packet.bytes, time: packet.timestamp, frame: frame))
                batch.count += 1
                if batch.count == Self.batchSize {
                    self.push(.batch(batch), to: lane)
                    pending[lane] = nil
                } else {
                    pending[lane] = batch
                }
            }
            sinceRelease &+= 1
            if sinceRelease == 16_384, let current = packet.bytes.baseAddress {
                sinceRelease = 0
                self.releaseBehindLanes(capture, file: file, current: current, pending: pending)
                self.releaseRetired(pending: pending)
            }
            sinceProgress &+= 1
            if sinceProgress == 1 << 20 {
                sinceProgress = 0
                report(counters.packets, counters.bytes)
            }
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

    private func push(_ work: Work, to index: Int) {
        self.condition.lock()
        while self.lanes[index].queue.count >= Self.queueLimit { self.condition.wait() }
        self.lanes[index].queue.append(work)
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
            let work = lane.queue.removeFirst()
            guard case .batch(let batch) = work else {
                self.condition.broadcast()
                self.condition.unlock()
                if case .nextFile(let name, let firstFrame, let time, let continues) = work {
                    lane.analyzer.nextFile(name, firstFrame: firstFrame, time: time, continues: continues)
                }
                continue
            }
            lane.busyStart = batch.start
            lane.busyFile = batch.file
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
            lane.busyFile = nil
            self.spareBuffers.append(batch.items)
            self.condition.unlock()
        }
        lane.analyzer.finish()
    }

    /// Gives back the mapped pages of `capture` (file number `file`) that no lane will read again: everything before
    /// the oldest of its batches still queued, in progress, or being filled.
    private func releaseBehindLanes(
        _ capture: CaptureFile, file: Int, current: UnsafeRawPointer, pending: UnsafeMutableBufferPointer<Batch?>
    ) {
        var bound = current
        for batch in pending { if let start = batch?.start, start < bound { bound = start } }
        self.condition.lock()
        for lane in self.lanes {
            if lane.busyFile == file, let start = lane.busyStart, start < bound { bound = start }
            for work in lane.queue {
                if case .batch(let batch) = work, batch.file == file, let start = batch.start, start < bound {
                    bound = start
                }
            }
        }
        self.condition.unlock()
        capture.releaseMapping(before: bound)
    }

    /// Gives back the pages of the files already walked that no lane has work from any more (every file before the
    /// oldest one a batch queued, in progress or being filled reads from).
    private func releaseRetired(pending: UnsafeMutableBufferPointer<Batch?>?) {
        guard !self.retired.isEmpty else { return }
        var oldest = Int.max
        for batch in pending ?? UnsafeMutableBufferPointer(start: nil, count: 0) {
            if let file = batch?.file { oldest = min(oldest, file) }
        }
        self.condition.lock()
        for lane in self.lanes {
            if let file = lane.busyFile { oldest = min(oldest, file) }
            for work in lane.queue { if let file = work.file { oldest = min(oldest, file) } }
        }
        self.condition.unlock()
        self.retired.removeAll { file, capture in
            guard file < oldest else { return false }
            capture.releaseAllPages()
            return true
        }
    }
}
