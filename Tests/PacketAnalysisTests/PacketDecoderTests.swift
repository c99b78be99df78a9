import BulkheadModel
import Testing

@testable import PacketAnalysis

@Suite("Packet decoding")
struct PacketDecoderTests {
    static let segment = PacketBuilder.tcp(
        sourcePort: 40000, destinationPort: 443, sequence: 7, flags: 0x18, payload: Array("data"))
    static let ipv4 = PacketBuilder.ipv4Packet(
        source: "198.18.0.1", destination: "198.18.0.2", proto: 6, transport: segment)

    func decoded(_ bytes: [UInt8], linkType: UInt32 = LinkType.ethernet, originalLength: Int? = nil) -> DecodeResult {
        bytes.withUnsafeBytes {
            PacketDecoder.decode($0, linkType: linkType, originalLength: originalLength ?? bytes.count)
        }
    }

    func expectTCP(_ result: DecodeResult, payload: Int = 4, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .transport(let packet) = result else {
            Issue.record("expected a TCP packet, got \(result)", sourceLocation: sourceLocation)
            return
        }
        #expect(packet.sourcePort == 40000, sourceLocation: sourceLocation)
        #expect(packet.destinationPort == 443, sourceLocation: sourceLocation)
        #expect(packet.sequence == 7, sourceLocation: sourceLocation)
        #expect(packet.capturedPayloadLength == payload, sourceLocation: sourceLocation)
    }

    @Test func ethernetAndStackedVLANs() {
        self.expectTCP(self.decoded(PacketBuilder.ethernet(Self.ipv4)))
        self.expectTCP(self.decoded(PacketBuilder.ethernet(Self.ipv4, vlanTags: [100])))
        self.expectTCP(self.decoded(PacketBuilder.ethernet(Self.ipv4, vlanTags: [100, 200])))
    }

    @Test func linuxCookedV1AndV2() {
        let sll: [UInt8] = [0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00]
        self.expectTCP(self.decoded(sll + Self.ipv4, linkType: LinkType.linuxSLL))
        let sll2: [UInt8] = [0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]
        self.expectTCP(self.decoded(sll2 + Self.ipv4, linkType: LinkType.linuxSLL2))
    }

    @Test func rawAndLoopback() {
        self.expectTCP(self.decoded(Self.ipv4, linkType: LinkType.raw))
        self.expectTCP(self.decoded([2, 0, 0, 0] + Self.ipv4, linkType: LinkType.null))
        self.expectTCP(self.decoded([0, 0, 0, 2] + Self.ipv4, linkType: LinkType.loop))
    }

    @Test func ipv4WithOptions() {
        let packet = PacketBuilder.ipv4Packet(
            source: "198.18.0.1", destination: "198.18.0.2", proto: 6, transport: Self.segment,
            options: [0x94, 0x04, 0, 0])
        self.expectTCP(self.decoded(PacketBuilder.ethernet(packet)))
    }

    @Test func ipv6WithExtensionHeaders() {
        let source: [UInt8] = [0x20, 0x01, 0, 2] + [UInt8](repeating: 0, count: 11) + [1]
        let destination: [UInt8] = [0x20, 0x01, 0, 2] + [UInt8](repeating: 0, count: 11) + [2]
        // Hop-by-hop (8 bytes) → destination options (8 bytes) → TCP.
        let hopByHop: [UInt8] = [60, 0, 1, 4, 0, 0, 0, 0]
        let destinationOptions: [UInt8] = [6, 0, 1, 4, 0, 0, 0, 0]
        let packet = PacketBuilder.ipv6Packet(
            source: source, destination: destination, nextHeader: 0,
            payload: hopByHop + destinationOptions + Self.segment)
        let result = self.decoded(PacketBuilder.ethernet(packet, etherType: 0x86dd))
        self.expectTCP(result)
        if case .transport(let decoded) = result { #expect(decoded.destination.description == "2001:2::2") }
    }

    @Test func fragmentsAreDetected() {
        let first = PacketBuilder.ipv4Packet(
            source: "198.18.0.1", destination: "198.18.0.2", proto: 17, transport: [1, 2, 3, 4, 5, 6, 7, 8],
            fragment: 0x2000)
        let later = PacketBuilder.ipv4Packet(
            source: "198.18.0.1", destination: "198.18.0.2", proto: 17, transport: [1, 2, 3, 4, 5, 6, 7, 8],
            fragment: 0x0010)
        guard case .fragment = self.decoded(PacketBuilder.ethernet(first)) else {
            Issue.record("MF fragment")
            return
        }
        guard case .fragment = self.decoded(PacketBuilder.ethernet(later)) else {
            Issue.record("offset fragment")
            return
        }
        let v6 = PacketBuilder.ipv6Packet(
            source: [UInt8](repeating: 1, count: 16), destination: [UInt8](repeating: 2, count: 16),
            nextHeader: 44, payload: [17, 0, 0, 1, 0, 0, 0, 1] + [UInt8](repeating: 0, count: 8))
        guard case .fragment = self.decoded(PacketBuilder.ethernet(v6, etherType: 0x86dd)) else {
            Issue.record("v6 fragment")
            return
        }
    }

    @Test("bogus header lengths are malformed, never read past the packet")
    func bogusLengths() {
        var badIHL = PacketBuilder.ethernet(Self.ipv4)
        badIHL[14] = 0x43  // IHL 3 (< 5)
        guard case .malformed = self.decoded(badIHL) else {
            Issue.record("IHL < 5")
            return
        }
        var hugeIHL = PacketBuilder.ethernet(Self.ipv4)
        hugeIHL[14] = 0x4f  // 60-byte header, longer than the IP total length allows with TCP
        hugeIHL[16] = 0
        hugeIHL[17] = 40
        guard case .malformed = self.decoded(hugeIHL) else {
            Issue.record("IHL past total length")
            return
        }
        var badOffset = PacketBuilder.ethernet(Self.ipv4)
        badOffset[14 + 20 + 12] = 0x20  // TCP data offset 2 (< 5)
        guard case .malformed = self.decoded(badOffset) else {
            Issue.record("TCP data offset < 5")
            return
        }
        var pastEnd = PacketBuilder.ethernet(Self.ipv4)
        pastEnd[14 + 20 + 12] = 0xf0  // 60-byte TCP header in a 24-byte segment
        guard case .malformed = self.decoded(pastEnd) else {
            Issue.record("TCP header past end")
            return
        }
        var longTotal = PacketBuilder.ethernet(Self.ipv4)
        longTotal[16] = 0x05
        longTotal[17] = 0xdc  // total length 1500 in a short, untruncated frame
        guard case .malformed = self.decoded(longTotal) else {
            Issue.record("IP total length past frame")
            return
        }
    }

    @Test("a snap-length cut packet keeps its claimed payload length")
    func snaplenTruncated() {
        let frame = PacketBuilder.ethernet(Self.ipv4)
        let cut = Array(frame.prefix(frame.count - 2))
        guard case .transport(let packet) = self.decoded(cut, originalLength: frame.count) else {
            Issue.record("cut")
            return
        }
        #expect(packet.payloadLength == 4)
        #expect(packet.capturedPayloadLength == 2)
    }

    @Test("Ethernet padding is not payload")
    func ethernetPadding() {
        let bare = PacketBuilder.ipv4Packet(
            source: "198.18.0.1", destination: "198.18.0.2", proto: 6,
            transport: PacketBuilder.tcp(sourcePort: 40000, destinationPort: 443, sequence: 7, flags: 0x10))
        let padded = PacketBuilder.ethernet(bare) + [0, 0, 0, 0, 0, 0]
        self.expectTCP(self.decoded(padded), payload: 0)
    }
}
