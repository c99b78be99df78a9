import BulkheadModel

/// TCP header flags.
public struct TCPFlags: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let fin = TCPFlags(rawValue: 0x01)
    public static let syn = TCPFlags(rawValue: 0x02)
    public static let rst = TCPFlags(rawValue: 0x04)
    public static let psh = TCPFlags(rawValue: 0x08)
    public static let ack = TCPFlags(rawValue: 0x10)
}

/// The transport-level view of one packet: addresses, ports, TCP state and where the payload is.
public struct DecodedPacket {
    public var source: IPAddress
    public var destination: IPAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    /// 6 (TCP) or 17 (UDP).
    public var ipProtocol: UInt8
    public var flags: TCPFlags
    public var sequence: UInt32
    public var acknowledgement: UInt32
    /// Offset of the transport payload in the captured bytes.
    public var payloadOffset: Int
    /// Payload length the headers declare (what was on the wire).
    public var payloadLength: Int
    /// Payload bytes actually captured (less than ``payloadLength`` when the snap length cut the packet).
    public var capturedPayloadLength: Int
}

/// What decoding one packet gave.
public enum DecodeResult {
    case transport(DecodedPacket)
    /// An IP fragment: counted, not reassembled.
    case fragment
    /// A packet Bulkhead does not analyse (ARP, ICMP, other IP protocols, unknown EtherTypes).
    case other
    /// Headers that cannot be right (lengths pointing outside the packet, bad versions).
    case malformed
}

/// Decodes link, network and transport headers from borrowed bytes, allocating nothing.
///
/// Never reads past the captured length: every load is bounds-checked against `bytes.count`.
public enum PacketDecoder {
    @inline(__always)
    static func be16(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    static func be32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inline(__always)
    static func be64(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// Decodes `bytes` captured on a link of type `linkType`.
    ///
    /// - Parameter originalLength: the packet's length on the wire, to tell snap-length truncation from
    ///   damage.
    public static func decode(_ bytes: UnsafeRawBufferPointer, linkType: UInt32, originalLength: Int) -> DecodeResult {
        var offset = 0
        var etherType: UInt16
        switch linkType {
        case LinkType.ethernet:
            guard bytes.count >= 14 else { return .malformed }
            etherType = be16(bytes, 12)
            offset = 14
        case LinkType.linuxSLL:
            guard bytes.count >= 16 else { return .malformed }
            etherType = be16(bytes, 14)
            offset = 16
        case LinkType.linuxSLL2:
            guard bytes.count >= 20 else { return .malformed }
            etherType = be16(bytes, 0)
            offset = 20
        case LinkType.null, LinkType.loop:
            guard bytes.count >= 4 else { return .malformed }
            // DLT_NULL stores the address family in the capturing host's byte order; LOOP in network order.
            var family = bytes.loadUnaligned(as: UInt32.self)
            if linkType == LinkType.loop { family = UInt32(bigEndian: family) }
            if family > 0xffff { family = family.byteSwapped }
            switch family {
            case 2: etherType = 0x0800
            case 10, 24, 28, 30: etherType = 0x86dd
            default: return .other
            }
            offset = 4
        case LinkType.raw, LinkType.rawBSD, LinkType.rawOpenBSD, LinkType.ipv4, LinkType.ipv6:
            guard bytes.count >= 1 else { return .malformed }
            switch bytes[0] >> 4 {
            case 4: etherType = 0x0800
            case 6: etherType = 0x86dd
            default: return .malformed
            }
        default:
            return .other
        }
        // 802.1Q / 802.1ad / QinQ tags, possibly stacked.
        var tags = 0
        while etherType == 0x8100 || etherType == 0x88a8 || etherType == 0x9100 {
            guard bytes.count >= offset + 4, tags < 8 else { return .malformed }
            etherType = be16(bytes, offset + 2)
            offset += 4
            tags += 1
        }
        let truncatedOnCapture = bytes.count < originalLength
        switch etherType {
        case 0x0800: return decodeIPv4(bytes, offset, truncatedOnCapture)
        case 0x86dd: return decodeIPv6(bytes, offset, truncatedOnCapture)
        default: return .other
        }
    }

    static func decodeIPv4(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ truncated: Bool) -> DecodeResult {
        guard bytes.count >= start + 20 else { return truncated ? .other : .malformed }
        let versionAndLength = bytes[start]
        guard versionAndLength >> 4 == 4 else { return .malformed }
        let headerLength = Int(versionAndLength & 0x0f) * 4
        let totalLength = Int(be16(bytes, start + 2))
        guard headerLength >= 20, totalLength >= headerLength else { return .malformed }
        let fragment = be16(bytes, start + 6)
        if fragment & 0x3fff != 0 { return .fragment }  // MF set or a non-zero offset
        guard bytes.count >= start + headerLength else { return truncated ? .other : .malformed }
        let source = IPAddress(ipv4: be32(bytes, start + 12))
        let destination = IPAddress(ipv4: be32(bytes, start + 16))
        // The IP total length, not the frame, says where the payload ends (Ethernet pads short frames).
        let end = start + totalLength
        if end > bytes.count && !truncated {
            return .malformed
        }
        return decodeTransport(bytes, bytes[start + 9], start + headerLength, end, source, destination)
    }

    static func decodeIPv6(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ truncated: Bool) -> DecodeResult {
        guard bytes.count >= start + 40 else { return truncated ? .other : .malformed }
        guard bytes[start] >> 4 == 6 else { return .malformed }
        let payloadLength = Int(be16(bytes, start + 4))
        guard payloadLength > 0 else { return .other }  // jumbograms (hop-by-hop) are not analysed
        var next = bytes[start + 6]
        let source = IPAddress(ipv6High: be64(bytes, start + 8), low: be64(bytes, start + 16))
        let destination = IPAddress(ipv6High: be64(bytes, start + 24), low: be64(bytes, start + 32))
        let end = start + 40 + payloadLength
        if end > bytes.count && !truncated { return .malformed }
        var offset = start + 40
        // Walk extension headers: hop-by-hop, routing, destination options, fragment, AH.
        for _ in 0..<16 {
            switch next {
            case 0, 43, 60:
                guard bytes.count >= offset + 2 else { return truncated ? .other : .malformed }
                next = bytes[offset]
                offset += (Int(bytes[offset + 1]) + 1) * 8
            case 44:
                return .fragment
            case 51:
                guard bytes.count >= offset + 2 else { return truncated ? .other : .malformed }
                next = bytes[offset]
                offset += (Int(bytes[offset + 1]) + 2) * 4
            default:
                guard offset <= end else { return .malformed }
                return decodeTransport(bytes, next, offset, end, source, destination)
            }
        }
        return .malformed
    }

    @inline(__always)
    static func decodeTransport(
        _ bytes: UnsafeRawBufferPointer, _ ipProtocol: UInt8, _ start: Int, _ end: Int,
        _ source: IPAddress, _ destination: IPAddress
    ) -> DecodeResult {
        let available = min(end, bytes.count)
        switch ipProtocol {
        case 6:
            guard available >= start + 20 else { return end >= start + 20 && bytes.count < end ? .other : .malformed }
            let dataOffset = Int(bytes[start + 12] >> 4) * 4
            guard dataOffset >= 20, start + dataOffset <= end else { return .malformed }
            let payloadStart = start + dataOffset
            return .transport(DecodedPacket(
                source: source, destination: destination,
                sourcePort: be16(bytes, start), destinationPort: be16(bytes, start + 2),
                ipProtocol: 6, flags: TCPFlags(rawValue: bytes[start + 13] & 0x1f),
                sequence: be32(bytes, start + 4), acknowledgement: be32(bytes, start + 8),
                // The snap length may cut the TCP options: the payload then starts past the captured bytes.
                payloadOffset: min(payloadStart, available), payloadLength: end - payloadStart,
                capturedPayloadLength: max(0, available - payloadStart)
            ))
        case 17:
            guard available >= start + 8 else { return end >= start + 8 && bytes.count < end ? .other : .malformed }
            let udpLength = Int(be16(bytes, start + 4))
            // A UDP length of 0 happens with jumbograms; otherwise it must fit the IP payload.
            let payloadEnd = udpLength >= 8 && start + udpLength <= end ? start + udpLength : end
            let payloadStart = start + 8
            return .transport(DecodedPacket(
                source: source, destination: destination,
                sourcePort: be16(bytes, start), destinationPort: be16(bytes, start + 2),
                ipProtocol: 17, flags: [], sequence: 0, acknowledgement: 0,
                payloadOffset: payloadStart, payloadLength: payloadEnd - payloadStart,
                capturedPayloadLength: max(0, min(payloadEnd, bytes.count) - payloadStart)
            ))
        default:
            return .other
        }
    }
}
