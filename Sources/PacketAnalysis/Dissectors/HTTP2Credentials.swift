import BulkheadModel

/// Credentials a cleartext HTTP/2 client sends (h2c with prior knowledge: gRPC without TLS, service meshes' plain
/// hops): its `authorization` and `proxy-authorization` header fields, read from the HEADERS and CONTINUATION frames
/// of its stream (``HPACK``), and described as HTTP/1's header lines are; and etcd's passwords and tokens
/// (``EtcdAPI``).
extension CredentialExtractor {
    static func http2(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var found: [Credential] = []
        func add(_ credential: Credential) { if !found.contains(credential) { found.append(credential) } }
        // The etcd methods of the streams whose request body may carry a password (``EtcdAPI``).
        var passwordMethods: [UInt32: String] = [:]
        var reader = HTTP2FrameReader(client: true)
        reader.read(bytes) { item in
            switch item {
            case .headers(let stream, let block):
                var etcdMethod: String?
                let complete = HPACK.forEachLiteral(in: block) { name, value in
                    // Pseudo-header fields come first: the path is known before the metadata.
                    if name == HPACK.pathName, let method = EtcdAPI.method(value) { etcdMethod = method }
                    if etcdMethod != nil, name == Self.etcdTokenName, let token = EtcdAPI.tokenCredential(value) {
                        add(token)
                    }
                    Self.http2Credentials(name, value).forEach(add)
                }
                if let etcdMethod, passwordMethods.count < 64 { passwordMethods[stream] = etcdMethod }
                // A block that does not decode leaves the dynamic table unknown: what follows is not read.
                return complete
            case .data(let stream, let payload):
                if let method = passwordMethods.removeValue(forKey: stream),
                    let credential = EtcdAPI.passwordCredential(method: method, payload)
                {
                    add(credential)
                }
                return true
            }
        }
        return found
    }

    /// The metadata etcd's clients send their auth token in.
    static let etcdTokenName = Array("token".utf8)

    /// The credentials of a field read from a header block: its name one of those that carry secrets
    /// (`authorization`, ``secretHeaders``), or the `:path` with a query (``httpSecretParameters(_:)``), each
    /// described as in HTTP/1.
    static func http2Credentials(_ name: [UInt8], _ value: [UInt8]) -> [Credential] {
        if name == Array("authorization".utf8) || name == Array("proxy-authorization".utf8) {
            return Self.http2Authorization(name, value).map { [$0] } ?? []
        }
        if name == Array(":path".utf8) {
            guard value.contains(UInt8(ascii: "?")) else { return [] }
            return (Array("GET ".utf8) + value + Array(" HTTP/2\r\n".utf8)).withUnsafeBytes(Self.httpSecretParameters)
        }
        guard Self.secretHeaders.contains(where: { $0.name == name }) else { return [] }
        return (Array("\n".utf8) + name + Array(": ".utf8) + value + Array("\n".utf8)).withUnsafeBytes(
            Self.httpSecretHeaders)
    }

    /// A field read from a header block, described as its HTTP/1 header line would be.
    static func http2Authorization(_ name: [UInt8], _ value: [UInt8]) -> Credential? {
        let line = name + Array(": ".utf8) + value
        return line.withUnsafeBytes { bytes in
            Self.asciiHTTPAuthorization(bytes)
                ?? Self.httpAuthorization([Substring(String(decoding: line.prefix(4096), as: UTF8.self))]).first
        }
    }
}
