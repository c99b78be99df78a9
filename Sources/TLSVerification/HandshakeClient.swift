import BulkheadModel
import CBulkheadOpenSSL
import Foundation
import SystemCalls

#if canImport(Glibc)
    import Glibc
#endif

/// How one connection is to be made.
struct ConnectionPlan: Sendable {
    var endpoint: TLSEndpoint
    /// Cleartext exchanges: a STARTTLS upgrade before the handshake, or (without `tls`) the whole plaintext probe.
    var clear: [ClearExchange]
    /// The handshake's settings; nil for the plaintext probe.
    var tls: TLSSettings?
    /// What is spoken after the handshake (the request is chosen once the server's ALPN choice is known).
    var application: AppProbeProtocol
    /// Version and cipher probes are judged by the ServerHello alone: they stop at the server's Certificate (or
    /// TLS 1.3 CertificateRequest) message, unread, and send no request.
    var handshakeOnly = false
    var context: ApplicationProbes.Context
}

/// The OpenSSL client settings of one TLS connection.
struct TLSSettings: Sendable {
    /// `TLS1_VERSION`… `TLS1_3_VERSION`.
    var minimumVersion: Int32 = TLS1_VERSION
    var maximumVersion: Int32 = TLS1_3_VERSION
    /// TLS ≤ 1.2 cipher list (OpenSSL syntax).
    var cipherList = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"
    /// TLS 1.3 suites; nil keeps OpenSSL's default.
    var cipherSuites: String?
    var identity: ClientIdentity?
    /// SNI, when a DNS name is expected (servers choose certificates by it).
    var serverName: String?
    /// ALPN protocols offered, in order of preference.
    var alpn: [String] = []

    /// Key for sharing one SSL_CTX among connections with the same protocol settings.
    var contextKey: String {
        "\(self.minimumVersion)/\(self.maximumVersion)/\(self.cipherList)/\(self.cipherSuites ?? "-")"
    }
}

/// How the server ended a connection.
enum ConnectionEnding: String, Sendable {
    /// A close_notify alert.
    case closeNotify = "close_notify"
    /// A TCP FIN without close_notify (OpenSSL 3: unexpected EOF).
    case fin = "FIN without close_notify"
    /// A TCP reset.
    case reset = "RST"
}

/// Everything observed on one connection.
struct ConnectionOutcome {
    /// The TCP connection was established.
    var connected = false
    /// errno of a failed connect (ECONNREFUSED, EHOSTUNREACH…).
    var connectErrno: Int32?
    var timedOut = false
    var handshakeCompleted = false
    var serverHelloSeen = false
    /// The two bytes of the cipher suite the ServerHello chose.
    var serverHelloSuite: [UInt8]?
    /// A handshake message after the ServerHello arrived (EncryptedExtensions, Certificate, ServerKeyExchange,
    /// CertificateRequest, ServerHelloDone): the client accepted the version and suite the server chose.
    var serverHelloAccepted = false
    /// A CertificateRequest arrived: in the handshake, or after it (TLS 1.3 post-handshake authentication, or the
    /// handshake of a TLS 1.2 renegotiation).
    var certificateRequestSeen = false
    /// The connection was set up to present a client certificate.
    var certificateOffered = false
    /// Whether the client's last Certificate message held a certificate (nil: none was sent). OpenSSL sends an empty
    /// one, silently, when the key of the certificate it was given fits none of the signature algorithms the server's
    /// CertificateRequest allows: what the server then refuses is a client without a certificate.
    var clientCertificateSent: Bool?
    /// HelloRequests received after the handshake: each is a renegotiation the server asked for, and followed.
    var renegotiations = 0
    /// A handshake-only plan ended as designed: the ServerHello was processed (the client accepted the version and
    /// suite chosen), and the connection stopped at the header of the server's Certificate (or TLS 1.3
    /// CertificateRequest) message, unread.
    var stoppedBeforeCertificate = false
    /// The first alert received from the server (close_notify is recorded as an ending, not here).
    var alertReceived: Int?
    /// Whether that alert came after the handshake had completed (TLS 1.3 refuses certificates there).
    var alertAfterHandshake = false
    var tlsVersion: String?
    var cipher: String?
    /// The protocol the server selected by ALPN.
    var alpn: String?
    var acceptableCAs: [String]?
    var peerChain: [X509Certificate] = []
    /// The first bytes received in clear (a greeting identifies a STARTTLS protocol).
    var clearBytes: [UInt8] = []
    /// The plaintext probe's answer (served or refused in clear).
    var clearAnswer: ServiceAnswer?
    /// Why a cleartext upgrade before the handshake could not go on.
    var upgradeFailure: String?
    /// The application's answer over TLS.
    var applicationAnswer: ServiceAnswer?
    /// The application protocol spoken over TLS (`http/1.1`, `h2`, `redis`…).
    var applicationName: String?
    /// The handshake completed, the request was sent, and nothing came back within the read wait.
    var silentAfterHandshake = false
    /// First bytes the server sent over TLS (for the report).
    var response: [UInt8] = []
    /// How the server ended the connection, when it did.
    var ending: ConnectionEnding?
    /// The server closed (FIN, close_notify) or reset the connection.
    var closedByPeer: Bool { self.ending != nil }
    /// OpenSSL's or the system's reason for a failure.
    var failure: String?
    var seconds: Double = 0
}

/// Timeouts of the battery.
public struct TLSTimeouts: Hashable, Sendable {
    /// Whole connection: connect, handshake, request and answer.
    public var connection: Double
    /// How long to wait, after a completed handshake, for the server's answer or its rejection alert. A server
    /// that accepts and stays silent is recognised by this wait ending.
    public var readAfterHandshake: Double

    public init(connection: Double = 5, readAfterHandshake: Double = 1.5) {
        self.connection = connection
        self.readAfterHandshake = readAfterHandshake
    }
}

/// Makes the sockets of one source (the host's namespace, or a container's).
protocol SocketSource: AnyObject {
    /// A non-blocking TCP/IPv4 socket in the source's network namespace.
    func makeSocket() throws -> Int32
    /// Closes sockets made but not used.
    func close()
}

/// Sockets in the namespace the process runs in.
final class HostSocketSource: SocketSource {
    func makeSocket() throws -> Int32 {
        let fd = socket(
            AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw TLSProbeError(.socket, path: "host", message: SystemCallError.last("socket").description)
        }
        return fd
    }

    func close() {}
}

/// One connection being driven by the loop: OpenSSL's state, the exchange under way, and what was seen.
final class Connection {
    let plan: ConnectionPlan
    let fd: Int32
    let started: Double
    var ssl: OpaquePointer?
    var outcome = ConnectionOutcome()
    var phase: Phase = .connecting
    /// What the loop's poller waits for on this connection's socket (nil: not registered yet).
    var registered: PollInterest?
    /// Deadline of the whole connection (monotonic seconds).
    var deadline: Double
    /// Deadline of the current read after the handshake (the read wait).
    var readDeadline: Double?
    /// The exchanges of the current stage (cleartext, or over TLS) and the one under way.
    var exchanges: [ClearExchange] = []
    var exchangeIndex = 0
    /// Bytes of the current exchange's answer (bounded by ``ConnectionLoop/answerLimit``).
    var received: [UInt8] = []
    var written = 0
    /// Whether OpenSSL last asked to wait for writability (else readability).
    var wantsWrite = false
    let completion: (ConnectionOutcome) -> Void

    enum Phase {
        case connecting, clearWriting, clearReading, handshaking, writing, reading, done
    }

    init(
        plan: ConnectionPlan, fd: Int32, started: Double, deadline: Double,
        completion: @escaping (ConnectionOutcome) -> Void
    ) {
        self.plan = plan
        self.fd = fd
        self.started = started
        self.deadline = deadline
        self.completion = completion
    }

    var exchange: ClearExchange? {
        self.exchangeIndex < self.exchanges.count ? self.exchanges[self.exchangeIndex] : nil
    }

    /// The nearest moment something must happen to this connection.
    var wake: Double { min(self.deadline, self.readDeadline ?? .infinity) }
}

/// Watches the handshake messages and alerts of every connection (OpenSSL's message callback; `arg` is the
/// connection). A plain C function pointer built outside any actor (ARCHITECTURE.md, "C callbacks": closures formed in
/// main-actor code trap when OpenSSL calls them).
private let messageCallback:
    @convention(c) (Int32, Int32, Int32, UnsafeRawPointer?, Int, OpaquePointer?, UnsafeMutableRawPointer?) -> Void = {
        writing, _, contentType, buffer, length, ssl, argument in
        guard let buffer, let argument, length >= 1 else { return }
        let connection = Unmanaged<Connection>.fromOpaque(argument).takeUnretainedValue()
        let bytes = buffer.assumingMemoryBound(to: UInt8.self)
        if writing != 0 {
            // The client's own Certificate message: type, length (3), in TLS 1.3 a request context (1 + n), then the
            // list's length (3). An empty list is a client without a certificate, whatever it was given.
            guard contentType == 22, bytes[0] == 11 else { return }
            let tls13 = ssl.map { SSL_version($0) == TLS1_3_VERSION } ?? false
            let listAt = 4 + (tls13 && length > 4 ? 1 + Int(bytes[4]) : 0)
            guard length >= listAt + 3 else { return }
            let listLength = Int(bytes[listAt]) << 16 | Int(bytes[listAt + 1]) << 8 | Int(bytes[listAt + 2])
            connection.outcome.clientCertificateSent = listLength > 0
            return
        }
        switch contentType {
        case 21 where length >= 2:  // alert: level, description
            if bytes[1] == 0 {
                if connection.outcome.ending == nil { connection.outcome.ending = .closeNotify }
            } else if connection.outcome.alertReceived == nil, bytes[1] != 90 {  // 90 user_canceled is a warning
                connection.outcome.alertReceived = Int(bytes[1])
                connection.outcome.alertAfterHandshake = connection.outcome.handshakeCompleted
            }
        case 22:  // handshake
            switch bytes[0] {
            case 2:
                connection.outcome.serverHelloSeen = true
                // The suite chosen: type, length (4), version (2), random (32), session id (1 + n), then 2 bytes. Kept
                // because a TLS 1.2 probe that stops before the certificate never reaches the point where OpenSSL
                // reports it.
                let sessionIDLength = length > 38 ? Int(bytes[38]) : 0
                if length >= 39 + sessionIDLength + 2 {
                    connection.outcome.serverHelloSuite = [bytes[39 + sessionIDLength], bytes[40 + sessionIDLength]]
                }
            case 0 where connection.outcome.handshakeCompleted:  // HelloRequest
                connection.outcome.renegotiations += 1
            case 13:
                connection.outcome.certificateRequestSeen = true
                connection.outcome.serverHelloAccepted = true
            case 8, 11, 12, 14: connection.outcome.serverHelloAccepted = true
            default: break
            }
        default: break
        }
    }

/// Drives many connections at once on the calling thread: non-blocking sockets, non-blocking OpenSSL
/// (`SSL_set_fd` + `SSL_do_handshake`/`SSL_read`/`SSL_write` answering WANT_READ/WANT_WRITE), one `poll`.
///
/// A connection runs its cleartext exchanges (a STARTTLS upgrade, or the plaintext probe), then the handshake,
/// then the application exchanges over TLS. Every stage is bounded: the connection's deadline, the read wait
/// after the handshake, ``answerLimit`` bytes per answer, ``chainLimit`` bytes of certificate chain.
///
/// Completion handlers run on the same thread and may start further connections (the battery's second
/// phase starts from the first phase's answers). Not thread-safe: one loop per thread.
final class ConnectionLoop {
    /// The most bytes of one answer a judge is shown; a longer answer that still does not fit is a failure.
    static let answerLimit = 16_384
    /// The largest certificate chain read from a server (OpenSSL's own default is 100 KiB).
    static let chainLimit = 256 * 1024
    /// Renegotiations a server may ask for on one connection: one is how a TLS 1.2 server asks for a client certificate
    /// for a location; a server that keeps asking is ended (an `error`, judged as nothing), not followed to the deadline.
    static let renegotiationLimit = 2

    private var pending: [(ConnectionPlan, any SocketSource, (ConnectionOutcome) -> Void)] = []
    private var active: [Int32: Connection] = [:]
    private var activePerEndpoint: [TLSEndpoint: Int] = [:]
    private var contexts: [String: OpaquePointer] = [:]
    private let timeouts: TLSTimeouts
    private let maximumConnections: Int
    private let maximumPerEndpoint: Int
    private(set) var connectionsMade = 0
    /// The selector while `run` runs.
    private var poller: Poller?

    init(timeouts: TLSTimeouts, maximumConnections: Int = 256, maximumPerEndpoint: Int = 8) {
        self.timeouts = timeouts
        self.maximumConnections = maximumConnections
        self.maximumPerEndpoint = maximumPerEndpoint
    }

    deinit {
        for context in self.contexts.values { SSL_CTX_free(context) }
    }

    /// Queues a connection; `completion` gets its outcome on the loop's thread.
    func submit(
        _ plan: ConnectionPlan, from source: any SocketSource, completion: @escaping (ConnectionOutcome) -> Void
    ) {
        self.pending.append((plan, source, completion))
    }

    /// Runs until every queued connection (including those queued by completions) is finished.
    func run() {
        // A peer that resets while OpenSSL writes must not kill the process.
        signal(SIGPIPE, SIG_IGN)
        let poller: Poller
        do { poller = try Poller(capacity: 256) } catch {
            // No selector: every queued connection ends as a local error, never as an answer.
            while let (_, _, completion) = self.pending.popLast() {
                var outcome = ConnectionOutcome()
                outcome.failure = error.description
                completion(outcome)
            }
            return
        }
        self.poller = poller
        defer { self.poller = nil }
        while !self.pending.isEmpty || !self.active.isEmpty {
            self.startPending()
            let now = Self.monotonic()
            var nearest = Double.infinity
            for connection in Array(self.active.values) {
                if connection.wake <= now {
                    self.wakeUp(connection, now: now)
                    if connection.phase == .done { continue }
                }
                nearest = min(nearest, connection.wake)
                // Each connection waits for what its state needs; the poller hears of it only when that changes.
                let interest = Self.interest(connection)
                guard interest != connection.registered else { continue }
                do {
                    if connection.registered == nil {
                        try poller.register(connection.fd, interest: interest, token: UInt64(connection.fd))
                    } else {
                        try poller.reregister(connection.fd, interest: interest, token: UInt64(connection.fd))
                    }
                    connection.registered = interest
                } catch {
                    connection.outcome.failure = error.description
                    self.finish(connection)
                }
            }
            if self.active.isEmpty { continue }
            // Bounded before the conversion: a deadline days away in milliseconds is past Int32's range, which traps.
            let wait = Int32(max(1, min(1000, ((nearest - now) * 1000).rounded(.up))))
            let events: ArraySlice<PollEvent>
            do { events = try poller.wait(timeoutMilliseconds: wait) } catch {
                // The wait itself failed: every connection under way ends as a local error, never as an answer.
                for connection in Array(self.active.values) {
                    connection.outcome.failure = error.description
                    self.finish(connection)
                }
                continue
            }
            // Completions only queue new connections (started at the top of the loop), so no descriptor of these
            // events is reused by another connection before they are handled.
            for event in events {
                guard let connection = self.active[Int32(truncatingIfNeeded: event.token)] else { continue }
                self.advance(connection)
            }
        }
    }

    // MARK: - Scheduling

    private func startPending() {
        var index = 0
        while index < self.pending.count && self.active.count < self.maximumConnections {
            let (plan, source, completion) = self.pending[index]
            if self.activePerEndpoint[plan.endpoint, default: 0] >= self.maximumPerEndpoint {
                index += 1
                continue
            }
            self.pending.remove(at: index)
            self.start(plan, source: source, completion: completion)
        }
    }

    private func start(
        _ plan: ConnectionPlan, source: any SocketSource, completion: @escaping (ConnectionOutcome) -> Void
    ) {
        let now = Self.monotonic()
        let fd: Int32
        do { fd = try source.makeSocket() } catch {
            var outcome = ConnectionOutcome()
            outcome.failure = "\(error)"
            completion(outcome)
            return
        }
        self.connectionsMade += 1
        // Small writes back to back (the client's Finished, then the request): without TCP_NODELAY, Nagle holds the
        // request until the server's delayed ACK, which costs every probe tens of milliseconds. It cannot fail on a
        // TCP socket; a socket that refuses it is not one to judge a server by: the connection is a local error.
        var noDelay: Int32 = 1
        if setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &noDelay, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            var outcome = ConnectionOutcome()
            outcome.failure = SystemCallError.last("setsockopt(TCP_NODELAY)").description
            close(fd)
            completion(outcome)
            return
        }
        let connection = Connection(
            plan: plan, fd: fd, started: now, deadline: now + self.timeouts.connection, completion: completion)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(plan.endpoint.port).bigEndian)
        address.sin_addr = in_addr(s_addr: plan.endpoint.address.bigEndian)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        self.active[fd] = connection
        self.activePerEndpoint[plan.endpoint, default: 0] += 1
        if result == 0 {
            self.connected(connection)
        } else if errno != EINPROGRESS {
            connection.outcome.connectErrno = errno
            connection.outcome.failure = SystemCallError.last("connect").description
            self.finish(connection)
        }
    }

    private func finish(_ connection: Connection) {
        guard connection.phase != .done else { return }
        connection.phase = .done
        if let ssl = connection.ssl {
            Self.collect(ssl, into: &connection.outcome)
            SSL_free(ssl)
            connection.ssl = nil
        }
        ERR_clear_error()
        if connection.registered != nil { try? self.poller?.deregister(connection.fd) }
        Glibc.close(connection.fd)
        self.active[connection.fd] = nil
        self.activePerEndpoint[connection.plan.endpoint, default: 1] -= 1
        connection.outcome.seconds = Self.monotonic() - connection.started
        connection.completion(connection.outcome)
    }

    /// A deadline passed: the whole connection's, or the read wait after the handshake.
    private func wakeUp(_ connection: Connection, now: Double) {
        switch connection.phase {
        case .writing, .reading:
            // After a completed handshake, silence is an observation (judged against the controls), not a failure.
            // A partial answer the judge could not read yet (the start of an error message, perhaps) proves neither
            // way: the attempt is an error, never served.
            if connection.received.isEmpty {
                connection.outcome.silentAfterHandshake = true
            } else {
                connection.outcome.failure =
                    "an incomplete answer when the read wait ended: \(Line.printable(connection.received, limit: 80))"
            }
        default:
            // In clear too, an answer the exchange's judge has not accepted as complete is no answer.
            connection.outcome.timedOut = true
        }
        self.finish(connection)
    }

    private static func interest(_ connection: Connection) -> PollInterest {
        switch connection.phase {
        case .connecting, .clearWriting: .writable
        case .clearReading, .done: .readable
        case .handshaking, .writing, .reading: connection.wantsWrite ? .writable : .readable
        }
    }

    // MARK: - State machine

    private func advance(_ connection: Connection) {
        switch connection.phase {
        case .connecting:
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            if getsockopt(connection.fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 { error = errno }
            if error != 0 {
                connection.outcome.connectErrno = error
                connection.outcome.failure = SystemCallError("connect", code: error).description
                self.finish(connection)
            } else {
                self.connected(connection)
            }
        case .clearWriting: self.writeClear(connection)
        case .clearReading: self.readClear(connection)
        case .handshaking: self.handshake(connection)
        case .writing: self.writeTLS(connection)
        case .reading: self.readTLS(connection)
        case .done: break
        }
    }

    private func connected(_ connection: Connection) {
        connection.outcome.connected = true
        connection.exchanges = connection.plan.clear
        connection.exchangeIndex = -1
        self.nextExchange(connection)
    }

    /// Starts the next exchange of the current stage, or the next stage when the stage is over.
    private func nextExchange(_ connection: Connection) {
        connection.exchangeIndex += 1
        connection.received = []
        connection.written = 0
        let overTLS = connection.outcome.handshakeCompleted
        guard connection.exchange != nil else {
            if overTLS {
                // Every exchange went on without a final answer: the application kept talking (served).
                connection.outcome.applicationAnswer =
                    connection.outcome.applicationAnswer ?? .served("answered every request")
                self.finish(connection)
            } else if connection.plan.tls != nil {
                self.startTLS(connection)
            } else {
                self.finish(connection)
            }
            return
        }
        if overTLS {
            connection.readDeadline = Self.monotonic() + self.timeouts.readAfterHandshake
            connection.phase = .writing
            self.writeTLS(connection)
        } else {
            connection.phase = .clearWriting
            self.writeClear(connection)
        }
    }

    /// Applies the current exchange's judge to what has arrived.
    private func judge(_ connection: Connection) {
        guard let exchange = connection.exchange else { return }
        let overTLS = connection.outcome.handshakeCompleted
        var step = exchange.judge(connection.received)
        if step == .needMore && connection.received.count >= Self.answerLimit {
            step = .done(.failed("an answer of \(Self.answerLimit) bytes or more that does not fit the protocol"))
        }
        switch step {
        case .needMore: return
        case .proceed: self.nextExchange(connection)
        case .done(let answer):
            if overTLS {
                connection.outcome.applicationAnswer = answer
            } else if connection.plan.tls == nil {
                connection.outcome.clearAnswer = answer
            } else {
                connection.outcome.upgradeFailure = answer.text
            }
            self.finish(connection)
        }
    }

    private func writeClear(_ connection: Connection) {
        let request = connection.exchange?.send ?? []
        while connection.written < request.count {
            let sent = request.withUnsafeBytes { bytes -> Int in
                guard let base = bytes.baseAddress else { return 0 }
                return send(
                    connection.fd, base + connection.written, bytes.count - connection.written, Int32(MSG_NOSIGNAL))
            }
            if sent > 0 {
                connection.written += sent
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                return
            } else {
                // The peer may already have answered (a banner) or closed: read what is there.
                break
            }
        }
        connection.phase = .clearReading
        self.judge(connection)
        if connection.phase == .clearReading { self.readClear(connection) }
    }

    private func readClear(_ connection: Connection) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let room = max(1, min(buffer.count, Self.answerLimit - connection.received.count))
        let count = buffer.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, room, 0) }
        if count > 0 {
            connection.received += buffer.prefix(count)
            if connection.outcome.clearBytes.count < 512 {
                connection.outcome.clearBytes += buffer.prefix(min(count, 512 - connection.outcome.clearBytes.count))
            }
            self.judge(connection)
            return
        }
        if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
        connection.outcome.ending = count == 0 ? .fin : (errno == ECONNRESET ? .reset : .fin)
        if count < 0 { connection.outcome.failure = SystemCallError.last("recv").description }
        if connection.plan.tls == nil {
            // What arrived before the close is the answer (a refusal page sent just before closing).
            connection.outcome.clearAnswer = connection.received.isEmpty ? nil : HTTP.judgeInClear(connection.received)
        } else {
            connection.outcome.upgradeFailure =
                "the server closed the connection during the cleartext upgrade"
                + (connection.received.isEmpty ? "" : ": \(Line.printable(connection.received, limit: 80))")
        }
        self.finish(connection)
    }

    private func startTLS(_ connection: Connection) {
        guard let settings = connection.plan.tls else { return self.finish(connection) }
        guard let context = self.context(for: settings) else {
            connection.outcome.failure = "this OpenSSL cannot offer these settings: \(OpenSSL.lastError())"
            return self.finish(connection)
        }
        guard let ssl = SSL_new(context) else {
            connection.outcome.failure = "SSL_new: \(OpenSSL.lastError())"
            return self.finish(connection)
        }
        connection.ssl = ssl
        SSL_set_fd(ssl, connection.fd)
        SSL_set_connect_state(ssl)
        if connection.plan.handshakeOnly {
            bh_SSL_stop_before_certificate(ssl)
        } else {
            // A TLS 1.3 server may ask for the certificate only once it has read the request (post-handshake
            // authentication: Apache's SSLVerifyClient in a <Location>, Python's verify_client_post_handshake). Offered,
            // the request arrives as a CertificateRequest after the handshake (the message callback records it) and
            // OpenSSL answers with this connection's certificate, or none; not offered, such a server refuses every
            // client alike and its client authentication could not be judged (it read as no client authentication).
            SSL_set_post_handshake_auth(ssl, 1)
        }
        SSL_set_msg_callback(ssl, messageCallback)
        bh_SSL_set_msg_callback_arg(ssl, Unmanaged.passUnretained(connection).toOpaque())
        if let name = settings.serverName { _ = bh_SSL_set_tlsext_host_name(ssl, name) }
        if !settings.alpn.isEmpty {
            var wire: [UInt8] = []
            for name in settings.alpn where !name.isEmpty && name.utf8.count < 256 {
                wire += [UInt8(name.utf8.count)] + Array(name.utf8)
            }
            _ = SSL_set_alpn_protos(ssl, wire, UInt32(wire.count))
        }
        if let identity = settings.identity, let leaf = identity.chain.first {
            connection.outcome.certificateOffered = true
            guard SSL_use_certificate(ssl, leaf.pointer) == 1, SSL_use_PrivateKey(ssl, identity.key.pointer) == 1 else {
                connection.outcome.failure = "cannot use the client certificate: \(OpenSSL.lastError())"
                return self.finish(connection)
            }
            for certificate in identity.chain.dropFirst() { _ = bh_SSL_add1_chain_cert(ssl, certificate.pointer) }
        }
        connection.phase = .handshaking
        self.handshake(connection)
    }

    private func handshake(_ connection: Connection) {
        guard let ssl = connection.ssl else { return }
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 {
            connection.outcome.handshakeCompleted = true
            if connection.plan.handshakeOnly { return self.finish(connection) }
            var data: UnsafePointer<UInt8>?
            var length: UInt32 = 0
            SSL_get0_alpn_selected(ssl, &data, &length)
            if let data, length > 0 {
                connection.outcome.alpn = String(
                    decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
            }
            let (name, exchanges) = ApplicationProbes.application(
                connection.plan.application, alpn: connection.outcome.alpn, connection.plan.context)
            connection.outcome.applicationName = name
            connection.exchanges = exchanges
            connection.exchangeIndex = -1
            self.nextExchange(connection)
            return
        }
        if !self.wouldBlock(connection, result) { self.fail(connection, result) }
    }

    private func writeTLS(_ connection: Connection) {
        guard let ssl = connection.ssl else { return }
        let request = connection.exchange?.send ?? []
        while connection.written < request.count {
            ERR_clear_error()
            let result = request.withUnsafeBytes { bytes -> Int32 in
                guard let base = bytes.baseAddress else { return 0 }
                return SSL_write(ssl, base + connection.written, Int32(bytes.count - connection.written))
            }
            if result <= 0 {
                if self.wouldBlock(connection, result) { return }
                // A server that refuses after the handshake may already have sent its alert and closed: the write
                // fails, the alert waits to be read. Read before judging.
                connection.phase = .reading
                connection.wantsWrite = false
                self.readTLS(connection)
                return
            }
            connection.written += Int(result)
        }
        connection.phase = .reading
        connection.wantsWrite = false
        self.judge(connection)
        if connection.phase == .reading { self.readTLS(connection) }
    }

    private func readTLS(_ connection: Connection) {
        guard let ssl = connection.ssl else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while connection.phase == .reading {
            ERR_clear_error()
            let room = max(1, min(buffer.count, Self.answerLimit - connection.received.count))
            let result = buffer.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32(room)) }
            if connection.outcome.renegotiations > Self.renegotiationLimit {
                connection.outcome.failure =
                    "the server asked to renegotiate more than \(Self.renegotiationLimit) times: the connection was ended"
                return self.finish(connection)
            }
            if result > 0 {
                connection.received += buffer.prefix(Int(result))
                if connection.outcome.response.count < 1024 {
                    connection.outcome.response += buffer.prefix(
                        min(Int(result), 1024 - connection.outcome.response.count))
                }
                self.judge(connection)
                continue
            }
            if !self.wouldBlock(connection, result) { self.fail(connection, result) }
            return
        }
    }

    /// True (and the poll direction recorded) when OpenSSL only waits for the socket.
    private func wouldBlock(_ connection: Connection, _ result: Int32) -> Bool {
        guard let ssl = connection.ssl else { return false }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ:
            connection.wantsWrite = false
            return true
        case SSL_ERROR_WANT_WRITE:
            connection.wantsWrite = true
            return true
        default:
            return false
        }
    }

    /// The connection ended inside OpenSSL: tell a close by the server (how) from a local failure.
    private func fail(_ connection: Connection, _ result: Int32) {
        guard let ssl = connection.ssl else { return }
        let code = errno
        let error = SSL_get_error(ssl, result)
        let reason = bh_ERR_GET_REASON(ERR_peek_error())
        switch error {
        case SSL_ERROR_ZERO_RETURN:
            connection.outcome.ending = .closeNotify
            connection.outcome.failure = "closed by the server (close_notify)"
        case SSL_ERROR_SYSCALL where ERR_peek_error() == 0:
            connection.outcome.ending = code == ECONNRESET ? .reset : (connection.outcome.ending ?? .fin)
            connection.outcome.failure =
                code == 0 || code == EAGAIN
                ? "connection closed by the server" : SystemCallError("read", code: code).message
        case SSL_ERROR_SSL
        where connection.plan.handshakeOnly && connection.outcome.serverHelloSeen
            && reason == bh_SSL_R_EXCESSIVE_MESSAGE_SIZE():
            connection.outcome.stoppedBeforeCertificate = true
        case SSL_ERROR_SSL where reason == bh_SSL_R_UNEXPECTED_EOF():
            connection.outcome.ending = connection.outcome.ending ?? .fin
            connection.outcome.failure = "the server closed TCP without close_notify"
        default:
            // A protocol error of OpenSSL's own (garbage, an oversized chain): no ending by the server is claimed,
            // and errno, which may be stale here, is not read.
            connection.outcome.failure = OpenSSL.lastError()
        }
        self.finish(connection)
    }

    // MARK: - OpenSSL

    private func context(for settings: TLSSettings) -> OpaquePointer? {
        let key = settings.contextKey
        if let context = self.contexts[key] { return context }
        guard let context = SSL_CTX_new(TLS_client_method()) else { return nil }
        // Everything explicit: the system openssl.cnf (SECLEVEL, MinProtocol) must not decide what is offered.
        SSL_CTX_set_security_level(context, 0)
        SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        _ = bh_SSL_CTX_set_mode(context, bh_SSL_MODE_flags())
        bh_SSL_CTX_harden_client(context, Self.chainLimit)
        guard bh_SSL_CTX_set_min_proto_version(context, settings.minimumVersion) == 1,
            bh_SSL_CTX_set_max_proto_version(context, settings.maximumVersion) == 1,
            SSL_CTX_set_cipher_list(context, settings.cipherList) == 1 || settings.minimumVersion >= TLS1_3_VERSION,
            settings.cipherSuites.map({ SSL_CTX_set_ciphersuites(context, $0) == 1 }) ?? true
        else {
            SSL_CTX_free(context)
            return nil
        }
        // No session is ever set on a new SSL, so no probe resumes another's session (and its certificate).
        self.contexts[key] = context
        return context
    }

    private static func collect(_ ssl: OpaquePointer, into outcome: inout ConnectionOutcome) {
        if outcome.serverHelloSeen || outcome.handshakeCompleted {
            outcome.tlsVersion = SSL_get_version(ssl).map { String(cString: $0) }
            if let cipher = SSL_get_current_cipher(ssl)
                ?? outcome.serverHelloSuite.flatMap({ SSL_CIPHER_find(ssl, $0) }),
                let name = SSL_CIPHER_get_name(cipher)
            {
                outcome.cipher = String(cString: name)
            }
        }
        if outcome.certificateRequestSeen, let names = SSL_get_client_CA_list(ssl) {
            outcome.acceptableCAs = (0..<max(0, bh_sk_num(UnsafeRawPointer(names)))).compactMap { index in
                bh_sk_X509_NAME_value(names, Int32(index)).map { OpenSSL.name($0) }
            }
        }
        if let chain = SSL_get_peer_cert_chain(ssl) {
            for index in 0..<max(0, bh_sk_num(UnsafeRawPointer(chain))) {
                guard let certificate = bh_sk_X509_value(chain, Int32(index)), X509_up_ref(certificate) == 1 else {
                    continue
                }
                outcome.peerChain.append(X509Certificate(owning: certificate))
            }
        }
    }

    static func monotonic() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
