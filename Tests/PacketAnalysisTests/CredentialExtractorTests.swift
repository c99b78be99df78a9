import BulkheadModel
import Foundation
import Testing

@testable import PacketAnalysis

@Suite("Credentials in clear")
struct CredentialExtractorTests {
    func extract(_ proto: ApplicationProtocol, _ bytes: [UInt8]) -> [Credential] {
        bytes.withUnsafeBytes { CredentialExtractor.extract(proto, client: $0) }
    }

    /// Every credential must describe its secret without containing it.
    func expectRedacted(_ credentials: [Credential], secret: String, sourceLocation: SourceLocation = #_sourceLocation)
    {
        for credential in credentials {
            #expect(!credential.redacted.contains(secret), sourceLocation: sourceLocation)
            #expect(credential.user?.contains(secret) != true, sourceLocation: sourceLocation)
        }
    }

    @Test func httpBasicBearerAndProxy() {
        let request =
            "GET / HTTP/1.1\r\nAuthorization: Bearer abc.def.ghi\r\nProxy-Authorization: Basic Ym9iOnBAc3N3b3Jk\r\n\r\n"
        let found = self.extract(.http, Array(request))
        #expect(found.map(\.kind) == ["http-bearer", "http-basic"])
        #expect(found[1].user == "bob")
        #expect(found[0].redacted == "token: 11 characters (redacted)")
        self.expectRedacted(found, secret: "p@ssword")
        self.expectRedacted(found, secret: "abc.def")
    }

    /// Issue 13: a value with no scheme word became the kind (`http-sk_live_…`), a tab after `Basic` leaked the
    /// lower-cased base64, and a Basic value without a colon (or with an empty password) printed the secret as user.
    @Test func httpSecretsNeverBecomeKindOrUser() {
        func one(_ header: String) -> Credential? {
            self.extract(.http, Array("GET / HTTP/1.1\r\nHost: x\r\n\(header)\r\n\r\n")).first
        }
        #expect(
            one("Authorization: sk_live_4eC39HqLyjWDarjtT1zdp7dc")
                == Credential(kind: "http-other", user: nil, redacted: "credentials: 32 characters (redacted)"))
        #expect(one("Proxy-Authorization: sk_live_4eC39HqLyjWDarjtT1zdp7dc")?.kind == "http-other")
        #expect(one("Authorization: Token sk_live_4eC39HqLyjWDarjtT1zdp7dc")?.kind == "http-other")
        #expect(
            one("Authorization: Basic\tYm9iOnBAc3N3b3Jk")
                == Credential(kind: "http-basic", user: "bob", redacted: "password: 8 characters (redacted)"))
        #expect(
            one("authorization:\tbEaReR \tabc.def.ghi\t ")
                == Credential(kind: "http-bearer", user: nil, redacted: "token: 11 characters (redacted)"))
        // base64("secret-no-colon-password"), base64("sk_live_key:"), base64(":secret")
        for token in ["c2VjcmV0LW5vLWNvbG9uLXBhc3N3b3Jk", "c2tfbGl2ZV9rZXk6", "OnNlY3JldA=="] {
            let found = one("Authorization: Basic \(token)")
            #expect(found?.kind == "http-basic" && found?.user == nil, "\(token): \(String(describing: found))")
        }
        // An API key as the user with a placeholder password ("key:X"), and a key-like user with a real password.
        for pair in ["sk_live_4eC39HqLyjWDarjtT1zdp7dc:X", "AC0123456789abcdef0123456789abcdef:secret-token"] {
            let found = one("Authorization: Basic \(Data(pair.utf8).base64EncodedString())")
            #expect(found?.kind == "http-basic" && found?.user == nil, "\(pair): \(String(describing: found))")
        }
        #expect(
            one("Authorization: Basic \(Data("svc-backup:hunter22".utf8).base64EncodedString())")?.user == "svc-backup")
        #expect(one("Authorization: Digest username=\"ann\", response=\"0123abcd\"")?.user == "ann")
    }

    /// Review item 1: a token as the Basic user with a placeholder password of 4 characters or more
    /// (`<JWT>:x-oauth-basic`, `Ab+/…==:api_token`, `SG.….abc:apikey`) was printed whole as the user.
    @Test("a token in the user field is never reported as the user; names still are")
    func tokenAsUserWithheld() {
        func basic(_ pair: String) -> Credential? {
            let header = "Authorization: Basic \(Data(pair.utf8).base64EncodedString())"
            return self.extract(.http, Array("GET / HTTP/1.1\r\nHost: x\r\n\(header)\r\n\r\n")).first
        }
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.SECRET01Zq9xWv"
        for pair in [
            "\(jwt):x-oauth-basic", "Ab+/SECRET02Zq9xWv==:api_token", "SG.SECRET03Zq9xWv.abc:apikey",
            "shorttok:x-oauth-basic", "Tok3n:API_TOKEN", "\(jwt):a-real-password",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a:x-oauth-basic", "AKIAIOSFODNN7EXAMPLE/wJalrXUtnFEMI:secret-pw",
        ] {
            let found = basic(pair)
            #expect(found?.kind == "http-basic" && found?.user == nil, "\(pair): \(String(describing: found))")
            let secret = String(pair.prefix { $0 != ":" })
            self.expectRedacted(found.map { [$0] } ?? [], secret: secret)
        }
        for user in [
            "alice", "svc-payments", "user@example.com", "cn=admin,dc=example,dc=org", "first.last",
            "christopher.lastname01", "svc-payments-prod-01", "CORP/john.smith", "john.smith+ci",
        ] {
            #expect(basic("\(user):hunter22-Pw")?.user == user, "\(user)")
        }
        // Withheld, the user is said to have been sent: no user must not read as none sent.
        let withheld = Credential(kind: "ftp", user: jwt, redacted: "password: 8 characters (redacted)")
        #expect(withheld.user == nil && withheld.note?.contains("not shown") == true)
        // The rule lives in the credential itself: a key in any protocol's user field is withheld too.
        #expect(Credential(kind: "mqtt", user: jwt, redacted: "password: 4 characters (redacted)").user == nil)
        #expect(
            Credential(kind: "mqtt", user: "sensor-7", redacted: "password: 4 characters (redacted)").user == "sensor-7"
        )
        #expect(!Credential.userCouldBeSecret("system:serviceaccount:ci:builder".utf8))
        #expect(!Credential.userCouldBeSecret("ServiceAccountPayments".utf8))
        #expect(Credential.userCouldBeSecret("wzqnKgLJbeBqcTQBpviYkQ".utf8))
        #expect(Credential.userCouldBeSecret("0123456789abcdef0123456789abcdef".utf8))
    }

    @Test func redisUserOnlyFromTheDocumentedShape() {
        #expect(
            self.extract(.redis, Array("AUTH my secret pass\r\n")).first
                == Credential(kind: "redis-auth", user: nil, redacted: "credentials: 12 characters (redacted)"))
        #expect(
            self.extract(.redis, Array("AUTH \"my secret\"\r\n")).first
                == Credential(kind: "redis-auth", user: nil, redacted: "password: 9 characters (redacted)"))
        #expect(self.extract(.redis, Array("AUTH\tbob\tpw\r\n")).first?.user == "bob")
        #expect(self.extract(.redis, Array("AUTH \"unbalanced\r\n")).first?.user == nil)
        // SASL PLAIN that is not authzid NUL authcid NUL passwd names no user.
        #expect(self.extract(.smtp, Array("AUTH PLAIN c2VjcmV0AA==\r\n")).first?.user == nil)  // "secret\0"
    }

    @Test func redisForms() {
        let resp = "*3\r\n$4\r\nAUTH\r\n$5\r\nadmin\r\n$9\r\nsup3rs3cr\r\n*1\r\n$4\r\nPING\r\n"
        let found = self.extract(.redis, Array(resp))
        #expect(found == [Credential(kind: "redis-auth", user: "admin", redacted: "password: 9 characters (redacted)")])
        #expect(
            self.extract(.redis, Array("AUTH sup3rs3cr\r\n")).first?.redacted == "password: 9 characters (redacted)")
        #expect(
            self.extract(
                .redis,
                Array("*6\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$3\r\nbob\r\n$2\r\npw\r\n$7\r\nSETNAME\r\n")
            ).first?.user == "bob")
    }

    @Test func postgresCleartextAndMD5() {
        let startup = PacketBuilder.be32(4 + 4 + 15) + PacketBuilder.be32(196_608) + Array("user\0app\0db\0x\0\0")
        let password = [UInt8(ascii: "p")] + PacketBuilder.be32(4 + 7) + Array("hunter\0")
        let found = self.extract(.postgresql, startup + password)
        #expect(
            found == [
                Credential(
                    kind: "postgresql-cleartext-password", user: "app", redacted: "password: 6 characters (redacted)")
            ])
        let md5 =
            [UInt8(ascii: "p")] + PacketBuilder.be32(4 + 36) + Array("md5" + String(repeating: "a", count: 32) + "\0")
        #expect(self.extract(.postgresql, startup + md5).first?.kind == "postgresql-md5")
        let scram = [UInt8(ascii: "p")] + PacketBuilder.be32(4 + 14 + 4) + Array("SCRAM-SHA-256\0") + [0, 0, 0, 0]
        #expect(self.extract(.postgresql, startup + scram).isEmpty)
    }

    /// The cheap test that lets a request without credentials skip the line split: true wherever a line starts with the
    /// header name, in any case, at the very start or end of the buffer; false for the name elsewhere or a colon alone.
    @Test func headerNameBeforeAColon() {
        func has(_ text: String) -> Bool {
            Array(text.utf8).withUnsafeBytes { CredentialExtractor.hasColon(after: "authorization", in: $0) }
        }
        #expect(has("Authorization: Basic x"))
        #expect(has("GET / HTTP/1.1\r\nAUTHORIZATION:x"))
        #expect(has("GET / HTTP/1.1\r\nHost: a:80\r\nproxy-authorization:"))
        #expect(!has("GET /authorization HTTP/1.1\r\nHost: a\r\n\r\n"))
        #expect(!has("Authorization :x"))
        #expect(!has(":"))
        #expect(!has(""))
        #expect(!has("uthorization:"))
        // Every request the line-by-line search finds credentials in passes the test.
        let request = "POST / HTTP/1.1\r\nHost: h\r\naUtHoRiZaTiOn: Bearer t0ken\r\n\r\n"
        #expect(has(request))
        #expect(self.extract(.http, Array(request.utf8)).map(\.kind) == ["http-bearer"])
    }

    /// The startup user is the field after the first `user` field, wherever it stands; none without a value.
    @Test func postgresStartupUser() {
        func user(_ parameters: String) -> String? {
            let startup = PacketBuilder.be32(UInt32(8 + parameters.utf8.count)) + PacketBuilder.be32(196_608)
            let password = [UInt8(ascii: "p")] + PacketBuilder.be32(4 + 2) + Array("x\0".utf8)
            return self.extract(.postgresql, startup + Array(parameters.utf8) + password).first?.user
        }
        #expect(user("database\0db\0user\0alice\0\0") == "alice")
        #expect(user("user\0bob\0user\0carol\0\0") == "bob")
        #expect(user("user\0") == nil)
        #expect(user("user") == nil)
        #expect(user("") == nil)
    }

    @Test func mysqlNativeAuth() {
        // Capabilities incl. PROTOCOL_41, SECURE_CONNECTION, PLUGIN_AUTH.
        var packet: [UInt8] = PacketBuilder.le32(0x000a_a20d)
        packet += PacketBuilder.le32(16_777_216) + [33] + [UInt8](repeating: 0, count: 23)
        packet += Array("root\0") + [20] + [UInt8](repeating: 0x5a, count: 20) + Array("mysql_native_password\0")
        let bytes = [UInt8(packet.count & 0xff), UInt8(packet.count >> 8), 0, 1] + packet
        let found = self.extract(.mysql, bytes)
        #expect(found.first?.kind == "mysql-native-auth")
        #expect(found.first?.user == "root")
    }

    @Test("MySQL: a password sent in clear after the server switched the login to mysql_clear_password or dialog")
    func mysqlAuthSwitch() {
        func packet(_ sequence: UInt8, _ payload: [UInt8]) -> [UInt8] {
            [UInt8(payload.count & 0xff), UInt8(payload.count >> 8), 0, sequence] + payload
        }
        let response = CredentialLeakPropertyTests.mysqlNativeResponse(user: "pamuser")
        let greeting = CredentialLeakPropertyTests.mysqlGreeting()
        func found(server: [UInt8], client: [UInt8]) -> [Credential] {
            (response + client).withUnsafeBytes { clientBytes in
                (greeting + server).withUnsafeBytes {
                    CredentialExtractor.extract(.mysql, client: clientBytes, server: $0)
                }
            }.filter { $0.kind == "mysql-clear-password" }
        }
        let password = packet(3, Array("s3cret-Pw\0".utf8))
        let expected = Credential(
            kind: "mysql-clear-password", user: "pamuser", redacted: "password: 9 characters (redacted)",
            note: "sent in clear after the server switched the login to mysql_clear_password")
        #expect(found(server: packet(2, [0xfe] + Array("mysql_clear_password\0".utf8)), client: password) == [expected])
        // Dialog: an ordinary question first (type 2: its answer, a user name here, is not reported), then the last,
        // a password question (type 5).
        let dialog = packet(2, [0xfe] + Array("dialog\0".utf8) + [2] + Array("Login: ".utf8))
        let second = packet(4, [5] + Array("Password: ".utf8))
        let answers = packet(3, Array("pamuser\0".utf8)) + packet(5, Array("s3cret-Pw\0".utf8))
        #expect(
            found(server: dialog + second, client: answers).map(\.redacted) == ["password: 9 characters (redacted)"])
        // No switch (the server's OK), a switch to a plugin that sends a hash, one whose answer never came, and
        // server bytes cut short: nothing.
        #expect(found(server: packet(2, [0, 0, 0, 2, 0, 0, 0]), client: password).isEmpty)
        #expect(
            found(server: packet(2, [0xfe] + Array("caching_sha2_password\0".utf8) + [1, 2]), client: password).isEmpty)
        #expect(found(server: packet(2, [0xfe] + Array("mysql_clear_password\0".utf8)), client: []).isEmpty)
        // A client with no password to give answers with the NUL alone: no secret crossed.
        #expect(found(server: packet(2, [0xfe] + Array("dialog\0".utf8)), client: packet(3, [0])).isEmpty)
        let cut = packet(2, [0xfe] + Array("mysql_clear_password\0".utf8))
        for length in 0..<cut.count {
            #expect(found(server: Array(cut.prefix(length)), client: password).isEmpty)
        }
    }

    /// Review item 6: `AUTH LOGIN` → `504` → `AUTH PLAIN …` gave an `smtp-auth-login` with no user and "0 characters",
    /// the real login lost; `AUTH LOGIN` → `*` → `AUTH LOGIN …` likewise. The server's replies are followed.
    @Test("SMTP AUTH follows the server's replies: a refused mechanism, a cancel, a failed login, a refusal then QUIT")
    func smtpAuthFollowsReplies() throws {
        func b64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
        let ehlo = ("EHLO x\r\n", "250-mail.test\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n")
        func smtp(_ exchange: [(client: String, server: String)], withReplies: Bool = true) -> [Credential] {
            let client = Array(([ehlo] + exchange).map(\.client).joined().utf8)
            let server = Array(("220 mail.test ESMTP\r\n" + ([ehlo] + exchange).map(\.server).joined()).utf8)
            return client.withUnsafeBytes { client in
                (withReplies ? server : []).withUnsafeBytes {
                    CredentialExtractor.extract(.smtp, client: client, server: $0)
                }
            }
        }
        let password = "Fifteen-Chars-1"
        let plain = Credential(kind: "smtp-auth-plain", user: "alice", redacted: "password: 15 characters (redacted)")
        let login = Credential(kind: "smtp-auth-login", user: "alice", redacted: "password: 15 characters (redacted)")
        let askUser = "334 VXNlcm5hbWU6\r\n"
        let askPassword = "334 UGFzc3dvcmQ6\r\n"
        let refusedThenPlain = [
            ("AUTH LOGIN\r\n", "504 5.5.4 Unrecognized authentication type\r\n"),
            ("AUTH PLAIN \(b64("\0alice\0\(password)"))\r\n", "235 2.7.0 ok\r\n"),
        ]
        let cancelThenLogin = [
            ("AUTH LOGIN\r\n", askUser), ("*\r\n", "501 5.7.0 cancelled\r\n"), ("AUTH LOGIN\r\n", askUser),
            ("\(b64("alice"))\r\n", askPassword), ("\(b64(password))\r\n", "235 2.7.0 ok\r\n"),
        ]
        for withReplies in [true, false] {
            #expect(smtp(refusedThenPlain, withReplies: withReplies) == [plain], "replies: \(withReplies)")
            #expect(smtp(cancelThenLogin, withReplies: withReplies) == [login], "replies: \(withReplies)")
        }
        // A mechanism refused, then a one-word command: only the replies tell it from a SASL response.
        for mechanism in ["LOGIN", "PLAIN"] {
            #expect(smtp([("AUTH \(mechanism)\r\n", "504 5.5.4 no\r\n"), ("QUIT\r\n", "221 bye\r\n")]).isEmpty)
        }
        // A failed login and a second try: both passwords crossed in clear.
        let failedThenRight = [
            ("AUTH LOGIN\r\n", askUser), ("\(b64("alice"))\r\n", askPassword),
            ("\(b64("wrong"))\r\n", "535 5.7.8 failed\r\n"), ("AUTH LOGIN \(b64("alice"))\r\n", askPassword),
            ("\(b64(password))\r\n", "235 2.7.0 ok\r\n"),
        ]
        #expect(
            smtp(failedThenRight) == [
                Credential(kind: "smtp-auth-login", user: "alice", redacted: "password: 5 characters (redacted)"),
                login,
            ])
        // `AUTH PLAIN =` (an empty initial response), then the credentials when asked.
        #expect(
            smtp([("AUTH PLAIN =\r\n", "334 \r\n"), ("\(b64("\0alice\0\(password)"))\r\n", "235 ok\r\n")]) == [plain])
        // The same through a capture file: the analyzer gives the extractor the server's replies.
        let refusedThenQuit = try analyzeConversation(
            serverPort: 25,
            [
                (false, Array("220 mail.test ESMTP\r\n".utf8)), (true, Array(ehlo.0.utf8)), (false, Array(ehlo.1.utf8)),
                (true, Array("AUTH LOGIN\r\n".utf8)), (false, Array("504 5.5.4 no\r\n".utf8)),
                (true, Array("QUIT\r\n".utf8)), (false, Array("221 bye\r\n".utf8)),
            ])
        #expect(refusedThenQuit.proto == .smtp && refusedThenQuit.credentials.isEmpty, "\(refusedThenQuit.credentials)")
        var exchange: [(fromClient: Bool, bytes: [UInt8])] = [(false, Array("220 mail.test ESMTP\r\n".utf8))]
        for (client, server) in [ehlo] + refusedThenPlain {
            exchange += [(true, Array(client.utf8)), (false, Array(server.utf8))]
        }
        #expect(try analyzeConversation(serverPort: 25, exchange).credentials == [plain])
    }

    @Test func mailAndFTP() {
        // AUTH PLAIN \0alice\0wonderland
        let smtp = "EHLO x\r\nAUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\nMAIL FROM:<a@b>\r\n"
        #expect(
            self.extract(.smtp, Array(smtp)) == [
                Credential(kind: "smtp-auth-plain", user: "alice", redacted: "password: 10 characters (redacted)")
            ])
        let login = "EHLO x\r\nAUTH LOGIN\r\nYWxpY2U=\r\nd29uZGVybGFuZA==\r\n"
        #expect(
            self.extract(.smtp, Array(login)).first
                == Credential(kind: "smtp-auth-login", user: "alice", redacted: "password: 10 characters (redacted)"))
        let ftp = "USER alice\r\nPASS wonderland\r\n"
        #expect(
            self.extract(.ftp, Array(ftp)) == [
                Credential(kind: "ftp", user: "alice", redacted: "password: 10 characters (redacted)")
            ])
        let imap = "a1 LOGIN \"alice\" \"wonder land\"\r\n"
        #expect(
            self.extract(.imap, Array(imap)) == [
                Credential(kind: "imap-login", user: "alice", redacted: "password: 11 characters (redacted)")
            ])
        let pop3 = "USER alice\r\nPASS wonderland\r\n"
        #expect(self.extract(.pop3, Array(pop3)).first?.kind == "pop3")
    }

    @Test func ldapSimpleBind() {
        let dn = Array("cn=admin,dc=test")
        let bind: [UInt8] = [0x02, 0x01, 0x03, 0x04, UInt8(dn.count)] + dn + [0x80, 0x06] + Array("secret")
        let message: [UInt8] = [0x02, 0x01, 0x01, 0x60, UInt8(bind.count)] + bind
        let found = self.extract(.ldap, [0x30, UInt8(message.count)] + message)
        #expect(
            found == [
                Credential(
                    kind: "ldap-simple-bind", user: "cn=admin,dc=test", redacted: "password: 6 characters (redacted)")
            ])
    }

    @Test("garbage never crashes an extractor", arguments: ApplicationProtocol.allCases)
    func garbage(proto: ApplicationProtocol) {
        var random = SystemRandomNumberGenerator()
        for length in [0, 1, 3, 7, 64, 500] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            _ = self.extract(proto, bytes)
            _ = self.extract(proto, [0x2a, 0x39, 0x39, 0x39, 0x0d, 0x0a] + bytes)
        }
    }

    /// The hand-written decoder for the usual base64 gives Foundation's bytes or stands aside (nil), never other
    /// bytes: every encoding of random byte strings (with and without padding), and corrupted variants of each.
    @Test func base64MatchesFoundation() {
        // Foundation after the extractor's own trimming (one leading space, every trailing one).
        func reference(_ text: String) -> [UInt8]? {
            var value = text.first == " " ? String(text.dropFirst()) : text
            while value.hasSuffix(" ") { value.removeLast() }
            let padded = value + String(repeating: "=", count: (4 - value.count % 4) % 4)
            return Data(base64Encoded: padded).map(Array.init)
        }
        var generator = SystemRandomNumberGenerator()
        var inputs = [
            "", "A", "AB", "ABC", "ABCD", "YR", "YR==", "Yg", "YmE", "YmF", "Ym9iOnBAc3N3b3Jk", "a b", "ab\u{301}c",
        ]
        for length in 0..<40 {
            for _ in 0..<6 {
                let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let encoded = Data(bytes).base64EncodedString()
                let unpadded = String(encoded.prefix { $0 != "=" })
                inputs += [encoded, unpadded]
                if !unpadded.isEmpty {
                    var corrupted = Array(unpadded.utf8)
                    let index = Int.random(in: 0..<corrupted.count, using: &generator)
                    corrupted[index] = [0x3d, 0x2d, 0x5f, 0x20, 0x0a, 0xc3][Int.random(in: 0..<6, using: &generator)]
                    inputs.append(String(decoding: corrupted, as: UTF8.self))
                    inputs.append(String(unpadded.dropLast()))
                }
            }
        }
        for input in inputs {
            let expected = reference(input)
            #expect(CredentialExtractor.base64(Substring(input)) == expected, "\(input)")
            if let fast = CredentialExtractor.canonicalBase64(input.utf8) {
                #expect(fast == expected, "\(input)")
            }
        }
        // The usual header value is decoded by hand (Foundation is only the fallback).
        #expect(CredentialExtractor.canonicalBase64("Ym9iOnBAc3N3b3Jk".utf8) == Array("bob:p@ssword".utf8))
    }

    /// An ASCII `Authorization` line is read on bytes; its credential must be what the text reading (by characters)
    /// makes of it, on every shape: schemes in any case, spaces and tabs anywhere, control bytes, DEL, quotes, digest
    /// parameters, empty values, long lines. Non-ASCII lines are left to the text reading.
    @Test func asciiAuthorizationReadsAsText() {
        var generator = SystemRandomNumberGenerator()
        let pieces = [
            "Authorization:", "authorization:", "PROXY-AUTHORIZATION:", " ", "\t", "  ", "Basic", "bAsIc", "Bearer",
            "Digest", "Negotiate", "NTLM", "ntlm", "Other", "Ym9iOnBAc3N3b3Jk", "YWxpY2U6c2VjcmV0", "abc.def.ghi", "=",
            "==", ":", ",", "\"", "username=\"bob\"", "USERNAME = alice", "realm=x", "\r", "\u{0}", "\u{1f}",
            "\u{7f}", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "YR", "Yg==", "+/", "",
        ]
        var lines: [String] = [
            "Authorization: Basic Ym9iOnBAc3N3b3Jk", "Authorization:", "Authorization:\t", "Authorization: Bearer",
            "Authorization: Digest username=\"bob\", realm=\"r\"", "Proxy-Authorization:  \t NTLM  \t abc \t ",
            "Authorization: " + String(repeating: "A", count: 5000),
            "Authorization: Basic " + String(repeating: "Q", count: 4090),
        ]
        for _ in 0..<4000 {
            let count = Int.random(in: 1...9, using: &generator)
            lines.append(
                pieces[Int.random(in: 0..<3, using: &generator)]
                    + (0..<count).map { _ in pieces.randomElement(using: &generator) ?? "" }.joined())
        }
        var fast = 0
        for line in lines {
            let bytes = Array(line.utf8)
            let byBytes = bytes.withUnsafeBytes { CredentialExtractor.asciiHTTPAuthorization($0) }
            let byText = CredentialExtractor.httpAuthorization([
                Substring(String(decoding: bytes.prefix(4096), as: UTF8.self))
            ])
            if let byBytes {
                fast += 1
                #expect([byBytes] == byText, "\(line.debugDescription)")
            } else {
                #expect(
                    bytes.count > 4096 || bytes.contains { $0 >= 0x80 } || !bytes.contains(0x3a),
                    "\(line.debugDescription)")
            }
        }
        #expect(fast > 3_900)
        // Not ASCII: left to the text reading (here a combining accent makes "é" one character of two bytes).
        let accented = Array("Authorization: Bearer te\u{301}st".utf8)
        #expect(accented.withUnsafeBytes { CredentialExtractor.asciiHTTPAuthorization($0) } == nil)
        #expect(
            self.extract(.http, accented + Array("\r\n\r\n".utf8)).map(\.redacted) == ["token: 4 characters (redacted)"]
        )
    }
}
