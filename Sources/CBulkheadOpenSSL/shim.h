#ifndef CBULKHEAD_OPENSSL_SHIM_H
#define CBULKHEAD_OPENSSL_SHIM_H

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/objects.h>
#include <openssl/opensslv.h>
#include <string.h>
#include <time.h>

/*
 * Swift does not import OpenSSL's function-like macros, and reaching into unions such as
 * GENERAL_NAME.d is awkward from Swift. These small static inline wrappers are the only C the
 * project needs for OpenSSL; keep them free of policy (Swift decides what the values mean).
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

#endif
