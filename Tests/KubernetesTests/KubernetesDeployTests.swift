import BulkheadTestSupport
import Foundation
import Testing
import Yams

/// `deploy/kubernetes`: the manifests validate against the Kubernetes API schemas (`kubernetes-validate --strict`,
/// offline: the schemas ship in the PyPI package `scripts/install-deps.sh --test` installs), and hold the privileges
/// the README lists, no more.
@Suite("Kubernetes: deploy manifests")
struct KubernetesDeployTests {
    static let folder = Repository.path("deploy/kubernetes")
    static let manifests = ["daemonset.yaml", "cronjob.yaml"]

    static func validate(_ paths: [String]) throws -> ProcessOutput {
        try ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            ["python3", "-m", "kubernetes_validate", "--strict", "--quiet"] + paths)
    }

    @Test("the manifests pass the API schema check, and a misspelt field does not")
    func schema() throws {
        let probe = try ProcessRunner.run(
            URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", "import kubernetes_validate"])
        try #require(
            probe.status == 0, "kubernetes-validate is missing: run scripts/install-deps.sh --test (\(probe.error))")
        let result = try Self.validate(Self.manifests.map { Self.folder + "/" + $0 })
        #expect(result.status == 0, "\(result.output)\(result.error)")
        let text = try String(contentsOfFile: Self.folder + "/daemonset.yaml", encoding: .utf8)
        try TemporaryFile.with(text.replacingOccurrences(of: "hostPID: true", with: "hostPid: true"), named: "bad.yaml")
        {
            path in
            let bad = try Self.validate([path])
            #expect(bad.status != 0, "the validator must refuse an unknown field")
            #expect((bad.output + bad.error).contains("hostPid"))
        }
    }

    @Test("host namespaces, exactly SYS_ADMIN, SYS_PTRACE and NET_RAW, the report hostPath")
    func privileges() throws {
        for manifest in Self.manifests {
            let text = try String(contentsOfFile: Self.folder + "/" + manifest, encoding: .utf8)
            let documents = try Yams.load_all(yaml: text).compactMap { $0 as? [String: Any] }
            let workload = try #require(
                documents.first { ["DaemonSet", "CronJob"].contains($0["kind"] as? String ?? "") }, "\(manifest)")
            var spec = try #require((workload["spec"] as? [String: Any]), "\(manifest) spec")
            if workload["kind"] as? String == "CronJob" {
                let job = try #require((spec["jobTemplate"] as? [String: Any])?["spec"] as? [String: Any])
                spec = job
            }
            let pod = try #require((spec["template"] as? [String: Any])?["spec"] as? [String: Any])
            #expect(pod["hostNetwork"] as? Bool == true && pod["hostPID"] as? Bool == true, "\(manifest)")
            #expect(pod["automountServiceAccountToken"] as? Bool == false, "\(manifest)")
            let container = try #require((pod["containers"] as? [[String: Any]])?.first)
            let security = try #require(container["securityContext"] as? [String: Any])
            #expect(security["privileged"] as? Bool == false, "\(manifest)")
            let capabilities = try #require(security["capabilities"] as? [String: Any])
            #expect(capabilities["drop"] as? [String] == ["ALL"], "\(manifest)")
            #expect(
                Set(capabilities["add"] as? [String] ?? []) == ["SYS_ADMIN", "SYS_PTRACE", "NET_RAW"], "\(manifest)")
            let volumes = pod["volumes"] as? [[String: Any]] ?? []
            #expect(
                volumes.contains {
                    ($0["hostPath"] as? [String: Any])?["path"] as? String == "/var/lib/bulkhead/reports"
                },
                "\(manifest)")
        }
        let readme = try String(contentsOfFile: Self.folder + "/README.md", encoding: .utf8)
        for capability in ["SYS_ADMIN", "SYS_PTRACE", "NET_RAW", "hostPID", "hostNetwork"] {
            #expect(readme.contains("`\(capability)"), "the README says why \(capability)")
        }
    }
}
