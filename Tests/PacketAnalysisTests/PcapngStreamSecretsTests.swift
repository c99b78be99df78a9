import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import PacketAnalysis

/// Decryption Secrets Blocks in a pcapng read as a stream (standard input, a gzip-compressed file): libpcap passes over
/// them, so they are taken from the bytes on their way to it (``PcapngStreamSecrets``). The follower must find what
/// the packet walk of the same bytes finds, however the stream is cut into reads; and `bulkhead analyze -` must use
/// them for the connections after them.
@Suite("pcapng secrets blocks in a stream")
struct PcapngStreamSecretsTests {
    typealias Layouts = PcapngSecretsScanTests

    /// The secrets the follower finds in `bytes` read `piece` bytes at a time.
    static func follow(_ bytes: [UInt8], piece: Int, knownUpTo: Int = 0) -> (found: [EmbeddedSecrets], failed: Int) {
        var follower = PcapngStreamSecrets(path: "stream", knownUpTo: knownUpTo)
        bytes.withUnsafeBytes { raw in
            var at = 0
            while at < raw.count {
                let end = min(raw.count, at + piece)
                follower.feed(UnsafeRawBufferPointer(rebasing: raw[at..<end]))
                at = end
            }
        }
        var found: [EmbeddedSecrets] = []
        var failed = 0
        for block in follower.take() {
            switch block.secrets {
            case .success(let secrets): found.append(secrets)
            case .failure: failed += 1
            }
        }
        return (found, failed)
    }

    /// What the packet walk of `bytes` (a mapped file's reader) collects.
    static func walked(_ bytes: [UInt8]) -> [EmbeddedSecrets]? {
        bytes.withUnsafeBytes { raw in
            guard let file = try? CaptureFile(borrowing: raw, name: "memory.pcapng") else { return nil }
            try? file.forEachPacket { _ in }
            return file.embeddedSecrets
        }
    }

    @Test("finds what the walk finds, read in pieces of any size", arguments: Layouts.cases.indices)
    func sameAsWalk(index: Int) throws {
        let (name, bytes, count) = Layouts.cases[index]
        let walked = try #require(Self.walked(bytes))
        #expect(walked.count == count, "\(name): the walk")
        for piece in [1, 2, 3, 5, 8, 27, 28, 29, 4096, bytes.count] {
            let followed = Self.follow(bytes, piece: piece).found
            let same = followed == walked
            #expect(same, "\(name), pieces of \(piece): \(followed.count) found, the walk \(walked.count)")
        }
    }

    @Test("damaged at random, the follower and the walk still agree")
    func randomDamage() {
        var random = SeededGenerator(state: 0x5EED_0F_5EC2E7)
        var compared = 0
        for round in 0..<400 {
            var bytes = Layouts.cases[round % 5].bytes
            for _ in 0..<(1 + Int(random.next() % 4)) {
                let at = Int(random.next() % UInt64(bytes.count))
                bytes[at] = UInt8(truncatingIfNeeded: random.next())
            }
            if random.next() % 4 == 0 { bytes.removeLast(Int(random.next() % UInt64(min(bytes.count - 32, 4096)))) }
            let piece = [1, 7, 64, 1 << 20][round % 4]
            let followed = Self.follow(bytes, piece: piece).found
            // A first block the walk refuses: nothing followed either.
            guard let walked = Self.walked(bytes) else {
                #expect(followed.isEmpty, "round \(round)")
                continue
            }
            let same = followed == walked
            #expect(same, "round \(round): \(followed.count) found, the walk \(walked.count)")
            compared += 1
        }
        #expect(compared > 300)
    }

    @Test("classic pcap is not followed; blocks read before are not taken again; a block that lies is reported")
    func boundaries() throws {
        let classic = PacketBuilder.pcap([(100, CaptureFileTests.sampleFrame)])
        var follower = PcapngStreamSecrets(path: "stream")
        classic.withUnsafeBytes { follower.feed($0) }
        #expect(!follower.following)

        let l = Layouts.little
        let first = l.header() + l.ethernetInterface() + l.secrets(Layouts.keyLine(1))
        let bytes = first + Layouts.packets(3) + l.secrets(Layouts.keyLine(2))
        #expect(
            Self.follow(bytes, piece: 10, knownUpTo: first.count).found.map(\.data) == [Array(Layouts.keyLine(2).utf8)])
        #expect(Self.follow(bytes, piece: 10, knownUpTo: first.count - 1).found.count == 2)

        let lying =
            l.header() + l.ethernetInterface() + l.secrets(Layouts.keyLine(1), claimed: 10_000)
            + l.secrets(Layouts.keyLine(2))
        let result = Self.follow(lying, piece: 3)
        #expect(result.failed == 1)
        #expect(result.found.map(\.data) == [Array(Layouts.keyLine(2).utf8)])
    }

    // MARK: - End to end: the real TLS 1.3 connection with its secrets block, through a pipe and through gzip

    /// The blocks of `captures/tls13-mutual-dsb.pcapng` (one little-endian section): its section and interface
    /// blocks, its secrets block, and its packets (one mutually authenticated TLS 1.3 connection).
    static func realBlocks() throws -> (start: [UInt8], secrets: [UInt8], packets: [UInt8]) {
        let bytes = try [UInt8](
            Data(contentsOf: URL(fileURLWithPath: Repository.path("captures/tls13-mutual-dsb.pcapng"))))
        var (start, secrets, packets) = ([UInt8](), [UInt8](), [UInt8]())
        var at = 0
        while at + 12 <= bytes.count {
            let type = bytes[at..<(at + 4)].reversed().reduce(0) { $0 << 8 | Int($1) }
            let length = bytes[(at + 4)..<(at + 8)].reversed().reduce(0) { $0 << 8 | Int($1) }
            let block = Array(bytes[at..<(at + length)])
            switch type {
            case 0x0a: secrets += block
            case 6, 3, 2: packets += block
            default: start += block
            }
            at += length
        }
        #expect(!secrets.isEmpty && !packets.isEmpty)
        return (start, secrets, packets)
    }

    /// Unrelated UDP packets, more than stdio reads ahead (1 MiB), so that what follows them is read after packets
    /// have been analysed.
    static let filler = Layouts.packets(24_000)

    /// `bulkhead analyze --format json` of `bytes` through a pipe from `cat`, or of a gzip file of them; the TLS
    /// flow's client-certificate state and the summary's key log lines.
    static func analyze(_ bytes: [UInt8], gzip: Bool) throws -> (state: String?, keyLogs: [String], status: Int32) {
        let path = try PacketBuilder.write(bytes, name: UUID().uuidString + ".pcapng")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let run: AnalyzeHostileInputTests.Run
        if gzip {
            let compressed = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/gzip"), ["-1", path])
            #expect(compressed.status == 0)
            defer { try? FileManager.default.removeItem(atPath: path + ".gz") }
            run = try AnalyzeHostileInputTests.run(["analyze", "--format", "json", path + ".gz"])
        } else {
            let pipe = Pipe()
            let writer = try ProcessRunner.start(URL(fileURLWithPath: "/bin/cat"), [path], standardOutput: pipe)
            run = try AnalyzeHostileInputTests.run(["analyze", "--format", "json", "-"], standardInput: pipe)
            writer.waitUntilExit()
        }
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any], "\(run.error)")
        let flows = try #require(document["flows"] as? [[String: Any]])
        let tls = flows.compactMap { $0["tls"] as? [String: Any] }
        #expect(tls.count == 1)
        let summary = try #require(document["summary"] as? [String: Any])
        #expect(summary["complete"] as? Bool == true, "\(run.error)")
        return (tls.first?["clientCertificate"] as? String, summary["keyLogs"] as? [String] ?? [], run.status)
    }

    @Test("analyze - and a .gz: a secrets block decrypts the connections after it, wherever it is in the stream")
    func endToEnd() throws {
        let real = try Self.realBlocks()
        for gzip in [false, true] {
            let source = gzip ? "decompressed file" : "standard input"
            // At the start (where editcap --inject-secrets puts it): exact, read before any packet, one line.
            let atStart = try Self.analyze(real.start + real.secrets + Self.filler + real.packets, gzip: gzip)
            #expect(atStart.state == "presented", "\(source)")
            #expect(atStart.keyLogs.count == 1, "\(source): \(atStart.keyLogs)")
            #expect(atStart.keyLogs.first?.contains("(embedded Decryption Secrets Block): 5 lines read") == true)
            #expect(atStart.keyLogs.first?.hasSuffix("1 matched a connection in the capture, 0 did not") == true)

            // After 2 MB of packets (past the 256 KiB a compressed file's check reads, past stdio's read-ahead),
            // before the connection: read as it passes, the connection after it decrypted.
            let later = try Self.analyze(real.start + Self.filler + real.secrets + real.packets, gzip: gzip)
            #expect(later.state == "presented", "\(source)")
            #expect(later.keyLogs.count == 1, "\(source): \(later.keyLogs)")
            #expect(later.keyLogs.first?.contains("(embedded Decryption Secrets Block, read after ") == true)
            #expect(later.keyLogs.first?.hasSuffix("1 matched a connection in the capture, 0 did not") == true)

            // After the connection and 2 MB more: too late for it (a stream is read once); its line says so.
            let after = try Self.analyze(real.start + real.packets + Self.filler + real.secrets, gzip: gzip)
            #expect(after.state == "likely-presented", "\(source)")
            #expect(after.keyLogs.first?.hasSuffix("0 matched a connection in the capture, 1 did not") == true)
        }
    }
}
