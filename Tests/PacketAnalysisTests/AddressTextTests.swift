import BulkheadModel
import Glibc
import Testing

/// Addresses and endpoints are written digit by digit; they must read exactly as they always have, which for IPv6
/// is what the C library's `inet_ntop` writes (RFC 5952 compression, embedded dotted quads).
@Suite("Address text")
struct AddressTextTests {
    static func ntop(_ address: IPAddress) -> String? {
        var bytes = in6_addr()
        withUnsafeMutableBytes(of: &bytes) { raw in
            raw.storeBytes(of: address.high.bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: address.low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        guard inet_ntop(AF_INET6, &bytes, &text, socklen_t(text.count)) != nil else { return nil }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Every pattern of zero, one, `ffff` and random groups (4⁸ of them: every run of zeros at every place, the
    /// IPv4-compatible and IPv4-mapped forms among them) and random addresses.
    static func ipv6Samples() -> [IPAddress] {
        var random = SystemRandomNumberGenerator()
        var samples: [IPAddress] = []
        for pattern in 0..<65_536 {
            var halves: (UInt64, UInt64) = (0, 0)
            for index in 0..<8 {
                let group: UInt64 =
                    switch (pattern >> (2 * index)) & 3 {
                    case 0: 0
                    case 1: 1
                    case 2: 0xffff
                    default: UInt64.random(in: 0...0xffff, using: &random)
                    }
                if index < 4 {
                    halves.0 |= group << UInt64(48 - 16 * index)
                } else {
                    halves.1 |= group << UInt64(48 - 16 * (index - 4))
                }
            }
            samples.append(IPAddress(ipv6High: halves.0, low: halves.1))
        }
        for _ in 0..<20_000 { samples.append(IPAddress(ipv6High: random.next(), low: random.next())) }
        for _ in 0..<2_000 {
            let quad = UInt64(UInt32.random(in: 0...UInt32.max, using: &random))
            samples.append(IPAddress(ipv6High: 0, low: quad))
            samples.append(IPAddress(ipv6High: 0, low: 0xffff_0000_0000 | quad))
        }
        return samples
    }

    @Test("IPv6 addresses read as inet_ntop writes them, and parse back")
    func ipv6() throws {
        for address in Self.ipv6Samples() {
            let expected = try #require(Self.ntop(address))
            #expect(address.description == expected)
            #expect(IPAddress(address.description) == address)
        }
        #expect(IPAddress(ipv6High: 0, low: 0).description == "::")
        #expect(IPAddress(ipv6High: 0, low: 1).description == "::1")
        #expect(IPAddress(ipv6High: 0x2001_0002_0000_0000, low: 1).description == "2001:2::1")
        #expect(IPAddress(ipv6High: 0, low: 0xffff_c612_0001).description == "::ffff:198.18.0.1")
        #expect(
            IPAddress(ipv6High: 0x2001_0db8_0000_0000, low: 0x0001_0000_0000_0001).description == "2001:db8::1:0:0:1")
    }

    @Test("endpoints: dotted quad or bracketed IPv6, then the port, for edge octets and ports")
    func endpoints() throws {
        var random = SystemRandomNumberGenerator()
        let octets: [UInt32] = [0, 1, 9, 10, 99, 100, 199, 200, 255]
        let ports: [UInt16] = [0, 1, 9, 10, 99, 100, 999, 1000, 9999, 10_000, 65_535]
        for octet in octets {
            for position: UInt32 in [0, 8, 16, 24] {
                let value =
                    (octet << position) | (UInt32.random(in: 0...UInt32.max, using: &random) & ~(0xff << position))
                let address = IPAddress(ipv4: value)
                let quad = [24, 16, 8, 0].map { String((value >> UInt32($0)) & 0xff) }.joined(separator: ".")
                #expect(address.description == quad)
                for port in ports + [UInt16.random(in: 0...65_535, using: &random)] {
                    #expect(Endpoint(address: address, port: port).description == "\(quad):\(port)")
                }
            }
        }
        for address in Self.ipv6Samples().prefix(3_000) {
            let port = UInt16.random(in: 0...65_535, using: &random)
            let expected = try #require(Self.ntop(address))
            #expect(Endpoint(address: address, port: port).description == "[\(expected)]:\(port)")
        }
        let longest = IPAddress(ipv6High: 0xffff_ffff_ffff_ffff, low: 0xffff_ffff_ffff_ffff)
        #expect(
            Endpoint(address: longest, port: 65_535).description == "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")
    }
}
