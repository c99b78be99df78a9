import BulkheadModel
import Foundation
import Testing

@testable import PacketAnalysis

/// etcd's v3 API in clear: taken for etcd only when the server answers as etcd does (a `ResponseHeader`, or one of its
/// own errors). The conversations below are the bytes of a real etcd 3.4 and etcdctl 3.4 (Debian's) on loopback, as
/// tcpdump captured them; the capture corpus holds more (make-captures.sh), and a real gRPC server that is not etcd
/// called by etcdctl (make-broker-captures.sh).
@Suite("etcd API in clear")
struct EtcdAPITests {
    /// `etcdctl --user root:… get` logging in: `Auth/Authenticate` (the password in its request), answered with a token.
    static let login = (
        client: hex(
            "505249202a20485454502f322e300d0a0d0a534d0d0a0d0a000000040000000000000000040100000000000071010400",
            "0000018386459660a924882d9dcb6571af0da99d886d4ce5a92620d25f418b089d5c0b8170dc132ebe0f5f8b1d75d062",
            "0d263d4c4d65647a8b9acac8b4c7602bb2caecff40027465864d833505b11f40899acac8b24d494f6a7f860befbee381",
            "b7408d25062d495875996ee5b1063d5f03332e3400001900010000000100000000140a04726f6f74120c526f6f742d50",
            "6173732d373700000806010000000002041010090e070700000408000000000000000034000008060000000000020410",
            "10090e0707"),
        server: hex(
            "00000c0400000000000005000040000003ffffffff000000040100000000000004080000000000000000190000080600",
            "0000000002041010090e070700000e010400000001885f8b1d75d0620d263d4c4d656400003400000000000100000000",
            "2f0a180887d5edba8fd59dc10410c0c0caafc1ba96892e1802200212134e564263635257666366787442484a702e3131",
            "00001801050000000140889acac8b21234da8f013040899acac8b5254207317f0000000806010000000002041010090e",
            "0707")
    )

    /// The read that follows with the token: `KV/Range` with `token` metadata, answered with the key.
    static let tokenRead = (
        client: hex(
            "505249202a20485454502f322e300d0a0d0a534d0d0a0d0a000000040000000000000000040100000000000081010400",
            "0000018386459060a924882d9dcb6571af9b8b1b4754c5418b089d5c0b8170dc132ebe0f5f8b1d75d0620d263d4c4d65",
            "647a8b9acac8b4c7602bb2caecff40027465864d833505b11f40899acac8b24d494f6a7f8669f65d704f5b408449fa96",
            "af8fd3c6e909b794a497ca6ee3cb5ae10f408d25062d495875996ee5b1063d5f03332e34000023000100000001000000",
            "001e0a1c2f72656769737472792f736563726574732f64656661756c742f6462"),
        server: hex(
            "00000c0400000000000005000040000003ffffffff000000040100000000000004080000000000000000230000080600",
            "0000000002041010090e070700000e010400000001885f8b1d75d0620d263d4c4d656400005700000000000100000000",
            "520a180887d5edba8fd59dc10410c0c0caafc1ba96892e1802200212340a1c2f72656769737472792f73656372657473",
            "2f64656661756c742f64621002180220012a0e68756e746572322d736563726574200100001801050000000140889aca",
            "c8b21234da8f013040899acac8b5254207317f00")
    )

    /// A read with no user once auth is on: refused with etcd's own error (`etcdserver: user name is empty`), no header.
    static let refusedRead = (
        client: hex(
            "505249202a20485454502f322e300d0a0d0a534d0d0a0d0a00000004000000000000000004010000000000006b010400",
            "0000018386459060a924882d9dcb6571af9b8b1b4754c5418b089d5c0b8170dc132ebe0f5f8b1d75d0620d263d4c4d65",
            "647a8b9acac8b4c7602bb2caecff40027465864d833505b11f40899acac8b24d494f6a7f8669f7df6421b7408d25062d",
            "495875996ee5b1063d5f03332e3400000a00010000000100000000050a03666f6f00000806010000000002041010090e",
            "0707"),
        server: hex(
            "00000c0400000000000005000040000003ffffffff0000000401000000000000040800000000000000000a0000080600",
            "0000000002041010090e070700003c010500000001885f8b1d75d0620d263d4c4d656440889acac8b21234da8f013340",
            "899acac8b5254207317f962a49220b6772d9714b505b14a87495432142d35a7d7f")
    )

    static let clusterID = "048276a8f75b6a87"
    static let memberID = "2e1259d415f2a040"

    /// One conversation on port 2379: the client's bytes, then the server's.
    static func flow(client: [UInt8], server: [UInt8], segmentSize: Int = 1400) throws -> FlowRecord {
        try analyzeConversation(serverPort: 2379, [(true, client), (false, server)], segmentSize: segmentSize)
    }

    @Test("a real etcd's answers: the cluster, the methods, the password and token redacted, in any segments")
    func realConversations() throws {
        for segmentSize in [1400, 7, 1] {
            let login = try Self.flow(client: Self.login.client, server: Self.login.server, segmentSize: segmentSize)
            #expect(login.proto == .http2)
            #expect(
                login.etcdAPI
                    == EtcdAPISummary(
                        interface: "client", clusterID: Self.clusterID, memberID: Self.memberID,
                        methods: ["Auth/Authenticate"]),
                "segments of \(segmentSize)")
            #expect(
                login.credentials == [
                    Credential(kind: "etcd-password", user: "root", redacted: "password: 12 characters (redacted)")
                ])
            #expect(login.anomalies.isEmpty)
            let encoded = String(decoding: try JSONEncoder().encode(login), as: UTF8.self)
            #expect(!encoded.contains("Root-Pass-77"))

            let read = try Self.flow(
                client: Self.tokenRead.client, server: Self.tokenRead.server, segmentSize: segmentSize)
            #expect(read.etcdAPI?.methods == ["KV/Range"])
            #expect(read.etcdAPI?.clusterID == Self.clusterID)
            #expect(read.credentials.map(\.kind) == ["etcd-token"])
            #expect(read.credentials.first?.redacted == "token: 19 characters (redacted)")
            let readJSON = String(decoding: try JSONEncoder().encode(read), as: UTF8.self)
            #expect(!readJSON.contains("NVBccRWfcfxtBHJp"))

            // Refused: etcd's own error is the evidence; no answer named the cluster.
            let refused = try Self.flow(
                client: Self.refusedRead.client, server: Self.refusedRead.server, segmentSize: segmentSize)
            #expect(
                refused.etcdAPI
                    == EtcdAPISummary(interface: "client", clusterID: nil, memberID: nil, methods: ["KV/Range"]))
            #expect(refused.credentials.isEmpty)
        }
        let record = try Self.flow(client: Self.login.client, server: Self.login.server)
        let findings = FlowFindings.findings(for: record)
        let etcd = try #require(findings.first { $0.kind == .etcdAPIInClear })
        #expect(etcd.severity == .critical)
        #expect(etcd.title == "etcd API answered in clear at 198.18.0.2:2379")
        #expect(etcd.detail.contains("(cluster \(Self.clusterID))"))
        #expect(etcd.detail.contains("(Auth/Authenticate)"))
        #expect(findings.contains { $0.kind == .credentialsInCleartext })
    }

    /// An HPACK literal field without indexing (RFC 7541 §6.2.2), with a new name; neither is Huffman-coded.
    static func literal(_ name: String, _ value: String) -> [UInt8] {
        [0, UInt8(name.utf8.count)] + Array(name.utf8) + [UInt8(value.utf8.count)] + Array(value.utf8)
    }

    /// The same, its name the static table's entry `index` (4-bit prefix: 15 and above take a second byte).
    static func literal(index: Int, _ value: String) -> [UInt8] {
        (index < 15 ? [UInt8(index)] : [0x0f, UInt8(index - 15)]) + [UInt8(value.utf8.count)] + Array(value.utf8)
    }

    /// An HTTP/2 frame.
    static func frame(_ type: UInt8, flags: UInt8, stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
        let length = payload.count
        return [UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff), type, flags]
            + withUnsafeBytes(of: stream.bigEndian, Array.init) + payload
    }

    @Test("not etcd: a gRPC server answering Unimplemented, another service's call, answers past the window")
    func lookAlikes() throws {
        // What a gRPC server that is not etcd answers etcdctl's KV/Range: headers, then trailers, no message.
        let unimplemented =
            Self.frame(0x4, flags: 0, stream: 0, [])
            + Self.frame(
                0x1, flags: 0x05, stream: 1,
                [0x88] + Self.literal(index: 31, "application/grpc")  // :status 200; content-type (index 31)
                    + Self.literal("grpc-status", "12")
                    + Self.literal("grpc-message", "Method not found: etcdserverpb.KV/Range"))
        let other = try Self.flow(client: Self.refusedRead.client, server: unimplemented)
        #expect(other.proto == .http2)
        #expect(other.etcdAPI == nil)
        #expect(!FlowFindings.findings(for: other).contains { $0.kind == .etcdAPIInClear })

        // Another service's call answered with bytes that would pass for etcd's header: the call decides.
        let greeter =
            HTTP2FrameReader.clientPreface + Self.frame(0x4, flags: 0, stream: 0, [])
            + Self.frame(
                0x1, flags: 0x04, stream: 1,
                [0x83, 0x86] + Self.literal(index: 4, "/helloworld.Greeter/SayHello")
                    + Self.literal(index: 31, "application/grpc"))
            + Self.frame(0x0, flags: 0x01, stream: 1, [0, 0, 0, 0, 0])
        let hello = try Self.flow(client: greeter, server: Self.tokenRead.server)
        #expect(hello.etcdAPI == nil)

        // An etcd call whose server sends 20 KiB that are no answer: read to the window, no limit marked on the flow.
        var noise: [UInt8] = []
        while noise.count < 20_000 {
            noise += Self.frame(0x0, flags: 0, stream: 1, [UInt8](repeating: 0x41, count: 999))
        }
        let silent = try Self.flow(client: Self.refusedRead.client, server: noise)
        #expect(silent.etcdAPI == nil)
        #expect(silent.anomalies.isEmpty)
    }

    @Test("frames read in pieces as whole: the same header blocks and data, each once")
    func framesInPieces() {
        func items(_ bytes: [UInt8], client: Bool, piece: Int) -> [String] {
            var reader = HTTP2FrameReader(client: client)
            var seen: [String] = []
            var end = 0
            while end < bytes.count {
                end = min(bytes.count, end + piece)
                Array(bytes[..<end]).withUnsafeBytes { prefix in
                    reader.read(prefix) { item in
                        switch item {
                        case .headers(let stream, let block): seen.append("headers \(stream) \(Array(block))")
                        case .data(let stream, let payload): seen.append("data \(stream) \(Array(payload))")
                        }
                        return true
                    }
                }
            }
            return seen
        }
        // A header block cut into HEADERS and CONTINUATION frames, and padded DATA, beside the real conversations.
        let continued =
            HTTP2FrameReader.clientPreface
            + Self.frame(0x1, flags: 0x08, stream: 3, [2] + Self.literal(index: 4, "/etcdserverpb.KV/Range") + [0, 0])
            + Self.frame(0x9, flags: 0x04, stream: 3, Self.literal("token", "abc"))
            + Self.frame(0x0, flags: 0x09, stream: 3, [1, 0, 0, 0, 0, 0, 0xff])
        let sides = [
            (Self.login.client, true), (Self.login.server, false), (Self.tokenRead.client, true),
            (Self.tokenRead.server, false), (continued, true),
        ]
        for (bytes, client) in sides {
            let whole = items(bytes, client: client, piece: bytes.count)
            #expect(!whole.isEmpty)
            for piece in [1, 2, 9, 10, 64] {
                #expect(items(bytes, client: client, piece: piece) == whole, "pieces of \(piece)")
            }
        }
        #expect(
            items(continued, client: true, piece: 1) == [
                "headers 3 \(Self.literal(index: 4, "/etcdserverpb.KV/Range") + Self.literal("token", "abc"))",
                "data 3 [0, 0, 0, 0, 0]",
            ])
        // A client side without the preface (a connection joined mid-way) is read as frames from its first byte: the
        // same items as after the preface; the preface's first bytes alone are waited on.
        let afterPreface = Array(Self.login.client.dropFirst(HTTP2FrameReader.clientPreface.count))
        #expect(items(afterPreface, client: true, piece: 1) == items(Self.login.client, client: true, piece: 1))
        #expect(items(Array(HTTP2FrameReader.clientPreface.prefix(20)), client: true, piece: 1).isEmpty)
    }

    @Test("messages: a header needs both ids and varints only; malformed Protocol Buffers never crash")
    func messages() {
        func header(_ message: [UInt8]) -> (cluster: UInt64, member: UInt64)? {
            ([0] + withUnsafeBytes(of: UInt32(message.count).bigEndian, Array.init) + message).withUnsafeBytes(
                EtcdAPI.responseHeader)
        }
        // The real answer's header: field 1 holding cluster_id, member_id, revision and raft_term.
        let real = Array(Self.tokenRead.server.drop { $0 != 0x0a }.prefix(26))
        #expect(header(real).map { EtcdAPI.hex($0.cluster) } == Self.clusterID)
        #expect(header([0x0a, 0x04, 0x08, 0x01, 0x10, 0x00]) == nil)  // member 0: no member sets it
        #expect(header([0x0a, 0x05, 0x08, 0x01, 0x12, 0x01, 0x02]) == nil)  // a field of another type inside
        #expect(header([0x12, 0x04, 0x08, 0x01, 0x10, 0x02]) == nil)  // no field 1
        #expect(header([0x0a, 0x04, 0x08, 0x01, 0x10, 0x02]).map { [$0.cluster, $0.member] } == [1, 2])
        for malformed: [UInt8] in [
            [0x08], [0x08, 0x80], [0x0a, 0x05, 0x01], [0x0b], [0x00, 0x01], [0x09, 1, 2, 3],
            [0x08] + [UInt8](repeating: 0xff, count: 11),
            [0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        ] {
            #expect(!malformed.withUnsafeBytes { Protobuf.forEachField($0) { _, _ in true } }, "\(malformed)")
            #expect(header(malformed) == nil)
        }
        // A gRPC message compressed, or cut short, is not read.
        #expect(([1, 0, 0, 0, 1, 0x08] as [UInt8]).withUnsafeBytes(EtcdAPI.grpcMessage) == nil)
        #expect(([0, 0, 0, 0, 9, 0x08] as [UInt8]).withUnsafeBytes(EtcdAPI.grpcMessage) == nil)
        // A password request's user and password; an empty password is none.
        let authenticate: [UInt8] = [0, 0, 0, 0, 9, 0x0a, 0x02, 0x61, 0x62, 0x12, 0x03, 0x73, 0x65, 0x63]
        let credential = authenticate.withUnsafeBytes { EtcdAPI.passwordCredential(method: "Auth/UserAdd", $0) }
        #expect(credential?.user == "ab")
        #expect(credential?.redacted == "password: 3 characters (redacted)")
        #expect(credential?.note == "password set by Auth/UserAdd")
        #expect(authenticate.withUnsafeBytes { EtcdAPI.passwordCredential(method: "KV/Range", $0) } == nil)
        let empty: [UInt8] = [0, 0, 0, 0, 4, 0x0a, 0x02, 0x61, 0x62]
        #expect(empty.withUnsafeBytes { EtcdAPI.passwordCredential(method: "Auth/Authenticate", $0) } == nil)
        #expect(EtcdAPI.method(Array("/etcdserverpb.KV/Range".utf8)) == "KV/Range")
        #expect(EtcdAPI.method(Array("/v3lockpb.Lock/Lock".utf8)) == "Lock/Lock")
        #expect(EtcdAPI.method(Array("/etcdserverpb.".utf8)) == nil)
        #expect(EtcdAPI.method(Array("/helloworld.Greeter/SayHello".utf8)) == nil)
    }

    // MARK: - HTTP/1.1: the JSON gateway and the peer API (real etcd 3.4 bytes, curl and a second member)

    static let gatewayPut = (
        request: "POST /v3/kv/put HTTP/1.1\r\nHost: 127.0.0.1:23790\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
            + "Content-Length: 29\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n{\"key\":\"Zm9v\",\"value\":\"YmFy\"}",
        answer: "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Headers: accept, content-type, authorization\r\n"
            + "Access-Control-Allow-Methods: POST, GET, OPTIONS, PUT, DELETE\r\nAccess-Control-Allow-Origin: *\r\n"
            + "Content-Type: application/json\r\nGrpc-Metadata-Content-Type: application/grpc\r\n"
            + "Date: Mon, 07 Dec 2026 09:49:44 GMT\r\nContent-Length: 111\r\n\r\n"
            + "{\"header\":{\"cluster_id\":\"324952591200643719\",\"member_id\":\"3319814642761637952\",\"revision\":\"2\","
            + "\"raft_term\":\"3\"}}"
    )

    static let peerStream = (
        request: "GET /raft/stream/msgapp/2943212f5e2cf73 HTTP/1.1\r\nHost: 127.0.0.1:23801\r\n"
            + "User-Agent: Go-http-client/1.1\r\nX-Etcd-Cluster-Id: ad2a858118c9a1f3\r\nX-Min-Cluster-Version: 3.0.0\r\n"
            + "X-Peerurls: http://127.0.0.1:23802\r\nX-Raft-To: bdae9bbc11dd390d\r\nX-Server-From: 2943212f5e2cf73\r\n"
            + "X-Server-Version: 3.4.23\r\nAccept-Encoding: gzip\r\n\r\n",
        answer: "HTTP/1.1 200 OK\r\nX-Etcd-Cluster-Id: ad2a858118c9a1f3\r\nX-Server-Version: 3.4.23\r\n"
            + "Date: Mon, 07 Dec 2026 09:47:23 GMT\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n\u{0}\r\n1\r\n\u{0}\r\n0\r\n\r\n"
    )

    @Test("HTTP/1.1: the gateway's JSON header and the peer API's cluster header, in any segments")
    func httpAPIs() throws {
        for segmentSize in [1400, 7, 1] {
            let put = try Self.flow(
                client: Array(Self.gatewayPut.request.utf8), server: Array(Self.gatewayPut.answer.utf8),
                segmentSize: segmentSize)
            #expect(put.proto == .http)
            #expect(
                put.etcdAPI
                    == EtcdAPISummary(
                        interface: "client", clusterID: Self.clusterID, memberID: Self.memberID,
                        methods: ["POST /v3/kv/put"]), "segments of \(segmentSize)")
            #expect(put.containerEngineAPI == nil, "/v3/ has the shape of an engine's path too")
            let stream = try Self.flow(
                client: Array(Self.peerStream.request.utf8), server: Array(Self.peerStream.answer.utf8),
                segmentSize: segmentSize)
            #expect(
                stream.etcdAPI
                    == EtcdAPISummary(
                        interface: "peer", clusterID: "ad2a858118c9a1f3", memberID: nil,
                        methods: ["GET /raft/stream/msgapp/2943212f5e2cf73"]), "segments of \(segmentSize)")
            #expect(stream.anomalies.isEmpty)
        }
        let peer = try Self.flow(
            client: Array(Self.peerStream.request.utf8), server: Array(Self.peerStream.answer.utf8))
        let finding = try #require(FlowFindings.findings(for: peer).first { $0.kind == .etcdPeerTrafficInClear })
        #expect(finding.severity == .critical)
        #expect(finding.title == "etcd peer traffic in clear to 198.18.0.2:2379")
        #expect(finding.detail.contains("--peer-cert-file"))
        #expect(!FlowFindings.findings(for: peer).contains { $0.kind == .etcdAPIInClear })
    }

    @Test("HTTP/1.1 look-alikes: another service's /members, a gateway-shaped answer without the header, an engine")
    func httpLookAlikes() throws {
        func record(_ request: String, _ answer: String) throws -> FlowRecord {
            try Self.flow(client: Array(request.utf8), server: Array(answer.utf8))
        }
        let members = try record(
            "GET /members HTTP/1.1\r\nHost: gitlab.test\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]")
        #expect(members.etcdAPI == nil)
        let otherGateway = try record(
            "POST /v3/users/list HTTP/1.1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nGrpc-Metadata-Content-Type: application/grpc\r\nContent-Length: 60\r\n\r\n"
                + "{\"users\":[],\"next_page_token\":\"\",\"total_size\":\"0\",\"header\":{}}    ")
        #expect(otherGateway.etcdAPI == nil)
        let refused = try record(
            "POST /v3/kv/range HTTP/1.1\r\n\r\n",
            Self.gatewayPut.answer.replacingOccurrences(of: "200 OK", with: "401 Unauthorized"))
        #expect(refused.etcdAPI == nil, "a JSON header on a refusal is no answer of the store")
        // An answer cut short before its body: nothing proves etcd.
        let cut = try record(
            Self.gatewayPut.request,
            String(Self.gatewayPut.answer.prefix { $0 != "{" }))
        #expect(cut.etcdAPI == nil)
        let engine = try record(
            "GET /v1.41/version HTTP/1.1\r\n\r\n", ContainerEngineAPITests.dockerAnswer)
        #expect(engine.containerEngineAPI?.engine == "docker" && engine.etcdAPI == nil)
    }
}
