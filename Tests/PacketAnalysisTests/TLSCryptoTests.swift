import CBulkheadOpenSSL
import Foundation
import Testing

@testable import PacketAnalysis

/// Bulkhead's HMAC, HKDF-Expand and TLS 1.2 PRF (hashed with OpenSSL's low-level SHA contexts) checked against
/// OpenSSL's own HMAC and its HKDF and TLS1-PRF key derivations, over many key and input lengths, and against
/// RFC vectors.
@Suite("TLS key derivation")
struct TLSCryptoTests {
    /// Deterministic bytes (a linear congruential sequence), so a failure names an input that can be rebuilt.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    /// OpenSSL's one-shot HMAC, the oracle.
    static func opensslHMAC(sha384: Bool, key: [UInt8], data: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        let digest = sha384 ? EVP_sha384() : EVP_sha256()
        guard HMAC(digest, key, Int32(key.count), data, data.count, &output, &length) != nil else { return [] }
        return Array(output.prefix(Int(length)))
    }

    /// An OpenSSL key derivation (`HKDF` expand-only or `TLS1-PRF`), the oracle.
    static func opensslKDF(
        _ name: String, sha384: Bool, secret: [UInt8], extra: [UInt8], extraName: String, expandOnly: Bool,
        length: Int
    ) -> [UInt8] {
        guard let kdf = EVP_KDF_fetch(nil, name, nil) else { return [] }
        defer { EVP_KDF_free(kdf) }
        guard let context = EVP_KDF_CTX_new(kdf) else { return [] }
        defer { EVP_KDF_CTX_free(context) }
        var output = [UInt8](repeating: 0, count: length)
        var secret = secret
        var extra = extra
        var mode = Int32(EVP_KDF_HKDF_MODE_EXPAND_ONLY)
        let digestName = strdup(sha384 ? "SHA384" : "SHA256")
        defer { free(digestName) }
        let keyName = name == "HKDF" ? "key" : "secret"
        let derived = keyName.withCString { keyName in
            extraName.withCString { extraName in
                "digest".withCString { digestKey in
                    "mode".withCString { modeKey in
                        var parameters = [
                            OSSL_PARAM_construct_utf8_string(digestKey, digestName, 0),
                            OSSL_PARAM_construct_octet_string(keyName, &secret, secret.count),
                            OSSL_PARAM_construct_octet_string(extraName, &extra, extra.count),
                            expandOnly ? OSSL_PARAM_construct_int(modeKey, &mode) : OSSL_PARAM_construct_end(),
                            OSSL_PARAM_construct_end(),
                        ]
                        return EVP_KDF_derive(context, &output, length, &parameters)
                    }
                }
            }
        }
        return derived == 1 ? output : []
    }

    @Test("HMAC equals OpenSSL's for SHA-256 and SHA-384, keys shorter than, equal to and longer than a block")
    func hmacMatchesOpenSSL() {
        for sha384 in [false, true] {
            for keyLength in [0, 1, 20, 32, 48, 63, 64, 65, 127, 128, 129, 200] {
                for dataLength in [0, 1, 55, 56, 64, 111, 112, 128, 300] {
                    let key = Self.bytes(keyLength, seed: UInt64(keyLength))
                    let data = Self.bytes(dataLength, seed: UInt64(1000 + dataLength))
                    let ours = TLSCrypto.hmac(sha384: sha384, key: key, data: data)
                    #expect(ours.count == (sha384 ? 48 : 32))
                    #expect(
                        ours == Self.opensslHMAC(sha384: sha384, key: key, data: data),
                        "sha384 \(sha384), key \(keyLength) bytes, data \(dataLength) bytes")
                }
            }
        }
    }

    @Test("HMAC matches RFC 4231 test case 2 (SHA-256 and SHA-384)")
    func hmacRFC4231() {
        let key = Array("Jefe".utf8)
        let data = Array("what do ya want for nothing?".utf8)
        #expect(
            TLSCrypto.hmac(sha384: false, key: key, data: data)
                == KeyLog.hex(Array("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843".utf8)))
        #expect(
            TLSCrypto.hmac(sha384: true, key: key, data: data)
                == KeyLog.hex(
                    Array(
                        "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"
                            .utf8)))
    }

    /// Expects Bulkhead's HKDF-Expand to give `length` bytes, OpenSSL's.
    static func expectHKDFMatchesOpenSSL(
        sha384: Bool, secret: [UInt8], info: [UInt8], length: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let ours = TLSCrypto.hkdfExpand(sha384: sha384, secret: secret, info: info, length: length)
        let theirs = Self.opensslKDF(
            "HKDF", sha384: sha384, secret: secret, extra: info, extraName: "info", expandOnly: true, length: length)
        #expect(ours.count == length, sourceLocation: sourceLocation)
        #expect(
            ours == theirs, "sha384 \(sha384), info \(info.count), length \(length)", sourceLocation: sourceLocation)
    }

    @Test("HKDF-Expand equals OpenSSL's HKDF (expand only) for lengths across block boundaries")
    func hkdfMatchesOpenSSL() {
        for sha384 in [false, true] {
            for length in [1, 12, 16, 31, 32, 33, 48, 49, 64, 96, 97, 255] {
                let secret = Self.bytes(sha384 ? 48 : 32, seed: UInt64(length))
                let info = Self.bytes(length % 40, seed: UInt64(7 * length))
                Self.expectHKDFMatchesOpenSSL(sha384: sha384, secret: secret, info: info, length: length)
            }
        }
    }

    @Test("HMAC and HKDF-Expand equal OpenSSL's on either side of the one-block message the shim pads itself")
    func oneBlockBoundary() {
        // The shim pads a message of up to 55 (SHA-256) or 111 (SHA-384) bytes itself and compresses it once; longer
        // ones go through SHA Update/Final. HKDF's first block hashes info and a counter byte, the next ones the
        // previous block too.
        for sha384 in [false, true] {
            let limit = sha384 ? 111 : 55
            let hashLength = sha384 ? 48 : 32
            let key = Self.bytes(hashLength, seed: 5)
            for dataLength in (limit - 2)...(limit + 2) {
                let data = Self.bytes(dataLength, seed: UInt64(dataLength))
                #expect(
                    TLSCrypto.hmac(sha384: sha384, key: key, data: data)
                        == Self.opensslHMAC(sha384: sha384, key: key, data: data),
                    "sha384 \(sha384), data \(dataLength)")
                for infoLength in [dataLength - 1, dataLength - 1 - hashLength] where infoLength >= 0 {
                    let info = Self.bytes(infoLength, seed: UInt64(infoLength) + 1)
                    Self.expectHKDFMatchesOpenSSL(sha384: sha384, secret: key, info: info, length: 3 * hashLength)
                }
            }
        }
    }

    @Test("HKDF-Expand refuses more than 255 blocks instead of wrapping the counter")
    func hkdfLimit() {
        #expect(
            TLSCrypto.hkdfExpand(sha384: false, secret: Self.bytes(32, seed: 1), info: [], length: 255 * 32).count
                == 255 * 32)
        #expect(
            TLSCrypto.hkdfExpand(sha384: false, secret: Self.bytes(32, seed: 1), info: [], length: 255 * 32 + 1)
                .isEmpty)
    }

    @Test("the TLS 1.2 PRF equals OpenSSL's TLS1-PRF")
    func prfMatchesOpenSSL() {
        for sha384 in [false, true] {
            for length in [8, 40, 72, 104, 136] {
                let secret = Self.bytes(48, seed: UInt64(length))
                let seed = Self.bytes(64, seed: UInt64(3 * length))
                let ours = TLSCrypto.prf12(
                    sha384: sha384, secret: secret, label: "key expansion", seed: seed, length: length)
                let theirs = Self.opensslKDF(
                    "TLS1-PRF", sha384: sha384, secret: secret, extra: Array("key expansion".utf8) + seed,
                    extraName: "seed", expandOnly: false, length: length)
                #expect(ours.count == length)
                #expect(ours == theirs, "sha384 \(sha384), length \(length)")
            }
        }
    }
}
