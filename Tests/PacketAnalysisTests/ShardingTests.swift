import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import PacketAnalysis

@Suite("Sharded analysis")
struct ShardingTests {
    func run(threads: Int) throws -> (flows: [FlowRecord], result: CaptureAnalysisResult) {
        let files = try CaptureAnalysis.expand([Repository.path("captures")]).paths
        let lock = NSLock()
        var flows: [FlowRecord] = []
        let result = try CaptureAnalysis.run(
            files: files, options: AnalysisOptions(threads: threads, shardingThreshold: 0)
        ) { flow in
            lock.withLock { flows.append(flow) }
        }
        return (flows.sorted { $0.id < $1.id }, result)
    }

    @Test("any number of threads gives the same flows, ids and findings")
    func sameResults() throws {
        let single = try self.run(threads: 1)
        for threads in [2, 3] {
            let sharded = try self.run(threads: threads)
            #expect(sharded.flows == single.flows)
            #expect(sharded.result.findings == single.result.findings)
            #expect(sharded.result.summary.packets == single.result.summary.packets)
            #expect(sharded.result.summary.byProtocol == single.result.summary.byProtocol)
        }
        #expect(Set(single.flows.map(\.id)).count == single.flows.count, "ids are unique")
    }
}
