/// Telling a user name from a secret sent in a user-name field.
///
/// APIs take a token as the user with a placeholder password (`<token>:x-oauth-basic`, `<key>:api_token`,
/// `<key>:X`), and a user field of any protocol can hold a key. A user name is reported only when it reads as a
/// name: ``Credential/init(kind:user:redacted:note:)`` withholds every user this rule calls a possible secret, so
/// the rule serves every protocol, and an extractor that also has the password asks
/// ``Credential/isPlaceholderPassword(_:)`` to withhold the user of a key-and-placeholder pair.
extension Credential {
    /// Whether a user field could be a key or token rather than a name. Only strings made of token characters
    /// (letters, digits, `-_.+/~` and trailing `=` padding) can be; of those, a JWT (`eyJ…` with dots), base64 with
    /// `+`, `/` or padding and no `.`, `-` or `_` (12 characters or more), a dotted key (two dots or more, a digit, 16
    /// characters or more), and a long random-looking string (letters and digits, 20 characters or more without
    /// separators or 32 with them, or the case changing at least every third character) are. Names (`alice`, `svc-payments`, `user@example.com`, an LDAP DN,
    /// `system:serviceaccount:…`) have a character outside that set or none of those shapes.
    /// (Inlinable: the extractors call it with slices of their own buffers, and a generic function called across modules
    /// unspecialised walks each byte through witness tables: 0.8 % of `analyze` on the short benchmark capture.)
    @inlinable
    public static func userCouldBeSecret(_ user: some Collection<UInt8>) -> Bool {
        let shape = TokenShape(user)
        guard shape.isTokenAlphabet, shape.count > 0 else { return false }
        if shape.startsLikeJWT && shape.dots >= 1 { return true }
        // Base64 has no `.`, `-` or `_` beside `+` and `/`: `john.smith+ci` and `CORP/john.smith` are names.
        if shape.count >= 12 && (shape.hasBase64Symbol || shape.padding > 0) && shape.dots == 0 && shape.dashes == 0 {
            return true
        }
        if shape.count >= 16 && shape.dots >= 2 && shape.hasDigit { return true }
        guard shape.count >= 20 else { return false }
        // Names join words with separators (`christopher.lastname01`, `svc-payments-prod-01`); a key of that length
        // has none, or is long.
        if shape.hasLetter && shape.hasDigit && (shape.dots + shape.dashes == 0 || shape.count >= 32) { return true }
        return shape.hasUpper && shape.hasLower && shape.caseChanges * 3 >= shape.count
    }

    /// The passwords that say "the user is the key" rather than being a secret of their own: GitHub's
    /// `x-oauth-basic`, the `api_token`/`apikey` family of SaaS APIs, `token`, and the `X`/`x` that curl examples
    /// put after a key. Compared ignoring ASCII case.
    public static let placeholderPasswords: Set<String> = [
        "x-oauth-basic", "x-oauth-token", "api_token", "api-token", "apitoken", "api_key", "api-key", "apikey",
        "token", "x",
    ]

    /// Whether `password` is one of ``placeholderPasswords``: the user sent with it is then the secret.
    @inlinable
    public static func isPlaceholderPassword(_ password: some Collection<UInt8>) -> Bool {
        // Longer than every placeholder: no need to build a String (the common case of a real password).
        guard password.count <= 13 else { return false }
        let lowered = password.map { $0 >= 0x41 && $0 <= 0x5a ? $0 | 0x20 : $0 }
        return placeholderPasswords.contains(String(decoding: lowered, as: UTF8.self))
    }
}

/// What ``Credential/userCouldBeSecret(_:)`` needs to know of a user field, counted in one pass over its bytes.
@usableFromInline
struct TokenShape {
    @usableFromInline var count = 0
    /// Only letters, digits, `-_.+/~`, and `=` at the end.
    @usableFromInline var isTokenAlphabet = true
    @usableFromInline var startsLikeJWT = false
    @usableFromInline var dots = 0
    /// `-`, `_` and `~`.
    @usableFromInline var dashes = 0
    /// Trailing `=` characters (base64 padding); an `=` followed by anything else is not token alphabet.
    @usableFromInline var padding = 0
    @usableFromInline var hasBase64Symbol = false
    @usableFromInline var hasLetter = false
    @usableFromInline var hasDigit = false
    @usableFromInline var hasUpper = false
    @usableFromInline var hasLower = false
    /// How often a letter's case differs from the previous letter's.
    @usableFromInline var caseChanges = 0

    @inlinable
    init(_ bytes: some Collection<UInt8>) {
        var previousUpper: Bool?
        for byte in bytes {
            count += 1
            if padding > 0 && byte != UInt8(ascii: "=") { isTokenAlphabet = false }
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"):
                let upper = byte <= UInt8(ascii: "Z")
                hasLetter = true
                if upper { hasUpper = true } else { hasLower = true }
                if let previousUpper, previousUpper != upper { caseChanges += 1 }
                previousUpper = upper
            case UInt8(ascii: "0")...UInt8(ascii: "9"): hasDigit = true
            case UInt8(ascii: "."): dots += 1
            case UInt8(ascii: "+"), UInt8(ascii: "/"): hasBase64Symbol = true
            case UInt8(ascii: "="): padding += 1
            case UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "~"): dashes += 1
            default: isTokenAlphabet = false
            }
        }
        // Padding is at most two characters; `a==b`-like text is not base64.
        if padding > 2 { isTokenAlphabet = false }
        startsLikeJWT = bytes.starts(with: "eyJ".utf8)
    }
}
