import BulkheadModel
import BulkheadTestSupport
import Testing

@testable import PacketAnalysis

/// ZooKeeper's client protocol: its ConnectRequest recognised (and nothing else taken for it), and the `digest`
/// scheme's `user:password` read from AuthPackets, bounded on every length. The real sessions (Kazoo and zkCli.sh
/// against ZooKeeper 3.8) are in the capture corpus (`captures/zookeeper-*.pcap`).
@Suite("ZooKeeper")
struct ZooKeeperTests {
    /// A record: its 4-byte length, then its bytes.
    static func record(_ body: [UInt8]) -> [UInt8] { PacketBuilder.be32(UInt32(body.count)) + body }

    /// A ConnectRequest: version 0, lastZxidSeen, a 30 s timeout, the session id and its 16-byte password, and the
    /// read-only flag when `readOnly` is given.
    static func connect(session: UInt32 = 0, readOnly: UInt8? = 0, timeout: UInt32 = 30_000) -> [UInt8] {
        let password: [UInt8] = session == 0 ? Array(repeating: 0, count: 16) : Array(1...16)
        return Self.record(
            PacketBuilder.be32(0) + PacketBuilder.be32(0) + PacketBuilder.be32(session == 0 ? 0 : 0x1a2b)
                + PacketBuilder.be32(timeout) + PacketBuilder.be32(0) + PacketBuilder.be32(session)
                + PacketBuilder.be32(16) + password + (readOnly.map { [$0] } ?? []))
    }

    /// An AuthPacket (xid -4, type 100) of `scheme` with `data` (nil: the -1 of no buffer).
    static func auth(_ scheme: String, _ data: [UInt8]?) -> [UInt8] {
        Self.record(
            PacketBuilder.be32(0xffff_fffc) + PacketBuilder.be32(100) + PacketBuilder.be32(0)
                + PacketBuilder.be32(UInt32(scheme.utf8.count)) + Array(scheme.utf8)
                + (data.map { PacketBuilder.be32(UInt32($0.count)) + $0 } ?? PacketBuilder.be32(0xffff_ffff)))
    }

    /// A getChildren request of `/` (xid, type 8, path, watch).
    static let list = record(PacketBuilder.be32(1) + PacketBuilder.be32(8) + PacketBuilder.be32(1) + [0x2f, 0])

    static func credentials(_ bytes: [UInt8]) -> [Credential] {
        bytes.withUnsafeBytes(CredentialExtractor.zookeeper)
    }

    @Test("the ConnectRequest: new and resumed sessions, with and without the read-only flag; nothing else")
    func connectRequest() {
        for bytes in [Self.connect(), Self.connect(session: 7), Self.connect(readOnly: nil), Self.connect(readOnly: 1)]
        {
            #expect(bytes.withUnsafeBytes(ZooKeeper.isConnectRequest))
            let verdict = bytes.withUnsafeBytes {
                ProtocolClassifier.classify(
                    first: $0, second: UnsafeRawBufferPointer(start: nil, count: 0), rolesKnown: true, final: true)
            }
            #expect(verdict?.proto == .zookeeper)
        }
        // Another version, a zero or absurd timeout, a password of another length, a flag that is no boolean, cut short.
        var otherVersion = Self.connect()
        otherVersion[7] = 1
        var shortPassword = Self.connect()
        shortPassword[31] = 8
        var flag = Self.connect()
        flag[48] = 2
        for bytes in [
            otherVersion, Self.connect(timeout: 0), Self.connect(timeout: 86_400_001), shortPassword, flag,
            Array(Self.connect().prefix(35)),
        ] {
            #expect(!bytes.withUnsafeBytes(ZooKeeper.isConnectRequest))
        }
        // A Kafka request stays Kafka; random records of ZooKeeper's lengths are not ZooKeeper.
        let kafka =
            PacketBuilder.be32(44) + PacketBuilder.be16(18) + PacketBuilder.be16(3) + PacketBuilder.be32(1)
            + PacketBuilder.be16(6) + Array("client".utf8) + Array(repeating: 0x41, count: 28)
        #expect(!kafka.withUnsafeBytes(ZooKeeper.isConnectRequest))
        var generator = SystemRandomNumberGenerator()
        var taken = 0
        for _ in 0..<20_000 {
            let bytes = PacketBuilder.be32(45) + (0..<45).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if bytes.withUnsafeBytes(ZooKeeper.isConnectRequest) { taken += 1 }
        }
        #expect(taken == 0)
    }

    @Test("digest logins after other requests, each once; other schemes; no secret for ip and x509")
    func authPackets() {
        let digest = Self.auth("digest", Array("app:zk-App-Secret-12".utf8))
        #expect(
            Self.credentials(Self.connect() + Self.list + digest + digest + Self.list) == [
                Credential(kind: "zookeeper-digest", user: "app", redacted: "password: 16 characters (redacted)")
            ])
        #expect(
            Self.credentials(Self.connect() + Self.auth("digest", Array("ops:".utf8))) == [
                Credential(kind: "zookeeper-digest", user: "ops", redacted: "password: 0 characters (redacted)")
            ])
        #expect(
            Self.credentials(Self.connect() + Self.auth("ldap", Array("cn=app:secret".utf8))) == [
                Credential(
                    kind: "zookeeper-auth", user: nil, redacted: "credentials: 13 characters (redacted)",
                    note: "ZooKeeper auth scheme ldap")
            ])
        #expect(
            Self.credentials(Self.connect() + Self.auth("digest", Array("nocolon".utf8))).map(\.kind) == [
                "zookeeper-digest"
            ])
        for scheme in ["ip", "x509", "world"] {
            #expect(Self.credentials(Self.connect() + Self.auth(scheme, Array("10.0.0.1".utf8))).isEmpty)
        }
        // No data (-1), empty data: nothing. A session joined after its ConnectRequest is read from its first byte.
        #expect(Self.credentials(Self.connect() + Self.auth("digest", nil) + Self.auth("digest", [])).isEmpty)
        #expect(Self.credentials(Self.list + digest).map(\.user) == ["app"])
    }

    /// A SASL request (type 102) carrying `token`.
    static func sasl(_ token: [UInt8], xid: UInt32 = 1) -> [UInt8] {
        Self.record(PacketBuilder.be32(xid) + PacketBuilder.be32(102) + PacketBuilder.be32(UInt32(token.count)) + token)
    }

    static let digestResponse = Array(
        ("charset=utf-8,username=\"kafka\",realm=\"zk-sasl-md5\",nonce=\"OA6MG9tEQGm2hh\",nc=00000001,"
            + "cnonce=\"OA6MHXh6VqTrRk\",digest-uri=\"zookeeper/zk-sasl-md5\",maxbuf=65536,"
            + "response=d388dad90d4bbd760a152321f2143af7,qop=auth").utf8)

    @Test("SASL DIGEST-MD5: the response names the user, its digest can be attacked offline; other tokens are not read")
    func saslDigest() {
        let found = Self.credentials(Self.connect() + Self.sasl([]) + Self.sasl(Self.digestResponse, xid: 2))
        #expect(
            found == [
                Credential(
                    kind: "zookeeper-sasl-digest", user: "kafka", redacted: "digest response (no password in clear)",
                    note: "the digest can be attacked offline")
            ])
        #expect(!"\(found)".contains("d388dad90d4bbd760a152321f2143af7"))
        // The challenge's shape (no response), a Kerberos token (binary), a response without a user: nothing.
        let challenge = Array("realm=\"zk\",nonce=\"abc\",qop=\"auth\",charset=utf-8,algorithm=md5-sess".utf8)
        let noUser = Array("nonce=\"abc\",response=d388dad90d4bbd760a152321f2143af7".utf8)
        for token in [challenge, [0x60, 0x82, 0x02, 0x10, 0x06, 0x09] + Array(repeating: 0x2a, count: 40), noUser] {
            #expect(Self.credentials(Self.connect() + Self.sasl(token)).isEmpty)
        }
    }

    @Test("bad input: lengths that lie, records cut short, the 64-request limit; never a crash")
    func badInput() {
        let digest = Self.auth("digest", Array("app:secret".utf8))
        // A record whose length points past the bytes at hand ends the reading there.
        let lying = Self.connect() + PacketBuilder.be32(4096) + Array(digest.dropFirst(4))
        #expect(Self.credentials(lying).isEmpty)
        // A scheme length past its record, a data length past its record: the packet is dropped, the reading ends.
        var schemeLie = digest
        schemeLie[19] = 200
        #expect(Self.credentials(Self.connect() + schemeLie + digest).isEmpty)
        // After 64 other requests, an AuthPacket is no longer looked for.
        let many = Array(Array(repeating: Self.list, count: 64).joined())
        #expect(Self.credentials(Self.connect() + many + digest).isEmpty)
        #expect(Self.credentials(Self.connect() + Array(many.dropLast(Self.list.count)) + digest).count == 1)
        // Every prefix of a real exchange, and random bytes after a ConnectRequest.
        let exchange = Self.connect() + Self.list + digest
        for length in 0...exchange.count { _ = Self.credentials(Array(exchange.prefix(length))) }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let tail = (0..<Int.random(in: 0..<200, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            _ = Self.credentials(Self.connect() + tail)
        }
    }

    static let ping = ZooKeeper.pingRequest
    /// The answer to a ping: a reply header with `xid` -2, the last zxid, error 0.
    static let pingReply = record(
        PacketBuilder.be32(0xffff_fffe) + PacketBuilder.be32(1) + PacketBuilder.be32(0x2c) + [0, 0, 0, 0])
    /// A getData answer (xid 7, a zxid, error 0, five bytes of data and a stat left out).
    static let dataReply = record(
        PacketBuilder.be32(7) + PacketBuilder.be32(1) + PacketBuilder.be32(0x2c) + [0, 0, 0, 0] + PacketBuilder.be32(5)
            + Array("value".utf8))

    func midstream(_ first: [UInt8], _ second: [UInt8]) -> ProtocolClassifier.Verdict? {
        first.withUnsafeBytes { a in second.withUnsafeBytes { MidstreamClassifier.classify(first: a, second: $0) } }
    }

    @Test("joined mid-way: the heartbeat each way, among other records; roles from who pings; nothing less")
    func heartbeat() {
        #expect(self.midstream(Self.ping, Self.pingReply)?.proto == .zookeeper)
        #expect(self.midstream(Self.ping, Self.pingReply)?.firstIsClient == true)
        #expect(self.midstream(Self.dataReply + Self.pingReply, Self.list + Self.ping)?.firstIsClient == false)
        // A ping one way only, an answer with an error, records that do not tile, a silent side: not enough.
        #expect(self.midstream(Self.ping, []) == nil)
        #expect(self.midstream(Self.ping, Self.dataReply) == nil)
        var failed = Self.pingReply
        failed[failed.count - 1] = 0x9c
        #expect(self.midstream(Self.ping, failed) == nil)
        #expect(self.midstream([0x17] + Self.ping, Self.pingReply) == nil)
        #expect(self.midstream(Self.ping, [0, 0, 0, 3, 1, 2, 3] + Self.pingReply) == nil)
    }

    @Test(
        "four-letter words: the word alone and ZooKeeper's answer (or its refusal); the word without it proves nothing")
    func fourLetterWords() {
        func classify(_ client: String, _ server: String, final: Bool = true) -> ApplicationProtocol? {
            Array(client.utf8).withUnsafeBytes { first in
                Array(server.utf8).withUnsafeBytes {
                    ProtocolClassifier.classify(first: first, second: $0, rolesKnown: true, final: final)?.proto
                }
            }
        }
        #expect(classify("ruok", "imok") == .zookeeper)
        #expect(classify("ruok\n", "imok") == .zookeeper)
        #expect(
            classify("srvr", "Zookeeper version: 3.8.0-5a02a05eddb59aee6ac762f7ea82e92a68eb9c0f\nLatency") == .zookeeper
        )
        #expect(classify("mntr\n", "zk_version\t3.8.0\nzk_server_state\tstandalone\n") == .zookeeper)
        #expect(classify("srvr", "srvr is not executed because it is not in the whitelist.\n") == .zookeeper)
        #expect(classify("stat", "This ZooKeeper instance is not currently serving requests\n") == .zookeeper)
        // Not yet answered: waited for; never answered, another server's answer, another word's refusal, a longer
        // line: not ZooKeeper.
        #expect(classify("ruok", "", final: false) == nil)
        #expect(classify("ruok", "") != .zookeeper)
        #expect(classify("dump\r\n", "-ERR wrong number of arguments for 'dump' command\r\n") != .zookeeper)
        #expect(classify("srvr", "ruok is not executed because it is not in the whitelist.\n") != .zookeeper)
        #expect(classify("ruok please", "imok") != .zookeeper)
        #expect(classify("RUOK", "imok") != .zookeeper)
    }

    @Test("a flow: zookeeper with its digest login, in segments of 1 byte too; the password never printed")
    func flow() throws {
        let answer = Self.record(
            PacketBuilder.be32(0) + PacketBuilder.be32(30_000) + PacketBuilder.be32(0) + PacketBuilder.be32(0x99)
                + PacketBuilder.be32(16) + Array(1...16) + [0])
        for segmentSize in [1400, 1] {
            let record = try analyzeConversation(
                serverPort: 2181,
                [
                    (true, Self.connect()), (false, answer),
                    (true, Self.auth("digest", Array("app:zk-App-Secret-12".utf8)) + Self.list),
                ], segmentSize: segmentSize)
            #expect(record.proto == .zookeeper, "segments of \(segmentSize)")
            #expect(record.credentials.map(\.user) == ["app"], "segments of \(segmentSize)")
            #expect(!"\(record)".contains("zk-App-Secret-12"))
        }
    }
}
