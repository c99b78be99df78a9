import BulkheadModel
import BulkheadTestSupport
import Certificates
import Foundation
import Testing

@testable import PacketAnalysis

/// QUIC: packet protection against the RFCs' own examples, CRYPTO reassembly, the verdicts drawn from a real
/// connection's datagrams (captures/quic-*.pcap, aioquic peers), and damaged datagrams. The captures' whole analyses are
/// checked in the capture corpus (captures/expected/quic-*.json).
@Suite("QUIC")
struct QUICTests {
    static let exampleID = hex("8394c8f03e515708")

    @Test("Initial secrets and keys of RFC 9001 appendix A.1 (version 1) and RFC 9369 appendix A.1 (version 2)")
    func initialKeys() throws {
        let cases: [(QUICVersion, String, [String], String, [String])] = [
            (
                .version1, "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea",
                ["1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2"],
                "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b",
                ["cf3a5331653c364c88f0f379b6067e37", "0ac1493ca1905853b0bba03e", "c206b8d9b9f0f37644430b490eeaa314"]
            ),
            (
                .version2, "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b",
                ["8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9"],
                "0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1",
                ["82db637861d55e1d011f19ea71d5d2a7", "dd13c276499c0249d3310652", "edf6d05c83121201b436e16877593c3a"]
            ),
        ]
        let cipher = RecordCipher(algorithm: .aes128GCM, usesSHA384: false)
        for (version, clientSecret, clientKeys, serverSecret, serverKeys) in cases {
            let secrets = try #require(
                Self.exampleID.withUnsafeBytes { QUICPacketKeys.initialSecrets(destinationID: $0, version: version) })
            #expect(secrets.client == hex(clientSecret), "\(version.name) client secret")
            #expect(secrets.server == hex(serverSecret), "\(version.name) server secret")
            for (secret, expected) in [(secrets.client, clientKeys), (secrets.server, serverKeys)] {
                let material = try #require(
                    secret.withUnsafeBytes { QUICPacketKeys.material(secret: $0, cipher: cipher, version: version) })
                #expect([material.key, material.iv, material.hp] == expected.map { hex($0) }, "\(version.name)")
            }
        }
    }

    @Test("the ChaCha20-Poly1305 short-header packet of RFC 9001 appendix A.5 opens to its PING")
    func chachaShortHeader() throws {
        let secret = hex("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b")
        let cipher = try #require(RecordCipher.tls13(0x1303))
        let material = try #require(
            secret.withUnsafeBytes { QUICPacketKeys.material(secret: $0, cipher: cipher, version: .version1) })
        #expect(material.key == hex("c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8"))
        #expect(material.iv == hex("e0459b3474bdd0e44a41c144"))
        #expect(material.hp == hex("25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4"))
        let keys = try #require(
            secret.withUnsafeBytes { QUICPacketKeys(secret: $0, cipher: cipher, version: .version1) })
        let packet = hex("4cfe4189655e5cd55c41f69080575d7999c25a5bfb")
        var output = [UInt8](repeating: 0, count: 64)
        let opened = packet.withUnsafeBytes { packet in
            output.withUnsafeMutableBytes {
                keys.open(packet, numberOffset: 1, longHeader: false, largest: 654_360_563, into: $0)
            }
        }
        let (length, number) = try #require(opened)
        #expect(number == 654_360_564)
        #expect(Array(output[0..<length]) == [0x01])
        // One bit changed anywhere: the packet does not authenticate.
        for index in packet.indices {
            var damaged = packet
            damaged[index] ^= 0x10
            let result = damaged.withUnsafeBytes { packet in
                output.withUnsafeMutableBytes {
                    keys.open(packet, numberOffset: 1, longHeader: false, largest: 654_360_563, into: $0)
                }
            }
            #expect(result == nil, "byte \(index) changed")
        }
    }

    @Test("packet numbers recovered from their truncated form (RFC 9000 appendix A.3)")
    func packetNumbers() {
        #expect(QUICPacketKeys.decodePacketNumber(0x9b32, bits: 16, largest: 0xa82f_30ea) == 0xa82f_9b32)
        #expect(QUICPacketKeys.decodePacketNumber(0, bits: 8, largest: nil) == 0)
        #expect(QUICPacketKeys.decodePacketNumber(0x01, bits: 8, largest: 0xff) == 0x101)
        #expect(QUICPacketKeys.decodePacketNumber(0xff, bits: 8, largest: 0x100) == 0xff)
    }

    @Test("CRYPTO data comes out in order whatever order its pieces arrive in, repeats and overlaps included")
    func cryptoReassembly() {
        let message = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        // Pieces of a browser-style shuffled ClientHello: out of order, one repeated, two overlapping.
        let pieces = [(1200, 1800), (0, 400), (2900, 3000), (400, 1300), (0, 400), (1750, 2950), (350, 900)]
        var stream = CryptoStream()
        var delivered: [UInt8] = []
        for (start, end) in pieces {
            let accepted = message[start..<end].withUnsafeBytes {
                stream.add($0, at: start) { delivered.append(contentsOf: $0) }
            }
            #expect(accepted)
        }
        #expect(delivered == message)
        #expect(stream.delivered == 3000)

        // Beyond the limit, or too many pieces waiting: refused, never kept.
        var bounded = CryptoStream()
        let byte: [UInt8] = [0]
        #expect(!byte.withUnsafeBytes { bounded.add($0, at: QUICSession.cryptoLimit) { _ in } })
        for index in 0..<QUICSession.fragmentLimit {
            #expect(byte.withUnsafeBytes { bounded.add($0, at: 10 + index * 2) { _ in } })
        }
        #expect(!byte.withUnsafeBytes { bounded.add($0, at: 1000) { _ in } })
    }

    // MARK: - A real connection's datagrams

    /// The UDP payloads of a committed capture (classic pcap, Ethernet, IPv4 without options), each with whether the
    /// client (port != `serverPort`) sent it.
    static func datagrams(_ name: String, serverPort: Int) throws -> [(fromClient: Bool, bytes: [UInt8])] {
        try PacketBuilder.frames(ofCapture: name).compactMap { frame in
            guard frame.count > 42, frame[12] == 0x08, frame[13] == 0x00, frame[23] == 17 else { return nil }
            let sourcePort = Int(frame[34]) << 8 | Int(frame[35])
            return (sourcePort != serverPort, Array(frame[42...]))
        }
    }

    static func session() -> QUICSession {
        QUICSession(certificates: CertificateCache(), keyLog: nil, lane: TLSLaneState())
    }

    @Test(
        "a real connection read without keys: SNI, ALPN offered and cipher from the Initial packets, client auth unknown"
    )
    func realConnection() throws {
        let datagrams = try Self.datagrams("quic-server-auth.pcap", serverPort: 4433)
        #expect(QUICSession.recognise(datagrams[0].bytes.withUnsafeBytes { $0 }) == (false, true))
        // Header protection and AEAD through the shim's AES rounds where the CPU has them, and through EVP.
        for forceEVP in [false, true] {
            AEADOpener.forceEVP(forceEVP)
            defer { AEADOpener.forceEVP(false) }
            try self.readWithoutKeys(datagrams)
        }
    }

    func readWithoutKeys(_ datagrams: [(fromClient: Bool, bytes: [UInt8])]) throws {
        let session = Self.session()
        for datagram in datagrams {
            datagram.bytes.withUnsafeBytes { session.datagram($0, from: datagram.fromClient ? .client : .server) }
        }
        var summary: TLSSummary?
        session.finish(into: &summary)
        let tls = try #require(summary)
        #expect(tls.sni == "server.test")
        #expect(tls.alpnOffered == ["hq-interop"])
        #expect(tls.cipher == "TLS_AES_256_GCM_SHA384")
        #expect(tls.clientCertificate == .unknown)
        #expect(tls.established && tls.establishedBasis == "heuristic")
        #expect(session.summary == QUICSummary(version: "quic-v1", retry: false, transportError: nil))
    }

    @Test("without keys, established needs 1-RTT packets from the client and server 1-RTT packets of two lengths")
    func establishedEvidence() throws {
        let datagrams = try Self.datagrams("quic-server-auth.pcap", serverPort: 4433)
        // The client's first Initial and the server's long-header datagrams: the client's later ones carry its first
        // 1-RTT packet coalesced behind its Handshake packet, which is what the cases below vary.
        let long = [datagrams[0]] + datagrams.filter { !$0.fromClient && $0.bytes[0] & 0x80 != 0 }
        #expect(long.count >= 2)
        let clientShort: [UInt8] = [0x40] + [UInt8](repeating: 0x5a, count: 60)
        func verdict(server lengths: [Int], client: Bool) -> Bool {
            let session = Self.session()
            for datagram in long {
                datagram.bytes.withUnsafeBytes { session.datagram($0, from: datagram.fromClient ? .client : .server) }
            }
            if client { clientShort.withUnsafeBytes { session.datagram($0, from: .client) } }
            for length in lengths {
                let packet: [UInt8] = [0x41] + [UInt8](repeating: 0xa5, count: length)
                packet.withUnsafeBytes { session.datagram($0, from: .server) }
            }
            var summary: TLSSummary?
            session.finish(into: &summary)
            return summary?.established ?? false
        }
        #expect(verdict(server: [120, 40], client: true))
        // A server that only repeats one CONNECTION_CLOSE-sized packet, or a client that never reached 1-RTT.
        #expect(!verdict(server: [40, 40, 40], client: true))
        #expect(!verdict(server: [120, 40], client: false))
        #expect(!verdict(server: [], client: false))
    }

    @Test("look-alikes are not QUIC: unknown versions, connection IDs over 20 bytes, lengths past the datagram")
    func lookAlikes() throws {
        let datagrams = try Self.datagrams("quic-server-auth.pcap", serverPort: 4433)
        let initial = datagrams[0].bytes
        func recognised(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { QUICSession.recognise($0).isQUIC } }
        #expect(recognised(initial))
        var unknownVersion = initial
        unknownVersion[1...4] = [0x0a, 0x1a, 0x2a, 0x3a]  // a greased version (RFC 9000 §15)
        #expect(!recognised(unknownVersion))
        var longID = initial
        longID[5] = 21
        #expect(!recognised(longID))
        #expect(!recognised(Array(initial.prefix(40))))
        #expect(!recognised([0x40] + Array(initial.dropFirst())))  // a short header says nothing on its own
    }

    @Test("damaged datagrams of real connections never crash a session, and never make it claim more than it read")
    func damagedDatagrams() throws {
        var generator = SystemRandomNumberGenerator()
        for (name, port) in [
            ("quic-mutual.pcap", 4434), ("quic-v2-retry.pcap", 4434), ("quic-alpn-refused.pcap", 4433),
        ] {
            let datagrams = try Self.datagrams(name, serverPort: port)
            for round in 0..<150 {
                let session = Self.session()
                for datagram in datagrams {
                    var bytes = datagram.bytes
                    switch round % 3 {
                    case 0:
                        for _ in 0..<4 { bytes[Int.random(in: 0..<bytes.count, using: &generator)] ^= 0xff }
                    case 1:
                        bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator)))
                    default:
                        let index = Int.random(in: 0..<bytes.count, using: &generator)
                        bytes[index] = UInt8.random(in: 0...255, using: &generator)
                    }
                    bytes.withUnsafeBytes { session.datagram($0, from: datagram.fromClient ? .client : .server) }
                }
                var summary: TLSSummary?
                session.finish(into: &summary)
                // Without keys, nothing damaged can show a client certificate.
                #expect(summary?.clientCertificate == .unknown, "\(name) round \(round)")
            }
        }
    }

    @Test("a flood of client Initial packets with new connection IDs derives keys a few times, not for each")
    func initialFlood() throws {
        let initial = try Self.datagrams("quic-server-auth.pcap", serverPort: 4433)[0].bytes
        let idLength = Int(initial[5])
        #expect(idLength >= 4)
        let session = Self.session()
        for index in 0..<2000 {
            var bytes = initial
            if index > 0 {  // the first as sent; then IDs never seen
                bytes[6] ^= UInt8(truncatingIfNeeded: index) | 0x80
                bytes[7] ^= UInt8(truncatingIfNeeded: index >> 8)
            }
            bytes.withUnsafeBytes { session.datagram($0, from: .client) }
        }
        #expect(session.initialIDs == QUICSession.initialIDLimit)
        var summary: TLSSummary?
        session.finish(into: &summary)
        // The first ID's keys read the ClientHello; the others open nothing.
        #expect(summary?.sni == "server.test")
    }

    @Test("a QUIC flow ends once idle past the timeout its client announced (5 s here, plus 10), not UDP's 120 s")
    func idleTimeout() throws {
        let datagrams = try Self.datagrams("quic-server-auth.pcap", serverPort: 4433)
        // The connection at 0 s, then one more 1-RTT datagram from the client `gap` seconds later.
        func flows(gap: UInt32) throws -> [FlowRecord] {
            var packets: [(time: UInt32, bytes: [UInt8])] = []
            let late = datagrams.last { $0.fromClient && $0.bytes[0] & 0x80 == 0 }
            let sequence = datagrams + [try #require(late)]
            for (index, datagram) in sequence.enumerated() {
                let fromClient = datagram.fromClient
                let udp = PacketBuilder.udp(
                    sourcePort: fromClient ? 50_001 : 4433, destinationPort: fromClient ? 4433 : 50_001,
                    payload: datagram.bytes)
                let (source, destination) = fromClient ? ("198.18.0.2", "198.18.0.3") : ("198.18.0.3", "198.18.0.2")
                packets.append(
                    (
                        1_764_547_200 + (index == datagrams.count ? gap : 0),
                        PacketBuilder.ethernet(
                            PacketBuilder.ipv4Packet(
                                source: source, destination: destination, proto: 17, transport: udp))
                    ))
            }
            return try analyze(PacketBuilder.pcap(packets)).flows
        }
        #expect(try flows(gap: 12).map(\.proto) == [.quic])
        // Past 15 s the connection is over: what comes later is another flow, which nothing identifies.
        #expect(try flows(gap: 40).map(\.proto) == [.quic, .unknownBinary])
    }

    @Test("a key log with handshake secrets only: certificates exact, established only inferred, a refusal still read")
    func handshakeSecretsOnly() throws {
        // Without the traffic secrets the server's HANDSHAKE_DONE (in 1-RTT) is not read: the client's Finished alone
        // does not make the connection established; the server's refusal, sent in a Handshake packet, is read.
        for (name, established, basis) in [
            ("quic-server-auth", true, "heuristic"), ("quic-client-cert-required-rejected", false, "decrypted"),
        ] {
            let keys = try String(
                contentsOf: Repository.root.appendingPathComponent("captures/keys/\(name).keys"), encoding: .utf8)
            let handshakeOnly = keys.split(separator: "\n").filter { $0.contains("HANDSHAKE_TRAFFIC_SECRET") }
            #expect(handshakeOnly.count == 2)
            let keyLog = KeyLog()
            keyLog.load(text: Data(handshakeOnly.joined(separator: "\n").utf8), source: "handshake secrets")
            var flows: [FlowRecord] = []
            _ = try CaptureAnalysis.run(
                files: [Repository.root.appendingPathComponent("captures/\(name).pcap").path],
                options: AnalysisOptions(keyLog: keyLog)
            ) { flows.append($0) }
            let tls = try #require(flows.first?.tls)
            #expect(tls.decrypted, "\(name)")
            #expect(tls.clientCertificate == (established ? .notRequested : .declined), "\(name)")
            #expect(tls.established == established, "\(name)")
            #expect(tls.establishedBasis == basis, "\(name)")
        }
    }

    @Test("a UDP flow of look-alike bytes stays unknown-binary, with its unidentified-flow finding")
    func unknownUDP() throws {
        // A long-header-looking first byte, an unknown version and random bytes, twice each way.
        let payload: [UInt8] =
            [0xc3, 0x0a, 0x1a, 0x2a, 0x3a, 8] + (0..<1200).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var packets: [(time: UInt32, bytes: [UInt8])] = []
        for index in 0..<4 {
            let fromClient = index % 2 == 0
            let udp = PacketBuilder.udp(
                sourcePort: fromClient ? 50_000 : 443, destinationPort: fromClient ? 443 : 50_000, payload: payload)
            let (source, destination) = fromClient ? ("198.18.0.2", "198.18.0.3") : ("198.18.0.3", "198.18.0.2")
            packets.append(
                (
                    1_764_547_200,
                    PacketBuilder.ethernet(
                        PacketBuilder.ipv4Packet(source: source, destination: destination, proto: 17, transport: udp))
                ))
        }
        let (flows, result) = try analyze(PacketBuilder.pcap(packets))
        #expect(flows.map(\.proto) == [.unknownBinary])
        #expect(flows.first?.quic == nil)
        #expect(result.findings.contains { $0.kind == .unidentifiedFlow })
    }
}
