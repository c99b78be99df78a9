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
///
/// For a packet found inside tunnels (VXLAN, Geneve, GRE, ERSPAN, IP in IP) the addresses, ports and payload
/// are the innermost ones; ``encapsulationDepth`` says how many tunnels were opened to reach them, and
/// ``PacketDecoder/encapsulationPath(_:networkOffset:)`` reads the tunnels themselves again from the same bytes (only
/// tunnelled packets pay for that).
public struct DecodedPacket {
    public var source: IPAddress
    /// How many tunnels enclose the packet: 0 for a bare packet, at most
    /// ``PacketDecoder/maximumEncapsulationDepth``. (Stored in the padding after ``source``: free.)
    public var encapsulationDepth: UInt8
    /// Where the outermost IP header starts in the captured bytes (the length of the link header).
    public var networkOffset: UInt8
    public var destination: IPAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    /// 6 (TCP), 17 (UDP) or 50 (IPsec ESP, whose ports are 0 and whose payload starts with the SPI).
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
/// Never reads past the captured length: every load is bounds-checked against `bytes.count`. Tunnels are opened
/// (see ``DecodedPacket``) up to ``maximumEncapsulationDepth`` deep; a packet nested deeper is malformed, so
/// hostile nesting costs a bounded walk, never unbounded recursion.
public enum PacketDecoder {
    /// Tunnels opened around one packet at most. Real overlays nest one or two deep (VXLAN over a GRE underlay,
    /// ERSPAN of overlay traffic); deeper is treated as malformed.
    public static let maximumEncapsulationDepth = 4

    /// Where a decode is: the next header to read (its EtherType, where it starts, where the packet that carries it
    /// ends: `.max` outside tunnels), how deep in tunnels, whether the capture cut the packet, and where to note the
    /// tunnels when someone asked for them (nil on the hot path: nothing is recorded there).
    ///
    /// A tunnel moves the walk to its inner packet and the loop in ``walk(_:_:)`` goes round again: no recursion,
    /// and at most ``maximumEncapsulationDepth`` + 1 rounds.
    struct Walk {
        var etherType: UInt16
        var start: Int
        var limit = Int.max
        var networkOffset: Int
        var truncated: Bool
        var depth = 0
        var layers: UnsafeMutablePointer<EncapsulationPath>?

        init(etherType: UInt16, start: Int, truncated: Bool, layers: UnsafeMutablePointer<EncapsulationPath>? = nil) {
            self.etherType = etherType
            self.start = start
            self.networkOffset = start
            self.truncated = truncated
            self.layers = layers
        }
    }

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
        var walk = Walk(etherType: etherType, start: offset, truncated: bytes.count < originalLength)
        return Self.walk(bytes, &walk)
    }

    /// The tunnels around a packet that ``decode(_:linkType:originalLength:)`` found inside
    /// ``DecodedPacket/encapsulationDepth`` tunnels: the same walk again, noting each tunnel. Allocates nothing.
    static func encapsulationPath(_ bytes: UnsafeRawBufferPointer, networkOffset: Int) -> EncapsulationPath {
        var path = EncapsulationPath()
        guard networkOffset < bytes.count else { return path }
        let etherType: UInt16 = bytes[networkOffset] >> 4 == 6 ? 0x86dd : 0x0800
        withUnsafeMutablePointer(to: &path) { layers in
            // Leniently (as if cut by the snap length): the first walk already accepted these bytes.
            var walk = Walk(etherType: etherType, start: networkOffset, truncated: true, layers: layers)
            _ = Self.walk(bytes, &walk)
        }
        return path
    }

    /// IP headers from `walk.start` on, into every tunnel found, to the transport header.
    @inline(__always)
    static func walk(_ bytes: UnsafeRawBufferPointer, _ walk: inout Walk) -> DecodeResult {
        while true {
            let result: DecodeResult?
            switch walk.etherType {
            case 0x0800: result = decodeIPv4(bytes, &walk)
            case 0x86dd: result = decodeIPv6(bytes, &walk)
            default: return .other
            }
            // nil: the walk entered a tunnel and now points at the packet inside it.
            if let result { return result }
        }
    }

    /// What a header cut short means: the snap length's doing (`.other`, not analysed), or damage.
    @inline(__always)
    static func short(_ walk: Walk) -> DecodeResult { walk.truncated ? .other : .malformed }

    /// The IPv4 packet the walk points at; nil when it carries a tunnel the walk has entered.
    static func decodeIPv4(_ bytes: UnsafeRawBufferPointer, _ walk: inout Walk) -> DecodeResult? {
        let start = walk.start
        let truncated = walk.truncated
        guard bytes.count >= start + 20 else { return short(walk) }
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
        if end > bytes.count && !truncated || end > walk.limit {
            return .malformed
        }
        return decodeTransport(bytes, bytes[start + 9], start + headerLength, end, source, destination, &walk)
    }

    /// The IPv6 packet the walk points at; nil when it carries a tunnel the walk has entered.
    static func decodeIPv6(_ bytes: UnsafeRawBufferPointer, _ walk: inout Walk) -> DecodeResult? {
        let start = walk.start
        let truncated = walk.truncated
        guard bytes.count >= start + 40 else { return short(walk) }
        guard bytes[start] >> 4 == 6 else { return .malformed }
        let payloadLength = Int(be16(bytes, start + 4))
        guard payloadLength > 0 else { return .other }  // jumbograms (hop-by-hop) are not analysed
        var next = bytes[start + 6]
        let source = IPAddress(ipv6High: be64(bytes, start + 8), low: be64(bytes, start + 16))
        let destination = IPAddress(ipv6High: be64(bytes, start + 24), low: be64(bytes, start + 32))
        let end = start + 40 + payloadLength
        if end > bytes.count && !truncated || end > walk.limit { return .malformed }
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
                return decodeTransport(bytes, next, offset, end, source, destination, &walk)
            }
        }
        return .malformed
    }

    @inline(__always)
    static func decodeTransport(
        _ bytes: UnsafeRawBufferPointer, _ ipProtocol: UInt8, _ start: Int, _ end: Int,
        _ source: IPAddress, _ destination: IPAddress, _ walk: inout Walk
    ) -> DecodeResult? {
        let available = min(end, bytes.count)
        switch ipProtocol {
        case 6:
            guard available >= start + 20 else { return end >= start + 20 && bytes.count < end ? .other : .malformed }
            let dataOffset = Int(bytes[start + 12] >> 4) * 4
            guard dataOffset >= 20, start + dataOffset <= end else { return .malformed }
            let payloadStart = start + dataOffset
            return .transport(
                DecodedPacket(
                    source: source, encapsulationDepth: UInt8(walk.depth),
                    networkOffset: UInt8(truncatingIfNeeded: walk.networkOffset),
                    destination: destination, sourcePort: be16(bytes, start), destinationPort: be16(bytes, start + 2),
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
            let destinationPort = be16(bytes, start + 2)
            let sourcePort = be16(bytes, start)
            // Overlay tunnels are found by their registered destination port (as Wireshark and the kernels do),
            // then confirmed by their header; a datagram that fails the header check stays a UDP flow. Not from a
            // system port: that is a server's answer (DNS from 53, QUIC from 443) to a client whose port happened to
            // be 4789 or 6081, where a tunnel's source port is a flow hash in the ephemeral range (RFC 7348, 8926).
            if destinationPort == 4789 || destinationPort == 6081, sourcePort >= 1024,
                isUDPTunnel(bytes, destinationPort, payloadStart, payloadEnd)
            {
                return enterUDPTunnel(bytes, destinationPort, payloadStart, payloadEnd, source, destination, &walk)
            }
            return .transport(
                DecodedPacket(
                    source: source, encapsulationDepth: UInt8(walk.depth),
                    networkOffset: UInt8(truncatingIfNeeded: walk.networkOffset),
                    destination: destination, sourcePort: sourcePort, destinationPort: destinationPort,
                    ipProtocol: 17, flags: [], sequence: 0, acknowledgement: 0,
                    payloadOffset: payloadStart, payloadLength: payloadEnd - payloadStart,
                    capturedPayloadLength: max(0, min(payloadEnd, bytes.count) - payloadStart)
                ))
        case 47:
            return enterGRE(bytes, start, end, source, destination, &walk)
        case 4, 41:
            // IPv4 (ipip, 4in6) or IPv6 (sit/6in4, ip6ip6) straight inside the IP header.
            guard enter(&walk, .ipip, id: nil, source, destination) else { return .malformed }
            walk.etherType = ipProtocol == 4 ? 0x0800 : 0x86dd
            walk.start = start
            walk.limit = end
            return nil
        case 50:
            // IPsec ESP (RFC 4303): only the SPI and the sequence number are in clear. The payload handed on starts
            // with the SPI.
            guard available >= start + 8 else { return end >= start + 8 && bytes.count < end ? .other : .malformed }
            return .transport(
                DecodedPacket(
                    source: source, encapsulationDepth: UInt8(walk.depth),
                    networkOffset: UInt8(truncatingIfNeeded: walk.networkOffset),
                    destination: destination, sourcePort: 0, destinationPort: 0,
                    ipProtocol: 50, flags: [], sequence: 0, acknowledgement: 0,
                    payloadOffset: start, payloadLength: end - start, capturedPayloadLength: available - start
                ))
        default:
            return .other
        }
    }

    // MARK: - Tunnels
    //
    // Each `enter…` reads one tunnel header and moves the walk to the packet inside (returning nil), or says why it
    // cannot (a result). They are kept out of line: bare packets never call them.

    /// One more tunnel level, noted when the walk records them; false past ``maximumEncapsulationDepth``.
    @inline(__always)
    static func enter(
        _ walk: inout Walk, _ kind: EncapsulationKind, id: UInt32?, _ source: IPAddress, _ destination: IPAddress
    ) -> Bool {
        guard walk.depth < maximumEncapsulationDepth else { return false }
        walk.depth += 1
        walk.layers?.pointee.append(EncapsulationHeader(kind: kind, id: id, source: source, destination: destination))
        return true
    }

    /// Whether a datagram to the VXLAN or Geneve port carries that header: VXLAN's I flag (a valid VNI), Geneve's
    /// version 0. One cut by the snap length inside the header counts as a tunnel (and is then not analysed, rather
    /// than taken for a UDP flow of its own).
    @inline(__always)
    static func isUDPTunnel(_ bytes: UnsafeRawBufferPointer, _ port: UInt16, _ start: Int, _ end: Int) -> Bool {
        guard end >= start + 8 else { return false }
        guard bytes.count >= start + 8 else { return true }
        return port == 4789 ? bytes[start] & 0x08 != 0 : bytes[start] >> 6 == 0
    }

    /// VXLAN (RFC 7348) or Geneve (RFC 8926) in the UDP payload `start..<end`.
    @inline(never)
    static func enterUDPTunnel(
        _ bytes: UnsafeRawBufferPointer, _ port: UInt16, _ start: Int, _ end: Int,
        _ source: IPAddress, _ destination: IPAddress, _ walk: inout Walk
    ) -> DecodeResult? {
        guard bytes.count >= start + 8 else { return short(walk) }
        let vni = be32(bytes, start + 4) >> 8
        if port == 4789 {
            guard enter(&walk, .vxlan, id: vni, source, destination) else { return .malformed }
            return enterEthernet(bytes, start + 8, end, &walk)
        }
        // Geneve: options length in 4-byte words, O (control) bit, protocol type.
        guard bytes[start + 1] & 0x80 == 0 else { return .other }  // a control message: no payload to follow
        let headerLength = 8 + Int(bytes[start] & 0x3f) * 4
        let protocolType = be16(bytes, start + 2)
        guard start + headerLength <= end else { return .malformed }
        guard enter(&walk, .geneve, id: vni, source, destination) else { return .malformed }
        switch protocolType {
        case 0x6558:
            return enterEthernet(bytes, start + headerLength, end, &walk)
        case 0x0800, 0x86dd:
            walk.etherType = protocolType
            walk.start = start + headerLength
            walk.limit = end
            return nil
        default:
            return .other
        }
    }

    /// GRE (RFC 2784, keys and sequence numbers RFC 2890) carrying IP, Ethernet (0x6558, `gretap`) or ERSPAN.
    @inline(never)
    static func enterGRE(
        _ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ source: IPAddress, _ destination: IPAddress,
        _ walk: inout Walk
    ) -> DecodeResult? {
        guard end >= start + 4 else { return .malformed }
        guard bytes.count >= start + 4 else { return short(walk) }
        let flags = be16(bytes, start)
        // Version 1 is PPTP's enhanced GRE (PPP inside); source routing (R) was deprecated by RFC 2784.
        guard flags & 0x0007 == 0, flags & 0x4000 == 0 else { return .other }
        let protocolType = be16(bytes, start + 2)
        var headerLength = 4
        if flags & 0x8000 != 0 { headerLength += 4 }  // checksum + reserved
        let keyOffset = start + headerLength
        let hasKey = flags & 0x2000 != 0
        if hasKey { headerLength += 4 }
        let hasSequence = flags & 0x1000 != 0
        if hasSequence { headerLength += 4 }
        guard start + headerLength <= end else { return .malformed }
        guard bytes.count >= start + headerLength else { return short(walk) }
        let key = hasKey ? be32(bytes, keyOffset) : nil
        let payload = start + headerLength
        switch protocolType {
        case 0x0800, 0x86dd:
            guard enter(&walk, .gre, id: key, source, destination) else { return .malformed }
            walk.etherType = protocolType
            walk.start = payload
            walk.limit = end
            return nil
        case 0x6558:
            guard enter(&walk, .gre, id: key, source, destination) else { return .malformed }
            return enterEthernet(bytes, payload, end, &walk)
        case 0x88be, 0x22eb:
            return enterERSPAN(bytes, protocolType, hasSequence, payload, end, source, destination, &walk)
        default:
            return .other
        }
    }

    /// ERSPAN: type I (0x88BE without a GRE sequence number: no header), type II (0x88BE, 8-byte header) or type
    /// III (0x22EB, 12-byte header, plus 8 bytes of platform subheader when its O bit is set); then the mirrored
    /// Ethernet frame. The session ID is the low 10 bits of the header's second 16-bit word.
    static func enterERSPAN(
        _ bytes: UnsafeRawBufferPointer, _ protocolType: UInt16, _ hasSequence: Bool, _ start: Int, _ end: Int,
        _ source: IPAddress, _ destination: IPAddress, _ walk: inout Walk
    ) -> DecodeResult? {
        if protocolType == 0x88be && !hasSequence {
            guard enter(&walk, .erspan, id: nil, source, destination) else { return .malformed }
            return enterEthernet(bytes, start, end, &walk)
        }
        var headerLength = protocolType == 0x88be ? 8 : 12
        guard start + headerLength <= end else { return .malformed }
        guard bytes.count >= start + headerLength else { return short(walk) }
        let session = UInt32(be16(bytes, start + 2) & 0x03ff)
        if protocolType == 0x22eb {
            // Frame type 0 is Ethernet; 2 (IP without its Ethernet header) is not produced by the kernel's ERSPAN.
            let word = be32(bytes, start + 8)
            guard (word >> 10) & 0x1f == 0 else { return .other }
            if word & 0x1 != 0 { headerLength += 8 }
            guard start + headerLength <= end else { return .malformed }
        }
        guard enter(&walk, .erspan, id: session, source, destination) else { return .malformed }
        return enterEthernet(bytes, start + headerLength, end, &walk)
    }

    /// An Ethernet frame carried inside a tunnel (VXLAN, Geneve, gretap, ERSPAN), VLAN tags and all: the walk moves
    /// to the packet it carries.
    static func enterEthernet(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int, _ walk: inout Walk)
        -> DecodeResult?
    {
        guard start + 14 <= end else { return .malformed }
        guard bytes.count >= start + 14 else { return short(walk) }
        var etherType = be16(bytes, start + 12)
        var offset = start + 14
        var tags = 0
        while etherType == 0x8100 || etherType == 0x88a8 || etherType == 0x9100 {
            guard offset + 4 <= end, tags < 8 else { return .malformed }
            guard bytes.count >= offset + 4 else { return short(walk) }
            etherType = be16(bytes, offset + 2)
            offset += 4
            tags += 1
        }
        walk.etherType = etherType
        walk.start = offset
        walk.limit = end
        return nil
    }
}
