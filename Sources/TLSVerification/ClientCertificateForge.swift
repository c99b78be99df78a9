import BulkheadModel
import CBulkheadOpenSSL
import Foundation

/// Makes the client certificates a server must refuse, in memory, fresh for every run (OpenSSL EVP/X509
/// APIs; nothing is written to disk and no key leaves the process).
///
/// The identity copied into the forged certificates (the whole subject, the serial, every extension but the key
/// identifiers, the kind of key, and the issuer's name for the rogue CA) is that of the user's client certificate when
/// one is given, so that a server matching on identity alone is caught too.
public enum ClientCertificateForge {
    /// A forging failure (OpenSSL refused to build a key or certificate).
    public struct ForgeError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The identity a forged certificate claims.
    public struct Identity: Sendable {
        /// Used as the subject when ``subject`` is nil.
        public var commonName: String
        /// subjectAltName in openssl.cnf syntax (`DNS:a,URI:spiffe://…`), or nil for none.
        public var subjectAltName: String?
        /// The whole subject of the certificate copied (DER of its Name), so that a server matching on the subject's
        /// every field (`O=`, `OU=`, not the CN alone) is caught too.
        public var subject: [UInt8]?
        /// The issuer of the certificate copied (DER of its Name): the rogue CA takes this name, so that a server that
        /// matches on the issuer's name instead of checking its signature is caught too.
        public var issuer: [UInt8]?
        /// The kind of key of the certificate copied: a forged certificate with another kind of key may never be sent
        /// (a server may allow only RSA signatures from clients), and then tests nothing.
        public var key: KeyKind
        /// The certificate copied, whose serial number and extensions (subjectAltName with every name in it, policies,
        /// any private extension; not its key identifiers) a forged leaf carries as they are: a server that authorises
        /// on any of them without checking the signature is caught too.
        public var template: X509Certificate?

        public init(
            commonName: String, subjectAltName: String?, subject: [UInt8]? = nil, issuer: [UInt8]? = nil,
            key: KeyKind = .ecP256
        ) {
            self.commonName = commonName
            self.subjectAltName = subjectAltName
            self.subject = subject
            self.issuer = issuer
            self.key = key
        }

        /// The identity of an existing certificate (its subject, issuer, SANs and kind of key), or a neutral probe
        /// identity.
        public static func of(_ certificate: X509Certificate?) -> Identity {
            guard let certificate, let summary = certificate.summary() else {
                return Identity(commonName: "bulkhead-probe", subjectAltName: "DNS:bulkhead-probe.invalid")
            }
            let commonName =
                summary.subject.split(separator: ",").first { $0.hasPrefix("CN=") }.map { String($0.dropFirst(3)) }
                ?? "bulkhead-probe"
            // Only SAN kinds openssl.cnf syntax round-trips safely; values with separators are dropped.
            let sans = summary.sans.filter {
                ($0.hasPrefix("DNS:") || $0.hasPrefix("URI:") || $0.hasPrefix("IP:")) && !$0.contains(",")
            }
            var key = KeyKind.ecP256
            if let publicKey = X509_get0_pubkey(certificate.pointer) { key = KeyKind.of(publicKey) }
            var identity = Identity(
                commonName: commonName, subjectAltName: sans.isEmpty ? nil : sans.joined(separator: ","),
                subject: Self.der(X509_get_subject_name(certificate.pointer)),
                issuer: Self.der(X509_get_issuer_name(certificate.pointer)), key: key)
            identity.template = certificate
            return identity
        }

        private static func der(_ name: OpaquePointer?) -> [UInt8]? {
            guard let name else { return nil }
            let length = i2d_X509_NAME(name, nil)
            guard length > 0 else { return nil }
            var bytes = [UInt8](repeating: 0, count: Int(length))
            let written = bytes.withUnsafeMutableBufferPointer { buffer -> Int32 in
                var cursor = buffer.baseAddress
                return i2d_X509_NAME(name, &cursor)
            }
            return written == length ? bytes : nil
        }
    }

    /// The kinds of key forged certificates are made with.
    public enum KeyKind: Sendable, Equatable {
        case ecP256, ecP384, ecP521
        case rsa(bits: Int)
        case ed25519

        /// The kind of `key` (an EC key by its size; anything unknown as P-256).
        static func of(_ key: OpaquePointer) -> KeyKind {
            let bits = Int(EVP_PKEY_get_bits(key))
            switch EVP_PKEY_get_base_id(key) {
            case EVP_PKEY_RSA, EVP_PKEY_RSA_PSS: return .rsa(bits: min(max(bits, 2048), 4096))
            case EVP_PKEY_ED25519: return .ed25519
            case EVP_PKEY_EC where bits > 384: return .ecP521
            case EVP_PKEY_EC where bits > 256: return .ecP384
            default: return .ecP256
            }
        }
    }

    /// The forged certificates for one run.
    public struct Forged: Sendable {
        /// Issued by a CA made for this run (so untrusted by any server), which bears the right CA's name.
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
    ///   - issuer: the right CA's certificate and key, when the user supplied the key, and the certificates between it
    ///     and its root (sent after the forged leaf, as a client of an intermediate CA sends them).
    public static func forge(
        identity: Identity, issuer: (certificate: X509Certificate, key: PrivateKey)?,
        issuerChain: [X509Certificate] = []
    ) throws(ForgeError) -> Forged {
        let now = Int64(time(nil))
        let rogueKey = try Self.ecKey()
        let rogueRoot = try Self.certificate(
            commonName: "Bulkhead rogue CA", subject: identity.issuer, subjectAltName: nil, key: rogueKey, issuer: nil,
            notBefore: now - 3600, notAfter: now + 86_400,
            extensions: [(NID_basic_constraints, "critical,CA:TRUE"), (NID_key_usage, "critical,keyCertSign,cRLSign")])
        let leafExtensions: [(Int32, String)] = [
            (NID_basic_constraints, "critical,CA:FALSE"), (NID_key_usage, "critical,digitalSignature"),
            (NID_ext_key_usage, "clientAuth"),
        ]
        func leaf(
            signedBy signer: (certificate: X509Certificate, key: PrivateKey)?, notBefore: Int64, notAfter: Int64,
            extensions: [(Int32, String)], overriding: Set<Int32> = []
        ) throws(ForgeError) -> (certificate: X509Certificate, key: PrivateKey) {
            let key = try Self.key(identity.key)
            let certificate = try Self.certificate(
                commonName: identity.commonName, subject: identity.subject, subjectAltName: identity.subjectAltName,
                key: key, issuer: signer, notBefore: notBefore, notAfter: notAfter, extensions: extensions,
                template: identity.template, overriding: overriding)
            return (certificate, key)
        }
        let rogueLeaf = try leaf(
            signedBy: (rogueRoot, rogueKey), notBefore: now - 3600, notAfter: now + 86_400, extensions: leafExtensions)
        let selfSigned = try leaf(
            signedBy: nil, notBefore: now - 3600, notAfter: now + 86_400, extensions: leafExtensions)
        var forged = Forged(
            rogueCA: ClientIdentity(chain: [rogueLeaf.certificate, rogueRoot], key: rogueLeaf.key),
            selfSigned: ClientIdentity(chain: [selfSigned.certificate], key: selfSigned.key), expired: nil,
            serverAuthOnly: nil)
        if let issuer {
            let expired = try leaf(
                signedBy: issuer, notBefore: now - 30 * 86_400, notAfter: now - 86_400, extensions: leafExtensions)
            forged.expired = ClientIdentity(chain: [expired.certificate] + issuerChain, key: expired.key)
            let serverOnly = try leaf(
                signedBy: issuer, notBefore: now - 3600, notAfter: now + 86_400,
                extensions: [
                    (NID_basic_constraints, "critical,CA:FALSE"), (NID_key_usage, "critical,digitalSignature"),
                    (NID_ext_key_usage, "serverAuth"),
                ], overriding: [NID_ext_key_usage])
            forged.serverAuthOnly = ClientIdentity(chain: [serverOnly.certificate] + issuerChain, key: serverOnly.key)
        }
        return forged
    }

    /// A fresh key of `kind`.
    static func key(_ kind: KeyKind) throws(ForgeError) -> PrivateKey {
        let algorithm: String
        switch kind {
        case .ecP256, .ecP384, .ecP521: algorithm = "EC"
        case .rsa: algorithm = "RSA"
        case .ed25519: algorithm = "ED25519"
        }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else {
            throw ForgeError(description: "EVP_PKEY_CTX_new_from_name(\(algorithm)): \(OpenSSL.lastError())")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1 else {
            throw ForgeError(description: "\(algorithm) key generation setup: \(OpenSSL.lastError())")
        }
        let configured: Bool
        switch kind {
        case .ecP256: configured = EVP_PKEY_CTX_set_group_name(context, "prime256v1") == 1
        case .ecP384: configured = EVP_PKEY_CTX_set_group_name(context, "secp384r1") == 1
        case .ecP521: configured = EVP_PKEY_CTX_set_group_name(context, "secp521r1") == 1
        case .rsa(let bits): configured = EVP_PKEY_CTX_set_rsa_keygen_bits(context, Int32(bits)) == 1
        case .ed25519: configured = true
        }
        var key: OpaquePointer?
        guard configured, EVP_PKEY_keygen(context, &key) == 1, let key else {
            throw ForgeError(description: "\(algorithm) key generation: \(OpenSSL.lastError())")
        }
        return PrivateKey(owning: key)
    }

    /// A fresh P-256 key.
    static func ecKey() throws(ForgeError) -> PrivateKey { try Self.key(.ecP256) }

    /// A certificate for `key`, signed by `issuer` (or by `key` itself when nil) with SHA-256.
    static func certificate(
        commonName: String, subject: [UInt8]? = nil, subjectAltName: String?, key: PrivateKey,
        issuer: (certificate: X509Certificate, key: PrivateKey)?,
        notBefore: Int64, notAfter: Int64, extensions: [(Int32, String)], template: X509Certificate? = nil,
        overriding: Set<Int32> = []
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
            X509_set_pubkey(raw, key.pointer) == 1
        else { throw ForgeError(description: "certificate fields: \(OpenSSL.lastError())") }
        try Self.setSubject(of: raw, der: subject, commonName: commonName)
        let issuerCertificate = issuer?.certificate.pointer ?? raw
        guard X509_set_issuer_name(raw, X509_get_subject_name(issuerCertificate)) == 1 else {
            throw ForgeError(description: "issuer name: \(OpenSSL.lastError())")
        }
        var all = extensions + [(NID_subject_key_identifier, "hash")]
        if issuer != nil { all.append((NID_authority_key_identifier, "keyid:always")) }
        if let template {
            // The serial and the extensions of the certificate copied, byte for byte, but its key identifiers (this key
            // is another) and what this forgery must say otherwise (`overriding`: serverAuth only).
            guard let serialNumber = X509_get0_serialNumber(template.pointer),
                X509_set_serialNumber(raw, UnsafeMutablePointer(mutating: serialNumber)) == 1
            else { throw ForgeError(description: "serial number: \(OpenSSL.lastError())") }
            var copied = Set<Int32>()
            for position in 0..<max(0, X509_get_ext_count(template.pointer)) {
                guard let extensionEntry = X509_get_ext(template.pointer, position) else { continue }
                let nid = OBJ_obj2nid(X509_EXTENSION_get_object(extensionEntry))
                if nid == NID_subject_key_identifier || nid == NID_authority_key_identifier || overriding.contains(nid)
                {
                    continue
                }
                guard X509_add_ext(raw, extensionEntry, -1) == 1 else {
                    throw ForgeError(description: "copied extension \(nid): \(OpenSSL.lastError())")
                }
                if nid != NID_undef { copied.insert(nid) }
            }
            all.removeAll { copied.contains($0.0) }
        } else if let subjectAltName {
            all.append((NID_subject_alt_name, subjectAltName))
        }
        for (nid, value) in all {
            guard bh_X509_add_text_extension(raw, issuerCertificate, nid, value) == 1 else {
                throw ForgeError(
                    description: "extension \(String(cString: OBJ_nid2sn(nid))) = \(value): \(OpenSSL.lastError())")
            }
        }
        // Ed25519 signs without a separate digest.
        let signer = issuer?.key.pointer ?? key.pointer
        let digest = EVP_PKEY_get_base_id(signer) == EVP_PKEY_ED25519 ? nil : EVP_sha256()
        guard X509_sign(raw, signer, digest) > 0 else {
            throw ForgeError(description: "signing: \(OpenSSL.lastError())")
        }
        return certificate
    }

    /// Sets the subject: the Name in `der` when it reads, else `CN=commonName`.
    private static func setSubject(of certificate: OpaquePointer, der: [UInt8]?, commonName: String) throws(ForgeError)
    {
        if let der, !der.isEmpty {
            let name = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
                var cursor = buffer.baseAddress
                return d2i_X509_NAME(nil, &cursor, buffer.count)
            }
            if let name {
                defer { X509_NAME_free(name) }
                guard X509_set_subject_name(certificate, name) == 1 else {
                    throw ForgeError(description: "subject name: \(OpenSSL.lastError())")
                }
                return
            }
            ERR_clear_error()
        }
        guard let name = X509_get_subject_name(certificate),
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, commonName, -1, -1, 0) == 1
        else { throw ForgeError(description: "subject name: \(OpenSSL.lastError())") }
    }
}
