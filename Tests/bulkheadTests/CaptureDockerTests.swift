import BulkheadTestSupport
import Foundation
import Testing

/// `bulkhead capture` on a real Docker bridge network (a free /24 of 198.18.128.0/17, everything named `capt-…` and labelled),
/// with container names mapped from the engine's inventory.
@Suite(
    "bulkhead capture on a Docker network", .serialized,
    .enabled(if: DockerCLI.isAvailable && getuid() == 0, "no Docker engine or lab image, or not root"))
struct CaptureDockerTests {
    static let label = "bulkhead.test=capture-\(getpid())"

    @Test("flows between containers are named after the containers (gateway naming: EndpointNamesTests)")
    func containerNames() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        DockerCLI.removeLabelled(Self.label)
        defer { DockerCLI.removeLabelled(Self.label) }
        let network = "capt-net-\(getpid())"
        let (id, subnet) = try DockerCLI.createNetwork(network, options: ["--label", Self.label], gateway: true)
        let bridge = "br-\(id.prefix(12))"
        let password = "Cont41ner-secret"
        let server = "capt-web-\(getpid())"
        let client = "capt-cli-\(getpid())"
        try DockerCLI.must([
            "run", "-d", "--label", Self.label, "--name", server, "--network", network, "--ip", subnet.address(2),
            DockerCLI.labImage,
            "sh", "-c",
            "mkdir -p /tmp/www && echo hi > /tmp/www/index.html && echo '/:alice:\(password)' > /tmp/h.conf && exec httpd -f -p 8080 -h /tmp/www -c /tmp/h.conf",
        ])
        try DockerCLI.must([
            "run", "-d", "--label", Self.label, "--name", client, "--network", network, "--ip", subnet.address(3),
            DockerCLI.labImage,
            "sleep", "600",
        ])
        let capture = try CaptureCommandTests.RunningCapture(arguments: [
            "--interface", bridge, "--duration", "5", "--format", "json",
        ])
        #expect(capture.waitUntilCapturing())
        try DockerCLI.waitUntilListening(server, port: 8080)
        let fetched = try DockerCLI.run([
            "exec", client, "wget", "-q", "-O-", "http://alice:\(password)@\(subnet.address(2)):8080/",
        ])
        #expect(fetched.output.contains("hi"), "\(fetched.error)")
        let run = capture.finish()
        #expect(run.status == 1, "\(run.error)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        let flows = try #require(document["flows"] as? [[String: Any]])
        let http = try #require(
            flows.first { $0["protocol"] as? String == "http" && ($0["credentials"] as? [Any])?.isEmpty == false })
        #expect(http["clientName"] as? String == client)
        #expect(http["serverName"] as? String == server)
        #expect(http["interface"] as? String == bridge)
        let endpoints = try #require(document["endpoints"] as? [String: String])
        #expect(endpoints[subnet.address(2)] == server)
        let interfaces = try #require(document["interfaces"] as? [[String: Any]])
        #expect(interfaces.first?["network"] as? String == network)
        #expect(!run.output.contains(password))
    }
}
