import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import PacketAnalysis

/// WireGuard, as Kubernetes CNIs encrypt node-to-node traffic: a real tunnel's packets (captures/wireguard-http.pcap,
/// wireguard-go between two namespaces) are an encrypted `wireguard` flow, never an unidentified one, whether the
/// capture holds the handshake or began after it; data that only resembles its transport messages stays unknown.
@Suite("WireGuard")
struct WireGuardTests {
    /// The Ethernet frames of the committed capture, in order.
    static func frames() throws -> [[UInt8]] { try PacketBuilder.frames(ofCapture: "wireguard-http.pcap") }

    static func flows(_ frames: [[UInt8]]) throws -> (flows: [FlowRecord], result: CaptureAnalysisResult) {
        try analyze(PacketBuilder.pcap(frames.map { (1_764_547_200, $0) }))
    }

    @Test("the tunnel's handshake makes the flow wireguard, its initiator the client")
    func handshake() throws {
        let frames = try Self.frames()
        // The initiation (148 bytes of UDP payload) comes first, then the response (92).
        #expect(frames.count >= 6 && frames[0].count == 14 + 20 + 8 + 148 && frames[1].count == 14 + 20 + 8 + 92)
        let (flows, result) = try Self.flows(frames)
        #expect(flows.map(\.proto) == [.wireguard])
        #expect(flows.first?.encrypted == true)
        #expect(flows.first?.client == "198.19.40.1:51820")
        #expect(result.findings.isEmpty)
        // The response alone, first: its sender is the server.
        let (responseFirst, _) = try Self.flows(Array(frames[1...]))
        #expect(responseFirst.first?.client == "198.19.40.1:51820")
    }

    @Test("after the handshake, four transport messages in a row are WireGuard; three are not yet")
    func transportOnly() throws {
        let transport = Array(try Self.frames().dropFirst(2))
        #expect(transport.count >= 4)
        #expect(try Self.flows(Array(transport.prefix(4))).flows.map(\.proto) == [.wireguard])
        let (three, result) = try Self.flows(Array(transport.prefix(3)))
        #expect(three.map(\.proto) == [.unknownBinary])
        #expect(result.findings.contains { $0.kind == .unidentifiedFlow })
    }

    @Test("a datagram of another shape among them ends the following: unknown binary, with its finding")
    func lookAlike() throws {
        var transport = Array(try Self.frames().dropFirst(2).prefix(6))
        // The third datagram's reserved bytes made non-zero (its checksum is not checked).
        transport[2][14 + 20 + 8 + 1] = 0x5a
        let (flows, result) = try Self.flows(transport)
        #expect(flows.map(\.proto) == [.unknownBinary])
        #expect(result.findings.contains { $0.kind == .unidentifiedFlow })
    }

    @Test("a DNS query that has WireGuard's shape (id 0x0400, no recursion desired, 48 bytes) is DNS")
    func dnsLookAlike() throws {
        let name: [UInt8] = [30] + [UInt8](repeating: 0x61, count: 30) + [0]
        let query: [UInt8] = [0x04, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0] + name + [0, 1, 0, 1]
        #expect(query.count == 48)
        #expect(query.withUnsafeBytes { FlowAnalyzer.wireGuardMessage($0) } == 4)
        let udp = PacketBuilder.udp(sourcePort: 40_000, destinationPort: 53, payload: query)
        let frame = PacketBuilder.ethernet(
            PacketBuilder.ipv4Packet(source: "198.18.0.2", destination: "198.18.0.53", proto: 17, transport: udp))
        #expect(try Self.flows([frame]).flows.map(\.proto) == [.dns])
    }

    @Test("message shapes: the handshake's exact lengths, transport data aligned to 16 bytes, reserved bytes zero")
    func shapes() {
        func type(_ bytes: [UInt8]) -> UInt8? { bytes.withUnsafeBytes { FlowAnalyzer.wireGuardMessage($0) } }
        let header: (UInt8) -> [UInt8] = { [$0, 0, 0, 0] }
        #expect(type(header(1) + [UInt8](repeating: 7, count: 144)) == 1)
        #expect(type(header(1) + [UInt8](repeating: 7, count: 145)) == nil)
        #expect(type(header(2) + [UInt8](repeating: 7, count: 88)) == 2)
        #expect(type(header(3) + [UInt8](repeating: 7, count: 60)) == 3)
        #expect(type(header(4) + [UInt8](repeating: 7, count: 28)) == 4)  // a keepalive: header and tag only
        #expect(type(header(4) + [UInt8](repeating: 7, count: 29)) == nil)
        #expect(type([4, 0, 1, 0] + [UInt8](repeating: 7, count: 28)) == nil)
        #expect(type(header(5) + [UInt8](repeating: 7, count: 28)) == nil)
        #expect(type(header(4) + [UInt8](repeating: 7, count: 12)) == nil)
    }
}
