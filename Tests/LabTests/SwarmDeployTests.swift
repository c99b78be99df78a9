import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import Lab

/// deploy/swarm's global job on the two-node lab: the image built with its script, the job run on every node, each
/// node's report left in its volume.
@Suite(
    "Swarm fleet deployment (two-node lab)", .serialized,
    .enabled(if: SwarmLabSupport.available, "\(SwarmLabSupport.unavailableReason ?? "")"))
struct SwarmDeployTests {
    @Test("the global job audits every node with exactly its mounts and capabilities, one report per node")
    func globalJob() throws {
        let lab = try SwarmLabSupport.up()
        defer { lab.down() }
        try lab.deploy(
            SwarmLabSpec(
                overlays: [.init(name: "plain")],
                services: [
                    .init(name: "web", command: ["httpd", "-f", "-p", "8080", "-h", "/tmp"], networks: ["plain"])
                ]))
        let build = try SwarmLab.run(
            ["/bin/bash", Repository.path("deploy/swarm/build-image.sh"), BulkheadExecutable.url.path],
            environment: lab.environment(node: 1), what: "build-image.sh")
        try #require(build.status == 0, "\(build.error)")
        // The image to the worker, as an operator would without a registry.
        let image = FileManager.default.temporaryDirectory.appendingPathComponent("bulkhead-\(lab.name).tar").path
        defer { unlink(image) }
        try lab.docker(node: 1, ["save", "-o", image, "bulkhead:latest"])
        try lab.docker(node: 2, ["load", "-i", image])

        // The lab's sockets and roots differ per node: named by host name, through the service template.
        let state = "/run/bulkhead-swarm/\(lab.name)"
        let root = "/var/lib/bulkhead-swarm/\(lab.name)"
        try lab.docker([
            "service", "create", "--detach", "--name", "bulkhead-audit", "--mode", "global-job", "--no-resolve-image",
            "--mount", "type=bind,source=\(state)/{{.Node.Hostname}}.sock,target=/var/run/docker.sock",
            "--env", "NODE_NAME={{.Node.Hostname}}", "--env", "BULKHEAD_SOCKET=\(state)/{{.Node.Hostname}}.sock",
            "--env",
            "BULKHEAD_CERTIFICATE=\(root)/{{.Node.Hostname}}/data/swarm/certificates/swarm-node.crt",
            "bulkhead:latest",
        ])
        var reports: [AuditReport] = []
        let deadline = Date().addingTimeInterval(120)
        while reports.count < 2 && Date() < deadline {
            Thread.sleep(forTimeInterval: 1)
            reports = (1...2).compactMap { index in
                let path = "\(root)/node\(index)/data/volumes/bulkhead-reports/_data/\(lab.name)-node\(index).json"
                return FileManager.default.contents(atPath: path).flatMap {
                    try? JSONDecoder().decode(AuditReport.self, from: $0)
                }
            }
        }
        try #require(reports.count == 2, "the job's reports did not appear in 120 s")
        for (index, report) in reports.enumerated() {
            let node = try #require(report.evidence.inventory?.cluster)
            #expect(node.clusterID == lab.clusterID && node.nodeID == lab.nodes[index].id)
            #expect(node.role == (index == 0 ? .manager : .worker) && node.fullView == (index == 0))
            #expect(report.complete, "\(report.problems)")
            #expect(report.findings.contains { $0.kind == .swarmCrossNodePlaintextOverlay && $0.location == "plain" })
            #expect(report.edges.contains { $0.source.hasPrefix("web.") && $0.destination.hasPrefix("web.") })
        }
        #expect(
            reports[0].findings.contains { $0.kind == .swarmServiceDockerSocket && $0.location == "bulkhead-audit" })
    }
}
