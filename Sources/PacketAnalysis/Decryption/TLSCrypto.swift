import CBulkheadOpenSSL

/// The record protection a cipher suite uses, as far as decryption needs to know.
struct RecordCipher: Sendable, Hashable {
    enum Algorithm: Sendable { case aes128GCM, aes256GCM, chacha20Poly1305 }
    var algorithm: Algorithm
    /// The suite's hash (SHA-256 or SHA-384): HKDF in TLS 1.3, the PRF in TLS 1.2.
    var usesSHA384: Bool

    var keyLength: Int {
        switch self.algorithm {
        case .aes128GCM: 16
        case .aes256GCM, .chacha20Poly1305: 32
        }
    }

    /// TLS 1.3 suites Bulkhead can decrypt (all but the CCM ones).
    static func tls13(_ suite: UInt16) -> RecordCipher? {
        switch suite {
        case 0x1301: RecordCipher(algorithm: .aes128GCM, usesSHA384: false)
        case 0x1302: RecordCipher(algorithm: .aes256GCM, usesSHA384: true)
        case 0x1303: RecordCipher(algorithm: .chacha20Poly1305, usesSHA384: false)
        default: nil
        }
    }

    /// TLS 1.2 AEAD suites Bulkhead can decrypt (GCM and ChaCha20-Poly1305; not CBC).
    static func tls12(_ suite: UInt16) -> RecordCipher? {
        switch suite {
        case 0xC02F, 0xC02B, 0x009C, 0x009E, 0x00A2, 0xC031, 0xC02D:
            RecordCipher(algorithm: .aes128GCM, usesSHA384: false)
        case 0xC030, 0xC02C, 0x009D, 0x009F, 0x00A3, 0xC032, 0xC02E:
            RecordCipher(algorithm: .aes256GCM, usesSHA384: true)
        case 0xCCA8, 0xCCA9, 0xCCAA:
            RecordCipher(algorithm: .chacha20Poly1305, usesSHA384: false)
        default: nil
        }
    }
}

/// The AEAD ciphers fetched from OpenSSL's default provider once per process (OpenSSL 3 looks an algorithm up again
/// on every implicit use, which costs more than a handshake record's decryption). The hashes need no fetching: HMAC and
/// HKDF use the low-level SHA contexts (see ``HMACKey``).
final class AEADCiphers: @unchecked Sendable {
    static let shared = AEADCiphers()
    let aes128GCM: OpaquePointer?
    let aes256GCM: OpaquePointer?
    let chacha20Poly1305: OpaquePointer?

    private init() {
        self.aes128GCM = EVP_CIPHER_fetch(nil, "AES-128-GCM", nil)
        self.aes256GCM = EVP_CIPHER_fetch(nil, "AES-256-GCM", nil)
        self.chacha20Poly1305 = EVP_CIPHER_fetch(nil, "ChaCha20-Poly1305", nil)
    }
}

/// The cryptography TLS decryption needs, through OpenSSL: HMAC, HKDF-Expand-Label (RFC 8446 §7.1), the
/// TLS 1.2 PRF (RFC 5246 §5) and AEAD decryption.
enum TLSCrypto {
    /// HMAC (RFC 2104) over SHA-256 or SHA-384.
    static func hmac(sha384: Bool, key: [UInt8], data: [UInt8]) -> [UInt8] {
        HMACKey(sha384: sha384, key: key)?.mac(data) ?? []
    }

    /// HKDF-Expand (RFC 5869) of `secret` with `info` to `length` bytes.
    static func hkdfExpand(sha384: Bool, secret: [UInt8], info: [UInt8], length: Int) -> [UInt8] {
        HMACKey(sha384: sha384, key: secret)?.expand(info: info, length: length) ?? []
    }

    /// HKDF-Expand-Label(secret, label, "", length) of TLS 1.3.
    static func expandLabel(sha384: Bool, secret: [UInt8], label: String, length: Int) -> [UInt8] {
        guard let key = HMACKey(sha384: sha384, key: secret) else { return [] }
        return Self.expandLabel(key, label: label, length: length)
    }

    static func expandLabel(_ key: HMACKey, label: String, length: Int) -> [UInt8] {
        let fullLabel = Array(("tls13 " + label).utf8)
        let info = [UInt8(length >> 8), UInt8(length & 0xff), UInt8(fullLabel.count)] + fullLabel + [0]
        return key.expand(info: info, length: length)
    }

    /// The TLS 1.2 PRF: P_hash(secret, label + seed) to `length` bytes.
    static func prf12(sha384: Bool, secret: [UInt8], label: String, seed: [UInt8], length: Int) -> [UInt8] {
        guard let key = HMACKey(sha384: sha384, key: secret) else { return [] }
        let labelAndSeed = Array(label.utf8) + seed
        var output: [UInt8] = []
        var a = labelAndSeed
        while output.count < length {
            a = key.mac(a)
            guard !a.isEmpty else { return [] }
            output += key.mac(a, labelAndSeed)
        }
        return Array(output.prefix(length))
    }
}

/// An HMAC key over SHA-256 or SHA-384, its padded inner and outer hash states computed once, so that the several
/// MACs TLS derives from one secret (HKDF's key and IV, the TLS 1.2 PRF's blocks) each cost two compressions and
/// no allocation (see `bh_hmac_key` in the OpenSSL shim for why it does not use EVP digest contexts).
struct HMACKey {
    private var state = bh_hmac_key()

    init?(sha384: Bool, key: [UInt8]) {
        guard bh_hmac_key_init(&self.state, sha384 ? 1 : 0, key, key.count) == 1 else { return nil }
    }

    /// HMAC of `data` followed by `more`.
    func mac(_ data: [UInt8], _ more: [UInt8] = []) -> [UInt8] {
        withUnsafePointer(to: self.state) { key in
            [UInt8](unsafeUninitializedCapacity: 64) { buffer, count in
                count = bh_hmac(key, data, data.count, more, more.count, -1, buffer.baseAddress)
            }
        }
    }

    /// HKDF-Expand (RFC 5869) with this key as the PRK: `length` bytes, empty on failure.
    func expand(info: [UInt8], length: Int) -> [UInt8] {
        guard length > 0 else { return [] }
        return withUnsafePointer(to: self.state) { key in
            [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
                count = bh_hkdf_expand(key, info, info.count, buffer.baseAddress, length) == 1 ? length : 0
            }
        }
    }
}

/// An AEAD decryption context holding one key, reused for every record of a direction (setting up a cipher
/// context costs more than decrypting a handshake record).
final class AEADOpener {
    private let context: OpaquePointer?
    let cipher: RecordCipher

    init(_ cipher: RecordCipher, key: [UInt8]) {
        self.cipher = cipher
        let context = EVP_CIPHER_CTX_new()
        let algorithm: OpaquePointer?
        switch cipher.algorithm {
        case .aes128GCM: algorithm = AEADCiphers.shared.aes128GCM
        case .aes256GCM: algorithm = AEADCiphers.shared.aes256GCM
        case .chacha20Poly1305: algorithm = AEADCiphers.shared.chacha20Poly1305
        }
        if let context, key.count == cipher.keyLength,
            EVP_DecryptInit_ex(context, algorithm, nil, nil, nil) == 1,
            EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_IVLEN, 12, nil) == 1,
            EVP_DecryptInit_ex(context, nil, nil, key, nil) == 1
        {
            self.context = context
        } else {
            EVP_CIPHER_CTX_free(context)
            self.context = nil
        }
        ERR_clear_error()
    }

    deinit { EVP_CIPHER_CTX_free(self.context) }

    /// Decrypts and authenticates one record body; nil when the tag does not verify (wrong key).
    func open(nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, ciphertextAndTag: UnsafeRawBufferPointer)
        -> [UInt8]?
    {
        guard let context = self.context, ciphertextAndTag.count >= 16, nonce.count == 12,
            let nonceBase = nonce.baseAddress?.assumingMemoryBound(to: UInt8.self),
            let aadBase = aad.baseAddress?.assumingMemoryBound(to: UInt8.self),
            let base = ciphertextAndTag.baseAddress?.assumingMemoryBound(to: UInt8.self)
        else { return nil }
        let ciphertextLength = ciphertextAndTag.count - 16
        var ok = true
        let plaintext = [UInt8](unsafeUninitializedCapacity: max(ciphertextLength, 1)) { out, count in
            count = 0
            var length: Int32 = 0
            var finalLength: Int32 = 0
            // OpenSSL copies the tag; it does not write through the pointer.
            let tag = UnsafeMutableRawPointer(mutating: base + ciphertextLength)
            guard let outBase = out.baseAddress,
                EVP_DecryptInit_ex(context, nil, nil, nil, nonceBase) == 1,
                EVP_DecryptUpdate(context, nil, &length, aadBase, Int32(aad.count)) == 1,
                EVP_DecryptUpdate(context, outBase, &length, base, Int32(ciphertextLength)) == 1,
                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1,
                EVP_DecryptFinal_ex(context, outBase + Int(length), &finalLength) == 1
            else {
                ok = false
                return
            }
            count = ciphertextLength
        }
        guard ok else {
            // A failed tag check leaves an error on the thread's queue; a success leaves none.
            ERR_clear_error()
            return nil
        }
        return plaintext
    }
}

/// Record protection for one direction: key, IV and the record sequence number.
struct DirectionKeys {
    var cipher: RecordCipher
    /// The record key (kept for tools that build test records, like the fuzz harness).
    var key: [UInt8]
    var opener: AEADOpener
    /// TLS 1.3 and ChaCha20: the 12-byte IV XORed with the sequence number. TLS 1.2 GCM: the 4-byte salt.
    var iv: [UInt8]
    var sequence: UInt64 = 0
    /// TLS 1.2 (the AAD carries the sequence number, type, version and length; GCM has an explicit nonce).
    var isTLS12: Bool

    /// Keys from a TLS 1.3 traffic secret.
    init(tls13 cipher: RecordCipher, secret: [UInt8]) {
        self.cipher = cipher
        let hmac = HMACKey(sha384: cipher.usesSHA384, key: secret)
        self.key = hmac.map { TLSCrypto.expandLabel($0, label: "key", length: cipher.keyLength) } ?? []
        self.opener = AEADOpener(cipher, key: self.key)
        self.iv = hmac.map { TLSCrypto.expandLabel($0, label: "iv", length: 12) } ?? []
        self.isTLS12 = false
    }

    init(tls12 cipher: RecordCipher, key: [UInt8], iv: [UInt8]) {
        self.cipher = cipher
        self.key = key
        self.opener = AEADOpener(cipher, key: key)
        self.iv = iv
        self.isTLS12 = true
    }

    /// Both directions' keys from a TLS 1.2 master secret (RFC 5246 §6.3, AEAD suites: no MAC keys).
    static func tls12(_ cipher: RecordCipher, masterSecret: [UInt8], clientRandom: [UInt8], serverRandom: [UInt8])
        -> (client: DirectionKeys, server: DirectionKeys)?
    {
        let ivLength = cipher.algorithm == .chacha20Poly1305 ? 12 : 4
        let block = TLSCrypto.prf12(
            sha384: cipher.usesSHA384, secret: masterSecret, label: "key expansion",
            seed: serverRandom + clientRandom, length: 2 * cipher.keyLength + 2 * ivLength)
        guard block.count == 2 * cipher.keyLength + 2 * ivLength else { return nil }
        var offset = 0
        func take(_ count: Int) -> [UInt8] {
            defer { offset += count }
            return Array(block[offset..<(offset + count)])
        }
        let clientKey = take(cipher.keyLength)
        let serverKey = take(cipher.keyLength)
        let clientIV = take(ivLength)
        let serverIV = take(ivLength)
        return (
            DirectionKeys(tls12: cipher, key: clientKey, iv: clientIV),
            DirectionKeys(tls12: cipher, key: serverKey, iv: serverIV)
        )
    }

    /// Decrypts one record (header type/version and its body). Returns the inner content type and the plaintext,
    /// or nil when it does not authenticate. Advances the sequence number on success.
    mutating func open(type: UInt8, version: UInt16, body: UnsafeRawBufferPointer) -> (type: UInt8, plaintext: [UInt8])?
    {
        // The nonce (12 bytes) and the additional data (at most 13) are built in place, on the stack.
        var nonce: (UInt64, UInt32) = (0, 0)
        var aad: (UInt64, UInt64) = (0, 0)
        var ciphertext = body
        let aadLength: Int
        let sequence = self.sequence.bigEndian
        let ivPrefixLength = self.isTLS12 && self.cipher.algorithm != .chacha20Poly1305 ? 4 : 12
        guard self.iv.count == ivPrefixLength else { return nil }
        withUnsafeMutableBytes(of: &nonce) { nonceBytes in
            self.iv.withUnsafeBytes { nonceBytes.copyMemory(from: $0) }
        }
        if self.isTLS12 && self.cipher.algorithm != .chacha20Poly1305 {
            // TLS 1.2 GCM: the 4-byte salt, then the record's 8-byte explicit nonce.
            guard body.count >= 8 + 16 else { return nil }
            withUnsafeMutableBytes(of: &nonce) { nonceBytes in
                UnsafeMutableRawBufferPointer(rebasing: nonceBytes[4..<12]).copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: body[0..<8]))
            }
            ciphertext = UnsafeRawBufferPointer(rebasing: body[8...])
        } else {
            // TLS 1.3 and ChaCha20: the IV with the sequence number XORed into its last 8 bytes.
            withUnsafeMutableBytes(of: &nonce) { nonceBytes in
                withUnsafeBytes(of: sequence) { sequenceBytes in
                    for index in 0..<8 { nonceBytes[4 + index] ^= sequenceBytes[index] }
                }
            }
        }
        let header: (UInt8, UInt8, UInt8) = (type, UInt8(version >> 8), UInt8(version & 0xff))
        let length: Int
        if self.isTLS12 {
            // TLS 1.2: sequence number, type, version and the plaintext's length.
            length = ciphertext.count - 16
            guard length >= 0 else { return nil }
            aad.0 = sequence
            aadLength = 13
        } else {
            // TLS 1.3: the record header as sent.
            length = body.count
            aadLength = 5
        }
        withUnsafeMutableBytes(of: &aad) { aadBytes in
            let at = aadLength - 5
            aadBytes[at] = header.0
            aadBytes[at + 1] = header.1
            aadBytes[at + 2] = header.2
            aadBytes[at + 3] = UInt8(truncatingIfNeeded: length >> 8)
            aadBytes[at + 4] = UInt8(truncatingIfNeeded: length)
        }
        let opened = withUnsafeBytes(of: nonce) { nonceBytes in
            withUnsafeBytes(of: aad) { aadBytes in
                self.opener.open(
                    nonce: UnsafeRawBufferPointer(rebasing: nonceBytes[0..<12]),
                    aad: UnsafeRawBufferPointer(rebasing: aadBytes[0..<aadLength]), ciphertextAndTag: ciphertext)
            }
        }
        guard var plaintext = opened else { return nil }
        self.sequence &+= 1
        if self.isTLS12 { return (type, plaintext) }
        // TLS 1.3 TLSInnerPlaintext: content, then the real content type, then zero padding.
        while let last = plaintext.last, last == 0 { plaintext.removeLast() }
        guard let innerType = plaintext.popLast() else { return nil }
        return (innerType, plaintext)
    }
}
