import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import PacketAnalysis

/// The bytes hex digits spell (the texts joined; anything not a hex digit, a space or a line break, is passed over):
/// test vectors as the RFCs, tshark and Python print them.
func hex(_ texts: String...) -> [UInt8] {
    let digits: [UInt8] = texts.joined().utf8.compactMap { byte in
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x61...0x66: byte - 0x61 + 10
        case 0x41...0x46: byte - 0x41 + 10
        default: nil
        }
    }
    return stride(from: 0, to: digits.count - 1, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
}

/// Assembles packets and capture files byte by byte, for parser tests (everything beyond parsers is tested
/// against real captures in `captures/`).
struct PacketBuilder {
    static func be16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
    static func be32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }
    static func le32(_ value: UInt32) -> [UInt8] { be32(value).reversed() }
    static func le16(_ value: Int) -> [UInt8] { be16(value).reversed() }
    static func be24(_ value: Int) -> [UInt8] {
        [UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }

    static func ipv4(_ text: String) -> [UInt8] { text.split(separator: ".").map { UInt8($0)! } }

    /// TCP header (20 bytes, no options) + payload.
    static func tcp(
        sourcePort: Int, destinationPort: Int, sequence: UInt32, acknowledgement: UInt32 = 0,
        flags: UInt8, payload: [UInt8] = []
    ) -> [UInt8] {
        be16(sourcePort) + be16(destinationPort) + be32(sequence) + be32(acknowledgement)
            + [0x50, flags] + be16(65535) + [0, 0, 0, 0] + payload
    }

    static func udp(sourcePort: Int, destinationPort: Int, payload: [UInt8]) -> [UInt8] {
        be16(sourcePort) + be16(destinationPort) + be16(8 + payload.count) + [0, 0] + payload
    }

    /// IPv4 header (+ `options`, a multiple of 4 bytes) + transport bytes.
    static func ipv4Packet(
        source: String, destination: String, proto: UInt8, transport: [UInt8],
        options: [UInt8] = [], fragment: UInt16 = 0x4000
    ) -> [UInt8] {
        let headerLength = 20 + options.count
        return [0x40 | UInt8(headerLength / 4), 0] + be16(headerLength + transport.count) + [0, 1]
            + be16(Int(fragment)) + [64, proto, 0, 0] + ipv4(source) + ipv4(destination) + options + transport
    }

    static func ipv6Packet(source: [UInt8], destination: [UInt8], nextHeader: UInt8, payload: [UInt8]) -> [UInt8] {
        [0x60, 0, 0, 0] + be16(payload.count) + [nextHeader, 64] + source + destination + payload
    }

    static func ethernet(_ payload: [UInt8], etherType: Int = 0x0800, vlanTags: [Int] = []) -> [UInt8] {
        var frame: [UInt8] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
        for (index, tag) in vlanTags.enumerated() {
            frame += be16(index == 0 && vlanTags.count > 1 ? 0x88a8 : 0x8100) + be16(tag)
        }
        return frame + be16(etherType) + payload
    }

    /// A classic pcap file.
    static func pcap(
        _ packets: [(time: UInt32, bytes: [UInt8])], linkType: UInt32 = 1, bigEndian: Bool = false,
        nanoseconds: Bool = false, snaplen: UInt32 = 65535, originalLengths: [Int]? = nil
    ) -> [UInt8] {
        func u32(_ value: UInt32) -> [UInt8] { bigEndian ? be32(value) : le32(value) }
        func u16(_ value: Int) -> [UInt8] { bigEndian ? be16(value) : le16(value) }
        var file: [UInt8] = []
        file += u32(nanoseconds ? 0xa1b2_3c4d : 0xa1b2_c3d4)
        file += u16(2)
        file += u16(4)
        file += u32(0)
        file += u32(0)
        file += u32(snaplen)
        file += u32(linkType)
        for (index, packet) in packets.enumerated() {
            let original = originalLengths?[index] ?? packet.bytes.count
            file += u32(packet.time)
            file += u32(5)
            file += u32(UInt32(packet.bytes.count))
            file += u32(UInt32(original))
            file += packet.bytes
        }
        return file
    }

    /// The frames of a committed capture in `captures/` (classic pcap, little-endian), in order.
    static func frames(ofCapture name: String) throws -> [[UInt8]] {
        let data = try [UInt8](Data(contentsOf: Repository.root.appendingPathComponent("captures/\(name)")))
        var position = 24
        var frames: [[UInt8]] = []
        while position + 16 <= data.count {
            let length =
                Int(data[position + 8]) | Int(data[position + 9]) << 8 | Int(data[position + 10]) << 16
                | Int(data[position + 11]) << 24
            frames.append(Array(data[(position + 16)..<min(data.count, position + 16 + length)]))
            position += 16 + length
        }
        return frames
    }

    static func write(_ bytes: [UInt8], name: String = UUID().uuidString + ".pcap") throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bulkhead-test-" + name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// A scripted TCP conversation between a client and a server, with correct sequence numbers, turned into
/// Ethernet/IPv4 frames. Segments can be reordered, duplicated or dropped to exercise reassembly.
struct TCPConversation {
    var client = "198.18.0.1"
    var server = "198.18.0.2"
    var clientPort = 40000
    var serverPort = 8080
    var clientSequence: UInt32 = 1000
    var serverSequence: UInt32 = 5000
    private(set) var frames: [[UInt8]] = []

    init(client: String = "198.18.0.1", server: String = "198.18.0.2", clientPort: Int = 40000, serverPort: Int = 8080)
    {
        self.client = client
        self.server = server
        self.clientPort = clientPort
        self.serverPort = serverPort
    }

    private func frame(fromClient: Bool, sequence: UInt32, flags: UInt8, payload: [UInt8]) -> [UInt8] {
        let segment = PacketBuilder.tcp(
            sourcePort: fromClient ? self.clientPort : self.serverPort,
            destinationPort: fromClient ? self.serverPort : self.clientPort,
            sequence: sequence, acknowledgement: 0, flags: flags, payload: payload)
        return PacketBuilder.ethernet(
            PacketBuilder.ipv4Packet(
                source: fromClient ? self.client : self.server, destination: fromClient ? self.server : self.client,
                proto: 6, transport: segment))
    }

    mutating func handshake() {
        self.frames.append(self.frame(fromClient: true, sequence: self.clientSequence, flags: 0x02, payload: []))
        self.frames.append(self.frame(fromClient: false, sequence: self.serverSequence, flags: 0x12, payload: []))
        self.clientSequence &+= 1
        self.serverSequence &+= 1
        self.frames.append(self.frame(fromClient: true, sequence: self.clientSequence, flags: 0x10, payload: []))
    }

    /// Sends `bytes` in segments of at most `segmentSize`; returns the indexes of the frames added.
    @discardableResult
    mutating func send(_ bytes: [UInt8], fromClient: Bool, segmentSize: Int = 1400) -> [Int] {
        var indexes: [Int] = []
        var offset = 0
        while offset < bytes.count {
            let chunk = Array(bytes[offset..<min(bytes.count, offset + segmentSize)])
            let sequence = fromClient ? self.clientSequence : self.serverSequence
            indexes.append(self.frames.count)
            self.frames.append(self.frame(fromClient: fromClient, sequence: sequence, flags: 0x18, payload: chunk))
            if fromClient {
                self.clientSequence &+= UInt32(chunk.count)
            } else {
                self.serverSequence &+= UInt32(chunk.count)
            }
            offset += chunk.count
        }
        return indexes
    }

    mutating func send(_ text: String, fromClient: Bool, segmentSize: Int = 1400) {
        self.send(Array(text.utf8), fromClient: fromClient, segmentSize: segmentSize)
    }

    mutating func close() {
        self.frames.append(self.frame(fromClient: true, sequence: self.clientSequence, flags: 0x11, payload: []))
        self.frames.append(self.frame(fromClient: false, sequence: self.serverSequence, flags: 0x11, payload: []))
    }

    mutating func reorder(_ order: [Int]) {
        self.frames = order.map { self.frames[$0] }
    }

    mutating func remove(at index: Int) {
        self.frames.remove(at: index)
    }

    mutating func duplicate(_ index: Int) {
        self.frames.append(self.frames[index])
    }

    var pcap: [UInt8] {
        PacketBuilder.pcap(self.frames.enumerated().map { (UInt32(1_700_000_000 + $0.offset), $0.element) })
    }
}

/// Runs the analyser over assembled capture bytes.
func analyze(_ bytes: [UInt8], options: AnalysisOptions = AnalysisOptions()) throws -> (
    flows: [FlowRecord], result: CaptureAnalysisResult
) {
    let path = try PacketBuilder.write(bytes)
    defer { try? FileManager.default.removeItem(atPath: path) }
    var flows: [FlowRecord] = []
    let result = try CaptureAnalysis.run(files: [path], options: options) { flows.append($0) }
    return (flows.sorted { $0.id < $1.id }, result)
}

/// Analyses one TCP conversation to `serverPort` (handshake, the messages in order, each in segments of at most
/// `segmentSize`, then FIN both ways) and returns its one flow.
func analyzeConversation(
    serverPort: Int, _ exchange: [(fromClient: Bool, bytes: [UInt8])], segmentSize: Int = 1400
) throws -> FlowRecord {
    var conversation = TCPConversation(serverPort: serverPort)
    conversation.handshake()
    for message in exchange {
        conversation.send(message.bytes, fromClient: message.fromClient, segmentSize: segmentSize)
    }
    conversation.close()
    let flows = try analyze(conversation.pcap).flows
    try #require(flows.count == 1)
    return flows[0]
}

extension Array where Element == UInt8 {
    init(_ text: String) { self = Array(text.utf8) }
}
