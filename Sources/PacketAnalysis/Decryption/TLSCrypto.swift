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

/// Digests and ciphers fetched from OpenSSL's default provider once per process (OpenSSL 3 looks an
/// algorithm up again on every implicit use, which costs more than a handshake record's decryption).
final class Digests: @unchecked Sendable {
    static let shared = Digests()
    let sha256: OpaquePointer?
    let sha384: OpaquePointer?
    let aes128GCM: OpaquePointer?
    let aes256GCM: OpaquePointer?
    let chacha20Poly1305: OpaquePointer?

    private init() {
        self.sha256 = EVP_MD_fetch(nil, "SHA256", nil)
        self.sha384 = EVP_MD_fetch(nil, "SHA384", nil)
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
        guard let key = HMACKey(sha384: sha384, key: secret) else { return [] }
        return Self.hkdfExpand(key, info: info, length: length)
    }

    static func hkdfExpand(_ key: HMACKey, info: [UInt8], length: Int) -> [UInt8] {
        var output: [UInt8] = []
        var previous: [UInt8] = []
        var counter: UInt8 = 1
        while output.count < length && counter < 255 {
            previous = key.mac(previous + info + [counter])
            guard !previous.isEmpty else { return [] }
            output += previous
            counter += 1
        }
        return Array(output.prefix(length))
    }

    /// HKDF-Expand-Label(secret, label, "", length) of TLS 1.3.
    static func expandLabel(sha384: Bool, secret: [UInt8], label: String, length: Int) -> [UInt8] {
        guard let key = HMACKey(sha384: sha384, key: secret) else { return [] }
        return Self.expandLabel(key, label: label, length: length)
    }

    static func expandLabel(_ key: HMACKey, label: String, length: Int) -> [UInt8] {
        let fullLabel = Array(("tls13 " + label).utf8)
        let info = [UInt8(length >> 8), UInt8(length & 0xff), UInt8(fullLabel.count)] + fullLabel + [0]
        return Self.hkdfExpand(key, info: info, length: length)
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
            output += key.mac(a + labelAndSeed)
        }
        return Array(output.prefix(length))
    }
}

/// An HMAC key with its padded inner and outer hash states computed once, so that the several MACs TLS
/// derives from one secret (HKDF's key and IV, the TLS 1.2 PRF's blocks) each cost two digest finals.
/// OpenSSL 3's one-shot `HMAC()` looks the algorithm up on every call, which cost more than the hashing.
final class HMACKey {
    private let inner: OpaquePointer
    private let outer: OpaquePointer
    private let scratch: OpaquePointer

    init?(sha384: Bool, key: [UInt8]) {
        guard let digest = sha384 ? Digests.shared.sha384 : Digests.shared.sha256,
            let inner = EVP_MD_CTX_new(), let outer = EVP_MD_CTX_new(), let scratch = EVP_MD_CTX_new()
        else { return nil }
        self.inner = inner
        self.outer = outer
        self.scratch = scratch
        let blockSize = sha384 ? 128 : 64
        var block = key
        if block.count > blockSize {
            guard EVP_DigestInit_ex2(scratch, digest, nil) == 1, EVP_DigestUpdate(scratch, key, key.count) == 1 else {
                return nil
            }
            var hashed = [UInt8](repeating: 0, count: 64)
            var length: UInt32 = 0
            guard EVP_DigestFinal_ex(scratch, &hashed, &length) == 1 else { return nil }
            block = Array(hashed.prefix(Int(length)))
        }
        block += [UInt8](repeating: 0, count: blockSize - block.count)
        let innerPad = block.map { $0 ^ 0x36 }
        let outerPad = block.map { $0 ^ 0x5c }
        guard EVP_DigestInit_ex2(inner, digest, nil) == 1, EVP_DigestUpdate(inner, innerPad, innerPad.count) == 1,
            EVP_DigestInit_ex2(outer, digest, nil) == 1, EVP_DigestUpdate(outer, outerPad, outerPad.count) == 1
        else { return nil }
    }

    deinit {
        EVP_MD_CTX_free(self.inner)
        EVP_MD_CTX_free(self.outer)
        EVP_MD_CTX_free(self.scratch)
    }

    func mac(_ data: [UInt8]) -> [UInt8] {
        var innerHash = [UInt8](repeating: 0, count: 64)
        var output = [UInt8](repeating: 0, count: 64)
        var innerLength: UInt32 = 0
        var length: UInt32 = 0
        guard EVP_MD_CTX_copy_ex(self.scratch, self.inner) == 1, EVP_DigestUpdate(self.scratch, data, data.count) == 1,
            EVP_DigestFinal_ex(self.scratch, &innerHash, &innerLength) == 1,
            EVP_MD_CTX_copy_ex(self.scratch, self.outer) == 1,
            EVP_DigestUpdate(self.scratch, innerHash, Int(innerLength)) == 1,
            EVP_DigestFinal_ex(self.scratch, &output, &length) == 1
        else { return [] }
        return Array(output.prefix(Int(length)))
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
        case .aes128GCM: algorithm = Digests.shared.aes128GCM
        case .aes256GCM: algorithm = Digests.shared.aes256GCM
        case .chacha20Poly1305: algorithm = Digests.shared.chacha20Poly1305
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
    func open(nonce: [UInt8], aad: [UInt8], ciphertextAndTag: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let context = self.context, ciphertextAndTag.count >= 16, nonce.count == 12,
            let base = ciphertextAndTag.baseAddress?.assumingMemoryBound(to: UInt8.self)
        else { return nil }
        let ciphertextLength = ciphertextAndTag.count - 16
        var plaintext = [UInt8](repeating: 0, count: max(ciphertextLength, 1))
        var length: Int32 = 0
        guard EVP_DecryptInit_ex(context, nil, nil, nil, nonce) == 1,
            EVP_DecryptUpdate(context, nil, &length, aad, Int32(aad.count)) == 1
        else { return nil }
        let ok = plaintext.withUnsafeMutableBufferPointer { out -> Bool in
            guard let outBase = out.baseAddress,
                EVP_DecryptUpdate(context, outBase, &length, base, Int32(ciphertextLength)) == 1
            else { return false }
            var tag = Array(UnsafeBufferPointer(start: base + ciphertextLength, count: 16))
            guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, 16, &tag) == 1 else { return false }
            var finalLength: Int32 = 0
            return EVP_DecryptFinal_ex(context, outBase + Int(length), &finalLength) == 1
        }
        ERR_clear_error()
        return ok ? Array(plaintext.prefix(ciphertextLength)) : nil
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
        var nonce: [UInt8]
        var ciphertext = body
        var aad: [UInt8]
        let sequenceBytes = (0..<8).map { UInt8(truncatingIfNeeded: self.sequence >> (56 - 8 * UInt64($0))) }
        if self.isTLS12 {
            if self.cipher.algorithm == .chacha20Poly1305 {
                nonce = self.iv
                for index in 0..<8 { nonce[4 + index] ^= sequenceBytes[index] }
            } else {
                guard body.count >= 8 + 16 else { return nil }
                nonce = self.iv + Array(body.prefix(8))
                ciphertext = UnsafeRawBufferPointer(rebasing: body[8...])
            }
            let length = ciphertext.count - 16
            guard length >= 0 else { return nil }
            aad =
                sequenceBytes + [
                    type, UInt8(version >> 8), UInt8(version & 0xff), UInt8(length >> 8), UInt8(length & 0xff),
                ]
        } else {
            nonce = self.iv
            for index in 0..<8 { nonce[4 + index] ^= sequenceBytes[index] }
            aad = [type, UInt8(version >> 8), UInt8(version & 0xff), UInt8(body.count >> 8), UInt8(body.count & 0xff)]
        }
        guard var plaintext = self.opener.open(nonce: nonce, aad: aad, ciphertextAndTag: ciphertext) else {
            return nil
        }
        self.sequence &+= 1
        if self.isTLS12 { return (type, plaintext) }
        // TLS 1.3 TLSInnerPlaintext: content, then the real content type, then zero padding.
        while let last = plaintext.last, last == 0 { plaintext.removeLast() }
        guard let innerType = plaintext.popLast() else { return nil }
        return (innerType, plaintext)
    }
}
