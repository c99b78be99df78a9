import BulkheadTestSupport
import Foundation
import Testing

/// On a node: pod sandboxes made by the real CNI bridge plugin, found by their addresses, probed from inside, and
/// judged against the NetworkPolicy intent both ways. No policy enforcer runs here, so what the policies deny is open
/// (the dangerous contradiction); an iptables DROP inside one pod's own namespace makes the other one.
@Suite("Kubernetes: node-local probes of CNI pod namespaces", .serialized)
struct KubernetesNodeTests {
    static func waitListening(_ lab: CNIPodLab, _ sandbox: String, port: Int) throws {
        let needle = String(format: ":%04X ", port)
        for _ in 0..<50 {
            // busybox httpd listens on [::]:port (dual stack), so both tables are read.
            let table = try lab.run(in: sandbox, ["cat", "/proc/net/tcp", "/proc/net/tcp6"])
            if table.output.split(separator: "\n").contains(where: { $0.contains(needle) && $0.contains(" 0A ") }) {
                return
            }
            usleep(100_000)
        }
        throw CNILabError(message: "nothing listens on \(port) in \(sandbox)")
    }

    /// Three pod sandboxes serving TCP 80, x/b dropping it in its own namespace.
    static func pods(_ lab: CNIPodLab) throws -> (
        (namespace: String, address: String), (namespace: String, address: String),
        (namespace: String, address: String)
    ) {
        let xa = try lab.addPod("xa")
        let xb = try lab.addPod("xb")
        let ya = try lab.addPod("ya")
        for pod in [xa, xb, ya] {
            try lab.start(in: pod.namespace, ["busybox", "httpd", "-f", "-p", "80", "-h", "/"])
        }
        for pod in [xa, xb, ya] { try Self.waitListening(lab, pod.namespace, port: 80) }
        let drop = try lab.run(
            in: xb.namespace, ["iptables", "-A", "INPUT", "-p", "tcp", "--dport", "80", "-j", "DROP"])
        try #require(drop.status == 0, "iptables in the pod's namespace: \(drop.error)")
        return (xa, xb, ya)
    }

    static func dump(x a: String, x b: String, y ya: String) -> String {
        func pod(_ namespace: String, _ name: String, _ ip: String) -> String {
            """
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "\(name)", "namespace": "\(namespace)",
              "labels": {"pod": "\(name)"}},
             "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "busybox",
               "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}]}]},
             "status": {"phase": "Running", "podIP": "\(ip)", "podIPs": [{"ip": "\(ip)"}]}}
            """
        }
        return """
            {"apiVersion": "v1", "kind": "List", "items": [
              {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}},
              {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "y"}},
              \(pod("x", "a", a)), \(pod("x", "b", b)), \(pod("y", "a", ya)),
              {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "a-only-from-b", "namespace": "x"},
               "spec": {"podSelector": {"matchLabels": {"pod": "a"}}, "policyTypes": ["Ingress"],
                        "ingress": [{"from": [{"podSelector": {"matchLabels": {"pod": "b"}}}],
                                     "ports": [{"port": "http"}]}]}}
            ]}
            """
    }

    @Test(
        "k8s probe: CNI pods matched by address, denied-but-open and allowed-but-blocked found",
        .enabled(if: CNIPodLab.isAvailable, "needs root and containernetworking-plugins (install-deps --test)"))
    func probeAgainstIntent() throws {
        let lab = try CNIPodLab()
        defer { lab.remove() }
        let (xa, xb, ya) = try Self.pods(lab)
        try TemporaryFile.with(Self.dump(x: xa.address, x: xb.address, y: ya.address), named: "cluster.json") { path in
            let result = try BulkheadExecutable.run([
                "k8s", "probe", path, "--ports", "tcp/80", "--format", "json", "--quiet", "--attempts", "1",
                "--timeout", "1", "--node", "node-1",
            ])
            #expect(result.status == 1, "high finding: exit 1 (\(result.error))")
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
            let inventory = try #require(object["inventory"] as? [String: Any])
            let cluster = try #require(inventory["cluster"] as? [String: Any])
            #expect(cluster["orchestrator"] as? String == "kubernetes" && cluster["nodeName"] as? String == "node-1")
            #expect(object["complete"] as? Bool == true, "every pod of node-1 was found: \(object["problems"] ?? "")")
            let cells = try #require(object["cells"] as? [[String: Any]])
            // The scope guard: only the three sandboxes, from and to one another.
            let sources = Set(cells.compactMap { $0["source"] as? String })
            #expect(sources == [xa.namespace, xb.namespace, ya.namespace])
            #expect(cells.count == 6)
            let findings = try #require(object["findings"] as? [[String: Any]])
            let byKind = Dictionary(grouping: findings, by: { $0["kind"] as? String ?? "" })
            let open = (byKind["k8s-denied-but-open"] ?? []).compactMap { $0["location"] as? String }
            let blocked = (byKind["k8s-allowed-but-blocked"] ?? []).compactMap { $0["location"] as? String }
            #expect(open == ["y/a -> x/a tcp/80"])
            #expect((byKind["k8s-denied-but-open"] ?? []).allSatisfy { $0["severity"] as? String == "high" })
            #expect(Set(blocked) == ["x/a -> x/b tcp/80", "y/a -> x/b tcp/80"])
            let xbToXa = try #require(
                cells.first { $0["source"] as? String == xb.namespace && $0["address"] as? String == xa.address })
            #expect(xbToXa["state"] as? String == "reachable")
            #expect(xbToXa["expected"] as? String == "allow")
            #expect(xbToXa["violation"] is NSNull)
        }
        lab.remove()
        let left = try ProcessRunner.run(URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "list"])
        #expect(!left.output.contains("bhk\(lab.id)"), "every sandbox and the hub are gone")
    }

    @Test(
        "audit --k8s: the audit probes the node's pod namespaces and reports contradictions of the intent",
        .enabled(
            if: CNIPodLab.isAvailable && DockerCLI.isAvailable,
            "needs root, containernetworking-plugins and the test dockerd"))
    func auditAgainstIntent() throws {
        let lab = try CNIPodLab()
        defer { lab.remove() }
        let (xa, xb, ya) = try Self.pods(lab)
        let state = NSTemporaryDirectory() + "bh-k8s-state-\(lab.id)"
        defer { try? FileManager.default.removeItem(atPath: state) }
        try TemporaryFile.with(Self.dump(x: xa.address, x: xb.address, y: ya.address), named: "cluster.json") { path in
            // No container carries the scope label: only the pod namespaces are probed.
            let result = try BulkheadExecutable.run([
                "audit", "--k8s", path, "--no-tls", "--scope-label", "bulkhead.k8s-test=\(lab.id)", "--state-dir",
                state, "--format", "json", "--quiet", "--attempts", "1", "--timeout", "1",
            ])
            #expect(result.status == 1, "a high finding: exit 1 (\(result.error))")
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
            let findings = try #require(object["findings"] as? [[String: Any]])
            let open = findings.filter { $0["kind"] as? String == "k8s-denied-but-open" }.compactMap {
                $0["location"] as? String
            }
            let blocked = findings.filter { $0["kind"] as? String == "k8s-allowed-but-blocked" }.compactMap {
                $0["location"] as? String
            }
            #expect(open == ["y/a -> x/a tcp/80"])
            #expect(Set(blocked) == ["x/a -> x/b tcp/80", "y/a -> x/b tcp/80"])
            let evidence = try #require(object["evidence"] as? [String: Any])
            let probe = try #require(evidence["probe"] as? [String: Any])
            let cells = try #require(probe["cells"] as? [[String: Any]])
            let sources = Set(cells.compactMap { $0["source"] as? String })
            #expect(sources == [xa.namespace, xb.namespace, ya.namespace], "only the pod namespaces are probed")
        }
    }
}
