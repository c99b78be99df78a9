import BulkheadModel

/// Apache ZooKeeper's client protocol (its jute records, each framed by a 4-byte length): the coordination service
/// older Kafka clusters, HBase, Solr, ClickHouse and many service registries keep their state and ACLs in.
///
/// A session opens with the client's ConnectRequest (`protocolVersion` 0, `lastZxidSeen`, `timeOut`, `sessionId`,
/// a 16-byte session `passwd`, and since 3.4 a `readOnly` flag: 44 or 45 bytes after the length). Authentication is
/// an AuthPacket (request header `xid` -4, type 100: auth) naming a scheme and carrying its data; for the `digest`
/// scheme (`zkCli.sh addauth digest user:password`, Kazoo's `auth_data`, Curator's `authorization`) that data is
/// `user:password` itself, in clear on a client port without TLS. SASL (type 102) sends no password: DIGEST-MD5's
/// response (what Kafka brokers' JAAS `Client` section and zkCli.sh with a `DigestLoginModule` send) names the user
/// and carries an MD5 digest of the password a dictionary attack can test offline, reported as HTTP's Digest is;
/// Kerberos tickets are not read. A session the capture joined after its ConnectRequest is told by its heartbeat
/// (``pingExchange(_:_:)``).
enum ZooKeeper {
    /// The request header's `xid` of an AuthPacket, and its type (`OpCode.auth`).
    static let authXID: UInt32 = 0xffff_fffc
    static let authType: UInt32 = 100
    /// The type of a SASL request (`OpCode.sasl`): its body is the mechanism's next token.
    static let saslType: UInt32 = 102

    /// A ping (`xid` -2, type 11: the client's heartbeat on an idle session), as a whole record.
    static let pingRequest: [UInt8] = [0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11]

    /// Whether a side's bytes are ZooKeeper records back to back from the first (a length of 8 bytes to 1 MiB each, a
    /// last one cut short let be) with one that `matches`.
    static func records(_ bytes: UnsafeRawBufferPointer, containing matches: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        var cursor = ByteCursor(bytes)
        var found = false
        var count = 0
        while !cursor.isAtEnd, count < 64 {
            guard let length = cursor.u32(), length >= 8, length <= 1 << 20 else { return false }
            guard let body = cursor.bytes(Int(length)) else { return found }
            count += 1
            if matches(body) { found = true }
        }
        return found
    }

    /// A session the capture joined after its ConnectRequest, told by its heartbeat: on one side a ping (``pingRequest``)
    /// and on the other its answer (a reply header with `xid` -2 and error 0: 16 bytes), both sides ZooKeeper
    /// records from their first byte. Sessions idle between requests send one every third of their timeout. Returns
    /// whether `first` is the client (the side that pings); nil when the exchange is not there.
    static func pingExchange(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) -> Bool? {
        func isPing(_ body: UnsafeRawBufferPointer) -> Bool { body.elementsEqual(Self.pingRequest.dropFirst(4)) }
        func isPingReply(_ body: UnsafeRawBufferPointer) -> Bool {
            body.count == 16 && body.prefix(4).elementsEqual([0xff, 0xff, 0xff, 0xfe])
                && body.suffix(4).allSatisfy { $0 == 0 }
        }
        guard first.count >= 12, second.count >= 12 else { return nil }
        if Self.records(first, containing: isPing) && Self.records(second, containing: isPingReply) { return true }
        if Self.records(second, containing: isPing) && Self.records(first, containing: isPingReply) { return false }
        return nil
    }

    /// The four-letter words (ZooKeeper's administration commands on its client port: `echo ruok | nc host 2181`, the
    /// health check of many Helm charts and exporters).
    static let fourLetterWords: Set<[UInt8]> = Set(
        [
            "ruok", "srvr", "stat", "mntr", "conf", "cons", "crst", "dump", "envi", "reqs", "wchc", "wchp", "wchs",
            "dirs", "isro", "srst", "hash",
        ].map { Array($0.utf8) })

    /// The beginnings of ZooKeeper's answers to a four-letter word: `imok`, the server's statistics (`srvr`,
    /// `stat`, `mntr`), `conf`'s and `envi`'s first lines, `isro`'s mode, and its refusals (a word not in
    /// `4lw.commands.whitelist`, or a server not serving yet).
    static let fourLetterAnswers: [StaticString] = [
        "imok", "Zookeeper version:", "zk_version", "clientPort=", "Environment:", "rw", "ro",
        "This ZooKeeper instance is not currently serving requests",
    ]

    /// Whether a client's bytes are a four-letter word alone (a newline after it let be), and the server's answer is
    /// ZooKeeper's: the word itself says little (`dump` and `stat` are other protocols' verbs too), the answer proves
    /// it. Nil while the server has not answered.
    static func fourLetterExchange(_ bytes: UnsafeRawBufferPointer, answer: UnsafeRawBufferPointer) -> Bool? {
        var word = bytes
        while let last = word.last, last == 0x0a || last == 0x0d {
            word = UnsafeRawBufferPointer(rebasing: word.dropLast())
        }
        guard word.count == 4, Self.fourLetterWords.contains(Array(word)) else { return false }
        guard !answer.isEmpty else { return nil }
        if Self.fourLetterAnswers.contains(where: { answer.starts(with: $0) }) { return true }
        // `<word> is not executed because it is not in the whitelist.`
        let refusal = Array(word) + Array(" is not executed because it is not in the whitelist".utf8)
        return answer.starts(with: refusal)
    }

    /// Whether a client's first bytes are a ZooKeeper ConnectRequest: a length of 44 or 45, protocol version 0, a
    /// session timeout of 1 ms to a day, and a session password of 16 bytes (the server's own for a resumed session,
    /// zeros for a new one).
    static func isConnectRequest(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 36 else { return false }
        let length = PacketDecoder.be32(bytes, 0)
        let timeout = PacketDecoder.be32(bytes, 16)
        guard length == 44 || length == 45, PacketDecoder.be32(bytes, 4) == 0, timeout > 0, timeout <= 86_400_000,
            PacketDecoder.be32(bytes, 28) == 16
        else { return false }
        // The read-only flag, where present and come, is a boolean.
        return length == 44 || bytes.count < 49 || bytes[48] <= 1
    }
}

extension CredentialExtractor {
    /// The AuthPackets a ZooKeeper client sent, read in order after its ConnectRequest (or from its first byte, on a
    /// session the capture joined later), and its SASL requests: a `digest` scheme's
    /// `user:password` (`zookeeper-digest`, the user kept, the password's length only), and any other scheme's data
    /// but an address's or a certificate's (`zookeeper-auth`, its scheme in the note), and a SASL DIGEST-MD5 response
    /// (`zookeeper-sasl-digest`, the user named, nothing of the digest kept). Reading stops at a request
    /// that cannot be right (a length past 1 MiB, ZooKeeper's own limit, or past the bytes at hand) and after 64.
    static func zookeeper(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var cursor = ByteCursor(bytes)
        if ZooKeeper.isConnectRequest(bytes) {
            guard let connectLength = cursor.u32(), cursor.skip(Int(connectLength)) else { return [] }
        }
        var credentials: [Credential] = []
        var requests = 0
        while requests < 64, let length = cursor.u32(), length <= 1 << 20, var request = cursor.sub(Int(length)) {
            requests += 1
            guard let xid = request.u32(), let type = request.u32() else { return credentials }
            if type == ZooKeeper.saslType {
                // GetSASLRequest: the token, a buffer.
                if let length = request.u32(), length != 0xffff_ffff, let token = request.bytes(Int(length)),
                    let credential = Self.zookeeperSASLDigest(token), !credentials.contains(credential)
                {
                    credentials.append(credential)
                }
                continue
            }
            guard xid == ZooKeeper.authXID, type == ZooKeeper.authType else { continue }
            // AuthPacket: an int (unused, 0), the scheme (a string), the data (a buffer; -1 for none).
            guard request.skip(4), let schemeLength = request.u32(), schemeLength <= 256,
                let scheme = request.bytes(Int(schemeLength)), let dataLength = request.u32()
            else { return credentials }
            guard dataLength != 0xffff_ffff, let data = request.bytes(Int(dataLength)), !data.isEmpty else { continue }
            if let credential = Self.zookeeperCredential(scheme: scheme.printableText, data),
                !credentials.contains(credential)
            {
                credentials.append(credential)
            }
        }
        return credentials
    }

    /// A SASL DIGEST-MD5 response (RFC 2831 §2.1.2: `username="…",realm="…",nonce="…",…,response=<32 hex digits>`);
    /// nil for any other token (the client's empty first one, Kerberos tickets).
    static func zookeeperSASLDigest(_ token: UnsafeRawBufferPointer) -> Credential? {
        guard token.count <= 4096, !token.contains(where: { $0 < 0x20 || $0 >= 0x7f }) else { return nil }
        let text = Substring(String(decoding: token, as: UTF8.self))
        let names = Set(text.split(separator: ",").compactMap { $0.split(separator: "=").first?.lowercased() })
        guard names.contains("response"), names.contains("nonce"), let user = Self.digestUser(text) else { return nil }
        return Credential(
            kind: "zookeeper-sasl-digest", user: user, redacted: "digest response (no password in clear)",
            note: "the digest can be attacked offline")
    }

    /// The credential an AuthPacket's data is for its scheme; nil for the schemes whose data is no secret (`ip`, an
    /// address; `x509`, the certificate the TLS handshake already showed; `world`, anyone).
    static func zookeeperCredential(scheme: String, _ data: UnsafeRawBufferPointer) -> Credential? {
        switch scheme {
        case "ip", "x509", "world":
            return nil
        case "digest":
            // `user:password`: the user is everything before the first colon (ZooKeeper's DigestAuthenticationProvider
            // splits there too).
            guard let colon = data.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { break }
            return Credential(
                kind: "zookeeper-digest", user: UnsafeRawBufferPointer(rebasing: data[..<colon]).printableText,
                redacted: secretDescription("password", data.count - colon - 1))
        default:
            break
        }
        return Credential(
            kind: scheme == "digest" ? "zookeeper-digest" : "zookeeper-auth", user: nil,
            redacted: secretDescription("credentials", data.count), note: "ZooKeeper auth scheme \(scheme)")
    }
}
