import BulkheadModel
import Certificates
import Foundation

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
    public var findings: [Finding]
    public var summary: AnalysisSummary
    /// Damage found in the files (a truncated last record…); what came before it was analysed.
    public var warnings: [CaptureError]
    /// The secrets used (from `--keylog` files and Decryption Secrets Blocks), with what matched.
    public var keyLog: KeyLog?
}

/// Runs ``FlowAnalyzer`` over capture files and folders and totals the results.
public enum CaptureAnalysis {
    /// File name endings taken from folders (a file named explicitly is read whatever its name).
    public static let captureExtensions = ["pcap", "pcapng", "cap", "dmp"]

    /// Expands folders into the capture files below them (sorted), keeping explicit files as given.
    ///
    /// - Throws: ``CaptureError`` `unreadable` for a path that does not exist, or a folder with no capture.
    public static func expand(_ paths: [String]) throws(CaptureError) -> [String] {
        var files: [String] = []
        let manager = FileManager.default
        for path in paths {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw CaptureError(.unreadable, path: path, "no such file or folder")
            }
            guard isDirectory.boolValue else {
                files.append(path)
                continue
            }
            guard let enumerator = manager.enumerator(atPath: path) else {
                throw CaptureError(.unreadable, path: path, "cannot list the folder")
            }
            var found: [String] = []
            while let entry = enumerator.nextObject() as? String {
                let lower = entry.lowercased()
                if captureExtensions.contains(where: { lower.hasSuffix("." + $0) }) {
                    found.append(path.hasSuffix("/") ? path + entry : path + "/" + entry)
                }
            }
            guard !found.isEmpty else {
                throw CaptureError(.unreadable, path: path, "the folder holds no capture files (.pcap, .pcapng, .cap)")
            }
            files.append(contentsOf: found.sorted())
        }
        return files
    }

    /// Analyses `files` one after the other (flows never span files); each flow goes to `onFlow` as it ends.
    ///
    /// With the mmap reader and `options.threads > 1`, a large file is analysed by that many threads: each walks
    /// the whole mapping and decodes every packet, but follows only the flows whose key hashes to it, so the
    /// per-flow work is shared out while every flow is still seen in order by one thread. `onFlow` is then
    /// called from those threads, one call at a time.
    ///
    /// - Throws: ``CaptureError`` for a file that cannot be opened or is not a capture. Every file is opened
    ///   and checked before any is analysed, so a bad path fails fast.
    public static func run(
        files: [String], options: AnalysisOptions = AnalysisOptions(), reader: CaptureReaderKind = .mmap,
        progress: ((AnalysisProgress) -> Void)? = nil, onFlow: @escaping (FlowRecord) -> Void
    ) throws(CaptureError) -> CaptureAnalysisResult {
        let started = DispatchTime.now()
        var opened: [CaptureFile] = []
        for file in files { opened.append(try CaptureFile(path: file)) }
        let collector = ResultCollector(onFlow: onFlow)
        collector.summary.files = files
        var warnings: [CaptureError] = []
        var counters = PacketCounters()
        var framesBefore = 0
        let keyLog = options.keyLog ?? KeyLog()
        for (index, capture) in opened.enumerated() {
            // Secrets embedded in the file are needed before its first TLS flow: read them up front.
            if capture.format == .pcapng {
                for secret in try capture.scanEmbeddedSecrets() where secret.type == EmbeddedSecrets.tlsKeyLog {
                    keyLog.load(text: Data(secret.data), source: "\(capture.path) (embedded Decryption Secrets Block)")
                }
            }
            var options = options
            options.keyLog = keyLog.isEmpty ? nil : keyLog
            let report: (UInt64, UInt64) -> Void = { packets, bytes in
                progress?(AnalysisProgress(
                    file: capture.path, fileIndex: index, fileCount: opened.count, packets: packets, bytes: bytes,
                    fileSize: UInt64(capture.fileSize)))
            }
            let threads = reader == .mmap && capture.fileSize >= options.shardingThreshold ? max(1, options.threads) : 1
            let frames: Int
            if threads > 1 {
                let result = try Self.sharded(capture, threads: threads, options: options, framesBefore: framesBefore,
                                              collector: collector, report: report)
                counters += result.counters
                warnings += result.warnings
                frames = result.frames
            } else {
                let analyzer = FlowAnalyzer(options: options, framesBefore: framesBefore, file: capture.path, emit: collector.add)
                var sinceProgress = 0
                let perPacket: (borrowing CapturedPacket) -> Void = { packet in
                    analyzer.process(packet)
                    sinceProgress &+= 1
                    if sinceProgress == 1 << 20 {
                        sinceProgress = 0
                        report(analyzer.counters.packets, analyzer.counters.bytes)
                    }
                }
                switch reader {
                case .mmap:
                    try capture.forEachPacket(perPacket)
                    warnings.append(contentsOf: capture.warnings)
                case .libpcap:
                    let libpcap = try LibpcapCaptureReader(path: capture.path)
                    if let problem = libpcap.forEachPacket(perPacket) { warnings.append(problem) }
                }
                analyzer.finish()
                report(analyzer.counters.packets, analyzer.counters.bytes)
                counters += analyzer.counters
                frames = analyzer.frameNumber
            }
            framesBefore = frames
        }
        return Self.result(collector, counters: counters, warnings: warnings, keyLog: keyLog, started: started)
    }

    /// The totals of a finished run: packet counters into the summary, findings folded, key log lines, duration.
    /// Shared by ``run(files:options:reader:progress:onFlow:)`` and ``StreamingAnalysis``.
    static func result(
        _ collector: ResultCollector, counters: PacketCounters, warnings: [CaptureError], keyLog: KeyLog, started: DispatchTime
    ) -> CaptureAnalysisResult {
        var summary = collector.summary
        summary.packets = counters.packets
        summary.bytes = counters.bytes
        summary.otherPackets = counters.other
        summary.ipFragments = counters.fragments
        summary.truncatedPackets = counters.truncated
        summary.malformedPackets = counters.malformed
        let all = collector.findings.all
        for finding in all { summary.findingsBySeverity[finding.severity.rawValue, default: 0] += 1 }
        if keyLog.hasSources { summary.keyLogs = keyLog.summaryLines }
        summary.durationSeconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        return CaptureAnalysisResult(findings: all, summary: summary, warnings: warnings, keyLog: keyLog.hasSources ? keyLog : nil)
    }

    /// Analyses one mapped file with `threads` flow lanes fed by this thread (see ``ParallelAnalysis``).
    private static func sharded(
        _ capture: CaptureFile, threads: Int, options: AnalysisOptions, framesBefore: Int, collector: ResultCollector,
        report: @escaping (UInt64, UInt64) -> Void
    ) throws(CaptureError) -> (counters: PacketCounters, warnings: [CaptureError], frames: Int) {
        let analyzers = (0..<threads).map { _ in
            FlowAnalyzer(options: options, framesBefore: framesBefore, file: capture.path, emit: collector.add)
        }
        let result = try ParallelAnalysis(analyzers: analyzers).run(capture, framesBefore: framesBefore, report: report)
        return (result.counters, capture.warnings, result.frames)
    }

    static func tally(_ record: FlowRecord, _ summary: inout AnalysisSummary, _ findings: inout FlowFindings) {
        summary.flows += 1
        summary.byProtocol[record.proto.rawValue, default: 0] += 1
        if record.encrypted {
            summary.encryptedFlows += 1
        } else if record.proto != .empty && record.proto != .unknownBinary {
            summary.plaintextFlows += 1
        }
        if let tls = record.tls, record.proto == .tls || record.starttls {
            summary.tlsFlows += 1
            summary.byClientCertificate[tls.clientCertificate.rawValue, default: 0] += 1
            if tls.clientCertificate.isPresented { summary.mutualTLSFlows += 1 }
            if tls.decrypted { summary.decryptedFlows += 1 }
        }
        findings.add(record)
    }
}

/// Gathers flow records from one or more analysis threads: totals, findings, and the caller's `onFlow`, one
/// record at a time.
///
/// `@unchecked Sendable`: every access to its state holds `lock`.
final class ResultCollector: @unchecked Sendable {
    private let lock = NSLock()
    private let onFlow: (FlowRecord) -> Void
    var summary = AnalysisSummary()
    var findings = FlowFindings()

    init(onFlow: @escaping (FlowRecord) -> Void) {
        self.onFlow = onFlow
    }

    func add(_ record: FlowRecord) {
        self.lock.withLock {
            CaptureAnalysis.tally(record, &self.summary, &self.findings)
            self.onFlow(record)
        }
    }
}

