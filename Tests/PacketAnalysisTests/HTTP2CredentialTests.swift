import BulkheadModel
import BulkheadTestSupport
import Testing

@testable import PacketAnalysis

/// Credentials in cleartext HTTP/2 (h2c: gRPC without TLS): the HPACK reader on RFC 7541's own examples, its Huffman
/// code whole, damaged blocks, and the frames a client stream carries them in. The real case, a grpcio client's bearer
/// token, is in the capture corpus (`captures/h2c-grpc-bearer.pcap`).
@Suite("HTTP/2 cleartext credentials (HPACK)")
struct HTTP2CredentialTests {
    func literals(_ block: [UInt8]) -> (fields: [(String, String)], complete: Bool) {
        var fields: [(String, String)] = []
        let complete = block.withUnsafeBytes { bytes in
            HPACK.forEachLiteral(in: bytes) { name, value in
                fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            }
        }
        return (fields, complete)
    }

    @Test("RFC 7541 C.3 and C.4: the literal fields of the example requests, without and with Huffman coding")
    func rfcExamples() {
        // C.3.1 and C.4.1: :authority www.example.com as a literal with indexing (static name 1).
        let plain = self.literals(hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"))
        #expect(plain.complete && plain.fields.map(\.1) == ["www.example.com"])
        let huffman = self.literals(hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"))
        #expect(huffman.complete && huffman.fields.map(\.1) == ["www.example.com"])
        // C.4.2: cache-control no-cache; C.4.3: a new name custom-key with value custom-value, both Huffman-coded.
        #expect(self.literals(hex("8286 84be 5886 a8eb 1064 9cbf")).fields.map(\.1) == ["no-cache"])
        let custom = self.literals(hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"))
        #expect(custom.complete && custom.fields.count == 1)
        #expect(custom.fields.first?.0 == "custom-key" && custom.fields.first?.1 == "custom-value")
    }

    @Test("the Huffman code is complete and prefix-free (Kraft sum exactly 1), and every octet decodes as itself")
    func huffmanCode() {
        let codes = HPACK.huffmanCodes
        #expect(codes.count == 257)
        // Sum of 2^-length over all symbols, in units of 2^-30 (the longest code).
        let kraft = codes.reduce(0) { $0 + (1 << (30 - Int($1.length))) }
        #expect(kraft == 1 << 30)
        for symbol in 0..<256 {
            // The symbol's code, then the first bits of EOS (all ones) as padding to a whole octet.
            let (code, length) = (UInt64(codes[symbol].code), Int(codes[symbol].length))
            let padding = (8 - length % 8) % 8
            let bits = code << UInt64(padding) | (1 << UInt64(padding) - 1)
            let bytes = (0..<(length + padding) / 8).reversed().map {
                UInt8(truncatingIfNeeded: bits >> UInt64(8 * $0))
            }
            #expect(bytes.withUnsafeBytes(HPACK.huffmanDecode) == [UInt8(symbol)], "symbol \(symbol)")
        }
    }

    @Test("damaged blocks: padding too long or not ones, EOS inside, lengths past the end; never a crash")
    func damage() {
        #expect(hex("ff").withUnsafeBytes(HPACK.huffmanDecode) == nil)  // eight bits of padding
        #expect(hex("f1e3 c2e5 f23a 6ba0 ab90 f4fe").withUnsafeBytes(HPACK.huffmanDecode) == nil)  // padding 0
        #expect(hex("ffff fffc").withUnsafeBytes(HPACK.huffmanDecode) == nil)  // EOS (30 ones) and more
        #expect(!self.literals(hex("4088 25a8 49e9")).complete)  // a name longer than the block
        #expect(!self.literals(hex("7f ff ff ff ff 0f")).complete)  // an integer past 2^28
        let real = hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf")
        for length in 0..<real.count { _ = self.literals(Array(real.prefix(length))) }
        var random = SeededGenerator(state: 0x4850_4143)
        for _ in 0..<2_000 {
            let block = (0..<Int(random.next() % 64)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            _ = self.literals(block)
        }
    }

    /// A client stream: the preface, SETTINGS, then `block` in a HEADERS frame (padded, with priority) split by a
    /// CONTINUATION frame.
    static func clientStream(_ block: [UInt8], split: Int) -> [UInt8] {
        func frame(_ type: UInt8, _ flags: UInt8, _ payload: [UInt8]) -> [UInt8] {
            [UInt8(payload.count >> 16), UInt8(payload.count >> 8 & 0xff), UInt8(payload.count & 0xff), type, flags]
                + [0, 0, 0, 1] + payload
        }
        let first = Array(block.prefix(split))
        let headers = frame(0x1, 0x08 | 0x20, [3] + [0, 0, 0, 0, 16] + first + [0, 0, 0])
        let continuation = frame(0x9, 0x04, Array(block.dropFirst(split)))
        return HTTP2FrameReader.clientPreface + frame(0x4, 0, []) + headers + continuation
    }

    @Test("h2c: an authorization field across HEADERS and CONTINUATION, Huffman-coded or not; repeats reported once")
    func h2cCredentials() {
        // :method POST (indexed), then `authorization: Bearer s3cr3t-Pa55` as a never-indexed literal with static
        // name 23, its value not Huffman-coded.
        let value = Array("Bearer s3cr3t-Pa55".utf8)
        let block: [UInt8] = [0x83, 0x1f, 0x08, UInt8(value.count)] + value
        let stream = Self.clientStream(block + block, split: 6)
        let found = stream.withUnsafeBytes { CredentialExtractor.extract(.http2, client: $0) }
        #expect(found == [Credential(kind: "http-bearer", user: nil, redacted: "token: 11 characters (redacted)")])
        // Basic credentials under a literal name, the user named as HTTP/1's would be.
        let basic = Array("Basic YWxpY2U6czNjcjN0".utf8)  // alice:s3cr3t
        let named: [UInt8] = [0x10, 13] + Array("authorization".utf8) + [UInt8(basic.count)] + basic
        let basicFound = Self.clientStream(named, split: 3).withUnsafeBytes {
            CredentialExtractor.extract(.http2, client: $0)
        }
        #expect(basicFound.first?.kind == "http-basic" && basicFound.first?.user == "alice")
        // No preface, or a block cut by the window: nothing, or what came before the cut.
        #expect(Array(stream.dropFirst(1)).withUnsafeBytes { CredentialExtractor.extract(.http2, client: $0) }.isEmpty)
        for length in 0..<stream.count {
            let cut = Array(stream.prefix(length)).withUnsafeBytes { CredentialExtractor.extract(.http2, client: $0) }
            #expect(cut.allSatisfy { !$0.redacted.contains("s3cr3t") })
        }
    }
}
