import BulkheadModel

/// Joins the evidence of every stage into edges — one per source → destination address:port/protocol — and gives
/// each a verdict. Probe cells, captured flows and TLS checks meet here, keyed by the destination address and port;
/// flow addresses are mapped back to container names through the inventory.
///
/// The builder knows no policy. ``join(probe:tls:capture:)`` gathers the facts of each edge and names the path the
/// policy is to be asked about (the probe's cell, or for an edge seen only in traffic, the path its flows took);
/// ``AuditJudgement`` evaluates every such path once, with the probe's cells, and hands the answers to
/// ``judge(_:answers:)``, which gives each edge its verdict.
public struct EdgeBuilder {
    /// Address → container name (gateways map to `host`).
    let names: [String: String]
    /// Address → network name.
    let networks: [String: String]

    /// An edge builder for one inventory (the address → name maps are made once).
    public init(inventory: InventoryReport) {
        var names: [String: String] = [:]
        var networks: [String: String] = [:]
        for network in inventory.networks {
            for gateway in network.gateways {
                names[gateway] = "host"
                networks[gateway] = network.name
            }
        }
        for container in inventory.containers {
            for network in container.networks {
                for address in [network.ipv4, network.ipv6].compactMap({ $0 }) {
                    names[address] = container.name
                    networks[address] = network.name
                }
            }
        }
        self.names = names
        self.networks = networks
    }

    struct Key: Hashable, Comparable {
        var source: String
        var address: String
        var port: Int
        var proto: ProbeProtocol
        static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.source, IPAddress(lhs.address) ?? IPAddress(ipv4: 0), lhs.port, lhs.proto) < (
                rhs.source, IPAddress(rhs.address) ?? IPAddress(ipv4: 0), rhs.port, rhs.proto
            )
        }
    }

    /// The path the policy is asked about for one edge.
    public enum Path: Sendable, Equatable {
        /// The probe's cell, by its index in the probe report's cells.
        case probed(cell: Int)
        /// An edge seen only in traffic: the path its flows took, as a cell the probe would have made (`reason`
        /// `traffic`, never probed).
        case traffic(ReachabilityCell)
    }

    /// The edges of an audit before judgement: their facts (no expectation, rule or verdict yet), each with its path.
    public struct Joined: Sendable {
        /// Sorted by source, destination address, port and protocol; `allowed` and `rule` nil, the verdict `unknown`.
        public var edges: [Edge]
        /// One per edge, in the same order.
        public var paths: [Path]

        /// The paths of the edges seen only in traffic, in edge order: what the judgement evaluates beside the
        /// probe's cells.
        public var trafficPaths: [ReachabilityCell] {
            self.paths.compactMap { path in
                guard case .traffic(let cell) = path else { return nil }
                return cell
            }
        }
    }

    /// The policy's answer for one edge's path, from the judgement's single evaluation.
    public struct Answer: Sendable {
        /// The expectation, and the rule that decided it.
        public var expected: Expectation?
        public var rule: String?
        /// The mTLS requirement (by name) covering the path, if any.
        public var mtlsRequirement: String?

        public init(expected: Expectation?, rule: String?, mtlsRequirement: String?) {
            self.expected = expected
            self.rule = rule
            self.mtlsRequirement = mtlsRequirement
        }
    }

    /// The container name behind an address, or the address itself when no container has it.
    public func name(of address: String) -> String { self.names[address] ?? address }

    /// Joins the probe's cells (facts), the captured flows and the TLS checks into edges, and names each edge's path.
    public func join(probe: ProbeReport?, tls: [String: EndpointTLS], capture: AnalysisReport?) -> Joined {
        var edges: [Key: (edge: Edge, path: Path)] = [:]
        for (index, cell) in (probe?.cells ?? []).enumerated()
        where cell.protocol != .icmp && cell.destinationKind != .explicit {
            guard let port = cell.port else { continue }
            let key = Key(source: cell.source, address: cell.address, port: port, proto: cell.protocol)
            let edge = Edge(
                source: cell.source, destination: cell.destinationKind == .gateway ? "host" : cell.destinationName,
                address: cell.address, port: port,
                protocol: cell.protocol, network: cell.network, allowed: nil,
                rule: nil, reachability: cell.state,
                traffic: nil, tls: nil, verdict: .unknown, reasons: []
            )
            edges[key] = (edge, .probed(cell: index))
        }
        // IPsec ESP between hosts is no service edge (it has no ports); what it carries cannot be read.
        for flow in capture?.flows ?? [] where flow.transport != .esp {
            guard let clientAddress = EndpointText.split(flow.client)?.address.description,
                let (serverAddress, port) = Self.split(flow.server)
            else { continue }
            let proto: ProbeProtocol = flow.transport == .udp ? .udp : .tcp
            let key = Key(source: self.name(of: clientAddress), address: serverAddress, port: port, proto: proto)
            var entry = edges[key] ?? self.trafficEdge(for: key)
            var traffic = entry.edge.traffic ?? EdgeTraffic()
            traffic.flows += 1
            if let tls = flow.tls {
                traffic.tlsFlows += 1
                if tls.clientCertificate.isHeuristic { traffic.clientCertificateInferred += 1 }
                if tls.clientCertificate.isPresented {
                    traffic.mutualTLSFlows += 1
                } else if tls.established && tls.clientCertificate != .unknown {
                    traffic.servedWithoutCertificate += 1
                }
                traffic.clientIdentities = Array(
                    Set(traffic.clientIdentities + (tls.clientCertificates.first?.sans ?? []))
                ).sorted()
                traffic.serverIdentities = Array(
                    Set(traffic.serverIdentities + (tls.serverCertificates.first?.sans ?? []))
                ).sorted()
            } else if !flow.encrypted {
                traffic.plaintextFlows += 1
            }
            traffic.credentialsInClear += flow.credentials.count
            if !traffic.protocols.contains(flow.proto.rawValue) {
                traffic.protocols = (traffic.protocols + [flow.proto.rawValue]).sorted()
            }
            entry.edge.traffic = traffic
            edges[key] = entry
        }
        for (endpoint, result) in tls {
            guard let (address, port) = Self.split(endpoint) else { continue }
            let matching = edges.keys.filter { $0.address == address && $0.port == port && $0.proto == .tcp }
            for key in matching { edges[key]?.edge.tls = result }
        }
        let sorted = edges.keys.sorted().compactMap { edges[$0] }
        return Joined(edges: sorted.map(\.edge), paths: sorted.map(\.path))
    }

    /// Gives each joined edge its verdict from the policy's answer for its path (one answer per edge, in order), and
    /// the findings only edges can show: mTLS requirements not met.
    public static func judge(_ joined: Joined, answers: [Answer]) -> (edges: [Edge], findings: [Finding]) {
        // mTLS requirements not met: one finding per endpoint (however many sources reach it), naming the sources.
        var unmet: [String: (requirement: String, reasons: Set<String>, sources: [String])] = [:]
        let result = zip(joined.edges, answers).map { edge, answer -> Edge in
            var edge = edge
            edge.allowed = answer.expected.map { $0 == .allow }
            edge.rule = answer.rule
            let requirement = answer.mtlsRequirement
            (edge.verdict, edge.reasons) = Self.verdict(edge, mtlsRequired: requirement != nil)
            let mtlsReasons = edge.reasons.filter {
                $0.hasPrefix("mTLS required") || $0.contains("accepts a client certificate")
            }
            if let requirement, edge.verdict == .violation, !mtlsReasons.isEmpty {
                let endpoint = Self.endpoint(of: edge)
                var entry = unmet[endpoint] ?? (requirement, [], [])
                entry.reasons.formUnion(mtlsReasons)
                entry.sources.append(edge.source)
                unmet[endpoint] = entry
            }
            return edge
        }
        let findings = unmet.keys.sorted().compactMap { endpoint -> Finding? in
            guard let entry = unmet[endpoint] else { return nil }
            return Finding(
                kind: .mtlsRequiredNotEnforced, severity: .high,
                title: "\(endpoint): the policy requires mutual TLS, and it is not enforced",
                detail:
                    "\(entry.requirement) requires mTLS here, but \(entry.reasons.sorted().joined(separator: "; ")). Reached from: \(entry.sources.joined(separator: ", ")).",
                location: endpoint
            )
        }
        return (result, findings)
    }

    /// An edge's destination as findings name it: `pay 198.18.51.12:8443/tcp`.
    static func endpoint(of edge: Edge) -> String {
        FindingLocation.endpoint(
            name: edge.destination, endpoint: ReachabilityCell.destinationText(address: edge.address, port: edge.port),
            transport: edge.protocol.rawValue)
    }

    /// An edge seen only in traffic, and the path its flows took (what the judgement asks the policy about).
    func trafficEdge(for key: Key) -> (edge: Edge, path: Path) {
        let destination = self.name(of: key.address)
        let network = self.networks[key.address]
        let cell = ReachabilityCell(
            source: key.source, destination: ReachabilityCell.destinationText(address: key.address, port: key.port),
            protocol: key.proto, state: .reachable,
            attempts: 0, latencyMs: nil, destinationName: destination,
            destinationKind: destination == "host"
                ? .gateway : (self.names[key.address] == nil ? .explicit : .container),
            network: network, address: key.address, port: key.port, reason: "traffic", sourcePid: nil, evidence: []
        )
        let edge = Edge(
            source: key.source, destination: destination, address: key.address, port: key.port, protocol: key.proto,
            network: network,
            allowed: nil, rule: nil, reachability: nil, traffic: nil, tls: nil,
            verdict: .unknown, reasons: [])
        return (edge, .traffic(cell))
    }

    /// The verdict and its reasons, worst first: policy violations, then blocked, then what crosses the edge.
    static func verdict(_ edge: Edge, mtlsRequired: Bool) -> (EdgeVerdict, [String]) {
        var reasons: [String] = []
        let open = edge.reachability?.isOpen == true || (edge.traffic?.flows ?? 0) > 0
        if edge.allowed == false, open {
            reasons.append(
                "denied by \(edge.rule ?? "the policy") yet \(edge.reachability?.isOpen == true ? "reachable" : "traffic was seen")"
            )
        }
        if edge.allowed == true, edge.reachability?.isBlocked == true {
            reasons.append("allowed by \(edge.rule ?? "the policy") yet \(edge.reachability?.rawValue ?? "blocked")")
        }
        // A path the probe found blocked, with no traffic seen on it, carries nothing: what the endpoint would do with a
        // client it never hears from does not make this edge a violation (the endpoint's own finding says it).
        if reasons.isEmpty, edge.reachability?.isBlocked == true, (edge.traffic?.flows ?? 0) == 0 {
            return (.blocked, ["\(edge.reachability?.rawValue ?? "blocked")"])
        }
        // A path the probe could not decide (skipped: a paused or stopped source; error; unknown) with no traffic seen
        // is not known to carry anything: the TLS battery ran from the audit's host, so the endpoint's verdict says
        // nothing about whether this source reaches it. Neither a pass nor a violation.
        if let state = edge.reachability, !state.isOpen, !state.isBlocked, (edge.traffic?.flows ?? 0) == 0 {
            let battery = edge.tls.map {
                "; the endpoint's own TLS verdict (\($0.verdict.rawValue)) is not this path's"
            }
            return (.unknown, ["probe: \(state.rawValue): this path was not established\(battery ?? "")"])
        }
        let tlsVerdict = edge.tls?.verdict
        let traffic = edge.traffic
        let rogue = tlsVerdict == .tlsAcceptsRogueClient || edge.tls?.refusesBadClients == false
        let enforced = tlsVerdict == .mtlsEnforced && edge.tls?.refusesBadClients != false
        let sawPlaintext = (traffic?.plaintextFlows ?? 0) > 0 || tlsVerdict == .plaintextAccepted
        let seen = tlsVerdict == nil ? traffic.flatMap(Self.trafficOnly) : nil
        if mtlsRequired && open {
            if rogue {
                reasons.append(
                    "the endpoint accepts a client certificate it should refuse (\(tlsVerdict?.rawValue ?? "bad client accepted"))"
                )
            }
            if sawPlaintext {
                reasons.append("mTLS required, plaintext \((traffic?.plaintextFlows ?? 0) > 0 ? "seen" : "accepted")")
            } else if !enforced && !rogue {
                let what = tlsVerdict?.rawValue ?? seen.map { $0.proven ? $0.reason : "not verified: \($0.reason)" }
                reasons.append("mTLS required, \(what ?? "not verified")")
            }
        }
        if !reasons.isEmpty { return (.violation, reasons) }
        if edge.reachability?.isBlocked == true && (traffic?.flows ?? 0) == 0 {
            return (.blocked, ["\(edge.reachability?.rawValue ?? "blocked")"])
        }
        // Without a policy requirement, the edge shows what the endpoint's TLS battery proved, worst first.
        if rogue { return (.tlsAcceptsRogueClient, ["the endpoint accepts a forged client certificate"]) }
        if sawPlaintext {
            return (
                .plaintext,
                [
                    (traffic?.plaintextFlows ?? 0) > 0
                        ? "\(traffic?.plaintextFlows ?? 0) plaintext flow(s) seen" : "the endpoint accepts plaintext"
                ]
            )
        }
        switch tlsVerdict {
        case .mtlsOptional?: return (.mtlsOptional, ["the endpoint serves clients without a certificate"])
        case .tlsNoClientAuth?: return (.tlsNoClientAuth, ["the endpoint never asks for a client certificate"])
        case .inconclusive?, .error?, .timeout?, .unreachable?:
            return (
                .inconclusive, ["TLS battery: \(tlsVerdict?.rawValue ?? "")\(edge.tls?.reason.map { ": \($0)" } ?? "")"]
            )
        case .mtlsEnforced?, .plaintextAccepted?, .tlsAcceptsRogueClient?, nil: break
        }
        if enforced { return (.mtlsEnforced, ["the endpoint refuses clients without an acceptable certificate"]) }
        if let seen { return (seen.proven ? .tlsNoClientAuth : .inconclusive, [seen.reason]) }
        if let tlsVerdict { return (.tlsNoClientAuth, [tlsVerdict.rawValue]) }
        if open { return (.openUnverified, ["reachable; no traffic seen and no TLS check made"]) }
        return (.unknown, [edge.reachability.map { "probe: \($0.rawValue)" } ?? "not probed"])
    }

    /// What TLS traffic alone says about client authentication, when no TLS check ran: `proven` when a flow was
    /// served without a client certificate (the endpoint does not enforce mTLS); otherwise nothing is proven either
    /// way. Traffic shows what the clients did, not what the endpoint would refuse: a server that only asks for a
    /// certificate sees the same handshakes from clients that have one, so mutual TLS seen is never
    /// `mtls-enforced`; only the battery's forged and missing certificates prove that. Nil without TLS flows.
    static func trafficOnly(_ traffic: EdgeTraffic) -> (proven: Bool, reason: String)? {
        guard traffic.tlsFlows > 0 else { return nil }
        let untested = "no TLS check tested whether the endpoint refuses clients without one"
        // TLS 1.3 without keys: the states come from record sizes, and the reason says so.
        let inferred =
            traffic.clientCertificateInferred > 0
            ? ", \(traffic.clientCertificateInferred) of them inferred from TLS 1.3 record sizes" : ""
        if traffic.servedWithoutCertificate > 0 {
            return (
                true,
                "\(traffic.servedWithoutCertificate) of \(traffic.tlsFlows) TLS flow(s) seen served without a client "
                    + "certificate (traffic only: no TLS check made\(inferred))"
            )
        }
        if traffic.mutualTLSFlows == traffic.tlsFlows {
            return (
                false,
                "every TLS flow seen (\(traffic.tlsFlows)\(inferred)) presented a client certificate, but \(untested)"
            )
        }
        return (
            false,
            "no TLS flow seen was served without a client certificate (\(traffic.mutualTLSFlows) of "
                + "\(traffic.tlsFlows) presented one\(inferred); the others were refused or their handshake was not "
                + "seen), and \(untested)"
        )
    }

    /// `198.18.1.2:80` / `[2001:2::1]:80` → (address, port); nil without a port.
    static func split(_ endpoint: String) -> (String, Int)? {
        guard let (address, port) = EndpointText.split(endpoint), let port else { return nil }
        return (address.description, port)
    }
}

/// Where the audit says a finding about an endpoint is, one spelling for every stage: the edges' mTLS findings,
/// the TLS stage's and the capture's findings alike, so accepted risks and baselines match them all the same way.
enum FindingLocation {
    /// `name address:port/transport`: `pay 198.18.51.12:8443/tcp`, `db [2001:db8::5]:5432/tcp`. `endpoint` is written
    /// as reports write endpoints (`ReachabilityCell.destinationText`: an IPv6 address in brackets).
    static func endpoint(name: String, endpoint: String, transport: String) -> String {
        "\(name) \(endpoint)/\(transport)"
    }
}
