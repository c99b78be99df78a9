import BulkheadTestSupport
import Foundation
import Testing

/// `bulkhead audit` against real containers in the namespace shapes a review found mishandled: a listener bound to
/// an IPv4-mapped address, a paused container, a sidecar sharing another's namespace, an IPv4-only source beside
/// an IPv6 network, and a namespace with no route. Each test makes its own networks (free subnets) and containers
/// under one label and removes them.
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
    static func audit(policy: String? = nil, tls: Bool = false, allowed: String? = nil, engine: String? = nil) throws
        -> Audit
    {
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
        if let engine { environment["DOCKER_HOST"] = "unix://\(engine)" }
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

    @Test(
        "a paused container is probed to (the kernel completes handshakes for it) and from; its TLS is untested, said why"
    )
    func pausedContainer() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        DockerCLI.removeLabelled(Self.label)
        defer { DockerCLI.removeLabelled(Self.label) }
        let net = try DockerCLI.createNetwork("bh-ns-pause", options: ["--label", Self.label]).subnet
        try Self.run("bh-ns-client", ["--network", "bh-ns-pause", "--ip", net.address(20)], ["sleep", "600"])
        try Self.run(
            "bh-ns-paused", ["--network", "bh-ns-pause", "--ip", net.address(30)], ["httpd", "-f", "-p", "8080"])
        try DockerCLI.waitUntilListening("bh-ns-paused", port: 8080)
        try DockerCLI.must(["pause", "bh-ns-paused"])
        defer { _ = try? DockerCLI.run(["unpause", "bh-ns-paused"]) }
        let audit = try Self.audit(policy: Self.denyTCP, tls: true)
        #expect(audit.status == 3, "the paused server's TLS could not be examined: \(audit.error)")
        let edge = audit.edges.first {
            $0["source"] as? String == "bh-ns-client" && $0["destination"] as? String == "bh-ns-paused"
                && $0["port"] as? Int == 8080
        }
        #expect(edge?["reachability"] as? String == "reachable" && edge?["verdict"] as? String == "violation")
        let fromPaused = audit.cells(from: "bh-ns-paused", to: "bh-ns-client")
        #expect(!fromPaused.isEmpty && fromPaused.allSatisfy { $0["state"] as? String == "reachable" }, "\(fromPaused)")
        #expect(audit.problems.contains { $0.contains("bh-ns-paused is paused") }, "\(audit.problems)")

        // `bulkhead tls` from the inventory: the paused endpoint is listed untested, said why, never left out.
        let tls = try BulkheadExecutable.run(["tls", "--format", "json"])
        #expect(tls.status == 3, "\(tls.error)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(tls.output.utf8)) as? [String: Any])
        let endpoint = (document["endpoints"] as? [[String: Any]])?.first {
            $0["endpoint"] as? String == "\(net.address(30)):8080"
        }
        #expect((endpoint?["reason"] as? String)?.contains("bh-ns-paused is paused") == true, "\(document)")
    }

    @Test("an engine that fails one container's inspection: audit and tls go on with the rest, name it, exit 3")
    func engineFailsOneInspection() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        DockerCLI.removeLabelled(Self.label)
        defer { DockerCLI.removeLabelled(Self.label) }
        try DockerCLI.createNetwork("bh-ns-fault", options: ["--label", Self.label])
        for name in ["bh-ns-a", "bh-ns-b", "bh-ns-c"] {
            try Self.run(name, ["--network", "bh-ns-fault"], ["httpd", "-f", "-p", "8080"])
        }
        for name in ["bh-ns-a", "bh-ns-c"] { try DockerCLI.waitUntilListening(name, port: 8080) }
        let id = try DockerCLI.must(["inspect", "-f", "{{.Id}}", "bh-ns-b"]).trimmingCharacters(
            in: .whitespacesAndNewlines)
        let proxy = try EngineFaultProxy(failing: "/containers/\(id)/json")
        defer { proxy.stop() }
        let audit = try Self.audit(engine: proxy.socketPath)
        #expect(audit.status == 3, "\(audit.error)")
        #expect(
            audit.problems.contains { $0.contains("container bh-ns-b could not be inspected") }, "\(audit.problems)")
        let inventory = (audit.document["evidence"] as? [String: Any])?["inventory"] as? [String: Any]
        let states = Dictionary(
            ((inventory?["containers"] as? [[String: Any]]) ?? []).compactMap { container in
                (container["name"] as? String).map { ($0, container["state"] as? String ?? "") }
            }, uniquingKeysWith: { first, _ in first })
        #expect(states == ["bh-ns-a": "running", "bh-ns-b": "uninspected", "bh-ns-c": "running"])
        #expect(
            audit.edges.contains {
                $0["source"] as? String == "bh-ns-a" && $0["destination"] as? String == "bh-ns-c"
                    && $0["reachability"] as? String == "reachable"
            }, "the containers that were read are probed")

        var environment = ProcessInfo.processInfo.environment
        environment["DOCKER_HOST"] = "unix://\(proxy.socketPath)"
        let tls = try BulkheadExecutable.run(["tls", "--format", "json"], environment: environment)
        #expect(tls.status == 3, "endpoints of a container not inspected are not all the endpoints: \(tls.error)")
        #expect(tls.error.contains("inventory: container bh-ns-b could not be inspected"), "\(tls.error)")
    }

    @Test("a sidecar (--network container:app) is on app's networks: no false breach, and its namespace is probed once")
    func sidecar() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        DockerCLI.removeLabelled(Self.label)
        defer { DockerCLI.removeLabelled(Self.label) }
        let net = try DockerCLI.createNetwork("bh-ns-side", options: ["--label", Self.label]).subnet
        try Self.run("bh-ns-app", ["--network", "bh-ns-side", "--ip", net.address(10)], ["sleep", "600"])
        try Self.run("bh-ns-sidecar", ["--network", "container:bh-ns-app"], ["sleep", "600"])
        try Self.run(
            "bh-ns-peer", ["--network", "bh-ns-side", "--ip", net.address(20)], ["httpd", "-f", "-p", "8080"])
        try DockerCLI.waitUntilListening("bh-ns-peer", port: 8080)
        let audit = try Self.audit()
        #expect(audit.status == 0, "\(audit.error)")
        #expect(!audit.findings.contains { $0["severity"] as? String == "high" }, "\(audit.findings)")
        let fromSidecar = audit.cells(from: "bh-ns-sidecar", to: "bh-ns-peer")
        let fromApp = audit.cells(from: "bh-ns-app", to: "bh-ns-peer")
        #expect(fromSidecar.count == fromApp.count && !fromSidecar.isEmpty)
        let edges = audit.edges.filter {
            $0["source"] as? String == "bh-ns-sidecar" && $0["destination"] as? String == "bh-ns-peer"
        }
        #expect(!edges.isEmpty && edges.allSatisfy { $0["allowed"] as? Bool == true }, "\(edges)")
        #expect(
            fromSidecar.allSatisfy { ($0["note"] as? String)?.contains("the probe from bh-ns-app") == true },
            "a copy of app's probe, not a second one: \(fromSidecar)")
    }

    @Test(
        "an IPv4-only source and a dual-stack network: its IPv6 cells are skipped with the reason, the audit complete")
    func addressFamilies() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        DockerCLI.removeLabelled(Self.label)
        defer { DockerCLI.removeLabelled(Self.label) }
        // A unique-local /64 of this test's own (the operator's fence is widened to it, and only for this audit).
        let v6 = String(format: "fd00:b4ad:%x::", Int.random(in: 0x1000...0xfffe))
        try DockerCLI.createNetwork("bh-ns-v4", options: ["--label", Self.label])
        try DockerCLI.createNetwork(
            "bh-ns-v6", options: ["--label", Self.label, "--ipv6", "--subnet", "\(v6)/64"])
        try Self.run("bh-ns-client", ["--network", "bh-ns-v4"], ["sleep", "600"])
        try Self.run("bh-ns-server", ["--network", "bh-ns-v6"], ["httpd", "-f", "-p", "[::]:8080"])
        try DockerCLI.waitUntilListening("bh-ns-server", port: 8080)
        let audit = try Self.audit(allowed: "\(v6)/64")
        #expect(audit.status == 0, "\(audit.error)")
        #expect(audit.document["complete"] as? Bool == true, "\(audit.problems)")
        let toV6 = audit.cells(from: "bh-ns-client", to: "bh-ns-server").filter {
            ($0["address"] as? String)?.contains(":") == true
        }
        #expect(!toV6.isEmpty)
        #expect(
            toV6.allSatisfy {
                $0["state"] as? String == "skipped" && ($0["note"] as? String)?.contains("has no IPv6 address") == true
            }, "\(toV6)")
    }

    @Test(
        "no route in the source's namespace: to another network it is blocked (said: no route), to its own network an error"
    )
    func noRoute() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        DockerCLI.removeLabelled(Self.label)
        defer { DockerCLI.removeLabelled(Self.label) }
        let inner = try DockerCLI.createNetwork("bh-ns-inner", options: ["--label", Self.label]).subnet
        try DockerCLI.createNetwork("bh-ns-outer", options: ["--label", Self.label])
        try Self.run("bh-ns-lonely", ["--network", "bh-ns-inner"], ["sleep", "600"])
        try Self.run("bh-ns-peer", ["--network", "bh-ns-inner"], ["httpd", "-f", "-p", "8080"])
        try Self.run("bh-ns-server", ["--network", "bh-ns-outer"], ["httpd", "-f", "-p", "8080"])
        try DockerCLI.waitUntilListening("bh-ns-peer", port: 8080)
        try DockerCLI.waitUntilListening("bh-ns-server", port: 8080)
        // Every route of the lonely container deleted from its namespace. Without the default route, the other
        // network's addresses have no route (isolation at the source); without the connected one, its kernel
        // disagrees with the engine, which still puts it on bh-ns-inner.
        let pid = try DockerCLI.must(["inspect", "-f", "{{.State.Pid}}", "bh-ns-lonely"]).trimmingCharacters(
            in: .whitespacesAndNewlines)
        for route in ["default", inner.cidr] {
            _ = try ProcessRunner.must(
                URL(fileURLWithPath: "/usr/bin/nsenter"), ["-t", pid, "-n", "ip", "route", "del", route])
        }
        let audit = try Self.audit()
        let toServer = audit.cells(from: "bh-ns-lonely", to: "bh-ns-server")
        #expect(!toServer.isEmpty)
        #expect(
            toServer.allSatisfy {
                $0["state"] as? String == "rejected" && ($0["note"] as? String)?.hasPrefix("no route:") == true
            }, "\(toServer)")
        let toPeer = audit.cells(from: "bh-ns-lonely", to: "bh-ns-peer")
        #expect(!toPeer.isEmpty)
        #expect(
            toPeer.allSatisfy {
                $0["state"] as? String == "error"
                    && ($0["note"] as? String)?.contains("yet the inventory puts both on bh-ns-inner") == true
            }, "never blocked: \(toPeer)")
        #expect(audit.status == 3, "\(audit.error)")
    }
}
