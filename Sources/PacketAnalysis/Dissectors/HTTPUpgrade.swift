import BulkheadModel
import Foundation

/// HTTP/1.1's protocol upgrade (RFC 9110 §7.8) as flows use it: a request whose `Upgrade` header names another
/// protocol, answered `101 Switching Protocols`, after which both sides speak that protocol on the same connection.
///
/// Two are read:
/// - WebSocket (``WebSocket``): a `GET` with `Upgrade: websocket`.
/// - HTTP/2 over cleartext (`h2c`, RFC 7540 §3.2): any request with `h2c` among its `Upgrade` protocols. RFC 9113
///   deprecated this upgrade, but curl `--http2` on an `http://` URL and Java's `HttpClient` set to HTTP/2 still send
///   it, and Apache httpd (`Protocols h2c http/1.1`) accepts it. After the `101` the request is answered as HTTP/2's
///   stream 1, the client sends the connection preface, and the requests that follow travel as HTTP/2 frames: their
///   `authorization` headers are HPACK-coded, where a reading of HTTP/1 finds nothing.
package enum HTTPUpgrade {
    /// What a request asked to upgrade to.
    package enum Target: Equatable, Sendable {
        case webSocket
        case h2c
    }

    /// Looks for where a connection whose request asked for h2c switched to HTTP/2, as each side's bytes grow: the
    /// server's `101` whose `Upgrade` is `h2c`, and after the request the client's connection preface.
    ///
    /// The `101` is looked for at the start of each of the server's answers, not only the first: a client asks again
    /// with each request, and a server that answers the first with a challenge (`401` and `WWW-Authenticate: Digest`)
    /// switches on the request that answers it. Each answer that is not a `101` is passed over by its
    /// `Content-Length`; the search ends for good at an answer whose end is not known that way (chunked, or without a
    /// length), at one that is not HTTP/1, at a `101` to another protocol, and after 16 answers. Each call reads on
    /// from where the last one stopped, so bytes that come one at a time are still read once.
    package struct H2CSwitchScan {
        /// Where the server's answer being read starts, where its headers end once found, and where its body ends once
        /// they are read.
        private var answerStart = 0
        private var answerHead = HeadersEndScan()
        private var answerEnd: Int?
        private var answersPassed = 0
        /// How far the client's bytes were searched for the preface.
        private var prefaceSearchedTo = 0
        /// Where the server's HTTP/2 frames start (just past the `101`'s headers), once found.
        package private(set) var serverOffset: Int?
        /// Where the client's preface starts, once found.
        package private(set) var prefaceOffset: Int?
        /// Whether the search for the `101` ended without one.
        package private(set) var ended = false

        package init() {}

        /// Reads on in the server's bytes (all of them from the side's start) for the `101`.
        package mutating func readServer(_ server: UnsafeRawBufferPointer) {
            while self.serverOffset == nil, !self.ended {
                if let end = self.answerEnd {
                    // An answer's body being passed over (it may come a byte at a time): the next answer starts at
                    // its end.
                    guard end <= server.count else { return }
                    self.answerStart = end
                    self.answerEnd = nil
                    self.answerHead = HeadersEndScan()
                    self.answersPassed += 1
                    continue
                }
                let rest = UnsafeRawBufferPointer(rebasing: server[min(self.answerStart, server.count)...])
                guard let headEnd = self.answerHead.end(in: rest) else { return }
                let head = UnsafeRawBufferPointer(rebasing: rest[..<headEnd])
                let status = HTTPUpgrade.status(head)
                if status == 101 {
                    let switched = CredentialExtractor.headerValue("upgrade", in: head).map {
                        HTTPUpgrade.names("h2c", in: $0.lowercased())
                    }
                    if switched == true { self.serverOffset = self.answerStart + headEnd } else { self.ended = true }
                    return
                }
                guard status != 0, self.answersPassed < 15, let length = Self.bodyLength(status: status, head: head)
                else {
                    self.ended = true
                    return
                }
                self.answerEnd = self.answerStart + headEnd + length
            }
        }

        /// Reads on in the client's bytes (all of them from the side's start) for the preface, after the request's
        /// headers (`requestEnd`).
        package mutating func readClient(_ client: UnsafeRawBufferPointer, requestEnd: Int) {
            guard self.prefaceOffset == nil else { return }
            // The preface may begin up to 23 bytes before the new ones.
            let from = max(requestEnd, self.prefaceSearchedTo - (HTTP2FrameReader.clientPreface.count - 1))
            self.prefaceOffset = HTTPUpgrade.prefaceOffset(in: client, from: from)
            self.prefaceSearchedTo = client.count
        }

        /// The length of the body of an answer that is not a `101`; nil where the head does not tell it.
        private static func bodyLength(status: Int, head: UnsafeRawBufferPointer) -> Int? {
            // RFC 9112 §6.3: 1xx, 204 and 304 answers have no body.
            if status < 200 || status == 204 || status == 304 { return 0 }
            guard CredentialExtractor.headerValue("transfer-encoding", in: head) == nil,
                let text = CredentialExtractor.headerValue("content-length", in: head), let length = Int(text),
                length >= 0
            else { return nil }
            return length
        }
    }

    /// Whether a client's first bytes may be an upgrade request: a request whose headers ask for one
    /// (``target(_:)``), or are not whole yet (a request cut into several segments).
    package static func mayBeUpgradeRequest(_ client: UnsafeRawBufferPointer) -> Bool {
        // Most requests name no upgrade: told by the few colons in them, before the end of the headers is looked for.
        guard CredentialExtractor.hasColon(after: "upgrade", in: client) else {
            return Self.startsLikeRequest(client) && TunnelDetector.endOfHeaders(client) == nil
        }
        guard let end = TunnelDetector.endOfHeaders(client) else { return Self.startsLikeRequest(client) }
        return Self.target(UnsafeRawBufferPointer(rebasing: client[..<end])) != nil
    }

    /// What a request's whole header block asks to upgrade to: a WebSocket (a `GET` whose `Upgrade` is `websocket`),
    /// or HTTP/2 (`h2c` among the `Upgrade` header's comma-separated protocols); nil for neither.
    package static func target(_ head: UnsafeRawBufferPointer) -> Target? {
        guard let value = CredentialExtractor.headerValue("upgrade", in: head)?.lowercased() else { return nil }
        if value == "websocket" { return head.starts(with: "GET ") ? .webSocket : nil }
        return Self.names("h2c", in: value) ? .h2c : nil
    }

    /// The status of an HTTP/1 answer's header block (`HTTP/1.1 101 Switching Protocols`); 0 when it has none.
    static func status(_ response: UnsafeRawBufferPointer) -> Int {
        guard response.starts(with: "HTTP/1."), response.count >= 12, response[8] == UInt8(ascii: " ") else { return 0 }
        return Int(String(decoding: UnsafeRawBufferPointer(rebasing: response[9..<12]), as: UTF8.self)) ?? 0
    }

    /// The path of a request's header block (`GET /path?query HTTP/1.1`), without its query, fragment or path
    /// parameters, printable; `/` when it has none. A path parameter can be a session credential (a servlet
    /// container's `;jsessionid=…` URL rewriting), so each segment is cut at its `;` (`/chat;room=1/ws` is `/chat/ws`).
    /// A request in absolute form (`GET http://user:password@host/ws`, as sent to a proxy) keeps only its path: the
    /// authority may hold a user and password, and the path is printed.
    static func path(_ request: UnsafeRawBufferPointer) -> String {
        let lineEnd = request.firstIndex(of: UInt8(ascii: "\n")) ?? request.count
        let words = UnsafeRawBufferPointer(rebasing: request[..<lineEnd]).split(separator: UInt8(ascii: " "))
        var target = words.count >= 2 ? words[1] : request[0..<0]
        target = target.prefix { $0 != UInt8(ascii: "?") && $0 != UInt8(ascii: "#") }
        if target.first != UInt8(ascii: "/"), let scheme = Self.firstIndex(of: "://", in: target) {
            let authority = target[(scheme + 3)...]
            target =
                authority.firstIndex(of: UInt8(ascii: "/")).map { authority[$0...] } ?? authority[authority.endIndex...]
        }
        var path: [UInt8] = []
        var inParameter = false
        for byte in target {
            if byte == UInt8(ascii: "/") { inParameter = false }
            if byte == UInt8(ascii: ";") { inParameter = true }
            if !inParameter { path.append(byte) }
        }
        return path.isEmpty ? "/" : path.withUnsafeBytes { $0.printableText }
    }

    /// Where `needle` starts in `bytes`, as an index of `bytes`.
    private static func firstIndex(of needle: StaticString, in bytes: Slice<UnsafeRawBufferPointer>) -> Int? {
        let pattern = UnsafeRawBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
        guard bytes.count >= pattern.count else { return nil }
        for start in bytes.startIndex...(bytes.endIndex - pattern.count)
        where bytes[start..<(start + pattern.count)].elementsEqual(pattern) {
            return start
        }
        return nil
    }

    /// Where HTTP/2's client connection preface starts in `client` at or after `start`; nil when it is not there.
    static func prefaceOffset(in client: UnsafeRawBufferPointer, from start: Int) -> Int? {
        let preface = HTTP2FrameReader.clientPreface
        guard let base = client.baseAddress, start <= client.count else { return nil }
        var from = start
        // Each `P` found with memchr, then compared: a request body before the preface may be long.
        while client.count - from >= preface.count, let found = memchr(base + from, 0x50, client.count - from) {
            let index = base.distance(to: UnsafeRawPointer(found))
            guard client.count - index >= preface.count else { return nil }
            if UnsafeRawBufferPointer(rebasing: client[index..<(index + preface.count)]).elementsEqual(preface) {
                return index
            }
            from = index + 1
        }
        return nil
    }

    /// Whether a comma-separated list of protocols (lower-cased) names `name`, alone or with a version (`h2c/2`).
    static func names(_ name: Substring, in list: String) -> Bool {
        list.split(separator: ",").contains {
            let token = $0.trimmingCharacters(in: .whitespaces)
            return token == name || token.hasPrefix(name + "/")
        }
    }

    /// Whether the bytes start as a request line does (a method's capital letter), not as an answer (`HTTP/`).
    private static func startsLikeRequest(_ client: UnsafeRawBufferPointer) -> Bool {
        guard let first = client.first, first >= UInt8(ascii: "A"), first <= UInt8(ascii: "Z") else { return false }
        return !client.starts(with: "HTTP/")
    }
}
