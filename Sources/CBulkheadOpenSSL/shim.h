#ifndef CBULKHEAD_OPENSSL_SHIM_H
#define CBULKHEAD_OPENSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/objects.h>
#include <openssl/opensslv.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Swift does not import OpenSSL's function-like macros, and reaching into unions such as
 * GENERAL_NAME.d is awkward from Swift: small static inline wrappers cover those. Beyond them, the
 * hot paths of key-log decryption that need C live here too (HMAC over low-level SHA states, the
 * four-lane SHA-512 compression, AES-GCM with AES-NI beside OpenSSL's GCM mode). Keep all of it
 * free of policy (Swift decides what the values mean).
 *
 * This is a system-library module, whose header SwiftPM does not track: after editing it, touch a
 * Swift file of each module that uses it (Sources/PacketAnalysis/Decryption/TLSCrypto.swift,
 * Sources/Certificates, Sources/TLSVerification), or the build keeps the old code.
 */

/// Copies the bytes written to a memory BIO. Returns the length and sets *data (not NUL-terminated).
static inline long bh_BIO_get_mem_data(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}

static inline void bh_OPENSSL_free(void *p) {
    OPENSSL_free(p);
}

static inline int bh_sk_num(const void *stack) {
    return OPENSSL_sk_num((const OPENSSL_STACK *)stack);
}

/// Kinds of subjectAltName entries reported by bh_general_name_get.
enum {
    BH_SAN_OTHER = 0,
    BH_SAN_DNS = 1,
    BH_SAN_IP = 2,
    BH_SAN_URI = 3,
    BH_SAN_EMAIL = 4,
};

/// Reads entry `index` of a GENERAL_NAMES stack: its kind and its raw bytes (IA5 text, or 4/16 address
/// bytes for an IP). Returns 0 when the entry is absent or has no readable value.
static inline int bh_general_name_get(const GENERAL_NAMES *names, int index, int *kind,
                                      const unsigned char **data, int *length) {
    const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, index);
    if (name == NULL) return 0;
    const ASN1_STRING *value = NULL;
    switch (name->type) {
    case GEN_DNS: *kind = BH_SAN_DNS; value = name->d.dNSName; break;
    case GEN_URI: *kind = BH_SAN_URI; value = name->d.uniformResourceIdentifier; break;
    case GEN_EMAIL: *kind = BH_SAN_EMAIL; value = name->d.rfc822Name; break;
    case GEN_IPADD: *kind = BH_SAN_IP; value = name->d.iPAddress; break;
    default: *kind = BH_SAN_OTHER; return 1;
    }
    if (value == NULL) return 0;
    *data = ASN1_STRING_get0_data(value);
    *length = ASN1_STRING_length(value);
    return *data != NULL && *length >= 0;
}

static inline void bh_GENERAL_NAMES_free(GENERAL_NAMES *names) {
    GENERAL_NAMES_free(names);
}

/// Converts an ASN1_TIME to seconds since the epoch (UTC). Returns 0 on failure.
static inline int bh_asn1_time_to_epoch(const ASN1_TIME *time, long long *epoch) {
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    if (time == NULL || ASN1_TIME_to_tm(time, &tm) != 1) return 0;
    *epoch = (long long)timegm(&tm);
    return 1;
}

/// RFC 2253 name printing, keeping UTF-8 as is rather than escaping every multibyte character.
static inline unsigned long bh_name_print_flags(void) {
    return XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
}

static inline unsigned long bh_OPENSSL_VERSION_NUMBER(void) {
    return OPENSSL_VERSION_NUMBER;
}

/* ---- TLS client (active probes) ---- */

static inline int bh_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

static inline int bh_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

static inline int bh_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}

static inline int bh_SSL_add1_chain_cert(SSL *ssl, X509 *certificate) {
    return (int)SSL_add1_chain_cert(ssl, certificate);
}

static inline void bh_SSL_set_msg_callback_arg(SSL *ssl, void *arg) {
    SSL_set_msg_callback_arg(ssl, arg);
}

static inline long bh_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}

static inline long bh_SSL_MODE_flags(void) {
    return SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
}

/// The probing client's hardening: a bound on the certificate chain it will read (a hostile server sending megabytes
/// fails the handshake). Renegotiation a server asks for is followed (secure renegotiation only, OpenSSL's default):
/// it is how a TLS 1.2 server asks for a client certificate for one location (Apache's SSLVerifyClient in a
/// <Location>); the connection loop bounds how many times (HandshakeClient.swift, `renegotiationLimit`).
static inline void bh_SSL_CTX_harden_client(SSL_CTX *ctx, long maximumChainBytes) {
    SSL_CTX_set_max_cert_list(ctx, maximumChainBytes);
}

/// A handshake-only probe (protocol version, cipher suite) needs the ServerHello, not the server's certificate:
/// with a certificate size limit of 0 the client fails at the header of the Certificate message, or of a TLS 1.3
/// CertificateRequest before it (OpenSSL bounds both by this limit), before any chain is parsed (under OpenSSL 3.0
/// that parse, with its public-key decoder set-up, is a third of a handshake's cost). The failure reason is then
/// ``bh_SSL_R_EXCESSIVE_MESSAGE_SIZE``.
static inline void bh_SSL_stop_before_certificate(SSL *ssl) {
    SSL_set_max_cert_list(ssl, 0);
}

static inline int bh_SSL_R_EXCESSIVE_MESSAGE_SIZE(void) {
    return SSL_R_EXCESSIVE_MESSAGE_SIZE;
}

/// OpenSSL 3 reports a TCP close without close_notify as this reason.
static inline int bh_SSL_R_UNEXPECTED_EOF(void) {
    return SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

static inline int bh_ERR_GET_REASON(unsigned long error) {
    return ERR_GET_REASON(error);
}

static inline X509 *bh_sk_X509_value(const STACK_OF(X509) *stack, int index) {
    return sk_X509_value(stack, index);
}

static inline X509_NAME *bh_sk_X509_NAME_value(const STACK_OF(X509_NAME) *stack, int index) {
    return sk_X509_NAME_value(stack, index);
}

static inline STACK_OF(X509) *bh_sk_X509_new_null(void) {
    return sk_X509_new_null();
}

static inline int bh_sk_X509_push(STACK_OF(X509) *stack, X509 *certificate) {
    return sk_X509_push(stack, certificate);
}

/// Frees the stack only (the certificates belong to someone else).
static inline void bh_sk_X509_free(STACK_OF(X509) *stack) {
    sk_X509_free(stack);
}

/// Frees the stack and every certificate in it.
static inline void bh_sk_X509_pop_free(STACK_OF(X509) *stack) {
    sk_X509_pop_free(stack, X509_free);
}

static inline int bh_SSL_get_peer_tmp_key(SSL *ssl, EVP_PKEY **key) {
    return (int)SSL_get_peer_tmp_key(ssl, key);
}

/* ---- Certificate generation (in memory, for the forged client certificates) ---- */

/// Adds an extension given in openssl.cnf text form (e.g. "critical,CA:FALSE") to `certificate`, with
/// `issuer` as the issuing certificate for authorityKeyIdentifier. Returns 1 on success.
static inline int bh_X509_add_text_extension(X509 *certificate, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, certificate, NULL, NULL, 0);
    X509_EXTENSION *extension = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (extension == NULL) return 0;
    int ok = X509_add_ext(certificate, extension, -1);
    X509_EXTENSION_free(extension);
    return ok;
}

/*
 * HMAC over SHA-256 / SHA-384 for TLS key derivation (HKDF-Expand-Label, the TLS 1.2 PRF). The key's padded
 * inner and outer blocks are hashed once; each MAC then copies those states by value. OpenSSL 3's EVP digest
 * contexts allocate on every copy (the provider's state is duplicated), which cost several times the hashing for
 * the few short MACs a connection's keys need; the low-level SHA contexts are plain structs. They are deprecated
 * in OpenSSL 3 but supported throughout 3.x, hence the pragma.
 */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
#include <openssl/sha.h>

typedef union {
    SHA256_CTX sha256;
    SHA512_CTX sha512;
} bh_sha_state;

/// Overwrites `length` bytes at `p` with zeros in a way the compiler cannot drop as a dead store (the barrier says the
/// memory is read after), as OPENSSL_cleanse does; that one, called through a pointer and clearing a word at a time,
/// cost about a tenth of a TLS 1.3 key derivation for the few short states it leaves.
static inline void bh_wipe(void *p, size_t length) {
    memset(p, 0, length);
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

/// An HMAC key: the hash states after the inner (0x36) and outer (0x5c) padded key blocks.
typedef struct {
    int sha384;
    bh_sha_state inner;
    bh_sha_state outer;
} bh_hmac_key;

/// Prepares `key` from `secret` (any length; longer than the block is hashed first). Returns 1, or 0 on failure.
static inline int bh_hmac_key_init(bh_hmac_key *key, int sha384, const unsigned char *secret, size_t length) {
    const size_t blockSize = sha384 ? 128 : 64;
    unsigned char block[128];
    unsigned char pad[128];
    int ok = 1;
    memset(block, 0, sizeof block);
    key->sha384 = sha384;
    if (length > blockSize) {
        if (sha384) {
            ok = SHA384(secret, length, block) != NULL;
        } else {
            ok = SHA256(secret, length, block) != NULL;
        }
    } else if (length > 0) {
        memcpy(block, secret, length);
    }
    for (size_t i = 0; i < blockSize; i++) pad[i] = block[i] ^ 0x36;
    if (sha384) {
        ok = ok && SHA384_Init(&key->inner.sha512) && SHA384_Update(&key->inner.sha512, pad, blockSize);
    } else {
        ok = ok && SHA256_Init(&key->inner.sha256) && SHA256_Update(&key->inner.sha256, pad, blockSize);
    }
    for (size_t i = 0; i < blockSize; i++) pad[i] = block[i] ^ 0x5c;
    if (sha384) {
        ok = ok && SHA384_Init(&key->outer.sha512) && SHA384_Update(&key->outer.sha512, pad, blockSize);
    } else {
        ok = ok && SHA256_Init(&key->outer.sha256) && SHA256_Update(&key->outer.sha256, pad, blockSize);
    }
    bh_wipe(block, sizeof block);
    bh_wipe(pad, sizeof pad);
    return ok;
}

/// The digest length of `key`'s hash: 32 or 48.
static inline size_t bh_hmac_length(const bh_hmac_key *key) {
    return key->sha384 ? 48 : 32;
}

/// Stores `value` big-endian at `out`.
static inline void bh_store_be64(unsigned char *out, unsigned long long value) {
    value = __builtin_bswap64(value);
    memcpy(out, &value, 8);
}

/// Writes the digest in `state` (its first `length` bytes: 32 for SHA-256, 48 for SHA-384) to `out`.
static inline void bh_sha_digest(const bh_sha_state *state, int sha384, unsigned char *out, size_t length) {
    if (sha384) {
        for (size_t i = 0; i < length / 8; i++) bh_store_be64(out + 8 * i, state->sha512.h[i]);
    } else {
        for (size_t i = 0; i < length / 4; i++) {
            unsigned int word = __builtin_bswap32((unsigned int)state->sha256.h[i]);
            memcpy(out + 4 * i, &word, 4);
        }
    }
}

/// Finishes a hash whose state has absorbed exactly one block: `block` holds the `length` bytes left (room for a whole
/// block; length at most block size - 9 for SHA-256, - 17 for SHA-384), padded here and compressed once. The digest
/// stays in `state`.
static inline void bh_sha_finish_one_block(bh_sha_state *state, int sha384, unsigned char *block, size_t length) {
    const size_t blockSize = sha384 ? 128 : 64;
    const unsigned long long bits = (unsigned long long)(blockSize + length) * 8;
    block[length] = 0x80;
    memset(block + length + 1, 0, blockSize - length - 1 - 8);
    bh_store_be64(block + blockSize - 8, bits);
    if (sha384) {
        SHA512_Transform(&state->sha512, block);
    } else {
        SHA256_Transform(&state->sha256, block);
    }
}

/// HMAC of the concatenation first | second | (one byte `counter`, when counter >= 0) into `out` (room for 64
/// bytes; it may be `first`). Returns the MAC's length, or 0 on failure.
///
/// A message that fits in one block with its padding (all that TLS key derivation hashes: an HkdfLabel, a PRF seed
/// with its A(i)) is padded here and compressed straight from the key's states: one compression for the inner hash,
/// one for the outer, none of the SHA Update/Final bookkeeping. A longer one goes through Update/Final.
static inline size_t bh_hmac(const bh_hmac_key *key, const unsigned char *first, size_t firstLength,
                             const unsigned char *second, size_t secondLength, int counter, unsigned char *out) {
    const size_t blockSize = key->sha384 ? 128 : 64;
    const size_t hashLength = bh_hmac_length(key);
    const size_t total = firstLength + secondLength + (counter >= 0 ? 1 : 0);
    bh_sha_state state;
    unsigned char innerHash[64];
    unsigned char counterByte = (unsigned char)counter;
    int ok = 1;
    if (total <= blockSize - 1 - (key->sha384 ? 16 : 8)) {
        unsigned char block[128];
        if (firstLength > 0) memcpy(block, first, firstLength);
        if (secondLength > 0) memcpy(block + firstLength, second, secondLength);
        if (counter >= 0) block[firstLength + secondLength] = counterByte;
        state = key->inner;
        bh_sha_finish_one_block(&state, key->sha384, block, total);
        bh_sha_digest(&state, key->sha384, innerHash, hashLength);
        memcpy(block, innerHash, hashLength);
        state = key->outer;
        bh_sha_finish_one_block(&state, key->sha384, block, hashLength);
        bh_sha_digest(&state, key->sha384, out, hashLength);
        bh_wipe(block, sizeof block);
    } else if (key->sha384) {
        state = key->inner;
        ok = SHA384_Update(&state.sha512, first, firstLength) && SHA384_Update(&state.sha512, second, secondLength)
            && (counter < 0 || SHA384_Update(&state.sha512, &counterByte, 1)) && SHA384_Final(innerHash, &state.sha512);
        state = key->outer;
        ok = ok && SHA384_Update(&state.sha512, innerHash, 48) && SHA384_Final(out, &state.sha512);
    } else {
        state = key->inner;
        ok = SHA256_Update(&state.sha256, first, firstLength) && SHA256_Update(&state.sha256, second, secondLength)
            && (counter < 0 || SHA256_Update(&state.sha256, &counterByte, 1)) && SHA256_Final(innerHash, &state.sha256);
        state = key->outer;
        ok = ok && SHA256_Update(&state.sha256, innerHash, 32) && SHA256_Final(out, &state.sha256);
    }
    bh_wipe(&state, sizeof state);
    bh_wipe(innerHash, sizeof innerHash);
    return ok ? hashLength : 0;
}

/// HKDF-Expand (RFC 5869 §2.3) of `key` (the PRK) with `info` to `length` bytes (at most 255 blocks) into `out`.
/// Returns 1, or 0 on failure.
static inline int bh_hkdf_expand(const bh_hmac_key *key, const unsigned char *info, size_t infoLength,
                                 unsigned char *out, size_t length) {
    const size_t hashLength = bh_hmac_length(key);
    unsigned char block[64];
    size_t previous = 0;
    size_t written = 0;
    if (length > 255 * hashLength) return 0;
    for (int counter = 1; written < length; counter++) {
        if (bh_hmac(key, block, previous, info, infoLength, counter, block) != hashLength) return 0;
        previous = hashLength;
        size_t take = length - written < hashLength ? length - written : hashLength;
        memcpy(out + written, block, take);
        written += take;
    }
    bh_wipe(block, sizeof block);
    return 1;
}

/// HKDF-Expand-Label(key, label, "", length) of TLS 1.3 (RFC 8446 §7.1) into `out`, the HkdfLabel built on the stack.
/// Returns 1, or 0 on failure (a label longer than 249 bytes, or more output than HKDF-Expand gives).
static inline int bh_hkdf_expand_label(const bh_hmac_key *key, const unsigned char *label, size_t labelLength,
                                       unsigned char *out, size_t length) {
    unsigned char info[2 + 1 + 255 + 1];
    if (labelLength > 255 - 6 || length > 0xffff) return 0;
    info[0] = (unsigned char)(length >> 8);
    info[1] = (unsigned char)length;
    info[2] = (unsigned char)(6 + labelLength);
    memcpy(info + 3, "tls13 ", 6);
    if (labelLength > 0) memcpy(info + 9, label, labelLength);
    info[9 + labelLength] = 0;
    return bh_hkdf_expand(key, info, 10 + labelLength, out, length);
}

/// A TLS 1.3 traffic secret's record key (`keyLength` bytes, at most 64) and 12-byte IV (RFC 8446 §7.3): one HMAC key
/// for both expansions, nothing allocated. Returns 1, or 0 on failure (what was written is then meaningless).
static inline int bh_tls13_traffic_keys(int sha384, const void *secret, size_t secretLength,
                                        unsigned char *key, size_t keyLength, unsigned char *iv) {
    bh_hmac_key hmac;
    int ok = keyLength <= 64 && (secret != NULL || secretLength == 0)
        && bh_hmac_key_init(&hmac, sha384, (const unsigned char *)secret, secretLength)
        && bh_hkdf_expand_label(&hmac, (const unsigned char *)"key", 3, key, keyLength)
        && bh_hkdf_expand_label(&hmac, (const unsigned char *)"iv", 2, iv, 12);
    bh_wipe(&hmac, sizeof hmac);
    return ok;
}

/* ---- Four TLS 1.3 traffic secrets of a SHA-384 suite at once ----
 *
 * A TLS 1.3 connection's four traffic secrets (handshake and application, client and server) each need six SHA-512
 * compressions for their key and IV (the HMAC pads, then an inner and an outer hash per label), and OpenSSL's SHA-512
 * has no hardware help on x86 (SHA-NI covers SHA-256 only): they were the largest part of what a key log costs on
 * short connections. The four secrets' compressions are independent, so where AVX2 is available they run four at a
 * time, one secret per vector lane: six four-lane compressions instead of twenty-four. With AVX-512VL a rotation and
 * each three-input function are one instruction; with AVX2 alone a rotation is two shifts and an OR (four blocks in
 * 562 ns against OpenSSL's 820 ns one by one, on a Zen 3 without AVX-512). */

typedef unsigned long long bh_u64x4 __attribute__((vector_size(32)));

static const unsigned long long bh_sha512_k[80] = {
    0x428a2f98d728ae22ULL, 0x7137449123ef65cdULL, 0xb5c0fbcfec4d3b2fULL, 0xe9b5dba58189dbbcULL, 0x3956c25bf348b538ULL,
    0x59f111f1b605d019ULL, 0x923f82a4af194f9bULL, 0xab1c5ed5da6d8118ULL, 0xd807aa98a3030242ULL, 0x12835b0145706fbeULL,
    0x243185be4ee4b28cULL, 0x550c7dc3d5ffb4e2ULL, 0x72be5d74f27b896fULL, 0x80deb1fe3b1696b1ULL, 0x9bdc06a725c71235ULL,
    0xc19bf174cf692694ULL, 0xe49b69c19ef14ad2ULL, 0xefbe4786384f25e3ULL, 0x0fc19dc68b8cd5b5ULL, 0x240ca1cc77ac9c65ULL,
    0x2de92c6f592b0275ULL, 0x4a7484aa6ea6e483ULL, 0x5cb0a9dcbd41fbd4ULL, 0x76f988da831153b5ULL, 0x983e5152ee66dfabULL,
    0xa831c66d2db43210ULL, 0xb00327c898fb213fULL, 0xbf597fc7beef0ee4ULL, 0xc6e00bf33da88fc2ULL, 0xd5a79147930aa725ULL,
    0x06ca6351e003826fULL, 0x142929670a0e6e70ULL, 0x27b70a8546d22ffcULL, 0x2e1b21385c26c926ULL, 0x4d2c6dfc5ac42aedULL,
    0x53380d139d95b3dfULL, 0x650a73548baf63deULL, 0x766a0abb3c77b2a8ULL, 0x81c2c92e47edaee6ULL, 0x92722c851482353bULL,
    0xa2bfe8a14cf10364ULL, 0xa81a664bbc423001ULL, 0xc24b8b70d0f89791ULL, 0xc76c51a30654be30ULL, 0xd192e819d6ef5218ULL,
    0xd69906245565a910ULL, 0xf40e35855771202aULL, 0x106aa07032bbd1b8ULL, 0x19a4c116b8d2d0c8ULL, 0x1e376c085141ab53ULL,
    0x2748774cdf8eeb99ULL, 0x34b0bcb5e19b48a8ULL, 0x391c0cb3c5c95a63ULL, 0x4ed8aa4ae3418acbULL, 0x5b9cca4f7763e373ULL,
    0x682e6ff3d6b2b8a3ULL, 0x748f82ee5defb2fcULL, 0x78a5636f43172f60ULL, 0x84c87814a1f0ab72ULL, 0x8cc702081a6439ecULL,
    0x90befffa23631e28ULL, 0xa4506cebde82bde9ULL, 0xbef9a3f7b2c67915ULL, 0xc67178f2e372532bULL, 0xca273eceea26619cULL,
    0xd186b8c721c0c207ULL, 0xeada7dd6cde0eb1eULL, 0xf57d4f7fee6ed178ULL, 0x06f067aa72176fbaULL, 0x0a637dc5a2c898a6ULL,
    0x113f9804bef90daeULL, 0x1b710b35131c471bULL, 0x28db77f523047d84ULL, 0x32caab7b40c72493ULL, 0x3c9ebe0a15c9bebcULL,
    0x431d67c49c100d4cULL, 0x4cc5d4becb3e42b6ULL, 0x597f299cfc657e2aULL, 0x5fcb6fab3ad6faecULL, 0x6c44198c4a475817ULL,
};

#define BH_ROTR(x, n) (((x) >> (n)) | ((x) << (64 - (n))))

/// Compresses one 128-byte block into each of the four SHA-512 states `h[lane][0..8]`, the lanes side by side in
/// 256-bit vectors: the body of ``bh_sha512_x4_avx512`` and ``bh_sha512_x4_avx2``, each compiled for its instruction set
/// where it is inlined.
__attribute__((always_inline))
static inline void bh_sha512_x4_lanes(unsigned long long *const h[4], const unsigned char *const block[4]) {
    bh_u64x4 w[16];
    _Pragma("clang loop unroll(full)")
    for (int t = 0; t < 16; t++) {
        unsigned long long v[4];
        for (int lane = 0; lane < 4; lane++) {
            unsigned long long word;
            memcpy(&word, block[lane] + 8 * t, 8);
            v[lane] = __builtin_bswap64(word);
        }
        w[t] = (bh_u64x4){v[0], v[1], v[2], v[3]};
    }
    bh_u64x4 s[8];
    for (int i = 0; i < 8; i++) s[i] = (bh_u64x4){h[0][i], h[1][i], h[2][i], h[3][i]};
    bh_u64x4 a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], hh = s[7];
    _Pragma("clang loop unroll(full)")
    for (int t = 0; t < 80; t++) {
        bh_u64x4 wt;
        if (t < 16) {
            wt = w[t];
        } else {
            bh_u64x4 w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
            bh_u64x4 s0 = BH_ROTR(w15, 1) ^ BH_ROTR(w15, 8) ^ (w15 >> 7);
            bh_u64x4 s1 = BH_ROTR(w2, 19) ^ BH_ROTR(w2, 61) ^ (w2 >> 6);
            wt = w[t & 15] = w[t & 15] + s0 + w[(t - 7) & 15] + s1;
        }
        bh_u64x4 t1 = hh + (BH_ROTR(e, 14) ^ BH_ROTR(e, 18) ^ BH_ROTR(e, 41)) + ((e & f) ^ (~e & g)) + bh_sha512_k[t] + wt;
        bh_u64x4 t2 = (BH_ROTR(a, 28) ^ BH_ROTR(a, 34) ^ BH_ROTR(a, 39)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s[0] += a; s[1] += b; s[2] += c; s[3] += d; s[4] += e; s[5] += f; s[6] += g; s[7] += hh;
    for (int i = 0; i < 8; i++)
        for (int lane = 0; lane < 4; lane++) h[lane][i] = s[i][lane];
}

#undef BH_ROTR

/// ``bh_sha512_x4_lanes`` with AVX-512VL (rotations and three-input functions in one instruction each). Call it only
/// when ``bh_cpu_has_avx512vl`` says so.
__attribute__((target("avx512f,avx512vl")))
static inline void bh_sha512_x4_avx512(unsigned long long *const h[4], const unsigned char *const block[4]) {
    bh_sha512_x4_lanes(h, block);
}

/// ``bh_sha512_x4_lanes`` with AVX2. Call it only when ``bh_cpu_has_avx2`` says so.
__attribute__((target("avx2")))
static inline void bh_sha512_x4_avx2(unsigned long long *const h[4], const unsigned char *const block[4]) {
    bh_sha512_x4_lanes(h, block);
}

/// OpenSSL's one-block SHA-512 compression (deprecated in OpenSSL 3, hence this wrapper inside the pragma): the oracle
/// the tests hold ``bh_sha512_x4`` to.
static inline void bh_sha512_transform(SHA512_CTX *context, const unsigned char *block) {
    SHA512_Transform(context, block);
}

/*
 * Faster paths the CPU may offer (AVX-512VL for the four-lane SHA-512; AES-NI, SSSE3 and PCLMULQDQ for AES-GCM),
 * each decided once per process, and each one the tests can switch off so that the portable path is tested on the
 * same CPU (the switch is read when the path is chosen; both paths give the same results, so tests running side by
 * side are not disturbed).
 */
enum { BH_PATH_SHA512_X4 = 0, BH_PATH_AES_GCM = 1, BH_PATH_SHA512_X4_AVX512 = 2, BH_PATH_COUNT = 3 };
/// Per path: -1 until asked, then whether the CPU allows it.
static int bh_path_supported[BH_PATH_COUNT] = {-1, -1, -1};
/// Per path: nonzero when a test forbade it.
static int bh_path_forbidden[BH_PATH_COUNT] = {0, 0, 0};

/// Whether the CPU allows `path`, `probe` asked the first time (a benign race: every thread computes the same answer).
static inline int bh_path_allowed(int path, int (*probe)(void)) {
    int known = __atomic_load_n(&bh_path_supported[path], __ATOMIC_RELAXED);
    if (known < 0) {
        known = probe();
        __atomic_store_n(&bh_path_supported[path], known, __ATOMIC_RELAXED);
    }
    return known;
}

/// Whether `path` is taken: the CPU allows it and no test forbade it.
static inline int bh_path_in_use(int path, int (*probe)(void)) {
    return bh_path_allowed(path, probe) && !__atomic_load_n(&bh_path_forbidden[path], __ATOMIC_RELAXED);
}

/// Test hook: nonzero `forbid` sends the work of `path` down the portable path even where the CPU allows the fast one.
static inline void bh_forbid_path(int path, int forbid) {
    __atomic_store_n(&bh_path_forbidden[path], forbid, __ATOMIC_RELAXED);
}

/// Whether the CPU has leaf-7 feature bit `bit` of EBX and the OS saves the register state `state` (XCR0 bits), as
/// CPUID and XGETBV say.
static inline int bh_probe_leaf7_ebx(int bit, unsigned int state) {
#if defined(__x86_64__)
    unsigned int a, b, c, d;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    if (a < 7) return 0;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    if (!((c >> 27) & 1)) return 0; /* OSXSAVE: XGETBV is usable */
    unsigned int low, high;
    __asm__("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
    if ((low & state) != state) return 0;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    return (b >> bit) & 1;
#else
    (void)bit;
    (void)state;
    return 0;
#endif
}

/// Whether the CPU and the OS support AVX-512F and AVX-512VL (XMM, YMM, opmask, ZMM_Hi256 and Hi16_ZMM state).
static inline int bh_probe_avx512vl(void) { return bh_probe_leaf7_ebx(16, 0xe6) && bh_probe_leaf7_ebx(31, 0xe6); }

/// Whether the CPU and the OS support AVX2 (XMM and YMM state).
static inline int bh_probe_avx2(void) { return bh_probe_leaf7_ebx(5, 0x6); }

/// Whether the CPU and the OS support AVX-512F and AVX-512VL (asked once).
static inline int bh_cpu_has_avx512vl(void) { return bh_path_allowed(BH_PATH_SHA512_X4_AVX512, bh_probe_avx512vl); }

/// Whether the CPU and the OS support AVX2 (asked once).
static inline int bh_cpu_has_avx2(void) { return bh_path_allowed(BH_PATH_SHA512_X4, bh_probe_avx2); }

/// Whether ``bh_tls13_traffic_keys_sha384`` takes the four-lane path.
static inline int bh_sha512_x4_in_use(void) { return bh_path_in_use(BH_PATH_SHA512_X4, bh_probe_avx2); }

/// Whether the four-lane path uses AVX-512VL (else AVX2).
static inline int bh_sha512_x4_avx512_in_use(void) {
    return bh_path_in_use(BH_PATH_SHA512_X4_AVX512, bh_probe_avx512vl);
}

/// ``bh_sha512_x4_lanes`` with the best instruction set the CPU has. Call it only when ``bh_sha512_x4_in_use`` says so.
static inline void bh_sha512_x4(unsigned long long *const h[4], const unsigned char *const block[4]) {
    if (bh_sha512_x4_avx512_in_use()) {
        bh_sha512_x4_avx512(h, block);
    } else {
        bh_sha512_x4_avx2(h, block);
    }
}

/// Pads a message of `length` bytes (at most 111) that follows one absorbed 128-byte block, into `block`.
static inline void bh_sha512_pad_after_block(unsigned char block[128], const unsigned char *message, size_t length) {
    memcpy(block, message, length);
    block[length] = 0x80;
    memset(block + length + 1, 0, 128 - length - 1 - 8);
    bh_store_be64(block + 120, (unsigned long long)(128 + length) * 8);
}

/// The keys (`keyLength` bytes each, at most 48) and 12-byte IVs of `count` (1 to 4) TLS 1.3 traffic secrets of a
/// SHA-384 suite, into `keys[i]` and `ivs[i]`: four at a time in vector lanes where the CPU allows, else one by one
/// (``bh_tls13_traffic_keys``). Returns 1, or 0 on failure (what was written is then meaningless).
static inline int bh_tls13_traffic_keys_sha384(const void *const secrets[4], const size_t lengths[4], int count,
                                               unsigned char *const keys[4], size_t keyLength,
                                               unsigned char *const ivs[4]) {
    if (count < 1 || count > 4 || keyLength > 48) return 0;
    if (!bh_sha512_x4_in_use()) {
        for (int i = 0; i < count; i++) {
            if (!bh_tls13_traffic_keys(1, secrets[i], lengths[i], keys[i], keyLength, ivs[i])) return 0;
        }
        return 1;
    }
    /* States: inner and outer HMAC pads of each lane (unused lanes repeat lane 0), then working copies. */
    SHA512_CTX initial;
    unsigned long long inner[4][8], outer[4][8], work[4][8];
    unsigned char blocks[4][128];
    unsigned long long *state[4];
    const unsigned char *block[4];
    int ok = SHA384_Init(&initial);
    for (int lane = 0; lane < 4 && ok; lane++) {
        int source = lane < count ? lane : 0;
        const unsigned char *secret = (const unsigned char *)secrets[source];
        size_t length = lengths[source];
        unsigned char key[128];
        memset(key, 0, sizeof key);
        if (secret == NULL && length > 0) ok = 0;
        else if (length > 128) ok = SHA384(secret, length, key) != NULL;
        else if (length > 0) memcpy(key, secret, length);
        for (int i = 0; i < 128; i++) blocks[lane][i] = key[i] ^ 0x36;
        for (int i = 0; i < 8; i++) inner[lane][i] = initial.h[i];
        bh_wipe(key, sizeof key);
        state[lane] = inner[lane];
        block[lane] = blocks[lane];
    }
    if (!ok) return 0;
    bh_sha512_x4(state, block);
    for (int lane = 0; lane < 4; lane++) {
        for (int i = 0; i < 128; i++) blocks[lane][i] ^= 0x36 ^ 0x5c;
        for (int i = 0; i < 8; i++) outer[lane][i] = initial.h[i];
        state[lane] = outer[lane];
    }
    bh_sha512_x4(state, block);
    /* HKDF-Expand-Label for "key", then "iv": the same HkdfLabel and counter in every lane. */
    for (int label = 0; label < 2; label++) {
        size_t length = label == 0 ? keyLength : 12;
        const char *name = label == 0 ? "key" : "iv";
        size_t nameLength = label == 0 ? 3 : 2;
        unsigned char message[2 + 1 + 6 + 3 + 1 + 1];
        message[0] = (unsigned char)(length >> 8);
        message[1] = (unsigned char)length;
        message[2] = (unsigned char)(6 + nameLength);
        memcpy(message + 3, "tls13 ", 6);
        memcpy(message + 9, name, nameLength);
        message[9 + nameLength] = 0;   /* empty context */
        message[10 + nameLength] = 1;  /* HKDF counter */
        for (int lane = 0; lane < 4; lane++) {
            memcpy(work[lane], inner[lane], sizeof work[lane]);
            bh_sha512_pad_after_block(blocks[lane], message, 11 + nameLength);
            state[lane] = work[lane];
        }
        bh_sha512_x4(state, block);
        for (int lane = 0; lane < 4; lane++) {
            unsigned char digest[48];
            for (int i = 0; i < 6; i++) bh_store_be64(digest + 8 * i, work[lane][i]);
            bh_sha512_pad_after_block(blocks[lane], digest, 48);
            memcpy(work[lane], outer[lane], sizeof work[lane]);
        }
        bh_sha512_x4(state, block);
        for (int lane = 0; lane < count; lane++) {
            unsigned char digest[48];
            for (int i = 0; i < 6; i++) bh_store_be64(digest + 8 * i, work[lane][i]);
            memcpy(label == 0 ? keys[lane] : ivs[lane], digest, length);
            bh_wipe(digest, sizeof digest);
        }
    }
    bh_wipe(inner, sizeof inner);
    bh_wipe(outer, sizeof outer);
    bh_wipe(work, sizeof work);
    bh_wipe(blocks, sizeof blocks);
    return 1;
}

/*
 * AES-GCM record opening with OpenSSL's GCM mode (CRYPTO_gcm128: the counter and GHASH bookkeeping, GHASH itself with
 * the carry-less multiply OpenSSL picks for the CPU) around AES rounds run here with AES-NI. Through EVP each record
 * paid for OpenSSL 3's provider layer (the IV length asked for again through a parameter list on every record, the
 * tag handed over as another), several times the cipher's own work on the short records of a handshake: after the
 * key schedule, the largest part of what a key log costs on short connections. The round keys are OpenSSL's own
 * expansion (AES_set_encrypt_key, deprecated in OpenSSL 3 but supported throughout 3.x, hence the pragma): on x86-64
 * it lays them out as AES-NI reads them, which a known answer (FIPS-197 C.1 and C.3) confirms once per process. Where
 * the CPU lacks AES-NI, SSSE3 or PCLMULQDQ, or the known answer fails, the caller keeps to EVP.
 */
#include <openssl/aes.h>
#include <openssl/modes.h>

typedef long long bh_v2di __attribute__((vector_size(16)));

/// One AES-GCM key: the round keys (AES-128: 11, AES-256: 15) and OpenSSL's GCM state, which points back at them.
typedef struct {
    unsigned char roundKeys[15 * 16] __attribute__((aligned(16)));
    int rounds;
    GCM128_CONTEXT *gcm;
} bh_aes_gcm;

#if defined(__x86_64__)
__attribute__((target("aes,ssse3")))
static inline bh_v2di bh_aes_load(const unsigned char *p) {
    bh_v2di v;
    memcpy(&v, p, 16);
    return v;
}

/// One block through the cipher (OpenSSL's `block128_f`: the hash key H and each record's tag mask).
__attribute__((target("aes,ssse3")))
static void bh_aes_encrypt_block(const unsigned char in[16], unsigned char out[16], const void *key) {
    const bh_aes_gcm *aes = (const bh_aes_gcm *)key;
    const bh_v2di *rk = (const bh_v2di *)aes->roundKeys;
    bh_v2di b = bh_aes_load(in) ^ rk[0];
    for (int i = 1; i < aes->rounds; i++) b = __builtin_ia32_aesenc128(b, rk[i]);
    b = __builtin_ia32_aesenclast128(b, rk[aes->rounds]);
    memcpy(out, &b, 16);
}

/// `n` consecutive counter blocks (the nonce's twelve bytes, then `counter`, big-endian) through the cipher, XORed
/// onto `in` into `out`. Inlined with a constant `n`, so the blocks stay in registers (a counter written into a block
/// in memory and read back as a whole stalled on store forwarding).
__attribute__((target("aes,ssse3"), always_inline))
static inline void bh_aes_ctr_group(const bh_v2di *rk, int rounds, unsigned long long nonceLow, unsigned int nonceHigh,
                                    unsigned int counter, const unsigned char *in, unsigned char *out, const int n) {
    bh_v2di b[8];
    _Pragma("clang loop unroll(full)")
    for (int j = 0; j < n; j++) {
        unsigned long long high =
            (unsigned long long)nonceHigh | ((unsigned long long)__builtin_bswap32(counter + (unsigned int)j) << 32);
        b[j] = (bh_v2di){(long long)nonceLow, (long long)high} ^ rk[0];
    }
    for (int i = 1; i < rounds; i++) {
        bh_v2di key = rk[i];
        _Pragma("clang loop unroll(full)")
        for (int j = 0; j < n; j++) b[j] = __builtin_ia32_aesenc128(b[j], key);
    }
    _Pragma("clang loop unroll(full)")
    for (int j = 0; j < n; j++) {
        bh_v2di text = bh_aes_load(in + 16 * j) ^ __builtin_ia32_aesenclast128(b[j], rk[rounds]);
        memcpy(out + 16 * j, &text, 16);
    }
}

/// Counter mode over `blocks` whole blocks (OpenSSL's `ctr128_f`): the last four bytes of `ivec` are a big-endian
/// counter, incremented per block modulo 2^32, the first twelve unchanged. Eight blocks at a time where there are
/// enough, their rounds interleaved, as AES-NI's latency allows.
__attribute__((target("aes,ssse3")))
static void bh_aes_ctr32(const unsigned char *in, unsigned char *out, size_t blocks, const void *key,
                         const unsigned char ivec[16]) {
    const bh_aes_gcm *aes = (const bh_aes_gcm *)key;
    const bh_v2di *rk = (const bh_v2di *)aes->roundKeys;
    const int rounds = aes->rounds;
    unsigned long long nonceLow;
    unsigned int nonceHigh;
    memcpy(&nonceLow, ivec, 8);
    memcpy(&nonceHigh, ivec + 8, 4);
    unsigned int counter = ((unsigned int)ivec[12] << 24) | ((unsigned int)ivec[13] << 16) |
                           ((unsigned int)ivec[14] << 8) | ivec[15];
    for (; blocks >= 8; blocks -= 8, counter += 8, in += 128, out += 128) {
        bh_aes_ctr_group(rk, rounds, nonceLow, nonceHigh, counter, in, out, 8);
    }
    if (blocks >= 4) {
        bh_aes_ctr_group(rk, rounds, nonceLow, nonceHigh, counter, in, out, 4);
        blocks -= 4, counter += 4, in += 64, out += 64;
    }
    for (; blocks > 0; blocks -= 1, counter += 1, in += 16, out += 16) {
        bh_aes_ctr_group(rk, rounds, nonceLow, nonceHigh, counter, in, out, 1);
    }
}
#endif

/// Sets `aes` to `key` (16 or 32 bytes) and prepares its GCM state. Returns 1, or 0 on failure.
static inline int bh_aes_gcm_set_key(bh_aes_gcm *aes, const unsigned char *key, size_t keyLength) {
#if defined(__x86_64__)
    if (keyLength != 16 && keyLength != 32) return 0;
    AES_KEY expanded;
    if (AES_set_encrypt_key(key, (int)keyLength * 8, &expanded) != 0) return 0;
    aes->rounds = expanded.rounds;
    memcpy(aes->roundKeys, expanded.rd_key, 16 * (size_t)(expanded.rounds + 1));
    bh_wipe(&expanded, sizeof expanded);
    CRYPTO_gcm128_init(aes->gcm, aes, bh_aes_encrypt_block);
    return 1;
#else
    (void)aes; (void)key; (void)keyLength;
    return 0;
#endif
}

/// Frees `aes` (nil allowed), its keys wiped.
static inline void bh_aes_gcm_free(bh_aes_gcm *aes) {
    if (aes == NULL) return;
    CRYPTO_gcm128_release(aes->gcm);
    bh_wipe(aes, sizeof *aes);
    free(aes);
}

/// A GCM context keyed with `key` (16 or 32 bytes), or nil (no memory, or a key of another length).
static inline bh_aes_gcm *bh_aes_gcm_new(const unsigned char *key, size_t keyLength) {
#if defined(__x86_64__)
    bh_aes_gcm *aes = (bh_aes_gcm *)aligned_alloc(16, sizeof(bh_aes_gcm));
    if (aes == NULL) return NULL;
    memset(aes, 0, sizeof *aes);
    aes->gcm = CRYPTO_gcm128_new(aes, bh_aes_encrypt_block);
    if (aes->gcm == NULL || !bh_aes_gcm_set_key(aes, key, keyLength)) {
        bh_aes_gcm_free(aes);
        return NULL;
    }
    return aes;
#else
    (void)key; (void)keyLength;
    return NULL;
#endif
}

/// Decrypts `length` bytes at `in` into `out` under the 12-byte `nonce` and `aad`, and checks the 16-byte `tag`.
/// Returns 1 when the tag verifies, else 0 (`out` then holds unauthenticated bytes, to be ignored).
static inline int bh_aes_gcm_open(bh_aes_gcm *aes, const unsigned char *nonce, const unsigned char *aad,
                                  size_t aadLength, const unsigned char *in, size_t length, const unsigned char *tag,
                                  unsigned char *out) {
#if defined(__x86_64__)
    CRYPTO_gcm128_setiv(aes->gcm, nonce, 12);
    if (aadLength > 0 && CRYPTO_gcm128_aad(aes->gcm, aad, aadLength) != 0) return 0;
    if (length > 0 && CRYPTO_gcm128_decrypt_ctr32(aes->gcm, in, out, length, bh_aes_ctr32) != 0) return 0;
    return CRYPTO_gcm128_finish(aes->gcm, tag, 16) == 0;
#else
    (void)aes; (void)nonce; (void)aad; (void)aadLength; (void)in; (void)length; (void)tag; (void)out;
    return 0;
#endif
}

/// GCM's test case 16 (McGrew and Viega, "The Galois/Counter Mode of Operation", AES-256, 60 bytes, 20 of AAD) opens to
/// its plaintext, and with a changed tag does not: the counter mode here (three whole blocks and a tail) checked once.
static inline int bh_aes_gcm_known_answer(void) {
    static const unsigned char key[32] = {
        0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30, 0x83, 0x08,
        0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30, 0x83, 0x08};
    static const unsigned char nonce[12] = {0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88};
    static const unsigned char aad[20] = {0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xfe, 0xed,
                                          0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xab, 0xad, 0xda, 0xd2};
    static const unsigned char plain[60] = {
        0xd9, 0x31, 0x32, 0x25, 0xf8, 0x84, 0x06, 0xe5, 0xa5, 0x59, 0x09, 0xc5, 0xaf, 0xf5, 0x26, 0x9a,
        0x86, 0xa7, 0xa9, 0x53, 0x15, 0x34, 0xf7, 0xda, 0x2e, 0x4c, 0x30, 0x3d, 0x8a, 0x31, 0x8a, 0x72,
        0x1c, 0x3c, 0x0c, 0x95, 0x95, 0x68, 0x09, 0x53, 0x2f, 0xcf, 0x0e, 0x24, 0x49, 0xa6, 0xb5, 0x25,
        0xb1, 0x6a, 0xed, 0xf5, 0xaa, 0x0d, 0xe6, 0x57, 0xba, 0x63, 0x7b, 0x39};
    static const unsigned char cipher[60] = {
        0x52, 0x2d, 0xc1, 0xf0, 0x99, 0x56, 0x7d, 0x07, 0xf4, 0x7f, 0x37, 0xa3, 0x2a, 0x84, 0x42, 0x7d,
        0x64, 0x3a, 0x8c, 0xdc, 0xbf, 0xe5, 0xc0, 0xc9, 0x75, 0x98, 0xa2, 0xbd, 0x25, 0x55, 0xd1, 0xaa,
        0x8c, 0xb0, 0x8e, 0x48, 0x59, 0x0d, 0xbb, 0x3d, 0xa7, 0xb0, 0x8b, 0x10, 0x56, 0x82, 0x88, 0x38,
        0xc5, 0xf6, 0x1e, 0x63, 0x93, 0xba, 0x7a, 0x0a, 0xbc, 0xc9, 0xf6, 0x62};
    static const unsigned char tag[16] = {0x76, 0xfc, 0x6e, 0xce, 0x0f, 0x4e, 0x17, 0x68,
                                          0xcd, 0xdf, 0x88, 0x53, 0xbb, 0x2d, 0x55, 0x1b};
    bh_aes_gcm *aes = bh_aes_gcm_new(key, sizeof key);
    if (aes == NULL) return 0;
    unsigned char out[60];
    unsigned char forged[16];
    memcpy(forged, tag, 16);
    forged[15] ^= 1;
    int ok = bh_aes_gcm_open(aes, nonce, aad, sizeof aad, cipher, sizeof cipher, tag, out) == 1 &&
             memcmp(out, plain, sizeof plain) == 0 &&
             bh_aes_gcm_open(aes, nonce, aad, sizeof aad, cipher, sizeof cipher, forged, out) == 0;
    bh_aes_gcm_free(aes);
    return ok;
}

/// Whether the CPU has AES-NI, SSSE3 and PCLMULQDQ, the round keys pass the FIPS-197 known answers (AES-128 and
/// AES-256) and GCM its own (``bh_aes_gcm_known_answer``).
static inline int bh_probe_aes_gcm(void) {
#if defined(__x86_64__)
    unsigned int a, b, c, d;
    __asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    int has = ((c >> 25) & 1) && ((c >> 9) & 1) && ((c >> 1) & 1);
    if (has) {
        static const unsigned char plain[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                                0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
        static const unsigned char expected128[16] = {0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30,
                                                      0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a};
        static const unsigned char expected256[16] = {0x8e, 0xa2, 0xb7, 0xca, 0x51, 0x67, 0x45, 0xbf,
                                                      0xea, 0xfc, 0x49, 0x90, 0x4b, 0x49, 0x60, 0x89};
        unsigned char key[32], cipher[16];
        for (int i = 0; i < 32; i++) key[i] = (unsigned char)i;
        for (int variant = 0; variant < 2 && has; variant++) {
            bh_aes_gcm *aes = bh_aes_gcm_new(key, variant == 0 ? 16 : 32);
            if (aes == NULL) {
                has = 0;
                break;
            }
            bh_aes_encrypt_block(plain, cipher, aes);
            has = memcmp(cipher, variant == 0 ? expected128 : expected256, 16) == 0;
            bh_aes_gcm_free(aes);
        }
        if (has) has = bh_aes_gcm_known_answer();
    }
    return has;
#else
    return 0;
#endif
}

/// AES round keys alone (no GCM state), for single blocks: QUIC's header protection (RFC 9001 5.4.3) encrypts one
/// 16-byte sample per packet. Nil on failure; use only where ``bh_aes_gcm_in_use`` is 1. Freed by bh_aes_gcm_free.
static inline bh_aes_gcm *bh_aes_block_new(const unsigned char *key, size_t keyLength) {
#if defined(__x86_64__)
    if (keyLength != 16 && keyLength != 32) return NULL;
    bh_aes_gcm *aes = (bh_aes_gcm *)aligned_alloc(16, sizeof(bh_aes_gcm));
    if (aes == NULL) return NULL;
    memset(aes, 0, sizeof *aes);
    AES_KEY expanded;
    if (AES_set_encrypt_key(key, (int)keyLength * 8, &expanded) != 0) {
        free(aes);
        return NULL;
    }
    aes->rounds = expanded.rounds;
    memcpy(aes->roundKeys, expanded.rd_key, 16 * (size_t)(expanded.rounds + 1));
    bh_wipe(&expanded, sizeof expanded);
    return aes;
#else
    (void)key; (void)keyLength;
    return NULL;
#endif
}

/// One block through the cipher of a ``bh_aes_block_new`` (or GCM) key.
static inline void bh_aes_block(const bh_aes_gcm *aes, const unsigned char in[16], unsigned char out[16]) {
#if defined(__x86_64__)
    bh_aes_encrypt_block(in, out, aes);
#else
    (void)aes; (void)in;
    memset(out, 0, 16);
#endif
}

/// Whether the CPU allows ``bh_aes_gcm_open`` (asked once).
static inline int bh_aes_gcm_supported(void) { return bh_path_allowed(BH_PATH_AES_GCM, bh_probe_aes_gcm); }

/// Whether AES-GCM records are opened here (``bh_aes_gcm_open``) rather than through EVP.
static inline int bh_aes_gcm_in_use(void) { return bh_path_in_use(BH_PATH_AES_GCM, bh_probe_aes_gcm); }
#pragma clang diagnostic pop

#endif
