import Foundation
import Testing

@testable import ContainerEngine

/// The engine client's version negotiation and request bodies, on canned answers: no engine needed.
@Suite("Engine API version negotiation and request bodies (canned bytes)")
struct EngineClientTests {
    static func response(_ status: Int, headers: [String: String] = [:], body: String = "") -> HTTPResponse {
        HTTPResponse(status: status, headers: headers, body: Data(body.utf8))
    }

    static func failure(_ ping: HTTPResponse, _ version: HTTPResponse?) -> EngineError? {
        do {
            _ = try DockerEngine.negotiate(ping: ping, version: version, socket: "/run/test.sock")
            return nil
        } catch { return error }
    }

    @Test("the lower of the engine's maximum and Bulkhead's; the engine's version text; absent headers mean the oldest")
    func negotiates() throws {
        let docker20 = try DockerEngine.negotiate(
            ping: Self.response(200, headers: ["api-version": "1.41"]),
            version: Self.response(200, body: #"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12"}"#),
            socket: "s")
        #expect(docker20.0 == APIVersion(1, 41) && docker20.1 == "20.10.24")
        let newer = try DockerEngine.negotiate(
            ping: Self.response(200, headers: ["api-version": "1.52"]), version: nil, socket: "s")
        #expect(
            newer.0 == DockerEngine.maximumVersion && newer.1 == "unknown",
            "a newer engine is spoken to in Bulkhead's newest version")
        let silent = try DockerEngine.negotiate(
            ping: Self.response(200), version: Self.response(500, body: "oops"), socket: "s")
        #expect(silent.0 == DockerEngine.minimumVersion, "no API-Version header: the oldest Bulkhead speaks")
        let garbled = try DockerEngine.negotiate(
            ping: Self.response(200, headers: ["api-version": "one.four"]),
            version: Self.response(200, body: "not json"), socket: "s")
        #expect(garbled.0 == DockerEngine.minimumVersion && garbled.1 == "unknown")
    }

    @Test("not an engine, an engine too old, an engine too new for Bulkhead: errors that say so")
    func refuses() {
        let notEngine = Self.failure(Self.response(404, body: "404 page not found"), nil)
        #expect(
            notEngine?.code == .http && notEngine?.status == 404
                && notEngine?.message.contains("Docker or Podman API socket") == true)
        let old = Self.failure(Self.response(200, headers: ["api-version": "1.19"]), nil)
        #expect(old?.code == .tooOld && old?.message.contains("1.19") == true)
        let tooNew = Self.failure(
            Self.response(200, headers: ["api-version": "2.10"]),
            Self.response(200, body: #"{"Version":"99","MinAPIVersion":"2.0"}"#))
        #expect(tooNew?.code == .tooOld && tooNew?.message.contains("requires API 2.0") == true)
    }

    @Test("request bodies carry the API's field names; fields left nil are left out")
    func bodies() throws {
        func json<T: Encodable>(_ value: T) throws -> [String: Any] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return try #require(try JSONSerialization.jsonObject(with: encoder.encode(value)) as? [String: Any])
        }
        let network = try json(
            EngineAPI.NetworkCreate(
                name: "lab-front", subnet: "198.18.40.0/24", gateway: nil, internal: true,
                labels: ["bulkhead.lab": "true"], options: ["com.docker.network.bridge.enable_icc": "false"]))
        #expect(
            network["Name"] as? String == "lab-front" && network["Driver"] as? String == "bridge"
                && network["Internal"] as? Bool == true)
        let ipam = try #require(((network["IPAM"] as? [String: Any])?["Config"] as? [[String: Any]])?.first)
        #expect(ipam["Subnet"] as? String == "198.18.40.0/24" && ipam["Gateway"] == nil)
        #expect((network["Options"] as? [String: String])?["com.docker.network.bridge.enable_icc"] == "false")

        let host = EngineAPI.ContainerCreate.HostConfig(
            capAdd: ["NET_ADMIN"], capDrop: [], privileged: false, networkMode: "lab-front", binds: ["/a:/b:ro"],
            portBindings: ["80/tcp": [EngineAPI.ContainerCreate.PortBinding(hostIP: "127.0.0.1", hostPort: "8080")]])
        let container = try json(
            EngineAPI.ContainerCreate(
                image: "bulkhead-lab:latest", labels: [:], host: host, exposedPorts: ["80/tcp"], command: nil,
                network: ("lab-front", EngineAPI.EndpointSettings(aliases: ["web"], address: "198.18.40.10"))))
        #expect(container["Cmd"] == nil, "no command: the image's own")
        #expect((container["ExposedPorts"] as? [String: Any])?["80/tcp"] is [String: Any])
        let hostConfig = try #require(container["HostConfig"] as? [String: Any])
        #expect(
            hostConfig["NetworkMode"] as? String == "lab-front" && hostConfig["CapAdd"] as? [String] == ["NET_ADMIN"])
        #expect(
            ((hostConfig["PortBindings"] as? [String: Any])?["80/tcp"] as? [[String: String]])?.first == [
                "HostIp": "127.0.0.1", "HostPort": "8080",
            ])
        let endpoint = try #require(
            ((container["NetworkingConfig"] as? [String: Any])?["EndpointsConfig"] as? [String: Any])?["lab-front"]
                as? [String: Any])
        #expect(
            endpoint["Aliases"] as? [String] == ["web"]
                && (endpoint["IPAMConfig"] as? [String: String])?["IPv4Address"] == "198.18.40.10")
        let connect = try json(
            EngineAPI.NetworkConnect(
                container: "lab-api", endpoint: EngineAPI.EndpointSettings(aliases: ["api"], address: nil)))
        #expect(
            connect["Container"] as? String == "lab-api"
                && (connect["EndpointConfig"] as? [String: Any])?["IPAMConfig"] == nil)
        #expect(try json(EngineAPI.ExecCreate(command: ["sh", "-c", "true"]))["AttachStdout"] as? Bool == false)
    }
}
