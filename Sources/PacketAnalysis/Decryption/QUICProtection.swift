import CBulkheadOpenSSL

/// What packet protection depends on in a QUIC version: the salt its Initial keys are derived with, the labels of its
/// key derivation and the numbers of its long-header packet types (RFC 9001 §5, RFC 9369 §3 for version 2).
///
/// A class, made once per version: sessions hold and pass it without copying its arrays.
final class QUICVersion: Sendable, Equatable {
    /// The 32-bit version number of the long header.
    let number: UInt32
    /// The name reports give it.
    let name: String
    let initialSalt: [UInt8]
    /// The `key`, `iv` and `hp` labels (without TLS 1.3's "tls13 " prefix, which the derivation adds): "quic key"…
    /// for version 1 and the drafts, "quicv2 key"… for version 2.
    let keyLabel: [UInt8]
    let ivLabel: [UInt8]
    let hpLabel: [UInt8]
    /// The long-header type bits (bits 4 and 5 of the first byte) of Initial, Handshake and Retry packets.
    let initialType: UInt8
    let handshakeType: UInt8
    let retryType: UInt8

    init(
        number: UInt32, name: String, initialSalt: [UInt8], labelPrefix: String, initialType: UInt8,
        handshakeType: UInt8, retryType: UInt8
    ) {
        self.number = number
        self.name = name
        self.initialSalt = initialSalt
        self.keyLabel = Array((labelPrefix + "key").utf8)
        self.ivLabel = Array((labelPrefix + "iv").utf8)
        self.hpLabel = Array((labelPrefix + "hp").utf8)
        self.initialType = initialType
        self.handshakeType = handshakeType
        self.retryType = retryType
    }

    static func == (left: QUICVersion, right: QUICVersion) -> Bool { left.number == right.number }

    /// The versions whose packets Bulkhead reads: 1, 2, and the drafts 29 to 34 that clients still offered when
    /// version 1 came out (their protection is version 1's with draft 29's salt).
    static func known(_ number: UInt32) -> QUICVersion? {
        switch number {
        case 0x0000_0001: Self.version1
        case 0x6b33_43cf: Self.version2
        case 0xff00_001d...0xff00_0022: Self.drafts[Int(number - 0xff00_001d)]
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

    private static let drafts: [QUICVersion] = (0x1d...0x22).map { draft in
        QUICVersion(
            number: 0xff00_0000 | UInt32(draft), name: "quic-draft-\(draft)",
            initialSalt: [
                0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43,
                0x90, 0xa8, 0x99,
            ],
            labelPrefix: "quic ", initialType: 0, handshakeType: 2, retryType: 3)
    }
}

/// The keys protecting one direction's packets at one encryption level: the AEAD key (in its cipher context), the
/// IV and the header protection key (RFC 9001 §5.1).
///
/// Initial keys come from the client's first Destination Connection ID, which anyone on the path sees: reading an
/// Initial packet takes no secret (§5.2). Handshake keys come from the key log's handshake traffic secrets.
final class QUICPacketKeys {
    private let opener: AEADOpener
    /// The 12-byte IV, held inline.
    private let iv: (UInt64, UInt32)
    private let headerProtection: HeaderProtection

    /// Keys derived from a traffic secret (`secret`) for `cipher`; nil when a key cannot be set up. The key material
    /// is derived into stack memory and wiped there: a connection's Initial keys are made for every QUIC connection
    /// in a capture.
    init?(secret: UnsafeRawBufferPointer, cipher: RecordCipher, version: QUICVersion) {
        let keyLength = cipher.keyLength
        var made: (AEADOpener, (UInt64, UInt32), HeaderProtection)?
        withUnsafeTemporaryAllocation(byteCount: 2 * keyLength + 12, alignment: 16) { material in
            defer { material.initializeMemory(as: UInt8.self, repeating: 0) }
            let key = UnsafeMutableRawBufferPointer(rebasing: material[0..<keyLength])
            let hp = UnsafeMutableRawBufferPointer(rebasing: material[keyLength..<(2 * keyLength)])
            let iv = UnsafeMutableRawBufferPointer(rebasing: material[(2 * keyLength)...])
            guard Self.derive(secret: secret, cipher: cipher, version: version, key: key, iv: iv, hp: hp),
                let headerProtection = HeaderProtection(cipher: cipher.algorithm, key: UnsafeRawBufferPointer(hp))
            else { return }
            let opener = AEADOpener(
                cipher, key: key.baseAddress?.assumingMemoryBound(to: UInt8.self), keyLength: keyLength)
            guard opener.isUsable else { return }
            var inline: (UInt64, UInt32) = (0, 0)
            withUnsafeMutableBytes(of: &inline) { $0.copyMemory(from: UnsafeRawBufferPointer(iv)) }
            made = (opener, inline, headerProtection)
        }
        guard let (opener, iv, headerProtection) = made else { return nil }
        self.opener = opener
        self.iv = iv
        self.headerProtection = headerProtection
    }

    /// Derives the AEAD key, IV and header protection key of a traffic secret (RFC 9001 §5.1; RFC 9369 §3.3.2 for
    /// v2's labels) into `key`, `iv` (12 bytes) and `hp` (the cipher's key length each); false on failure.
    private static func derive(
        secret: UnsafeRawBufferPointer, cipher: RecordCipher, version: QUICVersion, key: UnsafeMutableRawBufferPointer,
        iv: UnsafeMutableRawBufferPointer, hp: UnsafeMutableRawBufferPointer
    ) -> Bool {
        guard let hmac = HMACKey(sha384: cipher.usesSHA384, key: secret) else { return false }
        return hmac.expandLabel(version.keyLabel, into: key) && hmac.expandLabel(version.ivLabel, into: iv)
            && hmac.expandLabel(version.hpLabel, into: hp)
    }

    /// ``derive(secret:cipher:version:key:iv:hp:)`` into arrays: for tests against the RFCs' examples.
    static func material(secret: UnsafeRawBufferPointer, cipher: RecordCipher, version: QUICVersion) -> (
        key: [UInt8], iv: [UInt8], hp: [UInt8]
    )? {
        var key = [UInt8](repeating: 0, count: cipher.keyLength)
        var iv = [UInt8](repeating: 0, count: 12)
        var hp = key
        let derived = key.withUnsafeMutableBytes { key in
            iv.withUnsafeMutableBytes { iv in
                hp.withUnsafeMutableBytes { hp in
                    Self.derive(secret: secret, cipher: cipher, version: version, key: key, iv: iv, hp: hp)
                }
            }
        }
        return derived ? (key, iv, hp) : nil
    }

    /// The client's and the server's Initial secrets for a connection whose client chose `destinationID` (§5.2).
    static func initialSecrets(destinationID: UnsafeRawBufferPointer, version: QUICVersion) -> (
        client: [UInt8], server: [UInt8]
    )? {
        guard let extract = HMACKey(sha384: false, key: version.initialSalt),
            let expand = HMACKey(sha384: false, key: extract.mac(Array(destinationID)))
        else { return nil }
        var client = [UInt8](repeating: 0, count: 32)
        var server = [UInt8](repeating: 0, count: 32)
        guard client.withUnsafeMutableBytes({ expand.expandLabel(Self.clientInLabel, into: $0) }),
            server.withUnsafeMutableBytes({ expand.expandLabel(Self.serverInLabel, into: $0) })
        else { return nil }
        return (client, server)
    }

    private static let clientInLabel = Array("client in".utf8)
    private static let serverInLabel = Array("server in".utf8)
    private static let initialCipher = RecordCipher(algorithm: .aes128GCM, usesSHA384: false)

    /// The Initial keys of both directions for a connection whose client chose `destinationID` (§5.2).
    static func initial(destinationID: UnsafeRawBufferPointer, version: QUICVersion) -> (
        client: QUICPacketKeys, server: QUICPacketKeys
    )? {
        guard let secrets = Self.initialSecrets(destinationID: destinationID, version: version),
            let client = secrets.client.withUnsafeBytes({
                QUICPacketKeys(secret: $0, cipher: Self.initialCipher, version: version)
            }),
            let server = secrets.server.withUnsafeBytes({
                QUICPacketKeys(secret: $0, cipher: Self.initialCipher, version: version)
            })
        else { return nil }
        return (client, server)
    }

    /// Removes header protection from and decrypts the packet `packet` (its first byte to the end a long header's
    /// Length field gives, or to the datagram's end for a short header), whose packet number starts at `numberOffset`.
    /// `largest` is the largest packet number opened so far in its number space (the full number is recovered from the
    /// truncated one around it). Returns the payload in `output` (its length) and the packet number, nil when the
    /// packet does not authenticate.
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
            let maskBytes = (mask.1, mask.2, mask.3, mask.4)
            var truncated: Int64 = 0
            for index in 0..<numberLength {
                header[numberOffset + index] ^= withUnsafeBytes(of: maskBytes) { $0[index] }
                truncated = truncated << 8 | Int64(header[numberOffset + index])
            }
            let number = Self.decodePacketNumber(truncated, bits: numberLength * 8, largest: largest)
            var nonce = self.iv
            withUnsafeMutableBytes(of: &nonce) { nonce in
                for index in 0..<8 { nonce[11 - index] ^= UInt8(truncatingIfNeeded: number >> (8 * index)) }
            }
            let length = withUnsafeBytes(of: nonce) { nonce in
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
/// suites or the ChaCha20 block function for ChaCha20-Poly1305. AES goes through the shim's AES-NI rounds where the CPU
/// allows (as AES-GCM records do, ``AEADOpener``): an EVP context cost more to set up than the connection's few masks.
private final class HeaderProtection {
    private enum Context {
        case aes(UnsafeMutablePointer<bh_aes_gcm>)
        case evp(OpaquePointer)
    }

    private let context: Context
    private let chacha: Bool

    init?(cipher: RecordCipher.Algorithm, key: UnsafeRawBufferPointer) {
        guard let keyBase = key.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        self.chacha = cipher == .chacha20Poly1305
        if !self.chacha && AEADOpener.opensAESGCMDirectly {
            guard let aes = bh_aes_block_new(keyBase, key.count) else { return nil }
            self.context = .aes(aes)
            return
        }
        let algorithm: OpaquePointer?
        switch cipher {
        case .aes128GCM: algorithm = AEADCiphers.shared.aes128ECB
        case .aes256GCM: algorithm = AEADCiphers.shared.aes256ECB
        case .chacha20Poly1305: algorithm = AEADCiphers.shared.chacha20
        }
        guard let algorithm, let context = EVP_CIPHER_CTX_new() else { return nil }
        // ChaCha20's key is set here and its counter and nonce (the sample) with each mask.
        guard EVP_EncryptInit_ex(context, algorithm, nil, keyBase, nil) == 1 else {
            EVP_CIPHER_CTX_free(context)
            ERR_clear_error()
            return nil
        }
        if !self.chacha { EVP_CIPHER_CTX_set_padding(context, 0) }
        self.context = .evp(context)
    }

    deinit {
        switch self.context {
        case .aes(let aes): bh_aes_gcm_free(aes)
        case .evp(let context): EVP_CIPHER_CTX_free(context)
        }
    }

    /// The five mask bytes for a 16-byte sample.
    func mask(sample: UnsafeRawBufferPointer) -> (UInt8, UInt8, UInt8, UInt8, UInt8)? {
        guard sample.count == 16, let sampleBase = sample.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            return nil
        }
        var block: (UInt64, UInt64) = (0, 0)
        let done = withUnsafeMutableBytes(of: &block) { raw -> Bool in
            guard let out = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
            switch self.context {
            case .aes(let aes):
                bh_aes_block(aes, sampleBase, out)
                return true
            case .evp(let context):
                var length: Int32 = 0
                if self.chacha {
                    // The sample is ChaCha20's 16-byte IV: the block counter (little-endian), then the nonce; five
                    // zero bytes encrypted are the mask.
                    let zeros: (UInt64, UInt64) = (0, 0)
                    return withUnsafeBytes(of: zeros) { zeros in
                        EVP_EncryptInit_ex(context, nil, nil, nil, sampleBase) == 1
                            && EVP_EncryptUpdate(
                                context, out, &length, zeros.baseAddress?.assumingMemoryBound(to: UInt8.self), 5) == 1
                    }
                }
                return EVP_EncryptUpdate(context, out, &length, sampleBase, 16) == 1
            }
        }
        guard done else {
            ERR_clear_error()
            return nil
        }
        return withUnsafeBytes(of: block) { ($0[0], $0[1], $0[2], $0[3], $0[4]) }
    }
}
