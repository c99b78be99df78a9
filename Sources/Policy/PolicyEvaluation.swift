import BulkheadModel
import Foundation

/// Applies a policy to observed reachability cells: what each cell was expected to be, which rule said so, and
/// whether the observation violates it.
public struct PolicyEvaluator: Sendable {
    public var policy: Policy
    /// Containers sharing another's network namespace (`--network container:X`) as sources see the network: on X's
    /// networks, in the host's namespace when X is (see ``attached(_:among:)``). By name; the others are as listed.
    let sharers: [String: ContainerRecord]
    let containers: [String: ContainerRecord]
    let networks: [String: NetworkRecord]
    /// Each plain network namespace's interface addresses (without their prefix length), by name: a namespace has
    /// no container record, and a `cidr` source selector must still find its addresses.
    let namespaceAddresses: [String: [String]]

    /// An evaluator of `policy` for the containers, networks and plain namespaces of `inventory` (labels, networks,
    /// ICC, internal, addresses).
    public init(policy: Policy, inventory: InventoryReport) {
        self.policy = policy
        self.sharers = Dictionary(
            inventory.containers.filter { $0.networkMode.hasPrefix("container:") }.map {
                ($0.name, Self.attached($0, among: inventory.containers))
            }, uniquingKeysWith: { first, _ in first })
        self.containers = Dictionary(
            inventory.containers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.networks = Dictionary(inventory.networks.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.namespaceAddresses = Dictionary(
            inventory.namespaces.map { namespace in
                (namespace.name, namespace.addresses.map { String($0.split(separator: "/").first ?? "") })
            },
            uniquingKeysWith: { first, _ in first })
    }

    /// Sets `expected`, `rule` and `violation` on every cell.
    public func evaluate(_ cells: [ReachabilityCell]) -> [ReachabilityCell] {
        cells.map { cell in
            var copy = cell
            let (expected, rule) = self.expectation(for: cell)
            copy.expected = expected
            copy.rule = rule
            copy.violation = Self.violation(expected: expected, state: cell.state)
            return copy
        }
    }

    /// The expectation for one cell: explicit denies first, then allows, then the baseline.
    public func expectation(for cell: ReachabilityCell) -> (Expectation?, String?) {
        for (index, rule) in self.policy.deny.enumerated() where self.matches(rule, cell) {
            return (.deny, rule.name.map { "deny \"\($0)\"" } ?? "deny[\(index)]")
        }
        for (index, rule) in self.policy.allow.enumerated() where self.matches(rule, cell) {
            return (.allow, rule.name.map { "allow \"\($0)\"" } ?? "allow[\(index)]")
        }
        switch self.policy.baseline {
        case .deny:
            return (.deny, "baseline deny")
        case .docker:
            return self.dockerIntent(cell)
        }
    }

    /// Open where denied → unexpected-reachable; blocked where allowed → unexpected-blocked. Cells that proved
    /// nothing (unknown, skipped, error) never violate — and never pass either. Only `error` cells make the run
    /// incomplete (exit 3, where the probe report is built); `unknown` and `skipped` cells say why in their state
    /// and note and leave the run complete.
    public static func violation(expected: Expectation?, state: CellState) -> Violation? {
        switch expected {
        case .deny? where state.isOpen: .unexpectedReachable
        case .allow? where state.isBlocked: .unexpectedBlocked
        default: nil
        }
    }

    /// What Docker's configuration intends (the baseline `docker`, and the default without a policy).
    func dockerIntent(_ cell: ReachabilityCell) -> (Expectation?, String?) {
        // Docker says nothing about namespaces it does not manage.
        guard cell.destinationKind != .namespace, let source = self.sharers[cell.source] ?? self.containers[cell.source]
        else {
            return (nil, "baseline docker: no intent for a network namespace Docker does not manage")
        }
        if source.networkMode.hasPrefix("container:") {
            // The namespace it shares is not in the inventory (out of scope): its networks are unknown, so Docker's
            // intent for it is too; judging it as on no network called every open path a breach.
            return (
                nil,
                "baseline docker: \(cell.source) shares the network namespace of \(source.networkMode.dropFirst(10)), which is not in the inventory: its networks are unknown"
            )
        }
        if source.networkMode == "host" {
            return (.allow, "baseline docker: the host's namespace reaches containers")
        }
        let sourceNetworks = Set(source.networks.map(\.name))
        switch cell.destinationKind {
        case .explicit, .namespace:
            return (nil, "baseline docker: no intent for a listed address")
        case .gateway:
            guard let name = cell.network, let network = self.networks[name] else { return (nil, nil) }
            if network.internal {
                return (.deny, "baseline docker: \(name) is internal (no route out, the host included)")
            }
            return (.allow, "baseline docker: containers reach the host through their gateway")
        case .container:
            guard let name = cell.network else { return (nil, nil) }
            guard sourceNetworks.contains(name) else {
                return (
                    .deny, "baseline docker: \(cell.source) is not on \(name) (networks are isolated from each other)"
                )
            }
            if let network = self.networks[name], !network.icc {
                return (.deny, "baseline docker: inter-container communication is disabled on \(name)")
            }
            return (.allow, "baseline docker: both on \(name)")
        }
    }

    /// The first mTLS requirement of the policy covering a cell's destination and port, with its display name
    /// (`mtls "name"` or `mtls.require[i]`).
    public func mtlsRequirement(for cell: ReachabilityCell) -> (name: String, requirement: MTLSRequirement)? {
        for (index, requirement) in (self.policy.mtls?.require ?? []).enumerated() {
            let rule = Policy.Rule(from: [Selector()], to: requirement.to, ports: requirement.ports)
            if self.matches(rule, cell) {
                return (requirement.name.map { "mtls \"\($0)\"" } ?? "mtls.require[\(index)]", requirement)
            }
        }
        return nil
    }

    /// The mTLS requirement covering a container endpoint (`address:port`, TCP) reached from `source`, looked up like a
    /// probe cell towards it.
    public func mtlsRequirement(address: String, port: Int, source: String) -> (
        name: String, requirement: MTLSRequirement
    )? {
        guard
            let container = self.containers.values.first(where: {
                $0.networks.contains { $0.ipv4 == address || $0.ipv6 == address }
            })
        else { return nil }
        let network = container.networks.first { $0.ipv4 == address || $0.ipv6 == address }?.name
        let cell = ReachabilityCell(
            source: source, destination: ReachabilityCell.destinationText(address: address, port: port), protocol: .tcp,
            state: .reachable, attempts: 0,
            latencyMs: nil, destinationName: container.name, destinationKind: .container, network: network,
            address: address, port: port,
            reason: "policy", sourcePid: nil, evidence: []
        )
        return self.mtlsRequirement(for: cell)
    }

    /// Whether a rule applies to a cell (ports, a `from` selector and a `to` selector all match).
    public func matches(_ rule: Policy.Rule, _ cell: ReachabilityCell) -> Bool {
        rule.ports.contains { $0.matches(cell.protocol, cell.port) }
            && rule.from.contains { self.matchesSource($0, cell) }
            && rule.to.contains { self.matchesDestination($0, cell) }
    }

    func matchesSource(_ selector: Selector, _ cell: ReachabilityCell) -> Bool {
        let container = self.sharers[cell.source] ?? self.containers[cell.source]
        if let pattern = selector.container, !Selector.glob(pattern, matches: cell.source) { return false }
        if !Self.matchesLabels(selector, container?.labels ?? [:]) { return false }
        if let pattern = selector.network,
            !(container?.networks.contains { Selector.glob(pattern, matches: $0.name) } ?? false)
        {
            return false
        }
        if let cidr = selector.cidr {
            // A plain namespace (`probe --namespaces`) has no container record: its addresses are the inventory's.
            let addresses =
                container.map { $0.networks.flatMap { [$0.ipv4, $0.ipv6].compactMap { $0 } } }
                ?? self.namespaceAddresses[cell.source] ?? []
            if !addresses.contains(where: { Self.address($0, in: cidr) }) { return false }
        }
        if let host = selector.host, host != (container?.networkMode == "host") { return false }
        return true
    }

    func matchesDestination(_ selector: Selector, _ cell: ReachabilityCell) -> Bool {
        let container = cell.destinationKind == .container ? self.containers[cell.destinationName] : nil
        // `container:` also names plain namespaces (by their /run/netns name or `pid N (command)`).
        let named = container != nil || cell.destinationKind == .namespace
        if let pattern = selector.container, !named || !Selector.glob(pattern, matches: cell.destinationName) {
            return false
        }
        if selector.label != nil || selector.service != nil || selector.project != nil {
            guard let container, Self.matchesLabels(selector, container.labels) else { return false }
        }
        if let pattern = selector.network, !(cell.network.map { Selector.glob(pattern, matches: $0) } ?? false) {
            return false
        }
        if let cidr = selector.cidr, !Self.address(cell.address, in: cidr) { return false }
        if let host = selector.host, host != (cell.destinationKind == .gateway) { return false }
        return true
    }

    /// One `policy-rule-selects-nothing` finding per selector of a rule or mTLS requirement that names containers
    /// (by name, label, Compose service or project, or network) yet matches no container of the inventory (nor, for
    /// a name, a network namespace), or that names only an address range (`cidr`) holding no address the inventory
    /// or the cells know (containers', namespaces', gateways', listed targets'): mirrors `k8s-rule-selects-nothing`.
    /// A typo in a deny rule silently removes the denial, whether it names a service or an address. Selectors by
    /// host side alone name nothing and are not judged, and an inventory of no containers and no namespaces judges
    /// nothing. `cells` (and the inventory's namespaces) name the network namespaces a `container:` selector may
    /// match.
    public func selectorsSelectingNothing(cells: [ReachabilityCell], namespaces: [NamespaceRecord]) -> [Finding] {
        guard !self.containers.isEmpty || !self.namespaceAddresses.isEmpty else { return [] }
        let namespaces =
            namespaces.map(\.name)
            + cells.flatMap { cell in
                [cell.source] + (cell.destinationKind == .namespace ? [cell.destinationName] : [])
            }.filter { self.containers[$0] == nil }
        // Every address a `cidr` selector could match: sources' and destinations' alike.
        var knownText: [String] = self.networks.values.flatMap(\.gateways)
        for container in self.containers.values {
            for network in container.networks {
                knownText += [network.ipv4, network.ipv6, network.gateway].compactMap { $0 }
            }
        }
        knownText += self.namespaceAddresses.values.joined()
        knownText += cells.map(\.address)
        let known = Set(knownText.compactMap(IPAddress.init))
        var findings: [Finding] = []
        func judge(_ selectors: [Selector], rule: String, path: String, side: String) {
            for (index, selector) in selectors.enumerated() where !self.selectsSomething(selector, namespaces, known) {
                let location = "\(rule).\(side)[\(index)]"
                // The file's line, so that the selector is found without counting list items by hand.
                let written =
                    self.policy.sourceLocations["\(path).\(side)[\(index)]"].map { " Written at \($0)." } ?? ""
                let byAddress = !Self.namesContainers(selector)
                findings.append(
                    Finding(
                        kind: .policyRuleSelectsNothing,
                        title:
                            "\(location) \(selector.summary) matches no \(byAddress ? "address of the inventory" : "container")",
                        detail: byAddress
                            ? "No address of the inventory (containers, namespaces, gateways, listed targets) is in this range: the traffic the rule names is not affected by it.\(written)"
                            : "No container of the inventory matches this selector: the traffic the rule names is not affected by it.\(written)",
                        location: location))
            }
        }
        for (kind, rules) in [("allow", self.policy.allow), ("deny", self.policy.deny)] {
            for (index, rule) in rules.enumerated() {
                let name = rule.name.map { "\(kind) \"\($0)\"" } ?? "\(kind)[\(index)]"
                judge(rule.from, rule: name, path: "\(kind)[\(index)]", side: "from")
                judge(rule.to, rule: name, path: "\(kind)[\(index)]", side: "to")
            }
        }
        for (index, requirement) in (self.policy.mtls?.require ?? []).enumerated() {
            judge(
                requirement.to, rule: requirement.name.map { "mtls \"\($0)\"" } ?? "mtls.require[\(index)]",
                path: "mtls.require[\(index)]", side: "to")
        }
        return findings
    }

    /// Whether a selector names containers (by name, label, Compose service or project, or network).
    static func namesContainers(_ selector: Selector) -> Bool {
        selector.container != nil || selector.label != nil || selector.service != nil || selector.project != nil
            || selector.network != nil
    }

    /// Whether `selector` can match a container (or namespace) of the inventory, or, naming only an address range,
    /// one of the `known` addresses; true for one that names neither.
    func selectsSomething(_ selector: Selector, _ namespaces: [String], _ known: Set<IPAddress>) -> Bool {
        guard Self.namesContainers(selector) else {
            guard let cidr = selector.cidr else { return true }
            return known.contains { Self.address($0.description, in: cidr) }
        }
        if let pattern = selector.container, selector.label == nil, selector.service == nil, selector.project == nil,
            selector.network == nil, namespaces.contains(where: { Selector.glob(pattern, matches: $0) })
        {
            return true
        }
        return self.containers.values.contains { container in
            (selector.container.map { Selector.glob($0, matches: container.name) } ?? true)
                && Self.matchesLabels(selector, container.labels)
                && (selector.network.map { pattern in
                    container.networks.contains { Selector.glob(pattern, matches: $0.name) }
                }
                    ?? true)
        }
    }

    /// A container sharing another's namespace as a source: the networks (with their addresses) and network mode of
    /// the container whose namespace it is (`host` when that one uses the host's); its name and labels its own. As
    /// listed (mode `container:X`) when that container is not in the inventory.
    static func attached(_ container: ContainerRecord, among containers: [ContainerRecord]) -> ContainerRecord {
        guard let owner = container.namespaceOwner(among: containers) else { return container }
        var copy = container
        copy.networks = owner.networks
        copy.networkMode = owner.networkMode
        return copy
    }

    static func matchesLabels(_ selector: Selector, _ labels: [String: String]) -> Bool {
        if !selector.labelMatches(labels) { return false }
        if let service = selector.service,
            !(labels["com.docker.compose.service"].map { Selector.glob(service, matches: $0) } ?? false)
        {
            return false
        }
        if let project = selector.project,
            !(labels["com.docker.compose.project"].map { Selector.glob(project, matches: $0) } ?? false)
        {
            return false
        }
        return true
    }

    static func address(_ text: String, in cidr: String) -> Bool {
        guard let address = IPAddress(text) else { return false }
        if let single = IPAddress(cidr) { return single == address }
        return CIDR.contains(cidr, address)
    }
}

/// Findings from evaluated cells: one per violation, and one per cell the tool could not decide.
public enum ReachabilityFindings {
    public static func findings(_ cells: [ReachabilityCell]) -> [Finding] {
        var findings: [Finding] = []
        for cell in cells {
            let target = "\(cell.destinationName) \(cell.destination)/\(cell.protocol.rawValue)"
            // The same name an audit edge has: `source -> destination address:port/proto`.
            let location = "\(cell.source) -> \(target)"
            switch cell.violation {
            case .unexpectedReachable?:
                let closed = cell.state == .reachableClosed
                findings.append(
                    Finding(
                        kind: .unexpectedReachable, severity: closed ? .medium : .high,
                        title:
                            "\(cell.source) can reach \(target)\(closed ? " (nothing listens, but the path is open)" : "")",
                        detail:
                            "Isolation breach: \(cell.rule ?? "the policy") denies this, yet the probe \(Self.describe(cell)).",
                        location: location
                    ))
            case .unexpectedBlocked?:
                findings.append(
                    Finding(
                        kind: .unexpectedBlocked, severity: .medium,
                        title: "\(cell.source) cannot reach \(target)",
                        detail:
                            "Broken dependency: \(cell.rule ?? "the policy") allows this, yet the probe \(Self.describe(cell)).",
                        location: location
                    ))
            case nil:
                break
            }
        }
        return findings
    }

    /// "connected in 0.4 ms", "got ICMP 3/13 from 198.18.1.1", "timed out twice".
    public static func describe(_ cell: ReachabilityCell) -> String {
        guard let last = cell.evidence.last else { return "was not made" }
        switch last.outcome {
        case .connected:
            return "\(cell.protocol == .tcp ? "connected" : "got a reply") in \(Self.milliseconds(last.latencyMs))"
        // A refusal from a port the destination listens on was judged a firewall's (the cell is rejected).
        case .refused:
            return cell.state == .rejected
                ? "was answered with a TCP reset although the destination listens there (a firewall's REJECT)"
                : "was answered with a TCP reset (the path is open)"
        case .portUnreachable:
            return cell.state == .rejected
                ? "was answered with ICMP port-unreachable although the destination listens there (a firewall's REJECT)"
                : "was answered with ICMP port-unreachable (the path is open)"
        case .icmpError:
            if let type = last.icmpType, let code = last.icmpCode {
                return "was rejected with ICMP \(type)/\(code)\(last.icmpFrom.map { " from \($0)" } ?? "")"
            }
            return "was refused locally (\(last.errno ?? "error"))"
        case .timeout: return "got no answer in \(cell.attempts) attempt\(cell.attempts == 1 ? "" : "s")"
        case .failed: return "could not be made (\(last.errno ?? cell.note ?? "error"))"
        }
    }

    static func milliseconds(_ value: Double) -> String {
        value < 10 ? String(format: "%.2f ms", value) : String(format: "%.0f ms", value)
    }
}
