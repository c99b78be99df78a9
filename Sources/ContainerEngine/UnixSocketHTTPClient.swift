import Foundation
import SystemCalls

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failure talking to an HTTP server over a unix socket, with what to do about it.
public struct EngineError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        /// A code of a layer above the engine client (the lab's `host-command`): declared where it is used.
        public init(_ name: String) { self.name = name }
        public var description: String { self.name }
        /// The socket does not exist (no engine running, or a wrong DOCKER_HOST).
        public static let noSocket = Code("no-socket")
        /// The socket exists but this user may not connect to it.
        public static let permissionDenied = Code("permission-denied")
        /// Connected, but the exchange failed (reset, timeout, malformed HTTP).
        public static let transport = Code("transport")
        /// The engine answered with an HTTP error.
        public static let http = Code("http")
        /// The engine's API is older than Bulkhead supports.
        public static let tooOld = Code("engine-too-old")
        /// The engine's answer is not the JSON Bulkhead expects.
        public static let malformed = Code("malformed-response")
        /// DOCKER_HOST names a transport Bulkhead does not speak.
        public static let unsupportedHost = Code("unsupported-host")
        /// The object asked about does not exist (any more).
        public static let notFound = Code("not-found")
    }

    public var code: Code
    public var message: String
    /// HTTP status, when the engine answered.
    public var status: Int?

    public init(_ code: Code, _ message: String, status: Int? = nil) {
        self.code = code
        self.message = message
        self.status = status
    }

    public var description: String { self.message }
}

/// A response: status, headers (lower-cased names) and the whole body.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: Data
}

/// A small blocking HTTP/1.1 client for a unix-domain socket (the Docker and Podman engine APIs).
///
/// Why not a library: the engine API needs only GET/POST/DELETE with small JSON bodies on a local socket;
/// Foundation's URLSession cannot dial unix sockets on Linux, and AsyncHTTPClient would bring SwiftNIO and
/// BoringSSL (several minutes of build on every CI run) for a few requests. Each request uses its own
/// connection (`Connection: close`), so a response ends at end of stream; Content-Length and chunked
/// bodies are both handled.
public struct UnixSocketHTTPClient: Sendable {
    public let socketPath: String
    /// Seconds to wait for the engine on connect, send and each read.
    public var timeout: Int

    public init(socketPath: String, timeout: Int = 30) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    /// Sends one request and reads the whole response.
    public func request(_ method: String, _ path: String, body: Data? = nil) throws(EngineError) -> HTTPResponse {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw EngineError(.transport, "cannot create a socket (\(SystemCallError.last("socket")))")
        }
        defer { close(fd) }
        // Without the timeouts a stuck engine would hang the audit: failing to set them is an error, not ignored.
        var time = timeval(tv_sec: self.timeout, tv_usec: 0)
        for (option, name) in [(SO_RCVTIMEO, "SO_RCVTIMEO"), (SO_SNDTIMEO, "SO_SNDTIMEO")]
        where setsockopt(fd, SOL_SOCKET, option, &time, socklen_t(MemoryLayout<timeval>.size)) != 0 {
            throw EngineError(
                .transport, "cannot bound the wait for the engine (\(SystemCallError.last("setsockopt(\(name))")))")
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(self.socketPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw EngineError(.unsupportedHost, "socket path is too long: \(self.socketPath)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let failure = SystemCallError.last("connect")
            let reason = failure.message
            switch failure.code {
            case ENOENT, ECONNREFUSED:
                throw EngineError(
                    .noSocket,
                    "no engine at \(self.socketPath) (\(reason)): start dockerd (or podman system service), or set DOCKER_HOST"
                )
            case EACCES, EPERM:
                throw EngineError(
                    .permissionDenied,
                    "permission denied on \(self.socketPath): run as root or as a member of the docker group")
            default:
                throw EngineError(.transport, "cannot connect to \(self.socketPath): \(reason)")
            }
        }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: docker\r\nUser-Agent: bulkhead\r\nConnection: close\r\n"
        if let body {
            head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n"
        } else if method == "POST" {
            head += "Content-Length: 0\r\n"
        }
        var request = Data((head + "\r\n").utf8)
        if let body { request.append(body) }
        try self.sendAll(fd, request)
        let raw = try self.receiveAll(fd)
        return try Self.parse(raw, request: "\(method) \(path)")
    }

    private func sendAll(_ fd: Int32, _ data: Data) throws(EngineError) {
        var sent = 0
        while sent < data.count {
            let result: Int
            do {
                result = try SystemCall.retrying("send") {
                    data.withUnsafeBytes {
                        send(fd, $0.baseAddress.map { $0 + sent }, data.count - sent, Int32(MSG_NOSIGNAL))
                    }
                }
            } catch {
                throw EngineError(.transport, "sending to \(self.socketPath) failed: \(error.message)")
            }
            guard result > 0 else {
                throw EngineError(.transport, "sending to \(self.socketPath) failed: the engine stopped reading")
            }
            sent += result
        }
    }

    private func receiveAll(_ fd: Int32) throws(EngineError) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count: Int
            do {
                count = try SystemCall.retrying("recv") {
                    buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                }
            } catch {
                let reason =
                    error.code == EAGAIN || error.code == EWOULDBLOCK
                    ? "no answer within \(self.timeout) s" : error.message
                throw EngineError(.transport, "reading from \(self.socketPath) failed: \(reason)")
            }
            if count == 0 { return data }
            data.append(contentsOf: buffer[0..<count])
            guard data.count <= 256 << 20 else {
                throw EngineError(.transport, "response from \(self.socketPath) is larger than 256 MiB")
            }
        }
    }

    /// Parses a complete HTTP/1.1 response (status line, headers, Content-Length / chunked / to-end body).
    ///
    /// The engine's answer is outside input: a status that is not three digits, a negative or conflicting
    /// Content-Length, a body shorter than its Content-Length, and a chunked body that ends before its last chunk are
    /// errors (`transport`), never a silently shorter body.
    static func parse(_ raw: Data, request: String) throws(EngineError) -> HTTPResponse {
        let separator = Data("\r\n\r\n".utf8)
        guard let headEnd = raw.range(of: separator) else {
            throw EngineError(
                .transport, "\(request): the engine closed the connection without a complete HTTP response")
        }
        let head = String(decoding: raw[raw.startIndex..<headEnd.lowerBound], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        guard !lines.isEmpty else { throw EngineError(.transport, "\(request): empty HTTP response") }
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), statusLine[1].utf8.count == 3,
            statusLine[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let status = Int(statusLine[1]), (100...599).contains(status)
        else {
            throw EngineError(.transport, "\(request): not an HTTP response")
        }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "content-length", let earlier = headers[name], earlier != value {
                throw EngineError(.transport, "\(request): conflicting Content-Length headers (\(earlier), \(value))")
            }
            headers[name] = value
        }
        var body = Data(raw[headEnd.upperBound...])
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            body = try Self.dechunk(body, request: request)
        } else if let text = headers["content-length"] {
            guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let length = Int(text) else {
                throw EngineError(.transport, "\(request): bad Content-Length '\(text)'")
            }
            guard length <= body.count else {
                throw EngineError(.transport, "\(request): the body ended after \(body.count) of its \(length) bytes")
            }
            body = body.prefix(length)
        }
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    /// Decodes a chunked body (RFC 9112 §7.1): hex sizes with optional extensions, each chunk followed by CRLF, a
    /// last chunk of size 0, then optional trailer fields. A body that ends before the last chunk is an error.
    static func dechunk(_ data: Data, request: String) throws(EngineError) -> Data {
        var result = Data()
        var index = data.startIndex
        let crlf = Data("\r\n".utf8)
        while index < data.endIndex {
            guard let lineEnd = data.range(of: crlf, in: index..<data.endIndex) else {
                throw EngineError(.transport, "\(request): chunked body cut short")
            }
            let sizeText =
                (String(decoding: data[index..<lineEnd.lowerBound], as: UTF8.self).split(
                    separator: ";", omittingEmptySubsequences: false
                ).first ?? "")
                .trimmingCharacters(in: .whitespaces)
            guard !sizeText.isEmpty, sizeText.utf8.count <= 15, sizeText.allSatisfy(\.isHexDigit),
                let size = Int(sizeText, radix: 16)
            else {
                throw EngineError(.transport, "\(request): bad chunk size")
            }
            if size == 0 { return result }  // trailer fields, if any, carry nothing Bulkhead reads
            let start = lineEnd.upperBound
            guard data.distance(from: start, to: data.endIndex) >= size else {
                throw EngineError(.transport, "\(request): chunk longer than the body")
            }
            let end = data.index(start, offsetBy: size)
            result.append(data[start..<end])
            guard data.distance(from: end, to: data.endIndex) >= 2, data[end] == 0x0D,
                data[data.index(after: end)] == 0x0A
            else {
                throw EngineError(.transport, "\(request): a chunk not followed by CRLF")
            }
            index = data.index(end, offsetBy: 2)
        }
        throw EngineError(.transport, "\(request): chunked body cut short (no last chunk)")
    }
}
