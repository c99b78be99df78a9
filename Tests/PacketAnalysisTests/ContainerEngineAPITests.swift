import BulkheadModel
import Foundation
import Testing

@testable import PacketAnalysis

/// A container engine's API in clear: taken for one only when the answer names the engine and succeeds. A real
/// dockerd on `tcp://…:2375` answering the real docker CLI is in the capture corpus (make-captures.sh); these tests
/// hold the look-alikes: other versioned APIs, refusals, answers cut short.
@Suite("Container engine API in clear")
struct ContainerEngineAPITests {
    static let dockerAnswer =
        "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nDocker-Experimental: false\r\n"
        + "Ostype: linux\r\nServer: Docker/20.10.24+dfsg1 (linux)\r\nContent-Length: 2\r\n\r\n{}"

    func answer(_ text: String) -> ContainerEngineAPISummary? {
        Array(text.utf8).withUnsafeBytes(ContainerEngineAPI.answer)
    }

    @Test("requests of the API's shape; answers that name the engine and succeed")
    func recognise() {
        for request in [
            "HEAD /_ping HTTP/1.1", "GET /v1.41/containers/json HTTP/1.1", "POST /v1.24/containers/create HTTP/1.1",
            "GET /v4.0.0/libpod/info HTTP/1.1", "GET /libpod/_ping HTTP/1.1",
        ] {
            #expect(Array(request.utf8).withUnsafeBytes(ContainerEngineAPI.isRequest), "\(request)")
        }
        for request in ["GET / HTTP/1.1", "GET /v/x HTTP/1.1", "GET /version HTTP/1.1", "GET /vx.1/ HTTP/1.1", "GET"] {
            #expect(!Array(request.utf8).withUnsafeBytes(ContainerEngineAPI.isRequest), "\(request)")
        }
        #expect(
            self.answer(Self.dockerAnswer)
                == ContainerEngineAPISummary(
                    engine: "docker", apiVersion: "1.41", server: "Docker/20.10.24+dfsg1 (linux)"))
        #expect(
            self.answer(
                "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nLibpod-Api-Version: 4.3.1\r\nServer: Libpod/4.3.1 (linux)\r\n\r\n"
            )
                == ContainerEngineAPISummary(engine: "podman", apiVersion: "4.3.1", server: "Libpod/4.3.1 (linux)"))
        // Another service's versioned API; an engine that refused (an authorization plugin); no version; not HTTP.
        #expect(self.answer("HTTP/1.1 200 OK\r\nApi-Version: 2\r\nServer: nginx\r\n\r\n") == nil)
        #expect(self.answer(Self.dockerAnswer.replacingOccurrences(of: "200 OK", with: "403 Forbidden")) == nil)
        #expect(self.answer("HTTP/1.1 200 OK\r\nServer: Docker/24.0.7 (linux)\r\n\r\n") == nil)
        #expect(self.answer("SSH-2.0-OpenSSH_9.2\r\n") == nil)
    }

    /// One conversation on port 2375: the client's requests, then the server's answer.
    static func flow(request: String, answer: String, segmentSize: Int = 1400) throws -> FlowRecord {
        try analyzeConversation(
            serverPort: 2375, [(true, Array(request.utf8)), (false, Array(answer.utf8))], segmentSize: segmentSize)
    }

    @Test("a flow: the engine recorded and a critical finding, in any segments; none for a refusal or another API")
    func flows() throws {
        for segmentSize in [1400, 7] {
            let record = try Self.flow(
                request:
                    "HEAD /_ping HTTP/1.1\r\nHost: 198.18.1.2:2375\r\nUser-Agent: Docker-Client/28.2.2 (linux)\r\n\r\n",
                answer: Self.dockerAnswer, segmentSize: segmentSize)
            #expect(record.proto == .http)
            #expect(record.containerEngineAPI?.engine == "docker", "segments of \(segmentSize)")
            #expect(record.anomalies.isEmpty)
            let findings = FlowFindings.findings(for: record)
            let engine = try #require(findings.first { $0.kind == .containerEngineAPIInClear })
            #expect(engine.severity == .critical)
            #expect(engine.title == "Docker Engine API 1.41 answered in clear at 198.18.0.2:2375")
            #expect(engine.detail.contains("(Docker/20.10.24+dfsg1 (linux))"))
        }
        let refused = try Self.flow(
            request: "GET /v1.41/containers/json HTTP/1.1\r\n\r\n",
            answer: Self.dockerAnswer.replacingOccurrences(of: "200 OK", with: "403 Forbidden"))
        #expect(refused.containerEngineAPI == nil)
        let other = try Self.flow(
            request: "GET /v1.2/users HTTP/1.1\r\n\r\n", answer: "HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n[]")
        #expect(other.containerEngineAPI == nil)
        #expect(!FlowFindings.findings(for: other).contains { $0.kind == .containerEngineAPIInClear })
    }
}
