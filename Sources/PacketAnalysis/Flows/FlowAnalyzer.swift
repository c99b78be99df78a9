import BulkheadModel
import Certificates
import SystemCalls

/// Knobs for one analysis.
public struct AnalysisOptions: Sendable {
    /// Bytes of each direction of a plaintext flow that are inspected for credentials and upgrades.
    public var inspectionWindow: Int
    /// Out-of-order bytes held per direction while waiting for a hole to fill; past this the hole is a gap.
    public var reorderLimit: Int
    /// Capture seconds without a packet after which an open TCP flow is closed out.
    public var tcpIdleTimeout: Double
    /// Capture seconds without a packet after which a UDP flow is closed out.
    public var udpIdleTimeout: Double

    /// TLS secrets (SSLKEYLOGFILE lines, pcapng Decryption Secrets Blocks) for decrypting handshakes.
    public var keyLog: KeyLog?
    /// Threads for large mapped files (flows are shared out by key hash).
    public var threads: Int
    /// Files smaller than this are analysed on one thread (threads would cost more than they save).
    public var shardingThreshold: Int
    /// Past how many distinct findings each analysis lane writes them out to a scratch file in
    /// ``findingsScratchFolder`` (see ``SpilledFindings``); nil keeps them all in memory.
    public var spillFindingsPast: Int?
    /// Where findings are written out (see ``spillFindingsPast``).
    public var findingsScratchFolder: String = ScratchFile.defaultFolder
    /// How many findings the end's sort into the report's order holds at once, when findings were written out.
    public var findingsSortBatch = SpilledFindings.sortBatch
    /// The most flows held open at once (by all the lanes together): past it the least recently seen end early, with
    /// the anomaly `evicted`, so memory stays bounded when flows pile up faster than they end (a SYN scan: a million
    /// half-open connections, none of which ends before its idle timeout, held 477 MB).
    public var openFlowLimit = 262_144

    public init(
        inspectionWindow: Int = 16_384, reorderLimit: Int = 262_144, tcpIdleTimeout: Double = 600,
        udpIdleTimeout: Double = 120,
        keyLog: KeyLog? = nil, threads: Int = 2, shardingThreshold: Int = 64 << 20
    ) {
        self.keyLog = keyLog
        self.threads = threads
        self.shardingThreshold = shardingThreshold
        self.inspectionWindow = inspectionWindow
        self.reorderLimit = reorderLimit
        self.tcpIdleTimeout = tcpIdleTimeout
        self.udpIdleTimeout = udpIdleTimeout
    }
}

/// Packet-level counters of one analysis.
public struct PacketCounters: Sendable {
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    public var other: UInt64 = 0
    public var fragments: UInt64 = 0
    public var truncated: UInt64 = 0
    public var malformed: UInt64 = 0

    public init() {}

    public static func += (lhs: inout PacketCounters, rhs: PacketCounters) {
        lhs.packets += rhs.packets
        lhs.bytes += rhs.bytes
        lhs.other += rhs.other
        lhs.fragments += rhs.fragments
        lhs.truncated += rhs.truncated
        lhs.malformed += rhs.malformed
    }

    /// What was counted after `earlier`, a copy of these running totals taken before: one file's packets.
    func since(_ earlier: PacketCounters) -> PacketCounters {
        var added = PacketCounters()
        added.packets = self.packets &- earlier.packets
        added.bytes = self.bytes &- earlier.bytes
        added.other = self.other &- earlier.other
        added.fragments = self.fragments &- earlier.fragments
        added.truncated = self.truncated &- earlier.truncated
        added.malformed = self.malformed &- earlier.malformed
        return added
    }

    /// Whether nothing in these packets could be examined: there were some, none decoded to IP (each malformed, or
    /// not IP at all), and more than half were malformed. Such a file's traffic was not looked at (Ethernet frames
    /// under a raw-IP link type, a header of the wrong link type), so a clean result for it would be a false pass.
    /// A file of only non-IP traffic (ARP, LLDP) has nothing malformed: it was examined and holds nothing.
    var nothingExamined: Bool {
        self.packets > 0 && self.fragments == 0 && self.other &+ self.malformed == self.packets
            && self.malformed > self.packets / 2
    }
}

/// Turns packets into flow records: decodes each packet, tracks its flow, reassembles TCP in order,
/// classifies by content, follows TLS handshakes and inspects plaintext for credentials.
///
/// Memory stays bounded: payload is only kept while a flow is being classified or inspected (at most the
/// inspection window per direction); after that a flow costs a few counters. Flows are handed to `emit`
/// as they end (FIN/RST plus a short grace period, or an idle timeout), and the rest when ``finish()`` is
/// called.
public final class FlowAnalyzer {
    public private(set) var counters = PacketCounters()
    private let options: AnalysisOptions
    private let emit: (_ pass: Int, _ record: inout FlowRecord) -> Void
    /// How many times each record is handed to `emit` (see ``init(options:framesBefore:file:certificates:passes:emit:)``).
    private let passes: Int
    /// The records of ending flows, each written into its slot field by field, handed to `emit` a batch at a time.
    /// A record built with `FlowRecord(...)` was built aside and copied out whole (the optimizer leaves that copy
    /// in), a retain and a release of every string and array in it for every flow. `@exclusivity(unchecked)`: only
    /// this analyzer's thread touches it, and `emit` is handed the batch for the call alone.
    ///
    /// Why batches: the end of a flow runs a lot of code (its record, its JSON, its totals and findings), more than
    /// the processor's instruction cache holds, so one flow at a time each stage found its code evicted by the
    /// others (a third of a run's instruction-cache misses). A batch runs each stage (a pass of `emit`) over every
    /// record in turn.
    @exclusivity(unchecked) private var records: [FlowRecord]
    /// How many of ``records`` hold a record not yet emitted.
    private var pendingRecords = 0
    /// The records of a batch: enough for each stage's code to stay in cache across them, few enough to cost no
    /// memory to speak of.
    static let recordBatch = 64
    private var flows = FlowTable(hashing: SeededFlowKeyHashing())
    /// This analyzer's share of ``AnalysisOptions/openFlowLimit``.
    private let openFlowLimit: Int
    /// The number of the packet being processed, counted from 1 across the files of a run (the Wireshark
    /// frame number within one file). A flow's id is the number of its first packet.
    private var frame: Int
    private let certificates: CertificateCache
    /// What this lane's TLS sessions share: certificate lists already read, cipher contexts to re-key.
    private let tlsLane = TLSLaneState()
    /// The capture second of the last sweep (see ``advanceClock(_:)``); far in the past before the first.
    private var lastSweepSecond = FlowAnalyzer.longAgo
    private static let longAgo = Int64.min / 2
    private var packetsSinceSweep = 0
    /// The longest idle timeout, in whole seconds: a gap this long is always swept.
    private let longestTimeout: Int64
    private var latest = Timestamp.zero
    /// The files this analyzer has read, each with the number of its first packet: a record names the file its flow
    /// began in (flow ids are the numbers of their first packets). One entry unless ``nextFile(_:firstFrame:time:continues:)``
    /// was called.
    private var files: [(firstFrame: Int, name: String?)]
    /// Which of ``files`` each slot of ``records`` names now (a record's file is only written when it changes).
    private var slotFiles: [Int]

    /// - Parameters:
    ///   - framesBefore: packets in the files analysed before this one (flow ids continue across files).
    ///   - file: the capture file name recorded in each flow.
    ///   - emit: receives each flow record, in the order the flows ended (by the end of the sweep, `finish()` or the
    ///     packet that ended them).
    public convenience init(
        options: AnalysisOptions = AnalysisOptions(), framesBefore: Int = 0, file: String? = nil,
        certificates: CertificateCache = CertificateCache(), emit: @escaping (FlowRecord) -> Void
    ) {
        // The receiver borrows each record: nothing is copied unless it keeps one.
        self.init(
            options: options, framesBefore: framesBefore, file: file, certificates: certificates, passes: 1,
            emit: { _, record in emit(record) })
    }

    /// - Parameters:
    ///   - passes: how many times each record is handed to `emit`: a batch of records (up to ``recordBatch``, in the
    ///     order their flows ended) goes through pass 0, then all of it through pass 1, and so on, so that each pass
    ///     (a stage of the receiver: totals, then output) runs its code over the whole batch.
    ///   - emit: receives a pass's number and a record (in place, for the call alone: a receiver that keeps one
    ///     copies it).
    public init(
        options: AnalysisOptions = AnalysisOptions(), framesBefore: Int = 0, file: String? = nil,
        certificates: CertificateCache = CertificateCache(), passes: Int,
        emit: @escaping (_ pass: Int, _ record: inout FlowRecord) -> Void
    ) {
        self.options = options
        self.openFlowLimit = max(16, options.openFlowLimit)
        self.longestTimeout = Int64(max(1, min(1e9, max(options.tcpIdleTimeout, options.udpIdleTimeout))))
        self.frame = framesBefore
        self.certificates = certificates
        self.passes = max(1, passes)
        self.emit = emit
        // `file` is the same in every record of this analyzer: set here once.
        let empty = FlowRecord(
            id: 0, client: "", server: "", clientBasis: .port, transport: .tcp, proto: .empty, encrypted: false,
            starttls: false, tls: nil, credentials: [], truncated: false, anomalies: [], firstSeen: .zero,
            lastSeen: .zero, packets: DirectionCounts(), bytes: DirectionCounts(), file: file)
        self.records = Array(repeating: empty, count: Self.recordBatch)
        self.files = [(framesBefore + 1, file)]
        self.slotFiles = Array(repeating: 0, count: Self.recordBatch)
    }

    /// Whether a file whose first packet was captured at `first` continues the capture whose latest packet so far was
    /// captured at `latest` (see ``nextFile(_:firstFrame:time:continues:)``): it starts no earlier.
    static func continues(first: Timestamp, after latest: Timestamp) -> Bool { first >= latest }

    /// Goes on to the next capture file, whose first packet is number `firstFrame` and was captured at `time`.
    ///
    /// When `continues` (the file goes on where the last one stopped: a capture rotated into several files by
    /// `tcpdump -C`/`-G`/`-W` or dumpcap's ring buffer), the flows still open stay open and take the new file's
    /// packets, as one file of the whole would have (a long gap between the files ends the flows idle past their
    /// timeouts first, as the same gap inside one file does, so it joins nothing). Otherwise (another capture, or time
    /// going backwards) every open flow ends now, as at the end of a capture, and the clock starts again.
    public func nextFile(_ name: String?, firstFrame: Int, time: Timestamp, continues: Bool) {
        if continues {
            self.advanceClock(time)
        } else {
            self.finish()
            self.latest = .zero
            self.lastSweepSecond = Self.longAgo
            self.packetsSinceSweep = 0
        }
        self.files.append((firstFrame, name))
    }

    /// The index in ``files`` of the file flow `id` began in: the last whose first packet is not after it (searched by
    /// halves: flows end seconds after they begin, hundreds of files later in a capture rotated every few packets).
    @inline(__always)
    private func fileIndex(of id: Int) -> Int {
        guard self.files.count > 1, self.files[self.files.count - 1].firstFrame > id else {
            return self.files.count - 1
        }
        var (low, high) = (0, self.files.count - 1)  // files[low] begins at or before id; files[high] after it
        while high - low > 1 {
            let middle = (low + high) / 2
            if self.files[middle].firstFrame <= id { low = middle } else { high = middle }
        }
        return low
    }

    /// The number of the last packet processed.
    public var frameNumber: Int { self.frame }

    /// The latest packet time seen (since the last file that did not continue the capture).
    public var latestTime: Timestamp { self.latest }

    /// Analyses one captured packet: ``decode(_:counting:)`` then ``process(_:bytes:time:frame:)``.
    public func process(_ packet: borrowing CapturedPacket) {
        self.frame += 1
        if let decoded = Self.decode(packet, counting: &self.counters) {
            self.process(decoded, bytes: packet.bytes, time: packet.timestamp, frame: self.frame)
        } else {
            self.advanceClock(packet.timestamp)
        }
    }

    /// Stage one, which needs no flow state and so may run on another thread: decodes the headers and counts
    /// the packet. Returns the transport view, or nil for packets without one.
    @inline(__always)
    public static func decode(_ packet: borrowing CapturedPacket, counting counters: inout PacketCounters)
        -> DecodedPacket?
    {
        counters.packets &+= 1
        counters.bytes &+= UInt64(packet.bytes.count)
        if packet.bytes.count < packet.originalLength { counters.truncated &+= 1 }
        switch PacketDecoder.decode(packet.bytes, linkType: packet.linkType, originalLength: packet.originalLength) {
        case .transport(let decoded): return decoded
        case .fragment: counters.fragments &+= 1
        case .other: counters.other &+= 1
        case .malformed: counters.malformed &+= 1
        }
        return nil
    }

    /// Stage two: the packet's flow, in capture order. `bytes` are the packet's captured bytes (borrowed for the
    /// call), `frame` its number (see ``frameNumber``).
    public func process(_ packet: DecodedPacket, bytes: UnsafeRawBufferPointer, time: Timestamp, frame: Int) {
        self.frame = frame
        // The clock first: a packet long after its flow's last one finds that flow ended by the idle timeout (and
        // starts a new one), not joined to it.
        self.advanceClock(time)
        let payload = UnsafeRawBufferPointer(
            rebasing: bytes[packet.payloadOffset..<(packet.payloadOffset + packet.capturedPayloadLength)])
        if packet.encapsulationDepth == 0 {
            self.handle(packet, payload, time, encapsulation: nil)
        } else {
            self.handleEncapsulated(packet, bytes, payload, time)
        }
    }

    /// Adds packet counts gathered by a decoding stage that ran elsewhere.
    public func add(_ counters: PacketCounters) {
        self.counters += counters
    }

    /// Moves the capture clock to `time` and sweeps every 65,536 packets (so memory follows the flows open), and by
    /// capture time, so that a quiet capture, or a gap between two files of a rotated one, ends flows idle past their
    /// timeouts too (with the packet count alone, a capture of fewer packets never applied them, and the same
    /// connection an hour later joined its old flow): after a gap as long as the longest timeout always, and after a
    /// minute once there have been a sixteenth as many packets as open flows (a sweep visits every open flow: a long
    /// quiet capture with a full table would otherwise pay for all of them every minute).
    @inline(__always)
    private func advanceClock(_ time: Timestamp) {
        if self.latest < time { self.latest = time }
        self.packetsSinceSweep &+= 1
        let elapsed = self.latest.seconds &- self.lastSweepSecond
        if self.packetsSinceSweep >= 65_536 || elapsed >= self.longestTimeout
            || (elapsed >= 60 && self.packetsSinceSweep &* 16 >= self.flows.count)
        {
            self.sweep()
        }
    }

    /// Ends every remaining flow and hands it to `emit`.
    public func finish() {
        let remaining = Self.inIDOrder(Array(self.flows))
        self.flows.removeAll()
        for flow in remaining { self.emitRecord(of: flow) }
        self.emitPending()
    }

    /// `flows` by id, sorted through their ids alone: sorting the flow references themselves retained and released
    /// each one at every move (3% of `analyze` on a capture of short flows, most of which are still open at its end).
    private static func inIDOrder(_ flows: [Flow]) -> [Flow] {
        let ids = flows.map(\.id)
        return flows.indices.sorted { ids[$0] < ids[$1] }.map { flows[$0] }
    }

    // MARK: - Flows

    /// A packet found inside tunnels: the tunnels are read again from its bytes (only such packets pay for it) and
    /// become part of its flow's key.
    @inline(never)
    private func handleEncapsulated(
        _ packet: DecodedPacket, _ bytes: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer,
        _ time: Timestamp
    ) {
        let seen = PacketDecoder.encapsulationPath(bytes, networkOffset: Int(packet.networkOffset))
        guard seen.count == Int(packet.encapsulationDepth) else {
            self.counters.malformed &+= 1  // cannot happen: the same bytes walked the same way
            return
        }
        var encapsulation = PacketEncapsulation(seen: seen)
        withUnsafePointer(to: &encapsulation) { self.handle(packet, payload, time, encapsulation: $0) }
    }

    /// - Parameter encapsulation: the tunnels around the packet, or nil for a bare one (a pointer: bare packets pass one
    ///   word, and no tunnel value is ever made or copied for them).
    private func handle(
        _ packet: DecodedPacket, _ payload: UnsafeRawBufferPointer, _ time: Timestamp,
        encapsulation: UnsafePointer<PacketEncapsulation>?
    ) {
        var (key, fromLow) = FlowKey.of(packet)
        if let encapsulation {
            key.encapsulation = encapsulation.pointee.digest
            // Two tunnel paths with one digest (never seen, but possible): the packet is not taken for the other flow's.
            if let existing = self.flows.flow(for: key),
                existing.encapsulation?.identity != encapsulation.pointee.identity
            {
                self.counters.malformed &+= 1
                return
            }
        }
        let isSYN = packet.ipProtocol == 6 && packet.flags.contains(.syn) && !packet.flags.contains(.ack)
        var flow: Flow
        if self.flows.count >= self.openFlowLimit, self.flows.flow(for: key) == nil { self.makeRoom() }
        if let existing = self.flows.flow(for: key) {
            flow = existing
            // Port reuse: a new SYN on a finished connection, or one with a different initial sequence; a datagram on
            // a finished UDP exchange (DNS, answered) after the 5 s a finished flow is kept for, or on a QUIC
            // connection idle past its timeout, whenever the next sweep comes.
            if isSYN
                && (existing.closed
                    || (existing.rolesFixed
                        && existing.withDirection(fromLow: fromLow, { $0.synSequence }).map { $0 != packet.sequence }
                            ?? false
                        && (existing.low.payloadBytes + existing.high.payloadBytes) > 0))
                || existing.transport == .udp
                    && (existing.closed && time.seconds(since: existing.lastSeen) > 5
                        || existing.idleLimit != 0
                            && time.seconds(since: existing.lastSeen) > Double(existing.idleLimit))
            {
                self.flows.remove(key)
                self.emitRecord(of: existing)
                self.emitPending()  // at once: a live stream shows a flow when it ends
                flow = self.newFlow(key, fromLow: fromLow, packet: packet, time: time)
                self.flows.insert(flow)
            }
        } else {
            flow = self.newFlow(key, fromLow: fromLow, packet: packet, time: time)
            self.flows.insert(flow)
        }
        flow.lastSeen = time
        if let encapsulation { Self.note(encapsulation, on: flow, fromLow: fromLow) }
        flow.withDirection(fromLow: fromLow) {
            $0.packets &+= 1
            $0.payloadBytes &+= UInt64(packet.payloadLength)
        }
        if packet.ipProtocol == 6 {
            self.tcp(packet, payload, flow, fromLow)
        } else if packet.ipProtocol == 50 {
            self.esp(payload, flow, fromLow, udpEncapsulated: false)
        } else {
            self.udp(packet, payload, flow, fromLow)
        }
    }

    /// Keeps the tunnels of a flow's first packet in each direction (for the record's underlay addresses).
    @inline(never)
    private static func note(_ encapsulation: UnsafePointer<PacketEncapsulation>, on flow: Flow, fromLow: Bool) {
        let state = flow.encapsulation ?? FlowEncapsulation(identity: encapsulation.pointee.identity)
        flow.encapsulation = state
        if fromLow {
            if state.fromLow == nil { state.fromLow = encapsulation.pointee.seen }
        } else if state.fromHigh == nil {
            state.fromHigh = encapsulation.pointee.seen
        }
    }

    private func newFlow(_ key: FlowKey, fromLow: Bool, packet: DecodedPacket, time: Timestamp) -> Flow {
        let transport: Transport = packet.ipProtocol == 6 ? .tcp : packet.ipProtocol == 50 ? .esp : .udp
        // Until a SYN or content says otherwise, guess that the side with the higher (ephemeral) port is the client.
        let lowIsClient: Bool
        let basis: ClientBasis
        if transport != .tcp {
            lowIsClient = fromLow
            basis = .firstPacket
        } else {
            lowIsClient = key.lowPort > key.highPort
            basis = .port
        }
        return Flow(id: self.frame, key: key, transport: transport, clientIsLow: lowIsClient, basis: basis, time: time)
    }

    /// The table is full (see ``AnalysisOptions/openFlowLimit``): ends the flows a sweep would (finished, or idle past
    /// their timeouts: sweeps by capture time come once a minute), and if that leaves it more than three quarters
    /// full, the least recently seen quarter too.
    @inline(never)
    private func makeRoom() {
        self.sweep()
        if self.flows.count > self.openFlowLimit / 4 * 3 { self.evictLeastRecentlySeen() }
    }

    /// Ends the least recently seen quarter of the open flows (at least), marked `evicted`. A later packet of one
    /// starts a new flow, mid-stream.
    private func evictLeastRecentlySeen() {
        // The quarter's cutoff from about 4,096 of the times (sorting all of a full table's times was a fifth of a SYN
        // scan's run), every time up to 4,096 flows. The sample is chosen by flow id, not by place in the table: the
        // table's order follows its hash seeds, drawn anew each run, and a sample by place made two runs of one
        // capture evict different flows.
        let step = max(1, self.flows.count / 4096)
        var times: [Timestamp] = []
        times.reserveCapacity(self.flows.count / step + 1)
        for flow in self.flows where flow.id % step == 0 { times.append(flow.lastSeen) }
        if times.isEmpty { for flow in self.flows { times.append(flow.lastSeen) } }
        times.sort()
        let cutoff = times[min(times.count - 1, max(0, times.count / 4 - 1))]
        let ended = self.flows.flows { $0.lastSeen <= cutoff }
        for flow in Self.inIDOrder(ended) {
            flow.anomalies.insert(.evicted)
            self.flows.remove(flow.key)
            self.emitRecord(of: flow)
        }
        self.emitPending()
    }

    /// Closes out flows that ended (FIN/RST a little while ago) or went idle, so memory follows the number of
    /// live flows, not the size of the capture.
    private func sweep() {
        self.packetsSinceSweep = 0
        self.lastSweepSecond = self.latest.seconds
        let now = self.latest
        let tcpIdleTimeout = self.options.tcpIdleTimeout
        let udpIdleTimeout = self.options.udpIdleTimeout
        let ended = self.flows.flows { flow in
            let idle = now.seconds(since: flow.lastSeen)
            return flow.closed && idle > 5
                || flow.transport == .tcp && idle > tcpIdleTimeout
                || flow.transport != .tcp && idle > (flow.idleLimit == 0 ? udpIdleTimeout : Double(flow.idleLimit))
        }
        for flow in ended where !flow.closed && flow.transport == .tcp { flow.anomalies.insert(.idleTimeout) }
        for flow in Self.inIDOrder(ended) {
            self.flows.remove(flow.key)
            self.emitRecord(of: flow)
        }
        self.emitPending()
    }

    // MARK: - TCP

    private func tcp(_ packet: DecodedPacket, _ payload: UnsafeRawBufferPointer, _ flow: Flow, _ fromLow: Bool) {
        var sequence = packet.sequence
        if packet.flags.contains(.syn) {
            if !flow.rolesFixed {
                flow.clientIsLow = packet.flags.contains(.ack) ? !fromLow : fromLow
                flow.rolesFixed = true
                flow.clientBasis = .syn
            }
            flow.withDirection(fromLow: fromLow) {
                $0.synSequence = packet.sequence
                $0.nextSequence = packet.sequence &+ 1
                $0.sequenceKnown = true
            }
            sequence &+= 1
        }
        if packet.payloadLength > 0 {
            self.segment(flow, fromLow, sequence, payload, packet.payloadLength)
        }
        if packet.flags.contains(.fin) { flow.withDirection(fromLow: fromLow) { $0.finSeen = true } }
        if packet.flags.contains(.rst) { flow.reset = true }
        if flow.reset || (flow.low.finSeen && flow.high.finSeen) { flow.closed = true }
    }

    private func segment(
        _ flow: Flow, _ fromLow: Bool, _ sequence: UInt32,
        _ data: UnsafeRawBufferPointer, _ claimed: Int
    ) {
        guard flow.withDirection(fromLow: fromLow, { $0.inspecting }) else { return }
        if !flow.withDirection(fromLow: fromLow, { $0.sequenceKnown }) {
            flow.withDirection(fromLow: fromLow) {
                $0.nextSequence = sequence
                $0.sequenceKnown = true
            }
            if !flow.rolesFixed { flow.anomalies.insert(.midstream) }
        }
        let delta = Int32(bitPattern: sequence &- flow.withDirection(fromLow: fromLow) { $0.nextSequence })
        if delta > 0 {
            // Ahead of what we have: hold it until the hole fills, within limits.
            flow.anomalies.insert(.outOfOrder)
            let limit = self.options.reorderLimit
            guard
                flow.withDirection(
                    fromLow: fromLow, { $0.pendingBytes + data.count <= limit && $0.pending.count < 256 })
            else {
                self.gap(flow, fromLow)
                return
            }
            let segment = PendingSegment(sequence: sequence, bytes: Array(data), claimedLength: claimed)
            flow.withDirection(fromLow: fromLow) {
                let index =
                    $0.pending.firstIndex { Int32(bitPattern: $0.sequence &- sequence) > 0 } ?? $0.pending.endIndex
                $0.pending.insert(segment, at: index)
                $0.pendingBytes += data.count
            }
            return
        }
        let overlap = -Int(delta)  // not Int(-delta): -Int32.min overflows
        guard overlap < claimed else {
            flow.anomalies.insert(.retransmission)
            return
        }
        if overlap > 0 { flow.anomalies.insert(.retransmission) }
        self.deliver(flow, fromLow, data, claimed, skipping: overlap)
        self.drainPending(flow, fromLow)
    }

    /// Passes the new part of an in-order segment on, and notes a snap-length cut as a gap.
    private func deliver(
        _ flow: Flow, _ fromLow: Bool, _ data: UnsafeRawBufferPointer, _ claimed: Int, skipping overlap: Int
    ) {
        flow.withDirection(fromLow: fromLow) { $0.nextSequence &+= UInt32(truncatingIfNeeded: claimed - overlap) }
        if data.count > overlap {
            self.inspect(flow, fromLow, UnsafeRawBufferPointer(rebasing: data[overlap...]))
        }
        if data.count < claimed {
            // The snap length cut this packet: the bytes after it cannot be read in order.
            flow.truncated = true
            if flow.withDirection(fromLow: fromLow, { $0.inspecting }) { self.gap(flow, fromLow) }
        }
    }

    private func drainPending(_ flow: Flow, _ fromLow: Bool) {
        while let (first, nextSequence) = flow.withDirection(
            fromLow: fromLow,
            { direction -> (PendingSegment, UInt32)? in
                guard direction.inspecting, let first = direction.pending.first else { return nil }
                return (first, direction.nextSequence)
            })
        {
            let delta = Int32(bitPattern: first.sequence &- nextSequence)
            if delta > 0 { return }
            flow.withDirection(fromLow: fromLow) {
                $0.pending.removeFirst()
                $0.pendingBytes -= first.bytes.count
            }
            let overlap = -Int(delta)  // not Int(-delta): -Int32.min overflows
            guard overlap < first.claimedLength else { continue }
            first.bytes.withUnsafeBytes { bytes in
                self.deliver(flow, fromLow, bytes, first.claimedLength, skipping: overlap)
            }
        }
    }

    /// A hole that will not fill: stop reading this direction rather than parse across missing bytes.
    private func gap(_ flow: Flow, _ fromLow: Bool) {
        flow.anomalies.insert(fromLow ? .gapFromLow : .gapFromHigh)
        let side = flow.side(fromLow: fromLow)
        switch flow.phase {
        case .classifying:
            flow.withDirection(fromLow: fromLow) { $0.inspecting = false }
            self.classify(flow, final: true)
        case .plaintext:
            if side == .client { self.finishPlaintext(flow) }
        case .tunnelSetup:
            flow.withDirection(fromLow: fromLow) { $0.inspecting = false }
            self.openTunnel(flow, final: true)
        case .upgradeHandshake:
            flow.withDirection(fromLow: fromLow) { $0.inspecting = false }
            self.openUpgrade(flow, final: true)
        case .tls, .done:
            break
        }
        flow.withDirection(fromLow: fromLow) {
            $0.inspecting = false
            $0.pending = []
            $0.pendingBytes = 0
        }
    }

    // MARK: - UDP

    private func udp(_ packet: DecodedPacket, _ payload: UnsafeRawBufferPointer, _ flow: Flow, _ fromLow: Bool) {
        if packet.capturedPayloadLength < packet.payloadLength { flow.truncated = true }
        // IPsec NAT traversal (RFC 3948): on port 4500, a datagram that does not start with the four zero bytes of
        // the non-ESP marker (IKE) and is not a one-byte keepalive is ESP, its SPI first. Looked at on every
        // datagram, as IKE usually comes first on the same ports. The other port is 4500 too, or one a NAT chose
        // (never a system port): with a server's port (DNS's 53) it is a client that happened to pick 4500 (on a
        // host whose ephemeral range starts at 1024, one DNS query in 60,000 was taken for ESP). A QUIC client on
        // 4500 starts with a long header that is not an SPI of ESP's: the flow is QUIC.
        if (packet.sourcePort == 4500 && packet.destinationPort >= 1024
            || packet.destinationPort == 4500 && packet.sourcePort >= 1024) && payload.count >= 8
            && (payload[0] | payload[1] | payload[2] | payload[3]) != 0 && flow.quic == nil
            && (flow.proto == .ipsecESP || !QUICSession.recognise(payload).isQUIC)
        {
            self.esp(payload, flow, fromLow, udpEncapsulated: true)
            return
        }
        if flow.phase == .classifying, !payload.isEmpty {
            self.classifyDatagram(payload, flow, fromLow)
        } else if flow.wireGuardMessages > 0, !payload.isEmpty {
            self.followWireGuard(payload, flow, fromLow)
        } else if flow.quicShortHeaders != nil, !payload.isEmpty {
            self.followQUICShortHeaders(payload, flow, fromLow)
        }
        if let quic = flow.quic, !payload.isEmpty {
            quic.datagram(payload, from: flow.side(fromLow: fromLow))
            // A QUIC connection is over once idle past the timeout its client announced (RFC 9000 §10.1; the effective
            // one is never longer), not after UDP's 120 s: HTTP/3 clients announce 30 s or so, and a busy host's
            // connections held four times as long filled memory. 10 s more covers the three probe timeouts a peer may
            // wait beyond it and the closing period.
            if flow.idleLimit == 0, let seconds = quic.tls.quicIdleTimeoutSeconds {
                flow.idleLimit = UInt16(min(Double(seconds) + 10, self.options.udpIdleTimeout, 65_535))
            }
            return
        }
        if flow.proto == .dns, payload.count >= 12 {
            // A flow is one client port's exchange with a server: once every query has its answer it is over, and
            // ends after 5 s without packets as a TCP connection does after its FIN. Held for the 120 s idle timeout
            // instead, a resolver's traffic filled the flow table (5,000 queries a second: 600,000 flows open at
            // once, most of them then cut short as `evicted`).
            if payload[2] & 0x80 == 0 {
                if flow.dnsUnanswered < .max { flow.dnsUnanswered += 1 }
            } else if flow.dnsUnanswered > 0 {
                flow.dnsUnanswered -= 1
            }
            flow.closed = flow.dnsUnanswered == 0
        }
    }

    /// Classifies a UDP flow by its first datagram with a payload.
    private func classifyDatagram(_ payload: UnsafeRawBufferPointer, _ flow: Flow, _ fromLow: Bool) {
        if payload.count >= 14, payload[0] == 0x16, payload[1] == 0xfe, payload[2] >= 0xfc {
            flow.proto = .dtls
            flow.datagramDTLSVersion = UInt16(payload[1]) << 8 | UInt16(payload[2])
            // A DTLS handshake record from the first talker: a ClientHello (13-byte record header, then type 1).
            if payload[13] == 2 { flow.clientIsLow = !fromLow }
        } else if case let quic = QUICSession.recognise(payload), quic.isQUIC {
            flow.proto = .quic
            if quic.fromServer { flow.clientIsLow = !fromLow }
            flow.quic = QUICSession(certificates: self.certificates, keyLog: self.options.keyLog, lane: self.tlsLane)
        } else if ProtocolClassifier.isDNSMessage(payload, query: nil) {
            flow.proto = .dns
            let isResponse = payload[2] & 0x80 != 0
            flow.clientIsLow = isResponse ? !fromLow : fromLow
        } else if Self.wireGuardMessage(payload) != nil {
            // After DNS: a query without recursion desired, its id 0x0100 to 0x0400, has WireGuard's reserved zeros.
            flow.proto = .unknownBinary
            self.followWireGuard(payload, flow, fromLow)
        } else {
            flow.proto =
                ProtocolClassifier.isMostlyPrintable(payload, UnsafeRawBufferPointer(start: nil, count: 0))
                ? .unknownPlaintext : .unknownBinary
            if flow.proto == .unknownBinary && QUICShortHeaders.mayBeShortHeader(payload) {
                flow.quicShortHeaders = FlowQUICShortHeaders()
                self.followQUICShortHeaders(payload, flow, fromLow)
            }
        }
        flow.phase = .done
    }

    /// A datagram of a flow whose datagrams so far have QUIC's short header (see ``QUICShortHeaders``). Until enough
    /// of them each way show a connection, it is unknown binary data, as it was. Then it is QUIC joined mid-way: its
    /// handshake not seen (the client's certificate unknown), the client taken to be the side with the higher port,
    /// as for TCP joined mid-way.
    private func followQUICShortHeaders(_ payload: UnsafeRawBufferPointer, _ flow: Flow, _ fromLow: Bool) {
        guard let box = flow.quicShortHeaders else { return }
        switch box.watch.add(payload, fromLow: fromLow) {
        case .pending:
            return
        case .notQUIC:
            flow.quicShortHeaders = nil
        case .quic:
            flow.quicShortHeaders = nil
            flow.proto = .quic
            flow.anomalies.insert(.midstream)
            flow.clientIsLow = flow.key.lowPort > flow.key.highPort
            flow.clientBasis = .port
            let quic = QUICSession(certificates: self.certificates, keyLog: self.options.keyLog, lane: self.tlsLane)
            quic.joinedMidway(version: box.watch.version)
            flow.quic = quic
        }
    }

    /// A datagram of a flow that so far looks like WireGuard. A handshake message is proof enough; transport data (a
    /// capture that began after the handshake, which comes every two minutes) has only its reserved zeros and its
    /// alignment, so four such datagrams in a row are asked for before the flow is called encrypted. Until then it is
    /// unknown binary data, as it was; a datagram of another shape ends the following.
    private func followWireGuard(_ payload: UnsafeRawBufferPointer, _ flow: Flow, _ fromLow: Bool) {
        guard let type = Self.wireGuardMessage(payload) else {
            flow.wireGuardMessages = 0
            return
        }
        flow.wireGuardMessages &+= 1
        guard type == 1 || type == 2 || flow.wireGuardMessages >= 4 else { return }
        flow.proto = .wireguard
        flow.wireGuardMessages = 0
        // The initiator sends the first handshake message: the client.
        if type == 1 { flow.clientIsLow = fromLow } else if type == 2 { flow.clientIsLow = !fromLow }
    }

    /// The type of a WireGuard message (WireGuard paper §5.4): the type in the first byte, three reserved zero bytes;
    /// a handshake initiation is 148 bytes, a response 92, a cookie reply 64, transport data a 16-byte header and the
    /// encrypted packet padded to 16 bytes with its 16-byte tag. Nil for anything else.
    static func wireGuardMessage(_ payload: UnsafeRawBufferPointer) -> UInt8? {
        guard payload.count >= 32, payload[1] == 0, payload[2] == 0, payload[3] == 0 else { return nil }
        switch payload[0] {
        case 1 where payload.count == 148, 2 where payload.count == 92, 3 where payload.count == 64:
            return payload[0]
        case 4 where payload.count % 16 == 0:
            return 4
        default:
            return nil
        }
    }

    // MARK: - IPsec

    /// An ESP packet (`payload` starts with its header: the SPI, then the sequence number). Everything after them
    /// is encrypted: the flow is counted and its SPIs noted, nothing more.
    private func esp(_ payload: UnsafeRawBufferPointer, _ flow: Flow, _ fromLow: Bool, udpEncapsulated: Bool) {
        guard payload.count >= 4 else { return }
        let spi = UInt32(payload[0]) << 24 | UInt32(payload[1]) << 16 | UInt32(payload[2]) << 8 | UInt32(payload[3])
        let state = flow.esp ?? FlowESP(udpEncapsulated: udpEncapsulated)
        flow.esp = state
        state.note(spi, fromLow: fromLow)
        if flow.proto != .ipsecESP {
            flow.proto = .ipsecESP
            self.done(flow)
        }
    }

    // MARK: - Inspection

    /// In-order stream bytes from one side of a TCP flow.
    private func inspect(_ flow: Flow, _ fromLow: Bool, _ bytes: UnsafeRawBufferPointer) {
        // Past a WebSocket handshake, what is read is the messages' payloads, not the frames around them.
        if let webSocket = flow.webSocket, flow.phase != .done {
            let payload = webSocket.payload(bytes, fromClient: flow.side(fromLow: fromLow) == .client)
            if !payload.isEmpty { payload.withUnsafeBytes { self.inspectStream(flow, fromLow, $0) } }
            return
        }
        self.inspectStream(flow, fromLow, bytes)
    }

    /// ``inspect(_:_:_:)`` of the stream's content.
    private func inspectStream(_ flow: Flow, _ fromLow: Bool, _ bytes: UnsafeRawBufferPointer) {
        switch flow.phase {
        case .classifying:
            if bytes.count < self.options.inspectionWindow && flow.low.buffer.isEmpty && flow.high.buffer.isEmpty {
                self.classifyFirst(flow, fromLow, bytes)
            } else {
                self.keep(bytes, fromLow: fromLow, flow)
                self.classify(flow, final: false)
            }
        case .tls:
            let side = flow.side(fromLow: fromLow)
            if side == .server && flow.serverTLSPending {
                self.keep(bytes, fromLow: fromLow, flow)
                self.findServerHandover(flow)
            } else {
                flow.tls?.consume(bytes, from: side)
            }
            self.checkTLSProgress(flow)
        case .plaintext:
            let side = flow.side(fromLow: fromLow)
            // An h2c server's answers are read only as far as the window holds them: that is no limit of the
            // inspection of what the client sent.
            self.keep(bytes, fromLow: fromLow, flow, marking: side == .client || flow.etcd == nil)
            if flow.apiRequest?.awaitingAnswer == true { self.readAPIAnswer(flow, final: false) }
            if flow.etcd?.reader.wantsServer == true { self.readEtcd(flow, final: false) }
            if let proto = flow.proto, StartTLSDetector.canUpgrade(proto), side == .client {
                self.findClientHandover(flow, proto)
            }
            if flow.phase == .plaintext && side == .client
                && flow.withDirection(fromLow: fromLow, { $0.buffer.count }) >= self.options.inspectionWindow
            {
                self.finishPlaintext(flow)
            }
        case .tunnelSetup:
            self.keep(bytes, fromLow: fromLow, flow)
            self.openTunnel(flow, final: false)
        case .upgradeHandshake:
            // The server's bytes are kept to find its answer (an h2c switch may come after other answers): that they
            // fill the window is no limit of the inspection of what the client sent.
            self.keep(bytes, fromLow: fromLow, flow, marking: flow.side(fromLow: fromLow) == .client)
            self.openUpgrade(flow, final: false)
        case .done:
            flow.withDirection(fromLow: fromLow) { $0.inspecting = false }
        }
    }

    /// Keeps bytes of a side for inspection, within the window; `marking`: the flow's record says when bytes did not
    /// fit.
    private func keep(_ bytes: UnsafeRawBufferPointer, fromLow: Bool, _ flow: Flow, marking: Bool = true) {
        let room = self.options.inspectionWindow - flow.withDirection(fromLow: fromLow) { $0.buffer.count }
        if room <= 0 {
            if marking { flow.anomalies.insert(.inspectionLimit) }
            return
        }
        if bytes.count > room && marking { flow.anomalies.insert(.inspectionLimit) }
        flow.withDirection(fromLow: fromLow) {
            $0.buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes.prefix(room)))
        }
    }

    private func classify(_ flow: Flow, final: Bool) {
        guard flow.phase == .classifying else { return }
        let window = self.options.inspectionWindow
        let full =
            flow.withDirection(client: true, { $0.buffer.count }) >= window
            || flow.withDirection(client: false, { $0.buffer.count }) >= window
        let verdict = flow.withBuffer(client: true) { first in
            flow.withBuffer(client: false) { second in
                ProtocolClassifier.classify(
                    first: first, second: second, rolesKnown: flow.rolesFixed, final: final || full)
            }
        }
        guard let verdict else { return }
        self.settle(flow, verdict, final: final, full: full)
    }

    /// ``classify(_:final:)`` for bytes that arrive while neither side has anything kept (a flow's first segment,
    /// nearly always): they are classified where they lie, which gives the verdict that keeping them would (they fit
    /// in the window, so nothing would be cut). A TLS flow, settled by its ClientHello, then never copies them.
    private func classifyFirst(_ flow: Flow, _ fromLow: Bool, _ bytes: UnsafeRawBufferPointer) {
        let none = UnsafeRawBufferPointer(start: nil, count: 0)
        let fromClient = flow.side(fromLow: fromLow) == .client
        let verdict = ProtocolClassifier.classify(
            first: fromClient ? bytes : none, second: fromClient ? none : bytes, rolesKnown: flow.rolesFixed,
            final: false)
        guard let verdict, verdict.proto == .tls else {
            self.keep(bytes, fromLow: fromLow, flow)
            if let verdict { self.settle(flow, verdict, final: false, full: false) }
            return
        }
        self.adopt(verdict, flow)
        self.startTLS(flow).consume(bytes, from: flow.side(fromLow: fromLow))
        self.checkTLSProgress(flow)
    }

    /// Takes the classifier's word on the protocol, and on the roles unless a SYN fixed them.
    private func adopt(_ verdict: ProtocolClassifier.Verdict, _ flow: Flow) {
        if let firstIsClient = verdict.firstIsClient, !flow.rolesFixed {
            if !firstIsClient { flow.clientIsLow.toggle() }
            flow.clientBasis = .content
        }
        flow.proto = verdict.proto
    }

    /// Follows the flow as TLS from here on.
    private func startTLS(_ flow: Flow) -> TLSSession {
        let session = TLSSession(
            certificates: self.certificates, keyLog: self.options.keyLog, lane: self.tlsLane)
        flow.tls = session
        flow.phase = .tls
        return session
    }

    /// Acts on a verdict reached on the kept bytes (`full`: a side filled the window).
    private func settle(_ flow: Flow, _ verdict: ProtocolClassifier.Verdict, final: Bool, full: Bool) {
        self.adopt(verdict, flow)
        switch verdict.proto {
        case .tls:
            let session = self.startTLS(flow)
            flow.withBuffer(client: true) { session.consume($0, from: .client) }
            flow.withBuffer(client: false) { session.consume($0, from: .server) }
            flow.low.buffer = []
            flow.high.buffer = []
            self.checkTLSProgress(flow)
        case .socks4 where flow.tunnelHops.count < TunnelDetector.maximumDepth,
            .socks5 where flow.tunnelHops.count < TunnelDetector.maximumDepth:
            self.openTunnel(flow, final: final || full)
        case .http
        where flow.tunnelHops.count < TunnelDetector.maximumDepth
            && flow.withBuffer(client: true, TunnelDetector.isConnectRequest):
            self.openTunnel(flow, final: final || full)
        case .http where flow.upgrade == nil && flow.withBuffer(client: true, HTTPUpgrade.mayBeUpgradeRequest):
            self.openUpgrade(flow, final: final || full)
        case .http, .http2, .redis, .postgresql, .mysql, .mongodb, .memcached, .smtp, .ftp, .pop3, .imap, .ldap, .dns,
            .amqp, .kafka, .zookeeper, .xmpp, .irc, .mqtt, .nats, .stomp:
            self.followPlaintext(flow, verdict.proto, final: final)
        case .unknownPlaintext where flow.webSocket != nil:
            // An application's own messages over a WebSocket: a GraphQL client's `connection_init` among them.
            self.followPlaintext(flow, verdict.proto, final: final)
        default:
            self.done(flow)
        }
    }

    /// Follows a plaintext protocol: credentials from the client's bytes (within the inspection window), and the
    /// upgrade to TLS where the protocol has one.
    private func followPlaintext(_ flow: Flow, _ proto: ApplicationProtocol, final: Bool) {
        flow.phase = .plaintext
        if StartTLSDetector.canUpgrade(proto) {
            self.findClientHandover(flow, proto)
        } else if proto == .http, flow.apiRequest == nil,
            flow.withBuffer(client: true, HTTPAPIRequestShape.init) != .none
        {
            // The server's answer says whether a container engine's or etcd's API is speaking in clear (a request
            // line cut short is followed until it is whole).
            flow.apiRequest = FlowAPIRequest()
            self.readAPIAnswer(flow, final: final)
        } else if proto == .http2 {
            // The server's answers say whether etcd's API is speaking in clear.
            if flow.etcd == nil { flow.etcd = FlowEtcd() }
            self.readEtcd(flow, final: final)
        } else {
            flow.withDirection(client: false) {
                $0.buffer = []
                $0.inspecting = false
            }
        }
        if flow.phase == .plaintext
            && (final || flow.withDirection(client: true, { $0.buffer.count }) >= self.options.inspectionWindow)
        {
            self.finishPlaintext(flow)
        }
    }

    /// Reads the proxy handshake at the start of the flow; once the proxy granted the tunnel, the bytes after it
    /// are classified afresh, as the conversation with the destination (TLS, more often than not).
    private func openTunnel(_ flow: Flow, final: Bool) {
        flow.phase = .tunnelSetup
        // An HTTP CONNECT's request and answer are searched for their ends once per byte, however their bytes come;
        // the handshake is read when both are whole, or the flow stalls.
        if flow.withBuffer(client: true, TunnelDetector.isConnectRequest) {
            let scan = flow.connectHeaders ?? FlowHeaderScans()
            flow.connectHeaders = scan
            let clientEnd = flow.withBuffer(client: true) { scan.client.end(in: $0) }
            let serverEnd = clientEnd.flatMap { _ in flow.withBuffer(client: false) { scan.server.end(in: $0) } }
            if serverEnd == nil && !self.stalled(flow, final: final) { return }
        }
        let opening = flow.withBuffer(client: true) { clientBytes in
            flow.withBuffer(client: false) { TunnelDetector.open(client: clientBytes, server: $0) }
        }
        guard let opening else {
            self.done(flow)
            return
        }
        let stalled = self.stalled(flow, final: final)
        // Wait for the rest of the handshake, within the inspection window: a request or answer that never
        // completes (a length that lies, a response without the end of its headers) is settled as incomplete.
        if opening.hop.outcome == TunnelDetector.Outcome.incomplete && !stalled { return }
        if flow.tunnelHops.isEmpty { flow.tunnelProtocol = flow.proto }
        flow.tunnelHops.append(opening.hop)
        switch opening.hop.outcome {
        case TunnelDetector.Outcome.granted:
            flow.openingCredentials += opening.credentials
            flow.withDirection(client: true) { $0.buffer.removeFirst(min(opening.clientOffset, $0.buffer.count)) }
            flow.withDirection(client: false) { $0.buffer.removeFirst(min(opening.serverOffset, $0.buffer.count)) }
            flow.connectHeaders = nil  // the buffers start afresh: a CONNECT inside is searched from its start
            flow.proto = nil
            flow.rolesFixed = true  // the proxy handshake showed who the client is
            flow.phase = .classifying
            self.classify(flow, final: final)
        case _ where opening.hop.kind == "http-connect":
            // No tunnel (refused, or a request or response that never completed): what follows, a retry with
            // credentials or anything at all, is read as the HTTP it claims to be, and credentials are
            // extracted from the whole request stream.
            self.followPlaintext(flow, .http, final: stalled)
        default:
            flow.openingCredentials += opening.credentials
            self.done(flow)
        }
    }

    /// Reads an HTTP/1.1 upgrade's handshake (``HTTPUpgrade``): the request, once its headers are whole, for what it
    /// asks, then the server's answer. Accepted (`101`), what follows is read as the protocol the connection switched
    /// to. Not an upgrade after all (headers, now whole, that ask for none), refused, or never answered: the HTTP it
    /// is, its credentials read from the whole request stream.
    private func openUpgrade(_ flow: Flow, final: Bool) {
        flow.phase = .upgradeHandshake
        let upgrade = flow.upgrade ?? FlowUpgrade()
        flow.upgrade = upgrade
        let stalled = self.stalled(flow, final: final)
        // Each side's headers are searched for their end once per byte, however their bytes come.
        let clientEnd = flow.withBuffer(client: true) { upgrade.headers.client.end(in: $0) }
        if let clientEnd, !upgrade.requestRead {
            upgrade.requestRead = true
            upgrade.target = flow.withBuffer(client: true) {
                HTTPUpgrade.target(UnsafeRawBufferPointer(rebasing: $0[..<clientEnd]))
            }
        }
        if upgrade.requestRead && upgrade.target == nil { return self.followPlaintext(flow, .http, final: stalled) }
        guard let clientEnd, let target = upgrade.target else {
            // The request's headers are not whole yet.
            if stalled { self.followPlaintext(flow, .http, final: true) }
            return
        }
        switch target {
        case .webSocket:
            guard flow.withBuffer(client: false, { upgrade.headers.server.end(in: $0) }) != nil else {
                if stalled { self.followPlaintext(flow, .http, final: true) }
                return
            }
            self.openWebSocket(flow, upgrade, final: final)
        case .h2c:
            // The h2c scan reads the server's answers itself, each header block once.
            self.openH2C(flow, upgrade, requestEnd: clientEnd, stalled: stalled, final: final)
        }
    }

    /// Reads a WebSocket's handshake, both header blocks whole. Accepted, the frames after it are read for their
    /// messages, and those classified afresh as the flow's content (a broker's protocol, most often).
    private func openWebSocket(_ flow: Flow, _ upgrade: FlowUpgrade, final: Bool) {
        let handshake = flow.withBuffer(client: true) { clientBytes in
            flow.withBuffer(client: false) { WebSocket.handshake(client: clientBytes, server: $0) }
        }
        // Refused: an HTTP connection that goes on.
        guard let handshake, handshake.accepted else { return self.followPlaintext(flow, .http, final: final) }
        let webSocket = FlowWebSocket(handshake.summary)
        upgrade.webSocket = webSocket
        if handshake.summary.compression != nil {
            // Compressed messages are inflated as far as they can be inspected: the window, and room for a TLS
            // handshake that crosses the WebSocket whole (TLS reads on past the window). A few compressed bytes may
            // stand for megabytes.
            let limit = 4 * self.options.inspectionWindow
            webSocket.client = WebSocket.FrameReader(deflate: true, inflateLimit: limit)
            webSocket.server = WebSocket.FrameReader(deflate: true, inflateLimit: limit)
        }
        flow.openingCredentials += handshake.credentials
        for (client, offset) in [(true, handshake.clientOffset), (false, handshake.serverOffset)] {
            let payload = flow.withBuffer(client: client) { bytes in
                webSocket.payload(
                    UnsafeRawBufferPointer(rebasing: bytes[min(offset, bytes.count)...]), fromClient: client)
            }
            flow.withDirection(client: client) { $0.buffer = payload }
        }
        self.classifyAfterUpgrade(flow, final: final)
    }

    /// Reads an h2c upgrade's handshake, the request's headers whole. Switched (a `101` with `Upgrade: h2c`, to this
    /// request or a later one: ``HTTPUpgrade/H2CSwitchScan``), the client's bytes from its connection preface on and
    /// the server's after the `101` are classified afresh (HTTP/2, which the preface and the frames show), once the
    /// preface came or nothing more will. What came before (requests and any bodies) is HTTP/1.1: its credentials are
    /// read as HTTP/1's. Not switched within the window (a server without h2c answers in HTTP/1.1 and ignores the
    /// header), or the flow ends first: the HTTP connection it is.
    private func openH2C(_ flow: Flow, _ upgrade: FlowUpgrade, requestEnd: Int, stalled: Bool, final: Bool) {
        flow.withBuffer(client: false) { upgrade.h2cScan.readServer($0) }
        guard let serverOffset = upgrade.h2cScan.serverOffset else {
            if stalled || upgrade.h2cScan.ended { self.followPlaintext(flow, .http, final: final) }
            return
        }
        flow.withBuffer(client: true) { upgrade.h2cScan.readClient($0, requestEnd: requestEnd) }
        let clientCount = flow.withDirection(client: true, { $0.buffer.count })
        guard let clientOffset = upgrade.h2cScan.prefaceOffset ?? (stalled ? clientCount : nil) else { return }
        upgrade.h2c = H2CUpgradeSummary(
            path: flow.withBuffer(client: true) {
                HTTPUpgrade.path(UnsafeRawBufferPointer(rebasing: $0[..<requestEnd]))
            })
        flow.openingCredentials += flow.withBuffer(client: true) {
            CredentialExtractor.http(UnsafeRawBufferPointer(rebasing: $0[..<clientOffset]))
        }
        flow.withDirection(client: true) { $0.buffer.removeFirst(clientOffset) }
        flow.withDirection(client: false) { $0.buffer.removeFirst(min(serverOffset, $0.buffer.count)) }
        self.classifyAfterUpgrade(flow, final: final)
    }

    /// Classifies afresh what follows an upgrade's handshake, the buffers now holding it alone.
    private func classifyAfterUpgrade(_ flow: Flow, final: Bool) {
        flow.proto = nil
        flow.rolesFixed = true  // the handshake showed who the client is
        flow.phase = .classifying
        self.classify(flow, final: final)
    }

    /// Whether a handshake waiting for more bytes must be settled with what it has: the capture ended, a side filled
    /// the inspection window, or a side is no longer read.
    private func stalled(_ flow: Flow, final: Bool) -> Bool {
        let window = self.options.inspectionWindow
        return final || flow.withDirection(client: true, { $0.buffer.count }) >= window
            || flow.withDirection(client: false, { $0.buffer.count }) >= window
            || !flow.withDirection(client: true, { $0.inspecting })
            || !flow.withDirection(client: false, { $0.inspecting })
    }

    private func findClientHandover(_ flow: Flow, _ proto: ApplicationProtocol) {
        guard
            let offset = flow.withBuffer(
                client: true,
                {
                    StartTLSDetector.clientHandover(proto, client: $0)
                })
        else {
            return
        }
        // Credentials sent before the upgrade crossed in clear.
        flow.credentials = flow.withBuffer(client: true) {
            CredentialExtractor.extract(proto, client: UnsafeRawBufferPointer(rebasing: $0[..<offset]))
        }
        flow.starttls = true
        let session = self.startTLS(flow)
        flow.withBuffer(client: true) {
            session.consume(UnsafeRawBufferPointer(rebasing: $0[offset...]), from: .client)
        }
        flow.withDirection(client: true) { $0.buffer = [] }
        flow.serverTLSPending = true
        self.findServerHandover(flow)
    }

    private func findServerHandover(_ flow: Flow) {
        guard let proto = flow.proto, let session = flow.tls else { return }
        guard
            let offset = flow.withBuffer(
                client: false,
                {
                    StartTLSDetector.serverHandover(proto, server: $0)
                })
        else {
            if flow.withDirection(client: false, { $0.buffer.count }) >= self.options.inspectionWindow {
                // The window holds only the server's plaintext (answers before the STARTTLS: a directory's schema
                // read first fills it, and what did not fit was never kept): passed over, and the bytes after it
                // searched, for 64 windows at most (a server that goes on in clear). Its last five bytes stay: a
                // record header cut by the window's end is found once the rest comes.
                if flow.serverPlaintextWindowsPassed < 64 {
                    flow.serverPlaintextWindowsPassed += 1
                    flow.withDirection(client: false) { $0.buffer.removeFirst($0.buffer.count - 5) }
                } else {
                    flow.withDirection(client: false) { $0.inspecting = false }
                }
            }
            return
        }
        flow.serverTLSPending = false
        flow.withBuffer(client: false) {
            session.consume(UnsafeRawBufferPointer(rebasing: $0[offset...]), from: .server)
        }
        flow.withDirection(client: false) { $0.buffer = [] }
    }

    private func checkTLSProgress(_ flow: Flow) {
        guard let session = flow.tls else { return }
        if session.malformed { flow.anomalies.insert(.malformedTLS) }
        if session.isComplete { self.done(flow) }
    }

    /// Reads the answer to a request with the shape of a container engine's or etcd's API once its headers are whole
    /// (etcd's gateway: and the start of its body), or with what there is when `final`; the server's bytes are then no
    /// longer kept.
    private func readAPIAnswer(_ flow: Flow, final: Bool) {
        guard let request = flow.apiRequest, request.awaitingAnswer else { return }
        if request.shape == .incomplete {
            request.shape = flow.withBuffer(client: true, HTTPAPIRequestShape.init)
            switch request.shape {
            case .incomplete where !final: return  // the request line is still coming
            case .containerEngine, .etcd: break
            default: return self.stopReadingAPIAnswer(flow)  // not of an API's shape, or cut short for good
            }
        }
        let end = flow.withBuffer(client: false) { request.answerHeaders.end(in: $0) }
        let complete = final || !flow.withDirection(client: false, { $0.inspecting })
        guard end != nil || complete else { return }
        switch request.shape {
        case .etcd:
            let full = flow.withDirection(client: false, { $0.buffer.count }) >= self.options.inspectionWindow
            let answer = flow.withBuffer(client: true) { client in
                flow.withBuffer(client: false) { server in
                    end.map {
                        EtcdAPI.httpAnswer(
                            request: client, response: server, headersEnd: $0, complete: complete || full)
                    }
                }
            }
            if answer == .needsBody { return }
            if case .etcd(let summary)? = answer { request.etcd = summary }
        default:
            request.engine = flow.withBuffer(client: false) { server in
                end.flatMap { ContainerEngineAPI.answer(UnsafeRawBufferPointer(rebasing: server[..<$0])) }
            }
        }
        self.stopReadingAPIAnswer(flow)
    }

    /// The server's bytes are no longer kept (as for any other HTTP flow).
    private func stopReadingAPIAnswer(_ flow: Flow) {
        flow.apiRequest?.awaitingAnswer = false
        flow.withDirection(client: false) {
            $0.buffer = []
            $0.inspecting = false
        }
    }

    /// Reads an h2c flow's requests and answers for etcd's; once that is settled (or the server's bytes fill the
    /// window, or the flow ends), the server's bytes are no longer kept. Each side is read on from where it stopped.
    private func readEtcd(_ flow: Flow, final: Bool) {
        guard let etcd = flow.etcd, etcd.reader.wantsServer else { return }
        flow.withBuffer(client: true) { etcd.reader.readClient($0) }
        flow.withBuffer(client: false) { etcd.reader.readServer($0) }
        let full = flow.withDirection(client: false, { $0.buffer.count }) >= self.options.inspectionWindow
        if final || full || !etcd.reader.wantsServer || !flow.withDirection(client: false, { $0.inspecting }) {
            flow.withDirection(client: false) {
                $0.buffer = []
                $0.inspecting = false
            }
        }
    }

    private func finishPlaintext(_ flow: Flow) {
        guard flow.phase == .plaintext, let proto = flow.proto else { return }
        self.readAPIAnswer(flow, final: true)
        self.readEtcd(flow, final: true)
        // The methods the rest of the client's window names.
        if let etcd = flow.etcd { flow.withBuffer(client: true) { etcd.reader.readClient($0) } }
        flow.credentials = flow.withBuffer(client: true) { client in
            flow.withBuffer(client: false) { server in
                proto == .unknownPlaintext && flow.webSocket != nil
                    ? CredentialExtractor.graphQLWebSocketInit(client)
                    : CredentialExtractor.extract(proto, client: client, server: server)
            }
        }
        self.done(flow)
    }

    private func done(_ flow: Flow) {
        flow.phase = .done
        flow.low.release()
        flow.high.release()
        flow.tls?.releaseBuffers()
    }

    // MARK: - Records

    /// Writes the flow's record into the next slot of ``records``, and emits the batch when it is full.
    private func emitRecord(of flow: Flow) {
        // Out-of-order data still waiting means a hole never filled: a gap, not something to parse across.
        if !flow.low.pending.isEmpty {
            flow.anomalies.insert(.gapFromLow)
            flow.low.pending = []
        }
        if !flow.high.pending.isEmpty {
            flow.anomalies.insert(.gapFromHigh)
            flow.high.pending = []
        }
        if flow.phase == .tunnelSetup { self.openTunnel(flow, final: true) }
        if flow.phase == .upgradeHandshake { self.openUpgrade(flow, final: true) }
        if flow.phase == .classifying { self.classify(flow, final: true) }
        if flow.phase == .plaintext { self.finishPlaintext(flow) }
        let slot = self.pendingRecords
        let client = flow.clientIsLow ? flow.key.low : flow.key.high
        let server = flow.clientIsLow ? flow.key.high : flow.key.low
        var proto = flow.proto ?? .empty
        // A tunnel that nothing crossed is reported as the proxy protocol that opened it; an upgrade whose content is
        // no protocol Bulkhead knows (a WebSocket's messages of an application's own JSON, most often; an h2c upgrade
        // that nothing followed) as the HTTP that opened it.
        if proto == .empty, let outer = flow.tunnelProtocol { proto = outer }
        if flow.upgrade?.webSocket != nil || flow.upgrade?.h2c != nil,
            proto == .empty || proto == .unknownPlaintext || proto == .unknownBinary
        {
            proto = .http
        }
        var tunnel: TunnelRecord?
        if !flow.tunnelHops.isEmpty {
            let granted = flow.tunnelHops.last { $0.outcome == TunnelDetector.Outcome.granted }
            tunnel = TunnelRecord(proxy: server.description, destination: granted?.destination, hops: flow.tunnelHops)
        }
        // The session's summary is swapped into the record's rather than returned (see `TLSSession.finish(into:)`).
        if let session = flow.tls {
            session.finish(into: &self.records[slot].tls)
        } else {
            self.records[slot].tls = nil
        }
        if let quic = flow.quic {
            quic.finish(into: &self.records[slot].tls)
            if quic.tls.malformed { flow.anomalies.insert(.malformedTLS) }
        }
        if proto == .dtls {
            var summary = TLSSummary()
            if let version = flow.datagramDTLSVersion { summary.offeredVersions = [TLSRegistry.versionName(version)] }
            self.records[slot].tls = summary
        }
        if let session = flow.tls, session.malformed { flow.anomalies.insert(.malformedTLS) }
        var anomalies: [String] = []
        let gapToServer: FlowAnomalies = flow.clientIsLow ? .gapFromLow : .gapFromHigh
        let gapToClient: FlowAnomalies = flow.clientIsLow ? .gapFromHigh : .gapFromLow
        if flow.anomalies.contains(gapToServer) { anomalies.append("gap-to-server") }
        if flow.anomalies.contains(gapToClient) { anomalies.append("gap-to-client") }
        if flow.anomalies.contains(.midstream) { anomalies.append("midstream") }
        if flow.anomalies.contains(.outOfOrder) { anomalies.append("out-of-order") }
        if flow.anomalies.contains(.retransmission) { anomalies.append("retransmission") }
        if flow.anomalies.contains(.inspectionLimit) && proto != .tls && !flow.starttls {
            anomalies.append("inspection-limit")
        }
        if flow.anomalies.contains(.malformedTLS) { anomalies.append("malformed-tls") }
        if flow.anomalies.contains(.idleTimeout) { anomalies.append("idle-timeout") }
        if flow.anomalies.contains(.evicted) { anomalies.append("evicted") }
        self.records[slot].id = flow.id
        self.records[slot].client = client.description
        self.records[slot].server = server.description
        self.records[slot].clientBasis = flow.clientBasis
        self.records[slot].transport = flow.transport
        self.records[slot].proto = proto
        self.records[slot].encrypted = proto.isEncryptedByNature || flow.starttls
        self.records[slot].starttls = flow.starttls
        self.records[slot].credentials =
            flow.openingCredentials.isEmpty ? flow.credentials : flow.openingCredentials + flow.credentials
        self.records[slot].truncated = flow.truncated
        self.records[slot].anomalies = anomalies
        self.records[slot].firstSeen = flow.firstSeen
        self.records[slot].lastSeen = flow.lastSeen
        self.records[slot].packets = DirectionCounts(
            toServer: flow.withDirection(client: true, { $0.packets }),
            toClient: flow.withDirection(client: false, { $0.packets }))
        self.records[slot].bytes = DirectionCounts(
            toServer: flow.withDirection(client: true, { $0.payloadBytes }),
            toClient: flow.withDirection(client: false, { $0.payloadBytes }))
        self.records[slot].tunnel = tunnel
        self.records[slot].encapsulation = flow.encapsulation?.records(clientIsLow: flow.clientIsLow)
        self.records[slot].esp = flow.esp?.summary(clientIsLow: flow.clientIsLow)
        self.records[slot].quic = flow.quic?.summary
        self.records[slot].webSocket = flow.webSocket?.summary
        self.records[slot].h2cUpgrade = flow.upgrade?.h2c
        self.records[slot].containerEngineAPI = flow.apiRequest?.engine
        self.records[slot].etcdAPI = flow.etcd?.reader.summary ?? flow.apiRequest?.etcd
        let file = self.fileIndex(of: flow.id)
        if self.slotFiles[slot] != file {
            self.records[slot].file = self.files[file].name
            self.slotFiles[slot] = file
        }
        self.pendingRecords += 1
        if self.pendingRecords == Self.recordBatch { self.emitPending() }
    }

    /// Hands the records written so far to `emit`.
    private func emitPending() {
        // In place (inout): a record read out of the array to be passed on would be a copy of it (a retain and a
        // release of each of its strings and arrays).
        for pass in 0..<self.passes {
            for index in 0..<self.pendingRecords { self.emit(pass, &self.records[index]) }
        }
        self.pendingRecords = 0
    }
}
