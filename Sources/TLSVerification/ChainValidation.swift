import BulkheadModel
import CBulkheadOpenSSL
import Certificates

/// Path validation of a presented chain against trust bundles (OpenSSL `X509_verify_cert`), plus the
/// identity checks and the lint, assembled into a ``ServerChainReport``.
public enum ChainValidation {
    /// The outcome of path validation alone.
    public struct PathResult: Hashable, Sendable {
        public var valid: Bool
        /// OpenSSL's reason when invalid.
        public var error: String?
    }

    /// Validates `chain` (leaf first, as presented) against `anchors`. The purpose is not checked here:
    /// the lint reports a wrong EKU on its own, so that one defect does not hide the others.
    public static func validate(chain: [X509Certificate], anchors: [X509Certificate]) -> PathResult {
        guard let leaf = chain.first else { return PathResult(valid: false, error: "no certificate presented") }
        guard let store = X509_STORE_new() else { return PathResult(valid: false, error: "X509_STORE_new failed") }
        defer { X509_STORE_free(store) }
        for anchor in anchors { _ = X509_STORE_add_cert(store, anchor.pointer) }
        ERR_clear_error()
        guard let untrusted = bh_sk_X509_new_null() else { return PathResult(valid: false, error: "out of memory") }
        defer { bh_sk_X509_free(untrusted) }
        for certificate in chain.dropFirst() { _ = bh_sk_X509_push(untrusted, certificate.pointer) }
        guard let context = X509_STORE_CTX_new() else {
            return PathResult(valid: false, error: "X509_STORE_CTX_new failed")
        }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, store, leaf.pointer, untrusted) == 1 else {
            return PathResult(valid: false, error: OpenSSL.lastError())
        }
        let ok = X509_verify_cert(context) == 1
        let code = X509_STORE_CTX_get_error(context)
        ERR_clear_error()
        if ok { return PathResult(valid: true, error: nil) }
        var reason = String(cString: X509_verify_cert_error_string(Int(code)))
        if code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || code == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT {
            reason += " (missing intermediate, or issued by a CA outside the trust bundle)"
        }
        return PathResult(valid: false, error: reason)
    }

    /// Everything about a presented server chain.
    ///
    /// - Parameters:
    ///   - chain: as presented, leaf first.
    ///   - anchors: the trust bundle (empty: path validation is `not-checked`).
    ///   - expectations: expected DNS names and SPIFFE ID.
    ///   - now: the time of the check.
    ///   - options: lint thresholds.
    public static func report(
        chain: [X509Certificate], anchors: [X509Certificate], expectations: TLSExpectations, at now: Timestamp,
        options: CertificateLint.Options
    ) -> ServerChainReport {
        let summaries = chain.compactMap { $0.summary() }
        var pathValidation = PathValidation.notChecked
        var pathError: String?
        if !anchors.isEmpty {
            let result = Self.validate(chain: chain, anchors: anchors)
            pathValidation = result.valid ? .valid : .invalid
            pathError = result.error
        }
        var missing: [String] = []
        var spiffeMatch: Bool?
        if let leaf = summaries.first {
            missing = expectations.expectedDNSNames.filter { !CertificateLint.matchesDNS(leaf, name: $0) }
            spiffeMatch = expectations.expectedSPIFFEID.map { CertificateLint.matchesSPIFFE(leaf, id: $0) }
        } else {
            missing = expectations.expectedDNSNames
            spiffeMatch = expectations.expectedSPIFFEID == nil ? nil : false
        }
        var lint = CertificateLint.lint(chain: summaries, role: .server, at: now, options: options)
        if summaries.count < chain.count {
            lint.append(
                CertificateLintIssue(
                    rule: .unparseable, severity: .high,
                    message: "\(chain.count - summaries.count) certificate(s) of the chain could not be parsed",
                    position: nil, subject: "", sha256: ""))
        }
        return ServerChainReport(
            certificates: summaries, pathValidation: pathValidation, pathError: pathError, missingDNSNames: missing,
            spiffeMatch: spiffeMatch, lint: lint)
    }
}
