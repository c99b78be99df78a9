import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import PacketAnalysis

/// Damaged, truncated and odd captures (issue 13): nothing is silently ignored, the mmap walker refuses what libpcap
/// refuses, one bad file in a folder does not stop the others, and nothing crashes or waits.
@Suite("Hostile captures")
struct HostileCaptureTests {
    // MARK: - Building damaged captures

    static func le16(_ value: Int) -> [UInt8] { [UInt8(value & 0xff), UInt8(value >> 8 & 0xff)] }
    static func le32(_ value: UInt32) -> [UInt8] { PacketBuilder.le32(value) }

    /// A pcapng block (little-endian), padded, with its trailing length (or `trailer` instead).
    static func block(_ type: UInt32, _ body: [UInt8], length: UInt32? = nil, trailer: UInt32? = nil) -> [UInt8] {
        let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
        let total = UInt32(12 + padded.count)
        return le32(type) + le32(length ?? total) + padded + le32(trailer ?? length ?? total)
    }

    static func sectionHeader(major: Int = 1, minor: Int = 0, length: UInt32? = nil) -> [UInt8] {
        Self.block(
            0x0a0d_0d0a, le32(0x1a2b_3c4d) + le16(major) + le16(minor) + [UInt8](repeating: 0xff, count: 8),
            length: length)
    }

    static func interface(linkType: Int = 1) -> [UInt8] {
        Self.block(1, le16(linkType) + le16(0) + le32(65535))
    }

    static func enhancedPacket(_ frame: [UInt8], time: UInt32 = 0) -> [UInt8] {
        Self.block(6, le32(0) + le32(0) + le32(time) + le32(UInt32(frame.count)) + le32(UInt32(frame.count)) + frame)
    }

    /// An HTTP request with Basic credentials (user `mallory`), as Ethernet frames of one TCP connection.
    static func credentialFrames(clientPort: Int = 41000, user: String = "mallory") -> [[UInt8]] {
        var conversation = TCPConversation(clientPort: clientPort, serverPort: 8080)
        conversation.handshake()
        let token = Data("\(user):correct-horse".utf8).base64EncodedString()
        conversation.send("GET / HTTP/1.1\r\nHost: svc\r\nAuthorization: Basic \(token)\r\n\r\n", fromClient: true)
        conversation.close()
        return conversation.frames
    }

    static func pcap(_ frames: [[UInt8]]) -> [UInt8] {
        PacketBuilder.pcap(frames.enumerated().map { (UInt32(1_700_000_000 + $0.offset), $0.element) })
    }

    /// A pcap whose record header `index` claims 0xFFFFFFF0 captured bytes: everything after it is unreadable.
    static func pcapCorruptAt(record index: Int, frames: [[UInt8]]) -> (bytes: [UInt8], offset: Int) {
        var bytes = Self.pcap(frames)
        var offset = 24
        for frame in frames.prefix(index) { offset += 16 + frame.count }
        bytes.replaceSubrange((offset + 8)..<(offset + 12), with: le32(0xffff_fff0))
        return (bytes, offset)
    }

    static func temporary(_ bytes: [UInt8], _ name: String = "capture.pcap") throws -> String {
        let directory = try ScratchSpace.folder("bulkhead-hostile")
        let path = directory.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    // MARK: - libpcap

    /// Issue 13: `pcap_close` in `init` before throwing, then again in `deinit`: a double free (SIGABRT).
    @Test("libpcap reader: an unsupported link type throws, once, without a double free", arguments: [147, 240, 65000])
    func libpcapUnsupportedLinkType(linkType: Int) throws {
        let pcapng = Self.sectionHeader() + Self.interface(linkType: linkType) + Self.enhancedPacket([1, 2, 3, 4])
        let classic = PacketBuilder.pcap([(0, [1, 2, 3, 4])], linkType: UInt32(linkType))
        for bytes in [pcapng, classic] {
            let path = try Self.temporary(bytes)
            #expect(throws: CaptureError.self) { _ = try LibpcapCaptureReader(path: path) }
            // Twice more, so that a handle freed twice would show up in this process's allocator.
            for _ in 0..<2 { _ = try? LibpcapCaptureReader(path: path) }
        }
    }

    /// The damaged inputs libpcap refuses (at open or while reading), and the intact ones it reads.
    static func damagedInputs() -> [(name: String, bytes: [UInt8])] {
        let frames = Self.credentialFrames()
        let good = Self.pcap(frames)
        var version = good
        version.replaceSubrange(4..<8, with: le16(99) + le16(99))
        var archaic = good
        archaic.replaceSubrange(4..<8, with: le16(1) + le16(0))
        var minor = good
        minor.replaceSubrange(4..<8, with: le16(2) + le16(5))
        var huge = good
        huge.replaceSubrange(16..<20, with: le32(0xffff_ffff))  // a huge snap length alone is fine for libpcap…
        let bigRecord = PacketBuilder.pcap([(0, [UInt8](repeating: 0x45, count: 300_000))])  // …a 300 kB record is not
        let packets = frames.map { Self.enhancedPacket($0) }.reduce([], +)
        let goodng = Self.sectionHeader() + Self.interface() + packets
        var trailer = Self.sectionHeader() + Self.interface()
        trailer += Self.block(6, le32(0) + le32(0) + le32(0) + le32(4) + le32(4) + [1, 2, 3, 4], trailer: 40)
        return [
            ("pcap intact", good),
            ("pcapng intact", goodng),
            ("pcap huge snap length", huge),
            ("pcap version 99.99", version),
            ("pcap version 1.0", archaic),
            ("pcap version 2.5", minor),
            ("pcap header cut", Array(good.prefix(20))),
            ("pcap record 0xFFFFFFF0 mid-file", Self.pcapCorruptAt(record: 3, frames: frames).bytes),
            ("pcap record of 300000 bytes", bigRecord),
            ("pcap truncated in the last record", Array(good.dropLast(7))),
            ("pcap truncated in a record header", Array(good.prefix(24 + 16 + frames[0].count + 9))),
            (
                "pcapng section header 0x7FFFFFF0 bytes",
                Self.sectionHeader(length: 0x7fff_fff0) + Self.interface() + packets
            ),
            ("pcapng section header of 2 MiB", Self.sectionHeader(length: 2 << 20) + Self.interface() + packets),
            ("pcapng section header of 16 bytes", Self.sectionHeader(length: 16) + Self.interface() + packets),
            ("pcapng version 2.0", Self.sectionHeader(major: 2) + Self.interface() + packets),
            ("pcapng version 1.1", Self.sectionHeader(minor: 1) + Self.interface() + packets),
            (
                "pcapng block length 0xFFFFFFF0 mid-file",
                Self.sectionHeader() + Self.interface()
                    + Self.enhancedPacket(frames[0]) + le32(6) + le32(0xffff_fff0) + [UInt8](repeating: 0, count: 64)
                    + packets
            ),
            (
                "pcapng block length not a multiple of 4",
                Self.sectionHeader() + Self.interface() + le32(6) + le32(30) + [UInt8](repeating: 0, count: 40)
            ),
            ("pcapng block trailer disagrees", trailer),
            ("pcapng truncated in a block", Array(goodng.dropLast(10))),
            (
                "pcapng packet block too short",
                Self.sectionHeader() + Self.interface() + Self.block(6, le32(0) + le32(0))
            ),
            (
                "pcapng simple packet block before any interface",
                Self.sectionHeader() + Self.block(3, le32(4) + [1, 2, 3, 4])
            ),
            (
                "pcapng packet before any interface",
                Self.sectionHeader() + Self.enhancedPacket(frames[0]) + Self.interface()
            ),
        ]
    }

    /// Whether libpcap refuses the bytes: cannot open them, or stops with an error while reading.
    static func libpcapRefuses(_ path: String) -> Bool {
        guard let reader = try? LibpcapCaptureReader(path: path) else { return true }
        return reader.forEachPacket { _ in } != nil
    }

    /// Whether the mmap walker refuses them: cannot open them, cannot walk them, or reports damage.
    static func mmapRefuses(_ path: String) -> (refused: Bool, packets: Int) {
        guard let file = try? CaptureFile(path: path) else { return (true, 0) }
        var packets = 0
        do { try file.forEachPacket { _ in packets += 1 } } catch { return (true, packets) }
        return (!file.warnings.isEmpty, packets)
    }

    @Test("the mmap walker refuses exactly what libpcap refuses, compared on the same bytes")
    func mmapRefusesWhatLibpcapRefuses() throws {
        for (name, bytes) in Self.damagedInputs() {
            let path = try Self.temporary(bytes, name.contains("pcapng") ? "capture.pcapng" : "capture.pcap")
            defer { try? FileManager.default.removeItem(atPath: path) }
            let libpcap = Self.libpcapRefuses(path)
            let mmap = Self.mmapRefuses(path)
            #expect(mmap.refused == libpcap, "\(name): libpcap refuses \(libpcap), mmap refuses \(mmap.refused)")
            #expect(
                libpcap == (!name.hasSuffix("intact") && !name.contains("huge snap")),
                "\(name): the case is what it says")
        }
    }

    // MARK: - Incomplete analyses

    @Test("a record length of 0xFFFFFFF0 mid-file: incomplete, the problem names the file and byte offset")
    func corruptMidFileIsIncomplete() throws {
        let frames = Self.credentialFrames() + Self.credentialFrames(clientPort: 41001, user: "trudy")
        let corrupt = Self.pcapCorruptAt(record: 8, frames: frames)
        let path = try Self.temporary(corrupt.bytes)
        var flows: [FlowRecord] = []
        let result = try CaptureAnalysis.run(files: [path]) { flows.append($0) }
        #expect(!result.complete && !result.summary.complete)
        #expect(
            result.summary.problems == [
                AnalysisProblem(
                    file: path, offset: corrupt.offset, code: "malformed",
                    message:
                        "record claims 4294967280 captured bytes, more than any snap length (header: 65535, most: 262144); stopped reading"
                )
            ])
        // What came before the damage was analysed: the first credential (the second is beyond it: never seen).
        #expect(flows.flatMap(\.credentials).compactMap(\.user) == ["mallory"])
    }

    @Test("a folder: a corrupt file and a file that is no capture are reported, the others analysed")
    func badFileInFolder() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bulkhead-folder-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: "\(directory)/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let corrupt = Self.pcapCorruptAt(record: 2, frames: Self.credentialFrames())
        try Data(corrupt.bytes).write(to: URL(fileURLWithPath: "\(directory)/a-corrupt.pcap"))
        try Data("not a capture at all\n".utf8).write(to: URL(fileURLWithPath: "\(directory)/b-text.pcap"))
        try Data(Self.pcap(Self.credentialFrames(user: "carol"))).write(
            to: URL(fileURLWithPath: "\(directory)/sub/c-good.pcap"))
        let expanded = try CaptureAnalysis.expand([directory])
        #expect(
            expanded.inputs.map(\.path) == [
                "\(directory)/a-corrupt.pcap", "\(directory)/b-text.pcap", "\(directory)/sub/c-good.pcap",
            ])
        let allFromFolder = expanded.inputs.allSatisfy { $0.foundInFolder }
        #expect(allFromFolder)
        var flows: [FlowRecord] = []
        let result = try CaptureAnalysis.run(inputs: expanded.inputs, problems: expanded.problems) { flows.append($0) }
        #expect(!result.complete)
        #expect(result.summary.problems.map(\.file) == ["\(directory)/b-text.pcap", "\(directory)/a-corrupt.pcap"])
        // The text file's magic, at byte 0, is what is wrong (review item 8: the offset was missing).
        #expect(result.summary.problems.map(\.offset) == [0, corrupt.offset])
        #expect(flows.flatMap(\.credentials).compactMap(\.user).contains("carol"), "the good file was analysed")
        // Named on the command line, the same text file stops the run at once.
        #expect(throws: CaptureError.self) { _ = try CaptureAnalysis.run(files: ["\(directory)/b-text.pcap"]) { _ in } }
    }

    /// Review item 4: a FIFO or device found in a folder stopped the whole run (no report); it is now that file's
    /// problem, as a socket or an unreadable file there is, and the other files are analysed.
    @Test("a FIFO, named or in a folder, is refused at once (never opened for reading and waited on)")
    func fifoRefusedAtOnce() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bulkhead-fifo-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(mkfifo("\(directory)/live.pcap", 0o600) == 0)
        try Data(Self.pcap(Self.credentialFrames())).write(to: URL(fileURLWithPath: "\(directory)/good.pcap"))
        // A character device behind a capture's name, as a stray link can leave one.
        #expect(symlink("/dev/zero", "\(directory)/zero.pcap") == 0)
        let started = Date()
        let named = #expect(throws: CaptureError.self) {
            _ = try CaptureAnalysis.run(inputs: [CaptureInput(path: "\(directory)/live.pcap")]) { _ in }
        }
        #expect(named?.code == .notARegularFile && named?.message == "not a regular file (a FIFO)")
        var flows: [FlowRecord] = []
        let result = try CaptureAnalysis.run(inputs: try CaptureAnalysis.expand([directory]).inputs) {
            flows.append($0)
        }
        #expect(
            result.summary.problems.map { "\($0.file) \($0.code) \($0.message)" } == [
                "\(directory)/live.pcap not-a-regular-file not a regular file (a FIFO)",
                "\(directory)/zero.pcap not-a-regular-file not a regular file (a character device)",
            ])
        #expect(!result.complete)
        #expect(flows.flatMap(\.credentials).compactMap(\.user).contains("mallory"), "the good file was analysed")
        #expect(Date().timeIntervalSince(started) < 2)
    }

    /// Review item 5: Ethernet frames under a raw-IP link type (every packet malformed) were reported complete and
    /// clean. Nothing of such a file was examined: the run is incomplete, with a problem naming the file; a file of
    /// non-IP traffic alone (nothing malformed) and the same frames under their right link type stay complete.
    @Test("a capture of which no packet decodes is a problem (undecodable); ARP alone, or the right link type, is not")
    func nothingDecodedIsIncomplete() throws {
        let frames = Self.credentialFrames()
        let timed = frames.enumerated().map { (UInt32(1_700_000_000 + $0.offset), $0.element) }
        let wrongLinkType = try PacketBuilder.write(PacketBuilder.pcap(timed, linkType: 101))
        let rightLinkType = try PacketBuilder.write(PacketBuilder.pcap(timed))
        // ARP requests (not IP): examined, and nothing in them.
        let arp = PacketBuilder.ethernet([UInt8](repeating: 0, count: 28), etherType: 0x0806)
        let arpOnly = try PacketBuilder.write(PacketBuilder.pcap([(1_700_000_000, arp), (1_700_000_001, arp)]))
        defer {
            for path in [wrongLinkType, rightLinkType, arpOnly] { try? FileManager.default.removeItem(atPath: path) }
        }
        let lanes = AnalysisOptions(threads: 2, shardingThreshold: 0)
        for (reader, options) in [
            (CaptureReaderKind.mmap, AnalysisOptions()), (.mmap, lanes), (.libpcap, AnalysisOptions()),
        ] {
            var flows: [FlowRecord] = []
            let result = try CaptureAnalysis.run(
                files: [rightLinkType, wrongLinkType, arpOnly], options: options, reader: reader
            ) { flows.append($0) }
            #expect(
                result.summary.problems == [
                    AnalysisProblem(
                        file: wrongLinkType, offset: nil, code: "undecodable",
                        message:
                            "no packet could be decoded (\(frames.count) of \(frames.count) malformed): nothing in "
                            + "it was examined; is its link type the one its packets have?")
                ], "\(reader), threads \(options.threads)")
            #expect(!result.complete)
            #expect(flows.flatMap(\.credentials).compactMap(\.user) == ["mallory"], "the good file still analysed")
        }
        // A few malformed packets among decoded ones are counted, as before, and the run stays complete.
        let mixed = try PacketBuilder.write(PacketBuilder.pcap(timed + [(1_700_000_100, [0x45, 0, 0])]))
        defer { try? FileManager.default.removeItem(atPath: mixed) }
        let mixedResult = try CaptureAnalysis.run(files: [mixed]) { _ in }
        #expect(mixedResult.complete && mixedResult.summary.malformedPackets == 1)
    }

    @Test("folder and path errors name their own cause")
    func expandErrors() throws {
        #expect(throws: CaptureError(.unreadable, path: "/nonexistent/x.pcap", "no such file or folder")) {
            _ = try CaptureAnalysis.expand(["/nonexistent/x.pcap"])
        }
        #expect(throws: CaptureError(.unreadable, path: "/nonexistent/dir/", "no such file or folder")) {
            _ = try CaptureAnalysis.expand(["/nonexistent/dir/"])
        }
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bulkhead-empty-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(
            throws: CaptureError(
                .unreadable, path: empty,
                "the folder holds no capture files (.pcap, .pcapng, .cap, .dmp, compressed or not)")
        ) {
            _ = try CaptureAnalysis.expand([empty])
        }
        // A key log that is a FIFO or a folder is refused at once, with what it is.
        #expect(mkfifo("\(empty)/keys.log", 0o600) == 0)
        #expect(throws: PathError(path: "\(empty)/keys.log", message: "not a regular file (a FIFO)")) {
            try KeyLog().load(path: "\(empty)/keys.log")
        }
        #expect(throws: PathError(path: empty, message: "not a regular file (a folder)")) {
            try KeyLog().load(path: empty)
        }
        #expect(throws: PathError(path: "\(empty)/none.log", message: "cannot open: No such file or directory")) {
            try KeyLog().load(path: "\(empty)/none.log")
        }
    }
}
