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
}
