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
        return Self.hex(digest)
    }

    /// Lower-case hex of `bytes`.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits: StaticString = "0123456789abcdef"
        let count = bytes.underestimatedCount
        // Written in place when the length is known (every digest and random in a capture); else through an array.
        if let contiguous = bytes.withContiguousStorageIfAvailable({ $0 }), contiguous.count == count {
            return String(unsafeUninitializedCapacity: count * 2) { text in
                for (index, byte) in contiguous.enumerated() {
                    text[2 * index] = digits.utf8Start[Int(byte >> 4)]
                    text[2 * index + 1] = digits.utf8Start[Int(byte & 0x0f)]
                }
                return count * 2
            }
        }
        var text: [UInt8] = []
        text.reserveCapacity(count * 2)
        for byte in bytes {
            text.append(digits.utf8Start[Int(byte >> 4)])
            text.append(digits.utf8Start[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
