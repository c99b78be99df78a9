import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import PacketAnalysis

/// Key-log decryption against real captures made by `openssl s_client -keylogfile` and `s_server`.
@Suite("Key log decryption")
struct KeyLogDecryptionTests {
    static let tls13Captures = [
        ("tls13-mutual", ClientCertificateState.presented, true),
        ("tls13-aes128-mutual", .presented, true),
        ("tls13-client-cert-declined", .declined, true),
        ("tls13-server-auth", .notRequested, true),
        ("tls13-client-cert-required-rejected", .declined, false),
    ]

    func analyze(_ capture: String, keys: [String], into keyLog: KeyLog = KeyLog()) throws -> (
        flows: [FlowRecord], result: CaptureAnalysisResult
    ) {
        for key in keys { try keyLog.load(path: Repository.path("captures/keys/\(key)")) }
        var flows: [FlowRecord] = []
        let result = try CaptureAnalysis.run(
            files: [Repository.path("captures/\(capture)")],
            options: AnalysisOptions(keyLog: keyLog.hasSources ? keyLog : nil)
        ) { flows.append($0) }
        return (flows, result)
    }

    @Test("TLS 1.3 with keys: exact client-certificate state, certificates and alerts", arguments: tls13Captures)
    func exactVerdicts(name: String, state: ClientCertificateState, established: Bool) throws {
        let (flows, result) = try self.analyze("\(name).pcap", keys: ["\(name).keys"])
        let tls = try #require(flows.first?.tls)
        #expect(tls.decrypted)
        #expect(tls.establishedBasis == "decrypted")
        #expect(tls.clientCertificate == state)
        #expect(tls.established == established)
        #expect(tls.serverCertificates.first?.subject == "CN=server.test,O=Bulkhead Test")
        #expect(tls.clientCertificates.isEmpty == (state != .presented))
        if state == .presented {
            #expect(tls.clientCertificates.first?.sans == ["URI:spiffe://bulkhead.test/client"])
        }
        #expect(tls.certificateRequested == (state != .notRequested))
        if !established {
            #expect(tls.alerts.contains { $0.description == "certificate_required" && $0.code == 116 && !$0.inferred })
        }
        #expect(result.summary.decryptedFlows == 1)
        #expect(result.keyLog?.hasProblems == false)
    }

    @Test(
        "TLS 1.2 with keys: Finished decrypted (GCM and ChaCha20-Poly1305), a renegotiation read inside the tunnel",
        arguments: ["tls12-mutual", "tls12-chacha20-server-auth", "tls12-renegotiation-client-cert-rejected"])
    func tls12Decrypted(name: String) throws {
        let (flows, result) = try self.analyze("\(name).pcap", keys: ["\(name).keys"])
        let tls = try #require(flows.first?.tls)
        #expect(tls.decrypted)
        #expect(tls.decryptionProblem == nil)
        #expect(tls.renegotiated == name.contains("renegotiation"))
        #expect(result.keyLog?.summaryLines.first?.hasSuffix(", 0 did not") == true)
        let (clear, _) = try self.analyze("\(name).pcap", keys: [])
        #expect(clear.first?.tls?.decrypted == false)
    }

    @Test(
        "the same flows whether a connection's secrets are derived together (AVX-512VL) or one at a time",
        arguments: tls13Captures)
    func derivationPathsAgree(name: String, state: ClientCertificateState, established: Bool) throws {
        try self.expectSameFlows(name, whenForced: TrafficKeys.forceOneAtATime)
    }

    @Test(
        "the same flows whether AES-GCM records are opened with AES-NI beside OpenSSL's GCM mode or through EVP",
        arguments: tls13Captures)
    func aesGCMPathsAgree(name: String, state: ClientCertificateState, established: Bool) throws {
        try self.expectSameFlows(name, whenForced: AEADOpener.forceEVP)
    }

    @Test(
        "the same flows when the connection's secrets were read back from the key log's scratch file",
        arguments: tls13Captures)
    func secretsFromScratchFile(name: String, state: ClientCertificateState, established: Bool) throws {
        let (usual, _) = try self.analyze("\(name).pcap", keys: ["\(name).keys"])
        // No memory budget, and the capture's keys first, then 2 MB of other connections: their chunk is in the file.
        let keyLog = KeyLog(residentBytes: 0)
        try keyLog.load(path: Repository.path("captures/keys/\(name).keys"))
        var others = ""
        for index in 0..<8_000 {
            let random = (0..<32).map { String(format: "%02x", (index >> ($0 % 4 * 8) + $0) & 0xff) }.joined()
            others += "CLIENT_HANDSHAKE_TRAFFIC_SECRET \(random) \(String(repeating: "77", count: 48))\n"
            others += "SERVER_HANDSHAKE_TRAFFIC_SECRET \(random) \(String(repeating: "78", count: 48))\n"
            others += "CLIENT_TRAFFIC_SECRET_0 \(random) \(String(repeating: "79", count: 48))\n"
            others += "SERVER_TRAFFIC_SECRET_0 \(random) \(String(repeating: "7a", count: 48))\n"
        }
        keyLog.load(text: Data(others.utf8), source: "others")
        #expect(keyLog.spilled)
        let (fromFile, result) = try self.analyze("\(name).pcap", keys: [], into: keyLog)
        #expect(usual.map(\.tls) == fromFile.map(\.tls))
        #expect(fromFile.first?.tls?.decrypted == true)
        #expect(
            result.keyLog?.summaryLines.first?.hasSuffix("1 matched a connection in the capture, 0 did not") == true)
    }

    /// Decrypts capture `name` with its keys as is, then again with `force(true)` (a process-wide switch to the other
    /// path of some step, undone after), and expects the same flows, decrypted.
    func expectSameFlows(_ name: String, whenForced force: (Bool) -> Void) throws {
        let (usual, _) = try self.analyze("\(name).pcap", keys: ["\(name).keys"])
        force(true)
        defer { force(false) }
        let (forced, _) = try self.analyze("\(name).pcap", keys: ["\(name).keys"])
        #expect(usual.map(\.tls) == forced.map(\.tls))
        #expect(forced.first?.tls?.decrypted == true)
    }

    @Test("without keys the same captures keep the heuristic, marked as such")
    func withoutKeys() throws {
        let (flows, _) = try self.analyze("tls13-mutual.pcap", keys: [])
        let tls = try #require(flows.first?.tls)
        #expect(!tls.decrypted)
        #expect(tls.clientCertificate == .likelyPresented)
        #expect(tls.establishedBasis == "heuristic")
    }

    @Test("a STARTTLS upgrade is decrypted too")
    func starttls() throws {
        let (flows, _) = try self.analyze("smtp-starttls.pcap", keys: ["smtp-starttls.keys"])
        let flow = try #require(flows.first)
        #expect(flow.starttls)
        #expect(flow.tls?.decrypted == true)
        #expect(flow.tls?.clientCertificate == .notRequested)
    }

    @Test("keys for another connection match nothing, and say so")
    func unrelatedKeys() throws {
        let (flows, result) = try self.analyze("tls13-mutual.pcap", keys: ["tls13-server-auth.keys"])
        #expect(flows.first?.tls?.decrypted == false)
        let keyLog = try #require(result.keyLog)
        #expect(keyLog.hasProblems)
        #expect(keyLog.summaryLines.first?.contains("0 matched a connection in the capture, 1 did not") == true)
    }

    @Test("a wrong secret for the right connection is reported, and the heuristic verdict stays")
    func wrongKey() throws {
        let original = try String(contentsOfFile: Repository.path("captures/keys/tls13-mutual.keys"), encoding: .utf8)
        // Flip the last hex digit of every secret: same client random, wrong key.
        let damaged = original.split(separator: "\n").map { line -> String in
            guard let last = line.last, line.split(separator: " ").count == 3 else { return String(line) }
            return String(line.dropLast()) + (last == "0" ? "1" : "0")
        }.joined(separator: "\n")
        let keyLog = KeyLog()
        keyLog.load(text: Data(damaged.utf8), source: "damaged")
        var flows: [FlowRecord] = []
        _ = try CaptureAnalysis.run(
            files: [Repository.path("captures/tls13-mutual.pcap")], options: AnalysisOptions(keyLog: keyLog)
        ) {
            flows.append($0)
        }
        let tls = try #require(flows.first?.tls)
        #expect(!tls.decrypted)
        #expect(tls.decryptionProblem?.contains("wrong key") == true)
        #expect(tls.clientCertificate == .likelyPresented)
    }

    @Test("malformed key log lines are counted and named, never fatal")
    func malformed() throws {
        let random = String(repeating: "ab", count: 32)
        let text = """
            # a comment

            CLIENT_HANDSHAKE_TRAFFIC_SECRET \(random) \(String(repeating: "11", count: 32))
            CLIENT_HANDSHAKE_TRAFFIC_SECRET \(random) 1234
            NOT_A_LABEL \(random) \(String(repeating: "11", count: 32))
            CLIENT_RANDOM zz \(String(repeating: "11", count: 48))
            just garbage
            SERVER_HANDSHAKE_TRAFFIC_SECRET \(random) \(String(repeating: "22", count: 32))
            """
        let keyLog = KeyLog()
        keyLog.load(text: Data(text.utf8), source: "test.keys")
        let report = try #require(keyLog.reports.first)
        #expect(report.linesRead == 6)
        #expect(report.secrets == 2)
        #expect(report.malformedLines == 4)
        #expect(
            report.problems == [
                "line 4: secret is not 32, 48 or 64 bytes of hex", "line 5: unknown label NOT_A_LABEL",
                "line 6: client random is not 64 hex digits",
                "line 7: expected LABEL CLIENT_RANDOM SECRET, found 2 fields",
            ])
        #expect(keyLog.hasProblems)
    }

    @Test("a key log file of several megabytes is read in pieces: lines cut between two reads are read whole")
    func largeFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bh-keys-\(UUID().uuidString).keys")
            .path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var text = "# a busy capture's key log\n"
        let count = 20_000
        for index in 0..<count {
            let random = String(format: "%064x", index)
            let label = index % 2 == 0 ? "CLIENT_HANDSHAKE_TRAFFIC_SECRET" : "SERVER_TRAFFIC_SECRET_0"
            text += "\(label) \(random) \(String(repeating: String(format: "%02x", index % 256), count: 48))"
            if index < count - 1 { text += index % 3 == 0 ? "\r\n" : "\n" }
        }
        #expect(text.utf8.count > 3 << 20)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let keyLog = KeyLog()
        try keyLog.load(path: path)
        let report = try #require(keyLog.reports.first)
        #expect(report.linesRead == count && report.secrets == count && report.malformedLines == 0)
        for index in [0, 1, 4_321, 11_110, count - 1] {
            var random = [UInt8](repeating: 0, count: 32)
            random[30] = UInt8(index >> 8)
            random[31] = UInt8(index & 0xff)
            let secrets = try #require(keyLog.secrets(forClientRandom: random), "\(index)")
            let secret = [UInt8](repeating: UInt8(index % 256), count: 48)
            #expect((index % 2 == 0 ? secrets.clientHandshake : secrets.serverTraffic) == secret, "\(index)")
        }
    }

    @Test("a line longer than a read is one malformed line: no tail of it is taken for an entry")
    func overlongLine() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bh-long-\(UUID().uuidString).keys")
            .path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let random = String(repeating: "cd", count: 32)
        let entry = "CLIENT_TRAFFIC_SECRET_0 \(random) \(String(repeating: "11", count: 48))"
        // Garbage longer than a read, ending in what looks like an entry; then a real entry on the next line.
        let text = String(repeating: "x", count: KeyLog.readSize + 100) + " " + entry + "\n" + entry + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let keyLog = KeyLog()
        try keyLog.load(path: path)
        let report = try #require(keyLog.reports.first)
        #expect(report.linesRead == 2 && report.secrets == 1 && report.malformedLines == 1)
        #expect(report.problems == ["line 1: longer than \(KeyLog.readSize) bytes"])
    }

    @Test("tabs, CRLF line ends, upper-case hex and a last line without its newline are read")
    func separatorsAndCase() throws {
        let random = String(repeating: "Ab", count: 32)
        let text =
            "CLIENT_TRAFFIC_SECRET_0\t\(random)  \(String(repeating: "C3", count: 48))\r\n"
            + "SERVER_TRAFFIC_SECRET_0 \(random.lowercased()) \(String(repeating: "0f", count: 64))"
        let keyLog = KeyLog()
        keyLog.load(text: Data(text.utf8), source: "crlf.keys")
        let report = try #require(keyLog.reports.first)
        #expect(report.linesRead == 2 && report.secrets == 2 && report.malformedLines == 0)
        let secrets = try #require(keyLog.secrets(forClientRandom: [UInt8](repeating: 0xab, count: 32)))
        #expect(secrets.clientTraffic == [UInt8](repeating: 0xc3, count: 48))
        #expect(secrets.serverTraffic == [UInt8](repeating: 0x0f, count: 64))
        #expect(keyLog.secrets(forClientRandom: [UInt8](repeating: 0xab, count: 31)) == nil)
        #expect(KeyLog.hex(Array("0g".utf8)) == nil && KeyLog.hex(Array("abc".utf8)) == nil)
        #expect(KeyLog.hex(Array("FFa0".utf8)) == [0xff, 0xa0])
    }

    @Test("the committed malformed key log: every entry refused and named, and the capture still analysed")
    func malformedFile() throws {
        let (flows, result) = try self.analyze("tls13-mutual.pcap", keys: ["malformed.keys"])
        let report = try #require(result.keyLog?.reports.first)
        #expect(report.linesRead == 6)
        #expect(report.malformedLines == 6)
        #expect(report.secrets == 0)
        #expect(flows.first?.tls?.clientCertificate == .likelyPresented)
    }

    @Test("HKDF-Expand-Label matches RFC 8448's client handshake key derivation")
    func hkdfVector() {
        // RFC 8448 §3 (simple 1-RTT): client_handshake_traffic_secret → key and iv.
        let secret = KeyLog.hex(Array("b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21".utf8))!
        let key = TLSCrypto.expandLabel(sha384: false, secret: secret, label: "key", length: 16)
        let iv = TLSCrypto.expandLabel(sha384: false, secret: secret, label: "iv", length: 12)
        #expect(key == KeyLog.hex(Array("dbfaa693d1762c5b666af5d950258d01".utf8)))
        #expect(iv == KeyLog.hex(Array("5bd3c71b836e0b76bb73265f".utf8)))
    }

    /// tshark is the oracle; without it this one test is skipped (scripts/install-deps.sh --test installs it).
    @Test(
        "tshark, given the same key log, sees the same client certificates",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark"), "tshark is not installed"),
        arguments: tls13Captures)
    func tsharkAgrees(name: String, state: ClientCertificateState, established: Bool) throws {
        let output = try ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/tshark"),
            [
                "-r", Repository.path("captures/\(name).pcap"), "-o",
                "tls.keylog_file:" + Repository.path("captures/keys/\(name).keys"),
                "-Y", "tls.handshake.type == 11 || tls.handshake.type == 13", "-T", "fields",
                "-e", "ip.src", "-e", "tls.handshake.type", "-e", "tls.handshake.certificates_length",
            ]
        ).output
        // Lines: "<src>\t<types>\t<certificate list lengths>"; the client is 198.18.1.1.
        var requested = false
        var clientCertificateLength: Int?
        for line in output.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 2 else { continue }
            let types = fields[1].split(separator: ",")
            if types.contains("13") { requested = true }
            if fields[0] == "198.18.1.1", types.contains("11"), fields.count > 2 {
                clientCertificateLength = Int(fields[2].split(separator: ",").first ?? "")
            }
        }
        let tsharkState: ClientCertificateState =
            !requested ? .notRequested : (clientCertificateLength ?? 0) > 0 ? .presented : .declined
        let (flows, _) = try self.analyze("\(name).pcap", keys: ["\(name).keys"])
        #expect(flows.first?.tls?.clientCertificate == tsharkState, "tshark output:\n\(output)")
    }
}
