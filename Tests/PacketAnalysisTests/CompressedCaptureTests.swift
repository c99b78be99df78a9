import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import PacketAnalysis

/// gzip-compressed captures (`tcpdump -z gzip`, logrotate, archives) are read as they are, by the real `gzip` tool's
/// output; other compressions are named as not read, never passed over in silence.
@Suite("Compressed captures")
struct CompressedCaptureTests {
    static let gzipTool = URL(fileURLWithPath: "/usr/bin/gzip")

    /// A new empty folder for one test's files.
    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bh-compressed-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// `source` compressed by the gzip tool into `destination`.
    static func gzip(_ source: String, to destination: String, level: Int = 6) throws {
        #expect(FileManager.default.createFile(atPath: destination, contents: nil))
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: destination))
        defer { try? output.close() }
        let process = try ProcessRunner.start(Self.gzipTool, ["-\(level)", "-c", source], standardOutput: output)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "gzip \(source)")
    }

    static func capturePaths() throws -> [String] {
        let folder = Repository.root.appendingPathComponent("captures")
        return try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { CaptureAnalysis.isCaptureName($0) }.sorted().map { folder.appendingPathComponent($0).path }
    }

    @Test("every committed capture, compressed by gzip, reads as the original: same flows, findings and totals")
    func everyCaptureCompressed() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let captures = try Self.capturePaths()
        #expect(captures.count > 40)
        for capture in captures {
            let compressed = folder.appendingPathComponent(URL(fileURLWithPath: capture).lastPathComponent + ".gz").path
            try Self.gzip(capture, to: compressed)
            #expect(CompressedCapture.compression(of: compressed) == .gzip)
            let original = try RotatedCaptureTests.analyse([capture])
            let read = try RotatedCaptureTests.analyse([compressed])
            #expect(read.result.complete, "\(capture): \(read.result.warnings)")
            #expect(
                RotatedCaptureTests.withoutFile(read.flows) == RotatedCaptureTests.withoutFile(original.flows),
                "\(capture)")
            #expect(read.flows.allSatisfy { $0.file == compressed }, "\(capture)")
            #expect(read.result.findings == original.result.findings, "\(capture)")
            #expect(read.result.summary.packets == original.result.summary.packets, "\(capture)")
            #expect(read.result.summary.bytes == original.result.summary.bytes, "\(capture)")
            #expect(read.result.summary.files == [compressed])
        }
    }

    @Test(
        "a rotated capture left as tcpdump -C … -z gzip leaves it (cap.pcap, cap.pcap1.gz, cap.pcap2.gz…) is found in a folder and read as the whole, in time order"
    )
    func rotatedAndCompressed() throws {
        let whole = Repository.path("captures/mixed-nanosecond.pcap")
        // tcpdump -C names the files cap.pcap, cap.pcap1, cap.pcap2… and -z gzip compresses each one it closes: the
        // one being written is left as it is.
        let split = try RotatedCaptureTests.split(
            "mixed-nanosecond.pcap", perFile: 3, fileName: { $0 == 0 ? "cap.pcap" : "cap.pcap\($0)" })
        defer { try? FileManager.default.removeItem(atPath: split.folder) }
        #expect(split.files.count > 8)
        for file in split.files.dropLast() {
            try Self.gzip(file, to: file + ".gz")
            try FileManager.default.removeItem(atPath: file)
        }
        let expanded = try CaptureAnalysis.expand([split.folder])
        #expect(expanded.inputs.count == split.files.count)
        #expect(expanded.paths.filter { $0.hasSuffix(".gz") }.count == split.files.count - 1)
        let lock = NSLock()
        var flows: [FlowRecord] = []
        let result = try CaptureAnalysis.run(
            inputs: expanded.inputs, options: AnalysisOptions(threads: 2, shardingThreshold: 0)
        ) { flow in lock.withLock { flows.append(flow) } }
        let original = try RotatedCaptureTests.analyse([whole])
        #expect(result.complete, "\(result.warnings)")
        // Sorted by name, cap.pcap10.gz comes before cap.pcap2.gz: the order is the packets' own.
        #expect(
            RotatedCaptureTests.withoutFile(flows.sorted { $0.id < $1.id })
                == RotatedCaptureTests.withoutFile(original.flows))
        #expect(result.findings == original.result.findings)
        #expect(result.summary.flows == original.result.summary.flows)
        // Each flow is named by the file it began in, compressed or not.
        let firstFile = Set(flows.map { $0.file ?? "" })
        #expect(firstFile.contains { $0.hasSuffix(".gz") })
        #expect(firstFile.isSubset(of: Set(expanded.paths)))
    }

    @Test(
        "damaged gzip: cut short is incomplete (truncated) after the flows it could read; bad data, text and an empty file are errors naming the file"
    )
    func damaged() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let capture = Repository.path("captures/mixed-nanosecond.pcap")
        let compressed = folder.appendingPathComponent("whole.pcap.gz").path
        try Self.gzip(capture, to: compressed, level: 1)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: compressed))
        #expect(bytes.count > 2048)

        // Cut in the middle: what was decompressed before the cut is analysed, the rest is a problem.
        let cut = folder.appendingPathComponent("cut.pcap.gz").path
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: cut))
        let partial = try RotatedCaptureTests.analyse([cut])
        #expect(!partial.result.complete)
        let problem = try #require(partial.result.warnings.first)
        #expect(problem.code == .truncated, "\(problem)")
        #expect(problem.path == cut)
        #expect(problem.message.hasPrefix("the gzip data is cut short (unexpected end of file) after "), "\(problem)")
        #expect(problem.message.contains("of the decompressed capture"), "\(problem)")
        #expect(partial.result.summary.packets > 0)
        #expect(partial.result.summary.packets < (try RotatedCaptureTests.analyse([capture])).result.summary.packets)

        // Cut inside the gzip header; only the magic; text; nothing; a flipped header flag byte.
        let cases: [(name: String, bytes: Data, code: CaptureError.Code, words: String)] = [
            ("header.pcap.gz", bytes.prefix(6), .truncated, "the gzip data is damaged before the capture begins"),
            ("magic.pcap.gz", Data([0x1f, 0x8b]), .truncated, "the gzip data is damaged before the capture begins"),
            ("method.pcap.gz", Data([0x1f, 0x8b, 0x07]) + bytes.dropFirst(3), .malformed, "the gzip data is damaged"),
        ]
        for item in cases {
            let path = folder.appendingPathComponent(item.name).path
            try item.bytes.write(to: URL(fileURLWithPath: path))
            #expect(CompressedCapture.compression(of: path) == .gzip)
            #expect(throws: CaptureError.self) { _ = try RotatedCaptureTests.analyse([path]) }
            do {
                _ = try CompressedCapture(path: path)
            } catch {
                #expect(error.code == item.code, "\(item.name): \(error)")
                #expect(error.path == path)
                #expect(error.message.hasPrefix(item.words), "\(item.name): \(error)")
            }
        }
        for (name, text) in [("text.pcap", "hello, this is no capture\n"), ("empty.pcap", "")] {
            let plain = folder.appendingPathComponent(name).path
            try Data(text.utf8).write(to: URL(fileURLWithPath: plain))
            try Self.gzip(plain, to: plain + ".gz")
            do {
                _ = try RotatedCaptureTests.analyse([plain + ".gz"])
                Issue.record("\(name).gz was read")
            } catch let error as CaptureError {
                #expect(error.code == .notACapture, "\(error)")
                #expect(error.message.hasPrefix("decompressed, not a capture"), "\(error)")
            }
        }
    }

    @Test("bytes flipped anywhere in a compressed capture: never a crash; every run is complete or names its problem")
    func flippedBytes() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let compressed = folder.appendingPathComponent("source.pcap.gz").path
        try Self.gzip(Repository.path("captures/tls13-hrr-mutual.pcap"), to: compressed)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: compressed)))
        var generator = SystemRandomNumberGenerator()
        let path = folder.appendingPathComponent("flipped.pcap.gz").path
        var outcomes: [String: Int] = [:]
        for round in 0..<150 {
            var mutated = bytes
            // Header bytes first (every one once), then anywhere.
            let offset = round < 20 ? round : Int.random(in: 0..<mutated.count, using: &generator)
            mutated[offset] ^= UInt8.random(in: 1...255, using: &generator)
            try Data(mutated).write(to: URL(fileURLWithPath: path))
            do {
                let run = try RotatedCaptureTests.analyse([path])
                outcomes[run.result.complete ? "complete" : "incomplete", default: 0] += 1
                for problem in run.result.warnings { #expect(problem.path == path) }
            } catch let error as CaptureError {
                outcomes["refused", default: 0] += 1
                #expect(error.path == path)
            }
        }
        print("flipped gzip bytes: \(outcomes.sorted { $0.key < $1.key })")
        #expect(outcomes.values.reduce(0, +) == 150)
    }

    @Test("zstd, xz, bzip2 and lz4 captures are named as not read, with the command that decompresses them")
    func otherCompressions() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let files: [(String, [UInt8], String)] = [
            ("a.pcap.zst", [0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x00], "zstd -dc"),
            ("b.pcapng.xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00], "xz -dc"),
            ("c.pcap3.bz2", [0x42, 0x5a, 0x68, 0x39, 0x31], "bzip2 -dc"),
            ("d.cap.lz4", [0x04, 0x22, 0x4d, 0x18, 0x64], "lz4 -dc"),
        ]
        for (name, magic, _) in files {
            try Data(magic + [UInt8](repeating: 0, count: 64)).write(to: folder.appendingPathComponent(name))
        }
        try FileManager.default.copyItem(
            atPath: Repository.path("captures/http-basic-auth.pcap"),
            toPath: folder.appendingPathComponent("e.pcap").path)
        let expanded = try CaptureAnalysis.expand([folder.path])
        #expect(expanded.inputs.count == 5)
        let result = try CaptureAnalysis.run(inputs: expanded.inputs) { _ in }
        // The plain capture is analysed; each compressed one is a problem that says what to do.
        #expect(result.summary.flows == 1)
        #expect(!result.complete)
        for (name, _, command) in files {
            let problem = result.warnings.first { $0.path.hasSuffix("/" + name) }
            #expect(problem?.code == .notACapture, "\(name)")
            #expect(
                problem?.message.contains("(\(command) FILE | bulkhead analyze -)") == true,
                "\(String(describing: problem))")
        }
    }

    @Test(
        "bulkhead analyze cap.pcap.gz: exit statuses, the table and progress as for the file; a gzip bomb streams in bounded memory"
    )
    func commandLine() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let compressed = folder.appendingPathComponent("auth.pcap.gz").path
        try Self.gzip(Repository.path("captures/http-basic-auth.pcap"), to: compressed)
        let table = try AnalyzeHostileInputTests.run(["analyze", "--progress", compressed])
        #expect(table.status == 1, "\(table.error)")
        #expect(table.output.contains("http-basic"))
        #expect(table.error.contains("auth.pcap.gz: 100% 10 packets"), "\(table.error)")
        let cut = folder.appendingPathComponent("cut.pcap.gz").path
        let bytes = try Data(contentsOf: URL(fileURLWithPath: compressed))
        try bytes.prefix(bytes.count - 12).write(to: URL(fileURLWithPath: cut))
        let incomplete = try AnalyzeHostileInputTests.run(["analyze", "--format", "json", cut])
        #expect(incomplete.status == 3, "\(incomplete.error)")
        #expect(incomplete.error.contains("cut.pcap.gz: the gzip data is cut short"), "\(incomplete.error)")
        let zstd = folder.appendingPathComponent("x.pcap.zst").path
        try Data([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]).write(to: URL(fileURLWithPath: zstd))
        let refused = try AnalyzeHostileInputTests.run(["analyze", zstd])
        #expect(refused.status == 2)
        #expect(refused.error.contains("x.pcap.zst: not a capture but zstd-compressed data"), "\(refused.error)")

        // 512 MiB of one connection's segments compress to a few MiB: read as a stream, never held.
        let plain = folder.appendingPathComponent("bomb.pcap").path
        #expect(FileManager.default.createFile(atPath: plain, contents: nil))
        let writer = try FileHandle(forWritingTo: URL(fileURLWithPath: plain))
        let packets = try AnalyzeHostileInputTests.writeLongConnection(bytes: 512 << 20, to: writer)
        try writer.close()
        let bomb = plain + ".gz"
        try Self.gzip(plain, to: bomb, level: 1)
        try FileManager.default.removeItem(atPath: plain)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: bomb)[.size] as? Int)
        var peak = 0
        let run = try AnalyzeHostileInputTests.run(
            ["analyze", "--format", "json", "--fail-on", "critical", bomb], timeout: 300
        ) { process in
            while process.isRunning {
                peak = max(peak, AnalyzeHostileInputTests.peakResidentKilobytes(process.processIdentifier) ?? 0)
                usleep(20_000)
            }
        }
        #expect(run.status == 0, "\(run.error)")
        let summary = try #require(try AnalyzeHostileInputTests.json(run.output)["summary"] as? [String: Any])
        #expect(summary["packets"] as? Int == packets)
        print("analyze bomb.pcap.gz: \(size >> 10) KiB expanding to 512 MiB, peak RSS \(peak / 1024) MiB")
        #expect(peak > 0)
        #expect(peak < 100 * 1024, "peak RSS \(peak) kB for 512 MiB decompressed")
    }
}
