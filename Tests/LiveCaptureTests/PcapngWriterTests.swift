import BulkheadModel
import BulkheadTestSupport
import Foundation
import LiveCapture
import PacketAnalysis
import Testing

/// One packet copied out of a capture (the reader's bytes are only borrowed).
struct OwnedPacket: Equatable {
    var timestamp: Timestamp
    var linkType: UInt32
    var originalLength: Int
    var bytes: [UInt8]

    static func read(_ path: String) throws -> [OwnedPacket] {
        var packets: [OwnedPacket] = []
        try CaptureFile(path: path).forEachPacket { packet in
            packets.append(
                OwnedPacket(
                    timestamp: packet.timestamp, linkType: packet.linkType, originalLength: packet.originalLength,
                    bytes: Array(packet.bytes)))
        }
        return packets
    }
}

@Suite("pcapng writer")
struct PcapngWriterTests {
    static func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(getpid())").path
    }

    /// Writes `packets` alternately to two interfaces (their own link types kept), returns the ids used.
    static func write(_ packets: [OwnedPacket], to writer: PcapngWriter, interfaces: (UInt32, UInt32)) {
        for (index, packet) in packets.enumerated() {
            let nanoseconds = UInt64(packet.timestamp.seconds) * 1_000_000_000 + UInt64(packet.timestamp.nanoseconds)
            packet.bytes.withUnsafeBytes { bytes in
                writer.writePacket(
                    interface: index % 2 == 0 ? interfaces.0 : interfaces.1, timestampNanoseconds: nanoseconds,
                    originalLength: packet.originalLength, bytes: bytes)
            }
        }
    }

    @Test(
        "round trip: the project's reader gets every packet back (bytes, lengths, nanosecond times); tshark names the interfaces"
    )
    func roundTrip() throws {
        let original = try OwnedPacket.read(Repository.path("captures/http-basic-auth.pcap"))
        #expect(original.count > 5)
        let path = Self.temporary("capt-writer.pcapng")
        defer { unlink(path) }
        let writer = try PcapngWriter(path: path)
        let first = writer.addInterface(name: "br-one", linkType: original[0].linkType, snapLength: 262_144)
        let second = writer.addInterface(name: "br-two", linkType: original[0].linkType, snapLength: 65_535)
        #expect((first, second) == (0, 1))
        Self.write(original, to: writer, interfaces: (first, second))
        writer.writeStatistics(interface: first, timestampNanoseconds: 1, received: UInt64(original.count), dropped: 0)
        try writer.commit()
        #expect(!FileManager.default.fileExists(atPath: writer.temporaryPath), "renamed into place")
        #expect(try OwnedPacket.read(path) == original)
        let file = try CaptureFile(path: path)
        #expect(file.format == .pcapng)

        // Analysing the written file gives what analysing the original gives.
        var flows: [FlowRecord] = []
        let rewritten = try CaptureAnalysis.run(files: [path]) { flows.append($0) }
        var originalFlows: [FlowRecord] = []
        let reference = try CaptureAnalysis.run(files: [Repository.path("captures/http-basic-auth.pcap")]) {
            originalFlows.append($0)
        }
        #expect(rewritten.findings == reference.findings)
        #expect(
            flows.map {
                var flow = $0
                flow.file = nil
                return flow
            }
                == originalFlows.map {
                    var flow = $0
                    flow.file = nil
                    return flow
                })

        let tshark = "/usr/bin/tshark"
        if FileManager.default.isExecutableFile(atPath: tshark) {
            let names = try ProcessRunner.run(
                URL(fileURLWithPath: tshark), ["-r", path, "-T", "fields", "-e", "frame.interface_name"])
            #expect(names.status == 0, "tshark: \(names.error)")
            let expected = original.indices.map { $0 % 2 == 0 ? "br-one" : "br-two" }
            #expect(names.output.split(separator: "\n").map(String.init) == expected)
        }
        let capinfos = "/usr/bin/capinfos"
        if FileManager.default.isExecutableFile(atPath: capinfos) {
            let info = try ProcessRunner.run(URL(fileURLWithPath: capinfos), [path])
            #expect(info.status == 0, "capinfos: \(info.error)")
            #expect(info.output.contains("Number of interfaces in file: 2"))
            #expect(info.output.contains("Capture length = 65535"))
            #expect(info.output.contains("Time precision = nanoseconds (9)"))
            #expect(info.output.contains("Capture application: Bulkhead"))
        }
    }

    @Test("flushed blocks survive without commit: the temporary file is a readable capture")
    func flushedBeforeCommit() throws {
        let original = try OwnedPacket.read(Repository.path("captures/http-basic-auth.pcap"))
        let path = Self.temporary("capt-crash.pcapng")
        var temporary = ""
        do {
            let writer = try PcapngWriter(path: path)
            let id = writer.addInterface(name: "eth9", linkType: original[0].linkType, snapLength: 262_144)
            Self.write(original, to: writer, interfaces: (id, id))
            #expect(writer.flush())
            temporary = writer.temporaryPath
            #expect(try OwnedPacket.read(temporary) == original)
            #expect(!FileManager.default.fileExists(atPath: path), "not in place before commit")
        }
        // Abandoned without commit: the temporary file is removed.
        #expect(!FileManager.default.fileExists(atPath: temporary))
    }

    @Test("a capture file in a missing folder is an error naming the file")
    func unwritable() {
        #expect(
            throws: LiveCaptureError(
                .cannotWrite, file: "/nonexistent-capt/x.pcapng",
                "cannot create the capture file: No such file or directory")
        ) {
            _ = try PcapngWriter(path: "/nonexistent-capt/x.pcapng")
        }
    }
}

@Suite("streaming analysis")
struct StreamingAnalysisTests {
    @Test("packets pushed one by one give exactly the file run's flows, findings and totals (every sample capture)")
    func sameAsFileRun() throws {
        for file in try CaptureAnalysis.expand([Repository.path("captures")]).paths {
            var reference: [FlowRecord] = []
            let expected = try CaptureAnalysis.run(files: [file]) { reference.append($0) }
            var streamed: [FlowRecord] = []
            let analysis = StreamingAnalysis(file: file) { record, source in
                #expect(source == 7)
                streamed.append(record)
            }
            let capture = try CaptureFile(path: file)
            // Secrets embedded in a pcapng are a file feature; live packets have none.
            guard try capture.format != .pcapng || capture.scanEmbeddedSecrets().isEmpty else { continue }
            try capture.forEachPacket { analysis.process($0, source: 7) }
            let result = analysis.finish()
            #expect(streamed.sorted { $0.id < $1.id } == reference.sorted { $0.id < $1.id }, "\(file)")
            #expect(result.findings == expected.findings, "\(file)")
            var summary = result.summary
            summary.durationSeconds = expected.summary.durationSeconds
            summary.files = expected.summary.files
            #expect(summary == expected.summary, "\(file)")
        }
    }
}

@Suite("endpoint names")
struct EndpointNamesTests {
    static let inventory = InventoryReport(
        sources: [],
        networks: [
            NetworkRecord(
                name: "shop", id: "abc", driver: "bridge", scope: "local",
                subnets: ["198.18.240.0/24", "fd00:240::/64"],
                gateways: ["198.18.240.1", "fd00:240::1"], internal: false, icc: true, encrypted: nil,
                attachable: false,
                isDefaultBridge: false, bridge: "br-abc", containers: ["web"], labels: [:]),
            NetworkRecord(
                name: "host", id: "def", driver: "host", scope: "local", subnets: [], gateways: [], internal: false,
                icc: true,
                encrypted: nil, attachable: false, isDefaultBridge: false, bridge: nil, containers: [], labels: [:]),
        ],
        containers: [
            ContainerRecord(
                name: "web", id: "1", image: "lab", state: "running", pid: 1, netns: nil, networkMode: "shop",
                networks: [
                    ContainerNetwork(
                        name: "shop", ipv4: "198.18.240.2", ipv6: "fd00:240::2", gateway: "198.18.240.1", aliases: [])
                ],
                publishedPorts: [], capabilities: [], privileged: false, dockerSocketMounted: false, listening: [],
                labels: [:])
        ],
        namespaces: [
            NamespaceRecord(
                name: "lab-ns", netns: "net:[1]", pids: [], addresses: ["198.18.241.5", "127.0.0.1"], listening: [])
        ],
        findings: [], complete: true, problems: [], summary: InventorySummary())

    @Test("containers by address (IPv4 and IPv6), gateways as the host side, namespaces, unknown addresses nil")
    func names() {
        let names = EndpointNames(inventory: Self.inventory)
        #expect(names.name(ofEndpoint: "198.18.240.2:8080") == "web")
        #expect(names.name(ofEndpoint: "[fd00:240::2]:443") == "web")
        #expect(names.name(ofEndpoint: "198.18.240.1:53") == "host (network shop)")
        #expect(names.name(ofEndpoint: "[fd00:240::1]:53") == "host (network shop)")
        #expect(names.name(ofEndpoint: "198.18.241.5:1") == "netns lab-ns")
        #expect(names.name(ofEndpoint: "127.0.0.1:6379") == nil, "loopback belongs to every namespace")
        #expect(names.name(ofEndpoint: "198.18.240.9:80") == nil)
        #expect(names.name(ofEndpoint: "not an endpoint") == nil)
    }

    @Test("an address claimed twice keeps both names")
    func shared() {
        var names = EndpointNames(inventory: Self.inventory)
        names.add("198.18.240.2/24", "web-old")
        names.add("198.18.240.2", "web")
        #expect(names.name(ofEndpoint: "198.18.240.2:80") == "web / web-old")
    }

    @Test("bridges of the inventory: bridge networks only")
    func bridges() {
        #expect(CaptureInterface.bridges(of: Self.inventory) == [CaptureInterface(name: "br-abc", network: "shop")])
    }
}
