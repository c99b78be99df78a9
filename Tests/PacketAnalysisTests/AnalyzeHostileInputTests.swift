import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

/// `bulkhead analyze` on hostile inputs, run as a user would run it (the built binary, real files, real pipes from
/// real processes): exit statuses, `complete: false` in every format, standard input, FIFOs, escapes.
@Suite("bulkhead analyze on hostile input (end to end)")
struct AnalyzeHostileInputTests {
    /// A run of `bulkhead` with standard input from `input` (a pipe another process writes, or nothing), killed if it
    /// outlives `timeout` (a hang must fail the test, not stall it).
    struct Run {
        var status: Int32
        var output: String
        var error: String
        var timedOut: Bool
    }

    static func run(
        _ arguments: [String], standardInput: Any? = nil, timeout: TimeInterval = 20,
        whileRunning: ((Process) throws -> Void)? = nil
    ) throws -> Run {
        let output = Pipe()
        let error = Pipe()
        let process = try ProcessRunner.start(
            BulkheadExecutable.url, arguments, directory: Repository.root,
            standardInput: standardInput ?? FileHandle.nullDevice, standardOutput: output, standardError: error)
        let collected = Collected()
        let watchdog = DispatchWorkItem {
            guard process.isRunning else { return }
            collected.timedOut = true
            process.terminate()
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
        let group = DispatchGroup()
        for (pipe, isOutput) in [(output, true), (error, false)] {
            group.enter()
            Thread {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                collected.set(data, output: isOutput)
                group.leave()
            }.start()
        }
        try whileRunning?(process)
        group.wait()
        process.waitUntilExit()
        watchdog.cancel()
        return Run(
            status: process.terminationReason == .uncaughtSignal
                ? 128 + process.terminationStatus : process.terminationStatus,
            output: String(decoding: collected.output, as: UTF8.self),
            error: String(decoding: collected.error, as: UTF8.self),
            timedOut: collected.timedOut)
    }

    final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var output = Data()
        private(set) var error = Data()
        var timedOut: Bool {
            get { self.lock.withLock { self.killed } }
            set { self.lock.withLock { self.killed = newValue } }
        }
        private var killed = false

        func set(_ data: Data, output: Bool) {
            self.lock.withLock { if output { self.output = data } else { self.error = data } }
        }
    }

    static func folder(_ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bulkhead-\(name)-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    // MARK: - Incomplete

    @Test(
        "a capture corrupt in the middle: complete false and the problem (file, byte offset) in every format, exit 3 over 1"
    )
    func corruptInTheMiddle() throws {
        let frames =
            HostileCaptureTests.credentialFrames()
            + HostileCaptureTests.credentialFrames(clientPort: 41001, user: "trudy")
        let corrupt = HostileCaptureTests.pcapCorruptAt(record: 8, frames: frames)
        let directory = try Self.folder("corrupt")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/corrupt.pcap"
        try Data(corrupt.bytes).write(to: URL(fileURLWithPath: path))
        for reader in ["mmap", "libpcap"] {
            let table = try Self.run(["analyze", "--reader", reader, path])
            #expect(
                table.status == 3,
                "\(reader): the credential before the damage is a finding (1), incomplete (3) wins: \(table.error)")
            #expect(table.output.contains("INCOMPLETE: 1 problem"))
            #expect(table.output.contains("\(path) at byte \(corrupt.offset):"), "\(table.output)")
            #expect(table.error.contains("incomplete") && table.error.contains(path))
            let json = try Self.json(try Self.run(["analyze", "--reader", reader, "--format", "json", path]).output)
            let summary = try #require(json["summary"] as? [String: Any])
            #expect(summary["complete"] as? Bool == false)
            let problem = try #require((summary["problems"] as? [[String: Any]])?.first)
            #expect(problem["file"] as? String == path && problem["offset"] as? Int == corrupt.offset)
            let lines = try Self.run(["analyze", "--reader", reader, "--format", "jsonl", path])
            #expect(lines.status == 3)
            let last = try Self.json(String(lines.output.split(separator: "\n").last ?? ""))
            #expect((last["summary"] as? [String: Any])?["complete"] as? Bool == false)
        }
        // The same capture cut short instead: incomplete too (tshark exits 2 on both).
        try Data(corrupt.bytes.prefix(corrupt.offset + 20)).write(to: URL(fileURLWithPath: path))
        #expect(try Self.run(["analyze", path]).status == 3)
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark") {
            let tshark = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/tshark"), ["-r", path])
            #expect(tshark.status != 0, "the oracle agrees the file is damaged")
        }
    }

    @Test("one bad file in a folder: the others analysed, the bad one reported, exit 3")
    func folderWithOneBadFile() throws {
        let directory = try Self.folder("mixed")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data("<html>not a capture</html>".utf8).write(to: URL(fileURLWithPath: directory + "/page.pcap"))
        try Data(HostileCaptureTests.pcap(HostileCaptureTests.credentialFrames(user: "carol"))).write(
            to: URL(fileURLWithPath: directory + "/good.pcap"))
        let run = try Self.run(["analyze", "--format", "json", directory])
        #expect(run.status == 3, "\(run.error)")
        let summary = try #require(try Self.json(run.output)["summary"] as? [String: Any])
        #expect((summary["problems"] as? [[String: Any]])?.map { $0["file"] as? String } == [directory + "/page.pcap"])
        #expect(run.output.contains("\"user\":\"carol\""))
    }

    /// Review item 9: wire text (SNI, ALPN, a CONNECT destination) was kept escaped (`\x0a`) with its backslashes
    /// as they were, so a real newline and the four characters `\x0a` read the same; the table then doubled the
    /// backslash. A backslash is now `\x5c`, and the table shows the escapes once.
    @Test("an SNI with a newline and one with the characters \\x0a differ in JSON and are shown once-escaped")
    func wireTextEscapedOneToOne() throws {
        let directory = try Self.folder("wire-text")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var frames: [[UInt8]] = []
        for (index, sni) in ["hnew\nline.test", "hnew\\x0aline.test"].enumerated() {
            var conversation = TCPConversation(clientPort: 41_000 + index, serverPort: 443)
            conversation.handshake()
            conversation.send(TLSDissectionTests.record(22, TLSDissectionTests.clientHello(sni: sni)), fromClient: true)
            conversation.close()
            frames += conversation.frames
        }
        let path = directory + "/sni.pcap"
        try Data(HostileCaptureTests.pcap(frames)).write(to: URL(fileURLWithPath: path))
        let json = try Self.run(["analyze", "--format", "json", path])
        let flows = try #require(try Self.json(json.output)["flows"] as? [[String: Any]])
        let names = flows.compactMap { ($0["tls"] as? [String: Any])?["sni"] as? String }
        #expect(names == ["hnew\\x0aline.test", "hnew\\x5cx0aline.test"])
        let table = try Self.run(["analyze", path]).output
        #expect(table.contains("sni=hnew\\x0aline.test;") || table.contains("sni=hnew\\x0aline.test\n"), "\(table)")
        #expect(table.contains("sni=hnew\\x5cx0aline.test"), "\(table)")
        #expect(!table.contains("\\\\"), "no backslash doubled: \(table)")
    }

    /// Review item 7: the same file named twice was analysed twice (`Files: 2`, every flow and finding doubled).
    @Test("a file given twice (same path, named and in a folder given, a link) is analysed once, with a note")
    func sameFileOnce() throws {
        let directory = try Self.folder("twice")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/a.pcap"
        try Data(HostileCaptureTests.pcap(HostileCaptureTests.credentialFrames(user: "carol"))).write(
            to: URL(fileURLWithPath: file))
        #expect(symlink(file, directory + "/link.cap") == 0)
        for (arguments, dropped) in [
            ([file, file], [file]), ([directory, file], [file, directory + "/link.cap"]),
            ([directory + "/link.cap", file], [file]),
        ] {
            let run = try Self.run(["analyze", "--format", "json"] + arguments)
            #expect(run.status == 1, "\(arguments): \(run.error)")
            let summary = try #require(try Self.json(run.output)["summary"] as? [String: Any])
            #expect((summary["files"] as? [String])?.count == 1, "\(arguments)")
            #expect(summary["flows"] as? Int == 1, "\(arguments)")
            let notes = run.error.split(separator: "\n").filter { $0.hasPrefix("bulkhead: note: ") }
            #expect(notes.count == dropped.count, "\(arguments): \(run.error)")
            for path in dropped {
                #expect(notes.contains { $0.contains("note: \(path) is ") }, "\(arguments): \(path)")
            }
        }
    }

    /// Review item 8: `problems[]` entries had no `offset` key where there was none to give (a gzip cut short, a
    /// pcapng interface libpcap refuses) and for a file that is not a capture. The key is always written: the byte
    /// at fault, or null.
    @Test("every problem has file, offset (null when none), code and message, in json and jsonl")
    func problemsAlwaysHaveAnOffset() throws {
        let directory = try Self.folder("offsets")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Data("<html>not a capture</html>".utf8).write(to: URL(fileURLWithPath: directory + "/page.pcap"))
        let good = HostileCaptureTests.pcap(HostileCaptureTests.credentialFrames(user: "carol"))
        try Data(good).write(to: URL(fileURLWithPath: directory + "/good.pcap"))
        // A gzip stream cut in its middle: its position is in the decompressed bytes, said in words; no file offset.
        let gzip = try ProcessRunner.run(
            URL(fileURLWithPath: "/bin/sh"),
            [
                "-c",
                "gzip -c \"$1\"/good.pcap > \"$1\"/whole.gz && head -c $(($(wc -c < \"$1\"/whole.gz) / 2)) \"$1\"/whole.gz > \"$1\"/cut.pcap.gz",
                "-", directory,
            ])
        #expect(gzip.status == 0)
        try FileManager.default.removeItem(atPath: directory + "/whole.gz")
        var seen: [String: [String: Any]] = [:]
        for format in ["json", "jsonl"] {
            let run = try Self.run(["analyze", "--format", format, directory])
            #expect(run.status == 3, "\(format): \(run.error)")
            let summary: [String: Any]?
            if format == "json" {
                summary = try Self.json(run.output)["summary"] as? [String: Any]
            } else {
                let last = try #require(run.output.split(separator: "\n").last)
                summary = try Self.json(String(last))["summary"] as? [String: Any]
            }
            let problems = try #require(summary?["problems"] as? [[String: Any]])
            #expect(problems.count == 2, "\(format): \(problems)")
            for problem in problems {
                #expect(Set(problem.keys) == ["file", "offset", "code", "message"], "\(format): \(problem)")
                seen[problem["file"] as? String ?? ""] = problem
            }
        }
        #expect(seen[directory + "/page.pcap"]?["offset"] as? Int == 0)
        #expect(seen[directory + "/cut.pcap.gz"]?["offset"] is NSNull)
        #expect(
            (seen[directory + "/cut.pcap.gz"]?["message"] as? String)?.contains("of the decompressed capture") == true)
        // Every stored property of the summary and its problems is a key (the reflection the other reports pass).
        var summary = AnalysisSummary()
        summary.problems = [AnalysisProblem(file: "f", offset: nil, code: "c", message: "m")]
        let missing = try ExplicitNullReflection.check(summary)
        #expect(missing.isEmpty, "\(missing)")
    }

    // MARK: - FIFOs, key logs, error messages

    /// Review item 4: in a folder, a FIFO is a problem of that file (exit 3, the others analysed), not the run's end.
    @Test("a FIFO as capture or as --keylog: 'not a regular file', exit 2, at once; in a folder: a problem, exit 3")
    func fifos() throws {
        let directory = try Self.folder("fifo")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(mkfifo(directory + "/live.pcap", 0o600) == 0)
        let good = directory + "/good.cap"
        try Data(HostileCaptureTests.pcap(HostileCaptureTests.credentialFrames())).write(to: URL(fileURLWithPath: good))
        let started = Date()
        let folder = try Self.run(["analyze", "--format", "json", directory], timeout: 10)
        #expect(!folder.timedOut && Date().timeIntervalSince(started) < 5, "a folder's FIFO must not be waited on")
        #expect(folder.status == 3, "\(folder.error)")
        let summary = try #require(try Self.json(folder.output)["summary"] as? [String: Any])
        let problems = try #require(summary["problems"] as? [[String: Any]])
        #expect(problems.map { $0["file"] as? String } == [directory + "/live.pcap"])
        #expect(problems.first?["message"] as? String == "not a regular file (a FIFO)")
        #expect(folder.output.contains("\"user\":\"mallory\""), "the other file was analysed")
        for arguments in [
            ["analyze", directory + "/live.pcap"], ["analyze", "--keylog", directory + "/live.pcap", good],
        ] {
            let started = Date()
            let run = try Self.run(arguments, timeout: 10)
            #expect(!run.timedOut && Date().timeIntervalSince(started) < 5, "\(arguments) must not wait on the FIFO")
            #expect(run.status == 2, "\(arguments): \(run.error)")
            #expect(
                run.error.contains("\(directory)/live.pcap") && run.error.contains("not a regular file (a FIFO)"),
                "\(run.error)")
        }
    }

    @Test("error messages name the real cause: missing file, missing folder, key log that is a folder or missing")
    func errorMessages() throws {
        let directory = try Self.folder("errors")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let good = directory + "/good.pcap"
        try Data(HostileCaptureTests.pcap(HostileCaptureTests.credentialFrames())).write(to: URL(fileURLWithPath: good))
        let cases: [([String], String)] = [
            (["analyze", directory + "/missing.pcap"], "\(directory)/missing.pcap: no such file or folder"),
            (["analyze", directory + "/missing/"], "\(directory)/missing/: no such file or folder"),
            (
                ["analyze", "--keylog", directory, good],
                "\(directory): cannot read the key log: not a regular file (a folder)"
            ),
            (
                ["analyze", "--keylog", directory + "/none.log", good],
                "\(directory)/none.log: cannot read the key log: cannot open: No such file or directory"
            ),
        ]
        // A file name is outside text too: its control characters are escaped in the message.
        let hostileName = directory + "/\u{1b}[2Jx.pcap"
        let escaped = try Self.run(["analyze", hostileName])
        #expect(escaped.status == 2 && !escaped.error.utf8.contains(0x1b))
        #expect(escaped.error == "bulkhead: error: \(directory)/\\x1b[2Jx.pcap: no such file or folder\n")
        for (arguments, message) in cases {
            let run = try Self.run(arguments)
            #expect(run.status == 2)
            #expect(run.error == "bulkhead: error: \(message)\n", "\(arguments)")
            #expect(!run.error.contains("permission"))
        }
    }

    @Test(
        "an unreadable folder and an unreadable subfolder: said so (as an unprivileged user)",
        .enabled(
            if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
            "needs root to drop to nobody"))
    func unreadableFolders() throws {
        let directory = try Self.folder("locked")
        defer {
            chmod(directory + "/inner", 0o755)
            try? FileManager.default.removeItem(atPath: directory)
        }
        chmod(directory, 0o755)
        try FileManager.default.createDirectory(atPath: directory + "/inner", withIntermediateDirectories: true)
        try Data(HostileCaptureTests.pcap(HostileCaptureTests.credentialFrames())).write(
            to: URL(fileURLWithPath: directory + "/good.pcap"))
        chmod(directory + "/inner", 0)
        func asNobody(_ arguments: [String]) throws -> ProcessOutput {
            try ProcessRunner.run(
                URL(fileURLWithPath: "/usr/bin/setpriv"),
                ["--reuid=65534", "--regid=65534", "--clear-groups", BulkheadExecutable.url.path] + arguments)
        }
        let top = try asNobody(["analyze", directory + "/inner"])
        #expect(top.status == 2)
        #expect(top.error == "bulkhead: error: \(directory)/inner: cannot list the folder: Permission denied\n")
        let sub = try asNobody(["analyze", directory])
        #expect(sub.status == 3, "the good file is analysed, the subfolder could not be: \(sub.error)")
        #expect(sub.output.contains("\(directory)/inner: cannot list the folder: Permission denied"))
    }

    // MARK: - libpcap reader

    @Test("--reader libpcap on an unsupported link type: no crash (was a double free, SIGABRT)")
    func libpcapUnsupportedLinkType() throws {
        let directory = try Self.folder("linktype")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pcapng = directory + "/user0.pcapng"
        try Data(
            HostileCaptureTests.sectionHeader() + HostileCaptureTests.interface(linkType: 147)
                + HostileCaptureTests.enhancedPacket([1, 2, 3, 4])
        )
        .write(to: URL(fileURLWithPath: pcapng))
        let classic = directory + "/user0.pcap"
        try Data(PacketBuilder.pcap([(0, [1, 2, 3, 4])], linkType: 147)).write(to: URL(fileURLWithPath: classic))
        let interface = try Self.run(["analyze", "--reader", "libpcap", pcapng])
        #expect(interface.status == 3, "its interface was not examined: \(interface.error)")
        #expect(interface.error.contains("link type 147 is not supported"))
        let file = try Self.run(["analyze", "--reader", "libpcap", classic])
        #expect(file.status == 2)
        #expect(file.error == "bulkhead: error: \(classic): link type 147 is not supported (at byte 20)\n")
    }

    // MARK: - Standard input

    @Test("tcpdump -w - | bulkhead analyze -, and a pcapng through /dev/stdin")
    func standardInputFromAPipe() throws {
        for (producer, arguments, path) in [
            ("/usr/bin/tcpdump", ["-r", Repository.path("captures/http-basic-auth.pcap"), "-w", "-"], "-"),
            ("/bin/cat", [Repository.path("captures/http-basic-auth.pcap")], "/dev/stdin"),
            ("/bin/cat", [Repository.path("captures/tls12-mutual-dumpcap.pcapng")], "-"),
        ] where FileManager.default.isExecutableFile(atPath: producer) {
            let pipe = Pipe()
            let writer = try ProcessRunner.start(URL(fileURLWithPath: producer), arguments, standardOutput: pipe)
            let run = try Self.run(["analyze", "--format", "json", path], standardInput: pipe)
            writer.waitUntilExit()
            let document = try Self.json(run.output)
            let summary = try #require(document["summary"] as? [String: Any])
            #expect(summary["complete"] as? Bool == true, "\(producer) \(arguments): \(run.error)")
            if arguments[0].hasSuffix("pcapng") {
                #expect(run.status == 0)
                #expect(summary["mutualTLSFlows"] as? Int == 1)
            } else {
                #expect(run.status == 1)
                #expect(run.output.contains("\"user\":\"alice\""))
            }
        }
        // A stream that is no capture, and one cut short: refused (2) and incomplete (3).
        let garbage = Pipe()
        try garbage.fileHandleForWriting.write(contentsOf: Data("hello\n".utf8))
        try garbage.fileHandleForWriting.close()
        let refused = try Self.run(["analyze", "-"], standardInput: garbage)
        #expect(refused.status == 2)
        #expect(refused.error.hasPrefix("bulkhead: error: standard input: libpcap cannot read it"))
        // A compressed capture piped in is named as such, with what to do (gzip -c writes it from the real tool).
        let compressed = Pipe()
        let gzip = try ProcessRunner.start(
            URL(fileURLWithPath: "/usr/bin/gzip"), ["-c", Repository.path("captures/http-basic-auth.pcap")],
            standardOutput: compressed)
        let named = try Self.run(["analyze", "-"], standardInput: compressed)
        gzip.waitUntilExit()
        #expect(named.status == 2)
        #expect(
            named.error.hasPrefix(
                "bulkhead: error: standard input: is gzip-compressed: decompress it in the pipe (gzip -dc FILE |"),
            "\(named.error)")
        let cut = Pipe()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: Repository.path("captures/http-basic-auth.pcap")))
        try cut.fileHandleForWriting.write(contentsOf: bytes.dropLast(9))
        try cut.fileHandleForWriting.close()
        let incomplete = try Self.run(["analyze", "--format", "json", "-"], standardInput: cut)
        #expect(incomplete.status == 3)
        // The problem names where the record cut short starts, counted through the pipe (a pipe has no position).
        var lastRecord = 24
        while lastRecord + 16 <= bytes.count {
            let captured = bytes[lastRecord + 8..<lastRecord + 12].reversed().reduce(0) { $0 << 8 | Int($1) }
            if lastRecord + 16 + captured >= bytes.count { break }
            lastRecord += 16 + captured
        }
        let problems = try #require(
            (try Self.json(incomplete.output)["summary"] as? [String: Any])?["problems"] as? [[String: Any]])
        #expect(problems.count == 1)
        #expect(problems.first?["offset"] as? Int == lastRecord, "\(problems)")
        #expect(problems.first?["file"] as? String == "standard input", "\(problems)")
    }

    /// Peak resident memory of a running process, from /proc (kB).
    static func peakResidentKilobytes(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
        return line.flatMap { Int($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") }
    }

    /// Writes one TCP connection of 1400-byte segments as a classic pcap of about `bytes` bytes (its handshake, then the
    /// segments, a few hundred kilobytes at a time); returns how many packets it wrote.
    static func writeLongConnection(bytes: Int, to writer: FileHandle) throws -> Int {
        var conversation = TCPConversation(clientPort: 42000, serverPort: 9000)
        conversation.handshake()
        conversation.send([UInt8](repeating: 0x61, count: 1400), fromClient: true)
        let handshake = conversation.frames.dropLast()
        try writer.write(contentsOf: Data(PacketBuilder.pcap(handshake.map { (0, $0) })))
        let template = conversation.frames[conversation.frames.count - 1]
        let segments = bytes / (16 + template.count)
        var chunk: [UInt8] = []
        chunk.reserveCapacity(1024 * (16 + template.count))
        var sequence: UInt32 = 1001
        for index in 0..<segments {
            var frame = template
            // The TCP sequence number (Ethernet 14 + IPv4 20 + 4): one growing connection, no retransmissions.
            frame.replaceSubrange(38..<42, with: PacketBuilder.be32(sequence))
            sequence &+= 1400
            chunk +=
                PacketBuilder.le32(UInt32(index)) + PacketBuilder.le32(0) + PacketBuilder.le32(UInt32(frame.count))
                + PacketBuilder.le32(UInt32(frame.count)) + frame
            if chunk.count >= 1000 * (16 + template.count) {
                try writer.write(contentsOf: Data(chunk))
                chunk.removeAll(keepingCapacity: true)
            }
        }
        try writer.write(contentsOf: Data(chunk))
        return handshake.count + segments
    }

    @Test("analyze - streams: 256 MiB through a pipe in bounded memory")
    func standardInputBoundedMemory() throws {
        // One TCP connection of 1400-byte segments, written by this process into the pipe as bulkhead reads it.
        let pipe = Pipe()
        var peak: Int?
        var packets = 0
        let run = try Self.run(
            ["analyze", "--format", "json", "--fail-on", "critical", "-"], standardInput: pipe, timeout: 300
        ) { process in
            let writer = pipe.fileHandleForWriting
            // Written with the throwing call: should bulkhead stop reading, the broken pipe fails this test, not the
            // process (SIGPIPE is ignored, see ProcessRunner.ignoreBrokenPipes).
            packets = try Self.writeLongConnection(bytes: 256 << 20, to: writer)
            // Once bulkhead has read all the pipe holds, its peak so far is its peak.
            try Poll.until("bulkhead reading all the pipe holds", seconds: 60) {
                var unread: Int32 = 0
                return ioctl(writer.fileDescriptor, UInt(FIONREAD), &unread) == 0 && unread == 0
            }
            peak = Self.peakResidentKilobytes(process.processIdentifier)
            try writer.close()
        }
        #expect(run.status == 0, "\(run.error)")
        let summary = try #require(try Self.json(run.output)["summary"] as? [String: Any])
        #expect(summary["packets"] as? Int == packets)
        #expect(summary["complete"] as? Bool == true)
        let kilobytes = try #require(peak)
        print("analyze - : peak RSS \(kilobytes / 1024) MiB for \(256) MiB streamed")
        #expect(kilobytes < 100 * 1024, "peak RSS \(kilobytes) kB for a 256 MiB stream")
    }

    // MARK: - Control characters

    @Test("control characters from traffic are escaped in the table (ESC[2J, OSC title, C1 CSI, BEL)")
    func controlCharactersEscaped() throws {
        let hostile = "\u{1b}[2J\u{1b}]0;owned\u{07}\u{9b}31mroot\r\u{202e}"
        var ftp = TCPConversation(clientPort: 43000, serverPort: 21)
        ftp.handshake()
        ftp.send("220 ftp ready\r\n", fromClient: false)
        ftp.send("USER \(hostile)\r\nPASS hunter22\r\n", fromClient: true)
        ftp.close()
        var http = TCPConversation(clientPort: 43001, serverPort: 8080)
        http.handshake()
        http.send(
            "GET / HTTP/1.1\r\nAuthorization: Digest username=\"\(hostile)\", response=\"abc\"\r\n\r\n",
            fromClient: true)
        http.close()
        let directory = try Self.folder("escapes")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/escapes.pcap"
        try Data(PacketBuilder.pcap((ftp.frames + http.frames).enumerated().map { (UInt32($0.offset), $0.element) }))
            .write(to: URL(fileURLWithPath: path))
        let run = try Self.run(["analyze", path])
        #expect(run.status == 1, "\(run.error)")
        let bytes = Array(run.output.utf8)
        #expect(
            !bytes.contains(0x1b) && !bytes.contains(0x07) && !bytes.contains(0x0d),
            "no raw ESC, BEL or CR reaches the terminal")
        #expect(!run.output.unicodeScalars.contains { (0x80...0x9f).contains($0.value) || $0.value == 0x202e })
        #expect(
            run.output.components(separatedBy: "user=\\x1b[2J\\x1b]0;owned\\x07\\u{9b}31mroot\\x0d\\u{202e}").count
                == 3, "\(run.output)")
    }
}
