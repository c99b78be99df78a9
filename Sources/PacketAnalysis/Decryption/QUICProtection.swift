import CBulkheadOpenSSL

/// What packet protection depends on in a QUIC version: the salt its Initial keys are derived with, the labels of its
/// key derivation and the numbers of its long-header packet types (RFC 9001 §5, RFC 9369 §3 for version 2).
struct QUICVersion: Sendable, Equatable {
    /// The 32-bit version number of the long header.
    let number: UInt32
    /// The name reports give it.
    let name: String
    let initialSalt: [UInt8]
    /// Prefix of the `key`, `iv` and `hp` labels: "quic " for version 1 and the drafts, "quicv2 " for version 2.
    let labelPrefix: String
    /// The long-header type bits (bits 4 and 5 of the first byte) of Initial, Handshake and Retry packets.
    let initialType: UInt8
    let handshakeType: UInt8
    let retryType: UInt8

    /// The versions whose packets Bulkhead reads: 1, 2, and the drafts 29 to 34 that clients still offered when
    /// version 1 came out (their protection is version 1's with draft 29's salt).
    static func known(_ number: UInt32) -> QUICVersion? {
        switch number {
        case 0x0000_0001: Self.version1
        case 0x6b33_43cf: Self.version2
        case 0xff00_001d...0xff00_0022:
            QUICVersion(
                number: number, name: "quic-draft-\(number & 0xff)", initialSalt: Self.draft29Salt,
                labelPrefix: "quic ", initialType: 0, handshakeType: 2, retryType: 3)
        default: nil
        }
    }

    static let version1 = QUICVersion(
        number: 1, name: "quic-v1",
        initialSalt: [
            0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb,
            0x7f, 0x0a,
        ],
        labelPrefix: "quic ", initialType: 0, handshakeType: 2, retryType: 3)

    static let version2 = QUICVersion(
        number: 0x6b33_43cf, name: "quic-v2",
        initialSalt: [
            0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd,
            0x2e, 0xd9,
        ],
        labelPrefix: "quicv2 ", initialType: 1, handshakeType: 3, retryType: 0)

    private static let draft29Salt: [UInt8] = [
        0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90,
        0xa8, 0x99,
    ]
}

/// The keys protecting one direction's packets at one encryption level: the AEAD key (in its cipher context), the
/// IV and the header protection key (RFC 9001 §5.1).
///
/// Initial keys come from the client's first Destination Connection ID, which anyone on the path sees: reading an
/// Initial packet takes no secret (§5.2). Handshake keys come from the key log's handshake traffic secrets.
final class QUICPacketKeys {
    private let opener: AEADOpener
    private let iv: [UInt8]
    private let headerProtection: HeaderProtection

    /// Keys derived from a traffic secret (`secret`) for `cipher`; nil when a key cannot be set up.
    init?(secret: UnsafeRawBufferPointer, cipher: RecordCipher, version: QUICVersion) {
        guard let material = Self.material(secret: secret, cipher: cipher, version: version),
            let headerProtection = HeaderProtection(cipher: cipher.algorithm, key: material.hp)
        else { return nil }
        self.opener = AEADOpener(cipher, key: material.key, keyLength: material.key.count)
        guard self.opener.isUsable else { return nil }
        self.iv = material.iv
        self.headerProtection = headerProtection
    }

    /// The AEAD key, IV and header protection key of a traffic secret (RFC 9001 §5.1; RFC 9369 §3.3.2 for v2's
    /// labels); nil when the secret cannot key an HMAC.
    static func material(secret: UnsafeRawBufferPointer, cipher: RecordCipher, version: QUICVersion) -> (
        key: [UInt8], iv: [UInt8], hp: [UInt8]
    )? {
        guard let hmac = HMACKey(sha384: cipher.usesSHA384, key: Array(secret)) else { return nil }
        let key = hmac.expandLabel(version.labelPrefix + "key", length: cipher.keyLength)
        let iv = hmac.expandLabel(version.labelPrefix + "iv", length: 12)
        let hp = hmac.expandLabel(version.labelPrefix + "hp", length: cipher.keyLength)
        guard key.count == cipher.keyLength, iv.count == 12, hp.count == cipher.keyLength else { return nil }
        return (key, iv, hp)
    }

    /// The client's and the server's Initial secrets for a connection whose client chose `destinationID` (§5.2).
    static func initialSecrets(destinationID: UnsafeRawBufferPointer, version: QUICVersion) -> (
        client: [UInt8], server: [UInt8]
    )? {
        guard let extract = HMACKey(sha384: false, key: version.initialSalt),
            let expand = HMACKey(sha384: false, key: extract.mac(Array(destinationID)))
        else { return nil }
        return (expand.expandLabel("client in", length: 32), expand.expandLabel("server in", length: 32))
    }

    /// The Initial keys of both directions for a connection whose client chose `destinationID` (§5.2).
    static func initial(destinationID: UnsafeRawBufferPointer, version: QUICVersion) -> (
        client: QUICPacketKeys, server: QUICPacketKeys
    )? {
        guard let secrets = Self.initialSecrets(destinationID: destinationID, version: version) else { return nil }
        let cipher = RecordCipher(algorithm: .aes128GCM, usesSHA384: false)
        guard
            let client = secrets.client.withUnsafeBytes({
                QUICPacketKeys(secret: $0, cipher: cipher, version: version)
            }),
            let server = secrets.server.withUnsafeBytes({
                QUICPacketKeys(secret: $0, cipher: cipher, version: version)
            })
        else { return nil }
        return (client, server)
    }

    /// Removes header protection from and decrypts the packet `packet` (its first byte to the end a long header's
    /// Length field gives, or to the datagram's end for a short header), whose packet number starts at `numberOffset`. `largest` is the largest packet number
    /// opened so far in its number space (the full number is recovered from the truncated one around it). Returns the
    /// payload in `output` (its length) and the packet number, nil when the packet does not authenticate.
    func open(
        _ packet: UnsafeRawBufferPointer, numberOffset: Int, longHeader: Bool, largest: Int64?,
        into output: UnsafeMutableRawBufferPointer
    ) -> (length: Int, number: Int64)? {
        // The sample starts four bytes past the packet number's start, whatever its real length (§5.4.2).
        guard numberOffset + 4 + 16 <= packet.count,
            let mask = self.headerProtection.mask(
                sample: UnsafeRawBufferPointer(rebasing: packet[(numberOffset + 4)..<(numberOffset + 20)]))
        else { return nil }
        // A long header protects the low four bits of its first byte, a short one the low five (§5.4.1).
        let first = packet[0] ^ (mask.0 & (longHeader ? 0x0f : 0x1f))
        let numberLength = Int(first & 0x03) + 1
        let headerLength = numberOffset + numberLength
        guard packet.count >= headerLength + 16 else { return nil }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: headerLength) { header in
            guard let base = header.baseAddress else { return nil }
            _ = header.initialize(from: packet[0..<headerLength])
            header[0] = first
            let maskBytes = [mask.1, mask.2, mask.3, mask.4]
            var truncated: Int64 = 0
            for index in 0..<numberLength {
                header[numberOffset + index] ^= maskBytes[index]
                truncated = truncated << 8 | Int64(header[numberOffset + index])
            }
            let number = Self.decodePacketNumber(truncated, bits: numberLength * 8, largest: largest)
            var nonce = self.iv
            for index in 0..<8 { nonce[11 - index] ^= UInt8(truncatingIfNeeded: number >> (8 * index)) }
            let length = nonce.withUnsafeBytes { nonce in
                self.opener.open(
                    nonce: nonce, aad: UnsafeRawBufferPointer(start: base, count: headerLength),
                    ciphertextAndTag: UnsafeRawBufferPointer(rebasing: packet[headerLength...]), into: output)
            }
            return length.map { ($0, number) }
        }
    }

    /// The full packet number closest to the one after `largest` whose low `bits` bits are `truncated` (RFC 9000
    /// §A.3).
    static func decodePacketNumber(_ truncated: Int64, bits: Int, largest: Int64?) -> Int64 {
        let expected = (largest ?? -1) + 1
        let window: Int64 = 1 << bits
        let halfWindow = window / 2
        let candidate = (expected & ~(window - 1)) | truncated
        if candidate <= expected - halfWindow && candidate < (1 << 62) - window { return candidate + window }
        if candidate > expected + halfWindow && candidate >= window { return candidate - window }
        return candidate
    }
}

/// Header protection (RFC 9001 §5.4): a mask made from a sample of the packet's ciphertext, with AES-ECB for the AES
/// suites or the ChaCha20 block function for ChaCha20-Poly1305.
private final class HeaderProtection {
    private let context: OpaquePointer
    private let chacha: Bool

    init?(cipher: RecordCipher.Algorithm, key: [UInt8]) {
        let algorithm: OpaquePointer?
        switch cipher {
        case .aes128GCM: algorithm = EVP_aes_128_ecb()
        case .aes256GCM: algorithm = EVP_aes_256_ecb()
        case .chacha20Poly1305: algorithm = EVP_chacha20()
        }
        guard let algorithm, let context = EVP_CIPHER_CTX_new() else { return nil }
        self.context = context
        self.chacha = cipher == .chacha20Poly1305
        // ChaCha20's key is set here and its counter and nonce (the sample) with each mask.
        guard EVP_EncryptInit_ex(context, algorithm, nil, key, nil) == 1 else {
            ERR_clear_error()
            return nil
        }
        if !self.chacha { EVP_CIPHER_CTX_set_padding(context, 0) }
    }

    deinit { EVP_CIPHER_CTX_free(self.context) }

    /// The five mask bytes for a 16-byte sample.
    func mask(sample: UnsafeRawBufferPointer) -> (UInt8, UInt8, UInt8, UInt8, UInt8)? {
        guard sample.count == 16, let sampleBase = sample.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            return nil
        }
        var block = [UInt8](repeating: 0, count: 16)
        var length: Int32 = 0
        let done = block.withUnsafeMutableBufferPointer { out -> Bool in
            guard let outBase = out.baseAddress else { return false }
            if self.chacha {
                // The sample is ChaCha20's 16-byte IV: the block counter (little-endian), then the nonce; five zero
                // bytes encrypted are the mask.
                let zeros = [UInt8](repeating: 0, count: 5)
                return EVP_EncryptInit_ex(self.context, nil, nil, nil, sampleBase) == 1
                    && EVP_EncryptUpdate(self.context, outBase, &length, zeros, 5) == 1
            }
            return EVP_EncryptUpdate(self.context, outBase, &length, sampleBase, 16) == 1
        }
        guard done else {
            ERR_clear_error()
            return nil
        }
        return (block[0], block[1], block[2], block[3], block[4])
    }
}
