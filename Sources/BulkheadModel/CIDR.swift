/// IPv4/IPv6 CIDR arithmetic: parsing, overlap, membership.
public enum CIDR {
    /// `ADDRESS/PREFIX`, the prefix in plain decimal digits (`198.18.1.0//24`, `/+24` and `/024` are no CIDRs).
    public static func parse(_ text: String) -> (address: IPAddress, prefix: Int)? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(String(parts[0])),
            let prefix = Self.decimal(parts[1], digits: 3)
        else {
            return nil
        }
        guard prefix >= 0, prefix <= (address.isIPv6 ? 128 : 32) else { return nil }
        return (address, prefix)
    }

    /// A number written in 1 to `digits` ASCII digits, with no sign and no leading zero (but `0` itself).
    public static func decimal(_ text: Substring, digits: Int) -> Int? {
        guard !text.isEmpty, text.count <= digits, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
            text == "0" || text.first != "0"
        else { return nil }
        return Int(text)
    }

    public static func overlap(_ first: String, _ second: String) -> Bool {
        guard let a = parse(first), let b = parse(second), a.address.isIPv6 == b.address.isIPv6 else { return false }
        let prefix = min(a.prefix, b.prefix)
        return Self.masked(a.address, prefix) == Self.masked(b.address, prefix)
    }

    public static func contains(_ cidr: String, _ address: IPAddress) -> Bool {
        guard let network = parse(cidr) else { return false }
        return Self.contains(network: network.address, prefix: network.prefix, address)
    }

    /// Whether `address` is in the range `network`/`prefix` (already parsed).
    public static func contains(network: IPAddress, prefix: Int, _ address: IPAddress) -> Bool {
        network.isIPv6 == address.isIPv6 && Self.masked(network, prefix) == Self.masked(address, prefix)
    }

    public static func masked(_ address: IPAddress, _ prefix: Int) -> (UInt64, UInt64) {
        if !address.isIPv6 {
            let mask: UInt64 = prefix == 0 ? 0 : (0xffff_ffff << UInt64(32 - prefix)) & 0xffff_ffff
            return (0, address.low & mask)
        }
        let highMask: UInt64 = prefix >= 64 ? ~0 : prefix == 0 ? 0 : ~0 << UInt64(64 - prefix)
        let lowMask: UInt64 = prefix >= 128 ? ~0 : prefix <= 64 ? 0 : ~0 << UInt64(128 - prefix)
        return (address.high & highMask, address.low & lowMask)
    }
}
