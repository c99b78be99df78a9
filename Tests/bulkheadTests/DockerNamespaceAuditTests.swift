import BulkheadTestSupport
import Foundation
import Testing

/// `bulkhead audit` against real containers in the namespace shapes a review found mishandled: a listener bound to
/// an IPv4-mapped address. Each test makes its own networks (free subnets) and containers under one label and
/// removes them.
@Suite(
    "bulkhead audit: namespaces, listeners and routes (real containers)", .serialized,
    .enabled(if: DockerCLI.isAvailable, "no Docker engine or lab image"))
struct DockerNamespaceAuditTests {
    static let label = "bulkhead.test=namespace-audit"

    /// The audit's exit status, its JSON report, and its standard error.
    struct Audit {
        var status: Int32
        var document: [String: Any]
        var error: String

        var cells: [[String: Any]] {
            ((self.document["evidence"] as? [String: Any])?["probe"] as? [String: Any])?["cells"] as? [[String: Any]]
                ?? []
        }
        var edges: [[String: Any]] { self.document["edges"] as? [[String: Any]] ?? [] }
        var problems: [String] { self.document["problems"] as? [String] ?? [] }
        var findings: [[String: Any]] { self.document["findings"] as? [[String: Any]] ?? [] }

        func cells(from source: String, to destination: String) -> [[String: Any]] {
            self.cells.filter { $0["source"] as? String == source && $0["destinationName"] as? String == destination }
        }
    }

    /// Runs `bulkhead audit` on this suite's containers; `allowed` adds ranges to the operator's fence.
    static func audit(policy: String? = nil, tls: Bool = false, allowed: String? = nil) throws -> Audit {
        let folder = try ScratchSpace.folder("bh-ns-audit")
        var arguments = [
            "audit", "--scope-label", Self.label, "--timeout", "0.5", "--quiet", "--state-dir", folder.path,
            "--output", "json=\(folder.path)/audit.json",
        ]
        if !tls { arguments.append("--no-tls") }
        if let policy { arguments += ["--policy", try ScratchSpace.file("policy.yaml", policy)] }
        var environment = ProcessInfo.processInfo.environment
        if let allowed {
            environment["BULKHEAD_ALLOWED_RANGES"] =
                (environment["BULKHEAD_ALLOWED_RANGES"].map { "\($0)," } ?? "127.0.0.0/8,::1/128,198.18.0.0/15,")
                + allowed
        }
        let run = try BulkheadExecutable.run(arguments, environment: environment)
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(folder.path)/audit.json"))
        let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return Audit(status: run.status, document: document, error: run.error)
    }

    static func run(_ name: String, _ options: [String], _ command: [String]) throws {
        try DockerCLI.must(
            ["run", "-d", "--label", Self.label, "--name", name] + options + [DockerCLI.labImage] + command)
    }

    /// Everything denied but the host side and ICMP echo: an open TCP port between containers is a breach.
    static let denyTCP = """
        version: 1
        baseline: deny
        allow:
          - { name: host side, from: {}, to: { host: true } }
          - { name: ping, from: {}, to: {}, ports: [icmp] }
        """

    @Test(
        "a listener bound to ::ffff:a.b.c.d (how dual-stack runtimes bind one IPv4 address) is probed: a denied one is a breach"
    )
    func ipv4MappedListener() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        DockerCLI.removeLabelled(Self.label)
        defer { DockerCLI.removeLabelled(Self.label) }
        let net = try DockerCLI.createNetwork("bh-ns-mapped", options: ["--label", Self.label]).subnet
        try Self.run("bh-ns-client", ["--network", "bh-ns-mapped", "--ip", net.address(20)], ["sleep", "600"])
        try Self.run(
            "bh-ns-server", ["--network", "bh-ns-mapped", "--ip", net.address(30)],
            ["httpd", "-f", "-p", "[::ffff:\(net.address(30))]:7003"])
        try DockerCLI.waitUntilListening("bh-ns-server", port: 7003)
        let audit = try Self.audit(policy: Self.denyTCP)
        #expect(audit.status == 1, "\(audit.error)")
        let cell = audit.cells(from: "bh-ns-client", to: "bh-ns-server").first { $0["port"] as? Int == 7003 }
        #expect(cell?["state"] as? String == "reachable", "\(audit.cells(from: "bh-ns-client", to: "bh-ns-server"))")
        #expect(cell?["address"] as? String == net.address(30), "probed at the IPv4 address the socket receives on")
        #expect(
            audit.findings.contains {
                $0["kind"] as? String == "unexpected-reachable"
                    && ($0["title"] as? String)?.contains(":7003/tcp") == true
            })
    }
}
