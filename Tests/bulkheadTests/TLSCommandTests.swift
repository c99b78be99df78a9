import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

/// `bulkhead tls` end to end: exit statuses, the report, and what must never be printed.
@Suite("bulkhead tls (end to end)", .serialized)
struct TLSCommandTests {
    static let pki: TestPKI? = {
        guard let pki = try? TestPKI() else { return nil }
        guard (try? pki.issue("server", extensions: TestPKI.server())) != nil,
            (try? pki.issue("client", extensions: TestPKI.client("client"))) != nil
        else { return nil }
        return pki
    }()

    func arguments(_ pki: TestPKI, _ endpoint: String) -> [String] {
        [
            "tls", "--endpoint", endpoint, "--ca-bundle", pki.path("ca.pem"), "--ca-key", pki.path("ca.key"),
            "--client-cert", pki.path("client-chain.pem"), "--client-key", pki.path("client.key"), "--expect-dns",
            "svc.test",
            "--expect-spiffe", "spiffe://bulkhead.test/ns/lab/sa/server",
        ]
    }

    @Test("usage and input errors: exit 2 naming the endpoint or file, before any traffic")
    func inputErrors() throws {
        // The operator's limit, set for this run alone: 127.1.2.3 is outside 127.0.0.0/16 (and were the fence to fail,
        // the connection would still stay on loopback).
        var limited = ProcessInfo.processInfo.environment
        limited[AddressLimit.variable] = "127.0.0.0/16"
        let outside = try AnalyzeCommandTests.run(["tls", "--endpoint", "127.1.2.3:443"], environment: limited)
        #expect(outside.status == 2)
        #expect(
            outside.error.contains(
                "refusing to probe 127.1.2.3:443: outside BULKHEAD_ALLOWED_RANGES (127.0.0.0/16): refused before any packet"
            ), "\(outside.error)")
        limited[AddressLimit.variable] = "127.0.0.0/8,lab"
        let unreadable = try AnalyzeCommandTests.run(["tls", "--endpoint", "127.0.0.1:1"], environment: limited)
        #expect(unreadable.status == 2)
        #expect(
            unreadable.error.contains("BULKHEAD_ALLOWED_RANGES: \"lab\" is not a CIDR range"), "\(unreadable.error)")
        let name = try AnalyzeCommandTests.run(["tls", "--endpoint", "svc.test:443"])
        #expect(name.status == 2)
        #expect(name.error.contains("svc.test:443"))
        let half = try AnalyzeCommandTests.run(["tls", "--endpoint", "127.0.0.1:1", "--client-cert", "c.pem"])
        #expect(half.status == 2)
        #expect(half.error.contains("--client-key"))
        let missing = try AnalyzeCommandTests.run([
            "tls", "--endpoint", "127.0.0.1:1", "--ca-bundle", "/nonexistent/ca.pem",
        ])
        #expect(missing.status == 2)
        #expect(missing.error.contains("/nonexistent/ca.pem"))
        let notPEM = try AnalyzeCommandTests.run(["tls", "--endpoint", "127.0.0.1:1", "--ca-bundle", "README.md"])
        #expect(notPEM.status == 2)
        #expect(notPEM.error.contains("README.md"))
    }

    @Test("strict server: exit 0; misconfigured: exit 1 with the critical finding; nobody listening: exit 3")
    func exitStatuses() throws {
        let pki = try #require(Self.pki)
        let ca = pki.path("ca.pem")
        let strict = try PeerProcess.sServer(pki, "server", ["-Verify", "1", "-verify_return_error", "-CAfile", ca])
        let clean = try AnalyzeCommandTests.run(self.arguments(pki, strict.endpoint))
        #expect(clean.status == 0, "\(clean.output)\(clean.error)")
        #expect(clean.output.contains("mtls-enforced"))
        #expect(!clean.output.contains("PRIVATE KEY"))

        let loose = try PeerProcess.sServer(pki, "server", ["-Verify", "1", "-CAfile", ca])
        let rogue = try AnalyzeCommandTests.run(self.arguments(pki, loose.endpoint) + ["--format", "json"])
        #expect(rogue.status == 1)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(rogue.output.utf8)) as? [String: Any])
        for key in ["endpoints", "findings", "complete", "verdicts", "connections", "durationSeconds"] {
            #expect(document[key] != nil, "key \(key)")
        }
        let endpoint = try #require((document["endpoints"] as? [[String: Any]])?.first)
        #expect(endpoint["verdict"] as? String == "tls-accepts-rogue-client")
        let probe = try #require((endpoint["probes"] as? [[String: Any]])?.first)
        for key in [
            "endpoint", "source", "probe", "result", "alert", "tlsVersion", "cipher", "certificateRequest",
            "acceptableCAs",
        ] {
            #expect(probe.keys.contains(key), "probe key \(key)")
        }

        let nobody = try AnalyzeCommandTests.run(self.arguments(pki, "127.0.0.1:\(PeerProcess.freePort())"))
        #expect(nobody.status == 3)
        #expect(nobody.error.contains("could not be tested"))
    }
}

/// `bulkhead tls --from-container` against a copy of scenarios/tls-lab.yaml stood up with `bulkhead scenario up`.
@Suite(
    "bulkhead tls from inside a container (end to end)", .serialized,
    .enabled(
        if: DockerCLI.isAvailable, "no Docker engine or lab image (scripts/test.sh starts dockerd and builds the image)"
    ))
struct TLSContainerCommandTests {
    @Test("strict server: exit 0; misconfigured: exit 1; every probe made from the client container")
    func fromContainer() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        let subnet = try #require(try DockerCLI.freeSubnets(1).first).prefix
        let file = try ScenarioCopy.write(
            "scenarios/tls-lab.yaml", name: "tls-cli", replacing: ("tls-lab", "198.18.71."), subnetPrefix: "\(subnet).")
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try AnalyzeCommandTests.run(["scenario", "up", file]).status == 0)
        defer { _ = try? AnalyzeCommandTests.run(["scenario", "down", file]) }
        let state = ProcessInfo.processInfo.environment["BULKHEAD_LAB_STATE"] ?? "/tmp/bulkhead-lab"
        let pki = "\(state)/tls-cli/pki"
        func tls(_ endpoint: String) throws -> ProcessOutput {
            try AnalyzeCommandTests.run([
                "tls", "--from-container", "tls-cli-client", "--endpoint", endpoint, "--ca-bundle", "\(pki)/ca.crt",
                "--ca-key", "\(pki)/ca.key", "--client-cert", "\(pki)/client.crt", "--client-key", "\(pki)/client.key",
                "--expect-dns", "server.lab", "--expiry-warn", "1d", "--format", "json",
            ])
        }
        // The servers listen a moment after their containers start.
        for server in ["strict", "loose", "plain"] { try DockerCLI.waitUntilListening("tls-cli-\(server)", port: 8443) }
        let strict = try tls("\(subnet).10:8443")
        #expect(strict.status == 0, "\(strict.output)\(strict.error)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(strict.output.utf8)) as? [String: Any])
        let endpoint = try #require((document["endpoints"] as? [[String: Any]])?.first)
        #expect(endpoint["verdict"] as? String == "mtls-enforced")
        #expect(endpoint["source"] as? String == "container:tls-cli-client")
        let loose = try tls("\(subnet).11:8443")
        #expect(loose.status == 1)
        #expect(loose.output.contains("tls-accepts-rogue-client"))
        // Every container's listeners, behind an operator's fence that leaves the lab out (loopback only): each is
        // reported untested with the fence as its reason, none is connected to, and the run is incomplete (3).
        var fenced = ProcessInfo.processInfo.environment
        fenced[AddressLimit.variable] = "127.0.0.0/8"
        let outside = try AnalyzeCommandTests.run(["tls", "--format", "json"], environment: fenced)
        #expect(outside.status == 3, "\(outside.error)")
        let fencedReport = try JSONDecoder().decode(TLSReport.self, from: Data(outside.output.utf8))
        let lab = fencedReport.endpoints.filter { $0.endpoint.hasPrefix("\(subnet).") }
        #expect(Set(lab.map(\.endpoint)).isSuperset(of: ["\(subnet).10:8443", "\(subnet).11:8443"]))
        for endpoint in fencedReport.endpoints {
            #expect(endpoint.verdict == .error && endpoint.probes.isEmpty, "\(endpoint.endpoint)")
            #expect(
                endpoint.reason.contains("outside BULKHEAD_ALLOWED_RANGES (127.0.0.0/8): refused before any packet"),
                "\(endpoint.reason)")
        }
        #expect(fencedReport.connections == 0)
        let unknown = try AnalyzeCommandTests.run([
            "tls", "--from-container", "no-such-container-here", "--endpoint", "\(subnet).10:8443",
        ])
        #expect(unknown.status == 2)
        #expect(unknown.error.contains("no-such-container-here"))
    }
}
