import BulkheadTestSupport
import Foundation
import Testing

@Suite(
    "bulkhead tls --policy (end to end)", .serialized,
    .enabled(if: DockerCLI.isAvailable, "no Docker engine or lab image"))
struct TLSPolicyCommandTests {
    /// The lab, on a /24 nothing else uses (see ``DockerCLI/freeSubnets(_:)``).
    static func scenario(_ net: DockerCLI.TestSubnet) -> String {
        """
        name: cli-tls-policy
        networks:
          - { name: net, subnet: \(net.cidr) }
        pki:
          caName: cli-tls-policy CA
          certificates:
            - { name: server, cn: server.lab, sans: ["DNS:server.lab", "URI:spiffe://lab/server"], usage: server, days: 365 }
            - { name: client, cn: client.lab, sans: ["URI:spiffe://lab/client"], usage: client, days: 365 }
        services:
          - name: server
            command: [openssl, s_server, -accept, "8443", -cert, /pki/server.crt, -key, /pki/server.key, -CAfile, /pki/ca.crt,
                      -Verify, "1", -verify_return_error, -www, -quiet]
            networks: { net: \(net.address(10)) }
            pki: true
          - name: web
            command: [sh, -c, "echo hi > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"]
            networks: { net: \(net.address(20)) }
        """
    }

    @Test(
        "only the endpoints the policy's mtls section covers are tested, with its trust bundle, identity and SPIFFE ID")
    func policy() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        let net = try #require(try DockerCLI.freeSubnets(1).first)
        let path = try ScratchSpace.file("cli-tls-policy.yaml", Self.scenario(net))
        #expect(try AnalyzeCommandTests.run(["scenario", "up", path]).status == 0)
        defer { _ = try? AnalyzeCommandTests.run(["scenario", "down", path]) }
        // Relative paths in the policy name files next to it: the scenario's generated PKI.
        let pki =
            (ProcessInfo.processInfo.environment["BULKHEAD_LAB_STATE"] ?? "/tmp/bulkhead-lab") + "/cli-tls-policy/pki"
        let policy = pki + "/policy.yaml"
        try """
        baseline: docker
        mtls:
          require:
            - to: { container: cli-tls-policy-server }
              ports: [tcp/8443]
              trustBundle: ca.crt
              clientCertificate: client.crt
              clientKey: client.key
              expectSPIFFE: spiffe://lab/server
        """.write(toFile: policy, atomically: true, encoding: .utf8)
        let run = try AnalyzeCommandTests.run([
            "tls", "--policy", policy, "--format", "json", "--fail-on", "critical", "--no-ciphers", "--no-versions",
        ])
        #expect(run.status == 0, "\(run.error)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any])
        let endpoints = try #require(document["endpoints"] as? [[String: Any]])
        #expect(
            endpoints.map { $0["endpoint"] as? String } == [net.address(10) + ":8443"],
            "the httpd on 8080 is not covered by the policy")
        #expect(endpoints.first?["verdict"] as? String == "mtls-enforced")
        let chain = try #require(endpoints.first?["serverChain"] as? [String: Any])
        #expect(
            chain["pathValidation"] as? String == "valid",
            "the policy's trust bundle was used: \(chain["pathValidation"] ?? "nil")")
        let probes = try #require(endpoints.first?["probes"] as? [[String: Any]])
        #expect(
            probes.contains { $0["probe"] as? String == "client-cert" && $0["result"] as? String == "accepted" },
            "the policy's client identity was used")

        let mixed = try AnalyzeCommandTests.run(["tls", "--policy", policy, "--endpoint", net.address(10) + ":8443"])
        #expect(mixed.status == 2 && mixed.error.contains("--policy takes the endpoints"))
    }
}
