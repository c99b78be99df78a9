import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import PacketAnalysis

/// The property that matters most in a tool that reads other people's traffic: no byte of a secret it finds reaches
/// any output. Requests of every protocol the extractor knows, in every shape (odd whitespace, case, tabs, no scheme,
/// no colon, literals…), carry random secrets; they are written as real pcap files and run through every output
/// format of `bulkhead analyze` and of `bulkhead audit --capture`, standard error included.
///
/// A leak is a 4-byte window of a secret — raw, as sent on the wire (base64…), base64 of the secret at every
/// alignment, hex — found in the output, in any case. Outputs hold boilerplate (HTML, SARIF) in which any short window
/// can occur by chance, so each capture is run twice: once with the secrets, once with *twins* (other secrets of the
/// same lengths, everything else equal). A window counts only when it appears in the secret's run and not in the
/// twin's: output that does not depend on the secret cannot leak it.
///
/// The seed is printed; `BULKHEAD_LEAK_SEED=n` replays one.
@Suite("Credential secrets never reach any output (property)", .serialized)
struct CredentialLeakPropertyTests {
    /// Secret bytes: each one's hex form has a letter nibble, so that a hex window can never be taken for the digits
    /// of a duration or timestamp, which differ between two runs.
    static let secretAlphabet: [UInt8] =
        Array(0x2a...0x2f) + Array(0x3a...0x3f) + Array(0x4a...0x4f) + Array(0x5a...0x5f)
        + Array(0x6a...0x6f) + Array(0x7a...0x7e)
    static let users = ["alice", "svc-backup", "cn=ops", "root", "deploy"]

    /// One request: what the server greets with (server-first protocols), what the client sends, and what is secret.
    struct Sample {
        var shape: String
        var serverPort: Int
        var greeting: [UInt8]?
        var client: [UInt8]
        var expectedKind: String
        /// The secret as the user typed it, and as it crossed the wire (base64 token, quoted string…).
        var secret: [UInt8]
        var wire: [UInt8]
    }

    enum Shape: CaseIterable {
        case httpBasic, httpBasicNoColon, httpBasicKeyColon, httpBasicKeyPlaceholder, httpBasicTokenPlaceholder,
            httpBasicColonFirst, httpBasicUnpadded, httpBearer, httpNoScheme,
            httpUnknownScheme, httpSecretThenWord, httpDigest, httpNegotiate, httpTokenHeader, httpURLSecret,
            httpFormSecret, httpJSONSecret
        case ftp, pop3UserPass, pop3AuthPlain, smtpAuthPlain, smtpAuthPlainNextLine, smtpAuthPlainAuthzid,
            smtpAuthPlainMalformed,
            smtpAuthLogin, smtpAuthLoginInitial, imapLogin, imapLoginQuoted, imapLoginLiteral, imapAuthenticatePlain,
            imapAuthenticatePlainNextLine
        case postgres, redisAuth, redisAuthUser, redisHello, redisInline, redisInlineUser, redisInlineQuoted,
            redisInlineTab,
            redisAuthTooManyWords
        case mysqlClear, mysqlClearLong, mysqlDialog, ldapSimpleBind
        case socks5Password
        case mqtt311, mqtt5Will, amqpPlain, amqpAMQPLAIN, amqp10Plain, natsPassword, natsToken, stompConnect
        case h2cBearer
        case zookeeperDigest
        case memcachedSASLPlain
    }

    /// The choices that are not the secret, drawn once and shared by a sample and its twin.
    struct Choices {
        var shape: Shape
        var user: String
        var variant: Int
        var length: Int
    }

    static func b64(_ bytes: [UInt8]) -> [UInt8] { Array(Data(bytes).base64EncodedString().utf8) }

    /// Case and whitespace variants of an HTTP header, chosen by `variant`.
    static func httpRequest(_ variant: Int, scheme: String?, credentials: [UInt8]) -> [UInt8] {
        let names = ["Authorization", "authorization", "AUTHORIZATION", "Proxy-Authorization", "proxy-authorization"]
        let afterColon = ["", " ", "\t", "  ", " \t"]
        let afterScheme = [" ", "\t", "  ", "\t ", " \t"]
        let trailing = ["", " ", "\t", "  "]
        var schemeText = ""
        if let scheme {
            let cased = [
                scheme, scheme.lowercased(), scheme.uppercased(),
                String(
                    scheme.enumerated().map {
                        $0.offset % 2 == 0 ? Character($0.element.uppercased()) : Character($0.element.lowercased())
                    }),
            ]
            schemeText = cased[variant / 7 % cased.count] + afterScheme[variant / 3 % afterScheme.count]
        }
        let header =
            Array((names[variant % names.count] + ":" + afterColon[variant / 5 % afterColon.count] + schemeText).utf8)
            + credentials + Array(trailing[variant / 11 % trailing.count].utf8)
        return Array("GET /api/items HTTP/1.1\r\nHost: svc.test\r\nAccept: */*\r\n".utf8) + header
            + Array("\r\n\r\n".utf8)
    }

    /// Every byte but letters and digits as `%XX`, as a form or URL carries it.
    static func percentEncoded(_ bytes: [UInt8]) -> [UInt8] {
        bytes.flatMap { byte -> [UInt8] in
            let plain =
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
            return plain ? [byte] : Array(String(format: "%%%02X", byte).utf8)
        }
    }

    static func resp(_ arguments: [[UInt8]]) -> [UInt8] {
        var bytes = Array("*\(arguments.count)\r\n".utf8)
        for argument in arguments { bytes += Array("$\(argument.count)\r\n".utf8) + argument + Array("\r\n".utf8) }
        return bytes
    }

    /// Backslash-escapes `"` and `\` (IMAP quoted strings, Redis inline double quotes).
    static func quoted(_ bytes: [UInt8]) -> [UInt8] {
        [0x22] + bytes.flatMap { $0 == 0x22 || $0 == 0x5c ? [0x5c, $0] : [$0] } + [0x22]
    }

    static func mysqlGreeting() -> [UInt8] {
        let body: [UInt8] =
            [10] + Array("8.0.36\0".utf8) + [1, 0, 0, 0] + Array("abcdefgh".utf8) + [
                0, 0xff, 0xf7, 33, 2, 0, 0xff, 0xdf, 21,
            ]
            + [UInt8](repeating: 0, count: 10) + Array("ijklmnopqrst\0".utf8) + Array("mysql_native_password\0".utf8)
        return [UInt8(body.count & 0xff), UInt8(body.count >> 8), 0, 0] + body
    }

    /// A HandshakeResponse41 with CLIENT_PLUGIN_AUTH and length-encoded auth data, sending the password in clear.
    static func mysqlResponse(user: String, password: [UInt8]) -> [UInt8] {
        let response = password + [0]
        var lengthEncoded: [UInt8] =
            response.count < 0xfb
            ? [UInt8(response.count)] : [0xfc, UInt8(response.count & 0xff), UInt8(response.count >> 8)]
        lengthEncoded += response
        // PROTOCOL_41, SECURE_CONNECTION, PLUGIN_AUTH, PLUGIN_AUTH_LENENC_CLIENT_DATA.
        var packet: [UInt8] = PacketBuilder.le32(0x002a_a205)
        packet += PacketBuilder.le32(16_777_216) + [33] + [UInt8](repeating: 0, count: 23)
        packet += Array(user.utf8) + [0] + lengthEncoded + Array("mysql_clear_password\0".utf8)
        return [UInt8(packet.count & 0xff), UInt8(packet.count >> 8 & 0xff), UInt8(packet.count >> 16), 1] + packet
    }

    /// A HandshakeResponse41 answering with a mysql_native_password scramble (20 bytes).
    static func mysqlNativeResponse(user: String) -> [UInt8] {
        var packet: [UInt8] = PacketBuilder.le32(0x002a_a205)
        packet += PacketBuilder.le32(16_777_216) + [33] + [UInt8](repeating: 0, count: 23)
        packet += Array(user.utf8) + [0] + [20] + [UInt8](repeating: 0x5a, count: 20)
        packet += Array("mysql_native_password\0".utf8)
        return [UInt8(packet.count & 0xff), UInt8(packet.count >> 8 & 0xff), UInt8(packet.count >> 16), 1] + packet
    }

    static func ldapBind(dn: String, password: [UInt8]) -> [UInt8] {
        func tlv(_ tag: UInt8, _ value: [UInt8]) -> [UInt8] {
            value.count < 128
                ? [tag, UInt8(value.count)] + value
                : [tag, 0x82, UInt8(value.count >> 8), UInt8(value.count & 0xff)] + value
        }
        let bind = tlv(0x02, [3]) + tlv(0x04, Array(dn.utf8)) + tlv(0x80, password)
        return tlv(0x30, tlv(0x02, [1]) + tlv(0x60, bind))
    }

    static func sample(_ choices: Choices, secret: [UInt8]) -> Sample {
        let user = choices.user
        let u = Array(user.utf8)
        let variant = choices.variant
        func http(_ kind: String, scheme: String?, _ credentials: [UInt8], wire: [UInt8]? = nil) -> Sample {
            Sample(
                shape: "\(choices.shape)", serverPort: 8080, greeting: nil,
                client: httpRequest(variant, scheme: scheme, credentials: credentials), expectedKind: kind,
                secret: secret, wire: wire ?? credentials)
        }
        func text(_ port: Int, _ greeting: String, _ client: [UInt8], _ kind: String, wire: [UInt8]) -> Sample {
            Sample(
                shape: "\(choices.shape)", serverPort: port, greeting: Array(greeting.utf8), client: client,
                expectedKind: kind, secret: secret, wire: wire)
        }
        let crlf = Array("\r\n".utf8)
        let smtpGreeting = "220 mail.test ESMTP ready\r\n"
        let imapGreeting = "* OK IMAP4rev1 ready\r\n"
        let plain = b64([0] + u + [0] + secret)
        switch choices.shape {
        case .httpBasic: return http("http-basic", scheme: "Basic", b64(u + [0x3a] + secret))
        case .httpBasicNoColon: return http("http-basic", scheme: "Basic", b64(secret))
        case .httpBasicKeyColon: return http("http-basic", scheme: "Basic", b64(secret + [0x3a]))
        case .httpBasicKeyPlaceholder: return http("http-basic", scheme: "Basic", b64(secret + Array(":X".utf8)))
        case .httpBasicTokenPlaceholder:
            // A token as the user with a placeholder password of 4 characters or more (GitHub's `x-oauth-basic`).
            let placeholders = ["x-oauth-basic", "api_token", "apikey", "X-OAuth-Basic", "token"]
            let placeholder = placeholders[variant % placeholders.count]
            return http("http-basic", scheme: "Basic", b64(secret + Array(":\(placeholder)".utf8)))
        case .httpBasicColonFirst: return http("http-basic", scheme: "Basic", b64([0x3a] + secret))
        case .httpBasicUnpadded:
            return http("http-basic", scheme: "basic", b64(u + [0x3a] + secret).filter { $0 != 0x3d })
        case .httpBearer: return http("http-bearer", scheme: "Bearer", secret)
        case .httpNoScheme: return http("http-other", scheme: nil, secret)
        case .httpUnknownScheme:
            return http("http-other", scheme: ["Token", "ApiKey", "SSWS", "AWS4-HMAC-SHA256"][variant % 4], secret)
        case .httpSecretThenWord: return http("http-other", scheme: nil, secret + Array(" realm".utf8))
        case .httpDigest:
            return http(
                "http-digest", scheme: "Digest",
                Array("username=\"\(user)\", realm=\"svc\", nonce=\"n0nce\", uri=\"/api/items\", response=\"".utf8)
                    + secret + [0x22],
                wire: secret)
        case .httpNegotiate: return http("http-negotiate", scheme: "Negotiate", secret)
        case .httpTokenHeader:
            let names = ["X-Vault-Token", "x-consul-token", "X-API-KEY", "Private-Token", "apikey"]
            let name = names[variant % names.count]
            let client =
                Array("GET /v1/kv/app HTTP/1.1\r\nHost: svc.test\r\n\(name):\(variant % 2 == 0 ? " " : "\t")".utf8)
                + secret + Array("\r\nAccept: */*\r\n\r\n".utf8)
            return Sample(
                shape: "\(choices.shape)", serverPort: 8080, greeting: nil, client: client,
                expectedKind: name.lowercased().hasSuffix("key") ? "http-api-key" : "http-token", secret: secret,
                wire: secret)
        case .httpJSONSecret:
            let wire = BrokerMessages.jsonEscaped(secret)
            let names = ["password", "Password", "client_secret", "api_key", "refresh_token"]
            let body =
                Array(
                    "{\"username\": \"\(user)\", \"\(names[variant % names.count])\":\(variant % 2 == 0 ? " " : "")\""
                        .utf8)
                + wire + Array("\"}".utf8)
            let client =
                Array(
                    "POST /api/auth HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
                        .utf8)
                + body
            return Sample(
                shape: "\(choices.shape)", serverPort: 8080, greeting: nil, client: client,
                expectedKind: "http-json-secret", secret: secret, wire: wire)
        case .httpURLSecret, .httpFormSecret:
            let encoded = Self.percentEncoded(secret)
            let names = ["access_token", "token", "jwt", "client_secret", "password", "API_KEY"]
            let list =
                Array(
                    "user=\(String(decoding: Self.percentEncoded(u), as: UTF8.self))&\(names[variant % names.count])="
                        .utf8)
                + encoded + Array("&v=1".utf8)
            let client =
                choices.shape == .httpURLSecret
                ? Array("GET /stream?".utf8) + list + Array(" HTTP/1.1\r\nHost: svc.test\r\n\r\n".utf8)
                : Array(
                    "POST /token HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: \(list.count)\r\n\r\n"
                        .utf8) + list
            return Sample(
                shape: "\(choices.shape)", serverPort: 8080, greeting: nil, client: client,
                expectedKind: choices.shape == .httpURLSecret ? "http-url-secret" : "http-form-secret", secret: secret,
                wire: encoded)
        case .ftp:
            return text(
                21, "220 files.test FTP server ready\r\n",
                Array("USER \(user)\r\nPASS ".utf8) + secret + crlf + Array("PWD\r\n".utf8), "ftp", wire: secret)
        case .pop3UserPass:
            return text(
                110, "+OK POP3 ready\r\n", Array("USER \(user)\r\nPASS ".utf8) + secret + crlf, "pop3", wire: secret)
        case .pop3AuthPlain:
            return text(
                110, "+OK POP3 ready\r\n", Array("AUTH PLAIN ".utf8) + plain + crlf, "pop3-auth-plain", wire: plain)
        case .smtpAuthPlain:
            return text(
                25, smtpGreeting, Array("EHLO c.test\r\nAUTH PLAIN ".utf8) + plain + crlf, "smtp-auth-plain",
                wire: plain)
        case .smtpAuthPlainNextLine:
            return text(
                25, smtpGreeting, Array("EHLO c.test\r\nAUTH PLAIN\r\n".utf8) + plain + crlf, "smtp-auth-plain",
                wire: plain)
        case .smtpAuthPlainAuthzid:
            let token = b64(u + [0] + u + [0] + secret)
            return text(
                25, smtpGreeting, Array("EHLO c.test\r\nAUTH PLAIN ".utf8) + token + crlf, "smtp-auth-plain",
                wire: token)
        case .smtpAuthPlainMalformed:
            let token = b64(variant % 2 == 0 ? secret : secret + [0])
            return text(
                25, smtpGreeting, Array("EHLO c.test\r\nAUTH PLAIN ".utf8) + token + crlf, "smtp-auth-plain",
                wire: token)
        case .smtpAuthLogin:
            return text(
                25, smtpGreeting, Array("EHLO c.test\r\nAUTH LOGIN\r\n".utf8) + b64(u) + crlf + b64(secret) + crlf,
                "smtp-auth-login", wire: b64(secret))
        case .smtpAuthLoginInitial:
            return text(
                25, smtpGreeting, Array("EHLO c.test\r\nAUTH LOGIN ".utf8) + b64(u) + crlf + b64(secret) + crlf,
                "smtp-auth-login", wire: b64(secret))
        case .imapLogin:
            return text(143, imapGreeting, Array("a1 LOGIN \(user) ".utf8) + secret + crlf, "imap-login", wire: secret)
        case .imapLoginQuoted:
            return text(
                143, imapGreeting, Array("a1 LOGIN \"\(user)\" ".utf8) + quoted(secret) + crlf, "imap-login",
                wire: quoted(secret))
        case .imapLoginLiteral:
            return text(
                143, imapGreeting, Array("a1 LOGIN {\(u.count)}\r\n\(user) {\(secret.count)}\r\n".utf8) + secret + crlf,
                "imap-login", wire: secret)
        case .imapAuthenticatePlain:
            return text(
                143, imapGreeting, Array("a1 AUTHENTICATE PLAIN ".utf8) + plain + crlf, "imap-auth-plain", wire: plain)
        case .imapAuthenticatePlainNextLine:
            return text(
                143, imapGreeting, Array("a1 AUTHENTICATE PLAIN\r\n".utf8) + plain + crlf, "imap-auth-plain",
                wire: plain)
        case .postgres:
            let parameters = Array("user\0\(user)\0database\0app\0\0".utf8)
            let startup = PacketBuilder.be32(UInt32(8 + parameters.count)) + PacketBuilder.be32(196_608) + parameters
            let password = [UInt8(ascii: "p")] + PacketBuilder.be32(UInt32(4 + secret.count + 1)) + secret + [0]
            return Sample(
                shape: "\(choices.shape)", serverPort: 5432, greeting: nil, client: startup + password,
                expectedKind: "postgresql-cleartext-password", secret: secret, wire: secret)
        case .redisAuth, .redisAuthUser, .redisHello, .redisInline, .redisInlineUser, .redisInlineQuoted,
            .redisInlineTab, .redisAuthTooManyWords:
            let client: [UInt8]
            var wire = secret
            switch choices.shape {
            case .redisAuth: client = resp([Array("AUTH".utf8), secret])
            case .redisAuthUser: client = resp([Array("auth".utf8), u, secret])
            case .redisHello:
                client = resp([
                    Array("HELLO".utf8), Array("3".utf8), Array("AUTH".utf8), u, secret, Array("SETNAME".utf8),
                    Array("app".utf8),
                ])
            case .redisInline: client = Array("AUTH ".utf8) + secret + crlf
            case .redisInlineUser: client = Array("AUTH \(user) ".utf8) + secret + crlf
            case .redisInlineQuoted:
                wire = quoted(secret)
                client = Array("AUTH ".utf8) + wire + crlf
            case .redisInlineTab: client = Array("AUTH\t".utf8) + secret + crlf
            default:
                client =
                    Array("AUTH ".utf8) + Array(secret.prefix(secret.count / 2)) + [0x20]
                    + Array(secret.dropFirst(secret.count / 2)) + Array(" x\r\n".utf8)
            }
            return Sample(
                shape: "\(choices.shape)", serverPort: 6379, greeting: nil, client: client + Array("PING\r\n".utf8),
                expectedKind: "redis-auth", secret: secret, wire: wire)
        case .mysqlClear, .mysqlClearLong:
            return Sample(
                shape: "\(choices.shape)", serverPort: 3306, greeting: mysqlGreeting(),
                client: mysqlResponse(user: user, password: secret),
                expectedKind: "mysql-clear-password", secret: secret, wire: secret)
        case .mysqlDialog:
            // A native scramble first; the server switches the login to dialog (MariaDB's PAM), asking for the
            // password (question type 4), and the client answers with it.
            let switchRequest = [0xfe] + Array("dialog\0".utf8) + [4] + Array("Password: ".utf8)
            let answer = secret + [0]
            return Sample(
                shape: "\(choices.shape)", serverPort: 3306,
                greeting: mysqlGreeting() + [UInt8(switchRequest.count), 0, 0, 2] + switchRequest,
                client: mysqlNativeResponse(user: user) + [UInt8(answer.count), 0, 0, 3] + answer,
                expectedKind: "mysql-clear-password", secret: secret, wire: secret)
        case .ldapSimpleBind:
            return Sample(
                shape: "\(choices.shape)", serverPort: 389, greeting: nil,
                client: ldapBind(dn: "cn=\(user),dc=test", password: secret),
                expectedKind: "ldap-simple-bind", secret: secret, wire: secret)
        case .mqtt311, .mqtt5Will, .amqpPlain, .amqpAMQPLAIN, .amqp10Plain, .natsPassword, .natsToken, .stompConnect,
            .h2cBearer:
            return brokerSample(choices, secret: secret)
        case .zookeeperDigest:
            // `addauth digest user:password`: an AuthPacket after the ConnectRequest (the password may hold colons).
            return Sample(
                shape: "\(choices.shape)", serverPort: 2181, greeting: nil,
                client: ZooKeeperTests.connect() + ZooKeeperTests.auth("digest", u + [0x3a] + secret)
                    + ZooKeeperTests.list,
                expectedKind: "zookeeper-digest", secret: secret, wire: secret)
        case .memcachedSASLPlain:
            // A binary SASL auth with PLAIN's token (authzid, user, password), after the mechanisms were listed.
            return Sample(
                shape: "\(choices.shape)", serverPort: 11211, greeting: nil,
                client: MemcachedBinaryTests.listMechanisms
                    + MemcachedBinaryTests.auth("PLAIN", [0] + u + [0] + secret) + MemcachedBinaryTests.get,
                expectedKind: "memcached-sasl-plain", secret: secret, wire: secret)
        case .socks5Password:
            // The proxy's answers (method 2, password accepted, CONNECT granted) sent first: each direction is read
            // on its own, so their order against the client's bytes does not matter.
            let answers: [UInt8] = [5, 2, 1, 0, 5, 0, 0, 1, 198, 19, 211, 2, 0x1f, 0x90]
            let request: [UInt8] = [5, 1, 0, 1, 198, 19, 211, 2, 0x01, 0xbb]
            let client: [UInt8] =
                [5, 1, 2, 1, UInt8(u.count)] + u + [UInt8(secret.count)] + secret + request
                + Array("GET / HTTP/1.1\r\n\r\n".utf8)
            return Sample(
                shape: "\(choices.shape)", serverPort: 1080, greeting: answers, client: client,
                expectedKind: "socks5-username-password", secret: secret, wire: secret)
        }
    }

    /// The broker shapes' samples (MQTT, AMQP 0-9-1, NATS): the messages are ``BrokerMessages``'.
    static func brokerSample(_ choices: Choices, secret: [UInt8]) -> Sample {
        let user = choices.user
        func sample(_ port: Int, _ greeting: [UInt8]?, _ client: [UInt8], _ kind: String, wire: [UInt8]) -> Sample {
            Sample(
                shape: "\(choices.shape)", serverPort: port, greeting: greeting, client: client, expectedKind: kind,
                secret: secret, wire: wire)
        }
        switch choices.shape {
        case .mqtt311:
            return sample(
                1883, nil, BrokerMessages.mqttConnect(level: 4, user: user, password: secret), "mqtt", wire: secret)
        case .mqtt5Will:
            return sample(
                1883, nil, BrokerMessages.mqttConnect(level: 5, user: user, password: secret, will: true), "mqtt",
                wire: secret)
        case .amqpPlain:
            return sample(
                5672, nil,
                BrokerMessages.amqpStartOk(mechanism: "PLAIN", response: [0] + Array(user.utf8) + [0] + secret),
                "amqp-plain", wire: secret)
        case .amqpAMQPLAIN:
            return sample(
                5672, nil,
                BrokerMessages.amqpStartOk(
                    mechanism: "AMQPLAIN", response: BrokerMessages.amqpLoginTable(user: user, password: secret)),
                "amqp-amqplain", wire: secret)
        case .amqp10Plain:
            return sample(
                5672, nil,
                BrokerMessages.amqp10(
                    BrokerMessages.amqp10SASLFrame(
                        code: 0x41, fields: [Array("PLAIN".utf8), [0] + Array(user.utf8) + [0] + secret],
                        symbolFirst: true, wide: choices.variant % 2 == 1)),
                "amqp-plain", wire: secret)
        case .h2cBearer:
            // `authorization: Bearer <secret>` as a never-indexed literal (static name 23, the value not Huffman-coded)
            // in a HEADERS frame after the preface and SETTINGS.
            let value = Array("Bearer ".utf8) + secret
            let block: [UInt8] = [0x83, 0x1f, 0x08, UInt8(value.count)] + value
            return sample(
                50051, nil, HTTP2CredentialTests.clientStream(block, split: block.count), "http-bearer", wire: secret)
        case .stompConnect:
            return sample(
                61613, nil,
                BrokerMessages.stompConnect(
                    command: choices.variant % 2 == 0 ? "CONNECT" : "STOMP",
                    headers: [("login", Array(user.utf8)), ("passcode", secret)],
                    newline: choices.variant % 3 == 0 ? "\r\n" : "\n"),
                "stomp", wire: secret)
        case .natsPassword, .natsToken:
            let wire = BrokerMessages.jsonEscaped(secret)
            let fields =
                choices.shape == .natsToken
                ? Array("\"auth_token\":\"".utf8) + wire + [0x22]
                : Array("\"user\":\"\(user)\",\"pass\":\"".utf8) + wire + [0x22]
            return sample(
                4222, Array(BrokerMessages.natsInfo.utf8), BrokerMessages.natsConnect(fields),
                choices.shape == .natsToken ? "nats-token" : "nats-password", wire: wire)
        default:
            preconditionFailure("not a broker shape: \(choices.shape)")
        }
    }

    static func randomSecret(_ length: Int, _ random: inout SeededGenerator, without excluded: Set<UInt8> = [])
        -> [UInt8]
    {
        let alphabet = Self.secretAlphabet.filter { !excluded.contains($0) }
        return (0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
    }

    /// Bytes a secret of `shape` cannot hold: the shapes where a secret holds no colon by construction (a colon in
    /// a Basic value does split user from password, RFC 7617).
    /// Nor can an unquoted inline Redis secret hold quotes: Redis itself would split it there (`sdssplitargs`).
    static func excluded(_ shape: Shape) -> Set<UInt8> {
        switch shape {
        case .httpBasicNoColon, .httpBasicKeyColon, .httpBasicKeyPlaceholder, .httpBasicTokenPlaceholder,
            .httpBasicColonFirst:
            [0x3a]
        case .redisInline, .redisInlineUser, .redisInlineTab, .redisAuthTooManyWords: [0x22, 0x27]
        default: []
        }
    }

    /// Every shape `perShape` times, with secrets and their twins.
    static func samples(seed: UInt64, perShape: Int) -> [(Sample, Sample)] {
        var random = SeededGenerator(state: seed)
        var pairs: [(Sample, Sample)] = []
        for shape in Shape.allCases {
            for _ in 0..<perShape {
                let length = shape == .mysqlClearLong ? 260 + Int(random.next() % 40) : 8 + Int(random.next() % 40)
                let choices = Choices(
                    shape: shape, user: Self.users[Int(random.next() % UInt64(Self.users.count))],
                    variant: Int(random.next() % 10_000), length: length)
                let secret = Self.randomSecret(length, &random, without: Self.excluded(shape))
                let twin = Self.randomSecret(length, &random, without: Self.excluded(shape))
                pairs.append((Self.sample(choices, secret: secret), Self.sample(choices, secret: twin)))
            }
        }
        return pairs
    }

    /// One TCP connection per sample (client port 20000 + index), in one pcap.
    static func capture(_ samples: [Sample]) -> [UInt8] {
        var frames: [[UInt8]] = []
        for (index, sample) in samples.enumerated() {
            var conversation = TCPConversation(clientPort: 20_000 + index, serverPort: sample.serverPort)
            conversation.handshake()
            if let greeting = sample.greeting { conversation.send(greeting, fromClient: false) }
            conversation.send(sample.client, fromClient: true, segmentSize: 700)
            conversation.close()
            frames += conversation.frames
        }
        return PacketBuilder.pcap(frames.enumerated().map { (UInt32(1_700_000_000 + $0.offset), $0.element) })
    }

    // MARK: - Windows

    static func lowered(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte }

    static func gram(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.reduce(UInt32(0)) { $0 << 8 | UInt32(Self.lowered($1)) }
    }

    /// Every 4-byte window of `text`, lower-cased.
    static func grams(_ text: [UInt8]) -> Set<UInt32> {
        var result = Set<UInt32>()
        guard text.count >= 4 else { return result }
        result.reserveCapacity(text.count)
        for start in 0...(text.count - 4) { result.insert(Self.gram(text[start..<(start + 4)])) }
        return result
    }

    /// The encodings of a secret whose windows must never be printed: raw, as sent, base64 at each alignment (the
    /// characters that also depend on neighbouring bytes dropped), hex.
    static func forbiddenWindows(_ sample: Sample) -> [(encoding: String, window: UInt32)] {
        var forms: [(String, [UInt8])] = [("raw", sample.secret), ("wire", sample.wire)]
        for (pad, drop) in [(0, 0), (1, 2), (2, 3)] {
            let encoded = Self.b64([UInt8](repeating: 0x41, count: pad) + sample.secret)
            // The last 4 characters may mix in padding bits.
            let usable = Array(encoded.dropFirst(drop).dropLast(4))
            // A base64 window of digits alone could be a duration's digits, which differ between runs.
            forms.append(("base64+\(pad)", usable))
        }
        forms.append(("hex", Array(sample.secret.map { String(format: "%02x", $0) }.joined().utf8)))
        var windows: [(String, UInt32)] = []
        for (encoding, form) in forms where form.count >= 4 {
            for start in 0...(form.count - 4) {
                let slice = form[start..<(start + 4)]
                if encoding.hasPrefix("base64"), slice.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { continue }
                windows.append((encoding, Self.gram(slice)))
            }
        }
        return windows
    }

    /// The windows of `sample`'s secret found in `output` but not in `twinOutput`, described.
    static func leaks(_ sample: Sample, in output: Set<UInt32>, notIn twinOutput: Set<UInt32>) -> [String] {
        Self.forbiddenWindows(sample).compactMap { encoding, window in
            guard output.contains(window) && !twinOutput.contains(window) else { return nil }
            let text = String(
                decoding: (0..<4).map { UInt8(truncatingIfNeeded: window >> (24 - 8 * $0)) }, as: UTF8.self)
            return "\(encoding) \(text.debugDescription)"
        }
    }

    // MARK: - Running bulkhead

    /// Every output of `analyze` (table, json, jsonl) and `audit --capture` (all its formats), standard error
    /// included, for the capture at `path`; and the credential kinds seen per client port (from the JSON).
    static func outputs(capture path: String, directory: String) throws -> (text: [UInt8], kinds: [Int: [String]]) {
        var text: [UInt8] = []
        var kinds: [Int: [String]] = [:]
        for format in ["table", "json", "jsonl"] {
            let run = try BulkheadExecutable.run(["analyze", "--format", format, "--threads", "1", path])
            #expect(run.status == 1, "analyze --format \(format): \(run.error)")
            text += Array(run.output.utf8) + Array(run.error.utf8)
            if format == "json" {
                let document = try #require(
                    try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
                for flow in document["flows"] as? [[String: Any]] ?? [] {
                    let client = flow["client"] as? String ?? ""
                    let port = Int(client.split(separator: ":").last ?? "") ?? -1
                    kinds[port] = (flow["credentials"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
                }
            }
        }
        let formats = ["json", "html", "sarif", "junit", "prometheus", "markdown", "dot"]
        var arguments = [
            "audit", "--capture", path, "--no-probe", "--no-tls", "--state-dir", directory + "/state", "--format",
            "table",
        ]
        for format in formats { arguments += ["--output", "\(format)=\(directory)/audit.\(format)"] }
        // No engine: containers that other tests start would change the inventory (and its hex IDs) between the two runs.
        var environment = ProcessInfo.processInfo.environment
        environment["DOCKER_HOST"] = "unix://\(directory)/no-engine.sock"
        let audit = try BulkheadExecutable.run(arguments, environment: environment)
        text += Array(audit.output.utf8) + Array(audit.error.utf8)
        for format in formats {
            let report = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/audit.\(format)"))
            #expect(!report.isEmpty, "audit wrote \(format)")
            text += Array(report)
        }
        return (text, kinds)
    }

    static var seed: UInt64 {
        if let text = ProcessInfo.processInfo.environment["BULKHEAD_LEAK_SEED"], let value = UInt64(text) {
            return value
        }
        return 0x6275_6c6b_6865_6164  // fixed by default: the run is reproducible; set the variable to explore others
    }

    @Test(
        "no 4-byte window of any secret, in any encoding or case, in any output format or on stderr", arguments: [0, 1])
    func noSecretInAnyOutput(round: Int) throws {
        let seed = Self.seed &+ UInt64(round)
        print("credential leak property: seed \(seed) (replay with BULKHEAD_LEAK_SEED=\(Self.seed))")
        let pairs = Self.samples(seed: seed, perShape: 6)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bulkhead-leak-\(seed)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer {
            if ProcessInfo.processInfo.environment["BULKHEAD_LEAK_KEEP"] == nil {
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
        let path = directory + "/capture.pcap"

        let secretCapture = Self.capture(pairs.map(\.0))
        let twinCapture = Self.capture(pairs.map(\.1))
        try Data(secretCapture).write(to: URL(fileURLWithPath: path))
        let withSecrets = try Self.outputs(capture: path, directory: directory)
        try Data(twinCapture).write(to: URL(fileURLWithPath: path))
        let withTwins = try Self.outputs(capture: path, directory: directory)
        let outputGrams = Self.grams(withSecrets.text)
        let twinGrams = Self.grams(withTwins.text)

        // The detector itself must see every secret in the capture bytes, or finding nothing proves nothing.
        let captureGrams = Self.grams(secretCapture)
        let twinCaptureGrams = Self.grams(twinCapture)
        for (index, pair) in pairs.enumerated() {
            let sample = pair.0
            #expect(
                !Self.leaks(sample, in: captureGrams, notIn: twinCaptureGrams).isEmpty,
                "detector misses sample \(index) (\(sample.shape))")
            // The credential was found, with the expected kind: a missed credential would pass the leak check vacuously.
            #expect(
                withSecrets.kinds[20_000 + index]?.contains(sample.expectedKind) == true,
                "seed \(seed), sample \(index) \(sample.shape): kinds \(withSecrets.kinds[20_000 + index] ?? [])")
            let leaked = Self.leaks(sample, in: outputGrams, notIn: twinGrams)
            #expect(
                leaked.isEmpty,
                "seed \(seed), sample \(index) \(sample.shape): secret windows printed (\(Set(leaked).sorted()))")
            let twinLeaked = Self.leaks(pair.1, in: twinGrams, notIn: outputGrams)
            #expect(
                twinLeaked.isEmpty,
                "seed \(seed), twin \(index) \(sample.shape): secret windows printed (\(Set(twinLeaked).sorted()))")
        }
    }

    /// The same property in process, on the extractor's own output, with secrets of any printable byte (a twin
    /// again tells the fixed words of a description from what depends on the secret).
    @Test("extracted credentials hold no window of the secret (in process, 5,000 requests)")
    func extractorNeverEchoesTheSecret() throws {
        var random = SeededGenerator(state: Self.seed ^ 0x5eed)
        print("credential leak property (in process): seed \(Self.seed ^ 0x5eed)")
        let printable = Array(UInt8(0x21)...UInt8(0x7e))
        func printed(_ sample: Sample) throws -> (kinds: [String], grams: Set<UInt32>, text: String) {
            let proto: ApplicationProtocol =
                switch sample.serverPort {
                case 8080: .http
                case 21: .ftp
                case 110: .pop3
                case 25: .smtp
                case 143: .imap
                case 5432: .postgresql
                case 6379: .redis
                case 3306: .mysql
                case 1883: .mqtt
                case 5672: .amqp
                case 4222: .nats
                case 61613: .stomp
                case 50051: .http2
                case 2181: .zookeeper
                case 11211: .memcached
                default: .ldap
                }
            // A SOCKS 5 password is read by the proxy-handshake reader, with the proxy's answers.
            let credentials =
                sample.serverPort == 1080
                ? sample.client.withUnsafeBytes { client in
                    (sample.greeting ?? []).withUnsafeBytes {
                        TunnelDetector.open(client: client, server: $0)?.credentials ?? []
                    }
                }
                : sample.client.withUnsafeBytes { client in
                    // The server's bytes too: a MySQL server's AuthSwitchRequest says what the client sent next.
                    (sample.greeting ?? []).withUnsafeBytes {
                        CredentialExtractor.extract(proto, client: client, server: $0)
                    }
                }
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let json = Array(try encoder.encode(credentials))
            return (credentials.map(\.kind), Self.grams(json), String(decoding: json, as: UTF8.self))
        }
        for iteration in 0..<5_000 {
            let shape = Shape.allCases[iteration % Shape.allCases.count]
            let length = shape == .mysqlClearLong ? 300 : 8 + Int(random.next() % 40)
            let alphabet = printable.filter { !Self.excluded(shape).contains($0) }
            let secret = (0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            let twin = (0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            let choices = Choices(
                shape: shape, user: Self.users[Int(random.next() % UInt64(Self.users.count))],
                variant: Int(random.next() % 10_000), length: length)
            let sample = Self.sample(choices, secret: secret)
            let found = try printed(sample)
            let twinFound = try printed(Self.sample(choices, secret: twin))
            #expect(found.kinds.contains(sample.expectedKind), "iteration \(iteration) \(shape): \(found.kinds)")
            let leaked = Self.leaks(sample, in: found.grams, notIn: twinFound.grams)
            #expect(leaked.isEmpty, "iteration \(iteration) \(shape) \(leaked): \(found.text)")
            if !leaked.isEmpty || !found.kinds.contains(sample.expectedKind) { break }
        }
    }
}
