import BulkheadModel
import BulkheadTestSupport
import Foundation
import PacketAnalysis
import Testing

@testable import Reporting

/// The hand-written flow JSON must say exactly what the `Codable` conformance says.
@Suite("Flow JSON writer")
struct FlowJSONWriterTests {
    @Test("the names the writer copies without an escape check need none (every case of their enums)")
    func namesNeedNoEscaping() {
        let names =
            ApplicationProtocol.allCases.map(\.rawValue) + ClientBasis.allCases.map(\.rawValue)
            + Transport.allCases.map(\.rawValue) + ClientCertificateState.allCases.map(\.rawValue)
            + EncapsulationKind.allCases.map(\.rawValue)
        #expect(names.count > 20)
        for name in names {
            var buffer = JSONBuffer()
            let plain = buffer.putPlainString(name)
            #expect(plain, "\(name)")
        }
    }

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
        #expect(flows.contains { $0.quic != nil }, "the corpus has QUIC captures")
        var quic = odd
        quic.quic = QUICSummary(version: "0xff00001d", retry: true, transportError: "server: \"odd\" (0x2)")
        flows.append(quic)
        #expect(flows.count > 20)
        let encoder = JSONEncoder()
        // Twice over: the second time, certificate lists come from the cache kept by their arrays (and a list changed
        // after it was cached, as `odd`'s, is a new array that must not find the old list's JSON).
        for round in 0..<2 {
            for flow in flows {
                var writer = FlowJSONWriter()
                writer.write(flow)
                let handWritten = try JSONSerialization.jsonObject(with: Data(writer.bytes)) as? NSDictionary
                let encoded = try JSONSerialization.jsonObject(with: encoder.encode(flow)) as? NSDictionary
                #expect(handWritten != nil)
                #expect(handWritten == encoded, "flow \(flow.id), round \(round)")
            }
        }
    }

    @Test("a plain string is written quoted, byte for byte, and one needing escapes leaves the buffer as it was")
    func plainStrings() {
        var generator = SystemRandomNumberGenerator()
        let pieces = ["a", "Z", "0", " ", ":", "é", "✓", "\"", "\\", "\n", "\u{1}", "\u{7f}", "\t"]
        for length in 0...40 {
            for _ in 0..<60 {
                let text = (0..<length).map { _ in pieces[Int.random(in: 0..<pieces.count, using: &generator)] }
                    .joined()
                let needsEscape = text.utf8.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5c }
                var buffer = JSONBuffer(capacity: 16)
                buffer.put(literal: "[")
                let written = buffer.putPlainString(text)
                buffer.put(literal: "]")
                let expected = needsEscape ? "[]" : "[\"\(text)\"]"
                #expect(written == !needsEscape && String(decoding: buffer.bytes, as: UTF8.self) == expected, "\(text)")
            }
        }
    }

    @Test("decimal numbers are written as String(value) writes them, at every length and around every power of ten")
    func decimals() {
        var values: [UInt64] = [0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, UInt64.max, UInt64.max - 1, 1 << 63]
        var power: UInt64 = 1
        for _ in 0..<19 {
            power *= 10
            values += [power - 1, power, power + 1]
        }
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            values.append(
                UInt64.random(in: 0...UInt64.max, using: &generator) >> (UInt64.random(in: 0...63, using: &generator)))
        }
        for value in values {
            var buffer = JSONBuffer(capacity: 16)
            buffer.put(UInt8(ascii: "["))
            buffer.put(decimal: value)
            buffer.put(decimal: -Int(value & 0xffff))
            // The capacity of 16 makes the buffer grow in the middle of the longest numbers.
            #expect(String(decoding: buffer.bytes, as: UTF8.self) == "[\(value)\(-Int(value & 0xffff))")
        }
    }

    @Test("a certificate list shared by flows is written from its cached JSON; a list changed from it is written anew")
    func sharedCertificateLists() throws {
        let files = try CaptureAnalysis.expand([Repository.path("captures/tls12-mutual.pcap")]).paths
        var flows: [FlowRecord] = []
        _ = try CaptureAnalysis.run(files: files) { flows.append($0) }
        let first = try #require(flows.first { !($0.tls?.serverCertificates.isEmpty ?? true) })
        var changed = first
        changed.tls?.serverCertificates.append(CertificateSummary.unreadable(sha256: "0bad", reason: "appended"))
        let encoder = JSONEncoder()
        for flow in [first, first, changed, first, changed] {
            var writer = FlowJSONWriter()
            writer.write(flow)
            let handWritten = try JSONSerialization.jsonObject(with: Data(writer.bytes)) as? NSDictionary
            let encoded = try JSONSerialization.jsonObject(with: encoder.encode(flow)) as? NSDictionary
            #expect(handWritten == encoded)
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

    /// Seconds at the edges of what is formatted (years 0000–9999; raw seconds outside), before 1970, leap days,
    /// 2038 and beyond, and random ones over the whole formatted range and past it.
    static func edgeSeconds() -> [Int64] {
        var random = SystemRandomNumberGenerator()
        let edges: [Int64] = [
            0, -1, 1, 86_399, 86_400, -86_399, -86_400, -86_401, 951_782_400, 951_868_799, -2_208_988_800,
            -2_203_891_201, -11_670_912_000, 2_147_483_647, 2_147_483_648, 4_107_542_399, 4_107_542_400,
            -62_167_219_201, -62_167_219_200, -62_167_219_199, -62_162_035_200, 253_402_300_799, 253_402_300_800,
            Int64.min, Int64.max, Int64.min + 86_399,
        ]
        return edges
            + (0..<500).map { _ in Int64.random(in: -62_167_219_199...253_402_300_799, using: &random) }
            + (0..<50).map { _ in Int64.random(in: Int64.min...Int64.max, using: &random) }
    }

    static let edgeNanoseconds: [UInt32] = [0, 999, 1_000, 123_456_789, 999_999_999, 1_000_000_000, UInt32.max]

    /// What the C library says (proleptic Gregorian, UTC): the formatter must agree on every second it formats.
    static func expected(_ timestamp: Timestamp) -> String {
        var seconds = time_t(timestamp.seconds)
        var parts = tm()
        guard timestamp.seconds > -62_167_219_200, timestamp.seconds < 253_402_300_800,
            gmtime_r(&seconds, &parts) != nil
        else { return "\(timestamp.seconds)" }
        func padded(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: width - digits.count) + digits
        }
        let micros = Int32(timestamp.nanoseconds / 1000 % 1_000_000)
        return "\(padded(parts.tm_year + 1900, 4))-\(padded(parts.tm_mon + 1, 2))-\(padded(parts.tm_mday, 2))T"
            + "\(padded(parts.tm_hour, 2)):\(padded(parts.tm_min, 2)):\(padded(parts.tm_sec, 2)).\(padded(micros, 6))Z"
    }

    @Test("description agrees with gmtime over edge and random seconds, raw seconds outside years 0000–9999")
    func edges() {
        for seconds in Self.edgeSeconds() {
            for nanoseconds in Self.edgeNanoseconds {
                let timestamp = Timestamp(seconds: seconds, nanoseconds: nanoseconds)
                #expect(timestamp.description == Self.expected(timestamp), "\(seconds) s \(nanoseconds) ns")
            }
        }
        #expect(Timestamp(seconds: -62_167_219_199, nanoseconds: 0).description == "0000-01-01T00:00:01.000000Z")
        #expect(
            Timestamp(seconds: 253_402_300_799, nanoseconds: 999_999_999).description == "9999-12-31T23:59:59.999999Z")
        #expect(Timestamp(seconds: 951_782_400, nanoseconds: 0).description == "2000-02-29T00:00:00.000000Z")
        #expect(Timestamp(seconds: -1, nanoseconds: 0).description == "1969-12-31T23:59:59.000000Z")
        #expect(Timestamp(seconds: 253_402_300_800, nanoseconds: 0).description == "253402300800")
    }

    @Test("the flow writer puts exactly the description, quoted, into its buffer (the Codable form)")
    func writerMatchesDescription() throws {
        // One writer for all of them: its buffer grows past its first capacity on the way.
        var writer = FlowJSONWriter()
        var expected: [UInt8] = []
        for seconds in Self.edgeSeconds() {
            for nanoseconds in Self.edgeNanoseconds {
                let timestamp = Timestamp(seconds: seconds, nanoseconds: nanoseconds)
                var alone = FlowJSONWriter()
                alone.timestamp(timestamp)
                #expect(alone.bytes == Array("\"\(timestamp.description)\"".utf8), "\(seconds) s \(nanoseconds) ns")
                #expect(alone.bytes == Array(try JSONEncoder().encode(timestamp)), "\(seconds) s \(nanoseconds) ns")
                writer.timestamp(timestamp)
                expected += Array("\"\(timestamp.description)\"".utf8)
            }
        }
        #expect(writer.bytes == expected)
        // The writer copies the date of the last timestamp written when the next falls in the same second: a second
        // repeated, left and come back to, with an unwritable one (year 10000 and later, and before year 0) between.
        var generator = SystemRandomNumberGenerator()
        let seconds: [Int64] = [
            1_764_547_200, 1_764_547_201, 0, -1, 253_402_300_800, -62_167_219_201, Int64.min, Int64.max,
        ]
        var mixed = FlowJSONWriter()
        var mixedExpected: [UInt8] = []
        for _ in 0..<2_000 {
            let timestamp = Timestamp(
                seconds: seconds[Int.random(in: 0..<seconds.count, using: &generator)],
                nanoseconds: UInt32.random(in: 0...2_000_000_000, using: &generator))
            mixed.timestamp(timestamp)
            mixedExpected += Array("\"\(timestamp.description)\"".utf8)
        }
        #expect(mixed.bytes == mixedExpected)
    }
}

@Suite("JSON buffer")
struct JSONBufferTests {
    /// The word-at-a-time check and copy against the obvious loop, on bytes with every special byte at every offset
    /// of a word, non-ASCII bytes (which must never match), and random text: refused exactly when a byte needs
    /// escaping, and otherwise copied byte for byte between quotes.
    @Test("the eight-bytes-at-a-time escape check agrees with a loop over bytes")
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
            var buffer = JSONBuffer(capacity: 16)
            let plain = bytes.withUnsafeBytes { buffer.putPlain($0) }
            #expect(plain == !naive(bytes), "\(bytes)")
            #expect(buffer.bytes == (plain ? [0x22] + bytes + [0x22] : []), "\(bytes)")
        }
    }
}
