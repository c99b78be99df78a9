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
        let files = try CaptureAnalysis.expand([Repository.path("captures")])
        var flows: [FlowRecord] = []
        _ = try CaptureAnalysis.run(files: files) { flows.append($0) }
        // Add a flow with every optional filled and characters that need escaping.
        var odd = try #require(flows.first { $0.tls != nil })
        odd.client = "a\"b\\c\n\u{01}é"
        odd.credentials = [Credential(kind: "http-basic", user: "bob\t", redacted: "password: 3 characters (redacted)", note: "n")]
        odd.tls?.alerts = [TLSAlert(from: "server", level: "fatal", description: "x", code: nil, inferred: true)]
        odd.tls?.clientFlightRecordSizes = [25, 69]
        flows.append(odd)
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
