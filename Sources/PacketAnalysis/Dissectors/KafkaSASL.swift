import BulkheadModel

/// Credentials a Kafka client sends in clear on a `SASL_PLAINTEXT` listener (Kafka's protocol guide, "SASL
/// Authentication Sequence"): the client names a mechanism in a SaslHandshake request (API key 17), then sends SASL
/// tokens, inside SaslAuthenticate requests (API key 36) when the handshake was version 1, or as bare frames (a
/// 4-byte length, then the token) after a version 0 handshake.
///
/// PLAIN's token is RFC 4616's `authzid NUL authcid NUL password`; OAUTHBEARER's (RFC 7628) carries a bearer token
/// in its `auth=` field. Both are secrets in clear. SCRAM's messages (a salted proof, never the password) and
/// GSSAPI's (Kerberos tickets) are not read.
extension CredentialExtractor {
    /// The mechanisms whose tokens carry a secret.
    enum KafkaSASLMechanism {
        case plain
        case oauthBearer
        case other
    }

    /// The requests a client sent, read in order from its first byte, for SASL tokens. Reading stops at a request that
    /// cannot be right (a length past 100 MB or the bytes at hand, a header cut short) and after 32 requests.
    static func kafka(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var cursor = ByteCursor(bytes)
        var mechanism: KafkaSASLMechanism?
        var bareTokenNext = false
        var credentials: [Credential] = []
        var requests = 0
        while requests < 32, let size = cursor.u32(), size < 100_000_000, var request = cursor.sub(Int(size)) {
            requests += 1
            if bareTokenNext {
                // After a version 0 handshake, the token is the whole frame.
                bareTokenNext = false
                if let mechanism, let token = request.bytes(request.remaining) {
                    credentials += Self.kafkaToken(token, mechanism)
                }
                continue
            }
            guard let apiKey = request.u16(), let apiVersion = request.u16(), request.skip(4),
                let clientIDLength = request.u16()
            else { return credentials }
            // The client id: a nullable string (-1 for none), in every request header version.
            if clientIDLength != 0xffff, !request.skip(Int(clientIDLength)) { return credentials }
            switch apiKey {
            case 17:
                // SaslHandshake v0/v1 (never flexible): the mechanism's name.
                guard let length = request.u16(), let name = request.bytes(Int(length)) else { return credentials }
                mechanism = Self.kafkaMechanism(name)
                bareTokenNext = apiVersion == 0
            case 36:
                // SaslAuthenticate: `auth_bytes`, a 4-byte length and the bytes up to version 1; from version 2 (a
                // flexible version: request header 2, with tagged fields) a compact length, one more than the count.
                let token: UnsafeRawBufferPointer?
                if apiVersion >= 2 {
                    guard Self.skipKafkaTaggedFields(&request), let length = Self.kafkaUnsignedVarint(&request),
                        length > 0
                    else { return credentials }
                    token = request.bytes(length - 1)
                } else {
                    token = request.u32().flatMap { request.bytes(Int($0)) }
                }
                if let mechanism, let token { credentials += Self.kafkaToken(token, mechanism) }
            default:
                continue
            }
        }
        return credentials
    }

    static func kafkaMechanism(_ name: UnsafeRawBufferPointer) -> KafkaSASLMechanism {
        if name.elementsEqual("PLAIN".utf8) { return .plain }
        if name.elementsEqual("OAUTHBEARER".utf8) { return .oauthBearer }
        return .other
    }

    /// The credential in one SASL token of `mechanism`, if it carries one.
    static func kafkaToken(_ token: UnsafeRawBufferPointer, _ mechanism: KafkaSASLMechanism) -> [Credential] {
        switch mechanism {
        case .plain:
            return token.isEmpty ? [] : [Self.saslPlain(token, kind: "kafka-sasl-plain")]
        case .oauthBearer:
            return Self.oauthBearer(token).map { [$0] } ?? []
        case .other:
            return []
        }
    }

    /// RFC 7628's initial client response: a GS2 header (`n,a=authzid,` or `n,,`), then `key=value` pairs each ended
    /// by 0x01, and a final 0x01. The token is the `auth` pair's value after its scheme (`Bearer `).
    static func oauthBearer(_ token: UnsafeRawBufferPointer) -> Credential? {
        let fields = token.split(separator: 0x01, omittingEmptySubsequences: true)
        guard let header = fields.first, header.starts(with: "n,".utf8) || header.starts(with: "y,".utf8) else {
            return nil
        }
        // `a=` names the identity to act as, the user where the client gave one.
        let gs2 = header.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
        let user = gs2.count > 1 && gs2[1].starts(with: "a=".utf8) ? gs2[1].dropFirst(2) : nil
        for field in fields.dropFirst() where field.starts(with: "auth=".utf8) {
            var value = field.dropFirst(5)
            if let space = value.firstIndex(of: UInt8(ascii: " ")),
                value.distance(from: value.startIndex, to: space) < 16
            {
                value = value[(space + 1)...]
            }
            return Credential(
                kind: "kafka-sasl-oauthbearer",
                user: user.flatMap { $0.isEmpty ? nil : UnsafeRawBufferPointer(rebasing: $0).printableText },
                redacted: secretDescription("token", value.count))
        }
        return nil
    }

    /// An unsigned varint of Kafka's flexible versions (7 bits a byte, low first, at most 5 bytes).
    static func kafkaUnsignedVarint(_ cursor: inout ByteCursor) -> Int? {
        var value = 0
        for shift in stride(from: 0, through: 28, by: 7) {
            guard let byte = cursor.u8() else { return nil }
            value |= Int(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
        }
        return nil
    }

    /// Passes over a tagged-field section: a count, then each field's tag, size and bytes.
    static func skipKafkaTaggedFields(_ cursor: inout ByteCursor) -> Bool {
        guard let count = Self.kafkaUnsignedVarint(&cursor), count <= 64 else { return false }
        for _ in 0..<count {
            guard Self.kafkaUnsignedVarint(&cursor) != nil, let size = Self.kafkaUnsignedVarint(&cursor),
                cursor.skip(size)
            else { return false }
        }
        return true
    }
}
