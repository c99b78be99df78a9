import BulkheadModel
import CBulkheadOpenSSL
import Certificates
import Foundation
import PacketAnalysisFuzzing
import Testing

@testable import PacketAnalysis

/// Replays what the libFuzzer harness (fuzz/harness.swift) found and fuzzes from, through the same code paths:
/// every crasher saved in fuzz/regressions/ (one test each), and the committed corpus fuzz/corpus/.
///
/// The replay runs the harness's own targets (Sources/PacketAnalysisFuzzing/FuzzTargets.swift). See fuzz/README.md
/// for the input format and for each crasher.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    /// The folder holding Package.swift, found by walking up from this file.
    static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    static let regressions = repositoryRoot.appendingPathComponent("fuzz/regressions")
    static let corpus = repositoryRoot.appendingPathComponent("fuzz/corpus")

    static func files(in folder: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { !$0.hasPrefix(".") }
            .sorted()
    }

    static func replay(_ url: URL) throws {
        let data = try Data(contentsOf: url)
        data.withUnsafeBytes { FuzzTargets.run($0) }
    }

    static func regression(_ name: String) throws {
        try replay(regressions.appendingPathComponent(name))
    }

    // MARK: - fuzz/regressions/: one test per crasher
    //
    // A test stays disabled while the crash it reproduces is not fixed in Sources (running it would crash the
    // test process); fuzz/README.md has the proposed fix. Enable it together with the fix.

    /// Every file in fuzz/regressions/ and the test that replays it.
    static let regressionTests: Set<String> = [
        "tcp-options-cut-by-snaplen.bin",
        "dns-header-without-question-tcp.bin",
        "dns-header-without-question-udp.bin",
        "tcp-sequence-half-window-away.bin",
        "libpcap-unsupported-link-type.bin",
    ]

    @Test("every file in fuzz/regressions/ has a test here")
    func everyRegressionHasATest() {
        let files = Set(Self.files(in: Self.regressions))
        #expect(files == Self.regressionTests, "add a test for each new file in fuzz/regressions/ (and list it)")
    }

    /// A TCP header whose options the snap length cut: PacketDecoder put the payload offset past the captured
    /// bytes and FlowAnalyzer.decode sliced out of range (fixed in fd9200c).
    @Test("TCP options cut by the snap length")
    func tcpOptionsCutBySnapLength() throws {
        try Self.regression("tcp-options-cut-by-snaplen.bin")
    }

    /// A 12-byte DNS header with no question: ProtocolClassifier.isDNSMessage read byte 12 (fixed in fd9200c).
    @Test("DNS-over-TCP header without a question")
    func dnsHeaderWithoutQuestionTCP() throws {
        try Self.regression("dns-header-without-question-tcp.bin")
    }

    /// The same through FlowAnalyzer: a UDP datagram whose payload is a bare DNS header (fixed in fd9200c).
    @Test("DNS-over-UDP header without a question")
    func dnsHeaderWithoutQuestionUDP() throws {
        try Self.regression("dns-header-without-question-udp.bin")
    }

    /// A segment 2^31 bytes away from the expected sequence number: `Int(-delta)` overflowed (fixed in fd9200c).
    @Test("TCP segment half the sequence space away")
    func tcpSequenceHalfWindowAway() throws {
        try Self.regression("tcp-sequence-half-window-away.bin")
    }

    /// Found by hand, not by the fuzzer (the harness reads captures with the mmap walker only): a pcapng whose one
    /// interface has a link type not decoded (USER0, 147), read with `analyze --reader libpcap`. `LibpcapCaptureReader`
    /// closed the handle in `init` before throwing and again in `deinit`: a double free, SIGABRT (issue 13). Replayed
    /// through the harness and through libpcap itself.
    @Test("libpcap reader on an unsupported link type (double free)")
    func libpcapUnsupportedLinkType() throws {
        try Self.regression("libpcap-unsupported-link-type.bin")
        let bytes = try Data(contentsOf: Self.regressions.appendingPathComponent("libpcap-unsupported-link-type.bin"))
            .dropFirst()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bulkhead-regression-\(UUID().uuidString).pcapng"
        ).path
        try bytes.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: CaptureError.self) { _ = try LibpcapCaptureReader(path: path) }
    }

    /// Found by reading the code, not by the fuzzer (FlowAnalyzer sweeps idle flows every 65 536 packets, beyond
    /// what a 64 KiB fuzz input holds): a pcapng whose timestamps span the whole Int64 range (one unit per second,
    /// 64-bit timestamps) made `Timestamp.seconds(since:)` overflow in the sweep (fixed in 728c650). Built here, not
    /// stored: 1 MiB.
    static func timestampSpanCapture() -> [UInt8] {
        func le16(_ value: Int) -> [UInt8] { [UInt8(value & 0xff), UInt8(value >> 8 & 0xff)] }
        func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        func block(_ type: UInt32, _ body: [UInt8]) -> [UInt8] {
            let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
            let length = UInt32(12 + padded.count)
            return le32(type) + le32(length) + padded + le32(length)
        }
        func enhancedPacket(_ units: UInt64, _ data: [UInt8]) -> [UInt8] {
            block(
                6,
                le32(0) + le32(UInt32(units >> 32)) + le32(UInt32(units & 0xffff_ffff))
                    + le32(UInt32(data.count)) + le32(UInt32(data.count)) + data)
        }
        let section = block(0x0a0d_0d0a, le32(0x1a2b_3c4d) + le16(1) + le16(0) + [UInt8](repeating: 0xff, count: 8))
        // Raw IPv4, if_tsresol 10^0: one timestamp unit per second.
        let interface = block(1, le16(101) + le16(0) + le32(0) + le16(9) + le16(1) + [0, 0, 0, 0] + le16(0) + le16(0))
        let udp: [UInt8] = [0x9c, 0x40, 0x27, 0x0f, 0, 12, 0, 0] + Array("ping".utf8)
        let ip: [UInt8] = [0x45, 0, 0, UInt8(20 + udp.count), 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2] + udp
        var capture = section + interface
        capture += enhancedPacket(0x8000_0000_0000_0000, ip)  // a UDP flow at Int64.min seconds
        capture += enhancedPacket(0x7fff_ffff_ffff_ffff, [0])  // a malformed packet at Int64.max moves the clock
        let simple = block(3, le32(0))  // then Simple Packet Blocks (no time) up to the sweep
        for _ in 0..<65_536 { capture += simple }
        return capture
    }

    @Test("capture timestamps spanning Int64 (flow sweep)")
    func timestampSpanOverflow() {
        let input = [UInt8(0)] + Self.timestampSpanCapture()  // target 0: a capture file
        input.withUnsafeBytes { FuzzTargets.run($0) }
    }

    // MARK: - fuzz/corpus/

    static let targets = ["capture", "packets", "tls", "classify", "cert", "decrypted", "lanes"]

    /// The corpus, by target (its first byte), so that the targets replay in parallel.
    static func corpusFiles(target: String) -> [String] {
        guard let index = targets.firstIndex(of: target) else { return [] }
        return files(in: corpus).filter { name in
            guard let handle = FileHandle(forReadingAtPath: corpus.appendingPathComponent(name).path) else {
                return false
            }
            defer { try? handle.close() }
            guard let first = try? handle.read(upToCount: 1)?.first else { return false }
            return fuzzTarget(first) == index
        }
    }

    @Test("the corpus is there")
    func corpusExists() {
        #expect(Self.files(in: Self.corpus).count >= 100, "fuzz/corpus/ should hold the committed seed corpus")
    }

    /// Every corpus input, through the harness's paths (about a second in all in a debug build).
    @Test("fuzz/corpus/ replays without crashing", arguments: targets)
    func corpusReplays(_ target: String) throws {
        let names = Self.corpusFiles(target: target)
        #expect(!names.isEmpty, "fuzz/corpus/ has no \(target) input")
        for name in names {
            try Self.replay(Self.corpus.appendingPathComponent(name))
        }
    }
}
