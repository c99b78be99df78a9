import BulkheadModel
import BulkheadTestSupport
import Foundation
import PacketAnalysis
import Testing

/// `bulkhead capture` end to end: the built binary capturing on real bridges (in network namespaces made by the
/// test, 198.18.230.0/24–198.18.234.0/24) while real clients and servers talk across them.
@Suite(
    "bulkhead capture (end to end, live)", .serialized,
    .enabled(if: NetnsBridgeLab.isAvailable, "needs root and iproute2 (ip netns)"))
struct CaptureCommandTests {
    static let password = "s3cret-Passw0rd"
    static let tshark = "/usr/bin/tshark"
    static let capinfos = "/usr/bin/capinfos"

    /// A running `bulkhead capture` inside the lab's hub namespace.
    final class RunningCapture: @unchecked Sendable {
        let process: Process
        private let errorPipe = Pipe()
        private let outputPipe = Pipe()
        private let lock = NSLock()
        private var errorText = ""
        private var outputData = Data()
        private let outputDone = DispatchSemaphore(value: 0)
        private let errorDone = DispatchSemaphore(value: 0)

        convenience init(lab: NetnsBridgeLab, _ arguments: [String]) throws {
            let (executable, prefixed) = lab.hubCommand([AnalyzeCommandTests.executable.path, "capture"] + arguments)
            try self.init(executable: executable, prefixed)
        }

        /// `bulkhead capture ARGUMENTS` in the host's namespace.
        convenience init(arguments: [String]) throws {
            try self.init(executable: AnalyzeCommandTests.executable, ["capture"] + arguments)
        }

        init(executable: URL, _ arguments: [String]) throws {
            self.process = try ProcessRunner.start(
                executable, arguments, directory: Repository.root, standardOutput: self.outputPipe,
                standardError: self.errorPipe)
            let errorHandle = self.errorPipe.fileHandleForReading
            Thread { [self] in
                while true {
                    let chunk = errorHandle.availableData
                    if chunk.isEmpty { break }
                    self.lock.withLock { self.errorText += String(decoding: chunk, as: UTF8.self) }
                }
                self.errorDone.signal()
            }.start()
            let outputHandle = self.outputPipe.fileHandleForReading
            Thread { [self] in
                let data = outputHandle.readDataToEndOfFile()
                self.lock.withLock { self.outputData = data }
                self.outputDone.signal()
            }.start()
        }

        var standardError: String { self.lock.withLock { self.errorText } }

        /// Waits until bulkhead says it is capturing (every interface open), or it exited.
        func waitUntilCapturing(timeout: Double = 30) -> Bool {
            Poll.holds(within: timeout) {
                self.standardError.contains("bulkhead: capturing on") || !self.process.isRunning
            } && self.standardError.contains("bulkhead: capturing on")
        }

        /// Waits until two progress lines in a row count the same, non-zero number of packets on `interface`: the
        /// capture has read what was sent (needs `--progress-interval`).
        func waitUntilSettled(on interface: String, seconds: Double = 10) throws {
            func counts() -> [Int] {
                self.standardError.split(separator: "\n").compactMap { line -> Int? in
                    guard line.hasPrefix("bulkhead: capturing "), let range = line.range(of: " \(interface) ") else {
                        return nil
                    }
                    return Int(line[range.upperBound...].prefix { $0.isNumber })
                }
            }
            try Poll.until(
                "two progress lines agreeing on the packets of \(interface)", seconds: seconds,
                lastSeen: { self.standardError }
            ) {
                let seen = counts().suffix(2)
                return seen.count == 2 && seen.first == seen.last && (seen.last ?? 0) > 0
            }
        }

        /// How many packet sockets (one per interface captured on) the capture holds open: those of its descriptors
        /// that `/proc/<pid>/net/packet` lists.
        var packetSockets: Int {
            let pid = self.process.processIdentifier
            guard let table = try? String(contentsOfFile: "/proc/\(pid)/net/packet", encoding: .utf8),
                let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")
            else { return 0 }
            // The inode is the last column.
            let inodes = Set(table.split(separator: "\n").dropFirst().compactMap { $0.split(separator: " ").last })
            return descriptors.filter { descriptor in
                guard
                    let link = try? FileManager.default.destinationOfSymbolicLink(
                        atPath: "/proc/\(pid)/fd/\(descriptor)"),
                    link.hasPrefix("socket:[")
                else { return false }
                return inodes.contains(Substring(link.dropFirst("socket:[".count).dropLast()))
            }.count
        }

        struct Finished {
            var status: Int32
            var output: String
            var error: String
        }

        func finish() -> Finished {
            self.process.waitUntilExit()
            self.outputDone.wait()
            self.errorDone.wait()
            return Finished(
                status: self.process.terminationStatus,
                output: String(decoding: self.lock.withLock { self.outputData }, as: UTF8.self),
                error: self.standardError)
        }
    }

    /// Hub with bridge `br0`, a web server (busybox httpd, Basic auth) and a client on `subnet`.0/24.
    static func webLab(_ prefix: String, subnet: String) throws -> (
        NetnsBridgeLab, client: String, server: String, www: URL
    ) {
        let lab = try NetnsBridgeLab(prefix: prefix)
        try lab.addBridge("br0")
        let client = try lab.addHost("c", address: "\(subnet).1/24", bridge: "br0")
        let server = try lab.addHost("s", address: "\(subnet).2/24", bridge: "br0")
        let www = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-www-\(getpid())")
        try FileManager.default.createDirectory(at: www, withIntermediateDirectories: true)
        try "hello\n".write(to: www.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        try "/:alice:\(password)\n".write(
            to: www.appendingPathComponent("httpd.conf"), atomically: true, encoding: .utf8)
        try lab.start(
            in: server,
            [
                "/usr/bin/busybox", "httpd", "-f", "-p", "8080", "-h", www.path, "-c",
                www.appendingPathComponent("httpd.conf").path,
            ])
        try Poll.until("busybox httpd listening on port 8080 in \(server)", seconds: 10) {
            (try? lab.run(in: server, ["/usr/bin/busybox", "netstat", "-ltn"]))?.output.contains(":8080") == true
        }
        return (lab, client, server, www)
    }

    static func curl(_ lab: NetnsBridgeLab, from client: String, to server: String) throws -> ProcessOutput {
        try lab.run(
            in: client, ["/usr/bin/curl", "-s", "-m", "5", "-u", "alice:\(password)", "http://\(server):8080/"])
    }

    static func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(getpid())").path
    }

    @Test(
        "plaintext HTTP with Basic auth: flow, redacted credential, endpoint names, pcapng that tshark and CaptureFile read"
    )
    func httpBasicAuth() throws {
        let (lab, client, server, www) = try Self.webLab("cpa", subnet: "198.18.230")
        defer {
            lab.remove()
            try? FileManager.default.removeItem(at: www)
        }
        let pcapng = Self.temporary("cpa.pcapng")
        let report = Self.temporary("cpa.json")
        defer {
            unlink(pcapng)
            unlink(report)
        }
        let capture = try RunningCapture(
            lab: lab,
            [
                "--interface", "br0", "--duration", "4", "--write", pcapng, "--format", "json", "-o", report,
                "--progress-interval", "1",
            ])
        #expect(capture.waitUntilCapturing(), "bulkhead never started capturing: \(capture.standardError)")
        let fetched = try Self.curl(lab, from: client, to: "198.18.230.2")
        #expect(fetched.output.contains("hello"), "curl through the bridge: \(fetched.error)")
        let run = capture.finish()
        #expect(run.status == 1, "a credential in clear is a high finding: \(run.error)")
        #expect(run.error.contains("bulkhead: capturing 1 s: br0"), "progress lines every --progress-interval")
        let document = try Self.json(report)
        #expect(document["complete"] as? Bool == true)
        #expect(document["stoppedBy"] as? String == "duration")
        #expect(document["written"] as? String == pcapng)
        let flows = try #require(document["flows"] as? [[String: Any]])
        let http = try #require(flows.first { $0["protocol"] as? String == "http" })
        #expect(http["server"] as? String == "198.18.230.2:8080")
        #expect(http["clientName"] as? String == "netns \(client)")
        #expect(http["serverName"] as? String == "netns \(server)")
        #expect(http["interface"] as? String == "br0")
        let credential = try #require((http["credentials"] as? [[String: Any]])?.first)
        #expect(credential["kind"] as? String == "http-basic")
        #expect(credential["user"] as? String == "alice")
        #expect((credential["redacted"] as? String)?.contains("\(Self.password.count) characters") == true)
        let endpoints = try #require(document["endpoints"] as? [String: String])
        #expect(endpoints["198.18.230.1"] == "netns \(client)")
        let findings = try #require(document["findings"] as? [[String: Any]])
        #expect(findings.contains { $0["kind"] as? String == "credentials-in-cleartext" })
        let text = try String(contentsOfFile: report, encoding: .utf8)
        #expect(
            !text.contains(Self.password) && !run.error.contains(Self.password), "the secret never reaches any output")

        // The pcapng: this project's reader, the flow id is the frame number, and the packet count matches.
        let summary = try #require(document["summary"] as? [String: Any])
        let file = try CaptureFile(path: pcapng)
        var packets = 0
        try file.forEachPacket { _ in packets += 1 }
        #expect(packets == summary["packets"] as? Int)
        #expect(file.warnings.isEmpty)
        let interfaces = try #require(document["interfaces"] as? [[String: Any]])
        #expect(interfaces.first?["packets"] as? Int == packets)
        // Analysing the written file gives the same flows and findings as the live run.
        let offline = try CaptureAnalysis.run(files: [pcapng], onFlow: { _ in })
        #expect(offline.summary.flows == summary["flows"] as? Int)
        #expect(offline.findings.map(\.kind.identifier) == findings.compactMap { $0["kind"] as? String })

        // tshark as the oracle: one interface block named br0, the Authorization header at the flow's frame.
        if FileManager.default.isExecutableFile(atPath: Self.capinfos) {
            let info = try ProcessRunner.run(URL(fileURLWithPath: Self.capinfos), [pcapng])
            #expect(info.status == 0, "capinfos: \(info.error)")
            #expect(info.output.contains("Number of interfaces in file: 1"))
            #expect(info.output.contains("Name = br0"))
            #expect(info.output.contains("Time precision = nanoseconds (9)"))
            #expect(info.output.contains("Number of packets:   \(packets)"))
        }
        if FileManager.default.isExecutableFile(atPath: Self.tshark) {
            let frames = try ProcessRunner.run(
                URL(fileURLWithPath: Self.tshark),
                [
                    "-r", pcapng, "-Y", "http.authorization", "-T", "fields", "-e", "frame.interface_name", "-e",
                    "tcp.stream",
                ])
            #expect(frames.status == 0, "tshark: \(frames.error)")
            #expect(frames.output.hasPrefix("br0\t"))
            let first = try ProcessRunner.run(
                URL(fileURLWithPath: Self.tshark),
                [
                    "-r", pcapng, "-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == 8080", "-T",
                    "fields", "-e", "frame.number",
                ])
            #expect(
                first.output.split(separator: "\n").first.map(String.init) == (http["id"] as? Int).map(String.init),
                "a flow's id is its first packet's frame number in the written file")
        }
    }

    @Test("SIGINT mid-capture: stops cleanly, everything so far analysed and written")
    func sigint() throws {
        let (lab, client, _, www) = try Self.webLab("cpb", subnet: "198.18.231")
        defer {
            lab.remove()
            try? FileManager.default.removeItem(at: www)
        }
        let pcapng = Self.temporary("cpb.pcapng")
        defer { unlink(pcapng) }
        let capture = try RunningCapture(
            lab: lab, ["--interface", "br0", "--write", pcapng, "--format", "json", "--progress-interval", "0.2"])
        #expect(capture.waitUntilCapturing())
        #expect(capture.standardError.contains("until interrupted"))
        _ = try Self.curl(lab, from: client, to: "198.18.231.2")
        try capture.waitUntilSettled(on: "br0")
        kill(capture.process.processIdentifier, SIGINT)
        let run = capture.finish()
        #expect(run.status == 1, "findings still decide the status: \(run.error)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        #expect(document["stoppedBy"] as? String == "signal")
        #expect(document["complete"] as? Bool == true)
        let flows = try #require(document["flows"] as? [[String: Any]])
        #expect(flows.contains { ($0["credentials"] as? [Any])?.isEmpty == false })
        let file = try CaptureFile(path: pcapng)
        var packets = 0
        try file.forEachPacket { _ in packets += 1 }
        #expect(packets > 5)
        #expect((document["summary"] as? [String: Any])?["packets"] as? Int == packets)
    }

    @Test("SIGTERM stops the same way")
    func sigterm() throws {
        let lab = try NetnsBridgeLab(prefix: "cpc")
        defer { lab.remove() }
        try lab.addBridge("br0")
        let capture = try RunningCapture(lab: lab, ["--interface", "br0", "--quiet", "--progress-interval", "0.2"])
        try Poll.until("bulkhead capture handling SIGTERM", seconds: 30) {
            Poll.catches(SIGTERM, pid: capture.process.processIdentifier)
        }
        // The point of the test, not a wait for readiness: seven progress intervals pass, in which --quiet prints
        // nothing.
        Thread.sleep(forTimeInterval: 1.5)
        kill(capture.process.processIdentifier, SIGTERM)
        let run = capture.finish()
        #expect(run.status == 0, "nothing seen, nothing found: \(run.error)")
        #expect(run.output.contains("stopped by signal"))
        #expect(run.error.isEmpty, "--quiet: no progress lines")
    }

    @Test("an interface deleted mid-capture is reported, the others go on, exit 3")
    func interfaceVanishes() throws {
        let (lab, client, _, www) = try Self.webLab("cpd", subnet: "198.18.232")
        defer {
            lab.remove()
            try? FileManager.default.removeItem(at: www)
        }
        try lab.addBridge("br1")
        let pcapng = Self.temporary("cpd.pcapng")
        defer { unlink(pcapng) }
        let capture = try RunningCapture(
            lab: lab,
            ["--interface", "br0", "--interface", "br1", "--duration", "5", "--write", pcapng, "--format", "json"])
        #expect(capture.waitUntilCapturing())
        #expect(capture.packetSockets == 2)
        try lab.deleteBridge("br1")
        // The capture has noticed: it closed br1's socket (and captures on br0 alone).
        try Poll.until("the capture closing br1's packet socket", seconds: 10, lastSeen: { capture.standardError }) {
            capture.packetSockets == 1
        }
        _ = try Self.curl(lab, from: client, to: "198.18.232.2")
        let run = capture.finish()
        #expect(run.status == 3, "incomplete: \(run.error)")
        #expect(run.error.contains("bulkhead: warning: interface br1:"))
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        #expect(document["complete"] as? Bool == false)
        let problems = try #require(document["problems"] as? [String])
        #expect(problems.count == 1 && problems.first?.hasPrefix("interface br1:") == true)
        let interfaces = try #require(document["interfaces"] as? [[String: Any]])
        #expect(interfaces.map { $0["state"] as? String } == ["captured", "failed"])
        let flows = try #require(document["flows"] as? [[String: Any]])
        #expect(flows.contains { $0["protocol"] as? String == "http" }, "br0 kept capturing after br1 went")
        // The capture file still has both interface blocks and br0's packets.
        if FileManager.default.isExecutableFile(atPath: Self.capinfos) {
            let info = try ProcessRunner.run(URL(fileURLWithPath: Self.capinfos), [pcapng])
            #expect(info.output.contains("Number of interfaces in file: 2"))
            #expect(info.output.contains("Name = br1"))
        }
    }

    @Test("--packets stops at exactly that many packets")
    func packetLimit() throws {
        let (lab, client, _, www) = try Self.webLab("cpe", subnet: "198.18.233")
        defer {
            lab.remove()
            try? FileManager.default.removeItem(at: www)
        }
        let pcapng = Self.temporary("cpe.pcapng")
        defer { unlink(pcapng) }
        let capture = try RunningCapture(
            lab: lab,
            [
                "--interface", "br0", "--packets", "5", "--duration", "20", "--write", pcapng,
                "--filter", "tcp port 8080", "--fail-on", "critical",
            ])
        #expect(capture.waitUntilCapturing())
        _ = try Self.curl(lab, from: client, to: "198.18.233.2")
        let run = capture.finish()
        #expect(run.status == 0, "\(run.error)")
        #expect(run.output.contains("stopped by packets"))
        let file = try CaptureFile(path: pcapng)
        var packets = 0
        try file.forEachPacket { _ in packets += 1 }
        #expect(packets == 5)
    }

    @Test("unknown interface, bad filter, no permission: one line, exit 2")
    func startErrors() throws {
        let lab = try NetnsBridgeLab(prefix: "cpf")
        defer { lab.remove() }
        try lab.addBridge("br0")
        let unknown = try RunningCapture(lab: lab, ["--interface", "br0", "--interface", "nosuch0", "--duration", "1"])
            .finish()
        #expect(unknown.status == 2)
        #expect(unknown.error == "bulkhead: error: interface nosuch0: no such interface\n")
        #expect(unknown.output.isEmpty)
        let filter = try RunningCapture(lab: lab, ["--interface", "br0", "--filter", "tcp port", "--duration", "1"])
            .finish()
        #expect(filter.status == 2)
        #expect(filter.error.contains("the filter \"tcp port\" does not compile"))
        let setpriv = "/usr/bin/setpriv"
        if FileManager.default.isExecutableFile(atPath: setpriv) {
            // As nobody, without capabilities.
            let denied = try ProcessRunner.run(
                URL(fileURLWithPath: setpriv),
                [
                    "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
                    AnalyzeCommandTests.executable.path, "capture", "--interface", "lo", "--duration", "1",
                ])
            #expect(denied.status == 2)
            #expect(
                denied.error.contains("interface lo: permission denied: live capture needs root or the CAP_NET_RAW"))
            #expect(denied.error.split(separator: "\n").count == 1, "one line: \(denied.error)")
        }
    }
}
