/// What Bulkhead knows about one X.509 certificate, read tolerantly (weak keys, SHA-1, RSA-PSS and
/// other certificates that strict verifiers refuse to parse are still described).
public struct CertificateSummary: Codable, Hashable, Sendable {
    /// Subject distinguished name in RFC 2253 order, e.g. `CN=server.test,O=Example`.
    public var subject: String
    /// Issuer distinguished name in RFC 2253 order.
    public var issuer: String
    /// Subject alternative names as `DNS:name`, `IP:addr`, `URI:uri`, `email:addr`.
    public var sans: [String]
    /// Serial number, upper-case hex.
    public var serial: String
    @ExplicitNull public var notBefore: Timestamp?
    @ExplicitNull public var notAfter: Timestamp?
    /// SHA-256 of the DER encoding, lower-case hex.
    public var sha256: String
    /// `rsa`, `ec`, `ed25519`, `ed448`, `dsa`, `rsa-pss` or `unknown`.
    public var keyType: String
    public var keyBits: Int
    /// Curve name for EC keys (`prime256v1`, `secp384r1`…).
    @ExplicitNull public var curve: String?
    /// Signature algorithm, OpenSSL's long name (`sha256WithRSAEncryption`, `ecdsa-with-SHA256`, `RSASSA-PSS`…).
    public var signatureAlgorithm: String
    /// basicConstraints CA flag.
    public var isCA: Bool
    /// Issuer equals subject and the certificate's signature verifies with its own key.
    public var selfSigned: Bool
    /// keyUsage names (`digitalSignature`, `keyEncipherment`, `keyCertSign`…); empty when absent.
    public var keyUsage: [String]
    /// Why the certificate could not be read, for the placeholder a capture shows in its place (only `sha256` is then
    /// meaningful; the other fields are empty or `unknown`); nil for every certificate that was read, and then absent
    /// from the JSON.
    public var parseError: String?
    /// extendedKeyUsage names (`serverAuth`, `clientAuth`…); empty when absent.
    public var extendedKeyUsage: [String]
    /// SPIFFE IDs among the URI SANs.
    public var spiffeIDs: [String] {
        self.sans.compactMap { $0.hasPrefix("URI:spiffe://") ? String($0.dropFirst(4)) : nil }
    }

    public init(
        subject: String, issuer: String, sans: [String], serial: String, notBefore: Timestamp?,
        notAfter: Timestamp?, sha256: String, keyType: String, keyBits: Int, curve: String?,
        signatureAlgorithm: String, isCA: Bool, selfSigned: Bool, keyUsage: [String], extendedKeyUsage: [String],
        parseError: String? = nil
    ) {
        self.parseError = parseError
        self.subject = subject
        self.issuer = issuer
        self.sans = sans
        self.serial = serial
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.sha256 = sha256
        self.keyType = keyType
        self.keyBits = keyBits
        self.curve = curve
        self.signatureAlgorithm = signatureAlgorithm
        self.isCA = isCA
        self.selfSigned = selfSigned
        self.keyUsage = keyUsage
        self.extendedKeyUsage = extendedKeyUsage
    }

    enum CodingKeys: String, CodingKey {
        case subject, issuer, sans, serial, notBefore, notAfter, sha256, keyType, keyBits, curve, signatureAlgorithm,
            isCA
        case selfSigned, keyUsage, extendedKeyUsage, parseError
    }

    /// The placeholder for a certificate that could not be read: its fingerprint and why.
    public static func unreadable(sha256: String, reason: String) -> CertificateSummary {
        CertificateSummary(
            subject: "", issuer: "", sans: [], serial: "", notBefore: nil, notAfter: nil, sha256: sha256,
            keyType: "unknown",
            keyBits: 0, curve: nil, signatureAlgorithm: "unknown", isCA: false, selfSigned: false, keyUsage: [],
            extendedKeyUsage: [], parseError: reason)
    }

    /// The validity state of the certificate at `time`.
    public func validity(at time: Timestamp) -> CertificateValidity {
        if let notBefore = self.notBefore, time < notBefore { return .notYetValid }
        if let notAfter = self.notAfter, notAfter < time { return .expired }
        if self.notBefore == nil || self.notAfter == nil { return .unknown }
        return .valid
    }
}

/// Whether a certificate was inside its validity window at a given moment.
public enum CertificateValidity: String, Codable, Sendable {
    case valid
    case expired
    case notYetValid = "not-yet-valid"
    case unknown
}
