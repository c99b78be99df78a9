import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import PacketAnalysis

/// The key log's compact store and its line reader: merging of connections across lines and sources, reports, and
/// every line form (the usual one read by the fast path, and any other), checked against a plain model of the rules.
@Suite("Key log store")
struct KeyLogStoreTests {
    static let labels = [
        "CLIENT_RANDOM", "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0", "EXPORTER_SECRET", "CLIENT_EARLY_TRAFFIC_SECRET", "EARLY_EXPORTER_SECRET",
    ]

    static func hex(_ bytes: [UInt8]) -> String { String(decoding: Self.hexDigits(bytes), as: UTF8.self) }

    /// The lower-case hex digits of `bytes`.
    static func hexDigits(_ bytes: [UInt8]) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(2 * bytes.count)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return text
    }

    static func random(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 32) }

    @Test("the same random from two sources merges into one connection, counted for both sources")
    func twoSources() throws {
        let keyLog = KeyLog()
        let shared = Self.random(0x11)
        keyLog.load(
            text: Data(
                ("CLIENT_HANDSHAKE_TRAFFIC_SECRET \(Self.hex(shared)) \(String(repeating: "aa", count: 48))\n"
                    + "CLIENT_RANDOM \(Self.hex(Self.random(0x22))) \(String(repeating: "bb", count: 48))\n").utf8),
            source: "first")
        #expect(keyLog.secrets(forClientRandom: shared)?.clientHandshake == [UInt8](repeating: 0xaa, count: 48))
        // Loaded after a lookup (as a later pcapng's Decryption Secrets Block is).
        keyLog.load(
            text: Data(
                ("SERVER_HANDSHAKE_TRAFFIC_SECRET \(Self.hex(shared)) \(String(repeating: "cc", count: 32))\n"
                    + "CLIENT_TRAFFIC_SECRET_0 \(Self.hex(Self.random(0x33))) \(String(repeating: "dd", count: 64))\n"
                    + "SERVER_TRAFFIC_SECRET_0 \(Self.hex(Self.random(0x33))) \(String(repeating: "ee", count: 64))")
                    .utf8),
            source: "second")
        let secrets = try #require(keyLog.secrets(forClientRandom: shared))
        #expect(secrets.clientHandshake == [UInt8](repeating: 0xaa, count: 48))
        #expect(secrets.serverHandshake == [UInt8](repeating: 0xcc, count: 32))
        #expect(secrets.masterSecret == nil && secrets.clientTraffic == nil && secrets.serverTraffic == nil)
        #expect(
            keyLog.summaryLines == [
                "first: 2 lines read, 2 secrets for 2 connections; 1 matched a connection in the capture, 1 did not",
                "second: 3 lines read, 3 secrets for 2 connections; 1 matched a connection in the capture, 1 did not",
            ])
        #expect(!keyLog.hasProblems)
        #expect(keyLog.reports.map(\.secrets) == [2, 3])
    }

    @Test("a label given again replaces the secret; the connection is counted once")
    func repeatedLabel() throws {
        let random = Self.hex(Self.random(0x44))
        let text = """
            CLIENT_TRAFFIC_SECRET_0 \(random) \(String(repeating: "01", count: 48))
            SERVER_TRAFFIC_SECRET_0 \(random) \(String(repeating: "02", count: 48))
            CLIENT_TRAFFIC_SECRET_0 \(random) \(String(repeating: "03", count: 32))
            CLIENT_TRAFFIC_SECRET_0\t\(random)\t\(String(repeating: "04", count: 64))\t
            SERVER_TRAFFIC_SECRET_0 \(random) \(String(repeating: "05", count: 64))
            """
        let keyLog = KeyLog()
        keyLog.load(text: Data(text.utf8), source: "again")
        let secrets = try #require(keyLog.secrets(forClientRandom: Self.random(0x44)))
        #expect(secrets.clientTraffic == [UInt8](repeating: 0x04, count: 64))
        #expect(secrets.serverTraffic == [UInt8](repeating: 0x05, count: 64))
        #expect(
            keyLog.summaryLines == [
                "again: 5 lines read, 5 secrets for 1 connection; 1 matched a connection in the capture, 0 did not"
            ])
    }

    @Test("an EXPORTER or early secret alone makes a connection without usable secrets")
    func exporterOnly() throws {
        let keyLog = KeyLog()
        #expect(keyLog.isEmpty && !keyLog.hasSources)
        keyLog.load(
            text: Data(
                ("EXPORTER_SECRET \(Self.hex(Self.random(0x55))) \(String(repeating: "66", count: 48))\n"
                    + "EARLY_EXPORTER_SECRET \(Self.hex(Self.random(0x56))) \(String(repeating: "67", count: 32))\n"
                    + "CLIENT_EARLY_TRAFFIC_SECRET \(Self.hex(Self.random(0x56))) \(String(repeating: "68", count: 32))")
                    .utf8),
            source: "exporter")
        #expect(!keyLog.isEmpty && keyLog.hasSources)
        let secrets = try #require(keyLog.secrets(forClientRandom: Self.random(0x55)))
        #expect(secrets == KeyLog.Secrets())
        #expect(
            keyLog.summaryLines == [
                "exporter: 3 lines read, 3 secrets for 2 connections; 1 matched a connection in the capture, 1 did not"
            ])
    }

    @Test("an unknown random, or one not 32 bytes long, finds nothing and matches nothing")
    func unknownRandom() {
        let keyLog = KeyLog()
        keyLog.load(
            text: Data("CLIENT_RANDOM \(Self.hex(Self.random(0x77))) \(String(repeating: "88", count: 48))".utf8),
            source: "one")
        #expect(keyLog.secrets(forClientRandom: Self.random(0x78)) == nil)
        var almost = Self.random(0x77)
        almost[31] = 0x76
        #expect(keyLog.secrets(forClientRandom: almost) == nil)
        #expect(keyLog.secrets(forClientRandom: [UInt8](repeating: 0x77, count: 31)) == nil)
        #expect(keyLog.secrets(forClientRandom: [UInt8](repeating: 0x77, count: 33)) == nil)
        #expect(keyLog.secrets(forClientRandom: []) == nil)
        #expect(keyLog.hasProblems)
        #expect(
            keyLog.summaryLines == [
                "one: 1 lines read, 1 secrets for 1 connection; 0 matched a connection in the capture, 1 did not"
            ])
        let empty = KeyLog()
        #expect(empty.secrets(forClientRandom: Self.random(0x77)) == nil)
    }

    /// Memory budgets the 100,000-connection test runs with (its secrets take about 25 MB): 64 MB (all kept in
    /// memory), the default (16 MB kept, then the scratch file) and none (every chunk goes to the file once filled).
    static let budgets = [64 << 20, KeyLog.defaultResidentBytes, 0]

    @Test(
        "100,000 generated connections (4 lines each, some interleaved, some finished at the end) are all found",
        arguments: budgets)
    func manyEntries(residentBytes: Int) throws {
        var generator = SeededGenerator(state: 0x4b65_794c_6f67)
        let count = 100_000
        var randoms: [[UInt8]] = []
        var secrets: [[UInt8]] = []
        var text: [UInt8] = []
        text.reserveCapacity(count * 4 * 200)
        func line(_ label: String, _ random: [UInt8], _ secret: [UInt8]) {
            text += Array(label.utf8) + [0x20] + random + [0x20] + Self.hexDigits(secret) + [0x0a]
        }
        for index in 0..<count {
            let random = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let secret = (0..<[32, 48, 64][index % 3]).map { _ in UInt8.random(in: 0...255, using: &generator) }
            randoms.append(random)
            secrets.append(secret)
        }
        // Each connection's four lines; every tenth connection's last line comes after the next connection's, every
        // 990th's at the very end (when its record has long gone to the scratch file, with no budget).
        let late = stride(from: 5, to: count, by: 990)
        for index in 0..<count {
            let random = Self.hexDigits(randoms[index])
            for (label, step) in zip(Self.labels[1...3], [1, 2, 3]) {
                line(label, random, secrets[index].map { $0 &+ UInt8(step) })
            }
            if index % 10 == 1 {
                line("SERVER_TRAFFIC_SECRET_0", Self.hexDigits(randoms[index - 1]), secrets[index - 1])
            }
            if (index % 10 != 0 || index == count - 1) && !late.contains(index) {
                line("SERVER_TRAFFIC_SECRET_0", random, secrets[index])
            }
        }
        for index in late { line("SERVER_TRAFFIC_SECRET_0", Self.hexDigits(randoms[index]), secrets[index]) }
        let keyLog = KeyLog(residentBytes: residentBytes)
        keyLog.load(text: Data(text), source: "generated")
        // 100,000 records and 400,000 secrets take about 25 MB: past the default budget and none, within 64 MB.
        #expect(keyLog.spilled == (residentBytes < 25 << 20))
        let report = try #require(keyLog.reports.first)
        #expect(report.linesRead == 4 * count && report.secrets == 4 * count && report.malformedLines == 0)
        #expect(report.connections.count == count)
        var wrong = 0
        for index in 0..<count {
            let found = keyLog.secrets(forClientRandom: randoms[index])
            let expected = KeyLog.Secrets(
                clientHandshake: secrets[index].map { $0 &+ 1 }, serverHandshake: secrets[index].map { $0 &+ 2 },
                clientTraffic: secrets[index].map { $0 &+ 3 }, serverTraffic: secrets[index])
            if found != expected { wrong += 1 }
        }
        #expect(wrong == 0)
        #expect(
            keyLog.summaryLines == [
                "generated: 400000 lines read, 400000 secrets for 100000 connections; "
                    + "100000 matched a connection in the capture, 0 did not"
            ])
    }

    @Test("CRLF line ends, tabs, runs of blanks, upper case and comments read as the usual form")
    func separators() throws {
        let random = Self.hex(Self.random(0x9a)).uppercased()
        let text =
            "# comment\r\n\r\n \t \r\n"
            + "CLIENT_HANDSHAKE_TRAFFIC_SECRET \(random) \(String(repeating: "A1", count: 48))\r\n"
            + "\tSERVER_HANDSHAKE_TRAFFIC_SECRET  \(random)\t\(String(repeating: "b2", count: 48)) \r\n"
            + "CLIENT_TRAFFIC_SECRET_0 \(random) \(String(repeating: "c3", count: 48))\r\r\n"
            + "SERVER_TRAFFIC_SECRET_0\t\(random) \(String(repeating: "D4", count: 32))\r"
        let keyLog = KeyLog()
        keyLog.load(text: Data(text.utf8), source: "crlf")
        let report = try #require(keyLog.reports.first)
        #expect(report.linesRead == 4 && report.secrets == 4 && report.malformedLines == 0)
        let secrets = try #require(keyLog.secrets(forClientRandom: Self.random(0x9a)))
        #expect(secrets.clientHandshake == [UInt8](repeating: 0xa1, count: 48))
        #expect(secrets.serverHandshake == [UInt8](repeating: 0xb2, count: 48))
        #expect(secrets.clientTraffic == [UInt8](repeating: 0xc3, count: 48))
        #expect(secrets.serverTraffic == [UInt8](repeating: 0xd4, count: 32))
    }

    @Test("odd and invalid hex, in the random or the secret, at any place, is named; valid lines around it are read")
    func invalidHex() throws {
        let random = Self.hex(Self.random(0xbc))
        let secret = String(repeating: "5a", count: 48)
        var lines: [String] = []
        var expected: [String] = []
        for (number, bad) in ["g", "G", "/", ":", "@", "`", "é", "\u{7f}", "\u{1}"].enumerated() {
            let damagedRandom = String(random.prefix(number * 7)) + bad + String(random.dropFirst(number * 7 + 1))
            lines.append("CLIENT_RANDOM \(damagedRandom) \(secret)")
            expected.append("client random is not 64 hex digits")
            let damagedSecret = String(secret.prefix(number * 11)) + bad + String(secret.dropFirst(number * 11 + 1))
            lines.append("CLIENT_RANDOM \(random) \(damagedSecret)")
            expected.append("secret is not 32, 48 or 64 bytes of hex")
        }
        lines.append("CLIENT_RANDOM \(random.dropLast()) \(secret)")
        expected.append("client random is not 64 hex digits")
        lines.append("CLIENT_RANDOM \(random)0 \(secret)")
        expected.append("client random is not 64 hex digits")
        lines.append("CLIENT_RANDOM \(random) \(secret.dropLast())")
        expected.append("secret is not 32, 48 or 64 bytes of hex")
        lines.append("CLIENT_RANDOM \(random) \(secret)0")
        expected.append("secret is not 32, 48 or 64 bytes of hex")
        lines.append("CLIENT_RANDOM \(random) \(String(repeating: "5a", count: 40))")
        expected.append("secret is not 32, 48 or 64 bytes of hex")
        lines.append("CLIENT_RANDOM \(random) \(secret) extra")
        expected.append("expected LABEL CLIENT_RANDOM SECRET, found 4 fields")
        lines.append("client_random \(random) \(secret)")
        expected.append("unknown label client_random")
        lines.append("CLIENT_RANDOM \(random) \(String(repeating: "6b", count: 48))")
        // Checked one by one: each source names its first five problems.
        for (line, problem) in zip(lines, expected) {
            let keyLog = KeyLog()
            keyLog.load(text: Data(line.utf8), source: "bad")
            let report = try #require(keyLog.reports.first)
            #expect(report.problems == ["line 1: \(problem)"], "\(line)")
            #expect(keyLog.isEmpty, "\(line)")
        }
        let keyLog = KeyLog()
        keyLog.load(text: Data(lines.joined(separator: "\n").utf8), source: "all")
        let report = try #require(keyLog.reports.first)
        #expect(report.linesRead == lines.count && report.secrets == 1 && report.malformedLines == lines.count - 1)
        #expect(report.problems == (0..<5).map { "line \($0 + 1): \(expected[$0])" })
        #expect(keyLog.secrets(forClientRandom: Self.random(0xbc))?.masterSecret == [UInt8](repeating: 0x6b, count: 48))
    }

    @Test("the hex decoder: every byte at every place of a block, against the definition")
    func hexDecoder() {
        func value(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 0x30...0x39: byte - 0x30
            case 0x41...0x46: byte - 0x41 + 10
            case 0x61...0x66: byte - 0x61 + 10
            default: nil
            }
        }
        var mismatches: [String] = []
        let base = Array("0123456789abcdef".utf8)
        for position in 0..<16 {
            for byte in UInt8.min...UInt8.max {
                var digits = base
                digits[position] = byte
                let expected: [UInt8]? =
                    value(byte) == nil
                    ? nil
                    : stride(from: 0, to: 16, by: 2).map {
                        (value(digits[$0]) ?? 0) << 4 | (value(digits[$0 + 1]) ?? 0)
                    }
                if KeyLog.hex(digits) != expected { mismatches.append("\(position): \(byte)") }
            }
        }
        #expect(mismatches.isEmpty)
        #expect(KeyLog.hex([UInt8]()) == [])
        #expect(KeyLog.hex(Array("0aF".utf8)) == nil)
        #expect(KeyLog.hex(Array("0aF9c2".utf8)) == [0x0a, 0xf9, 0xc2])
        #expect(KeyLog.hex(Array("0123456789ABCDEFab".utf8)) == [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xab])
        #expect(KeyLog.hex(Array("0123456789ABCDEFag".utf8)) == nil)
    }

    @Test(
        "random key log text, valid and damaged, reads as a plain model of the rules says (secrets kept, or copied)",
        arguments: [1, 2, 3], [KeyLog.defaultResidentBytes, 0])
    func againstModel(seed: UInt64, residentBytes: Int) throws {
        var generator = SeededGenerator(state: seed)
        let randoms = (0..<40).map { _ in (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) } }
        var sources: [String] = []
        for _ in 0..<3 {
            var lines: [String] = []
            for _ in 0..<600 {
                lines.append(Self.generatedLine(randoms: randoms, using: &generator))
            }
            sources.append(lines.joined(separator: Bool.random(using: &generator) ? "\n" : "\r\n"))
        }
        let keyLog = KeyLog(residentBytes: residentBytes)
        var model = KeyLogModel()
        let asked = randoms.indices.filter { _ in Bool.random(using: &generator) }
        for (number, text) in sources.enumerated() {
            keyLog.load(text: Data(text.utf8), source: "source \(number)")
            model.load(text, source: "source \(number)")
            // Lookups between loads, as with several pcapng files.
            for index in asked where index % 3 == number {
                #expect(keyLog.secrets(forClientRandom: randoms[index]) == model.secrets(randoms[index]))
            }
        }
        #expect(keyLog.summaryLines == model.summaryLines)
        #expect(keyLog.hasProblems)
        for random in randoms {
            #expect(keyLog.secrets(forClientRandom: random) == model.secrets(random))
        }
        #expect(keyLog.summaryLines == model.summaryLines)
    }

    @Test("secrets read back from the scratch file between loads, as a later pcapng's Decryption Secrets Block is")
    func lookupsBetweenLoads() throws {
        let keyLog = KeyLog(residentBytes: 0)
        let early = Self.random(0x91)
        var text = "CLIENT_HANDSHAKE_TRAFFIC_SECRET \(Self.hex(early)) \(String(repeating: "a1", count: 48))\n"
        // Enough other connections (about 2 MB) that the first one's chunk goes to the file.
        for index in 0..<8_000 {
            let random = Self.hex((0..<32).map { UInt8(truncatingIfNeeded: index >> ($0 % 4 * 8)) &+ UInt8($0) })
            for label in Self.labels[1...4] { text += "\(label) \(random) \(String(repeating: "5c", count: 48))\n" }
        }
        keyLog.load(text: Data(text.utf8), source: "first")
        #expect(keyLog.spilled)
        #expect(keyLog.secrets(forClientRandom: early)?.clientHandshake == [UInt8](repeating: 0xa1, count: 48))
        // The same connection's other secrets come in a later source: its record, in the file, is updated there.
        keyLog.load(
            text: Data(
                ("SERVER_HANDSHAKE_TRAFFIC_SECRET \(Self.hex(early)) \(String(repeating: "b2", count: 48))\n"
                    + "CLIENT_HANDSHAKE_TRAFFIC_SECRET \(Self.hex(early)) \(String(repeating: "c3", count: 32))\n").utf8
            ),
            source: "second")
        let secrets = try #require(keyLog.secrets(forClientRandom: early))
        #expect(secrets.clientHandshake == [UInt8](repeating: 0xc3, count: 32))
        #expect(secrets.serverHandshake == [UInt8](repeating: 0xb2, count: 48))
        #expect(secrets.masterSecret == nil && secrets.clientTraffic == nil && secrets.serverTraffic == nil)
        #expect(
            keyLog.summaryLines == [
                "first: 32001 lines read, 32001 secrets for 8001 connections; "
                    + "1 matched a connection in the capture, 8000 did not",
                "second: 2 lines read, 2 secrets for 1 connection; 1 matched a connection in the capture, 0 did not",
            ])
    }

    @Test("with no scratch file to be had, secrets past the budget stay in memory, and the summary says so")
    func noScratchFile() throws {
        let folder = "/nonexistent-\(UInt64.random(in: 1 ... .max))"
        let keyLog = KeyLog(residentBytes: 0, spillFolder: folder)
        var text = ""
        var randoms: [[UInt8]] = []
        for index in 0..<8_000 {
            let random = (0..<32).map { UInt8(truncatingIfNeeded: index >> ($0 % 4 * 8)) &+ UInt8($0) }
            randoms.append(random)
            for (label, byte) in zip(Self.labels[1...4], ["11", "22", "33", "44"]) {
                text += "\(label) \(Self.hex(random)) \(String(repeating: byte, count: 48))\n"
            }
        }
        keyLog.load(text: Data(text.utf8), source: "kept")
        #expect(!keyLog.spilled)
        let expected = KeyLog.Secrets(
            clientHandshake: [UInt8](repeating: 0x11, count: 48), serverHandshake: [UInt8](repeating: 0x22, count: 48),
            clientTraffic: [UInt8](repeating: 0x33, count: 48), serverTraffic: [UInt8](repeating: 0x44, count: 48))
        #expect(randoms.allSatisfy { keyLog.secrets(forClientRandom: $0) == expected })
        #expect(keyLog.hasProblems)
        #expect(
            keyLog.summaryLines == [
                "kept: 32000 lines read, 32000 secrets for 8000 connections; "
                    + "8000 matched a connection in the capture, 0 did not",
                "secrets past 0 MB stayed in memory: no scratch file in \(folder) (No such file or directory)",
            ])
    }

    /// A line of a key log: most in the usual form, others with odd blanks, damaged, comments or blank.
    static func generatedLine(randoms: [[UInt8]], using generator: inout SeededGenerator) -> String {
        let random = Self.hex(randoms[Int.random(in: 0..<randoms.count, using: &generator)])
        // Mostly 32, 48 or 64 bytes; sometimes a length no secret has.
        let lengths = Int.random(in: 0..<10, using: &generator) < 8 ? [32, 48, 64] : [31, 33, 16]
        let length = lengths[Int.random(in: 0..<3, using: &generator)]
        let secret = Self.hex((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
        var fields = [Self.labels[Int.random(in: 0..<Self.labels.count, using: &generator)], random, secret]
        if Bool.random(using: &generator) { fields[1] = fields[1].uppercased() }
        switch Int.random(in: 0..<20, using: &generator) {
        case 0: fields[0] = "UNKNOWN_LABEL"
        case 1: fields.remove(at: 2)
        case 2: fields.append("tail")
        case 3:
            let field = Int.random(in: 0..<3, using: &generator)
            var characters: [Character] = Array(fields[field])
            let replacement: [Character] = ["g", "/", ":", "@", "`", "é", "G"]
            characters[Int.random(in: 0..<characters.count, using: &generator)] =
                replacement[Int.random(in: 0..<replacement.count, using: &generator)]
            fields[field] = String(characters)
        case 4: return "# " + fields.joined(separator: " ")
        case 5: return ["", " ", "\t", "\r"][Int.random(in: 0..<4, using: &generator)]
        case 6: fields[1].removeLast()
        default: break
        }
        let blanks = [" ", " ", " ", "\t", "  ", " \t"]
        var line = Int.random(in: 0..<10, using: &generator) == 0 ? "\t" : ""
        for (index, field) in fields.enumerated() {
            if index > 0 { line += blanks[Int.random(in: 0..<blanks.count, using: &generator)] }
            line += field
        }
        if Int.random(in: 0..<10, using: &generator) == 0 { line += " " }
        return line
    }
}

/// The key log's rules, plainly (strings and dictionaries): what ``KeyLog`` must do, however it stores it.
struct KeyLogModel {
    struct Report {
        var source: String
        var linesRead = 0
        var secrets = 0
        var malformed = 0
        var problems: [String] = []
        var randoms: Set<[UInt8]> = []
    }

    var connections: [[UInt8]: [Int: [UInt8]]] = [:]
    var matched: Set<[UInt8]> = []
    var reports: [Report] = []

    static let slots = [
        "CLIENT_RANDOM": 0, "CLIENT_HANDSHAKE_TRAFFIC_SECRET": 1, "SERVER_HANDSHAKE_TRAFFIC_SECRET": 2,
        "CLIENT_TRAFFIC_SECRET_0": 3, "SERVER_TRAFFIC_SECRET_0": 4, "EXPORTER_SECRET": -1,
        "CLIENT_EARLY_TRAFFIC_SECRET": -1, "EARLY_EXPORTER_SECRET": -1,
    ]

    mutating func load(_ text: String, source: String) {
        var report = Report(source: source)
        for (number, line) in text.utf8.split(separator: 0x0a, omittingEmptySubsequences: false).enumerated() {
            let fields = line.split { $0 == 0x20 || $0 == 0x09 || $0 == 0x0d }.map { Array($0) }
            guard let first = fields.first, first.first != UInt8(ascii: "#") else { continue }
            report.linesRead += 1
            func problem(_ text: String) {
                report.malformed += 1
                if report.problems.count < 5 { report.problems.append("line \(number + 1): \(text)") }
            }
            guard fields.count == 3 else {
                problem("expected LABEL CLIENT_RANDOM SECRET, found \(fields.count) fields")
                continue
            }
            guard fields[1].count == 64, let random = KeyLog.hex(fields[1]) else {
                problem("client random is not 64 hex digits")
                continue
            }
            guard [64, 96, 128].contains(fields[2].count), let secret = KeyLog.hex(fields[2]) else {
                problem("secret is not 32, 48 or 64 bytes of hex")
                continue
            }
            let label = String(decoding: fields[0], as: UTF8.self)
            guard let slot = Self.slots[label] else {
                problem("unknown label \(label.prefix(40))")
                continue
            }
            if slot >= 0 {
                self.connections[random, default: [:]][slot] = secret
            } else if self.connections[random] == nil {
                self.connections[random] = [:]
            }
            report.randoms.insert(random)
            report.secrets += 1
        }
        self.reports.append(report)
    }

    mutating func secrets(_ random: [UInt8]) -> KeyLog.Secrets? {
        guard let found = self.connections[random] else { return nil }
        self.matched.insert(random)
        return KeyLog.Secrets(
            masterSecret: found[0], clientHandshake: found[1], serverHandshake: found[2], clientTraffic: found[3],
            serverTraffic: found[4])
    }

    var summaryLines: [String] {
        self.reports.map { report in
            KeyLog.summaryLine(
                KeyLog.SourceReport(
                    source: report.source, linesRead: report.linesRead, secrets: report.secrets,
                    malformedLines: report.malformed, problems: report.problems),
                connections: report.randoms.count, matched: report.randoms.intersection(self.matched).count)
        }
    }
}
