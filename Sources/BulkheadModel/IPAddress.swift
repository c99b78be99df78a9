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

    /// The textual form: dotted quad for IPv4, RFC 5952 compressed form for IPv6.
    public var description: String {
        if !self.isIPv6 {
            return String(unsafeUninitializedCapacity: 15) { self.writeIPv4(into: $0, at: 0) }
        }
        var bytes = in6_addr()
        withUnsafeMutableBytes(of: &bytes) { raw in
            raw.storeBytes(of: self.high.bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: self.low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        guard inet_ntop(AF_INET6, &bytes, &buffer, socklen_t(buffer.count)) != nil else { return "::" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Writes the dotted quad of an IPv4 address at `offset` (room for 15 bytes needed); returns the end offset.
    func writeIPv4(into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) -> Int {
        let value = UInt32(truncatingIfNeeded: self.low)
        var end = offset
        for shift in [24, 16, 8, 0] as [UInt32] {
            if shift != 24 {
                buffer[end] = UInt8(ascii: ".")
                end += 1
            }
            end = Self.writeDecimal((value >> shift) & 0xff, into: buffer, at: end)
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
        for index in stride(from: offset + digits - 1, through: offset, by: -1) {
            buffer[index] = UInt8(truncatingIfNeeded: 48 + rest % 10)
            rest /= 10
        }
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
        guard !self.address.isIPv6 else { return "[\(self.address)]:\(self.port)" }
        // Written digit by digit: every flow names two endpoints, and interpolation was a twentieth of `analyze`.
        return String(unsafeUninitializedCapacity: 21) { buffer in
            var count = self.address.writeIPv4(into: buffer, at: 0)
            buffer[count] = UInt8(ascii: ":")
            count += 1
            return IPAddress.writeDecimal(UInt32(self.port), into: buffer, at: count)
        }
    }

    public static func < (lhs: Endpoint, rhs: Endpoint) -> Bool {
        (lhs.address, lhs.port) < (rhs.address, rhs.port)
    }
}
