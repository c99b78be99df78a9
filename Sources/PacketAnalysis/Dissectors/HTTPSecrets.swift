import BulkheadModel

#if canImport(Glibc)
    import Glibc
#endif

/// Secrets an HTTP client sends other than in `Authorization`: API keys and tokens in headers of their own, and
/// tokens, passwords and client secrets as parameters of the URL or of a form-encoded body, or as string members of
/// a JSON body.
///
/// On a container host these are the usual way services authenticate to each other over plain HTTP: Vault, Consul
/// and Nomad take their tokens as `X-Vault-Token`, `X-Consul-Token`, `X-Nomad-Token`; API gateways and cloud APIs an
/// `X-API-Key`; OAuth clients fetch tokens with `client_secret=` in a form body; browsers' WebSocket clients, which
/// cannot set headers, put `access_token=` in the URL; the web consoles run beside containers (Grafana, Portainer,
/// Harbor…) log in with `{"user": …, "password": …}`. Each is described as the others are: kind, the header or
/// parameter's name, the secret's length, never the secret.
extension CredentialExtractor {
    /// Request header names (lowercase) that carry a secret, with the kind reported and the word for the secret.
    static let secretHeaders: [(name: [UInt8], kind: String, secret: String)] = [
        ("x-api-key", "http-api-key", "key"), ("api-key", "http-api-key", "key"), ("apikey", "http-api-key", "key"),
        ("x-apikey", "http-api-key", "key"), ("x-goog-api-key", "http-api-key", "key"),
        ("ocp-apim-subscription-key", "http-api-key", "key"), ("x-functions-key", "http-api-key", "key"),
        ("x-auth-token", "http-token", "token"), ("x-access-token", "http-token", "token"),
        ("x-vault-token", "http-token", "token"), ("x-consul-token", "http-token", "token"),
        ("x-nomad-token", "http-token", "token"), ("private-token", "http-token", "token"),
        ("job-token", "http-token", "token"), ("x-gitlab-token", "http-token", "token"),
        ("x-amz-security-token", "http-token", "token"),
    ].map { (Array($0.0.utf8), $0.1, $0.2) }

    /// Parameter names (lowercase) whose value is a secret, and those whose value names who it belongs to.
    static let secretParameters: [[UInt8]] = [
        "password", "passwd", "client_secret", "access_token", "id_token", "refresh_token", "auth_token", "token",
        "jwt", "api_key", "apikey",
    ].map { Array($0.utf8) }
    /// The names whose string value in a JSON body is a secret: the parameters' but the bare `token` and `jwt`, which in
    /// JSON name as often a device's push token or a token being checked as one being presented.
    static let jsonSecretNames: [[UInt8]] = Self.secretParameters.filter {
        $0 != Array("token".utf8) && $0 != Array("jwt".utf8)
    }
    static let userParameters: [[UInt8]] = ["username", "user", "login", "client_id"].map { Array($0.utf8) }

    /// At most this many credentials of one kind (header, parameter, JSON member) are reported for a flow: a body of
    /// thousands of `password=` is one finding either way, and each is read once.
    static let maximumSecretsPerKind = 16

    /// The secrets in headers of their own (``secretHeaders``), each header name once.
    static func httpSecretHeaders(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var found: [Credential] = []
        Self.forEachOffset(of: 0x3a, in: bytes) { colon in
            // Every name in the table ends in "-key", "ikey" or "oken": four bytes tell most colons apart at once (a
            // request's `Host:` and `Accept:`, a JSON body's keys).
            guard colon >= 6 else { return }
            let tail = (
                bytes[colon - 4] | 0x20, bytes[colon - 3] | 0x20, bytes[colon - 2] | 0x20, bytes[colon - 1] | 0x20
            )
            guard tail.1 == 0x6b || tail.1 == 0x6f, tail.2 == 0x65, tail.3 == 0x79 || tail.3 == 0x6e else { return }
            // The name runs from the start of its line.
            var nameStart = colon
            while nameStart > 0, colon - nameStart <= 32, bytes[nameStart - 1] != 0x0a { nameStart -= 1 }
            guard nameStart > 0, bytes[nameStart - 1] == 0x0a else { return }
            let name = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<colon])
            guard let header = Self.secretHeaders.first(where: { Self.equalIgnoringCase($0.name, name) }) else {
                return
            }
            var lineEnd = colon
            while lineEnd < bytes.count, bytes[lineEnd] != 0x0a { lineEnd += 1 }
            var (valueStart, valueEnd) = (colon + 1, lineEnd)
            while valueStart < valueEnd, bytes[valueStart] == 0x20 || bytes[valueStart] == 0x09 { valueStart += 1 }
            while valueEnd > valueStart, [0x20, 0x09, 0x0d].contains(bytes[valueEnd - 1]) { valueEnd -= 1 }
            guard valueEnd > valueStart else { return }
            let credential = Credential(
                kind: header.kind, user: nil, redacted: Self.secretDescription(header.secret, valueEnd - valueStart),
                note: name.printableText + " header")
            if !found.contains(credential) { found.append(credential) }
        }
        return found
    }

    /// The secrets in string members of JSON bodies (``jsonSecretNames``, any case), each with the user a member of
    /// the same body names (``userParameters``).
    static func httpJSONSecrets(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        // Most requests have no body, and most bodies are no JSON object: told by a `{` before anything is scanned.
        guard let base = bytes.baseAddress, memchr(base, 0x7b, bytes.count) != nil else { return [] }
        var found: [Credential] = []
        var bodies = JSONBodies()
        // The user of the body last looked in (a body with many secret members is searched for its user once).
        var user: (body: Int, name: String?)?
        Self.forEachOffset(of: 0x3a, in: bytes) { colon in
            guard found.count < Self.maximumSecretsPerKind, let key = Self.jsonKey(bytes, endingBefore: colon),
                Self.matches(UnsafeRawBufferPointer(rebasing: bytes[key]), any: Self.jsonSecretNames),
                let body = bodies.body(bytes, containing: key.lowerBound),
                let value = Self.jsonString(bytes, after: colon), value.length > 0
            else { return }
            if user?.body != body.lowerBound { user = (body.lowerBound, Self.jsonUser(bytes, in: body)) }
            let name = UnsafeRawBufferPointer(rebasing: bytes[key]).printableText
            let credential = Credential(
                kind: "http-json-secret", user: user?.name,
                redacted: Self.secretDescription(
                    name.lowercased().contains("pass") ? "password" : "secret", value.length),
                note: "\(name) in a JSON body")
            if !found.contains(credential) { found.append(credential) }
        }
        return found
    }

    /// The key of a member whose `:` is at `colon`: the quoted name just before it (spaces allowed between), at most
    /// 32 bytes of name characters.
    static func jsonKey(_ bytes: UnsafeRawBufferPointer, endingBefore colon: Int) -> Range<Int>? {
        var close = colon
        while close > 0, bytes[close - 1] == 0x20 || bytes[close - 1] == 0x09 { close -= 1 }
        guard close > 0, bytes[close - 1] == 0x22 else { return nil }
        var open = close - 1
        while open > 0, close - 1 - open <= 32, Self.isParameterNameByte(bytes[open - 1]) { open -= 1 }
        guard open > 0, bytes[open - 1] == 0x22, open < close - 1 else { return nil }
        return open..<(close - 1)
    }

    /// Finds the JSON body an offset lies in, for offsets asked in increasing order, reading each byte at most once:
    /// a body runs from the first byte after the blank line that ends the headers before it, which must open an object
    /// or an array, to the end of the bytes.
    private struct JSONBodies {
        /// The offset asked last: the latest blank line up to it is known.
        private var searchedUpTo = 0
        /// Where the bytes after the latest blank line before `searchedUpTo` start.
        private var afterBlank: Int?

        /// The body `offset` lies in; nil when it is in headers, or in a body that is no JSON.
        mutating func body(_ bytes: UnsafeRawBufferPointer, containing offset: Int) -> Range<Int>? {
            var index = offset
            while index >= 2, index > self.searchedUpTo {
                if bytes[index - 1] == 0x0a
                    && (bytes[index - 2] == 0x0a
                        || (index >= 4 && bytes[index - 2] == 0x0d && bytes[index - 3] == 0x0a))
                {
                    self.afterBlank = index
                    break
                }
                index -= 1
            }
            self.searchedUpTo = max(self.searchedUpTo, offset)
            guard let start = self.afterBlank else { return nil }
            var first = start
            while first < offset, [0x20, 0x09, 0x0d, 0x0a].contains(bytes[first]) { first += 1 }
            return bytes[first] == 0x7b || bytes[first] == 0x5b ? start..<bytes.count : nil
        }
    }

    /// The string value after a member's `:` (spaces allowed), unescaped length counted; nil for another value.
    static func jsonString(_ bytes: UnsafeRawBufferPointer, after colon: Int) -> (end: Int, length: Int)? {
        var index = colon + 1
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }
        guard index < bytes.count, bytes[index] == 0x22 else { return nil }
        index += 1
        var length = 0
        while index < bytes.count, bytes[index] != 0x22 {
            // `\uXXXX` is one character, any other escape two bytes for one.
            index += bytes[index] == 0x5c ? (index + 1 < bytes.count && bytes[index + 1] == 0x75 ? 6 : 2) : 1
            length += 1
        }
        return (min(index, bytes.count), length)
    }

    /// The value of a user-naming string member in the body `range`, as text (at most 64 bytes shown).
    private static func jsonUser(_ bytes: UnsafeRawBufferPointer, in range: Range<Int>) -> String? {
        var user: String?
        Self.forEachOffset(of: 0x3a, in: UnsafeRawBufferPointer(rebasing: bytes[range])) { relative in
            let colon = range.lowerBound + relative
            guard user == nil, let key = Self.jsonKey(bytes, endingBefore: colon),
                Self.matches(UnsafeRawBufferPointer(rebasing: bytes[key]), any: Self.userParameters),
                let value = Self.jsonString(bytes, after: colon), value.length > 0
            else { return }
            var start = colon + 1
            while bytes[start] != 0x22 { start += 1 }
            user = UnsafeRawBufferPointer(rebasing: bytes[(start + 1)..<min(value.end, start + 65)]).printableText
        }
        return user
    }

    /// Calls `body` with the offset of each `byte` in `bytes`, in order (found with memchr: most of a request is
    /// other bytes).
    static func forEachOffset(of byte: UInt8, in bytes: UnsafeRawBufferPointer, _ body: (Int) -> Void) {
        guard let base = bytes.baseAddress else { return }
        var start = 0
        while start < bytes.count, let hit = memchr(base + start, Int32(byte), bytes.count - start) {
            let offset = base.distance(to: UnsafeRawPointer(hit))
            body(offset)
            start = offset + 1
        }
    }

    /// Whether `name` is `lowercase` but for ASCII case.
    private static func equalIgnoringCase(_ lowercase: [UInt8], _ name: UnsafeRawBufferPointer) -> Bool {
        lowercase.count == name.count
            && zip(lowercase, name).allSatisfy { $0 == ($1 >= 0x41 && $1 <= 0x5a ? $1 | 0x20 : $1) }
    }

    /// The secrets in parameters (``secretParameters``) of a request's URL query or of a form-encoded body, each
    /// with the user a parameter of the same list names (``userParameters``).
    static func httpSecretParameters(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var found: [Credential] = []
        // The line the last parameter was on, and its user (each line is read once, however many `=` it holds).
        var line: ParameterLine?
        Self.forEachOffset(of: 0x3d, in: bytes) { equals in
            guard found.count < Self.maximumSecretsPerKind else { return }
            var nameStart = equals
            while nameStart > 0, equals - nameStart <= 16, Self.isParameterNameByte(bytes[nameStart - 1]) {
                nameStart -= 1
            }
            guard nameStart > 0, nameStart < equals,
                Self.matches(UnsafeRawBufferPointer(rebasing: bytes[nameStart..<equals]), any: Self.secretParameters)
            else { return }
            // Where the list is: a request line's query (after `?`, or `&` in it), or a body's first line (after the
            // blank line that ends the headers).
            if line.map({ !$0.bounds.contains(nameStart) }) ?? true { line = ParameterLine(bytes, around: nameStart) }
            guard var current = line, let list = current.list(bytes, nameStart: nameStart) else { return }
            let value = Self.parameterValue(bytes, from: equals + 1, end: list.end)
            guard value.length > 0 else { return }
            let name = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<equals]).printableText
            // A credential's kind (not a finding's): where the parameter was.
            let credentialKind = list.inURL ? "http-url-secret" : "http-form-secret"
            let credential = Credential(
                kind: credentialKind,
                user: current.user(bytes, in: list.start..<list.end),
                redacted: Self.secretDescription(
                    name.lowercased().contains("password") ? "password" : "secret", value.length),
                note: list.inURL ? "\(name) in the URL (servers and proxies log it)" : "\(name) in a form body")
            line = current
            if !found.contains(credential) { found.append(credential) }
        }
        return found
    }

    private static func isParameterNameByte(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x30 && byte <= 0x39)
            || byte == 0x5f || byte == 0x2d || byte == 0x2e
    }

    /// Whether `name` is one of `names`, ignoring ASCII case.
    static func matches(_ name: UnsafeRawBufferPointer, any names: [[UInt8]]) -> Bool {
        names.contains { Self.equalIgnoringCase($0, name) }
    }

    /// A line that may hold a parameter list: a request line with a query, or a form body's line.
    private struct ParameterLine {
        /// The line, without its line end.
        var bounds: Range<Int>
        /// A request line's query: after its `?`, to the end of the target.
        var query: Range<Int>?
        /// Whether the line is a form body's: it follows a blank line and holds no spaces.
        var isForm: Bool
        /// The user its list names, once looked for (nil: not yet; `.some(nil)`: none).
        private var users: [Int: String?] = [:]

        /// The line `offset` is in (at most 8 KiB of it before `offset`); nil when its start is further back.
        init?(_ bytes: UnsafeRawBufferPointer, around offset: Int) {
            var start = offset
            while start > 0, offset - start < 8192, bytes[start - 1] != 0x0a { start -= 1 }
            guard start == 0 || bytes[start - 1] == 0x0a else { return nil }
            var end = offset
            while end < bytes.count, bytes[end] != 0x0a { end += 1 }
            if end > start, bytes[end - 1] == 0x0d { end -= 1 }
            self.bounds = start..<end
            let line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            // `METHOD target HTTP/1.x`
            if let space = line.firstIndex(of: 0x20), space > 0,
                line[..<space].allSatisfy({ $0 >= 0x41 && $0 <= 0x5a }),
                let question = line[(space + 1)...].prefix(while: { $0 != 0x20 }).firstIndex(of: 0x3f)
            {
                let targetEnd = line[(space + 1)...].firstIndex(of: 0x20) ?? line.count
                self.query = (start + question + 1)..<(start + targetEnd)
            }
            let followsBlank =
                start >= 2
                && (bytes[start - 2] == 0x0a || (start >= 4 && bytes[start - 2] == 0x0d && bytes[start - 3] == 0x0a))
            self.isForm = followsBlank && line.allSatisfy { $0 > 0x20 }
        }

        /// The parameter list a name starting at `nameStart` belongs to, and whether it is a URL's query (else a form
        /// body's); nil when the name is in neither.
        func list(_ bytes: UnsafeRawBufferPointer, nameStart: Int) -> (start: Int, end: Int, inURL: Bool)? {
            let before = bytes[nameStart - 1]
            if let query = self.query, query.contains(nameStart), before == 0x3f || before == 0x26 {
                return (query.lowerBound, query.upperBound, true)
            }
            guard self.isForm, before == 0x26 || nameStart == self.bounds.lowerBound else { return nil }
            return (self.bounds.lowerBound, self.bounds.upperBound, false)
        }

        /// The user the list `range` names, looked for once.
        mutating func user(_ bytes: UnsafeRawBufferPointer, in range: Range<Int>) -> String? {
            if let known = self.users[range.lowerBound] { return known }
            let found = CredentialExtractor.userParameter(bytes, in: range)
            self.users[range.lowerBound] = .some(found)
            return found
        }
    }

    /// A parameter's value from `start` to the next `&` (or the list's end): its length once percent-decoded.
    private static func parameterValue(_ bytes: UnsafeRawBufferPointer, from start: Int, end: Int) -> (
        end: Int, length: Int
    ) {
        var index = start
        var length = 0
        while index < end, bytes[index] != 0x26 {
            index += bytes[index] == 0x25 && index + 2 < end ? 3 : 1
            length += 1
        }
        return (index, length)
    }

    /// The value of a user-naming parameter in the list `range`, as text (at most 64 bytes shown).
    fileprivate static func userParameter(_ bytes: UnsafeRawBufferPointer, in range: Range<Int>) -> String? {
        var index = range.lowerBound
        while index < range.upperBound {
            var end = index
            while end < range.upperBound, bytes[end] != 0x26 { end += 1 }
            let pair = UnsafeRawBufferPointer(rebasing: bytes[index..<end])
            if let equals = pair.firstIndex(of: 0x3d),
                Self.matches(UnsafeRawBufferPointer(rebasing: pair[..<equals]), any: Self.userParameters),
                equals + 1 < pair.count
            {
                let value = Self.percentDecoded(UnsafeRawBufferPointer(rebasing: pair[(equals + 1)...].prefix(64)))
                return value.withUnsafeBytes(\.printableText)
            }
            index = end + 1
        }
        return nil
    }

    /// `+` as a space and `%XX` as its byte (a malformed escape stays as it is).
    static func percentDecoded(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var output: [UInt8] = []
        var index = 0
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 0x30...0x39: byte - 0x30
            case 0x41...0x46: byte - 0x37
            case 0x61...0x66: byte - 0x57
            default: nil
            }
        }
        while index < bytes.count {
            if bytes[index] == 0x25, index + 2 < bytes.count, let high = hex(bytes[index + 1]),
                let low = hex(bytes[index + 2])
            {
                output.append(high << 4 | low)
                index += 3
            } else {
                output.append(bytes[index] == 0x2b ? 0x20 : bytes[index])
                index += 1
            }
        }
        return output
    }
}
