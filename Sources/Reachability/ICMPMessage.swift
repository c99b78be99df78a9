import BulkheadModel

/// The ICMP messages the prober cares about, parsed from what a raw ICMP socket reads (IPv4: with the IP header;
/// ICMPv6: the ICMPv6 message alone). Everything else is ignored; nothing here trusts a length it did not check.
enum ICMPMessage: Equatable {
    case echoReply(identifier: UInt16, sequence: UInt16)
    /// Destination unreachable (or an ICMPv6 administratively-prohibited / port-unreachable), quoting our packet.
    case unreachable(type: Int, code: Int, quoted: Quoted)

    enum Quoted: Equatable {
        case echo(identifier: UInt16, sequence: UInt16, destination: String)
        /// protocol 6 (TCP) or 17 (UDP), our local port, the destination address as text.
        case transport(proto: Int, sourcePort: Int, destination: String)
    }

    static func parse(_ bytes: ArraySlice<UInt8>, v6: Bool) -> ICMPMessage? {
        let packet = Array(bytes)
        var offset = 0
        if !v6 {
            guard packet.count >= 20, packet[0] >> 4 == 4 else { return nil }
            offset = Int(packet[0] & 0x0f) * 4
        }
        guard packet.count >= offset + 8 else { return nil }
        let type = Int(packet[offset])
        let code = Int(packet[offset + 1])
        let echoReply = v6 ? 129 : 0
        let unreachable = v6 ? 1 : 3
        if type == echoReply {
            return .echoReply(
                identifier: UInt16(packet[offset + 4]) << 8 | UInt16(packet[offset + 5]),
                sequence: UInt16(packet[offset + 6]) << 8 | UInt16(packet[offset + 7]))
        }
        guard type == unreachable else { return nil }
        let inner = offset + 8
        let innerProto: Int
        let innerHeaderLength: Int
        let destination: String
        if v6 {
            guard packet.count >= inner + 40 else { return nil }
            innerProto = Int(packet[inner + 6])
            innerHeaderLength = 40
            var high: UInt64 = 0, low: UInt64 = 0
            for index in 0..<8 { high = high << 8 | UInt64(packet[inner + 24 + index]) }
            for index in 8..<16 { low = low << 8 | UInt64(packet[inner + 24 + index]) }
            destination = IPv6Text.format(high: high, low: low)
        } else {
            guard packet.count >= inner + 20, packet[inner] >> 4 == 4 else { return nil }
            innerHeaderLength = Int(packet[inner] & 0x0f) * 4
            innerProto = Int(packet[inner + 9])
            destination = "\(packet[inner + 16]).\(packet[inner + 17]).\(packet[inner + 18]).\(packet[inner + 19])"
        }
        let transport = inner + innerHeaderLength
        guard packet.count >= transport + 8 else { return nil }
        let echoRequest = v6 ? 128 : 8
        if innerProto == (v6 ? 58 : 1), Int(packet[transport]) == echoRequest {
            return .unreachable(
                type: type, code: code,
                quoted: .echo(
                    identifier: UInt16(packet[transport + 4]) << 8 | UInt16(packet[transport + 5]),
                    sequence: UInt16(packet[transport + 6]) << 8 | UInt16(packet[transport + 7]),
                    destination: destination))
        }
        guard innerProto == 6 || innerProto == 17 else { return nil }
        let sourcePort = Int(packet[transport]) << 8 | Int(packet[transport + 1])
        return .unreachable(
            type: type, code: code,
            quoted: .transport(proto: innerProto, sourcePort: sourcePort, destination: destination))
    }
}

enum IPv6Text {
    static func format(high: UInt64, low: UInt64) -> String { IPAddress(ipv6High: high, low: low).description }
}
