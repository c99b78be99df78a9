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
        let lab = try NamespaceProbeLab(prefix: "bh-fxr", subnet: "198.18.104")
        let a = try lab.host("a", 1)
        let b = try lab.host("b", 2)
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
}
