import BulkheadModel

/// Bulkhead's own certificate lint, over the tolerant ``CertificateSummary`` (every verifier library leaves
/// holes: OpenSSL, for one, accepts CA:TRUE leaves and SHA-1 signatures).
///
/// Pure and independent of how the certificate was obtained: `tls` runs it on server chains and on the
/// client certificates the user supplies; `analyze` runs it on the chains captures show (server chains as
/// `.server`, client chains as `.client`, judged at the flow's time).
public enum CertificateLint {
    /// Which purpose a leaf must be fit for.
    public enum Role: String, Sendable {
        /// A TLS server leaf: EKU must allow serverAuth.
        case server
        /// A TLS client leaf: EKU must allow clientAuth.
        case client
        /// Unknown purpose (a certificate found outside a handshake): no EKU rule.
        case any
    }

    /// Thresholds of the lint.
    public struct Options: Hashable, Sendable {
        /// Certificates that expire within this many seconds are reported (`expiring-soon`).
        public var expiryWarningSeconds: Int64
        /// Leaves valid for longer than this many days are reported (`long-validity`); 398 is the public web limit.
        public var maximumLeafValidityDays: Int

        public init(expiryWarningSeconds: Int64 = 30 * 86_400, maximumLeafValidityDays: Int = 398) {
            self.expiryWarningSeconds = expiryWarningSeconds
            self.maximumLeafValidityDays = maximumLeafValidityDays
        }
    }

    /// Lints a chain as presented (leaf first): each certificate, and the order of the chain.
    ///
    /// - Parameters:
    ///   - chain: the certificates, leaf first.
    ///   - role: what the leaf is for.
    ///   - now: the time expiry is judged at.
    ///   - options: thresholds.
    /// - Returns: the issues, leaf first.
    public static func lint(chain: [CertificateSummary], role: Role, at now: Timestamp, options: Options = Options())
        -> [CertificateLintIssue]
    {
        var issues: [CertificateLintIssue] = []
        for (position, certificate) in chain.enumerated() {
            issues += Self.lint(
                certificate, role: position == 0 ? role : nil, position: position, at: now, options: options)
        }
        for index in chain.indices.dropLast()
        where chain[index].issuer != chain[index + 1].subject
            && !Self.isUnparseable(chain[index]) && !Self.isUnparseable(chain[index + 1])
        {
            let certificate = chain[index]
            issues.append(
                Self.issue(
                    .chainOrder, .medium,
                    "certificate \(index + 1) (\(chain[index + 1].subject)) did not issue certificate \(index) (issuer \(certificate.issuer)): the chain is out of order or has a foreign certificate",
                    certificate, index))
        }
        return issues
    }

    /// Lints one certificate.
    ///
    /// - Parameters:
    ///   - certificate: the certificate.
    ///   - role: what a leaf is for; nil for an intermediate or a root (CA rules instead of leaf rules).
    ///   - position: its position in a chain (0 = leaf), for the report.
    ///   - now: the time expiry is judged at.
    ///   - options: thresholds.
    public static func lint(
        _ certificate: CertificateSummary, role: Role?, position: Int? = nil, at now: Timestamp,
        options: Options = Options()
    ) -> [CertificateLintIssue] {
        var issues: [CertificateLintIssue] = []
        func add(_ rule: CertificateLintRule, _ severity: Severity, _ message: String) {
            issues.append(Self.issue(rule, severity, message, certificate, position))
        }
        let isLeaf = role != nil

        // A certificate the reader could not parse (a placeholder holding only its fingerprint): one issue, not
        // a dozen about fields that were never read.
        if let reason = certificate.parseError {
            add(.unparseable, .high, "could not be parsed (\(reason))")
            return issues
        }

        // Key.
        switch certificate.keyType {
        case "rsa", "rsa-pss":
            if certificate.keyBits < 2048 {
                add(.weakKey, .high, "RSA key of \(certificate.keyBits) bits (at least 2048 expected)")
            }
        case "ec":
            let strong = ["prime256v1", "secp384r1", "secp521r1", "P-256", "P-384", "P-521"]
            if let curve = certificate.curve, !strong.contains(curve) {
                add(.weakCurve, .medium, "EC key on curve \(curve) (P-256, P-384 or P-521 expected)")
            } else if certificate.curve == nil {
                add(.weakCurve, .medium, "EC key on an unnamed or explicit curve")
            }
        case "dsa":
            add(.weakKey, .high, "DSA key (\(certificate.keyBits) bits): not acceptable for TLS certificates")
        case "ed25519", "ed448": break
        default:
            add(.unknownKey, .medium, "public key of an unknown type")
        }

        // Signature (a self-signed root's own signature is never checked, so it does not matter there).
        let signature = certificate.signatureAlgorithm.lowercased()
        if !(certificate.selfSigned && certificate.isCA) {
            if signature.contains("md5") || signature.contains("md2") {
                add(.weakSignature, .high, "signed with \(certificate.signatureAlgorithm) (MD5 is broken)")
            } else if signature.contains("sha1") {
                add(.weakSignature, .high, "signed with \(certificate.signatureAlgorithm) (SHA-1 is broken)")
            }
        }

        // Validity.
        switch certificate.validity(at: now) {
        case .expired:
            add(.expired, .high, "expired on \(certificate.notAfter.map(String.init(describing:)) ?? "?")")
        case .notYetValid:
            add(
                .notYetValid, .high,
                "not valid before \(certificate.notBefore.map(String.init(describing:)) ?? "?") (clock skew, or issued for later)"
            )
        case .unknown:
            add(.unreadableValidity, .medium, "validity dates could not be read")
        case .valid:
            if let notAfter = certificate.notAfter, notAfter.seconds - now.seconds < options.expiryWarningSeconds {
                let days = (notAfter.seconds - now.seconds) / 86_400
                add(.expiringSoon, .medium, "expires on \(notAfter) (in \(days) days)")
            }
        }
        if isLeaf, let notBefore = certificate.notBefore, let notAfter = certificate.notAfter {
            let days = (notAfter.seconds - notBefore.seconds) / 86_400
            if days > Int64(options.maximumLeafValidityDays) {
                add(.longValidity, .medium, "valid for \(days) days (more than \(options.maximumLeafValidityDays))")
            }
        }

        // Serial number (RFC 5280 §4.1.2.2: positive, at most 20 octets).
        let serial = certificate.serial
        if serial.isEmpty {
            add(.serial, .medium, "serial number unreadable")
        } else if serial.hasPrefix("-") {
            add(.serial, .medium, "negative serial number \(serial)")
        } else if serial.allSatisfy({ $0 == "0" }) {
            add(.serial, .medium, "serial number is zero")
        } else if serial.count > 40 {
            add(.serial, .low, "serial number longer than 20 octets")
        }

        guard let role else {
            // An issuer: it must be a CA that may sign certificates.
            if !certificate.isCA {
                add(.issuerNotCA, .high, "used as an issuer but basicConstraints CA is not TRUE")
            } else if !certificate.keyUsage.isEmpty && !certificate.keyUsage.contains("keyCertSign") {
                add(.issuerKeyUsage, .high, "CA certificate whose keyUsage lacks keyCertSign")
            }
            return issues
        }

        // Leaf rules.
        if certificate.isCA { add(.leafIsCA, .high, "leaf certificate with basicConstraints CA:TRUE") }
        if certificate.selfSigned { add(.selfSigned, .high, "self-signed leaf certificate") }
        if certificate.keyUsage.contains("keyCertSign") || certificate.keyUsage.contains("cRLSign") {
            add(.leafKeyUsage, .medium, "leaf keyUsage allows certificate or CRL signing")
        }
        if !certificate.keyUsage.isEmpty && !certificate.keyUsage.contains("digitalSignature")
            && !certificate.keyUsage.contains("keyEncipherment") && !certificate.keyUsage.contains("keyAgreement")
        {
            add(.leafKeyUsage, .high, "keyUsage (\(certificate.keyUsage.joined(separator: ","))) allows no TLS key use")
        }
        let eku = certificate.extendedKeyUsage
        let anyEKU = eku.contains("anyExtendedKeyUsage")
        switch role {
        case .server:
            if eku.isEmpty {
                add(.ekuAbsent, .low, "no extendedKeyUsage: the certificate may be used for any purpose")
            } else if !eku.contains("serverAuth") && !anyEKU {
                add(.ekuMissingServerAuth, .high, "extendedKeyUsage (\(eku.joined(separator: ","))) lacks serverAuth")
            }
        case .client:
            if eku.isEmpty {
                add(.ekuAbsent, .low, "no extendedKeyUsage: the certificate may be used for any purpose")
            } else if !eku.contains("clientAuth") && !anyEKU {
                add(.ekuMissingClientAuth, .high, "extendedKeyUsage (\(eku.joined(separator: ","))) lacks clientAuth")
            }
        case .any: break
        }
        let dnsOrIP = certificate.sans.filter { $0.hasPrefix("DNS:") || $0.hasPrefix("IP:") || $0.hasPrefix("URI:") }
        if dnsOrIP.isEmpty { add(.missingSAN, .medium, "no DNS, IP or URI subjectAltName (CN-only identity)") }
        let uris = certificate.sans.filter { $0.hasPrefix("URI:") }
        if !certificate.spiffeIDs.isEmpty && uris.count > 1 {
            add(.spiffeMultipleURI, .high, "\(uris.count) URI SANs: an X509-SVID must carry exactly one")
        }
        return issues
    }

    /// Lint issues as findings of the kind ``FindingKind/certificate(_:family:)`` (`server-certificate-weak-key`),
    /// the certificate's position and subject in the title and detail.
    ///
    /// - Parameters:
    ///   - issues: from ``lint(chain:role:at:options:)`` or ``lint(_:role:position:at:options:)``.
    ///   - about: what the certificate is, for the title (`server certificate`, `Client certificate`).
    ///   - family: the kinds' family (`analyze` reports `.captured` for either side of a handshake, and names the
    ///     side in the title; `tls` reports `.server` or `.client`).
    ///   - namingSubject: also name the certificate's subject in the title (`analyze` folds findings by title,
    ///     so two certificates of one server with the same defect stay two findings).
    ///   - location: where it was seen (an endpoint, a flow's server).
    public static func findings(
        _ issues: [CertificateLintIssue], about: String, family: CertificateFindingFamily, namingSubject: Bool = false,
        location: String?
    ) -> [Finding] {
        issues.map { issue in
            let position = issue.position.map { " #\($0)" } ?? ""
            let subject = issue.subject.isEmpty ? "SHA-256 \(issue.sha256.prefix(16))…" : issue.subject
            let name = namingSubject ? " (\(subject))" : ""
            return Finding(
                kind: .certificate(issue.rule, family: family), severity: issue.severity,
                title: "\(about)\(position)\(name): \(issue.message)",
                detail: "\(issue.subject) (SHA-256 \(issue.sha256.prefix(16))…)", location: location)
        }
    }

    /// Whether `name` is matched by a DNS SAN of `certificate` (a wildcard matches one left-most label).
    public static func matchesDNS(_ certificate: CertificateSummary, name: String) -> Bool {
        let wanted = name.lowercased()
        for san in certificate.sans where san.hasPrefix("DNS:") {
            let pattern = san.dropFirst(4).lowercased()
            if pattern == wanted { return true }
            if pattern.hasPrefix("*."), let dot = wanted.firstIndex(of: "."), wanted[dot...] == pattern.dropFirst(1),
                wanted.distance(from: wanted.startIndex, to: dot) > 0
            {
                return true
            }
        }
        return false
    }

    /// Whether the certificate carries exactly one URI SAN and it equals `spiffeID`.
    public static func matchesSPIFFE(_ certificate: CertificateSummary, id spiffeID: String) -> Bool {
        let uris = certificate.sans.filter { $0.hasPrefix("URI:") }
        return uris.count == 1 && uris[0].dropFirst(4) == spiffeID
    }

    private static func isUnparseable(_ certificate: CertificateSummary) -> Bool {
        certificate.parseError != nil
    }

    private static func issue(
        _ rule: CertificateLintRule, _ severity: Severity, _ message: String, _ certificate: CertificateSummary,
        _ position: Int?
    ) -> CertificateLintIssue {
        CertificateLintIssue(
            rule: rule, severity: severity, message: message, position: position, subject: certificate.subject,
            sha256: certificate.sha256)
    }
}
