import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import Reachability

#if canImport(Glibc)
    import Glibc
#endif

/// Each cell state needs an observation that proves it: the engine against real peers in plain network namespaces
/// (python servers, iptables rules inside the namespaces), one /24 of 198.18.104.0/22 per test.
@Suite(
    "Probe engine: positive evidence, in network namespaces",
    .enabled(
        if: NetnsBridgeLab.isAvailable && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")
            && FileManager.default.isExecutableFile(atPath: "/usr/sbin/iptables"),
        "needs root, iproute2, iptables and python3"))
struct EvidenceTests {
    /// A TCP server on `address`:`port` that accepts every connection (and closes it).
    static func acceptingServer(_ address: String, _ port: Int) -> String {
        """
        import socket, sys
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("\(address)", \(port)))
        server.listen(128)
        open(sys.argv[1], "w").write("ready")
        while True:
            server.accept()[0].close()
        """
    }

    @Test(
        "a reset right after the handshake (ECONNRESET) is an open path, even when the retry's SYN is then dropped: reachable, never filtered or error"
    )
    func resetAfterHandshake() throws {
        let (lab, a, b) = try NamespaceProbeLab.pair(prefix: "bh-fxr", subnet: "198.18.104")
        try lab.python(in: b, Self.acceptingServer("198.18.104.2", 8080))
        // Every established connection is reset by the server's side as soon as the client's ACK arrives, and only
        // the first SYN of all is let through: a retry would meet silence ([reset, timeout] read as `filtered`).
        for rule in [
            [
                "-A", "INPUT", "-p", "tcp", "--dport", "8080", "-m", "conntrack", "--ctstate", "ESTABLISHED", "-j",
                "REJECT",
                "--reject-with", "tcp-reset",
            ],
            [
                "-A", "INPUT", "-p", "tcp", "--dport", "8080", "--syn", "-m", "limit", "--limit", "1/hour",
                "--limit-burst",
                "1", "-j", "ACCEPT",
            ],
            ["-A", "INPUT", "-p", "tcp", "--dport", "8080", "--syn", "-j", "DROP"],
        ] {
            try lab.run(in: b, ["iptables"] + rule)
        }
        lab.listening[b] = [ListeningSocket(proto: "tcp", address: "198.18.104.2", port: 8080)]
        let result = try lab.probe(from: a) {
            $0.icmp = false
            $0.udp = false
        }
        let cell = try #require(result.cell("198.18.104.2:8080", .tcp), "\(result.cells.map(\.summary))")
        #expect(cell.state == .reachable, "\(cell.summary)")
        #expect(
            cell.evidence.first?.outcome == .connected && cell.evidence.first?.errno == "ECONNRESET", "\(cell.summary)")
        #expect(cell.note == nil, "\(cell.summary)")
    }

    @Test(
        "a destination that is down or absent is an error (no answer at the link layer), whether it meets silence or its own kernel's host-unreachable; a live host behind a DROP stays filtered"
    )
    func downOrAbsentDestination() throws {
        let lab = try NamespaceProbeLab(prefix: "bh-fxd", subnet: "198.18.105")
        let a = try lab.host("a", 1)
        // `fast` gives up on ARP after one request and 100 ms: its kernel then answers its own probes with an ICMP
        // host-unreachable from its own address (what every source does after about 3 s), within the timeout.
        let fast = try lab.host("q", 2)
        let down = try lab.host("b", 3)
        let dropping = try lab.host("c", 4)
        try lab.run(in: fast, ["sysctl", "-q", "-w", "net.ipv4.neigh.eth0.mcast_solicit=1"])
        try lab.run(in: fast, ["sysctl", "-q", "-w", "net.ipv4.neigh.eth0.retrans_time_ms=100"])
        try lab.python(in: down, Self.acceptingServer("198.18.105.3", 8080))
        try lab.python(in: dropping, Self.acceptingServer("198.18.105.4", 8080))
        try lab.run(in: dropping, ["iptables", "-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP"])
        try lab.run(in: dropping, ["iptables", "-A", "INPUT", "-p", "icmp", "-j", "DROP"])
        lab.listening[down] = [ListeningSocket(proto: "tcp", address: "0.0.0.0", port: 8080)]
        lab.listening[dropping] = [ListeningSocket(proto: "tcp", address: "0.0.0.0", port: 8080)]
        let inventory = lab.inventory()
        // The destination goes down after the inventory; 198.18.105.99 belongs to nobody. No firewall on the way.
        try lab.run(in: down, ["ip", "link", "set", "eth0", "down"])
        for source in [a, fast] {
            let result = try lab.probe(from: source, targets: ["198.18.105.99"], inventory: inventory) {
                $0.udp = false
                $0.extraPorts = [PortSpec("tcp/8080")].compactMap { $0 }
            }
            let cells = result.cells.filter { $0.address == "198.18.105.3" || $0.address == "198.18.105.99" }
            #expect(cells.count == 4, "\(result.cells.map(\.summary))")
            for cell in cells {
                #expect(cell.state == .error, "\(source): \(cell.summary)")
                #expect(cell.note?.contains("no answer at the link layer") == true, "\(source): \(cell.summary)")
            }
            if source == fast {
                // What used to read `rejected`: the ICMP came from the source itself, not from any firewall.
                #expect(
                    cells.allSatisfy { $0.evidence.contains { $0.icmpFrom == "198.18.105.2" } },
                    "\(cells.map(\.summary))")
                #expect(cells.allSatisfy { $0.note?.contains("own address 198.18.105.2") == true })
            }
            #expect(result.problems.contains { $0.contains("198.18.105.99 did not answer at the link layer") })
            // The control: alive, answering ARP, dropping the probes.
            #expect(result.cell("198.18.105.4:8080", .tcp)?.state == .filtered, "\(result.cells.map(\.summary))")
            #expect(result.cell("198.18.105.4", .icmp)?.state == .filtered, "\(result.cells.map(\.summary))")
        }
    }

    /// Runs `ip netns del <namespace>` after `seconds`, on a thread of its own (while the engine probes).
    static func delete(_ namespace: String, after seconds: Double) {
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: seconds)
            _ = try? ProcessRunner.run(URL(fileURLWithPath: NetnsBridgeLab.ipPath), ["netns", "del", namespace])
        }
    }

    @Test(
        "a destination namespace deleted mid-probe: its unfinished cells are errors keeping the attempt in flight, the run incomplete; one deleted while a process keeps it alive is probed to the end"
    )
    func namespaceDeletedMidProbe() throws {
        let lab = try NamespaceProbeLab(prefix: "bh-fxn", subnet: "198.18.106")
        let a = try lab.host("a", 1)
        let bare = try lab.host("b", 2)  // no process in it, as `ip netns add` and CNI sandboxes often are
        let kept = try lab.host("c", 3)
        try lab.python(in: kept, Self.acceptingServer("198.18.106.3", 8080))
        lab.listening[kept] = [ListeningSocket(proto: "tcp", address: "0.0.0.0", port: 8080)]
        // Port 9000 is dropped in both: with one probe at a time per destination, each is still being probed when
        // its name is deleted; 9001-9003 would answer with an RST.
        for namespace in [bare, kept] {
            try lab.run(in: namespace, ["iptables", "-A", "INPUT", "-p", "tcp", "--dport", "9000", "-j", "DROP"])
        }
        let inventory = lab.inventory()
        Self.delete(bare, after: 0.7)
        Self.delete(kept, after: 0.7)
        let result = try lab.probe(from: a, ports: ["tcp/9000-9003"], attempts: 2, timeout: 0.5, inventory: inventory) {
            $0.udp = false
            $0.maxInFlightPerDestination = 1
        }
        let gone = result.cells.filter { $0.destinationName == bare }
        #expect(gone.count == 5, "\(result.cells.map(\.summary))")
        for cell in gone {
            #expect(cell.state == .error, "\(cell.summary)")
            #expect(
                cell.note?.contains("destination network namespace \(bare) ceased to exist") == true, "\(cell.summary)")
        }
        // The cell being probed when the namespace went keeps what it had: a timeout, then the attempt in flight.
        let dropped = try #require(result.cell("198.18.106.2:9000", .tcp))
        #expect(dropped.evidence.map(\.outcome) == [.timeout, .failed], "\(dropped.summary)")
        #expect(
            result.problems.contains { $0.hasPrefix("network namespace \(bare): ceased to exist") },
            "\(result.problems)")
        // Its name is gone too, but its server still lives in it: the namespace exists, and is probed to the end.
        let alive = result.cells.filter { $0.destinationName == kept }
        #expect(alive.allSatisfy { $0.state != .error }, "\(alive.map(\.summary))")
        #expect(result.cell("198.18.106.3:8080", .tcp)?.state == .reachable, "\(alive.map(\.summary))")
        #expect(result.cell("198.18.106.3:9000", .tcp)?.state == .filtered, "\(alive.map(\.summary))")
        #expect(!result.problems.contains { $0.contains(kept) }, "\(result.problems)")
    }

    @Test(
        "a plain namespace's lowest process exiting (mid-probe, or before it began) is no death of the namespace: every cell is probed to the end"
    )
    func shortLivedProcess() throws {
        let (lab, a, b) = try NamespaceProbeLab.pair(prefix: "bh-fxp", subnet: "198.18.107")
        try lab.lab.start(in: b, ["/bin/sleep", "0.8"])  // started first: the lowest pid, what was "the main process"
        try Poll.until("the short-lived process in \(b)", seconds: 10) { !lab.pids(b).isEmpty }
        try lab.python(in: b, Self.acceptingServer("198.18.107.2", 8080))
        try lab.run(in: b, ["iptables", "-A", "INPUT", "-p", "tcp", "--dport", "9000", "-j", "DROP"])
        lab.listening[b] = [ListeningSocket(proto: "tcp", address: "0.0.0.0", port: 8080)]
        var inventory = lab.inventory()
        let pids = try #require(inventory.namespaces.first { $0.name == b }?.pids)
        #expect(pids.count == 2, "the sleeper and the server: \(pids)")
        func check(_ result: ProbeRunResult, _ label: String) {
            let cells = result.cells.filter { $0.destinationName == b }
            #expect(cells.count == 4, "\(label): \(result.cells.map(\.summary))")
            #expect(cells.allSatisfy { $0.state != .error }, "\(label): \(cells.map(\.summary))")
            #expect(result.cell("198.18.107.2:8080", .tcp)?.state == .reachable, "\(label)")
            #expect(result.cell("198.18.107.2:9000", .tcp)?.state == .filtered, "\(label)")
            #expect(result.cell("198.18.107.2:9001", .tcp)?.state == .reachableClosed, "\(label)")
            #expect(result.problems.isEmpty, "\(label): \(result.problems)")
        }
        // The sleeper exits while 9000 is still being probed (one probe at a time, two 0.5 s timeouts first).
        check(
            try lab.probe(from: a, ports: ["tcp/9000-9001"], attempts: 2, timeout: 0.5, inventory: inventory) {
                $0.udp = false
                $0.maxInFlightPerDestination = 1
            }, "mid-probe")
        try Poll.until("the sleeper gone", seconds: 10) { lab.pids(b).count == 1 }
        // A stale inventory: the only process it names in b is gone (its pid may even be another's by now).
        if let index = inventory.namespaces.firstIndex(where: { $0.name == b }) {
            inventory.namespaces[index].pids = [pids[0]]
        }
        check(
            try lab.probe(from: a, ports: ["tcp/9000-9001"], attempts: 1, timeout: 0.5, inventory: inventory) {
                $0.udp = false
            }, "stale pid")
    }

    @Test(
        "a local refusal: a broadcast address (EACCES, ENETUNREACH) is an error, nothing sent; no route and an OUTPUT DROP in the source stay rejected"
    )
    func localRefusals() throws {
        // Its own link, apart from the other tests' (a lab is one bridge in namespaces of its own).
        let (lab, a, b) = try NamespaceProbeLab.pair(prefix: "bh-fxl", subnet: "198.18.104")
        // The source's own firewall drops UDP to b's port 9 on the way out: its kernel says EPERM at once.
        try lab.run(
            in: a, ["iptables", "-A", "OUTPUT", "-d", "198.18.104.2", "-p", "udp", "--dport", "9", "-j", "DROP"])
        // 198.18.104.255 is this /24's broadcast (the inventory records namespace addresses without their prefix, so
        // only the source's kernel knows it); 198.18.105.7 has no route from a.
        let result = try lab.probe(from: a, ports: ["tcp/9", "udp/9"], targets: ["198.18.104.255", "198.18.105.7"])
        for proto in [ProbeProtocol.tcp, .udp] {
            let broadcast = try #require(result.cell("198.18.104.255:9", proto), "\(result.cells.map(\.summary))")
            #expect(broadcast.state == .error, "\(broadcast.summary)")
            #expect(
                broadcast.note?.contains("is a broadcast address in \(a)'s namespace") == true, "\(broadcast.summary)")
            #expect(broadcast.evidence.allSatisfy { $0.outcome == .failed }, "\(broadcast.summary)")
            let unrouted = try #require(result.cell("198.18.105.7:9", proto))
            #expect(unrouted.state == .rejected, "no route from the source: \(unrouted.summary)")
        }
        #expect(result.cell("198.18.104.255", .icmp)?.state == .error, "\(result.cells.map(\.summary))")
        let dropped = try #require(result.cell("198.18.104.2:9", .udp))
        #expect(dropped.state == .rejected && dropped.evidence.first?.errno == "EPERM", "\(dropped.summary)")
        _ = b
    }

    @Test(
        "a refusal from a port the destination listens on is a firewall's REJECT (UDP port-unreachable, TCP reset): rejected; a listener gone since the inventory is a closed port; one on :: alone is no verdict for IPv4"
    )
    func refusalFromAListener() throws {
        let (lab, a, b) = try NamespaceProbeLab.pair(prefix: "bh-fxu", subnet: "198.18.105")
        // UDP 5300 answers; UDP 5301 listens behind iptables REJECT (its default: icmp-port-unreachable); TCP 8080
        // listens behind REJECT --reject-with tcp-reset; TCP 8082 listens on :: for IPv6 only.
        try lab.python(
            in: b,
            """
            import socket, sys, threading
            def answer(udp):
                while True:
                    data, peer = udp.recvfrom(2048)
                    udp.sendto(data, peer)
            sockets = []
            for port in (5300, 5301):
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                udp.bind(("0.0.0.0", port))
                threading.Thread(target=answer, args=(udp,), daemon=True).start()
            tcp = socket.socket()
            tcp.bind(("0.0.0.0", 8080))
            tcp.listen(16)
            six = socket.socket(socket.AF_INET6)
            six.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            six.bind(("::", 8082))
            six.listen(16)
            open(sys.argv[1], "w").write("ready")
            threading.Event().wait()
            """)
        try lab.run(in: b, ["iptables", "-A", "INPUT", "-p", "udp", "--dport", "5301", "-j", "REJECT"])
        try lab.run(
            in: b,
            ["iptables", "-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "REJECT", "--reject-with", "tcp-reset"])
        // As the inventory read them, and 8083, whose listener has gone since.
        lab.listening[b] = [
            ListeningSocket(proto: "udp", address: "0.0.0.0", port: 5300),
            ListeningSocket(proto: "udp", address: "0.0.0.0", port: 5301),
            ListeningSocket(proto: "tcp", address: "0.0.0.0", port: 8080),
            ListeningSocket(proto: "tcp", address: "::", port: 8082),
            ListeningSocket(proto: "tcp", address: "0.0.0.0", port: 8083),
        ]
        let result = try lab.probe(from: a, ports: ["tcp/9"]) { $0.icmp = false }
        func cell(_ port: Int, _ proto: ProbeProtocol) throws -> ReachabilityCell {
            try #require(result.cell("198.18.105.2:\(port)", proto), "\(result.cells.map(\.summary))")
        }
        let answered = try cell(5300, .udp)
        #expect(answered.state == .reachable, "\(answered.summary)")
        let udp = try cell(5301, .udp)
        #expect(udp.state == .rejected, "\(udp.summary)")
        #expect(udp.evidence.count == 2 && udp.evidence.allSatisfy { $0.outcome == .portUnreachable }, "\(udp.summary)")
        #expect(udp.note?.contains("listens on udp/5301 at 0.0.0.0") == true, "\(udp.summary)")
        let tcp = try cell(8080, .tcp)
        #expect(tcp.state == .rejected, "\(tcp.summary)")
        #expect(tcp.note?.contains("REJECT --reject-with tcp-reset") == true, "\(tcp.summary)")
        let sixOnly = try cell(8082, .tcp)
        #expect(sixOnly.state == .error, "\(sixOnly.summary)")
        #expect(sixOnly.note?.contains("IPV6_V6ONLY") == true, "\(sixOnly.summary)")
        let gone = try cell(8083, .tcp)
        #expect(gone.state == .reachableClosed, "\(gone.summary)")
        #expect(gone.note?.contains("nothing listens there now") == true, "\(gone.summary)")
        // A port nobody listed: an RST is a closed port, as ever.
        let closed = try cell(9, .tcp)
        #expect(closed.state == .reachableClosed && closed.note == nil, "\(closed.summary)")
    }

    @Test(
        "a destination that cannot route its answers back: its silent cells are errors whose notes say what the counters saw, no route back among the causes"
    )
    func noRouteBack() throws {
        let (lab, a, b) = try NamespaceProbeLab.pair(prefix: "bh-fxa", subnet: "198.18.106")
        try lab.python(in: b, Self.acceptingServer("198.18.106.2", 8080))  // also the process its counters are read by
        lab.listening[b] = [ListeningSocket(proto: "tcp", address: "198.18.106.2", port: 8080)]
        // b receives everything from a, and can send nothing back to it: its SYN-ACKs and echo replies have no route.
        try lab.run(in: b, ["ip", "route", "add", "prohibit", "198.18.106.1/32"])
        let result = try lab.probe(from: a) { $0.udp = false }
        let tcp = try #require(result.cell("198.18.106.2:8080", .tcp), "\(result.cells.map(\.summary))")
        #expect(tcp.state == .error, "\(tcp.summary)")
        #expect(
            tcp.note?.contains("TcpExt ListenDrops: a full listen queue, or no route back") == true, "\(tcp.summary)")
        let echo = try #require(result.cell("198.18.106.2", .icmp))
        #expect(echo.state == .error, "\(echo.summary)")
        #expect(echo.note?.contains("or no route back for the reply") == true, "\(echo.summary)")
        #expect(echo.note?.contains("the requests arrived") == true, "\(echo.summary)")
    }
}
