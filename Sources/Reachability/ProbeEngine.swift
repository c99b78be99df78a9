import BulkheadModel
import CBulkheadLinux
import Foundation
import NetworkNamespaces
import SystemCalls

#if canImport(Glibc)
    import Glibc
#endif

/// Progress of a probe run, reported about twice a second.
public struct ProbeProgress: Sendable {
    public var cellsDone: Int
    public var cellsTotal: Int
    public var inFlight: Int
    public var elapsedSeconds: Double
    /// True while silent cells are probed again (their destinations dropped or ignored probes meanwhile); the
    /// counts are then those of the second run.
    public var recheck = false
}

/// What a probe run produced: every cell of the plan with its state and evidence.
public struct ProbeRunResult: Sendable {
    public var cells: [ReachabilityCell]
    public var sources: [ProbeSource]
    /// Things that went wrong outside single cells (a namespace that could not be entered…).
    public var problems: [String]
    public var attemptsSent: Int
    public var durationSeconds: Double
}

/// Runs a ``ProbePlan``: every probe from inside its source's network namespace, all of them from one epoll
/// event loop on one dedicated thread.
///
/// How: the loop thread enters a source's namespace (`setns`, ~3 µs) only to create a socket there; a socket
/// keeps the namespace it was made in, so one loop drives sockets of every namespace at once. The thread exists
/// only for the run, so nothing else ever executes inside a container's namespace (ARCHITECTURE.md, "Namespaces").
///
/// - TCP: non-blocking connect. Connected (or reset right after the handshake) → `reachable` (a short recognisable
///   line is sent, then the socket is closed); RST → `reachable-closed`, or `rejected` when the destination still
///   listens on that port (``ListenerEvidence``); an ICMP error (read from a raw ICMP socket in the source
///   namespace, matched by the quoted ports) → `rejected`; silence → retried, then `filtered`, unless the
///   destination's kernel was dropping SYNs at its listeners meanwhile (``recheckSilence(_:plan:options:progress:)``)
///   or the next hop never answered at the link layer (``NextHop``).
/// - UDP: a connected socket with `IP_RECVERR`: a reply → `reachable`; ICMP port-unreachable → `reachable-closed`
///   (`rejected` when the destination still listens there);
///   other ICMP errors → `rejected`; silence → `unknown` (a datagram may sit unanswered at a live service).
/// - ICMP: echo request from a raw socket in the source namespace; reply → `reachable`; silence → retried, then
///   `filtered`, unless the destination was receiving echo requests it did not answer meanwhile (same check).
///
/// Each source's and destination container's main process is watched with a pidfd, and each plain namespace as a
/// namespace (``NamespaceWatch``): when one is gone, its unfinished cells become `error` (never "blocked"), keeping
/// their attempts, and everything else carries on.
public enum ProbeEngine {
    /// The payload every probe carries, so that a capture or a server log shows where it came from.
    public static let payloadMarker = "BULKHEAD-PROBE"

    /// Runs the plan and returns when every cell is decided. `progress` is called on the loop thread.
    public static func run(
        plan: ProbePlan, options: ProbeOptions, progress: (@Sendable (ProbeProgress) -> Void)? = nil
    ) -> ProbeRunResult {
        let first = Self.pass(plan: plan, options: options, progress: progress)
        return Self.recheckSilence(first, plan: plan, options: options, progress: progress)
            .sharingNamespaces(plan.sharedNamespaces)
    }

    /// Probes in flight at once towards one destination when its silent cells are probed again: few enough that
    /// the probes themselves cannot fill a working server's accept queue (busybox httpd's backlog is 9).
    static let recheckPerDestination = 4

    /// What each destination's kernel counted meanwhile that makes silence no proof of a filter.
    typealias SilenceGrowth = [String: (listenDrops: Int?, unansweredEchoes: Int?)]

    /// One run of the event loop over `plan`, on a thread of its own, and each destination's ``SilenceCounters``
    /// growth meanwhile.
    static func pass(
        plan: ProbePlan, options: ProbeOptions, progress: (@Sendable (ProbeProgress) -> Void)?, recheck: Bool = false
    ) -> (result: ProbeRunResult, silence: SilenceGrowth) {
        let box = ResultBox()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let loop = ProbeLoop(plan: plan, options: options, progress: progress)
            loop.isRecheck = recheck
            box.result = loop.run()
            box.silence = loop.silenceGrowth()
            done.signal()
        }
        thread.stackSize = 1 << 21
        thread.start()
        done.wait()
        let result =
            box.result
            ?? ProbeRunResult(
                cells: plan.cells, sources: plan.sources, problems: ["the probe thread did not report"],
                attemptsSent: 0, durationSeconds: 0)
        return (result, box.silence)
    }

    /// Silence means a filter only if the probe never reached the destination. A listener whose accept queue is
    /// full (a hung or overloaded server, or many probes at once) drops SYNs as silently as a DROP rule, and a
    /// destination that ignores echo requests (`net.ipv4.icmp_echo_ignore_all`) answers none; its kernel counts
    /// both (`TcpExt: ListenDrops`; `Icmp: InEchos` without as many `OutEchoReps`), per namespace, not per port or
    /// sender. When a destination's count grew during the run, its silent cells of that protocol are probed
    /// again, a few at a time: silent again while the count stands still is a filter; an answer is taken as it is;
    /// silent again while it grows again proves nothing, and the cell is an `error` (never `filtered`, so never
    /// "blocked"). Every attempt of both runs is kept.
    static func recheckSilence(
        _ first: (result: ProbeRunResult, silence: SilenceGrowth), plan: ProbePlan, options: ProbeOptions,
        progress: (@Sendable (ProbeProgress) -> Void)?
    ) -> ProbeRunResult {
        /// The count that makes a silent cell of `proto` to `destination` a suspect; nil when it was not read (no
        /// process, gone, unreadable) or for UDP, whose silence is `unknown` anyway.
        func count(_ growth: SilenceGrowth, _ destination: String, _ proto: ProbeProtocol) -> Int? {
            switch proto {
            case .tcp: growth[destination]?.listenDrops
            case .icmp: growth[destination]?.unansweredEchoes
            case .udp: nil
            }
        }
        var result = first.result
        let suspects = result.cells.indices.filter {
            let cell = result.cells[$0]
            return cell.state == .filtered && (count(first.silence, cell.destinationName, cell.protocol) ?? 0) > 0
        }
        guard !suspects.isEmpty else { return result }
        var again = plan
        again.cells = suspects.map { result.cells[$0] }
        var calm = options
        calm.maxInFlightPerDestination = min(options.maxInFlightPerDestination, Self.recheckPerDestination)
        let second = Self.pass(plan: again, options: calm, progress: progress, recheck: true)
        var unresolved: [String: [ProbeProtocol: Int]] = [:]
        for (offset, index) in suspects.enumerated() {
            let before = result.cells[index]
            var cell = second.result.cells[offset]
            cell.evidence = before.evidence + cell.evidence
            cell.attempts = cell.evidence.count
            cell.latencyMs = CellVerdict.latency(of: cell.evidence)
            let name = cell.destinationName
            let firstCount = count(first.silence, name, cell.protocol)
            let secondCount = count(second.silence, name, cell.protocol)
            if cell.state == .filtered, secondCount != 0 {
                let again = secondCount.map { "\($0) more" } ?? "could not be read"
                cell.state = .error
                // What the counters show, not why: a full listen queue and a destination that cannot route its
                // answer back both count a listen drop; ignored echoes and unroutable replies both leave a request
                // unanswered.
                cell.note =
                    cell.protocol == .tcp
                    ? "silence, but \(name)'s kernel dropped \(firstCount ?? 0) connection attempt(s) at its listening "
                        + "sockets while it was probed, and \(again) when probed again (TcpExt ListenDrops: a full "
                        + "listen queue, or no route back for its answer): the probes arrived; not proof of a filter"
                    : "silence, but \(name) received \(firstCount ?? 0) echo request(s) it did not answer while it was "
                        + "probed, and \(again) when probed again (Icmp InEchos beyond OutEchoReps: echo ignored, as "
                        + "with net.ipv4.icmp_echo_ignore_all, or no route back for the reply): the requests arrived; "
                        + "not proof of a filter"
                unresolved[name, default: [:]][cell.protocol, default: 0] += 1
            }
            result.cells[index] = cell
        }
        for (name, byProtocol) in unresolved.sorted(by: { $0.key < $1.key }) {
            if let count = byProtocol[.tcp] {
                result.problems.append(
                    "\(name): \(count) silent TCP cell(s) are errors: its kernel dropped connection attempts at its "
                        + "listening sockets while it was probed, and again when they were probed a few at a time (a "
                        + "hung or overloaded server, or one that cannot route its answers back, looks like a filter)")
            }
            if let count = byProtocol[.icmp] {
                result.problems.append(
                    "\(name): \(count) silent ICMP cell(s) are errors: it received echo requests it did not answer, "
                        + "while it was probed and again when they were probed a few at a time (a host that ignores "
                        + "pings, or cannot route its replies back, looks like a filter)")
            }
        }
        result.problems += second.result.problems.filter { !result.problems.contains($0) }
        result.attemptsSent += second.result.attemptsSent
        result.durationSeconds += second.result.durationSeconds
        return result
    }
}

private final class ResultBox: @unchecked Sendable {
    var result: ProbeRunResult?
    var silence: ProbeEngine.SilenceGrowth = [:]
}

/// Monotonic seconds.
func monotonicNow() -> Double { MonotonicClock.now() }

/// The event loop's state. Lives on the loop thread only.
final class ProbeLoop {
    let plan: ProbePlan
    let options: ProbeOptions
    let progress: (@Sendable (ProbeProgress) -> Void)?
    var cells: [ReachabilityCell]
    var sources: [ProbeSource]
    var problems: [String] = []

    /// Per-cell attempts so far and whether the cell is decided.
    var evidence: [[ProbeAttempt]]
    var decided: [Bool]
    var decidedCount = 0

    struct SourceContext {
        var name: String
        var namespace: NamespaceEntry?
        var icmp4: Int32 = -1
        var icmp6: Int32 = -1
        var dead = false
    }
    var contexts: [String: SourceContext] = [:]
    /// The namespace the loop thread is in now (a source name), nil for the thread's original one.
    var currentNamespace: String?

    struct Attempt {
        var cell: Int
        var fd: Int32
        var proto: ProbeProtocol
        var address: IPAddress
        var destinationKey: String
        var started: Double
        var deadline: Double
        var localPort: Int?
        var echoKey: UInt32?
    }
    var attempts: [UInt64: Attempt] = [:]
    var nextToken: UInt64 = 1
    /// Tokens with the top bit set name loop-owned descriptors (raw ICMP sockets, pidfds).
    static let controlBit: UInt64 = 1 << 63
    var controlHandlers: [UInt64: Control] = [:]
    enum Control {
        case icmp(source: String, fd: Int32, v6: Bool)
        case pidfd(container: String, fd: Int32)
    }

    /// Attempts by timeout order, one queue per protocol (equal timeouts keep each queue sorted).
    var timeoutQueues: [ProbeProtocol: [(deadline: Double, token: UInt64)]] = [:]
    var timeoutHeads: [ProbeProtocol: Int] = [:]
    var pending: [Int] = []
    var pendingHead = 0
    var retries: [Int] = []
    var inFlightByDestination: [String: Int] = [:]
    /// Cells waiting for their destination's in-flight cap, by destination address.
    var parked: [String: [Int]] = [:]
    /// Echo (identifier << 16 | sequence) → attempt token.
    var echoes: [UInt32: UInt64] = [:]
    var echoSequence: UInt32 = 0
    let echoIdentifier = UInt16(truncatingIfNeeded: getpid() ^ 0x4248)
    /// ICMP errors seen on the raw sockets for TCP probes, keyed by "source|local port|destination".
    var tcpICMPErrors: [String: (type: Int, code: Int, from: String)] = [:]
    /// Containers whose main process exited, and plain namespaces that ceased to exist, and when (seconds into the
    /// run).
    var deaths: [String: Double] = [:]
    /// The plain namespaces among the sources and destinations, watched as namespaces (``NamespaceWatch``).
    var namespaceWatches: [String: NamespaceWatch] = [:]
    /// When the namespaces were last checked (monotonic seconds).
    var lastNamespaceCheck = 0.0
    /// Each destination's ``SilenceCounters`` when the run began (destinations with TCP or ICMP cells and a
    /// process).
    var silenceBefore: [String: (pid: Int, counters: SilenceCounters)] = [:]
    var attemptsSent = 0
    /// Each destination's listeners as last read again (``listeners(of:)``), and when.
    var listenerCache: [String: (time: Double, sockets: [ListeningSocket])] = [:]
    /// Cells whose refusal was judged against the destination's listeners: true when one listens there (its
    /// refusals are a rule's rejections), false when none does any more; with the note that says so.
    var listenerJudged: [Int: (listening: Bool, note: String)] = [:]
    /// `source|hop` pairs whose next hop did not answer at the link layer (reported once each).
    var unansweredHops: Set<String> = []
    /// Sources whose raw ICMP socket failed to read (reported once each).
    var icmpReadFailed: Set<String> = []
    /// The loop's selector; nil when it could not be made (`pollerError` says why, and nothing is probed).
    var poller: Poller?
    let pollerError: SystemCallError?
    /// The global in-flight cap: the option, or (0 = auto) what the open-file limit allows.
    var maxInFlight = 0
    var startTime = 0.0
    var lastProgress = 0.0
    /// Whether this run probes silent cells again (said in its progress).
    var isRecheck = false

    init(plan: ProbePlan, options: ProbeOptions, progress: (@Sendable (ProbeProgress) -> Void)?) {
        self.plan = plan
        self.options = options
        self.progress = progress
        self.cells = plan.cells
        self.sources = plan.sources
        self.evidence = Array(repeating: [], count: plan.cells.count)
        self.decided = Array(repeating: false, count: plan.cells.count)
        do {
            self.poller = try Poller(capacity: 256)
            self.pollerError = nil
        } catch {
            self.poller = nil
            self.pollerError = error
        }
    }

    /// Registers `fd` with the loop's poller.
    func watch(_ fd: Int32, _ interest: PollInterest, token: UInt64) throws(SystemCallError) {
        guard let poller = self.poller else { throw self.pollerError ?? SystemCallError("epoll_create1", code: EBADF) }
        try poller.register(fd, interest: interest, token: token)
    }

    func run() -> ProbeRunResult {
        self.startTime = monotonicNow()
        let files = Self.raiseFileLimit()
        // Each probe in flight holds a socket; keep a margin for the namespaces, raw sockets, pidfds and the rest.
        let allowed = max(64, files - 256 - 4 * self.sources.count)
        self.maxInFlight = self.options.maxInFlight > 0 ? min(self.options.maxInFlight, allowed) : min(16_384, allowed)
        guard self.poller != nil else {
            self.problems.append(self.pollerError?.description ?? "no poller")
            return self.finish()
        }
        self.watchNamespaces()
        self.prepareSources()
        self.watchDestinations()
        for index in self.cells.indices where !self.decided[index] {
            if self.cells[index].state == .skipped {
                self.decide(index)
            } else {
                self.pending.append(index)
            }
        }
        self.loop()
        self.cleanUp()
        return self.finish()
    }

    /// How each destination's ``SilenceCounters`` grew during the run (see
    /// ``ProbeEngine/recheckSilence(_:plan:options:progress:)``); absent for one that died or could not be read.
    func silenceGrowth() -> ProbeEngine.SilenceGrowth {
        var growth: ProbeEngine.SilenceGrowth = [:]
        for (name, before) in self.silenceBefore where self.deaths[name] == nil {
            // A plain namespace's process read at the start may have exited since (its pid even reused elsewhere):
            // read through one still in it.
            let pid = self.namespaceWatches[name].map { $0.livePid() } ?? before.pid
            guard let pid, let after = ProcNet.silenceCounters(root: "/proc/\(pid)/net") else { continue }
            growth[name] = after.since(before.counters)
        }
        return growth
    }

    // MARK: - Setting up

    /// Raises the soft open-file limit to the hard one and returns the limit now in force.
    static func raiseFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(min(limit.rlim_cur, 1 << 20))
    }

    /// Opens each source's namespace (checking it is still the container's), makes its raw ICMP sockets there,
    /// and watches its process.
    func prepareSources() {
        let needed = Set(self.cells.indices.filter { self.cells[$0].state != .skipped }.map { self.cells[$0].source })
        for (index, source) in self.sources.enumerated()
        where source.skipReason == nil && needed.contains(source.name) && self.deaths[source.name] == nil {
            // A plain namespace is entered through its name when it still has one: the process the inventory saw in
            // it first may have exited, its namespace serving on.
            let named = self.namespaceWatches[source.name]?.named == true ? "/run/netns/\(source.name)" : nil
            guard let path = source.namespacePath ?? named ?? source.pid.map({ "/proc/\($0)/ns/net" }) else { continue }
            var context = SourceContext(name: source.name)
            // A recycled pid would put probes in some other namespace: the entry checks the inventory's identity.
            do {
                context.namespace = try NamespaceEntry(NetworkNamespace(path: path), identity: source.netns)
            } catch {
                self.failSource(index, error.description)
                continue
            }
            self.contexts[source.name] = context
            guard self.enter(source.name) else {
                self.failSource(index, "cannot enter its network namespace (\(SystemCallError.last("setns")))")
                continue
            }
            let needsV4 = self.cells.contains { $0.source == source.name && !$0.address.contains(":") }
            let needsV6 = self.cells.contains { $0.source == source.name && $0.address.contains(":") }
            if needsV4 { self.contexts[source.name]?.icmp4 = self.makeRawICMP(source: source.name, v6: false) }
            if needsV6 { self.contexts[source.name]?.icmp6 = self.makeRawICMP(source: source.name, v6: true) }
            if let pid = source.pid, self.plan.namespaces[source.name] == nil {
                self.watch(container: source.name, pid: pid)
            }
        }
    }

    /// Watches every plain namespace a cell names, as a namespace (``NamespaceWatch``); one already gone has its
    /// cells made errors at once.
    func watchNamespaces() {
        var named = Set<String>()
        for cell in self.cells where cell.state != .skipped {
            named.insert(cell.source)
            named.insert(cell.destinationName)
        }
        for (name, namespace) in self.plan.namespaces.sorted(by: { $0.key < $1.key }) where named.contains(name) {
            if let watch = NamespaceWatch(name: name, namespace: namespace) {
                self.namespaceWatches[name] = watch
            } else {
                self.died(name, how: "was already gone when the probe began (no /run/netns name, no process in it)")
            }
        }
    }

    /// Checks the watched namespaces every few tenths of a second (and ``record(_:_:note:final:)`` checks a cell's
    /// own before deciding it): one that ceased to exist has its unfinished cells made errors.
    func checkNamespaces() {
        let now = monotonicNow()
        guard now - self.lastNamespaceCheck >= 0.2 else { return }
        self.lastNamespaceCheck = now
        for (name, watch) in self.namespaceWatches where self.deaths[name] == nil && !watch.isAlive() {
            self.died(name, how: "ceased to exist")
        }
    }

    func makeRawICMP(source: String, v6: Bool) -> Int32 {
        let fd = socket(
            v6 ? AF_INET6 : AF_INET,
            Int32(SOCK_RAW.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
            v6 ? Int32(IPPROTO_ICMPV6) : Int32(IPPROTO_ICMP))
        guard fd >= 0 else {
            self.problems.append(
                "\(source): no raw ICMP\(v6 ? "v6" : "") socket (\(SystemCallError.last("socket"))): ICMP echo is an error and TCP rejections read as refusals"
            )
            return -1
        }
        let token = self.controlToken()
        // Unwatched, the socket's echo replies and rejections would never be read: echoes would time out as
        // "filtered". Without it, echo cells are errors (startEcho) and TCP rejections read as refusals.
        do { try self.watch(fd, .readable, token: token) } catch {
            close(fd)
            self.problems.append(
                "\(source): cannot watch the raw ICMP\(v6 ? "v6" : "") socket (\(error)): ICMP echo is an error and TCP rejections read as refusals"
            )
            return -1
        }
        self.controlHandlers[token] = .icmp(source: source, fd: fd, v6: v6)
        return fd
    }

    func watchDestinations() {
        // Each destination a cell names (one pass: plans hold tens of thousands of cells), and whether it has a TCP
        // or ICMP cell, whose silence would read as a filter.
        var probed: [String: Bool] = [:]
        for cell in self.cells {
            if cell.protocol != .udp {
                probed[cell.destinationName] = true
            } else if probed[cell.destinationName] == nil {
                probed[cell.destinationName] = false
            }
        }
        for (name, recorded) in self.plan.destinationPids.sorted(by: { $0.key < $1.key }) {
            guard let silenceMatters = probed[name] else { continue }
            var pid: Int? = recorded
            if let watch = self.namespaceWatches[name] {
                pid = watch.livePid()  // a namespace is watched as one; its counters read through a process in it
            } else if self.plan.namespaces[name] != nil {
                continue  // gone already
            } else if self.contexts[name] == nil {
                self.watch(container: name, pid: recorded)  // a source is watched already
            }
            if silenceMatters, let pid, let counters = ProcNet.silenceCounters(root: "/proc/\(pid)/net") {
                self.silenceBefore[name] = (pid, counters)
            }
        }
    }

    func watch(container: String, pid: Int) {
        let fd = bh_pidfd_open(pid_t(pid))
        if fd < 0 {
            if errno == ESRCH { self.deaths[container] = 0 }
            return  // without pidfd support, deaths show as timeouts (older kernels)
        }
        let token = self.controlToken()
        do { try self.watch(fd, .readable, token: token) } catch {
            close(fd)
            self.problems.append(
                "\(container): cannot watch its process (\(error)): if it exits, its cells show as timeouts")
            return
        }
        self.controlHandlers[token] = .pidfd(container: container, fd: fd)
    }

    func controlToken() -> UInt64 {
        defer { self.nextToken += 1 }
        return self.nextToken | Self.controlBit
    }

    func failSource(_ index: Int, _ reason: String) {
        let name = self.sources[index].name
        self.problems.append("\(name): \(reason)")
        for cell in self.cells.indices where self.cells[cell].source == name && !self.decided[cell] {
            self.cells[cell].note = reason
            self.cells[cell].state = .error
            self.decide(cell)
        }
    }

    /// Moves the loop thread into a source's namespace (no-op when already there).
    func enter(_ source: String) -> Bool {
        if self.currentNamespace == source { return true }
        guard self.contexts[source]?.namespace?.enter() == true else { return false }
        self.currentNamespace = source
        return true
    }

    // MARK: - The loop

    func loop() {
        guard let poller = self.poller else { return }
        while self.decidedCount < self.cells.count {
            // Launch in bounded batches, so answers already waiting are read before more probes go out.
            let launchedAll = self.launchPending(batch: 512)
            let now = monotonicNow()
            if now - self.lastProgress >= 0.5 {
                self.lastProgress = now
                self.progress?(
                    ProbeProgress(
                        cellsDone: self.decidedCount, cellsTotal: self.cells.count, inFlight: self.attempts.count,
                        elapsedSeconds: now - self.startTime, recheck: self.isRecheck))
            }
            let wait = launchedAll ? max(0, min(100, Int(((self.nextDeadline() ?? now + 0.1) - now) * 1000) + 1)) : 0
            let events: ArraySlice<PollEvent>
            do { events = try poller.wait(timeoutMilliseconds: Int32(wait)) } catch {
                self.problems.append(error.description)
                for index in self.cells.indices where !self.decided[index] {
                    self.cells[index].note = "the event loop failed"
                    self.cells[index].state = .error
                    self.decide(index)
                }
                break
            }
            // Raw ICMP sockets first: a TCP socket's error must find the ICMP message that caused it.
            for event in events where event.token & Self.controlBit != 0 {
                self.handleControl(event.token)
            }
            for event in events where event.token & Self.controlBit == 0 {
                self.handleAttempt(event.token, event: event)
            }
            self.checkNamespaces()
            // Judge timeouts only once every answer that has arrived is read: a full batch means more may wait.
            if events.count < poller.capacity {
                self.expireTimeouts(now: monotonicNow())
            }
        }
    }

    func nextDeadline() -> Double? {
        var earliest: Double?
        for (proto, queue) in self.timeoutQueues {
            var head = self.timeoutHeads[proto] ?? 0
            while head < queue.count, self.attempts[queue[head].token] == nil { head += 1 }
            self.timeoutHeads[proto] = head
            if head < queue.count { earliest = min(earliest ?? .infinity, queue[head].deadline) }
        }
        return earliest
    }

    /// Launches pending probes up to the caps, at most `batch` of them; true when nothing launchable is left.
    @discardableResult
    func launchPending(batch: Int = .max) -> Bool {
        var launched = 0
        while self.attempts.count < self.maxInFlight {
            guard launched < batch else { return false }
            let index: Int
            if let retry = self.retries.popLast() {
                index = retry
            } else if self.pendingHead < self.pending.count {
                index = self.pending[self.pendingHead]
                self.pendingHead += 1
            } else {
                break
            }
            if self.decided[index] { continue }
            let key = self.cells[index].address
            if (self.inFlightByDestination[key] ?? 0) >= self.options.maxInFlightPerDestination {
                // Parked until one of the destination's probes ends (see `release`).
                self.parked[key, default: []].append(index)
                continue
            }
            self.launch(index)
            launched += 1
        }
        if self.pendingHead > 4096, self.pendingHead * 2 > self.pending.count {
            self.pending.removeFirst(self.pendingHead)
            self.pendingHead = 0
        }
        return true
    }

    /// One probe towards `destination` ended: count it out, and let a parked cell for it go next.
    func release(_ destination: String) {
        self.inFlightByDestination[destination, default: 1] -= 1
        if var waiting = self.parked[destination], !waiting.isEmpty {
            self.retries.append(waiting.removeFirst())
            self.parked[destination] = waiting.isEmpty ? nil : waiting
        }
    }

    // MARK: - Launching one attempt

    func launch(_ index: Int) {
        let cell = self.cells[index]
        if let death = self.deaths[cell.source] {
            self.markDead(index, died: cell.source, at: death, isSource: true)
            return
        }
        if let death = self.deaths[cell.destinationName] {
            self.markDead(index, died: cell.destinationName, at: death, isSource: false)
            return
        }
        guard let address = IPAddress(cell.address) else {
            self.record(
                index, ProbeAttempt(outcome: .failed, latencyMs: 0), note: "\(cell.address) is not an IP address")
            return
        }
        // The scope guard, enforced where packets leave: nothing outside the plan's addresses, ever.
        guard self.plan.scope.permits(address) else {
            self.record(
                index, ProbeAttempt(outcome: .failed, latencyMs: 0),
                note: self.plan.scope.refusal(address), final: true)
            return
        }
        guard self.enter(cell.source) else {
            self.record(
                index, ProbeAttempt(outcome: .failed, latencyMs: 0, errno: ErrnoName.name(errno)),
                note: "cannot enter the source's namespace", final: true)
            return
        }
        let now = monotonicNow()
        let token = self.nextToken
        self.nextToken += 1
        var attempt = Attempt(
            cell: index, fd: -1, proto: cell.protocol, address: address, destinationKey: cell.address, started: now,
            deadline: now + self.options.timeout(for: cell.protocol), localPort: nil, echoKey: nil
        )
        let started: Bool
        switch cell.protocol {
        case .tcp: started = self.startTCP(&attempt, token: token, port: cell.port ?? 0)
        case .udp: started = self.startUDP(&attempt, token: token, port: cell.port ?? 0)
        case .icmp: started = self.startEcho(&attempt, token: token, source: cell.source)
        }
        guard started else { return }
        self.attemptsSent += 1
        self.attempts[token] = attempt
        self.inFlightByDestination[attempt.destinationKey, default: 0] += 1
        self.timeoutQueues[cell.protocol, default: []].append((attempt.deadline, token))
    }

    func socketFailed(_ attempt: Attempt, call: String) -> Bool {
        let code = errno
        if attempt.fd >= 0 { close(attempt.fd) }
        // The source's own kernel refused before anything was sent. Its routing (no route, an unreachable or
        // prohibit route: how an internal network is isolated) and its firewall (OUTPUT DROP: EPERM) are answers
        // about the path; a destination its kernel takes for a broadcast, multicast or local address, or an EACCES
        // with a unicast route (a security module judging the tool's own socket), is no answer about any path.
        switch code {
        case ENETUNREACH, EHOSTUNREACH, EACCES, EPERM:
            if let why = self.localRefusalProvesNothing(attempt, code: code) {
                self.record(
                    attempt.cell, ProbeAttempt(outcome: .failed, latencyMs: 0, errno: ErrnoName.name(code)), note: why)
                return false
            }
            self.record(
                attempt.cell, ProbeAttempt(outcome: .icmpError, latencyMs: 0, errno: ErrnoName.name(code)), note: nil)
        case ECONNREFUSED:
            self.record(
                attempt.cell, ProbeAttempt(outcome: .refused, latencyMs: 0, errno: ErrnoName.name(code)), note: nil)
        default:
            self.record(
                attempt.cell, ProbeAttempt(outcome: .failed, latencyMs: 0, errno: ErrnoName.name(code)),
                note: "\(call) failed: \(SystemCallError(call, code: code).message)")
        }
        return false
    }

    /// Why a local refusal (`code`, from a socket call in the source's namespace, which the thread is in) proves
    /// nothing about the path to the attempt's address, or nil when it is the source's routing or firewall speaking.
    func localRefusalProvesNothing(_ attempt: Attempt, code: Int32) -> String? {
        let source = self.cells[attempt.cell].source
        let refused = "its kernel refused the socket (\(ErrnoName.name(code))) and nothing was sent"
        switch NextHop.lookUp(attempt.address) {
        case .failure(let error):
            return
                "\(source)'s kernel refused the socket (\(ErrnoName.name(code))) and its route to \(attempt.address) "
                + "could not be read (\(error)): no answer about the path"
        case .success(nil):
            return nil  // no route, or an unreachable / prohibit / blackhole one
        case .success(let hop?):
            switch hop.delivery {
            case .broadcast, .multicast, .local:
                let kind =
                    hop.delivery == .local ? "a local" : hop.delivery == .broadcast ? "a broadcast" : "a multicast"
                return "\(attempt.address) is \(kind) address in \(source)'s namespace, not a single host: \(refused)"
            case .unicast where code == EACCES:
                return "\(source) has a route to \(attempt.address), yet \(refused): a security module or the like "
                    + "judging the tool's own socket, not an answer about the path"
            default:
                return nil
            }
        }
    }

    func startTCP(_ attempt: inout Attempt, token: UInt64, port: Int) -> Bool {
        let destination = SocketAddress(attempt.address, port: port)
        attempt.fd = socket(
            destination.family,
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard attempt.fd >= 0 else { return self.socketFailed(attempt, call: "socket") }
        let result = destination.withSockaddr { connect(attempt.fd, $0, $1) }
        if result != 0 && errno != EINPROGRESS { return self.sendFailed(attempt, call: "connect") }
        attempt.localPort = SocketAddress.localPort(of: attempt.fd)
        return self.register(attempt, token: token, interest: .writable)
    }

    /// Watches an attempt's socket. A failed registration must not become a timeout (a `filtered` cell that was
    /// never probed): the cell is an `error` with the errno, at once.
    func register(_ attempt: Attempt, token: UInt64, interest: PollInterest) -> Bool {
        do { try self.watch(attempt.fd, interest, token: token) } catch { return self.toolFailed(attempt, error) }
        return true
    }

    /// A system call of the tool's own failed for this attempt: the cell is an error with the errno, not retried
    /// (never a network answer, whatever the errno).
    func toolFailed(_ attempt: Attempt, _ failure: SystemCallError) -> Bool {
        if attempt.fd >= 0 { close(attempt.fd) }
        self.record(
            attempt.cell, ProbeAttempt(outcome: .failed, latencyMs: 0, errno: failure.name),
            note: "\(failure.call) failed: \(failure.message)", final: true)
        // Even after an earlier attempt's timeout: the retries the verdict needs did not happen, so not `filtered`.
        self.cells[attempt.cell].state = .error
        return false
    }

    func startUDP(_ attempt: inout Attempt, token: UInt64, port: Int) -> Bool {
        let destination = SocketAddress(attempt.address, port: port)
        attempt.fd = socket(
            destination.family,
            Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard attempt.fd >= 0 else { return self.socketFailed(attempt, call: "socket") }
        var on: Int32 = 1
        // Without RECVERR the ICMP errors that tell `rejected` from `filtered` are never seen: the probe's verdict
        // would rest on a timeout. A failure here is the tool's, so the cell is an error.
        let recvErr =
            destination.family == AF_INET6
            ? setsockopt(attempt.fd, Int32(IPPROTO_IPV6), BH_IPV6_RECVERR, &on, socklen_t(MemoryLayout<Int32>.size))
            : setsockopt(attempt.fd, Int32(IPPROTO_IP), BH_IP_RECVERR, &on, socklen_t(MemoryLayout<Int32>.size))
        guard recvErr == 0 else { return self.toolFailed(attempt, .last("setsockopt(IP_RECVERR)")) }
        guard destination.withSockaddr({ connect(attempt.fd, $0, $1) }) == 0 else {
            return self.sendFailed(attempt, call: "connect")
        }
        let payload = Self.udpPayload(port: port, token: token)
        let sent = payload.withUnsafeBytes { send(attempt.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent >= 0 else { return self.sendFailed(attempt, call: "send") }
        attempt.localPort = SocketAddress.localPort(of: attempt.fd)
        return self.register(attempt, token: token, interest: .readable)
    }

    /// A DNS query for port 53 (so a resolver answers), the marker line elsewhere.
    static func udpPayload(port: Int, token: UInt64) -> [UInt8] {
        if port == 53 {
            var query: [UInt8] = [
                UInt8(truncatingIfNeeded: token >> 8), UInt8(truncatingIfNeeded: token), 0x01, 0x00, 0, 1, 0, 0, 0, 0,
                0, 0,
            ]
            for label in ["bulkhead-probe", "invalid"] {
                query.append(UInt8(label.utf8.count))
                query.append(contentsOf: label.utf8)
            }
            query.append(contentsOf: [0, 0, 1, 0, 1])
            return query
        }
        return Array("\(ProbeEngine.payloadMarker) \(token)\n".utf8)
    }

    func startEcho(_ attempt: inout Attempt, token: UInt64, source: String) -> Bool {
        let v6 = attempt.address.isIPv6
        guard let fd = v6 ? self.contexts[source]?.icmp6 : self.contexts[source]?.icmp4, fd >= 0 else {
            self.record(
                attempt.cell, ProbeAttempt(outcome: .failed, latencyMs: 0),
                note: "no raw ICMP socket in the source namespace (needs CAP_NET_RAW)", final: true)
            return false
        }
        self.echoSequence &+= 1
        let sequence = UInt16(truncatingIfNeeded: self.echoSequence)
        let identifier = self.echoIdentifier &+ UInt16(truncatingIfNeeded: self.echoSequence >> 16)
        var packet: [UInt8] = [
            v6 ? 128 : 8, 0, 0, 0, UInt8(identifier >> 8), UInt8(identifier & 0xff), UInt8(sequence >> 8),
            UInt8(sequence & 0xff),
        ]
        packet.append(contentsOf: "\(ProbeEngine.payloadMarker) \(token)".utf8)
        if !v6 {  // the kernel fills in ICMPv6 checksums itself
            let checksum = Self.internetChecksum(packet)
            packet[2] = UInt8(checksum >> 8)
            packet[3] = UInt8(checksum & 0xff)
        }
        let destination = SocketAddress(attempt.address, port: 0)
        let sent = packet.withUnsafeBytes { bytes in
            destination.withSockaddr { sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), $0, $1) }
        }
        guard sent >= 0 else {
            return self.sendFailed(
                Attempt(
                    cell: attempt.cell, fd: -1, proto: .icmp, address: attempt.address,
                    destinationKey: attempt.destinationKey, started: attempt.started, deadline: attempt.deadline),
                call: "sendto")
        }
        let key = UInt32(identifier) << 16 | UInt32(sequence)
        attempt.echoKey = key
        self.echoes[key] = token
        return true
    }

    static func internetChecksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index + 1 < bytes.count {
            sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { sum += UInt32(bytes[index]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }

    // MARK: - Events

    func handleAttempt(_ token: UInt64, event: PollEvent) {
        guard let attempt = self.attempts[token] else { return }
        let latency = (monotonicNow() - attempt.started) * 1000
        switch attempt.proto {
        case .tcp:
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            // A failed SO_ERROR read leaves `error` 0, which would read as "connected": an error instead.
            guard getsockopt(attempt.fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else {
                let code = errno
                let cell = attempt.cell
                self.end(
                    token, ProbeAttempt(outcome: .failed, latencyMs: latency, errno: ErrnoName.name(code)),
                    note: "getsockopt(SO_ERROR) failed: \(SystemCallError("getsockopt", code: code).message)",
                    final: true)
                self.cells[cell].state = .error
                return
            }
            if error == ECONNRESET || error == EPIPE {
                // Linux reports these on a connecting socket only once the handshake completed: an RST answering the
                // SYN is ECONNREFUSED, and ECONNRESET (EPIPE after the peer's FIN) means a SYN-ACK came, the
                // connection was established, and then something reset it. The path is open and something accepted.
                self.end(token, ProbeAttempt(outcome: .connected, latencyMs: latency, errno: ErrnoName.name(error)))
                return
            }
            if error == 0 {
                // The connection is proven; the marker line is only a courtesy to the server's log, so its result
                // does not matter to the verdict.
                let line = Array("\(ProbeEngine.payloadMarker) \(token)\r\n".utf8)
                _ = line.withUnsafeBytes {
                    send(attempt.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                }
                self.end(token, ProbeAttempt(outcome: .connected, latencyMs: latency))
                return
            }
            // Drain the source's ICMP socket: an iptables REJECT answers a SYN with ICMP, which connect() reports
            // as ECONNREFUSED (port-unreachable) or EHOSTUNREACH just like a real RST or a dead host would.
            let source = self.cells[attempt.cell].source
            if let fd = attempt.address.isIPv6 ? self.contexts[source]?.icmp6 : self.contexts[source]?.icmp4, fd >= 0 {
                self.readICMP(source: source, fd: fd, v6: attempt.address.isIPv6)
            }
            let key = "\(source)|\(attempt.localPort ?? -1)|\(attempt.address)"
            if let icmp = self.tcpICMPErrors.removeValue(forKey: key) {
                self.end(
                    token,
                    ProbeAttempt(
                        outcome: .icmpError, latencyMs: latency, errno: ErrnoName.name(error), icmpType: icmp.type,
                        icmpCode: icmp.code, icmpFrom: icmp.from))
            } else if error == ECONNREFUSED {
                self.end(token, ProbeAttempt(outcome: .refused, latencyMs: latency, errno: ErrnoName.name(error)))
            } else if [EHOSTUNREACH, ENETUNREACH, EACCES, EPERM, EHOSTDOWN].contains(error) {
                self.end(token, ProbeAttempt(outcome: .icmpError, latencyMs: latency, errno: ErrnoName.name(error)))
            } else if error == ETIMEDOUT {
                self.end(token, ProbeAttempt(outcome: .timeout, latencyMs: latency, errno: ErrnoName.name(error)))
            } else {
                // Not a network answer the verdict knows: the attempt proves nothing, and says why.
                self.end(
                    token, ProbeAttempt(outcome: .failed, latencyMs: latency, errno: ErrnoName.name(error)),
                    note:
                        "connect reported \(ErrnoName.name(error)) (\(SystemCallError("connect", code: error).message)): "
                        + "not an answer that proves the path open or blocked")
            }
        case .udp:
            if event.hasError {
                var type: Int32 = 0, code: Int32 = 0, number: Int32 = 0
                var from = [CChar](repeating: 0, count: 64)
                if bh_read_icmp_error(attempt.fd, &type, &code, &number, &from, Int32(from.count)) == 1 {
                    let offender = String(
                        decoding: from.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    let portUnreachable = attempt.address.isIPv6 ? (type == 1 && code == 4) : (type == 3 && code == 3)
                    // A port-unreachable sent by another address is a firewall speaking for the destination.
                    let fromDestination = offender.isEmpty || IPAddress(offender) == attempt.address
                    self.end(
                        token,
                        ProbeAttempt(
                            outcome: portUnreachable && fromDestination ? .portUnreachable : .icmpError,
                            latencyMs: latency,
                            errno: ErrnoName.name(number), icmpType: Int(type), icmpCode: Int(code),
                            icmpFrom: offender.isEmpty ? nil : offender
                        ))
                    return
                }
            }
            var buffer = [UInt8](repeating: 0, count: 2048)
            let received = buffer.withUnsafeMutableBytes {
                recv(attempt.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT))
            }
            if received >= 0 {
                self.end(token, ProbeAttempt(outcome: .connected, latencyMs: latency))
            } else if errno == ECONNREFUSED {
                self.end(token, ProbeAttempt(outcome: .portUnreachable, latencyMs: latency, errno: "ECONNREFUSED"))
            } else if errno != EAGAIN {
                let code = errno
                let answer = [EHOSTUNREACH, ENETUNREACH, EACCES, EPERM].contains(code)
                self.end(
                    token,
                    ProbeAttempt(
                        outcome: answer ? .icmpError : .failed, latencyMs: latency, errno: ErrnoName.name(code)),
                    note: answer
                        ? nil
                        : "recv reported \(ErrnoName.name(code)) (\(SystemCallError("recv", code: code).message)): "
                            + "not an answer that proves the path open or blocked")
            }
        case .icmp:
            break  // echo replies arrive on the raw socket
        }
    }

    func handleControl(_ token: UInt64) {
        switch self.controlHandlers[token] {
        case .icmp(let source, let fd, let v6):
            self.readICMP(source: source, fd: fd, v6: v6)
        case .pidfd(let container, let fd):
            // close() drops the registration anyway; the explicit removal's result changes nothing.
            try? self.poller?.deregister(fd)
            close(fd)
            self.controlHandlers[token] = nil
            self.died(container, how: "its main process exited")
        case nil:
            break
        }
    }

    /// Reads every queued ICMP message of a source's raw socket: echo replies end echo attempts; destination-
    /// unreachable errors quoting one of our packets end echo attempts or are kept for the TCP socket they concern.
    func readICMP(source: String, fd: Int32, v6: Bool) {
        var buffer = [UInt8](repeating: 0, count: 1500)
        var from = sockaddr_storage()
        while true {
            var fromLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let count = buffer.withUnsafeMutableBytes { raw in
                withUnsafeMutableBytes(of: &from) { address in
                    recvfrom(
                        fd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT),
                        address.baseAddress?.assumingMemoryBound(to: sockaddr.self), &fromLength)
                }
            }
            guard count > 0 else {
                let code = errno
                if count < 0 && code != EAGAIN && code != EWOULDBLOCK && code != EINTR
                    && !self.icmpReadFailed.contains(source)
                {
                    // Echo replies and rejections this socket would have carried are lost: said once per source.
                    self.icmpReadFailed.insert(source)
                    self.problems.append(
                        "\(source): reading the raw ICMP\(v6 ? "v6" : "") socket failed (recvfrom: \(ErrnoName.name(code))): ICMP answers may be missing"
                    )
                }
                return
            }
            guard let message = ICMPMessage.parse(buffer.prefix(count), v6: v6) else { continue }
            let sender = Self.address(of: from)
            switch message {
            case .echoReply(let identifier, let sequence):
                let key = UInt32(identifier) << 16 | UInt32(sequence)
                if let token = self.echoes[key], let attempt = self.attempts[token],
                    sender == nil || sender == attempt.address
                {
                    self.end(
                        token, ProbeAttempt(outcome: .connected, latencyMs: (monotonicNow() - attempt.started) * 1000))
                }
            case .unreachable(let type, let code, let quoted):
                let senderText = sender?.description ?? ""
                switch quoted {
                case .echo(let identifier, let sequence, _):
                    let key = UInt32(identifier) << 16 | UInt32(sequence)
                    if let token = self.echoes[key], let attempt = self.attempts[token] {
                        self.end(
                            token,
                            ProbeAttempt(
                                outcome: .icmpError, latencyMs: (monotonicNow() - attempt.started) * 1000,
                                icmpType: type, icmpCode: code, icmpFrom: senderText))
                    }
                case .transport(let proto, let sourcePort, let destination):
                    if proto == 6 {
                        self.tcpICMPErrors["\(source)|\(sourcePort)|\(destination)"] = (type, code, senderText)
                        if self.tcpICMPErrors.count > 100_000 { self.tcpICMPErrors.removeAll() }
                    }
                }
            }
        }
    }

    static func address(of storage: sockaddr_storage) -> IPAddress? {
        withUnsafeBytes(of: storage) { raw -> IPAddress? in
            let family = Int32(raw.load(as: sa_family_t.self))
            if family == AF_INET {
                return IPAddress(ipv4: UInt32(bigEndian: raw.load(fromByteOffset: 4, as: UInt32.self)))
            }
            if family == AF_INET6 {
                return IPAddress(
                    ipv6High: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                    low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
            }
            return nil
        }
    }

    // MARK: - Ending attempts and cells

    func expireTimeouts(now: Double) {
        for proto in ProbeProtocol.allCases {
            guard let queue = self.timeoutQueues[proto] else { continue }
            var head = self.timeoutHeads[proto] ?? 0
            while head < queue.count, queue[head].deadline <= now {
                let token = queue[head].token
                head += 1
                if let attempt = self.attempts[token] {
                    self.end(token, ProbeAttempt(outcome: .timeout, latencyMs: (now - attempt.started) * 1000))
                }
            }
            self.timeoutHeads[proto] = head
            if head > 4096, head * 2 > queue.count {
                self.timeoutQueues[proto]?.removeFirst(head)
                self.timeoutHeads[proto] = 0
            }
        }
    }

    func end(_ token: UInt64, _ result: ProbeAttempt, note: String? = nil, final: Bool = false) {
        guard let attempt = self.attempts.removeValue(forKey: token) else { return }
        if attempt.fd >= 0 { close(attempt.fd) }
        if let key = attempt.echoKey { self.echoes[key] = nil }
        self.release(attempt.destinationKey)
        self.record(attempt.cell, result, note: note, final: final)
    }

    /// Adds an attempt to a cell, and decides the cell or queues a retry.
    func record(_ index: Int, _ result: ProbeAttempt, note: String?, final: Bool = false) {
        guard !self.decided[index] else { return }
        var result = result
        // Microseconds are the clock's honest resolution here.
        result.latencyMs = (result.latencyMs * 1000).rounded() / 1000
        self.evidence[index].append(result)
        if let note { self.cells[index].note = note }
        // A namespace that ceased to exist since the last periodic check: no answer of this attempt counts.
        for name in [self.cells[index].source, self.cells[index].destinationName] {
            if let watch = self.namespaceWatches[name], self.deaths[name] == nil, !watch.isAlive() {
                self.died(name, how: "ceased to exist")
            }
        }
        guard !self.decided[index] else { return }
        // A refusal from a port the inventory showed listening: a closed port, or a rule answering for a listener.
        if self.listenerJudged[index] == nil, self.refusalNeedsListener(index, result.outcome) {
            switch self.listenerEvidence(index) {
            case .listening(let why): self.listenerJudged[index] = (true, why)
            case .gone(let why): self.listenerJudged[index] = (false, why)
            case .undecidable(let why):
                self.cells[index].state = .error
                self.cells[index].note = why
                self.decide(index)
                return
            }
        }
        let rejections = self.listenerJudged[index]?.listening == true
        let conclusive =
            result.outcome == .connected
            || (!rejections && (result.outcome == .refused || result.outcome == .portUnreachable))
        if final || conclusive || self.evidence[index].count >= self.options.attempts {
            var state = CellVerdict.state(
                for: self.evidence[index], protocol: self.cells[index].protocol, refusalsAreRejections: rejections)
            // Silence or a host-unreachable proves a filter only if the probes left the source.
            if state.isBlocked || state == .unknown, let unanswered = self.unansweredNextHop(index) {
                state = .error
                self.cells[index].note = unanswered
            } else if state != .error, let judged = self.listenerJudged[index] {
                self.cells[index].note = judged.note
            } else if state != .error && note == nil {
                self.cells[index].note = nil
            }
            self.cells[index].state = state
            self.decide(index)
        } else {
            self.retries.append(index)
        }
    }

    /// Why a cell that met silence or an ICMP error proves nothing, when the source's kernel never reached the next
    /// hop at the link layer (its neighbour entry INCOMPLETE or FAILED: the probes were queued and dropped in the
    /// source itself); nil when the next hop answered, or needs no resolution. Read in the source's namespace.
    func unansweredNextHop(_ index: Int) -> String? {
        let cell = self.cells[index]
        guard let address = IPAddress(cell.address) else { return nil }
        guard self.enter(cell.source) else {
            return "no verdict: \(cell.source)'s namespace cannot be entered again to read its neighbour table "
                + "(\(SystemCallError.last("setns"))), so a down or absent destination cannot be told from a filter"
        }
        let hop: NextHop
        switch NextHop.lookUp(address) {
        case .success(let found?): hop = found
        case .success(nil): return nil
        case .failure(let error):
            // Without the table, a host that is down cannot be told from a filter: no verdict either way.
            return "no verdict: \(cell.source)'s route and neighbour table could not be read (\(error)), so a down "
                + "or absent destination cannot be told from a filter"
        }
        guard hop.neighbour == .incomplete || hop.neighbour == .failed else { return nil }
        if self.unansweredHops.insert("\(cell.source)|\(hop.hop)").inserted {
            self.problems.append(
                "\(cell.source): \(hop.hop) did not answer at the link layer (\(address.isIPv6 ? "neighbour discovery" : "ARP")): "
                    + "its cells are errors, not blocked (\(hop.viaGateway ? "a router" : "a destination") down or absent)"
            )
        }
        let state = hop.neighbour == .failed ? "FAILED" : "INCOMPLETE"
        let requests = address.isIPv6 ? "neighbour solicitations" : "ARP requests"
        let what = hop.viaGateway ? "its router \(hop.hop) (the gateway to \(address))" : "\(address)"
        // The kernel reports its own failed lookup as an ICMP host-unreachable from the source's own address.
        let own = self.evidence[index].compactMap { $0.icmpFrom.flatMap(IPAddress.init) }.first {
            NextHop.isLocal($0)
        }
        let ownText =
            own.map {
                "; the ICMP host-unreachable came from \(cell.source)'s own address \($0) (its own failed lookup)"
            }
            ?? ""
        return "no answer at the link layer: \(cell.source)'s neighbour entry for \(what) is \(state) (\(requests) "
            + "unanswered), so the probes never left the source: \(hop.viaGateway ? "the router" : "the destination") "
            + "is down or absent (or its link-layer answers are filtered)\(ownText); not proof of a filter"
    }

    func decide(_ index: Int) {
        guard !self.decided[index] else { return }
        self.decided[index] = true
        self.decidedCount += 1
        self.cells[index].attempts = self.evidence[index].count
        self.cells[index].evidence = self.evidence[index]
        self.cells[index].latencyMs = CellVerdict.latency(of: self.evidence[index])
    }

    /// A source or destination is gone (a container's main process exited, a plain namespace ceased to exist): its
    /// unfinished cells become errors, each keeping the attempts it made, the one in flight included.
    func died(_ name: String, how: String) {
        let now = monotonicNow()
        let at = now - self.startTime
        self.deaths[name] = at
        let kind = self.plan.namespaces[name] != nil ? "network namespace" : "container"
        self.problems.append(
            "\(kind) \(name): \(how) \(String(format: "%.1f", at)) s into the probe; its unfinished cells are errors")
        for (token, attempt) in self.attempts {
            let cell = self.cells[attempt.cell]
            guard cell.source == name || cell.destinationName == name else { continue }
            self.attempts[token] = nil
            if attempt.fd >= 0 { close(attempt.fd) }
            if let key = attempt.echoKey { self.echoes[key] = nil }
            self.release(attempt.destinationKey)
            // Sent, and not answered before the end: kept as evidence of what was tried, proving nothing.
            self.evidence[attempt.cell].append(
                ProbeAttempt(outcome: .failed, latencyMs: ((now - attempt.started) * 1_000_000).rounded() / 1000))
        }
        for index in self.cells.indices where !self.decided[index] {
            let cell = self.cells[index]
            if cell.source == name || cell.destinationName == name {
                self.markDead(index, died: name, at: at, isSource: cell.source == name)
            }
        }
        if var context = self.contexts[name] {
            context.dead = true
            self.contexts[name] = context
        }
    }

    func markDead(_ index: Int, died name: String, at: Double, isSource: Bool) {
        let role = isSource ? "source" : "destination"
        let what =
            self.plan.namespaces[name] != nil
            ? "\(role) network namespace \(name) ceased to exist (deleted, no process left in it)"
            : "\(role) container \(name) exited"
        self.cells[index].state = .error
        self.cells[index].note =
            "\(what) during the probe (\(String(format: "%.1f", at)) s in): not probed to the end"
        self.decide(index)
    }

    func cleanUp() {
        for attempt in self.attempts.values where attempt.fd >= 0 { close(attempt.fd) }
        self.attempts.removeAll()
        for handler in self.controlHandlers.values {
            switch handler {
            case .icmp(_, let fd, _), .pidfd(_, let fd): close(fd)
            }
        }
        self.contexts.removeAll()  // closes the namespaces
    }

    func finish() -> ProbeRunResult {
        for index in self.cells.indices where !self.decided[index] {
            self.cells[index].state = .error
            self.decide(index)
        }
        return ProbeRunResult(
            cells: self.cells, sources: self.sources, problems: self.problems, attemptsSent: self.attemptsSent,
            durationSeconds: monotonicNow() - self.startTime
        )
    }
}
