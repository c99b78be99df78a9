import BulkheadModel
import Foundation

/// Finds credentials that a client sent in clear, and describes them without the secret.
///
/// Works on the first bytes the client sent (the inspection window). The user name is kept where the
/// protocol carries one; a password or token is only ever described by its length.
enum CredentialExtractor {
    static func extract(_ proto: ApplicationProtocol, client: UnsafeRawBufferPointer) -> [Credential] {
        switch proto {
        case .http: http(client)
        case .redis: redis(client)
        case .postgresql: postgres(client)
        case .mysql: mysql(client)
        case .ftp: ftpOrPOP3(client, kind: "ftp")
        case .pop3: ftpOrPOP3(client, kind: "pop3") + saslLines(client, prefix: "pop3")
        case .smtp: saslLines(client, prefix: "smtp")
        case .imap: imap(client)
        case .ldap: ldapSimpleBind(client)
        default: []
        }
    }

    static func secretDescription(_ name: String, _ length: Int) -> String {
        "\(name): \(length) character\(length == 1 ? "" : "s") (redacted)"
    }

    /// The byte ranges of the text lines of a buffer (LF or CRLF, line end excluded), at most `limit`.
    /// Working on bytes keeps bulk payload (request bodies, binary values) from ever becoming Strings.
    static func lineRanges(_ bytes: UnsafeRawBufferPointer, limit: Int = 4096) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0
        var index = 0
        while index < bytes.count, ranges.count < limit {
            if bytes[index] == 0x0a {
                let end = index > start && bytes[index - 1] == 0x0d ? index - 1 : index
                ranges.append(start..<end)
                start = index + 1
            }
            index += 1
        }
        if start < bytes.count, ranges.count < limit { ranges.append(start..<bytes.count) }
        return ranges
    }

    /// Whether the line starts with `prefix`, ignoring ASCII case.
    static func line(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, startsWith prefix: String, at offset: Int = 0) -> Bool {
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
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range.clamped(to: 0..<bytes.count)]).prefix(4096), as: UTF8.self)[...]
    }

    /// The text lines whose start matches one of `prefixes` (lower-case), with their index among all lines.
    static func lines(_ bytes: UnsafeRawBufferPointer, matching prefixes: [String]) -> [(index: Int, text: Substring)] {
        let ranges = lineRanges(bytes)
        var result: [(Int, Substring)] = []
        for (index, range) in ranges.enumerated() where prefixes.contains(where: { line(bytes, range, startsWith: $0) }) {
            result.append((index, text(bytes, range)))
        }
        return result
    }

    static func base64(_ text: Substring) -> [UInt8]? {
        var value = String(text.trimmingPrefix(" "))
        while value.hasSuffix(" ") { value.removeLast() }
        let padded = value + String(repeating: "=", count: (4 - value.count % 4) % 4)
        return Data(base64Encoded: padded).map(Array.init)
    }

    // MARK: - HTTP

    static func http(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var found: [Credential] = []
        for (_, line) in lines(bytes, matching: ["authorization:", "proxy-authorization:"]) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            guard name == "authorization" || name == "proxy-authorization" else { continue }
            let value = line[line.index(after: colon)...].trimmingPrefix(" ")
            let parts = value.split(separator: " ", maxSplits: 1)
            guard let scheme = parts.first?.lowercased() else { continue }
            let token = parts.count > 1 ? parts[1] : ""
            switch scheme {
            case "basic":
                guard let decoded = base64(token) else {
                    found.append(Credential(kind: "http-basic", user: nil, redacted: secretDescription("credentials", token.count)))
                    continue
                }
                let text = String(decoding: decoded, as: UTF8.self)
                let pair = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                found.append(Credential(
                    kind: "http-basic", user: pair.first.map(String.init),
                    redacted: secretDescription("password", pair.count > 1 ? pair[1].count : 0)))
            case "bearer":
                found.append(Credential(kind: "http-bearer", user: nil, redacted: secretDescription("token", token.count)))
            case "digest":
                let user = token.split(separator: ",").first { $0.trimmingPrefix(" ").hasPrefix("username=") }
                    .map { String($0.trimmingPrefix(" ").dropFirst(9).filter { $0 != "\"" }) }
                found.append(Credential(
                    kind: "http-digest", user: user, redacted: "digest response (no password in clear)",
                    note: "the digest can be attacked offline"))
            default:
                found.append(Credential(kind: "http-\(scheme)", user: nil, redacted: secretDescription("credentials", token.count)))
            }
        }
        return found
    }

    // MARK: - Redis

    /// Redis commands in RESP arrays or inline form: `AUTH [user] pass`, `HELLO 3 AUTH user pass`.
    static func redis(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var found: [Credential] = []
        for command in redisCommands(bytes) {
            guard let verb = command.first?.uppercased() else { continue }
            if verb == "AUTH", command.count == 2 {
                found.append(Credential(kind: "redis-auth", user: nil, redacted: secretDescription("password", command[1].utf8.count)))
            } else if verb == "AUTH", command.count >= 3 {
                found.append(Credential(kind: "redis-auth", user: command[1], redacted: secretDescription("password", command[2].utf8.count)))
            } else if verb == "HELLO", let index = command.firstIndex(where: { $0.uppercased() == "AUTH" }), index + 2 < command.count {
                found.append(Credential(kind: "redis-auth", user: command[index + 1], redacted: secretDescription("password", command[index + 2].utf8.count)))
            }
        }
        return found
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
            (range.count == 4 && Self.line(bytes, range, startsWith: "auth")) || (range.count == 5 && Self.line(bytes, range, startsWith: "hello"))
        }
        var examined = 0
        while cursor < bytes.count, examined < 4096 {
            examined += 1
            if bytes[cursor] == UInt8(ascii: "*") {
                guard let header = line(), let count = number(header), count < 1024 else { break }
                var arguments: [String] = []
                var keep = false
                for index in 0..<count {
                    guard let sizeLine = line(), bytes[sizeLine.lowerBound] == UInt8(ascii: "$"), let size = number(sizeLine),
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
                let verb = range.lowerBound..<(range.lowerBound + min(range.count, 6))
                if Self.line(bytes, verb, startsWith: "auth ") || Self.line(bytes, verb, startsWith: "hello ") {
                    commands.append(Self.text(bytes, range).split(separator: " ").map(String.init))
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
                var parameters: [String] = []
                var current: [UInt8] = []
                while let byte = message.u8() {
                    if byte == 0 { parameters.append(String(decoding: current, as: UTF8.self)); current = [] } else { current.append(byte) }
                }
                if let index = parameters.firstIndex(of: "user"), index + 1 < parameters.count { user = parameters[index + 1] }
                break
            }
        }
        while let type = cursor.u8(), let length = cursor.u32(), length >= 4, let body = cursor.bytes(Int(length) - 4) {
            guard type == UInt8(ascii: "p") else { continue }
            let content = Array(body.prefix { $0 != 0 })
            let text = String(decoding: content, as: UTF8.self)
            if text.hasPrefix("SCRAM-") || text.hasPrefix("GSS") { continue }
            if text.hasPrefix("md5") && content.count == 35 {
                found.append(Credential(
                    kind: "postgresql-md5", user: user, redacted: "salted MD5 hash (redacted)",
                    note: "the hash can be attacked offline and replayed against this server's salt"))
            } else {
                found.append(Credential(kind: "postgresql-cleartext-password", user: user, redacted: secretDescription("password", content.count)))
            }
        }
        return found
    }

    // MARK: - MySQL

    /// The client's HandshakeResponse41: capability flags, user name, auth response, optional plugin name.
    static func mysql(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var cursor = ByteCursor(bytes)
        guard let b0 = cursor.u8(), let b1 = cursor.u8(), let b2 = cursor.u8(), let sequence = cursor.u8(), sequence == 1 else { return [] }
        let length = Int(b0) | Int(b1) << 8 | Int(b2) << 16
        guard length > 32, var packet = cursor.sub(length), let flagsLow = packet.u16(), let flagsHigh = packet.u16() else { return [] }
        let capabilities = UInt32(flagsLow.byteSwapped) | UInt32(flagsHigh.byteSwapped) << 16
        guard packet.skip(4 + 1 + 23) else { return [] }
        var userBytes: [UInt8] = []
        while let byte = packet.u8(), byte != 0 { userBytes.append(byte) }
        var plugin = "mysql_native_password"
        var responseLength = 0
        if capabilities & 0x0020_0000 != 0, let first = packet.u8() {
            responseLength = Int(first < 0xfb ? first : 0)
        } else if capabilities & 0x0000_8000 != 0, let first = packet.u8() {
            responseLength = Int(first)
        }
        _ = packet.skip(responseLength)
        if capabilities & 0x0000_0008 != 0 { while let byte = packet.u8(), byte != 0 {} }
        if capabilities & 0x0008_0000 != 0 {
            var name: [UInt8] = []
            while let byte = packet.u8(), byte != 0 { name.append(byte) }
            if !name.isEmpty { plugin = String(decoding: name, as: UTF8.self) }
        }
        let user = String(decoding: userBytes, as: UTF8.self)
        switch plugin {
        case "mysql_native_password":
            return [Credential(
                kind: "mysql-native-auth", user: user, redacted: "scrambled password hash (\(responseLength) bytes, redacted)",
                note: "mysql_native_password without TLS: the scramble and salt can be attacked offline")]
        case "mysql_clear_password":
            return [Credential(kind: "mysql-clear-password", user: user, redacted: secretDescription("password", max(0, responseLength - 1)))]
        default:
            return [Credential(kind: "mysql-auth", user: user, redacted: "\(plugin) response (redacted)")]
        }
    }

    // MARK: - FTP, POP3, SMTP, IMAP

    static func ftpOrPOP3(_ bytes: UnsafeRawBufferPointer, kind: String) -> [Credential] {
        var found: [Credential] = []
        var user: String?
        for (_, line) in lines(bytes, matching: ["user ", "pass"]) {
            let upper = line.prefix(5).uppercased()
            if upper.hasPrefix("USER ") {
                user = String(line.dropFirst(5))
            } else if upper.hasPrefix("PASS ") || line.uppercased() == "PASS" {
                found.append(Credential(kind: kind, user: user, redacted: secretDescription("password", max(0, line.count - 5))))
            }
        }
        return found
    }

    /// SASL PLAIN and LOGIN exchanges (`AUTH PLAIN <b64>`, `AUTH LOGIN` then base64 lines).
    static func saslLines(_ bytes: UnsafeRawBufferPointer, prefix: String, tagged: Bool = false) -> [Credential] {
        var found: [Credential] = []
        let ranges = lineRanges(bytes)
        // Only lines that mention AUTH are decoded as a whole; the ones after them on demand.
        let heads = ranges.map { text(bytes, $0.lowerBound..<min($0.upperBound, $0.lowerBound + 40)).uppercased() }
        let all = ranges.enumerated().map { index, range -> Substring in
            (max(0, index - 2)...index).contains { heads[$0].contains("AUTH") } ? text(bytes, range) : ""
        }
        var index = 0
        while index < all.count {
            var words = all[index].split(separator: " ")
            if tagged, !words.isEmpty { words.removeFirst() }
            let verb = words.first?.uppercased()
            if (verb == "AUTH" || verb == "AUTHENTICATE"), words.count >= 2 {
                let mechanism = words[1].uppercased()
                if mechanism == "PLAIN" {
                    let encoded = words.count >= 3 ? words[2] : (index + 1 < all.count ? all[index + 1] : "")
                    if words.count < 3 { index += 1 }
                    let parts = (base64(encoded) ?? []).split(separator: 0, omittingEmptySubsequences: false)
                    let user = parts.count >= 2 ? String(decoding: parts[parts.count - 2], as: UTF8.self) : nil
                    let secret = parts.count >= 3 ? parts[parts.count - 1].count : 0
                    found.append(Credential(kind: "\(prefix)-auth-plain", user: user, redacted: secretDescription("password", secret)))
                } else if mechanism == "LOGIN" {
                    var user: String?
                    var next = index + 1
                    if words.count >= 3 {
                        user = base64(words[2]).map { String(decoding: $0, as: UTF8.self) }
                    } else if next < all.count {
                        user = base64(all[next]).map { String(decoding: $0, as: UTF8.self) }
                        next += 1
                    }
                    let secret = next < all.count ? base64(all[next])?.count ?? 0 : 0
                    found.append(Credential(kind: "\(prefix)-auth-login", user: user, redacted: secretDescription("password", secret)))
                    index = next
                }
            }
            index += 1
        }
        return found
    }

    /// IMAP `tag LOGIN user password` (atoms or quoted strings) and `tag AUTHENTICATE PLAIN`.
    static func imap(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var found: [Credential] = []
        for range in lineRanges(bytes) {
            let head = text(bytes, range.lowerBound..<min(range.upperBound, range.lowerBound + 64)).uppercased()
            guard head.contains(" LOGIN ") else { continue }
            let words = imapWords(text(bytes, range))
            guard words.count >= 4, words[1].uppercased() == "LOGIN" else { continue }
            found.append(Credential(kind: "imap-login", user: words[2], redacted: secretDescription("password", words[3].count)))
        }
        return found + saslLines(bytes, prefix: "imap", tagged: true)
    }

    static func imapWords(_ line: Substring) -> [String] {
        var words: [String] = []
        var current = ""
        var quoted = false
        var escaped = false
        for character in line {
            if escaped { current.append(character); escaped = false; continue }
            if character == "\\" && quoted { escaped = true; continue }
            if character == "\"" { quoted.toggle(); continue }
            if character == " " && !quoted {
                if !current.isEmpty { words.append(current); current = "" }
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
            guard message.u8() == 0x60, let bindLength = berLength(&message), var bind = message.sub(bindLength) else { continue }
            guard bind.u8() == 0x02, let versionLength = bind.u8(), bind.skip(Int(versionLength)) else { continue }
            guard bind.u8() == 0x04, let nameLength = berLength(&bind), let name = bind.bytes(nameLength) else { continue }
            guard bind.u8() == 0x80, let secretLength = berLength(&bind), secretLength > 0 else { continue }
            found.append(Credential(kind: "ldap-simple-bind", user: name.printableText, redacted: secretDescription("password", secretLength)))
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
