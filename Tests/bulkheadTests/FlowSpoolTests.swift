import Foundation
import Testing

@testable import bulkhead

/// The spool that holds encoded flows until the `analyze` document is written, fed by several lanes at once.
@Suite("Flow spool")
struct FlowSpoolTests {
    @Test(
        "lanes writing at once through small buffers: every flow comes back whole, once, in id order (index in memory, or in sorted runs on disk)",
        arguments: [1 << 18, 1_000, 7, 1])
    func lanesInIDOrder(runLimit: Int) throws {
        let folder = FileManager.default.temporaryDirectory.path
        let spool = try FlowSpool(folder: folder, runLimit: runLimit)
        let lanes = 3
        let perLane = 2_000
        // Ids interleave across lanes as flows do; some flows are larger than a writer's buffer (written apart).
        @Sendable func payload(_ id: Int) -> [UInt8] {
            let length = id % 97 == 0 ? 300 : 1 + id % 41
            return (0..<length).map { UInt8(truncatingIfNeeded: id &* 31 &+ $0) }
        }
        let writers = (0..<lanes).map { _ in spool.writer(capacity: 256) }
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            // Each lane ends its flows out of order, as flows open at once do.
            for index in (0..<perLane).reversed() {
                let id = index * lanes + lane
                payload(id).withUnsafeBytes { writers[lane].append(id: id, $0) }
            }
        }
        var seen: [[UInt8]] = []
        try spool.forEachInIDOrder { seen.append(Array($0)) }
        #expect(spool.count == lanes * perLane)
        #expect(seen.count == lanes * perLane)
        #expect(seen == (0..<lanes * perLane).map(payload))
    }
}
