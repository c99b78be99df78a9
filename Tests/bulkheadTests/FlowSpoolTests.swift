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

    @Test(
        "flows handed to the report where they lie in the spool, gathered and written with writev: each once, in id order, with the pieces written before and after (a file; a FIFO read slowly)",
        arguments: [false, true])
    func gatheredIntoReport(throughFIFO: Bool) throws {
        let folder = FileManager.default.temporaryDirectory.path
        let spool = try FlowSpool(folder: folder, runLimit: 1_000)
        let count = 5_000
        @Sendable func payload(_ id: Int) -> [UInt8] {
            (0..<(1 + id % 300)).map { UInt8(truncatingIfNeeded: id &* 7 &+ $0) }
        }
        let writer = spool.writer(capacity: 4096)
        for id in (0..<count).reversed() { payload(id).withUnsafeBytes { writer.append(id: id, $0) } }
        let path = folder + "/bulkhead-gathered-\(UUID().uuidString)"
        defer { unlink(path) }
        // The FIFO's reader takes the bytes a little at a time, so the writer waits on a full pipe many times.
        final class Received: @unchecked Sendable {
            var bytes: [UInt8] = []
        }
        let received = Received()
        let readerDone = DispatchSemaphore(value: 0)
        if throughFIFO {
            // A reader that failed must fail this test, not end the test process with SIGPIPE (the TLS prober ignores
            // it process-wide too).
            signal(SIGPIPE, SIG_IGN)
            #expect(mkfifo(path, 0o600) == 0)
            Thread.detachNewThread {
                // Other tests' child processes send signals: an interrupted open or read is retried, not taken for
                // the end (a reader gone early would leave the writer a broken pipe).
                var fd: Int32 = -1
                repeat { fd = open(path, O_RDONLY) } while fd < 0 && errno == EINTR
                var chunk = [UInt8](repeating: 0, count: 997)
                while fd >= 0 {
                    let got = read(fd, &chunk, chunk.count)
                    if got < 0 && errno == EINTR { continue }
                    if got <= 0 { break }
                    received.bytes += chunk.prefix(got)
                    if received.bytes.count % 50 == 0 { usleep(100) }
                }
                close(fd)
                readerDone.signal()
            }
        }
        let sink = try OutputSink(path: path)
        let separator: StaticString = ",\n"
        let opening: StaticString = "["
        sink.buffered(UnsafeRawBufferPointer(start: opening.utf8Start, count: opening.utf8CodeUnitCount))
        try spool.forEachInIDOrder(
            { flow in
                sink.gathered(UnsafeRawBufferPointer(start: separator.utf8Start, count: separator.utf8CodeUnitCount))
                sink.gathered(flow)
            }, settle: { sink.flushGathered() })
        sink.write("]")
        try sink.commit()
        if throughFIFO {
            readerDone.wait()
        } else {
            received.bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        }
        let expected = Array("[".utf8) + (0..<count).flatMap { Array(",\n".utf8) + payload($0) } + Array("]".utf8)
        #expect(received.bytes.count == expected.count)
        #expect(received.bytes == expected)
    }
}
