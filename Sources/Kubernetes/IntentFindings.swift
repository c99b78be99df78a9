import BulkheadModel

/// What is worth knowing about the NetworkPolicies themselves, before any probe: pods no policy isolates, policies
/// that allow everything, namespaces without a default deny, rules that select nothing, named ports that resolve
/// nowhere, egress isolation that forgot DNS.
public enum IntentFindings {
    /// The labels the cluster DNS pods carry (CoreDNS and kube-dns both keep `k8s-app: kube-dns`).
    static let dnsLabels = ["k8s-app": "kube-dns"]

    public static func findings(_ engine: PolicyEngine) -> [Finding] {
        let dump = engine.dump
        var findings: [Finding] = []
        // Finished pods (Succeeded, Failed) are no traffic's end: neither unisolated nor a peer's match.
        let pods = dump.pods.filter { !$0.hostNetwork && !$0.hasFinished }.sorted { $0.key < $1.key }
        for pod in pods where engine.policies(selecting: pod, ingress: true).isEmpty {
            findings.append(
                Finding(
                    kind: .kubernetesPodNotIsolated,
                    // "for ingress": a policy of Egress alone may select it, and isolates nothing it receives.
                    title: "Pod \(pod.key) is selected by no NetworkPolicy for ingress",
                    detail:
                        "No policy with Ingress in its types selects \(pod.key): every pod and address may reach it on every port.",
                    location: pod.key))
        }
        for namespace in Set(pods.map(\.namespace)).sorted() {
            let hasDefaultDeny = dump.policies.contains {
                $0.namespace == namespace && $0.podSelector.isEmpty && $0.affectsIngress && $0.ingress.isEmpty
            }
            if !hasDefaultDeny {
                findings.append(
                    Finding(
                        kind: .kubernetesNoDefaultDeny,
                        title: "Namespace \(namespace) has no default-deny ingress policy",
                        detail:
                            "No policy in \(namespace) selects every pod with no ingress rules; a new pod there starts reachable by all.",
                        location: namespace))
            }
        }
        for policy in dump.policies.sorted(by: { $0.key < $1.key }) {
            findings += Self.ruleFindings(policy, engine: engine)
        }
        findings += Self.dnsFindings(engine)
        return findings
    }

    private static func ruleFindings(_ policy: NetworkPolicy, engine: PolicyEngine) -> [Finding] {
        let dump = engine.dump
        var findings: [Finding] = []
        let selected = dump.pods.filter {
            !$0.hostNetwork && $0.namespace == policy.namespace && policy.podSelector.matches($0.labels)
        }
        let directions: [(String, [PolicyRule], Bool)] = [
            ("ingress", policy.affectsIngress ? policy.ingress : [], true),
            ("egress", policy.affectsEgress ? policy.egress : [], false),
        ]
        for (direction, rules, ingress) in directions {
            for (index, rule) in rules.enumerated() {
                let location = "\(policy.key) \(direction)[\(index)]"
                let everything =
                    rule.peers.isEmpty ? ["every pod and address"] : rule.peers.compactMap(Self.everything)
                if !everything.isEmpty && rule.ports.isEmpty {
                    let peers = everything.joined(separator: " and ")
                    findings.append(
                        Finding(
                            kind: .kubernetesPolicyAllowsAll,
                            title: "\(location) allows all \(direction) traffic \(ingress ? "from" : "to") \(peers)",
                            detail:
                                "The rule has no ports and its peers select \(peers): the \(selected.count) pod(s) it applies to are open for \(direction) on every port.",
                            location: location))
                }
                var peerPods: [KubePod] = []
                for (peerIndex, peer) in rule.peers.enumerated() where peer.ipBlock == nil {
                    let matched = dump.pods.filter {
                        !$0.hasFinished
                            && engine.matches(peer, policyNamespace: policy.namespace, pod: $0, address: nil)
                    }
                    peerPods += matched
                    if matched.isEmpty {
                        findings.append(
                            Finding(
                                kind: .kubernetesRuleSelectsNothing,
                                title: "\(location) peer \(peerIndex) selects no pod",
                                detail:
                                    "No pod in the dump matches this peer's selectors: the traffic it was meant to allow is denied.",
                                location: location))
                    }
                }
                // Named ports resolve on the destination: the selected pods for ingress, the peers for egress.
                let destinations =
                    ingress
                    ? selected
                    : (rule.peers.isEmpty || rule.peers.contains { $0.ipBlock != nil } ? dump.pods : peerPods)
                for entry in rule.ports {
                    guard case .name(let name) = entry.port else { continue }
                    if !destinations.contains(where: { $0.resolve(namedPort: name, proto: entry.proto) != nil }) {
                        findings.append(
                            Finding(
                                kind: .kubernetesNamedPortUnresolved,
                                title:
                                    "\(location) names port '\(name)' (\(entry.proto.rawValue)) that no destination declares",
                                detail:
                                    "None of the \(destinations.count) pod(s) this rule's traffic goes to declares a \(entry.proto.rawValue) container port named '\(name)': the rule allows nothing on it.",
                                location: location))
                    }
                }
            }
        }
        return findings
    }

    /// What a peer selecting everything of one sort selects, in words: every pod of every namespace
    /// (`namespaceSelector: {}`: pods only, no address outside the cluster), or every IPv4 or IPv6 address (an
    /// ipBlock of 0.0.0.0/0 or ::/0 without exceptions: one family only). Nil for a narrower peer.
    static func everything(_ peer: PolicyPeer) -> String? {
        if let block = peer.ipBlock {
            guard block.except.isEmpty else { return nil }
            return block.cidr == "0.0.0.0/0" ? "every IPv4 address" : block.cidr == "::/0" ? "every IPv6 address" : nil
        }
        return (peer.namespaceSelector?.isEmpty ?? false) && (peer.podSelector?.isEmpty ?? true)
            ? "every pod of every namespace" : nil
    }

    private static func dnsFindings(_ engine: PolicyEngine) -> [Finding] {
        let dump = engine.dump
        let dnsPort = KubePort(port: 53, proto: .udp)
        var dnsPods = dump.pods.filter { pod in Self.dnsLabels.allSatisfy { pod.labels[$0.key] == $0.value } }
        if dnsPods.isEmpty {
            // The dump lacks kube-system: judge against the DNS pods every cluster runs, as they are labelled.
            dnsPods = [
                KubePod(
                    namespace: "kube-system", name: "coredns", labels: Self.dnsLabels, ips: [],
                    containers: [
                        KubeContainer(
                            name: "coredns", image: "",
                            ports: [
                                KubeContainerPort(name: "dns", containerPort: 53, proto: .udp),
                                KubeContainerPort(name: "dns-tcp", containerPort: 53, proto: .tcp),
                            ], privileged: false, addedCapabilities: [])
                    ])
            ]
        }
        var findings: [Finding] = []
        // dnsPolicy None brings its own resolvers, and Default uses the node's resolv.conf: neither asks the
        // cluster DNS.
        for pod in dump.pods.sorted(by: { $0.key < $1.key })
        where !pod.hostNetwork && !pod.hasFinished && pod.dnsPolicy != "None" && pod.dnsPolicy != "Default" {
            let policies = engine.policies(selecting: pod, ingress: false)
            guard !policies.isEmpty else { continue }
            let reachesDNS = dnsPods.contains { dns in
                if let address = dns.ips.first {
                    return engine.decide(from: pod, to: dns, address: address, port: dnsPort).egress.allows
                }
                // The DNS pods' addresses are not in the dump: an ipBlock rule may be the one that reaches them,
                // so any ipBlock allowing UDP 53 counts (flagging it would be a guess, and a false one for 0.0.0.0/0).
                return policies.contains { policy in
                    policy.egress.contains { rule in
                        PolicyEngine.matches(rule.ports, destination: dns, port: dnsPort)
                            && (rule.peers.isEmpty
                                || rule.peers.contains { peer in
                                    peer.ipBlock != nil
                                        || engine.matches(
                                            peer, policyNamespace: policy.namespace, pod: dns, address: nil)
                                })
                    }
                }
            }
            if !reachesDNS {
                findings.append(
                    Finding(
                        kind: .kubernetesEgressWithoutDNS, title: "\(pod.key) is isolated for egress without DNS",
                        detail:
                            "\(pod.key) resolves names through the cluster DNS (dnsPolicy \(pod.dnsPolicy)) but no egress rule selecting it allows UDP port 53 to the DNS pods (k8s-app=kube-dns).",
                        location: pod.key))
            }
        }
        return findings
    }
}
