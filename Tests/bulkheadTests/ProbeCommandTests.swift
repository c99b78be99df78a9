import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@Suite("bulkhead probe (end to end)")
struct ProbeCommandTests {
    func temporary(_ name: String, _ contents: String) throws -> String {
        try ScratchSpace.file(name, contents)
    }

    /// Stored evidence: web (front) reached db (back) on 5432 and the host's Docker API port was closed.
    func evidence(complete: Bool = true, web: String = "web") throws -> String {
        func network(_ name: String) -> NetworkRecord {
            NetworkRecord(
                name: name, id: name, driver: "bridge", scope: "local", subnets: [], gateways: [], internal: false,
                icc: true, encrypted: nil,
                attachable: false, isDefaultBridge: false, bridge: nil, containers: [], labels: [:])
        }
        func container(_ name: String, _ network: String, _ address: String) -> ContainerRecord {
            ContainerRecord(
                name: name, id: name, image: "lab", state: "running", pid: 4242, netns: nil, networkMode: network,
                networks: [ContainerNetwork(name: network, ipv4: address, ipv6: nil, gateway: nil, aliases: [])],
                publishedPorts: [],
                capabilities: [], privileged: false, dockerSocketMounted: false, listening: [], labels: [:])
        }
        let inventory = InventoryReport(
            sources: ["test"], networks: [network("front"), network("back")],
            containers: [container(web, "front", "198.18.1.10"), container("db", "back", "198.18.2.10")],
            namespaces: [], findings: [], complete: true, problems: [], summary: InventorySummary())
        let cell = ReachabilityCell(
            source: web, destination: "198.18.2.10:5432", protocol: .tcp, state: .reachable, attempts: 1,
            latencyMs: 0.3,
            destinationName: "db", destinationKind: .container, network: "back", address: "198.18.2.10", port: 5432,
            reason: "listening", sourcePid: 4242, evidence: [ProbeAttempt(outcome: .connected, latencyMs: 0.3)])
        let report = ProbeReport(
            generatedAt: "2026-11-29T10:00:00Z", policy: "",
            settings: ProbeSettings(
                attempts: 2, timeoutsSeconds: ["tcp": 1], maxInFlight: 1, maxInFlightPerDestination: 1, extraPorts: [],
                explicitTargets: []),
            inventory: inventory, sources: [], cells: [cell], findings: [], complete: complete,
            problems: complete ? [] : ["web: cannot enter its network namespace"], summary: ProbeSummary())
        let encoder = JSONEncoder()
        return try self.temporary("evidence.json", String(decoding: try encoder.encode(report), as: UTF8.self))
    }

    @Test(
        "--evidence re-evaluates offline: the docker intent flags the breach (exit 1) with a reproduction line; an allowing policy clears it (exit 0)"
    )
    func reevaluate() throws {
        let evidence = try self.evidence()
        let intent = try AnalyzeCommandTests.run(["probe", "--evidence", evidence])
        #expect(intent.status == 1)
        #expect(intent.output.contains("unexpected-reachable: web -> db 198.18.2.10:5432/tcp"))
        #expect(intent.output.contains("reproduce: nsenter -t 4242 -n nc -vz -w 2 198.18.2.10 5432"))
        let policy = try self.temporary(
            "policy.yaml", "baseline: deny\nallow:\n  - { from: web, to: { network: back }, ports: [tcp/5432] }\n")
        let allowed = try AnalyzeCommandTests.run([
            "probe", "--evidence", evidence, "--policy", policy, "--format", "json",
        ])
        #expect(allowed.status == 0, "\(allowed.error)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(allowed.output.utf8)) as? [String: Any])
        let cells = try #require(document["cells"] as? [[String: Any]])
        for key in ["source", "destination", "protocol", "state", "attempts", "latencyMs", "expected", "violation"] {
            #expect(cells.first?.keys.contains(key) == true, "cell key \(key)")
        }
        #expect(cells.first?["expected"] as? String == "allow")
        #expect(cells.first?["violation"] is NSNull)
        #expect(document["policy"] as? String == policy)
    }

    @Test("--evidence refuses every option that shapes probing (it would be ignored), naming them; audit the same")
    func evidenceRefusesProbingOptions() throws {
        let evidence = try self.evidence()
        let probe = try AnalyzeCommandTests.run([
            "probe", "--evidence", evidence, "--source", "nosuch", "--no-udp", "--tcp-timeout", "3",
        ])
        #expect(probe.status == 2, "\(probe.error)")
        for name in ["--source", "--no-udp", "--tcp-timeout"] { #expect(probe.error.contains(name), "\(probe.error)") }
        let audit = try AnalyzeCommandTests.run(["audit", "--evidence", evidence, "--no-tls", "--attempts", "5"])
        #expect(
            audit.status == 2 && audit.error.contains("--no-tls") && audit.error.contains("--attempts"),
            "\(audit.error)")
    }

    @Test(
        "a policy rule that selects no container is shown in the table, and --fail-on at its severity fails the run")
    func findingsBeyondViolations() throws {
        let evidence = try self.evidence()
        let policy = try self.temporary(
            "typo.yaml",
            "baseline: deny\nallow:\n  - { from: web, to: { network: back }, ports: [tcp/5432] }\n  - { from: wbe, to: web }\n"
        )
        let quiet = try AnalyzeCommandTests.run(["probe", "--evidence", evidence, "--policy", policy])
        #expect(quiet.status == 0, "\(quiet.error)")
        #expect(
            quiet.output.contains("Other findings") && quiet.output.contains("policy-rule-selects-nothing"),
            "\(quiet.output)")
        let strict = try AnalyzeCommandTests.run([
            "probe", "--evidence", evidence, "--policy", policy, "--fail-on", "low",
        ])
        #expect(strict.status == 1, "\(strict.error)")
    }

    @Test(
        "an incomplete probe with a violation exits 3, not 1 (2 > 3 > 1 > 0); a hostile container name prints escaped")
    func incompleteWinsOverFindings() throws {
        let evidence = try self.evidence(complete: false, web: "web\u{1b}]0;owned\u{07}\u{1b}[2J")
        let run = try AnalyzeCommandTests.run(["probe", "--evidence", evidence])
        #expect(run.status == 3, "\(run.status) \(run.error)")
        #expect(run.output.contains("unexpected-reachable"), "the violation is still reported")
        #expect(
            !Array(run.output.utf8).contains(0x1b) && run.output.contains("web\\x1b]0;owned\\x07\\x1b[2J"),
            "\(run.output)")
        #expect(try AnalyzeCommandTests.run(["probe", "--evidence", try self.evidence()]).status == 1)
    }

    @Test("a bad enum value on the command line lists the valid ones")
    func enumValues() throws {
        let format = try AnalyzeCommandTests.run(["audit", "--evidence", "x", "--format", "xml"])
        #expect(
            format.status == 2 && format.error.contains("table") && format.error.contains("markdown"), "\(format.error)"
        )
        let severity = try AnalyzeCommandTests.run(["inventory", "--fail-on", "severe"])
        #expect(
            severity.status == 2 && severity.error.contains("'info', 'low', 'medium', 'high' or 'critical'"),
            "\(severity.error)")
        let reader = try AnalyzeCommandTests.run(["analyze", "--reader", "pcapng", "captures/dns-udp.pcap"])
        #expect(
            reader.status == 2 && reader.error.contains("mmap") && reader.error.contains("libpcap"), "\(reader.error)")
    }

    @Test(
        "a wide matrix (more than 8 destinations on a network) is shown as counts per source; the JSON keeps every cell"
    )
    func wideMatrix() throws {
        let network = NetworkRecord(
            name: "wide", id: "wide", driver: "bridge", scope: "local", subnets: [], gateways: [], internal: false,
            icc: true,
            encrypted: nil, attachable: false, isDefaultBridge: false, bridge: nil, containers: [], labels: [:])
        let containers = (0..<10).map { index in
            ContainerRecord(
                name: "c\(index)", id: "c\(index)", image: "lab", state: "running", pid: 100 + index, netns: nil,
                networkMode: "wide",
                networks: [
                    ContainerNetwork(
                        name: "wide", ipv4: "198.18.39.\(10 + index)", ipv6: nil, gateway: nil, aliases: [])
                ], publishedPorts: [],
                capabilities: [], privileged: false, dockerSocketMounted: false, listening: [], labels: [:])
        }
        var cells: [ReachabilityCell] = []
        for source in containers {
            for destination in containers where destination.name != source.name {
                let address = destination.networks[0].ipv4 ?? ""
                cells.append(
                    ReachabilityCell(
                        source: source.name, destination: "\(address):80", protocol: .tcp, state: .reachable,
                        attempts: 1, latencyMs: 0.1,
                        destinationName: destination.name, destinationKind: .container, network: "wide",
                        address: address, port: 80,
                        reason: "listening", sourcePid: source.pid,
                        evidence: [ProbeAttempt(outcome: .connected, latencyMs: 0.1)]))
            }
        }
        let inventory = InventoryReport(
            sources: [], networks: [network], containers: containers, namespaces: [], findings: [], complete: true,
            problems: [], summary: InventorySummary())
        let report = ProbeReport(
            generatedAt: "2026-11-29T10:00:00Z", policy: "",
            settings: ProbeSettings(
                attempts: 1, timeoutsSeconds: [:], maxInFlight: 0, maxInFlightPerDestination: 1, extraPorts: [],
                explicitTargets: []),
            inventory: inventory,
            sources: containers.map { ProbeSource(name: $0.name, pid: $0.pid, netns: nil, skipReason: nil) },
            cells: cells, findings: [], complete: true, problems: [], summary: ProbeSummary())
        let path = try self.temporary("wide.json", String(decoding: try JSONEncoder().encode(report), as: UTF8.self))
        let table = try AnalyzeCommandTests.run(["probe", "--evidence", path])
        #expect(table.status == 0)
        #expect(table.output.contains("Network wide (10 destinations: counts per source)"))
        #expect(table.output.contains("c0") && table.output.contains(" 9 "), "c0 has 9 reachable cells")
    }

    @Test("bad input: a broken policy names file and line, evidence of another kind, bad ports, a CIDR target: exit 2")
    func badInput() throws {
        let evidence = try self.evidence()
        let policy = try self.temporary(
            "policy.yaml", "baseline: deny\nallow:\n  - { from: web, to: db, ports: [tcp/99999] }\n")
        let broken = try AnalyzeCommandTests.run(["probe", "--evidence", evidence, "--policy", policy])
        #expect(broken.status == 2)
        #expect(broken.error.contains(policy + ":3"), "\(broken.error)")
        let notEvidence = try AnalyzeCommandTests.run(["probe", "--evidence", "captures/expected/http-basic-auth.json"])
        #expect(notEvidence.status == 2)
        #expect(notEvidence.error.contains("not a probe report"))
        #expect(try AnalyzeCommandTests.run(["probe", "--ports", "tcp/0", "--inventory", evidence]).status == 2)
        #expect(try AnalyzeCommandTests.run(["probe", "--attempts", "0"]).status == 2)
        #expect(try AnalyzeCommandTests.run(["probe", "--evidence", evidence, "--target", "198.18.1.1"]).status == 2)
        // A target that is no single host is refused before anything is probed, naming the option and why.
        let inventory = InventoryReport(
            sources: ["test"], networks: [], containers: [], namespaces: [], findings: [], complete: true,
            problems: [], summary: InventorySummary())
        let path = try self.temporary(
            "empty-inventory.json", String(decoding: try JSONEncoder().encode(inventory), as: UTF8.self))
        for (target, why) in [
            ("0.0.0.0", "the unspecified address"), ("224.0.0.1", "a multicast address"),
            ("255.255.255.255", "the limited broadcast address"), ("ff02::1", "a multicast address"),
        ] {
            let refused = try AnalyzeCommandTests.run(["probe", "--inventory", path, "--target", target])
            #expect(refused.status == 2, "\(target): \(refused.error)")
            #expect(refused.error.contains("--target \(target): \(why)"), "\(refused.error)")
        }
    }

    @Test(
        "the operator's limit (BULKHEAD_ALLOWED_RANGES) refuses a listed target outside it before any packet: error cells naming the variable, exit 3; a bad value: exit 2"
    )
    func addressLimit() throws {
        // One source: this test process's own namespace (root, as every probe needs). The --target 127.1.0.1 is
        // outside the limit 127.0.0.0/16; were the fence to fail, the probe would still stay on loopback.
        let inventory = InventoryReport(
            sources: ["test"], networks: [],
            containers: [
                ContainerRecord(
                    name: "here", id: "here", image: "none", state: "running", pid: Int(getpid()), netns: nil,
                    networkMode: "host", networks: [], publishedPorts: [], capabilities: [], privileged: false,
                    dockerSocketMounted: false, listening: [], labels: [:])
            ],
            namespaces: [], findings: [], complete: true, problems: [], summary: InventorySummary())
        let path = try self.temporary(
            "limit-inventory.json", String(decoding: try JSONEncoder().encode(inventory), as: UTF8.self))
        var environment = ProcessInfo.processInfo.environment
        environment[AddressLimit.variable] = "127.0.0.0/16"
        let arguments = [
            "probe", "--inventory", path, "--target", "127.1.0.1", "--ports", "tcp/9", "--attempts", "1", "--timeout",
            "1", "--format", "json", "--quiet",
        ]
        let refused = try AnalyzeCommandTests.run(arguments, environment: environment)
        #expect(refused.status == 3, "\(refused.error)")
        let report = try JSONDecoder().decode(ProbeReport.self, from: Data(refused.output.utf8))
        let cells = report.cells.filter { $0.address == "127.1.0.1" }
        #expect(!cells.isEmpty)
        for cell in cells {
            #expect(cell.state == .error, "\(cell.destination) \(cell.protocol)")
            #expect(
                cell.note?.contains("outside BULKHEAD_ALLOWED_RANGES (127.0.0.0/16): refused before any packet")
                    == true,
                "\(cell.note ?? "no note")")
            #expect(cell.evidence.allSatisfy { $0.outcome == .failed })
        }
        environment[AddressLimit.variable] = "127.0.0.0/16,127.1.0.1"
        let unreadable = try AnalyzeCommandTests.run(arguments, environment: environment)
        #expect(unreadable.status == 2)
        #expect(unreadable.error.contains("BULKHEAD_ALLOWED_RANGES: \"127.1.0.1\" is not a CIDR range"))
    }

    @Test("--help teaches: states, policy, exit codes, examples")
    func help() throws {
        let help = try AnalyzeCommandTests.run(["probe", "--help"])
        for fragment in ["reachable-closed", "--policy", "--evidence", "Exit status", "Examples"] {
            #expect(help.output.contains(fragment), "\(fragment)")
        }
        // --fail-on says what it decides here: every violation exits 1 whatever its severity (the shared wording,
        // "a finding at least this severe", said otherwise).
        let flat = help.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(
            flat.contains("--fail-on <severity> Every violation exits with status 1, whatever its severity"), "\(flat)")
    }

    @Test(
        "live: scenario run compares the exact matrix (exit 0); probe on the running lab reports the internal network's open gateway (exit 1) with nsenter lines",
        .enabled(if: DockerCLI.isAvailable, "no Docker engine or lab image"))
    func live() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        let net = try #require(try DockerCLI.freeSubnets(1).first)
        let scenario = try self.temporary(
            "cli-probe.yaml",
            """
            name: cli-probe
            networks:
              - { name: inner, subnet: \(net.cidr), internal: true }
            services:
              - { name: server, command: [busybox, httpd, -f, -p, "8080"], networks: { inner: \(net.address(10)) } }
              - { name: client, command: [sleep, "600"], networks: { inner: \(net.address(20)) } }
            probe: { attempts: 1, timeout: 0.5 }
            policy:
              baseline: deny
              allow:
                - { from: client, to: server, ports: [tcp/8080, icmp] }
                - { from: server, to: client, ports: [icmp] }
            expect:
              ignoreKinds: [net-raw-capability]
              findings:
                - { kind: unexpected-reachable, location: "* -> host \(net.address(1))*" }
                # the audit's TLS battery on the reached endpoint: busybox httpd speaks HTTP in clear
                - { kind: plaintext-accepted, location: "server \(net.address(10)):8080/tcp" }
              reachability:
                "client -> server@inner tcp/8080": reachable
                "* -> *@inner icmp": reachable
                "* -> host@inner icmp": { state: reachable, violation: unexpected-reachable }
                "* -> host@inner tcp/*": { state: reachable-closed, violation: unexpected-reachable }
            """)
        let run = try AnalyzeCommandTests.run(["scenario", "run", scenario, "--format", "json"])
        #expect(run.status == 0, "\(run.output.suffix(2000)) \(run.error)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        let reachability = try #require(document["reachability"] as? [String: Any])
        #expect((reachability["mismatches"] as? [Any])?.isEmpty == true)
        #expect(
            reachability["cellsCompared"] as? Int == 9,
            "client: server tcp/8080 + icmp, gateway 2375/2376/icmp; server: client icmp, gateway ×3")

        #expect(try AnalyzeCommandTests.run(["scenario", "up", scenario]).status == 0)
        defer { _ = try? AnalyzeCommandTests.run(["scenario", "down", scenario]) }
        let probe = try AnalyzeCommandTests.run([
            // Scoped to the lab: other containers on this host (another run's, a user's) are not this test's to probe.
            "probe", "--source", "cli-probe-client", "--scope-label", "bulkhead.scenario=cli-probe", "--timeout", "0.5",
            "--format", "json", "--quiet",
        ])
        #expect(probe.status == 1, "\(probe.error)")
        #expect(probe.error.contains("unexpected-reachable: cli-probe-client -> \(net.address(1))/icmp: nsenter -t "))
        let probeDocument = try #require(
            try JSONSerialization.jsonObject(with: Data(probe.output.utf8)) as? [String: Any])
        let cells = try #require(probeDocument["cells"] as? [[String: Any]])
        #expect(cells.allSatisfy { $0["source"] as? String == "cli-probe-client" })
        #expect(
            cells.contains {
                $0["destination"] as? String == "\(net.address(10)):8080" && $0["state"] as? String == "reachable"
                    && $0["violation"] is NSNull
            })
        // The scope guard: every probed address belongs to an enumerated container or is a network's gateway.
        let inventory = try #require(probeDocument["inventory"] as? [String: Any])
        var enumerated = Set<String>()
        for container in inventory["containers"] as? [[String: Any]] ?? [] {
            for network in container["networks"] as? [[String: Any]] ?? [] {
                for key in ["ipv4", "ipv6", "gateway"] {
                    if let address = network[key] as? String { enumerated.insert(address) }
                }
            }
        }
        for network in inventory["networks"] as? [[String: Any]] ?? [] {
            enumerated.formUnion(network["gateways"] as? [String] ?? [])
        }
        #expect(cells.allSatisfy { enumerated.contains($0["address"] as? String ?? "") }, "only enumerated addresses")
    }
}
