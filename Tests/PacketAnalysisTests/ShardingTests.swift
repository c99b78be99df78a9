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

    /// The lanes' batches are raw buffers handed between threads: a file that ends inside a record, or whose
    /// packets all go to one lane, must still come out as it does on one thread, with the damage reported.
    @Test("a truncated file and a single-flow file give the same result on any number of threads")
    func damagedAndLopsided() throws {
        let whole = try Data(contentsOf: Repository.root.appendingPathComponent("captures/tls13-mutual.pcap"))
        let cut = whole.prefix(whole.count - 37)
        for (name, bytes) in [("cut", cut), ("whole", whole)] {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent(
                "bh-sharding-\(name)-\(UUID().uuidString).pcap")
            try bytes.write(to: path)
            defer { try? FileManager.default.removeItem(at: path) }
            var results: [(flows: [FlowRecord], warnings: [String])] = []
            for threads in [1, 2, 3] {
                let lock = NSLock()
                var flows: [FlowRecord] = []
                let result = try CaptureAnalysis.run(
                    files: [path.path], options: AnalysisOptions(threads: threads, shardingThreshold: 0)
                ) { flow in lock.withLock { flows.append(flow) } }
                results.append((flows.sorted { $0.id < $1.id }, result.warnings.map(\.message)))
            }
            for result in results.dropFirst() {
                #expect(result.flows == results[0].flows, "\(name)")
                #expect(result.warnings == results[0].warnings, "\(name)")
            }
            #expect(results[0].flows.count == 1, "\(name)")
            #expect(results[0].warnings.isEmpty == (name == "whole"), "\(name): \(results[0].warnings)")
        }
    }

    /// A lane's thread outlives its work by a little (Foundation releases its closure as it exits): nothing of the
    /// analysis may be left to it, or the analysis, its analyzers and their findings are freed some time after the
    /// call returned, by whichever thread exits last (LeakSanitizer, fuzzing the lanes, took them for leaks).
    @Test("nothing of the analysis outlives its run on the lanes' threads")
    func nothingOutlivesTheRun() throws {
        let bytes = try Data(contentsOf: Repository.root.appendingPathComponent("captures/tls13-mutual.pcap"))
        var survivors = 0
        for _ in 0..<200 {
            weak var parallel: ParallelAnalysis?
            weak var analyzer: FlowAnalyzer?
            try bytes.withUnsafeBytes { raw in
                let capture = try CaptureFile(borrowing: raw, name: "tls13-mutual.pcap")
                let analyzers = (0..<2).map { _ in FlowAnalyzer(emit: { _ in }) }
                let analysis = ParallelAnalysis(analyzers: analyzers)
                parallel = analysis
                analyzer = analyzers[1]
                _ = try analysis.run(capture, framesBefore: 0) { _, _ in }
            }
            if parallel != nil || analyzer != nil { survivors += 1 }
        }
        #expect(survivors == 0, "\(survivors) of 200 runs left the analysis to a lane's thread")
    }
}
