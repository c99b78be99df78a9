import BulkheadModel
import BulkheadTestSupport
import Foundation
import PacketAnalysis
import Testing

@testable import Reporting

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

@Suite("JSON buffer")
struct JSONBufferTests {
    /// The word-at-a-time scan against the obvious loop, on strings with every special byte at every offset of a
    /// word, non-ASCII bytes (which must never match), and random text.
    @Test("the eight-bytes-at-a-time escape scan agrees with a loop over bytes")
    func escapeScanAgrees() {
        func naive(_ bytes: [UInt8]) -> Bool { bytes.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5c } }
        var samples: [[UInt8]] = [[], Array("198.18.0.6:33554".utf8), Array("é ü 漢字 \u{7f}".utf8)]
        for special: UInt8 in [0x00, 0x01, 0x1f, 0x22, 0x5c] {
            for length in 1...19 {
                for position in 0..<length {
                    var bytes = [UInt8](repeating: 0xc3, count: length)
                    bytes[position] = special
                    samples.append(bytes)
                }
            }
        }
        // Near misses: the bytes around each special one, and the high-bit neighbours.
        for near: UInt8 in [0x20, 0x21, 0x23, 0x5b, 0x5d, 0x80, 0xa2, 0xdc, 0xff] {
            samples.append([UInt8](repeating: near, count: 17))
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            samples.append((0..<Int.random(in: 0...40, using: &generator)).map { _ in UInt8.random(in: 0x1c...0x7f) })
        }
        for bytes in samples {
            let fast = bytes.withUnsafeBytes { JSONBuffer.needsEscaping($0) }
            #expect(fast == naive(bytes), "\(bytes)")
        }
    }
}
