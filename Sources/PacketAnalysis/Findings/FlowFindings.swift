import BulkheadModel
import Certificates

/// Derives findings from flow records and folds repeats together: many flows of the same kind towards the
/// same server make one finding with a flow count, not thousands of lines.
///
/// Findings fold by kind, location and title. Most flows repeat a finding already held, so a flow's findings are
/// first described compactly (``Key``: the kind, the location and what else the title says, with no text made) and
/// their text is written only for a key not seen before, or for a detail that replaces the one held.
public struct FlowFindings {
    /// What findings fold by: the kind, the location and what the title says besides them. The title is a function
    /// of the three and the three are a function of the title (see ``Subject``), so folding by key is folding by title.
    struct Key: Hashable {
        var kind: FindingKind
        var location: String
        var subject: Subject
        /// The hash of the location and subject, computed once: a key is looked up, then stored, and rehashed whenever
        /// the table grows. The kind is left out (hashing it hashes its name; it rarely tells keys apart that the rest
        /// does not); equal keys still compare all three.
        var precomputedHash: Int

        init(kind: FindingKind, location: String, subject: Subject) {
            self.kind = kind
            self.location = location
            self.subject = subject
            var hasher = Hasher()
            hasher.combine(location)
            hasher.combine(subject)
            self.precomputedHash = hasher.finalize()
        }

        func hash(into hasher: inout Hasher) {
            hasher.combine(self.precomputedHash)
        }

        static func == (left: Key, right: Key) -> Bool {
            left.precomputedHash == right.precomputedHash && left.location == right.location
                && left.subject == right.subject && left.kind == right.kind
        }
    }

    /// What a title says besides the kind and the location: the words that vary, and the destination of a proxy
    /// tunnel (`via`, which titles name as "destination via location").
    enum Subject: Hashable {
        case credentials(kinds: String, via: String?)
        case plaintext(ApplicationProtocol, via: String?)
        case unidentified(via: String?)
        case legacyVersion(String, via: String?)
        case cipher(String, via: String?)
        case handshakeFailure(via: String?)
        case noClientAuthentication(via: String?)
        /// A certificate finding, whose title names the side, position and subject of the certificate, and no peer.
        case certificate(title: String)
    }

    private var findings: [Key: Finding] = [:]

    public init() {}

    /// How many findings are held.
    var count: Int { self.findings.count }

    /// Adds what `flow` shows.
    public mutating func add(_ flow: FlowRecord) {
        Self.forEachFinding(of: flow) { key, make in
            if let slot = self.findings.index(forKey: key) {
                // Changed in place (no copy of the finding per flow). The detail is the lowest flow id's and the ten
                // lowest ids are kept, so the result does not depend on the order flows arrive in.
                Self.fold(id: flow.id, detail: { make().detail }, into: &self.findings.values[slot])
            } else {
                var first = make()
                first.flowCount = 1
                first.flowIDs = [flow.id]
                self.findings[key] = first
            }
        }
    }

    /// Folds in the findings of flows `other` was given (flows this one was not given: each analysis lane has its
    /// own). The result is what one fold of all those flows gives: the counts added, the ten lowest ids, the detail of
    /// the lowest id's flow.
    mutating func merge(_ other: FlowFindings) {
        for (key, theirs) in other.findings {
            guard let slot = self.findings.index(forKey: key) else {
                self.findings[key] = theirs
                continue
            }
            Self.combine(theirs, into: &self.findings.values[slot])
        }
    }

    private static func combine(_ theirs: Finding, into existing: inout Finding) {
        existing.flowCount += theirs.flowCount
        if let lowest = theirs.flowIDs.first, let ours = existing.flowIDs.first, lowest < ours {
            existing.detail = theirs.detail
        }
        // Both lists are sorted, disjoint and at most ten long: the ten lowest of the two, merged in place.
        let mine = existing.flowIDs
        var merged: [Int] = []
        merged.reserveCapacity(10)
        var (left, right) = (0, 0)
        while merged.count < 10 && (left < mine.count || right < theirs.flowIDs.count) {
            if right == theirs.flowIDs.count || (left < mine.count && mine[left] < theirs.flowIDs[right]) {
                merged.append(mine[left])
                left += 1
            } else {
                merged.append(theirs.flowIDs[right])
                right += 1
            }
        }
        existing.flowIDs = merged
    }

    private static func fold(id: Int, detail: () -> String, into existing: inout Finding) {
        existing.flowCount += 1
        if let first = existing.flowIDs.first, id < first { existing.detail = detail() }
        if existing.flowIDs.count < 10 || id < existing.flowIDs[existing.flowIDs.count - 1] {
            let index = existing.flowIDs.firstIndex { $0 > id } ?? existing.flowIDs.endIndex
            existing.flowIDs.insert(id, at: index)
            if existing.flowIDs.count > 10 { existing.flowIDs.removeLast() }
        }
    }

    /// The findings, most severe first, then by their first flow (then kind and title, for a stable order).
    /// Sorted by a small key per finding, then gathered once: sorting the findings themselves moved every one of
    /// them, strings and all, a dozen times.
    public var all: [Finding] {
        struct Order {
            var severity: Severity
            var firstFlow: Int
            var index: Int
        }
        let values = Array(self.findings.values)
        var order = values.indices.map {
            Order(severity: values[$0].severity, firstFlow: values[$0].flowIDs.first ?? 0, index: $0)
        }
        order.sort { a, b in
            if a.severity != b.severity { return a.severity > b.severity }
            if a.firstFlow != b.firstFlow { return a.firstFlow < b.firstFlow }
            return (values[a.index].kind, values[a.index].title) < (values[b.index].kind, values[b.index].title)
        }
        return order.map { values[$0.index] }
    }

    /// The lint's thresholds for certificates seen in a capture.
    ///
    /// `expiring-soon` is off: a capture records a moment that may be long past. Judged at the flow's time, "it
    /// expires within 30 days" fires on every short-lived certificate (SPIFFE SVIDs of an hour, cert-manager's
    /// 90-day certificates renewed at 30) whether or not it was rotated since; judged at today's date, it says
    /// nothing about the capture. What a capture proves is whether the certificate was valid when it was
    /// presented (`expired`, `not-yet-valid`); `bulkhead tls` warns of coming expiry on live endpoints.
    /// It also keeps every title independent of the flow's time, which folding by title relies on.
    /// `long-validity` (the leaf's notBefore-to-notAfter span) does not depend on when it is judged: it keeps
    /// the `tls` default of 398 days.
    static let certificateLint = CertificateLint.Options(expiryWarningSeconds: 0, maximumLeafValidityDays: 398)

    /// The findings one flow shows on its own.
    public static func findings(for flow: FlowRecord) -> [Finding] {
        var result: [Finding] = []
        Self.forEachFinding(of: flow) { _, make in result.append(make()) }
        return result
    }

    /// Calls `body` with the key of each finding `flow` shows, in order, and a function that writes that finding out
    /// (its title and detail are made only when called).
    static func forEachFinding(of flow: FlowRecord, _ body: (Key, () -> Finding) -> Void) {
        let location = flow.server
        // Through a proxy tunnel the conversation is with the destination the client asked for: titles name it
        // beside the proxy, while the location stays the endpoint the packets went to (what an audit names).
        let via = flow.tunnel?.destination
        var peer: String { via.map { "\($0) via \(location)" } ?? location }
        let proto = flow.proto.rawValue
        if !flow.credentials.isEmpty {
            let kinds = Array(Set(flow.credentials.map(\.kind))).sorted().joined(separator: ", ")
            body(Key(kind: .credentialsInCleartext, location: location, subject: .credentials(kinds: kinds, via: via)))
            {
                let crossedBefore = flow.starttls ? " before the connection was upgraded to TLS" : ""
                // Through a proxy, the secret may have gone to the proxy itself, in its handshake, not over `proto`.
                let over =
                    flow.tunnel.map {
                        "through a \($0.hops.map(\.kind).joined(separator: " + ")) proxy tunnel (in its handshake, or over \(proto) inside it)"
                    } ?? "over \(proto)"
                return Finding(
                    kind: .credentialsInCleartext, severity: .high,
                    title: "Credentials sent in clear to \(peer) (\(kinds))",
                    detail:
                        "A client sent \(kinds) credentials \(over)\(crossedBefore); anyone on the path can read and replay them. "
                        + "Require TLS (ideally mutual TLS) on this service.",
                    location: location)
            }
        } else if !flow.encrypted {
            switch flow.proto {
            case .empty, .unknownBinary:
                break
            case .dns:
                body(Key(kind: .plaintextFlow, location: location, subject: .plaintext(flow.proto, via: via))) {
                    Finding(
                        kind: .plaintextFlow, severity: .info, title: "Plaintext DNS to \(peer)",
                        detail: "DNS queries and answers crossed unencrypted.", location: location)
                }
            default:
                body(Key(kind: .plaintextFlow, location: location, subject: .plaintext(flow.proto, via: via))) {
                    Finding(
                        kind: .plaintextFlow, severity: .medium, title: "Plaintext \(proto) to \(peer)",
                        detail:
                            "Service traffic (\(proto)) crossed without TLS: its content can be read and altered on the path.",
                        location: location)
                }
            }
        }
        if flow.proto == .unknownBinary && !flow.encrypted {
            body(Key(kind: .unidentifiedFlow, location: location, subject: .unidentified(via: via))) {
                Finding(
                    kind: .unidentifiedFlow, severity: .low, title: "Unidentified binary traffic to \(peer)",
                    detail:
                        "The payload is binary and matches no known protocol. It may be encrypted by something other than TLS; "
                        + "Bulkhead cannot vouch for it.", location: location)
            }
        }
        guard let tls = flow.tls, flow.proto == .tls || flow.starttls else { return }
        if let version = tls.version, ["ssl2", "ssl3", "1.0", "1.1"].contains(version) {
            body(Key(kind: .tlsLegacyVersion, location: location, subject: .legacyVersion(version, via: via))) {
                Finding(
                    kind: .tlsLegacyVersion, severity: .high, title: "TLS \(version) negotiated with \(peer)",
                    detail: "TLS versions below 1.2 are deprecated (RFC 8996) and have known attacks.",
                    location: location)
            }
        }
        if let cipher = tls.cipher, let weakness = TLSRegistry.cipherWeakness(cipher) {
            let kind: FindingKind = weakness.serious ? .tlsWeakCipher : .tlsLegacyCipher
            body(Key(kind: kind, location: location, subject: .cipher(cipher, via: via))) {
                Finding(
                    kind: kind, severity: weakness.serious ? .high : .low,
                    title: "Cipher \(cipher) negotiated with \(peer)",
                    detail: "The negotiated suite uses \(weakness.reason).", location: location)
            }
        }
        let failed =
            !tls.established
            && tls.alerts.contains { $0.level == "fatal" || $0.inferred || $0.description == "encrypted" }
        if failed {
            body(Key(kind: .tlsHandshakeFailure, location: location, subject: .handshakeFailure(via: via))) {
                let alert = tls.alerts.first { $0.level == "fatal" || $0.inferred || $0.description == "encrypted" }
                let what =
                    alert.map {
                        $0.inferred
                            ? "an encrypted alert inferred from its size"
                            : "\($0.level) alert \($0.description) from the \($0.from)"
                    } ?? "an alert"
                return Finding(
                    kind: .tlsHandshakeFailure, severity: .medium, title: "TLS handshake with \(peer) failed",
                    detail:
                        "The handshake ended with \(what). If this was a client without a valid certificate being refused, "
                        + "that is mTLS working; otherwise a dependency is broken.", location: location)
            }
        }
        if tls.established {
            switch tls.clientCertificate {
            case .notRequested, .declined, .likelyNotRequested, .likelyDeclined:
                body(Key(kind: .tlsNoClientAuth, location: location, subject: .noClientAuthentication(via: via))) {
                    let how: String
                    switch tls.clientCertificate {
                    case .notRequested: how = "the server did not ask for a client certificate"
                    case .declined:
                        how =
                            "the server asked for a client certificate and the client sent none, yet the session went on"
                    case .likelyNotRequested:
                        how =
                            "the server very likely did not ask for a client certificate (TLS 1.3 record-size heuristic)"
                    default:
                        how =
                            "the client very likely sent an empty certificate and the session went on (TLS 1.3 record-size heuristic)"
                    }
                    return Finding(
                        kind: .tlsNoClientAuth, severity: .medium,
                        title: "TLS to \(peer) without client authentication",
                        detail: "The session is encrypted but not mutually authenticated: \(how).", location: location)
                }
            default:
                break
            }
        }
        // Certificates: the same lint `bulkhead tls` runs (CertificateLint), with the role the handshake gives
        // each chain, judged at the flow's own time (a capture from last year must not report today's expiry).
        let chains: [(role: CertificateLint.Role, chain: [CertificateSummary])] = [
            (.server, tls.serverCertificates), (.client, tls.clientCertificates),
        ]
        for (role, chain) in chains where !chain.isEmpty {
            for finding in CertificateLintCache.shared.findings(
                chain: chain, role: role, at: flow.firstSeen, options: Self.certificateLint)
            {
                body(Key(kind: finding.kind, location: location, subject: .certificate(title: finding.title))) {
                    var located = finding
                    located.location = location
                    return located
                }
            }
        }
    }
}
