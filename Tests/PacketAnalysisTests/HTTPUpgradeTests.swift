import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import PacketAnalysis

/// HTTP/1.1's upgrade to cleartext HTTP/2 (`Upgrade: h2c`, RFC 7540 §3.2): which requests ask, where the connection
/// switched (a `101` first, or after other answers), and flows of every shape real peers give. The real cases (curl
/// `--http2` and Java's HttpClient against Apache httpd) are in the capture corpus (`captures/h2c-upgrade-*.pcap`).
@Suite("HTTP/1.1 upgrade to h2c")
struct HTTPUpgradeTests {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    static let basic = "Authorization: Basic YWxpY2U6aDJjLVNlY3JldC0x\r\n"  // alice, a 12-character password
    static let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0In0.c2ln"

    static func request(_ path: String = "/a", method: String = "GET", extra: String = "") -> [UInt8] {
        Array(
            ("\(method) \(path) HTTP/1.1\r\nHost: server.test\r\n\(extra)Connection: Upgrade, HTTP2-Settings\r\n"
                + "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n").utf8)
    }

    static let switching = Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n".utf8)

    /// An HTTP/2 frame (RFC 9113 §4.1).
    static func frame(_ type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, _ payload: [UInt8] = []) -> [UInt8] {
        PacketBuilder.be24(payload.count) + [type, flags] + PacketBuilder.be32(stream) + payload
    }

    /// A HEADERS frame (END_HEADERS) of a GET whose only literal is `authorization` (a new name, not indexed).
    static func headers(stream: UInt32, authorization: String) -> [UInt8] {
        let name = Array("authorization".utf8)
        let value = Array(authorization.utf8)
        let block: [UInt8] = [0x82, 0x86, 0x84, 0x00, UInt8(name.count)] + name + [UInt8(value.count)] + value
        return Self.frame(1, flags: 0x05, stream: stream, block)
    }

    /// The client's side after a switch: the preface, its SETTINGS, and one request.
    static func clientHTTP2(stream: UInt32 = 3, authorization: String? = nil) -> [UInt8] {
        Self.preface + Self.frame(4) + (authorization.map { Self.headers(stream: stream, authorization: $0) } ?? [])
    }

    /// The server's HTTP/2 after its `101`: SETTINGS, and the answer to the upgraded request (stream 1).
    static let serverHTTP2 = frame(4) + frame(1, flags: 0x05, stream: 1, [0x88]) + frame(4, flags: 0x01)

    static func flow(_ exchange: [(fromClient: Bool, bytes: [UInt8])], segmentSize: Int = 1400) throws -> FlowRecord {
        try analyzeConversation(serverPort: 8080, exchange, segmentSize: segmentSize)
    }

    @Test("which requests ask: h2c among the Upgrade protocols (any method, any case), a WebSocket only on a GET")
    func target() {
        func target(_ text: String) -> HTTPUpgrade.Target? {
            Array(text.utf8).withUnsafeBytes { HTTPUpgrade.mayBeUpgradeRequest($0) ? HTTPUpgrade.target($0) : nil }
        }
        #expect(target(String(decoding: Self.request(), as: UTF8.self)) == .h2c)
        #expect(target(String(decoding: Self.request(method: "POST"), as: UTF8.self)) == .h2c)
        #expect(target("GET / HTTP/1.1\r\nupgrade:  H2C \r\n\r\n") == .h2c)
        #expect(target("OPTIONS * HTTP/1.1\r\nUpgrade: foo/1, h2c\r\n\r\n") == .h2c)
        #expect(target("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n") == .webSocket)
        // h2 is HTTP/2 over TLS (ALPN's token): not an upgrade here; nor h2cx, nor no Upgrade header at all.
        #expect(target("GET / HTTP/1.1\r\nUpgrade: h2\r\n\r\n") == nil)
        #expect(target("GET / HTTP/1.1\r\nUpgrade: h2cx\r\n\r\n") == nil)
        #expect(target("GET / HTTP/1.1\r\nX-Upgrade-Hint: h2c\r\n\r\n") == nil)
        // Heads cut short may still ask; an answer or nothing at all does not.
        for text in ["GET /a HTTP/1.1\r\nHost: a\r\n", "POST /a HTTP/1.1\r\nUpgrade: h2c\r\n", "PUT"] {
            #expect(Array(text.utf8).withUnsafeBytes(HTTPUpgrade.mayBeUpgradeRequest), "\(text)")
        }
        for text in ["HTTP/1.1 200 OK\r\n", "", "get / HTTP/1.1\r\n"] {
            #expect(!Array(text.utf8).withUnsafeBytes(HTTPUpgrade.mayBeUpgradeRequest), "\(text)")
        }
    }

    /// Where the scan finds the switch in `server` and the preface in `client`, read whole.
    static func scan(client: [UInt8], server: [UInt8]) -> (server: Int?, preface: Int?, ended: Bool) {
        var scan = HTTPUpgrade.H2CSwitchScan()
        server.withUnsafeBytes { scan.readServer($0) }
        client.withUnsafeBytes { scan.readClient($0, requestEnd: Self.request().count) }
        return (scan.serverOffset, scan.prefaceOffset, scan.ended)
    }

    @Test("the switch: a 101 to h2c first or after answers passed over by their length; what ends the search")
    func switchScan() {
        let request = Self.request()
        let client = request + Self.clientHTTP2()
        // The first answer switches.
        #expect(Self.scan(client: client, server: Self.switching) == (Self.switching.count, request.count, false))
        // A challenge first (a 401 with a body), then the 101 to the request that answers it; and a 100 Continue.
        let challenge = Array("HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nnope!".utf8)
        let interim = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
        let later = challenge + interim + Self.switching
        #expect(Self.scan(client: client, server: later).server == later.count)
        // The challenge's body not whole yet: nothing, and not ended.
        #expect(Self.scan(client: client, server: Array(challenge.dropLast(2))) == (nil, request.count, false))
        // 204 and 304 have no body, whatever their length says.
        let empty = Array("HTTP/1.1 204 No Content\r\nContent-Length: 99\r\n\r\n".utf8)
        #expect(Self.scan(client: client, server: empty + Self.switching).server == empty.count + Self.switching.count)
        // Ends: a chunked answer, one without a length, a 101 to another protocol, not HTTP/1, the 16th answer.
        for server in [
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
            "HTTP/1.1 200 OK\r\n\r\n", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
            "SSH-2.0-OpenSSH_9.2\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        ] {
            #expect(Self.scan(client: client, server: Array(server.utf8)) == (nil, request.count, true), "\(server)")
        }
        let answered = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)
        let fifteen = Array(Array(repeating: answered, count: 15).joined())
        #expect(Self.scan(client: client, server: fifteen + Self.switching).server != nil)
        #expect(Self.scan(client: client, server: fifteen + answered + Self.switching) == (nil, request.count, true))
        // The preface after a request body; none before the request's end; none at all.
        let body = Array("PRI * HTTP/2.0 is a body".utf8)
        let withBody = request + body + Self.clientHTTP2()
        #expect(Self.scan(client: withBody, server: Self.switching).preface == request.count + body.count)
        #expect(Self.scan(client: request, server: Self.switching).preface == nil)
    }

    @Test("the scan read a byte at a time finds what it finds read whole")
    func scanBytewise() {
        let client = Self.request() + Array("{\"x\":1}".utf8) + Self.clientHTTP2()
        let challenge = Array("HTTP/1.1 401 Unauthorized\r\nContent-Length: 5\r\n\r\nnope!".utf8)
        for server in [Self.switching, challenge + Self.switching, Array("HTTP/1.1 200 OK\r\n\r\n".utf8)] {
            let whole = Self.scan(client: client, server: server)
            var scan = HTTPUpgrade.H2CSwitchScan()
            for end in 0...server.count { server.prefix(end).withUnsafeBytes { scan.readServer($0) } }
            for end in 0...client.count {
                client.prefix(end).withUnsafeBytes { scan.readClient($0, requestEnd: Self.request().count) }
            }
            #expect(whole == (scan.serverOffset, scan.prefaceOffset, scan.ended))
        }
    }

    static let alice = Credential(kind: "http-basic", user: "alice", redacted: "password: 12 characters (redacted)")

    @Test("flows: credentials in both parts (curl), a token only in HTTP/2 (Java), in segments of 3 bytes too")
    func flows() throws {
        for segmentSize in [1400, 3] {
            let curl = try Self.flow(
                [
                    (true, Self.request("/private/a.txt?x=1", extra: Self.basic)), (false, Self.switching),
                    (true, Self.clientHTTP2(authorization: "Basic YWxpY2U6aDJjLVNlY3JldC0x")),
                    (false, Self.serverHTTP2),
                ], segmentSize: segmentSize)
            #expect(curl.proto == .http2, "segments of \(segmentSize)")
            #expect(curl.h2cUpgrade == H2CUpgradeSummary(path: "/private/a.txt"))
            #expect(curl.credentials == [Self.alice, Self.alice], "segments of \(segmentSize)")
            #expect(!curl.encrypted && curl.anomalies.isEmpty)

            let java = try Self.flow(
                [
                    (true, Self.request("/index.html", extra: "Content-Length: 0\r\n")), (false, Self.switching),
                    (true, Self.clientHTTP2(authorization: "Bearer \(Self.token)")), (false, Self.serverHTTP2),
                ], segmentSize: segmentSize)
            #expect(java.proto == .http2 && java.h2cUpgrade?.path == "/index.html", "segments of \(segmentSize)")
            #expect(java.credentials.map(\.kind) == ["http-bearer"], "segments of \(segmentSize)")
            #expect(!java.credentials.description.contains(Self.token))
        }
    }

    /// Review item 2: `;jsessionid=…` (a servlet container's URL rewriting: a session credential) was printed in the
    /// path of an upgrade.
    @Test("a printed path stops at the first `;` as at `?` and `#`: path parameters can be a session id")
    func pathParametersNotPrinted() throws {
        func path(_ target: String) -> String {
            Array("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n".utf8).withUnsafeBytes(HTTPUpgrade.path)
        }
        #expect(path("/ws;jsessionid=S3ss10nS3cr3t") == "/ws")
        #expect(path("/a/b;v=1/c?x=1") == "/a/b/c", "each segment cut at its `;`: the path still names its endpoint")
        #expect(path(";jsessionid=S3ss10nS3cr3t") == "/")
        #expect(path("/plain/path") == "/plain/path")
        // Absolute form (to a proxy): the authority, with its user and password, is never part of the path.
        #expect(path("http://alice:S3cr3tPassw0rd@h.test/ws") == "/ws")
        #expect(path("https://alice:S3cr3tPassw0rd@h.test") == "/")
        #expect(path("http://h.test/chat;room=1/ws?x=1") == "/chat/ws")
        let upgraded = try Self.flow(
            [
                (true, Self.request("/up;jsessionid=S3ss10nS3cr3t")), (false, Self.switching),
                (true, Self.clientHTTP2()), (false, Self.serverHTTP2),
            ])
        #expect(upgraded.proto == .http2 && upgraded.h2cUpgrade == H2CUpgradeSummary(path: "/up"))
    }

    @Test("a challenge answered first, then the switch; declined (a server without h2c): the HTTP/1.1 it is")
    func challengedAndDeclined() throws {
        let challenge = Array(
            ("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"r\"\r\nContent-Length: 13\r\n\r\n"
                + "Unauthorized.").utf8)
        let challenged = try Self.flow([
            (true, Self.request("/private/a.txt")), (false, challenge),
            (true, Self.request("/private/a.txt", extra: Self.basic)), (false, Self.switching),
            (true, Self.clientHTTP2()), (false, Self.serverHTTP2),
        ])
        #expect(challenged.proto == .http2)
        #expect(challenged.h2cUpgrade?.path == "/private/a.txt")
        #expect(challenged.credentials == [Self.alice])

        let ok = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
        let declined = try Self.flow([
            (true, Self.request("/private/a.txt", extra: Self.basic)), (false, ok),
            (true, Self.request("/private/b.txt", extra: Self.basic)), (false, ok),
        ])
        #expect(declined.proto == .http)
        #expect(declined.h2cUpgrade == nil)
        #expect(declined.credentials == [Self.alice, Self.alice])
        #expect(declined.anomalies.isEmpty)
    }

    @Test("bad input: a switch the client never follows, a preface that never comes, lying lengths, nesting")
    func badInput() throws {
        // The capture ends after the 101: the upgrade is recorded, the flow is the HTTP that opened it.
        let cut = try Self.flow([(true, Self.request(extra: Self.basic)), (false, Self.switching)])
        #expect(cut.proto == .http && cut.h2cUpgrade?.path == "/a")
        #expect(cut.credentials == [Self.alice])
        // The client goes on in HTTP/1.1 after a 101 (no preface): its requests are read as HTTP/1's.
        let noPreface = try Self.flow([
            (true, Self.request()), (false, Self.switching),
            (true, Self.request("/b", extra: Self.basic)),
        ])
        #expect(noPreface.credentials == [Self.alice])
        // A length that lies (past anything sent): the switch after it is never found; the HTTP it is.
        let lying = try Self.flow([
            (true, Self.request(extra: Self.basic)),
            (false, Array("HTTP/1.1 401 Unauthorized\r\nContent-Length: 999999999\r\n\r\n".utf8) + Self.switching),
            (true, Self.clientHTTP2()),
        ])
        #expect(lying.proto == .http && lying.h2cUpgrade == nil)
        #expect(lying.credentials == [Self.alice])
        // An upgrade request inside the HTTP/2 (as a DATA frame's bytes): one upgrade per flow, nothing more.
        let nested = try Self.flow([
            (true, Self.request()), (false, Self.switching),
            (true, Self.clientHTTP2() + Self.frame(0, stream: 3, Self.request(extra: Self.basic))),
            (false, Self.serverHTTP2 + Self.switching),
        ])
        #expect(nested.proto == .http2 && nested.h2cUpgrade?.path == "/a")
        // A server that fills the window with answers before any switch: settled as HTTP, its client read whole.
        let chatty = try Self.flow([
            (true, Self.request(extra: Self.basic)),
            (
                false,
                Array("HTTP/1.1 200 OK\r\nContent-Length: 40000\r\n\r\n".utf8) + Array(repeating: 0x41, count: 40000)
            ),
            (true, Self.request("/b", extra: Self.basic)),
        ])
        #expect(chatty.proto == .http && chatty.h2cUpgrade == nil)
        #expect(chatty.credentials == [Self.alice, Self.alice])
        #expect(!chatty.anomalies.contains("inspection-limit"))
    }

    @Test("the committed captures: curl, Java, a digest challenge first, a server without h2c")
    func corpus() throws {
        func record(_ name: String) throws -> FlowRecord {
            let bytes = try [UInt8](Data(contentsOf: Repository.root.appendingPathComponent("captures/\(name)")))
            return try #require(try analyze(bytes).flows.first)
        }
        // What the expected files cannot say (a key they leave out is not asserted): no upgrade where none happened.
        let declined = try record("h2c-upgrade-declined.pcap")
        #expect(declined.proto == .http && declined.h2cUpgrade == nil)
        #expect(declined.credentials == [Self.alice, Self.alice])
        let java = try record("h2c-upgrade-java-bearer.pcap")
        #expect(java.proto == .http2 && java.h2cUpgrade?.path == "/index.html")
        #expect(java.credentials.map(\.kind) == ["http-bearer"])
        let digest = try record("h2c-upgrade-digest.pcap")
        #expect(digest.proto == .http2 && digest.credentials.map(\.kind) == ["http-digest"])
    }
}
