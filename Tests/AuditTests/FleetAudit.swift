import Audit
import BulkheadModel
import Policy

/// A generated audit the size of a busy host: 5 networks × 10 containers (one network internal, one with
/// inter-container communication off, two containers on two networks), every container probed towards every other
/// it shares a network with on each listening port, a few paths across networks (two of them violations), and one
/// TLS verdict of every kind. Built from evidence values through the same `AuditRunner.assemble` as `--evidence`.
enum FleetAudit {
    static let networkNames = ["payments", "storefront", "identity", "analytics", "backoffice"]

    static func name(_ network: Int, _ index: Int) -> String {
        let roles = ["api", "worker", "db", "cache", "gateway", "search", "ledger", "mailer", "auth", "metrics"]
        return "\(Self.networkNames[network])-\(roles[index])"
    }

    static func address(_ network: Int, _ index: Int) -> String { "198.18.\(70 + network).\(10 + index)" }

    /// The ports a container listens on: TLS on 8443 for most, HTTP in clear on 8080 for every third, PostgreSQL on
    /// the databases.
    static func ports(_ index: Int) -> [Int] {
        var ports = index % 3 == 0 ? [8080] : []
        if index != 7 { ports.append(8443) }
        if index == 2 { ports.append(5432) }
        return ports
    }

    static func report(networks count: Int = 5, perNetwork: Int = 10) -> AuditReport {
        var networks: [NetworkRecord] = []
        var containers: [ContainerRecord] = []
        for network in 0..<count {
            networks.append(
                SampleAudit.network(
                    Self.networkNames[network], "198.18.\(70 + network).0/24", isInternal: network == 3,
                    icc: network != 4))
            for index in 0..<perNetwork {
                var attached = [(Self.networkNames[network], Self.address(network, index))]
                // The gateways also join the next network: the cross-network bridges an audit must show.
                if index == 4, network + 1 < count {
                    attached.append((Self.networkNames[network + 1], "198.18.\(70 + network + 1).\(100 + network)"))
                }
                var container = SampleAudit.container(Self.name(network, index), attached)
                container.listening = Self.ports(index).map {
                    ListeningSocket(proto: "tcp", address: "0.0.0.0", port: $0)
                }
                containers.append(container)
            }
        }
        // Networks with nothing on them, as every Docker host has.
        for empty in ["bridge", "host", "none"] { networks.append(SampleAudit.network(empty, "198.18.99.0/24")) }

        var cells: [ReachabilityCell] = []
        var tls: [String: EndpointTLS] = [:]
        let verdicts: [TLSVerdict] = [
            .tlsAcceptsRogueClient, .mtlsEnforced, .mtlsOptional, .tlsNoClientAuth, .inconclusive, .mtlsEnforced,
        ]
        for network in 0..<count {
            for destination in 0..<perNetwork {
                let address = Self.address(network, destination)
                for port in Self.ports(destination) {
                    let endpoint = "\(address):\(port)"
                    if port == 8080 {
                        tls[endpoint] = EndpointTLS(
                            verdict: .plaintextAccepted, refusesBadClients: nil, serverIdentities: [])
                    } else {
                        let verdict = verdicts[(network + destination) % verdicts.count]
                        tls[endpoint] = EndpointTLS(
                            verdict: verdict,
                            refusesBadClients: verdict == .tlsAcceptsRogueClient
                                ? false : (verdict == .mtlsEnforced ? true : nil),
                            serverIdentities: ["spiffe://fleet.test/\(Self.name(network, destination))"],
                            reason: verdict == .inconclusive
                                ? "the server closes every connection after the handshake" : nil,
                            probedFrom: Self.name(network, (destination + 1) % perNetwork))
                    }
                    for source in 0..<perNetwork where source != destination {
                        // With inter-container communication off, the bridge drops container-to-container traffic.
                        let state: CellState = network == 4 ? .filtered : .reachable
                        cells.append(
                            SampleAudit.cell(
                                Self.name(network, source), Self.name(network, destination), Self.networkNames[network],
                                address, port, state))
                    }
                }
            }
            // Across networks: from every container of the next network to this network's api, filtered as Docker
            // intends, except two that get through.
            if network + 1 < count {
                for source in 0..<perNetwork {
                    let state: CellState =
                        (network == 0 && source == 1) || (network == 2 && source == 6) ? .reachable : .filtered
                    cells.append(
                        SampleAudit.cell(
                            Self.name(network + 1, source), Self.name(network, 0), Self.networkNames[network],
                            Self.address(network, 0), 8443, state))
                }
            }
        }
        let inventory = InventoryReport(
            sources: ["generated"], networks: networks, containers: containers, namespaces: [], findings: [],
            complete: true, problems: [], summary: InventorySummary())
        let probe = ProbeReport(
            generatedAt: "2026-12-03T12:00:00Z", policy: "",
            settings: ProbeSettings(
                attempts: 1, timeoutsSeconds: [:], maxInFlight: 1, maxInFlightPerDestination: 1, extraPorts: [],
                explicitTargets: []),
            inventory: inventory, sources: [], cells: cells, findings: [], complete: true, problems: [],
            summary: ProbeSummary())
        let evidence = AuditEvidence(inventory: inventory, probe: probe, tls: tls, capture: nil, tlsFindings: nil)
        let stages = [
            AuditStage(name: "inventory", status: .ran, durationSeconds: 0.05, note: nil),
            AuditStage(name: "probe", status: .ran, durationSeconds: 2.9, note: nil),
            AuditStage(name: "tls", status: .ran, durationSeconds: 4.1, note: nil),
        ]
        return AuditRunner.assemble(
            evidence: evidence, stages: stages, policy: .dockerDefault,
            policyName: "docker default (no --policy given)", problems: [])
    }
}
