import CBulkheadOpenSSL

/// Message digests through OpenSSL's EVP interface.
public enum Digest {
    /// SHA-256 of `bytes` as 64 lower-case hex characters.
    public static func sha256Hex(_ bytes: UnsafeRawBufferPointer) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = digest.withUnsafeMutableBufferPointer { out in
            EVP_Digest(bytes.baseAddress, bytes.count, out.baseAddress, &length, EVP_sha256(), nil)
        }
        guard ok == 1 else { return String(repeating: "0", count: 64) }
        return digest.withUnsafeBytes { Self.hex($0) }
    }

    /// Lower-case hex of `bytes`.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        if let text = bytes.withContiguousStorageIfAvailable({ Self.hex(UnsafeRawBufferPointer($0)) }) { return text }
        return Array(bytes).withUnsafeBytes { Self.hex($0) }
    }

    /// Lower-case hex of `bytes`, written in place into a string of the right size. Not generic: a generic function
    /// called from another module runs unspecialised, through witness tables (a TLS ClientHello's random cost about
    /// 1,100 instructions that way).
    public static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        // The table's address read once: `StaticString.utf8Start` checks the string's representation at every call.
        let digits = ("0123456789abcdef" as StaticString).utf8Start
        return String(unsafeUninitializedCapacity: bytes.count * 2) { text in
            var end = 0
            for byte in bytes {
                text[end] = digits[Int(byte >> 4)]
                text[end + 1] = digits[Int(byte & 0x0f)]
                end += 2
            }
            return end
        }
    }
}
