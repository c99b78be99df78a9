/// What makes a finding the same finding in another run, or on another node: its kind, its location, and what tells
/// it apart from the other findings of its kind at that location. Baselines match findings by it, SARIF carries it as
/// the partial fingerprint `bulkheadFinding/v2`, JUnit names a finding's test case with it, and `merge` joins the
/// nodes' findings by it.
///
/// Kind and location alone do not do: one container publishing 8080/tcp and 5432/tcp on every interface has two
/// findings of one kind at one location, as has an endpoint that received HTTP basic credentials in one flow and a
/// bearer token in another. What tells them apart is the title (it names the port, the credential kinds, the
/// cipher, the certificate's place and defect), except for the kinds whose titles hold something that changes while
/// the situation does not (see ``FindingKind/identitySubject``): those have one finding per location, or keep the
/// stable part of the title.
public struct FindingIdentity: Hashable, Sendable {
    /// The kind's identifier (`port-published-all-interfaces`).
    public var kind: String
    /// The finding's location (empty when it has none).
    public var location: String
    /// What tells the finding apart from others of its kind at its location: its title, the title's stable part, or
    /// empty for the kinds that have one finding per location.
    public var subject: String

    /// The identity of `finding`.
    public init(_ finding: Finding) {
        self.kind = finding.kind.identifier
        self.location = finding.location ?? ""
        switch finding.kind.identitySubject {
        case .title: self.subject = finding.title
        case .location: self.subject = ""
        case .titleWithoutCountdown: self.subject = Self.withoutCountdown(finding.title)
        }
    }

    /// `kind|location|subject`: SARIF's partial fingerprint `bulkheadFinding/v2`, and the key baselines and `merge`
    /// match by. A location holds no `|` (container, network and service names cannot; endpoints, edges and policy
    /// places are written without one), so the three parts stay apart.
    public var key: String { "\(self.kind)|\(self.location)|\(self.subject)" }

    /// `kind location: subject` (`kind location` without a subject): a JUnit test case's name.
    public var name: String {
        let head = self.location.isEmpty ? self.kind : "\(self.kind) \(self.location)"
        return self.subject.isEmpty ? head : "\(head): \(self.subject)"
    }

    /// `… expires on 2027-01-01 00:00:00 UTC (in 12 days)` without ` (in 12 days)`: the days left change every day
    /// while the certificate stays the same.
    static func withoutCountdown(_ title: String) -> String {
        guard title.hasSuffix(" days)") else { return title }
        let body = title.dropLast(" days)".count)
        guard let open = body.lastIndex(of: "("), open > body.startIndex,
            body[body.index(before: open)] == " ", body[open...].hasPrefix("(in ")
        else { return title }
        let number = body[open...].dropFirst("(in ".count)
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }) else { return title }
        return String(body[..<body.index(before: open)])
    }
}

extension Finding {
    /// What makes this finding the same finding in another run (``FindingIdentity``).
    public var identity: FindingIdentity { FindingIdentity(self) }
}

extension FindingKind {
    /// What tells two findings of a kind apart at one location, in ``FindingIdentity``.
    public enum IdentitySubject: Sendable {
        /// The title: it names what differs (a port, a credential kind, a cipher) and holds nothing that changes
        /// while the situation stays the same.
        case title
        /// Nothing: the kind has at most one finding per location, and its title holds a count or a state that
        /// changes from run to run.
        case location
        /// The title without its countdown (` (in N days)`).
        case titleWithoutCountdown
    }

    /// What tells two findings of this kind apart at one location. Every title was read for what changes between
    /// two runs of the same situation; these hold something that does, and have one finding per location:
    /// `default-bridge-icc` (how many containers are on the bridge), `bridges-networks` (how many networks, and
    /// which, per container), `swarm-cross-node-plaintext-overlay` (how many nodes and which services, per overlay:
    /// tasks move), `swarm-encrypted-overlay-drops-traffic` (the node blamed, and whether only likely, per overlay),
    /// `unexpected-reachable` (whether something listens, per probed path: also its severity),
    /// `fleet-evidence-disagreement` (what the nodes disagree on, per subject), `endpoint-untested` (how the run that
    /// could not test failed, per endpoint). A certificate's `expiring-soon` keeps its title without the days left.
    public var identitySubject: IdentitySubject {
        switch self {
        case .defaultBridgeICC, .bridgesNetworks, .swarmCrossNodePlaintextOverlay, .swarmEncryptedOverlayDrops,
            .unexpectedReachable, .fleetEvidenceDisagreement, .endpointUntested:
            .location
        case .certificate(.expiringSoon, _):
            .titleWithoutCountdown
        default:
            .title
        }
    }
}
