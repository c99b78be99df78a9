import BulkheadModel
import Foundation
import Testing

@testable import PacketAnalysis

/// The records of ended flows are handed on a batch at a time, pass by pass (see `FlowAnalyzer.recordBatch`): every
/// pass must see every record, in the order the flows ended, and the same records as one pass would.
@Suite("Flow records in batches")
struct RecordBatchTests {
    /// `count` DNS flows of one packet each, a second apart, then a TCP connection whose port is used again after
    /// it closed (a record emitted at once, between batches).
    static func capture(flows count: Int) -> [UInt8] {
        var packets: [(time: UInt32, bytes: [UInt8])] = []
        for index in 0..<count {
            let udp = PacketBuilder.udp(
                sourcePort: 40_000 + index, destinationPort: 53, payload: [UInt8](repeating: 0, count: 12))
            let ip = PacketBuilder.ipv4Packet(
                source: "198.18.0.2", destination: "198.18.0.53", proto: 17, transport: udp)
            packets.append((UInt32(1_700_000_000 + index), PacketBuilder.ethernet(ip)))
        }
        for round in 0..<2 {
            var tcp = TCPConversation()
            tcp.handshake()
            tcp.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n", fromClient: true)
            tcp.close()
            let start = UInt32(1_700_000_000 + count + round * 10)
            for (offset, frame) in tcp.frames.enumerated() { packets.append((start + UInt32(offset), frame)) }
        }
        return PacketBuilder.pcap(packets)
    }

    /// The records of the capture in `bytes` as the per-record receiver sees them, and as three passes see them.
    static func analyze(_ bytes: UnsafeRawBufferPointer) throws -> (
        single: [FlowRecord], seen: [(pass: Int, record: FlowRecord)]
    ) {
        let capture = try CaptureFile(borrowing: bytes, name: "batches.pcap")
        var single: [FlowRecord] = []
        let plain = FlowAnalyzer(file: "batches.pcap") { single.append($0) }
        try capture.forEachPacket { plain.process($0) }
        plain.finish()
        var seen: [(pass: Int, record: FlowRecord)] = []
        let batched = FlowAnalyzer(file: "batches.pcap", passes: 3) { pass, record in seen.append((pass, record)) }
        try capture.forEachPacket { batched.process($0) }
        batched.finish()
        return (single, seen)
    }

    @Test("every pass sees every record of a batch, in order; one pass sees what the per-record receiver sees")
    func passes() throws {
        let count = FlowAnalyzer.recordBatch * 2 + 7
        let (single, seen) = try Self.capture(flows: count).withUnsafeBytes { try Self.analyze($0) }
        #expect(single.count == count + 2)
        #expect(seen.count == 3 * single.count)
        // Cut `seen` into batches: a batch is pass 0's run of records, then pass 1's, then pass 2's, each the same.
        var index = 0
        var firstPass: [FlowRecord] = []
        var batches: [Int] = []
        while index < seen.count {
            var size = 0
            while index + size < seen.count && seen[index + size].pass == 0 { size += 1 }
            #expect(size >= 1 && size <= FlowAnalyzer.recordBatch, "batch of \(size)")
            let batch = seen[index..<(index + size)].map(\.record)
            for pass in 1..<3 {
                let start = index + pass * size
                #expect(seen[start..<(start + size)].allSatisfy { $0.pass == pass }, "pass \(pass)")
                #expect(seen[start..<(start + size)].map(\.record) == batch, "pass \(pass)")
            }
            firstPass += batch
            batches.append(size)
            index += 3 * size
        }
        #expect(firstPass == single)
        // The port reused: the first connection's record went out on its own, before the batches of the end.
        #expect(batches.first == 1, "\(batches)")
        #expect(batches.dropFirst().contains(FlowAnalyzer.recordBatch), "\(batches)")
    }
}
