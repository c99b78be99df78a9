import BulkheadModel
import CBulkheadOpenSSL

/// An X.509 certificate that could not be read at all (not DER, or not a certificate).
public struct CertificateParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// SHA-256 of the bytes that failed to parse, so the failure can still be correlated.
    public var sha256: String
    public var reason: String

    public var description: String { "certificate \(self.sha256.prefix(16))…: \(self.reason)" }
}

/// Reads DER certificates with OpenSSL, which parses nearly everything that exists in the field (RSA-1024,
/// SHA-1, RSA-PSS, odd extensions), and turns them into ``CertificateSummary`` values.
///
/// Parsing is pure: the same bytes always give the same summary. ``CertificateCache`` memoises it by
/// fingerprint, because a capture shows the same few certificates on thousands of flows.
public enum CertificateParser {
    /// Parses one DER-encoded certificate.
    ///
    /// - Parameter der: the certificate's DER bytes.
    /// - Returns: its summary.
    /// - Throws: ``CertificateParseError`` when OpenSSL cannot read the bytes as a certificate.
    public static func parse(der: UnsafeRawBufferPointer) throws(CertificateParseError) -> CertificateSummary {
        let fingerprint = Digest.sha256Hex(der)
        guard der.count > 0, der.count < Int(Int32.max), let base = der.baseAddress else {
            throw CertificateParseError(sha256: fingerprint, reason: "empty certificate")
        }
        var cursor: UnsafePointer<UInt8>? = base.assumingMemoryBound(to: UInt8.self)
        guard let certificate = d2i_X509(nil, &cursor, Int(der.count)) else {
            ERR_clear_error()
            throw CertificateParseError(sha256: fingerprint, reason: "not a DER X.509 certificate")
        }
        defer { X509_free(certificate) }

        let subject = Self.distinguishedName(X509_get_subject_name(certificate))
        let issuer = Self.distinguishedName(X509_get_issuer_name(certificate))
        var notBefore: Timestamp?
        var notAfter: Timestamp?
        var epoch: Int64 = 0
        if bh_asn1_time_to_epoch(X509_get0_notBefore(certificate), &epoch) == 1 {
            notBefore = Timestamp(seconds: epoch, nanoseconds: 0)
        }
        if bh_asn1_time_to_epoch(X509_get0_notAfter(certificate), &epoch) == 1 {
            notAfter = Timestamp(seconds: epoch, nanoseconds: 0)
        }
        let key = Self.publicKey(certificate)
        let signatureNID = X509_get_signature_nid(certificate)
        let signature = signatureNID == NID_undef ? "unknown" : Self.objectName(signatureNID)
        // X509_get_extension_flags caches the extensions; EXFLAG_CA is set by basicConstraints CA:TRUE.
        let flags = X509_get_extension_flags(certificate)
        let isCA = (flags & UInt32(EXFLAG_CA)) != 0
        // Self-signed: issuer == subject and the signature verifies with the certificate's own key.
        let selfSigned = X509_self_signed(certificate, 1) == 1
        ERR_clear_error()

        return CertificateSummary(
            subject: subject,
            issuer: issuer,
            sans: Self.subjectAlternativeNames(certificate),
            serial: Self.serial(certificate),
            notBefore: notBefore,
            notAfter: notAfter,
            sha256: fingerprint,
            keyType: key.type,
            keyBits: key.bits,
            curve: key.curve,
            signatureAlgorithm: signature,
            isCA: isCA,
            selfSigned: selfSigned,
            keyUsage: (flags & UInt32(EXFLAG_KUSAGE)) != 0 ? Self.keyUsage(X509_get_key_usage(certificate)) : [],
            extendedKeyUsage: Self.extendedKeyUsage(certificate)
        )
    }

    /// Parses a DER-encoded X.501 Name (as listed in a CertificateRequest) into RFC 2253 text.
    /// Returns nil when the bytes are not a Name.
    public static func distinguishedName(der: UnsafeRawBufferPointer) -> String? {
        guard der.count > 0, der.count < Int(Int32.max), let base = der.baseAddress else { return nil }
        var cursor: UnsafePointer<UInt8>? = base.assumingMemoryBound(to: UInt8.self)
        guard let name = d2i_X509_NAME(nil, &cursor, Int(der.count)) else {
            ERR_clear_error()
            return nil
        }
        defer { X509_NAME_free(name) }
        return Self.distinguishedName(name)
    }

    // MARK: - Fields

    private static func distinguishedName(_ name: OpaquePointer?) -> String {
        guard let name, let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        guard X509_NAME_print_ex(bio, name, 0, bh_name_print_flags()) >= 0 else { return "" }
        return Self.string(from: bio)
    }

    private static func string(from bio: OpaquePointer) -> String {
        var data: UnsafeMutablePointer<CChar>?
        let length = bh_BIO_get_mem_data(bio, &data)
        guard length > 0, let data else { return "" }
        return data.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    private static func objectName(_ nid: Int32) -> String {
        guard let name = OBJ_nid2ln(nid) else { return "nid-\(nid)" }
        return String(cString: name)
    }

    private static func publicKey(_ certificate: OpaquePointer) -> (type: String, bits: Int, curve: String?) {
        guard let key = X509_get0_pubkey(certificate) else {
            ERR_clear_error()
            return ("unknown", 0, nil)
        }
        let bits = Int(EVP_PKEY_get_bits(key))
        let type: String
        var curve: String?
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA: type = "rsa"
        case EVP_PKEY_RSA_PSS: type = "rsa-pss"
        case EVP_PKEY_EC:
            type = "ec"
            var buffer = [CChar](repeating: 0, count: 80)
            var length = 0
            if EVP_PKEY_get_group_name(key, &buffer, buffer.count, &length) == 1 {
                curve = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
        case EVP_PKEY_ED25519: type = "ed25519"
        case EVP_PKEY_ED448: type = "ed448"
        case EVP_PKEY_DSA: type = "dsa"
        default: type = "unknown"
        }
        return (type, bits, curve)
    }

    private static func serial(_ certificate: OpaquePointer) -> String {
        guard let serial = X509_get0_serialNumber(certificate),
            let number = ASN1_INTEGER_to_BN(serial, nil)
        else { return "" }
        defer { BN_free(number) }
        guard let hex = BN_bn2hex(number) else { return "" }
        defer { bh_OPENSSL_free(hex) }
        return String(cString: hex)
    }

    private static func subjectAlternativeNames(_ certificate: OpaquePointer) -> [String] {
        guard let raw = X509_get_ext_d2i(certificate, NID_subject_alt_name, nil, nil) else {
            ERR_clear_error()
            return []
        }
        let names = OpaquePointer(raw)
        defer { bh_GENERAL_NAMES_free(names) }
        var result: [String] = []
        let count = bh_sk_num(raw)
        for index in 0..<max(0, count) {
            var kind: Int32 = 0
            var data: UnsafePointer<UInt8>?
            var length: Int32 = 0
            guard bh_general_name_get(names, index, &kind, &data, &length) == 1 else { continue }
            let bytes = data.map { UnsafeBufferPointer(start: $0, count: Int(length)) }
            switch Int(kind) {
            case Int(BH_SAN_DNS): result.append("DNS:" + Self.printable(bytes))
            case Int(BH_SAN_URI): result.append("URI:" + Self.printable(bytes))
            case Int(BH_SAN_EMAIL): result.append("email:" + Self.printable(bytes))
            case Int(BH_SAN_IP):
                guard let bytes else { continue }
                if bytes.count == 4 {
                    let value = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                    result.append("IP:\(IPAddress(ipv4: value))")
                } else if bytes.count == 16 {
                    let high = bytes.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                    let low = bytes.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                    result.append("IP:\(IPAddress(ipv6High: high, low: low))")
                } else {
                    result.append("IP:<\(bytes.count) bytes>")
                }
            default: result.append("other")
            }
        }
        return result
    }

    /// Text of an IA5String SAN with control characters escaped, so a hostile certificate cannot write
    /// escape sequences into a terminal report.
    private static func printable(_ bytes: UnsafeBufferPointer<UInt8>?) -> String {
        guard let bytes else { return "" }
        var text = ""
        for byte in bytes.prefix(1024) {
            if byte >= 0x20 && byte < 0x7f {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                text += "\\x" + String(byte, radix: 16, uppercase: false).leftPadded(to: 2)
            }
        }
        return text
    }

    private static func keyUsage(_ bits: UInt32) -> [String] {
        let names: [(UInt32, String)] = [
            (UInt32(KU_DIGITAL_SIGNATURE), "digitalSignature"), (UInt32(KU_NON_REPUDIATION), "nonRepudiation"),
            (UInt32(KU_KEY_ENCIPHERMENT), "keyEncipherment"), (UInt32(KU_DATA_ENCIPHERMENT), "dataEncipherment"),
            (UInt32(KU_KEY_AGREEMENT), "keyAgreement"), (UInt32(KU_KEY_CERT_SIGN), "keyCertSign"),
            (UInt32(KU_CRL_SIGN), "cRLSign"), (UInt32(KU_ENCIPHER_ONLY), "encipherOnly"),
            (UInt32(KU_DECIPHER_ONLY), "decipherOnly"),
        ]
        return names.compactMap { bits & $0.0 != 0 ? $0.1 : nil }
    }

    private static func extendedKeyUsage(_ certificate: OpaquePointer) -> [String] {
        guard let raw = X509_get_ext_d2i(certificate, NID_ext_key_usage, nil, nil) else {
            ERR_clear_error()
            return []
        }
        let usages = OpaquePointer(raw)
        defer { EXTENDED_KEY_USAGE_free(usages) }
        var result: [String] = []
        for index in 0..<max(0, bh_sk_num(raw)) {
            guard let object = OPENSSL_sk_value(OpaquePointer(raw), index) else { continue }
            let nid = OBJ_obj2nid(OpaquePointer(object))
            switch nid {
            case NID_server_auth: result.append("serverAuth")
            case NID_client_auth: result.append("clientAuth")
            case NID_code_sign: result.append("codeSigning")
            case NID_email_protect: result.append("emailProtection")
            case NID_time_stamp: result.append("timeStamping")
            case NID_OCSP_sign: result.append("OCSPSigning")
            case NID_anyExtendedKeyUsage: result.append("anyExtendedKeyUsage")
            default:
                var buffer = [CChar](repeating: 0, count: 80)
                let length = OBJ_obj2txt(&buffer, Int32(buffer.count), OpaquePointer(object), 1)
                result.append(
                    length > 0
                        ? String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                        : "unknown")
            }
        }
        return result
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        self.count >= width ? self : String(repeating: "0", count: width - self.count) + self
    }
}
