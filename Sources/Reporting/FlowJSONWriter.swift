import BulkheadModel

/// Writes flow records as compact JSON by hand: a capture of a million flows must not wait on Foundation's
/// general-purpose `JSONEncoder` (about ten times slower here). The output parses to exactly what the
/// records' `Codable` conformance produces — keys sorted, absent values as `null` (except a flow's
/// `containerEngineAPI`, `encapsulation`, `etcdAPI`, `esp`, `h2cUpgrade`, `quic`, `tunnel` and `webSocket`, left out
/// when absent) — and a test holds the two together, so adding a field to the model without adding it here fails the
/// suite.
public struct FlowJSONWriter: ~Copyable {
    private var buffer = JSONBuffer()
    private var needsComma = false
    /// The last timestamp written in full: its second, and its quoted text (29 of the 32 bytes).
    private var lastTimestamp: (seconds: Int64, text: (UInt64, UInt64, UInt64, UInt64))?
    /// The certificates' JSON this writer has written, its own: a writer is one analysis lane's, and a cache shared by
    /// the lanes had them take a lock (and copy under it) twice per TLS flow.
    private let certificateJSON: CertificateJSONCache

    public init() {
        self.certificateJSON = CertificateJSONCache()
    }

    /// A writer for a piece of another's output, sharing its cache.
    private init(sharing cache: CertificateJSONCache) {
        self.certificateJSON = cache
    }

    /// What has been written, as an array (a copy).
    public var bytes: [UInt8] { self.buffer.bytes }

    /// What has been written, lent without a copy.
    public func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try self.buffer.withBytes(body)
    }

    /// How many bytes have been written.
    public var count: Int { self.buffer.count }

    public mutating func reset() {
        self.buffer.removeAll()
        self.needsComma = false
    }

    /// Appends bytes as they are (a record already encoded).
    public mutating func append(raw bytes: UnsafeRawBufferPointer) {
        self.buffer.put(bytes)
        self.needsComma = true
    }

    // MARK: - Records

    public mutating func write(_ flow: FlowRecord) {
        self.beginObject()
        self.key("anomalies")
        self.strings(flow.anomalies)
        self.key("bytes")
        self.counts(flow.bytes)
        self.key("client")
        self.string(flow.client)
        self.key("clientBasis")
        self.name(flow.clientBasis)
        if let engine = flow.containerEngineAPI {
            self.key("containerEngineAPI")
            self.write(engine)
        }
        self.key("credentials")
        self.array(flow.credentials) { $0.write($1) }
        // Written only when present (unlike every other optional), as the `Codable` conformance does.
        if let layers = flow.encapsulation {
            self.key("encapsulation")
            self.array(layers) { $0.write($1) }
        }
        self.key("encrypted")
        self.bool(flow.encrypted)
        if let esp = flow.esp {
            self.key("esp")
            self.write(esp)
        }
        if let etcd = flow.etcdAPI {
            self.key("etcdAPI")
            self.write(etcd)
        }
        self.key("file")
        self.optionalString(flow.file)
        self.key("firstSeen")
        self.timestamp(flow.firstSeen)
        if let upgrade = flow.h2cUpgrade {
            self.key("h2cUpgrade")
            self.beginObject()
            self.key("path")
            self.string(upgrade.path)
            self.endObject()
        }
        self.key("id")
        self.int(flow.id)
        self.key("lastSeen")
        self.timestamp(flow.lastSeen)
        self.key("packets")
        self.counts(flow.packets)
        self.key("protocol")
        self.name(flow.proto)
        if let quic = flow.quic {
            self.key("quic")
            self.write(quic)
        }
        self.key("server")
        self.string(flow.server)
        self.key("starttls")
        self.bool(flow.starttls)
        self.key("tls")
        if let tls = flow.tls { self.write(tls) } else { self.null() }
        self.key("transport")
        self.name(flow.transport)
        self.key("truncated")
        self.bool(flow.truncated)
        if let tunnel = flow.tunnel {
            self.key("tunnel")
            self.write(tunnel)
        }
        if let webSocket = flow.webSocket {
            self.key("webSocket")
            self.write(webSocket)
        }
        self.endObject()
    }

    mutating func write(_ engine: ContainerEngineAPISummary) {
        self.beginObject()
        self.key("apiVersion")
        self.string(engine.apiVersion)
        self.key("engine")
        self.string(engine.engine)
        self.key("server")
        self.optionalString(engine.server)
        self.endObject()
    }

    mutating func write(_ etcd: EtcdAPISummary) {
        self.beginObject()
        self.key("clusterID")
        self.optionalString(etcd.clusterID)
        self.key("interface")
        self.string(etcd.interface)
        self.key("memberID")
        self.optionalString(etcd.memberID)
        self.key("methods")
        self.strings(etcd.methods)
        self.endObject()
    }

    mutating func write(_ webSocket: WebSocketSummary) {
        self.beginObject()
        self.key("compression")
        self.optionalString(webSocket.compression)
        self.key("path")
        self.string(webSocket.path)
        self.key("subprotocol")
        self.optionalString(webSocket.subprotocol)
        self.endObject()
    }

    mutating func write(_ tunnel: TunnelRecord) {
        self.beginObject()
        self.key("destination")
        self.optionalString(tunnel.destination)
        self.key("hops")
        self.array(tunnel.hops) { $0.write($1) }
        self.key("proxy")
        self.string(tunnel.proxy)
        self.endObject()
    }

    mutating func write(_ hop: TunnelHop) {
        self.beginObject()
        self.key("authentication")
        self.optionalString(hop.authentication)
        self.key("destination")
        self.optionalString(hop.destination)
        self.key("kind")
        self.string(hop.kind)
        self.key("outcome")
        self.string(hop.outcome)
        self.key("reply")
        if let reply = hop.reply { self.int(reply) } else { self.null() }
        self.endObject()
    }

    mutating func write(_ tls: TLSSummary) {
        self.beginObject()
        self.key("acceptableCAs")
        self.strings(tls.acceptableCAs)
        self.key("alerts")
        self.array(tls.alerts) { $0.write($1) }
        self.key("alpn")
        self.optionalString(tls.alpn)
        self.key("alpnOffered")
        self.strings(tls.alpnOffered)
        self.key("certificateRequested")
        if let requested = tls.certificateRequested { self.bool(requested) } else { self.null() }
        self.key("cipher")
        self.optionalString(tls.cipher)
        self.key("clientCertificate")
        self.name(tls.clientCertificate)
        self.key("clientCertificates")
        self.certificates(tls.clientCertificates)
        self.key("clientFlightRecordSizes")
        if let sizes = tls.clientFlightRecordSizes { self.array(sizes) { $0.int($1) } } else { self.null() }
        self.key("clientRandom")
        self.optionalString(tls.clientRandom)
        self.key("decrypted")
        self.bool(tls.decrypted)
        self.key("decryptionProblem")
        self.optionalString(tls.decryptionProblem)
        self.key("established")
        self.bool(tls.established)
        self.key("establishedBasis")
        self.string(tls.establishedBasis)
        self.key("helloRetryRequest")
        self.bool(tls.helloRetryRequest)
        self.key("innerProtocol")
        self.optionalString(tls.innerProtocol)
        self.key("offeredVersions")
        self.strings(tls.offeredVersions)
        self.key("renegotiated")
        self.bool(tls.renegotiated)
        self.key("requestedSignatureAlgorithms")
        self.strings(tls.requestedSignatureAlgorithms)
        self.key("resumed")
        self.bool(tls.resumed)
        self.key("serverCertificates")
        self.certificates(tls.serverCertificates)
        self.key("sni")
        self.optionalString(tls.sni)
        self.key("version")
        self.optionalString(tls.version)
        self.endObject()
    }

    mutating func write(_ layer: EncapsulationLayer) {
        self.beginObject()
        self.key("destination")
        self.string(layer.destination)
        self.key("id")
        if let id = layer.id { self.uint(UInt64(id)) } else { self.null() }
        self.key("kind")
        self.name(layer.kind)
        self.key("source")
        self.string(layer.source)
        self.endObject()
    }

    mutating func write(_ quic: QUICSummary) {
        self.beginObject()
        self.key("retry")
        self.bool(quic.retry)
        self.key("transportError")
        self.optionalString(quic.transportError)
        self.key("version")
        self.string(quic.version)
        self.endObject()
    }

    mutating func write(_ esp: ESPSummary) {
        self.beginObject()
        self.key("clientSPIs")
        self.strings(esp.clientSPIs)
        self.key("serverSPIs")
        self.strings(esp.serverSPIs)
        self.key("udpEncapsulated")
        self.bool(esp.udpEncapsulated)
        self.endObject()
    }

    /// A certificate list. A server's flows share one array (a capture's certificate-list cache hands out one per chain
    /// it has read), so a list's JSON is kept by the array's storage and copied whole (about 2,000 instructions a flow
    /// less than finding each certificate's); a list seen for the first time is written certificate by certificate.
    mutating func certificates(_ list: [CertificateSummary]) {
        self.needsComma = true
        // Most flows have no client certificate: nothing to look up.
        if list.isEmpty { return self.buffer.put(literal: "[]") }
        if self.certificateJSON.copyList(list, into: &self.buffer) { return }
        var fresh = FlowJSONWriter(sharing: self.certificateJSON)
        fresh.array(list) { $0.write($1) }
        fresh.withBytes { bytes in
            self.certificateJSON.storeList(list, bytes)
            self.buffer.put(bytes)
        }
    }

    /// A certificate as its JSON object: the same few certificates are presented on thousands of flows, so each one's
    /// bytes are written once and copied afterwards (``CertificateJSONCache``).
    mutating func write(_ certificate: CertificateSummary) {
        if self.certificateJSON.copy(certificate, into: &self.buffer) {
            self.needsComma = true
            return
        }
        var fresh = FlowJSONWriter(sharing: self.certificateJSON)
        fresh.encode(certificate)
        fresh.withBytes { bytes in
            self.certificateJSON.store(certificate, bytes)
            self.buffer.put(bytes)
        }
        self.needsComma = true
    }

    private mutating func encode(_ certificate: CertificateSummary) {
        self.beginObject()
        self.key("curve")
        self.optionalString(certificate.curve)
        self.key("extendedKeyUsage")
        self.strings(certificate.extendedKeyUsage)
        self.key("isCA")
        self.bool(certificate.isCA)
        self.key("issuer")
        self.string(certificate.issuer)
        self.key("keyBits")
        self.int(certificate.keyBits)
        self.key("keyType")
        self.string(certificate.keyType)
        self.key("keyUsage")
        self.strings(certificate.keyUsage)
        self.key("notAfter")
        if let notAfter = certificate.notAfter { self.timestamp(notAfter) } else { self.null() }
        self.key("notBefore")
        if let notBefore = certificate.notBefore { self.timestamp(notBefore) } else { self.null() }
        // Only a certificate that could not be read carries the key, as its Codable form has it.
        if let reason = certificate.parseError {
            self.key("parseError")
            self.string(reason)
        }
        self.key("sans")
        self.strings(certificate.sans)
        self.key("selfSigned")
        self.bool(certificate.selfSigned)
        self.key("serial")
        self.string(certificate.serial)
        self.key("sha256")
        self.string(certificate.sha256)
        self.key("signatureAlgorithm")
        self.string(certificate.signatureAlgorithm)
        self.key("subject")
        self.string(certificate.subject)
        self.endObject()
    }

    mutating func write(_ credential: Credential) {
        self.beginObject()
        self.key("kind")
        self.string(credential.kind)
        self.key("note")
        self.optionalString(credential.note)
        self.key("redacted")
        self.string(credential.redacted)
        self.key("user")
        self.optionalString(credential.user)
        self.endObject()
    }

    mutating func write(_ alert: TLSAlert) {
        self.beginObject()
        self.key("code")
        if let code = alert.code { self.int(code) } else { self.null() }
        self.key("description")
        self.string(alert.description)
        self.key("from")
        self.string(alert.from)
        self.key("inferred")
        self.bool(alert.inferred)
        self.key("level")
        self.string(alert.level)
        self.endObject()
    }

    mutating func counts(_ counts: DirectionCounts) {
        self.beginObject()
        self.key("toClient")
        self.uint(counts.toClient)
        self.key("toServer")
        self.uint(counts.toServer)
        self.endObject()
    }

    // MARK: - JSON

    mutating func beginObject() {
        self.buffer.put(UInt8(ascii: "{"))
        self.needsComma = false
    }

    mutating func endObject() {
        self.buffer.put(UInt8(ascii: "}"))
        self.needsComma = true
    }

    /// A key of the object being written; its value is whatever is written next.
    @inline(__always)
    mutating func key(_ name: StaticString) {
        self.buffer.put(key: name, comma: self.needsComma)
        // Set before the value: an object value clears it for its own first key and sets it again at its end.
        self.needsComma = true
    }

    mutating func array<T>(_ values: [T], _ element: (inout FlowJSONWriter, T) -> Void) {
        self.buffer.put(UInt8(ascii: "["))
        var first = true
        for value in values {
            if !first { self.buffer.put(UInt8(ascii: ",")) }
            first = false
            element(&self, value)
        }
        self.buffer.put(UInt8(ascii: "]"))
        self.needsComma = true
    }

    mutating func strings(_ values: [String]) {
        self.array(values) { $0.string($1) }
    }

    mutating func null() {
        self.buffer.put(literal: "null")
    }

    mutating func bool(_ value: Bool) {
        self.buffer.put(literal: value ? "true" : "false")
    }

    mutating func int(_ value: Int) {
        self.buffer.put(decimal: value)
    }

    mutating func uint(_ value: UInt64) {
        self.buffer.put(decimal: value)
    }

    /// A case's name, as its `Codable` form writes it (its raw value, a string): the names are Bulkhead's own words,
    /// so they are copied with no look for characters to escape (four of them per flow). A test holds every case of
    /// these enums free of such characters.
    mutating func name<Name: RawRepresentable>(_ value: Name) where Name.RawValue == String {
        var text = value.rawValue
        text.withUTF8 { utf8 in
            self.buffer.put(UInt8(ascii: "\""))
            self.buffer.put(UnsafeRawBufferPointer(utf8))
            self.buffer.put(UInt8(ascii: "\""))
        }
    }

    /// Text written as it is (a number's own JSON form, say): the caller vouches it needs no escaping.
    mutating func raw(_ text: String) {
        var text = text
        text.withUTF8 { self.buffer.put(UnsafeRawBufferPointer($0)) }
    }

    /// A timestamp as its `Codable` form writes it (its ``Timestamp/description``, a string), the digits put straight
    /// into the buffer: a `String` of 27 bytes is a heap allocation and a UTF-8 check, twice per flow.
    mutating func timestamp(_ time: Timestamp) {
        // A flow's two times, and the next flows', mostly fall in the same second: its date and time of day are copied
        // from the last one written, and only the microseconds written anew.
        if let last = self.lastTimestamp, time.seconds == last.seconds {
            var text = last.text
            withUnsafeMutableBytes(of: &text) { Self.putMicroseconds(of: time, into: $0) }
            withUnsafeBytes(of: text) {
                self.buffer.put(UnsafeRawBufferPointer(rebasing: $0[0..<Self.quotedTimestamp]))
            }
            return
        }
        var written: (UInt64, UInt64, UInt64, UInt64)?
        self.buffer.put(atMost: Self.quotedTimestamp) { text in
            guard let length = time.writeRFC3339(into: UnsafeMutableBufferPointer(rebasing: text[1...])),
                length + 2 == Self.quotedTimestamp
            else { return 0 }
            text[0] = UInt8(ascii: "\"")
            text[length + 1] = UInt8(ascii: "\"")
            var copy: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            withUnsafeMutableBytes(of: &copy) {
                $0.copyMemory(
                    from: UnsafeRawBufferPointer(UnsafeMutableBufferPointer(rebasing: text[0..<(length + 2)])))
            }
            written = copy
            return length + 2
        }
        guard let written else {
            // Outside years 0000–9999: the raw seconds, as `description` gives them.
            return self.string(time.description)
        }
        self.lastTimestamp = (time.seconds, written)
    }

    /// `"YYYY-MM-DDTHH:MM:SS.ffffffZ"`, quotes included.
    private static let quotedTimestamp = Timestamp.rfc3339Length + 2

    /// Writes the six digits of `time`'s microseconds where a quoted timestamp has them (as ``Timestamp`` does).
    private static func putMicroseconds(of time: Timestamp, into text: UnsafeMutableRawBufferPointer) {
        var micros = Int(time.nanoseconds / 1000) % 1_000_000
        for offset in stride(from: 26, through: 21, by: -1) {
            text[offset] = UInt8(truncatingIfNeeded: 48 + micros % 10)
            micros /= 10
        }
    }

    mutating func optionalString(_ value: String?) {
        if let value { self.string(value) } else { self.null() }
    }

    /// A JSON string: `"`, `\`, and control characters escaped; everything else (UTF-8) as is.
    mutating func string(_ value: String) {
        // Fast path: nothing to escape (almost always).
        if self.buffer.putPlainString(value) { return }
        self.buffer.put(UInt8(ascii: "\""))
        let hex: StaticString = "0123456789abcdef"
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): self.buffer.put(literal: #"\""#)
            case UInt8(ascii: "\\"): self.buffer.put(literal: #"\\"#)
            case 0x0a: self.buffer.put(literal: #"\n"#)
            case 0x0d: self.buffer.put(literal: #"\r"#)
            case 0x09: self.buffer.put(literal: #"\t"#)
            case 0..<0x20:
                self.buffer.put(literal: #"\u00"#)
                self.buffer.put(hex.utf8Start[Int(byte >> 4)])
                self.buffer.put(hex.utf8Start[Int(byte & 0x0f)])
            default: self.buffer.put(byte)
            }
        }
        self.buffer.put(UInt8(ascii: "\""))
    }
}

/// The JSON of certificates already written (see ``FlowJSONWriter/write(_:)-certificate``) by one writer. Looked up
/// by fingerprint and compared whole, so a summary is never written as another's; bounded (emptied when full: a cache,
/// not a record). Not thread-safe: each writer (each analysis lane's) has its own.
final class CertificateJSONCache {
    private struct Key: Hashable {
        var certificate: CertificateSummary

        func hash(into hasher: inout Hasher) {
            hasher.combine(self.certificate.sha256)
        }
    }

    static let capacity = 1024

    private var entries: [Key: [UInt8]] = [:]

    /// The JSON of whole certificate lists, by their array (``ArrayStorageMemo``).
    private var lists = ArrayStorageMemo<CertificateSummary, [UInt8]>(limit: CertificateJSONCache.capacity)

    /// Appends the cached JSON of the list `list` is (the same array) and returns true, or returns false when it has none.
    func copyList(_ list: [CertificateSummary], into buffer: inout JSONBuffer) -> Bool {
        guard let bytes = self.lists.value(for: list) else { return false }
        bytes.withUnsafeBytes { buffer.put($0) }
        return true
    }

    func storeList(_ list: [CertificateSummary], _ bytes: UnsafeRawBufferPointer) {
        self.lists.remember([UInt8](bytes), for: list)
    }

    /// Appends the cached JSON of `certificate` to `buffer` and returns true, or returns false when it has none.
    func copy(_ certificate: CertificateSummary, into buffer: inout JSONBuffer) -> Bool {
        guard let bytes = self.entries[Key(certificate: certificate)] else { return false }
        bytes.withUnsafeBytes { buffer.put($0) }
        return true
    }

    func store(_ certificate: CertificateSummary, _ bytes: UnsafeRawBufferPointer) {
        if self.entries.count >= Self.capacity { self.entries.removeAll(keepingCapacity: true) }
        self.entries[Key(certificate: certificate)] = [UInt8](bytes)
    }
}
