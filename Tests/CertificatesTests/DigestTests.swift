import Certificates
import Testing

@Suite("Digest hex")
struct DigestTests {
    static func reference(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    @Test("every byte value, any length, through raw bytes, arrays and sequences without contiguous storage")
    func hex() {
        var random = SystemRandomNumberGenerator()
        var samples: [[UInt8]] = [[], [0], [0xff], Array(0...255)]
        for length in [1, 7, 15, 16, 32, 48, 64, 100] {
            samples.append((0..<length).map { _ in UInt8.random(in: 0...255, using: &random) })
        }
        for bytes in samples {
            let expected = Self.reference(bytes)
            #expect(bytes.withUnsafeBytes { Digest.hex($0) } == expected)
            #expect(Digest.hex(bytes) == expected)
            #expect(Digest.hex(bytes[...]) == expected)
            #expect(Digest.hex(bytes.lazy.map { $0 }) == expected, "a sequence with no contiguous storage")
        }
    }

    @Test("SHA-256 of a known input")
    func sha256() {
        let text = Array("abc".utf8)
        #expect(
            text.withUnsafeBytes { Digest.sha256Hex($0) }
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
