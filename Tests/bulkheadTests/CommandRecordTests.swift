import BulkheadModel
import BulkheadTestSupport
import Foundation
import Lab
import LiveCapture
import Reporting
import Testing

@testable import bulkhead

/// The records the command line writes itself (`capture --format json`'s header and per-flow names, `scenario run
/// --format json`'s document) keep every key, absent values written as `null` through `@ExplicitNull`, byte for
/// byte as the hand-written encoders they replace wrote them.
@Suite("Command-line records: explicit nulls")
struct CommandRecordTests {
    @Test("capture's per-flow names: every key, null when a name is unknown, the same bytes as before")
    func flowExtras() throws {
        let unnamed = Bulkhead.Capture.FlowExtras(clientName: nil, interface: "br-1", serverName: nil)
        #expect(
            String(decoding: try JSONReport.compact(unnamed), as: UTF8.self)
                == #"{"clientName":null,"interface":"br-1","serverName":null}"#)
        let named = Bulkhead.Capture.FlowExtras(clientName: "web", interface: "br-1", serverName: "db")
        #expect(
            String(decoding: try JSONReport.compact(named), as: UTF8.self)
                == #"{"clientName":"web","interface":"br-1","serverName":"db"}"#)
        let problems = try ExplicitNullReflection.check(unnamed)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("capture's header: every key, `written` null without a pcapng file, the same bytes as before")
    func captureHeader() throws {
        let header = Bulkhead.Capture.CaptureHeader(
            captureSeconds: 1.5, complete: false, endpoints: ["198.18.230.2": "client"],
            interfaces: [InterfaceReport(name: "br-1", network: nil, linkType: 1, snapLength: 262_144)],
            problems: ["interface br-2: gone"], stoppedBy: "duration", written: nil)
        let expected = """
            {
              "captureSeconds" : 1.5,
              "complete" : false,
              "endpoints" : {
                "198.18.230.2" : "client"
              },
              "interfaces" : [
                {
                  "bytes" : 0,
                  "dropped" : null,
                  "linkType" : 1,
                  "name" : "br-1",
                  "network" : null,
                  "packets" : 0,
                  "problem" : null,
                  "snapLength" : 262144,
                  "state" : "captured"
                }
              ],
              "problems" : [
                "interface br-2: gone"
              ],
              "stoppedBy" : "duration",
              "written" : null
            }

            """
        #expect(String(decoding: try JSONReport.document(header), as: UTF8.self) == expected)
        let problems = try ExplicitNullReflection.check(header)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("scenario run's document: `reachability` null when the scenario declares none, an object when it does")
    func scenarioRun() throws {
        let comparison = try JSONDecoder().decode(
            ScenarioComparison.self,
            from: Data(#"{"scenario":"s","expected":[],"observed":[],"missing":[],"unexpected":[]}"#.utf8))
        let traffic = try JSONDecoder().decode(
            [TrafficResult].self,
            from: Data(
                #"[{"from":"client","command":["true"],"exitCode":0,"expectedExit":0},{"from":"slow","command":["sleep","9"],"exitCode":null,"expectedExit":0}]"#
                    .utf8))
        let reachability = try JSONDecoder().decode(
            ReachabilityComparison.self,
            from: Data(
                #"{"mismatches":[{"cell":"a -> b","expected":"blocked","observed":"reachable","entry":"a -> *"},{"cell":"b -> a","expected":"blocked","observed":"reachable","entry":null}],"unusedEntries":[],"cellsCompared":4}"#
                    .utf8))
        let report = AuditReport(
            generatedAt: "2026-12-04T22:00:00Z", host: "h", policy: "p", stages: [], edges: [], findings: [],
            baseline: nil, complete: true, problems: [], summary: AuditSummary(),
            evidence: AuditEvidence(inventory: nil, probe: nil, tls: nil, capture: nil, tlsFindings: nil))
        for declared in [nil, reachability] {
            let moved = ScenarioRelocation.Move(
                network: "front", from: "198.18.40.0/24", to: "198.19.40.0/24",
                heldBy: "Docker network ci (198.18.40.0/24)")
            let run = ScenarioRun(
                relocation: declared == nil ? [] : [moved], comparison: comparison, traffic: traffic,
                reachability: declared, audit: report)
            let data = try JSONReport.document(run)
            let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(Set(object.keys) == ["relocation", "comparison", "traffic", "reachability", "audit"])
            let relocation = try #require(object["relocation"] as? [[String: String]])
            let expectedRelocation: [[String: String]] = [
                [
                    "network": "front", "from": "198.18.40.0/24", "to": "198.19.40.0/24",
                    "heldBy": "Docker network ci (198.18.40.0/24)",
                ]
            ]
            #expect(relocation == (declared == nil ? [] : expectedRelocation))
            if declared == nil {
                #expect(object["reachability"] is NSNull)
            } else {
                #expect((object["reachability"] as? [String: Any])?["cellsCompared"] as? Int == 4)
            }
            // The members are the values' own encodings, as the hand-written encoder wrote them.
            #expect(
                try JSONSerialization.jsonObject(with: JSONReport.compact(report)) as? NSDictionary
                    == object["audit"] as? NSDictionary)
            // Absent nested values (a command that did not finish, a cell no entry matched) are written as null too.
            let slow = try #require((object["traffic"] as? [[String: Any]])?.last)
            #expect(slow["exitCode"] is NSNull)
            let unmatched = try #require(
                ((object["reachability"] as? [String: Any])?["mismatches"] as? [[String: Any]])?.last ?? [:])
            if declared != nil { #expect(unmatched["entry"] is NSNull) }
            let problems = try ExplicitNullReflection.check(run)
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        }
    }
}
