import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import Lab

/// Whether a Swarm lab can be built here: root, dockerd and the 20.10 client.
enum SwarmLabSupport {
    static var unavailableReason: String? {
        if getuid() != 0 { return "not root: the Swarm lab needs namespaces and its own dockerd engines" }
        let paths = ["/usr/sbin/dockerd", "/usr/bin/dockerd"]
        if !paths.contains(where: FileManager.default.isExecutableFile(atPath:)) { return "no dockerd installed" }
        if !FileManager.default.isExecutableFile(atPath: SwarmLab.dockerClient) {
            return "no docker client at \(SwarmLab.dockerClient)"
        }
        return nil
    }

    static var available: Bool { unavailableReason == nil }

    /// Stands a lab up on a free slot (another suite or helper may hold one), or records why it cannot.
    static func up() throws -> SwarmLab {
        let script = SwarmLab.script(root: Repository.root.path)
        var last: (any Error)?
        for slot in Array(1...14).shuffled().prefix(4) {
            do { return try SwarmLab.up(name: SwarmLab.freshName(), slot: slot, script: script) } catch {
                last = error
                // A slot taken by another lab is retried elsewhere; anything else (dockerd cannot start) is final.
                guard error.message.contains("slot") || error.message.contains("in use") else { throw error }
            }
        }
        throw last ?? SwarmLabError(.up, path: "swarm lab", message: "no free slot")
    }

    /// Runs the `bulkhead` executable with posix_spawn and waitpid (`SwarmLab.run`): Foundation's
    /// `Process.waitUntilExit` was seen to hang on a finished child in this test process.
    static func bulkhead(_ arguments: [String], environment: [String: String]? = nil) throws -> (
        status: Int32, output: String, error: String
    ) {
        let result = try SwarmLab.run(
            [BulkheadExecutable.url.path] + arguments, environment: environment, what: "bulkhead")
        return (result.status, result.output, result.error)
    }

    /// The lab's services: plaintext HTTP and a TLS server on a plain overlay, two HTTP servers on an encrypted one,
    /// a host-mode published port.
    static let spec = SwarmLabSpec(
        overlays: [.init(name: "plain"), .init(name: "secret", encrypted: true)],
        services: [
            .init(
                name: "web", command: ["httpd", "-f", "-p", "8080", "-h", "/tmp"], networks: ["plain"],
                hostPorts: [.init(published: 18080, target: 8080)]),
            .init(
                name: "tlsd",
                command: [
                    "sh", "-c",
                    "cd /tmp && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem "
                        + "-out c.pem -subj /CN=tlsd -days 2 2>/dev/null && exec openssl s_server -accept 8443 "
                        + "-cert c.pem -key k.pem -quiet",
                ], networks: ["plain"], environment: ["OPENSSL_CONF": "/dev/null"]),
            .init(name: "enc", command: ["httpd", "-f", "-p", "8081", "-h", "/tmp"], networks: ["secret"]),
            .init(name: "enc2", command: ["httpd", "-f", "-p", "8082", "-h", "/tmp"], networks: ["secret"]),
        ])
}

/// A real two-node Docker Swarm (two extra dockerd engines in namespaces) audited node by node, as the fleet audit
/// runs: each node's report carries its cluster node, probes every task of the fleet from its local tasks, runs the
/// TLS battery across nodes, and diagnoses the encrypted overlay this kernel cannot carry.
@Suite(
    "Swarm fleet (two-node lab)", .serialized,
    .enabled(if: SwarmLabSupport.available, "\(SwarmLabSupport.unavailableReason ?? "")"))
struct SwarmFleetTests {
    @Test("the fleet audit of a two-node swarm: identity, plaintext across nodes, TLS per edge, IPsec diagnosis")
    func fleetAudit() throws {
        let lab = try SwarmLabSupport.up()
        var torndown = false
        defer { if !torndown { lab.down() } }
        try lab.deploy(SwarmLabSupport.spec)

        var reports: [AuditReport] = []
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bh-swarm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        var files: [String] = []
        for node in 1...2 {
            let result = try SwarmLabSupport.bulkhead(
                ["audit", "--swarm", "--format", "json", "--exit-zero", "--quiet"],
                environment: lab.environment(node: node))
            #expect(result.status == 0, "audit on node \(node): \(result.error)")
            reports.append(try JSONDecoder().decode(AuditReport.self, from: Data(result.output.utf8)))
            let file = folder.appendingPathComponent("node\(node).json").path
            try Data(result.output.utf8).write(to: URL(fileURLWithPath: file))
            files.append(file)
        }
        let (manager, worker) = (reports[0], reports[1])

        // Each node's report carries its ClusterNode: the key `bulkhead merge` joins node reports on.
        let managerNode = try #require(manager.evidence.inventory?.cluster)
        let workerNode = try #require(worker.evidence.inventory?.cluster)
        #expect(managerNode.orchestrator == .swarm && workerNode.orchestrator == .swarm)
        #expect(managerNode.clusterID == lab.clusterID && workerNode.clusterID == lab.clusterID)
        #expect(managerNode.nodeID == lab.nodes[0].id && workerNode.nodeID == lab.nodes[1].id)
        #expect(managerNode.role == .manager && managerNode.fullView)
        #expect(workerNode.role == .worker && !workerNode.fullView)
        #expect(worker.evidence.inventory?.swarm?.limits.isEmpty == false, "a worker says its view is local")
        #expect(
            Set(managerNode.members?.map(\.nodeID) ?? []) == Set(lab.nodes.map(\.id)),
            "the manager names every member, so the merge knows which reports to expect")

        // The manager's inventory: services with their mode, endpoint mode and host-mode port; the overlays.
        let swarm = try #require(manager.evidence.inventory?.swarm)
        let web = try #require(swarm.services.first { $0.name == "web" })
        #expect(web.mode == "global" && web.endpointMode == "dnsrr")
        #expect(
            web.publishedPorts == [
                SwarmPublishedPort(targetPort: 8080, publishedPort: 18080, proto: "tcp", mode: "host")
            ])
        #expect(swarm.nodes.count == 2 && swarm.tasks.filter { $0.state == "running" }.count == 8)
        #expect(swarm.networks.first { $0.name == "secret" }?.encrypted == true)
        #expect(swarm.networks.first { $0.name == "plain" }?.encrypted == false)
        #expect(!manager.findings.contains { $0.kind == .swarmIngressPublished }, "host-mode ports are not ingress")
        #expect(manager.findings.contains { $0.kind == .swarmAutolockOff })
        // The host-mode port, probed on both nodes from the manager's local tasks: open on each.
        let published = swarm.controlPlane.filter { $0.service == "web" && $0.port == 18080 }
        #expect(Set(published.map(\.address)) == Set(lab.nodes.map(\.address)))
        #expect(published.allSatisfy { $0.state == .reachable }, "\(published.map { "\($0.address) \($0.state)" })")

        for (index, report) in reports.enumerated() {
            let here = lab.nodes[index].id
            let remote = { (name: String) in !name.contains(".\(here).") }
            // Plaintext HTTP between web's tasks on different nodes, over the plain overlay: found and attributed.
            let plaintext = report.edges.filter {
                $0.source.hasPrefix("web.") && $0.destination.hasPrefix("web.") && remote($0.destination)
                    && $0.network == "plain" && $0.port == 8080
            }
            #expect(plaintext.count == 1 && plaintext.allSatisfy { $0.verdict == .plaintext }, "node \(index + 1)")
            let overlay = report.findings.first { $0.kind == .swarmCrossNodePlaintextOverlay }
            #expect(overlay?.location == "plain" && overlay?.title.contains("web") == true, "node \(index + 1)")
            // The TLS service's endpoint on the other node has a verdict per edge.
            let tls = report.edges.filter {
                $0.destination.hasPrefix("tlsd.") && remote($0.destination) && $0.port == 8443 && $0.network == "plain"
            }
            #expect(!tls.isEmpty)
            #expect(tls.allSatisfy { $0.tls?.verdict == .tlsNoClientAuth }, "\(tls.map { $0.tls?.verdict as Any })")
            // The encrypted overlay: same-node cells work, cross-node ones fail → IPsec diagnosis, edges unknown.
            let diagnosis = report.findings.filter { $0.kind == .swarmEncryptedOverlayDrops }
            #expect(diagnosis.count == 1 && diagnosis.first?.location == "secret", "node \(index + 1)")
            #expect(diagnosis.first?.title.contains("IPsec (ESP/AES-GCM) unavailable on node") == true)
            let crossEncrypted = report.edges.filter {
                $0.network == "secret" && $0.source.hasPrefix("enc") && $0.destination.hasPrefix("enc")
                    && remote($0.destination)
            }
            #expect(crossEncrypted.count == 4)
            #expect(crossEncrypted.allSatisfy { $0.verdict == .unknown }, "never blocked, never secure")
            // The diagnosis explains those cells: no "broken dependency" is reported for them on top.
            #expect(
                !report.findings.contains { finding in
                    finding.kind == .unexpectedBlocked
                        && crossEncrypted.contains {
                            finding.location?.hasPrefix("\($0.source) -> \($0.destination) ") == true
                        }
                })
            let sameEncrypted = report.edges.filter {
                $0.network == "secret" && $0.source.hasPrefix("enc.") && $0.destination.hasPrefix("enc2.")
                    && !remote($0.destination)
            }
            #expect(sameEncrypted.count == 1 && sameEncrypted.allSatisfy { $0.verdict == .plaintext })
            // The tasks reach the node's own Swarm management port.
            #expect(report.findings.contains { $0.kind == .swarmControlPlaneReachable && $0.title.contains("2377") })
        }
        try Self.merge(files, reports: reports, lab: lab)
        try Self.underlayCapture(lab: lab, manager: manager)
        torndown = true
        let left = lab.down()
        #expect(left == nil, "\(left ?? "")")
    }

    /// `bulkhead merge` on the two node reports: one fleet report of the swarm, complete (the manager named both
    /// members and both sent a report), every node's edges in it once; without the worker's report it is incomplete.
    static func merge(_ files: [String], reports: [AuditReport], lab: SwarmLab) throws {
        let merged = try SwarmLabSupport.bulkhead(["merge"] + files + ["--format", "json", "--exit-zero"])
        #expect(merged.status == 0, "\(merged.error)")
        let fleet = try #require(try JSONSerialization.jsonObject(with: Data(merged.output.utf8)) as? [String: Any])
        #expect(fleet["schema"] as? String == "bulkhead.fleet/1")
        #expect(fleet["clusterID"] as? String == lab.clusterID)
        #expect(fleet["complete"] as? Bool == true, "\(fleet["problems"] ?? "")")
        let nodes = try #require(fleet["nodes"] as? [[String: Any]])
        #expect(Set(nodes.compactMap { $0["nodeID"] as? String }) == Set(lab.nodes.map(\.id)))
        // Each node probes from its own tasks: every edge of both reports is in the fleet report, once.
        let edges = try #require(fleet["edges"] as? [[String: Any]])
        let expected = Set(reports.flatMap { $0.edges.map { "\($0.source) \($0.address):\($0.port)/\($0.protocol)" } })
        #expect(edges.count == expected.count, "fleet edges \(edges.count), distinct node edges \(expected.count)")
        // The manager expects the worker: its report alone makes an incomplete fleet report (exit 3).
        let alone = try SwarmLabSupport.bulkhead(["merge", files[0], "--format", "json"])
        #expect(alone.status == 3, "\(alone.error)")
    }

    /// Plaintext HTTP from web's task on node 1 to its task on node 2, captured on the underlay bridge (VXLAN) and
    /// audited: attributed to both services, both nodes and the overlay.
    static func underlayCapture(lab: SwarmLab, manager: AuditReport) throws {
        let local = try lab.docker(
            node: 1,
            [
                "ps", "--filter", "label=com.docker.swarm.service.name=web", "--format", "{{.Names}}",
            ]
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        let remote = manager.evidence.inventory?.containers.first {
            $0.labels[SwarmInventory.remoteTaskLabel] != nil && $0.labels["com.docker.swarm.service.name"] == "web"
        }?.networks.first?.ipv4
        let address = try #require(remote.flatMap(IPAddress.init)?.description)
        let pcap = FileManager.default.temporaryDirectory.appendingPathComponent("swarm-\(lab.name).pcap").path
        defer { unlink(pcap) }
        // Bulkhead's own live capture, on the underlay bridge (in the underlay's namespace, as on a real node's NIC);
        // its progress on standard error says when it listens and how many packets it has.
        let progress = pcap + ".progress"
        defer { unlink(progress) }
        let capture = try SwarmLab.start(
            [
                "/usr/sbin/ip", "netns", "exec", lab.underlayNetns, BulkheadExecutable.url.path, "capture",
                "--interface", lab.underlayBridge, "--filter", "udp port 4789", "--duration", "60", "--write", pcap,
                "--progress-interval", "1",
            ], standardError: progress)
        let said = { (try? String(contentsOfFile: progress, encoding: .utf8)) ?? "" }
        try Poll.until("the capture to listen on \(lab.underlayBridge)", seconds: 30, lastSeen: said) {
            said().contains("bulkhead: capturing on")
        }
        // The address reaches the task's shell as a positional parameter, never inside the script's text.
        let answer = try lab.docker(
            node: 1,
            [
                "exec", local, "sh", "-c", "printf 'GET / HTTP/1.0\\r\\nHost: web\\r\\n\\r\\n' | nc -w 2 \"$1\" 8080",
                "sh", address,
            ])
        #expect(answer.hasPrefix("HTTP/1."), "\(answer)")
        // Stopped once its progress counts the exchange's VXLAN packets (the request, the answer and the handshakes).
        try Poll.until("the capture to count the exchange's packets", seconds: 15, lastSeen: said) {
            said().range(of: #"capturing [0-9]+ s: \S+ ([5-9]|[1-9][0-9]+) packets"#, options: .regularExpression)
                != nil
        }
        kill(capture, SIGINT)
        #expect(SwarmLab.wait(capture) == 0, "bulkhead capture on the underlay")
        let result = try SwarmLabSupport.bulkhead(
            ["audit", "--swarm", "--no-probe", "--capture", pcap, "--format", "json", "--exit-zero", "--quiet"],
            environment: lab.environment(node: 1))
        let report = try JSONDecoder().decode(AuditReport.self, from: Data(result.output.utf8))
        let plaintext = report.findings.filter { $0.kind == .swarmPlaintextBetweenNodes }
        #expect(
            plaintext.count == 1,
            "\(report.findings.map(\.title)) \(report.stages.map { "\($0.name): \($0.note ?? "")" }) \(report.problems) \(result.error)"
        )
        let title = plaintext.first?.title ?? ""
        #expect(
            title.contains("service web (node \(lab.name)-node1)")
                && title.contains("service web (node \(lab.name)-node2)")
                && title.contains("overlay plain") && title.hasPrefix("Plaintext http"), "\(title)")
        #expect(plaintext.first?.flowCount == 1)
    }

    @Test("down after an up that was killed half-way removes the namespaces, engines and directories")
    func downAfterKilledUp() throws {
        let script = SwarmLab.script(root: Repository.root.path)
        let name = SwarmLab.freshName()
        // Not Foundation's Process: its waitUntilExit was seen to hang on a killed child here.
        let pid = try SwarmLab.start(["/bin/bash", script, "up", name, String(Int.random(in: 1...14))])
        // Long enough for the namespaces and the first engine to exist, too short for the swarm.
        Thread.sleep(forTimeInterval: 1.5)
        kill(pid, SIGKILL)
        _ = SwarmLab.wait(pid)
        let left = SwarmLab.down(name: name, script: script)
        #expect(left == nil, "\(left ?? "")")
        let namespaces = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
        #expect(!namespaces.contains { $0.hasPrefix(name + "-") }, "\(namespaces)")
        #expect(!FileManager.default.fileExists(atPath: "/run/bulkhead-swarm/\(name)"))
        #expect(!FileManager.default.fileExists(atPath: "/var/lib/bulkhead-swarm/\(name)"))
        let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { pid in
            guard Int(pid) != nil, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else {
                return false
            }
            return String(decoding: data, as: UTF8.self).contains("bulkhead-swarm/\(name)")
        }
        #expect(leftovers.isEmpty, "processes of the lab left running: \(leftovers)")
    }
}
