import BulkheadModel
import BulkheadTestSupport
import Foundation
import Reporting
import Testing

/// Reports under hostile conditions, through the real binary: a full disk, a symlinked report, several outputs of
/// which some fail, outside strings with terminal control sequences and HTML, and the exit-status precedence.
@Suite("Hostile output: failed writes, symlinks, several outputs, control characters, exit precedence")
struct HostileOutputTests {
    static func folder() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bh-output-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs the binary with standard output going to `stdoutPath` (e.g. /dev/full) instead of a pipe.
    static func run(_ arguments: [String], stdoutPath: String) throws -> (status: Int32, error: String) {
        guard let output = FileHandle(forWritingAtPath: stdoutPath) else { throw POSIXError(.ENOENT) }
        let error = Pipe()
        let process = try ProcessRunner.start(
            AnalyzeCommandTests.executable, arguments, directory: Repository.root, standardOutput: output,
            standardError: error)
        let data = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static func leftovers(_ folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".tmp") }
    }

    @Test("-o /dev/full and > /dev/full: the cause named, exit 2, no trap")
    func deviceFull() throws {
        let toFile = try AnalyzeCommandTests.run(["analyze", "captures/dns-udp.pcap", "-o", "/dev/full"])
        #expect(toFile.status == 2, "\(toFile.error)")
        #expect(
            toFile.error.contains("bulkhead: error: cannot write /dev/full: No space left on device"), "\(toFile.error)"
        )
        let redirected = try Self.run(["analyze", "captures/dns-udp.pcap"], stdoutPath: "/dev/full")
        #expect(redirected.status == 2, "\(redirected.error)")
        #expect(
            redirected.error.contains("cannot write standard output: No space left on device"), "\(redirected.error)")
        let json = try Self.run(["analyze", "captures/dns-udp.pcap", "--format", "jsonl"], stdoutPath: "/dev/full")
        #expect(json.status == 2 && !json.error.contains("Fatal error"), "\(json.error)")
    }

    @Test(
        "a full disk on a regular file (RLIMIT_FSIZE, EFBIG): exit 2, the temporary file removed, the previous report intact"
    )
    func fileSizeLimit() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let report = folder + "/report.json"
        try "previous report\n".write(toFile: report, atomically: false, encoding: .utf8)
        // The limit (1 KiB) and SIGXFSZ ignored are inherited across exec; the arguments are passed as "$@", never
        // interpolated into the script.
        let run = try ProcessRunner.run(
            URL(fileURLWithPath: "/bin/bash"),
            [
                "-c", "trap '' XFSZ; ulimit -f 1; exec \"$0\" \"$@\"", AnalyzeCommandTests.executable.path,
                "analyze", "captures/http-basic-auth.pcap", "--format", "json", "-o", report,
            ], directory: Repository.root)
        #expect(run.status == 2, "\(run.error)")
        #expect(run.error.contains("cannot write \(report): File too large"), "\(run.error)")
        #expect(try String(contentsOfFile: report, encoding: .utf8) == "previous report\n")
        #expect(Self.leftovers(folder).isEmpty, "\(Self.leftovers(folder))")
    }

    @Test("-o through a symlink: the target replaced whole (no old tail), the link kept, no temporary file left")
    func symlink() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder + "/real", withIntermediateDirectories: true)
        let target = folder + "/real/report.json"
        try String(repeating: "OLD CONTENT THAT IS LONGER THAN THE NEW REPORT\n", count: 500).write(
            toFile: target, atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(
            atPath: folder + "/link.json", withDestinationPath: "real/report.json")
        let run = try AnalyzeCommandTests.run([
            "analyze", "captures/dns-udp.pcap", "--format", "json", "-o", folder + "/link.json",
        ])
        #expect(run.status == 0, "\(run.error)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: folder + "/link.json") == "real/report.json")
        let written = try Data(contentsOf: URL(fileURLWithPath: target))
        #expect(!String(decoding: written, as: UTF8.self).contains("OLD CONTENT"))
        #expect((try? JSONSerialization.jsonObject(with: written)) != nil, "the target holds exactly one JSON document")
        #expect(Self.leftovers(folder).isEmpty && Self.leftovers(folder + "/real").isEmpty)
    }

    @Test("output paths that cannot be files: a folder, a missing folder, a file as a folder — each its own message")
    func badPaths() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "x".write(toFile: folder + "/plain", atomically: false, encoding: .utf8)
        for (path, message) in [
            (folder, "is a folder"), (folder + "/missing/r.json", "the folder \(folder)/missing does not exist"),
            (folder + "/plain/r.json", "\(folder)/plain is not a folder"),
        ] {
            let run = try AnalyzeCommandTests.run(["analyze", "captures/dns-udp.pcap", "-o", path])
            #expect(run.status == 2)
            #expect(run.error.contains("cannot write \(path): \(message)"), "\(run.error)")
        }
    }

    @Test(
        "folders that cannot be entered or written, as an unprivileged user: each named as such, not 'permission denied' alone",
        .enabled(
            if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
            "needs root and setpriv to run the binary as nobody"))
    func unprivileged() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let locked = folder + "/locked", readOnly = folder + "/read-only"
        try FileManager.default.createDirectory(
            atPath: locked, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.createDirectory(
            atPath: readOnly, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder)
        // The input sits in the test's own folder: the checkout may be somewhere nobody cannot read (a 0700 temp folder).
        let input = folder + "/in.pcap"
        try FileManager.default.copyItem(atPath: Repository.path("captures/dns-udp.pcap"), toPath: input)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: input)
        func asNobody(_ arguments: [String]) throws -> ProcessOutput {
            try ProcessRunner.run(
                URL(fileURLWithPath: "/usr/bin/setpriv"),
                ["--reuid=65534", "--regid=65534", "--clear-groups", AnalyzeCommandTests.executable.path] + arguments,
                directory: Repository.root)
        }
        let entered = try asNobody(["analyze", input, "-o", locked + "/r.json"])
        #expect(
            entered.status == 2 && entered.error.contains("the folder \(locked) cannot be entered"), "\(entered.error)")
        let written = try asNobody(["analyze", input, "-o", readOnly + "/r.json"])
        #expect(
            written.status == 2 && written.error.contains("the folder \(readOnly) is not writable"), "\(written.error)")
        let policy = try asNobody(["audit", "--evidence", "x", "--policy", locked + "/policy.yaml"])
        #expect(
            policy.status == 2 && policy.error.contains("the folder \(locked) cannot be entered"), "\(policy.error)")
    }

    /// A stored audit report holding hostile strings (as captured traffic or an engine could put them there), with a
    /// stage that failed: incomplete, and a high finding.
    static func hostileEvidence(in folder: String) throws -> String {
        let hostile = "<script>alert(1)</script>\u{1b}[2J\u{1b}]0;owned\u{07}\u{9b}31m"
        let finding = Finding(
            kind: FindingKind(identifier: "tls-accepts-rogue-client"), severity: .high, title: "FTP user \(hostile)",
            detail: "detail \(hostile)", location: "evil\u{1b}[2J")
        let evidence = AuditEvidence(inventory: nil, probe: nil, tls: nil, capture: nil, tlsFindings: [finding])
        let report = AuditReport(
            generatedAt: "2026-12-03T00:00:00Z", host: "host", policy: "p",
            stages: [AuditStage(name: "probe", status: .failed, durationSeconds: 1, note: "note \(hostile)")],
            edges: [], findings: [finding], baseline: nil, complete: false,
            problems: ["probe: the engine went away \(hostile)"], summary: AuditSummary(), evidence: evidence
        )
        let path = folder + "/evidence.json"
        try JSONEncoder().encode(report).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("audit: incomplete (3) is not hidden by findings (1); --exit-zero hides both")
    func exitPrecedence() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let evidence = try Self.hostileEvidence(in: folder)
        let run = try AnalyzeCommandTests.run(["audit", "--evidence", evidence, "--format", "json"])
        #expect(run.status == 3, "an incomplete audit with a high finding: \(run.status) \(run.error)")
        #expect(run.output.contains("\"complete\" : false"))
        #expect(
            try AnalyzeCommandTests.run(["audit", "--evidence", evidence, "--format", "json", "--exit-zero"]).status
                == 0)
    }

    @Test("table and markdown: no control byte from outside data reaches the output; markdown escapes <script>")
    func controlCharacters() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let evidence = try Self.hostileEvidence(in: folder)
        for format in ["table", "markdown"] {
            let run = try AnalyzeCommandTests.run(["audit", "--evidence", evidence, "--format", format])
            let bytes = Array(run.output.utf8)
            #expect(!bytes.contains(0x1b) && !bytes.contains(0x07), "\(format): a raw ESC or BEL")
            #expect(
                !run.output.unicodeScalars.contains { (0x80..<0xA0).contains($0.value) }, "\(format): a raw C1 control")
            #expect(run.output.contains("\\x1b[2J"), "\(format): the sequence shown as text")
        }
        let markdown = try AnalyzeCommandTests.run(["audit", "--evidence", evidence, "--format", "markdown"]).output
        #expect(!markdown.contains("<script>") && markdown.contains("&lt;script&gt;"))
        // Inventory: a container name from an inspect file with a clear-screen and an OSC title sequence.
        let inspect = folder + "/inspect.json"
        try
            #"[{"Id":"abc","Name":"/evil\u001b[2J\u001b]0;pwned\u0007x","State":{"Status":"running","Pid":0},"Config":{"Labels":{}},"HostConfig":{"NetworkMode":"bridge"},"NetworkSettings":{"Networks":{}}}]"#
            .write(toFile: inspect, atomically: false, encoding: .utf8)
        let inventory = try AnalyzeCommandTests.run(["inventory", "--from-file", inspect])
        #expect(
            !Array(inventory.output.utf8).contains(0x1b)
                && inventory.output.contains("evil\\x1b[2J\\x1b]0;pwned\\x07x"), "\(inventory.output)")
    }

    @Test("TerminalText.escape: C0, DEL, C1, bidi overrides and the backslash become visible; other text stays")
    func escaping() {
        #expect(TerminalText.escape("web-1") == "web-1")
        #expect(TerminalText.escape("café ✓") == "café ✓")
        #expect(TerminalText.escape("a\u{1b}[2Jb") == "a\\x1b[2Jb")
        #expect(TerminalText.escape("\n\t\u{0}\u{7f}") == "\\x0a\\x09\\x00\\x7f")
        #expect(TerminalText.escape("\u{9b}1m\u{9d}") == "\\u{9b}1m\\u{9d}")
        #expect(TerminalText.escape("abc\u{202e}def") == "abc\\u{202e}def")
        #expect(
            TerminalText.escape("a\u{61c}b\u{2067}c") == "a\\u{61c}b\\u{2067}c", "the Arabic letter mark, an isolate")
        #expect(TerminalText.escape("\\x1b") == "\\\\x1b", "a literal backslash cannot fake an escape")
    }

    @Test(
        "several audit outputs: a failing one does not cost the others, each failure reported; same file twice and an unknown format are usage errors"
    )
    func severalOutputs() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let evidence = try Self.hostileEvidence(in: folder)
        let run = try AnalyzeCommandTests.run([
            "audit", "--evidence", evidence, "-o", "json=\(folder)/missing/a.json", "-o", "html=\(folder)/good.html",
            "-o", "markdown=/dev/full", "-o", "sarif=\(folder)/good.sarif",
        ])
        #expect(run.status == 2, "a report not written outranks incomplete: \(run.status)")
        #expect(
            run.error.contains("cannot write \(folder)/missing/a.json: the folder \(folder)/missing does not exist"),
            "\(run.error)")
        #expect(run.error.contains("cannot write /dev/full: No space left on device"), "\(run.error)")
        #expect(
            FileManager.default.fileExists(atPath: folder + "/good.html")
                && FileManager.default.fileExists(atPath: folder + "/good.sarif"))
        #expect(
            try AnalyzeCommandTests.run([
                "audit", "--evidence", evidence, "-o", "json=\(folder)/x", "-o", "html=\(folder)/x", "--exit-zero",
            ]).status == 2, "exit-zero does not hide a report left unwritten")
        try FileManager.default.createSymbolicLink(
            atPath: folder + "/alias", withDestinationPath: folder + "/good.html")
        let twice = try AnalyzeCommandTests.run([
            "audit", "--evidence", evidence, "-o", "json=\(folder)/good.html", "-o", "html=\(folder)/alias",
        ])
        #expect(twice.status == 2 && twice.error.contains("name the same file"), "\(twice.error)")
        let unknown = try AnalyzeCommandTests.run(["audit", "--evidence", evidence, "-o", "xml=\(folder)/r.xml"])
        #expect(
            unknown.status == 2 && unknown.error.contains("unknown format 'xml'")
                && unknown.error.contains("table, json, sarif"), "\(unknown.error)")
        #expect(!unknown.error.contains("permission"))
    }
}
