import BulkheadModel
import BulkheadTestSupport
import Foundation
import Kubernetes
import Testing

/// What kubectl would refuse or read otherwise is refused, naming the file and line: an unknown field, a key given
/// twice, a YAML merge key; and what would read as a clean, empty cluster (an empty dump, `--node` of no pod).
@Suite("Kubernetes: strict manifests and dumps")
struct KubernetesStrictInputTests {
    /// A NetworkPolicy letting `shop/api` reach `shop/db`, with `peer` as its one peer and `extra` appended to spec.
    static func manifest(peer: String = "podSelector: {matchLabels: {app: api}}", extra: String = "") -> String {
        """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: db-only-from-api, namespace: shop}
        spec:
          podSelector: {matchLabels: {app: db}}
          policyTypes: [Ingress]
          ingress:
            - from:
                - \(peer)
              ports: [{port: 5432}]
        \(extra)
        """
    }

    /// The message reading `text` (as a file named `name`) fails with.
    static func refusal(_ text: String, name: String = "policy.yaml") -> String {
        do {
            let dump = try ClusterDump.parse(text, name: name)
            return "read \(dump.policies.count) policies"
        } catch { return error.description }
    }

    @Test("unknown fields in a NetworkPolicy, its selectors and ports, and in metadata are refused with file and line")
    func unknownFields() throws {
        #expect(try ClusterDump.parse(Self.manifest(), name: "policy.yaml").policies.count == 1)
        // `matchLabel` would leave an empty selector, which selects every pod: the policy would allow from anywhere.
        let typo = Self.refusal(Self.manifest(peer: "podSelector: {matchLabel: {app: api}}"))
        #expect(
            typo.hasPrefix(
                "policy.yaml:9: .spec.ingress[0].from[0].podSelector.matchLabel: unknown field 'matchLabel'"),
            "\(typo)")
        #expect(Self.refusal(Self.manifest(extra: "  podSelektor: {}")).contains("policy.yaml:11: .spec.podSelektor"))
        #expect(Self.refusal(Self.manifest(peer: "namespaceSelectr: {}")).contains("unknown field 'namespaceSelectr'"))
        #expect(
            Self.refusal(Self.manifest().replacingOccurrences(of: "{port: 5432}", with: "{prot: 5432}"))
                .contains("policy.yaml:10: .spec.ingress[0].ports[0].prot: unknown field"))
        #expect(
            Self.refusal(
                Self.manifest().replacingOccurrences(of: "namespace: shop", with: "namespace: shop, lables: {}")
            )
            .contains(".metadata.lables: unknown field 'lables' in metadata"))
        // JSON has no lines here: the JSON path says where.
        let json =
            #"{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p"}, "spec": {"podSelector": {"matchLabel": {"app": "db"}}}}"#
        #expect(
            Self.refusal(json, name: "policy.json").hasPrefix(
                "policy.json: .spec.podSelector.matchLabel: unknown field 'matchLabel'"))
    }

    @Test("a key given twice and a YAML merge key are refused with file and line, not one silently kept")
    func duplicateAndMergeKeys() {
        let twice = Self.refusal(Self.manifest(extra: "  podSelector: {matchLabels: {app: nothing}}"))
        #expect(
            twice.hasPrefix("policy.yaml:11: .spec.podSelector: key 'podSelector' given twice (first on line 5)"),
            "\(twice)")
        let name = Self.refusal("apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  name: y\n", name: "pod.yaml")
        #expect(name.hasPrefix("pod.yaml:5: .metadata.name: key 'name' given twice"), "\(name)")
        let merged = Self.refusal(
            Self.manifest().replacingOccurrences(
                of: "    - from:\n        - podSelector: {matchLabels: {app: api}}\n      ports: [{port: 5432}]",
                with: "    - <<: {from: [{podSelector: {matchLabels: {app: api}}}]}\n      ports: [{port: 5432}]"))
        #expect(merged.hasPrefix("policy.yaml:8: .spec.ingress[0]: a YAML merge key (<<) is not read"), "\(merged)")
        // JSON too: a decoder keeps one of the two values, silently.
        let json = Self.refusal(
            "{\"apiVersion\": \"v1\", \"kind\": \"Pod\",\n \"metadata\": {\"name\": \"x\", \"name\": \"y\"}}",
            name: "pod.json")
        #expect(json.hasPrefix("pod.json:2:28: key \"name\" given twice in one object"), "\(json)")
        #expect(JSONGrammar.firstDuplicateKey(in: Array(#"{"a": {"b": 1}, "c": [{"b": 2}, {"b": 3}]}"#.utf8)) == nil)
    }

    @Test("an empty, blank or ---only dump exits 2 naming the file; k8s diff - - is refused; --node of no pod exits 2")
    func emptyDumpsAndUnknownNodes() throws {
        let cluster = NetworkPolicyTruthTableTests.folder + "/cluster.json"
        for (text, name, says) in [
            ("", "empty.json", "is empty: not a kubectl dump"), ("\n\n  \n", "blank.json", "is empty"),
            ("---\n---\n", "dashes.yaml", "holds no Kubernetes object"),
        ] {
            let path = try ScratchSpace.file(name, text)
            for arguments in [["k8s", "intent", path], ["k8s", "inventory", path], ["k8s", "diff", cluster, path]] {
                let result = try BulkheadExecutable.run(arguments)
                #expect(result.status == 2, "\(arguments): \(result.error)")
                #expect(result.error.contains("\(path): \(says)"), "\(result.error)")
            }
        }
        let twice = try ProcessRunner.run(BulkheadExecutable.url, ["k8s", "diff", "-", "-"], input: "")
        #expect(twice.status == 2 && twice.error.contains("standard input is given twice"), "\(twice.error)")
        let nosuch = try BulkheadExecutable.run(["k8s", "inventory", cluster, "--node", "nosuch", "--format", "json"])
        #expect(nosuch.status == 2 && nosuch.output.isEmpty, "\(nosuch.output)")
        #expect(
            nosuch.error.contains("no pod of the dump runs on node 'nosuch' (its nodes: node-1)"), "\(nosuch.error)")
        // A dump that is kubectl's own empty list reads, with a note that there is nothing to evaluate.
        let none = try ClusterDump.parse(#"{"apiVersion": "v1", "kind": "List", "items": []}"#, name: "none.json")
        #expect(none.notes.contains { $0.contains("nothing to evaluate") })
    }
}
