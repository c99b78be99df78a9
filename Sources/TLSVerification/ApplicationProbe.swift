import Foundation

/// What a connection says in clear (before TLS, or as the plaintext probe) and over TLS after the handshake, so
/// that acceptance is proven by the service answering — never inferred from a socket that stayed quiet.
///
/// Every exchange is a request (possibly empty: wait for a greeting) and a judge of the bytes received so far.
/// Judges are pure functions of bytes; the connection loop bounds how many bytes they ever see.

/// One request and how to read its answer.
struct ClearExchange: Sendable {
    /// Bytes to send first (empty: only listen, for a server that speaks first).
    var send: [UInt8]
    /// Reads the answer received so far.
    var judge: @Sendable ([UInt8]) -> ExchangeStep
    init(send: [UInt8] = [], judge: @escaping @Sendable ([UInt8]) -> ExchangeStep) {
        self.send = send
        self.judge = judge
    }
}

/// A judge's reading of the bytes received so far.
enum ExchangeStep: Sendable, Equatable {
    /// The answer is not complete yet.
    case needMore
    /// The answer is what this step expects: go on (the next exchange, or the TLS handshake after a STARTTLS).
    case proceed
    /// The exchange ends with this answer.
    case done(ServiceAnswer)
}

/// What a service answered.
enum ServiceAnswer: Sendable, Equatable {
    /// The service did its job (a success reply, a greeting, any answer that is not a refusal).
    case served(String)
    /// The service refused (tied to the certificate after TLS; any protocol refusal in clear).
    case refused(String)
    /// The answer does not fit the protocol (a cleartext upgrade that cannot go on).
    case failed(String)
    /// The application refused the request without naming the certificate (HTTP 401 or 403, with its status): it
    /// proves nothing by itself, and is compared with what the valid certificate's same request got.
    case denied(status: Int, String)
    /// The connection was ended inside the application protocol before any answer (an HTTP/2 GOAWAY or RST_STREAM
    /// that names no certificate): as ambiguous as a TCP close.
    case closed(String)

    /// The answer's text, whatever it proves.
    var text: String {
        switch self {
        case .served(let text), .refused(let text), .failed(let text), .denied(_, let text), .closed(let text): text
        }
    }
}

/// The protocols the battery speaks after the handshake (`--app-protocol`).
public enum AppProbeProtocol: String, Sendable, CaseIterable, Codable {
    /// HTTP/1.1, or HTTP/2 when the server selects `h2` by ALPN.
    case http
    /// HTTP/2 (gRPC runs over it): `GET /` on stream 1, judged by the answer's `:status` and body (see ``HTTP2``).
    case grpc
    case redis
    case postgres
    case mysql
    case mqtt
    case amqp
    /// NATS: `CONNECT` and `PING` after the server's `INFO`; `PONG` is served.
    case nats
    case smtp, imap, pop3, ftp, ldap, xmpp
    /// Send an HTTP request at once and take whatever comes back: a server that speaks first (a greeting) still
    /// speaks first, and any application bytes are the service answering.
    case generic

    /// The protocol a well-known port speaks (the `--app-protocol` default).
    public static func forPort(_ port: Int) -> AppProbeProtocol {
        switch port {
        // 2380: etcd's peer API; 6443: the Kubernetes API server; 10250: the kubelet's API.
        case 80, 443, 2380, 3000, 4443, 5000, 6443, 8000, 8080, 8443, 8843, 9443, 10250, 10443: .http
        // 2379: etcd's client API (gRPC, and its HTTP gateway on the same port).
        case 2379, 50051: .grpc
        case 6379, 6380: .redis
        case 5432: .postgres
        case 3306: .mysql
        case 1883, 8883: .mqtt
        case 5671, 5672: .amqp
        case 4222: .nats
        case 25, 465, 587: .smtp
        case 143, 993: .imap
        case 110, 995: .pop3
        case 21, 990: .ftp
        case 389, 636: .ldap
        case 5222, 5223: .xmpp
        default: .generic
        }
    }

    /// ALPN protocols to offer (none for protocols that never negotiate one).
    var alpn: [String] {
        switch self {
        case .http, .generic: ["h2", "http/1.1"]
        case .grpc: ["h2"]
        default: []
        }
    }
}

/// Cleartext upgrades to TLS the battery runs before each handshake (`--starttls`).
public enum StartTLSProtocol: String, Sendable, CaseIterable, Codable {
    case smtp, imap, pop3, ftp, postgres, ldap, xmpp
    /// NATS's TLS: the server's `INFO` in clear (`tls_required`), then the client's ClientHello at once.
    case nats

    /// The upgrade a well-known port needs (ports where TLS starts at once, such as 465 or 993, need none).
    public static func forPort(_ port: Int) -> StartTLSProtocol? {
        switch port {
        case 25, 587: .smtp
        case 143: .imap
        case 110: .pop3
        case 21: .ftp
        case 5432: .postgres
        case 389: .ldap
        case 5222: .xmpp
        case 4222: .nats
        default: nil
        }
    }

    /// Recognises a server-first protocol by its cleartext greeting (a port Bulkhead has no default for).
    static func fromGreeting(_ bytes: [UInt8]) -> StartTLSProtocol? {
        let text = Line.text(bytes)
        if text.hasPrefix("220") && text.uppercased().contains("SMTP") { return .smtp }
        if text.hasPrefix("220") && text.uppercased().contains("FTP") { return .ftp }
        if text.hasPrefix("* OK") { return .imap }
        if text.hasPrefix("+OK") { return .pop3 }
        if text.hasPrefix("INFO {") { return .nats }
        return nil
    }

    /// The application protocol spoken over the upgraded connection.
    var application: AppProbeProtocol {
        switch self {
        case .smtp: .smtp
        case .imap: .imap
        case .pop3: .pop3
        case .ftp: .ftp
        case .postgres: .postgres
        case .ldap: .ldap
        case .xmpp: .xmpp
        case .nats: .nats
        }
    }
}

/// The requests and judges of every protocol.
enum ApplicationProbes {
    /// Identity details a request may carry (a PostgreSQL or MySQL user named after the client certificate).
    struct Context: Sendable {
        var host: String?
        var user: String = "bulkhead"
    }

    // MARK: - Before TLS

    /// The cleartext exchanges that end in "go on with TLS".
    static func upgrade(_ proto: StartTLSProtocol, _ context: Context) -> [ClearExchange] {
        switch proto {
        case .smtp:
            return [
                ClearExchange(judge: Line.reply("220")),
                ClearExchange(
                    send: Line.bytes("EHLO bulkhead.test"),
                    judge: Line.smtpFinal { lines in
                        guard lines.last?.hasPrefix("250") == true else { return .done(.failed(lines.last ?? "")) }
                        return lines.contains { $0.uppercased().contains("STARTTLS") }
                            ? .proceed : .done(.failed("the server does not offer STARTTLS"))
                    }),
                ClearExchange(send: Line.bytes("STARTTLS"), judge: Line.reply("220")),
            ]
        case .imap:
            return [
                ClearExchange(judge: Line.reply("* OK")),
                ClearExchange(send: Line.bytes("a1 STARTTLS"), judge: Line.tagged("a1")),
            ]
        case .pop3:
            return [
                ClearExchange(judge: Line.reply("+OK")),
                ClearExchange(send: Line.bytes("STLS"), judge: Line.reply("+OK")),
            ]
        case .ftp:
            return [
                ClearExchange(judge: Line.ftpReply("220")),
                ClearExchange(send: Line.bytes("AUTH TLS"), judge: Line.ftpReply("234")),
            ]
        case .postgres:
            // SSLRequest: length 8, code 80877103. The server answers one byte: S (go on) or N (no TLS).
            return [
                ClearExchange(send: [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]) { bytes in
                    guard let first = bytes.first else { return .needMore }
                    return first == UInt8(ascii: "S")
                        ? .proceed : .done(.failed("the server answered the SSLRequest with \(Line.text(bytes))"))
                }
            ]
        case .ldap:
            return [
                ClearExchange(send: LDAP.startTLSRequest) { bytes in
                    LDAP.judgeResult(bytes, operation: 0x78).map { $0 ? .proceed : .done(.failed("StartTLS refused")) }
                        ?? .needMore
                }
            ]
        case .xmpp:
            return [
                ClearExchange(send: XMPP.streamHeader(context.host)) { bytes in
                    let text = Line.text(bytes)
                    if text.contains("</stream:features>") || text.contains("/>") && text.contains("features") {
                        return text.contains("starttls")
                            ? .proceed : .done(.failed("the server does not offer STARTTLS"))
                    }
                    return text.contains("</stream:stream>")
                        ? .done(.failed("stream closed: \(text.prefix(80))")) : .needMore
                },
                ClearExchange(send: Array("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>".utf8)) { bytes in
                    let text = Line.text(bytes)
                    if text.contains("<proceed") { return .proceed }
                    return text.contains("<failure") ? .done(.failed("STARTTLS refused")) : .needMore
                },
            ]
        case .nats:
            // Nothing to ask: the INFO line says whether the server speaks TLS; the handshake follows it at once.
            return [ClearExchange(judge: NATS.upgrade)]
        }
    }

    /// MySQL negotiates TLS inside its own handshake: the server's greeting, then an SSLRequest packet.
    static let mysqlUpgrade: [ClearExchange] = [
        ClearExchange(judge: MySQL.greeting),
        ClearExchange(send: MySQL.sslRequest) { _ in .proceed },
    ]

    // MARK: - In clear: is the service served without TLS?

    /// The plaintext probe: the protocol's request in clear, judged as served or refused.
    static func plaintext(_ proto: AppProbeProtocol, _ context: Context) -> [ClearExchange] {
        switch proto {
        case .smtp:
            return [
                ClearExchange(judge: Line.reply("220")),
                ClearExchange(send: Line.bytes("EHLO bulkhead.test"), judge: Line.smtpFinal { _ in .proceed }),
                ClearExchange(
                    send: Line.bytes("MAIL FROM:<probe@bulkhead.test>"),
                    judge: Line.smtpFinal { lines in
                        let last = lines.last ?? ""
                        return last.hasPrefix("2") ? .done(.served(last)) : .done(.refused(last))
                    }),
            ]
        case .imap:
            return [
                ClearExchange(judge: Line.reply("* OK")),
                ClearExchange(send: Line.bytes("a1 CAPABILITY")) { bytes in
                    let text = Line.text(bytes)
                    guard text.contains("a1 ") else { return .needMore }
                    if text.uppercased().contains("LOGINDISABLED") {
                        return .done(.refused("LOGINDISABLED before STARTTLS"))
                    }
                    return text.contains("a1 OK")
                        ? .done(.served("login offered in clear")) : .done(.refused(Line.firstLine(text)))
                },
            ]
        case .pop3:
            return [
                ClearExchange(judge: Line.reply("+OK")),
                ClearExchange(send: Line.bytes("USER probe")) { bytes in
                    guard let line = Line.complete(bytes) else { return .needMore }
                    return line.hasPrefix("+OK") ? .done(.served(line)) : .done(.refused(line))
                },
            ]
        case .ftp:
            return [
                ClearExchange(judge: Line.ftpReply("220")),
                ClearExchange(send: Line.bytes("USER anonymous")) { bytes in
                    guard let line = Line.complete(bytes) else { return .needMore }
                    return line.hasPrefix("331") || line.hasPrefix("230") ? .done(.served(line)) : .done(.refused(line))
                },
            ]
        case .postgres:
            return [ClearExchange(send: Postgres.startup(context.user), judge: Postgres.judge)]
        case .redis:
            return [ClearExchange(send: Line.bytes("PING"), judge: Redis.judgeInClear)]
        case .mysql:
            // MySQL greets in clear even when it requires TLS: the login without TLS is what is judged.
            return [
                ClearExchange(judge: MySQL.greeting),
                ClearExchange(send: MySQL.handshakeResponse(context.user, sequence: 1, tls: false), judge: MySQL.judge),
            ]
        case .http:
            return [
                ClearExchange(send: HTTP.request(context.host)) { bytes in
                    bytes.isEmpty ? .needMore : .done(HTTP.judgeInClear(bytes))
                }
            ]
        case .ldap:
            // An anonymous bind in clear: slapd serves it on the StartTLS port unless `security tls=` forbids it
            // (resultCode 13, confidentialityRequired). An HTTP request there would only be dropped: never served.
            return [ClearExchange(send: LDAP.anonymousBind, judge: LDAP.judgeBindInClear)]
        case .xmpp:
            // The stream header in clear: prosody answers any other bytes with a stream error in text, which the HTTP
            // judge would take for a service answering in clear.
            return [ClearExchange(send: XMPP.streamHeader(context.host), judge: XMPP.judgeFeaturesInClear)]
        case .mqtt:
            // CONNECT in clear: a broker without TLS answers CONNACK (an HTTP request it would only drop, so a plain
            // listener came out `error`, never plaintext-accepted).
            return [ClearExchange(send: MQTT.connect, judge: MQTT.judgeInClear)]
        case .amqp:
            // The protocol header in clear: a broker without TLS answers Connection.Start.
            return [ClearExchange(send: AMQP.header, judge: AMQP.judgeInClear)]
        case .nats:
            // CONNECT and PING in clear after the INFO line: `PONG` is served; a server that requires TLS answers
            // `-ERR 'Secure Connection - TLS Required'` (or closes).
            return [
                ClearExchange(judge: NATS.infoInClear),
                ClearExchange(send: NATS.connect(tls: false), judge: NATS.judge),
            ]
        case .grpc, .generic:
            return [
                ClearExchange(send: HTTP.request(context.host)) { bytes in
                    bytes.isEmpty ? .needMore : .done(HTTP.judgeInClear(bytes))
                }
            ]
        }
    }

    // MARK: - After the handshake

    /// The request after the handshake, chosen from the protocol and the ALPN the server selected.
    static func application(_ proto: AppProbeProtocol, alpn: String?, _ context: Context) -> (
        name: String, exchanges: [ClearExchange]
    ) {
        if alpn == "h2" || proto == .grpc {
            return ("h2", [ClearExchange(send: HTTP2.request(context.host), judge: HTTP2.judge)])
        }
        switch proto {
        case .http: return ("http/1.1", [ClearExchange(send: HTTP.request(context.host), judge: HTTP.judgeOverTLS)])
        case .grpc: return ("h2", [ClearExchange(send: HTTP2.request(context.host), judge: HTTP2.judge)])
        case .redis: return ("redis", [ClearExchange(send: Line.bytes("PING"), judge: Redis.judgeOverTLS)])
        case .postgres:
            return (
                "postgres", [ClearExchange(send: Postgres.startup(context.user), judge: Self.overTLS(Postgres.judge))]
            )
        case .mysql:
            return ("mysql", [ClearExchange(send: MySQL.handshakeResponse(context.user), judge: MySQL.judgeOverTLS)])
        // CONNACK 4 or 5 (bad credentials, not authorized: Mosquitto's `allow_anonymous false`) names no
        // certificate: over TLS the broker answering at all is served, as a password wanted is for PostgreSQL.
        case .mqtt: return ("mqtt", [ClearExchange(send: MQTT.connect, judge: Self.overTLS(MQTT.judge))])
        case .amqp: return ("amqp", [ClearExchange(send: AMQP.header, judge: AMQP.judge)])
        // `-ERR 'Authorization Violation'` (a user or token wanted) names no certificate: served, as for MQTT.
        case .nats: return ("nats", [ClearExchange(send: NATS.connect(tls: true), judge: Self.overTLS(NATS.judge))])
        case .smtp:
            return (
                "smtp",
                [
                    ClearExchange(
                        send: Line.bytes("EHLO bulkhead.test"),
                        judge: Line.smtpFinal { lines in .done(Self.lineAnswer(lines.last ?? "", success: "250")) })
                ]
            )
        case .imap:
            return (
                "imap",
                [
                    ClearExchange(send: Line.bytes("a2 CAPABILITY")) { bytes in
                        let text = Line.text(bytes)
                        guard text.contains("a2 ") else { return .needMore }
                        return text.contains("a2 OK")
                            ? .done(.served("CAPABILITY answered")) : .done(Self.refusal(Line.firstLine(text)))
                    }
                ]
            )
        case .pop3:
            return (
                "pop3",
                [
                    ClearExchange(send: Line.bytes("CAPA")) { bytes in
                        guard let line = Line.complete(bytes) else { return .needMore }
                        return .done(Self.lineAnswer(line, success: "+OK"))
                    }
                ]
            )
        case .ftp:
            return (
                "ftp",
                [
                    ClearExchange(
                        send: Line.bytes("FEAT"),
                        judge: Line.ftpFinal { line in .done(Self.lineAnswer(line, success: "211")) })
                ]
            )
        case .ldap:
            return (
                "ldap",
                [
                    ClearExchange(send: LDAP.anonymousBind) { bytes in
                        // A bind refused over TLS (anonymous binds disallowed, a password wanted) is the directory answering:
                        // a refusal of the certificate only when its message names it.
                        guard let result = LDAP.result(bytes, operation: 0x61) else { return .needMore }
                        return .done(
                            result.code == 0
                                ? .served("bind answered")
                                : Self.refusal("bind refused (\(result.code)): \(result.message)"))
                    }
                ]
            )
        case .xmpp:
            return (
                "xmpp",
                [
                    ClearExchange(send: XMPP.streamHeader(context.host)) { bytes in
                        let text = Line.text(bytes)
                        if text.contains("features") { return .done(.served("stream features")) }
                        if text.contains("<stream:error") || text.contains("</stream:stream>") {
                            return .done(Self.refusal(String(text.prefix(120))))
                        }
                        return .needMore
                    }
                ]
            )
        case .generic:
            return (
                "generic",
                [
                    ClearExchange(send: HTTP.request(context.host)) { bytes in
                        bytes.isEmpty ? .needMore : .done(Self.anyAnswer(bytes))
                    }
                ]
            )
        }
    }

    /// A protocol's error reply read over TLS: in clear any error refuses the client, after the handshake only one
    /// that names the certificate does (``refusal(_:)``).
    static func overTLS(_ judge: @escaping @Sendable ([UInt8]) -> ExchangeStep) -> @Sendable ([UInt8]) -> ExchangeStep {
        { bytes in
            guard case .done(.refused(let text)) = judge(bytes) else { return judge(bytes) }
            return .done(Self.refusal(text))
        }
    }

    /// A line-protocol reply: the success code is served; anything else is a refusal only when it names the
    /// certificate or authentication (else the service did answer: served).
    static func lineAnswer(_ line: String, success: String) -> ServiceAnswer {
        line.hasPrefix(success) ? .served(line) : Self.refusal(line)
    }

    /// An error reply after the handshake: a refusal only when it names the certificate or TLS. Anything else
    /// (a password wanted, `-NOAUTH`, an unknown role) means the TLS layer let this client through to the
    /// application: served, as far as client certificates go.
    static func refusal(_ text: String) -> ServiceAnswer {
        RefusalWords.namesCertificate(text) ? .refused(text) : .served(text)
    }

    /// After the handshake, any bytes are the application answering, unless they are an HTTP refusal.
    static func anyAnswer(_ bytes: [UInt8]) -> ServiceAnswer {
        if Line.text(bytes).hasPrefix("HTTP/") { return HTTP.judgeResponse(bytes) }
        return .served(Line.printable(bytes, limit: 80))
    }
}

/// The words that make an error reply a refusal of this client's certificate or of cleartext, matched as whole words
/// where a longer word could hold them (`OpenSSL` in a banner names no certificate).
enum RefusalWords {
    /// The reply names the certificate, TLS or SSL (`client certificate required`, `No required SSL certificate was
    /// sent`, `-ERR TLS required`).
    static func namesCertificate(_ text: String) -> Bool {
        let lower = text.lowercased()
        return lower.contains("certificate") || Self.containsWord(lower, "cert") || Self.containsWord(lower, "ssl")
            || Self.containsWord(lower, "tls")
    }

    /// In clear: the reply asks for TLS instead of serving: a word naming TLS (TLS, SSL, HTTPS, STARTTLS, STLS,
    /// encryption) next to a word asking for it: `required`, `requires`, `require`, `must` or `use`, within three words
    /// before it or after it (`-ERR TLS required`, `please use HTTPS`, `530 Must issue a STARTTLS command first`, `this
    /// port requires SSL`), and not `not required`. A link (`see https://…`) names nothing; words far apart (`only
    /// speaks RESP; TLS is not enabled`, `TLS optional, please see HELP`) ask for nothing.
    static func demandsTLS(_ text: String) -> Bool {
        let words = text.lowercased().split { !($0.isLetter || $0.isNumber) && $0 != "/" && $0 != ":" }
            .filter { !$0.hasPrefix("https://") && !$0.hasPrefix("http://") }
            .flatMap { $0.split(separator: "/") }
        let namesTLS: Set<Substring> = ["tls", "ssl", "https", "starttls", "stls", "encryption", "encrypted"]
        let asks: Set<Substring> = ["required", "requires", "require", "must", "use"]
        for (index, word) in words.enumerated() where namesTLS.contains(word) {
            for near in max(0, index - 3)...min(words.count - 1, index + 3) where asks.contains(words[near]) {
                let negated = near > 0 && ["not", "no"].contains(words[near - 1])
                if !negated { return true }
            }
        }
        return false
    }

    /// `word` in `text` with no letter, digit or underscore on either side.
    static func containsWord(_ text: String, _ word: String) -> Bool {
        let bytes = Array(text.utf8)
        let target = Array(word.utf8)
        guard target.count <= bytes.count else { return false }
        func isWordByte(_ byte: UInt8) -> Bool {
            (0x61...0x7a).contains(byte) || (0x41...0x5a).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x5f
        }
        for start in 0...(bytes.count - target.count) where bytes[start..<(start + target.count)].elementsEqual(target)
        {
            let before = start == 0 || !isWordByte(bytes[start - 1])
            let end = start + target.count
            let after = end == bytes.count || !isWordByte(bytes[end])
            if before && after { return true }
        }
        return false
    }
}

// MARK: - Line protocols

/// Helpers for CRLF line protocols (SMTP, IMAP, POP3, FTP).
enum Line {
    static func bytes(_ command: String) -> [UInt8] { Array((command + "\r\n").utf8) }

    /// Bytes as text (invalid UTF-8 repaired), for matching only.
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    static func firstLine(_ text: String) -> String {
        String(text.split(whereSeparator: \.isNewline).first ?? "")
    }

    /// The first complete line, or nil while it has not ended.
    static func complete(_ bytes: [UInt8]) -> String? {
        guard let end = bytes.firstIndex(of: 0x0a) else { return nil }
        return Self.printable(Array(bytes[..<end]), limit: 200)
    }

    /// Every complete line.
    static func lines(_ bytes: [UInt8]) -> [String] {
        guard let last = bytes.lastIndex(of: 0x0a) else { return [] }
        return bytes[...last].split(separator: 0x0a).map { Self.printable(Array($0), limit: 200) }
    }

    /// A one-line reply that must start with `code` (then: go on); any other reply ends the exchange.
    static func reply(_ code: String) -> @Sendable ([UInt8]) -> ExchangeStep {
        { bytes in
            guard let line = Self.complete(bytes) else { return .needMore }
            return line.hasPrefix(code) ? .proceed : .done(.failed(line))
        }
    }

    /// IMAP: wait for the tagged reply; OK goes on.
    static func tagged(_ tag: String) -> @Sendable ([UInt8]) -> ExchangeStep {
        { bytes in
            guard let line = Self.lines(bytes).first(where: { $0.hasPrefix(tag + " ") }) else { return .needMore }
            return line.hasPrefix(tag + " OK") ? .proceed : .done(.failed(line))
        }
    }

    /// SMTP multi-line replies end with a line whose code is followed by a space (or by nothing).
    static func smtpFinal(_ then: @escaping @Sendable ([String]) -> ExchangeStep) -> @Sendable ([UInt8]) -> ExchangeStep
    {
        { bytes in
            let lines = Self.lines(bytes)
            guard let last = lines.last, last.count >= 3, last.count == 3 || last.dropFirst(3).first == " " else {
                return .needMore
            }
            return then(lines)
        }
    }

    /// FTP replies: a multi-line reply ends with `CODE ` on its last line; `code` goes on.
    static func ftpReply(_ code: String) -> @Sendable ([UInt8]) -> ExchangeStep {
        Self.ftpFinal { line in line.hasPrefix(code) ? .proceed : .done(.failed(line)) }
    }

    static func ftpFinal(_ then: @escaping @Sendable (String) -> ExchangeStep) -> @Sendable ([UInt8]) -> ExchangeStep {
        { bytes in
            let lines = Self.lines(bytes)
            guard let last = lines.last, last.count >= 4, last.dropFirst(3).first == " " else { return .needMore }
            return then(last)
        }
    }

    /// Printable text: control bytes escaped (a hostile server cannot write escape sequences into a report).
    static func printable(_ bytes: [UInt8], limit: Int) -> String {
        var text = ""
        for byte in bytes.prefix(limit) {
            switch byte {
            case 0x0d: continue
            case 0x0a: text += " "
            case 0x20..<0x7f: text.unicodeScalars.append(Unicode.Scalar(byte))
            default: text += "\\x" + String(byte, radix: 16)
            }
        }
        return text
    }
}

// MARK: - HTTP

enum HTTP {
    static func request(_ host: String?) -> [UInt8] {
        Array(
            "GET / HTTP/1.1\r\nHost: \(host ?? "localhost")\r\nUser-Agent: bulkhead\r\nConnection: close\r\n\r\n".utf8)
    }

    /// The status code of an HTTP/1.x status line, once the line is complete.
    static func status(_ bytes: [UInt8]) -> Int? {
        guard let line = Line.complete(bytes), line.hasPrefix("HTTP/") else { return nil }
        let parts = line.split(separator: " ")
        return parts.count >= 2 ? Int(parts[1]) : nil
    }

    /// In clear: a status below 400 is served; 4xx/5xx (nginx, Go, Apache, Envoy answering plain HTTP on a TLS
    /// port) or a TLS record is a refusal; other bytes answer in clear (served).
    static func judgeInClear(_ bytes: [UInt8]) -> ServiceAnswer {
        if bytes.count >= 2 && (bytes[0] == 0x15 || bytes[0] == 0x16) && bytes[1] == 0x03 {
            return .refused("answered with a TLS record")
        }
        if Line.text(Array(bytes.prefix(5))) == "HTTP/" {
            guard let status = Self.status(bytes) else {
                return .refused("incomplete HTTP status line: \(Line.printable(bytes, limit: 80))")
            }
            let line = Line.complete(bytes) ?? ""
            return status < 400 ? .served(line) : .refused(line + Self.reasonSuffix(bytes))
        }
        // A banner in text (SSH-2.0, 220, +OK) is a protocol answering in clear; binary noise proves no service.
        let head = bytes.prefix(64)
        let printable = head.filter { (0x20..<0x7f).contains($0) || $0 == 0x0d || $0 == 0x0a || $0 == 0x09 }.count
        guard printable * 10 >= head.count * 9 else {
            return .failed(
                "binary answer in clear that no protocol check recognises: \(Line.printable(bytes, limit: 40))")
        }
        let text = "answered in clear: \(Line.printable(bytes, limit: 80))"
        // `-ERR TLS required`, `please use HTTPS`: a refusal in words, not a service answering in clear.
        return RefusalWords.demandsTLS(Line.text(Array(bytes.prefix(512)))) ? .refused(text) : .served(text)
    }

    /// Over TLS: a refusal names the certificate (nginx `400 No required SSL certificate was sent`, `400 The SSL
    /// certificate error`, 495/496, a 403 about the certificate); any other answer is served.
    static func judgeOverTLS(_ bytes: [UInt8]) -> ExchangeStep {
        guard Line.complete(bytes) != nil else {
            return bytes.count >= 16_384 ? .done(.served("answered: \(Line.printable(bytes, limit: 80))")) : .needMore
        }
        return .done(Self.judgeResponse(bytes))
    }

    static func judgeResponse(_ bytes: [UInt8]) -> ServiceAnswer {
        let text = Line.text(bytes)
        guard let status = Self.status(bytes) else { return .served("answered: \(Line.printable(bytes, limit: 80))") }
        // The reason is read from the status line and the body only: a header (`Server: Apache/2.4.57 (Unix)
        // OpenSSL/3.0.11`) says what the server runs, nothing about this client.
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return Self.judge(status: status, statusLine: Line.firstLine(text), body: body)
    }

    /// An answer over TLS, HTTP/1.x or HTTP/2 alike: 495/496 (nginx's certificate errors) and a 400/401/403/421 whose
    /// status line or body names the certificate are refusals; any other 401 or 403 is a denial that proves nothing by
    /// itself (it may refuse this identity, or every request to `/`); anything else is served.
    static func judge(status: Int, statusLine: String, body: String) -> ServiceAnswer {
        if status == 495 || status == 496 { return .refused(statusLine) }
        if [400, 401, 403, 421].contains(status) && RefusalWords.namesCertificate(statusLine + "\n" + body) {
            return .refused(statusLine + Self.title(body))
        }
        if status == 401 || status == 403 { return .denied(status: status, statusLine) }
        return .served(statusLine)
    }

    /// nginx says why in the body's title: `<title>400 No required SSL certificate was sent</title>`.
    static func reasonSuffix(_ bytes: [UInt8]) -> String { Self.title(Line.text(bytes)) }

    /// ` (TITLE)` of an HTML answer, or nothing.
    static func title(_ text: String) -> String {
        guard let start = text.range(of: "<title>"),
            let end = text.range(of: "</title>", range: start.upperBound..<text.endIndex)
        else { return "" }
        return " (" + Line.printable(Array(text[start.upperBound..<end.lowerBound].utf8), limit: 80) + ")"
    }
}

// MARK: - Binary protocols

enum Redis {
    /// In clear, any RESP reply to PING (`+PONG`, `-NOAUTH`…) means Redis is spoken without TLS.
    static func judgeInClear(_ bytes: [UInt8]) -> ExchangeStep {
        guard let line = Line.complete(bytes) else { return .needMore }
        guard let first = line.first, "+-$*:".contains(first) else { return .done(HTTP.judgeInClear(bytes)) }
        // `-ERR TLS required` refuses in clear; any other reply (`-NOAUTH` too) is Redis spoken without TLS.
        return .done(first == "-" && RefusalWords.demandsTLS(line) ? .refused(line) : .served(line))
    }

    static func judgeOverTLS(_ bytes: [UInt8]) -> ExchangeStep {
        guard let line = Line.complete(bytes) else { return .needMore }
        return .done(line.hasPrefix("-") ? ApplicationProbes.refusal(line) : .served(line))
    }
}

enum Postgres {
    /// StartupMessage, protocol 3.0, with a user and database.
    static func startup(_ user: String) -> [UInt8] {
        var body: [UInt8] = [0, 3, 0, 0]
        for (key, value) in [("user", user), ("database", user), ("application_name", "bulkhead")] {
            body += Array(key.utf8) + [0] + Array(value.utf8) + [0]
        }
        body.append(0)
        let length = UInt32(body.count + 4)
        return [UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)] + body
    }

    /// `R` (an authentication request) is served; `E` is a refusal with the server's message.
    static func judge(_ bytes: [UInt8]) -> ExchangeStep {
        guard let type = bytes.first else { return .needMore }
        switch type {
        case UInt8(ascii: "R"): return .done(.served("authentication request"))
        case UInt8(ascii: "E"):
            guard bytes.count >= 5 else { return .needMore }
            let length = Int(bytes[1]) << 24 | Int(bytes[2]) << 16 | Int(bytes[3]) << 8 | Int(bytes[4])
            guard bytes.count >= min(1 + length, 4096) else { return .needMore }
            return .done(.refused("ErrorResponse: " + Self.message(Array(bytes.prefix(1 + length)))))
        default: return .done(.failed("not a PostgreSQL reply: \(Line.printable(bytes, limit: 40))"))
        }
    }

    /// The `M` field of an ErrorResponse.
    static func message(_ bytes: [UInt8]) -> String {
        var index = 5
        while index < bytes.count, bytes[index] != 0 {
            let code = bytes[index]
            let end = bytes[(index + 1)...].firstIndex(of: 0) ?? bytes.count
            if code == UInt8(ascii: "M") { return Line.printable(Array(bytes[(index + 1)..<end]), limit: 160) }
            index = end + 1
        }
        return "(no message)"
    }
}

enum MySQL {
    /// HandshakeResponse41 with a user and no password: sequence 2 after the SSLRequest, 1 in clear.
    static func handshakeResponse(_ user: String, sequence: UInt8 = 2, tls: Bool = true) -> [UInt8] {
        // protocol 41, secure connection, plugin auth, and SSL when it follows the SSLRequest
        let capabilities: UInt32 = 0x0000_0200 | 0x0000_8000 | 0x0008_0000 | (tls ? 0x0000_0800 : 0)
        var body = Self.little(capabilities) + Self.little(16_777_216) + [33] + [UInt8](repeating: 0, count: 23)
        body += Array(user.utf8) + [0] + [0] + Array("mysql_native_password".utf8) + [0]
        return Self.packet(body, sequence: sequence)
    }

    /// The SSLRequest (sequence 1) sent in clear after the server's greeting.
    static let sslRequest: [UInt8] = {
        let capabilities: UInt32 = 0x0000_0200 | 0x0000_8000 | 0x0000_0800 | 0x0008_0000
        return packet(little(capabilities) + little(16_777_216) + [33] + [UInt8](repeating: 0, count: 23), sequence: 1)
    }()

    static func packet(_ body: [UInt8], sequence: UInt8) -> [UInt8] {
        [UInt8(body.count & 0xff), UInt8(body.count >> 8 & 0xff), UInt8(body.count >> 16 & 0xff), sequence] + body
    }

    static func little(_ value: UInt32) -> [UInt8] {
        [UInt8(value & 0xff), UInt8(value >> 8 & 0xff), UInt8(value >> 16 & 0xff), UInt8(value >> 24)]
    }

    /// OK, auth switch or more-data packets are served; an ERR packet is a refusal with its message.
    static func judge(_ bytes: [UInt8]) -> ExchangeStep {
        guard bytes.count >= 5 else { return .needMore }
        switch bytes[4] {
        case 0xff: return .done(.refused("ERR " + Line.printable(Array(bytes.dropFirst(13)), limit: 120)))
        default: return .done(.served("MySQL reply 0x\(String(bytes[4], radix: 16))"))
        }
    }

    /// After the handshake. MariaDB and MySQL refuse an account's `REQUIRE X509 | ISSUER | SUBJECT` with the same
    /// ERR 1045 "Access denied for user … (using password: NO)" as a wrong password, naming neither SSL nor the
    /// certificate: that answer proves nothing by itself, so it is not judged here; the server then closes, and the
    /// close is compared with the valid certificate's connection (served, with the same user and no password).
    static func judgeOverTLS(_ bytes: [UInt8]) -> ExchangeStep {
        if bytes.count >= 7, bytes[4] == 0xff, Int(bytes[5]) | Int(bytes[6]) << 8 == 1045 { return .needMore }
        return ApplicationProbes.overTLS(Self.judge)(bytes)
    }

    /// The server's greeting (a protocol 10 handshake packet) before the SSLRequest.
    static func greeting(_ bytes: [UInt8]) -> ExchangeStep {
        guard bytes.count >= 5 else { return .needMore }
        let length = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16
        guard bytes.count >= min(4 + length, 1024) else { return .needMore }
        return bytes[4] == 10 ? .proceed : .done(.failed("not a MySQL greeting"))
    }
}

enum MQTT {
    /// CONNECT, protocol level 4 (3.1.1), clean session, keep-alive 10 s, client id `bulkhead`.
    static let connect: [UInt8] = {
        let variable: [UInt8] = [0, 4] + Array("MQTT".utf8) + [4, 0x02, 0, 10]
        let payload: [UInt8] = [0, 8] + Array("bulkhead".utf8)
        return [0x10, UInt8(variable.count + payload.count)] + variable + payload
    }()

    /// CONNACK return code 0 is served; 4/5 (bad credentials, not authorized) are refusals.
    static func judge(_ bytes: [UInt8]) -> ExchangeStep {
        guard bytes.count >= 4 else { return .needMore }
        guard bytes[0] == 0x20 else { return .done(.served("MQTT packet 0x\(String(bytes[0], radix: 16))")) }
        return bytes[3] == 0 ? .done(.served("CONNACK accepted")) : .done(.refused("CONNACK return code \(bytes[3])"))
    }

    /// In clear only a CONNACK is MQTT (a TLS port answers with an alert record or closes).
    static func judgeInClear(_ bytes: [UInt8]) -> ExchangeStep {
        guard let first = bytes.first else { return .needMore }
        return first == 0x20 ? Self.judge(bytes) : .done(HTTP.judgeInClear(bytes).notThisProtocol)
    }
}

enum AMQP {
    static let header: [UInt8] = Array("AMQP".utf8) + [0, 0, 9, 1]

    /// A Connection.Start method frame is served; the server's own protocol header back is a mismatch.
    static func judge(_ bytes: [UInt8]) -> ExchangeStep {
        guard bytes.count >= 8 else { return .needMore }
        if Line.text(Array(bytes.prefix(4))) == "AMQP" { return .done(.failed("protocol header mismatch")) }
        return .done(.served(bytes[0] == 1 ? "Connection.Start" : "AMQP frame type \(bytes[0])"))
    }

    /// In clear a method frame (Connection.Start) is served; the broker's protocol header (another version), a TLS
    /// record or anything else refuses.
    static func judgeInClear(_ bytes: [UInt8]) -> ExchangeStep {
        guard let first = bytes.first else { return .needMore }
        guard first == 1 || first == UInt8(ascii: "A") else { return .done(HTTP.judgeInClear(bytes).notThisProtocol) }
        guard bytes.count >= 8 else { return .needMore }
        return first == 1
            ? .done(.served("Connection.Start in clear")) : .done(.refused("AMQP protocol header mismatch"))
    }
}

/// NATS (nats-server): every connection opens with the server's `INFO {…}` line; a server with TLS says
/// `tls_required` there and reads the client's ClientHello next (the in-place upgrade), then `CONNECT {…}` and `PING`.
enum NATS {
    /// `CONNECT` without credentials, then `PING`: a server that lets the client in answers `PONG`.
    static func connect(tls: Bool) -> [UInt8] {
        Array(
            #"CONNECT {"verbose":false,"pedantic":false,"tls_required":\#(tls),"name":"bulkhead","lang":"swift","version":"1","protocol":1}"#
                .utf8) + Array("\r\nPING\r\n".utf8)
    }

    /// The server's INFO object, once its line is complete; nil while it is not (or when the line is no INFO).
    static func info(_ bytes: [UInt8]) -> (complete: Bool, object: [String: Any]?) {
        guard let end = bytes.firstIndex(of: 0x0a) else { return (false, nil) }
        let line = bytes[..<end]
        guard line.starts(with: Array("INFO ".utf8)) else { return (true, nil) }
        let object = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(5))) as? [String: Any]
        return (true, object)
    }

    /// Before the handshake: INFO offering TLS goes on; INFO without it, or another line, cannot be upgraded.
    static func upgrade(_ bytes: [UInt8]) -> ExchangeStep {
        let info = Self.info(bytes)
        guard info.complete else { return .needMore }
        guard let object = info.object else {
            return .done(.failed("not a NATS INFO line: \(Line.printable(bytes, limit: 80))"))
        }
        let offered = object["tls_required"] as? Bool == true || object["tls_available"] as? Bool == true
        return offered ? .proceed : .done(.failed("the server's INFO offers no TLS"))
    }

    /// The plaintext probe's first step: any INFO goes on (whether the server then serves a client in clear is what
    /// the CONNECT shows); anything else is not NATS.
    static func infoInClear(_ bytes: [UInt8]) -> ExchangeStep {
        guard let first = bytes.first else { return .needMore }
        guard first == UInt8(ascii: "I") else { return .done(HTTP.judgeInClear(bytes).notThisProtocol) }
        let info = Self.info(bytes)
        guard info.complete else { return .needMore }
        return info.object == nil ? .done(.refused(Line.printable(bytes, limit: 80))) : .proceed
    }

    /// The answer to CONNECT and PING: `PONG` is served, `-ERR …` refuses (`+OK`, `PING` and a new `INFO` are
    /// skipped).
    static func judge(_ bytes: [UInt8]) -> ExchangeStep {
        for line in Line.lines(bytes) {
            let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if text == "PONG" { return .done(.served("PONG")) }
            if text.hasPrefix("-ERR") { return .done(.refused(text)) }
        }
        return .needMore
    }
}

enum LDAP {
    /// ExtendedRequest (message 1) for StartTLS, OID 1.3.6.1.4.1.1466.20037.
    static let startTLSRequest: [UInt8] = {
        let oid = Array("1.3.6.1.4.1.1466.20037".utf8)
        let extended: [UInt8] = [0x77, UInt8(oid.count + 2), 0x80, UInt8(oid.count)] + oid
        return [0x30, UInt8(extended.count + 3), 0x02, 0x01, 0x01] + extended
    }()

    /// An anonymous simple BindRequest (message 2).
    static let anonymousBind: [UInt8] = [
        0x30, 0x0c, 0x02, 0x01, 0x02, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00,
    ]

    /// Finds the response with `operation` (0x78 ExtendedResponse, 0x61 BindResponse): true for resultCode 0,
    /// nil while incomplete.
    static func judgeResult(_ bytes: [UInt8], operation: UInt8) -> Bool? {
        Self.result(bytes, operation: operation).map { $0.code == 0 }
    }

    /// The resultCode and diagnosticMessage of the response with `operation`; nil while incomplete, code -1 when the
    /// bytes are not that response.
    static func result(_ bytes: [UInt8], operation: UInt8) -> (code: Int, message: String)? {
        // 30 LL 02 01 ID OP LL 0A 01 CODE 04 LL matchedDN 04 LL diagnosticMessage
        guard bytes.count >= 2, bytes[0] == 0x30 else {
            return bytes.isEmpty ? nil : (-1, "not an LDAP message: \(Line.printable(bytes, limit: 40))")
        }
        var index = 2
        if bytes[1] & 0x80 != 0 { index += Int(bytes[1] & 0x7f) }
        guard bytes.count > index + 2 else { return nil }
        index += 2 + Int(bytes[index + 1])  // message id
        guard bytes.count > index + 1 else { return nil }
        guard bytes[index] == operation else { return (-1, "LDAP operation 0x\(String(bytes[index], radix: 16))") }
        index += 2
        if bytes[index - 1] & 0x80 != 0 { index += Int(bytes[index - 1] & 0x7f) }
        guard bytes.count > index + 2 else { return nil }
        guard bytes[index] == 0x0a else { return (-1, "no LDAP resultCode") }
        let code = Int(bytes[index + 2])
        // matchedDN, then diagnosticMessage (short-form lengths, as slapd's short messages use): best effort.
        var message = ""
        var field = index + 3
        for position in 0..<2 {
            guard bytes.count > field + 1, bytes[field] == 0x04, bytes[field + 1] & 0x80 == 0 else { break }
            let end = min(bytes.count, field + 2 + Int(bytes[field + 1]))
            if position == 1 { message = Line.printable(Array(bytes[(field + 2)..<end]), limit: 120) }
            field = end
        }
        return (code, message)
    }

    /// The anonymous bind in clear: resultCode 0 is served; any other code, or bytes that are not LDAP (a TLS
    /// alert from an LDAPS port), refuse it.
    static func judgeBindInClear(_ bytes: [UInt8]) -> ExchangeStep {
        guard let first = bytes.first else { return .needMore }
        guard first == 0x30 else { return .done(HTTP.judgeInClear(bytes).notThisProtocol) }
        guard let result = Self.result(bytes, operation: 0x61) else { return .needMore }
        return .done(
            result.code == 0
                ? .served("anonymous bind in clear answered")
                : .refused("bind refused in clear (\(result.code)): \(result.message)"))
    }
}

enum XMPP {
    static func streamHeader(_ host: String?) -> [UInt8] {
        Array(
            "<?xml version='1.0'?><stream:stream to='\(host ?? "localhost")' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
                .utf8)
    }

    /// The stream features in clear: STARTTLS marked `<required/>` refuses the client that does not upgrade (prosody's
    /// `c2s_require_encryption`); features without it let the stream go on in clear (served); a stream error refuses.
    static func judgeFeaturesInClear(_ bytes: [UInt8]) -> ExchangeStep {
        let text = Line.text(bytes)
        if text.contains("<stream:error") || text.contains("</stream:stream>") {
            return .done(.refused("stream error in clear: \(Line.printable(bytes, limit: 120))"))
        }
        guard text.contains("</stream:features>") || text.contains("<stream:features/>") else {
            // Not XML at all (a TLS alert from a direct-TLS port): judged as any answer in clear is.
            return text.hasPrefix("<") || bytes.isEmpty ? .needMore : .done(HTTP.judgeInClear(bytes).notThisProtocol)
        }
        if let starttls = text.range(of: "<starttls"),
            let end = text.range(of: "</starttls>", range: starttls.upperBound..<text.endIndex),
            text[starttls.upperBound..<end.lowerBound].contains("<required")
        {
            return .done(.refused("STARTTLS required before anything else"))
        }
        return .done(.served("stream features in clear without STARTTLS required"))
    }
}

extension ServiceAnswer {
    /// An answer in clear that is not the probed protocol's (a TLS alert, binary noise, readable text of another
    /// protocol): never served, whatever the HTTP judge made of it.
    var notThisProtocol: ServiceAnswer {
        switch self {
        case .served, .failed, .denied, .closed: .refused(self.text)
        case .refused: self
        }
    }
}
