import BulkheadModel
import Testing

@testable import PacketAnalysis

@Suite("Protocol classification by content")
struct ClassifierTests {
    static let redisAuth = "*2\r\n$4\r\nAUTH\r\n$6\r\nhunter\r\n"

    static let clientFirst: [(String, [UInt8], ApplicationProtocol)] = [
        ("tls", [0x16, 0x03, 0x01, 0x00, 0x50, 0x01, 0x00], .tls),
        ("sslv2 hello", [0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15], .tls),
        ("http", Array("POST /x HTTP/1.1\r\nHost: a\r\n\r\n"), .http),
        ("h2c", Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), .http2),
        ("redis resp", Array(redisAuth), .redis),
        ("redis inline", Array("PING\r\n"), .redis),
        ("memcached", Array("version\r\n"), .memcached),
        ("memcached set", Array("set k 0 0 5\r\nhello\r\n"), .memcached),
        (
            "postgresql startup",
            PacketBuilder.be32(23) + PacketBuilder.be32(196_608) + Array("user\0app\0\0") + [0, 0, 0, 0], .postgresql
        ),
        ("postgresql sslrequest", PacketBuilder.be32(8) + PacketBuilder.be32(80_877_103), .postgresql),
        (
            "mongodb",
            PacketBuilder.le32(40) + PacketBuilder.le32(1) + PacketBuilder.le32(0) + PacketBuilder.le32(2013)
                + [UInt8](repeating: 0, count: 24), .mongodb
        ),
        ("ldap bind", [0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00], .ldap),
        ("amqp", Array("AMQP") + [0, 0, 9, 1], .amqp),
        (
            "kafka",
            PacketBuilder.be32(20) + PacketBuilder.be16(18) + PacketBuilder.be16(3) + PacketBuilder.be32(1)
                + PacketBuilder.be16(6) + Array("client"), .kafka
        ),
        (
            "zookeeper connect",
            PacketBuilder.be32(45) + PacketBuilder.be32(0) + [UInt8](repeating: 0, count: 8)
                + PacketBuilder.be32(30_000)
                + [UInt8](repeating: 0, count: 8) + PacketBuilder.be32(16) + [UInt8](repeating: 0, count: 17),
            .zookeeper
        ),
        (
            "dns over tcp",
            PacketBuilder.be16(29) + [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 7] + Array("example") + [3]
                + Array("com") + [0, 0, 1, 0, 1], .dns
        ),
        ("ssh", Array("SSH-2.0-OpenSSH_9.2\r\n"), .ssh),
    ]

    @Test("client-first protocols", arguments: clientFirst.map { ($0.0, $0.1, $0.2) })
    func clientFirstProtocols(name: String, bytes: [UInt8], expected: ApplicationProtocol) {
        let verdict = bytes.withUnsafeBytes { client in
            ProtocolClassifier.classify(
                first: client, second: UnsafeRawBufferPointer(start: nil, count: 0), rolesKnown: true, final: true)
        }
        #expect(verdict?.proto == expected, "\(name)")
    }

    static let serverFirst: [(String, String, String, ApplicationProtocol)] = [
        ("smtp", "220 mail.test ESMTP ready\r\n", "EHLO client\r\n", .smtp),
        ("ftp", "220 Welcome\r\n", "USER alice\r\n", .ftp),
        ("ftp banner", "220 ProFTPD Server\r\n", "", .ftp),
        ("pop3", "+OK POP3 ready\r\n", "USER alice\r\n", .pop3),
        ("imap", "* OK IMAP4rev1 ready\r\n", "a1 LOGIN alice secret\r\n", .imap),
        ("redis reply to get", "$5\r\nhello\r\n", "get key\r\n", .redis),
        ("memcached reply to get", "VALUE key 0 5\r\nhello\r\nEND\r\n", "get key\r\n", .memcached),
    ]

    @Test(
        "server-first protocols and replies that settle a shared verb",
        arguments: serverFirst.map { ($0.0, $0.1, $0.2, $0.3) })
    func serverFirstProtocols(name: String, server: String, client: String, expected: ApplicationProtocol) {
        let verdict = Array(client.utf8).withUnsafeBytes { clientBytes in
            Array(server.utf8).withUnsafeBytes { serverBytes in
                ProtocolClassifier.classify(first: clientBytes, second: serverBytes, rolesKnown: true, final: true)
            }
        }
        #expect(verdict?.proto == expected, "\(name)")
    }

    @Test("MySQL greeting")
    func mysql() {
        let greeting: [UInt8] = [0x4a, 0, 0, 0, 0x0a] + Array("8.0.36") + [0] + [UInt8](repeating: 1, count: 20)
        let verdict = greeting.withUnsafeBytes { server in
            ProtocolClassifier.classify(
                first: UnsafeRawBufferPointer(start: nil, count: 0), second: server, rolesKnown: true, final: true)
        }
        #expect(verdict?.proto == .mysql)
    }

    @Test("unknown traffic: printable vs binary, and no TLS without a TLS record")
    func unknown() {
        let text = Array("HELLO THERE FRIEND, HOW ARE YOU\r\n")
        var random = SystemRandomNumberGenerator()
        let binary = (0..<200).map { _ in UInt8.random(in: 0...255, using: &random) }.map { $0 == 0x16 ? 0x17 : $0 }
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        #expect(
            text.withUnsafeBytes {
                ProtocolClassifier.classify(first: $0, second: empty, rolesKnown: true, final: true)?.proto
            } == .unknownPlaintext)
        #expect(
            binary.withUnsafeBytes {
                ProtocolClassifier.classify(first: $0, second: empty, rolesKnown: true, final: true)?.proto
            } == .unknownBinary)
    }

    @Test("TLS on a plaintext port and Redis on 443 are classified by content, not port")
    func notByPort() throws {
        var tls = TCPConversation(serverPort: 80)
        tls.handshake()
        tls.send(TLSDissectionTests.record(22, TLSDissectionTests.clientHello()), fromClient: true)
        var redis = TCPConversation(clientPort: 40001, serverPort: 443)
        redis.handshake()
        redis.send(Self.redisAuth, fromClient: true)
        redis.send("+OK\r\n", fromClient: false)
        let (flows, _) = try analyze(
            PacketBuilder.pcap((tls.frames + redis.frames).enumerated().map { (UInt32($0.offset), $0.element) }))
        #expect(flows.map(\.proto) == [.tls, .redis])
        #expect(flows[1].credentials.first?.kind == "redis-auth")
    }

    @Test("UDP: DNS and DTLS are identified; a DNS response first still gets roles right")
    func udp() throws {
        let query: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3] + Array("api") + [0, 0, 1, 0, 1]
        var response = query
        response[2] = 0x81
        let dnsResponse = PacketBuilder.ethernet(
            PacketBuilder.ipv4Packet(
                source: "198.18.0.53", destination: "198.18.0.1", proto: 17,
                transport: PacketBuilder.udp(sourcePort: 53, destinationPort: 5353, payload: response)))
        let dtls: [UInt8] =
            [0x16, 0xfe, 0xfd] + [UInt8](repeating: 0, count: 8) + [0, 20, 1] + [UInt8](repeating: 0, count: 19)
        let dtlsFrame = PacketBuilder.ethernet(
            PacketBuilder.ipv4Packet(
                source: "198.18.0.1", destination: "198.18.0.2", proto: 17,
                transport: PacketBuilder.udp(sourcePort: 40000, destinationPort: 4433, payload: dtls)))
        let (flows, _) = try analyze(PacketBuilder.pcap([(1, dnsResponse), (2, dtlsFrame)]))
        #expect(flows.map(\.proto) == [.dns, .dtls])
        #expect(flows[0].server == "198.18.0.53:53")
        #expect(flows[1].encrypted)
    }

    /// The byte search the classifier uses (memchr to candidates, then memcmp) finds the first occurrence, as a
    /// naive scan does: needles at the start, the end, overlapping partial matches, absent, longer than the bytes.
    @Test func byteSearchFindsTheFirstOccurrence() {
        func naive(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
            guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
            return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<($0 + needle.count)]) == needle }
        }
        var generator = SystemRandomNumberGenerator()
        let needles = [" HTTP/1.", "aab", "a", "ab", "<stream:stream", ""]
        var haystacks: [[UInt8]] = [[], Array("aaab".utf8), Array("GET / HTTP/1.1".utf8), Array(" HTTP/1".utf8)]
        for _ in 0..<300 {
            let length = Int.random(in: 0..<40, using: &generator)
            haystacks.append((0..<length).map { _ in Array("ab H/".utf8)[Int.random(in: 0..<5, using: &generator)] })
        }
        for haystack in haystacks {
            for needle in needles {
                let found = haystack.withUnsafeBytes { $0.range(of: needle) }
                #expect(found == naive(haystack, Array(needle.utf8)), "\(needle) in \(haystack)")
            }
        }
    }
}
