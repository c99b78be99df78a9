import BulkheadModel
import Foundation
import Testing

@testable import PacketAnalysis

/// Flows that pile up faster than they end (a SYN scan's half-open connections wait out a 600 s idle timeout) must not
/// outgrow memory: past the open-flow limit the least recently seen end early, marked `evicted`.
@Suite("Open-flow limit")
struct OpenFlowLimitTests {
    /// `count` SYNs from one scanner to as many ports, `perSecond` a second, none answered; then the first port answers
    /// and the scanner sends data on that connection.
    static func synScan(count: Int, perSecond: Int = 100) -> [UInt8] {
        var packets: [(time: UInt32, bytes: [UInt8])] = []
        for index in 0..<count {
            let syn = PacketBuilder.tcp(
                sourcePort: 40000, destinationPort: 1 + index, sequence: UInt32(index), flags: 0x02)
            packets.append(
                (
                    UInt32(1_764_547_200 + index / perSecond),
                    PacketBuilder.ethernet(
                        PacketBuilder.ipv4Packet(
                            source: "198.18.0.1", destination: "198.19.0.1", proto: 6, transport: syn))
                ))
        }
        let late = UInt32(1_764_547_200 + count / perSecond + 1)
        let synAck = PacketBuilder.tcp(
            sourcePort: 1, destinationPort: 40000, sequence: 9, acknowledgement: 1, flags: 0x12)
        let data = PacketBuilder.tcp(
            sourcePort: 40000, destinationPort: 1, sequence: 1, acknowledgement: 10, flags: 0x18,
            payload: Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        for (source, destination, transport) in [
            ("198.19.0.1", "198.18.0.1", synAck), ("198.18.0.1", "198.19.0.1", data),
        ] {
            packets.append(
                (
                    late,
                    PacketBuilder.ethernet(
                        PacketBuilder.ipv4Packet(
                            source: source, destination: destination, proto: 6, transport: transport))
                ))
        }
        return PacketBuilder.pcap(packets)
    }

    @Test(
        "a SYN scan past the limit: every connection reported once, the oldest ended early as evicted, and none below it"
    )
    func scanPastTheLimit() throws {
        let bytes = Self.synScan(count: 3000)
        try bytes.withUnsafeBytes { raw in
            let capture = try CaptureFile(borrowing: raw, name: "syn-scan.pcap")
            for limit in [1024, 4096] {
                var options = AnalysisOptions()
                options.openFlowLimit = limit
                var records: [FlowRecord] = []
                let analyzer = FlowAnalyzer(options: options) { records.append($0) }
                try capture.forEachPacket { analyzer.process($0) }
                let beforeEnd = records.count
                analyzer.finish()
                let evicted = records.filter { $0.anomalies.contains("evicted") }
                if limit == 1024 {
                    // Ended while the capture was read, not held to its end.
                    #expect(beforeEnd >= 3000 - 1024)
                    #expect(evicted.count >= 3000 - 1024 && evicted.allSatisfy { $0.proto == .empty })
                    // Port 1's connection was the first evicted: its answer starts a new flow, read mid-stream.
                    let resumed = records.filter { $0.server == "198.19.0.1:1" || $0.client == "198.19.0.1:1" }
                    #expect(resumed.count == 2 && resumed.last?.proto == .http, "\(resumed.map(\.anomalies))")
                    #expect(records.count == 3001)
                } else {
                    #expect(evicted.isEmpty && beforeEnd == 0)
                    #expect(records.count == 3000, "the answer joins port 1's connection")
                }
                #expect(Set(records.map(\.id)).count == records.count)
            }
        }
    }

    @Test("the same capture evicts the same flows in every run, whatever the flow table's hash seeds")
    func evictionIsReproducible() throws {
        // More open flows than the eviction samples at once (4,096), each seen at a time of its own: a cutoff taken
        // from a sample chosen by place in the table (which follows seeds drawn each run) moved from run to run.
        let bytes = Self.synScan(count: 14_000, perSecond: 1)
        var evictedSets: [Set<Int>] = []
        try bytes.withUnsafeBytes { raw in
            let capture = try CaptureFile(borrowing: raw, name: "syn-scan.pcap")
            for _ in 0..<4 {
                var options = AnalysisOptions()
                options.openFlowLimit = 12_000
                options.tcpIdleTimeout = 86_400  // a day: the scan's hours stay open, only eviction ends them
                var evicted = Set<Int>()
                let analyzer = FlowAnalyzer(options: options) { record in
                    if record.anomalies.contains("evicted") { evicted.insert(record.id) }
                }
                try capture.forEachPacket { analyzer.process($0) }
                analyzer.finish()
                evictedSets.append(evicted)
            }
        }
        #expect(evictedSets[0].count >= 2_000, "the scan must overrun the limit")
        #expect(Set(evictedSets).count == 1, "evicted per run: \(evictedSets.map(\.count))")
    }

    @Test("the lanes share the limit: a sharded run of the scan evicts too, and reports every connection")
    func shardedScan() throws {
        let path = try PacketBuilder.write(Self.synScan(count: 3000))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var options = AnalysisOptions(threads: 2, shardingThreshold: 0)
        options.openFlowLimit = 2048
        let lock = NSLock()
        var records: [FlowRecord] = []
        _ = try CaptureAnalysis.run(files: [path], options: options) { record in
            lock.withLock { records.append(record) }
        }
        #expect(records.filter { $0.anomalies.contains("evicted") }.count >= 3000 - 2048)
        #expect(Set(records.filter { $0.proto == .empty }.map(\.server)).count == 3000)
        #expect(records.count == 3001 && records.filter { $0.proto == .http }.count == 1)
    }
}
