import BulkheadModel
import Foundation
import Reporting
import Testing

@Suite("Probe JSON writer")
struct ProbeJSONTests {
    @Test("the hand-written document parses to exactly the Codable form: every field, nulls, escapes, numbers")
    func equalToCodable() throws {
        func attempts(_ count: Int) -> [ProbeAttempt] {
            (0..<count).map { attempt in
                let outcome: AttemptOutcome = AttemptOutcome.allCases[attempt % AttemptOutcome.allCases.count]
                let latency: Double = 1234.5678 / Double(attempt + 1)
                return ProbeAttempt(
                    outcome: outcome, latencyMs: latency, errno: attempt == 0 ? "ECONNREFUSED" : nil,
                    icmpType: attempt == 1 ? 3 : nil,
                    icmpCode: attempt == 1 ? 13 : nil, icmpFrom: attempt == 1 ? "198.18.1.1" : nil)
            }
        }
        func cell(_ index: Int) -> ReachabilityCell {
            let protocols: [ProbeProtocol] = [.icmp, .tcp, .udp]
            let kinds: [DestinationKind] = [.container, .gateway, .explicit, .namespace]
            let source: String = index % 2 == 0 ? "web \"quoted\" \\ \u{1}" : "api"
            let destination: String = index % 3 == 0 ? "198.18.1.2" : "198.18.1.2:80"
            let latency: Double? = index % 4 == 0 ? nil : Double(index) * 0.001 + 1e-7
            let network: String? = index % 5 == 0 ? nil : "net"
            let port: Int? = index % 3 == 0 ? nil : 80
            let note: String? = index % 2 == 0 ? "a note\nwith a newline" : nil
            let pid: Int? = index % 2 == 0 ? 1234 : nil
            var cell = ReachabilityCell(
                source: source, destination: destination, protocol: protocols[index % 3],
                state: CellState.allCases[index % CellState.allCases.count],
                attempts: index % 3, latencyMs: latency, destinationName: "dé-stination",
                destinationKind: kinds[index % 4], network: network,
                address: "198.18.1.2", port: port, reason: "listening", note: note, sourcePid: pid,
                evidence: attempts(index % 3)
            )
            let expectations: [BulkheadModel.Expectation?] = [nil, .deny, .allow]
            cell.expected = expectations[index % 3]
            cell.violation = index % 4 == 1 ? Violation.unexpectedReachable : nil
            cell.rule = index % 2 == 0 ? "allow[0]" : nil
            return cell
        }
        let report = ProbeReport(
            generatedAt: "2026-11-29T12:00:00Z", policy: "p",
            settings: ProbeSettings(
                attempts: 2, timeoutsSeconds: ["tcp": 1], maxInFlight: 0, maxInFlightPerDestination: 256,
                extraPorts: ["tcp/9"], explicitTargets: []),
            inventory: InventoryReport(
                sources: [], networks: [], containers: [], namespaces: [], findings: [], complete: true, problems: [],
                summary: InventorySummary()),
            sources: [ProbeSource(name: "web", pid: 1, netns: nil, skipReason: nil, namespacePath: "/run/netns/x")],
            cells: (0..<24).map(cell),
            findings: [
                Finding(kind: FindingKind(identifier: "k"), severity: .high, title: "t", detail: "d", location: nil)
            ], complete: false,
            problems: ["p"], summary: ProbeSummary()
        )
        let written = try #require(
            try JSONSerialization.jsonObject(with: try ProbeJSON.document(report)) as? NSDictionary)
        let encoded = try #require(
            try JSONSerialization.jsonObject(with: try JSONReport.document(report)) as? NSDictionary)
        #expect(written.isEqual(encoded))
        var empty = report
        empty.cells = []
        #expect(
            (try JSONSerialization.jsonObject(with: try ProbeJSON.document(empty)) as? NSDictionary)?.isEqual(
                try JSONSerialization.jsonObject(with: try JSONReport.document(empty)) as? NSDictionary) == true)
    }
}
