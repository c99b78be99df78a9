import BulkheadModel
import Certificates
import Foundation

/// The lint of certificate chains already seen, so a server's chain is linted once, not once per flow (a capture of
/// short connections presents the same chain thousands of times).
///
/// A chain's issues depend on its certificates, the role it played, and, through the validity checks only, the moment
/// it was presented: the key holds each certificate's validity at the flow's time, so a chain seen before and after
/// its expiry is linted for each. A certificate is known by its SHA-256 fingerprint: in a capture every summary is
/// made from the certificate's DER by ``CertificateCache`` and its fingerprint is that DER's digest, computed here and
/// never read from the traffic, so equal fingerprints are equal certificates (comparing whole summaries instead was
/// most of a lookup's cost). Shared by the analysis threads (`lock`); bounded, since the key space is not (emptied
/// when full: a cache, not a record).
///
/// `@unchecked Sendable`: every access holds `lock`.
final class CertificateLintCache: @unchecked Sendable {
    private struct Key: Hashable {
        var role: CertificateLint.Role
        var fingerprints: [String]
        var validity: [CertificateValidity]

        init(role: CertificateLint.Role, chain: [CertificateSummary], at time: Timestamp) {
            self.role = role
            self.fingerprints = chain.map(\.sha256)
            self.validity = chain.map { $0.validity(at: time) }
        }

        /// By the first eight bytes of each fingerprint (a digest's bytes are already well mixed); equal keys still
        /// compare the whole fingerprints.
        func hash(into hasher: inout Hasher) {
            hasher.combine(self.role)
            hasher.combine(self.validity)
            for fingerprint in self.fingerprints {
                var prefix: UInt64 = 0
                for byte in fingerprint.utf8.prefix(8) { prefix = prefix << 8 | UInt64(byte) }
                hasher.combine(prefix)
            }
        }
    }

    static let shared = CertificateLintCache()
    static let capacity = 4096

    private let lock = NSLock()
    private var entries: [Key: Entry] = [:]
    /// The entries of chains looked up before, by their array (``ArrayStorageMemo``): the certificate-list cache hands
    /// out one array per distinct chain, so a server's flows present the same array, found here for the cost of an
    /// address and a validity check, not a key of fingerprints built, hashed and compared (about 2,000 instructions a
    /// flow).
    private var recent = ArrayStorageMemo<CertificateSummary, Recent>(limit: CertificateLintCache.capacity)

    /// An entry as last found for a chain array, with the role and validity states it was found for.
    private struct Recent {
        var role: CertificateLint.Role
        var validity: [CertificateValidity]
        var entry: Entry
    }

    /// A chain's issues, and the findings `analyze` makes of them (without a location: the same chain is presented
    /// by many servers' flows, and only the location differs).
    private struct Entry {
        var issues: [CertificateLintIssue]
        var findings: [CachedFinding]
    }

    /// A finding of a chain's lint, written once and shared by every finding folded from it (by reference: a capture
    /// holds thousands of them, one per server).
    final class CachedFinding: Sendable {
        let finding: Finding

        init(_ finding: Finding) {
            self.finding = finding
        }
    }

    /// `CertificateLint.lint(chain:role:at:options:)`, from the cache when this chain was linted in the same
    /// validity states before. Only for options whose result does not depend on the time otherwise (no expiry
    /// warning), as the capture lint's.
    func lint(
        chain: [CertificateSummary], role: CertificateLint.Role, at time: Timestamp, options: CertificateLint.Options
    ) -> [CertificateLintIssue] {
        self.entry(chain: chain, role: role, at: time, options: options).issues
    }

    /// The findings of the chain's issues as `analyze` reports them (side and subject named), without a location
    /// (the caller's flow gives it): their text is made once per chain, not once per flow.
    func findings(
        chain: [CertificateSummary], role: CertificateLint.Role, at time: Timestamp, options: CertificateLint.Options
    ) -> [CachedFinding] {
        self.entry(chain: chain, role: role, at: time, options: options).findings
    }

    private func entry(
        chain: [CertificateSummary], role: CertificateLint.Role, at time: Timestamp, options: CertificateLint.Options
    ) -> Entry {
        let seen: Entry? = self.lock.withLock {
            guard let recent = self.recent.value(for: chain), recent.role == role,
                recent.validity.indices.allSatisfy({ recent.validity[$0] == chain[$0].validity(at: time) })
            else { return nil }
            return recent.entry
        }
        if let seen { return seen }
        let key = Key(role: role, chain: chain, at: time)
        if let known = self.lock.withLock({ self.entries[key] }) {
            self.remember(known, chain: chain, key: key)
            return known
        }
        let issues = CertificateLint.lint(chain: chain, role: role, at: time, options: options)
        // Which side presented the chain, as the handshake says (the capture lint only sees these two roles).
        let owner = role == .client ? "Client" : "Server"
        let fresh = Entry(
            issues: issues,
            findings: CertificateLint.findings(
                issues, about: "\(owner) certificate", family: .captured, namingSubject: true, location: nil
            ).map(CachedFinding.init))
        self.lock.withLock {
            if self.entries.count >= Self.capacity { self.entries.removeAll(keepingCapacity: true) }
            self.entries[key] = fresh
        }
        self.remember(fresh, chain: chain, key: key)
        return fresh
    }

    /// Keeps `entry` for the chain array (see ``recent``).
    private func remember(_ entry: Entry, chain: [CertificateSummary], key: Key) {
        self.lock.withLock {
            self.recent.remember(Recent(role: key.role, validity: key.validity, entry: entry), for: chain)
        }
    }
}
