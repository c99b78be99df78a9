import BulkheadModel
import BulkheadTestSupport
import Foundation
import Kubernetes
import Testing

/// `bulkhead k8s diff` and `k8s intent` on what a review found they missed: ports, address families, what was not
/// compared. Dumps are written here in the shape `kubectl get … -o json` writes.
@Suite("Kubernetes: what k8s diff and intent compare")
struct KubernetesDiffTests {
    /// A kubectl `List` of `items` (each a JSON object's text).
    static func list(_ items: [String]) -> String {
        "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"metadata\": {\"resourceVersion\": \"\"}, \"items\": ["
            + items.joined(separator: ",\n") + "]}"
    }

    /// A running pod as kubectl dumps it; `ports` is the containers' `ports` JSON array.
    static func pod(
        _ name: String, namespace: String = "x", app: String, ips: [String], ports: String = "[]",
        phase: String = "Running", extra: String = ""
    ) -> String {
        let addresses = ips.map { "{\"ip\": \"\($0)\"}" }.joined(separator: ", ")
        // kubectl leaves podIP and podIPs out until the pod has an address.
        let status = ips.first.map { ", \"podIP\": \"\($0)\", \"podIPs\": [\(addresses)]" } ?? ""
        return """
            {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": "\(name)", "namespace": "\(namespace)", "labels": {"app": "\(app)"}, "uid": "\(UUID().uuidString)"},
             "spec": {"nodeName": "node-1", "dnsPolicy": "ClusterFirst"\(extra),
                      "containers": [{"name": "c", "image": "registry.example/\(app):1", "ports": \(ports)}]},
             "status": {"phase": "\(phase)"\(status)}}
            """
    }

    /// A NetworkPolicy object with `spec` (JSON text).
    static func policy(_ name: String, namespace: String = "x", spec: String) -> String {
        """
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "\(name)", "namespace": "\(namespace)"}, "spec": \(spec)}
        """
    }

    static let namespaceX =
        "{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"x\", \"labels\": {\"kubernetes.io/metadata.name\": \"x\"}}}"

    /// Writes `before` and `after` to files and runs `k8s diff` on them with `arguments`.
    static func diff(_ before: String, _ after: String, _ arguments: [String] = []) throws -> ProcessOutput {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bh-k8s-diff-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let old = folder.appendingPathComponent("before.json")
        let new = folder.appendingPathComponent("after.json")
        try Data(before.utf8).write(to: old)
        try Data(after.utf8).write(to: new)
        return try BulkheadExecutable.run(["k8s", "diff", old.path, new.path] + arguments)
    }

    /// Writes `dump` to a file and runs `k8s intent` on it with `arguments`.
    static func intent(_ dump: String, _ arguments: [String] = []) throws -> ProcessOutput {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bh-k8s-intent-\(UUID().uuidString).json")
        try Data(dump.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        return try BulkheadExecutable.run(["k8s", "intent", file.path] + arguments)
    }

    static let defaultDeny = policy("default-deny", spec: "{\"podSelector\": {}, \"policyTypes\": [\"Ingress\"]}")

    @Test("d02: without --ports, diff compares every port: ports only a policy names, and port-less rules")
    func everyPortCompared() throws {
        let pods = [
            Self.pod("db", app: "db", ips: ["10.0.0.1"], ports: "[{\"containerPort\": 5432, \"protocol\": \"TCP\"}]"),
            Self.pod("client", app: "client", ips: ["10.0.0.2"]),
        ]
        let before = Self.list([Self.namespaceX] + pods + [Self.defaultDeny])
        let ssh = Self.policy(
            "open-ssh", spec: "{\"podSelector\": {}, \"ingress\": [{\"ports\": [{\"port\": 22}, {\"port\": 6379}]}]}")
        let opened = try Self.diff(before, Self.list([Self.namespaceX] + pods + [Self.defaultDeny, ssh]))
        #expect(opened.status == 1, "\(opened.output)\(opened.error)")
        #expect(opened.output.contains("+ x/client -> x/db tcp/22 "), "\(opened.output)")
        #expect(opened.output.contains("+ x/db -> x/client tcp/6379 "), "\(opened.output)")
        #expect(opened.output.contains("Connections opened: 4"), "\(opened.output)")
        // No pod declares a port: an allow-everything rule still opens every port, reported on the ranges.
        let bare = [
            Self.pod("db", app: "db", ips: ["10.0.0.1"]), Self.pod("client", app: "client", ips: ["10.0.0.2"]),
        ]
        let everything = Self.policy("allow-everything", spec: "{\"podSelector\": {}, \"ingress\": [{}]}")
        let all = try Self.diff(
            Self.list([Self.namespaceX] + bare + [Self.defaultDeny]),
            Self.list([Self.namespaceX] + bare + [Self.defaultDeny, everything]))
        #expect(all.status == 1, "\(all.output)\(all.error)")
        #expect(all.output.contains("+ x/client -> x/db tcp/1-65535 "), "\(all.output)")
        #expect(all.output.contains("+ x/client -> x/db udp/1-65535 "), "\(all.output)")
        #expect(all.output.contains("Ports compared: tcp/1-65535, udp/1-65535, sctp/1-65535"), "\(all.output)")
        // A range's inside: closing 1001-1999 of 1000-2000 shows, though both ends stay open.
        let range = Self.policy(
            "range", spec: "{\"podSelector\": {}, \"ingress\": [{\"ports\": [{\"port\": 1000, \"endPort\": 2000}]}]}")
        let ends = Self.policy(
            "range", spec: "{\"podSelector\": {}, \"ingress\": [{\"ports\": [{\"port\": 1000}, {\"port\": 2000}]}]}")
        let narrowed = try Self.diff(
            Self.list([Self.namespaceX] + bare + [Self.defaultDeny, range]),
            Self.list([Self.namespaceX] + bare + [Self.defaultDeny, ends]))
        #expect(narrowed.output.contains("- x/client -> x/db tcp/1001-1999"), "\(narrowed.output)")
        // With --ports the user chose the ports: a note names the rules that reach further.
        let given = try Self.diff(
            before, Self.list([Self.namespaceX] + pods + [Self.defaultDeny, ssh]), ["--ports", "tcp/22"])
        #expect(given.error.contains("x/open-ssh ingress[0]"), "\(given.error)")
        // intent evaluates declared ports; it says which rules open ports its table does not show.
        let intent = try Self.intent(Self.list([Self.namespaceX] + pods + [Self.defaultDeny, ssh]))
        #expect(intent.error.contains("x/open-ssh ingress[0]"), "\(intent.error)")
    }

    @Test(
        "d01: policyTypes: [] is defaulted as absent (Ingress, plus Egress with egress rules), as the API server does")
    func emptyPolicyTypes() throws {
        let dump = try ClusterDump.parse(
            Self.list([
                Self.namespaceX, Self.pod("db", app: "db", ips: ["10.0.0.1"]),
                Self.pod("client", app: "client", ips: ["10.0.0.2"]),
                Self.policy("deny", spec: "{\"podSelector\": {}, \"policyTypes\": []}"),
                Self.policy(
                    "egress",
                    spec:
                        "{\"podSelector\": {\"matchLabels\": {\"app\": \"client\"}}, \"policyTypes\": [], \"egress\": [{}]}"
                ),
            ]), name: "cluster.json")
        let types = Dictionary(uniqueKeysWithValues: dump.policies.map { ($0.name, $0.policyTypes) })
        #expect(types["deny"] == [.ingress])
        #expect(types["egress"] == [.ingress, .egress])
        let engine = PolicyEngine(dump)
        let db = try #require(dump.pods.first { $0.name == "db" })
        let client = try #require(dump.pods.first { $0.name == "client" })
        #expect(
            !engine.decide(from: client, to: db, address: "10.0.0.1", port: KubePort(port: 80, proto: .tcp)).allowed)
    }

    @Test("d04: diff compares a dual-stack pod's IPv4 and IPv6 apart: an ipBlock moved from one to the other shows")
    func dualStack() throws {
        let pods = [
            Self.pod("a", app: "a", ips: ["10.0.0.1", "fd00::1"], ports: "[{\"containerPort\": 80}]"),
            Self.pod("b", app: "b", ips: ["10.0.0.2", "fd00::2"], ports: "[{\"containerPort\": 80}]"),
        ]
        func only(_ cidr: String) -> String {
            Self.policy(
                "p",
                spec:
                    "{\"podSelector\": {\"matchLabels\": {\"app\": \"b\"}}, \"ingress\": [{\"from\": [{\"ipBlock\": {\"cidr\": \"\(cidr)\"}}]}]}"
            )
        }
        let result = try Self.diff(
            Self.list([Self.namespaceX] + pods + [only("10.0.0.0/24")]),
            Self.list([Self.namespaceX] + pods + [only("fd00::/64")]), ["--ports", "tcp/80"])
        #expect(result.status == 1, "\(result.output)\(result.error)")
        #expect(result.output.contains("+ x/a -> x/b tcp/80 IPv6 "), "\(result.output)")
        #expect(result.output.contains("- x/a -> x/b tcp/80 IPv4"), "\(result.output)")
    }

    @Test("d05: diff says what it did not compare: each side's notes, pods without an address on one side (exit 3)")
    func notCompared() throws {
        let a = Self.pod("a", app: "a", ips: ["10.0.0.1"], ports: "[{\"containerPort\": 80}]")
        let cilium = """
            {"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": "l7", "namespace": "x"},
             "spec": {"endpointSelector": {}}}
            """
        let result = try Self.diff(
            Self.list([Self.namespaceX, a, Self.pod("b", app: "b", ips: ["10.0.0.2"])]),
            Self.list([Self.namespaceX, a, Self.pod("b", app: "b", ips: [], phase: "Pending"), cilium]))
        #expect(result.status == 3, "incomplete: \(result.output)\(result.error)")
        #expect(result.output.contains("Pods not compared: x/b (no address after)"), "\(result.output)")
        #expect(result.error.contains("after ("), "\(result.error)")
        #expect(result.error.contains("CiliumNetworkPolicy"), "\(result.error)")
    }

    @Test(
        "d03: no k8s-egress-without-dns for an ipBlock allowing UDP 53 when the DNS pods are not in the dump, nor for dnsPolicy Default"
    )
    func egressDNS() throws {
        let egress = Self.policy(
            "egress",
            spec: """
                {"podSelector": {}, "policyTypes": ["Egress"],
                 "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "UDP", "port": 53}]}]}
                """)
        let denyAll = Self.policy("deny", spec: "{\"podSelector\": {}, \"policyTypes\": [\"Egress\"]}")
        let app = Self.pod("app", app: "app", ips: ["10.0.0.1"])
        let node = Self.pod("node-dns", app: "n", ips: ["10.0.0.2"], extra: ", \"dnsPolicy\": \"Default\"")
            .replacingOccurrences(of: "\"dnsPolicy\": \"ClusterFirst\", ", with: "")
        func flagged(_ dump: String) throws -> [String] {
            let result = try Self.intent(dump, ["--format", "json", "--ports", "tcp/80"])
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
            let findings = try #require(object["findings"] as? [[String: Any]])
            return findings.filter { $0["kind"] as? String == "k8s-egress-without-dns" }.compactMap {
                $0["location"] as? String
            }
        }
        #expect(try flagged(Self.list([Self.namespaceX, app, egress])).isEmpty)
        // Still flagged when nothing allows DNS; a Default pod resolves through its node and is not.
        #expect(try flagged(Self.list([Self.namespaceX, app, node, denyAll])) == ["x/app"])
    }

    @Test("d06: a finished pod is no source, destination, unisolated pod or peer match")
    func finishedPods() throws {
        let job = Self.pod("migrate", app: "migrate", ips: ["10.0.0.9"], phase: "Succeeded")
        let db = Self.pod("db", app: "db", ips: ["10.0.0.1"])
        let fromMigrate = Self.policy(
            "db",
            spec:
                "{\"podSelector\": {\"matchLabels\": {\"app\": \"db\"}}, \"ingress\": [{\"from\": [{\"podSelector\": {\"matchLabels\": {\"app\": \"migrate\"}}}]}]}"
        )
        let result = try Self.intent(
            Self.list([Self.namespaceX, db, job, fromMigrate]), ["--format", "json", "--ports", "tcp/80"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let cells = try #require(object["cells"] as? [[String: Any]])
        #expect(
            !cells.contains {
                $0["source"] as? String == "x/migrate" || $0["destinationName"] as? String == "x/migrate"
            })
        let findings = try #require(object["findings"] as? [[String: Any]])
        #expect(
            findings.contains { $0["kind"] as? String == "k8s-rule-selects-nothing" }, "the only match has finished")
        #expect(
            !findings.contains {
                $0["kind"] as? String == "k8s-pod-not-isolated" && $0["location"] as? String == "x/migrate"
            })
    }

    @Test(
        "findings say what the policy selects: all pods of every namespace, every IPv4 address; a pod an egress-only policy selects is unselected for ingress"
    )
    func findingsSayWhatIsSelected() throws {
        let pods = [Self.pod("a", app: "a", ips: ["10.0.0.1"]), Self.pod("b", app: "b", ips: ["10.0.0.2"])]
        let allPods = Self.policy(
            "all-pods",
            spec:
                "{\"podSelector\": {\"matchLabels\": {\"app\": \"a\"}}, \"ingress\": [{\"from\": [{\"namespaceSelector\": {}}]}]}"
        )
        let allIPv4 = Self.policy(
            "all-ipv4",
            spec:
                "{\"podSelector\": {\"matchLabels\": {\"app\": \"b\"}}, \"policyTypes\": [\"Egress\"], \"egress\": [{\"to\": [{\"ipBlock\": {\"cidr\": \"0.0.0.0/0\"}}]}]}"
        )
        let result = try Self.intent(Self.list([Self.namespaceX] + pods + [allPods, allIPv4]), ["--format", "json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let findings = try #require(object["findings"] as? [[String: Any]])
        let titles = findings.compactMap { $0["title"] as? String }
        #expect(titles.contains("x/all-pods ingress[0] allows all ingress traffic from every pod of every namespace"))
        #expect(titles.contains("x/all-ipv4 egress[0] allows all egress traffic to every IPv4 address"))
        #expect(
            !findings.contains {
                $0["kind"] as? String == "k8s-policy-allows-all"
                    && ($0["detail"] as? String)?.contains("every pod and address") == true
            })
        // b is selected, for egress only: its ingress is what is open.
        #expect(titles.contains("Pod x/b is selected by no NetworkPolicy for ingress"), "\(titles)")
    }
}
