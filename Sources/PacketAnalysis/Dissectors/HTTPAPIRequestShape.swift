/// The control plane's HTTP API a client's first request has the shape of (a container engine's, etcd's): the answer
/// decides whether it spoke (``ContainerEngineAPI``, ``EtcdAPI``).
enum HTTPAPIRequestShape {
    /// The request line is not whole yet (no line end, and fewer than 64 bytes).
    case incomplete
    case none
    case containerEngine
    case etcd

    init(_ client: UnsafeRawBufferPointer) {
        if client.count < 64 && !client.contains(0x0a) {
            self = .incomplete
        } else if EtcdAPI.isHTTPRequest(client) {
            // First: etcd's gateway's `/v3/kv/put` has the shape of an engine's versioned path too.
            self = .etcd
        } else if ContainerEngineAPI.isRequest(client) {
            self = .containerEngine
        } else {
            self = .none
        }
    }

    /// The target of a request line (`GET /raft/stream/msgapp/… HTTP/1.1`) without its query, at most 128 bytes of
    /// it; nil when no method of at most 7 bytes and a space start the bytes.
    static func target(_ client: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard let space = client.prefix(8).firstIndex(of: 0x20), space > 0 else { return nil }
        let rest = client[(space + 1)...].prefix(128)
        let end = rest.firstIndex { $0 == 0x20 || $0 == 0x3f || $0 == 0x0d || $0 == 0x0a } ?? rest.endIndex
        return UnsafeRawBufferPointer(rebasing: client[(space + 1)..<end])
    }
}
