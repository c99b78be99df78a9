/// Names from the IANA TLS registries: versions, cipher suites, alerts.
enum TLSRegistry {
    /// `1.2`, `1.3`, `ssl3`… for a protocol version number.
    static func versionName(_ version: UInt16) -> String {
        switch version {
        case 0x0002: "ssl2"
        case 0x0300: "ssl3"
        case 0x0301: "1.0"
        case 0x0302: "1.1"
        case 0x0303: "1.2"
        case 0x0304: "1.3"
        case 0xfeff: "dtls1.0"
        case 0xfefd: "dtls1.2"
        case 0xfefc: "dtls1.3"
        case 0x7f00...0x7fff: "1.3-draft-\(version & 0xff)"
        default: hex16(version)
        }
    }

    /// GREASE values (RFC 8701) that clients sprinkle into lists and that mean nothing.
    static func isGREASE(_ value: UInt16) -> Bool {
        value & 0x0f0f == 0x0a0a && value >> 8 == value & 0xff
    }

    /// IANA TLS SignatureScheme names.
    static func signatureSchemeName(_ scheme: UInt16) -> String {
        switch scheme {
        case 0x0401: "rsa_pkcs1_sha256"
        case 0x0501: "rsa_pkcs1_sha384"
        case 0x0601: "rsa_pkcs1_sha512"
        case 0x0403: "ecdsa_secp256r1_sha256"
        case 0x0503: "ecdsa_secp384r1_sha384"
        case 0x0603: "ecdsa_secp521r1_sha512"
        case 0x0804: "rsa_pss_rsae_sha256"
        case 0x0805: "rsa_pss_rsae_sha384"
        case 0x0806: "rsa_pss_rsae_sha512"
        case 0x0807: "ed25519"
        case 0x0808: "ed448"
        case 0x0809: "rsa_pss_pss_sha256"
        case 0x080a: "rsa_pss_pss_sha384"
        case 0x080b: "rsa_pss_pss_sha512"
        case 0x0201: "rsa_pkcs1_sha1"
        case 0x0203: "ecdsa_sha1"
        default: hex16(scheme)
        }
    }

    static func alertName(_ code: UInt8) -> String {
        switch code {
        case 0: "close_notify"
        case 10: "unexpected_message"
        case 20: "bad_record_mac"
        case 21: "decryption_failed"
        case 22: "record_overflow"
        case 30: "decompression_failure"
        case 40: "handshake_failure"
        case 41: "no_certificate"
        case 42: "bad_certificate"
        case 43: "unsupported_certificate"
        case 44: "certificate_revoked"
        case 45: "certificate_expired"
        case 46: "certificate_unknown"
        case 47: "illegal_parameter"
        case 48: "unknown_ca"
        case 49: "access_denied"
        case 50: "decode_error"
        case 51: "decrypt_error"
        case 60: "export_restriction"
        case 70: "protocol_version"
        case 71: "insufficient_security"
        case 80: "internal_error"
        case 86: "inappropriate_fallback"
        case 90: "user_canceled"
        case 100: "no_renegotiation"
        case 109: "missing_extension"
        case 110: "unsupported_extension"
        case 111: "certificate_unobtainable"
        case 112: "unrecognized_name"
        case 113: "bad_certificate_status_response"
        case 114: "bad_certificate_hash_value"
        case 115: "unknown_psk_identity"
        case 116: "certificate_required"
        case 120: "no_application_protocol"
        default: "alert_\(code)"
        }
    }

    /// The IANA name of a cipher suite, or `0xXXXX` when it is not in the table.
    static func cipherName(_ suite: UInt16) -> String {
        cipherSuites[suite] ?? hex16(suite)
    }

    /// How weak a negotiated suite is: nil when fine, else a reason and whether it is a serious weakness.
    ///
    /// Judged from the IANA name once per name and remembered: this runs for every TLS flow.
    static func cipherWeakness(_ name: String) -> (reason: String, serious: Bool)? {
        if let known = weaknessByName[name] { return known }
        return judgeCipher(name)
    }

    private static let weaknessByName: [String: (reason: String, serious: Bool)?] = {
        var table: [String: (reason: String, serious: Bool)?] = [:]
        for (_, name) in cipherSuiteList { table[name] = judgeCipher(name) }
        return table
    }()

    private static func judgeCipher(_ name: String) -> (reason: String, serious: Bool)? {
        let text = Array(name.utf8)
        func has(_ part: String) -> Bool { text.containsSequence(Array(part.utf8)) }
        if has("_NULL_") || name.hasSuffix("_NULL") { return ("no encryption (NULL cipher)", true) }
        if has("_anon_") { return ("anonymous key exchange: no server authentication", true) }
        if has("EXPORT") { return ("export-grade cipher", true) }
        if has("_RC4_") { return ("RC4 stream cipher", true) }
        if has("_DES_") || has("DES40") { return ("single DES", true) }
        if has("3DES") { return ("3DES (64-bit block, Sweet32)", true) }
        if has("_MD5") { return ("MD5 MAC", true) }
        if has("_IDEA_") || has("_RC2_") { return ("obsolete block cipher", true) }
        if name.hasPrefix("TLS_RSA_WITH_") { return ("static RSA key exchange: no forward secrecy", false) }
        if has("_CBC_") { return ("CBC mode (padding-oracle history)", false) }
        return nil
    }

    static let cipherSuites: [UInt16: String] = {
        var table: [UInt16: String] = [:]
        for (code, name) in cipherSuiteList { table[code] = name }
        return table
    }()

    private static let cipherSuiteList: [(UInt16, String)] = [
        (0x0000, "TLS_NULL_WITH_NULL_NULL"), (0x0001, "TLS_RSA_WITH_NULL_MD5"), (0x0002, "TLS_RSA_WITH_NULL_SHA"),
        (0x0003, "TLS_RSA_EXPORT_WITH_RC4_40_MD5"), (0x0004, "TLS_RSA_WITH_RC4_128_MD5"),
        (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
        (0x0006, "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5"), (0x0007, "TLS_RSA_WITH_IDEA_CBC_SHA"),
        (0x0008, "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA"), (0x0009, "TLS_RSA_WITH_DES_CBC_SHA"),
        (0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"), (0x0011, "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA"),
        (0x0012, "TLS_DHE_DSS_WITH_DES_CBC_SHA"), (0x0013, "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA"),
        (0x0014, "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA"), (0x0015, "TLS_DHE_RSA_WITH_DES_CBC_SHA"),
        (0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"), (0x0017, "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5"),
        (0x0018, "TLS_DH_anon_WITH_RC4_128_MD5"), (0x001A, "TLS_DH_anon_WITH_DES_CBC_SHA"),
        (0x001B, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA"), (0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA"),
        (0x0032, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA"), (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
        (0x0034, "TLS_DH_anon_WITH_AES_128_CBC_SHA"), (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
        (0x0038, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA"), (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
        (0x003A, "TLS_DH_anon_WITH_AES_256_CBC_SHA"), (0x003B, "TLS_RSA_WITH_NULL_SHA256"),
        (0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256"), (0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256"),
        (0x0040, "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256"), (0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"),
        (0x0045, "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA"), (0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"),
        (0x006A, "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256"), (0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"),
        (0x006C, "TLS_DH_anon_WITH_AES_128_CBC_SHA256"), (0x006D, "TLS_DH_anon_WITH_AES_256_CBC_SHA256"),
        (0x0084, "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA"), (0x0088, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA"),
        (0x008C, "TLS_PSK_WITH_AES_128_CBC_SHA"), (0x008D, "TLS_PSK_WITH_AES_256_CBC_SHA"),
        (0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256"), (0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384"),
        (0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"), (0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"),
        (0x00A2, "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256"), (0x00A3, "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384"),
        (0x00A6, "TLS_DH_anon_WITH_AES_128_GCM_SHA256"), (0x00A7, "TLS_DH_anon_WITH_AES_256_GCM_SHA384"),
        (0x00A8, "TLS_PSK_WITH_AES_128_GCM_SHA256"), (0x00A9, "TLS_PSK_WITH_AES_256_GCM_SHA384"),
        (0x00FF, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"),
        (0x1301, "TLS_AES_128_GCM_SHA256"), (0x1302, "TLS_AES_256_GCM_SHA384"),
        (0x1303, "TLS_CHACHA20_POLY1305_SHA256"), (0x1304, "TLS_AES_128_CCM_SHA256"),
        (0x1305, "TLS_AES_128_CCM_8_SHA256"), (0x5600, "TLS_FALLBACK_SCSV"),
        (0xC001, "TLS_ECDH_ECDSA_WITH_NULL_SHA"), (0xC002, "TLS_ECDH_ECDSA_WITH_RC4_128_SHA"),
        (0xC003, "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA"), (0xC004, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA"),
        (0xC005, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA"), (0xC006, "TLS_ECDHE_ECDSA_WITH_NULL_SHA"),
        (0xC007, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA"), (0xC008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"),
        (0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"), (0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
        (0xC00B, "TLS_ECDH_RSA_WITH_NULL_SHA"), (0xC00C, "TLS_ECDH_RSA_WITH_RC4_128_SHA"),
        (0xC00D, "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA"), (0xC00E, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA"),
        (0xC00F, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA"), (0xC010, "TLS_ECDHE_RSA_WITH_NULL_SHA"),
        (0xC011, "TLS_ECDHE_RSA_WITH_RC4_128_SHA"), (0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
        (0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"), (0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
        (0xC015, "TLS_ECDH_anon_WITH_NULL_SHA"), (0xC016, "TLS_ECDH_anon_WITH_RC4_128_SHA"),
        (0xC017, "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA"), (0xC018, "TLS_ECDH_anon_WITH_AES_128_CBC_SHA"),
        (0xC019, "TLS_ECDH_anon_WITH_AES_256_CBC_SHA"),
        (0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"), (0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"),
        (0xC025, "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256"), (0xC026, "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384"),
        (0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"), (0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
        (0xC029, "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256"), (0xC02A, "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384"),
        (0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"), (0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
        (0xC02D, "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256"), (0xC02E, "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384"),
        (0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"), (0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
        (0xC031, "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256"), (0xC032, "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384"),
        (0xC09C, "TLS_RSA_WITH_AES_128_CCM"), (0xC09D, "TLS_RSA_WITH_AES_256_CCM"),
        (0xC09E, "TLS_DHE_RSA_WITH_AES_128_CCM"), (0xC09F, "TLS_DHE_RSA_WITH_AES_256_CCM"),
        (0xC0A0, "TLS_RSA_WITH_AES_128_CCM_8"), (0xC0A1, "TLS_RSA_WITH_AES_256_CCM_8"),
        (0xC0AC, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"), (0xC0AD, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM"),
        (0xC0AE, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"), (0xC0AF, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8"),
        (0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
        (0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
        (0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"), (0xCCAB, "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256"),
        (0xCCAC, "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256"),
        (0xCCAD, "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256"),
        (0xCCAE, "TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256"),
    ]
}

/// `0x` and four upper-case hex digits.
func hex16(_ value: UInt16) -> String {
    let hex = String(value, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs in these bytes (plain byte comparison: the names searched are ASCII, and
    /// String's Unicode-aware search costs a hundred times more).
    func containsSequence(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, self.count >= needle.count else { return needle.isEmpty }
        outer: for start in 0...(self.count - needle.count) {
            for index in 0..<needle.count where self[start + index] != needle[index] { continue outer }
            return true
        }
        return false
    }
}
