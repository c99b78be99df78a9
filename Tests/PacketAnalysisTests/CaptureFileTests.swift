import BulkheadModel
import Foundation
import Testing

@testable import PacketAnalysis

@Suite("Capture file formats")
struct CaptureFileTests {
    static var sampleFrame: [UInt8] {
        PacketBuilder.ethernet(
            PacketBuilder.ipv4Packet(
                source: "198.18.0.1", destination: "198.18.0.2", proto: 17,
                transport: PacketBuilder.udp(sourcePort: 5000, destinationPort: 6000, payload: Array("hello"))))
    }

    func packets(of bytes: [UInt8]) throws -> (packets: [(Timestamp, Int)], file: CaptureFile) {
        let path = try PacketBuilder.write(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try CaptureFile(path: path)
        var seen: [(Timestamp, Int)] = []
        try file.forEachPacket { seen.append(($0.timestamp, $0.bytes.count)) }
        return (seen, file)
    }

    @Test(
        "classic pcap in both byte orders, micro- and nanoseconds",
        arguments: [(false, false), (true, false), (false, true), (true, true)])
    func classicPcap(bigEndian: Bool, nanoseconds: Bool) throws {
        let bytes = PacketBuilder.pcap(
            [(100, Self.sampleFrame), (101, Self.sampleFrame)], bigEndian: bigEndian, nanoseconds: nanoseconds)
        let (seen, _) = try self.packets(of: bytes)
        #expect(seen.count == 2)
        #expect(seen.first?.0.seconds == 100)
        #expect(seen.first?.0.nanoseconds == (nanoseconds ? 5 : 5000))
        #expect(seen.first?.1 == Self.sampleFrame.count)
    }

    @Test("pcapng with two interfaces of different link types, EPB and SPB, nanosecond resolution")
    func pcapng() throws {
        func block(_ type: UInt32, _ body: [UInt8]) -> [UInt8] {
            let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
            let length = UInt32(12 + padded.count)
            return PacketBuilder.le32(type) + PacketBuilder.le32(length) + padded + PacketBuilder.le32(length)
        }
        let section = block(
            0x0a0d_0d0a,
            PacketBuilder.le32(0x1a2b_3c4d) + PacketBuilder.le16(1) + PacketBuilder.le16(0)
                + [UInt8](repeating: 0xff, count: 8))
        // Interface 0: Ethernet, if_tsresol = 9 (nanoseconds). Interface 1: raw IP, default microseconds.
        let ethernet = block(
            1,
            PacketBuilder.le16(1) + [0, 0] + PacketBuilder.le32(0) + PacketBuilder.le16(9) + PacketBuilder.le16(1) + [
                9, 0, 0, 0,
            ] + [0, 0, 0, 0])
        let raw = block(1, PacketBuilder.le16(101) + [0, 0] + PacketBuilder.le32(0))
        let frame = Self.sampleFrame
        let ip = Array(frame.dropFirst(14))
        let nanos: UInt64 = 1_700_000_000_123_456_789
        let epb0 = block(
            6,
            PacketBuilder.le32(0) + PacketBuilder.le32(UInt32(nanos >> 32))
                + PacketBuilder.le32(UInt32(nanos & 0xffff_ffff))
                + PacketBuilder.le32(UInt32(frame.count)) + PacketBuilder.le32(UInt32(frame.count)) + frame)
        let micros: UInt64 = 1_700_000_001_000_001
        let epb1 = block(
            6,
            PacketBuilder.le32(1) + PacketBuilder.le32(UInt32(micros >> 32))
                + PacketBuilder.le32(UInt32(micros & 0xffff_ffff))
                + PacketBuilder.le32(UInt32(ip.count)) + PacketBuilder.le32(UInt32(ip.count)) + ip)
        let spb = block(3, PacketBuilder.le32(UInt32(frame.count)) + frame)
        let secrets = block(0x0a, PacketBuilder.le32(0x544c_534b) + PacketBuilder.le32(4) + Array("KEYS"))
        let (seen, file) = try self.packets(of: section + ethernet + raw + epb0 + epb1 + spb + secrets)
        #expect(file.format == .pcapng)
        #expect(seen.count == 3)
        #expect(seen[0].0 == Timestamp(seconds: 1_700_000_000, nanoseconds: 123_456_789))
        #expect(seen[1].0 == Timestamp(seconds: 1_700_000_001, nanoseconds: 1000))
        #expect(seen[1].1 == ip.count)
        #expect(file.embeddedSecrets.first?.data == Array("KEYS"))
        // All three packets decode to the same UDP flow.
        let (flows, _) = try analyze(section + ethernet + raw + epb0 + epb1 + spb)
        #expect(flows.count == 1)
        #expect(flows.first?.packets.toServer == 3)
    }

    @Test("a truncated last record keeps what came before and warns")
    func truncatedFile() throws {
        let bytes = PacketBuilder.pcap([(100, Self.sampleFrame), (101, Self.sampleFrame)])
        let (seen, file) = try self.packets(of: Array(bytes.dropLast(10)))
        #expect(seen.count == 1)
        #expect(file.warnings.first?.code == .truncated)
    }

    @Test("wrong magic, empty and tiny files are refused with a clear error")
    func notACapture() throws {
        for bytes: [UInt8] in [Array("hello, this is not a capture"), [], [0xd4, 0xc3]] {
            let path = try PacketBuilder.write(bytes)
            defer { try? FileManager.default.removeItem(atPath: path) }
            #expect(throws: CaptureError.self) { try CaptureFile(path: path) }
            do { _ = try CaptureFile(path: path) } catch {
                #expect(error.code == .notACapture)
                #expect(error.description.contains(path))
            }
        }
        #expect { try CaptureFile(path: "/nonexistent/file.pcap") } throws: {
            ($0 as? CaptureError)?.code == .unreadable
        }
    }

    @Test("a record longer than the snap length stops the walk without reading past the file")
    func bogusCapturedLength() throws {
        var bytes = PacketBuilder.pcap([(100, Self.sampleFrame), (101, Self.sampleFrame)])
        // Second record's caplen (offset 24 + 16 + frame + 8).
        let offset = 24 + 16 + Self.sampleFrame.count + 8
        bytes.replaceSubrange(offset..<(offset + 4), with: PacketBuilder.le32(0x7fff_ffff))
        let (seen, file) = try self.packets(of: bytes)
        #expect(seen.count == 1)
        #expect(file.warnings.first?.code == .malformed)
    }

    @Test("zero-length and header-only packets are counted, never crash")
    func zeroLength() throws {
        let (flows, result) = try analyze(
            PacketBuilder.pcap([(1, []), (2, [0x00]), (3, Array(Self.sampleFrame.prefix(20)))]))
        #expect(flows.isEmpty)
        #expect(result.summary.packets == 3)
        #expect(result.summary.malformedPackets == 3)
    }

    @Test("libpcap reads the same packets as the mapped reader")
    func libpcapAgrees() throws {
        let bytes = PacketBuilder.pcap([(100, Self.sampleFrame), (101, Self.sampleFrame)], nanoseconds: true)
        let path = try PacketBuilder.write(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var viaLibpcap: [Timestamp] = []
        let reader = try LibpcapCaptureReader(path: path)
        #expect(reader.forEachPacket { viaLibpcap.append($0.timestamp) } == nil)
        var viaMap: [Timestamp] = []
        try CaptureFile(path: path).forEachPacket { viaMap.append($0.timestamp) }
        #expect(viaLibpcap == viaMap)
    }
}
