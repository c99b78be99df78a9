import BulkheadModel
import BulkheadTestSupport
import Foundation
import Kubernetes
import Testing

/// Reading dumps and manifests, the semantics the e2e cases do not reach, the intent findings, the diff and the
/// inventory mapping.
@Suite("Kubernetes: dumps, NetworkPolicy semantics, findings, diff")
struct KubernetesDumpTests {
    static func pod(
        _ key: String, labels: [String: String] = [:], ip: String, ports: [KubeContainerPort] = [],
        hostNetwork: Bool = false, node: String = "node-1", dnsPolicy: String = "ClusterFirst"
    ) -> KubePod {
        let parts = key.split(separator: "/").map(String.init)
        return KubePod(
            namespace: parts[0], name: parts[1], labels: labels, ips: [ip], nodeName: node, hostNetwork: hostNetwork,
            dnsPolicy: dnsPolicy,
            containers: [KubeContainer(name: "c", image: "img", ports: ports, privileged: false, addedCapabilities: [])]
        )
    }

    static func dump(_ pods: [KubePod], _ policies: [NetworkPolicy], namespaces: [KubeNamespace] = []) -> ClusterDump {
        var dump = ClusterDump()
        dump.pods = pods
        dump.policies = policies
        dump.namespaces =
            namespaces.isEmpty
            ? Array(Set(pods.map(\.namespace))).sorted().map { KubeNamespace(name: $0, labels: [:]) } : namespaces
        return dump
    }

    static let tcp80 = KubePort(port: 80, proto: .tcp)

    // MARK: - Reading

    @Test("a malformed object is an error naming the file and the JSON path")
    func errorsNamePath() throws {
        let text = """
            {"apiVersion": "v1", "kind": "List", "items": [
              {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}},
              {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "x"},
               "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 70000}]}]}}
            ]}
            """
        #expect {
            try ClusterDump.parse(text, name: "dump.json")
        } throws: { error in
            let message = "\(error)"
            return message.hasPrefix("dump.json: .items[1].spec.ingress[0].ports[0].port:") && message.contains("70000")
        }
        let labels = """
            apiVersion: v1
            kind: Pod
            metadata:
              name: a
              labels: {version: 2}
            """
        #expect {
            try ClusterDump.parse(labels, name: "pod.yaml")
        } throws: { error in "\(error)".hasPrefix("pod.yaml:5: .metadata.labels.version: expected a string") }
        for broken in ["{\"kind\": \"List\", \"items\": [", "kind: [unclosed", "- just\n- a list", "\u{0}"] {
            #expect(throws: KubernetesError.self) { try ClusterDump.parse(broken, name: "broken") }
        }
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(throws: KubernetesError.self) { try ClusterDump.parse(deep, name: "deep.json") }
        let peer = """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: p}
            spec:
              podSelector: {}
              ingress:
                - from:
                    - ipBlock: {cidr: 10.0.0.0/8}
                      podSelector: {}
            """
        #expect {
            try ClusterDump.parse(peer, name: "np.yaml")
        } throws: { error in "\(error)".contains(".spec.ingress[0].from[0]: ipBlock cannot be combined") }
    }

    @Test("a folder of multi-document manifests: unknown kinds ignored with a note, later objects win")
    func folderOfManifests() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bh-k8s-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: a, namespace: shop, labels: {app: web}}
        status: {podIP: 198.18.3.4}
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: deny, namespace: shop}
        spec:
          podSelector: {}
        """.write(toFile: folder + "/a.yaml", atomically: true, encoding: .utf8)
        try """
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "shop", "labels": {"app": "api"}},
         "status": {"podIPs": [{"ip": "198.18.3.5"}]}}
        """.write(toFile: folder + "/b.json", atomically: true, encoding: .utf8)
        let dump = try ClusterDump.load(paths: [folder])
        #expect(dump.pods.count == 1)
        #expect(dump.pods.first?.labels == ["app": "api"])
        #expect(dump.pods.first?.ips == ["198.18.3.5"])
        #expect(dump.policies.first?.policyTypes == [.ingress])
        #expect(dump.notes.contains { $0.contains("kind Deployment") })
        #expect(dump.notes.contains { $0.contains("shop/a was given more than once") })
        #expect(dump.notes.contains { $0.contains("namespace shop is not in the dump") })
        #expect(throws: KubernetesError.self) { try ClusterDump.load(paths: [folder + "/missing.json"]) }
        // A namespace only assumed by a later dump does not replace the one read with its labels.
        var merged = try ClusterDump.parse(
            "{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"shop\", \"labels\": {\"team\": \"a\"}}}",
            name: "ns.json")
        merged.merge(dump)
        #expect(merged.namespaces.count == 1)
        #expect(merged.namespaces.first?.labels == ["team": "a"])
        #expect(!merged.notes.contains { $0.contains("namespace shop is not in the dump") })
    }

    @Test("the API's port validation: endPort needs a numeric port at or below it; named ports are IANA names")
    func portValidation() {
        func policy(_ ports: String) -> String {
            """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: p, namespace: x}
            spec:
              podSelector: {}
              egress:
                - ports: [\(ports)]
            """
        }
        for (ports, message) in [
            ("{endPort: 2000}", "endPort needs a numeric port"),
            ("{port: http, endPort: 2000}", "endPort needs a numeric port"),
            ("{port: 3000, endPort: 2000}", "endPort 2000 is below port 3000"),
            ("{port: 'not a name!'}", "neither a port number nor a port name"),
            ("{port: 80, protocol: ICMP}", "'ICMP' is not a protocol"),
        ] {
            #expect {
                try ClusterDump.parse(policy(ports), name: "np.yaml")
            } throws: { error in
                "\(error)".contains(".spec.egress[0].ports[0]") && "\(error)".contains(message)
            }
        }
        #expect(throws: Never.self) {
            try ClusterDump.parse(policy("{port: 1000, endPort: 2000, protocol: UDP}"), name: "ok")
        }
    }

    // MARK: - Semantics

    @Test("policyTypes defaults: Egress only when egress rules exist; `egress: []` alone isolates nothing")
    func policyTypeDefaults() throws {
        let text = """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: with-egress, namespace: x}
            spec:
              podSelector: {}
              egress:
                - to: [{podSelector: {}}]
            ---
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: empty-egress, namespace: x}
            spec:
              podSelector: {}
              egress: []
            """
        let dump = try ClusterDump.parse(text, name: "np.yaml")
        #expect(dump.policies.first { $0.name == "with-egress" }?.policyTypes == [.ingress, .egress])
        #expect(dump.policies.first { $0.name == "empty-egress" }?.policyTypes == [.ingress])
    }

    @Test("matchExpressions Exists and DoesNotExist; NotIn holds for an absent label")
    func selectorOperators() {
        let exists = LabelSelector(matchExpressions: [.init(key: "tier", operator: .exists, values: [])])
        let missing = LabelSelector(matchExpressions: [.init(key: "tier", operator: .doesNotExist, values: [])])
        let notIn = LabelSelector(matchExpressions: [.init(key: "tier", operator: .notIn, values: ["db"])])
        #expect(exists.matches(["tier": ""]) && !exists.matches([:]))
        #expect(missing.matches([:]) && !missing.matches(["tier": "web"]))
        #expect(notIn.matches([:]) && notIn.matches(["tier": "web"]) && !notIn.matches(["tier": "db"]))
        #expect(LabelSelector().matches(["any": "thing"]))
    }

    @Test("endPort ranges, named ports per destination, UDP apart from TCP")
    func ports() {
        let web = Self.pod(
            "x/web", labels: ["app": "web"], ip: "198.18.1.1",
            ports: [KubeContainerPort(name: "http", containerPort: 8080, proto: .tcp)])
        let api = Self.pod(
            "x/api", labels: ["app": "api"], ip: "198.18.1.2",
            ports: [KubeContainerPort(name: "http", containerPort: 9090, proto: .tcp)])
        let client = Self.pod("y/client", ip: "198.18.2.1")
        let policy = NetworkPolicy(
            namespace: "x", name: "p", policyTypes: [.ingress],
            ingress: [
                PolicyRule(ports: [PolicyPort(proto: .tcp, port: .number(1000), endPort: 2000)]),
                PolicyRule(ports: [PolicyPort(proto: .tcp, port: .name("http"))]),
            ])
        let engine = PolicyEngine(Self.dump([web, api, client], [policy]))
        func allowed(_ to: KubePod, _ port: Int, _ proto: KubeProtocol = .tcp) -> Bool {
            engine.decide(from: client, to: to, address: to.ips[0], port: KubePort(port: port, proto: proto)).allowed
        }
        #expect(allowed(web, 1000) && allowed(web, 1500) && allowed(web, 2000))
        #expect(!allowed(web, 999) && !allowed(web, 2001))
        #expect(!allowed(web, 1500, .udp))
        #expect(allowed(web, 8080) && !allowed(web, 9090))
        #expect(allowed(api, 9090) && !allowed(api, 8080))
    }

    @Test("self traffic, hostNetwork pods and the node's own traffic are not isolated")
    func exemptions() {
        let a = Self.pod("x/a", labels: ["pod": "a"], ip: "198.18.1.1", node: "n1")
        let host = Self.pod("kube-system/agent", ip: "198.18.9.1", hostNetwork: true, node: "n1")
        let farHost = Self.pod("kube-system/agent2", ip: "198.18.9.2", hostNetwork: true, node: "n2")
        let denyAll = NetworkPolicy(namespace: "x", name: "deny", policyTypes: [.ingress, .egress])
        let selectAll = NetworkPolicy(namespace: "kube-system", name: "deny", policyTypes: [.ingress, .egress])
        let engine = PolicyEngine(Self.dump([a, host, farHost], [denyAll, selectAll]))
        #expect(engine.decide(from: a, to: a, address: "198.18.1.1", port: Self.tcp80).allowed)
        #expect(engine.decide(from: host, to: a, address: "198.18.1.1", port: Self.tcp80).allowed)
        #expect(!engine.decide(from: farHost, to: a, address: "198.18.1.1", port: Self.tcp80).allowed)
        // The hostNetwork destination is not isolated, but a's own egress is.
        let toHost = engine.decide(from: a, to: host, address: "198.18.9.1", port: Self.tcp80)
        #expect(toHost.ingress.allows && !toHost.egress.allows)
        #expect(engine.decide(from: farHost, to: host, address: "198.18.9.1", port: Self.tcp80).allowed)
    }

    @Test("ipBlock matches the source address for ingress; except carves holes; selectors ignore hostNetwork")
    func ipBlockIngress() {
        let server = Self.pod("x/server", labels: ["app": "s"], ip: "198.18.1.1")
        let near = Self.pod("y/near", ip: "198.18.2.1")
        let carved = Self.pod("y/carved", ip: "198.18.2.2")
        let host = Self.pod("y/host", ip: "198.18.2.3", hostNetwork: true, node: "other")
        let policy = NetworkPolicy(
            namespace: "x", name: "p", policyTypes: [.ingress],
            ingress: [
                PolicyRule(peers: [PolicyPeer(ipBlock: IPBlock(cidr: "198.18.2.0/24", except: ["198.18.2.2/32"]))])
            ])
        let engine = PolicyEngine(Self.dump([server, near, carved, host], [policy]))
        #expect(engine.decide(from: near, to: server, address: "198.18.1.1", port: Self.tcp80).allowed)
        #expect(!engine.decide(from: carved, to: server, address: "198.18.1.1", port: Self.tcp80).allowed)
        #expect(engine.decide(from: host, to: server, address: "198.18.1.1", port: Self.tcp80).allowed)
        let bySelector = NetworkPolicy(
            namespace: "x", name: "q", policyTypes: [.ingress],
            ingress: [PolicyRule(peers: [PolicyPeer(podSelector: LabelSelector(), namespaceSelector: LabelSelector())])]
        )
        let engine2 = PolicyEngine(Self.dump([server, host], [bySelector]))
        #expect(!engine2.decide(from: host, to: server, address: "198.18.1.1", port: Self.tcp80).allowed)
    }

    @Test(
        "IntentEvaluator decides every cell as PolicyEngine.decide does, reason included, and in the matrix's order")
    func evaluatorAgreesWithEngine() throws {
        let folder = Repository.path("Tests/KubernetesTests/Fixtures")
        let dumps = [
            try ClusterDump.load(paths: [folder + "/intent/cluster.json"]),
            try ClusterDump.load(paths: [
                folder + "/netpol/cluster.json", folder + "/netpol/cases/28-deny-egress-on-client-side.yaml",
            ]),
        ]
        let listed = [
            Self.tcp80, KubePort(port: 53, proto: .udp), KubePort(port: 5433, proto: .tcp),
            KubePort(port: 9000, proto: .sctp),
        ]
        for dump in dumps {
            let engine = PolicyEngine(dump)
            for ports in [IntentMatrix.Ports.declared, .list(listed)] {
                let evaluator = IntentEvaluator(engine: engine, ports: ports)
                var count = 0
                var mismatches: [String] = []
                var lastDestination = -1
                evaluator.forEachCell { source, destination, address, port, scratch in
                    count += 1
                    #expect(destination >= lastDestination, "destinations in order")
                    lastDestination = destination
                    let from = evaluator.pods[source]
                    let to = evaluator.pods[destination]
                    let decision = engine.decide(from: from, to: to, address: to.ips[address], port: port)
                    if decision.allowed != scratch.allowed || decision.explanation != evaluator.reason(scratch) {
                        mismatches.append("\(from.key) -> \(to.ips[address]) \(port): \(decision.explanation)")
                    }
                    // The table's shortcut (first rule found) gives the same verdict.
                    var quick = IntentEvaluator.Scratch()
                    let fast = evaluator.decide(
                        source: source, destination: destination, address: address, port: port, reasons: false,
                        into: &quick)
                    if fast != decision.allowed { mismatches.append("table verdict \(from.key) -> \(to.key) \(port)") }
                }
                #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
                #expect(count > 100)
            }
        }
    }

    // MARK: - Findings, diff, inventory

    @Test("intent findings: not isolated, allow-all, no default deny, selects nothing, unresolved port, no DNS")
    func findings() {
        let web = Self.pod(
            "shop/web", labels: ["app": "web"], ip: "198.18.1.1",
            ports: [KubeContainerPort(name: "http", containerPort: 80, proto: .tcp)])
        let open = Self.pod("open/any", ip: "198.18.2.1")
        let policies = [
            NetworkPolicy(
                namespace: "shop", name: "allow-all", podSelector: LabelSelector(matchLabels: ["app": "web"]),
                policyTypes: [.ingress], ingress: [PolicyRule()]),
            NetworkPolicy(
                namespace: "shop", name: "typo", podSelector: LabelSelector(matchLabels: ["app": "web"]),
                policyTypes: [.ingress, .egress],
                ingress: [
                    PolicyRule(
                        peers: [PolicyPeer(podSelector: LabelSelector(matchLabels: ["app": "fronend"]))],
                        ports: [PolicyPort(proto: .tcp, port: .name("htp"))])
                ],
                egress: [
                    PolicyRule(
                        peers: [PolicyPeer(podSelector: LabelSelector())], ports: [PolicyPort(port: .number(443))])
                ]),
        ]
        let findings = IntentFindings.findings(PolicyEngine(Self.dump([web, open], policies)))
        let kinds = Set(findings.map(\.kind))
        #expect(findings.contains { $0.kind == .kubernetesPodNotIsolated && $0.location == "open/any" })
        #expect(!findings.contains { $0.kind == .kubernetesPodNotIsolated && $0.location == "shop/web" })
        #expect(
            findings.contains { $0.kind == .kubernetesPolicyAllowsAll && $0.location == "shop/allow-all ingress[0]" })
        #expect(findings.contains { $0.kind == .kubernetesNoDefaultDeny && $0.location == "shop" })
        #expect(findings.contains { $0.kind == .kubernetesRuleSelectsNothing && $0.location == "shop/typo ingress[0]" })
        #expect(findings.contains { $0.kind == .kubernetesNamedPortUnresolved && $0.title.contains("'htp'") })
        #expect(findings.contains { $0.kind == .kubernetesEgressWithoutDNS && $0.location == "shop/web" })
        #expect(kinds.allSatisfy { $0.isRegistered })
        // With DNS allowed, and a default deny, those two go away.
        var fixed = policies
        fixed[1].egress.append(
            PolicyRule(
                peers: [PolicyPeer(namespaceSelector: LabelSelector())],
                ports: [PolicyPort(proto: .udp, port: .number(53)), PolicyPort(proto: .tcp, port: .number(53))]))
        fixed.append(NetworkPolicy(namespace: "shop", name: "default-deny", policyTypes: [.ingress]))
        let after = IntentFindings.findings(PolicyEngine(Self.dump([web, open], fixed)))
        #expect(!after.contains { $0.kind == .kubernetesEgressWithoutDNS })
        #expect(!after.contains { $0.kind == .kubernetesNoDefaultDeny && $0.location == "shop" })
    }

    @Test("diff: the connections a policy change opens and closes")
    func diff() {
        let a = Self.pod("x/a", labels: ["pod": "a"], ip: "198.18.1.1")
        let b = Self.pod("x/b", labels: ["pod": "b"], ip: "198.18.1.2")
        let c = Self.pod("y/c", labels: ["pod": "c"], ip: "198.18.2.1")
        let old = Self.dump([a, b, c], [NetworkPolicy(namespace: "x", name: "deny", policyTypes: [.ingress])])
        let new = Self.dump(
            [a, b, c],
            [
                NetworkPolicy(
                    namespace: "x", name: "deny", podSelector: LabelSelector(matchLabels: ["pod": "a"]),
                    policyTypes: [.ingress],
                    ingress: [PolicyRule(peers: [PolicyPeer(podSelector: LabelSelector(matchLabels: ["pod": "b"]))])])
            ])
        let ports = IntentMatrix.Ports.list([Self.tcp80])
        let diff = IntentDiff(
            old: IntentMatrix(engine: PolicyEngine(old), ports: ports),
            new: IntentMatrix(engine: PolicyEngine(new), ports: ports))
        #expect(diff.added.map(\.connection) == ["x/a -> x/b tcp/80", "x/b -> x/a tcp/80", "y/c -> x/b tcp/80"])
        #expect(diff.removed.isEmpty)
        let back = IntentDiff(
            old: IntentMatrix(engine: PolicyEngine(new), ports: ports),
            new: IntentMatrix(engine: PolicyEngine(old), ports: ports))
        #expect(back.removed.map(\.connection) == diff.added.map(\.connection))
    }

    @Test("the inventory model: pods as containers, cluster set for a node, probe cells carry the intent")
    func inventory() throws {
        let dump = try ClusterDump.load(paths: [NetworkPolicyTruthTableTests.folder + "/cluster.json"])
        let report = KubernetesInventory.report(dump, node: "node-1")
        #expect(report.containers.count == 9)
        #expect(report.cluster?.orchestrator == .kubernetes)
        #expect(report.cluster?.nodeID == "node-1")
        let xa = try #require(report.containers.first { $0.name == "x/a" })
        #expect(xa.networks.first?.ipv4 == "198.18.10.1")
        #expect(xa.labels["io.kubernetes.pod.namespace"] == "x")
        #expect(xa.listening.contains(ListeningSocket(proto: "tcp", address: "0.0.0.0", port: 81)))
        #expect(KubernetesInventory.report(dump).cluster == nil)
        var withPolicy = dump
        withPolicy.policies = [NetworkPolicy(namespace: "x", name: "deny", policyTypes: [.ingress])]
        let cells = IntentMatrix(engine: PolicyEngine(withPolicy), ports: .list([Self.tcp80])).reachabilityCells
        let cell = try #require(cells.first { $0.source == "y/a" && $0.destinationName == "x/a" })
        #expect(cell.expected == .deny && cell.state == .skipped && cell.destination == "198.18.10.1:80")
    }

    @Test("services and EndpointSlices: selectors, ports, target ports by name, cluster IPs, endpoints")
    func services() throws {
        let text = """
            {"apiVersion": "v1", "kind": "List", "items": [
              {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
               "spec": {"type": "ClusterIP", "clusterIP": "198.18.100.10", "clusterIPs": ["198.18.100.10"],
                        "selector": {"app": "web"},
                        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                                  {"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP"}]}},
              {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "web-abc", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
               "addressType": "IPv4", "endpoints": [{"addresses": ["198.18.1.1"]}, {"addresses": ["198.18.1.2"]}],
               "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
            ]}
            """
        let dump = try ClusterDump.parse(text, name: "svc.json")
        let service = try #require(dump.services.first)
        #expect(service.selector == ["app": "web"])
        #expect(service.ports.map(\.targetPort) == [.name("http"), .number(5353)])
        #expect(service.clusterIPs == ["198.18.100.10"])
        #expect(dump.endpointSlices.first?.addresses == ["198.18.1.1", "198.18.1.2"])
        let report = KubernetesInventory.report(dump)
        let record = try #require(report.containers.first { $0.name == "service shop/web" })
        #expect(record.state == "service")
        #expect(record.networks.first?.ipv4 == "198.18.100.10")
        #expect(record.labels["selector.app"] == "web")
        #expect(record.labels["io.kubernetes.service.targets"] == "tcp/80->http,udp/53->5353")
        #expect(record.labels["io.kubernetes.service.endpoints"] == "198.18.1.1,198.18.1.2")
    }

    @Test("node namespaces match running pods by address; a finished pod's old address does not")
    func namespaceMatching() {
        var finished = Self.pod("x/old", ip: "198.18.1.1")
        finished.phase = "Succeeded"
        let running = Self.pod("x/new", ip: "198.18.1.1")
        let host = Self.pod("x/host", ip: "198.18.9.9", hostNetwork: true)
        let elsewhere = Self.pod("x/far", ip: "198.18.2.2", node: "node-2")
        let dump = Self.dump([finished, running, host, elsewhere], [])
        let namespaces = [
            NamespaceRecord(name: "cni-1", netns: "net:[1]", pids: [], addresses: ["198.18.1.1/24"], listening: []),
            NamespaceRecord(name: "other", netns: "net:[2]", pids: [], addresses: ["198.18.7.7/24"], listening: []),
        ]
        let matched = NodeAudit.match(namespaces, dump: dump)
        #expect(matched.podByNamespace["cni-1"]?.key == "x/new")
        #expect(matched.podByNamespace["other"] == nil)
        #expect(matched.unmatched.map(\.key) == ["x/far"])
        var inventory = InventoryReport(
            sources: [], networks: [], containers: [], namespaces: namespaces, findings: [], complete: true,
            problems: [], summary: InventorySummary())
        NodeAudit.scope(&inventory, dump: dump, node: "node-1")
        #expect(inventory.namespaces.map(\.name) == ["cni-1"], "nothing but the dump's pods is probed")
        #expect(inventory.problems.isEmpty, "x/far runs on node-2: not expected here")
    }
}
