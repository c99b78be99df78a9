import BulkheadModel

/// Pods on this node, found among the host's network namespaces (`--namespaces`: those CNI plugins and `ip netns`
/// pin under /run/netns, and those of processes), matched to the dump's pods by address; and the measured matrix
/// judged against the NetworkPolicy intent, both ways.
public enum NodeAudit {
    /// Which namespace holds which pod (by the namespace record's name), and the dump's pods that no namespace holds.
    public struct PodNamespaces: Sendable {
        public var podByNamespace: [String: KubePod]
        public var unmatched: [KubePod]
    }

    /// Matches namespaces to pods by address: a namespace holding a pod's address is that pod's. hostNetwork pods
    /// share the node's namespace and are not matched.
    public static func match(_ namespaces: [NamespaceRecord], dump: ClusterDump) -> PodNamespaces {
        var byAddress: [String: KubePod] = [:]
        // A finished pod keeps its address in the dump, and a new pod may have it now: running pods win.
        for pod in dump.pods where !pod.hostNetwork && !pod.hasFinished {
            for ip in pod.ips { byAddress[Self.normal(ip)] = pod }
        }
        var podByNamespace: [String: KubePod] = [:]
        for namespace in namespaces {
            for address in namespace.addresses {
                let ip = String(address.split(separator: "/").first ?? "")
                if let pod = byAddress[Self.normal(ip)] {
                    podByNamespace[namespace.name] = pod
                    break
                }
            }
        }
        let matched = Set(podByNamespace.values.map(\.key))
        let unmatched = dump.pods.filter { !$0.hostNetwork && !$0.hasFinished && !matched.contains($0.key) }.sorted {
            $0.key < $1.key
        }
        return PodNamespaces(podByNamespace: podByNamespace, unmatched: unmatched)
    }

    /// The inventory cut to the namespaces that hold the dump's pods: what the probes may start from and go to (the
    /// scope guard: nothing else on the host is probed). Unmatched pods are problems — with `node`, only the pods
    /// the dump places on that node (the others live elsewhere).
    public static func scope(_ inventory: inout InventoryReport, dump: ClusterDump, node: String? = nil) {
        let matched = Self.match(inventory.namespaces, dump: dump)
        inventory.namespaces = inventory.namespaces.filter { matched.podByNamespace[$0.name] != nil }
        inventory.summary.namespaces = inventory.namespaces.count
        for pod in matched.unmatched where node == nil || pod.nodeName == node {
            inventory.problems.append(
                "pod \(pod.key) (\(pod.ips.joined(separator: ", "))): no network namespace on this host holds its address"
            )
        }
    }

    /// Sets each TCP and UDP cell between matched pods to what the policies intend (`expected`, and the deciding
    /// rules as `rule`), marks the contradictions as violations, and returns one finding per contradiction:
    /// `k8s-denied-but-open` (high: the policies deny it, yet a probe from the source pod's namespace got through)
    /// and `k8s-allowed-but-blocked`. A cell that proved nothing (UDP without answer, an error, skipped) is judged
    /// neither way; ICMP is outside NetworkPolicy's protocols.
    public static func judge(_ report: inout ProbeReport, engine: PolicyEngine) -> [Finding] {
        let matched = Self.match(report.inventory.namespaces, dump: engine.dump)
        var byAddress: [String: KubePod] = [:]
        for pod in engine.dump.pods where !pod.hostNetwork && !pod.hasFinished {
            for ip in pod.ips { byAddress[Self.normal(ip)] = pod }
        }
        var findings: [Finding] = []
        for index in report.cells.indices {
            let cell = report.cells[index]
            guard let port = cell.port, let proto = KubeProtocol(rawValue: cell.protocol.rawValue.uppercased()),
                let source = matched.podByNamespace[cell.source], let destination = byAddress[Self.normal(cell.address)]
            else { continue }
            let decision = engine.decide(
                from: source, to: destination, address: cell.address, port: KubePort(port: port, proto: proto))
            report.cells[index].expected = decision.allowed ? .allow : .deny
            report.cells[index].rule = "NetworkPolicy: " + decision.explanation
            let connection = "\(source.key) -> \(destination.key) \(proto.lowercased)/\(port)"
            if !decision.allowed && cell.state.isOpen {
                report.cells[index].violation = .unexpectedReachable
                findings.append(
                    Finding(
                        kind: .kubernetesDeniedButOpen,
                        title: "\(connection) is open, though the NetworkPolicies deny it",
                        detail:
                            "Probed from \(source.key)'s network namespace (\(cell.source)) to \(cell.destination): \(cell.state.rawValue). Intent: \(decision.explanation).",
                        location: connection))
            } else if decision.allowed && cell.state.isBlocked {
                report.cells[index].violation = .unexpectedBlocked
                findings.append(
                    Finding(
                        kind: .kubernetesAllowedButBlocked,
                        title: "\(connection) is blocked, though the NetworkPolicies allow it",
                        detail:
                            "Probed from \(source.key)'s network namespace (\(cell.source)) to \(cell.destination): \(cell.state.rawValue). Intent: \(decision.explanation).",
                        location: connection))
            } else {
                report.cells[index].violation = nil
            }
        }
        return findings
    }

    /// An address in one spelling (IPv6 text varies).
    static func normal(_ text: String) -> String { IPAddress(text)?.description ?? text }
}

extension NodeAudit {
    /// `audit --k8s`: the audit's measured matrix judged against the NetworkPolicy intent. The findings are added to
    /// the report (its evidence stays facts only: the cells are judged on a copy); without probe evidence, or with no
    /// pod of the dump among the probed namespaces, the report says so and is incomplete.
    public static func judge(_ report: inout AuditReport, engine: PolicyEngine) {
        guard var probe = report.evidence.probe else {
            report.problems.append("--k8s: the audit has no probe evidence to compare with the NetworkPolicy intent")
            report.complete = false
            return
        }
        let pods = Self.match(probe.inventory.namespaces, dump: engine.dump)
        if pods.podByNamespace.isEmpty {
            report.problems.append("--k8s: no pod of the dump was found among the probed network namespaces")
            report.complete = false
        }
        let findings = Self.judge(&probe, engine: engine)
        report.findings += findings
        for finding in findings { report.summary.findingsBySeverity[finding.severity.rawValue, default: 0] += 1 }
    }
}
