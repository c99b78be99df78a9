import BulkheadModel
import Foundation

/// Finds credentials that a client sent in clear, and describes them without the secret.
///
/// Works on the first bytes the client sent (the inspection window). The user name is kept where the
/// protocol carries one; a password or token is only ever described by its length.
package enum CredentialExtractor {
    /// `server`: the server's bytes, where they are kept (a MySQL server's AuthSwitchRequest says what the client's
    /// next answer is).
    package static func extract(
        _ proto: ApplicationProtocol, client: UnsafeRawBufferPointer,
        server: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) -> [Credential] {
        switch proto {
        case .http: http(client)
        case .http2: http2(client)
        case .redis: redis(client)
        case .postgresql: postgres(client)
        case .mysql: mysqlLogin(client: client, server: server)
        case .ftp: ftpOrPOP3(client, kind: "ftp")
        case .pop3: ftpOrPOP3(client, kind: "pop3") + saslLines(client, prefix: "pop3")
        case .smtp: saslLines(client, prefix: "smtp", replies: server.isEmpty ? nil : smtpReplies(server))
        case .imap: imap(client)
        case .ldap: ldapSimpleBind(client)
        case .mqtt: mqtt(client)
        case .amqp: amqp(client)
        case .nats: nats(client)
        case .stomp: stomp(client)
        case .kafka: kafka(client)
        case .zookeeper: zookeeper(client)
        case .memcached: memcachedBinary(client)
        default: []
        }
    }

    static func secretDescription(_ name: String, _ length: Int) -> String {
        // Concatenated rather than interpolated: interpolation cost nearly 3,000 instructions per credential.
        name + ": " + String(length) + (length == 1 ? " character (redacted)" : " characters (redacted)")
    }

    /// The byte ranges of the text lines of a buffer (LF or CRLF, line end excluded), at most `limit`.
    /// Working on bytes keeps bulk payload (request bodies, binary values) from ever becoming Strings.
    static func lineRanges(_ bytes: UnsafeRawBufferPointer, limit: Int = 4096) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        guard let base = bytes.baseAddress else { return ranges }
        var start = 0
        // memchr finds each line end far faster than a loop over the bytes (headers and bodies of every HTTP flow).
        while start < bytes.count, ranges.count < limit,
            let found = memchr(base + start, 0x0a, bytes.count - start)
        {
            let index = base.distance(to: UnsafeRawPointer(found))
            let end = index > start && bytes[index - 1] == 0x0d ? index - 1 : index
            ranges.append(start..<end)
            start = index + 1
        }
        if start < bytes.count, ranges.count < limit { ranges.append(start..<bytes.count) }
        return ranges
    }

    /// Whether some `:` in `bytes` comes right after `name` (lower-case; matched ignoring ASCII case): true for every
    /// buffer with a line starting `name:`, and found with `memchr` from colon to colon, far faster than splitting
    /// into lines. A cheap test that lets the line-by-line search run only where it can find something.
    static func hasColon(after name: StaticString, in bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return false }
        let length = name.utf8CodeUnitCount
        var start = length
        while start < bytes.count, let found = memchr(base + start, 0x3a, bytes.count - start) {
            let colon = base.distance(to: UnsafeRawPointer(found))
            var matches = true
            for offset in 0..<length {
                let actual = bytes[colon - length + offset]
                let lowered = actual >= 0x41 && actual <= 0x5a ? actual | 0x20 : actual
                if lowered != name.utf8Start[offset] {
                    matches = false
                    break
                }
            }
            if matches { return true }
            start = colon + 1
        }
        return false
    }

    /// Whether the line starts with `prefix`, ignoring ASCII case.
    static func line(
        _ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, startsWith prefix: String, at offset: Int = 0
    ) -> Bool {
        var index = range.lowerBound + offset
        for byte in prefix.utf8 {
            guard index < range.upperBound else { return false }
            let actual = bytes[index]
            let lowered = actual >= 0x41 && actual <= 0x5a ? actual | 0x20 : actual
            guard lowered == byte else { return false }
            index += 1
        }
        return true
    }

    static func text(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Substring {
        String(
            decoding: UnsafeRawBufferPointer(rebasing: bytes[range.clamped(to: 0..<bytes.count)]).prefix(4096),
            as: UTF8.self)[...]
    }

    /// The text lines whose start matches one of `prefixes` (lower-case), with their index among all lines.
    static func lines(_ bytes: UnsafeRawBufferPointer, matching prefixes: [String]) -> [(index: Int, text: Substring)] {
        let ranges = lineRanges(bytes)
        var result: [(Int, Substring)] = []
        for (index, range) in ranges.enumerated() where prefixes.contains(where: { line(bytes, range, startsWith: $0) })
        {
            result.append((index, text(bytes, range)))
        }
        return result
    }

    /// The value of the first HTTP header called `name` (lowercase) in `headers`, trimmed.
    static func headerValue(_ name: String, in headers: UnsafeRawBufferPointer) -> String? {
        guard let line = Self.lines(headers, matching: [name + ":"]).first?.text, let colon = line.firstIndex(of: ":")
        else { return nil }
        return String(Self.trimmingOWS(line[line.index(after: colon)...]))
    }

    static func base64(_ text: Substring) -> [UInt8]? {
        // One leading space dropped by hand: `trimmingPrefix(" ")` went through generic string processing (nearly
        // 6,000 instructions a call).
        var value = String(text.first == " " ? text.dropFirst() : text)
        while value.hasSuffix(" ") { value.removeLast() }
        if let decoded = canonicalBase64(value.utf8) { return decoded }
        let padded = value + String(repeating: "=", count: (4 - value.count % 4) % 4)
        return Data(base64Encoded: padded).map(Array.init)
    }

    /// Decodes unpadded base64 made only of the 64 alphabet characters, whose last character carries no stray bits:
    /// the form every client sends, where any decoder gives the same bytes. Anything else (padding, other
    /// characters, a dangling character, stray bits, nothing at all) is nil and left to Foundation, so that its
    /// verdict on odd input stays the reference. Foundation's decoder cost about 10,000 instructions per header.
    static func canonicalBase64(_ text: String.UTF8View) -> [UInt8]? {
        @inline(__always)
        func sextet(_ character: UInt8) -> UInt32? {
            switch character {
            case 0x41...0x5a: UInt32(character - 0x41)
            case 0x61...0x7a: UInt32(character - 0x61 + 26)
            case 0x30...0x39: UInt32(character - 0x30 + 52)
            case 0x2b: 62
            case 0x2f: 63
            default: nil
            }
        }
        let count = text.count
        guard count > 0, count % 4 != 1 else { return nil }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(count * 3 / 4)
        var group: UInt32 = 0
        var filled = 0
        for character in text {
            guard let value = sextet(character) else { return nil }
            group = group << 6 | value
            filled += 1
            if filled == 4 {
                decoded.append(UInt8(truncatingIfNeeded: group >> 16))
                decoded.append(UInt8(truncatingIfNeeded: group >> 8))
                decoded.append(UInt8(truncatingIfNeeded: group))
                group = 0
                filled = 0
            }
        }
        switch filled {
        case 2:
            guard group & 0xf == 0 else { return nil }
            decoded.append(UInt8(truncatingIfNeeded: group >> 4))
        case 3:
            guard group & 0x3 == 0 else { return nil }
            decoded.append(UInt8(truncatingIfNeeded: group >> 10))
            decoded.append(UInt8(truncatingIfNeeded: group >> 2))
        default:
            break
        }
        return decoded
    }

    // MARK: - HTTP

    /// The HTTP authentication schemes reported by name; any other scheme, and a value with no scheme word at
    /// all (`Authorization: sk_live_…`), is `http-other`. The kind is always one of these words: a scheme is
    /// taken from the traffic, so it could be the token itself.
    static let httpSchemeKinds: [String: String] = [
        "basic": "http-basic", "bearer": "http-bearer", "digest": "http-digest", "negotiate": "http-negotiate",
        "ntlm": "http-ntlm",
    ]

    /// HTTP's optional whitespace (RFC 9110 §5.6.3): space and horizontal tab.
    static func isOWS(_ character: Character) -> Bool { character == " " || character == "\t" }

    static func trimmingOWS(_ text: Substring) -> Substring {
        var value = text.drop(while: isOWS)
        while let last = value.last, isOWS(last) { value.removeLast() }
        return value
    }

    static func http(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        let others = httpSecretHeaders(bytes) + httpSecretParameters(bytes) + httpJSONSecrets(bytes)
        // Most requests carry no credentials: look for the header name before splitting the request into lines.
        guard hasColon(after: "authorization", in: bytes) else { return others }
        return httpAuthorizationHeaders(bytes) + others
    }

    /// The credentials of the `Authorization` and `Proxy-Authorization` header lines in `bytes`.
    static func httpAuthorizationHeaders(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var found: [Credential] = []
        for range in lineRanges(bytes)
        where line(bytes, range, startsWith: "authorization:") || line(bytes, range, startsWith: "proxy-authorization:")
        {
            let header = UnsafeRawBufferPointer(rebasing: bytes[range])
            // An ASCII header (nearly all) is read byte by byte, where each byte is a character; any other goes the
            // way of `String`'s characters, which a test holds the two to.
            if let credential = asciiHTTPAuthorization(header) {
                found.append(credential)
            } else {
                found.append(contentsOf: httpAuthorization([text(bytes, range)]))
            }
        }
        return found
    }

    /// The credential of one `Authorization` or `Proxy-Authorization` header line made of ASCII bytes (at most 4096,
    /// as ``text(_:_:)`` reads), exactly what ``httpAuthorization(_:)`` makes of it; nil for any other line. Read on
    /// bytes: `String` finds characters through Unicode's rules whatever the bytes, a few thousand instructions a
    /// header, and service-to-service HTTP sends a token with every request.
    static func asciiHTTPAuthorization(_ line: UnsafeRawBufferPointer) -> Credential? {
        guard line.count <= 4096, !line.contains(where: { $0 >= 0x80 }),
            let colon = line.firstIndex(of: UInt8(ascii: ":"))
        else { return nil }
        func isOWS(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
        func trimmed(_ range: Range<Int>) -> Range<Int> {
            var (start, end) = (range.lowerBound, range.upperBound)
            while start < end && isOWS(line[start]) { start += 1 }
            while end > start && isOWS(line[end - 1]) { end -= 1 }
            return start..<end
        }
        let value = trimmed((colon + 1)..<line.count)
        let schemeEnd = line[value].firstIndex(where: isOWS) ?? value.upperBound
        let token = trimmed(schemeEnd..<value.upperBound)
        func text(_ range: Range<Int>) -> Substring {
            String(decoding: UnsafeRawBufferPointer(rebasing: line[range]), as: UTF8.self)[...]
        }
        guard
            let kind = httpSchemeKinds[String(decoding: line[value.lowerBound..<schemeEnd], as: UTF8.self).lowercased()]
        else {
            return Credential(kind: "http-other", user: nil, redacted: secretDescription("credentials", value.count))
        }
        switch kind {
        case "http-basic": return httpBasic(text(token))
        case "http-digest":
            return Credential(
                kind: kind, user: digestUser(text(token)), redacted: "digest response (no password in clear)",
                note: "the digest can be attacked offline")
        case "http-bearer": return Credential(kind: kind, user: nil, redacted: secretDescription("token", token.count))
        default: return Credential(kind: kind, user: nil, redacted: secretDescription("credentials", token.count))
        }
    }

    /// The credentials of `Authorization` and `Proxy-Authorization` header lines, read as text.
    static func httpAuthorization(_ lines: [Substring]) -> [Credential] {
        var found: [Credential] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = trimmingOWS(line[line.index(after: colon)...])
            let schemeEnd = value.firstIndex(where: isOWS) ?? value.endIndex
            let token = trimmingOWS(value[schemeEnd...])
            guard let kind = httpSchemeKinds[value[..<schemeEnd].lowercased()] else {
                // No scheme word, or one not in the vocabulary: the whole value may be the secret.
                found.append(
                    Credential(kind: "http-other", user: nil, redacted: secretDescription("credentials", value.count)))
                continue
            }
            switch kind {
            case "http-basic": found.append(httpBasic(token))
            case "http-digest":
                found.append(
                    Credential(
                        kind: kind, user: digestUser(token), redacted: "digest response (no password in clear)",
                        note: "the digest can be attacked offline"))
            case "http-bearer":
                found.append(Credential(kind: kind, user: nil, redacted: secretDescription("token", token.count)))
            default:
                found.append(Credential(kind: kind, user: nil, redacted: secretDescription("credentials", token.count)))
            }
        }
        return found
    }

    /// `Basic base64(user:password)`. The user is reported only when the pair is a real user and password: a
    /// value with no colon is all secret, and APIs pass a key as the user with an empty or placeholder password
    /// (`key:`, `key:X`, `<token>:x-oauth-basic`), so a password under 4 bytes, a placeholder password
    /// (``Credential/isPlaceholderPassword(_:)``) or a user that could be a key (``Credential/userCouldBeSecret(_:)``)
    /// withholds the user too.
    static func httpBasic(_ token: Substring) -> Credential {
        guard let decoded = base64(token) else {
            return Credential(kind: "http-basic", user: nil, redacted: secretDescription("credentials", token.count))
        }
        guard let colon = decoded.firstIndex(of: UInt8(ascii: ":")), colon > 0, colon < decoded.count - 1 else {
            return Credential(
                kind: "http-basic", user: nil,
                redacted: secretDescription("credentials (no user:password pair)", decoded.count))
        }
        let user = decoded[..<colon]
        let password = decoded[(colon + 1)...]
        guard password.count >= 4, !Credential.isPlaceholderPassword(password), !Credential.userCouldBeSecret(user)
        else {
            return Credential(
                kind: "http-basic", user: nil,
                redacted: secretDescription("credentials (the user part may be a key)", decoded.count))
        }
        return Credential(
            kind: "http-basic", user: String(decoding: user, as: UTF8.self),
            redacted: secretDescription("password", password.count))
    }

    /// The `username` parameter of a Digest response (RFC 7616), quoted or not; nil when there is none.
    static func digestUser(_ parameters: Substring) -> String? {
        for parameter in parameters.split(separator: ",") {
            let pair = trimmingOWS(parameter)
            guard let equals = pair.firstIndex(of: "="), trimmingOWS(pair[..<equals]).lowercased() == "username" else {
                continue
            }
            var value = trimmingOWS(pair[pair.index(after: equals)...])
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = value.dropFirst().dropLast() }
            return value.isEmpty ? nil : String(value)
        }
        return nil
    }

    // MARK: - Redis

    /// Redis commands in RESP arrays or inline form: `AUTH [user] pass`, `HELLO 3 AUTH user pass`.
    ///
    /// A user is reported only from a command of the exact documented shape: `AUTH a b c` (Redis refuses it)
    /// may be a password with spaces, so none of its words is named.
    static func redis(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var found: [Credential] = []
        for command in redisCommands(bytes) {
            guard let verb = command.first?.uppercased() else { continue }
            if verb == "AUTH", command.count == 2 {
                found.append(
                    Credential(
                        kind: "redis-auth", user: nil, redacted: secretDescription("password", command[1].utf8.count)))
            } else if verb == "AUTH", command.count == 3 {
                found.append(
                    Credential(
                        kind: "redis-auth", user: command[1],
                        redacted: secretDescription("password", command[2].utf8.count)))
            } else if verb == "AUTH", command.count > 3 {
                let length = command.dropFirst().reduce(0) { $0 + $1.utf8.count }
                found.append(
                    Credential(kind: "redis-auth", user: nil, redacted: secretDescription("credentials", length)))
            } else if verb == "HELLO", let index = command.firstIndex(where: { $0.uppercased() == "AUTH" }),
                index + 1 < command.count
            {
                let complete = index + 2 < command.count
                found.append(
                    Credential(
                        kind: "redis-auth", user: complete ? command[index + 1] : nil,
                        redacted: secretDescription("password", command[complete ? index + 2 : index + 1].utf8.count)))
            } else if verb == "-UNPARSED" {
                found.append(
                    Credential(
                        kind: "redis-auth", user: nil,
                        redacted: secretDescription("credentials", command.dropFirst().first?.utf8.count ?? 0)))
            }
        }
        return found
    }

    /// Splits an inline command the way Redis does (`sdssplitargs`): words separated by blanks, `"…"` with
    /// backslash escapes, `'…'`. Nil for unbalanced quotes (Redis refuses the line, but it was still sent).
    static func redisInlineArguments(_ line: Substring) -> [String]? {
        var words: [String] = []
        var characters = line.unicodeScalars.makeIterator()
        var current: String.UnicodeScalarView?
        var quote: Unicode.Scalar?
        while let scalar = characters.next() {
            if let open = quote {
                if scalar == open {
                    quote = nil
                    // A closing quote must end the word (Redis refuses `"a"b`).
                    guard let following = characters.next() else { break }
                    guard following == " " || following == "\t" else { return nil }
                    if let word = current {
                        words.append(String(word))
                        current = nil
                    }
                } else if scalar == "\\", open == "\"", let escaped = characters.next() {
                    let map: [Unicode.Scalar: Unicode.Scalar] = [
                        "n": "\n", "r": "\r", "t": "\t", "b": "\u{8}", "a": "\u{7}",
                    ]
                    current?.append(map[escaped] ?? escaped)
                } else if scalar == "\\", open == "'", let escaped = characters.next() {
                    if escaped != "'" { current?.append(scalar) }
                    current?.append(escaped)
                } else {
                    current?.append(scalar)
                }
            } else if scalar == " " || scalar == "\t" {
                if let word = current {
                    words.append(String(word))
                    current = nil
                }
            } else if scalar == "\"" || scalar == "'" {
                quote = scalar
                if current == nil { current = String.UnicodeScalarView() }
            } else {
                if current == nil { current = String.UnicodeScalarView() }
                current?.append(scalar)
            }
        }
        guard quote == nil else { return nil }
        if let word = current { words.append(String(word)) }
        return words
    }

    /// The authentication commands among the Redis commands in `bytes` (RESP arrays or inline), with their
    /// arguments. Other commands are skipped at the byte level: their values never become Strings.
    static func redisCommands(_ bytes: UnsafeRawBufferPointer) -> [[String]] {
        var commands: [[String]] = []
        var cursor = 0
        func line() -> Range<Int>? {
            var end = cursor
            while end < bytes.count, bytes[end] != 0x0a { end += 1 }
            guard end < bytes.count else { return nil }
            let range = cursor..<(end > cursor && bytes[end - 1] == 0x0d ? end - 1 : end)
            cursor = end + 1
            return range
        }
        func number(_ range: Range<Int>) -> Int? {
            guard range.count > 1, range.count < 12 else { return nil }
            var value = 0
            for index in (range.lowerBound + 1)..<range.upperBound {
                let digit = Int(bytes[index]) - 48
                guard digit >= 0 && digit < 10 else { return nil }
                value = value * 10 + digit
            }
            return value
        }
        func isAuthVerb(_ range: Range<Int>) -> Bool {
            (range.count == 4 && Self.line(bytes, range, startsWith: "auth"))
                || (range.count == 5 && Self.line(bytes, range, startsWith: "hello"))
        }
        var examined = 0
        while cursor < bytes.count, examined < 4096 {
            examined += 1
            if bytes[cursor] == UInt8(ascii: "*") {
                guard let header = line(), let count = number(header), count < 1024 else { break }
                var arguments: [String] = []
                var keep = false
                for index in 0..<count {
                    guard let sizeLine = line(), bytes[sizeLine.lowerBound] == UInt8(ascii: "$"),
                        let size = number(sizeLine),
                        cursor + size <= bytes.count
                    else { return commands }
                    let argument = cursor..<(cursor + size)
                    if index == 0 { keep = isAuthVerb(argument) }
                    if keep && size <= 1024 { arguments.append(String(Self.text(bytes, argument))) }
                    cursor += size
                    _ = line()
                }
                if keep { commands.append(arguments) }
            } else {
                guard let range = line() else { break }
                var start = range.lowerBound
                while start < range.upperBound, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
                let verb = start..<min(range.upperBound, start + 6)
                let isAuth = ["auth", "hello"].contains { word in
                    Self.line(bytes, verb, startsWith: word)
                        && (verb.count == word.count || bytes[start + word.count] == 0x20
                            || bytes[start + word.count] == 0x09)
                }
                if isAuth {
                    let text = Self.text(bytes, range)
                    commands.append(Self.redisInlineArguments(text) ?? ["-UNPARSED", String(text)])
                }
            }
        }
        return commands
    }

    // MARK: - PostgreSQL

    /// The startup message names the user; a PasswordMessage (`p`) that follows is cleartext unless it is an
    /// `md5…` hash or a SASL (SCRAM) exchange.
    static func postgres(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var cursor = ByteCursor(bytes)
        var user: String?
        var found: [Credential] = []
        // Untyped startup-phase messages first: SSLRequest (refused with 'N'), then StartupMessage.
        while let length = cursor.u32(), length >= 8, length <= 10_000, let body = cursor.bytes(Int(length) - 4) {
            var message = ByteCursor(body)
            guard let code = message.u32() else { break }
            if code == 196_608 {
                user = Self.startupParameter("user", in: message)
                break
            }
        }
        // Once a SASL (SCRAM) or GSSAPI exchange starts, the later `p` messages are its responses, not passwords.
        var saslStarted = false
        while let type = cursor.u8(), let length = cursor.u32(), length >= 4, let body = cursor.bytes(Int(length) - 4) {
            guard type == UInt8(ascii: "p"), !saslStarted else { continue }
            let content = Array(body.prefix { $0 != 0 })
            let text = String(decoding: content.prefix(8), as: UTF8.self)
            if text.hasPrefix("SCRAM-") || text.hasPrefix("GSS") || text.hasPrefix("OAUTHBEA") {
                saslStarted = true
                continue
            }
            if text.hasPrefix("md5") && content.count == 35 {
                found.append(
                    Credential(
                        kind: "postgresql-md5", user: user, redacted: "salted MD5 hash (redacted)",
                        note: "the hash can be attacked offline and replayed against this server's salt"))
            } else {
                found.append(
                    Credential(
                        kind: "postgresql-cleartext-password", user: user,
                        redacted: secretDescription("password", content.count)))
            }
        }
        return found
    }

    /// The field after the first field equal to `name` in a StartupMessage's NUL-terminated strings (its name/value
    /// list, after the protocol version), found field by field with `memchr`; nil when there is none.
    static func startupParameter(_ name: StaticString, in message: ByteCursor) -> String? {
        var message = message
        let wanted = UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        var previousIsName = false
        while let field = message.cString() {
            if previousIsName { return String(decoding: field, as: UTF8.self) }
            previousIsName = field.elementsEqual(wanted)
        }
        return nil
    }

    // MARK: - MySQL

    /// The client's HandshakeResponse, and a password it then sent in clear when the server switched the login to
    /// a plugin that asks for one (``mysqlAuthSwitch(client:server:user:)``).
    static func mysqlLogin(client: UnsafeRawBufferPointer, server: UnsafeRawBufferPointer) -> [Credential] {
        let response = Self.mysql(client)
        guard !response.isEmpty, !server.isEmpty else { return response }
        return response + Self.mysqlAuthSwitch(client: client, server: server, user: response.first?.user)
    }

    /// The client's HandshakeResponse41: capability flags, user name, auth response, optional plugin name.
    static func mysql(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var cursor = ByteCursor(bytes)
        guard let b0 = cursor.u8(), let b1 = cursor.u8(), let b2 = cursor.u8(), let sequence = cursor.u8(),
            sequence == 1
        else { return [] }
        let length = Int(b0) | Int(b1) << 8 | Int(b2) << 16
        guard length > 32, var packet = cursor.sub(length), let flagsLow = packet.u16(), let flagsHigh = packet.u16()
        else { return [] }
        let capabilities = UInt32(flagsLow.byteSwapped) | UInt32(flagsHigh.byteSwapped) << 16
        guard packet.skip(4 + 1 + 23) else { return [] }
        var userBytes: [UInt8] = []
        while let byte = packet.u8(), byte != 0 { userBytes.append(byte) }
        var plugin = "mysql_native_password"
        var responseLength = 0
        if capabilities & 0x0020_0000 != 0 {
            // CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: a length-encoded integer (1, 3, 4 or 9 bytes).
            guard let first = packet.u8() else { return [] }
            switch first {
            case 0..<0xfb: responseLength = Int(first)
            case 0xfc, 0xfd:
                guard let low = packet.u16() else { return [] }
                responseLength = Int(low.byteSwapped)
                if first == 0xfd {
                    guard let high = packet.u8() else { return [] }
                    responseLength |= Int(high) << 16
                }
            default: responseLength = Int.max  // 8-byte lengths and 0xfb/0xff are not auth data: stop here
            }
        } else if capabilities & 0x0000_8000 != 0, let first = packet.u8() {
            responseLength = Int(first)
        }
        let pluginReadable = packet.skip(responseLength)
        if pluginReadable, capabilities & 0x0000_0008 != 0 { while let byte = packet.u8(), byte != 0 {} }
        if pluginReadable, capabilities & 0x0008_0000 != 0 {
            var name: [UInt8] = []
            while let byte = packet.u8(), byte != 0 { name.append(byte) }
            if !name.isEmpty { plugin = String(decoding: name, as: UTF8.self) }
        }
        let user = String(decoding: userBytes, as: UTF8.self)
        let responseBytes = responseLength == Int.max ? "unknown length" : "\(responseLength) bytes"
        switch plugin {
        case "mysql_native_password":
            return [
                Credential(
                    kind: "mysql-native-auth", user: user,
                    redacted: "scrambled password hash (\(responseBytes), redacted)",
                    note: "mysql_native_password without TLS: the scramble and salt can be attacked offline")
            ]
        case "mysql_clear_password":
            return [
                Credential(
                    kind: "mysql-clear-password", user: user,
                    redacted: secretDescription("password", max(0, responseLength - 1)))
            ]
        default:
            // The plugin name is named only from a known list: misparsed bytes there could be the response itself.
            let known = Self.mysqlPlugins.contains(plugin) ? plugin : "other plugin"
            return [Credential(kind: "mysql-auth", user: user, redacted: "\(known) response (redacted)")]
        }
    }

    /// The MySQL and MariaDB authentication plugins reported by name.
    static let mysqlPlugins: Set<String> = [
        "caching_sha2_password", "sha256_password", "mysql_old_password", "auth_gssapi_client", "client_ed25519",
        "authentication_ldap_sasl_client", "authentication_kerberos_client", "authentication_windows_client",
        "authentication_oci_client", "authentication_fido_client", "authentication_webauthn_client", "dialog", "parsec",
    ]

    // MARK: - FTP, POP3, SMTP, IMAP

    static func ftpOrPOP3(_ bytes: UnsafeRawBufferPointer, kind: String) -> [Credential] {
        var found: [Credential] = []
        var user: String?
        for (_, line) in lines(bytes, matching: ["user ", "pass"]) {
            let upper = line.prefix(5).uppercased()
            if upper.hasPrefix("USER ") {
                user = String(line.dropFirst(5))
            } else if upper.hasPrefix("PASS ") || line.uppercased() == "PASS" {
                found.append(
                    Credential(kind: kind, user: user, redacted: secretDescription("password", max(0, line.count - 5))))
            }
        }
        return found
    }

    /// SASL PLAIN and LOGIN exchanges (`AUTH PLAIN <b64>`, `AUTH LOGIN` then base64 lines).
    ///
    /// `replies`: the server's reply code to each client line (index for index), where known (``smtpReplies(_:)``).
    /// A step of an exchange is read only when the server asked for it (334): a refused mechanism (`504`) or a
    /// failed step ends the exchange, and the client's next command is read as a command, not as the user or
    /// password. Whatever the replies, a line that cannot be a SASL response (the cancel `*`, a command with a
    /// space) ends the exchange too, so `AUTH LOGIN` → `*` → `AUTH LOGIN …` reports the login that followed.
    static func saslLines(
        _ bytes: UnsafeRawBufferPointer, prefix: String, tagged: Bool = false, replies: [Int]? = nil
    ) -> [Credential] {
        var found: [Credential] = []
        let ranges = lineRanges(bytes)
        // Only lines that mention AUTH are decoded as a whole; the ones after them on demand.
        let heads = ranges.map { text(bytes, $0.lowerBound..<min($0.upperBound, $0.lowerBound + 40)).uppercased() }
        let all = ranges.enumerated().map { index, range -> Substring in
            (max(0, index - 2)...index).contains { heads[$0].contains("AUTH") } ? text(bytes, range) : ""
        }
        /// Whether the server asked for the line after `line` (334); unknown replies are taken as asking, as a
        /// client that sends the line expects.
        func asked(after line: Int) -> Bool {
            guard let replies, line < replies.count else { return true }
            return replies[line] == 334
        }
        /// Line `line` as the next step of an exchange, if it can be one: a SASL response is one base64 word (or
        /// empty), never `*` (the client cancelling) or a command.
        func response(_ line: Int) -> Substring? {
            guard line < all.count, all[line] != "*", !all[line].contains(" ") else { return nil }
            return all[line]
        }
        var index = 0
        while index < all.count {
            var words = all[index].split(separator: " ")
            if tagged, !words.isEmpty { words.removeFirst() }
            let verb = words.first?.uppercased()
            if verb == "AUTH" || verb == "AUTHENTICATE", words.count >= 2 {
                let mechanism = words[1].uppercased()
                if mechanism == "PLAIN" {
                    var encoded: Substring?
                    // `=` is an empty initial response (RFC 4954): the credentials follow when asked for.
                    if words.count >= 3 && words[2] != "=" {
                        encoded = words[2]
                    } else if asked(after: index), let line = response(index + 1) {
                        encoded = line
                        index += 1
                    }
                    if let encoded {
                        let decoded = base64(encoded) ?? []
                        found.append(decoded.withUnsafeBytes { saslPlain($0, kind: "\(prefix)-auth-plain") })
                    }
                } else if mechanism == "LOGIN" {
                    var user: String?
                    var userSent = words.count >= 3
                    // The line whose reply says whether the password was asked for.
                    var step = index
                    if userSent {
                        user = base64(words[2]).map { String(decoding: $0, as: UTF8.self) }
                    } else if asked(after: index), let line = response(index + 1) {
                        user = base64(line).map { String(decoding: $0, as: UTF8.self) }
                        userSent = true
                        step = index + 1
                    }
                    let passwordAsked = userSent && asked(after: step)
                    if passwordAsked, let line = response(step + 1) {
                        found.append(
                            Credential(
                                kind: "\(prefix)-auth-login", user: user,
                                redacted: secretDescription("password", base64(line)?.count ?? 0)))
                        step += 1
                    } else if passwordAsked, step + 1 >= all.count {
                        // The capture (or the inspection window) ends before the password: the user was sent.
                        found.append(
                            Credential(
                                kind: "\(prefix)-auth-login", user: user, redacted: secretDescription("password", 0)))
                    }
                    index = step
                }
            }
            index += 1
        }
        return found
    }

    /// The code of each of an SMTP server's replies after its greeting, in order (a multi-line reply, `250-…` then
    /// `250 …`, is one): SMTP answers each of the client's lines in turn (a command, or a SASL response), so the
    /// n-th code answers the client's n-th line, up to the message content (which comes after any AUTH). Nil when
    /// the bytes do not start with a greeting (220 or 554) or a line is not a reply: nothing is then paired.
    static func smtpReplies(_ server: UnsafeRawBufferPointer) -> [Int]? {
        var codes: [Int] = []
        let ranges = lineRanges(server, limit: 1024)
        for (index, range) in ranges.enumerated() {
            let digits = server[range.lowerBound..<min(range.upperBound, range.lowerBound + 3)]
            guard digits.count == 3, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                // A last line cut short by the end of what was kept is no reply yet; any other is not SMTP.
                if index == ranges.count - 1 && server.last != 0x0a { break }
                return nil
            }
            let code = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            // `250-…` goes on; `250 …` or `250` alone ends the reply.
            if range.count > 3 && server[range.lowerBound + 3] == UInt8(ascii: "-") { continue }
            codes.append(code)
        }
        guard let greeting = codes.first, greeting == 220 || greeting == 554 else { return nil }
        return Array(codes.dropFirst())
    }

    /// IMAP `tag LOGIN user password` (atoms or quoted strings) and `tag AUTHENTICATE PLAIN`.
    static func imap(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var found: [Credential] = []
        for range in lineRanges(bytes) {
            let head = text(bytes, range.lowerBound..<min(range.upperBound, range.lowerBound + 64)).uppercased()
            guard head.contains(" LOGIN ") else { continue }
            let words = imapWords(text(bytes, range))
            guard words.count >= 3, words[1].uppercased() == "LOGIN" else { continue }
            // `{n}` is a literal: the value follows on the next line, so the words on this one are not the
            // user and password; three words is a login whose one argument could be either.
            let isLiteral = { (word: String) in word.hasPrefix("{") && word.hasSuffix("}") }
            if words.count == 3 || isLiteral(words[2]) || isLiteral(words[3]) {
                found.append(
                    Credential(
                        kind: "imap-login", user: nil, redacted: "password (redacted; sent as an IMAP literal or alone)"
                    ))
            } else {
                found.append(
                    Credential(
                        kind: "imap-login", user: words[2], redacted: secretDescription("password", words[3].count)))
            }
        }
        return found + saslLines(bytes, prefix: "imap", tagged: true)
    }

    static func imapWords(_ line: Substring) -> [String] {
        var words: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
                continue
            }
            if character == "\\" && quoted {
                escaped = true
                continue
            }
            if character == "\"" {
                quoted.toggle()
                continue
            }
            if character == " " && !quoted {
                if !current.isEmpty {
                    words.append(current)
                    current = ""
                }
                continue
            }
            current.append(character)
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    // MARK: - LDAP

    /// A BindRequest with simple authentication carries the password in clear.
    static func ldapSimpleBind(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var found: [Credential] = []
        var cursor = ByteCursor(bytes)
        while !cursor.isAtEnd, found.count < 16 {
            guard cursor.u8() == 0x30, let length = berLength(&cursor), var message = cursor.sub(length) else { break }
            guard message.u8() == 0x02, let idLength = message.u8(), message.skip(Int(idLength)) else { continue }
            guard message.u8() == 0x60, let bindLength = berLength(&message), var bind = message.sub(bindLength) else {
                continue
            }
            guard bind.u8() == 0x02, let versionLength = bind.u8(), bind.skip(Int(versionLength)) else { continue }
            guard bind.u8() == 0x04, let nameLength = berLength(&bind), let name = bind.bytes(nameLength) else {
                continue
            }
            guard bind.u8() == 0x80, let secretLength = berLength(&bind), secretLength > 0 else { continue }
            found.append(
                Credential(
                    kind: "ldap-simple-bind", user: name.printableText,
                    redacted: secretDescription("password", secretLength)))
        }
        return found
    }

    static func berLength(_ cursor: inout ByteCursor) -> Int? {
        guard let first = cursor.u8() else { return nil }
        if first & 0x80 == 0 { return Int(first) }
        let count = Int(first & 0x7f)
        guard (1...4).contains(count) else { return nil }
        var value = 0
        for _ in 0..<count {
            guard let byte = cursor.u8() else { return nil }
            value = value << 8 | Int(byte)
        }
        return value
    }
}
