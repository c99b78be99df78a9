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
    /// QUIC header protection's block ciphers (RFC 9001 §5.4), where the shim's AES rounds are not used.
    let aes128ECB: OpaquePointer?
    let aes256ECB: OpaquePointer?
    let chacha20: OpaquePointer?

    private init() {
        self.aes128GCM = EVP_CIPHER_fetch(nil, "AES-128-GCM", nil)
        self.aes256GCM = EVP_CIPHER_fetch(nil, "AES-256-GCM", nil)
        self.chacha20Poly1305 = EVP_CIPHER_fetch(nil, "ChaCha20-Poly1305", nil)
        self.aes128ECB = EVP_CIPHER_fetch(nil, "AES-128-ECB", nil)
        self.aes256ECB = EVP_CIPHER_fetch(nil, "AES-256-ECB", nil)
        self.chacha20 = EVP_CIPHER_fetch(nil, "ChaCha20", nil)
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
        return key.expandLabel(label, length: length)
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

    /// A key from bytes where they lie.
    init?(sha384: Bool, key: UnsafeRawBufferPointer) {
        guard
            bh_hmac_key_init(
                &self.state, sha384 ? 1 : 0, key.baseAddress?.assumingMemoryBound(to: UInt8.self), key.count)
                == 1
        else { return nil }
    }

    /// HKDF-Expand-Label(this key, `label` (its bytes, without "tls13 "), "", `output.count`) into `output`; false on
    /// failure.
    func expandLabel(_ label: [UInt8], into output: UnsafeMutableRawBufferPointer) -> Bool {
        guard let base = output.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        return withUnsafePointer(to: self.state) { key in
            bh_hkdf_expand_label(key, label, label.count, base, output.count) == 1
        }
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

    /// HKDF-Expand-Label(this key, label, "", length) of TLS 1.3: `length` bytes, empty on failure.
    func expandLabel(_ label: String, length: Int) -> [UInt8] {
        guard length > 0 else { return [] }
        let label = Array(label.utf8)
        return withUnsafePointer(to: self.state) { key in
            [UInt8](unsafeUninitializedCapacity: length) { buffer, count in
                count =
                    bh_hkdf_expand_label(key, label, label.count, buffer.baseAddress, length) == 1 ? length : 0
            }
        }
    }
}

/// An AEAD decryption context holding one key, reused for every record of a direction, and for its next key (setting up
/// a cipher context costs more than decrypting a handshake record).
///
/// AES-GCM goes through the shim's `bh_aes_gcm` (OpenSSL's GCM mode with AES-NI rounds) where the CPU allows: EVP's
/// provider layer cost several times the cipher's own work per short record. ChaCha20-Poly1305, and AES-GCM on other
/// CPUs, go through EVP.
final class AEADOpener {
    private enum Context {
        case evp(OpaquePointer)
        case aesGCM(UnsafeMutablePointer<bh_aes_gcm>)
    }

    private var context: Context?
    let cipher: RecordCipher

    /// Whether AES-GCM records are opened without EVP (the CPU has AES-NI, SSSE3 and PCLMULQDQ, the known answers
    /// passed, and no test forbade it).
    static var opensAESGCMDirectly: Bool { bh_aes_gcm_in_use() == 1 }

    /// Test hook: sends AES-GCM through EVP even where the direct path is available, so both are tested.
    static func forceEVP(_ force: Bool) { bh_forbid_path(Int32(BH_PATH_AES_GCM), force ? 1 : 0) }

    /// A context for `cipher` keyed with the `keyLength` bytes at `key`; one that fails to set up opens nothing.
    init(_ cipher: RecordCipher, key: UnsafePointer<UInt8>?, keyLength: Int) {
        self.cipher = cipher
        guard let key, keyLength == cipher.keyLength else { return }
        if cipher.algorithm != .chacha20Poly1305 && Self.opensAESGCMDirectly {
            self.context = bh_aes_gcm_new(key, keyLength).map { .aesGCM($0) }
            return
        }
        let algorithm: OpaquePointer?
        switch cipher.algorithm {
        case .aes128GCM: algorithm = AEADCiphers.shared.aes128GCM
        case .aes256GCM: algorithm = AEADCiphers.shared.aes256GCM
        case .chacha20Poly1305: algorithm = AEADCiphers.shared.chacha20Poly1305
        }
        guard let context = EVP_CIPHER_CTX_new() else { return }
        if EVP_DecryptInit_ex(context, algorithm, nil, nil, nil) == 1,
            EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_IVLEN, 12, nil) == 1,
            EVP_DecryptInit_ex(context, nil, nil, key, nil) == 1
        {
            self.context = .evp(context)
        } else {
            EVP_CIPHER_CTX_free(context)
            // A failure leaves errors on the thread's queue; a success leaves none (clearing it costs ~800 instructions).
            ERR_clear_error()
        }
    }

    convenience init(_ cipher: RecordCipher, key: [UInt8]) {
        self.init(cipher, key: key, keyLength: key.count)
    }

    deinit { self.release() }

    private func release() {
        switch self.context {
        case .evp(let context): EVP_CIPHER_CTX_free(context)
        case .aesGCM(let aes): bh_aes_gcm_free(aes)
        case nil: break
        }
        self.context = nil
    }

    /// The context was set up (a failed set-up or re-key leaves none, and opens nothing).
    var isUsable: Bool { self.context != nil }

    /// Replaces the key (same cipher); false, and the context then opens nothing, when it cannot be set.
    @discardableResult
    func rekey(_ key: UnsafePointer<UInt8>?, keyLength: Int) -> Bool {
        let keyed: Bool
        switch self.context {
        case nil:
            return false
        case .evp(let context):
            keyed =
                key != nil && keyLength == self.cipher.keyLength && EVP_DecryptInit_ex(context, nil, nil, key, nil) == 1
            if !keyed { ERR_clear_error() }
        case .aesGCM(let aes):
            keyed = key != nil && keyLength == self.cipher.keyLength && bh_aes_gcm_set_key(aes, key, keyLength) == 1
        }
        if !keyed { self.release() }
        return keyed
    }

    /// Decrypts and authenticates one record body into `output` (room for at least the ciphertext, the body less its
    /// 16-byte tag); returns the plaintext's length, nil when the tag does not verify (wrong key) or there is no room.
    func open(
        nonce: UnsafeRawBufferPointer, aad: UnsafeRawBufferPointer, ciphertextAndTag: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) -> Int? {
        guard let context = self.context, ciphertextAndTag.count >= 16, nonce.count == 12,
            output.count >= ciphertextAndTag.count - 16,
            let nonceBase = nonce.baseAddress?.assumingMemoryBound(to: UInt8.self),
            let aadBase = aad.baseAddress?.assumingMemoryBound(to: UInt8.self),
            let base = ciphertextAndTag.baseAddress?.assumingMemoryBound(to: UInt8.self)
        else { return nil }
        let ciphertextLength = ciphertextAndTag.count - 16
        // A zero-length plaintext still needs somewhere to point.
        var spare: UInt8 = 0
        return withUnsafeMutablePointer(to: &spare) { spare -> Int? in
            let outBase = output.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? spare
            switch context {
            case .aesGCM(let aes):
                let opened = bh_aes_gcm_open(
                    aes, nonceBase, aadBase, aad.count, base, ciphertextLength, base + ciphertextLength, outBase)
                return opened == 1 ? ciphertextLength : nil
            case .evp(let context):
                // OpenSSL copies the tag; it does not write through the pointer.
                let tag = UnsafeMutableRawPointer(mutating: base + ciphertextLength)
                var length: Int32 = 0
                var finalLength: Int32 = 0
                guard EVP_DecryptInit_ex(context, nil, nil, nil, nonceBase) == 1,
                    EVP_DecryptUpdate(context, nil, &length, aadBase, Int32(aad.count)) == 1,
                    EVP_DecryptUpdate(context, outBase, &length, base, Int32(ciphertextLength)) == 1,
                    EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1,
                    EVP_DecryptFinal_ex(context, outBase + Int(length), &finalLength) == 1
                else {
                    // A failed tag check leaves an error on the thread's queue; a success leaves none.
                    ERR_clear_error()
                    return nil
                }
                return ciphertextLength
            }
        }
    }
}

/// Cipher contexts the sessions of one analysis lane no longer need, kept for the next sessions: setting up a context
/// and freeing it cost about 5,000 instructions, several times re-keying one (two a connection, for a handful of
/// records each). Not Sendable: one lane's sessions, one thread.
final class AEADOpenerPool {
    /// Contexts kept at most (each about a kilobyte with OpenSSL 3's GCM).
    let limit: Int
    private var spare: [AEADOpener] = []

    init(limit: Int = 64) { self.limit = limit }

    /// How many contexts are kept now.
    var count: Int { self.spare.count }

    /// A context for `cipher` keyed with the `keyLength` bytes at `key`: a kept one re-keyed, or a new one.
    func opener(_ cipher: RecordCipher, key: UnsafePointer<UInt8>?, keyLength: Int) -> AEADOpener {
        if let index = self.spare.lastIndex(where: { $0.cipher == cipher }) {
            let opener = self.spare.remove(at: index)
            if opener.rekey(key, keyLength: keyLength) { return opener }
        }
        return AEADOpener(cipher, key: key, keyLength: keyLength)
    }

    /// Takes back the context of `keys` (and empties it) unless something else still holds that context.
    func recycle(_ keys: inout DirectionKeys?) {
        guard var taken = keys.take() else { return }
        guard isKnownUniquelyReferenced(&taken.opener), taken.opener.isUsable, self.spare.count < self.limit else {
            return
        }
        self.spare.append(taken.opener)
    }
}

/// Record protection for one direction: the cipher context holding its key, the IV and the record sequence number.
///
/// Copies share the cipher context (a class): a direction's keys live in one place and are changed there.
struct DirectionKeys {
    var cipher: RecordCipher
    var opener: AEADOpener
    /// TLS 1.3 and ChaCha20: the 12-byte IV XORed with the sequence number. TLS 1.2 GCM: the 4-byte salt, in the first
    /// four bytes. Held inline: an array per direction cost an allocation and a uniqueness check per record.
    private var iv: (UInt64, UInt32) = (0, 0)
    /// The IV had the length the cipher needs (a failed derivation leaves it not).
    private var ivValid = false
    var sequence: UInt64 = 0
    /// TLS 1.2 (the AAD carries the sequence number, type, version and length; GCM has an explicit nonce).
    var isTLS12: Bool

    /// The IV's length: 12 bytes, or the 4-byte salt of TLS 1.2 GCM.
    private static func ivLength(_ cipher: RecordCipher, tls12: Bool) -> Int {
        tls12 && cipher.algorithm != .chacha20Poly1305 ? 4 : 12
    }

    /// Keys from a TLS 1.3 traffic secret; the cipher context comes from `pool` when given.
    init(tls13 cipher: RecordCipher, secret: [UInt8], pool: AEADOpenerPool? = nil) {
        self = secret.withUnsafeBytes { DirectionKeys(tls13: cipher, secret: $0, pool: pool) }
    }

    /// Keys from the TLS 1.3 traffic secret in `secret`; the cipher context comes from `pool` when given.
    init(tls13 cipher: RecordCipher, secret: UnsafeRawBufferPointer, pool: AEADOpenerPool? = nil) {
        self.cipher = cipher
        self.isTLS12 = false
        var iv: (UInt64, UInt32) = (0, 0)
        self.opener = Self.derive(cipher, secret: secret, iv: &iv) { key in
            guard let key else { return AEADOpener(cipher, key: nil, keyLength: 0) }
            return pool?.opener(cipher, key: key, keyLength: cipher.keyLength)
                ?? AEADOpener(cipher, key: key, keyLength: cipher.keyLength)
        }
        self.iv = iv
        self.ivValid = self.opener.isUsable
    }

    /// Keys already derived from a TLS 1.3 traffic secret (``TrafficKeys/sha384(_:_:)``); the cipher context comes
    /// from `pool` when given.
    init(tls13 cipher: RecordCipher, keys: TrafficKeys, pool: AEADOpenerPool? = nil) {
        self.cipher = cipher
        self.isTLS12 = false
        self.opener = keys.withKey { key in
            pool?.opener(cipher, key: key, keyLength: cipher.keyLength)
                ?? AEADOpener(cipher, key: key, keyLength: cipher.keyLength)
        }
        self.iv = keys.nonceBase
        self.ivValid = self.opener.isUsable
    }

    /// TLS 1.2 keys from the key block; the cipher context comes from `pool` when given.
    init(tls12 cipher: RecordCipher, key: [UInt8], iv: [UInt8], pool: AEADOpenerPool? = nil) {
        self.cipher = cipher
        self.opener = pool?.opener(cipher, key: key, keyLength: key.count) ?? AEADOpener(cipher, key: key)
        self.isTLS12 = true
        if iv.count == Self.ivLength(cipher, tls12: true) {
            iv.withUnsafeBytes { bytes in withUnsafeMutableBytes(of: &self.iv) { $0.copyMemory(from: bytes) } }
            self.ivValid = true
        }
    }

    /// Derives a TLS 1.3 secret's key and IV: the IV into `iv`, the key (on the stack, wiped after) handed to `use`, nil
    /// when the derivation failed.
    private static func derive<Result>(
        _ cipher: RecordCipher, secret: UnsafeRawBufferPointer, iv: inout (UInt64, UInt32),
        _ use: (UnsafePointer<UInt8>?) -> Result
    ) -> Result {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32 + 12) { buffer in
            guard let base = buffer.baseAddress else { return use(nil) }
            defer { bh_wipe(base, buffer.count) }
            let derived =
                bh_tls13_traffic_keys(
                    cipher.usesSHA384 ? 1 : 0, secret.baseAddress, secret.count, base, cipher.keyLength, base + 32) == 1
            guard derived else { return use(nil) }
            withUnsafeMutableBytes(of: &iv) { $0.copyMemory(from: UnsafeRawBufferPointer(start: base + 32, count: 12)) }
            return use(base)
        }
    }

    /// Moves a TLS 1.3 direction on to its next traffic secret (the application secret once its Finished is read):
    /// the same cipher context takes the new key, and the sequence number starts again.
    mutating func rekey(tls13 secret: [UInt8]) {
        secret.withUnsafeBytes { self.rekey(tls13: $0) }
    }

    /// ``rekey(tls13:)-([UInt8])`` with the secret in `secret`.
    mutating func rekey(tls13 secret: UnsafeRawBufferPointer) {
        var iv: (UInt64, UInt32) = (0, 0)
        let keyed = Self.derive(self.cipher, secret: secret, iv: &iv) { key in
            self.opener.rekey(key, keyLength: key == nil ? 0 : self.cipher.keyLength)
        }
        self.iv = iv
        self.ivValid = keyed
        self.sequence = 0
        self.isTLS12 = false
    }

    /// ``rekey(tls13:)-([UInt8])`` with keys already derived from the next secret.
    mutating func rekey(tls13 keys: TrafficKeys) {
        self.ivValid = keys.withKey { self.opener.rekey($0, keyLength: self.cipher.keyLength) }
        self.iv = keys.nonceBase
        self.sequence = 0
        self.isTLS12 = false
    }

    /// Both directions' keys from a TLS 1.2 master secret (RFC 5246 §6.3, AEAD suites: no MAC keys).
    static func tls12(
        _ cipher: RecordCipher, masterSecret: [UInt8], clientRandom: [UInt8], serverRandom: [UInt8],
        pool: AEADOpenerPool? = nil
    ) -> (client: DirectionKeys, server: DirectionKeys)? {
        let ivLength = Self.ivLength(cipher, tls12: true)
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
            DirectionKeys(tls12: cipher, key: clientKey, iv: clientIV, pool: pool),
            DirectionKeys(tls12: cipher, key: serverKey, iv: serverIV, pool: pool)
        )
    }

    /// Decrypts one record (header type/version and its body) into `output` (room for at least the body's length).
    /// Returns the inner content type and the plaintext's length (at the front of `output`;
    /// TLS 1.3 padding and inner type removed), or nil when it does not authenticate. Advances the sequence number on
    /// success.
    mutating func open(
        type: UInt8, version: UInt16, body: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
    ) -> (type: UInt8, length: Int)? {
        guard self.ivValid else { return nil }
        // The nonce (12 bytes) and the additional data (at most 13) are built in place, on the stack.
        var nonce = self.iv
        var aad: (UInt64, UInt64) = (0, 0)
        var ciphertext = body
        let aadLength: Int
        let sequence = self.sequence.bigEndian
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
                let last = nonceBytes.loadUnaligned(fromByteOffset: 4, as: UInt64.self) ^ sequence
                nonceBytes.storeBytes(of: last, toByteOffset: 4, as: UInt64.self)
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
                    aad: UnsafeRawBufferPointer(rebasing: aadBytes[0..<aadLength]), ciphertextAndTag: ciphertext,
                    into: output)
            }
        }
        guard var plaintextLength = opened else { return nil }
        self.sequence &+= 1
        if self.isTLS12 { return (type, plaintextLength) }
        // TLS 1.3 TLSInnerPlaintext: content, then the real content type, then zero padding.
        while plaintextLength > 0 && output[plaintextLength - 1] == 0 { plaintextLength -= 1 }
        guard plaintextLength > 0 else { return nil }
        return (output[plaintextLength - 1], plaintextLength - 1)
    }

    /// ``open(type:version:body:into:)`` into a new array (for tests and tools).
    mutating func open(type: UInt8, version: UInt16, body: UnsafeRawBufferPointer) -> (type: UInt8, plaintext: [UInt8])?
    {
        var output = [UInt8](repeating: 0, count: body.count)
        guard
            let (innerType, length) = output.withUnsafeMutableBytes({
                self.open(type: type, version: version, body: body, into: $0)
            })
        else { return nil }
        return (innerType, Array(output[0..<length]))
    }
}

/// A TLS 1.3 traffic secret's record key and IV, derived before they are used: a SHA-384 connection's four secrets are
/// derived together at its ServerHello (``sha384(_:_:)``), the application secrets' keys kept until each side's
/// Finished.
struct TrafficKeys: Equatable {
    /// The key's bytes (16 or 32 of them used) and the IV's (12).
    private var key = SIMD32<UInt8>()
    private var iv = SIMD16<UInt8>()

    /// Calls `body` with the key's bytes.
    func withKey<Result>(_ body: (UnsafePointer<UInt8>) -> Result) -> Result {
        withUnsafeBytes(of: self.key) { body($0.bindMemory(to: UInt8.self).baseAddress.unsafelyUnwrapped) }
    }

    /// The IV as ``DirectionKeys`` holds it.
    var nonceBase: (UInt64, UInt32) {
        var base: (UInt64, UInt32) = (0, 0)
        withUnsafeBytes(of: self.iv) { iv in
            withUnsafeMutableBytes(of: &base) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: iv[0..<12])) }
        }
        return base
    }

    /// The keys of one to four traffic secrets of a SHA-384 suite (`cipher`), in order: derived side by side in
    /// vector lanes where the CPU has AVX-512VL (six four-lane SHA-512 compressions instead of twenty-four), else one
    /// by one. Nil for another suite, no secret or more than four, or a failed derivation.
    static func sha384(_ cipher: RecordCipher, _ secrets: [UnsafeRawBufferPointer]) -> [TrafficKeys]? {
        guard cipher.usesSHA384, (1...4).contains(secrets.count) else { return nil }
        var derived = [TrafficKeys](repeating: TrafficKeys(), count: secrets.count)
        let ok = withUnsafeTemporaryAllocation(of: UnsafeRawPointer?.self, capacity: 4) { pointers in
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 4) { lengths in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4 * 64) { output in
                    withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { outputs in
                        guard let base = output.baseAddress else { return false }
                        output.initialize(repeating: 0)
                        for lane in 0..<4 {
                            let secret = secrets[min(lane, secrets.count - 1)]
                            pointers[lane] = secret.baseAddress
                            lengths[lane] = secret.count
                            outputs[lane] = base + 64 * lane
                            outputs[4 + lane] = base + 64 * lane + 48
                        }
                        defer { bh_wipe(base, output.count) }
                        guard let pointerBase = pointers.baseAddress, let lengthBase = lengths.baseAddress,
                            let keyBase = outputs.baseAddress,
                            bh_tls13_traffic_keys_sha384(
                                pointerBase, lengthBase, Int32(secrets.count), keyBase, cipher.keyLength, keyBase + 4)
                                == 1
                        else { return false }
                        for lane in 0..<secrets.count {
                            withUnsafeMutableBytes(of: &derived[lane].key) {
                                $0.copyMemory(from: UnsafeRawBufferPointer(start: base + 64 * lane, count: 32))
                            }
                            withUnsafeMutableBytes(of: &derived[lane].iv) {
                                $0.copyMemory(from: UnsafeRawBufferPointer(start: base + 64 * lane + 48, count: 16))
                            }
                        }
                        return true
                    }
                }
            }
        }
        return ok ? derived : nil
    }

    /// Whether ``sha384(_:_:)`` derives four secrets side by side (AVX2 or AVX-512VL, not forced off): only then is
    /// deriving a connection's application keys ahead of its Finished worth it (one at a time, a connection that never
    /// gets there would have paid for them for nothing).
    static var derivesTogether: Bool { bh_sha512_x4_in_use() == 1 }

    /// Whether the four-lane derivation uses AVX-512VL (else AVX2). Asked here, not of the shim by the caller: the
    /// shim's switches are `static` in its header, one copy per module that includes it, and the ones that count are
    /// this module's (a test reading its own copy saw AVX-512VL still on after ``forceAVX2(_:)``).
    static var usesAVX512: Bool { bh_sha512_x4_avx512_in_use() == 1 }

    /// Makes ``sha384(_:_:)`` derive one secret at a time even where the CPU could do four (for tests of both paths).
    static func forceOneAtATime(_ force: Bool) { bh_forbid_path(Int32(BH_PATH_SHA512_X4), force ? 1 : 0) }

    /// Makes the four-lane derivation use AVX2 even where the CPU has AVX-512VL (for tests of both instruction sets).
    static func forceAVX2(_ force: Bool) { bh_forbid_path(Int32(BH_PATH_SHA512_X4_AVX512), force ? 1 : 0) }
}
