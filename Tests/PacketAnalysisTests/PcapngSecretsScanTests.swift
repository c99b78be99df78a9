import BulkheadModel
import Foundation
import Testing

@testable import PacketAnalysis

/// The scan for Decryption Secrets Blocks (``PcapngSecretsScan``) must find exactly what the packet walk finds, by
/// the walk's own rules: wherever the blocks are, whatever their size against its buffer, in either byte order, and
/// up to the same damage. Each case is scanned through `pread` (a file) and from memory, and compared with the
/// secrets the walk collects.
@Suite("pcapng secrets scan")
struct PcapngSecretsScanTests {
    /// A pcapng section's blocks in one byte order.
    struct Section {
        var bigEndian = false

        func u32(_ value: UInt32) -> [UInt8] { self.bigEndian ? PacketBuilder.be32(value) : PacketBuilder.le32(value) }
        func u16(_ value: Int) -> [UInt8] { self.bigEndian ? PacketBuilder.be16(value) : PacketBuilder.le16(value) }

        /// A block with a correct length and trailer (unless `trailer` says otherwise).
        func block(_ type: UInt32, _ body: [UInt8], trailer: UInt32? = nil) -> [UInt8] {
            let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
            let length = UInt32(12 + padded.count)
            return self.u32(type) + self.u32(length) + padded + self.u32(trailer ?? length)
        }

        func header(minor: Int = 0) -> [UInt8] {
            self.block(
                0x0a0d_0d0a, self.u32(0x1a2b_3c4d) + self.u16(1) + self.u16(minor) + [UInt8](repeating: 0xff, count: 8))
        }

        func ethernetInterface() -> [UInt8] { self.block(1, self.u16(1) + [0, 0] + self.u32(0)) }

        func packet(_ frame: [UInt8], interface: UInt32 = 0, claimed: UInt32? = nil) -> [UInt8] {
            self.block(
                6,
                self.u32(interface) + self.u32(0) + self.u32(1_000_000)
                    + self.u32(claimed ?? UInt32(frame.count)) + self.u32(UInt32(frame.count)) + frame)
        }

        func secrets(_ text: String, claimed: UInt32? = nil) -> [UInt8] {
            let data = Array(text.utf8)
            return self.block(
                0x0a, self.u32(EmbeddedSecrets.tlsKeyLog) + self.u32(claimed ?? UInt32(data.count)) + data)
        }
    }

    static let frame = CaptureFileTests.sampleFrame
    static let little = Section()
    static let big = Section(bigEndian: true)

    /// A key log line (a TLS 1.2 master secret) whose client random is `index`.
    static func keyLine(_ index: Int) -> String {
        "CLIENT_RANDOM " + String(format: "%064x", index) + " " + String(repeating: "ab", count: 48) + "\n"
    }

    static func packets(_ count: Int, _ section: Section = little) -> [UInt8] {
        (0..<count).flatMap { _ in section.packet(Self.frame) }
    }

    /// Layouts, each with the number of secrets blocks the walk reads.
    static let cases: [(name: String, bytes: [UInt8], found: Int)] = {
        let l = Self.little
        let b = Self.big
        let start = l.header() + l.ethernetInterface()
        let large = String(repeating: Self.keyLine(7), count: 3_000)  // about 500 kB: more than the scan's buffer
        return [
            ("before the packets", start + l.secrets(Self.keyLine(1)) + Self.packets(10), 1),
            ("after the packets", start + Self.packets(10) + l.secrets(Self.keyLine(1)), 1),
            (
                "among many packets, across the scan's buffer",
                start
                    + (0..<6).flatMap { index in Self.packets(700) + l.secrets(Self.keyLine(index)) },
                6
            ),
            ("larger than the scan's buffer", start + Self.packets(2_000) + l.secrets(large) + Self.packets(5), 1),
            (
                "in a big-endian second section",
                start + l.secrets(Self.keyLine(1)) + b.header(minor: 2) + b.ethernetInterface() + Self.packets(3, b)
                    + b.secrets(Self.keyLine(2)),
                2
            ),
            (
                "after a block whose trailer disagrees: the walk stops there",
                start + l.secrets(Self.keyLine(1)) + l.block(6, [UInt8](repeating: 0, count: 24), trailer: 4)
                    + l.secrets(Self.keyLine(2)),
                1
            ),
            (
                "after a packet that claims too much, of a described interface: the walk stops",
                start + l.secrets(Self.keyLine(1)) + l.packet(Self.frame, claimed: 100_000)
                    + l.secrets(Self.keyLine(2)),
                1
            ),
            (
                "after a packet that claims too much, of an interface never described: skipped, the walk goes on",
                start + l.packet(Self.frame, interface: 5, claimed: 100_000) + l.secrets(Self.keyLine(2)),
                1
            ),
            (
                "after one that claims more secrets than it holds: that one skipped",
                start + l.secrets(Self.keyLine(1), claimed: 10_000) + Self.packets(2) + l.secrets(Self.keyLine(2)),
                1
            ),
            (
                "after one too short for its fixed fields: the walk stops",
                start + l.secrets(Self.keyLine(1)) + l.block(0x0a, [0, 0, 0, 0]) + l.secrets(Self.keyLine(2)),
                1
            ),
            (
                "after an impossible block length: the walk stops",
                start + l.secrets(Self.keyLine(1)) + l.u32(6) + l.u32(13) + [UInt8](repeating: 0, count: 16)
                    + l.secrets(Self.keyLine(2)),
                1
            ),
            (
                "after a second section header of a version libpcap refuses: the walk stops",
                start + l.secrets(Self.keyLine(1)) + l.header(minor: 1) + l.secrets(Self.keyLine(2)),
                1
            ),
            (
                "in a file cut inside its last block",
                Array((start + l.secrets(Self.keyLine(1)) + Self.packets(3) + l.secrets(Self.keyLine(2))).dropLast(9)),
                1
            ),
        ]
    }()

    @Test("finds what the walk finds", arguments: Self.cases.indices)
    func sameAsWalk(index: Int) throws {
        let (name, bytes, found) = Self.cases[index]
        let path = try PacketBuilder.write(bytes, name: UUID().uuidString + ".pcapng")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try CaptureFile(path: path)
        let scanned = try file.scanEmbeddedSecrets()
        let fromMemory = try bytes.withUnsafeBytes { raw in
            try CaptureFile(borrowing: raw, name: "memory.pcapng").scanEmbeddedSecrets()
        }
        try file.forEachPacket { _ in }
        // Compared whole, reported by count (the secrets are long).
        let walked = file.embeddedSecrets
        #expect(walked.count == found, "\(name): the walk")
        let sameFromFile = scanned == walked
        let sameFromMemory = fromMemory == walked
        #expect(sameFromFile, "\(name): read from the file, \(scanned.count) found, the walk \(walked.count)")
        #expect(sameFromMemory, "\(name): read from memory, \(fromMemory.count) found, the walk \(walked.count)")
    }

    @Test("a path that names another file by the time of the scan: the mapped file's secrets, read from the mapping")
    func replacedPath() throws {
        let l = Self.little
        let start = l.header() + l.ethernetInterface()
        // Larger than the mapping's release step: the scan gives back pages behind it, and the walk must still read
        // every packet after it.
        let mapped = start + Self.packets(120_000) + l.secrets(Self.keyLine(1)) + Self.packets(10)
        let other = start + l.secrets(Self.keyLine(2)) + l.secrets(Self.keyLine(3))
        let path = try PacketBuilder.write(mapped, name: UUID().uuidString + ".pcapng")
        let replacement = try PacketBuilder.write(other, name: UUID().uuidString + ".pcapng")
        defer {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: replacement)
        }
        let file = try CaptureFile(path: path)
        #expect(mapped.count > 8 << 20)
        #expect(rename(replacement, path) == 0)
        let scanned = try file.scanEmbeddedSecrets()
        #expect(scanned.map(\.data) == [Array(Self.keyLine(1).utf8)])
        var packets = 0
        try file.forEachPacket { _ in packets += 1 }
        #expect(packets == 120_010)
        let same = scanned == file.embeddedSecrets
        #expect(same)
    }

    @Test("damaged at random, the scan and the walk still agree")
    func randomDamage() throws {
        // SplitMix64, seeded: the same damage on every run.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var compared = 0
        for round in 0..<400 {
            var bytes = Self.cases[round % 5].bytes
            for _ in 0..<(1 + Int(next() % 4)) {
                let at = Int(next() % UInt64(bytes.count))
                bytes[at] = UInt8(truncatingIfNeeded: next())
            }
            if next() % 4 == 0 { bytes.removeLast(Int(next() % UInt64(min(bytes.count - 32, 4096)))) }
            bytes.withUnsafeBytes { raw in
                guard let file = try? CaptureFile(borrowing: raw, name: "damaged.pcapng") else { return }
                let scanned = try? file.scanEmbeddedSecrets()
                var walked = true
                do { try file.forEachPacket { _ in } } catch { walked = false }
                // Both refuse the same first header; past it, both read the same secrets.
                #expect((scanned != nil) == walked, "round \(round)")
                if let scanned {
                    let same = scanned == file.embeddedSecrets
                    #expect(same, "round \(round): \(scanned.count) found, the walk \(file.embeddedSecrets.count)")
                    compared += 1
                }
            }
        }
        #expect(compared > 300)
    }
}
