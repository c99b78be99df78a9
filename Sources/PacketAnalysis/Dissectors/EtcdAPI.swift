import BulkheadModel

/// etcd's v3 API spoken in clear: gRPC over cleartext HTTP/2, as etcd serves it on `http://…:2379` when started without
/// `--cert-file`. For a Kubernetes cluster etcd holds every object, Secrets included; whoever reads the path reads them,
/// and unless etcd also requires client certificates whoever reaches the port reads and writes them.
///
/// A flow is taken for etcd only on the server's word: its client called one of etcd's services
/// (`/etcdserverpb.KV/Range`…), and the server answered with the `ResponseHeader` every etcd answer starts with (the
/// cluster's and the answering member's ids), or with one of etcd's own errors (`etcdserver: user name is empty`). A
/// gRPC server that is not etcd answers `Unimplemented`, and proves nothing.
///
/// Credentials that cross with it are read by ``CredentialExtractor``: the password of `Auth/Authenticate`,
/// `Auth/UserAdd` and `Auth/UserChangePassword` requests, and the `token` every request carries after authentication.
///
/// Over HTTP/1.1 (``httpAnswer(request:response:headersEnd:complete:)``): the JSON gateway of the same API
/// (`POST /v3/kv/range`), and the peer API etcd's members replicate the store over (`/raft/stream/…`, `/members`),
/// each taken on the answer's word too.
package enum EtcdAPI {
    /// The packages of etcd's gRPC services: the store (`KV`, `Watch`, `Lease`, `Cluster`, `Maintenance`, `Auth`), and
    /// the lock and election services of its concurrency API.
    static let servicePackages: [[UInt8]] = ["/etcdserverpb.", "/v3lockpb.", "/v3electionpb."].map { Array($0.utf8) }

    /// The method a request path names, without its package (`KV/Range`, `Auth/Authenticate`, `Lock/Lock`), when it is
    /// one of etcd's services; nil otherwise.
    static func method(_ path: [UInt8]) -> String? {
        guard let package = Self.servicePackages.first(where: { path.starts(with: $0) }) else { return nil }
        let method = path[package.count...].prefix(64)
        guard !method.isEmpty else { return nil }
        return method.withUnsafeBytes(\.printableText)
    }

    /// Whether a path is gRPC's health check, which any gRPC server answers (a client may call it first).
    static func isHealthCheck(_ path: [UInt8]) -> Bool { path.starts(with: Array("/grpc.health.v1.".utf8)) }

    /// The password a request message carries: the user's name and password of `Auth/Authenticate` (a login),
    /// `Auth/UserAdd` and `Auth/UserChangePassword` (a password set), described without the password.
    static func passwordCredential(method: String, _ payload: UnsafeRawBufferPointer) -> Credential? {
        let note: String?
        switch method {
        case "Auth/Authenticate": note = nil
        case "Auth/UserAdd": note = "password set by Auth/UserAdd"
        case "Auth/UserChangePassword": note = "password set by Auth/UserChangePassword"
        default: return nil
        }
        guard let message = Self.grpcMessage(payload) else { return nil }
        // AuthenticateRequest, AuthUserAddRequest, AuthUserChangePasswordRequest: name = 1, password = 2.
        var name: UnsafeRawBufferPointer?
        var password: UnsafeRawBufferPointer?
        Protobuf.forEachField(message) { number, field in
            if case .bytes(let bytes) = field {
                if number == 1 { name = bytes } else if number == 2 { password = bytes }
            }
            return true
        }
        guard let password, !password.isEmpty else { return nil }
        return Credential(
            kind: "etcd-password", user: name.flatMap { $0.isEmpty ? nil : $0.printableText },
            redacted: CredentialExtractor.secretDescription("password", password.count), note: note)
    }

    /// The `token` metadata a request carries once its client authenticated (a simple token or a JWT).
    static func tokenCredential(_ value: [UInt8]) -> Credential? {
        guard !value.isEmpty else { return nil }
        return Credential(
            kind: "etcd-token", user: nil, redacted: CredentialExtractor.secretDescription("token", value.count),
            note: "token metadata")
    }

    /// The `ResponseHeader` an answer message starts with (field 1 of every etcd response): the cluster's and the
    /// member's ids, both set by every etcd member.
    static func responseHeader(_ payload: UnsafeRawBufferPointer) -> (cluster: UInt64, member: UInt64)? {
        guard let message = Self.grpcMessage(payload) else { return nil }
        var header: UnsafeRawBufferPointer?
        Protobuf.forEachField(message) { number, field in
            if number == 1, case .bytes(let bytes) = field { header = bytes }
            return header == nil
        }
        guard let header else { return nil }
        var cluster: UInt64 = 0
        var member: UInt64 = 0
        // cluster_id = 1, member_id = 2, revision = 3, raft_term = 4: varints, nothing else.
        let wellFormed = Protobuf.forEachField(header) { number, field in
            guard case .varint(let value) = field, (1...4).contains(number) else { return false }
            if number == 1 { cluster = value } else if number == 2 { member = value }
            return true
        }
        guard wellFormed, cluster != 0, member != 0 else { return nil }
        return (cluster, member)
    }

    /// Whether an answer's `grpc-message` is one of etcd's own errors.
    static func isEtcdError(_ message: [UInt8]) -> Bool {
        message.starts(with: Array("etcdserver: ".utf8)) || message.starts(with: Array("etcdserver:%20".utf8))
    }

    /// A gRPC message whole in one DATA frame (RFC-less, gRPC over HTTP/2: a compressed flag, a 4-byte length, the
    /// message); nil when it is compressed or continues in another frame.
    static func grpcMessage(_ payload: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var cursor = ByteCursor(payload)
        guard cursor.u8() == 0, let length = cursor.u32(), let message = cursor.bytes(Int(length)) else { return nil }
        return message
    }

    /// The ids as etcd prints them: 16 hexadecimal digits.
    static func hex(_ id: UInt64) -> String {
        let digits = String(id, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    // MARK: - HTTP/1.1: the peer API and the JSON gateway

    /// The request targets of etcd's HTTP APIs: its members' peer API (raft streams and messages, the member list),
    /// and the JSON gateway of its v3 API.
    static let peerTargets: [[UInt8]] = ["/raft", "/members"].map { Array($0.utf8) }
    static let gatewayTargets: [[UInt8]] = ["/v3/", "/v3beta/", "/v3alpha/"].map { Array($0.utf8) }
    static let httpTargets = Self.peerTargets + Self.gatewayTargets

    /// Whether a client's first request has the shape of one of etcd's HTTP APIs (the answer decides).
    package static func isHTTPRequest(_ client: UnsafeRawBufferPointer) -> Bool {
        guard let target = HTTPAPIRequestShape.target(client) else { return false }
        // Every HTTP flow's first request is asked this: a byte compared before the prefixes.
        guard target.count >= 4, target[0] == 0x2f, target[1] == 0x72 || target[1] == 0x6d || target[1] == 0x76 else {
            return false
        }
        return Self.httpTargets.contains { target.starts(with: $0) }
    }

    /// What etcd's answer to an HTTP request shows.
    package enum HTTPAnswer: Equatable {
        /// etcd answered.
        case etcd(EtcdAPISummary)
        /// Not etcd's answer.
        case other
        /// Its headers name no cluster, and the start of its body, which may, has not arrived.
        case needsBody
    }

    /// Reads the answer to a request of ``isHTTPRequest(_:)``'s shape: `response` holds its status line and headers
    /// (`headersEnd` bytes) and what came of its body. etcd's word is its `X-Etcd-Cluster-Id` header (on every answer
    /// of the peer API, whatever its status), or a gateway answer whose JSON starts with the `header` every v3 answer
    /// has (`{"header":{"cluster_id":"…","member_id":"…"`). `complete`: no more of the body will come.
    package static func httpAnswer(
        request: UnsafeRawBufferPointer, response: UnsafeRawBufferPointer, headersEnd: Int, complete: Bool
    ) -> HTTPAnswer {
        guard response.starts(with: "HTTP/1."), let target = HTTPAPIRequestShape.target(request) else { return .other }
        let headers = UnsafeRawBufferPointer(rebasing: response[..<min(headersEnd, response.count)])
        let peer = Self.peerTargets.contains { target.starts(with: $0) }
        let method = Array(request.prefix { $0 != 0x20 }.prefix(8)) + [0x20] + Array(target.prefix(96))
        let called = [method.withUnsafeBytes(\.printableText)]
        if let cluster = CredentialExtractor.headerValue("x-etcd-cluster-id", in: headers),
            let id = UInt64(cluster, radix: 16), id != 0
        {
            return .etcd(
                EtcdAPISummary(
                    interface: peer ? "peer" : "client", clusterID: Self.hex(id), memberID: nil, methods: called))
        }
        // The gateway: a success, and the JSON header of every v3 answer, its ids in decimal.
        guard !peer, response.count >= 12, response[9] == 0x32 else { return .other }
        let body = UnsafeRawBufferPointer(rebasing: response[min(headersEnd, response.count)...])
        let prefix = Array(#"{"header":{"cluster_id":""#.utf8)
        // Room for both ids (20 digits each) and the text between them, or all there will be.
        guard body.count >= 96 || complete else { return .needsBody }
        guard body.starts(with: prefix) else { return .other }
        var cursor = body.dropFirst(prefix.count)
        func decimal() -> UInt64? {
            let digits = cursor.prefix { $0 >= 0x30 && $0 <= 0x39 }.prefix(20)
            cursor = cursor.dropFirst(digits.count)
            return UInt64(String(decoding: digits, as: UTF8.self))
        }
        guard let cluster = decimal(), cluster != 0 else { return complete ? .other : .needsBody }
        let memberPrefix = Array(#"","member_id":""#.utf8)
        var member: UInt64?
        if cursor.starts(with: memberPrefix) {
            cursor = cursor.dropFirst(memberPrefix.count)
            member = decimal()
        }
        return .etcd(
            EtcdAPISummary(
                interface: "client", clusterID: Self.hex(cluster), memberID: member.map(Self.hex), methods: called))
    }

    /// Follows both sides of a cleartext HTTP/2 flow as their bytes arrive, until it knows whether etcd answered.
    package struct Reader {
        enum Shape {
            /// No request path read yet (or only health checks).
            case undecided
            /// The client called one of etcd's services.
            case etcd
            /// The client called another service: not etcd.
            case other
        }

        private var client = HTTP2FrameReader(client: true)
        private var server = HTTP2FrameReader(client: false)
        private(set) var shape = Shape.undecided
        /// The methods the client named, in order (each is a literal the first time it is called: a path indexed in
        /// HPACK's dynamic table repeats one read before), at most ``maximumMethods``.
        package private(set) var methods: [String] = []
        /// The cluster and member that answered, or a member's error: the evidence that etcd answered.
        private(set) var answer: (cluster: UInt64, member: UInt64)?
        private(set) var answeredWithError = false

        static let maximumMethods = 8

        package init() {}

        /// Whether the server's bytes are still wanted: until an answer names the cluster (an error proves etcd, but
        /// the next answer may still name it).
        var wantsServer: Bool { self.shape != .other && self.answer == nil && !self.server.stopped }

        /// Reads the client's bytes (its side from the start) after those read before.
        package mutating func readClient(_ bytes: UnsafeRawBufferPointer) {
            self.client.read(bytes) { item in
                guard case .headers(_, let block) = item else { return true }
                var path: [UInt8]?
                let complete = HPACK.forEachLiteral(in: block) { name, value in
                    if path == nil && name == HPACK.pathName { path = value }
                }
                if let path {
                    if let method = EtcdAPI.method(path) {
                        self.shape = .etcd
                        if self.methods.count < Self.maximumMethods && !self.methods.contains(method) {
                            self.methods.append(method)
                        }
                    } else if self.shape == .undecided && !EtcdAPI.isHealthCheck(path) {
                        self.shape = .other
                    }
                }
                // A block that does not decode leaves the dynamic table unknown: what follows is not read.
                return complete && self.shape != .other
            }
        }

        /// Reads the server's bytes after those read before, once the client is known to have called etcd.
        package mutating func readServer(_ bytes: UnsafeRawBufferPointer) {
            guard self.shape == .etcd else { return }
            self.server.read(bytes) { item in
                switch item {
                case .data(_, let payload):
                    self.answer = EtcdAPI.responseHeader(payload)
                case .headers(_, let block):
                    let complete = HPACK.forEachLiteral(in: block) { name, value in
                        if name == HPACK.grpcMessageName && EtcdAPI.isEtcdError(value) { self.answeredWithError = true }
                    }
                    guard complete else { return false }
                }
                return self.answer == nil
            }
        }

        /// What the flow's record says: nil unless etcd answered.
        package var summary: EtcdAPISummary? {
            guard self.shape == .etcd, self.answer != nil || self.answeredWithError else { return nil }
            return EtcdAPISummary(
                interface: "client", clusterID: self.answer.map { EtcdAPI.hex($0.cluster) },
                memberID: self.answer.map { EtcdAPI.hex($0.member) }, methods: self.methods)
        }
    }
}

/// Protocol Buffers' wire format, as far as reading a few fields of a message takes.
enum Protobuf {
    enum Field {
        case varint(UInt64)
        case bytes(UnsafeRawBufferPointer)
        case fixed
    }

    /// Calls `body` with each field's number and value, in order, until it returns false. False when the message is
    /// malformed (a tag, length or value that runs past it, a wire type that does not exist) or `body` stopped.
    @discardableResult
    static func forEachField(_ message: UnsafeRawBufferPointer, _ body: (Int, Field) -> Bool) -> Bool {
        var cursor = ByteCursor(message)
        while !cursor.isAtEnd {
            guard let tag = Self.varint(&cursor), tag >> 3 > 0, tag >> 3 <= 536_870_911 else { return false }
            let field: Field
            switch tag & 7 {
            case 0:
                guard let value = Self.varint(&cursor) else { return false }
                field = .varint(value)
            case 1:
                guard cursor.skip(8) else { return false }
                field = .fixed
            case 2:
                guard let length = Self.varint(&cursor), let count = Int(exactly: length),
                    let bytes = cursor.bytes(count)
                else { return false }
                field = .bytes(bytes)
            case 5:
                guard cursor.skip(4) else { return false }
                field = .fixed
            default:
                return false
            }
            guard body(Int(tag >> 3), field) else { return false }
        }
        return true
    }

    /// A base-128 varint: at most ten bytes.
    static func varint(_ cursor: inout ByteCursor) -> UInt64? {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 70, by: 7) {
            guard let byte = cursor.u8() else { return nil }
            value |= UInt64(byte & 0x7f) << UInt64(shift)
            if byte & 0x80 == 0 { return value }
        }
        return nil
    }
}
