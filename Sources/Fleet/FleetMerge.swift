import BulkheadModel
import Foundation
import Reporting

/// How `bulkhead merge` treats its input.
public struct FleetMergeOptions: Sendable {
    /// Merge plain single-host reports (no cluster identity), each host as a node named by its host name.
    public var allowStandalone = false
    /// Node IDs the fleet must have a report from, besides those a full-view report names.
    public var expectedNodes: [String] = []
    /// The fleet report's time.
    public var generatedAt: String

    public init(allowStandalone: Bool = false, expectedNodes: [String] = [], generatedAt: String) {
        self.allowStandalone = allowStandalone
        self.expectedNodes = expectedNodes
        self.generatedAt = generatedAt
    }
}

/// Joins the audit reports of a cluster's nodes into one fleet report: refuses reports that do not belong together,
/// deduplicates edges (judged from both ends: agreeing evidence joined, disagreeing evidence kept as a disagreement
/// and the worse verdict kept) and findings (by identity), and says per node whether its part is complete.
public enum FleetMerge {
    /// One node's identity in the merge.
    struct Identity {
        var nodeID: String
        var nodeName: String
        var role: ClusterNode.Role?
        var fullView: Bool?
        var cluster: ClusterNode?
    }

    /// The fleet report of `reports` (one per node, in the order given: the node rows keep it).
    ///
    /// - Throws: `FleetMergeError` naming the file: no reports, a report without cluster identity (unless
    ///   `allowStandalone`), reports of different clusters, two reports of the same node.
    public static func merge(_ reports: [NodeReport], options: FleetMergeOptions) throws(FleetMergeError)
        -> FleetReport
    {
        guard !reports.isEmpty else {
            throw FleetMergeError(.noReports, path: "-", message: "no node reports to merge")
        }
        let identities = try Self.identities(reports, allowStandalone: options.allowStandalone)

        // Node rows: every report, then every node the cluster names that sent none.
        var nodes: [FleetNode] = []
        var problems: [String] = []
        for (report, identity) in zip(reports, identities) {
            let status: FleetNode.Status = report.complete ? .complete : .incomplete
            nodes.append(
                FleetNode(
                    nodeID: identity.nodeID, nodeName: identity.nodeName, role: identity.role,
                    fullView: identity.fullView, status: status, file: report.path, host: report.host,
                    generatedAt: report.generatedAt, policy: report.policy, edges: report.edges.count,
                    findings: report.findings.count, durationSeconds: report.summary.durationSeconds,
                    problems: report.problems))
            if !report.complete {
                let why =
                    report.problems.isEmpty
                    ? "its report says it is incomplete" : report.problems.joined(separator: "; ")
                problems.append("node \(identity.nodeName) (\(identity.nodeID), \(report.path)) is incomplete: \(why)")
            }
        }
        let reported = Set(identities.map(\.nodeID))
        var expected: [(id: String, name: String, role: ClusterNode.Role?, namedBy: String)] = []
        for (report, identity) in zip(reports, identities) {
            for member in identity.cluster?.members ?? [] where !expected.contains(where: { $0.id == member.nodeID }) {
                expected.append((member.nodeID, member.nodeName, member.role, "the node list of \(report.path)"))
            }
        }
        for id in options.expectedNodes where !expected.contains(where: { $0.id == id }) {
            expected.append((id, id, nil, "--expect-node"))
        }
        for member in expected where !reported.contains(member.id) {
            let problem = "node \(member.name) (\(member.id)) sent no report (named by \(member.namedBy))"
            nodes.append(
                FleetNode(
                    nodeID: member.id, nodeName: member.name, role: member.role, fullView: nil, status: .missing,
                    file: nil, host: nil, generatedAt: nil, policy: nil, edges: 0, findings: 0, durationSeconds: 0,
                    problems: [problem]))
            problems.append(problem)
        }

        problems += Self.membershipProblems(reports, identities: identities)

        var disagreements: [FleetDisagreement] = []
        var edges = Self.mergeEdges(reports, identities: identities, disagreements: &disagreements)
        Self.applyEndpointChecks(reports, identities: identities, to: &edges, disagreements: &disagreements)
        var findings = Self.mergeFindings(reports, identities: identities)
        findings += Self.disagreementFindings(disagreements)
        findings.sort {
            ($1.severity, $0.kind.identifier, $0.location ?? "") < ($0.severity, $1.kind.identifier, $1.location ?? "")
        }

        var summary = AuditSummary()
        summary.edges = edges.count
        for edge in edges { summary.edgesByVerdict[edge.edge.verdict.rawValue, default: 0] += 1 }
        for finding in findings { summary.findingsBySeverity[finding.severity.rawValue, default: 0] += 1 }
        for node in nodes where node.status != .missing {
            summary.durations["node \(node.nodeName)"] = node.durationSeconds
        }
        // The nodes audit at the same time: the fleet took as long as its slowest node.
        summary.durationSeconds = nodes.map(\.durationSeconds).max() ?? 0
        summary.ignored = reports.reduce(0) { $0 + $1.summary.ignored }

        let policies = Dictionary(grouping: zip(reports, identities), by: { $0.0.policy })
        let policy =
            policies.count == 1
            ? (policies.keys.first ?? "")
            : policies.keys.sorted().map { name in
                "\(name) (\(policies[name, default: []].map(\.1.nodeName).joined(separator: ", ")))"
            }.joined(separator: "; ")

        return FleetReport(
            generatedAt: options.generatedAt, orchestrator: identities.first?.cluster?.orchestrator,
            clusterID: identities.first?.cluster?.clusterID, policy: policy, nodes: nodes, edges: edges,
            findings: findings, disagreements: disagreements, complete: problems.isEmpty, problems: problems,
            summary: summary, inventory: Self.mergeInventories(reports, identities: identities))
    }

    /// What the nodes with the full view (Swarm managers) say of the membership against who reported: a reporting
    /// node that a manager's node list does not hold (another swarm's node with a colliding ID, a forged or stale
    /// report), and two managers whose node lists differ. Either makes the merge incomplete: it cannot say which
    /// nodes make the cluster.
    static func membershipProblems(_ reports: [NodeReport], identities: [Identity]) -> [String] {
        let lists = zip(reports, identities).compactMap { report, identity -> (path: String, ids: Set<String>)? in
            guard identity.fullView == true, let members = identity.cluster?.members else { return nil }
            return (report.path, Set(members.map(\.nodeID)))
        }
        var problems: [String] = []
        for (report, identity) in zip(reports, identities) {
            for list in lists where !list.ids.contains(identity.nodeID) {
                problems.append(
                    "node \(identity.nodeName) (\(identity.nodeID), \(report.path)) is not in the node list of \(list.path): not a member of this cluster, or one of the two reports is stale"
                )
            }
        }
        for (first, second) in zip(lists, lists.dropFirst()) where first.ids != second.ids {
            let onlyFirst = first.ids.subtracting(second.ids).sorted().joined(separator: ", ")
            let onlySecond = second.ids.subtracting(first.ids).sorted().joined(separator: ", ")
            problems.append(
                "the node lists of \(first.path) and \(second.path) differ (only in the first: \(onlyFirst.isEmpty ? "none" : onlyFirst); only in the second: \(onlySecond.isEmpty ? "none" : onlySecond))"
            )
        }
        return problems
    }

    // MARK: - Identity

    /// Each report's node, after checking they belong together: one cluster, each node once.
    static func identities(_ reports: [NodeReport], allowStandalone: Bool) throws(FleetMergeError) -> [Identity] {
        var identities: [Identity] = []
        var byID: [String: String] = [:]
        for report in reports {
            let identity: Identity
            if let cluster = report.cluster {
                identity = Identity(
                    nodeID: cluster.nodeID, nodeName: cluster.nodeName, role: cluster.role, fullView: cluster.fullView,
                    cluster: cluster)
            } else if allowStandalone {
                identity = Identity(nodeID: report.host, nodeName: report.host, role: nil, fullView: nil, cluster: nil)
            } else {
                throw FleetMergeError(
                    .noClusterIdentity, path: report.path,
                    message:
                        "has no cluster identity (evidence.inventory.cluster): the report of a plain host, not of a Swarm or Kubernetes node; --allow-standalone merges plain hosts' reports, each host a node"
                )
            }
            if let firstIdentity = identities.first {
                let firstReport = reports[0]
                let here =
                    identity.cluster.map { "\($0.orchestrator.rawValue) cluster \($0.clusterID)" } ?? "no cluster"
                let there =
                    firstIdentity.cluster.map { "\($0.orchestrator.rawValue) cluster \($0.clusterID)" } ?? "no cluster"
                if here != there {
                    throw FleetMergeError(
                        .differentClusters, path: report.path,
                        message:
                            "is from \(here) (node \(identity.nodeName)), \(firstReport.path) from \(there): a fleet report joins the nodes of one cluster"
                    )
                }
            }
            if let earlier = byID[identity.nodeID] {
                throw FleetMergeError(
                    .duplicateNode, path: report.path,
                    message:
                        "is node \(identity.nodeID) (\(identity.nodeName)) again, already read from \(earlier): give each node's report once"
                )
            }
            byID[identity.nodeID] = report.path
            identities.append(identity)
        }
        return identities
    }

    // MARK: - Edges

    /// What makes two nodes' edges the same edge.
    struct EdgeKey: Hashable {
        var source: String
        var address: String
        var port: Int
        var `protocol`: ProbeProtocol
    }

    /// The edges of every node, one per source, address, port and protocol.
    static func mergeEdges(
        _ reports: [NodeReport], identities: [Identity], disagreements: inout [FleetDisagreement]
    ) -> [FleetEdge] {
        var groups: [[(node: Int, edge: Edge)]] = []
        var index: [EdgeKey: Int] = [:]
        index.reserveCapacity(reports.reduce(0) { $0 + $1.edges.count })
        for (node, report) in reports.enumerated() {
            for edge in report.edges {
                let key = EdgeKey(
                    source: edge.source, address: edge.address, port: edge.port, protocol: edge.protocol)
                if let position = index[key] {
                    groups[position].append((node, edge))
                } else {
                    index[key] = groups.count
                    groups.append([(node, edge)])
                }
            }
        }
        var merged: [FleetEdge] = []
        merged.reserveCapacity(groups.count)
        for group in groups {
            merged.append(Self.mergeEdge(group, identities: identities, disagreements: &disagreements))
        }
        // Sorted by destination, then address, port, protocol and source: compared field by field (building each
        // edge's name per comparison cost more than the rest of the merge), moved once.
        let sorted = merged.indices.sorted { left, right in
            let a = merged[left].edge
            let b = merged[right].edge
            if a.destination != b.destination { return a.destination < b.destination }
            if a.address != b.address { return a.address < b.address }
            if a.port != b.port { return a.port < b.port }
            if a.protocol != b.protocol { return a.protocol.rawValue < b.protocol.rawValue }
            return a.source < b.source
        }
        return sorted.map { merged[$0] }
    }

    /// One edge seen by one or more nodes.
    static func mergeEdge(
        _ group: [(node: Int, edge: Edge)], identities: [Identity], disagreements: inout [FleetDisagreement]
    ) -> FleetEdge {
        var seenBy: [String] = []
        for member in group where !seenBy.contains(identities[member.node].nodeID) {
            seenBy.append(identities[member.node].nodeID)
        }
        // Duplicates inside one node's report are the node's own business; across nodes they are compared.
        guard group.count > 1, var edge = group.first?.edge else {
            return FleetEdge(edge: group.first?.edge ?? Self.placeholder, seenBy: seenBy)
        }
        let name = edge.name
        var found: [FleetDisagreement] = []
        func observe(_ aspect: FleetDisagreement.Aspect, _ value: (Edge) -> String?, resolution: String) {
            let observations = group.compactMap { member in
                value(member.edge).map {
                    FleetDisagreement.Observation(nodeID: identities[member.node].nodeID, value: $0)
                }
            }
            if Set(observations.map(\.value)).count > 1 {
                found.append(
                    FleetDisagreement(subject: name, aspect: aspect, observations: observations, resolution: resolution)
                )
            }
        }

        // The destination's name: a full-view node's, else the first.
        let named = group.first { identities[$0.node].fullView == true } ?? group[0]
        edge.destination = named.edge.destination
        observe(
            .destination, { $0.destination },
            resolution: "kept \(edge.destination) (\(identities[named.node].nodeName)'s name)")

        // The policy's expectation: not allowed wins (the stricter reading).
        if let strict = group.first(where: { $0.edge.allowed == false }) {
            edge.allowed = false
            edge.rule = strict.edge.rule
        } else if let allowing = group.first(where: { $0.edge.allowed != nil }) {
            edge.allowed = allowing.edge.allowed
            edge.rule = allowing.edge.rule
        }
        observe(
            .policy, { $0.allowed.map { $0 ? "allowed" : "not allowed" } },
            resolution: "kept not allowed (the stricter)")

        // Reachability: an open path wins over a probe that could not tell, which wins over blocked.
        let states = group.compactMap(\.edge.reachability)
        if let worst = states.min(by: { Self.reachabilityRank($0) < Self.reachabilityRank($1) }) {
            edge.reachability = worst
            let classes = Set(states.map(Self.reachabilityClass))
            if classes.count > 1 {
                observe(
                    .reachability, { $0.reachability?.rawValue },
                    resolution: "kept \(worst.rawValue) (an open path outweighs a probe that saw it closed)")
            }
        }

        // Traffic: the same flows seen from both ends are counted once (the larger count); lists joined.
        let traffic = group.compactMap(\.edge.traffic)
        if !traffic.isEmpty {
            edge.traffic = Self.join(traffic)
            let shapes = Set(traffic.map(Self.trafficShape))
            if shapes.count > 1 {
                observe(
                    .traffic, { $0.traffic.map(Self.trafficShape) },
                    resolution: "kept the union: what one end saw in clear was in clear")
            }
        }

        // The TLS check: the worse tested verdict wins; untested results do not contradict a tested one.
        let checks = group.compactMap(\.edge.tls)
        if let worst = Self.worstCheck(checks) {
            edge.tls = worst
            if Set(checks.filter { $0.verdict.tested || $0.verdict == .inconclusive }.map(\.verdict)).count > 1 {
                observe(
                    .tls,
                    { edge in
                        edge.tls.flatMap {
                            $0.verdict.tested || $0.verdict == .inconclusive ? $0.verdict.rawValue : nil
                        }
                    }, resolution: "kept \(worst.verdict.rawValue) (the worse)")
            }
        }

        // The verdict: the worse.
        let worstVerdict = EdgeVerdict.worst(group.map(\.edge.verdict))
        edge.verdict = worstVerdict
        observe(.verdict, { $0.verdict.rawValue }, resolution: "kept \(worstVerdict.rawValue) (the worse)")

        var reasons: [String] = []
        for member in group {
            for reason in member.edge.reasons where !reasons.contains(reason) { reasons.append(reason) }
        }
        for disagreement in found { reasons.append("nodes disagree on \(disagreement.text)") }
        edge.reasons = reasons
        disagreements += found
        return FleetEdge(edge: edge, seenBy: seenBy)
    }

    static let placeholder = Edge(
        source: "", destination: "", address: "", port: 0, protocol: .tcp, network: nil, allowed: nil, rule: nil,
        reachability: nil, traffic: nil, tls: nil, verdict: .unknown, reasons: [])

    /// 0 is the worst (what the merge keeps): an open path, then a probe that could not tell, then blocked.
    static func reachabilityRank(_ state: CellState) -> Int {
        switch state {
        case .reachable: 0
        case .flapping: 1
        case .reachableClosed: 2
        case .error: 3
        case .unknown: 4
        case .skipped: 5
        case .rejected: 6
        case .filtered: 7
        }
    }

    static func reachabilityClass(_ state: CellState) -> String {
        state.isOpen ? "open" : (state.isBlocked ? "blocked" : "undetermined")
    }

    /// What a node's traffic on an edge amounts to: whether plaintext, mutual TLS, credentials were seen.
    static func trafficShape(_ traffic: EdgeTraffic) -> String {
        var parts: [String] = []
        parts.append(traffic.plaintextFlows > 0 ? "plaintext" : "no plaintext")
        parts.append(traffic.mutualTLSFlows > 0 ? "mtls" : (traffic.tlsFlows > 0 ? "tls without mtls" : "no tls"))
        if traffic.credentialsInClear > 0 { parts.append("credentials in clear") }
        return parts.joined(separator: ", ")
    }

    static func join(_ traffic: [EdgeTraffic]) -> EdgeTraffic {
        var joined = EdgeTraffic()
        func union(_ lists: [[String]]) -> [String] {
            var result: [String] = []
            for list in lists { for item in list where !result.contains(item) { result.append(item) } }
            return result
        }
        joined.flows = traffic.map(\.flows).max() ?? 0
        joined.plaintextFlows = traffic.map(\.plaintextFlows).max() ?? 0
        joined.tlsFlows = traffic.map(\.tlsFlows).max() ?? 0
        joined.mutualTLSFlows = traffic.map(\.mutualTLSFlows).max() ?? 0
        joined.servedWithoutCertificate = traffic.map(\.servedWithoutCertificate).max() ?? 0
        joined.clientCertificateInferred = traffic.map(\.clientCertificateInferred).max() ?? 0
        joined.credentialsInClear = traffic.map(\.credentialsInClear).max() ?? 0
        joined.protocols = union(traffic.map(\.protocols))
        joined.clientIdentities = union(traffic.map(\.clientIdentities))
        joined.serverIdentities = union(traffic.map(\.serverIdentities))
        return joined
    }

    /// 0 is the worst TLS verdict.
    static func tlsRank(_ verdict: TLSVerdict) -> Int {
        switch verdict {
        case .tlsAcceptsRogueClient: 0
        case .plaintextAccepted: 1
        case .inconclusive: 2
        case .mtlsOptional: 3
        case .tlsNoClientAuth: 4
        case .mtlsEnforced: 5
        case .error: 6
        case .timeout: 7
        case .unreachable: 8
        }
    }

    /// The worst tested (or inconclusive) check, else the first untested one.
    static func worstCheck(_ checks: [EndpointTLS]) -> EndpointTLS? {
        checks.min { Self.tlsRank($0.verdict) < Self.tlsRank($1.verdict) }
    }

    /// What an endpoint's TLS verdict makes of an edge to it.
    static func edgeVerdict(_ verdict: TLSVerdict) -> EdgeVerdict {
        switch verdict {
        case .mtlsEnforced: .mtlsEnforced
        case .mtlsOptional: .mtlsOptional
        case .tlsNoClientAuth: .tlsNoClientAuth
        case .plaintextAccepted: .plaintext
        case .tlsAcceptsRogueClient: .tlsAcceptsRogueClient
        case .inconclusive, .unreachable, .timeout, .error: .inconclusive
        }
    }

    /// The same endpoint checked from several nodes: when the checks disagree, the worse holds for every edge to it
    /// (a server that served a forged certificate from one node serves it from any).
    static func applyEndpointChecks(
        _ reports: [NodeReport], identities: [Identity], to edges: inout [FleetEdge],
        disagreements: inout [FleetDisagreement]
    ) {
        var checks: [String: [(node: Int, verdict: TLSVerdict)]] = [:]
        for (node, report) in reports.enumerated() {
            for (endpoint, verdict) in report.tls { checks[endpoint, default: []].append((node, verdict)) }
        }
        var worstByEndpoint: [String: EndpointTLS] = [:]
        for endpoint in checks.keys.sorted() {
            guard let list = checks[endpoint], list.count > 1 else { continue }
            let judged = list.filter { $0.verdict.tested || $0.verdict == .inconclusive }
            guard Set(judged.map(\.verdict)).count > 1,
                let worst = judged.min(by: { Self.tlsRank($0.verdict) < Self.tlsRank($1.verdict) })
            else { continue }
            // The whole check as the node that found the worse verdict recorded it on an edge to the endpoint, else
            // its verdict alone.
            worstByEndpoint[endpoint] =
                reports[worst.node].edges.first {
                    $0.tls?.verdict == worst.verdict
                        && ReachabilityCell.destinationText(address: $0.address, port: $0.port) == endpoint
                }?.tls
                ?? EndpointTLS(
                    verdict: worst.verdict, refusesBadClients: nil, serverIdentities: [],
                    reason: "the TLS check from node \(identities[worst.node].nodeName) found \(worst.verdict.rawValue)"
                )
            disagreements.append(
                FleetDisagreement(
                    subject: endpoint, aspect: .tls,
                    observations: judged.map {
                        FleetDisagreement.Observation(nodeID: identities[$0.node].nodeID, value: $0.verdict.rawValue)
                    },
                    resolution: "kept \(worst.verdict.rawValue) (the worse) for every edge to the endpoint"))
        }
        guard !worstByEndpoint.isEmpty else { return }
        for index in edges.indices where edges[index].edge.protocol == .tcp {
            var edge = edges[index].edge
            let endpoint = ReachabilityCell.destinationText(address: edge.address, port: edge.port)
            guard let worst = worstByEndpoint[endpoint], edge.reachability?.isBlocked != true else { continue }
            if let current = edge.tls, Self.tlsRank(current.verdict) <= Self.tlsRank(worst.verdict) { continue }
            edge.tls = worst
            edge.verdict = EdgeVerdict.worst([edge.verdict, Self.edgeVerdict(worst.verdict)])
            edge.reasons.append(
                "the endpoint's TLS check from another node found \(worst.verdict.rawValue); kept the worse")
            edges[index].edge = edge
        }
    }

    // MARK: - Findings

    /// Findings once per identity (``FindingIdentity``: kind, location and what tells findings of one kind at one
    /// location apart): the most severe instance, with the nodes that reported it.
    static func mergeFindings(_ reports: [NodeReport], identities: [Identity]) -> [Finding] {
        var order: [String] = []
        var groups: [String: (finding: Finding, nodes: [String])] = [:]
        for (node, report) in reports.enumerated() {
            for finding in report.findings {
                let key = finding.identity.key
                let name = identities[node].nodeName
                if var group = groups[key] {
                    if finding.severity > group.finding.severity {
                        let count = max(group.finding.flowCount, finding.flowCount)
                        group.finding = finding
                        group.finding.flowCount = count
                    } else {
                        group.finding.flowCount = max(group.finding.flowCount, finding.flowCount)
                    }
                    if !group.nodes.contains(name) { group.nodes.append(name) }
                    groups[key] = group
                } else {
                    order.append(key)
                    groups[key] = (finding, [name])
                }
            }
        }
        let several = reports.count > 1
        return order.compactMap { key in
            guard var group = groups[key] else { return nil }
            if several {
                group.finding.detail +=
                    " Seen on node\(group.nodes.count == 1 ? "" : "s") \(group.nodes.joined(separator: ", "))."
            }
            return group.finding
        }
    }

    /// One finding per edge or endpoint the nodes disagree about.
    static func disagreementFindings(_ disagreements: [FleetDisagreement]) -> [Finding] {
        let subjects = Dictionary(grouping: disagreements, by: \.subject)
        return subjects.keys.sorted().map { subject in
            let list = subjects[subject, default: []]
            return Finding(
                kind: .fleetEvidenceDisagreement,
                title: "Nodes disagree about \(subject) (\(list.map(\.aspect.rawValue).joined(separator: ", ")))",
                detail: list.map(\.text).joined(separator: "; "), location: subject)
        }
    }

    // MARK: - Inventory

    /// The nodes' inventories joined by name, for the pictures: a Swarm overlay is one network on every node.
    static func mergeInventories(_ reports: [NodeReport], identities: [Identity]) -> InventoryReport? {
        var networks: [NetworkRecord] = []
        var networkIndex: [String: Int] = [:]
        var containers: [ContainerRecord] = []
        var containerNames: Set<String> = []
        var sources: [String] = []
        var any = false
        for (report, identity) in zip(reports, identities) {
            guard let inventory = report.inventory else { continue }
            any = true
            sources += inventory.sources.map { "\(identity.nodeName): \($0)" }
            for network in inventory.networks {
                if let index = networkIndex[network.name] {
                    for member in network.containers where !networks[index].containers.contains(member) {
                        networks[index].containers.append(member)
                    }
                } else {
                    networkIndex[network.name] = networks.count
                    networks.append(network)
                }
            }
            for container in inventory.containers where containerNames.insert(container.name).inserted {
                containers.append(container)
            }
        }
        guard any else { return nil }
        var summary = InventorySummary()
        summary.networks = networks.count
        summary.containers = containers.count
        return InventoryReport(
            sources: sources, networks: networks, containers: containers, namespaces: [], findings: [],
            complete: reports.allSatisfy { $0.inventory?.complete ?? true }, problems: [], summary: summary)
    }
}
