import BulkheadModel
import BulkheadTestSupport
import Foundation
import PacketAnalysis
import Testing

/// An analyzer writes each ending flow into one record it keeps and fills field by field (building a fresh record
/// per flow cost a copy of it). Nothing of one flow may leak into the next: a flow's record is the same whether its
/// packets come alone or after flows of every other kind (a tunnel, an overlay, TLS, credentials, DNS).
@Suite("Flow records")
struct RecordReuseTests {
    /// Captures whose flows differ in every optional part of a record, richest first so that a part left over from
    /// one flow would show in a plainer one after it. None shares an address and port pair with another.
    static let captures = [
        "socks5-password-tls12-mutual.pcap", "vxlan-http-basic-auth.pcap", "tls13-mutual.pcap", "dns-udp.pcap",
        "ipip-http.pcap", "unknown-binary.pcap", "http-basic-auth.pcap",
    ]

    @Test("a flow's record does not depend on the flows the analyzer saw before it")
    func recordsDoNotLeak() throws {
        var alone: [String] = []
        var packets: [(seconds: Int64, nanoseconds: UInt32, original: Int, bytes: [UInt8])] = []
        for (index, name) in Self.captures.enumerated() {
            let path = Repository.root.appendingPathComponent("captures/\(name)").path
            var flows: [FlowRecord] = []
            _ = try CaptureAnalysis.run(files: [path], options: AnalysisOptions()) { flows.append($0) }
            alone += try flows.map(Self.comparable)
            // The file's packets, a minute after the previous file's (well inside every idle timeout).
            let capture = try CaptureFile(path: path)
            try capture.forEachPacket { packet in
                packets.append(
                    (
                        packet.timestamp.seconds + Int64(index * 60), packet.timestamp.nanoseconds,
                        packet.originalLength, Array(packet.bytes)
                    ))
            }
        }
        let joined = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bh-joined-\(UUID().uuidString).pcap")
        try Self.pcap(packets).write(to: joined)
        defer { try? FileManager.default.removeItem(at: joined) }
        var flows: [FlowRecord] = []
        // One file this small is analysed by one analyzer, on this thread.
        _ = try CaptureAnalysis.run(files: [joined.path], options: AnalysisOptions()) { flows.append($0) }
        let together = try flows.map(Self.comparable)

        #expect(alone.count >= Self.captures.count)
        #expect(together.count == alone.count, "flows merged or split across files")
        let unexpected = Set(together).subtracting(alone).sorted()
        #expect(unexpected.isEmpty, "records unlike any the flows get alone: \(unexpected.prefix(2))")
        let same = together.sorted() == alone.sorted()
        #expect(same, "the same records, as many times each")
        // The richest parts really are there to leak.
        #expect(flows.contains { $0.tunnel != nil } && flows.contains { $0.encapsulation != nil })
        #expect(flows.contains { $0.tls != nil } && flows.contains { !$0.credentials.isEmpty })
    }

    /// The record as JSON without what differs between the two runs by construction: the id (the frame number), the
    /// file, and the times (shifted by the minutes between files).
    static func comparable(_ record: FlowRecord) throws -> String {
        var record = record
        record.id = 0
        record.file = nil
        record.firstSeen = .zero
        record.lastSeen = .zero
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(record), as: UTF8.self)
    }

    /// A classic pcap file with nanosecond timestamps, Ethernet.
    static func pcap(_ packets: [(seconds: Int64, nanoseconds: UInt32, original: Int, bytes: [UInt8])]) -> Data {
        var data = Data()
        func put32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        func put16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) } }
        put32(0xa1b2_3c4d)
        put16(2)
        put16(4)
        put32(0)
        put32(0)
        put32(262_144)
        put32(1)
        for packet in packets {
            put32(UInt32(truncatingIfNeeded: packet.seconds))
            put32(packet.nanoseconds)
            put32(UInt32(packet.bytes.count))
            put32(UInt32(packet.original))
            data.append(contentsOf: packet.bytes)
        }
        return data
    }
}
