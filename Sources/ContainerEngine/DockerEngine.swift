import Foundation

/// A Docker Engine (or Podman Docker-compatible) API client over the engine's unix socket.
///
/// The API version is negotiated (`GET /_ping`, `GET /version`), never assumed: every later request uses
/// `/v<negotiated>/…` with the negotiated version the lower of the engine's maximum and ``maximumVersion``.
public final class DockerEngine: @unchecked Sendable {
    /// The newest API version whose fields Bulkhead reads.
    public static let maximumVersion = APIVersion(1, 47)
    /// The oldest API that has everything inventory needs (per-network container membership via inspect).
    public static let minimumVersion = APIVersion(1, 24)

    public let client: UnixSocketHTTPClient
    public private(set) var version = DockerEngine.maximumVersion
    /// The engine's own version text (`20.10.24`, or Podman's).
    public private(set) var engineVersion = "unknown"
    private let counter = NSLock()
    private var calls = 0

    /// Requests made so far.
    public var apiCalls: Int { self.counter.withLock { self.calls } }

    /// The socket named by `DOCKER_HOST` (`unix:///path`), else `/var/run/docker.sock`.
    ///
    /// - Throws: ``EngineError`` `unsupportedHost` for a `DOCKER_HOST` that is not a unix socket.
    public static func socketPath(environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(EngineError) -> String
    {
        guard let host = environment["DOCKER_HOST"], !host.isEmpty else { return "/var/run/docker.sock" }
        guard host.hasPrefix("unix://") else {
            throw EngineError(
                .unsupportedHost,
                "DOCKER_HOST=\(host) is not a unix socket (unix:///path); Bulkhead talks to the local engine socket only"
            )
        }
        return String(host.dropFirst("unix://".count))
    }

    public init(socketPath: String, timeout: Int = 30) {
        self.client = UnixSocketHTTPClient(socketPath: socketPath, timeout: timeout)
    }

    /// Pings the engine and settles the API version.
    ///
    /// - Throws: ``EngineError`` (no socket, permission denied, engine too old…), with what to do about it.
    public func connect() throws(EngineError) {
        let ping = try self.raw("GET", "/_ping")
        let version = ping.status == 200 ? try? self.raw("GET", "/version") : nil
        (self.version, self.engineVersion) = try Self.negotiate(
            ping: ping, version: version, socket: self.client.socketPath)
    }

    /// The API version to speak, and the engine's own version text, from the answers to `GET /_ping` and
    /// `GET /version` (nil when that request failed): the lower of the engine's maximum (`API-Version` header)
    /// and ``maximumVersion``.
    ///
    /// - Throws: ``EngineError`` `http` when the ping is not answered with 200 (not an engine API socket),
    ///   `tooOld` when the engine's maximum is below ``minimumVersion`` or its minimum above ``maximumVersion``.
    static func negotiate(ping: HTTPResponse, version: HTTPResponse?, socket: String) throws(EngineError) -> (
        APIVersion, String
    ) {
        guard ping.status == 200 else {
            throw EngineError(
                .http, "\(socket) answered /_ping with HTTP \(ping.status): is this a Docker or Podman API socket?",
                status: ping.status)
        }
        // An engine that names no version is taken at the oldest Bulkhead speaks.
        let serverMaximum = ping.headers["api-version"].flatMap(APIVersion.init) ?? Self.minimumVersion
        var engineVersion = "unknown"
        if let version, version.status == 200,
            let info = try? JSONDecoder().decode(EngineAPI.Version.self, from: version.body)
        {
            engineVersion = info.Version ?? "unknown"
            if let minimum = info.MinAPIVersion.flatMap(APIVersion.init), Self.maximumVersion < minimum {
                throw EngineError(
                    .tooOld,
                    "the engine at \(socket) requires API \(minimum) or newer; Bulkhead speaks up to \(Self.maximumVersion)"
                )
            }
        }
        guard serverMaximum >= Self.minimumVersion else {
            throw EngineError(
                .tooOld,
                "the engine at \(socket) speaks API \(serverMaximum); Bulkhead needs \(Self.minimumVersion) or newer (Docker 1.12+, Podman 2+)"
            )
        }
        return (min(serverMaximum, Self.maximumVersion), engineVersion)
    }

    /// A versioned request whose JSON answer decodes as `T`.
    public func get<T: Decodable>(_ path: String, as type: T.Type) throws(EngineError) -> T {
        let response = try self.raw("GET", "/v\(self.version)\(path)")
        return try self.decode(response, path: path, as: type)
    }

    func decode<T: Decodable>(_ response: HTTPResponse, path: String, as type: T.Type) throws(EngineError) -> T {
        guard (200..<300).contains(response.status) else {
            let message =
                (try? JSONDecoder().decode(EngineAPI.ErrorMessage.self, from: response.body))?.message
                ?? String(decoding: response.body.prefix(200), as: UTF8.self)
            throw EngineError(
                response.status == 404 ? .notFound : .http, "GET \(path): HTTP \(response.status): \(message)",
                status: response.status)
        }
        do {
            return try JSONDecoder().decode(type, from: response.body)
        } catch {
            throw EngineError(.malformed, "GET \(path): the engine's JSON is not what Bulkhead expects: \(error)")
        }
    }

    /// Sends a request on a versioned path and returns the raw response (for create/start/delete).
    public func send(_ method: String, _ path: String, body: Data? = nil) throws(EngineError) -> HTTPResponse {
        try self.raw(method, "/v\(self.version)\(path)", body: body)
    }

    /// Sends a request with a typed JSON body (``EngineAPI``'s request types) on a versioned path.
    public func send<Body: Encodable>(_ method: String, _ path: String, json body: Body) throws(EngineError)
        -> HTTPResponse
    {
        let data: Data
        do { data = try JSONEncoder().encode(body) } catch {
            throw EngineError(.malformed, "\(method) \(path): cannot encode the request: \(error)")
        }
        return try self.send(method, path, body: data)
    }

    private func raw(_ method: String, _ path: String, body: Data? = nil) throws(EngineError) -> HTTPResponse {
        self.counter.withLock { self.calls += 1 }
        return try self.client.request(method, path, body: body)
    }
}

/// A Docker API version, `major.minor`.
public struct APIVersion: Comparable, Sendable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    public init(_ major: Int, _ minor: Int) {
        self.major = major
        self.minor = minor
    }

    public init?(_ text: String) {
        let parts = text.split(separator: ".")
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]) else { return nil }
        self.init(major, minor)
    }

    public var description: String { "\(self.major).\(self.minor)" }

    public static func < (lhs: APIVersion, rhs: APIVersion) -> Bool { (lhs.major, lhs.minor) < (rhs.major, rhs.minor) }
}
