import BulkheadModel
import Testing

@testable import PacketAnalysis

@Suite("TCP reassembly")
struct ReassemblyTests {
    static let request = "GET /secret HTTP/1.1\r\nHost: api\r\nAuthorization: Basic YWxpY2U6czNjcjN0IQ==\r\n\r\n"

    func conversation(segmentSize: Int) -> (TCPConversation, [Int]) {
        var conversation = TCPConversation()
        conversation.handshake()
        let indexes = conversation.send(Array(Self.request.utf8), fromClient: true, segmentSize: segmentSize)
        conversation.send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", fromClient: false)
        conversation.close()
        return (conversation, indexes)
    }

    @Test("in order: the request is read and its credential found, secret redacted")
    func inOrder() throws {
        let (conversation, _) = self.conversation(segmentSize: 20)
        let (flows, _) = try analyze(conversation.pcap)
        let flow = try #require(flows.first)
        #expect(flows.count == 1)
        #expect(flow.proto == .http)
        #expect(flow.client == "198.18.0.1:40000")
        #expect(flow.clientBasis == .syn)
        #expect(
            flow.credentials == [
                Credential(kind: "http-basic", user: "alice", redacted: "password: 7 characters (redacted)")
            ])
        #expect(!flow.credentials.description.contains("s3cr3t"))
    }

    @Test("out-of-order segments are put back in order")
    func outOfOrder() throws {
        var (conversation, indexes) = self.conversation(segmentSize: 20)
        var order = Array(0..<conversation.frames.count)
        order.swapAt(indexes[1], indexes[3])
        order.swapAt(indexes[0], indexes[2])
        conversation.reorder(order)
        let (flows, _) = try analyze(conversation.pcap)
        let flow = try #require(flows.first)
        #expect(flow.credentials.first?.user == "alice")
        #expect(flow.anomalies.contains("out-of-order"))
        #expect(!flow.anomalies.contains("gap-to-server"))
    }

    @Test("retransmissions and overlaps are read once")
    func retransmission() throws {
        var (conversation, indexes) = self.conversation(segmentSize: 20)
        conversation.duplicate(indexes[1])
        var order = Array(0..<conversation.frames.count)
        // Move the duplicate right after the original.
        let duplicate = order.removeLast()
        order.insert(duplicate, at: indexes[1] + 1)
        conversation.reorder(order)
        let (flows, _) = try analyze(conversation.pcap)
        let flow = try #require(flows.first)
        #expect(flow.credentials.count == 1)
        #expect(flow.anomalies.contains("retransmission"))
    }

    @Test("a gap stops parsing: nothing after the hole is read as if it were contiguous")
    func gap() throws {
        var (conversation, indexes) = self.conversation(segmentSize: 20)
        // Drop the segment that carries the start of the Authorization header.
        conversation.remove(at: indexes[2])
        let (flows, _) = try analyze(conversation.pcap)
        let flow = try #require(flows.first)
        #expect(flow.proto == .http)
        #expect(flow.credentials.isEmpty)
        #expect(flow.anomalies.contains("gap-to-server"))
    }

    @Test("a capture that starts mid-stream finds the client by content")
    func midstream() throws {
        var conversation = TCPConversation(clientPort: 8080, serverPort: 40000)  // ports suggest the wrong roles
        conversation.send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", fromClient: false)
        conversation.send(Self.request, fromClient: true)
        let (flows, _) = try analyze(conversation.pcap)
        let flow = try #require(flows.first)
        #expect(flow.client == "198.18.0.1:8080")
        #expect(flow.clientBasis == .content)
        #expect(flow.anomalies.contains("midstream"))
        #expect(flow.credentials.first?.user == "alice")
    }

    @Test("port reuse: a new SYN after the connection closed starts a new flow")
    func portReuse() throws {
        var first = self.conversation(segmentSize: 1400).0
        var second = TCPConversation()
        second.clientSequence = 900_000
        second.handshake()
        second.send("GET / HTTP/1.1\r\n\r\n", fromClient: true)
        second.close()
        let frames = first.frames + second.frames
        first = TCPConversation()
        let pcap = PacketBuilder.pcap(frames.enumerated().map { (UInt32(1_700_000_000 + $0.offset), $0.element) })
        let (flows, _) = try analyze(pcap)
        #expect(flows.count == 2)
        #expect(flows.map(\.credentials.count) == [1, 0])
    }

    @Test("snap-length cut packets flag the flow truncated and are never read past")
    func snaplen() throws {
        let (conversation, _) = self.conversation(segmentSize: 200)
        let frames = conversation.frames
        let cut = frames.map { Array($0.prefix(70)) }
        let pcap = PacketBuilder.pcap(
            cut.enumerated().map { (UInt32($0.offset), $0.element) }, snaplen: 70,
            originalLengths: frames.map(\.count))
        let (flows, result) = try analyze(pcap)
        let flow = try #require(flows.first)
        #expect(flow.truncated)
        #expect(flow.credentials.isEmpty)
        #expect(result.summary.truncatedPackets > 0)
    }
}
