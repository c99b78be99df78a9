import BulkheadModel
import CBulkheadOpenSSL
import Foundation

/// Makes the client certificates a server must refuse, in memory, fresh for every run (OpenSSL EVP/X509
/// APIs; nothing is written to disk and no key leaves the process).
///
/// The identity copied into the forged certificates (subject and subjectAltName) is that of the user's client
/// certificate when one is given, so that a server matching on identity alone is caught too.
public enum ClientCertificateForge {
    /// A forging failure (OpenSSL refused to build a key or certificate).
    public struct ForgeError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The identity a forged certificate claims.
    public struct Identity: Sendable {
        /// `CN=…` entries of the subject; only the common name is copied.
        public var commonName: String
        /// subjectAltName in openssl.cnf syntax (`DNS:a,URI:spiffe://…`), or nil for none.
        public var subjectAltName: String?

        public init(commonName: String, subjectAltName: String?) {
            self.commonName = commonName
            self.subjectAltName = subjectAltName
        }

        /// The identity of an existing certificate (its CN and SANs), or a neutral probe identity.
        public static func of(_ summary: CertificateSummary?) -> Identity {
            guard let summary else {
                return Identity(commonName: "bulkhead-probe", subjectAltName: "DNS:bulkhead-probe.invalid")
            }
            let commonName =
                summary.subject.split(separator: ",").first { $0.hasPrefix("CN=") }.map { String($0.dropFirst(3)) }
                ?? "bulkhead-probe"
            // Only SAN kinds openssl.cnf syntax round-trips safely; values with separators are dropped.
            let sans = summary.sans.filter {
                ($0.hasPrefix("DNS:") || $0.hasPrefix("URI:") || $0.hasPrefix("IP:")) && !$0.contains(",")
            }
            return Identity(commonName: commonName, subjectAltName: sans.isEmpty ? nil : sans.joined(separator: ","))
        }
    }

    /// The forged certificates for one run.
    public struct Forged: Sendable {
        /// Issued by a CA made for this run (so untrusted by any server).
        public var rogueCA: ClientIdentity
        /// Self-signed, with the right identity.
        public var selfSigned: ClientIdentity
        /// Issued by the right CA but expired yesterday (nil without the CA key).
        public var expired: ClientIdentity?
        /// Issued by the right CA, EKU serverAuth only (nil without the CA key).
        public var serverAuthOnly: ClientIdentity?
    }

    /// Forges the set.
    ///
    /// - Parameters:
    ///   - identity: what the certificates claim to be.
    ///   - issuer: the right CA's certificate and key, when the user supplied the key.
    public static func forge(identity: Identity, issuer: (certificate: X509Certificate, key: PrivateKey)?)
        throws(ForgeError) -> Forged
    {
        let now = Int64(time(nil))
        let rogueKey = try Self.ecKey()
        let rogueRoot = try Self.certificate(
            commonName: "Bulkhead rogue CA", subjectAltName: nil, key: rogueKey, issuer: nil, notBefore: now - 3600,
            notAfter: now + 86_400,
            extensions: [(NID_basic_constraints, "critical,CA:TRUE"), (NID_key_usage, "critical,keyCertSign,cRLSign")])
        let leafExtensions: [(Int32, String)] = [
            (NID_basic_constraints, "critical,CA:FALSE"), (NID_key_usage, "critical,digitalSignature"),
            (NID_ext_key_usage, "clientAuth"),
        ]
        let rogueLeafKey = try Self.ecKey()
        let rogueLeaf = try Self.certificate(
            commonName: identity.commonName, subjectAltName: identity.subjectAltName, key: rogueLeafKey,
            issuer: (rogueRoot, rogueKey), notBefore: now - 3600, notAfter: now + 86_400, extensions: leafExtensions)
        let selfKey = try Self.ecKey()
        let selfSigned = try Self.certificate(
            commonName: identity.commonName, subjectAltName: identity.subjectAltName, key: selfKey, issuer: nil,
            notBefore: now - 3600, notAfter: now + 86_400, extensions: leafExtensions)
        var forged = Forged(
            rogueCA: ClientIdentity(chain: [rogueLeaf, rogueRoot], key: rogueLeafKey),
            selfSigned: ClientIdentity(chain: [selfSigned], key: selfKey), expired: nil, serverAuthOnly: nil)
        if let issuer {
            let expiredKey = try Self.ecKey()
            let expired = try Self.certificate(
                commonName: identity.commonName, subjectAltName: identity.subjectAltName, key: expiredKey,
                issuer: issuer,
                notBefore: now - 30 * 86_400, notAfter: now - 86_400, extensions: leafExtensions)
            forged.expired = ClientIdentity(chain: [expired], key: expiredKey)
            let serverKey = try Self.ecKey()
            let serverOnly = try Self.certificate(
                commonName: identity.commonName, subjectAltName: identity.subjectAltName, key: serverKey,
                issuer: issuer,
                notBefore: now - 3600, notAfter: now + 86_400,
                extensions: [
                    (NID_basic_constraints, "critical,CA:FALSE"), (NID_key_usage, "critical,digitalSignature"),
                    (NID_ext_key_usage, "serverAuth"),
                ])
            forged.serverAuthOnly = ClientIdentity(chain: [serverOnly], key: serverKey)
        }
        return forged
    }

    /// A fresh P-256 key.
    static func ecKey() throws(ForgeError) -> PrivateKey {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else {
            throw ForgeError(description: "EVP_PKEY_CTX_new_from_name: \(OpenSSL.lastError())")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_group_name(context, "prime256v1") == 1 else {
            throw ForgeError(description: "EC key generation setup: \(OpenSSL.lastError())")
        }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen(context, &key) == 1, let key else {
            throw ForgeError(description: "EC key generation: \(OpenSSL.lastError())")
        }
        return PrivateKey(owning: key)
    }

    /// A certificate for `key`, signed by `issuer` (or by `key` itself when nil) with SHA-256.
    static func certificate(
        commonName: String, subjectAltName: String?, key: PrivateKey,
        issuer: (certificate: X509Certificate, key: PrivateKey)?,
        notBefore: Int64, notAfter: Int64, extensions: [(Int32, String)]
    ) throws(ForgeError) -> X509Certificate {
        guard let raw = X509_new() else { throw ForgeError(description: "X509_new failed") }
        let certificate = X509Certificate(owning: raw)
        var serial = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&serial, Int32(serial.count)) == 1 else {
            throw ForgeError(description: "RAND_bytes: \(OpenSSL.lastError())")
        }
        serial[0] &= 0x7f
        serial[0] |= 0x01
        guard X509_set_version(raw, 2) == 1,
            let number = BN_bin2bn(serial, Int32(serial.count), nil)
        else { throw ForgeError(description: "certificate setup: \(OpenSSL.lastError())") }
        defer { BN_free(number) }
        guard BN_to_ASN1_INTEGER(number, X509_get_serialNumber(raw)) != nil,
            X509_time_adj_ex(X509_getm_notBefore(raw), 0, Int(notBefore - Int64(time(nil))), nil) != nil,
            X509_time_adj_ex(X509_getm_notAfter(raw), 0, Int(notAfter - Int64(time(nil))), nil) != nil,
            X509_set_pubkey(raw, key.pointer) == 1,
            let name = X509_get_subject_name(raw),
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, commonName, -1, -1, 0) == 1
        else { throw ForgeError(description: "certificate fields: \(OpenSSL.lastError())") }
        let issuerCertificate = issuer?.certificate.pointer ?? raw
        guard X509_set_issuer_name(raw, X509_get_subject_name(issuerCertificate)) == 1 else {
            throw ForgeError(description: "issuer name: \(OpenSSL.lastError())")
        }
        var all = extensions + [(NID_subject_key_identifier, "hash")]
        if issuer != nil { all.append((NID_authority_key_identifier, "keyid:always")) }
        if let subjectAltName { all.append((NID_subject_alt_name, subjectAltName)) }
        for (nid, value) in all {
            guard bh_X509_add_text_extension(raw, issuerCertificate, nid, value) == 1 else {
                throw ForgeError(
                    description: "extension \(String(cString: OBJ_nid2sn(nid))) = \(value): \(OpenSSL.lastError())")
            }
        }
        guard X509_sign(raw, issuer?.key.pointer ?? key.pointer, EVP_sha256()) > 0 else {
            throw ForgeError(description: "signing: \(OpenSSL.lastError())")
        }
        return certificate
    }
}
