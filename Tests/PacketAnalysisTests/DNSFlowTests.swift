import BulkheadModel
import Foundation
import Testing

@testable import PacketAnalysis

/// A DNS flow (one client port's exchange with a resolver) ends once its queries are answered, as a TCP connection
/// ends after its FIN: held for the 120 s idle timeout, a resolver's traffic filled the flow table.
@Suite("DNS flows")
struct DNSFlowTests {
    /// A query (or, with `response`, its answer) for svc.cluster.local, id `id`.
    static func message(id: Int, response: Bool) -> [UInt8] {
        let name: [UInt8] = [3] + Array("svc".utf8) + [7] + Array("cluster".utf8) + [5] + Array("local".utf8) + [0]
        var bytes =
            PacketBuilder.be16(id) + PacketBuilder.be16(response ? 0x8180 : 0x0100) + PacketBuilder.be16(1)
            + PacketBuilder.be16(response ? 1 : 0) + PacketBuilder.be16(0) + PacketBuilder.be16(0)
            + name + PacketBuilder.be16(1) + PacketBuilder.be16(1)
        if response {
            bytes +=
                [0xc0, 0x0c] + PacketBuilder.be16(1) + PacketBuilder.be16(1) + PacketBuilder.be32(30)
                + PacketBuilder.be16(4) + [198, 19, 0, 7]
        }
        return bytes
    }

    /// One datagram between a client (198.18.0.2, `port`) and the resolver (198.18.0.53:53) at `time` seconds.
    static func datagram(port: Int, id: Int, response: Bool, time: UInt32) -> (time: UInt32, bytes: [UInt8]) {
        let payload = Self.message(id: id, response: response)
        let udp =
            response
            ? PacketBuilder.udp(sourcePort: 53, destinationPort: port, payload: payload)
            : PacketBuilder.udp(sourcePort: port, destinationPort: 53, payload: payload)
        let (source, destination) = response ? ("198.18.0.53", "198.18.0.2") : ("198.18.0.2", "198.18.0.53")
        return (
            1_764_547_200 + time,
            PacketBuilder.ethernet(
                PacketBuilder.ipv4Packet(source: source, destination: destination, proto: 17, transport: udp))
        )
    }

    @Test(
        "a resolver's traffic past the open-flow limit: answered exchanges end after 5 s, none evicted, on 1 and 2 lanes"
    )
    func answeredExchangesEnd() throws {
        // 6,000 exchanges, 100 a second from ports of their own (4500 among them: not IPsec when the peer is DNS).
        var packets: [(time: UInt32, bytes: [UInt8])] = []
        let ports = (0..<6000).map { 2000 + $0 }
        #expect(ports.contains(4500))
        for (index, port) in ports.enumerated() {
            packets.append(Self.datagram(port: port, id: index, response: false, time: UInt32(index / 100)))
            packets.append(Self.datagram(port: port, id: index, response: true, time: UInt32(index / 100)))
        }
        let path = try PacketBuilder.write(PacketBuilder.pcap(packets))
        defer { try? FileManager.default.removeItem(atPath: path) }
        for threads in [1, 2] {
            var options = AnalysisOptions(threads: threads, shardingThreshold: 0)
            options.openFlowLimit = 1024
            // Lanes hand flows over from their own threads.
            let lock = NSLock()
            var flows: [FlowRecord] = []
            _ = try CaptureAnalysis.run(files: [path], options: options) { flow in lock.withLock { flows.append(flow) }
            }
            let run = (flows: flows, ())
            #expect(run.flows.count == 6000)
            #expect(run.flows.allSatisfy { $0.proto == .dns }, "\(Set(run.flows.map(\.proto)))")
            #expect(
                run.flows.allSatisfy { $0.anomalies.isEmpty },
                "\(run.flows.filter { !$0.anomalies.isEmpty }.count) with anomalies")
            #expect(
                run.flows.allSatisfy { $0.packets.toServer == 1 && $0.packets.toClient == 1 },
                "\(run.flows.filter { $0.packets.toServer != 1 || $0.packets.toClient != 1 }.prefix(2))")
        }
    }

    @Test(
        "a query without its answer keeps the flow open to the idle timeout; a second query on an answered flow joins it"
    )
    func unansweredAndReused() throws {
        // Port 40000: asked at 0 s, never answered. Port 40001: answered at 0 s, asked again 3 s later (within the
        // 5 s), answered at 4 s. Port 40002: answered at 0 s, asked again 10 s later: a new flow. At 200 s, after the
        // 120 s idle timeout, port 40000 asks again: a new flow too.
        let packets = [
            Self.datagram(port: 40000, id: 1, response: false, time: 0),
            Self.datagram(port: 40001, id: 2, response: false, time: 0),
            Self.datagram(port: 40001, id: 2, response: true, time: 0),
            Self.datagram(port: 40002, id: 3, response: false, time: 0),
            Self.datagram(port: 40002, id: 3, response: true, time: 0),
            Self.datagram(port: 40001, id: 4, response: false, time: 3),
            Self.datagram(port: 40001, id: 4, response: true, time: 4),
            Self.datagram(port: 40002, id: 5, response: false, time: 10),
            Self.datagram(port: 40002, id: 5, response: true, time: 10),
            Self.datagram(port: 40000, id: 6, response: false, time: 60),
            Self.datagram(port: 40000, id: 7, response: false, time: 200),
        ]
        var ended: [(port: String, packets: Int, at: Int)] = []
        try PacketBuilder.pcap(packets).withUnsafeBytes { raw in
            let capture = try CaptureFile(borrowing: raw, name: "dns.pcap")
            var latest = 0
            let analyzer = FlowAnalyzer(options: AnalysisOptions()) { record in
                ended.append((record.client, Int(record.packets.toServer + record.packets.toClient), latest))
            }
            try capture.forEachPacket { packet in
                latest = Int(packet.timestamp.seconds - 1_764_547_200)
                analyzer.process(packet)
            }
            analyzer.finish()
        }
        let summary = ended.map { "\($0.port) \($0.packets) at \($0.at)" }
        // 40002's first exchange ends when its port asks again 10 s later; the answered 40001 and 40002 at the sweep a
        // minute in; the unanswered 40000 (two queries) only once 120 s pass without a packet; its last query at the end.
        #expect(
            summary == [
                "198.18.0.2:40002 2 at 10", "198.18.0.2:40001 4 at 60", "198.18.0.2:40002 2 at 60",
                "198.18.0.2:40000 2 at 200", "198.18.0.2:40000 1 at 200",
            ], "\(ended)")
    }
}
