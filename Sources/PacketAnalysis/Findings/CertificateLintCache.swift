import BulkheadModel
import Certificates
import Foundation

/// The lint of certificate chains already seen, so a server's chain is linted once, not once per flow (a capture of
/// short connections presents the same chain thousands of times).
///
/// A chain's issues depend on its certificates (the whole summaries, not just their fingerprints: equal input,
/// equal output), the role it played, and, through the validity checks only, the moment it was presented: the key
/// holds each certificate's validity at the flow's time, so a chain seen before and after its expiry is linted for
/// each. Shared by the analysis threads (`lock`); bounded, since the
/// key space is not (emptied when full: a cache, not a record).
///
/// `@unchecked Sendable`: every access holds `lock`.
final class CertificateLintCache: @unchecked Sendable {
    private struct Key: Hashable {
        var role: CertificateLint.Role
        var certificates: [CertificateSummary]
        var validity: [CertificateValidity]

        /// Hashed by fingerprint only (hashing every field of every summary was most of a lookup's cost); equal keys
        /// still compare whole summaries, so a chain is never mistaken for another that shares a fingerprint.
        func hash(into hasher: inout Hasher) {
            hasher.combine(self.role)
            hasher.combine(self.validity)
            for certificate in self.certificates { hasher.combine(certificate.sha256) }
        }
    }

    static let shared = CertificateLintCache()
    static let capacity = 4096

    private let lock = NSLock()
    private var issues: [Key: [CertificateLintIssue]] = [:]

    /// `CertificateLint.lint(chain:role:at:options:)`, from the cache when this chain was linted in the same
    /// validity states before. Only for options whose result does not depend on the time otherwise (no expiry
    /// warning), as the capture lint's.
    func lint(
        chain: [CertificateSummary], role: CertificateLint.Role, at time: Timestamp, options: CertificateLint.Options
    ) -> [CertificateLintIssue] {
        let key = Key(role: role, certificates: chain, validity: chain.map { $0.validity(at: time) })
        if let known = self.lock.withLock({ self.issues[key] }) { return known }
        let fresh = CertificateLint.lint(chain: chain, role: role, at: time, options: options)
        self.lock.withLock {
            if self.issues.count >= Self.capacity { self.issues.removeAll(keepingCapacity: true) }
            self.issues[key] = fresh
        }
        return fresh
    }
}
