#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IPv4 or IPv6 address, stored inline in 17 bytes so that flow keys stay cheap to hash and compare.
///
/// IPv4 addresses live in the low 32 bits of ``low``; IPv6 addresses use both halves, most significant
/// first (network order).
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The first eight bytes of an IPv6 address, network order. Zero for IPv4.
    public var high: UInt64
    /// The last eight bytes of an IPv6 address, or the IPv4 address in the low 32 bits.
    public var low: UInt64
    /// Whether this is an IPv6 address.
    public var isIPv6: Bool

    /// An IPv6 address of the form `::ffff:a.b.c.d`, which stands for an IPv4 address without being one.
    public var isIPv4Mapped: Bool { self.isIPv6 && self.high == 0 && self.low >> 32 == 0xffff }

    /// The IPv4 address an IPv4-mapped one (`::ffff:a.b.c.d`) stands for; any other address unchanged. An IPv6 socket
    /// bound to `::ffff:a.b.c.d` (how Java and other dual-stack runtimes bind one IPv4 address) receives IPv4 packets
    /// sent to `a.b.c.d`, and no IPv6 ones: compared as text, the two never match.
    public var unmapped: IPAddress {
        self.isIPv4Mapped ? IPAddress(ipv4: UInt32(truncatingIfNeeded: self.low)) : self
    }

    /// 127.0.0.0/8 or `::1` (an IPv4-mapped loopback address too): only the namespace itself sends to it.
    public var isLoopback: Bool {
        let address = self.unmapped
        return address.isIPv6 ? (address.high == 0 && address.low == 1) : address.low >> 24 == 127
    }

    /// Creates an IPv4 address from its 32-bit host-order value.
    public init(ipv4 value: UInt32) {
        self.high = 0
        self.low = UInt64(value)
        self.isIPv6 = false
    }

    /// Creates an IPv6 address from its two 64-bit halves (host-order integers of the network-order bytes).
    public init(ipv6High high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
        self.isIPv6 = true
    }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text. Returns nil for anything else.
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(ipv4: UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        let (high, low) = withUnsafeBytes(of: &v6) { raw in
            (
                UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self)),
                UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            )
        }
        self.init(ipv6High: high, low: low)
    }

    /// The textual form: dotted quad for IPv4, RFC 5952 compressed form for IPv6 (what `inet_ntop` writes).
    public var description: String {
        if !self.isIPv6 {
            return String(unsafeUninitializedCapacity: 15) { self.writeIPv4(into: $0, at: 0) }
        }
        return String(unsafeUninitializedCapacity: Self.ipv6TextLimit) { self.writeIPv6(into: $0, at: 0) }
    }

    /// Room for the longest IPv6 text `inet_ntop` can write (`ffff:…:255.255.255.255`, without its NUL).
    static var ipv6TextLimit: Int { 45 }

    /// Writes the dotted quad of an IPv4 address at `offset` (room for 15 bytes needed); returns the end offset.
    func writeIPv4(into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) -> Int {
        let value = UInt32(truncatingIfNeeded: self.low)
        var end = Self.writeOctet(UInt8(truncatingIfNeeded: value >> 24), into: buffer, at: offset)
        for shift: UInt32 in 0..<3 {
            buffer[end] = UInt8(ascii: ".")
            end = Self.writeOctet(UInt8(truncatingIfNeeded: value >> (16 - 8 * shift)), into: buffer, at: end + 1)
        }
        return end
    }

    /// Writes one byte in decimal at `offset`; returns the end offset.
    @inline(__always)
    private static func writeOctet(_ value: UInt8, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int)
        -> Int
    {
        var end = offset
        if value >= 100 {
            buffer[end] = 48 &+ value / 100
            end += 1
        }
        if value >= 10 {
            buffer[end] = 48 &+ value / 10 % 10
            end += 1
        }
        buffer[end] = 48 &+ value % 10
        return end + 1
    }

    /// Writes an IPv6 address at `offset` (room for ``ipv6TextLimit`` bytes needed) exactly as glibc's `inet_ntop`
    /// does, which every report has always shown: lower-case groups without leading zeros; the first longest run of
    /// two or more zero groups as `::`; an IPv4-compatible (`::a.b.c.d`) or IPv4-mapped (`::ffff:a.b.c.d`) address
    /// with a dotted quad. Returns the end offset. Written here, not through `inet_ntop`: every IPv6 flow names two
    /// endpoints, and the C call with its buffers cost about 6,000 instructions each.
    func writeIPv6(into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) -> Int {
        @inline(__always)
        func group(_ index: Int) -> UInt16 {
            UInt16(truncatingIfNeeded: (index < 4 ? self.high : self.low) >> UInt64(48 - 16 * (index & 3)))
        }
        // The first of the longest runs of zero groups, if two or more long.
        var runStart = -1
        var bestStart = -1
        var bestLength = 0
        for index in 0..<8 {
            guard group(index) == 0 else {
                runStart = -1
                continue
            }
            if runStart < 0 { runStart = index }
            if index - runStart + 1 > bestLength {
                bestStart = runStart
                bestLength = index - runStart + 1
            }
        }
        if bestLength < 2 { bestStart = -1 }
        let digits = ("0123456789abcdef" as StaticString).utf8Start
        var end = offset
        var index = 0
        while index < 8 {
            if index == bestStart {
                buffer[end] = UInt8(ascii: ":")
                end += 1
                index += bestLength
                continue
            }
            if index != 0 {
                buffer[end] = UInt8(ascii: ":")
                end += 1
            }
            if index == 6 && bestStart == 0 && (bestLength == 6 || (bestLength == 5 && group(5) == 0xffff)) {
                return self.writeIPv4(into: buffer, at: end)
            }
            let value = group(index)
            var shift = value >= 0x1000 ? 12 : value >= 0x100 ? 8 : value >= 0x10 ? 4 : 0
            while shift >= 0 {
                buffer[end] = digits[Int((value >> UInt16(shift)) & 0xf)]
                end += 1
                shift -= 4
            }
            index += 1
        }
        // A run that reaches the end leaves its second colon to write.
        if bestStart >= 0 && bestStart + bestLength == 8 {
            buffer[end] = UInt8(ascii: ":")
            end += 1
        }
        return end
    }

    /// Writes `value` in decimal at `offset`; returns the end offset.
    static func writeDecimal(_ value: UInt32, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) -> Int {
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        rest = value
        var index = offset + digits
        repeat {
            index -= 1
            buffer[index] = UInt8(truncatingIfNeeded: 48 &+ rest % 10)
            rest /= 10
        } while index > offset
        return offset + digits
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        (lhs.isIPv6 ? 1 : 0, lhs.high, lhs.low) < (rhs.isIPv6 ? 1 : 0, rhs.high, rhs.low)
    }
}

/// An address and a transport port: one side of a flow.
public struct Endpoint: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// `"198.18.0.1:443"`, or `"[2001:2::1]:443"` for IPv6.
    public var description: String {
        // Written digit by digit into a string of the right size: every flow names two endpoints, and interpolation
        // was a twentieth of `analyze`.
        if self.address.isIPv6 {
            return String(unsafeUninitializedCapacity: IPAddress.ipv6TextLimit + 8) { buffer in
                buffer[0] = UInt8(ascii: "[")
                let end = self.address.writeIPv6(into: buffer, at: 1)
                buffer[end] = UInt8(ascii: "]")
                buffer[end + 1] = UInt8(ascii: ":")
                return IPAddress.writeDecimal(UInt32(self.port), into: buffer, at: end + 2)
            }
        }
        return String(unsafeUninitializedCapacity: 21) { buffer in
            let end = self.address.writeIPv4(into: buffer, at: 0)
            buffer[end] = UInt8(ascii: ":")
            return IPAddress.writeDecimal(UInt32(self.port), into: buffer, at: end + 1)
        }
    }

    public static func < (lhs: Endpoint, rhs: Endpoint) -> Bool {
        (lhs.address, lhs.port) < (rhs.address, rhs.port)
    }
}
