import BulkheadModel

/// memcached's binary protocol (the one SASL authentication needs, and libmemcached, pylibmc and the Java clients
/// can speak): each packet a 24-byte header, magic 0x80 for a request and 0x81 for a response, then its extras, key
/// and value.
///
/// A server started with `-S` takes logins in SASL packets: a list of mechanisms (opcode 0x20), then an auth (0x21)
/// whose key names the mechanism and whose value is its first token; PLAIN's is RFC 4616's `authzid NUL authcid NUL
/// password`, the password in clear on a connection without TLS.
enum MemcachedBinary {
    /// The opcodes of SASL authentication: the list of mechanisms, an auth, and a step.
    static let saslListMechanisms: UInt8 = 0x20
    static let saslAuth: UInt8 = 0x21
    static let saslStep: UInt8 = 0x22

    /// Whether `bytes` start with a request header: magic 0x80, an opcode the protocol defines (0x00-0x48), raw data
    /// (type 0), and a body at least as long as its extras and key, at most 1 MiB (the default item size). When the
    /// server answered (`peer`), its first bytes must be a response (magic 0x81) to the same opcode.
    static func isRequest(_ bytes: UnsafeRawBufferPointer, peer: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 24, bytes[0] == 0x80, bytes[1] <= 0x48, bytes[5] == 0 else { return false }
        let keyLength = Int(PacketDecoder.be16(bytes, 2))
        let extrasLength = Int(bytes[4])
        let bodyLength = Int(PacketDecoder.be32(bytes, 8))
        guard bodyLength >= keyLength + extrasLength, bodyLength <= 1 << 20 else { return false }
        guard !peer.isEmpty else { return true }
        return peer.count >= 2 && peer[0] == 0x81 && peer[1] == bytes[1]
    }
}

extension CredentialExtractor {
    /// The SASL PLAIN logins in a binary memcached client's requests (`memcached-sasl-plain`, the user and the
    /// password's length), read in order from its first byte. Other mechanisms (CRAM-MD5, SCRAM) send no password.
    /// Reading stops at a packet that cannot be right (no request magic, a body shorter than its extras and key, past
    /// 1 MiB or the bytes at hand) and after 64 requests.
    static func memcachedBinary(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var cursor = ByteCursor(bytes)
        var credentials: [Credential] = []
        var requests = 0
        while requests < 64, let magic = cursor.u8(), magic == 0x80, let opcode = cursor.u8(),
            let keyLength = cursor.u16(), let extrasLength = cursor.u8(), cursor.skip(3),
            let bodyLength = cursor.u32(), bodyLength <= 1 << 20, cursor.skip(12),
            Int(bodyLength) >= Int(keyLength) + Int(extrasLength), var body = cursor.sub(Int(bodyLength))
        {
            requests += 1
            guard opcode == MemcachedBinary.saslAuth || opcode == MemcachedBinary.saslStep,
                body.skip(Int(extrasLength)),
                let mechanism = body.bytes(Int(keyLength)), mechanism.elementsEqual("PLAIN".utf8),
                let token = body.bytes(body.remaining), !token.isEmpty
            else { continue }
            let credential = Self.saslPlain(token, kind: "memcached-sasl-plain")
            if !credentials.contains(credential) { credentials.append(credential) }
        }
        return credentials
    }
}
