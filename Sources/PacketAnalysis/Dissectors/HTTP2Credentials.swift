import BulkheadModel

/// Credentials a cleartext HTTP/2 client sends (h2c with prior knowledge: gRPC without TLS, service meshes' plain
/// hops): its `authorization` and `proxy-authorization` header fields, read from the HEADERS and CONTINUATION frames
/// of its stream (``HPACK``), and described as HTTP/1's header lines are.
extension CredentialExtractor {
    /// The client connection preface (RFC 9113 §3.4).
    static let http2Preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    static func http2(_ bytes: UnsafeRawBufferPointer) -> [Credential] {
        var cursor = ByteCursor(bytes)
        guard let preface = cursor.bytes(Self.http2Preface.count), preface.elementsEqual(Self.http2Preface) else {
            return []
        }
        var found: [Credential] = []
        var block: [UInt8] = []
        var frames = 0
        // Frames: length (24 bits), type, flags, stream identifier; a header block is a HEADERS frame and the
        // CONTINUATION frames after it, to the one flagged END_HEADERS.
        while frames < 512, let length = cursor.u24(), let type = cursor.u8(), let flags = cursor.u8(),
            cursor.skip(4), var payload = cursor.sub(length)
        {
            frames += 1
            switch type {
            case 0x1:  // HEADERS: optional pad length and priority before the fragment, padding after it
                var padding = 0
                if flags & 0x08 != 0 { padding = Int(payload.u8() ?? 0) }
                if flags & 0x20 != 0 { guard payload.skip(5) else { return found } }
                guard let fragment = payload.bytes(payload.remaining - padding) else { return found }
                block = Array(fragment)
            case 0x9:  // CONTINUATION
                guard let fragment = payload.bytes(payload.remaining) else { return found }
                block += fragment
            default:
                continue
            }
            guard flags & 0x04 != 0 else { continue }  // END_HEADERS
            let complete = block.withUnsafeBytes { header in
                HPACK.forEachLiteral(in: header) { name, value in
                    for credential in Self.http2Credentials(name, value) where !found.contains(credential) {
                        found.append(credential)
                    }
                }
            }
            // A block that does not decode leaves the dynamic table unknown: what follows is not read.
            guard complete else { return found }
            block = []
        }
        return found
    }

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
