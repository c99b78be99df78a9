import BulkheadModel
import Certificates
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Which code reads capture files.
public enum CaptureReaderKind: String, Sendable, CaseIterable {
    /// Bulkhead's own memory-mapped pcap/pcapng walker (the default: fastest).
    case mmap
    /// libpcap's `pcap_next_ex` (the reference implementation).
    case libpcap
}

/// Progress of a long analysis, for a status line.
public struct AnalysisProgress: Sendable {
    public var file: String
    public var fileIndex: Int
    public var fileCount: Int
    public var packets: UInt64
    /// Captured bytes read so far in this file, and the file's size.
    public var bytes: UInt64
    public var fileSize: UInt64
}

/// The outcome of analysing capture files: findings, totals and the problems met on the way.
public struct CaptureAnalysisResult: Sendable {
    /// The findings, in the report's order; empty when they were too many to hold and are in ``spilledFindings``.
    public var findings: [Finding]
    /// The findings, when the analysis was asked to bound its memory (``AnalysisOptions/spillFindingsPast``) and they
    /// did not fit: read them back in order from here (``findings`` is then empty).
    public var spilledFindings: SpilledFindings?
    public var summary: AnalysisSummary
    /// What could not be examined (a damaged or truncated file, a bad file in a folder, an unreadable
    /// subfolder…); what came before the damage was analysed. Any of them makes the result incomplete.
    public var warnings: [CaptureError]
    /// The secrets used (from `--keylog` files and Decryption Secrets Blocks), with what matched.
    public var keyLog: KeyLog?

    /// Whether everything given was examined (see ``AnalysisSummary/complete``).
    public var complete: Bool { self.warnings.isEmpty }
}

/// One capture to analyse, and how it was named.
public struct CaptureInput: Hashable, Sendable {
    public var path: String
    /// Found by searching a folder: when it cannot be read, the others are still analysed (and the run is
    /// incomplete), where a file named on the command line that cannot be read stops the run at once.
    public var foundInFolder: Bool

    public init(path: String, foundInFolder: Bool = false) {
        self.path = path
        self.foundInFolder = foundInFolder
    }

    /// Whether this names standard input: `-`, or `/dev/stdin` (and its aliases) when that is not a regular
    /// file. A regular file redirected to standard input is mapped like any file.
    public var isStandardInputStream: Bool {
        if self.path == LibpcapCaptureReader.standardInput { return true }
        guard ["/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"].contains(self.path) else { return false }
        var info = stat()
        return fstat(STDIN_FILENO, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG
    }
}

/// The captures below the paths given, and the folders that could not be searched.
public struct CaptureInputs: Sendable {
    public var inputs: [CaptureInput]
    /// Subfolders that could not be listed (their captures are not analysed: the run is incomplete).
    public var problems: [CaptureError]

    /// Paths left out because they name a file already among the inputs (the same device and inode: the same
    /// path twice, a file named and found in a folder given too, a link to it), each with the path kept.
    public var duplicates: [(dropped: String, kept: String)] = []

    /// The paths of the inputs, in order.
    public var paths: [String] { self.inputs.map(\.path) }
}

/// A file's identity on the system (device and inode), whatever path or link names it.
private struct FileIdentity: Hashable {
    var device: UInt64
    var inode: UInt64

    /// The identity of what `path` names (links followed); nil when it cannot be examined (the run says so later).
    init?(_ path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        self.device = UInt64(info.st_dev)
        self.inode = UInt64(info.st_ino)
    }
}

/// Runs ``FlowAnalyzer`` over capture files and folders and totals the results.
public enum CaptureAnalysis {
    /// File name endings taken from folders (a file named explicitly is read whatever its name).
    public static let captureExtensions = ["pcap", "pcapng", "cap", "dmp"]

    /// Expands folders into the capture files below them (sorted), keeping explicit files as given and `-`
    /// (standard input).
    ///
    /// - Throws: ``CaptureError`` `unreadable` for a path that does not exist or cannot be examined, a folder
    ///   that cannot be listed, or one with no capture; each message names its own cause.
    public static func expand(_ paths: [String]) throws(CaptureError) -> CaptureInputs {
        var inputs: [CaptureInput] = []
        var problems: [CaptureError] = []
        for path in paths {
            if path == LibpcapCaptureReader.standardInput {
                inputs.append(CaptureInput(path: path))
                continue
            }
            var info = stat()
            guard stat(path, &info) == 0 else {
                let code = errno
                throw CaptureError(
                    .unreadable, path: path,
                    code == ENOENT ? "no such file or folder" : "cannot examine: \(RegularFile.describe(code))")
            }
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                inputs.append(CaptureInput(path: path))
                continue
            }
            var found: [String] = []
            let problemsBefore = problems.count
            try Self.search(path, into: &found, problems: &problems, top: true)
            // A folder whose subfolders could not all be listed may hold captures there: incomplete, not empty.
            guard !found.isEmpty || problems.count > problemsBefore else {
                throw CaptureError(
                    .unreadable, path: path,
                    "the folder holds no capture files (.pcap, .pcapng, .cap, .dmp, compressed or not)")
            }
            inputs += found.sorted().map { CaptureInput(path: $0, foundInFolder: true) }
        }
        return Self.withoutDuplicates(CaptureInputs(inputs: inputs, problems: problems))
    }

    /// `expanded` with each file kept once: a file given twice (`f.pcap f.pcap`, `dir dir/a.pcap`, a link and its
    /// target) would be analysed twice, its flows and findings counted twice. The first is kept, where it came (a
    /// rotated capture's order is by first packets anyway); named on the command line by any of its paths, it is
    /// taken as named (a problem with it stops the run). Standard input is not a file here (`- -` is refused later).
    static func withoutDuplicates(_ expanded: CaptureInputs) -> CaptureInputs {
        var result = expanded
        result.inputs = []
        var kept: [FileIdentity: Int] = [:]
        for input in expanded.inputs {
            guard !input.isStandardInputStream, let identity = FileIdentity(input.path) else {
                result.inputs.append(input)
                continue
            }
            if let index = kept[identity] {
                if !input.foundInFolder { result.inputs[index].foundInFolder = false }
                result.duplicates.append((dropped: input.path, kept: result.inputs[index].path))
                continue
            }
            kept[identity] = result.inputs.count
            result.inputs.append(input)
        }
        return result
    }

    /// Adds the capture files below `folder` to `found`. Symbolic links to folders are not followed (no loops); a
    /// subfolder that cannot be listed is a problem, the top folder an error.
    private static func search(_ folder: String, into found: inout [String], problems: inout [CaptureError], top: Bool)
        throws(CaptureError)
    {
        guard let directory = opendir(folder) else {
            let error = CaptureError(
                .unreadable, path: folder, "cannot list the folder: \(RegularFile.describe(errno))")
            if top { throw error }
            problems.append(error)
            return
        }
        defer { closedir(directory) }
        while true {
            errno = 0
            guard let entry = readdir(directory) else {
                if errno != 0 {
                    problems.append(
                        CaptureError(
                            .unreadable, path: folder, "cannot list the folder: \(RegularFile.describe(errno))"))
                }
                return
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let child = folder.hasSuffix("/") ? folder + name : folder + "/" + name
            var info = stat()
            guard lstat(child, &info) == 0 else {
                problems.append(
                    CaptureError(.unreadable, path: child, "cannot examine: \(RegularFile.describe(errno))"))
                continue
            }
            if (info.st_mode & S_IFMT) == S_IFDIR {
                try Self.search(child, into: &found, problems: &problems, top: false)
            } else if Self.isCaptureName(name) {
                found.append(child)
            }
        }
    }

    /// Whether a file found in a folder is taken as a capture: its name ends in one of ``captureExtensions``, or in one
    /// followed by a number, as `tcpdump -C` names the files after the first (`cap.pcap`, `cap.pcap1`, `cap.pcap2`…),
    /// either of them possibly followed by a compression's (`.gz`, `.zst`, `.xz`, `.bz2`, `.lz4`).
    static func isCaptureName(_ name: String) -> Bool {
        var lowered = name.lowercased()
        // Compressed (`cap.pcap.gz`, `cap.pcap3.gz` from `tcpdump -C … -z gzip`): gzip is read; the others are taken
        // too, so that the run names them as not read (incomplete) instead of passing over them in silence.
        if let compressed = CaptureCompression.fileExtensions.first(where: { lowered.hasSuffix("." + $0) }) {
            lowered.removeLast(compressed.count + 1)
        }
        let stem =
            lowered.utf8.last.map { (0x30...0x39).contains($0) } == true
            ? String(lowered.reversed().drop { $0.isASCII && $0.isNumber }.reversed()) : lowered
        return Self.captureExtensions.contains { stem.hasSuffix("." + $0) }
    }

    /// Analyses the files named (no folder search), as ``run(inputs:options:reader:progress:onFlow:)`` does.
    public static func run(
        files: [String], options: AnalysisOptions = AnalysisOptions(), reader: CaptureReaderKind = .mmap,
        progress: ((AnalysisProgress) -> Void)? = nil, onFlow: @escaping (FlowRecord) -> Void
    ) throws(CaptureError) -> CaptureAnalysisResult {
        try Self.run(
            inputs: files.map { CaptureInput(path: $0) }, options: options, reader: reader, progress: progress,
            onFlow: onFlow)
    }

    /// A capture opened for analysis: a mapped file, or standard input read by libpcap as it arrives.
    private enum OpenedCapture {
        case mapped(CaptureFile)
        /// Standard input.
        case stream(LibpcapCaptureReader)
        case compressed(CompressedCapture)

        var path: String {
            switch self {
            case .mapped(let file): file.path
            case .stream(let reader): reader.path
            case .compressed(let file): file.path
            }
        }

        /// What flow records name as their file (`-` for standard input).
        var recordedName: String {
            if case .stream = self { LibpcapCaptureReader.standardInput } else { self.path }
        }

        /// The file's size (0 for a stream, whose size is not known; a compressed file's compressed size).
        var size: Int {
            switch self {
            case .mapped(let file): file.fileSize
            case .stream: 0
            case .compressed(let file): file.size
            }
        }

        /// When its first packet was captured: nil for standard input (it cannot be looked into ahead) and a file
        /// without packets.
        var firstPacketTime: Timestamp? {
            switch self {
            case .mapped(let file): file.firstPacketTime()
            case .stream: nil
            case .compressed(let file): file.firstPacketTime
            }
        }
    }

    /// Analyses `inputs` in the order of their first packets (the order given when standard input is among them), as
    /// one capture where a file follows on from the one before (see ``FlowAnalyzer/nextFile(_:firstFrame:time:continues:)``:
    /// a rotated capture's flows go on across its files); each flow goes to `onFlow` as it ends.
    ///
    /// With the mmap reader and `options.threads > 1`, files of 64 MB or more together are analysed by that many lanes (threads): this
    /// thread walks the mapping and decodes every packet once, and each lane follows the flows whose key hashes to it
    /// (``ParallelAnalysis``), so the per-flow work is shared out while every flow is still seen in order by one
    /// thread. `onFlow` is then called from those threads, possibly at the same time: it must be thread-safe. To
    /// give each lane a receiver of its own instead (nothing shared, no lock per flow), use
    /// ``run(inputs:options:reader:problems:progress:receivers:)``. Standard input (`-`) and gzip-compressed files are
    /// read by libpcap as streams (the latter decompressed on a thread of their own), by one analyzer.
    ///
    /// - Throws: ``CaptureError`` for a file named on the command line that cannot be opened or is not a capture,
    ///   a FIFO, device or socket among them (never waited on: opened without blocking, and refused by its type).
    ///   Every input is opened and checked before any is analysed, so a bad path fails fast. A file found in a
    ///   folder that fails the same checks (a FIFO, device or socket too) is added to the result's problems and the
    ///   others are analysed.
    public static func run(
        inputs: [CaptureInput], options: AnalysisOptions = AnalysisOptions(), reader: CaptureReaderKind = .mmap,
        problems: [CaptureError] = [],
        progress: ((AnalysisProgress) -> Void)? = nil, onFlow: @escaping (FlowRecord) -> Void
    ) throws(CaptureError) -> CaptureAnalysisResult {
        try Self.run(
            inputs: inputs, options: options, reader: reader, problems: problems, progress: progress,
            receivers: { onFlow })
    }

    /// ``run(inputs:options:reader:problems:progress:onFlow:)`` with a flow receiver per lane: `receivers` is called
    /// once for each lane before the analysis starts, and the receiver it returns is then called from that lane's
    /// thread only (encoding a flow in the lane that ended it, into a buffer of the lane's own, is what lets a second
    /// core help).
    public static func run(
        inputs: [CaptureInput], options: AnalysisOptions = AnalysisOptions(), reader: CaptureReaderKind = .mmap,
        problems: [CaptureError] = [],
        progress: ((AnalysisProgress) -> Void)? = nil, receivers: @escaping () -> (FlowRecord) -> Void
    ) throws(CaptureError) -> CaptureAnalysisResult {
        let started = DispatchTime.now()
        var opened: [OpenedCapture] = []
        var warnings = problems
        for input in inputs {
            if input.isStandardInputStream {
                guard isatty(STDIN_FILENO) != 1 else {
                    throw CaptureError(
                        .notARegularFile, path: "standard input",
                        "is a terminal: pipe a capture into it (tcpdump -w - | bulkhead analyze -)")
                }
                guard !opened.contains(where: { if case .stream = $0 { true } else { false } }) else {
                    throw CaptureError(.unreadable, path: input.path, "standard input is named twice")
                }
                opened.append(.stream(try LibpcapCaptureReader(path: LibpcapCaptureReader.standardInput)))
                continue
            }
            do throws(CaptureError) {
                do throws(CaptureError) {
                    opened.append(.mapped(try CaptureFile(path: input.path)))
                } catch  where error.code == .notACapture && CompressedCapture.compression(of: input.path) == .gzip {
                    // Not a capture as it is: its first bytes are looked at again only then (one open per plain file).
                    opened.append(.compressed(try CompressedCapture(path: input.path)))
                }
            } catch {
                // Found in a folder, a file that cannot be read (a FIFO, a device, a socket or a link to one
                // included: opened without blocking, so it is refused at once) is that file's problem, not the run's.
                guard input.foundInFolder else { throw error }
                warnings.append(error)
            }
        }
        let collector = ResultCollector(receivers: receivers)
        if let limit = options.spillFindingsPast {
            collector.makeFindings = {
                FlowFindings(
                    spillingPast: limit, folder: options.findingsScratchFolder, sortBatch: options.findingsSortBatch)
            }
        }
        // Files are one capture only in time order: they are read in the order of their first packets (equal times,
        // and files without packets, in the order given), so a ring buffer that wrapped around, or `cap.pcap10`
        // named before `cap.pcap2`, still follows on. Standard input cannot be looked into ahead: with it, the order
        // given stands.
        let withStandardInput = opened.contains { if case .stream = $0 { true } else { false } }
        if opened.count > 1, !withStandardInput {
            let firstTimes = opened.map(\.firstPacketTime)
            let order = opened.indices.sorted { left, right in
                switch (firstTimes[left], firstTimes[right]) {
                case (let a?, let b?): a < b || (a == b && left < right)
                case (.some, nil): true
                case (nil, .some): false
                case (nil, nil): left < right
                }
            }
            opened = order.map { opened[$0] }
        }
        collector.summary.files = opened.map(\.path)
        var counters = PacketCounters()
        var framesBefore = 0
        let keyLog = options.keyLog ?? KeyLog()
        // Secrets embedded in a file are needed before its first TLS flow, and a flow may go on into the next file:
        // every file's are read up front.
        for source in opened {
            let secrets: [EmbeddedSecrets]
            switch source {
            case .mapped(let capture) where capture.format == .pcapng: secrets = try capture.scanEmbeddedSecrets()
            case .compressed(let file): secrets = file.embeddedSecrets
            default: continue
            }
            for secret in secrets where secret.type == EmbeddedSecrets.tlsKeyLog {
                keyLog.load(text: Data(secret.data), source: "\(source.path) (embedded Decryption Secrets Block)")
            }
        }
        // A pcapng stream's secrets blocks are met as it is read: the key log is then kept even while empty.
        let streamsMayHoldSecrets = opened.contains { source in
            switch source {
            case .mapped: false
            case .stream(let stream): stream.isPcapng
            case .compressed(let file): file.isPcapng
            }
        }
        var options = options
        options.keyLog = keyLog.isEmpty && !streamsMayHoldSecrets ? nil : keyLog
        // The files are read in turn by one analysis (one analyzer, or lanes) that a file may continue: a capture
        // rotated into many files (`tcpdump -C`/`-G`, a ring buffer) is analysed as the one capture it is, its flows
        // going on across the files, where an analysis per file cut every flow open at a boundary in two (the second
        // half read mid-stream and misclassified) and held every file's pages to the end. Lanes are used when the
        // files together are large enough.
        let mappedBytes = opened.reduce(0) { total, source in
            if case .mapped(let capture) = source { total + capture.fileSize } else { total }
        }
        // Lanes read packets in place in a mapping: with a stream among the inputs (standard input, a compressed
        // file), one analyzer reads them all.
        let allMapped = opened.allSatisfy { if case .mapped = $0 { true } else { false } }
        let threads =
            reader == .mmap && allMapped && mappedBytes >= options.shardingThreshold ? max(1, options.threads) : 1
        var single: FlowAnalyzer?
        var lanes: ParallelAnalysis?
        defer { lanes?.finish() }
        /// Ends the analysis the next file could have continued: its open flows end.
        func endAnalysis() {
            if let analyzer = single {
                analyzer.finish()
                counters += analyzer.counters
                single = nil
            }
            lanes?.finish()
            lanes = nil
        }
        for (index, source) in opened.enumerated() {
            // A compressed file's progress is told in compressed bytes, against its size.
            var decompressing: LibpcapCaptureReader?
            let report: (UInt64, UInt64) -> Void = { packets, bytes in
                progress?(
                    AnalysisProgress(
                        file: source.path, fileIndex: index, fileCount: opened.count, packets: packets,
                        bytes: decompressing?.compressedBytesRead ?? bytes, fileSize: UInt64(source.size)))
            }
            if case .mapped(let capture) = source, threads > 1 {
                // Each lane holds its share of the open flows.
                var laneOptions = options
                laneOptions.openFlowLimit = max(1024, options.openFlowLimit / threads)
                let analysis =
                    lanes
                    ?? ParallelAnalysis(
                        analyzers: (0..<threads).map { lane in
                            FlowAnalyzer(
                                options: laneOptions, framesBefore: framesBefore, file: capture.path,
                                passes: ResultCollector.Lane.passes, emit: collector.lane(lane).add(pass:_:))
                        })
                lanes = analysis
                let result = try analysis.feed(capture, framesBefore: framesBefore, report: report)
                counters += result.counters
                warnings += capture.warnings
                if let problem = CaptureError.undecodable(capture.path, result.counters) { warnings.append(problem) }
                framesBefore = result.frames
                continue
            }
            let continuing = single != nil
            let analyzer =
                single
                ?? FlowAnalyzer(
                    options: options, framesBefore: framesBefore, file: source.recordedName,
                    passes: ResultCollector.Lane.passes, emit: collector.lane(0).add(pass:_:))
            single = analyzer
            let before = analyzer.counters
            let feeding = Self.feeding(analyzer, file: continuing ? source.recordedName : nil, report: report)
            switch source {
            case .mapped(let capture):
                switch reader {
                case .mmap:
                    try capture.forEachPacket(feeding)
                    warnings.append(contentsOf: capture.warnings)
                case .libpcap:
                    do throws(CaptureError) {
                        let libpcap = try LibpcapCaptureReader(path: capture.path)
                        if let problem = libpcap.forEachPacket(feeding) { warnings.append(problem) }
                    } catch {
                        // The mapped header passed; what libpcap refuses beyond it (a pcapng interface of a link type
                        // not decoded) leaves this file unexamined.
                        warnings.append(error)
                    }
                }
                // Done with: its pages go (the analysis of many small files held them all to the end).
                capture.releaseAllPages()
            case .stream(let stream):
                let problem = stream.forEachPacket(
                    secrets: { found, before in
                        Self.take(found, packetsBefore: before, from: stream.path, into: keyLog, warnings: &warnings)
                    }, feeding)
                if let problem { warnings.append(problem) }
            case .compressed(let file):
                do throws(CaptureError) {
                    // Opened in its turn, closed (its decompressing thread ended) before the next.
                    let opened = try file.open()
                    decompressing = opened
                    let problem = opened.forEachPacket(
                        secrets: { found, before in
                            Self.take(found, packetsBefore: before, from: file.path, into: keyLog, warnings: &warnings)
                        }, feeding)
                    if let problem { warnings.append(problem) }
                    decompressing = nil
                } catch {
                    // Checked when the inputs were opened; changed or damaged since.
                    warnings.append(error)
                }
            }
            report(analyzer.counters.packets - before.packets, analyzer.counters.bytes - before.bytes)
            if let problem = CaptureError.undecodable(source.path, analyzer.counters.since(before)) {
                warnings.append(problem)
            }
            framesBefore = analyzer.frameNumber
        }
        endAnalysis()
        return Self.result(collector, counters: counters, warnings: warnings, keyLog: keyLog, started: started)
    }

    /// Takes the secrets of a Decryption Secrets Block met in a stream into the key log (a block that cannot be read
    /// is a problem, as in a file). From a stream, a block serves only the connections after it (a file's are all
    /// found before its packets): its key log line says how many packets came first.
    private static func take(
        _ found: PcapngStreamSecrets.Found, packetsBefore: Int, from path: String, into keyLog: KeyLog,
        warnings: inout [CaptureError]
    ) {
        switch found.secrets {
        case .success(let secrets) where secrets.type == EmbeddedSecrets.tlsKeyLog:
            let place = packetsBefore == 0 ? "" : ", read after \(packetsBefore) packets"
            keyLog.load(text: Data(secrets.data), source: "\(path) (embedded Decryption Secrets Block\(place))")
        case .success:
            break  // secrets of another kind (WireGuard, ZigBee…)
        case .failure(let problem):
            warnings.append(problem)
        }
    }

    /// The per-packet call for a single-threaded analysis, with a progress report (of this file's packets) every 2^20
    /// packets. With `file`, the packets are a next file for `analyzer`, told before the first whether it continues
    /// the capture (see ``FlowAnalyzer/nextFile(_:firstFrame:time:continues:)``): it does when its first packet is no
    /// earlier than the latest before it.
    private static func feeding(
        _ analyzer: FlowAnalyzer, file: String?, report: @escaping (UInt64, UInt64) -> Void
    ) -> (borrowing CapturedPacket) -> Void {
        var sinceProgress = 0
        var next = file
        let before = analyzer.counters
        return { packet in
            if let name = next {
                next = nil
                analyzer.nextFile(
                    name, firstFrame: analyzer.frameNumber + 1, time: packet.timestamp,
                    continues: FlowAnalyzer.continues(first: packet.timestamp, after: analyzer.latestTime))
            }
            analyzer.process(packet)
            sinceProgress &+= 1
            if sinceProgress == 1 << 20 {
                sinceProgress = 0
                report(analyzer.counters.packets - before.packets, analyzer.counters.bytes - before.bytes)
            }
        }
    }

    /// The totals of a finished run: packet counters into the summary, findings folded, key log lines, duration.
    /// Shared by ``run(files:options:reader:progress:onFlow:)`` and ``StreamingAnalysis``.
    static func result(
        _ collector: ResultCollector, counters: PacketCounters, warnings: [CaptureError], keyLog: KeyLog,
        started: DispatchTime
    ) -> CaptureAnalysisResult {
        var summary = collector.flowSummary
        summary.packets = counters.packets
        summary.bytes = counters.bytes
        summary.otherPackets = counters.other
        summary.ipFragments = counters.fragments
        summary.truncatedPackets = counters.truncated
        summary.malformedPackets = counters.malformed
        var warnings = warnings
        var all: [Finding] = []
        var spilled: SpilledFindings?
        do {
            switch try collector.takeFindings() {
            case .inMemory(let findings): all = findings
            case .spilled(let findings):
                spilled = findings
                for (severity, count) in findings.countsBySeverity {
                    summary.findingsBySeverity[severity.rawValue, default: 0] += count
                }
            }
        } catch {
            warnings.append(
                CaptureError(
                    .unreadable, path: collector.findingsFolder,
                    "the findings written out to a scratch file here could not be read back (\(error)): they are missing"
                ))
        }
        // Counted by case, then named once per severity: a loop binding each finding copied it (a retain of each of
        // its strings) and hashed its severity's name, once per finding, on the single thread that ends the run.
        let severities: [Severity] = [.info, .low, .medium, .high, .critical]
        var bySeverity = [Int](repeating: 0, count: severities.count)
        for index in all.indices {
            switch all[index].severity {
            case .info: bySeverity[0] += 1
            case .low: bySeverity[1] += 1
            case .medium: bySeverity[2] += 1
            case .high: bySeverity[3] += 1
            case .critical: bySeverity[4] += 1
            }
        }
        for (severity, count) in zip(severities, bySeverity) where count > 0 {
            summary.findingsBySeverity[severity.rawValue, default: 0] += count
        }
        if keyLog.hasSources { summary.keyLogs = keyLog.summaryLines }
        summary.problems = warnings.map(\.problem)
        summary.complete = warnings.isEmpty
        summary.durationSeconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        return CaptureAnalysisResult(
            findings: all, spilledFindings: spilled, summary: summary, warnings: warnings,
            keyLog: keyLog.hasSources ? keyLog : nil)
    }

    /// Counts what `record` is into `counts` and folds its findings into `findings`.
    static func tally(_ record: FlowRecord, _ counts: inout FlowCounts, _ findings: inout FlowFindings) {
        counts.flows += 1
        counts.byProtocol[record.proto, default: 0] += 1
        if record.encrypted {
            counts.encrypted += 1
        } else if record.proto != .empty && record.proto != .unknownBinary {
            counts.plaintext += 1
        }
        // The fields are read in place: binding `record.tls` would copy the summary (a retain of each of its
        // strings and arrays, and their releases).
        if record.hasTLSHandshake, let clientCertificate = record.tls?.clientCertificate {
            counts.tls += 1
            counts.byClientCertificate[clientCertificate, default: 0] += 1
            if clientCertificate.isPresented { counts.mutualTLS += 1 }
            if record.tls?.decrypted == true { counts.decrypted += 1 }
        }
        findings.add(record)
    }
}

/// The flow totals of a run, kept by enum while flows arrive (hashing a case is cheaper than hashing its name, once
/// per flow) and written into the summary's named counts at the end.
struct FlowCounts {
    var flows = 0
    var encrypted = 0
    var plaintext = 0
    var tls = 0
    var mutualTLS = 0
    var decrypted = 0
    var byProtocol: [ApplicationProtocol: Int] = [:]
    var byClientCertificate: [ClientCertificateState: Int] = [:]

    func add(to summary: inout AnalysisSummary) {
        summary.flows += self.flows
        summary.encryptedFlows += self.encrypted
        summary.plaintextFlows += self.plaintext
        summary.tlsFlows += self.tls
        summary.mutualTLSFlows += self.mutualTLS
        summary.decryptedFlows += self.decrypted
        for (proto, count) in self.byProtocol { summary.byProtocol[proto.rawValue, default: 0] += count }
        for (state, count) in self.byClientCertificate {
            summary.byClientCertificate[state.rawValue, default: 0] += count
        }
    }
}

/// Gathers the flow records of an analysis: totals and findings, and each record handed on to where the flows go.
///
/// Every analysis lane (thread) gets a ``Lane`` of its own, with its own totals, findings and flow receiver, so lanes
/// never wait on one another for the flows they end (one shared tally under a lock had them queueing for it on every
/// flow). The lanes' tallies are merged once they are done; folding is independent of the order flows arrive in, so
/// the merge gives what one tally would have.
///
/// `@unchecked Sendable`: `lanes` is guarded by `lock`; a lane is used by one thread at a time, and read by
/// ``flowSummary`` and ``findings`` only after every lane has finished.
package final class ResultCollector: @unchecked Sendable {
    /// One lane's tally and flow receiver.
    ///
    /// `@unchecked Sendable`: used by its lane's thread alone until the lanes are joined.
    package final class Lane: @unchecked Sendable {
        fileprivate var counts = FlowCounts()
        fileprivate var findings: FlowFindings
        private let receive: (FlowRecord) -> Void

        fileprivate init(findings: FlowFindings, receive: @escaping (FlowRecord) -> Void) {
            self.findings = findings
            self.receive = receive
        }

        /// Counts `record`, folds what it shows into the lane's findings, and hands it on.
        package func add(_ record: FlowRecord) {
            CaptureAnalysis.tally(record, &self.counts, &self.findings)
            self.receive(record)
        }

        /// The stages of ``add(_:)`` as passes over a batch of records (see ``FlowAnalyzer/recordBatch``): pass 0
        /// counts and folds, pass 1 hands on.
        package static let passes = 2

        /// Pass `pass` of ``add(_:)`` over `record` (a receiver for ``FlowAnalyzer``'s batches).
        package func add(pass: Int, _ record: inout FlowRecord) {
            if pass == 0 {
                CaptureAnalysis.tally(record, &self.counts, &self.findings)
            } else {
                self.receive(record)
            }
        }
    }

    private let lock = NSLock()
    private let makeReceiver: () -> (FlowRecord) -> Void
    private var lanes: [Lane] = []
    /// The summary's fields other than the flow counts (files, set before the run).
    var summary = AnalysisSummary()
    /// Makes each lane's findings (set before the run): held in memory, or written out past a limit.
    var makeFindings: @Sendable () -> FlowFindings = { FlowFindings() }

    /// Where the lanes write out their findings, for messages.
    var findingsFolder: String { self.makeFindings().spillFolder }

    /// - Parameter makeReceiver: makes the flow receiver of each new lane, called once per lane; each receiver is
    ///   then called from its lane's thread only.
    package init(receivers makeReceiver: @escaping () -> (FlowRecord) -> Void) {
        self.makeReceiver = makeReceiver
    }

    /// Every lane hands its flows to `onFlow`, which must then be safe to call from several threads at once.
    package convenience init(onFlow: @escaping (FlowRecord) -> Void) {
        self.init(receivers: { onFlow })
    }

    /// Lane number `index` (made on first use): files analysed one after the other reuse the same lanes, so a
    /// folder of many files costs no more tallies than threads.
    package func lane(_ index: Int) -> Lane {
        self.lock.withLock {
            while self.lanes.count <= index {
                self.lanes.append(Lane(findings: self.makeFindings(), receive: self.makeReceiver()))
            }
            return self.lanes[index]
        }
    }

    /// The summary so far: the files and the flow counts of every lane (``CaptureAnalysis/result(_:counters:warnings:keyLog:started:)``
    /// adds the packet counters and the findings).
    package var flowSummary: AnalysisSummary {
        var summary = self.summary
        for lane in self.lock.withLock({ self.lanes }) { lane.counts.add(to: &summary) }
        return summary
    }

    /// The findings of every lane, folded together and written out (see ``FlowFindings/all(of:)``), taken out of the
    /// lanes, which are left empty.
    func takeFindings() throws -> SpilledFindings.Gathered {
        let folds = self.lock.withLock {
            self.lanes.map { lane in
                defer { lane.findings = FlowFindings() }
                return lane.findings
            }
        }
        return try FlowFindings.gathered(of: folds)
    }
}
