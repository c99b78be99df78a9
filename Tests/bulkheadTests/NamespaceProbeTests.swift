import BulkheadTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `probe --namespaces`: a host's plain network namespaces (`ip netns`, what a containerd/CNI host has) as sources
/// and destinations, entered through their /run/netns file when no process lives in them.
@Suite(
    "bulkhead probe --namespaces (end to end)", .serialized,
    .enabled(
        if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip"), "needs root and iproute2"))
struct NamespaceProbeTests {
    static func ip(_ arguments: [String]) throws {
        try ProcessRunner.must(URL(fileURLWithPath: "/usr/sbin/ip"), arguments)
    }

    @Test(
        "two namespaces joined by a veth: the listener is reachable, a closed port reachable-closed, from a namespace without processes"
    )
    func namespaces() throws {
        // Names of this process only (the veth is made inside the namespaces: no interface name on the host), so a
        // second test run at once on this host neither clashes with these nor removes them.
        let (a, b) = ("bh-pns-\(getpid())-a", "bh-pns-\(getpid())-b")
        for name in [a, b] { _ = try? Self.ip(["netns", "del", name]) }
        defer {
            // End the listener (it lives in b), then remove both namespaces and the veth with them.
            if let output = try? ProcessRunner.run(URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "pids", b]) {
                for pid in output.output.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
            }
            for name in [a, b] { _ = try? Self.ip(["netns", "del", name]) }
        }
        try Self.ip(["netns", "add", a])
        try Self.ip(["netns", "add", b])
        try Self.ip(["-n", a, "link", "add", "bh-pns-va", "type", "veth", "peer", "name", "bh-pns-vb", "netns", b])
        try Self.ip(["-n", a, "addr", "add", "198.18.237.1/24", "dev", "bh-pns-va"])
        try Self.ip(["-n", b, "addr", "add", "198.18.237.2/24", "dev", "bh-pns-vb"])
        for (name, device) in [(a, "bh-pns-va"), (b, "bh-pns-vb")] {
            try Self.ip(["-n", name, "link", "set", device, "up"])
            try Self.ip(["-n", name, "link", "set", "lo", "up"])
        }
        let listener = try ProcessRunner.start(
            URL(fileURLWithPath: "/usr/sbin/ip"),
            ["netns", "exec", b, "/bin/busybox", "httpd", "-f", "-p", "198.18.237.2:8080"])
        defer { listener.terminate() }
        try Poll.until("busybox httpd listening on 198.18.237.2:8080 in \(b)", seconds: 10) {
            Poll.listening(tcpPort: 8080, inNamespaceOf: listener.processIdentifier)
        }

        let run = try AnalyzeCommandTests.run([
            "probe", "--namespaces", "--source", a, "--ports", "tcp/9", "--timeout", "0.5", "--format", "json",
            "--quiet",
        ])
        // Exit 3 is possible when a parallel test's namespace vanished mid-probe; our own cells must never be the cause.
        #expect(run.status == 0 || run.status == 1 || run.status == 3, "\(run.error)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        let cells = try #require(document["cells"] as? [[String: Any]])
        func state(_ destination: String, _ proto: String) -> String? {
            cells.first { $0["destination"] as? String == destination && $0["protocol"] as? String == proto }?["state"]
                as? String
        }
        #expect(state("198.18.237.2:8080", "tcp") == "reachable")
        #expect(state("198.18.237.2:9", "tcp") == "reachable-closed")
        #expect(state("198.18.237.2", "icmp") == "reachable")
        #expect(cells.allSatisfy { $0["source"] as? String == a })
        #expect(
            !cells.contains {
                ($0["address"] as? String)?.hasPrefix("198.18.237.") == true && $0["state"] as? String == "error"
            })
        #expect(
            cells.first { $0["destination"] as? String == "198.18.237.2:8080" }?["destinationKind"] as? String
                == "namespace")
        let sources = try #require(document["sources"] as? [[String: Any]])
        #expect(
            sources.first?["namespacePath"] as? String == "/run/netns/\(a)",
            "entered through its /run/netns file: no process lives in it")
        // The docker baseline has no intent for namespaces Docker does not manage: no violation either way.
        #expect(cells.allSatisfy { $0["violation"] is NSNull })
    }

    @Test(
        "silence from a full accept queue is no filter: a hung server's cells are errors, a server that recovers answers the re-probe, a DROP beside it stays filtered"
    )
    func fullListenQueue() throws {
        // a probes b and c. In b, a server whose one-slot accept queue is full until its kernel has dropped two
        // connection attempts (the first run's two), then accepts everything; beside it a port behind an iptables
        // DROP. In c, a server whose queue stays full (hung). All three are silent in the first run.
        let star = try Star(prefix: "bh-plq", peers: [("b", 238), ("c", 239)])
        let (a, b, c) = (star.hub, star.peers[0], star.peers[1])
        defer { star.remove() }  // also keeps the namespaces alive to the end of the test
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bh-plq-\(getpid())").path
        try? FileManager.default.removeItem(atPath: folder)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        /// A Python TCP server in `namespace` on `address`:`port`. With `full`, its backlog is 0 and it connects to
        /// itself once, which takes the queue's one slot: every later SYN is dropped. With `recoverAfter`, it then
        /// waits until its namespace's `ListenDrops` has grown by that much and accepts from then on. It writes
        /// `<folder>/<port>` once ready.
        func server(in namespace: String, _ address: String, _ port: Int, full: Bool, recoverAfter: Int?) throws
            -> Process
        {
            let script = """
                import socket, sys, time
                def drops():
                    lines = open("/proc/self/net/netstat").read().split("\\n")
                    for names, values in zip(lines, lines[1:]):
                        names, values = names.split(), values.split()
                        if names[:1] == ["TcpExt:"] and values[:1] == ["TcpExt:"] and "ListenDrops" in names:
                            return int(values[names.index("ListenDrops")])
                server = socket.socket()
                server.bind(("\(address)", \(port)))
                server.listen(\(full ? 0 : 128))
                if \(full ? "True" : "False"):
                    held = socket.create_connection(("\(address)", \(port)))
                start = drops()
                open(sys.argv[1], "w").write("ready")
                if \(recoverAfter.map(String.init) ?? "None") is not None:
                    while drops() < start + \(recoverAfter ?? 0):
                        time.sleep(0.005)
                    while True:
                        server.accept()[0].close()
                time.sleep(600)
                """
            return try ProcessRunner.start(
                URL(fileURLWithPath: "/usr/sbin/ip"),
                ["netns", "exec", namespace, "/usr/bin/python3", "-c", script, "\(folder)/\(port)"])
        }
        let recovering = try server(in: b, "198.18.238.2", 8080, full: true, recoverAfter: 2)
        defer { recovering.terminate() }
        let dropped = try server(in: b, "198.18.238.2", 8081, full: false, recoverAfter: nil)
        defer { dropped.terminate() }
        let hung = try server(in: c, "198.18.239.2", 8082, full: true, recoverAfter: nil)
        defer { hung.terminate() }
        try ProcessRunner.must(
            URL(fileURLWithPath: "/usr/sbin/ip"),
            ["netns", "exec", b, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "8081", "-j", "DROP"])
        try Poll.until("the three servers ready", seconds: 10) {
            [8080, 8081, 8082].allSatisfy { FileManager.default.fileExists(atPath: "\(folder)/\($0)") }
        }

        let run = try AnalyzeCommandTests.run([
            "probe", "--namespaces", "--source", a, "--timeout", "0.5", "--attempts", "2", "--format", "json",
        ])
        #expect(run.status == 3, "the hung server's cell is an error, so the probe is incomplete: \(run.error)")
        #expect(run.error.contains("probed again: "), "the second run shows in the progress: \(run.error)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        let cells = try #require(document["cells"] as? [[String: Any]])
        // By namespace too: `--namespaces` also plans towards namespaces other tests make meanwhile.
        func cell(_ destination: String, in namespace: String) throws -> [String: Any] {
            try #require(
                cells.first {
                    $0["destination"] as? String == destination && $0["protocol"] as? String == "tcp"
                        && $0["destinationName"] as? String == namespace
                })
        }
        func outcomes(_ cell: [String: Any]) -> [String] {
            (cell["evidence"] as? [[String: Any]] ?? []).compactMap { $0["outcome"] as? String }
        }
        let hungCell = try cell("198.18.239.2:8082", in: c)
        #expect(hungCell["state"] as? String == "error", "\(hungCell)")
        #expect((hungCell["note"] as? String)?.contains("full listen queue") == true, "\(hungCell)")
        let recovered = try cell("198.18.238.2:8080", in: b)
        #expect(recovered["state"] as? String == "reachable", "answered when probed again: \(recovered)")
        #expect(outcomes(recovered).prefix(2) == ["timeout", "timeout"], "both runs' attempts kept: \(recovered)")
        let filtered = try cell("198.18.238.2:8081", in: b)
        #expect(filtered["state"] as? String == "filtered", "silent again, nothing dropped: a filter: \(filtered)")
        #expect(outcomes(filtered).count == 4, "\(filtered)")
        let problems = try #require(document["problems"] as? [String])
        #expect(problems.contains { $0.hasPrefix("\(c): 1 silent TCP cell(s) are errors") }, "\(problems)")
        #expect(!problems.contains { $0.hasPrefix("\(b):") }, "\(problems)")
    }

    @Test(
        "a destination that ignores echo requests is no filter: its ICMP cell is an error; an ICMP DROP stays filtered")
    func ignoredEcho() throws {
        // a probes d (net.ipv4.icmp_echo_ignore_all=1: it receives the echo requests and answers none) and e (an
        // iptables DROP of echo requests). Both are silent; a process lives in each (as in every container), so
        // their counters can be read.
        let star = try Star(prefix: "bh-pie", peers: [("d", 240), ("e", 241)])
        let (a, d, e) = (star.hub, star.peers[0], star.peers[1])
        defer { star.remove() }  // also keeps the namespaces alive to the end of the test
        let ip = URL(fileURLWithPath: "/usr/sbin/ip")
        try ProcessRunner.must(ip, ["netns", "exec", d, "sysctl", "-q", "-w", "net.ipv4.icmp_echo_ignore_all=1"])
        try ProcessRunner.must(
            ip,
            ["netns", "exec", e, "iptables", "-A", "INPUT", "-p", "icmp", "--icmp-type", "echo-request", "-j", "DROP"])
        let sleepers = try [d, e].map { try ProcessRunner.start(ip, ["netns", "exec", $0, "/bin/sleep", "600"]) }
        defer { for sleeper in sleepers { sleeper.terminate() } }
        try Poll.until("a process in each namespace", seconds: 10) {
            [d, e].allSatisfy { name in
                ((try? ProcessRunner.run(ip, ["netns", "pids", name]))?.output ?? "").contains { $0.isNumber }
            }
        }

        let run = try AnalyzeCommandTests.run([
            "probe", "--namespaces", "--source", a, "--timeout", "0.5", "--attempts", "2", "--format", "json",
            "--quiet",
        ])
        #expect(run.status == 3, "the ignored echo is an error, so the probe is incomplete: \(run.error)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        let cells = try #require(document["cells"] as? [[String: Any]])
        func echo(to namespace: String) throws -> [String: Any] {
            try #require(
                cells.first { $0["protocol"] as? String == "icmp" && $0["destinationName"] as? String == namespace })
        }
        let ignored = try echo(to: d)
        #expect(ignored["state"] as? String == "error", "\(ignored)")
        #expect((ignored["note"] as? String)?.contains("did not answer") == true, "\(ignored)")
        #expect((ignored["evidence"] as? [Any])?.count == 4, "both runs' attempts kept: \(ignored)")
        let dropped = try echo(to: e)
        #expect(dropped["state"] as? String == "filtered", "a DROP is a filter: \(dropped)")
        let problems = try #require(document["problems"] as? [String])
        #expect(problems.contains { $0.hasPrefix("\(d): 1 silent ICMP cell(s) are errors") }, "\(problems)")
    }
}

/// Network namespaces for a probe test: a hub `<prefix>-<pid>-a` joined by a veth to each peer
/// `<prefix>-<pid>-<suffix>`, the hub at 198.18.<subnet>.1/24 and the peer at .2 (private namespaces: no address
/// is shared with the host). Everything, and every process left in the peers, goes when it is released.
final class Star {
    let hub: String
    let peers: [String]

    init(prefix: String, peers: [(suffix: String, subnet: Int)]) throws {
        self.hub = "\(prefix)-\(getpid())-a"
        self.peers = peers.map { "\(prefix)-\(getpid())-\($0.suffix)" }
        self.remove()
        for name in [self.hub] + self.peers {
            try NamespaceProbeTests.ip(["netns", "add", name])
            try NamespaceProbeTests.ip(["-n", name, "link", "set", "lo", "up"])
        }
        for (peer, subnet) in zip(self.peers, peers.map(\.subnet)) {
            let (near, far) = ("\(prefix)-\(subnet)a", "\(prefix)-\(subnet)b")
            try NamespaceProbeTests.ip([
                "-n", self.hub, "link", "add", near, "type", "veth", "peer", "name", far, "netns", peer,
            ])
            try NamespaceProbeTests.ip(["-n", self.hub, "addr", "add", "198.18.\(subnet).1/24", "dev", near])
            try NamespaceProbeTests.ip(["-n", peer, "addr", "add", "198.18.\(subnet).2/24", "dev", far])
            try NamespaceProbeTests.ip(["-n", self.hub, "link", "set", near, "up"])
            try NamespaceProbeTests.ip(["-n", peer, "link", "set", far, "up"])
        }
    }

    deinit { self.remove() }

    func remove() {
        for name in self.peers {
            if let output = try? ProcessRunner.run(URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "pids", name]) {
                for pid in output.output.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
            }
        }
        for name in [self.hub] + self.peers { _ = try? NamespaceProbeTests.ip(["netns", "del", name]) }
    }
}
