import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A unix socket in front of the real Docker engine that passes requests through, except that it answers the
/// requests whose path contains `failing` with an HTTP error, and (with `requestLimit`) closes every connection
/// after the first `requestLimit` requests without an answer, as an engine that stops half-way does. Each client
/// request has its own connection (Bulkhead sends `Connection: close`), so a request is a connection here.
///
/// Tests point `DOCKER_HOST=unix://<socketPath>` (or a `DockerEngine`) at it: engine errors that no real engine
/// can be made to give on demand, against real containers otherwise.
public final class EngineFaultProxy: @unchecked Sendable {
    public let socketPath: String
    private let upstream: String
    private let failing: String?
    private let status: Int
    private let requestLimit: Int?
    private let lock = NSLock()
    private var listener: Int32 = -1
    private var requests = 0

    /// Listens at a new path in a scratch folder; throws when the socket cannot be made.
    public init(
        failing: String? = nil, status: Int = 500, requestLimit: Int? = nil,
        upstream: String = "/var/run/docker.sock"
    ) throws {
        self.socketPath = try ScratchSpace.folder("bh-engine-proxy").appendingPathComponent("engine.sock").path
        self.upstream = upstream
        self.failing = failing
        self.status = status
        self.requestLimit = requestLimit
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ProcessRunner.Failure(description: "socket(AF_UNIX): errno \(errno)") }
        guard Self.withAddress(self.socketPath, { bind(fd, $0, $1) }) == 0, listen(fd, 64) == 0 else {
            let code = errno
            close(fd)
            throw ProcessRunner.Failure(description: "cannot listen at \(self.socketPath): errno \(code)")
        }
        self.listener = fd
        let thread = Thread { [self] in self.acceptLoop(fd) }
        thread.start()
    }

    deinit { self.stop() }

    /// Stops listening (the accept loop ends) and removes the socket file.
    public func stop() {
        let fd = self.lock.withLock { () -> Int32 in
            defer { self.listener = -1 }
            return self.listener
        }
        guard fd >= 0 else { return }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        unlink(self.socketPath)
    }

    private func acceptLoop(_ fd: Int32) {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            let thread = Thread { [self] in self.serve(client) }
            thread.start()
        }
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        guard let request = Self.readRequest(client) else { return }
        let number = self.lock.withLock { () -> Int in
            self.requests += 1
            return self.requests
        }
        if let limit = self.requestLimit, number > limit { return }  // gone: the connection closes unanswered
        let line = String(decoding: request.prefix { $0 != 13 }, as: UTF8.self)
        if let failing = self.failing, line.contains(failing) {
            let body = #"{"message":"injected failure"}"#
            Self.writeAll(
                client,
                Array(
                    ("HTTP/1.1 \(self.status) Error\r\nContent-Type: application/json\r\nContent-Length: "
                        + "\(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)").utf8))
            return
        }
        let engine = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard engine >= 0 else { return }
        defer { close(engine) }
        guard Self.withAddress(self.upstream, { connect(engine, $0, $1) }) == 0 else { return }
        Self.writeAll(engine, request)
        // The engine closes after its answer (the request says `Connection: close`): copy until then.
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(engine, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            Self.writeAll(client, Array(buffer[0..<count]))
        }
    }

    /// The request head and its body (by Content-Length), or nil when the client closed first.
    private static func readRequest(_ fd: Int32) -> [UInt8]? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        let end: [UInt8] = Array("\r\n\r\n".utf8)
        while true {
            if let headEnd = data.firstRange(of: end)?.upperBound {
                let head = String(decoding: data[..<headEnd], as: UTF8.self).lowercased()
                let length =
                    head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }.flatMap {
                        Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
                    } ?? 0
                if data.count >= headEnd + length { return Array(data[..<(headEnd + length)]) }
            }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            data += buffer[0..<count]
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes {
                send(fd, $0.baseAddress.map { $0 + sent }, bytes.count - sent, Int32(MSG_NOSIGNAL))
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            sent += count
        }
    }

    /// Calls `body` with a `sockaddr_un` for `path`.
    private static func withAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return -1 }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
