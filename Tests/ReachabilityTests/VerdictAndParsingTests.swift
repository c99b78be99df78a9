import BulkheadModel
import Testing

@testable import Reachability

@Suite("Cell verdicts")
struct CellVerdictTests {
    func attempt(_ outcome: AttemptOutcome) -> ProbeAttempt { ProbeAttempt(outcome: outcome, latencyMs: 1) }

    @Test(
        "one success proves the path; mixed is flapping; ICMP beats silence; UDP silence is unknown; failures are errors"
    )
    func rules() {
        #expect(CellVerdict.state(for: [attempt(.connected)], protocol: .tcp) == .reachable)
        #expect(CellVerdict.state(for: [attempt(.refused)], protocol: .tcp) == .reachableClosed)
        #expect(CellVerdict.state(for: [attempt(.portUnreachable)], protocol: .udp) == .reachableClosed)
        #expect(CellVerdict.state(for: [attempt(.timeout), attempt(.connected)], protocol: .tcp) == .flapping)
        #expect(CellVerdict.state(for: [attempt(.icmpError), attempt(.refused)], protocol: .tcp) == .flapping)
        #expect(CellVerdict.state(for: [attempt(.icmpError), attempt(.timeout)], protocol: .tcp) == .rejected)
        #expect(CellVerdict.state(for: [attempt(.timeout), attempt(.timeout)], protocol: .tcp) == .filtered)
        #expect(CellVerdict.state(for: [attempt(.timeout), attempt(.timeout)], protocol: .icmp) == .filtered)
        #expect(CellVerdict.state(for: [attempt(.timeout), attempt(.timeout)], protocol: .udp) == .unknown)
        #expect(CellVerdict.state(for: [attempt(.failed), attempt(.failed)], protocol: .tcp) == .error)
        // A failed attempt beside a timeout: one attempt the verdict needs did not happen, so silence is no filter
        // (it was `filtered`, and a reset right after the handshake, then a dropped retry, read as blocked).
        #expect(CellVerdict.state(for: [attempt(.failed), attempt(.timeout)], protocol: .tcp) == .error)
        #expect(CellVerdict.state(for: [attempt(.timeout), attempt(.failed)], protocol: .icmp) == .error)
        #expect(CellVerdict.state(for: [attempt(.failed), attempt(.timeout)], protocol: .udp) == .error)
        #expect(CellVerdict.state(for: [attempt(.failed), attempt(.icmpError)], protocol: .tcp) == .rejected)
        // UDP: a lost datagram proves nothing, a reply proves the path (it was `flapping`).
        #expect(CellVerdict.state(for: [attempt(.timeout), attempt(.connected)], protocol: .udp) == .reachable)
        #expect(
            CellVerdict.state(for: [attempt(.timeout), attempt(.portUnreachable)], protocol: .udp) == .reachableClosed)
        #expect(CellVerdict.state(for: [attempt(.icmpError), attempt(.connected)], protocol: .udp) == .flapping)
        // A refusal from a port the destination listens on is a firewall's REJECT.
        #expect(
            CellVerdict.state(for: [attempt(.refused), attempt(.refused)], protocol: .tcp, refusalsAreRejections: true)
                == .rejected)
        #expect(
            CellVerdict.state(
                for: [attempt(.portUnreachable), attempt(.connected)], protocol: .udp, refusalsAreRejections: true)
                == .flapping)
        #expect(CellVerdict.state(for: [], protocol: .tcp) == .error)
        #expect(
            CellState.flapping.isOpen && !CellState.error.isBlocked && !CellState.unknown.isBlocked
                && !CellState.error.isOpen)
    }
}

@Suite("ICMP messages from the raw socket")
struct ICMPMessageTests {
    /// An IPv4 header (20 bytes) for protocol 1 from 198.18.1.1.
    func outer() -> [UInt8] { [0x45, 0, 0, 56, 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 1, 1, 198, 18, 1, 20] }

    @Test("echo reply, unreachable quoting TCP / UDP / echo, IPv6")
    func parse() {
        let reply = outer() + [0, 0, 0, 0, 0x12, 0x34, 0x00, 0x07]
        #expect(ICMPMessage.parse(reply[...], v6: false) == .echoReply(identifier: 0x1234, sequence: 7))
        let quotedTCP: [UInt8] = [
            0x45, 0, 0, 60, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 1, 20, 198, 18, 1, 10, 0xc3, 0x50, 0x1f, 0x91, 0, 0, 0, 1,
        ]
        let prohibited = outer() + [3, 13, 0, 0, 0, 0, 0, 0] + quotedTCP
        #expect(
            ICMPMessage.parse(prohibited[...], v6: false)
                == .unreachable(
                    type: 3, code: 13, quoted: .transport(proto: 6, sourcePort: 50000, destination: "198.18.1.10")))
        let quotedEcho: [UInt8] = [
            0x45, 0, 0, 60, 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 1, 20, 198, 18, 1, 10, 8, 0, 0, 0, 0xab, 0xcd, 0, 2,
        ]
        let echoUnreachable = outer() + [3, 1, 0, 0, 0, 0, 0, 0] + quotedEcho
        #expect(
            ICMPMessage.parse(echoUnreachable[...], v6: false)
                == .unreachable(
                    type: 3, code: 1, quoted: .echo(identifier: 0xabcd, sequence: 2, destination: "198.18.1.10")))
        var v6Quoted = [UInt8](repeating: 0, count: 40)
        v6Quoted[0] = 0x60
        v6Quoted[6] = 17
        v6Quoted[24] = 0x20
        v6Quoted[25] = 0x01
        v6Quoted[26] = 0x00
        v6Quoted[27] = 0x02
        v6Quoted[39] = 0x10
        let v6 = [1, 4, 0, 0, 0, 0, 0, 0] + v6Quoted + [0x13, 0x88, 0x00, 0x35, 0, 8, 0, 0]
        #expect(
            ICMPMessage.parse(v6[...], v6: true)
                == .unreachable(
                    type: 1, code: 4, quoted: .transport(proto: 17, sourcePort: 5000, destination: "2001:2::10")))
    }

    @Test("truncated and hostile messages are ignored, never trusted")
    func hostile() {
        let full =
            outer() + [3, 3, 0, 0, 0, 0, 0, 0] + [
                0x45, 0, 0, 60, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 1, 20, 198, 18, 1, 10, 0, 1, 0, 2, 0, 8, 0, 0,
            ]
        for length in 0..<full.count {
            _ = ICMPMessage.parse(full.prefix(length), v6: false)
            _ = ICMPMessage.parse(full.prefix(length), v6: true)
        }
        var badIHL = full
        badIHL[0] = 0x4f  // header length 60: past the quoted packet
        #expect(ICMPMessage.parse(badIHL[...], v6: false) == nil)
        #expect(ICMPMessage.parse([0x60, 0, 0][...], v6: false) == nil)
    }
}

@Suite("Probe planning")
struct ProbePlannerTests {
    static func inventory() -> InventoryReport {
        func container(
            _ name: String, _ pid: Int?, _ state: String, _ networks: [ContainerNetwork], listening: [ListeningSocket],
            mode: String = "net"
        ) -> ContainerRecord {
            ContainerRecord(
                name: name, id: name, image: "lab", state: state, pid: pid, netns: nil, networkMode: mode,
                networks: networks,
                publishedPorts: [], capabilities: [], privileged: false, dockerSocketMounted: false,
                listening: listening, labels: [:])
        }
        let network = NetworkRecord(
            name: "net", id: "n", driver: "bridge", scope: "local", subnets: ["198.18.40.0/24"],
            gateways: ["198.18.40.1"],
            internal: false, icc: true, encrypted: nil, attachable: false, isDefaultBridge: false, bridge: "br-n",
            containers: ["a", "b", "c"], labels: [:])
        return InventoryReport(
            sources: [], networks: [network],
            containers: [
                container(
                    "a", 100, "running",
                    [
                        ContainerNetwork(
                            name: "net", ipv4: "198.18.40.10", ipv6: nil, gateway: "198.18.40.1", aliases: [])
                    ],
                    listening: [
                        ListeningSocket(proto: "tcp", address: "0.0.0.0", port: 80),
                        ListeningSocket(proto: "tcp", address: "127.0.0.1", port: 9000),
                        ListeningSocket(proto: "udp", address: "198.18.40.10", port: 53),
                    ]),
                container(
                    "b", 200, "running",
                    [
                        ContainerNetwork(
                            name: "net", ipv4: "198.18.40.11", ipv6: nil, gateway: "198.18.40.1", aliases: [])
                    ], listening: []),
                container("c", nil, "exited", [], listening: []),
            ], namespaces: [], findings: [], complete: true, problems: [], summary: InventorySummary())
    }

    @Test(
        "targets: listeners that accept outside connections, ICMP, the host side; a stopped source is skipped; the scope holds single addresses"
    )
    func plan() throws {
        let plan = try ProbePlanner.plan(inventory: Self.inventory(), options: ProbeOptions())
        let fromB = plan.cells.filter { $0.source == "b" }.map { "\($0.destination)/\($0.protocol.rawValue)" }
        #expect(
            fromB == [
                "198.18.40.10:80/tcp", "198.18.40.10:53/udp", "198.18.40.10/icmp", "198.18.40.1:2375/tcp",
                "198.18.40.1:2376/tcp", "198.18.40.1/icmp",
            ])
        #expect(!plan.cells.contains { $0.port == 9000 }, "a listener on 127.0.0.1 is not reachable from elsewhere")
        #expect(
            plan.cells.filter { $0.source == "c" }.allSatisfy {
                $0.state == .skipped && $0.note == "container is exited"
            }, "a stopped source's row is skipped, with the reason")
        #expect(plan.sources.first { $0.name == "c" }?.skipReason == "container is exited")
        #expect(
            plan.scope.addresses == Set(["198.18.40.10", "198.18.40.11", "198.18.40.1"].compactMap(IPAddress.init)))
        #expect(!plan.scope.permits(IPAddress("198.18.40.12")!), "never the rest of the subnet")
    }

    @Test("extra ports, explicit targets widen the scope by exactly one address, a CIDR target is refused")
    func extras() throws {
        var options = ProbeOptions()
        options.extraPorts = [try #require(PortSpec("tcp/22")), try #require(PortSpec("udp/8000-8001"))]
        options.explicitTargets = ["198.18.41.5"]
        let plan = try ProbePlanner.plan(inventory: Self.inventory(), options: options)
        #expect(plan.scope.permits(IPAddress("198.18.41.5")!) && !plan.scope.permits(IPAddress("198.18.41.6")!))
        #expect(
            plan.cells.filter { $0.source == "a" && $0.destinationKind == .explicit }.map(\.destination) == [
                "198.18.41.5:22", "198.18.41.5:8000", "198.18.41.5:8001", "198.18.41.5",
            ])
        options.explicitTargets = ["198.18.41.0/24"]
        #expect(throws: ProbePlanError.self) { try ProbePlanner.plan(inventory: Self.inventory(), options: options) }
        #expect(
            PortSpec("icmp/1") == nil && PortSpec("tcp/0") == nil && PortSpec("tcp/9-8") == nil
                && PortSpec("80")?.proto == .tcp)
    }

    @Test(
        "a --target that is no single host is refused, naming the option and why: unspecified, multicast, limited broadcast, an enumerated subnet's network and broadcast"
    )
    func notSingleHosts() throws {
        func refusal(_ target: String, _ inventory: InventoryReport = ProbePlannerTests.inventory()) -> String? {
            var options = ProbeOptions()
            options.explicitTargets = [target]
            do {
                _ = try ProbePlanner.plan(inventory: inventory, options: options)
                return nil
            } catch {
                return error.message
            }
        }
        for (target, why) in [
            ("0.0.0.0", "the unspecified address"), ("::", "the unspecified address"),
            ("224.0.0.1", "a multicast address"), ("ff02::1", "a multicast address"),
            ("255.255.255.255", "the limited broadcast address"),
            ("198.18.40.255", "the broadcast address of 198.18.40.0/24 (network net)"),
            ("198.18.40.0", "the network address of 198.18.40.0/24 (network net)"),
        ] {
            let message = refusal(target)
            #expect(message?.hasPrefix("--target \(target): \(why)") == true, "\(target): \(message ?? "accepted")")
            #expect(message?.contains("not a single host") == true, "\(target): \(message ?? "accepted")")
        }
        // A host the inventory knows at what is the broadcast of another subnet it knows is a host (a /23 beside a
        // /24); so is an address in no enumerated subnet, and a /31's two ends (RFC 3021).
        var inventory = ProbePlannerTests.inventory()
        inventory.networks[0].subnets.append("198.18.42.0/31")
        inventory.containers[0].networks.append(
            ContainerNetwork(name: "wide", ipv4: "198.18.40.255", ipv6: nil, gateway: nil, aliases: []))
        #expect(refusal("198.18.40.255", inventory) == nil)
        #expect(refusal("198.18.41.5", inventory) == nil)
        #expect(refusal("198.18.42.0", inventory) == nil && refusal("198.18.42.1", inventory) == nil)
        // The scope guard itself never admits such an address, whoever enumerated it.
        var scope = ScopeGuard()
        for text in ["0.0.0.0", "224.0.0.1", "255.255.255.255", "::", "ff02::1", "198.18.40.10"] { scope.allow(text) }
        #expect(scope.addresses == Set([IPAddress("198.18.40.10")].compactMap { $0 }), "\(scope.addresses)")
        let multicast = try #require(IPAddress("224.0.0.1"))
        let unspecified = try #require(IPAddress("0.0.0.0"))
        #expect(scope.refusal(multicast).contains("a multicast address") && !scope.permits(unspecified))
    }
}

@Suite("Endpoint and port text")
struct EndpointTextTests {
    @Test("endpoints with and without ports, IPv6 in brackets, folded client ports; ports and ranges")
    func parse() {
        #expect(EndpointText.split("198.18.1.2:80").map { "\($0.address) \($0.port ?? -1)" } == "198.18.1.2 80")
        #expect(EndpointText.split("198.18.1.2:*").map { "\($0.address) \($0.port ?? -1)" } == "198.18.1.2 -1")
        #expect(EndpointText.split("[2001:2::1]:443").map { "\($0.address) \($0.port ?? -1)" } == "2001:2::1 443")
        #expect(EndpointText.split("2001:2::1").map { "\($0.address) \($0.port ?? -1)" } == "2001:2::1 -1")
        #expect(EndpointText.split("web:80") == nil && EndpointText.split("") == nil)
        #expect(PortSpec("udp/53")?.range == 53...53 && PortSpec("tcp/8000-8010")?.range.count == 11)
        #expect(PortSpec("tcp/70000") == nil && PortSpec("sctp/1") == nil && PortSpec("tcp/") == nil)
    }
}
