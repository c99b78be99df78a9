import BulkheadModel
import CBulkheadPcap
import Foundation
import PacketAnalysis
import SystemCalls

#if canImport(Glibc)
    import Glibc
#endif

/// Live capture on container bridges with libpcap, analysed as packets arrive by the `analyze` engine
/// (``StreamingAnalysis``: no second pass over a file), optionally written to a pcapng file.
///
/// One thread does everything: every interface is opened non-blocking in immediate mode, and one `poll` waits
/// on all of them plus a ``CaptureStop`` pipe (signals, other threads) and the next deadline (duration,
/// progress). Each ready interface is drained with `pcap_dispatch`; each packet is written to the pcapng file
/// and handed to the analysis in the order it was read, so flow ids are frame numbers in the written file.
///
/// An interface that fails mid-capture (a Docker network removed, the bridge deleted) is closed and reported
/// in ``LiveCaptureResult/problems``; the others go on, and the result is marked incomplete.
public enum LiveCapture {
    /// The default snap length: whole packets (what tcpdump uses).
    public static let defaultSnapLength = 262_144

    /// Captures on `interfaces` until `duration` seconds have passed, `packets` packets were captured, or
    /// `stop` is requested (SIGINT/SIGTERM when its handlers are installed), whichever comes first. With
    /// neither `duration` nor `packets`, only `stop` ends it.
    ///
    /// - Parameters:
    ///   - interfaces: where to capture (``CaptureInterface/bridges(of:)`` for every Docker bridge network).
    ///   - filter: a BPF filter (tcpdump syntax) applied in the kernel on every interface.
    ///   - write: a pcapng file to write (atomically: a temporary file renamed into place at the end).
    ///   - snapLength: bytes kept of each packet.
    ///   - options: analysis knobs, as for `analyze` (`inspectionWindow`, `keyLog`…).
    ///   - names: who owns which address (``EndpointNames/init(inventory:)``), for flow endpoint names.
    ///   - stop: ends the capture early; made internally (and never requested) when nil.
    ///   - progressInterval: seconds between `progress` calls.
    ///   - progress: called on this thread once when every interface is open and capturing (`elapsedSeconds`
    ///     0: the moment to start generating traffic), then every `progressInterval` seconds.
    ///   - onFlow: each flow as it ends (on this thread); every flow is also in the result.
    /// - Throws: ``LiveCaptureError`` when capturing cannot start: permission (`permissionDenied`), an unknown
    ///   interface (`noSuchInterface`), a filter that does not compile (`badFilter`), an unsupported link type,
    ///   a capture file that cannot be created. Nothing is captured then.
    public static func run(
        interfaces: [CaptureInterface], duration: Double? = nil, packets: Int? = nil, filter: String? = nil,
        write: String? = nil, snapLength: Int = defaultSnapLength, options: AnalysisOptions = AnalysisOptions(),
        names: EndpointNames = EndpointNames(), stop: CaptureStop? = nil, progressInterval: Double = 5,
        progress: ((CaptureProgress) -> Void)? = nil, onFlow: ((LiveFlow) -> Void)? = nil
    ) throws(LiveCaptureError) -> LiveCaptureResult {
        guard !interfaces.isEmpty else {
            throw LiveCaptureError(
                .noInterfaces, "nothing to capture on: no interface given and no bridge network found")
        }
        let started = Date()
        let stopper: CaptureStop
        if let stop { stopper = stop } else { stopper = try CaptureStop() }
        var handles: [InterfaceHandle] = []
        for (index, interface) in interfaces.enumerated() {
            handles.append(try InterfaceHandle(interface, id: index, snapLength: snapLength, filter: filter))
        }
        var writer: PcapngWriter?
        if let write { writer = try PcapngWriter(path: write) }
        if let writer {
            for handle in handles {
                _ = writer.addInterface(
                    name: handle.name, linkType: handle.linkType, snapLength: UInt32(clamping: snapLength))
            }
            guard writer.flush() else {
                throw LiveCaptureError(
                    .cannotWrite, file: writer.path,
                    "cannot write the capture file: \(writer.writeError ?? "a write failed")")
            }
        }
        var flows: [LiveFlow] = []
        let analysis = StreamingAnalysis(options: options, file: write) { record, source in
            let flow = LiveFlow(
                record: record, interface: interfaces[source].name,
                clientName: names.name(ofEndpoint: record.client), serverName: names.name(ofEndpoint: record.server))
            flows.append(flow)
            onFlow?(flow)
        }
        let session = Session(handles: handles, writer: writer, analysis: analysis, limit: packets)
        let reason = session.loop(
            duration: duration, stop: stopper, progressInterval: progressInterval, progress: progress)

        // Wind down: statistics, close, end the open flows, write the file.
        var problems: [String] = []
        var reports: [InterfaceReport] = []
        let now = Self.wallClockNanoseconds()
        for handle in handles {
            let statistics = handle.statistics()
            if let writer, let statistics {
                writer.writeStatistics(
                    interface: UInt32(handle.id), timestampNanoseconds: now,
                    received: statistics.received, dropped: statistics.dropped)
            }
            handle.close()
            if let problem = handle.problem { problems.append("interface \(handle.name): \(problem)") }
            reports.append(
                InterfaceReport(
                    name: handle.name, network: handle.network, linkType: handle.linkType, snapLength: snapLength,
                    packets: handle.packets, bytes: handle.bytes, dropped: statistics?.dropped,
                    state: handle.problem == nil ? "captured" : "failed", problem: handle.problem))
        }
        let analysed = analysis.finish()
        var written: String?
        if let writer {
            do {
                try writer.commit()
                written = writer.path
            } catch {
                problems.append(error.description)
            }
        }
        flows.sort { $0.record.id < $1.record.id }
        var endpoints: [String: String] = [:]
        for flow in flows {
            for endpoint in [flow.record.client, flow.record.server] {
                if let address = EndpointNames.address(ofEndpoint: endpoint), let name = names.byAddress[address] {
                    endpoints[address.description] = name
                }
            }
        }
        return LiveCaptureResult(
            analysis: analysed, flows: flows, interfaces: reports, endpoints: endpoints, complete: problems.isEmpty,
            problems: problems, stoppedBy: reason, written: written, durationSeconds: Date().timeIntervalSince(started))
    }

    static func wallClockNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }
}

/// The capture loop's state, reachable from libpcap's C callback through its `user` pointer.
private final class Session {
    let handles: [InterfaceHandle]
    let writer: PcapngWriter?
    let analysis: StreamingAnalysis
    let limit: Int?
    var total = 0
    /// The interface `pcap_dispatch` is reading.
    var current = 0
    private var lastFlush = DispatchTime.now()

    init(handles: [InterfaceHandle], writer: PcapngWriter?, analysis: StreamingAnalysis, limit: Int?) {
        self.handles = handles
        self.writer = writer
        self.analysis = analysis
        self.limit = limit
    }

    /// One packet from libpcap: to the file, then to the analysis.
    func packet(_ header: pcap_pkthdr, _ data: UnsafePointer<UInt8>) {
        let handle = self.handles[self.current]
        let captured = Int(header.caplen)
        let fraction = UInt64(clamping: header.ts.tv_usec) * (handle.nanosecondTimestamps ? 1 : 1000)
        let seconds = Int64(header.ts.tv_sec)
        let bytes = UnsafeRawBufferPointer(start: data, count: captured)
        self.writer?.writePacket(
            interface: UInt32(handle.id), timestampNanoseconds: UInt64(clamping: seconds) &* 1_000_000_000 &+ fraction,
            originalLength: Int(header.len), bytes: bytes)
        self.analysis.process(
            CapturedPacket(
                timestamp: Timestamp(seconds: seconds, nanoseconds: UInt32(clamping: fraction)),
                linkType: handle.linkType,
                originalLength: Int(max(header.len, header.caplen)), bytes: bytes),
            source: handle.id)
        handle.packets &+= 1
        handle.bytes &+= UInt64(captured)
        self.total += 1
    }

    /// The stop pipe's token in the poller (the interfaces' are their indices).
    static let stopToken = UInt64.max

    /// Polls every interface until a stop condition; returns which.
    func loop(
        duration: Double?, stop: CaptureStop, progressInterval: Double,
        progress: ((CaptureProgress) -> Void)?
    ) -> CaptureStopReason {
        let start = DispatchTime.now().uptimeNanoseconds
        // Clamped to a year before the conversion: a Double past UInt64's range traps.
        let deadline = duration.map { start + UInt64(min(max(0, $0), 366 * 86_400) * 1e9) }
        let progressStep = UInt64(min(max(0.1, progressInterval), 86_400) * 1e9)
        var nextProgress = start + progressStep
        progress?(CaptureProgress(interfaces: self.handles.map { ($0.name, 0, 0) }, elapsedSeconds: 0))
        var nextExistenceCheck = start
        let context = Unmanaged.passUnretained(self).toOpaque()
        let callback: pcap_handler = { user, header, data in
            guard let user, let header, let data else { return }
            Unmanaged<Session>.fromOpaque(user).takeUnretainedValue().packet(header.pointee, data)
        }
        let poller: Poller
        do {
            poller = try Poller(capacity: 64)
            try poller.register(stop.pollDescriptor, interest: .readable, token: Self.stopToken)
        } catch {
            for handle in self.handles where handle.problem == nil { handle.fail("cannot wait for packets: \(error)") }
            return .interfacesFailed
        }
        // Handles registered with the poller, by index; a handle that fails leaves it.
        var watched = Set<Int>()
        var reason: CaptureStopReason
        while true {
            if stop.isRequested {
                reason = .signal
                break
            }
            if let limit = self.limit, self.total >= limit {
                reason = .packets
                break
            }
            let now = DispatchTime.now().uptimeNanoseconds
            if let deadline, now >= deadline {
                reason = .duration
                break
            }
            let active = self.handles.filter { $0.problem == nil }
            if active.isEmpty {
                reason = .interfacesFailed
                break
            }
            if now >= nextExistenceCheck {
                // A deleted interface does not always wake poll: look it up by name about once a second.
                nextExistenceCheck = now + 1_000_000_000
                for handle in active { handle.checkStillExists() }
            }
            if let progress, now >= nextProgress {
                nextProgress = now + progressStep
                progress(
                    CaptureProgress(
                        interfaces: self.handles.map { ($0.name, $0.packets, $0.bytes) },
                        elapsedSeconds: Double(now - start) / 1e9))
            }
            var wait = min(nextExistenceCheck, progress == nil ? UInt64.max : nextProgress)
            if let deadline { wait = min(wait, deadline) }
            let timeout = Int32(clamping: (wait > now ? wait - now : 0) / 1_000_000 + 1)
            for (index, handle) in self.handles.enumerated() {
                if handle.problem == nil, !watched.contains(index) {
                    do { try poller.register(handle.descriptor, interest: .readable, token: UInt64(index)) } catch {
                        handle.fail("cannot wait for packets: \(error)")
                        continue
                    }
                    watched.insert(index)
                } else if handle.problem != nil, watched.remove(index) != nil {
                    try? poller.deregister(handle.descriptor)  // its descriptor may be closed already
                }
            }
            let events: ArraySlice<PollEvent>
            do { events = try poller.wait(timeoutMilliseconds: timeout) } catch {
                for handle in self.handles where handle.problem == nil {
                    handle.fail("cannot wait for packets: \(error)")
                }
                continue  // every handle failed: the loop ends at its next check
            }
            for event in events where event.token != Self.stopToken {
                guard
                    let handle = self.handles.indices.contains(Int(event.token)) ? self.handles[Int(event.token)] : nil,
                    handle.problem == nil
                else { continue }
                self.dispatch(handle, callback: callback, context: context)
                if event.hasError || event.isHangUp { handle.checkStillExists() }
            }
            self.flushIfDue()
        }
        // Packets the kernel already holds were captured before the stop: take them too (not past --packets).
        if reason != .packets {
            for handle in self.handles where handle.problem == nil {
                if let limit = self.limit, self.total >= limit { break }
                self.dispatch(handle, callback: callback, context: context)
            }
        }
        return reason
    }

    private func dispatch(_ handle: InterfaceHandle, callback: pcap_handler, context: UnsafeMutableRawPointer) {
        guard let pcap = handle.pcap else { return }
        self.current = handle.id
        let count = self.limit.map { Int32(clamping: max(1, $0 - self.total)) } ?? -1
        let status = pcap_dispatch(pcap, count, callback, context.assumingMemoryBound(to: UInt8.self))
        if status < 0 && status != PCAP_ERROR_BREAK {
            let message = String(cString: pcap_geterr(pcap))
            handle.fail(message.isEmpty ? "capture failed" : message)
        }
    }

    private func flushIfDue() {
        guard let writer = self.writer else { return }
        let now = DispatchTime.now()
        if now.uptimeNanoseconds - self.lastFlush.uptimeNanoseconds >= 500_000_000 {
            self.lastFlush = now
            writer.flush()
        }
    }
}

/// One interface opened with libpcap.
private final class InterfaceHandle {
    let name: String
    let network: String?
    let id: Int
    private(set) var pcap: OpaquePointer?
    let linkType: UInt32
    let descriptor: Int32
    let nanosecondTimestamps: Bool
    /// The kernel's index of the interface when it was opened (a new interface of the same name is another one).
    let index: UInt32
    var packets: UInt64 = 0
    var bytes: UInt64 = 0
    private(set) var problem: String?
    private var lastStatistics: (received: UInt64, dropped: UInt64)?

    init(_ interface: CaptureInterface, id: Int, snapLength: Int, filter: String?) throws(LiveCaptureError) {
        self.name = interface.name
        self.network = interface.network
        self.id = id
        let name = interface.name
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        func errorText() -> String {
            String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        self.index = if_nametoindex(name)
        guard self.index != 0 else {
            throw LiveCaptureError(.noSuchInterface, interface: name, "no such interface")
        }
        guard let pcap = pcap_create(name, &errorBuffer) else {
            throw LiveCaptureError(.cannotCapture, interface: name, errorText())
        }
        pcap_set_snaplen(pcap, Int32(clamping: snapLength))
        pcap_set_promisc(pcap, 1)  // a bridge passes frames between its ports up to its own taps only when promiscuous
        pcap_set_immediate_mode(pcap, 1)
        pcap_set_buffer_size(pcap, 8 << 20)
        _ = pcap_set_tstamp_precision(pcap, Int32(PCAP_TSTAMP_PRECISION_NANO))
        let status = pcap_activate(pcap)
        if status < 0 {
            let detail = String(cString: pcap_geterr(pcap))
            pcap_close(pcap)
            switch status {
            case PCAP_ERROR_PERM_DENIED, PCAP_ERROR_PROMISC_PERM_DENIED:
                throw LiveCaptureError(
                    .permissionDenied, interface: name,
                    "permission denied: live capture needs root or the CAP_NET_RAW and CAP_NET_ADMIN capabilities (\(detail))"
                )
            case PCAP_ERROR_NO_SUCH_DEVICE:
                throw LiveCaptureError(.noSuchInterface, interface: name, "no such interface")
            case PCAP_ERROR_IFACE_NOT_UP:
                throw LiveCaptureError(.cannotCapture, interface: name, "the interface is down")
            default:
                throw LiveCaptureError(
                    .cannotCapture, interface: name,
                    detail.isEmpty ? "cannot capture (libpcap status \(status))" : detail)
            }
        }
        self.linkType = UInt32(bitPattern: pcap_datalink(pcap))
        guard LinkType.isSupported(self.linkType) else {
            pcap_close(pcap)
            throw LiveCaptureError(
                .unsupportedLinkType, interface: name, "link type \(self.linkType) is not one the analysis decodes")
        }
        if let filter {
            var program = bpf_program()
            guard pcap_compile(pcap, &program, filter, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
                let detail = String(cString: pcap_geterr(pcap))
                pcap_close(pcap)
                throw LiveCaptureError(
                    .badFilter, interface: name, "the filter \"\(filter)\" does not compile: \(detail)")
            }
            defer { pcap_freecode(&program) }
            guard pcap_setfilter(pcap, &program) == 0 else {
                let detail = String(cString: pcap_geterr(pcap))
                pcap_close(pcap)
                throw LiveCaptureError(.badFilter, interface: name, "the filter \"\(filter)\" cannot be set: \(detail)")
            }
        }
        guard pcap_setnonblock(pcap, 1, &errorBuffer) == 0 else {
            pcap_close(pcap)
            throw LiveCaptureError(
                .cannotCapture, interface: name, "cannot make the capture non-blocking: \(errorText())")
        }
        self.descriptor = pcap_get_selectable_fd(pcap)
        guard self.descriptor >= 0 else {
            pcap_close(pcap)
            throw LiveCaptureError(.cannotCapture, interface: name, "libpcap gives no descriptor to poll")
        }
        self.nanosecondTimestamps = pcap_get_tstamp_precision(pcap) == Int32(PCAP_TSTAMP_PRECISION_NANO)
        self.pcap = pcap
    }

    deinit { self.close() }

    /// Stops capturing on this interface, keeping what it captured, and records why.
    func fail(_ problem: String) {
        guard self.problem == nil else { return }
        self.lastStatistics = self.statistics()
        self.problem = problem
        self.close()
    }

    /// Fails the interface when it no longer exists (or its name now belongs to a new interface).
    func checkStillExists() {
        guard self.problem == nil else { return }
        if if_nametoindex(self.name) != self.index {
            self.fail("the interface disappeared during the capture (network removed?); packets until then are kept")
        }
    }

    /// Packets the kernel received and dropped (`pcap_stats`; the last known values once closed).
    func statistics() -> (received: UInt64, dropped: UInt64)? {
        guard let pcap = self.pcap else { return self.lastStatistics }
        var stats = pcap_stat()
        guard pcap_stats(pcap, &stats) == 0 else { return self.lastStatistics }
        return (UInt64(stats.ps_recv), UInt64(stats.ps_drop) + UInt64(stats.ps_ifdrop))
    }

    func close() {
        if let pcap = self.pcap { pcap_close(pcap) }
        self.pcap = nil
    }
}
