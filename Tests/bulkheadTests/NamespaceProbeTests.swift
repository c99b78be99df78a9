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
}
