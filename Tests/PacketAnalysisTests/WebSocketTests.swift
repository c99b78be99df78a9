import BulkheadModel
import Foundation
import Testing

@testable import PacketAnalysis

/// WebSocket (RFC 6455): the upgrade handshake, frames read in any pieces, and what the messages carry classified as
/// the flow's content. Real MQTT and STOMP over RabbitMQ's WebSocket plugins are in the capture corpus
/// (make-broker-captures.sh); these tests hold what a corpus does not: every length form, masks across pieces,
/// control frames between fragments, frames that cannot be right, refusals.
@Suite("WebSocket")
struct WebSocketTests {
    /// A frame as RFC 6455 §5.2 lays it out; masked with `mask` (a client's), lengths in the shortest form unless
    /// `lengthForm` says 126 or 127.
    static func frame(
        _ payload: [UInt8], opcode: UInt8 = 2, fin: Bool = true, mask: [UInt8]? = [0x37, 0xfa, 0x21, 0x3d],
        reserved: UInt8 = 0, lengthForm: Int? = nil
    ) -> [UInt8] {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | reserved | opcode]
        let maskBit: UInt8 = mask == nil ? 0 : 0x80
        let form = lengthForm ?? (payload.count < 126 ? 0 : payload.count <= 0xffff ? 126 : 127)
        switch form {
        case 126: bytes += [maskBit | 126] + PacketBuilder.be16(payload.count)
        case 127: bytes += [maskBit | 127] + PacketBuilder.be32(0) + PacketBuilder.be32(UInt32(payload.count))
        default: bytes += [maskBit | UInt8(payload.count)]
        }
        guard let mask else { return bytes + payload }
        return bytes + mask + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
    }

    /// What a reader gives for `bytes` read `piece` bytes at a time.
    static func read(_ bytes: [UInt8], piece: Int, deflate: Bool = false) -> (
        payload: [UInt8], stopped: WebSocket.FrameReader.Stop?
    ) {
        var reader = WebSocket.FrameReader(deflate: deflate)
        var output: [UInt8] = []
        bytes.withUnsafeBytes { raw in
            var at = 0
            while at < raw.count {
                reader.read(UnsafeRawBufferPointer(rebasing: raw[at..<min(raw.count, at + piece)]), into: &output)
                at += piece
            }
        }
        return (output, reader.stopped)
    }

    static let pieces = [1, 2, 3, 5, 13, 64, 100_000]

    @Test("every length form, masked or not, fragments and control frames between them: the payloads, in any pieces")
    func frames() {
        let short = Array("CONNECT".utf8)
        let medium = (0..<300).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let long = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 * 13) }
        let stream =
            Self.frame(short, opcode: 1) + Self.frame(medium) + Self.frame(long)
            + Self.frame(Array("part one, ".utf8), fin: false) + Self.frame(Array("ping".utf8), opcode: 9)
            + Self.frame(Array("part two".utf8), opcode: 0) + Self.frame(Array("seven".utf8), lengthForm: 127)
            + Self.frame([], opcode: 10) + Self.frame(Array("unmasked".utf8), mask: nil)
        let expected =
            short + medium + long + Array("part one, part two".utf8) + Array("seven".utf8) + Array("unmasked".utf8)
        for piece in Self.pieces {
            let (payload, stopped) = Self.read(stream, piece: piece)
            #expect(stopped == nil, "pieces of \(piece)")
            #expect(payload == expected, "pieces of \(piece): \(payload.count) bytes, expected \(expected.count)")
        }
    }

    @Test("a frame that cannot be right stops reading there; a compressed one too, said so")
    func stops() {
        let before = Self.frame(Array("kept".utf8))
        let after = Self.frame(Array("never read".utf8))
        let bad: [(String, [UInt8], WebSocket.FrameReader.Stop)] = [
            ("opcode 3", Self.frame([1, 2], opcode: 3), .malformed),
            ("a fragmented ping", Self.frame([1], opcode: 9, fin: false), .malformed),
            ("a close of 126 bytes", Self.frame([UInt8](repeating: 0, count: 126), opcode: 8), .malformed),
            ("RSV2 set", Self.frame([1], reserved: 0x20), .malformed),
            ("a length past 2^63", [0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0], .malformed),
            ("permessage-deflate (RSV1)", Self.frame([0xf2, 0x48, 0xcd], reserved: 0x40), .compressed),
        ]
        for (name, frame, stop) in bad {
            for piece in Self.pieces {
                let (payload, stopped) = Self.read(before + frame + after, piece: piece)
                #expect(stopped == stop, "\(name), pieces of \(piece)")
                #expect(payload == Array("kept".utf8), "\(name), pieces of \(piece)")
            }
        }
        // A length that promises 2^62 bytes: counted down as they come, nothing kept for them.
        var reader = WebSocket.FrameReader()
        var output: [UInt8] = []
        let huge: [UInt8] = [0x02, 0x7f, 0x40, 0, 0, 0, 0, 0, 0, 0]
        (huge + [UInt8](repeating: 0x41, count: 4096)).withUnsafeBytes { reader.read($0, into: &output) }
        #expect(output == [UInt8](repeating: 0x41, count: 4096))
        #expect(reader.stopped == nil)
    }

    /// Messages compressed as permessage-deflate sends them (Python's zlib, raw DEFLATE, each ended by a sync flush
    /// whose `00 00 ff ff` is left out): two messages of one stream, the second reaching back into the first.
    static let initMessage = Array(#"{"type":"connection_init","payload":{"authToken":"abc123"}}"#.utf8)
    static let subscribeMessage = Array(
        #"{"type":"subscribe","id":"1","payload":{"query":"subscription { orderUpdated { id } }","authToken":"abc123"}}"#
            .utf8)
    static let initDeflated = hex(
        "aa562aa92c4855b2524acecfcb4b4d2ec9cccf8bcfcccb2c51d2512a48acccc94f4c51b2aa564a2c2dc908c9cf4ecd032a4c4c4a36343256aaad0500"
    )
    static let subscribeDeflatedAfterInit = hex(
        "aa86692d2e4d2a4e2eca4c4a056aca04aa573244d55d589a5a5489505700b244a15a21bf2825b528b42025b1243505c8cd4c51a855a805eac46a1900"
    )
    /// The first message again, ended with a final block (`Z_FINISH`): RFC 7692 §7.2.3.4 lets a sender end a message so.
    static let initDeflatedFinal = hex(
        "ab562aa92c4855b2524acecfcb4b4d2ec9cccf8bcfcccb2c51d2512a48acccc94f4c51b2aa564a2c2dc908c9cf4ecd032a4c4c4a36343256aaad0500"
    )
    /// 65,536 zero bytes in 79.
    static let zerosDeflated = hex(
        "ecc101010000008090feafee080a" + String(repeating: "00", count: 63) + "6a00")

    @Test(
        "permessage-deflate: messages inflated in any pieces, the window kept, fragments, a final block, plain between")
    func deflated() {
        for mask in [[0x37, 0xfa, 0x21, 0x3d], nil] as [[UInt8]?] {
            let initial = Self.initDeflated
            let stream =
                Self.frame(initial, opcode: 1, mask: mask, reserved: 0x40)
                // Reaches back into the first message: read only with the window kept.
                + Self.frame(Self.subscribeDeflatedAfterInit, opcode: 1, mask: mask, reserved: 0x40)
                + Self.frame(Array("plain".utf8), opcode: 1, mask: mask)
                // In three fragments with a ping between, the last one empty.
                + Self.frame(Array(initial[..<10]), opcode: 1, fin: false, mask: mask, reserved: 0x40)
                + Self.frame(Array("ping".utf8), opcode: 9, mask: mask)
                + Self.frame(Array(initial[10...]), opcode: 0, fin: false, mask: mask)
                + Self.frame([], opcode: 0, mask: mask)
                // Ended with a final block: the tail given after it is dropped, and the next message begins afresh.
                + Self.frame(Self.initDeflatedFinal, opcode: 1, mask: mask, reserved: 0x40)
                + Self.frame(initial, opcode: 1, mask: mask, reserved: 0x40)
            let expected =
                Self.initMessage + Self.subscribeMessage + Array("plain".utf8) + Self.initMessage + Self.initMessage
                + Self.initMessage
            for piece in Self.pieces {
                let (payload, stopped) = Self.read(stream, piece: piece, deflate: true)
                #expect(stopped == nil, "pieces of \(piece), masked \(mask != nil)")
                #expect(
                    payload == expected,
                    "pieces of \(piece), masked \(mask != nil): \(String(decoding: payload, as: UTF8.self))")
            }
        }
    }

    @Test("permessage-deflate: damaged data, RSV1 on a continuation, and a bomb stop reading; what came before stays")
    func deflatedStops() {
        let before = Self.frame(Self.initDeflated, opcode: 1, reserved: 0x40)
        let after = Self.frame(Array("never read".utf8))
        let bad: [(String, [UInt8], WebSocket.FrameReader.Stop)] = [
            ("not DEFLATE", Self.frame([0xff, 0xff, 0xff, 0xff, 0xff], reserved: 0x40), .damagedCompression),
            (
                "RSV1 on a continuation",
                Self.frame([0x4a], fin: false, reserved: 0x40) + Self.frame([0x04, 0x00], opcode: 0, reserved: 0x40),
                .malformed
            ),
            ("RSV1 on a ping", Self.frame([], opcode: 9, reserved: 0x40), .malformed),
        ]
        for (name, frame, stop) in bad {
            for piece in Self.pieces {
                let (payload, stopped) = Self.read(before + frame + after, piece: piece, deflate: true)
                #expect(stopped == stop, "\(name), pieces of \(piece)")
                #expect(payload == Self.initMessage, "\(name), pieces of \(piece)")
            }
        }
        // Twenty messages of 64 KiB of zeros, 79 bytes each: given up to the limit, then reading stops.
        let bomb = (0..<20).flatMap { _ in Self.frame(Self.zerosDeflated, reserved: 0x40) }
        for piece in [1, 1400, 100_000] {
            let (payload, stopped) = Self.read(bomb + after, piece: piece, deflate: true)
            #expect(stopped == .inflateLimitReached, "pieces of \(piece)")
            #expect(payload.count == WebSocket.FrameReader.defaultInflateLimit, "pieces of \(piece)")
            #expect(payload.allSatisfy { $0 == 0 })
        }
        // A limit of the caller's (the analyzer's: four inspection windows), reached in the middle of a message.
        var reader = WebSocket.FrameReader(deflate: true, inflateLimit: 70_000)
        var output: [UInt8] = []
        bomb.withUnsafeBytes { reader.read($0, into: &output) }
        #expect(output.count == 70_000 && reader.stopped == .inflateLimitReached)
    }

    static func upgrade(path: String = "/ws?client=7", protocols: String = "mqtt", extra: String = "") -> [UInt8] {
        Array(
            ("GET \(path) HTTP/1.1\r\nHost: broker.test:15675\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                + "Sec-WebSocket-Protocol: \(protocols)\r\n\(extra)\r\n").utf8)
    }

    static func accepted(_ protocolLine: String = "Sec-WebSocket-Protocol: mqtt\r\n", extra: String = "") -> [UInt8] {
        Array(
            ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\(protocolLine)\(extra)\r\n").utf8)
    }

    @Test("the handshake: path without its query, the subprotocol and compression agreed, credentials in the request")
    func handshake() throws {
        func target(_ text: String) -> HTTPUpgrade.Target? {
            let bytes = Array(text.utf8)
            return bytes.withUnsafeBytes { HTTPUpgrade.mayBeUpgradeRequest($0) ? HTTPUpgrade.target($0) : nil }
        }
        #expect(target(String(decoding: Self.upgrade(), as: UTF8.self)) == .webSocket)
        #expect(target("GET / HTTP/1.1\r\nHost: a\r\n\r\n") == nil)
        #expect(target("GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n") == .h2c)
        #expect(target("POST /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n") == nil)
        // Not whole yet: it may be one.
        #expect(Array("GET /ws HTTP/1.1\r\nHost: a\r\n".utf8).withUnsafeBytes(HTTPUpgrade.mayBeUpgradeRequest))
        let request = Self.upgrade(
            path: "/ws?access_token=eyJhbGciOi.e30.sig", extra: "Authorization: Basic YWxpY2U6c2VjcmV0\r\n")
        let response = Self.accepted(extra: "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
        let handshake = try #require(
            request.withUnsafeBytes { client in
                response.withUnsafeBytes { WebSocket.handshake(client: client, server: $0) }
            })
        #expect(handshake.accepted)
        #expect(
            handshake.summary == WebSocketSummary(path: "/ws", subprotocol: "mqtt", compression: "permessage-deflate"))
        #expect(handshake.clientOffset == request.count)
        #expect(handshake.serverOffset == response.count)
        // A browser's WebSocket cannot set headers: its token goes in the URL, and is as readable there.
        #expect(handshake.credentials.map(\.kind) == ["http-basic", "http-url-secret"])
        #expect(handshake.credentials.first?.user == "alice")
        // The answer not yet whole: wait.
        #expect(
            request.withUnsafeBytes { client in
                Array(response.dropLast(2)).withUnsafeBytes { WebSocket.handshake(client: client, server: $0) }
            } == nil)
    }

    /// One conversation on port 15675: the upgrade, the server's answer, then frames each way.
    static func flow(_ exchange: [(fromClient: Bool, bytes: [UInt8])], segmentSize: Int = 1400) throws -> FlowRecord {
        try analyzeConversation(serverPort: 15675, exchange, segmentSize: segmentSize)
    }

    static let connect = BrokerMessages.mqttConnect(level: 4, user: "sensor-7", password: Array("s3cr3t-Pa55".utf8))
    static let connack: [UInt8] = [0x20, 0x02, 0x00, 0x00]

    @Test("MQTT over a WebSocket: mqtt, its password found through the mask; in segments that cut every frame too")
    func mqttInside() throws {
        for segmentSize in [1400, 3] {
            let record = try Self.flow(
                [
                    (true, Self.upgrade()), (false, Self.accepted()),
                    (
                        true,
                        Self.frame(Array(Self.connect.prefix(9)))
                            + Self.frame(Array(Self.connect.dropFirst(9)), opcode: 0)
                    ),
                    (false, Self.frame(Self.connack, mask: nil)),
                ], segmentSize: segmentSize)
            #expect(record.proto == .mqtt, "segments of \(segmentSize)")
            #expect(record.webSocket == WebSocketSummary(path: "/ws", subprotocol: "mqtt", compression: nil))
            #expect(
                record.credentials == [
                    Credential(kind: "mqtt", user: "sensor-7", redacted: "password: 11 characters (redacted)")
                ], "segments of \(segmentSize)")
            #expect(!record.encrypted)
        }
    }

    /// Review item 2: the path of a WebSocket is printed without its path parameters (`;jsessionid=…`).
    @Test("a WebSocket's path is reported without `;jsessionid=…`")
    func pathParametersNotPrinted() throws {
        let record = try Self.flow(
            [
                (true, Self.upgrade(path: "/ws;jsessionid=S3ss10nS3cr3t?client=7")), (false, Self.accepted()),
                (true, Self.frame(Self.connect)), (false, Self.frame(Self.connack, mask: nil)),
            ])
        #expect(record.webSocket == WebSocketSummary(path: "/ws", subprotocol: "mqtt", compression: nil))
    }

    @Test("permessage-deflate agreed: a compressed MQTT CONNECT and a GraphQL connection_init read inflated")
    func deflatedInside() throws {
        let deflate = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=12\r\n"
        // MQTT's CONNECT as a stored DEFLATE block (a compressor may store what does not shrink): header, LEN, NLEN.
        let length = Self.connect.count
        let stored = [0x00, UInt8(length & 0xff), UInt8(length >> 8), ~UInt8(length & 0xff), ~UInt8(length >> 8)]
        for segmentSize in [1400, 3] {
            let record = try Self.flow(
                [
                    (true, Self.upgrade(extra: "Sec-WebSocket-Extensions: permessage-deflate\r\n")),
                    (false, Self.accepted(extra: deflate)),
                    (true, Self.frame(stored + Self.connect, reserved: 0x40)),
                    (false, Self.frame(Self.connack, mask: nil)),
                ], segmentSize: segmentSize)
            #expect(record.proto == .mqtt, "segments of \(segmentSize)")
            #expect(record.webSocket?.compression == "permessage-deflate")
            #expect(record.credentials.map(\.kind) == ["mqtt"], "segments of \(segmentSize)")
        }
        let graphQL = try Self.flow([
            (true, Self.upgrade(path: "/graphql", protocols: "graphql-transport-ws")),
            (false, Self.accepted("Sec-WebSocket-Protocol: graphql-transport-ws\r\n", extra: deflate)),
            (true, Self.frame(Self.initDeflated, opcode: 1, reserved: 0x40)),
            (false, Self.frame(Array(#"{"type":"connection_ack"}"#.utf8), opcode: 1, mask: nil)),
        ])
        #expect(graphQL.credentials.map(\.kind) == ["graphql-ws-init"])
        // Compressed without the server's agreement: not read, no credential.
        let unagreed = try Self.flow([
            (true, Self.upgrade(path: "/graphql", protocols: "graphql-transport-ws")),
            (false, Self.accepted("Sec-WebSocket-Protocol: graphql-transport-ws\r\n")),
            (true, Self.frame(Self.initDeflated, opcode: 1, reserved: 0x40)),
        ])
        #expect(unagreed.credentials.isEmpty)
    }

    @Test("refused (401), or messages of no known protocol: http, as before; a second upgrade inside is not followed")
    func notFollowed() throws {
        let refused = try Self.flow([
            (true, Self.upgrade(extra: "Authorization: Bearer eyJhbGciOi.e30.sig\r\n")),
            (false, Array("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".utf8)),
        ])
        #expect(refused.proto == .http)
        #expect(refused.webSocket == nil)
        #expect(refused.credentials.map(\.kind) == ["http-bearer"])

        let application = try Self.flow([
            (true, Self.upgrade(path: "/graphql", protocols: "graphql-transport-ws")),
            (false, Self.accepted("Sec-WebSocket-Protocol: graphql-transport-ws\r\n")),
            (true, Self.frame(Array(#"{"type":"connection_init","payload":{}}"#.utf8), opcode: 1)),
            (false, Self.frame(Array(#"{"type":"connection_ack"}"#.utf8), opcode: 1, mask: nil)),
        ])
        #expect(application.proto == .http)
        #expect(application.webSocket?.path == "/graphql")
        #expect(application.webSocket?.subprotocol == "graphql-transport-ws")
        #expect(application.anomalies.isEmpty)

        // An upgrade request inside the WebSocket: read as the messages it is, not a second layer.
        let nested = try Self.flow([
            (true, Self.upgrade()), (false, Self.accepted()),
            (true, Self.frame(Self.upgrade())), (false, Self.frame(Self.accepted(), mask: nil)),
            (true, Self.frame(Self.frame(Self.connect))),
        ])
        #expect(nested.proto == .http)
        #expect(nested.credentials.isEmpty)
    }
}
