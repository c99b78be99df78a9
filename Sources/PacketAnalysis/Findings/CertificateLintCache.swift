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
    private var entries: [Key: Entry] = [:]

    /// A chain's issues, and the findings `analyze` makes of them (without a location: the same chain is presented
    /// by many servers' flows, and only the location differs).
    private struct Entry {
        var issues: [CertificateLintIssue]
        var findings: [Finding]
    }

    /// `CertificateLint.lint(chain:role:at:options:)`, from the cache when this chain was linted in the same
    /// validity states before. Only for options whose result does not depend on the time otherwise (no expiry
    /// warning), as the capture lint's.
    func lint(
        chain: [CertificateSummary], role: CertificateLint.Role, at time: Timestamp, options: CertificateLint.Options
    ) -> [CertificateLintIssue] {
        self.entry(chain: chain, role: role, at: time, options: options).issues
    }

    /// The findings of the chain's issues as `analyze` reports them (side and subject named), `location` set to
    /// `location`: their text is made once per chain, not once per flow.
    func findings(
        chain: [CertificateSummary], role: CertificateLint.Role, at time: Timestamp, options: CertificateLint.Options,
        location: String
    ) -> [Finding] {
        var findings = self.entry(chain: chain, role: role, at: time, options: options).findings
        for index in findings.indices { findings[index].location = location }
        return findings
    }

    private func entry(
        chain: [CertificateSummary], role: CertificateLint.Role, at time: Timestamp, options: CertificateLint.Options
    ) -> Entry {
        let key = Key(role: role, certificates: chain, validity: chain.map { $0.validity(at: time) })
        if let known = self.lock.withLock({ self.entries[key] }) { return known }
        let issues = CertificateLint.lint(chain: chain, role: role, at: time, options: options)
        // Which side presented the chain, as the handshake says (the capture lint only sees these two roles).
        let owner = role == .client ? "Client" : "Server"
        let fresh = Entry(
            issues: issues,
            findings: CertificateLint.findings(
                issues, about: "\(owner) certificate", family: .captured, namingSubject: true, location: nil))
        self.lock.withLock {
            if self.entries.count >= Self.capacity { self.entries.removeAll(keepingCapacity: true) }
            self.entries[key] = fresh
        }
        return fresh
    }
}
