import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import PacketAnalysis

/// QUIC joined after its handshake: only short-header packets, told apart by their connection ID and the masked bits
/// of their first byte (``QUICShortHeaders``). The real connection is captures/midstream-quic.pcap (aioquic, cut from
/// quic-mutual-requests.pcap; its whole analysis is in the capture corpus); these tests hold how many datagrams it takes, and
/// the look-alikes that must stay unknown.
@Suite("QUIC joined mid-way")
struct QUICMidstreamTests {
    /// The verdict after each datagram, the first datagram's sender taken as the low side.
    static func verdicts(_ datagrams: [(fromLow: Bool, payload: [UInt8])]) -> [QUICShortHeaders.Verdict] {
        var watch = QUICShortHeaders()
        return datagrams.map { datagram in datagram.payload.withUnsafeBytes { watch.add($0, fromLow: datagram.fromLow) }
        }
    }

    static func frame(_ payload: [UInt8], fromClient: Bool) -> [UInt8] {
        let udp = PacketBuilder.udp(
            sourcePort: fromClient ? 51_000 : 4433, destinationPort: fromClient ? 4433 : 51_000, payload: payload)
        return PacketBuilder.ethernet(
            PacketBuilder.ipv4Packet(
                source: fromClient ? "198.18.0.2" : "198.18.0.1", destination: fromClient ? "198.18.0.1" : "198.18.0.2",
                proto: 17, transport: udp))
    }

    /// Deterministic bytes that look random.
    static func noise(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    /// A short-header packet as a QUIC stack sends it: `01` and five masked bits, the receiver's ID, then sealed bytes.
    static func shortHeader(id: [UInt8], seed: UInt64, length: Int = 60) -> [UInt8] {
        let sealed = Self.noise(length - 1 - id.count, seed: seed)
        return [0x40 | UInt8(truncatingIfNeeded: seed &* 7 &+ 3) & 0x1f] + id + sealed
    }

    @Test("the real connection: QUIC once three datagrams each way are in, not before")
    func realConnection() throws {
        let datagrams = try QUICTests.datagrams("midstream-quic.pcap", serverPort: 4435)
        let firstFromClient = try #require(datagrams.first).fromClient
        let verdicts = Self.verdicts(datagrams.map { ($0.fromClient == firstFromClient, $0.bytes) })
        // Not before both sides sent three short-header datagrams; then at once.
        var counts = (client: 0, server: 0)
        var expected: [QUICShortHeaders.Verdict] = []
        for datagram in datagrams {
            if datagram.bytes[0] & 0x80 == 0 {
                if datagram.fromClient { counts.client += 1 } else { counts.server += 1 }
            }
            expected.append(counts.server >= 3 && counts.client >= 3 ? .quic : .pending)
        }
        #expect(verdicts == expected)
        #expect(verdicts.last == .quic)
        // The whole flow, analysed: QUIC, encrypted, joined mid-way, its client certificate unknown.
        let frames = try PacketBuilder.frames(ofCapture: "midstream-quic.pcap")
        let (flows, result) = try WireGuardTests.flows(frames)
        #expect(flows.map(\.proto) == [.quic])
        #expect(flows.first?.encrypted == true && flows.first?.anomalies == ["midstream"])
        #expect(flows.first?.tls?.clientCertificate == .unknown)
        #expect(flows.first?.server == "198.19.61.2:4435" && flows.first?.clientBasis == .port)
        #expect(result.findings.isEmpty)
        // Cut before the datagram that settled it: unknown binary, with its finding, as before.
        let settled = try #require(verdicts.firstIndex(of: .quic))
        let (fewer, fewerResult) = try WireGuardTests.flows(Array(frames.prefix(settled)))
        #expect(fewer.map(\.proto) == [.unknownBinary])
        #expect(fewerResult.findings.contains { $0.kind == .unidentifiedFlow })
    }

    @Test("assembled connections: an ID of 4 to 20 bytes one way and none the other, three datagrams each way")
    func connections() throws {
        for idLength in [4, 8, 20] {
            let id = Self.noise(idLength, seed: UInt64(idLength))
            let frames: [[UInt8]] = (0..<6).map { (index: Int) -> [UInt8] in
                let packet = Self.shortHeader(id: index % 2 == 0 ? id : [], seed: UInt64(index + 1))
                return Self.frame(packet, fromClient: index % 2 == 0)
            }
            #expect(try WireGuardTests.flows(frames).flows.map(\.proto) == [.quic], "an ID of \(idLength)")
        }
    }

    @Test("look-alikes stay unknown: a steady first byte (OpenVPN's P_DATA_V2), no ID, random bytes, one way only")
    func lookAlikes() throws {
        // OpenVPN's data packets: 0x48 (P_DATA_V2, key 0), a 3-byte peer id, a 4-byte packet id counting up.
        let openVPN: [[UInt8]] = (0..<12).map { (index: Int) -> [UInt8] in
            let header: [UInt8] = [0x48, 0x00, 0x00, 0x07, 0, 0, 0, UInt8(index / 2 + 1)]
            return Self.frame(header + Self.noise(80, seed: UInt64(index + 100)), fromClient: index % 2 == 0)
        }
        // Short-header shaped, but no bytes shared after the first: no connection ID either way.
        let noID: [[UInt8]] = (0..<12).map { (index: Int) -> [UInt8] in
            Self.frame(Self.shortHeader(id: [], seed: UInt64(index + 200)), fromClient: index % 2 == 0)
        }
        // Only one way: a connection's packets, but nothing back.
        let id = Self.noise(8, seed: 9)
        let oneWay: [[UInt8]] = (0..<12).map { (index: Int) -> [UInt8] in
            Self.frame(Self.shortHeader(id: id, seed: UInt64(index + 1)), fromClient: true)
        }
        // An ID one way, then a datagram without the fixed bit: the watch ends there.
        let broken: [[UInt8]] = (0..<8).map { (index: Int) -> [UInt8] in
            var payload = Self.shortHeader(id: index % 2 == 0 ? id : [], seed: UInt64(index + 1))
            if index == 3 { payload[0] &= 0x3f }
            return Self.frame(payload, fromClient: index % 2 == 0)
        }
        // Too short to hold a sealed packet (20 bytes and no ID).
        let tiny: [[UInt8]] = (0..<8).map { (index: Int) -> [UInt8] in
            let packet = Array(Self.shortHeader(id: id, seed: UInt64(index + 1)).prefix(20))
            return Self.frame(packet, fromClient: index % 2 == 0)
        }
        let cases: [(String, [[UInt8]])] = [
            ("OpenVPN", openVPN), ("no ID", noID), ("one way", oneWay), ("broken", broken), ("tiny", tiny),
        ]
        for (name, frames) in cases {
            let (flows, result) = try WireGuardTests.flows(frames)
            #expect(flows.map(\.proto) == [.unknownBinary], "\(name)")
            #expect(result.findings.contains { $0.kind == .unidentifiedFlow }, "\(name)")
        }
        // Random datagrams: 200 flows of eight, none taken for QUIC.
        var random: [[UInt8]] = []
        for flow in 0..<200 {
            for index in 0..<8 {
                let payload = Self.noise(40 + index, seed: UInt64(flow * 16 + index + 1))
                var frame = Self.frame(payload, fromClient: index % 2 == 0)
                // A port each flow: the client's source port (the frame's UDP header follows 14 + 20 bytes).
                if index % 2 == 0 {
                    frame[34] = UInt8(20 + flow / 256)
                    frame[35] = UInt8(flow % 256)
                } else {
                    frame[36] = UInt8(20 + flow / 256)
                    frame[37] = UInt8(flow % 256)
                }
                random.append(frame)
            }
        }
        let (randomFlows, _) = try WireGuardTests.flows(random)
        #expect(randomFlows.count == 200)
        #expect(!randomFlows.contains { $0.proto == .quic })
    }

    @Test("a long header of a version QUIC has is passed over (and names the version); of another, ends the watch")
    func longHeaders() {
        let id = Self.noise(8, seed: 3)
        let sealed: [UInt8] = [0] + Self.noise(40, seed: 5)
        let handshake: [UInt8] = [0xe0, 0, 0, 0, 1, 8] + id + sealed
        let unknownVersion: [UInt8] = [0xe0, 0x0a, 0x1a, 0x2a, 0x3a, 8] + id + sealed
        let packets: [(fromLow: Bool, payload: [UInt8])] = (0..<6).map {
            (index: Int) -> (fromLow: Bool, payload: [UInt8]) in
            (index % 2 == 0, Self.shortHeader(id: index % 2 == 0 ? id : [], seed: UInt64(index + 1)))
        }
        var watch = QUICShortHeaders()
        let withHandshake = Self.verdicts([(false, handshake)] + packets)
        #expect(withHandshake.last == .quic)
        #expect(withHandshake.dropLast().allSatisfy { $0 == .pending })
        handshake.withUnsafeBytes { _ = watch.add($0, fromLow: true) }
        #expect(watch.version == 1)
        #expect(Self.verdicts([(false, unknownVersion)] + packets).first == .notQUIC)
    }
}
