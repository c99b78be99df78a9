import CBulkheadOpenSSL
import Foundation
import Testing

@testable import PacketAnalysis

/// Bulkhead's record decryption (keys derived in the OpenSSL shim, one cipher context per direction re-keyed in place,
/// plaintext written into a caller's buffer) checked against records sealed with OpenSSL's EVP interface, under keys
/// derived with OpenSSL's own HKDF.
@Suite("TLS record decryption")
struct RecordDecryptionTests {
    /// The TLS 1.3 suites Bulkhead decrypts, with OpenSSL's cipher for each (computed: the pointers are not Sendable).
    static var suites: [(suite: UInt16, cipher: OpaquePointer?, keyLength: Int, sha384: Bool)] {
        [
            (0x1301, EVP_aes_128_gcm(), 16, false),
            (0x1302, EVP_aes_256_gcm(), 32, true),
            (0x1303, EVP_chacha20_poly1305(), 32, false),
        ]
    }

    /// HKDF-Expand-Label as RFC 8446 §7.1 spells it, through OpenSSL's HKDF: the oracle.
    static func opensslExpandLabel(sha384: Bool, secret: [UInt8], label: String, length: Int) -> [UInt8] {
        let fullLabel = Array("tls13 \(label)".utf8)
        let info = [UInt8(length >> 8), UInt8(length & 0xff), UInt8(fullLabel.count)] + fullLabel + [0]
        return TLSCryptoTests.opensslKDF(
            "HKDF", sha384: sha384, secret: secret, extra: info, extraName: "info", expandOnly: true, length: length)
    }

    /// Calls `body` with views of `arrays`' bytes, all valid for the call.
    static func withViews<Result>(_ arrays: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) -> Result) -> Result {
        func nest(_ index: Int, _ views: [UnsafeRawBufferPointer]) -> Result {
            guard index < arrays.count else { return body(views) }
            return arrays[index].withUnsafeBytes { nest(index + 1, views + [$0]) }
        }
        return nest(0, [])
    }

    /// One AEAD record sealed by OpenSSL: ciphertext then the 16-byte tag.
    static func seal(
        _ cipher: OpaquePointer?, key: [UInt8], nonce: [UInt8], aad: [UInt8], plaintext: [UInt8]
    ) -> [UInt8] {
        guard let context = EVP_CIPHER_CTX_new() else { return [] }
        defer { EVP_CIPHER_CTX_free(context) }
        var output = [UInt8](repeating: 0, count: plaintext.count + 16)
        var length: Int32 = 0
        let sealed = output.withUnsafeMutableBufferPointer { out -> Bool in
            guard let base = out.baseAddress, EVP_EncryptInit_ex(context, cipher, nil, nil, nil) == 1,
                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_IVLEN, Int32(nonce.count), nil) == 1,
                EVP_EncryptInit_ex(context, nil, nil, key, nonce) == 1,
                EVP_EncryptUpdate(context, nil, &length, aad, Int32(aad.count)) == 1,
                EVP_EncryptUpdate(context, base, &length, plaintext, Int32(plaintext.count)) == 1,
                EVP_EncryptFinal_ex(context, base + Int(length), &length) == 1,
                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, 16, base + plaintext.count) == 1
            else { return false }
            return true
        }
        return sealed ? output : []
    }

    /// A TLS 1.3 record body (RFC 8446 §5.2): `content`, the inner type, `padding` zeros, sealed under the keys of
    /// `secret` at sequence number `sequence`.
    static func tls13Record(
        _ suite: (suite: UInt16, cipher: OpaquePointer?, keyLength: Int, sha384: Bool), secret: [UInt8],
        sequence: UInt64, innerType: UInt8, content: [UInt8], padding: Int
    ) -> [UInt8] {
        let key = Self.opensslExpandLabel(sha384: suite.sha384, secret: secret, label: "key", length: suite.keyLength)
        var nonce = Self.opensslExpandLabel(sha384: suite.sha384, secret: secret, label: "iv", length: 12)
        for index in 0..<8 { nonce[4 + index] ^= UInt8(truncatingIfNeeded: sequence >> (56 - 8 * index)) }
        let inner = content + [innerType] + [UInt8](repeating: 0, count: padding)
        let length = inner.count + 16
        return Self.seal(
            suite.cipher, key: key, nonce: nonce, aad: [23, 3, 3, UInt8(length >> 8), UInt8(length & 0xff)],
            plaintext: inner)
    }

    @Test("HKDF-Expand-Label (the HkdfLabel built in the shim) equals OpenSSL's HKDF on the label spelled out")
    func expandLabelMatchesOpenSSL() {
        let labels = ["key", "iv", "c hs traffic", "finished", "", String(repeating: "x", count: 249)]
        for sha384 in [false, true] {
            for label in labels {
                for length in [12, 16, 32, 48, 100] {
                    let secret = TLSCryptoTests.bytes(sha384 ? 48 : 32, seed: UInt64(length + label.count))
                    let ours = TLSCrypto.expandLabel(sha384: sha384, secret: secret, label: label, length: length)
                    let theirs = Self.opensslExpandLabel(sha384: sha384, secret: secret, label: label, length: length)
                    #expect(ours.count == length)
                    #expect(ours == theirs, "sha384 \(sha384), label \(label.prefix(12)), length \(length)")
                }
            }
        }
        // An HkdfLabel holds at most 255 bytes of label, "tls13 " included: a longer one is refused, not cut.
        let longest = String(repeating: "x", count: 250)
        #expect(TLSCrypto.expandLabel(sha384: false, secret: [1, 2, 3], label: longest, length: 16).isEmpty)
    }

    @Test("TLS 1.3 records sealed by OpenSSL open for each suite, length and padding, in sequence")
    func tls13RecordsOpen() throws {
        for suite in Self.suites {
            let cipher = try #require(RecordCipher.tls13(suite.suite))
            let secret = TLSCryptoTests.bytes(suite.sha384 ? 48 : 32, seed: UInt64(suite.suite))
            var keys = DirectionKeys(tls13: cipher, secret: secret)
            var sequence: UInt64 = 0
            for length in [0, 1, 15, 16, 17, 255, 1000, 16_384] {
                for padding in [0, 1, 30] {
                    let content = TLSCryptoTests.bytes(length, seed: UInt64(length * 31 + padding))
                    let body = Self.tls13Record(
                        suite, secret: secret, sequence: sequence, innerType: 22, content: content, padding: padding)
                    let opened = body.withUnsafeBytes { keys.open(type: 23, version: 0x0303, body: $0) }
                    #expect(opened?.type == 22, "suite \(suite.suite), length \(length), padding \(padding)")
                    #expect(opened?.plaintext == content, "suite \(suite.suite), length \(length), padding \(padding)")
                    sequence += 1
                    #expect(keys.sequence == sequence)
                }
            }
        }
    }

    @Test(
        "re-keyed for the next secret, a direction opens that secret's records from sequence 0, and no longer the old")
    func rekeyedDirection() throws {
        for suite in Self.suites {
            let cipher = try #require(RecordCipher.tls13(suite.suite))
            let handshake = TLSCryptoTests.bytes(suite.sha384 ? 48 : 32, seed: 1)
            let application = TLSCryptoTests.bytes(suite.sha384 ? 48 : 32, seed: 2)
            var keys = DirectionKeys(tls13: cipher, secret: handshake)
            for sequence: UInt64 in 0..<3 {
                let body = Self.tls13Record(
                    suite, secret: handshake, sequence: sequence, innerType: 22, content: [20, 0, 0, 0], padding: 0)
                #expect(body.withUnsafeBytes { keys.open(type: 23, version: 0x0303, body: $0) }?.type == 22)
            }
            let opener = keys.opener
            keys.rekey(tls13: application)
            #expect(keys.opener === opener, "the cipher context is reused")
            #expect(keys.sequence == 0)
            let old = Self.tls13Record(
                suite, secret: handshake, sequence: 0, innerType: 23, content: [1, 2, 3], padding: 0)
            #expect(old.withUnsafeBytes { keys.open(type: 23, version: 0x0303, body: $0) } == nil)
            for sequence: UInt64 in 0..<3 {
                let content = Array("GET / HTTP/1.1\r\n".utf8) + [UInt8(sequence)]
                let body = Self.tls13Record(
                    suite, secret: application, sequence: sequence, innerType: 23, content: content, padding: 2)
                let opened = body.withUnsafeBytes { keys.open(type: 23, version: 0x0303, body: $0) }
                #expect(opened?.type == 23)
                #expect(opened?.plaintext == content, "suite \(suite.suite), sequence \(sequence)")
            }
        }
    }

    @Test("a record that does not authenticate is refused without advancing the sequence, and leaves no error queued")
    func forgedRecordRefused() throws {
        let suite = Self.suites[1]
        let cipher = try #require(RecordCipher.tls13(suite.suite))
        let secret = TLSCryptoTests.bytes(48, seed: 9)
        var keys = DirectionKeys(tls13: cipher, secret: secret)
        let body = Self.tls13Record(
            suite, secret: secret, sequence: 0, innerType: 22, content: [8, 0, 0, 0], padding: 0)
        for index in [0, body.count - 1] {
            var forged = body
            forged[index] ^= 0x01
            #expect(forged.withUnsafeBytes { keys.open(type: 23, version: 0x0303, body: $0) } == nil)
            #expect(ERR_peek_error() == 0)
            #expect(keys.sequence == 0)
        }
        // Too short for a tag, and a buffer too small for the plaintext: refused, nothing written past the buffer.
        #expect(
            [UInt8](repeating: 0, count: 15).withUnsafeBytes { keys.open(type: 23, version: 0x0303, body: $0) } == nil)
        var small = [UInt8](repeating: 0xee, count: body.count - 17)
        let opened = body.withUnsafeBytes { body in
            small.withUnsafeMutableBytes { keys.open(type: 23, version: 0x0303, body: body, into: $0) }
        }
        #expect(opened == nil)
        #expect(small.allSatisfy { $0 == 0xee })
        // The genuine record still opens: nothing above changed the direction's state.
        let genuine = body.withUnsafeBytes { keys.open(type: 23, version: 0x0303, body: $0) }
        #expect(genuine?.type == 22)
        #expect(genuine?.plaintext == [8, 0, 0, 0])
        #expect(ERR_peek_error() == 0)
    }

    @Test("TLS 1.2 records open: GCM with its explicit nonce, ChaCha20-Poly1305 with the sequence in the IV")
    func tls12RecordsOpen() throws {
        let cases: [(suite: UInt16, cipher: OpaquePointer?, keyLength: Int, ivLength: Int)] = [
            (0xC02F, EVP_aes_128_gcm(), 16, 4), (0xC030, EVP_aes_256_gcm(), 32, 4),
            (0xCCA8, EVP_chacha20_poly1305(), 32, 12),
        ]
        for test in cases {
            let cipher = try #require(RecordCipher.tls12(test.suite))
            let key = TLSCryptoTests.bytes(test.keyLength, seed: UInt64(test.suite))
            let iv = TLSCryptoTests.bytes(test.ivLength, seed: UInt64(test.suite) + 1)
            var keys = DirectionKeys(tls12: cipher, key: key, iv: iv)
            for sequence: UInt64 in 0..<3 {
                let content = TLSCryptoTests.bytes(40 + Int(sequence), seed: sequence)
                let sequenceBytes = (0..<8).map { UInt8(truncatingIfNeeded: sequence >> (56 - 8 * UInt64($0))) }
                let explicit = test.ivLength == 4 ? TLSCryptoTests.bytes(8, seed: 100 + sequence) : []
                var nonce = iv + explicit
                if test.ivLength == 12 { for index in 0..<8 { nonce[4 + index] ^= sequenceBytes[index] } }
                let aad = sequenceBytes + [23, 3, 3, UInt8(content.count >> 8), UInt8(content.count & 0xff)]
                let body =
                    explicit + Self.seal(test.cipher, key: key, nonce: nonce, aad: aad, plaintext: content)
                let opened = body.withUnsafeBytes { keys.open(type: 23, version: 0x0303, body: $0) }
                #expect(opened?.type == 23, "suite \(test.suite), sequence \(sequence)")
                #expect(opened?.plaintext == content, "suite \(test.suite), sequence \(sequence)")
            }
        }
        // An IV of the wrong length for the suite opens nothing.
        let cipher = try #require(RecordCipher.tls12(0xC02F))
        var wrong = DirectionKeys(tls12: cipher, key: TLSCryptoTests.bytes(16, seed: 1), iv: [1, 2, 3])
        #expect(
            [UInt8](repeating: 0, count: 64).withUnsafeBytes { wrong.open(type: 23, version: 0x0303, body: $0) } == nil)
    }

    @Test(
        "AES-GCM records open alike with AES-NI beside OpenSSL's GCM mode and through EVP: suites, lengths, forgeries",
        .enabled(if: Self.cpuHasAESGCMInstructions, "the CPU lacks AES-NI, SSSE3 or PCLMULQDQ: EVP opens every record"))
    func bothAESGCMPaths() throws {
        // The direct path is taken on such a CPU: the round keys passed the FIPS-197 known answers (a failure there
        // would quietly send every record back through EVP).
        #expect(bh_aes_gcm_supported() == 1)
        #expect(AEADOpener.opensAESGCMDirectly)
        // Both paths in turn (the switch is process-wide, read when a context is made; other tests open the same
        // records either way).
        for throughEVP in [false, true] {
            AEADOpener.forceEVP(throughEVP)
            defer { AEADOpener.forceEVP(false) }
            #expect(AEADOpener.opensAESGCMDirectly == !throughEVP, "the switch chooses the path")
            try self.tls13RecordsOpen()
            try self.rekeyedDirection()
            try self.forgedRecordRefused()
            try self.tls12RecordsOpen()
        }
    }

    /// Whether /proc/cpuinfo lists AES-NI, SSSE3 and PCLMULQDQ (read apart from the shim's own CPUID check).
    static let cpuHasAESGCMInstructions: Bool = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return false }
        let set = Set(flags.split(separator: " ").map(String.init))
        return set.isSuperset(of: ["aes", "ssse3", "pclmulqdq"])
    }()

    @Test("a pooled cipher context serves the next connection of its cipher, re-keyed, even after a forged record")
    func pooledContexts() throws {
        let pool = AEADOpenerPool(limit: 2)
        let aes256 = Self.suites[1]
        let chacha = Self.suites[2]
        let aes256Cipher = try #require(RecordCipher.tls13(aes256.suite))
        let chachaCipher = try #require(RecordCipher.tls13(chacha.suite))
        let first = TLSCryptoTests.bytes(48, seed: 21)
        var keys: DirectionKeys? = DirectionKeys(tls13: aes256Cipher, secret: first, pool: pool)
        // Its identity, not a reference: a reference held here would keep the pool from taking it.
        let opener = ObjectIdentifier(try #require(keys?.opener))
        var forged = Self.tls13Record(aes256, secret: first, sequence: 0, innerType: 22, content: [1], padding: 0)
        forged[0] ^= 1
        #expect(forged.withUnsafeBytes { keys?.open(type: 23, version: 0x0303, body: $0) } == nil)
        // A context something else still holds is not taken.
        let copy = keys
        pool.recycle(&keys)
        #expect(keys == nil)
        #expect(pool.count == 0)
        keys = copy
        _ = consume copy
        pool.recycle(&keys)
        #expect(pool.count == 1)
        // Another cipher does not get it; the same cipher does, under the new key.
        let other = DirectionKeys(tls13: chachaCipher, secret: TLSCryptoTests.bytes(32, seed: 22), pool: pool)
        #expect(ObjectIdentifier(other.opener) != opener)
        #expect(pool.count == 1)
        let second = TLSCryptoTests.bytes(48, seed: 23)
        var reused = DirectionKeys(tls13: aes256Cipher, secret: second, pool: pool)
        #expect(ObjectIdentifier(reused.opener) == opener)
        #expect(pool.count == 0)
        let old = Self.tls13Record(aes256, secret: first, sequence: 0, innerType: 22, content: [2], padding: 0)
        #expect(old.withUnsafeBytes { reused.open(type: 23, version: 0x0303, body: $0) } == nil)
        let body = Self.tls13Record(aes256, secret: second, sequence: 0, innerType: 22, content: [3, 4], padding: 5)
        let opened = body.withUnsafeBytes { reused.open(type: 23, version: 0x0303, body: $0) }
        #expect(opened?.type == 22)
        #expect(opened?.plaintext == [3, 4])
        // The pool keeps at most its limit.
        for seed in 0..<4 {
            var spare: DirectionKeys? = DirectionKeys(
                tls13: aes256Cipher, secret: TLSCryptoTests.bytes(48, seed: UInt64(30 + seed)))
            pool.recycle(&spare)
        }
        #expect(pool.count == 2)
    }

    /// The four-lane SHA-512 compressions this CPU can run: AVX2, and AVX-512VL where it has it.
    static var fourLaneCompressions: [String] {
        (bh_cpu_has_avx2() == 1 ? ["avx2"] : []) + (bh_cpu_has_avx512vl() == 1 ? ["avx512"] : [])
    }

    @Test(
        "the four-lane SHA-512 compression equals OpenSSL's one block at a time, with each instruction set the CPU has",
        .enabled(if: bh_cpu_has_avx2() == 1, "the CPU has no AVX2: the one-at-a-time path is used"),
        arguments: fourLaneCompressions)
    func fourLaneCompression(instructions: String) {
        for round in 0..<50 {
            var states = (0..<4).map { lane in
                (0..<8).map { word in
                    UInt64(
                        truncatingIfNeeded: TLSCryptoTests.bytes(8, seed: UInt64(round * 64 + lane * 8 + word))
                            .reduce(0) { $0 << 8 | UInt64($1) })
                }
            }
            let blocks = (0..<4).map { TLSCryptoTests.bytes(128, seed: UInt64(1000 + round * 4 + $0)) }
            var expected = states
            for lane in 0..<4 {
                var context = SHA512_CTX()
                withUnsafeMutableBytes(of: &context.h) { h in
                    expected[lane].withUnsafeBytes { h.copyMemory(from: $0) }
                }
                bh_sha512_transform(&context, blocks[lane])
                expected[lane] = withUnsafeBytes(of: context.h) { Array($0.bindMemory(to: UInt64.self)) }
            }
            // One buffer of the four states, one of the four blocks; the lanes point into them.
            var flat = states.flatMap { $0 }
            let flatBlocks = blocks.flatMap { $0 }
            flat.withUnsafeMutableBufferPointer { flatStates in
                flatBlocks.withUnsafeBufferPointer { flatBlock in
                    guard let stateBase = flatStates.baseAddress, let blockBase = flatBlock.baseAddress else { return }
                    var statePointers: [UnsafeMutablePointer<UInt64>?] = (0..<4).map { stateBase + 8 * $0 }
                    var blockPointers: [UnsafePointer<UInt8>?] = (0..<4).map { blockBase + 128 * $0 }
                    if instructions == "avx512" {
                        bh_sha512_x4_avx512(&statePointers, &blockPointers)
                    } else {
                        bh_sha512_x4_avx2(&statePointers, &blockPointers)
                    }
                }
            }
            states = (0..<4).map { Array(flat[(8 * $0)..<(8 * $0 + 8)]) }
            #expect(states == expected, "round \(round)")
        }
    }

    @Test(
        "a SHA-384 connection's secrets derived together equal OpenSSL's HKDF: four lanes (AVX-512VL, AVX2) and one at a time"
    )
    func sha384TrafficKeysTogether() throws {
        // Every path in turn, in one test (the switches are process-wide; other tests get equal keys either way).
        for (oneAtATime, avx2) in [(false, false), (false, true), (true, false)] {
            TrafficKeys.forceOneAtATime(oneAtATime)
            TrafficKeys.forceAVX2(avx2)
            defer {
                TrafficKeys.forceOneAtATime(false)
                TrafficKeys.forceAVX2(false)
            }
            #expect(
                TrafficKeys.derivesTogether == (!oneAtATime && bh_cpu_has_avx2() == 1), "the switch chooses the path")
            #expect(
                TrafficKeys.usesAVX512 == (!avx2 && bh_cpu_has_avx512vl() == 1),
                "the switch chooses the instruction set")
            try self.sha384TrafficKeysMatchOpenSSL()
        }
    }

    func sha384TrafficKeysMatchOpenSSL() throws {
        let cipher = try #require(RecordCipher.tls13(0x1302))
        // Secret lengths a key log gives (48 for SHA-384), and others: empty, short, a block, longer (hashed first).
        let lengths = [48, 48, 48, 48, 32, 0, 1, 64, 127, 128, 129, 200]
        for count in 1...4 {
            for start in stride(from: 0, to: lengths.count, by: 3) {
                let secrets = (0..<count).map {
                    TLSCryptoTests.bytes(lengths[(start + $0) % lengths.count], seed: UInt64(start * 10 + $0))
                }
                let derived = try #require(
                    Self.withViews(secrets) { TrafficKeys.sha384(cipher, $0) }, "count \(count)")
                #expect(derived.count == count)
                for (index, secret) in secrets.enumerated() where index < derived.count {
                    let key = Self.opensslExpandLabel(sha384: true, secret: secret, label: "key", length: 32)
                    let iv = Self.opensslExpandLabel(sha384: true, secret: secret, label: "iv", length: 12)
                    #expect(derived[index].withKey { Array(UnsafeBufferPointer(start: $0, count: 32)) } == key)
                    let nonceBase = withUnsafeBytes(of: derived[index].nonceBase) { Array($0[0..<12]) }
                    #expect(nonceBase == iv, "count \(count), secret \(index) of \(secret.count) bytes")
                }
            }
        }
        // Not for a SHA-256 suite, nor for no secret or more than four.
        let aes128 = try #require(RecordCipher.tls13(0x1301))
        let secret = TLSCryptoTests.bytes(32, seed: 1)
        secret.withUnsafeBytes { view in
            #expect(TrafficKeys.sha384(aes128, [view]) == nil)
            #expect(TrafficKeys.sha384(cipher, []) == nil)
            #expect(TrafficKeys.sha384(cipher, Array(repeating: view, count: 5)) == nil)
        }
    }
}
