/// A UDP flow the capture joined after its QUIC handshake: only short-header (1-RTT) packets, RFC 9000 §17.3. Such a
/// packet shows little in clear: a first byte with the header form bit clear and the fixed bit set, whose five low bits
/// header protection masks anew for every packet (RFC 9001 §5.4), then the receiver's connection ID (its length is
/// not written: the receiver chose it), then the protected packet number and the AEAD-sealed payload.
///
/// So a connection is told by what stays the same and what does not, over several datagrams each way: every first
/// byte `01xxxxxx`, the bytes after it in one direction sharing a prefix of at least ``minimumIDLength`` (the
/// connection ID a server chose: quic-go 4 bytes, aioquic, Chromium and nginx 8 or more), and the masked low bits
/// taking several values. A protocol with a fixed first byte and a steady header (OpenVPN's `P_DATA_V2`, `0x48` and a
/// peer id) fails the last; random bytes fail the first two. Long-header packets of a known version that come late
/// (the handshake's last ones) are passed over; anything else ends the watch.
struct QUICShortHeaders {
    /// Datagrams asked for in each direction before the flow is called QUIC.
    static let datagramsEachWay = 3
    /// The shortest connection ID that counts as one: a prefix of fewer bytes shared by a few datagrams is chance.
    static let minimumIDLength = 4
    /// Distinct values of the first byte's masked bits asked for (among six or more datagrams, a connection's give
    /// five or six; the chance that they give fewer than three is below one in ten thousand).
    static let maskedValuesWanted = 3
    /// A short-header packet's least size: the first byte, a packet number and payload of 4 bytes at least (header
    /// protection samples 16 bytes from 4 past the number's start), and the 16-byte sample; the ID comes on top.
    static let minimumDatagram = 21

    /// What the datagrams seen so far show.
    enum Verdict: Equatable {
        case pending
        case quic
        case notQUIC
    }

    /// One direction: how many short-header datagrams it sent, and the bytes its first one had after the first byte
    /// (up to a connection ID's 20), cut to what every later one shared.
    private struct Direction {
        var datagrams = 0
        var prefix: [UInt8] = []
    }

    private var low = Direction()
    private var high = Direction()
    /// The values of the first byte's five masked bits seen, one bit each.
    private var maskedValues: UInt32 = 0
    /// The version of the first long-header packet passed over.
    private(set) var version: UInt32?

    /// Whether `datagram` has a short header's shape, the first step of the watch.
    static func mayBeShortHeader(_ datagram: UnsafeRawBufferPointer) -> Bool {
        datagram.count >= Self.minimumDatagram && datagram[0] & 0xc0 == 0x40
    }

    /// Takes the next datagram of the flow, sent by the low endpoint (`fromLow`) or the high one.
    mutating func add(_ datagram: UnsafeRawBufferPointer, fromLow: Bool) -> Verdict {
        guard let first = datagram.first else { return .pending }
        if first & 0x80 != 0 {
            // A long header of a version Bulkhead reads: a last packet of the handshake, passed over.
            guard datagram.count >= 5 else { return .notQUIC }
            let version = datagram[1...4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard QUICVersion.known(version) != nil else { return .notQUIC }
            if self.version == nil { self.version = version }
            return .pending
        }
        guard Self.mayBeShortHeader(datagram) else { return .notQUIC }
        self.maskedValues |= 1 << UInt32(first & 0x1f)
        let idBytes = UnsafeRawBufferPointer(rebasing: datagram[1..<min(datagram.count, 21)])
        if fromLow { Self.note(idBytes, in: &self.low) } else { Self.note(idBytes, in: &self.high) }
        guard self.low.datagrams >= Self.datagramsEachWay, self.high.datagrams >= Self.datagramsEachWay,
            self.maskedValues.nonzeroBitCount >= Self.maskedValuesWanted
        else { return .pending }
        // Once both ways have enough datagrams, no connection ID in either: not QUIC after all.
        return max(self.low.prefix.count, self.high.prefix.count) >= Self.minimumIDLength ? .quic : .notQUIC
    }

    private static func note(_ idBytes: UnsafeRawBufferPointer, in direction: inout Direction) {
        if direction.datagrams == 0 {
            direction.prefix = Array(idBytes)
        } else {
            let shared = zip(direction.prefix, idBytes).prefix { $0 == $1 }.count
            direction.prefix.removeLast(direction.prefix.count - shared)
        }
        direction.datagrams += 1
    }
}
