import BulkheadModel
import BulkheadTestSupport
import Testing

@testable import PacketAnalysis

/// memcached's binary protocol: requests recognised (and the look-alikes not), and SASL PLAIN logins read from them,
/// bounded on every length. The real session (libmemcached's memccat against memcached with `-S`) is in the capture
/// corpus (`captures/memcached-binary-sasl-plain.pcap`).
@Suite("memcached binary protocol")
struct MemcachedBinaryTests {
    /// A packet: magic, opcode, key length, extras length, data type 0, vbucket or status 0, body length, opaque 0,
    /// CAS 0, then extras, key and value.
    static func packet(
        magic: UInt8 = 0x80, _ opcode: UInt8, extras: [UInt8] = [], key: [UInt8] = [], value: [UInt8] = []
    ) -> [UInt8] {
        [magic, opcode] + PacketBuilder.be16(key.count) + [UInt8(extras.count), 0, 0, 0]
            + PacketBuilder.be32(UInt32(extras.count + key.count + value.count)) + [UInt8](repeating: 0, count: 12)
            + extras + key + value
    }

    static let listMechanisms = packet(0x20)
    static func auth(_ mechanism: String, _ token: [UInt8]) -> [UInt8] {
        Self.packet(0x21, key: Array(mechanism.utf8), value: token)
    }
    static let plain = auth("PLAIN", Array("cacheuser\0cacheuser\0mc-Secret-42".utf8))
    static let get = packet(0x0c, key: Array("greeting".utf8))

    func classify(_ client: [UInt8], _ server: [UInt8] = []) -> ApplicationProtocol? {
        client.withUnsafeBytes { first in
            server.withUnsafeBytes {
                ProtocolClassifier.classify(first: first, second: $0, rolesKnown: true, final: true)?.proto
            }
        }
    }

    @Test("requests: a known opcode, raw data, a body that holds its extras and key; the server's answer agrees")
    func requests() {
        #expect(self.classify(Self.listMechanisms) == .memcached)
        #expect(self.classify(Self.get, Self.packet(magic: 0x81, 0x0c)) == .memcached)
        // The answer to another opcode, a response's magic from the client, an unknown opcode, another data type, a
        // body shorter than its key, a body past 1 MiB, a header cut short: not memcached.
        #expect(self.classify(Self.get, Self.packet(magic: 0x81, 0x0a)) != .memcached)
        #expect(self.classify(Self.packet(magic: 0x81, 0x0c)) != .memcached)
        #expect(self.classify(Self.packet(0x49)) != .memcached)
        var typed = Self.get
        typed[5] = 1
        var short = Self.get
        short[11] = 2
        var huge = Self.get
        huge[8] = 0x10
        for bytes in [typed, short, huge, Array(Self.get.prefix(23))] { #expect(self.classify(bytes) != .memcached) }
        // An SSL 2.0-compatible ClientHello also starts with 0x80: it stays TLS.
        #expect(self.classify([0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15] + [UInt8](repeating: 0, count: 40)) == .tls)
    }

    static func credentials(_ bytes: [UInt8]) -> [Credential] {
        bytes.withUnsafeBytes(CredentialExtractor.memcachedBinary)
    }

    @Test("SASL PLAIN after other requests, each login once; other mechanisms and empty tokens carry no password")
    func logins() {
        let expected = Credential(
            kind: "memcached-sasl-plain", user: "cacheuser", redacted: "password: 12 characters (redacted)")
        #expect(Self.credentials(Self.get + Self.listMechanisms + Self.plain + Self.plain + Self.get) == [expected])
        // A SASL step with PLAIN's token (a client that sends it only when asked) counts too.
        #expect(
            Self.credentials(
                Self.auth("PLAIN", []) + Self.packet(0x22, key: Array("PLAIN".utf8), value: Array("\0a\0b".utf8))
            )
            .map(\.user) == ["a"])
        #expect(Self.credentials(Self.auth("CRAM-MD5", Array("cacheuser 0123456789abcdef".utf8))).isEmpty)
        #expect(Self.credentials(Self.auth("PLAIN", [])).isEmpty)
        #expect(!"\(Self.credentials(Self.plain))".contains("mc-Secret-42"))
    }

    @Test("bad input: a body shorter than its key, lengths past the bytes, the 64-request limit; never a crash")
    func badInput() {
        var lying = Self.plain
        lying[11] = 3  // a body of 3 bytes: shorter than its 5-byte key
        #expect(Self.credentials(lying + Self.plain).isEmpty)
        var past = Self.plain
        past[10] = 0x10  // a body of 1 MiB and more: past the bytes at hand
        #expect(Self.credentials(past).isEmpty)
        let many = Array(Array(repeating: Self.get, count: 64).joined())
        #expect(Self.credentials(many + Self.plain).isEmpty)
        #expect(Self.credentials(Array(many.dropLast(Self.get.count)) + Self.plain).count == 1)
        let exchange = Self.listMechanisms + Self.plain + Self.get
        for length in 0...exchange.count { _ = Self.credentials(Array(exchange.prefix(length))) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let tail = (0..<Int.random(in: 0..<120, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            _ = Self.credentials([0x80] + tail)
        }
    }

    @Test("a flow: memcached with its SASL login, in segments of 1 byte too")
    func flow() throws {
        for segmentSize in [1400, 1] {
            let record = try analyzeConversation(
                serverPort: 11211,
                [
                    (true, Self.listMechanisms), (false, Self.packet(magic: 0x81, 0x20, value: Array("PLAIN".utf8))),
                    (true, Self.plain), (false, Self.packet(magic: 0x81, 0x21, value: Array("Authenticated".utf8))),
                ], segmentSize: segmentSize)
            #expect(record.proto == .memcached, "segments of \(segmentSize)")
            #expect(record.credentials.map(\.kind) == ["memcached-sasl-plain"], "segments of \(segmentSize)")
        }
    }
}
