import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import PacketAnalysis

/// A capture rotated into many files (`tcpdump -C`/`-G`/`-W`, dumpcap's ring buffer) is one capture: its flows go on
/// from file to file. Files that do not follow on in time are separate captures, as before.
@Suite("Rotated captures: flows across files")
struct RotatedCaptureTests {
    /// The records of a classic pcap file, cut into files of `perFile` packets each (the global header repeated), in a
    /// new folder; `shift` moves the packets of the files from `shiftFrom` on by that many seconds.
    static func split(
        _ name: String, perFile: Int, shift: UInt32 = 0, shiftFrom: Int = 0,
        fileName: (Int) -> String = { String(format: "part-%04d.pcap", $0) }
    ) throws -> (folder: String, files: [String]) {
        let bytes = [UInt8](try Data(contentsOf: Repository.root.appendingPathComponent("captures/\(name)")))
        let magic = bytes[0..<4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        let swapped = magic == 0xd4c3_b2a1 || magic == 0x4d3c_b2a1
        func u32(_ offset: Int) -> UInt32 {
            let value = bytes[offset..<offset + 4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            return swapped ? value.byteSwapped : value
        }
        var records: [[UInt8]] = []
        var offset = 24
        while offset + 16 <= bytes.count {
            let length = Int(u32(offset + 8))
            records.append(Array(bytes[offset..<min(bytes.count, offset + 16 + length)]))
            offset += 16 + length
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bh-rotated-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var files: [String] = []
        for (index, start) in stride(from: 0, to: records.count, by: perFile).enumerated() {
            var file = Array(bytes[0..<24])
            for var record in records[start..<min(records.count, start + perFile)] {
                if index >= shiftFrom && shift > 0 {
                    let seconds = Self.u32Value(record, swapped) &+ shift
                    let stored = swapped ? seconds.byteSwapped : seconds
                    withUnsafeBytes(of: stored) { record.replaceSubrange(0..<4, with: $0) }
                }
                file += record
            }
            let path = folder.appendingPathComponent(fileName(index)).path
            try Data(file).write(to: URL(fileURLWithPath: path))
            files.append(path)
        }
        return (folder.path, files)
    }

    private static func u32Value(_ record: [UInt8], _ swapped: Bool) -> UInt32 {
        let value = record[0..<4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        return swapped ? value.byteSwapped : value
    }

    static func analyse(_ paths: [String], threads: Int = 1) throws -> (
        flows: [FlowRecord], result: CaptureAnalysisResult
    ) {
        let lock = NSLock()
        var flows: [FlowRecord] = []
        let result = try CaptureAnalysis.run(
            files: paths, options: AnalysisOptions(threads: threads, shardingThreshold: 0)
        ) { flow in lock.withLock { flows.append(flow) } }
        return (flows.sorted { $0.id < $1.id }, result)
    }

    static func withoutFile(_ flows: [FlowRecord]) -> [FlowRecord] {
        flows.map { flow in
            var flow = flow
            flow.file = nil
            return flow
        }
    }

    @Test(
        "a capture cut into files of 3 packets reads as the whole: same flows, classes, TLS verdicts and findings, each flow named by the file it began in, on 1 to 3 lanes",
        arguments: [
            "smtp-starttls.pcap", "tls13-hrr-mutual.pcap", "mixed-nanosecond.pcap",
            "tls12-renegotiation-client-cert-rejected.pcap", "http-basic-auth.pcap",
        ])
    func rotatedReadsAsWhole(name: String) throws {
        let whole = try Self.analyse([Repository.path("captures/\(name)")])
        #expect(!whole.flows.isEmpty && whole.result.summary.packets > 6)
        let (folder, files) = try Self.split(name, perFile: 3)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(files.count > 2)
        for threads in [1, 2, 3] {
            let rotated = try Self.analyse(CaptureAnalysis.expand([folder]).paths, threads: threads)
            #expect(Self.withoutFile(rotated.flows) == Self.withoutFile(whole.flows), "\(name), \(threads) lanes")
            #expect(rotated.result.findings == whole.result.findings, "\(name), \(threads) lanes")
            #expect(rotated.result.summary.byProtocol == whole.result.summary.byProtocol)
            #expect(rotated.result.summary.byClientCertificate == whole.result.summary.byClientCertificate)
            #expect(rotated.result.summary.packets == whole.result.summary.packets)
            #expect(rotated.result.summary.files == files)
            // A flow's id is the number of its first packet: it began in file (id - 1) / 3.
            for flow in rotated.flows { #expect(flow.file == files[(flow.id - 1) / 3], "flow \(flow.id)") }
        }
    }

    @Test(
        "files are read in the order of their first packets: a ring buffer that wrapped around, and tcpdump -C's cap.pcap, cap.pcap1 … cap.pcap12 (found in a folder too), read as the whole"
    )
    func readInTimeOrder() throws {
        let name = "smtp-starttls.pcap"
        let whole = try Self.analyse([Repository.path("captures/\(name)")])
        // 13 files of 3 packets. A ring of 13 whose writer wrapped after slot 7: the first packets are in ring-07.
        let ring = try Self.split(name, perFile: 3, fileName: { String(format: "ring-%02d.pcap", ($0 + 7) % 13) })
        // tcpdump -C: the first file is cap.pcap, then cap.pcap1, cap.pcap2 …, which sort as cap.pcap1, cap.pcap10 ….
        let rotated = try Self.split(name, perFile: 3, fileName: { $0 == 0 ? "cap.pcap" : "cap.pcap\($0)" })
        defer {
            try? FileManager.default.removeItem(atPath: ring.folder)
            try? FileManager.default.removeItem(atPath: rotated.folder)
        }
        #expect(ring.files.count == 13 && rotated.files.count == 13)
        for (folder, files) in [ring, rotated] {
            let found = try CaptureAnalysis.expand([folder]).paths
            #expect(Set(found) == Set(files), "every file is found in the folder")
            #expect(found != files, "name order is not time order")
            for threads in [1, 2] {
                let read = try Self.analyse(found, threads: threads)
                #expect(Self.withoutFile(read.flows) == Self.withoutFile(whole.flows), "\(folder), \(threads) lanes")
                #expect(read.result.findings == whole.result.findings)
                #expect(read.result.summary.files == files, "the files listed in the order they were read")
                #expect(read.flows.first?.file == files[0])
            }
        }
        #expect(CaptureAnalysis.isCaptureName("trace.PCAPNG12") && !CaptureAnalysis.isCaptureName("notes.txt1"))
        #expect(!CaptureAnalysis.isCaptureName("pcap1") && !CaptureAnalysis.isCaptureName("cap.pcap.1"))
    }

    @Test(
        "files that do not follow on are separate captures: the same capture twice gives its flows twice, each in its file"
    )
    func repeatedCaptureIsNotContinued() throws {
        let path = Repository.path("captures/smtp-starttls.pcap")
        let once = try Self.analyse([path])
        for threads in [1, 2] {
            // The second file starts before the first one's last packet: another capture.
            let twice = try Self.analyse([path, path], threads: threads)
            #expect(twice.flows.count == 2 * once.flows.count)
            #expect(twice.flows.filter { $0.proto == .smtp && $0.starttls }.count == 2)
            #expect(twice.result.summary.packets == 2 * once.result.summary.packets)
        }
    }

    @Test(
        "a file that starts long after the last one ended joins nothing: flows idle past their timeout end at the boundary"
    )
    func gapEndsIdleFlows() throws {
        let name = "smtp-starttls.pcap"
        let whole = try Self.analyse([Repository.path("captures/\(name)")])
        let (folder, files) = try Self.split(name, perFile: 20, shift: 3600, shiftFrom: 1)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(files.count == 2)
        for threads in [1, 2] {
            let gapped = try Self.analyse(files, threads: threads)
            #expect(gapped.flows.count == whole.flows.count + 1, "the flow is cut in two at the hour's gap")
            #expect(gapped.flows.first?.anomalies.contains("idle-timeout") == true)
            #expect(gapped.flows.last?.anomalies.contains("midstream") == true)
            #expect(gapped.flows.last?.file == files[1])
        }
        // The same hour inside one file: the idle timeout holds there too (sweeps were by packet count alone, so a
        // capture this small never applied it, and the connection an hour later joined its old flow).
        let second = [UInt8](try Data(contentsOf: URL(fileURLWithPath: files[1])))
        let joined = try PacketBuilder.write(
            [UInt8](try Data(contentsOf: URL(fileURLWithPath: files[0]))) + second[24...])
        defer { try? FileManager.default.removeItem(atPath: joined) }
        let oneFile = try Self.analyse([joined])
        #expect(oneFile.flows.count == whole.flows.count + 1)
        #expect(oneFile.flows.first?.anomalies.contains("idle-timeout") == true)
    }
}
