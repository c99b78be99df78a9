import BulkheadModel
import Certificates
import Testing

@testable import PacketAnalysis

@Suite("TLS dissection")
struct TLSDissectionTests {
    static func record(_ type: UInt8, _ body: [UInt8], version: [UInt8] = [3, 3]) -> [UInt8] {
        [type] + version + PacketBuilder.be16(body.count) + body
    }

    static func handshake(_ type: UInt8, _ body: [UInt8]) -> [UInt8] {
        [type] + PacketBuilder.be24(body.count) + body
    }

    static func extensionBytes(_ type: Int, _ data: [UInt8]) -> [UInt8] {
        PacketBuilder.be16(type) + PacketBuilder.be16(data.count) + data
    }

    static func clientHello(sni: String = "api.test", versions: [UInt16] = [0x0304, 0x0303], alpn: [String] = ["h2"])
        -> [UInt8]
    {
        let name = Array(sni.utf8)
        let serverName = PacketBuilder.be16(name.count + 3) + [0] + PacketBuilder.be16(name.count) + name
        let alpnList = alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        let versionList = versions.flatMap { PacketBuilder.be16(Int($0)) }
        var extensions: [UInt8] = []
        extensions += extensionBytes(0, serverName)
        extensions += extensionBytes(16, PacketBuilder.be16(alpnList.count) + alpnList)
        extensions += extensionBytes(43, [UInt8(versionList.count)] + versionList)
        var body: [UInt8] = [3, 3] + [UInt8](repeating: 0xab, count: 32) + [0]
        body += PacketBuilder.be16(4) + [0x13, 0x01, 0xc0, 0x30] + [1, 0]
        body += PacketBuilder.be16(extensions.count) + extensions
        return handshake(1, body)
    }

    /// `psk`: the server accepts the client's pre-shared key (TLS 1.3 resumption: `pre_shared_key`, identity 0).
    static func serverHello(version: UInt16, suite: UInt16, psk: Bool = false) -> [UInt8] {
        var extensions: [UInt8] = []
        if version == 0x0304 { extensions += extensionBytes(43, PacketBuilder.be16(0x0304)) }
        if psk { extensions += extensionBytes(41, PacketBuilder.be16(0)) }
        var body: [UInt8] = [3, 3] + [UInt8](repeating: 0xcd, count: 32) + [0]
        body += PacketBuilder.be16(Int(suite)) + [0]
        body += PacketBuilder.be16(extensions.count) + extensions
        return handshake(2, body)
    }

    func session(_ client: [[UInt8]], _ server: [[UInt8]]) -> TLSSummary {
        let session = TLSSession(certificates: CertificateCache())
        for index in 0..<max(client.count, server.count) {
            if index < client.count { client[index].withUnsafeBytes { session.consume($0, from: .client) } }
            if index < server.count { server[index].withUnsafeBytes { session.consume($0, from: .server) } }
        }
        return session.finish()
    }

    @Test("TLS 1.2 without a CertificateRequest: not-requested, established after both Finished")
    func tls12NotRequested() {
        let summary = self.session(
            [
                Self.record(22, Self.clientHello(versions: [0x0303])),
                Self.record(20, [1]) + Self.record(22, [UInt8](repeating: 7, count: 40)),
            ],
            [
                Self.record(22, Self.serverHello(version: 0x0303, suite: 0xc030) + Self.handshake(14, [])),
                Self.record(20, [1]) + Self.record(22, [UInt8](repeating: 9, count: 40)),
            ])
        #expect(summary.version == "1.2")
        #expect(summary.cipher == "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")
        #expect(summary.sni == "api.test")
        #expect(summary.alpnOffered == ["h2"])
        #expect(summary.established)
        #expect(summary.establishedBasis == "handshake")
        #expect(summary.clientCertificate == .notRequested)
    }

    @Test("TLS 1.2 CertificateRequest answered with an empty Certificate: declined")
    func tls12Declined() {
        let request = Self.handshake(13, [1, 1] + PacketBuilder.be16(2) + [4, 1] + PacketBuilder.be16(0))
        let summary = self.session(
            [
                Self.record(22, Self.clientHello(versions: [0x0303])),
                Self.record(22, Self.handshake(11, PacketBuilder.be24(0)) + Self.handshake(16, [0]))
                    + Self.record(20, [1]) + Self.record(22, [7, 7, 7]),
            ],
            [
                Self.record(22, Self.serverHello(version: 0x0303, suite: 0x009c) + request + Self.handshake(14, [])),
                Self.record(20, [1]) + Self.record(22, [9, 9, 9]),
            ])
        #expect(summary.clientCertificate == .declined)
        #expect(summary.certificateRequested == true)
        #expect(summary.established)
    }

    @Test("a fatal alert in clear means not established, with the alert named")
    func tls12Alert() {
        let summary = self.session(
            [Self.record(22, Self.clientHello(versions: [0x0303]))],
            [Self.record(22, Self.serverHello(version: 0x0303, suite: 0xc02f)), Self.record(21, [2, 40])])
        #expect(!summary.established)
        #expect(summary.alerts.first?.description == "handshake_failure")
    }

    @Test(
        "TLS 1.3 record-size heuristic",
        arguments: [
            ([69], ClientCertificateState.likelyNotRequested),
            ([53], .likelyNotRequested),
            ([63], .likelyNotRequested),
            ([25, 69], .likelyDeclined),
            ([904, 95, 69], .likelyPresented),
            ([1200, 281, 53], .likelyPresented),
        ])
    func tls13Heuristic(sizes: [Int], state: ClientCertificateState) {
        let clientFlight = sizes.flatMap { Self.record(23, [UInt8](repeating: 1, count: $0)) }
        let summary = self.session(
            [Self.record(22, Self.clientHello()), Self.record(20, [1]) + clientFlight],
            [
                Self.record(22, Self.serverHello(version: 0x0304, suite: 0x1302)) + Self.record(20, [1])
                    + Self.record(23, [UInt8](repeating: 2, count: 800)),
                Self.record(23, [UInt8](repeating: 3, count: 250)) + Self.record(23, [UInt8](repeating: 3, count: 250)),
            ])
        #expect(summary.version == "1.3")
        #expect(summary.clientCertificate == state)
        #expect(summary.established)
        #expect(summary.establishedBasis == "heuristic")
        #expect(summary.clientFlightRecordSizes == sizes)
    }

    /// Review item 3: a resumed TLS 1.3 session was `not-requested` (and a `tls-no-client-auth` finding) on a server
    /// that requires client certificates. A PSK handshake must not carry a CertificateRequest (RFC 8446 §4.3.2); the
    /// session carries the identity of the handshake that made its ticket: unknown here, as TLS 1.2's resumption is.
    @Test("TLS 1.3 resumption (PSK): the client certificate is unknown, and no tls-no-client-auth finding")
    func tls13ResumptionUnknown() throws {
        let client = [
            Self.record(22, Self.clientHello()),
            Self.record(20, [1]) + Self.record(23, [UInt8](repeating: 1, count: 53)),
        ]
        let server = [
            Self.record(22, Self.serverHello(version: 0x0304, suite: 0x1301, psk: true)) + Self.record(20, [1])
                + Self.record(23, [UInt8](repeating: 2, count: 80)),
            Self.record(23, [UInt8](repeating: 3, count: 250)),
        ]
        let summary = self.session(client, server)
        #expect(summary.version == "1.3" && summary.resumed && summary.established)
        #expect(summary.clientCertificate == .unknown)
        // The same flow in a capture file: no finding says the server did not ask for a certificate.
        var conversation = TCPConversation(serverPort: 8443)
        conversation.handshake()
        for index in 0..<2 {
            conversation.send(client[index], fromClient: true)
            conversation.send(server[index], fromClient: false)
        }
        conversation.close()
        let (flows, result) = try analyze(conversation.pcap)
        #expect(flows.count == 1 && flows.first?.tls?.resumed == true)
        #expect(flows.first?.tls?.clientCertificate == .unknown)
        #expect(!result.findings.contains { $0.kind == .tlsNoClientAuth }, "\(result.findings.map(\.kind))")
    }

    @Test("TLS 1.3: a lone alert-sized server record after the client's flight is a rejection")
    func tls13Rejected() {
        let summary = self.session(
            [
                Self.record(22, Self.clientHello()),
                Self.record(23, [UInt8](repeating: 1, count: 25)) + Self.record(23, [UInt8](repeating: 1, count: 69)),
            ],
            [
                Self.record(22, Self.serverHello(version: 0x0304, suite: 0x1302))
                    + Self.record(23, [UInt8](repeating: 2, count: 800)),
                Self.record(23, [UInt8](repeating: 2, count: 19)),
            ])
        #expect(summary.clientCertificate == .likelyDeclined)
        #expect(!summary.established)
        #expect(summary.alerts.first?.inferred == true)
    }

    @Test("HelloRetryRequest is reported and does not confuse the record layer")
    func helloRetry() {
        var hrr = Self.serverHello(version: 0x0304, suite: 0x1301)
        let magic: [UInt8] = [
            0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
            0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
        ]
        hrr.replaceSubrange(6..<38, with: magic)
        let summary = self.session(
            [
                Self.record(22, Self.clientHello()), Self.record(20, [1]) + Self.record(22, Self.clientHello()),
                Self.record(23, [UInt8](repeating: 1, count: 53)),
            ],
            [
                Self.record(22, hrr) + Self.record(20, [1]),
                Self.record(22, Self.serverHello(version: 0x0304, suite: 0x1301))
                    + Self.record(23, [UInt8](repeating: 2, count: 500)),
                Self.record(23, [UInt8](repeating: 2, count: 200)) + Self.record(23, [UInt8](repeating: 2, count: 200)),
            ])
        #expect(summary.helloRetryRequest)
        #expect(summary.version == "1.3")
        #expect(summary.clientCertificate == .likelyNotRequested)
        #expect(summary.established)
    }

    /// A record whole in its segment is read where it lies, one cut across segments is collected first: both give
    /// the same summary, for conversations cut at random places (records, and messages spanning records).
    @Test("records read in place and records collected across segments give the same summary")
    func segmentationDoesNotMatter() {
        let request = Self.handshake(13, [1, 1] + PacketBuilder.be16(2) + [4, 1] + PacketBuilder.be16(0))
        let hello = Self.clientHello(versions: [0x0303])
        let conversations: [([[UInt8]], [[UInt8]])] = [
            (
                [
                    Self.record(22, hello),
                    Self.record(22, Self.handshake(11, PacketBuilder.be24(0)) + Self.handshake(16, [0]))
                        + Self.record(20, [1]) + Self.record(22, [7, 7, 7]),
                ],
                [
                    Self.record(
                        22, Self.serverHello(version: 0x0303, suite: 0x009c) + request + Self.handshake(14, [])),
                    Self.record(20, [1]) + Self.record(22, [9, 9, 9]),
                ]
            ),
            (
                [Self.record(22, Array(hello.prefix(30))) + Self.record(22, Array(hello.dropFirst(30)))],
                [Self.record(22, Self.serverHello(version: 0x0303, suite: 0xc02f)), Self.record(21, [2, 40])]
            ),
            (
                [
                    Self.record(22, Self.clientHello()),
                    Self.record(20, [1]) + Self.record(23, [UInt8](repeating: 5, count: 69)),
                ],
                [
                    Self.record(22, Self.serverHello(version: 0x0304, suite: 0x1302)) + Self.record(20, [1])
                        + Self.record(23, [UInt8](repeating: 6, count: 900)),
                    Self.record(23, [UInt8](repeating: 8, count: 300)),
                ]
            ),
        ]
        var generator = SystemRandomNumberGenerator()
        for (client, server) in conversations {
            let whole = self.session(client, server)
            for _ in 0..<50 {
                let session = TLSSession(certificates: CertificateCache())
                func feed(_ bytes: [UInt8], _ side: FlowSide) {
                    var start = 0
                    while start < bytes.count {
                        let end = min(bytes.count, start + Int.random(in: 1...40, using: &generator))
                        Array(bytes[start..<end]).withUnsafeBytes { session.consume($0, from: side) }
                        start = end
                    }
                }
                for index in 0..<max(client.count, server.count) {
                    if index < client.count { feed(client[index], .client) }
                    if index < server.count { feed(server[index], .server) }
                }
                #expect(session.finish() == whole)
            }
        }
    }

    /// TLS 1.2 resumption by session ID: the ServerHello echoes the ClientHello's ID byte for byte (a 32-byte ID, a
    /// short one, and an invalid 40-byte one all compare exactly), and a ServerHello with another ID is a new session.
    @Test("a TLS 1.2 ServerHello echoing the client's session ID resumes it; another ID does not")
    func sessionIDResumption() {
        func hellos(client: [UInt8], server: [UInt8]) -> ([UInt8], [UInt8]) {
            var clientBody: [UInt8] = [3, 3] + [UInt8](repeating: 0xab, count: 32) + [UInt8(client.count)] + client
            clientBody += PacketBuilder.be16(2) + [0xc0, 0x2f] + [1, 0] + PacketBuilder.be16(0)
            var serverBody: [UInt8] = [3, 3] + [UInt8](repeating: 0xcd, count: 32) + [UInt8(server.count)] + server
            serverBody += PacketBuilder.be16(0xc02f) + [0] + PacketBuilder.be16(0)
            return (Self.record(22, Self.handshake(1, clientBody)), Self.record(22, Self.handshake(2, serverBody)))
        }
        let full = (0..<32).map { UInt8($0 &* 7 &+ 1) }
        let long = (0..<40).map { UInt8($0 &+ 100) }
        let cases: [([UInt8], [UInt8], Bool)] = [
            (full, full, true), ([1, 2, 3], [1, 2, 3], true), (long, long, true),
            (full, Array(full.dropLast()) + [0], false), (full, Array(full.prefix(31)), false), ([1, 2, 3], [], false),
            (long, Array(long.prefix(39)) + [0], false), ([], [], false),
        ]
        for (client, server, resumed) in cases {
            let (clientHello, serverHello) = hellos(client: client, server: server)
            let summary = self.session([clientHello], [serverHello])
            #expect(summary.resumed == resumed, "\(client.count) / \(server.count) bytes")
            #expect(summary.version == "1.2")
        }
    }

    /// A list read once is found again by its bytes: a session that gets it from the cache reports what a session
    /// reading it afresh does, the malformed verdict included (a list overrunning its message, an entry overrunning
    /// its list, unreadable certificates), and a TLS 1.3 list is not taken for a TLS 1.2 one with the same bytes.
    @Test("certificate lists found in the shared cache give what reading them afresh gives")
    func certificateListCache() {
        let first = [UInt8](repeating: 0x30, count: 40)
        let second: [UInt8] = [1, 2, 3]
        let entries = PacketBuilder.be24(first.count) + first + PacketBuilder.be24(second.count) + second
        let lists: [[UInt8]] = [
            PacketBuilder.be24(entries.count) + entries,
            PacketBuilder.be24(entries.count + 10) + entries,
            PacketBuilder.be24(entries.count) + PacketBuilder.be24(first.count) + first + PacketBuilder.be24(50)
                + second,
        ]
        func run(_ list: [UInt8], _ cache: CertificateListCache) -> (TLSSummary, Bool) {
            let session = TLSSession(certificates: CertificateCache(), lane: TLSLaneState(certificateLists: cache))
            Self.record(22, Self.clientHello(versions: [0x0303])).withUnsafeBytes {
                session.consume($0, from: .client)
            }
            let flight = Self.serverHello(version: 0x0303, suite: 0xc02f) + Self.handshake(11, list)
            Self.record(22, flight + Self.handshake(14, [])).withUnsafeBytes { session.consume($0, from: .server) }
            return (session.finish(), session.malformed)
        }
        let shared = CertificateListCache()
        for list in lists {
            let fresh = run(list, CertificateListCache())
            #expect(run(list, shared) == fresh)
            #expect(run(list, shared) == fresh)
        }
        #expect(run(lists[0], shared).0.serverCertificates.count == 2)
        #expect(!run(lists[0], shared).1)
        #expect(run(lists[1], shared).1)
        #expect(run(lists[2], shared).1 && run(lists[2], shared).0.serverCertificates.count == 1)
        // The same bytes as a TLS 1.3 list (entries followed by extensions) read otherwise: not served from the cache.
        var seen: [(list: [CertificateSummary], malformed: Bool)] = []
        let cache = CertificateListCache()
        for tls13 in [false, true] {
            lists[0].withUnsafeBytes { bytes in
                seen.append(
                    cache.list(bytes, tls13: tls13) { (tls13 ? [] : [.unreadable(sha256: "x", reason: "y")], tls13) })
            }
        }
        #expect(seen[0].list.count == 1 && !seen[0].malformed)
        #expect(seen[1].list.isEmpty && seen[1].malformed)
    }

    @Test("a handshake message split across records and segments is reassembled")
    func splitHandshake() {
        let hello = Self.clientHello()
        let firstHalf = Self.record(22, Array(hello.prefix(30)))
        let secondHalf = Self.record(22, Array(hello.dropFirst(30)))
        let bytes = firstHalf + secondHalf
        let session = TLSSession(certificates: CertificateCache())
        for index in stride(from: 0, to: bytes.count, by: 7) {
            Array(bytes[index..<min(bytes.count, index + 7)]).withUnsafeBytes { session.consume($0, from: .client) }
        }
        #expect(session.finish().sni == "api.test")
    }

    @Test(
        "lengths pointing past their record or message are flagged, never followed",
        arguments: [
            // A record claiming more than TLS allows.
            [0x16, 0x03, 0x03, 0xff, 0xff, 0x01],
            // A record of an unknown content type.
            [0x99, 0x03, 0x03, 0x00, 0x01, 0x00],
            // A handshake message claiming 16 MiB.
            record(22, [1, 0xff, 0xff, 0xff, 0, 0]),
            // A ClientHello whose extension list overruns it.
            record(
                22,
                handshake(
                    1, [3, 3] + [UInt8](repeating: 0, count: 32) + [0, 0, 2, 0x13, 0x01, 1, 0, 0x40, 0x00, 0, 0])),
        ])
    func malformed(bytes: [UInt8]) {
        let session = TLSSession(certificates: CertificateCache())
        bytes.withUnsafeBytes { session.consume($0, from: .client) }
        let summary = session.finish()
        #expect(session.malformed || session.hasFailed(.client) || summary.sni == nil)
        #expect(!summary.established)
    }
}
