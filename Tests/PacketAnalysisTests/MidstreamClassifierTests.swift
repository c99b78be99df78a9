import BulkheadModel
import BulkheadTestSupport
import Testing

@testable import PacketAnalysis

/// Connections the capture joined after their start (no SYN): recognised by the framing of their steady state, and
/// never by chance. The real cases are in the capture corpus (`captures/midstream-*.pcap`, cut from real captures by
/// make-midstream-captures.sh); these hold the idle keep-alives, the look-alikes and the false-positive rate.
@Suite("Mid-stream classification")
struct MidstreamClassifierTests {
    func midstream(_ first: [UInt8], _ second: [UInt8]) -> ProtocolClassifier.Verdict? {
        first.withUnsafeBytes { a in second.withUnsafeBytes { MidstreamClassifier.classify(first: a, second: $0) } }
    }

    func classify(_ first: [UInt8], _ second: [UInt8], rolesKnown: Bool, final: Bool) -> ApplicationProtocol? {
        first.withUnsafeBytes { a in
            second.withUnsafeBytes {
                ProtocolClassifier.classify(first: a, second: $0, rolesKnown: rolesKnown, final: final)?.proto
            }
        }
    }

    @Test("random bytes and TLS records are never taken for a protocol's steady state (20,000 pairs)")
    func noChanceMatches() {
        var random = SeededGenerator(state: 0x6d69_6473)
        let sizes = [1, 2, 4, 6, 8, 16, 48, 100, 536, 1400]
        func bytes() -> [UInt8] {
            (0..<sizes[Int(random.next() % UInt64(sizes.count))]).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        }
        var matched: [String] = []
        for _ in 0..<20_000 {
            // Half the pairs with one side silent: what a binary protocol's framing must not be decided on alone.
            let (first, second) = (bytes(), random.next() % 2 == 0 ? [] : bytes())
            if let verdict = self.midstream(first, second) { matched.append("\(verdict.proto): \(first.prefix(8))") }
        }
        #expect(matched.isEmpty, "\(matched.count) random pairs classified: \(matched.prefix(5))")
        // TLS application data both ways (a TLS connection joined after its handshake) stays TLS's.
        let record: [UInt8] = [0x17, 0x03, 0x03, 0x00, 0x20] + [UInt8](repeating: 0xa5, count: 32)
        #expect(self.midstream(record + record, record) == nil)
        #expect(self.classify(record + record, record, rolesKnown: false, final: true) == .tls)
    }

    @Test("idle connections: MQTT PINGREQ/PINGRESP, AMQP heartbeats, PostgreSQL's ReadyForQuery")
    func keepAlives() {
        let ping = self.midstream([0xc0, 0x00], [0xd0, 0x00])
        #expect(ping?.proto == .mqtt && ping?.firstIsClient == true)
        #expect(self.midstream([0xd0, 0x00, 0xd0, 0x00], [0xc0, 0x00, 0xc0, 0x00])?.firstIsClient == false)
        // One side alone, or a lone two-byte packet: not enough.
        #expect(self.midstream([0xc0, 0x00], []) == nil)
        #expect(self.midstream([0x30, 0x00], []) == nil)
        let heartbeat: [UInt8] = [8, 0, 0, 0, 0, 0, 0, 0xce]
        #expect(self.midstream(heartbeat, heartbeat)?.proto == .amqp)
        #expect(self.midstream(heartbeat.dropLast() + [0xcd], []) == nil)
        let ready: [UInt8] = [UInt8(ascii: "Z"), 0, 0, 0, 5, UInt8(ascii: "I")]
        let verdict = self.midstream([], ready)
        #expect(verdict?.proto == .postgresql && verdict?.firstIsClient == true)
        #expect(self.midstream([], ready.dropLast() + [UInt8(ascii: "Q")]) == nil)
    }

    @Test("binary protocols: roles from what only one side sends; a cut last message is allowed after two whole ones")
    func binaryRoles() {
        func message(_ type: Character, _ body: [UInt8]) -> [UInt8] {
            [UInt8(ascii: type.unicodeScalars.first ?? "?")] + PacketBuilder.be32(UInt32(body.count + 4)) + body
        }
        let query = message("Q", Array("SELECT 1\0".utf8))
        let rows = message("T", [0, 0]) + message("D", [0, 0]) + message("C", Array("SELECT 1\0".utf8))
        #expect(self.midstream(rows, query)?.firstIsClient == false)
        #expect(self.midstream(query, rows + Array(message("Z", [UInt8(ascii: "I")]).prefix(3)))?.firstIsClient == true)
        // A publish (client) and a deliver (server), as AMQP method frames.
        func method(_ classID: Int, _ methodID: Int) -> [UInt8] {
            let payload = PacketBuilder.be16(classID) + PacketBuilder.be16(methodID) + [0, 0]
            return [1, 0, 1] + PacketBuilder.be32(UInt32(payload.count)) + payload + [0xce]
        }
        #expect(self.midstream(method(60, 60), method(60, 40))?.firstIsClient == false)
        #expect(self.midstream(method(60, 40), [])?.firstIsClient == true)
        let ack = self.midstream(method(60, 80), [])  // Basic.Ack: sent both ways
        #expect(ack?.proto == .amqp && ack?.firstIsClient == nil)
        // MQTT: a SUBSCRIBE (client) one way, a SUBACK the other.
        let subscribe: [UInt8] = [0x82, 6, 0, 1, 0, 1, UInt8(ascii: "t"), 0]
        #expect(self.midstream([0x90, 3, 0, 1, 0], subscribe)?.firstIsClient == false)
        // A SUBSCRIBE with the wrong fixed flags is no MQTT.
        #expect(self.midstream([0x90, 3, 0, 1, 0], [0x80] + subscribe.dropFirst()) == nil)
    }

    @Test("Redis replies need a structure a POP3 line has not; memcached, STOMP and NATS lines tell their side")
    func textShapes() {
        func replies(_ text: String) -> Bool { Array(text.utf8).withUnsafeBytes(MidstreamClassifier.isRESPReplies) }
        #expect(!replies("+OK\r\n"))
        #expect(!replies("+OK\r\n+OK\r\n"))
        #expect(replies("+OK\r\n$5\r\nhello\r\n"))
        #expect(replies("*2\r\n$1\r\na\r\n:1\r\n:2\r\n"))
        #expect(replies("$-1\r\n-ERR no\r\n"))
        #expect(!replies("+OK\r\n$5\r\nhell\r\n"))
        #expect(!replies("+OK POP3 ready\r\nRETR 1\r\n"))
        #expect(self.midstream([], Array("VALUE k 0 5\r\nhello\r\nEND\r\n".utf8))?.proto == .memcached)
        #expect(self.midstream(Array("STORED\r\n".utf8), [])?.firstIsClient == false)
        #expect(self.midstream([], Array("VALUE k zero 5\r\n".utf8)) == nil)
        let send = Array("SEND\ndestination:/queue/a\n\nhi\0".utf8)
        #expect(self.midstream(send, [])?.proto == .stomp && self.midstream(send, [])?.firstIsClient == true)
        #expect(self.midstream([], Array("MESSAGE\nsubscription:1\n\nhi\0".utf8))?.firstIsClient == true)
        #expect(self.midstream(Array("SEND\nno header here\n\0".utf8), []) == nil)
        #expect(self.midstream(Array("PUB orders.new 5\r\nhello\r\n".utf8), [])?.proto == .nats)
        #expect(self.midstream([], Array("MSG orders.new 1 5\r\nhello\r\n".utf8))?.firstIsClient == true)
        #expect(self.midstream(Array("PUB a b c d e\r\n".utf8), []) == nil)
    }

    /// An HTTP/2 frame.
    static func h2Frame(_ type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, _ payload: [UInt8]) -> [UInt8] {
        [UInt8(payload.count >> 16 & 0xff), UInt8(payload.count >> 8 & 0xff), UInt8(payload.count & 0xff), type, flags]
            + withUnsafeBytes(of: stream.bigEndian, Array.init) + payload
    }

    @Test("HTTP/2 joined mid-way: frames by their types' rules on both sides; roles from :status, waited for")
    func http2() {
        let ping = Self.h2Frame(0x6, [UInt8](repeating: 1, count: 8))
        let pingAck = Self.h2Frame(0x6, flags: 0x1, [UInt8](repeating: 1, count: 8))
        let window = Self.h2Frame(0x8, stream: 3, [0, 0, 0x40, 0])
        // A request whose pseudo-headers come from the dynamic table (0xc4), and an answer's static :status 200.
        let request =
            Self.h2Frame(0x1, flags: 0x4, stream: 3, [0xc4, 0xc3, 0x83])
            + Self.h2Frame(0x0, flags: 0x1, stream: 3, [0, 0, 0, 0, 0])
        let answer =
            Self.h2Frame(0x1, flags: 0x4, stream: 3, [0x88, 0xc0]) + Self.h2Frame(0x0, stream: 3, [0, 0, 0, 0, 0])
        let client = ping + request + window
        let server = pingAck + answer
        #expect(self.midstream(client, server).map { [$0.proto == .http2, $0.firstIsClient == true] } == [true, true])
        #expect(self.midstream(server, client)?.firstIsClient == false)
        // A request's static :method (0x83) tells the roles from the client's side alone.
        #expect(
            self.midstream(ping + Self.h2Frame(0x1, flags: 0x4, stream: 1, [0x83, 0x86]), pingAck)?.firstIsClient
                == true)
        // Roles unknown yet: waited for while more may come, then http2 with the roles left to the ports.
        let unknown = self.classifier(ping + request + window, pingAck, final: false)
        #expect(unknown == nil)
        let settled = self.classifier(ping + request + window, pingAck + window, final: true)
        #expect(settled?.proto == .http2 && settled?.firstIsClient == nil)
        // Two frames are not yet proof; each rule broken is no HTTP/2.
        #expect(self.midstream(ping, pingAck) == nil)
        for broken in [
            Self.h2Frame(0x4, stream: 1, []),  // SETTINGS on a stream
            Self.h2Frame(0x6, [UInt8](repeating: 1, count: 7)),  // PING of 7 bytes
            Self.h2Frame(0x0, stream: 0, [1]),  // DATA on stream 0
            Self.h2Frame(0x0, flags: 0x2, stream: 1, [1]),  // DATA with a flag it does not define
            Self.h2Frame(0xa, stream: 1, [1]),  // no such type
            Self.h2Frame(0x0, stream: 1, [UInt8](repeating: 0, count: 16_385)),  // past the default maximum size
            Self.h2Frame(0x8, stream: 0x8000_0001, [0, 0, 0, 1]),  // the reserved bit set
        ] {
            #expect(broken.withUnsafeBytes { MidstreamClassifier.http2Frames($0) == nil }, "\(broken.prefix(9))")
            // Behind a ping each way that would otherwise have tiled with it.
            #expect(self.midstream(ping + broken, pingAck) == nil, "\(broken.prefix(9))")
        }
        #expect([UInt8]().withUnsafeBytes { MidstreamClassifier.http2Frames($0) == nil })
    }

    func classifier(_ first: [UInt8], _ second: [UInt8], final: Bool) -> ProtocolClassifier.Verdict? {
        first.withUnsafeBytes { a in
            second.withUnsafeBytes {
                ProtocolClassifier.classify(first: a, second: $0, rolesKnown: false, final: final)
            }
        }
    }

    @Test("from the middle of a conversation one side is waited for; a bare +OK is no POP3 greeting there")
    func waitsForBothSides() {
        let ok = Array("+OK\r\n".utf8)
        #expect(self.classify([], ok, rolesKnown: false, final: false) == nil)
        #expect(self.classify([], ok, rolesKnown: true, final: false) == .pop3)
        #expect(self.classify([], ok, rolesKnown: false, final: true) != .pop3)
        #expect(self.classify([], Array("+OK POP3 server ready\r\n".utf8), rolesKnown: false, final: true) == .pop3)
        // The wait is bounded: 2 KiB of one side settle it (a capture of one direction holds no flow's window).
        var random = SeededGenerator(state: 7)
        let binary = (0..<ProtocolClassifier.midstreamWait).map { _ in UInt8(truncatingIfNeeded: random.next() | 0x80) }
        #expect(self.classify(Array(binary.dropLast()), [], rolesKnown: false, final: false) == nil)
        #expect(self.classify(binary, [], rolesKnown: false, final: false) == .unknownBinary)
        // A request that opens a conversation is still recognised at once (HTTP, a TLS ClientHello).
        #expect(
            self.classify(Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8), [], rolesKnown: false, final: false) == .http
        )
    }
}
