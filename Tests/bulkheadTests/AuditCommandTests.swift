import BulkheadTestSupport
import Foundation
import Testing

@Suite("bulkhead audit (end to end)", .serialized)
struct AuditCommandTests {
    /// The lab, on two /24s nothing else uses (see ``DockerCLI/freeSubnets(_:)``).
    static func scenario() throws -> String {
        let subnets = try DockerCLI.freeSubnets(2)
        let (apps, vault) = (subnets[0], subnets[1])
        return """
            name: cli-audit
            networks:
              - { name: apps, subnet: \(apps.cidr) }
              - { name: vault, subnet: \(vault.cidr) }
            services:
              - { name: web, command: [sh, -c, "echo hi > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"], networks: { apps: \(apps.address(10)) } }
              - { name: store, command: [redis-server, --port, "6379", --protected-mode, "no"], networks: { vault: \(vault.address(10)) } }
              - { name: jump, command: [sleep, "600"], networks: { apps: \(apps.address(20)), vault: \(vault.address(20)) } }
            """
    }

    func temporary(_ name: String, _ contents: String) throws -> String {
        try ScratchSpace.file(name, contents)
    }

    @Test(
        "live: every format at once, exit 1 on the breach, offline re-evaluation, baseline, accepted risks, the lock",
        .enabled(if: DockerCLI.isAvailable, "no Docker engine or lab image"))
    func live() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        let scenario = try self.temporary("cli-audit.yaml", try Self.scenario())
        #expect(try AnalyzeCommandTests.run(["scenario", "up", scenario]).status == 0)
        defer { _ = try? AnalyzeCommandTests.run(["scenario", "down", scenario]) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bh-audit-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let policy = try self.temporary(
            "policy.yaml",
            """
            baseline: docker
            deny:
              - { name: nothing but web reaches the store, from: { container: "cli-audit-jump" }, to: { network: cli-audit-vault } }
            """)
        var arguments = [
            "audit", "--policy", policy, "--scope-label", "bulkhead.scenario=cli-audit", "--timeout", "0.5", "--quiet",
            "--state-dir", directory,
        ]
        for format in ["json", "html", "sarif", "junit", "prometheus", "markdown", "dot"] {
            arguments += ["--output", "\(format)=\(directory)/audit.\(format)"]
        }
        let run = try AnalyzeCommandTests.run(arguments)
        #expect(run.status == 1, "the jump host reaches the store: \(run.error)")
        for format in ["json", "html", "sarif", "junit", "prometheus", "markdown", "dot"] {
            #expect(FileManager.default.fileExists(atPath: "\(directory)/audit.\(format)"), "\(format) written")
        }
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/audit.json")))
                as? [String: Any])
        #expect(document["schema"] as? String == "bulkhead.audit/1")
        let edges = try #require(document["edges"] as? [[String: Any]])
        let breach = try #require(
            edges.first { $0["source"] as? String == "cli-audit-jump" && $0["port"] as? Int == 6379 })
        #expect(
            breach["verdict"] as? String == "violation" && breach["allowed"] as? Bool == false
                && breach["reachability"] as? String == "reachable")
        let web = try #require(
            edges.first { $0["source"] as? String == "cli-audit-jump" && $0["port"] as? Int == 8080 })
        // No policy requires mTLS there, yet the default audit tests it: the web server speaks HTTP in clear.
        #expect(web["verdict"] as? String == "plaintext", "\(web)")
        #expect((web["tls"] as? [String: Any])?["verdict"] as? String == "plaintext-accepted")
        let summary = try #require(document["summary"] as? [String: Any])
        #expect((summary["durations"] as? [String: Double])?["probe"] != nil)
        let prometheus = try String(contentsOfFile: "\(directory)/audit.prometheus", encoding: .utf8)
        #expect(
            prometheus.contains("bulkhead_edges{verdict=\"violation\"}")
                && prometheus.contains("bulkhead_audit_last_success_timestamp_seconds"))
        #expect(FileManager.default.fileExists(atPath: "\(directory)/last-success"))

        // Offline: the same evidence against a policy that allows the jump host: no findings at high, exit 0.
        let lenient = try self.temporary("lenient.yaml", "baseline: docker\n")
        let offline = try AnalyzeCommandTests.run([
            "audit", "--evidence", "\(directory)/audit.json", "--policy", lenient, "--format", "json", "--fail-on",
            "critical",
        ])
        #expect(offline.status == 0, "\(offline.error)")
        let reevaluated = try #require(
            try JSONSerialization.jsonObject(with: Data(offline.output.utf8)) as? [String: Any])
        #expect(
            (reevaluated["edges"] as? [[String: Any]])?.contains { $0["verdict"] as? String == "violation" } == false)

        // The baseline, on the stored evidence (a second live run could differ for reasons outside the test: Docker
        // rewrites its iptables chains whenever a parallel test makes a network). Against itself nothing is new: exit
        // 0 at the same threshold. Against the lenient re-evaluation, the breach is new: exit 1, and it is listed.
        let again = try AnalyzeCommandTests.run([
            "audit", "--evidence", "\(directory)/audit.json", "--policy", policy,
            "--baseline", "\(directory)/audit.json", "--output", "json=\(directory)/again.json",
        ])
        #expect(again.status == 0, "nothing new since the baseline: \(again.error)")
        let baseline = try #require(
            (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/again.json")))
                as? [String: Any])?["baseline"] as? [String: Any])
        #expect((baseline["new"] as? [Any])?.isEmpty == true)
        try Data(offline.output.utf8).write(to: URL(fileURLWithPath: "\(directory)/lenient.json"))
        let newer = try AnalyzeCommandTests.run([
            "audit", "--evidence", "\(directory)/audit.json", "--policy", policy,
            "--baseline", "\(directory)/lenient.json", "--output", "json=\(directory)/newer.json",
        ])
        #expect(newer.status == 1)
        let newerBaseline = try #require(
            (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/newer.json")))
                as? [String: Any])?["baseline"] as? [String: Any])
        #expect(
            (newerBaseline["new"] as? [[String: Any]])?.contains { $0["kind"] as? String == "unexpected-reachable" }
                == true)

        // Accepted risks: hiding the breach makes the run clean.
        let risks = try self.temporary(
            "risks.yaml",
            "ignore:\n  - { kind: unexpected-reachable, location: \"cli-audit-jump -> *\", reason: jump host under review, expires: 2099-01-01 }\n"
        )
        let accepted = try AnalyzeCommandTests.run([
            "audit", "--evidence", "\(directory)/audit.json", "--policy", policy, "--ignore", risks,
        ])
        #expect(accepted.status == 0, "\(accepted.output.suffix(600))")

        // The lock: a held lock makes the run stop at once with status 3, naming the holder.
        // The holder keeps the lock 5 s: long enough for the run below, which must not wait for it.
        let holder = try ProcessRunner.start(
            URL(fileURLWithPath: "/usr/bin/flock"), ["\(directory)/audit.lock", "sleep", "5"])
        defer { holder.terminate() }
        try Poll.until("flock holding \(directory)/audit.lock", seconds: 5) {
            // flock -n exits 1 while another holds the lock.
            try ProcessRunner.run(
                URL(fileURLWithPath: "/usr/bin/flock"), ["-n", "\(directory)/audit.lock", "/bin/true"]
            ).status == 1
        }
        let locked = try AnalyzeCommandTests.run([
            "audit", "--state-dir", directory, "--quiet", "--scope-label", "bulkhead.scenario=cli-audit",
        ])
        #expect(locked.status == 3)
        #expect(locked.error.contains("another audit is running"))
    }

    @Test("no engine: exit 3, and the JUnit file is red as every other format says incomplete (no Docker needed)")
    func noEngine() throws {
        let directory = try ScratchSpace.folder("bh-no-engine").path
        let run = try AnalyzeCommandTests.run(
            [
                "audit", "--no-probe", "--capture", "captures/tls13-mutual.pcap", "--state-dir", directory + "/state",
                "--quiet", "-o", "junit=\(directory)/audit.xml",
            ],
            environment: ProcessInfo.processInfo.environment.merging(
                ["DOCKER_HOST": "unix://\(directory)/no-engine.sock"], uniquingKeysWith: { _, new in new }))
        #expect(run.status == 3, "\(run.error)")
        let check = try ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "python3", "-c",
                """
                import sys, xml.etree.ElementTree as ET
                root = ET.parse(sys.argv[1]).getroot()
                print(root.get('errors'), sorted(c.get('name') for c in root.iter('testcase') for e in c if e.tag == 'error'))
                """, directory + "/audit.xml",
            ])
        #expect(
            check.output.hasPrefix("2 ['inventory: no engine at \(directory)/no-engine.sock"),
            "the inventory stage and its problem, each an error: \(check.output) \(check.error)")
    }

    @Test("bad input: a broken policy, an unknown output format, evidence of another kind: exit 2")
    func badInput() throws {
        let policy = try self.temporary("broken.yaml", "baseline: deny\nallow:\n  - { from: a, too: b }\n")
        let broken = try AnalyzeCommandTests.run([
            "audit", "--policy", policy, "--evidence", "captures/expected/http-basic-auth.json",
        ])
        #expect(broken.status == 2)
        #expect(broken.error.contains(":3") && broken.error.contains("unknown key 'too'"), "\(broken.error)")
        #expect(try AnalyzeCommandTests.run(["audit", "--output", "pdf=x.pdf", "--evidence", "x"]).status == 2)
        let wrong = try AnalyzeCommandTests.run(["audit", "--evidence", "captures/expected/http-basic-auth.json"])
        #expect(wrong.status == 2 && wrong.error.contains("not an audit report"))
        // A stored report that is broken: the file, line and column; one of another kind: named as what it is.
        let brokenReport = try self.temporary(
            "accepted.json", "{\n  \"schema\": \"bulkhead.audit/1\",\n  \"edges\": [,]\n}\n")
        let baseline = try AnalyzeCommandTests.run(["audit", "--evidence", brokenReport])
        #expect(baseline.status == 2)
        #expect(baseline.error.contains("\(brokenReport):3:13: not JSON: expected a value"), "\(baseline.error)")
        let probe = try self.temporary("probe.json", "{\"schema\": \"bulkhead.probe/1\"}")
        let other = try AnalyzeCommandTests.run(["audit", "--evidence", probe])
        #expect(other.status == 2 && other.error.contains("is a probe report"), "\(other.error)")
    }

    @Test(
        "a container dying mid-audit: the report is written, marked incomplete, exit 3, and every finished result kept",
        .enabled(if: DockerCLI.isAvailable, "no Docker engine or lab image"))
    func dyingContainer() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        let net = try #require(try DockerCLI.freeSubnets(1).first)
        let scenario = try self.temporary(
            "cli-audit-dying.yaml",
            """
            name: cli-audit-dying
            networks:
              - { name: net, subnet: \(net.cidr) }
            services:
              - { name: server, command: [sh, -c, "httpd -p 8081 && exec httpd -f -p 8080"], networks: { net: \(net.address(10)) } }
              - { name: client, command: [sleep, "600"], networks: { net: \(net.address(20)) } }
            firewall:
              - { from: client, to: server, port: tcp/8081, action: drop }
            """)
        #expect(try AnalyzeCommandTests.run(["scenario", "up", scenario]).status == 0)
        defer { _ = try? AnalyzeCommandTests.run(["scenario", "down", scenario]) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bh-audit-dying-\(UUID().uuidString.prefix(8))"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The dropped port keeps the probe stage busy for 3 × 1.5 s. The server is killed once the audit says the
        // probe has started, and 1 s into it (the open port's cell is decided by then): counted from the probe's
        // start, not the process's, so a slow start on a busy machine cannot kill it before the inventory. This
        // pause is the point of the test (a container dying while the probe runs), not a wait for readiness.
        let errorLog = URL(fileURLWithPath: directory + "-stderr.log")
        #expect(FileManager.default.createFile(atPath: errorLog.path, contents: nil))
        defer { try? FileManager.default.removeItem(at: errorLog) }
        let audit = try ProcessRunner.start(
            BulkheadExecutable.url,
            [
                "audit", "--scope-label", "bulkhead.scenario=cli-audit-dying", "--attempts", "3", "--timeout", "1.5",
                "--state-dir", directory, "--fail-on", "critical", "--output", "json=\(directory)/audit.json",
            ], standardError: try FileHandle(forWritingTo: errorLog))
        try Poll.until("the audit's probe stage to start", seconds: 60) {
            (try? String(contentsOf: errorLog, encoding: .utf8))?.contains("bulkhead: probe: ") == true
        }
        Thread.sleep(forTimeInterval: 1)
        _ = try DockerCLI.run(["kill", "cli-audit-dying-server"])
        audit.waitUntilExit()
        let run = (status: audit.terminationStatus, error: (try? String(contentsOf: errorLog, encoding: .utf8)) ?? "")
        #expect(run.status == 3, "\(run.error)")
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(directory)/audit.json")))
                as? [String: Any])
        #expect(document["complete"] as? Bool == false)
        #expect(
            (document["problems"] as? [String])?.contains {
                $0.contains("cli-audit-dying-server") && $0.contains("exited")
            } == true, "\(document["problems"] ?? "")")
        let stages = try #require(document["stages"] as? [[String: Any]])
        #expect(stages.first { $0["name"] as? String == "probe" }?["status"] as? String == "incomplete")
        let edges = try #require(document["edges"] as? [[String: Any]])
        #expect(
            edges.contains {
                $0["source"] as? String == "cli-audit-dying-client" && $0["port"] as? Int == 8080
                    && $0["reachability"] as? String == "reachable"
            },
            "decided before the death: kept")
        #expect(
            edges.contains { $0["port"] as? Int == 8081 && $0["reachability"] as? String == "error" },
            "undecided at the death: an error, never filtered")
        #expect(
            !FileManager.default.fileExists(atPath: "\(directory)/last-success"), "an incomplete audit is not a success"
        )
    }
}
