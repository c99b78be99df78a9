import BulkheadTestSupport
import Foundation
import Testing

@Suite("bulkhead inventory (end to end)")
struct InventoryCommandTests {
    @Test("no engine at DOCKER_HOST, a tcp DOCKER_HOST, a file that is not inspect output: exit 2 with the cause")
    func inputErrors() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
        let missing = try AnalyzeCommandTests.run(["inventory"], environment: environment)
        #expect(missing.status == 2)
        #expect(missing.error.contains("/nonexistent/docker.sock"))
        #expect(missing.error.contains("start dockerd"))
        environment["DOCKER_HOST"] = "tcp://198.18.0.1:2375"
        let tcp = try AnalyzeCommandTests.run(["inventory"], environment: environment)
        #expect(tcp.status == 2)
        #expect(tcp.error.contains("not a unix socket"))
        let notJSON = try AnalyzeCommandTests.run(["inventory", "--from-file", "README.md"])
        #expect(notJSON.status == 2)
        #expect(notJSON.error.contains("README.md"))
    }

    @Test("the JSON document has the documented keys", .enabled(if: DockerCLI.isAvailable, "no Docker engine"))
    func json() throws {
        let run = try AnalyzeCommandTests.run(["inventory", "--format", "json", "--fail-on", "critical"])
        #expect(run.status == 0 || run.status == 1)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        for key in ["sources", "networks", "containers", "namespaces", "findings", "complete", "problems", "summary"] {
            #expect(document[key] != nil, "key \(key)")
        }
        let networks = try #require(document["networks"] as? [[String: Any]])
        let bridge = try #require(networks.first { $0["name"] as? String == "bridge" })
        for key in ["name", "id", "driver", "subnets", "gateways", "internal", "icc", "containers"] {
            #expect(bridge[key] != nil, "network key \(key)")
        }
        #expect(bridge["subnets"] as? [String] == ["198.19.255.0/24"], "the test engine runs on the benchmarking range")
    }
}
