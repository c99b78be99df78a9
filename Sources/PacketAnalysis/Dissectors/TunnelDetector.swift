import BulkheadModel
import Foundation

/// Reads the proxy handshake at the start of a flow (SOCKS 4, 4a and 5, HTTP `CONNECT`) and finds where the
/// tunnelled conversation starts in each direction, so that the analyser can classify what crosses the tunnel
/// (typically TLS to the destination) instead of reporting it as unknown bytes after a proxy request.
///
/// Only the first bytes of a flow are read, from the buffers the classifier already keeps, and every length
/// the client or the proxy sends is checked against the bytes there: a length that points past them means
/// "wait for more" until the capture or the inspection window ends, never a read out of bounds.
package enum TunnelDetector {
    /// Proxy requests followed into one flow. A CONNECT sent through a SOCKS tunnel is two; a third level is
    /// reported as the plaintext it is, not unwrapped (nothing legitimate nests deeper, and each level could
    /// otherwise buy a hostile stream another inspection window).
    static let maximumDepth = 2

    /// Longest SOCKS 4 user id or 4a host name read (the protocol puts no limit on either; clients keep them
    /// well under this).
    static let maximumSOCKS4Field = 255

    /// What reading a proxy handshake found.
    package struct Opening {
        var hop: TunnelHop
        /// Where the tunnelled stream starts in the client's and the proxy's bytes (when `hop.outcome` is
        /// `granted`).
        package var clientOffset = 0
        package var serverOffset = 0
        /// A password (or token) the client sent the proxy, described without the secret.
        var credentials: [Credential] = []

        init(kind: String) {
            self.hop = TunnelHop(
                kind: kind, destination: nil, outcome: Outcome.incomplete, reply: nil, authentication: nil)
        }
    }

    /// The outcomes written into ``TunnelHop/outcome``.
    enum Outcome {
        static let granted = "granted"
        static let refused = "refused"
        static let incomplete = "incomplete"
        static let malformed = "malformed"
        static let unsupported = "unsupported"
    }

    // MARK: - Recognising a proxy request

    /// The SOCKS version of a client's first bytes, confirmed by the proxy's answer (a greeting alone is a
    /// few bytes that many binary protocols could start with, so nothing is claimed before the reply).
    package static func socksProtocol(_ client: UnsafeRawBufferPointer, reply: UnsafeRawBufferPointer)
        -> ApplicationProtocol?
    {
        guard client.count >= 3, reply.count >= 2 else { return nil }
        switch client[0] {
        case 4:
            // VN 4, CD 1 (CONNECT) or 2 (BIND), DSTPORT, DSTIP, a NUL-terminated USERID; answered VN 0 (4 by
            // some servers), CD 90…93.
            guard client.count >= 9, client[1] == 1 || client[1] == 2, client[8...].contains(0) else { return nil }
            return (reply[0] == 0 || reply[0] == 4) && (90...93).contains(reply[1]) ? .socks4 : nil
        case 5:
            // VER 5, NMETHODS ≥ 1, the methods; answered VER 5 and one of the offered methods, or 0xFF (none).
            let methods = Int(client[1])
            guard methods >= 1, client.count >= 2 + methods, reply[0] == 5 else { return nil }
            return reply[1] == 0xff || client[2..<(2 + methods)].contains(reply[1]) ? .socks5 : nil
        default:
            return nil
        }
    }

    /// Whether a client's first bytes are an HTTP `CONNECT` request.
    static func isConnectRequest(_ client: UnsafeRawBufferPointer) -> Bool {
        client.starts(with: "CONNECT ")
    }

    // MARK: - Reading the handshake

    /// Reads the proxy handshake in the bytes each side sent so far. The outcome is `incomplete` while an
    /// answer (or part of a request) is still missing.
    package static func open(client: UnsafeRawBufferPointer, server: UnsafeRawBufferPointer) -> Opening? {
        guard let first = client.first else { return nil }
        switch first {
        case 4: return socks4(client: client, server: server)
        case 5: return socks5(client: client, server: server)
        default: return isConnectRequest(client) ? httpConnect(client: client, server: server) : nil
        }
    }

    /// SOCKS 4 / 4a: `04 CD DSTPORT DSTIP USERID 00 [HOST 00]`, answered `00 CD DSTPORT DSTIP` (8 bytes).
    static func socks4(client: UnsafeRawBufferPointer, server: UnsafeRawBufferPointer) -> Opening {
        var opening = Opening(kind: "socks4")
        var request = ByteCursor(client)
        guard request.u8() == 4, let command = request.u8(), let port = request.u16(), let address = request.u32()
        else {
            return opening
        }
        guard let userID = nulTerminated(&request) else {
            if request.remaining > maximumSOCKS4Field { opening.hop.outcome = Outcome.malformed }
            return opening
        }
        opening.hop.authentication = userID.isEmpty ? "none" : "userid"
        // SOCKS 4a: DSTIP 0.0.0.x (x ≠ 0) says a host name follows the user id, for the proxy to resolve.
        if address & 0xffff_ff00 == 0 && address != 0 {
            opening.hop.kind = "socks4a"
            guard let host = nulTerminated(&request) else {
                if request.remaining > maximumSOCKS4Field { opening.hop.outcome = Outcome.malformed }
                return opening
            }
            guard !host.isEmpty else {
                opening.hop.outcome = Outcome.malformed
                return opening
            }
            opening.hop.destination = "\(host.printableText):\(port)"
        } else {
            opening.hop.destination = "\(IPAddress(ipv4: address).description):\(port)"
        }
        guard command == 1 else {
            opening.hop.outcome = Outcome.unsupported  // BIND: the proxy connects back; nothing to follow here
            return opening
        }
        var reply = ByteCursor(server)
        guard let version = reply.u8(), let code = reply.u8(), reply.skip(6) else { return opening }
        opening.hop.reply = Int(code)
        guard version == 0 || version == 4, (90...93).contains(code) else {
            opening.hop.outcome = Outcome.malformed
            return opening
        }
        opening.hop.outcome = code == 90 ? Outcome.granted : Outcome.refused
        opening.clientOffset = request.offset
        opening.serverOffset = reply.offset
        return opening
    }

    /// SOCKS 5 (RFC 1928): greeting and method choice, the username/password sub-negotiation (RFC 1929) when
    /// chosen, then the CONNECT request and its reply.
    static func socks5(client: UnsafeRawBufferPointer, server: UnsafeRawBufferPointer) -> Opening {
        var opening = Opening(kind: "socks5")
        var request = ByteCursor(client)
        var reply = ByteCursor(server)
        guard request.u8() == 5, let methodCount = request.u8() else { return opening }
        guard methodCount > 0 else {
            opening.hop.outcome = Outcome.malformed
            return opening
        }
        guard request.skip(Int(methodCount)) else { return opening }
        guard let replyVersion = reply.u8(), let method = reply.u8() else { return opening }
        guard replyVersion == 5 else {
            opening.hop.outcome = Outcome.malformed
            return opening
        }
        switch method {
        case 0x00:
            opening.hop.authentication = "none"
        case 0x02:
            opening.hop.authentication = "username-password"
            // VER 1, ULEN, UNAME, PLEN, PASSWD; answered VER 1, STATUS (0: success).
            guard let version = request.u8(), let userLength = request.u8() else { return opening }
            guard version == 1 else {
                opening.hop.outcome = Outcome.malformed
                return opening
            }
            guard let user = request.bytes(Int(userLength)), let passwordLength = request.u8(),
                request.skip(Int(passwordLength))
            else { return opening }
            // The password crossed in clear: only its length is kept.
            opening.credentials = [
                Credential(
                    kind: "socks5-username-password", user: user.printableText,
                    redacted: CredentialExtractor.secretDescription("password", Int(passwordLength)))
            ]
            guard let statusVersion = reply.u8(), let status = reply.u8() else { return opening }
            guard statusVersion == 1 else {
                opening.hop.outcome = Outcome.malformed
                return opening
            }
            if status != 0 {
                opening.hop.outcome = Outcome.refused
                opening.hop.reply = Int(status)
                return opening
            }
        case 0xff:
            opening.hop.outcome = Outcome.refused  // no acceptable method
            opening.hop.reply = 0xff
            return opening
        default:
            // GSSAPI and private methods wrap what follows: it cannot be read as a request.
            opening.hop.authentication = "method \(method)"
            opening.hop.outcome = Outcome.unsupported
            return opening
        }
        // VER 5, CMD, RSV 0, ATYP, DST.ADDR, DST.PORT
        guard let version = request.u8(), let command = request.u8(), let reserved = request.u8() else {
            return opening
        }
        guard version == 5, reserved == 0 else {
            opening.hop.outcome = Outcome.malformed
            return opening
        }
        guard let destination = socks5Endpoint(&request, &opening) else { return opening }
        opening.hop.destination = destination
        guard command == 1 else {
            opening.hop.outcome = Outcome.unsupported  // BIND or UDP ASSOCIATE
            return opening
        }
        // VER 5, REP, RSV 0, ATYP, BND.ADDR, BND.PORT
        guard let answerVersion = reply.u8(), let code = reply.u8(), let answerReserved = reply.u8() else {
            return opening
        }
        opening.hop.reply = Int(code)
        guard answerVersion == 5, answerReserved == 0 else {
            opening.hop.outcome = Outcome.malformed
            return opening
        }
        if code != 0 {
            // A refusal may end the connection without a bound address: the code is the answer.
            opening.hop.outcome = code <= 8 ? Outcome.refused : Outcome.malformed
            return opening
        }
        // BND.ADDR and BND.PORT say nothing the analysis needs, but the tunnel starts after them.
        guard socks5Endpoint(&reply, &opening) != nil else { return opening }
        opening.hop.outcome = Outcome.granted
        opening.clientOffset = request.offset
        opening.serverOffset = reply.offset
        return opening
    }

    /// ATYP (1 IPv4, 3 a length-prefixed name, 4 IPv6), the address and the port, as `host:port`. nil while
    /// bytes are missing, and for an address that cannot be right (then the opening is marked malformed).
    static func socks5Endpoint(_ cursor: inout ByteCursor, _ opening: inout Opening) -> String? {
        guard let type = cursor.u8() else { return nil }
        let host: String
        switch type {
        case 1:
            guard let address = cursor.u32() else { return nil }
            host = IPAddress(ipv4: address).description
        case 3:
            guard let length = cursor.u8() else { return nil }
            guard length > 0 else {
                opening.hop.outcome = Outcome.malformed
                return nil
            }
            guard let name = cursor.bytes(Int(length)) else { return nil }
            host = name.printableText
        case 4:
            guard let word0 = cursor.u32(), let word1 = cursor.u32(), let word2 = cursor.u32(), let word3 = cursor.u32()
            else {
                return nil
            }
            let address = IPAddress(
                ipv6High: UInt64(word0) << 32 | UInt64(word1), low: UInt64(word2) << 32 | UInt64(word3))
            host = "[" + address.description + "]"
        default:
            opening.hop.outcome = Outcome.malformed
            return nil
        }
        guard let port = cursor.u16() else { return nil }
        return "\(host):\(port)"
    }

    /// HTTP `CONNECT host:port HTTP/1.x` and its headers, answered by a status line and headers; a 2xx status
    /// opens the tunnel right after the blank line that ends the response headers.
    static func httpConnect(client: UnsafeRawBufferPointer, server: UnsafeRawBufferPointer) -> Opening {
        var opening = Opening(kind: "http-connect")
        guard let requestEnd = endOfHeaders(client) else { return opening }
        let request = UnsafeRawBufferPointer(rebasing: client[..<requestEnd])
        let lineEnd = request.firstIndex(of: UInt8(ascii: "\n")) ?? request.count
        let words = UnsafeRawBufferPointer(rebasing: request[..<lineEnd]).split(separator: UInt8(ascii: " "))
        guard words.count >= 3, let target = words.dropFirst().first, !target.isEmpty,
            UnsafeRawBufferPointer(rebasing: words[2]).starts(with: "HTTP/1.")
        else {
            opening.hop.outcome = Outcome.malformed
            return opening
        }
        opening.hop.destination = UnsafeRawBufferPointer(rebasing: target).printableText
        opening.credentials = CredentialExtractor.http(request)
        opening.hop.authentication = proxyAuthorizationScheme(request) ?? "none"
        guard let responseEnd = endOfHeaders(server) else { return opening }
        // "HTTP/1.x NNN reason"
        guard server.starts(with: "HTTP/1."), responseEnd >= 12, server[8] == UInt8(ascii: " "),
            let status = Int(String(decoding: UnsafeRawBufferPointer(rebasing: server[9..<12]), as: UTF8.self))
        else {
            opening.hop.outcome = Outcome.malformed
            return opening
        }
        opening.hop.reply = status
        opening.hop.outcome = (200...299).contains(status) ? Outcome.granted : Outcome.refused
        opening.clientOffset = requestEnd
        opening.serverOffset = responseEnd
        return opening
    }

    /// The offset just past the blank line that ends an HTTP header block (`\r\n\r\n`, or bare `\n\n`).
    static func endOfHeaders(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        var from = 1
        // Line ends found with memchr: a byte-by-byte loop cost every HTTP request a pass over its headers.
        while from < bytes.count, let found = memchr(base + from, 0x0a, bytes.count - from) {
            let index = base.distance(to: UnsafeRawPointer(found))
            if bytes[index - 1] == 0x0a { return index + 1 }
            if index >= 3, bytes[index - 1] == 0x0d, bytes[index - 2] == 0x0a { return index + 1 }
            from = index + 1
        }
        return nil
    }

    /// The scheme word of a `Proxy-Authorization` header, lowercased.
    static func proxyAuthorizationScheme(_ request: UnsafeRawBufferPointer) -> String? {
        guard let line = CredentialExtractor.lines(request, matching: ["proxy-authorization:"]).first?.text,
            let colon = line.firstIndex(of: ":")
        else { return nil }
        let value = CredentialExtractor.trimmingOWS(line[line.index(after: colon)...])
        let scheme = value.prefix { !CredentialExtractor.isOWS($0) }
        return scheme.isEmpty ? nil : scheme.lowercased()
    }

    /// A NUL-terminated field of at most ``maximumSOCKS4Field`` bytes; nil when no NUL is there (yet).
    static func nulTerminated(_ cursor: inout ByteCursor) -> UnsafeRawBufferPointer? {
        var probe = cursor
        var length = 0
        while length <= maximumSOCKS4Field, let byte = probe.u8() {
            if byte == 0 {
                let field = cursor.bytes(length)
                _ = cursor.skip(1)
                return field
            }
            length += 1
        }
        return nil
    }
}

/// Looks for the end of an HTTP header block in bytes that grow, reading each byte once: a request or answer that
/// arrives a byte per segment must not be searched again from its start at each byte (20 such requests of 16 KiB
/// took 8.8 s where their capture's read takes 0.08 s).
struct HeadersEndScan {
    /// How many bytes were searched.
    private var scanned = 0
    /// The offset just past the header block's blank line, once found.
    private var found: Int?

    /// ``TunnelDetector/endOfHeaders(_:)`` of `bytes`, which hold the bytes searched before and perhaps more.
    mutating func end(in bytes: UnsafeRawBufferPointer) -> Int? {
        if let found = self.found { return found }
        // The blank line may begin up to three bytes before the new ones (`\r\n\r\n`).
        let from = min(max(0, self.scanned - 3), bytes.count)
        if let end = TunnelDetector.endOfHeaders(UnsafeRawBufferPointer(rebasing: bytes[from...])) {
            self.found = from + end
        }
        self.scanned = bytes.count
        return self.found
    }
}
