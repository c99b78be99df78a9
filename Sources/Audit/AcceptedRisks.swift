import BulkheadModel
import Foundation
import Policy
import SystemCalls

/// An ignore file of accepted risks, like trivy's `.trivyignore.yaml`: each entry names a finding kind (and
/// optionally where), why it is accepted, and until when. Expired entries stop hiding anything and are reported.
///
/// ```yaml
/// ignore:
///   - kind: net-raw-capability
///     location: "shop-*"            # glob on the finding's location; every location when absent
///     reason: Docker's default capability set; tracked in SEC-142
///     expires: 2027-03-31           # required: an accepted risk is reviewed, not forgotten
/// ```
public struct AcceptedRisks: Codable, Sendable {
    public var ignore: [Entry]

    /// One accepted risk: a finding kind, optionally where, why, and until when.
    public struct Entry: Codable, Sendable, Hashable {
        public var kind: String
        public var location: String?
        public var reason: String
        /// `YYYY-MM-DD`: the last day the acceptance holds.
        public var expires: String

        enum CodingKeys: String, CodingKey { case kind, location, reason, expires }
    }

    static let knownKeys: YAMLDocument.KnownKeys = [
        "": ["ignore"], "ignore.*": ["kind", "location", "reason", "expires"],
    ]

    /// Reads and checks an ignore file: every entry needs a reason and a valid expiry date.
    public static func load(path: String) throws(PathError) -> AcceptedRisks {
        let loaded = try YAMLDocument.loadDocument(AcceptedRisks.self, path: path, knownKeys: Self.knownKeys)
        let risks = loaded.value
        for (index, entry) in risks.ignore.enumerated() {
            guard Self.day(entry.expires) != nil else {
                throw PathError(
                    path: loaded.locator.location("ignore[\(index)].expires"),
                    message: "ignore[\(index)].expires '\(entry.expires)': use a date, YYYY-MM-DD")
            }
            for (key, value) in [("kind", Optional(entry.kind)), ("location", entry.location)] {
                guard let value, value.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
                throw PathError(
                    path: loaded.locator.location("ignore[\(index)].\(key)"),
                    message: "ignore[\(index)].\(key) is empty\(Self.emptyValueHint(key))")
            }
            guard !entry.reason.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw PathError(
                    path: loaded.locator.location("ignore[\(index)].reason"),
                    message: "ignore[\(index)]: an accepted risk needs a reason")
            }
        }
        return risks
    }

    /// What to write instead of an empty `key`: a location left blank must not read as every location.
    static func emptyValueHint(_ key: String) -> String {
        key == "location"
            ? " (an empty location would accept the kind everywhere: write \"*\" for every location, or leave the key out)"
            : ""
    }

    /// Splits findings into those still reported and those an unexpired entry accepts; also returns the entries that
    /// have expired (they hide nothing and should be reviewed).
    public func apply(to findings: [Finding], today: Date = Date()) -> (
        kept: [Finding], ignored: [Finding], expired: [Entry]
    ) {
        let active = self.ignore.filter { entry in Self.day(entry.expires).map { $0 >= Self.startOfDay(today) } ?? false
        }
        let expired = self.ignore.filter { !active.contains($0) }
        var kept: [Finding] = []
        var ignored: [Finding] = []
        for finding in findings {
            let accepted = active.contains { entry in
                entry.kind == finding.kind.identifier
                    && (entry.location.map { Selector.glob($0, matches: finding.location ?? "") } ?? true)
            }
            if accepted { ignored.append(finding) } else { kept.append(finding) }
        }
        return (kept, ignored, expired)
    }

    static func day(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        // Round-trip: a lenient parser would roll 2027-02-30 over into March.
        guard let date = formatter.date(from: text), formatter.string(from: date) == text else { return nil }
        return date
    }

    static func startOfDay(_ date: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        return calendar.startOfDay(for: date)
    }
}

extension AcceptedRisks.Entry {
    /// Reads an entry refusing a key written with no value (`location:`, `location: ~`, `location: ''`): read as
    /// absent, an empty location would accept the finding kind at every location, silently.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func required(_ key: CodingKeys) throws -> String {
            guard let value = try container.decodePresentValue(String.self, forKey: key) else {
                throw DecodingError.keyNotFound(
                    key, .init(codingPath: container.codingPath, debugDescription: "missing"))
            }
            return value
        }
        self.kind = try required(.kind)
        if container.contains(.location), try container.decodeNil(forKey: .location) {
            throw DecodingError.dataCorruptedError(
                forKey: .location, in: container,
                debugDescription:
                    "`location:` has no value (YAML reads an empty value, '', ~ and null as nothing)\(AcceptedRisks.emptyValueHint("location"))"
            )
        }
        self.location = try container.decodePresentValue(String.self, forKey: .location)
        self.reason = try required(.reason)
        self.expires = try required(.expires)
    }
}

/// Compares findings with an accepted earlier report: what is new and what went away. Findings are matched by their
/// ``FindingIdentity`` (kind, location, and what tells findings of one kind at one location apart: a second port
/// published, another credential kind sent in clear are new), and each finding of the baseline accepts one finding
/// of its identity at its severity or below: one that became more severe is new. An earlier report needs no
/// conversion: its findings carry their kind, location, title and severity, and their identities are made the same
/// way. Where an older version worded a title differently, the finding is reported as new (and the old one as
/// resolved), never hidden: a baseline accepts only what it can be shown to hold.
public enum Baseline {
    /// Reads an earlier `audit --format json` report.
    ///
    /// - Throws: `PathError` naming the file, and where its text is at fault the line and column.
    public static func load(path: String) throws(PathError) -> AuditReport {
        try JSONInput.load(AuditReport.self, path: path, expected: .auditReport)
    }

    /// What is new in `findings` since `baseline`, what went away (identities no longer reported), and how many
    /// stayed.
    public static func compare(_ findings: [Finding], with baseline: AuditReport, path: String) -> BaselineComparison {
        // The acceptances of each identity, most severe first; the findings take them most severe first, each the most
        // severe left, so that as many as can be are accepted.
        var accepting: [FindingIdentity: [Severity]] = [:]
        for finding in baseline.findings { accepting[finding.identity, default: []].append(finding.severity) }
        for identity in accepting.keys { accepting[identity]?.sort(by: >) }
        var accepted = [Bool](repeating: false, count: findings.count)
        for index in findings.indices.sorted(by: { findings[$0].severity > findings[$1].severity }) {
            let identity = findings[index].identity
            guard let most = accepting[identity]?.first, most >= findings[index].severity else { continue }
            accepting[identity]?.removeFirst()
            accepted[index] = true
        }
        let now = Set(findings.map(\.identity))
        let new = findings.indices.filter { !accepted[$0] }.map { findings[$0] }
        let resolved = baseline.findings.filter { !now.contains($0.identity) }
        return BaselineComparison(
            baseline: "\(path) (\(baseline.generatedAt))", new: new, resolved: resolved,
            unchanged: findings.count - new.count)
    }
}

/// The lock that keeps two audits from overlapping (cron started a run while the last still goes): an exclusive
/// `flock` on `<state-dir>/audit.lock`, held for the life of the process, released by the kernel if it dies.
public final class AuditLock {
    let fd: Int32
    /// The lock file (`<state-dir>/audit.lock`).
    public let path: String

    /// Takes the lock, or throws naming the holder when another run has it.
    public init(stateDirectory: String) throws(PathError) {
        do {
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        } catch {
            throw PathError(
                path: stateDirectory, message: "cannot create the state directory: \(error.localizedDescription)")
        }
        self.path = stateDirectory + "/audit.lock"
        let fd = open(self.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw PathError(path: self.path, message: "cannot open the lock (\(SystemCallError.last("open")))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = read(fd, &buffer, buffer.count)
            close(fd)
            let holder =
                count > 0
                ? String(decoding: buffer.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                : "?"
            throw PathError(path: self.path, message: "another audit is running (pid \(holder)); runs never overlap")
        }
        // The holder's pid replaces the last holder's, for the message a second run shows. A lock that cannot say
        // who holds it is refused (closing releases it): the run stops rather than leave a wrong pid behind.
        let pid = Array("\(getpid())\n".utf8)
        do throws(SystemCallError) {
            try SystemCall.retrying("ftruncate") { ftruncate(fd, 0) }
            let written = try SystemCall.retrying("write") {
                pid.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
            guard written == pid.count else { throw SystemCallError("write", code: EIO) }
        } catch {
            close(fd)
            throw PathError(path: self.path, message: "cannot record the holder of the lock (\(error))")
        }
        self.fd = fd
    }

    deinit {
        flock(self.fd, LOCK_UN)
        close(self.fd)
    }

    /// `/var/lib/bulkhead` for root, else `$XDG_STATE_HOME/bulkhead` or `~/.local/state/bulkhead`.
    public static func defaultStateDirectory() -> String {
        if getuid() == 0 { return "/var/lib/bulkhead" }
        let environment = ProcessInfo.processInfo.environment
        if let state = environment["XDG_STATE_HOME"], !state.isEmpty { return state + "/bulkhead" }
        return NSHomeDirectory() + "/.local/state/bulkhead"
    }
}
