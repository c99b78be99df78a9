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

/// The cryptography TLS decryption needs, through OpenSSL: HMAC, HKDF-Expand-Label (RFC 8446 §7.1), the
/// TLS 1.2 PRF (RFC 5246 §5) and AEAD decryption.
enum TLSCrypto {
    static func hmac(sha384: Bool, key: [UInt8], data: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        let digest = sha384 ? EVP_sha384() : EVP_sha256()
        let ok = key.withUnsafeBytes { keyBytes in
            data.withUnsafeBytes { dataBytes in
                output.withUnsafeMutableBytes { out in
                    HMAC(digest, keyBytes.baseAddress, Int32(key.count), dataBytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
                         data.count, out.baseAddress?.assumingMemoryBound(to: UInt8.self), &length)
                }
            }
        }
        return ok == nil ? [] : Array(output.prefix(Int(length)))
    }

    /// HKDF-Expand (RFC 5869) of `secret` with `info` to `length` bytes.
    static func hkdfExpand(sha384: Bool, secret: [UInt8], info: [UInt8], length: Int) -> [UInt8] {
        var output: [UInt8] = []
        var previous: [UInt8] = []
        var counter: UInt8 = 1
        while output.count < length && counter < 255 {
            previous = self.hmac(sha384: sha384, key: secret, data: previous + info + [counter])
            guard !previous.isEmpty else { return [] }
            output += previous
            counter += 1
        }
        return Array(output.prefix(length))
    }

    /// HKDF-Expand-Label(secret, label, "", length) of TLS 1.3.
    static func expandLabel(sha384: Bool, secret: [UInt8], label: String, length: Int) -> [UInt8] {
        let fullLabel = Array(("tls13 " + label).utf8)
        let info = [UInt8(length >> 8), UInt8(length & 0xff), UInt8(fullLabel.count)] + fullLabel + [0]
        return self.hkdfExpand(sha384: sha384, secret: secret, info: info, length: length)
    }

    /// The TLS 1.2 PRF: P_hash(secret, label + seed) to `length` bytes.
    static func prf12(sha384: Bool, secret: [UInt8], label: String, seed: [UInt8], length: Int) -> [UInt8] {
        let labelAndSeed = Array(label.utf8) + seed
        var output: [UInt8] = []
        var a = labelAndSeed
        while output.count < length {
            a = self.hmac(sha384: sha384, key: secret, data: a)
            guard !a.isEmpty else { return [] }
            output += self.hmac(sha384: sha384, key: secret, data: a + labelAndSeed)
        }
        return Array(output.prefix(length))
    }

    /// Decrypts and authenticates one AEAD record body; nil when the tag does not verify (wrong key).
    static func open(_ cipher: RecordCipher, key: [UInt8], nonce: [UInt8], aad: [UInt8], ciphertextAndTag: UnsafeRawBufferPointer) -> [UInt8]? {
        guard ciphertextAndTag.count >= 16, nonce.count == 12, key.count == cipher.keyLength,
              let context = EVP_CIPHER_CTX_new()
        else { return nil }
        defer { EVP_CIPHER_CTX_free(context) }
        let algorithm: OpaquePointer?
        switch cipher.algorithm {
        case .aes128GCM: algorithm = EVP_aes_128_gcm()
        case .aes256GCM: algorithm = EVP_aes_256_gcm()
        case .chacha20Poly1305: algorithm = EVP_chacha20_poly1305()
        }
        let ciphertextLength = ciphertextAndTag.count - 16
        var plaintext = [UInt8](repeating: 0, count: max(ciphertextLength, 1))
        var length: Int32 = 0
        guard EVP_DecryptInit_ex(context, algorithm, nil, nil, nil) == 1,
              EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_IVLEN, 12, nil) == 1,
              EVP_DecryptInit_ex(context, nil, nil, key, nonce) == 1,
              EVP_DecryptUpdate(context, nil, &length, aad, Int32(aad.count)) == 1,
              let base = ciphertextAndTag.baseAddress?.assumingMemoryBound(to: UInt8.self)
        else { return nil }
        let ok = plaintext.withUnsafeMutableBufferPointer { out -> Bool in
            guard EVP_DecryptUpdate(context, out.baseAddress, &length, base, Int32(ciphertextLength)) == 1 else { return false }
            var tag = Array(UnsafeBufferPointer(start: base + ciphertextLength, count: 16))
            guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, 16, &tag) == 1 else { return false }
            var finalLength: Int32 = 0
            return EVP_DecryptFinal_ex(context, out.baseAddress! + Int(length), &finalLength) == 1
        }
        ERR_clear_error()
        return ok ? Array(plaintext.prefix(ciphertextLength)) : nil
    }
}

/// Record protection for one direction: key, IV and the record sequence number.
struct DirectionKeys {
    var cipher: RecordCipher
    var key: [UInt8]
    /// TLS 1.3 and ChaCha20: the 12-byte IV XORed with the sequence number. TLS 1.2 GCM: the 4-byte salt.
    var iv: [UInt8]
    var sequence: UInt64 = 0
    /// TLS 1.2 (the AAD carries the sequence number, type, version and length; GCM has an explicit nonce).
    var isTLS12: Bool

    /// Keys from a TLS 1.3 traffic secret.
    init(tls13 cipher: RecordCipher, secret: [UInt8]) {
        self.cipher = cipher
        self.key = TLSCrypto.expandLabel(sha384: cipher.usesSHA384, secret: secret, label: "key", length: cipher.keyLength)
        self.iv = TLSCrypto.expandLabel(sha384: cipher.usesSHA384, secret: secret, label: "iv", length: 12)
        self.isTLS12 = false
    }

    init(tls12 cipher: RecordCipher, key: [UInt8], iv: [UInt8]) {
        self.cipher = cipher
        self.key = key
        self.iv = iv
        self.isTLS12 = true
    }

    /// Both directions' keys from a TLS 1.2 master secret (RFC 5246 §6.3, AEAD suites: no MAC keys).
    static func tls12(_ cipher: RecordCipher, masterSecret: [UInt8], clientRandom: [UInt8], serverRandom: [UInt8])
        -> (client: DirectionKeys, server: DirectionKeys)?
    {
        let ivLength = cipher.algorithm == .chacha20Poly1305 ? 12 : 4
        let block = TLSCrypto.prf12(sha384: cipher.usesSHA384, secret: masterSecret, label: "key expansion",
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
        return (DirectionKeys(tls12: cipher, key: clientKey, iv: clientIV), DirectionKeys(tls12: cipher, key: serverKey, iv: serverIV))
    }

    /// Decrypts one record (header type/version and its body). Returns the inner content type and the plaintext,
    /// or nil when it does not authenticate. Advances the sequence number on success.
    mutating func open(type: UInt8, version: UInt16, body: UnsafeRawBufferPointer) -> (type: UInt8, plaintext: [UInt8])? {
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
            aad = sequenceBytes + [type, UInt8(version >> 8), UInt8(version & 0xff), UInt8(length >> 8), UInt8(length & 0xff)]
        } else {
            nonce = self.iv
            for index in 0..<8 { nonce[4 + index] ^= sequenceBytes[index] }
            aad = [type, UInt8(version >> 8), UInt8(version & 0xff), UInt8(body.count >> 8), UInt8(body.count & 0xff)]
        }
        guard var plaintext = TLSCrypto.open(self.cipher, key: self.key, nonce: nonce, aad: aad, ciphertextAndTag: ciphertext) else {
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
