import BulkheadModel
import Testing

@testable import PacketAnalysis

/// Tunnels assembled byte by byte from their RFCs' layouts (VXLAN 7348, Geneve 8926, GRE 2784/2890, ERSPAN per
/// the Linux kernel's `erspan.h`, IP in IP 2003/4213, ESP 4303/3948). The real thing crosses real kernel devices in
/// the capture corpus (`captures/vxlan-*.pcap` …).
@Suite("Encapsulation")
struct EncapsulationTests {
    typealias B = PacketBuilder

    static let request = Array(
        "GET /private/ HTTP/1.1\r\nHost: app\r\nAuthorization: Basic YWxpY2U6U2VzYW1lLU9wZW4tNDI=\r\n\r\n".utf8)
    static let segment = B.tcp(
        sourcePort: 40000, destinationPort: 8080, sequence: 7, flags: 0x18, payload: Array("data".utf8))
    static let inner = B.ipv4Packet(source: "198.19.41.1", destination: "198.19.41.2", proto: 6, transport: segment)
    static let innerV6 = B.ipv6Packet(source: v6(1), destination: v6(2), nextHeader: 6, payload: segment)

    static func v6(_ last: UInt8) -> [UInt8] {
        [0x20, 0x01, 0, 2, 0, 0, 0, 0x41] + [UInt8](repeating: 0, count: 7) + [last]
    }

    // MARK: Headers

    static func vxlan(_ vni: UInt32, _ frame: [UInt8]) -> [UInt8] { [0x08, 0, 0, 0] + B.be32(vni << 8) + frame }

    static func geneve(_ vni: UInt32, options: [UInt8] = [], protocolType: Int = 0x6558, _ payload: [UInt8]) -> [UInt8]
    {
        [UInt8(options.count / 4), 0] + B.be16(protocolType) + B.be32(vni << 8) + options + payload
    }

    static func gre(
        protocolType: Int, checksum: Bool = false, key: UInt32? = nil, sequence: UInt32? = nil, _ payload: [UInt8]
    ) -> [UInt8] {
        var flags = 0
        if checksum { flags |= 0x8000 }
        if key != nil { flags |= 0x2000 }
        if sequence != nil { flags |= 0x1000 }
        var header = B.be16(flags) + B.be16(protocolType)
        if checksum { header += [0, 0, 0, 0] }
        if let key { header += B.be32(key) }
        if let sequence { header += B.be32(sequence) }
        return header + payload
    }

    /// ERSPAN type II header: version 1, VLAN 0, session ID, index 0.
    static func erspan2(session: Int, _ frame: [UInt8]) -> [UInt8] {
        [0x10, 0] + B.be16(session & 0x3ff) + [0, 0, 0, 0] + frame
    }

    /// ERSPAN type III header: version 2, session ID, timestamp, then SGT/P/FT/HW ID/D/Gra/O (O: 8 more bytes).
    static func erspan3(session: Int, platformSubheader: Bool = false, frameType: Int = 0, _ frame: [UInt8]) -> [UInt8]
    {
        let word = UInt32(frameType) << 10 | (platformSubheader ? 1 : 0)
        return [0x20, 0] + B.be16(session & 0x3ff) + B.be32(0x1234_5678) + B.be32(word)
            + (platformSubheader ? [UInt8](repeating: 0xee, count: 8) : []) + frame
    }

    static func outerUDP(
        _ destinationPort: Int, _ payload: [UInt8], source: String = "198.19.40.1", destination: String = "198.19.40.2",
        sourcePort: Int = 51000
    ) -> [UInt8] {
        B.ethernet(
            B.ipv4Packet(
                source: source, destination: destination, proto: 17,
                transport: B.udp(sourcePort: sourcePort, destinationPort: destinationPort, payload: payload)))
    }

    static func outerIP(
        _ proto: UInt8, _ payload: [UInt8], source: String = "198.19.40.1", destination: String = "198.19.40.2"
    ) -> [UInt8] {
        B.ethernet(B.ipv4Packet(source: source, destination: destination, proto: proto, transport: payload))
    }

    /// Every kind of tunnel, one frame each, with what the decoder must find.
    static let samples: [(name: String, frame: [UInt8], layers: [(EncapsulationKind, UInt32?)])] = [
        ("vxlan", outerUDP(4789, vxlan(42, B.ethernet(inner))), [(.vxlan, 42)]),
        ("vxlan, inner VLAN tag", outerUDP(4789, vxlan(7, B.ethernet(inner, vlanTags: [100]))), [(.vxlan, 7)]),
        (
            "geneve with options",
            outerUDP(6081, geneve(0xabcdef, options: [0x01, 0x02, 0x03, 0x01, 9, 9, 9, 9], B.ethernet(inner))),
            [(.geneve, 0xabcdef)]
        ),
        ("geneve carrying IPv6", outerUDP(6081, geneve(5, protocolType: 0x86dd, innerV6)), [(.geneve, 5)]),
        ("gre", outerIP(47, gre(protocolType: 0x0800, inner)), [(.gre, nil)]),
        (
            "gre keyed, checksum, sequence",
            outerIP(47, gre(protocolType: 0x0800, checksum: true, key: 1001, sequence: 9, inner)), [(.gre, 1001)]
        ),
        ("gretap keyed", outerIP(47, gre(protocolType: 0x6558, key: 77, B.ethernet(inner))), [(.gre, 77)]),
        ("erspan type I", outerIP(47, gre(protocolType: 0x88be, B.ethernet(inner))), [(.erspan, nil)]),
        (
            "erspan type II",
            outerIP(47, gre(protocolType: 0x88be, sequence: 1, erspan2(session: 99, B.ethernet(inner)))),
            [(.erspan, 99)]
        ),
        (
            "erspan type III",
            outerIP(47, gre(protocolType: 0x22eb, sequence: 1, erspan3(session: 5, B.ethernet(inner)))), [(.erspan, 5)]
        ),
        (
            "erspan type III, platform subheader",
            outerIP(
                47,
                gre(
                    protocolType: 0x22eb, sequence: 1,
                    erspan3(session: 1023, platformSubheader: true, B.ethernet(inner)))),
            [(.erspan, 1023)]
        ),
        ("ipip", outerIP(4, inner), [(.ipip, nil)]),
        ("sit (6in4)", outerIP(41, innerV6), [(.ipip, nil)]),
        (
            "4in6",
            B.ethernet(
                B.ipv6Packet(source: v6(0x10), destination: v6(0x20), nextHeader: 4, payload: inner), etherType: 0x86dd),
            [(.ipip, nil)]
        ),
        (
            "gre over IPv6",
            B.ethernet(
                B.ipv6Packet(
                    source: v6(0x10), destination: v6(0x20), nextHeader: 47,
                    payload: gre(protocolType: 0x86dd, key: 3, innerV6)), etherType: 0x86dd), [(.gre, 3)]
        ),
        (
            "vxlan in gre in ipip",
            outerIP(
                4,
                B.ipv4Packet(
                    source: "198.19.42.1", destination: "198.19.42.2", proto: 47,
                    transport: gre(
                        protocolType: 0x0800, key: 8,
                        B.ipv4Packet(
                            source: "198.19.43.1", destination: "198.19.43.2", proto: 17,
                            transport: B.udp(
                                sourcePort: 49152, destinationPort: 4789, payload: vxlan(42, B.ethernet(inner))))))),
            [(.ipip, nil), (.gre, 8), (.vxlan, 42)]
        ),
    ]

    func decoded(_ bytes: [UInt8], originalLength: Int? = nil) -> DecodeResult {
        bytes.withUnsafeBytes {
            PacketDecoder.decode($0, linkType: LinkType.ethernet, originalLength: originalLength ?? bytes.count)
        }
    }

    // MARK: Decoding

    @Test("each tunnel is opened and the inner segment found, with the tunnels read back")
    func eachTunnel() {
        for sample in Self.samples {
            guard case .transport(let packet) = self.decoded(sample.frame) else {
                Issue.record("\(sample.name): not decoded to the inner segment")
                continue
            }
            #expect(
                packet.sourcePort == 40000 && packet.destinationPort == 8080 && packet.capturedPayloadLength == 4,
                "\(sample.name)")
            #expect(Int(packet.encapsulationDepth) == sample.layers.count, "\(sample.name)")
            let path = sample.frame.withUnsafeBytes {
                PacketDecoder.encapsulationPath($0, networkOffset: Int(packet.networkOffset))
            }
            #expect(path.count == sample.layers.count, "\(sample.name)")
            for (index, expected) in sample.layers.enumerated() where index < path.count {
                #expect(path[index].kind == expected.0 && path[index].id == expected.1, "\(sample.name) layer \(index)")
            }
            if sample.layers.count == 1, path.count == 1, !path[0].source.isIPv6 {
                #expect(
                    path[0].source.description == "198.19.40.1" && path[0].destination.description == "198.19.40.2",
                    "\(sample.name)")
            }
        }
    }

    @Test("a bare packet's view is as small as before: the tunnel fields live in padding")
    func decodedPacketSize() {
        #expect(MemoryLayout<DecodedPacket>.size <= 80)
    }

    @Test("a UDP datagram to 4789 or 6081 that is no tunnel stays a UDP datagram")
    func notATunnel() {
        for (port, payload) in [
            (4789, [UInt8](repeating: 0, count: 16)), (6081, [0xc0] + [UInt8](repeating: 0, count: 15)), (4789, [0x08]),
        ] {
            guard case .transport(let packet) = self.decoded(Self.outerUDP(port, payload)) else {
                Issue.record("port \(port)")
                continue
            }
            #expect(packet.encapsulationDepth == 0 && packet.destinationPort == UInt16(port))
        }
        // A server's answer (DNS from 53, QUIC from 443) to a client that picked 4789 or 6081, with a header that
        // passes the tunnel's check: a UDP datagram, where the same bytes from an ephemeral port open the tunnel.
        let vxlanLooking = Self.vxlan(42, B.ethernet(Self.inner))
        let genevePort = 6081
        for (sourcePort, port) in [(53, 4789), (443, 4789), (53, genevePort)] {
            let payload = port == 4789 ? vxlanLooking : [0x00] + Array(vxlanLooking.dropFirst())
            guard case .transport(let packet) = self.decoded(Self.outerUDP(port, payload, sourcePort: sourcePort))
            else {
                Issue.record("from \(sourcePort) to \(port)")
                continue
            }
            #expect(packet.encapsulationDepth == 0 && packet.sourcePort == UInt16(sourcePort))
        }
        guard case .transport(let tunnelled) = self.decoded(Self.outerUDP(4789, vxlanLooking, sourcePort: 1024)) else {
            Issue.record("VXLAN from port 1024")
            return
        }
        #expect(tunnelled.encapsulationDepth == 1)
        // A VXLAN datagram cut by the snap length inside its VXLAN header is not analysed, not a UDP flow of its own.
        let vxlan = Self.samples[0].frame
        guard case .other = self.decoded(Array(vxlan.prefix(14 + 20 + 8 + 4)), originalLength: vxlan.count) else {
            Issue.record("VXLAN header cut by the snap length")
            return
        }
        // PPTP's enhanced GRE (version 1) and ERSPAN frames of type IP are not opened.
        guard
            case .other = self.decoded(
                Self.outerIP(47, [0x30, 0x01, 0x88, 0x0b] + [UInt8](repeating: 0, count: 8) + Self.inner))
        else {
            Issue.record("GRE version 1")
            return
        }
        guard
            case .other = self.decoded(
                Self.outerIP(
                    47, Self.gre(protocolType: 0x22eb, sequence: 1, Self.erspan3(session: 1, frameType: 2, Self.inner)))
            )
        else {
            Issue.record("ERSPAN III frame type 2")
            return
        }
    }

    @Test("tunnels nest up to the limit; one more is malformed, never followed")
    func depthLimit() {
        func nested(_ depth: Int) -> [UInt8] {
            var packet = Self.inner
            for level in 0..<depth {
                packet = B.ipv4Packet(
                    source: "198.19.50.\(level % 200 + 1)", destination: "198.19.51.\(level % 200 + 1)", proto: 4,
                    transport: packet)
            }
            return B.ethernet(packet)
        }
        guard case .transport(let packet) = self.decoded(nested(PacketDecoder.maximumEncapsulationDepth)) else {
            Issue.record("\(PacketDecoder.maximumEncapsulationDepth) tunnels deep")
            return
        }
        #expect(Int(packet.encapsulationDepth) == PacketDecoder.maximumEncapsulationDepth)
        for depth in [PacketDecoder.maximumEncapsulationDepth + 1, 40, 300] {
            guard case .malformed = self.decoded(nested(depth)) else {
                Issue.record("\(depth) tunnels deep is not malformed")
                continue
            }
        }
        // A VXLAN frame that carries itself again and again: the same bound.
        var frame = B.ethernet(Self.inner)
        for _ in 0..<12 { frame = Self.outerUDP(4789, Self.vxlan(1, frame)) }
        guard case .malformed = self.decoded(frame) else {
            Issue.record("12 VXLAN levels")
            return
        }
    }

    @Test(
        "every truncation of every tunnel sample is handled: cut by the snap length or damaged, no read past the bytes")
    func truncationsAtEveryOffset() {
        for sample in Self.samples {
            for length in 0..<sample.frame.count {
                // An exactly sized copy, so that a read past `length` would trip the bounds checks of a debug build.
                let cut = Array(sample.frame.prefix(length))
                for original in [sample.frame.count, length] {
                    let result = self.decoded(cut, originalLength: original)
                    if case .transport(let packet) = result {
                        #expect(
                            packet.payloadOffset + packet.capturedPayloadLength <= length,
                            "\(sample.name) cut at \(length)")
                        let path = cut.withUnsafeBytes {
                            PacketDecoder.encapsulationPath($0, networkOffset: Int(packet.networkOffset))
                        }
                        #expect(path.count == Int(packet.encapsulationDepth), "\(sample.name) cut at \(length)")
                    }
                    if original == length, length < sample.frame.count - 4 {
                        // Not a snap-length cut: the headers' lengths point past the frame, so never a transport packet
                        // carrying the whole inner segment.
                        if case .transport(let packet) = result {
                            #expect(
                                packet.capturedPayloadLength < 4 || packet.encapsulationDepth == 0,
                                "\(sample.name) at \(length)")
                        }
                    }
                }
                _ = cut.withUnsafeBytes { PacketDecoder.encapsulationPath($0, networkOffset: 14) }
            }
        }
    }

    @Test("ESP over IP: SPI first in the payload, ports 0; truncated headers do not make a packet")
    func espDecoding() {
        let esp = B.be32(0x0000_c0de) + B.be32(1) + [UInt8](repeating: 0x5a, count: 40)
        guard case .transport(let packet) = self.decoded(Self.outerIP(50, esp)) else {
            Issue.record("ESP")
            return
        }
        #expect(packet.ipProtocol == 50 && packet.sourcePort == 0 && packet.destinationPort == 0)
        #expect(packet.payloadLength == esp.count && packet.capturedPayloadLength == esp.count)
        guard case .malformed = self.decoded(Self.outerIP(50, [0, 0, 0xc0, 0xde])) else {
            Issue.record("ESP shorter than its header")
            return
        }
    }

    // MARK: Flows

    static func espPacket(
        spi: UInt32, sequence: UInt32, from source: String, to destination: String, natTraversal: Bool
    ) -> [UInt8] {
        let esp = B.be32(spi) + B.be32(sequence) + [UInt8](repeating: UInt8(sequence & 0xff), count: 48)
        if natTraversal { return outerUDP(4500, esp, source: source, destination: destination, sourcePort: 4500) }
        return outerIP(50, esp, source: source, destination: destination)
    }

    @Test("IPsec ESP is one encrypted flow between the two hosts, with each direction's SPI, never plaintext")
    func espFlows() throws {
        for natTraversal in [false, true] {
            var frames: [[UInt8]] = []
            if natTraversal {
                // IKE first (non-ESP marker: four zero bytes), and a NAT keepalive: neither is ESP.
                frames.append(
                    Self.outerUDP(4500, [0, 0, 0, 0] + [UInt8](repeating: 0x21, count: 60), sourcePort: 4500))
                frames.append(Self.outerUDP(4500, [0xff], sourcePort: 4500))
            }
            for sequence in 1...3 as ClosedRange<UInt32> {
                frames.append(
                    Self.espPacket(
                        spi: 0xc0de, sequence: sequence, from: "198.19.40.1", to: "198.19.40.2",
                        natTraversal: natTraversal))
                frames.append(
                    Self.espPacket(
                        spi: 0xbeef, sequence: sequence, from: "198.19.40.2", to: "198.19.40.1",
                        natTraversal: natTraversal))
            }
            let (flows, result) = try analyze(
                B.pcap(frames.enumerated().map { (UInt32(1_700_000_000 + $0.offset), $0.element) }))
            #expect(flows.count == 1, "NAT-T \(natTraversal)")
            let flow = try #require(flows.first)
            #expect(flow.proto == .ipsecESP && flow.encrypted)
            #expect(flow.transport == (natTraversal ? .udp : .esp))
            #expect(flow.client.hasPrefix("198.19.40.1:") && flow.server.hasPrefix("198.19.40.2:"))
            #expect(
                flow.esp
                    == ESPSummary(clientSPIs: ["0x0000c0de"], serverSPIs: ["0x0000beef"], udpEncapsulated: natTraversal)
            )
            #expect(flow.packets.toServer == (natTraversal ? 5 : 3) && flow.packets.toClient == 3)
            #expect(flow.credentials.isEmpty && flow.encapsulation == nil)
            #expect(result.findings.isEmpty, "no plaintext or unidentified finding: \(result.findings.map(\.kind))")
            #expect(result.summary.encryptedFlows == 1 && result.summary.plaintextFlows == 0)
        }
    }

    /// One HTTP request with Basic credentials, every frame wrapped by `wrap(frame, fromClient)`.
    static func wrappedConversation(_ wrap: ([UInt8], Bool) -> [UInt8]) -> [[UInt8]] {
        var conversation = TCPConversation(
            client: "198.19.41.1", server: "198.19.41.2", clientPort: 40000, serverPort: 8080)
        conversation.handshake()
        conversation.send(Self.request, fromClient: true)
        conversation.send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", fromClient: false)
        conversation.close()
        // Frames alternate client/server as TCPConversation builds them: read the direction from the inner source.
        return conversation.frames.map { frame in wrap(frame, frame[26...29].elementsEqual([198, 19, 41, 1])) }
    }

    static func pcap(_ frames: [[UInt8]]) -> [UInt8] {
        B.pcap(frames.enumerated().map { (UInt32(1_700_000_000 + $0.offset), $0.element) })
    }

    @Test("a flow inside VXLAN is analysed like a bare one and labelled with its VNI and underlay hosts")
    func vxlanFlow() throws {
        let frames = Self.wrappedConversation { frame, fromClient in
            Self.outerUDP(
                4789, Self.vxlan(42, frame), source: fromClient ? "198.19.40.1" : "198.19.40.2",
                destination: fromClient ? "198.19.40.2" : "198.19.40.1", sourcePort: fromClient ? 50001 : 50002)
        }
        let (flows, result) = try analyze(Self.pcap(frames))
        #expect(flows.count == 1)
        let flow = try #require(flows.first)
        #expect(flow.proto == .http && flow.client == "198.19.41.1:40000" && flow.server == "198.19.41.2:8080")
        #expect(flow.credentials.map(\.kind) == ["http-basic"] && flow.credentials.first?.user == "alice")
        #expect(
            flow.encapsulation == [
                EncapsulationLayer(kind: .vxlan, source: "198.19.40.1", destination: "198.19.40.2", id: 42)
            ])
        #expect(result.findings.contains { $0.kind == .credentialsInCleartext })
        #expect(flow.encapsulation?.first?.label == "vxlan 42 198.19.40.1→198.19.40.2")
    }

    @Test("the same inner 5-tuple in two VNIs, or between two other underlay hosts, is two flows")
    func overlaysReuseAddresses() throws {
        func conversation(vni: UInt32, underlay: (String, String)) -> [[UInt8]] {
            Self.wrappedConversation { frame, fromClient in
                Self.outerUDP(
                    4789, Self.vxlan(vni, frame), source: fromClient ? underlay.0 : underlay.1,
                    destination: fromClient ? underlay.1 : underlay.0)
            }
        }
        let a = conversation(vni: 42, underlay: ("198.19.40.1", "198.19.40.2"))
        let b = conversation(vni: 43, underlay: ("198.19.40.1", "198.19.40.2"))
        let c = conversation(vni: 42, underlay: ("198.19.40.3", "198.19.40.2"))
        // Interleaved, so that the three are live at once.
        var frames: [[UInt8]] = []
        for index in 0..<a.count { frames += [a[index], b[index], c[index]] }
        let (flows, _) = try analyze(Self.pcap(frames))
        #expect(flows.count == 3)
        let labels = Set(flows.compactMap { $0.encapsulation?.first?.label })
        #expect(
            labels == [
                "vxlan 42 198.19.40.1→198.19.40.2", "vxlan 43 198.19.40.1→198.19.40.2",
                "vxlan 42 198.19.40.3→198.19.40.2",
            ])
        for flow in flows {
            #expect(flow.packets.toServer == 4 && flow.packets.toClient == 3, "\(flow.encapsulation ?? [])")
            #expect(flow.credentials.count == 1)
        }
    }

    @Test("ERSPAN mirrors both directions from one switch: one flow, the mirror's addresses as sent")
    func erspanOneWay() throws {
        let frames = Self.wrappedConversation { frame, _ in
            Self.outerIP(
                47, Self.gre(protocolType: 0x88be, sequence: 1, Self.erspan2(session: 12, frame)),
                source: "198.19.44.1", destination: "198.19.44.9")
        }
        let (flows, _) = try analyze(Self.pcap(frames))
        #expect(flows.count == 1)
        #expect(
            flows.first?.encapsulation == [
                EncapsulationLayer(kind: .erspan, source: "198.19.44.1", destination: "198.19.44.9", id: 12)
            ])
        #expect(flows.first?.credentials.count == 1)
    }

    @Test("a bare flow and the same 5-tuple inside a tunnel are two flows; the bare one has no encapsulation")
    func bareAndTunnelled() throws {
        let bare = Self.wrappedConversation { frame, _ in frame }
        let tunnelled = Self.wrappedConversation { frame, fromClient in
            Self.outerIP(
                47, Self.gre(protocolType: 0x6558, key: 5, frame),
                source: fromClient ? "198.19.40.1" : "198.19.40.2",
                destination: fromClient ? "198.19.40.2" : "198.19.40.1")
        }
        let (flows, _) = try analyze(Self.pcap(bare + tunnelled))
        #expect(flows.count == 2)
        #expect(flows.filter { $0.encapsulation == nil }.count == 1)
        #expect(flows.compactMap { $0.encapsulation?.first?.label } == ["gre 5 198.19.40.1→198.19.40.2"])
    }
}
