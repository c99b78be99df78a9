import BulkheadModel
import BulkheadTestSupport
import Foundation
import PacketAnalysis
import Reporting
import Testing

/// The hand-written flow JSON must say exactly what the `Codable` conformance says.
@Suite("Flow JSON writer")
struct FlowJSONWriterTests {
    @Test("every corpus flow writes the same JSON as JSONEncoder")
    func matchesEncoder() throws {
        let files = try CaptureAnalysis.expand([Repository.path("captures")]).paths
        var flows: [FlowRecord] = []
        _ = try CaptureAnalysis.run(files: files) { flows.append($0) }
        // Add a flow with every optional filled and characters that need escaping.
        var odd = try #require(flows.first { $0.tls != nil })
        odd.client = "a\"b\\c\n\u{01}é"
        odd.credentials = [
            Credential(kind: "http-basic", user: "bob\t", redacted: "password: 3 characters (redacted)", note: "n")
        ]
        odd.tls?.alerts = [TLSAlert(from: "server", level: "fatal", description: "x", code: nil, inferred: true)]
        odd.tls?.clientFlightRecordSizes = [25, 69]
        // A certificate that could not be read: the only one with a parseError key.
        odd.tls?.serverCertificates.append(CertificateSummary.unreadable(sha256: "00ff", reason: "not \"DER\"\n"))
        odd.encapsulation = [
            EncapsulationLayer(kind: .gre, source: "198.19.40.1", destination: "198.19.40.2", id: nil),
            EncapsulationLayer(kind: .vxlan, source: "2001:2::1", destination: "x\"y", id: 16_777_215),
        ]
        flows.append(odd)
        // A tunnel with every optional empty, and one with each filled.
        odd.tunnel = TunnelRecord(
            proxy: "198.19.210.2:1080", destination: nil,
            hops: [
                TunnelHop(kind: "socks5", destination: nil, outcome: "incomplete", reply: nil, authentication: nil)
            ])
        flows.append(odd)
        odd.tunnel = TunnelRecord(
            proxy: "198.19.210.2:1080", destination: "b\"\\.test:443",
            hops: [
                TunnelHop(
                    kind: "socks5", destination: "p.test:3128", outcome: "granted", reply: 0,
                    authentication: "username-password"),
                TunnelHop(
                    kind: "http-connect", destination: "b\"\\.test:443", outcome: "granted", reply: 200,
                    authentication: "basic"),
            ])
        flows.append(odd)
        #expect(flows.contains { $0.tunnel != nil && $0.file != nil }, "the corpus has tunnel captures")
        var esp = odd
        esp.tls = nil
        esp.encapsulation = []
        esp.esp = ESPSummary(clientSPIs: ["0x0000c0de"], serverSPIs: [], udpEncapsulated: true)
        flows.append(esp)
        #expect(flows.count > 20)
        let encoder = JSONEncoder()
        for flow in flows {
            var writer = FlowJSONWriter()
            writer.write(flow)
            let handWritten = try JSONSerialization.jsonObject(with: Data(writer.bytes)) as? NSDictionary
            let encoded = try JSONSerialization.jsonObject(with: encoder.encode(flow)) as? NSDictionary
            #expect(handWritten != nil)
            #expect(handWritten == encoded, "flow \(flow.id)")
        }
    }
}

@Suite("Timestamps")
struct TimestampTests {
    @Test("formatting matches Foundation's ISO 8601 formatter, and parses back")
    func format() throws {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        var random = SystemRandomNumberGenerator()
        let samples: [Int64] =
            [0, 951_782_400, 1_709_164_800, 4_102_444_799, 86_399, 1_798_761_600]
            + (0..<200).map { _ in Int64.random(in: 0...4_102_444_800, using: &random) }
        for seconds in samples {
            let timestamp = Timestamp(seconds: seconds, nanoseconds: 123_456_789)
            let expected = formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
            #expect(timestamp.description.prefix(19) == expected.prefix(19), "\(seconds)")
            #expect(timestamp.description.hasSuffix(".123456Z"))
            #expect(Timestamp(rfc3339: timestamp.description) == Timestamp(seconds: seconds, nanoseconds: 123_456_000))
        }
    }
}
