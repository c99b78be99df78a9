import BulkheadModel
import Testing

@testable import PacketAnalysis

/// Kafka's SASL in clear: the real kafka-python client's PLAIN (SaslAuthenticate v1 and v2, and a bare token after a
/// version 0 handshake) and OAUTHBEARER tokens are in the capture corpus (captures/kafka-sasl-*.pcap); these tests
/// hold what it does not: other mechanisms, an authorization identity, and requests cut or lying about their lengths.
@Suite("Kafka SASL")
struct KafkaSASLTests {
    /// A request: size, API key, version, correlation id, client id, then `body` (header 2's tagged fields included
    /// by the caller where the version is flexible).
    static func request(key: Int, version: Int, clientID: String? = "svc", _ body: [UInt8]) -> [UInt8] {
        let id = clientID.map { PacketBuilder.be16($0.utf8.count) + Array($0.utf8) } ?? [0xff, 0xff]
        let content = PacketBuilder.be16(key) + PacketBuilder.be16(version) + PacketBuilder.be32(7) + id + body
        return PacketBuilder.be32(UInt32(content.count)) + content
    }

    static func handshake(_ mechanism: String, version: Int = 1) -> [UInt8] {
        request(key: 17, version: version, PacketBuilder.be16(mechanism.utf8.count) + Array(mechanism.utf8))
    }

    static func authenticate(_ token: [UInt8], version: Int = 1) -> [UInt8] {
        if version >= 2 {
            // Header 2's tagged fields (none), compact bytes (length + 1, one byte here), the body's tagged fields.
            return request(key: 36, version: version, [0, UInt8(token.count + 1)] + token + [0])
        }
        return request(key: 36, version: version, PacketBuilder.be32(UInt32(token.count)) + token)
    }

    static let plainToken = Array("\0orders-svc\0kafka-Pa55-w0rd".utf8)
    static let apiVersions = request(key: 18, version: 2, [])

    static func credentials(_ bytes: [UInt8]) -> [Credential] {
        bytes.withUnsafeBytes { CredentialExtractor.extract(.kafka, client: $0) }
    }

    @Test("PLAIN in SaslAuthenticate v0, v1 and v2, and bare after a v0 handshake; a null client id")
    func plain() {
        let expected = [
            Credential(kind: "kafka-sasl-plain", user: "orders-svc", redacted: "password: 15 characters (redacted)")
        ]
        for version in 0...2 {
            #expect(
                Self.credentials(
                    Self.apiVersions + Self.handshake("PLAIN") + Self.authenticate(Self.plainToken, version: version))
                    == expected, "SaslAuthenticate v\(version)")
        }
        let bare = PacketBuilder.be32(UInt32(Self.plainToken.count)) + Self.plainToken
        #expect(Self.credentials(Self.handshake("PLAIN", version: 0) + bare) == expected)
        let nullID = Self.request(key: 17, version: 1, clientID: nil, PacketBuilder.be16(5) + Array("PLAIN".utf8))
        #expect(Self.credentials(nullID + Self.authenticate(Self.plainToken)) == expected)
    }

    @Test("OAUTHBEARER: the token after its scheme, the authorization identity as the user; extensions passed over")
    func oauthBearer() {
        let token = Array(
            "n,a=orders-svc,\u{1}host=kafka\u{1}auth=Bearer eyJhbGciOi.e30.sig\u{1}tenant=a\u{1}\u{1}".utf8)
        #expect(
            Self.credentials(Self.handshake("OAUTHBEARER") + Self.authenticate(token)) == [
                Credential(
                    kind: "kafka-sasl-oauthbearer", user: "orders-svc", redacted: "token: 18 characters (redacted)")
            ])
        // The error response a client sends after the server's challenge (a lone 0x01) carries nothing.
        #expect(Self.credentials(Self.handshake("OAUTHBEARER") + Self.authenticate([1])).isEmpty)
    }

    @Test("SCRAM and GSSAPI carry no secret; a token before any handshake is nobody's")
    func otherMechanisms() {
        let scram = Array("n,,n=orders-svc,r=fyko+d2lbbFgONRv9qkxdawL".utf8)
        #expect(Self.credentials(Self.handshake("SCRAM-SHA-512") + Self.authenticate(scram)).isEmpty)
        #expect(Self.credentials(Self.handshake("GSSAPI") + Self.authenticate([0x60, 0x82, 0x02])).isEmpty)
        #expect(Self.credentials(Self.authenticate(Self.plainToken)).isEmpty)
    }

    @Test("cut anywhere, or lying about lengths: never a crash, a credential only from a whole token")
    func hostile() {
        let whole = Self.apiVersions + Self.handshake("PLAIN") + Self.authenticate(Self.plainToken)
        let tokenEnd = whole.count
        for length in 0..<tokenEnd {
            #expect(Self.credentials(Array(whole.prefix(length))).isEmpty, "cut at \(length)")
        }
        // A size past 100 MB, a client id longer than its request, a compact length of five 0xff bytes, a tagged-field
        // count past 64: reading stops there.
        let lies: [[UInt8]] = [
            [0xff, 0xff, 0xff, 0xff] + Self.handshake("PLAIN"),
            PacketBuilder.be32(12) + [0, 17, 0, 1, 0, 0, 0, 7, 0x7f, 0xff, 0, 0],
            Self.handshake("PLAIN") + Self.request(key: 36, version: 2, [0, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Self.handshake("PLAIN") + Self.request(key: 36, version: 2, [65] + Self.plainToken),
        ]
        for bytes in lies { #expect(Self.credentials(bytes).isEmpty) }
    }
}
