import BulkheadModel
import Certificates
import Dispatch

/// Derives findings from flow records and folds repeats together: many flows of the same kind towards the
/// same server make one finding with a flow count, not thousands of lines.
///
/// Findings fold by kind, location and title. They are held in a compact form while flows arrive: a ``Key`` (the kind,
/// the location and what else the title says) and a ``Folded`` tally (counts, the ten lowest flow ids, and the few
/// facts the detail is made of, a ``DetailSeed``), with no text made. Their title and detail are written once, at the
/// end (``all``), on all cores: a capture of many servers holds tens of thousands of findings, and each analysis lane
/// holds its own until they are merged.
public struct FlowFindings: Sendable {
    /// What findings fold by: the kind, the location and what the title says besides them. The title is a function
    /// of the three and the three are a function of the title (see ``Subject``), so folding by key is folding by title.
    struct Key: Hashable, Sendable {
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

        @inline(__always)
        static func == (left: Key, right: Key) -> Bool {
            left.precomputedHash == right.precomputedHash && left.location == right.location
                && left.subject == right.subject && Self.sameKind(left.kind, right.kind)
        }

        /// `left == right`, without writing out a certificate kind's identifier (a dictionary lookup each time) when
        /// both are certificate kinds: those are the same kind exactly when their rule and family are.
        @inline(__always)
        static func sameKind(_ left: FindingKind, _ right: FindingKind) -> Bool {
            if case .certificate(let leftRule, let leftFamily) = left,
                case .certificate(let rightRule, let rightFamily) = right
            {
                return leftRule == rightRule && leftFamily == rightFamily
            }
            return left == right
        }
    }

    /// What a title says besides the kind and the location: the words that vary, and the destination of a proxy
    /// tunnel (`via`, which titles name as "destination via location").
    enum Subject: Hashable, Sendable {
        case credentials(kinds: String, via: String?)
        case plaintext(ApplicationProtocol, via: String?)
        case unidentified(via: String?)
        case legacyVersion(String, via: String?)
        case cipher(String, via: String?)
        case handshakeFailure(via: String?)
        case noClientAuthentication(via: String?)
        /// A container engine's API in clear: `docker` or `podman`, and the API version it answered with.
        case containerEngineAPI(engine: String, apiVersion: String)
        /// etcd's API in clear (the location says where).
        case etcdAPI
        /// A certificate finding, whose title names the side, position and subject of the certificate, and no peer.
        case certificate(title: String)
    }

    /// The facts a finding's detail is made of beyond its key (the detail is the lowest flow id's: these are kept for
    /// that flow only).
    enum DetailSeed: Sendable {
        case none
        /// Credentials in clear: over which protocol, before a STARTTLS upgrade or not, and the hops of the proxy
        /// tunnel they crossed, if any.
        case credentials(ApplicationProtocol, starttls: Bool, tunnelHops: String?)
        /// A handshake that failed, and the alert that ended it.
        indirect case handshakeFailure(TLSAlert?)
        /// A session without client authentication, and how the handshake showed it.
        case noClientAuthentication(ClientCertificateState)
        /// A container engine's API in clear, and the `Server` header it answered with.
        case containerEngine(server: String?)
        /// etcd's API in clear: the cluster that answered, if an answer named it, and the methods called.
        case etcd(clusterID: String?, methods: [String])
        /// A certificate finding, written once per chain by the lint cache.
        case certificate(CertificateLintCache.CachedFinding)
    }

    /// A finding while flows arrive: its tally and the seed of its detail.
    struct Folded: Sendable {
        var severity: Severity
        var flowCount: Int
        var flowIDs: LowestFlowIDs
        var seed: DetailSeed
    }

    /// The ten lowest flow ids of a finding, in order, held inline: an array was an allocation per finding, and a
    /// second place in memory to reach on every flow folded into it.
    struct LowestFlowIDs: Sendable {
        static let capacity = 10
        private var ids: (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        private(set) var count = 0

        init(_ id: Int) {
            self.ids.0 = id
            self.count = 1
        }

        /// The lowest id.
        var first: Int { self.ids.0 }

        /// The ids, lowest first.
        var array: [Int] {
            withUnsafeBytes(of: self.ids) { Array($0.bindMemory(to: Int.self).prefix(self.count)) }
        }

        /// Adds `id` (not held yet) if it is among the ten lowest.
        mutating func insert(_ id: Int) {
            let count = self.count
            withUnsafeMutableBytes(of: &self.ids) { raw in
                let ids = raw.bindMemory(to: Int.self)
                if count == Self.capacity && id >= ids[count - 1] { return }
                // Shifted up from the end to the id's place; the last falls off when all ten are held.
                var index = min(count, Self.capacity - 1)
                while index > 0 && ids[index - 1] > id {
                    ids[index] = ids[index - 1]
                    index -= 1
                }
                ids[index] = id
            }
            self.count = min(count + 1, Self.capacity)
        }

        /// The ten lowest of `ids` (distinct, at least one).
        init?(_ ids: [Int]) {
            guard let first = ids.first else { return nil }
            self.init(first)
            for id in ids.dropFirst() { self.insert(id) }
        }

        /// The ten lowest of these and `other`'s (two disjoint sets).
        mutating func merge(_ other: LowestFlowIDs) {
            for id in other.array { self.insert(id) }
        }
    }

    /// The findings, shared out by their key's hash among ``partCount`` tables: the end's merge takes each part of
    /// every lane's findings on its own (no pass over all of them per part).
    private var parts = [[Key: Folded]](repeating: [:], count: FlowFindings.partCount)
    private static let partCount = 4

    /// How many distinct findings are held in ``parts``.
    private var held = 0
    /// Past how many held findings they are written out to a scratch file in ``spillFolder`` (see
    /// ``SpilledFindings``); `Int.max` when they never are.
    private var spillPast = Int.max
    private(set) var spillFolder = ""
    /// The scratch file of the findings written out, made at the first, and where each run of them lies in it.
    private var spill: FindingSpillFile?
    private var runs: [Range<Int64>] = []
    private var sortBatch = SpilledFindings.sortBatch

    /// Distinct findings a lane of `bulkhead analyze` holds before it writes them out: about 14 MB of tables, so the
    /// two lanes of a 2-core machine stay far below the memory target whatever the number of servers. A quarter of it
    /// goes to each part, whose table then holds about 10,240 of the 12,288 findings that 16,384 buckets take before
    /// the table doubles (the parts are shared out by hash, so they are never quite even).
    public static let defaultSpillPast = 40_960

    /// Findings held in memory, however many there are.
    public init() {}

    /// Findings written out to an unlinked scratch file in `folder` whenever `limit` distinct ones are held (see
    /// ``SpilledFindings``). If no file can be made or written there, they stay in memory.
    /// - Parameter sortBatch: how many findings the end's sort into the report's order holds in memory at once (see
    ///   ``SpilledFindings``).
    public init(spillingPast limit: Int, folder: String, sortBatch: Int = SpilledFindings.sortBatch) {
        self.spillPast = max(1, limit)
        self.spillFolder = folder
        self.sortBatch = max(1, sortBatch)
    }

    /// Adds what `flow` shows.
    public mutating func add(_ flow: FlowRecord) {
        // Only the id is captured: a closure capturing the record takes a copy of it (a retain of each of its strings
        // and arrays, and their releases), once per flow.
        let id = flow.id
        Self.forEachFinding(of: flow) { key, severity, seed in
            let part = key.precomputedHash & (Self.partCount - 1)
            if let slot = self.parts[part].index(forKey: key) {
                // Changed in place. The detail is the lowest flow id's and the ten lowest ids are kept, so the result
                // does not depend on the order flows arrive in.
                Self.fold(id: id, seed: seed, into: &self.parts[part].values[slot])
            } else {
                self.parts[part][key] = Folded(severity: severity, flowCount: 1, flowIDs: LowestFlowIDs(id), seed: seed)
                self.held += 1
            }
        }
        if self.held >= self.spillPast { self.spillHeld() }
    }

    /// Writes the findings held out to the scratch file, each part's as one run in fold order, and empties the tables
    /// (their buckets are kept for the findings to come).
    private mutating func spillHeld() {
        // A run per part: only one part's findings are written out in memory at a time (a quarter of the table), and
        // each part is a run of its own in fold order.
        for part in self.parts.indices where !self.parts[part].isEmpty {
            do {
                if self.spill == nil { self.spill = try FindingSpillFile(folder: self.spillFolder) }
                guard let spill = self.spill else { return }
                let entries = self.heldEntries(of: part)
                self.runs.append(try spill.append(entries, in: SpilledEntry.positions(of: entries, in: .fold)))
                self.held -= self.parts[part].count
                self.parts[part].removeAll(keepingCapacity: true)
            } catch {
                // No scratch file, or it cannot be written: what is held stays in memory, and all that comes too.
                // What was written before is still read back at the end.
                self.spillPast = Int.max
                return
            }
        }
    }

    /// How many runs of findings have been written out.
    var spilledRuns: Int { self.runs.count }

    /// The findings held in `part`, their text written.
    private func heldEntries(of part: Int) -> [SpilledEntry] {
        var entries: [SpilledEntry] = []
        entries.reserveCapacity(self.parts[part].count)
        for (key, folded) in self.parts[part] {
            var finding = Self.write(key, folded.severity, folded.seed)
            finding.flowCount = folded.flowCount
            finding.flowIDs = folded.flowIDs.array
            entries.append(SpilledEntry(hash: key.precomputedHash, finding: finding))
        }
        return entries
    }

    /// The findings held, their text written.
    private func heldEntries() -> [SpilledEntry] {
        self.parts.indices.flatMap { self.heldEntries(of: $0) }
    }

    /// A lane's findings as the merge of written-out findings reads them: its runs, and what it still holds.
    struct Spilled {
        var file: FindingSpillFile?
        var runs: [Range<Int64>]
        var held: [SpilledEntry]
        /// The positions of ``held`` in fold order.
        var heldPositions: [Int]
    }

    private static func combine(_ theirs: Folded, into existing: inout Folded) {
        existing.flowCount += theirs.flowCount
        if theirs.flowIDs.first < existing.flowIDs.first { existing.seed = theirs.seed }
        existing.flowIDs.merge(theirs.flowIDs)
    }

    private static func fold(id: Int, seed: DetailSeed, into existing: inout Folded) {
        existing.flowCount += 1
        if id < existing.flowIDs.first { existing.seed = seed }
        existing.flowIDs.insert(id)
    }

    /// The findings, most severe first, then by their first flow (then kind and title, for a stable order).
    ///
    /// Findings written out to a scratch file are read back into the array: throws if they cannot be (never for
    /// findings held in memory).
    public var all: [Finding] {
        get throws { try Self.all(of: [self]) }
    }

    /// ``gathered(of:)`` as one array (see ``all``).
    static func all(of folds: consuming [FlowFindings]) throws -> [Finding] {
        switch try Self.gathered(of: folds) {
        case .inMemory(let findings): return findings
        case .spilled(let spilled):
            var findings: [Finding] = []
            try spilled.forEachBatch { findings += $0 }
            return findings
        }
    }

    /// The findings of folds made from different flows (each analysis lane folds its own), folded together, in the
    /// order of ``all``: in memory, or, when some were written out to scratch files, read back from them in order
    /// (``SpilledFindings``). Throws ``SystemCallError`` if a scratch file cannot be read back or written.
    static func gathered(of folds: consuming [FlowFindings]) throws -> SpilledFindings.Gathered {
        guard let spilling = folds.first(where: { !$0.runs.isEmpty }) else {
            return .inMemory(Self.inMemory(of: folds))
        }
        let folder = spilling.spillFolder
        let sortBatch = spilling.sortBatch
        let count = folds.count
        let lanes = SpilledLanes(consume folds)
        DispatchQueue.concurrentPerform(iterations: count) { lanes.prepare($0) }
        // The tables are freed before the merge: what they held is in the entries now.
        lanes.releaseFolds()
        return try SpilledFindings.gather(lanes.spilled, folder: folder, sortBatch: sortBatch)
    }

    /// The lanes' folds while each writes out the text of what it holds, side by side. `@unchecked Sendable`: each
    /// slot is used by one worker.
    private final class SpilledLanes: @unchecked Sendable {
        private var folds: [FlowFindings]
        private let slots: UnsafeMutableBufferPointer<Spilled>

        init(_ folds: consuming [FlowFindings]) {
            self.folds = folds
            self.slots = .allocate(capacity: folds.count)
            self.slots.initialize(repeating: Spilled(file: nil, runs: [], held: [], heldPositions: []))
        }

        func prepare(_ lane: Int) {
            let fold = self.folds[lane]
            let held = fold.heldEntries()
            self.slots[lane] = Spilled(
                file: fold.spill, runs: fold.runs, held: held,
                heldPositions: SpilledEntry.positions(of: held, in: .fold))
        }

        /// Frees the folds' tables, once every lane is prepared.
        func releaseFolds() { self.folds = [] }

        var spilled: [Spilled] { Array(self.slots) }

        deinit {
            self.slots.deinitialize()
            self.slots.deallocate()
        }
    }

    /// The findings of folds made from different flows (each analysis lane folds its own), folded together and written
    /// out, in the order of ``all``: the counts added, the ten lowest ids, the detail of the lowest id's flow, as one
    /// fold of all those flows would give.
    ///
    /// A capture of many servers holds tens of thousands of findings, and this runs at the end while nothing else
    /// does: the keys are shared out among parts by hash as they are folded, and each part of all the folds is folded
    /// together and its text written out, side by side on all cores. Then the findings are sorted by a small key each
    /// and gathered once.
    private static func inMemory(of folds: consuming [FlowFindings]) -> [Finding] {
        let total = folds.reduce(0) { sum, fold in fold.parts.reduce(sum) { $0 + $1.count } }
        guard total > 0 else { return [] }
        let workers = total < 4096 ? 1 : Self.partCount
        let parts = FoldedParts(taking: &folds, total: total)
        // Each part of every lane is folded into one table, then each part's findings are written straight into their
        // place, side by side.
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for part in stride(from: worker, to: Self.partCount, by: workers) { parts.merge(part: part) }
        }
        let count = parts.placeParts()
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for part in stride(from: worker, to: Self.partCount, by: workers) { parts.write(part: part) }
        }
        let written = parts.written
        // Sorted by small keys: the kind's place among the kinds present stands for its identifier (a handful of
        // kinds, found by a scan that mostly compares a string with itself), and titles are compared only between
        // findings of the same severity, first flow and kind (two certificates of one flow).
        var identifiers: [String] = []
        var kindOfFinding = [UInt16](repeating: 0, count: count)
        for index in 0..<count {
            let identifier = written[index].kind.identifier
            if let known = identifiers.firstIndex(of: identifier) {
                kindOfFinding[index] = UInt16(known)
            } else {
                kindOfFinding[index] = UInt16(identifiers.count)
                identifiers.append(identifier)
            }
        }
        var rank = [UInt16](repeating: 0, count: identifiers.count)
        for (position, seen) in identifiers.indices.sorted(by: { identifiers[$0] < identifiers[$1] }).enumerated() {
            rank[seen] = UInt16(position)
        }
        struct Order {
            var severity: Severity
            var kind: UInt16
            var firstFlow: Int
            var index: Int
        }
        var order = (0..<count).map {
            Order(
                severity: written[$0].severity, kind: rank[Int(kindOfFinding[$0])],
                firstFlow: written[$0].flowIDs.first ?? 0, index: $0)
        }
        order.sort { a, b in
            if a.severity != b.severity { return a.severity > b.severity }
            if a.firstFlow != b.firstFlow { return a.firstFlow < b.firstFlow }
            if a.kind != b.kind { return a.kind < b.kind }
            return written[a.index].title < written[b.index].title
        }
        return parts.moveWritten(in: order.map(\.index))
    }

    /// The lanes' findings while they are folded together and written out at the end of a run.
    ///
    /// Each lane's table of a part is taken out once, by the worker of that part, so it is uniquely held and changed in
    /// place; the findings are written into one buffer at their part's place and moved (not copied) into the result.
    /// `@unchecked Sendable`: each part's tables and stretch of the buffer are used by that part's worker only, and
    /// the rest between the side-by-side steps.
    private final class FoldedParts: @unchecked Sendable {
        private let lanes: Int
        /// Lane `lane`'s table of part `part` at `lane * partCount + part`; after ``merge(part:)``, the folded table of
        /// part `part` at `part`.
        private let tables: UnsafeMutableBufferPointer<[Key: Folded]>
        /// The findings written (``write(part:)``), each part's from ``starts``.
        let written: UnsafeMutableBufferPointer<Finding>
        private var starts: [Int] = []
        private var count = 0

        /// Takes the tables out of `folds`, which are left empty; `total` is how many entries they hold.
        init(taking folds: inout [FlowFindings], total: Int) {
            self.lanes = folds.count
            self.tables = .allocate(capacity: folds.count * FlowFindings.partCount)
            self.tables.initialize(repeating: [:])
            for lane in folds.indices {
                for part in 0..<FlowFindings.partCount {
                    swap(&self.tables[lane * FlowFindings.partCount + part], &folds[lane].parts[part])
                }
            }
            self.written = .allocate(capacity: total)
        }

        /// Folds every lane's table of `part` into one: the largest is the base, taken over rather than copied, and
        /// the others' keys are folded into it (most keys are found in one lane only).
        func merge(part: Int) {
            let slots = (0..<self.lanes).map { $0 * FlowFindings.partCount + part }
            guard let base = slots.max(by: { self.tables[$0].count < self.tables[$1].count }) else { return }
            var merged: [Key: Folded] = [:]
            swap(&merged, &self.tables[base])
            merged.reserveCapacity(slots.reduce(merged.count) { $0 + self.tables[$1].count })
            for slot in slots where slot != base {
                var table: [Key: Folded] = [:]
                swap(&table, &self.tables[slot])
                for (key, folded) in table {
                    if let index = merged.index(forKey: key) {
                        FlowFindings.combine(folded, into: &merged.values[index])
                    } else {
                        merged[key] = folded
                    }
                }
            }
            self.tables[part] = merged
        }

        /// Where each part's findings go in ``written``, once every part is merged; returns how many there are.
        func placeParts() -> Int {
            for part in 0..<FlowFindings.partCount {
                self.starts.append(self.count)
                self.count += self.tables[part].count
            }
            return self.count
        }

        /// Writes the findings of `part` at its place, and frees its table.
        func write(part: Int) {
            guard var slot = self.written.baseAddress.map({ $0 + self.starts[part] }) else { return }
            for (key, folded) in self.tables[part] {
                var finding = FlowFindings.write(key, folded.severity, folded.seed)
                finding.flowCount = folded.flowCount
                finding.flowIDs = folded.flowIDs.array
                slot.initialize(to: finding)
                slot += 1
            }
            self.tables[part] = [:]
        }

        /// The written findings in the order of `indices` (a permutation of them), moved out of the buffer.
        func moveWritten(in indices: [Int]) -> [Finding] {
            precondition(indices.count == self.count)
            defer { self.count = 0 }
            return [Finding](unsafeUninitializedCapacity: indices.count) { result, initialized in
                guard let target = result.baseAddress, let source = self.written.baseAddress else { return }
                for (position, index) in indices.enumerated() {
                    (target + position).moveInitialize(from: source + index, count: 1)
                }
                initialized = indices.count
            }
        }

        deinit {
            // Findings written and not moved out (none, unless the sort was never reached) are destroyed.
            if self.count > 0, let base = self.written.baseAddress { base.deinitialize(count: self.count) }
            self.written.deallocate()
            self.tables.deinitialize()
            self.tables.deallocate()
        }
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
        Self.forEachFinding(of: flow) { key, severity, seed in result.append(Self.write(key, severity, seed)) }
        return result
    }

    /// Calls `body` with each finding `flow` shows, in order, in its compact form: its key, severity and detail seed.
    static func forEachFinding(of flow: FlowRecord, _ body: (Key, Severity, DetailSeed) -> Void) {
        let location = flow.server
        // Through a proxy tunnel the conversation is with the destination the client asked for: titles name it
        // beside the proxy, while the location stays the endpoint the packets went to (what an audit names).
        let via = flow.tunnel?.destination
        if !flow.credentials.isEmpty {
            let kinds = Array(Set(flow.credentials.map(\.kind))).sorted().joined(separator: ", ")
            body(
                Key(kind: .credentialsInCleartext, location: location, subject: .credentials(kinds: kinds, via: via)),
                .high,
                .credentials(
                    flow.proto, starttls: flow.starttls,
                    tunnelHops: flow.tunnel.map { $0.hops.map(\.kind).joined(separator: " + ") }))
        } else if !flow.encrypted {
            switch flow.proto {
            case .empty, .unknownBinary:
                break
            case .dns:
                body(
                    Key(kind: .plaintextFlow, location: location, subject: .plaintext(flow.proto, via: via)), .info,
                    .none)
            default:
                body(
                    Key(kind: .plaintextFlow, location: location, subject: .plaintext(flow.proto, via: via)), .medium,
                    .none)
            }
        }
        if flow.proto == .unknownBinary && !flow.encrypted {
            body(Key(kind: .unidentifiedFlow, location: location, subject: .unidentified(via: via)), .low, .none)
        }
        if let engine = flow.containerEngineAPI {
            body(
                Key(
                    kind: .containerEngineAPIInClear, location: location,
                    subject: .containerEngineAPI(engine: engine.engine, apiVersion: engine.apiVersion)),
                .critical, .containerEngine(server: engine.server))
        }
        if let etcd = flow.etcdAPI {
            body(
                Key(
                    kind: etcd.interface == "peer" ? .etcdPeerTrafficInClear : .etcdAPIInClear, location: location,
                    subject: .etcdAPI),
                .critical, .etcd(clusterID: etcd.clusterID, methods: etcd.methods))
        }
        guard let tls = flow.tls, flow.hasTLSHandshake else { return }
        if let version = tls.version, Self.isLegacy(version) {
            body(
                Key(kind: .tlsLegacyVersion, location: location, subject: .legacyVersion(version, via: via)), .high,
                .none)
        }
        if let cipher = tls.cipher, let weakness = TLSRegistry.cipherWeakness(cipher) {
            body(
                Key(
                    kind: weakness.serious ? .tlsWeakCipher : .tlsLegacyCipher, location: location,
                    subject: .cipher(cipher, via: via)),
                weakness.serious ? .high : .low, .none)
        }
        let endedBy: (TLSAlert) -> Bool = { $0.level == "fatal" || $0.inferred || $0.description == "encrypted" }
        if !tls.established && tls.alerts.contains(where: endedBy) {
            body(
                Key(kind: .tlsHandshakeFailure, location: location, subject: .handshakeFailure(via: via)), .medium,
                .handshakeFailure(tls.alerts.first(where: endedBy)))
        }
        if tls.established {
            switch tls.clientCertificate {
            case .notRequested, .declined, .likelyNotRequested, .likelyDeclined:
                body(
                    Key(kind: .tlsNoClientAuth, location: location, subject: .noClientAuthentication(via: via)),
                    .medium, .noClientAuthentication(tls.clientCertificate))
            default:
                break
            }
        }
        // Certificates: the same lint `bulkhead tls` runs (CertificateLint), with the role the handshake gives
        // each chain, judged at the flow's own time (a capture from last year must not report today's expiry).
        // Each chain on its own (a list of the two was an allocation per TLS flow).
        func lint(_ chain: [CertificateSummary], as role: CertificateLint.Role) {
            guard !chain.isEmpty else { return }
            for cached in CertificateLintCache.shared.findings(
                chain: chain, role: role, at: flow.firstSeen, options: Self.certificateLint)
            {
                let finding = cached.finding
                body(
                    Key(kind: finding.kind, location: location, subject: .certificate(title: finding.title)),
                    finding.severity, .certificate(cached))
            }
        }
        lint(tls.serverCertificates, as: .server)
        lint(tls.clientCertificates, as: .client)
    }

    /// A TLS version below 1.2 (RFC 8996), by name; a switch, not a list made at every TLS flow.
    static func isLegacy(_ version: String) -> Bool {
        switch version {
        case "ssl2", "ssl3", "1.0", "1.1": true
        default: false
        }
    }

    /// The parts of a finding's text joined in one allocation: an interpolation appends piece by piece, growing the
    /// string as it goes, and tens of thousands of findings are written at the end of a run while nothing else runs.
    static func joined(
        _ first: String, _ second: String, _ third: String = "", _ fourth: String = "", _ fifth: String = ""
    )
        -> String
    {
        var parts = (first, second, third, fourth, fifth)
        let count = first.utf8.count + second.utf8.count + third.utf8.count + fourth.utf8.count + fifth.utf8.count
        return String(unsafeUninitializedCapacity: count) { buffer in
            var end = 0
            func put(_ part: inout String) {
                part.withUTF8 { bytes in
                    guard let source = bytes.baseAddress, let target = buffer.baseAddress else { return }
                    (target + end).update(from: source, count: min(bytes.count, count - end))
                    end += min(bytes.count, count - end)
                }
            }
            put(&parts.0)
            put(&parts.1)
            put(&parts.2)
            put(&parts.3)
            put(&parts.4)
            return end
        }
    }

    /// The finding a key, severity and detail seed stand for, its text written out (no flows counted yet).
    static func write(_ key: Key, _ severity: Severity, _ seed: DetailSeed) -> Finding {
        let location = key.location
        func peer(_ via: String?) -> String { via.map { Self.joined($0, " via ", location) } ?? location }
        switch key.subject {
        case .credentials(let kinds, let via):
            var detail = "A client sent \(kinds) credentials"
            if case .credentials(let proto, let starttls, let hops) = seed {
                let crossedBefore = starttls ? " before the connection was upgraded to TLS" : ""
                // Through a proxy, the secret may have gone to the proxy itself, in its handshake, not over `proto`.
                let over =
                    hops.map {
                        "through a \($0) proxy tunnel (in its handshake, or over \(proto.rawValue) inside it)"
                    } ?? "over \(proto.rawValue)"
                detail += " \(over)\(crossedBefore)"
            }
            return Finding(
                kind: key.kind, severity: severity,
                title: Self.joined("Credentials sent in clear to ", peer(via), " (", kinds, ")"),
                detail: detail + "; anyone on the path can read and replay them. "
                    + "Require TLS (ideally mutual TLS) on this service.",
                location: location)
        case .plaintext(let proto, let via):
            if proto == .dns {
                return Finding(
                    kind: key.kind, severity: severity, title: Self.joined("Plaintext DNS to ", peer(via)),
                    detail: "DNS queries and answers crossed unencrypted.", location: location)
            }
            return Finding(
                kind: key.kind, severity: severity, title: Self.joined("Plaintext ", proto.rawValue, " to ", peer(via)),
                detail: Self.joined(
                    "Service traffic (", proto.rawValue,
                    ") crossed without TLS: its content can be read and altered on the path."),
                location: location)
        case .unidentified(let via):
            return Finding(
                kind: key.kind, severity: severity, title: Self.joined("Unidentified binary traffic to ", peer(via)),
                detail:
                    "The payload is binary and matches no known protocol. It may be encrypted by something other than TLS; "
                    + "Bulkhead cannot vouch for it.", location: location)
        case .legacyVersion(let version, let via):
            return Finding(
                kind: key.kind, severity: severity, title: Self.joined("TLS ", version, " negotiated with ", peer(via)),
                detail: "TLS versions below 1.2 are deprecated (RFC 8996) and have known attacks.",
                location: location)
        case .cipher(let cipher, let via):
            return Finding(
                kind: key.kind, severity: severity,
                title: Self.joined("Cipher ", cipher, " negotiated with ", peer(via)),
                detail:
                    "The negotiated suite uses \(TLSRegistry.cipherWeakness(cipher)?.reason ?? "a weak construction").",
                location: location)
        case .handshakeFailure(let via):
            var what = "an alert"
            if case .handshakeFailure(let alert) = seed, let alert {
                what =
                    alert.inferred
                    ? "an encrypted alert inferred from its size"
                    : "\(alert.level) alert \(alert.description) from the \(alert.from)"
            }
            return Finding(
                kind: key.kind, severity: severity, title: Self.joined("TLS handshake with ", peer(via), " failed"),
                detail:
                    "The handshake ended with \(what). If this was a client without a valid certificate being refused, "
                    + "that is mTLS working; otherwise a dependency is broken.", location: location)
        case .containerEngineAPI(let engine, let apiVersion):
            let name = engine == "podman" ? "Podman" : "Docker Engine"
            var server = ""
            if case .containerEngine(let header?) = seed { server = " (" + header + ")" }
            return Finding(
                kind: key.kind, severity: severity,
                title: Self.joined(name, " API ", apiVersion, " answered in clear at ", location),
                detail: Self.joined(
                    "The ", name, " API", server,
                    " answered a request over plain HTTP. It has no authentication of its own: whoever reaches this "
                        + "port can start a privileged container and so owns the host, unless an authorization plugin "
                        + "refuses the request. Bind it to its Unix socket, or require TLS with client certificates "
                        + "(dockerd --tlsverify)."),
                location: location)
        case .etcdAPI:
            var cluster = ""
            var called = ""
            if case .etcd(let clusterID, let methods) = seed {
                if let clusterID { cluster = " (cluster " + clusterID + ")" }
                if !methods.isEmpty { called = " (" + methods.joined(separator: ", ") + ")" }
            }
            let peer = key.kind == .etcdPeerTrafficInClear
            return Finding(
                kind: key.kind, severity: severity,
                title: Self.joined(
                    peer ? "etcd peer traffic in clear to " : "etcd API answered in clear at ", location),
                detail: peer
                    ? Self.joined(
                        "An etcd member", cluster, " answered its peer API", called,
                        " in clear: the store its members replicate (for Kubernetes, every Secret) crosses readable "
                            + "and alterable on the path, and unless members require client certificates whoever "
                            + "reaches this port can disturb the cluster. Serve the peer URLs over TLS "
                            + "(--peer-cert-file, --peer-key-file) and require client certificates "
                            + "(--peer-client-cert-auth, --peer-trusted-ca-file).")
                    : Self.joined(
                        "etcd's v3 API", cluster, " answered", called,
                        " in clear: every key read or written crossed readable and alterable on the path (for "
                            + "Kubernetes, every Secret), with the passwords and tokens of etcd's users, and unless "
                            + "etcd also requires client certificates whoever reaches this port reads and writes the "
                            + "store. Serve it over TLS only (--cert-file, --key-file) and require client "
                            + "certificates (--client-cert-auth, --trusted-ca-file)."),
                location: location)
        case .noClientAuthentication(let via):
            let how: String
            switch seed {
            case .noClientAuthentication(.notRequested): how = "the server did not ask for a client certificate"
            case .noClientAuthentication(.declined):
                how = "the server asked for a client certificate and the client sent none, yet the session went on"
            case .noClientAuthentication(.likelyNotRequested):
                how = "the server very likely did not ask for a client certificate (TLS 1.3 record-size heuristic)"
            default:
                how =
                    "the client very likely sent an empty certificate and the session went on (TLS 1.3 record-size heuristic)"
            }
            return Finding(
                kind: key.kind, severity: severity,
                title: Self.joined("TLS to ", peer(via), " without client authentication"),
                detail: Self.joined("The session is encrypted but not mutually authenticated: ", how, "."),
                location: location)
        case .certificate(let title):
            guard case .certificate(let cached) = seed else {
                return Finding(kind: key.kind, severity: severity, title: title, detail: "", location: location)
            }
            var located = cached.finding
            located.location = location
            return located
        }
    }
}
