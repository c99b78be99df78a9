import BulkheadModel
import Foundation
import Testing

@testable import PacketAnalysis

/// Proxy tunnels (SOCKS 4, 4a, 5, HTTP CONNECT) and the XMPP / IRC upgrades, on assembled conversations.
@Suite("Tunnels and XMPP / IRC STARTTLS")
struct TunnelTests {
    static let clientHello = TLSDissectionTests.record(22, TLSDissectionTests.clientHello(sni: "api.test", alpn: []))
    static let serverHello = TLSDissectionTests.record(
        22, TLSDissectionTests.serverHello(version: 0x0303, suite: 0xc030))

    /// One conversation: the client's and the proxy's messages in turn, then a TLS hello each way.
    static func flow(_ exchange: [(fromClient: Bool, bytes: [UInt8])], tls: Bool = true, port: Int = 1080) throws
        -> FlowRecord
    {
        var conversation = TCPConversation(serverPort: port)
        conversation.handshake()
        for message in exchange { conversation.send(message.bytes, fromClient: message.fromClient) }
        if tls {
            conversation.send(clientHello, fromClient: true)
            conversation.send(serverHello, fromClient: false)
        }
        conversation.close()
        let flows = try analyze(conversation.pcap).flows
        try #require(flows.count == 1)
        return flows[0]
    }

    static func socks5Request(_ address: [UInt8], port: Int) -> [UInt8] {
        [5, 1, 0] + address + PacketBuilder.be16(port)
    }
    static let socks5Granted: [UInt8] = [5, 0, 0, 1, 198, 19, 211, 2, 0x9c, 0x40]

    // MARK: - SOCKS

    @Test("SOCKS 4: the TLS after the grant is analysed and attributed to the requested address")
    func socks4() throws {
        let record = try Self.flow([
            (true, [4, 1] + PacketBuilder.be16(443) + [198, 19, 211, 9] + Array("alice") + [0]),
            (false, [0, 90, 0, 0, 0, 0, 0, 0]),
        ])
        #expect(record.proto == .tls)
        #expect(record.encrypted)
        #expect(record.tls?.sni == "api.test")
        #expect(record.tls?.version == "1.2")
        #expect(record.tunnel?.destination == "198.19.211.9:443")
        #expect(record.tunnel?.proxy == "198.18.0.2:1080")
        #expect(
            record.tunnel?.hops == [
                TunnelHop(
                    kind: "socks4", destination: "198.19.211.9:443", outcome: "granted", reply: 90,
                    authentication: "userid")
            ])
        #expect(record.credentials.isEmpty, "a SOCKS 4 user id is a name, not a secret")
    }

    @Test("SOCKS 4a: the host name after the user id is the destination")
    func socks4a() throws {
        let record = try Self.flow([
            (true, [4, 1] + PacketBuilder.be16(5432) + [0, 0, 0, 1] + [0] + Array("db.internal") + [0]),
            (false, [0, 90, 0, 0, 0, 0, 0, 0]),
        ])
        #expect(record.proto == .tls)
        #expect(record.tunnel?.destination == "db.internal:5432")
        #expect(record.tunnel?.hops.first?.kind == "socks4a")
    }

    @Test("SOCKS 4 refused (91): no tunnel, nothing classified behind it")
    func socks4Refused() throws {
        let record = try Self.flow([
            (true, [4, 1] + PacketBuilder.be16(443) + [198, 19, 211, 9] + [0]),
            (false, [0, 91, 0, 0, 0, 0, 0, 0]),
        ])
        #expect(record.proto == .socks4)
        #expect(record.tls == nil)
        #expect(record.tunnel?.destination == nil)
        #expect(record.tunnel?.hops.first?.outcome == "refused")
        #expect(record.tunnel?.hops.first?.reply == 91)
    }

    @Test("SOCKS 5 without authentication, a domain name destination")
    func socks5NoAuth() throws {
        let name = Array("api.test".utf8)
        let record = try Self.flow([
            (true, [5, 1, 0]), (false, [5, 0]),
            (true, Self.socks5Request([3, UInt8(name.count)] + name, port: 8443)), (false, Self.socks5Granted),
        ])
        #expect(record.proto == .tls)
        #expect(record.tls?.sni == "api.test")
        #expect(record.tunnel?.destination == "api.test:8443")
        #expect(record.tunnel?.hops.first?.authentication == "none")
        #expect(record.credentials.isEmpty)
    }

    @Test("SOCKS 5 to an IPv6 destination")
    func socks5IPv6() throws {
        let address: [UInt8] = [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]
        let record = try Self.flow([
            (true, [5, 2, 0, 2]), (false, [5, 0]),
            (true, Self.socks5Request([4] + address, port: 443)), (false, Self.socks5Granted),
        ])
        #expect(record.tunnel?.destination == "[2001:db8::1]:443")
        #expect(record.proto == .tls)
    }

    @Test("SOCKS 5 username/password: the password is a credential in clear, reported by length only")
    func socks5Password() throws {
        let password = "s3cret-proxy-pass"
        let record = try Self.flow([
            (true, [5, 2, 0, 2]), (false, [5, 2]),
            (true, [1, 3] + Array("bob".utf8) + [UInt8(password.utf8.count)] + Array(password.utf8)), (false, [1, 0]),
            (true, Self.socks5Request([1, 198, 19, 211, 2], port: 443)), (false, Self.socks5Granted),
        ])
        #expect(record.proto == .tls)
        #expect(record.tunnel?.hops.first?.authentication == "username-password")
        #expect(record.credentials.count == 1)
        #expect(record.credentials.first?.kind == "socks5-username-password")
        #expect(record.credentials.first?.user == "bob")
        #expect(record.credentials.first?.redacted == "password: 17 characters (redacted)")
        let json = String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
        #expect(!json.contains(password))
        let findings = FlowFindings.findings(for: record)
        // Located at the proxy (the endpoint the packets went to); the title names the destination beside it.
        #expect(
            findings.contains {
                $0.kind == .credentialsInCleartext && $0.location == "198.18.0.2:1080"
                    && $0.title.contains("198.19.211.2:443 via 198.18.0.2:1080")
            })
    }

    @Test("SOCKS 5 with a failed password: refused, and the password still crossed in clear")
    func socks5PasswordRejected() throws {
        let record = try Self.flow(
            [
                (true, [5, 1, 2]), (false, [5, 2]),
                (true, [1, 1] + Array("x".utf8) + [4] + Array("nope".utf8)), (false, [1, 1]),
            ], tls: false)
        #expect(record.proto == .socks5)
        #expect(record.tunnel?.hops.first?.outcome == "refused")
        #expect(record.credentials.map(\.kind) == ["socks5-username-password"])
    }

    // MARK: - HTTP CONNECT

    @Test("CONNECT with proxy credentials: the TLS inside is analysed, the Basic credentials reported")
    func connect() throws {
        let record = try Self.flow(
            [
                (
                    true,
                    Array(
                        "CONNECT api.test:443 HTTP/1.1\r\nHost: api.test:443\r\nProxy-Authorization: Basic Y2Fyb2w6aHVudGVyMg==\r\n\r\n"
                            .utf8)
                ),
                (false, Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8)),
            ], port: 3128)
        #expect(record.proto == .tls)
        #expect(record.tls?.sni == "api.test")
        #expect(record.tunnel?.destination == "api.test:443")
        #expect(
            record.tunnel?.hops == [
                TunnelHop(
                    kind: "http-connect", destination: "api.test:443", outcome: "granted", reply: 200,
                    authentication: "basic")
            ])
        #expect(record.credentials.map(\.kind) == ["http-basic"])
        #expect(record.credentials.first?.user == "carol")
    }

    @Test("a refused CONNECT (407, 403) opens no tunnel, whatever follows it", arguments: [407, 403])
    func connectRefused(status: Int) throws {
        let garbage: [UInt8] =
            [0x16, 0x03, 0x01, 0x00, 0x05, 0x01] + (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        let record = try Self.flow(
            [
                (true, Array("CONNECT api.test:443 HTTP/1.1\r\nHost: api.test:443\r\n\r\n".utf8)),
                (false, Array("HTTP/1.1 \(status) No\r\nContent-Length: 0\r\n\r\n".utf8)),
                (true, garbage),
            ], tls: false, port: 3128)
        #expect(record.proto == .http)
        #expect(record.tls == nil)
        #expect(!record.encrypted)
        #expect(record.tunnel?.destination == nil)
        #expect(record.tunnel?.hops.first?.outcome == "refused")
        #expect(record.tunnel?.hops.first?.reply == status)
    }

    @Test("a CONNECT response without the end of its headers is settled as incomplete, within the window")
    func connectWithoutEndOfHeaders() throws {
        var filler = Array("HTTP/1.1 200 Connection established\r\n".utf8)
        for index in 0..<3000 { filler += Array("X-Padding-\(index): y\r\n".utf8) }
        let record = try Self.flow(
            [
                (true, Array("CONNECT api.test:443 HTTP/1.1\r\n\r\n".utf8)),
                (false, filler),
            ], tls: false, port: 3128)
        #expect(record.proto == .http)
        #expect(record.tls == nil)
        #expect(record.tunnel?.hops.first?.outcome == "incomplete")
        #expect(record.tunnel?.hops.first?.destination == "api.test:443")
    }

    @Test("a CONNECT request whose headers never end does not buffer past the window")
    func connectRequestWithoutEnd() throws {
        var request = Array("CONNECT api.test:443 HTTP/1.1\r\n".utf8)
        for index in 0..<4000 { request += Array("X-\(index): z\r\n".utf8) }
        let record = try Self.flow([(true, request)], tls: false, port: 3128)
        #expect(record.proto == .http)
        #expect(record.tunnel?.hops.first?.outcome == "incomplete")
        #expect(record.anomalies.contains("inspection-limit"))
    }

    // MARK: - Nesting

    @Test("CONNECT inside SOCKS 5: both hops, the TLS attributed to the CONNECT's destination")
    func nested() throws {
        let proxyName = Array("proxy2.test".utf8)
        let record = try Self.flow([
            (true, [5, 1, 0]), (false, [5, 0]),
            (true, Self.socks5Request([3, UInt8(proxyName.count)] + proxyName, port: 3128)),
            (false, Self.socks5Granted),
            (true, Array("CONNECT api.test:443 HTTP/1.1\r\n\r\n".utf8)),
            (false, Array("HTTP/1.1 200 OK\r\n\r\n".utf8)),
        ])
        #expect(record.proto == .tls)
        #expect(record.tunnel?.hops.map(\.kind) == ["socks5", "http-connect"])
        #expect(record.tunnel?.hops.map(\.destination) == ["proxy2.test:3128", "api.test:443"])
        #expect(record.tunnel?.destination == "api.test:443")
    }

    @Test("nesting is bounded: a third proxy request is not unwrapped")
    func nestingBounded() throws {
        let record = try Self.flow([
            (true, [5, 1, 0]), (false, [5, 0]),
            (true, Self.socks5Request([1, 198, 19, 211, 3], port: 3128)), (false, Self.socks5Granted),
            (true, Array("CONNECT proxy3.test:3128 HTTP/1.1\r\n\r\n".utf8)),
            (false, Array("HTTP/1.1 200 OK\r\n\r\n".utf8)),
            (true, Array("CONNECT api.test:443 HTTP/1.1\r\n\r\n".utf8)),
            (false, Array("HTTP/1.1 200 OK\r\n\r\n".utf8)),
        ])
        #expect(record.tunnel?.hops.count == TunnelDetector.maximumDepth)
        #expect(record.proto == .http)
        #expect(record.tls == nil)
        #expect(record.tunnel?.destination == "proxy3.test:3128")
    }

    // MARK: - Lying lengths and truncation

    static let lyingHandshakes: [(String, [UInt8], [UInt8], String)] = [
        (
            "SOCKS 5 reply: domain length past the data", [5, 1, 0] + socks5Request([1, 198, 19, 211, 2], port: 443),
            [5, 0, 5, 0, 0, 3, 200] + Array("short".utf8), "incomplete"
        ),
        (
            "SOCKS 5 reply: truncated", [5, 1, 0] + socks5Request([1, 198, 19, 211, 2], port: 443), [5, 0, 5, 0],
            "incomplete"
        ),
        (
            "SOCKS 5 reply: unknown address type", [5, 1, 0] + socks5Request([1, 198, 19, 211, 2], port: 443),
            [5, 0, 5, 0, 0, 9, 1, 2, 3, 4, 5, 6], "malformed"
        ),
        (
            "SOCKS 5 request: domain length past the data", [5, 1, 0, 5, 1, 0, 3, 250] + Array("a.test".utf8), [5, 0],
            "incomplete"
        ),
        ("SOCKS 5 request: empty domain", [5, 1, 0, 5, 1, 0, 3, 0, 1, 187], [5, 0], "malformed"),
        (
            "SOCKS 5: password length past the data", [5, 1, 2, 1, 3] + Array("bob".utf8) + [240] + Array("pw".utf8),
            [5, 2], "incomplete"
        ),
        ("SOCKS 5: zero methods", [5, 0, 0], [5, 0], "malformed"),
        ("SOCKS 5: reply of another version", [5, 1, 0], [4, 0], "malformed"),
        (
            "SOCKS 5: BIND", [5, 1, 0, 5, 2, 0, 1, 198, 19, 211, 2, 1, 187], [5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0],
            "unsupported"
        ),
        ("SOCKS 4 reply: truncated", [4, 1, 1, 187, 198, 19, 211, 2, 0], [0, 90, 1], "incomplete"),
        (
            "SOCKS 4: user id without its NUL", [4, 1, 1, 187, 198, 19, 211, 2] + [UInt8](repeating: 0x41, count: 400),
            [0, 90], "malformed"
        ),
        (
            "SOCKS 4a: host name without its NUL", [4, 1, 1, 187, 0, 0, 0, 9, 0] + Array("db".utf8),
            [0, 90, 0, 0, 0, 0, 0, 0], "incomplete"
        ),
        (
            "SOCKS 4: an empty user id, granted", [4, 1, 1, 187, 198, 19, 211, 2, 0], [0, 90, 0, 0, 0, 0, 0, 0],
            "granted"
        ),
        (
            "SOCKS 4: a reply code out of range", [4, 1, 1, 187, 198, 19, 211, 2, 0], [0, 17, 0, 0, 0, 0, 0, 0],
            "malformed"
        ),
        (
            "CONNECT: request line without a version", Array("CONNECT api.test:443\r\n\r\n".utf8),
            Array("HTTP/1.1 200 OK\r\n\r\n".utf8), "malformed"
        ),
        (
            "CONNECT: response that is not HTTP", Array("CONNECT a:1 HTTP/1.1\r\n\r\n".utf8),
            Array("SSH-2.0-x\r\n\r\n".utf8), "malformed"
        ),
    ]

    @Test(
        "lying or truncated handshakes: a bounded outcome, never a read out of bounds",
        arguments: lyingHandshakes.map { ($0.0, $0.1, $0.2, $0.3) })
    func lyingLengths(name: String, client: [UInt8], server: [UInt8], outcome: String) throws {
        let opening = client.withUnsafeBytes { clientBytes in
            server.withUnsafeBytes { TunnelDetector.open(client: clientBytes, server: $0) }
        }
        #expect(opening?.hop.outcome == outcome, "\(name)")
        if let opening, opening.hop.outcome == "granted" {
            #expect(opening.clientOffset <= client.count && opening.serverOffset <= server.count)
        }
        // The same bytes through the whole analyser, as a real flow: no crash, one flow, at most the one hop
        // (a greeting the proxy's answer does not confirm is not claimed as SOCKS at all).
        let record = try Self.flow([(true, client), (false, server)], tls: false)
        #expect((record.tunnel?.hops.count ?? 0) <= 1, "\(name)")
        #expect(record.tls == nil)
    }

    @Test("every prefix of a valid handshake waits (incomplete), and only the whole one is granted")
    func prefixes() {
        let client: [UInt8] =
            [5, 1, 2, 1, 3] + Array("bob".utf8) + [2] + Array("pw".utf8)
            + Self.socks5Request([1, 198, 19, 211, 2], port: 443)
        let server: [UInt8] = [5, 2, 1, 0] + Self.socks5Granted
        for cut in 0..<client.count {
            let opening = Array(client[..<cut]).withUnsafeBytes { clientBytes in
                server.withUnsafeBytes { TunnelDetector.open(client: clientBytes, server: $0) }
            }
            #expect(opening == nil ? cut == 0 : opening?.hop.outcome == "incomplete", "client cut at \(cut)")
        }
        for cut in 0..<server.count {
            let opening = client.withUnsafeBytes { clientBytes in
                Array(server[..<cut]).withUnsafeBytes { TunnelDetector.open(client: clientBytes, server: $0) }
            }
            #expect(opening?.hop.outcome == "incomplete", "server cut at \(cut)")
        }
        let whole = client.withUnsafeBytes { clientBytes in
            server.withUnsafeBytes { TunnelDetector.open(client: clientBytes, server: $0) }
        }
        #expect(whole?.hop.outcome == "granted")
        #expect(whole?.clientOffset == client.count && whole?.serverOffset == server.count)
    }

    @Test("random bytes after a proxy signature never crash the reader")
    func randomBytes() {
        var random = SystemRandomNumberGenerator()
        for round in 0..<2000 {
            let prefix: [UInt8] = [[4], [5], Array("CONNECT ".utf8)][round % 3]
            let client =
                prefix
                + (0..<Int.random(in: 0...40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            let server = (0..<Int.random(in: 0...40, using: &random)).map { _ in UInt8.random(in: 0...8, using: &random)
            }
            let opening = client.withUnsafeBytes { clientBytes in
                server.withUnsafeBytes { TunnelDetector.open(client: clientBytes, server: $0) }
            }
            if let opening {
                #expect(opening.clientOffset <= client.count && opening.serverOffset <= server.count)
            }
        }
    }

    @Test("a few bytes that only look like a SOCKS greeting are not claimed without the proxy's answer")
    func socksNeedsReply() {
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        let greeting: [UInt8] = [5, 1, 0]
        #expect(greeting.withUnsafeBytes { TunnelDetector.socksProtocol($0, reply: empty) } == nil)
        #expect(
            greeting.withUnsafeBytes { client in
                [UInt8]([5, 7]).withUnsafeBytes { TunnelDetector.socksProtocol(client, reply: $0) }
            } == nil)
        #expect(
            greeting.withUnsafeBytes { client in
                [UInt8]([5, 0]).withUnsafeBytes { TunnelDetector.socksProtocol(client, reply: $0) }
            } == .socks5)
    }

    // MARK: - XMPP and IRC STARTTLS

    @Test("XMPP STARTTLS, client-to-server and server-to-server", arguments: ["jabber:client", "jabber:server"])
    func xmpp(namespace: String) throws {
        let record = try Self.flow(
            [
                (
                    true,
                    Array(
                        "<?xml version='1.0'?><stream:stream xmlns='\(namespace)' xmlns:stream='http://etherx.jabber.org/streams' to='chat.test' version='1.0'>"
                            .utf8)
                ),
                (
                    false,
                    Array(
                        "<?xml version='1.0'?><stream:stream xmlns='\(namespace)' xmlns:stream='http://etherx.jabber.org/streams' id='1' version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"
                            .utf8)
                ),
                (true, Array("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>".utf8)),
                (false, Array("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>".utf8)),
            ], port: 5222)
        #expect(record.proto == .xmpp)
        #expect(record.starttls)
        #expect(record.encrypted)
        #expect(record.tls?.sni == "api.test")
        #expect(record.tls?.version == "1.2")
        #expect(record.tunnel == nil)
    }

    @Test("XMPP without an upgrade stays plaintext")
    func xmppPlain() throws {
        let record = try Self.flow(
            [
                (
                    true,
                    Array(
                        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
                            .utf8)
                ),
                (false, Array("<stream:stream xmlns='jabber:client' id='1'><stream:features/>".utf8)),
            ], tls: false, port: 5222)
        #expect(record.proto == .xmpp)
        #expect(!record.starttls && !record.encrypted)
    }

    @Test("IRC STARTTLS answered by numeric 670, with and without registration first")
    func irc() throws {
        for opening in ["STARTTLS\r\n", "CAP LS 302\r\nSTARTTLS\r\n"] {
            let record = try Self.flow(
                [
                    (true, Array(opening.utf8)),
                    (
                        false,
                        Array(
                            ":irc.test NOTICE * :*** Looking up your hostname\r\n:irc.test 670 * :STARTTLS successful, go ahead with TLS handshake\r\n"
                                .utf8)
                    ),
                ], port: 6667)
            #expect(record.proto == .irc, "\(opening)")
            #expect(record.starttls)
            #expect(record.tls?.sni == "api.test")
        }
    }

    @Test("IRC-looking words after another protocol's greeting are not IRC")
    func ircNotClaimed() {
        let verdict = Array("USER alice\r\n".utf8).withUnsafeBytes { client in
            Array("+OK POP3 ready\r\n".utf8).withUnsafeBytes {
                ProtocolClassifier.classify(first: client, second: $0, rolesKnown: true, final: true)
            }
        }
        #expect(verdict?.proto == .pop3)
        let irc = Array("USER guest 0 * :Guest User\r\n".utf8).withUnsafeBytes {
            ProtocolClassifier.classify(
                first: $0, second: UnsafeRawBufferPointer(start: nil, count: 0), rolesKnown: true, final: true)
        }
        #expect(irc?.proto == .irc)
    }
}
