import BulkheadModel

/// The Docker and Podman Engine APIs spoken in clear: dockerd listening on `tcp://…:2375` without `--tlsverify`, or
/// `podman system service tcp:…`. The API has no authentication of its own; whoever reaches it can start a
/// privileged container, and so owns the host (unless an authorization plugin refuses the request).
///
/// A flow is taken for one only on the engine's own word: its first request has the API's shape (`/_ping`,
/// `/v1.NN/…`, `/libpod/…`), and the answer names the engine (`Api-Version` with a `Docker/…` or `Libpod/…` server,
/// `Docker-Experimental`, `Libpod-Api-Version`) with a success status. A versioned REST API of any other service
/// (`/v1.2/users`) answers without those headers, and an engine that refused the request proves nothing.
enum ContainerEngineAPI {
    /// Whether a client's first request has the shape of an engine API request (the answer decides).
    static func isRequest(_ client: UnsafeRawBufferPointer) -> Bool {
        guard let target = HTTPAPIRequestShape.target(client) else { return false }
        if target.starts(with: "/_ping") || target.starts(with: "/libpod/") { return true }
        // "/v1.41/…", "/v4.0.0/libpod/…": a version of digits and dots, then a slash.
        guard target.starts(with: "/v"), target.count > 2, target[2] >= 0x30, target[2] <= 0x39 else { return false }
        var index = 3
        while index < target.count, (target[index] >= 0x30 && target[index] <= 0x39) || target[index] == 0x2e {
            index += 1
        }
        return index < target.count && target[index] == 0x2f
    }

    /// The engine an answer's headers (`response`: a status line and its headers) name, when it answered with
    /// success; nil otherwise.
    static func answer(_ response: UnsafeRawBufferPointer) -> ContainerEngineAPISummary? {
        // "HTTP/1.1 200 OK"
        guard response.starts(with: "HTTP/1."), response.count >= 12, response[8] == 0x20, response[9] == 0x32
        else { return nil }
        let server = CredentialExtractor.headerValue("server", in: response)
        let libpod = CredentialExtractor.headerValue("libpod-api-version", in: response)
        let version = CredentialExtractor.headerValue("api-version", in: response)
        let engine: String
        if libpod != nil || server?.hasPrefix("Libpod/") == true {
            engine = "podman"
        } else if server?.hasPrefix("Docker/") == true
            || CredentialExtractor.headerValue("docker-experimental", in: response) != nil
        {
            engine = "docker"
        } else {
            return nil
        }
        guard let apiVersion = libpod ?? version, !apiVersion.isEmpty else { return nil }
        func shown(_ text: String) -> String { Array(text.utf8.prefix(64)).withUnsafeBytes(\.printableText) }
        return ContainerEngineAPISummary(engine: engine, apiVersion: shown(apiVersion), server: server.map(shown))
    }
}
