import BulkheadModel
import CBulkheadOpenSSL
import Certificates
import Foundation
import NetworkNamespaces

#if canImport(Glibc)
    import Glibc
#endif

/// Options of a battery run.
public struct TLSBatteryOptions: Sendable {
    /// Per-connection deadline and the post-handshake read wait.
    public var timeouts: TLSTimeouts
    /// Thresholds of the certificate lint (expiry horizon, maximum leaf validity).
    public var lint: CertificateLint.Options
    /// Offer each protocol version alone (TLS 1.0 … 1.3).
    public var probeVersions: Bool
    /// Offer each weak cipher category alone.
    public var probeCiphers: Bool
    /// Connections in flight towards one endpoint (a single-threaded server handles one at a time anyway).
    public var connectionsPerEndpoint: Int
    /// Connections in flight in total.
    public var connections: Int
    /// Connections per forged certificate: one acceptance in any attempt is an acceptance (a server that accepts
    /// sometimes is caught).
    public var attempts: Int
    /// The least forged-certificate connections per endpoint: with fewer forgeries (no CA key), each is tried more
    /// often. 20 catches a server that accepts one connection in three with probability 1 - (2/3)^20 > 99.9%.
    public var minimumForgedConnections: Int
    /// The protocol spoken after the handshake (nil: chosen from the port, the ALPN choice and the greeting).
    public var applicationProtocol: AppProbeProtocol?
    /// The cleartext upgrade before every handshake (nil: from the port, or the greeting).
    public var startTLS: StartTLSProtocol?
    /// Event loops (threads) the endpoints are dealt to; default: the number of cores, at most 4.
    public var threads: Int

    public init(
        timeouts: TLSTimeouts = TLSTimeouts(), lint: CertificateLint.Options = CertificateLint.Options(),
        probeVersions: Bool = true,
        probeCiphers: Bool = true, connectionsPerEndpoint: Int = 8, connections: Int = 256, attempts: Int = 5,
        minimumForgedConnections: Int = 20, applicationProtocol: AppProbeProtocol? = nil,
        startTLS: StartTLSProtocol? = nil
    ) {
        self.threads = max(1, min(4, ProcessInfo.processInfo.activeProcessorCount))
        self.attempts = max(1, attempts)
        self.minimumForgedConnections = max(0, minimumForgedConnections)
        self.applicationProtocol = applicationProtocol
        self.startTLS = startTLS
        self.timeouts = timeouts
        self.lint = lint
        self.probeVersions = probeVersions
        self.probeCiphers = probeCiphers
        self.connectionsPerEndpoint = connectionsPerEndpoint
        self.connections = connections
    }
}

/// The active mTLS battery (issue 6): per endpoint a plaintext probe, TLS without a client certificate, the
/// forged client certificates, the user's identities, each protocol version and weak cipher category alone,
/// and the server chain checked against the trust bundle — every connection of every endpoint driven
/// concurrently by one ``ConnectionLoop`` on the calling thread.
public enum ProbeBattery {
    /// Runs the battery on every target and returns the report.
    ///
    /// Blocks the calling thread until every probe has finished (each is bounded by ``TLSTimeouts``): call it from
    /// a plain thread, not from a Swift concurrency task that must not block. All connections are driven from this
    /// thread; sockets of container sources are made on short-lived threads inside their namespaces.
    ///
    /// - Throws: ``TLSProbeError`` before any traffic when a file named by the expectations cannot be used (the error
    ///   names it). Unreachable endpoints are not errors, nor are endpoints outside the operator's fence
    ///   (``AddressLimit``, never connected to): both are reported with an untested verdict and the reason.
    public static func run(_ targets: [TLSTarget], options: TLSBatteryOptions = TLSBatteryOptions())
        throws(TLSProbeError) -> TLSReport
    {
        let started = ConnectionLoop.monotonic()
        var materials = Materials()
        var states: [EndpointState] = []
        // The operator's fence, before any packet: an endpoint outside it gets no connection, and is reported as
        // untested with the reason rather than left out.
        let insideFence = targets.map { TLSScope.permits($0.endpoint) }
        for (target, inside) in zip(targets, insideFence) where inside {
            do {
                states.append(
                    EndpointState(
                        target: target, material: try materials.prepare(target.expectations), options: options))
            } catch let error as TLSFileError {
                throw TLSProbeError(.unusableFile, path: error.path, message: error.message)
            } catch {
                throw TLSProbeError(.forgery, path: target.endpoint.description, message: "\(error)")
            }
        }
        // The handshakes are CPU-bound (OpenSSL 3 spends most of a connection fetching algorithms): endpoints are
        // dealt round-robin to one event loop per core. An endpoint's probes all stay on one loop (its state is
        // not shared), and every thread is joined before the verdicts are read.
        let laneCount = max(1, min(options.threads, states.count))
        let lanes = (0..<laneCount).map { index in
            Lane(states: states.enumerated().filter { $0.offset % laneCount == index }.map(\.element))
        }
        let perLane = max(1, options.connections / laneCount)
        let finished = DispatchGroup()
        for lane in lanes {
            finished.enter()
            let thread = Thread {
                lane.run(options: options, maximumConnections: perLane)
                finished.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        finished.wait()
        let now = Timestamp(seconds: Int64(time(nil)), nanoseconds: 0)
        var probed = states.makeIterator()
        let reports = zip(targets, insideFence).map { target, inside in
            guard inside, let state = probed.next() else { return Verdicts.outsideFence(target) }
            return Verdicts.report(for: state, at: now, lint: options.lint)
        }
        return TLSReport(endpoints: reports, durationSeconds: ConnectionLoop.monotonic() - started)
    }

    /// The endpoints one event loop drives, on its own thread.
    final class Lane: @unchecked Sendable {
        let states: [EndpointState]

        init(states: [EndpointState]) {
            self.states = states
        }

        func run(options: TLSBatteryOptions, maximumConnections: Int) {
            let loop = ConnectionLoop(
                timeouts: options.timeouts, maximumConnections: maximumConnections,
                maximumPerEndpoint: max(1, options.connectionsPerEndpoint))
            var sources: [TLSSource: any SocketSource] = [:]
            for state in self.states {
                let source: any SocketSource
                if let existing = sources[state.target.source] {
                    source = existing
                } else {
                    switch state.target.source {
                    case .host: source = HostSocketSource()
                    case .container(_, let namespace): source = NamespaceSocketSource(namespace: namespace)
                    }
                    sources[state.target.source] = source
                }
                ProbeBattery.submitFirstPhase(state, loop: loop, source: source, options: options)
            }
            loop.run()
            for source in sources.values { source.close() }
        }
    }

    /// Phase one: the plaintext probe, the controls (no certificate, the user's identities), the protocol versions
    /// and the weak cipher categories. The forged certificates follow once the server is known to ask for a
    /// certificate.
    static func submitFirstPhase(
        _ state: EndpointState, loop: ConnectionLoop, source: any SocketSource, options: TLSBatteryOptions
    ) {
        let base = state.settings()
        // Cipher categories are TLS ≤ 1.2 suites: with the version probes on, they wait for them and are not offered
        // to a server that accepts no version below 1.3 (they could only fail, at the price of a handshake each).
        var legacyPending = options.probeVersions ? 2 : 0
        var legacyAccepted = !options.probeVersions
        let legacyJudged: (Bool) -> Void = { accepted in
            legacyAccepted = legacyAccepted || accepted
            legacyPending -= 1
            guard legacyPending == 0, options.probeCiphers else { return }
            if legacyAccepted {
                Self.submitCiphers(WeakCiphers.categories, state, loop: loop, source: source)
            } else {
                for category in WeakCiphers.categories {
                    state.skip(
                        .cipher, category.name,
                        "the server accepts no protocol version below TLS 1.3: no TLS ≤ 1.2 suite can be negotiated")
                }
            }
        }
        state.submit(state.plan(tls: nil), on: loop, from: source) { outcome in
            state.add(.plaintext, Verdicts.plaintext(outcome))
            state.plaintextOutcome = outcome
            Self.afterControls(state, loop: loop, source: source, options: options)
        }
        state.submit(state.plan(tls: base), on: loop, from: source) { outcome in
            state.add(.noClientCertificate, Verdicts.attempt(outcome))
            let generation = state.generation
            Self.afterControls(state, loop: loop, source: source, options: options)
            // After a restart over STARTTLS, the new first phase probes the versions.
            if options.probeVersions, state.generation == generation {
                Self.submitModernVersions(after: outcome, state, loop: loop, source: source, judged: legacyJudged)
            }
        }
        for (kind, identity) in [
            (TLSProbeKind.clientCertificate, state.material.client), (.otherIdentity, state.material.other),
        ] {
            guard let identity else {
                state.skip(
                    kind, nil,
                    kind == .clientCertificate
                        ? "no client certificate supplied (--client-cert/--client-key)"
                        : "no other identity supplied (--other-cert/--other-key)")
                continue
            }
            var settings = base
            settings.identity = identity
            state.submit(state.plan(tls: settings), on: loop, from: source) { outcome in
                state.add(kind, Verdicts.attempt(outcome))
                if kind == .clientCertificate { Self.recheckControls(state, loop: loop, source: source) }
            }
        }
        if options.probeVersions {
            // TLS 1.0 and 1.1 are offered together first: most servers refuse both, and one refusal of the range
            // proves it (a server picks the highest version it supports within what is offered).
            Self.submitVersions(
                [("TLSv1", TLS1_VERSION), ("TLSv1.1", TLS1_1_VERSION)], state, loop: loop, source: source,
                judged: legacyJudged)
        } else if options.probeCiphers {
            Self.submitCiphers(WeakCiphers.categories, state, loop: loop, source: source)
        }
    }

    /// TLS 1.2 and 1.3, once the no-certificate probe is in. That probe offered TLS 1.0 to 1.3, and the version
    /// it negotiated is the highest the server supports: it is accepted without a connection of its own, and when
    /// it is TLS 1.2, TLS 1.3 is refused (RFC 8446 §4.2.1: a server that supports 1.3 must choose it when offered).
    /// Without a ServerHello there, each version gets its own connection. `judged` hears about TLS 1.2 once.
    private static func submitModernVersions(
        after noCertificate: ConnectionOutcome, _ state: EndpointState, loop: ConnectionLoop, source: any SocketSource,
        judged: @escaping (Bool) -> Void
    ) {
        var negotiated = Verdicts.negotiation(noCertificate)
        // What happened after the ServerHello (a refusal of the missing certificate) is the no-certificate probe's
        // record; this one is about the version.
        // Its alert too (116 certificate_required, shown on a version row, read as the version's refusal).
        if negotiated.result == .accepted {
            negotiated.detail = nil
            negotiated.outcome.alertReceived = nil
        }
        let together = "negotiated by the no-certificate probe (TLSv1–TLSv1.3 offered)"
        switch (negotiated.result, noCertificate.tlsVersion) {
        case (.accepted, "TLSv1.3"):
            state.addVariant(.protocolVersion, "TLSv1.3", negotiated, together: together, countsConnection: false)
            Self.submitVersions([("TLSv1.2", TLS1_2_VERSION)], state, loop: loop, source: source, judged: judged)
        case (.accepted, "TLSv1.2"):
            state.addVariant(.protocolVersion, "TLSv1.2", negotiated, together: together, countsConnection: false)
            var refused = negotiated
            refused.result = .rejected
            refused.detail = "not chosen: the server chose TLSv1.2, so it does not support TLSv1.3"
            state.addVariant(.protocolVersion, "TLSv1.3", refused, together: together, countsConnection: false)
            judged(true)
        default:
            Self.submitVersions([("TLSv1.2", TLS1_2_VERSION)], state, loop: loop, source: source, judged: judged)
            Self.submitVersions([("TLSv1.3", TLS1_3_VERSION)], state, loop: loop, source: source) { _ in }
        }
    }

    /// Offers the contiguous protocol versions `range` (lowest first) in one connection and judges each of them.
    ///
    /// A refusal of the range refuses every version in it; the version the server chose is accepted, and the
    /// versions above it are refused, since a server picks the highest version it supports among those offered
    /// (RFC 8446 §4.2.1, RFC 5246 appendix E). Versions below the chosen one are offered again, each alone.
    /// Anything else (a timeout, an error, a version outside the range) offers each version alone. `judged` is
    /// called once, with whether any version of the range was accepted.
    private static func submitVersions(
        _ range: [(name: String, version: Int32)], _ state: EndpointState, loop: ConnectionLoop,
        source: any SocketSource,
        judged: @escaping (Bool) -> Void
    ) {
        guard let lowest = range.first, let highest = range.last else { return judged(false) }
        var settings = state.settings()
        settings.minimumVersion = lowest.version
        settings.maximumVersion = highest.version
        state.submit(state.plan(tls: settings, handshakeOnly: true), on: loop, from: source) { outcome in
            let attempt = Verdicts.negotiation(outcome)
            guard range.count > 1 else {
                state.addVariant(.protocolVersion, lowest.name, attempt)
                return judged(attempt.result == .accepted)
            }
            let together = "\(lowest.name)–\(highest.name) offered together"
            let chosen = range.firstIndex { $0.name == outcome.tlsVersion }
            switch (attempt.result, chosen) {
            case (.rejected, _):
                for (index, entry) in range.enumerated() {
                    state.addVariant(
                        .protocolVersion, entry.name, attempt, together: together, countsConnection: index == 0)
                }
                judged(false)
            case (.accepted, .some(let chosen)):
                state.addVariant(.protocolVersion, range[chosen].name, attempt, together: together)
                var refused = attempt
                refused.result = .rejected
                refused.detail = "not chosen: the server chose \(range[chosen].name), the highest version it supports"
                for entry in range[(chosen + 1)...] {
                    state.addVariant(.protocolVersion, entry.name, refused, together: together, countsConnection: false)
                }
                Self.submitEach(Array(range[..<chosen]), state, loop: loop, source: source) { _ in judged(true) }
            default:
                Self.submitEach(range, state, loop: loop, source: source, judged: judged)
            }
        }
    }

    /// Offers each version alone; `judged` is called once all are in, with whether any was accepted.
    private static func submitEach(
        _ versions: [(name: String, version: Int32)], _ state: EndpointState, loop: ConnectionLoop,
        source: any SocketSource,
        judged: @escaping (Bool) -> Void
    ) {
        guard !versions.isEmpty else { return judged(false) }
        var pending = versions.count
        var accepted = false
        for version in versions {
            Self.submitVersions([version], state, loop: loop, source: source) { one in
                accepted = accepted || one
                pending -= 1
                if pending == 0 { judged(accepted) }
            }
        }
    }

    /// Offers every weak cipher category of `categories` together (TLS ≤ 1.2), as group testing: a refusal refuses
    /// every category offered (no suite of any of them is acceptable); an accepted suite accepts each category that
    /// holds it, and the others are offered again without them, until the server refuses. A server that accepts no
    /// weak suite costs one connection instead of one per category. Anything ambiguous (a timeout, an error, a suite
    /// of no category offered) offers each remaining category alone.
    private static func submitCiphers(
        _ categories: [WeakCiphers.Category], _ state: EndpointState, loop: ConnectionLoop, source: any SocketSource
    ) {
        var offered: [WeakCiphers.Category] = []
        for category in categories {
            if WeakCiphers.suites[category.name] == nil {
                state.skip(
                    .cipher, category.name, "this OpenSSL build cannot offer \(category.name) suites (not compiled in)")
            } else {
                offered.append(category)
            }
        }
        guard !offered.isEmpty else { return }
        var settings = state.settings()
        settings.maximumVersion = TLS1_2_VERSION
        settings.cipherList = WeakCiphers.cipherList(offering: offered)
        state.submit(state.plan(tls: settings, handshakeOnly: true), on: loop, from: source) { outcome in
            let attempt = Verdicts.negotiation(outcome)
            let together = offered.count > 1 ? offered.map(\.name).joined(separator: ", ") + " offered together" : nil
            let holding = offered.filter { category in
                outcome.cipher.map { WeakCiphers.suites[category.name]?.contains($0) ?? false } ?? false
            }
            switch attempt.result {
            case .rejected:
                for (index, category) in offered.enumerated() {
                    state.addVariant(.cipher, category.name, attempt, together: together, countsConnection: index == 0)
                }
            case .accepted where !holding.isEmpty:
                for (index, category) in holding.enumerated() {
                    state.addVariant(.cipher, category.name, attempt, together: together, countsConnection: index == 0)
                }
                let rest = offered.filter { category in !holding.contains { $0.name == category.name } }
                if !rest.isEmpty { Self.submitCiphers(rest, state, loop: loop, source: source) }
            default:
                guard offered.count > 1 else { return state.addVariant(.cipher, offered[0].name, attempt) }
                for category in offered { Self.submitCiphers([category], state, loop: loop, source: source) }
            }
        }
    }

    /// Once the plaintext probe and the no-certificate probe are both in: a server that greets in clear with a
    /// STARTTLS protocol on a port with no known upgrade gets the whole battery again over that upgrade; a server
    /// that asks for a certificate gets the forged ones.
    private static func afterControls(
        _ state: EndpointState, loop: ConnectionLoop, source: any SocketSource, options: TLSBatteryOptions
    ) {
        guard let noCert = state.outcomes[.noClientCertificate], let plaintext = state.plaintextOutcome else { return }
        if !noCert.serverHelloSeen, state.startTLS == nil, !state.upgraded,
            let upgrade = StartTLSProtocol.fromGreeting(plaintext.clearBytes)
        {
            state.restart(startTLS: upgrade)
            Self.submitFirstPhase(state, loop: loop, source: source, options: options)
            return
        }
        Self.submitForged(state, after: noCert, loop: loop, source: source, options: options)
    }

    /// The forged-certificate probes, once the server is known to ask for a certificate, each tried several times.
    private static func submitForged(
        _ state: EndpointState, after outcome: ConnectionOutcome, loop: ConnectionLoop, source: any SocketSource,
        options: TLSBatteryOptions
    ) {
        let forged = state.material.forged
        let probes: [(TLSProbeKind, ClientIdentity?)] = [
            (.rogueCA, forged.rogueCA), (.selfSigned, forged.selfSigned), (.expired, forged.expired),
            (.serverAuthOnly, forged.serverAuthOnly),
        ]
        guard outcome.certificateRequestSeen else {
            let reason =
                outcome.serverHelloSeen
                ? "the server did not request a client certificate" : "no TLS handshake with this endpoint"
            for (kind, _) in probes { state.skip(kind, nil, reason) }
            return
        }
        let available = probes.filter { $0.1 != nil }.count
        state.forgedStarted = available > 0
        let attempts = max(
            options.attempts, available == 0 ? 0 : (options.minimumForgedConnections + available - 1) / available)
        let base = state.settings()
        for (kind, identity) in probes {
            guard let identity else {
                state.skip(kind, nil, "skipped: needs the CA key (--ca-key) to issue a certificate from the right CA")
                continue
            }
            var settings = base
            settings.identity = identity
            Self.submitAttempt(kind, settings: settings, remaining: attempts, state: state, loop: loop, source: source)
        }
    }

    /// The first attempt of a forged certificate alone, then the rest together: a served first attempt already
    /// proves acceptance, so a server that accepts anything costs one connection per forgery; every other outcome
    /// needs every attempt (made concurrently, so refusals cost two round trips, not one per attempt).
    private static func submitAttempt(
        _ kind: TLSProbeKind, settings: TLSSettings, remaining: Int, state: EndpointState, loop: ConnectionLoop,
        source: any SocketSource
    ) {
        guard remaining > 0 else { return }
        state.forgedPending += 1
        state.submit(state.plan(tls: settings), on: loop, from: source) { outcome in
            let attempt = Verdicts.attempt(outcome)
            state.add(kind, attempt)
            if attempt.evidence != .served {
                for _ in 1..<remaining {
                    state.forgedPending += 1
                    state.submit(state.plan(tls: settings), on: loop, from: source) { outcome in
                        state.add(kind, Verdicts.attempt(outcome))
                        Self.forgedAttemptDone(state, loop: loop, source: source)
                    }
                }
            }
            Self.forgedAttemptDone(state, loop: loop, source: source)
        }
    }

    /// One forged connection is in: once all are, the controls are tried again (``recheckControls``).
    private static func forgedAttemptDone(_ state: EndpointState, loop: ConnectionLoop, source: any SocketSource) {
        state.forgedPending -= 1
        Self.recheckControls(state, loop: loop, source: source)
    }

    /// Once every forged attempt is in (and the user's certificate's first one), the controls once more: the user's
    /// certificate, and no certificate. A forged connection refused "by comparison" with a served control proves a
    /// refusal only if that control is still served after the forgeries: a rate limit, a connection cap or a server
    /// that stopped would refuse whatever came later just the same. The attempts join their probes;
    /// ``Verdicts/Controls`` wants every one of them served. Called when a forged attempt or the first attempt of the
    /// user's certificate completes, whichever is last.
    private static func recheckControls(_ state: EndpointState, loop: ConnectionLoop, source: any SocketSource) {
        let validIn = state.material.client == nil || state.attempts[.clientCertificate] != nil
        guard state.forgedStarted, state.forgedPending == 0, validIn, !state.controlsRechecked else { return }
        state.controlsRechecked = true
        var controls: [(TLSProbeKind, ClientIdentity?)] = [(.noClientCertificate, nil)]
        if let client = state.material.client { controls.append((.clientCertificate, client)) }
        for (kind, identity) in controls
        where state.attempts[kind]?.contains(where: { $0.evidence == .served }) == true {
            var settings = state.settings()
            settings.identity = identity
            state.submit(state.plan(tls: settings), on: loop, from: source) { outcome in
                var attempt = Verdicts.attempt(outcome)
                attempt.detail = "after the forged certificates: \(attempt.detail ?? attempt.result.rawValue)"
                state.add(kind, attempt)
            }
        }
    }
}

/// The weak cipher categories offered one by one (TLS ≤ 1.2, security level 0).
enum WeakCiphers {
    struct Category {
        var name: String
        var severity: Severity
        var list: String
    }

    static let categories: [Category] = [
        Category(name: "NULL", severity: .high, list: "eNULL:@SECLEVEL=0"),
        Category(name: "anonymous", severity: .high, list: "aNULL:!eNULL:@SECLEVEL=0"),
        Category(name: "export", severity: .high, list: "EXP:@SECLEVEL=0"),
        Category(name: "RC4", severity: .high, list: "RC4:@SECLEVEL=0"),
        Category(name: "3DES", severity: .medium, list: "3DES:@SECLEVEL=0"),
        Category(name: "static-RSA", severity: .medium, list: "kRSA:!aNULL:!eNULL:@SECLEVEL=0"),
        Category(name: "CBC", severity: .low, list: ""),
    ]

    static func severity(_ name: String) -> Severity {
        Self.categories.first { $0.name == name }?.severity ?? .low
    }

    /// The TLS ≤ 1.2 suites (OpenSSL names, in OpenSSL's order) of every category this OpenSSL can offer; a
    /// category it cannot offer is absent. CBC is the forward-secret, authenticated CBC suites (OpenSSL has no CBC
    /// keyword). Categories may share suites (a static-RSA 3DES suite is in both): an accepted suite accepts each
    /// category that holds it.
    static let suites: [String: [String]] = {
        var result: [String: [String]] = [:]
        guard let context = SSL_CTX_new(TLS_client_method()) else { return result }
        defer { SSL_CTX_free(context) }
        SSL_CTX_set_security_level(context, 0)
        let cbc = "ALL:!aNULL:!eNULL:!kRSA:!RC4:!3DES:!PSK:!SRP:@SECLEVEL=0"
        for category in Self.categories {
            guard SSL_CTX_set_cipher_list(context, category.list.isEmpty ? cbc : category.list) == 1,
                let ssl = SSL_new(context)
            else { continue }
            defer { SSL_free(ssl) }
            var names: [String] = []
            if let ciphers = SSL_get_ciphers(ssl) {
                for index in 0..<max(0, bh_sk_num(UnsafeRawPointer(ciphers))) {
                    guard let raw = OPENSSL_sk_value(ciphers, Int32(index)) else { continue }
                    let cipher = OpaquePointer(raw)
                    // The list also holds the TLS 1.3 suites, which are no category's.
                    guard let version = SSL_CIPHER_get_version(cipher), String(cString: version) != "TLSv1.3",
                        category.name != "CBC"
                            || (SSL_CIPHER_is_aead(cipher) == 0 && SSL_CIPHER_get_cipher_nid(cipher) != NID_undef),
                        let name = SSL_CIPHER_get_name(cipher)
                    else { continue }
                    names.append(String(cString: name))
                }
            }
            if !names.isEmpty { result[category.name] = names }
        }
        ERR_clear_error()
        return result
    }()

    /// An OpenSSL cipher list offering every suite of `categories` (each suite once, at security level 0).
    static func cipherList(offering categories: [Category]) -> String {
        var seen = Set<String>()
        let names = categories.flatMap { Self.suites[$0.name] ?? [] }.filter { seen.insert($0).inserted }
        return names.joined(separator: ":") + ":@SECLEVEL=0"
    }
}

/// Sockets made inside a container's network namespace, in batches (one namespace thread per batch, see
/// ARCHITECTURE.md, "Namespaces"), handed to the loop as it needs them.
final class NamespaceSocketSource: SocketSource {
    private let namespace: NetworkNamespace
    private var spare: [Int32] = []

    init(namespace: NetworkNamespace) {
        self.namespace = namespace
    }

    func makeSocket() throws -> Int32 {
        if self.spare.isEmpty {
            self.spare = try self.namespace.run {
                var sockets: [Int32] = []
                for _ in 0..<32 {
                    let fd = socket(
                        AF_INET,
                        Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                    if fd >= 0 { sockets.append(fd) }
                }
                return sockets
            }
            guard !self.spare.isEmpty else {
                throw TLSProbeError(
                    .socket, path: self.namespace.path, message: "cannot create sockets in this namespace")
            }
        }
        return self.spare.removeLast()
    }

    func close() {
        for fd in self.spare { Glibc.close(fd) }
        self.spare = []
    }
}

/// Files and forged certificates for one set of expectations, loaded once per run.
struct Material {
    var anchors: [X509Certificate]
    var client: ClientIdentity?
    var other: ClientIdentity?
    var clientSummary: CertificateSummary?
    var forged: ClientCertificateForge.Forged
}

/// Loads each distinct expectation set once.
struct Materials {
    private var cache: [TLSExpectations: Material] = [:]

    mutating func prepare(_ expectations: TLSExpectations) throws -> Material {
        if let material = self.cache[expectations] { return material }
        var anchors: [X509Certificate] = []
        for path in expectations.trustBundles { anchors += try OpenSSL.loadCertificates(path: path) }
        let client = try expectations.clientIdentity.map { files throws(TLSFileError) in try ClientIdentity.load(files)
        }
        let other = try expectations.otherIdentity.map { files throws(TLSFileError) in try ClientIdentity.load(files) }
        var issuer: (certificate: X509Certificate, key: PrivateKey)?
        if let keyPath = expectations.caKey {
            let key = try OpenSSL.loadPrivateKey(path: keyPath)
            guard let certificate = anchors.first(where: { X509_check_private_key($0.pointer, key.pointer) == 1 })
            else {
                ERR_clear_error()
                throw TLSFileError(
                    .keyMismatch, path: keyPath,
                    message: "this key belongs to no certificate of the trust bundle (--ca-bundle)")
            }
            ERR_clear_error()
            issuer = (certificate, key)
        }
        let clientSummary = client?.chain.first?.summary()
        let forged = try ClientCertificateForge.forge(
            identity: .of(client?.chain.first), issuer: issuer,
            issuerChain: issuer.map { Self.chain(from: $0.certificate, in: anchors) } ?? [])
        let material = Material(
            anchors: anchors, client: client, other: other, clientSummary: clientSummary, forged: forged)
        self.cache[expectations] = material
        return material
    }
}

extension Materials {
    /// `certificate` and its issuers found in `anchors`, up to and without the self-signed root: what a client of an
    /// intermediate CA sends after its leaf. Empty when `certificate` is a root itself.
    static func chain(from certificate: X509Certificate, in anchors: [X509Certificate]) -> [X509Certificate] {
        var chain: [X509Certificate] = []
        var current = certificate
        // Eight links at most: no real chain is longer, and a bundle whose names loop must not loop here.
        for _ in 0..<8 {
            guard X509_check_issued(current.pointer, current.pointer) != X509_V_OK else { break }
            chain.append(current)
            guard let parent = anchors.first(where: { X509_check_issued($0.pointer, current.pointer) == X509_V_OK })
            else { break }
            current = parent
        }
        ERR_clear_error()
        return chain
    }
}

/// What the probes of one endpoint found so far (written by the loop's completions, on its thread).
final class EndpointState {
    let target: TLSTarget
    let material: Material
    /// The protocol spoken after the handshake and the cleartext upgrade before it.
    private(set) var application: AppProbeProtocol
    private(set) var startTLS: StartTLSProtocol?
    /// Whether the battery restarted over a STARTTLS upgrade it recognised from the greeting.
    private(set) var upgraded = false
    /// How many times the battery restarted: completions of connections made before a restart are dropped.
    private(set) var generation = 0
    let context: ApplicationProbes.Context
    /// Probes with a variant (versions, ciphers) and skipped probes, as records.
    var records: [TLSProbeRecord] = []
    /// Every attempt of every probe without a variant, judged together at the end.
    var attempts: [TLSProbeKind: [Attempt]] = [:]
    /// Whether forged certificates were submitted, and how many of their connections are not in yet.
    var forgedStarted = false
    var forgedPending = 0
    /// Whether the served controls were tried again after the forged certificates.
    var controlsRechecked = false
    /// The first raw outcome by probe, for the verdict and the server chain.
    var outcomes: [TLSProbeKind: ConnectionOutcome] = [:]
    var plaintextOutcome: ConnectionOutcome?

    init(target: TLSTarget, material: Material, options: TLSBatteryOptions) {
        self.target = target
        self.material = material
        let port = target.endpoint.port
        self.startTLS = options.startTLS ?? (options.applicationProtocol == nil ? StartTLSProtocol.forPort(port) : nil)
        self.application = options.applicationProtocol ?? self.startTLS?.application ?? AppProbeProtocol.forPort(port)
        var user = "bulkhead"
        if let subject = material.clientSummary?.subject, let range = subject.range(of: "CN=") {
            let name = subject[range.upperBound...].prefix { $0 != "," }
            if !name.isEmpty { user = String(name) }
        }
        self.context = ApplicationProbes.Context(
            host: target.expectations.expectedDNSNames.first ?? IPAddress(ipv4: target.endpoint.address).description,
            user: user)
    }

    /// The client settings shared by every TLS probe of this endpoint.
    func settings() -> TLSSettings {
        TLSSettings(serverName: self.target.expectations.expectedDNSNames.first, alpn: self.application.alpn)
    }

    /// One connection: over TLS with `tls` (after the cleartext upgrade, if any), or the plaintext probe.
    func plan(tls: TLSSettings?, handshakeOnly: Bool = false) -> ConnectionPlan {
        let clear: [ClearExchange]
        if tls == nil {
            clear = ApplicationProbes.plaintext(self.application, self.context)
        } else if let startTLS = self.startTLS {
            clear = ApplicationProbes.upgrade(startTLS, self.context)
        } else {
            clear = self.application == .mysql ? ApplicationProbes.mysqlUpgrade : []
        }
        return ConnectionPlan(
            endpoint: self.target.endpoint, clear: clear, tls: tls, application: self.application,
            handshakeOnly: handshakeOnly, context: self.context)
    }

    /// Submits one connection whose completion is dropped if the battery restarted meanwhile (over a STARTTLS
    /// upgrade recognised from the greeting): what it found belongs to the battery before the restart.
    func submit(
        _ plan: ConnectionPlan, on loop: ConnectionLoop, from source: any SocketSource,
        completion: @escaping (ConnectionOutcome) -> Void
    ) {
        let generation = self.generation
        loop.submit(plan, from: source) { outcome in
            guard self.generation == generation else { return }
            completion(outcome)
        }
    }

    /// Forgets what was found and runs over `startTLS` from now on.
    func restart(startTLS: StartTLSProtocol) {
        self.generation += 1
        self.startTLS = startTLS
        self.application = startTLS.application
        self.upgraded = true
        self.records = []
        self.attempts = [:]
        self.outcomes = [:]
        self.plaintextOutcome = nil
    }

    func add(_ kind: TLSProbeKind, _ attempt: Attempt) {
        if self.outcomes[kind] == nil { self.outcomes[kind] = attempt.outcome }
        self.attempts[kind, default: []].append(attempt)
    }

    /// Records a probe with a variant. When one connection judged several variants (versions or cipher categories
    /// offered together), `together` says what was offered and only the first of their records counts the
    /// connection (`countsConnection`): the others have no attempt of their own.
    func addVariant(
        _ kind: TLSProbeKind, _ variant: String, _ attempt: Attempt, together: String? = nil,
        countsConnection: Bool = true
    ) {
        var judged = Verdicts.Judgement(result: attempt.result, evidence: attempt.evidence, detail: attempt.detail)
        if let together { judged.detail = "\(together): \(attempt.detail ?? attempt.result.rawValue)" }
        var record = Verdicts.record(
            kind, variant, [attempt], judged: judged, endpoint: self.target.endpoint.description,
            source: self.target.source.description)
        if !countsConnection { record.attempts = 0 }
        self.records.append(record)
    }

    func skip(_ kind: TLSProbeKind, _ variant: String?, _ reason: String) {
        self.records.append(
            TLSProbeRecord(
                endpoint: self.target.endpoint.description, source: self.target.source.description, probe: kind,
                variant: variant,
                result: .skipped, detail: reason))
    }
}
