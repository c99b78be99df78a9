import BulkheadModel
import BulkheadTestSupport
import Foundation
import Policy
import Testing

@testable import Lab

/// Moving a scenario off subnets the host already uses: the plan, the rewriting of the file's addresses, and the
/// host's routes as the kernel lists them. (Against a real engine: `ScenarioRelocationCommandTests`.)
@Suite("Scenario relocation")
struct ScenarioRelocationTests {
    static func space(_ ranges: String...) -> LabAddressSpace {
        LabAddressSpace(taken: ranges.map { .init(cidr: $0, holder: "Docker network other") })
    }

    @Test("routes from /proc/net/route: addresses in memory order, the default route left out")
    func routes() {
        let text = """
            Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
            eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
            eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
            docker0\t00FF13C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
            br-1\t000012C6\t00000000\t0001\t0\t0\t0\t0000FEFF\t0\t0\t0
            short\t00FF
            """
        let routes = LabAddressSpace.routes(fromProcNetRoute: text)
        #expect(
            routes == [
                .init(cidr: "192.0.2.0/24", holder: "route on eth0"),
                .init(cidr: "198.19.255.0/24", holder: "route on docker0"),
                .init(cidr: "198.18.0.0/15", holder: "route on br-1"),
            ])
    }

    @Test("addresses are rewritten where a moved /24 begins them, nowhere else")
    func rewrite() {
        let prefixes = ["198.18.4.": "198.19.4.", "198.18.40.": "198.18.7."]
        let text = "198.18.4.1 198.18.40.7 1198.18.4.5 x198.18.4.9 198.18.4.0/24 198.18.4. 2.198.18.4.3 [198.18.40.2]"
        #expect(
            ScenarioRelocation.rewrite(text, prefixes: prefixes)
                == "198.19.4.1 198.18.7.7 1198.18.4.5 x198.19.4.9 198.19.4.0/24 198.18.4. 2.198.18.4.3 [198.18.7.2]")
        #expect(ScenarioRelocation.rewrite("198.18.4.1", prefixes: [:]) == "198.18.4.1")
        #expect(ScenarioRelocation.rewrite("", prefixes: prefixes) == "")
    }

    @Test("nothing taken: the file's own scenario, no moves")
    func nothingTaken() throws {
        let path = Repository.path("scenarios/firewall.yaml")
        let (scenario, relocation) = try Scenario.load(path: path, relocatingAround: Self.space("10.0.0.0/8"))
        #expect(relocation.moves.isEmpty)
        #expect(scenario.networks.map(\.subnet) == ["198.18.30.0/24"])
    }

    @Test("a taken /24 moves to its mirror in the other half, every address of the file with it")
    func mirror() throws {
        let path = Repository.path("scenarios/firewall.yaml")
        let (scenario, relocation) = try Scenario.load(path: path, relocatingAround: Self.space("198.18.30.128/25"))
        #expect(
            relocation.moves.map(\.description) == [
                "network net moved from 198.18.30.0/24 to 198.19.30.0/24 (198.18.30.0/24 overlaps Docker network other (198.18.30.128/25))"
            ])
        #expect(scenario.networks.map(\.subnet) == ["198.19.30.0/24"])
        #expect(scenario.services.first { $0.name == "server" }?.networks?["net"] == "198.19.30.10")
        #expect(scenario.expect?.findings?.map(\.location) == ["server 198.19.30.10:8080/tcp"])
        // Anything else of the file is the same.
        #expect(scenario.expect?.reachability?.count == 13)
        #expect(scenario.firewall?.count == 4)
    }

    @Test("the mirror taken too: the first free /24, never one the scenario or another move uses")
    func firstFree() throws {
        let yaml = """
            name: crowded
            networks:
              - { name: a, subnet: 198.18.1.0/24 }
              - { name: b, subnet: 198.18.2.0/26 }
              - { name: c, subnet: 198.18.0.0/24 }
            services:
              - { name: s, command: [sleep, "60"], networks: { a: 198.18.1.5, b: 198.18.2.5, c: 198.18.0.5 } }
            traffic:
              - { from: s, command: [wget, "http://198.18.2.5:8080/", "-O", "-"] }
            """
        try TemporaryFile.with(yaml, named: "crowded.yaml") { path in
            let (scenario, relocation) = try Scenario.load(
                path: path,
                relocatingAround: Self.space("198.18.1.0/24", "198.18.2.0/24", "198.19.1.0/24", "198.19.0.0/24"))
            // a: mirror 198.19.1 taken; 198.18.0 is c's, 198.18.1 and .2 taken: 198.18.3. b: mirror 198.19.2 free.
            #expect(relocation.moves.map(\.to) == ["198.18.3.0/24", "198.19.2.0/26"])
            #expect(scenario.networks.map(\.subnet) == ["198.18.3.0/24", "198.19.2.0/26", "198.18.0.0/24"])
            #expect(
                scenario.services[0].networks == ["a": "198.18.3.5", "b": "198.19.2.5", "c": "198.18.0.5"])
            #expect(scenario.traffic?.first?.command[1] == "http://198.19.2.5:8080/")
        }
    }

    @Test("the demo moved whole: no address of a taken range is left anywhere in it")
    func demo() throws {
        let path = Repository.path("scenarios/demo.yaml")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let space = Self.space("198.18.0.0/16")
        let (scenario, relocation) = try Scenario.load(path: path, relocatingAround: space)
        #expect(relocation.moves.map(\.to) == ["198.19.40.0/24", "198.19.41.0/24", "198.19.42.0/24"])
        #expect(scenario.conflicts(in: space).isEmpty)
        #expect(text.contains("198.18.") && !relocation.apply(to: text).contains("198.18."))
        #expect(scenario.pki?.certificates.contains { $0.sans?.contains("IP:198.19.41.30") == true } == true)
    }

    @Test("what cannot be moved is refused, naming the network and what holds its range")
    func refused() throws {
        let yaml = """
            name: wide
            networks:
              - { name: big, subnet: 198.18.0.0/23 }
            services:
              - { name: s, command: [sleep, "60"], networks: { big: null } }
            """
        try TemporaryFile.with(yaml, named: "wide.yaml") { path in
            #expect {
                _ = try Scenario.load(path: path, relocatingAround: Self.space("198.18.1.0/24"))
            } throws: { error in
                "\(error)".contains("networks.big.subnet 198.18.0.0/23 overlaps Docker network other (198.18.1.0/24)")
                    && "\(error)".contains("a /24 or smaller") && "\(error)".contains(path)
            }
        }
        let full = Self.space("198.18.0.0/15")
        #expect {
            _ = try Scenario.load(path: Repository.path("scenarios/flat.yaml"), relocatingAround: full)
        } throws: { error in
            "\(error)".contains("no /24 of 198.18.0.0/15 is free")
        }
        let scenario = try Scenario.load(path: Repository.path("scenarios/flat.yaml"))
        #expect(scenario.conflicts(in: full).map(\.network.name) == ["net"])
    }

    @Test("a range wider than a /24 moves only where it would still mean the same networks")
    func wideRanges() throws {
        #expect(
            ScenarioRelocation.cidrs(
                in: "to: { cidr: 198.18.40.0/23 }, 1.2.3.4/5/6, x10.0.0.0/8, 198.18.1.1, 7.7.7.7/33")
                == ["198.18.40.0/23", "10.0.0.0/8"])
        func yaml(_ range: String) -> String {
            """
            name: wide-policy
            networks:
              - { name: a, subnet: 198.18.40.0/24 }
              - { name: b, subnet: 198.18.41.0/24 }
            services:
              - { name: s, command: [sleep, "60"], networks: { a: 198.18.40.5, b: 198.18.41.5 } }
            policy:
              deny:
                - { from: s, to: { cidr: \(range) } }
            """
        }
        // Both networks move together: the range moves with its first /24 and still holds both.
        try TemporaryFile.with(yaml("198.18.40.0/23"), named: "wide-policy.yaml") { path in
            let (scenario, relocation) = try Scenario.load(
                path: path, relocatingAround: Self.space("198.18.40.0/24", "198.18.41.0/24"))
            #expect(relocation.moves.map(\.to) == ["198.19.40.0/24", "198.19.41.0/24"])
            #expect(scenario.policy?.deny.first?.to.first?.cidr == "198.19.40.0/23")
        }
        // Only b moves: the range would no longer hold it.
        try TemporaryFile.with(yaml("198.18.40.0/23"), named: "wide-policy.yaml") { path in
            #expect {
                _ = try Scenario.load(path: path, relocatingAround: Self.space("198.18.41.0/24"))
            } throws: { error in
                "\(error)".contains("network b cannot move from 198.18.41.0/24 to 198.19.41.0/24")
                    && "\(error)".contains("the range 198.18.40.0/23 in the file")
            }
        }
        // A range that would take a moved network in.
        try TemporaryFile.with(yaml("198.19.0.0/16"), named: "wide-policy.yaml") { path in
            #expect {
                _ = try Scenario.load(path: path, relocatingAround: Self.space("198.18.40.0/24"))
            } throws: { error in
                "\(error)".contains("network a cannot move") && "\(error)".contains("198.19.0.0/16")
            }
        }
    }
}
