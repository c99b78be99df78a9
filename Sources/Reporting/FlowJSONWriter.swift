import BulkheadModel

/// Writes flow records as compact JSON by hand: a capture of a million flows must not wait on Foundation's
/// general-purpose `JSONEncoder` (about ten times slower here). The output parses to exactly what the
/// records' `Codable` conformance produces — keys sorted, absent values as `null` (except a flow's
/// `encapsulation` and `esp`, left out when absent) — and a test holds the two together, so adding a field to
/// the model without adding it here fails the suite.
public struct FlowJSONWriter {
    public internal(set) var bytes: [UInt8] = []

    public init() {
        self.bytes.reserveCapacity(2048)
    }

    public mutating func reset() {
        self.bytes.removeAll(keepingCapacity: true)
    }

    // MARK: - Records

    public mutating func write(_ flow: FlowRecord) {
        self.object {
            $0.key("anomalies") { $0.strings(flow.anomalies) }
            $0.key("bytes") { $0.counts(flow.bytes) }
            $0.key("client") { $0.string(flow.client) }
            $0.key("clientBasis") { $0.string(flow.clientBasis.rawValue) }
            $0.key("credentials") { writer in writer.array(flow.credentials) { $0.write($1) } }
            // Written only when present (unlike every other optional), as the `Codable` conformance does.
            if let layers = flow.encapsulation {
                $0.key("encapsulation") { writer in writer.array(layers) { $0.write($1) } }
            }
            $0.key("encrypted") { $0.bool(flow.encrypted) }
            if let esp = flow.esp {
                $0.key("esp") { $0.write(esp) }
            }
            $0.key("file") { $0.optionalString(flow.file) }
            $0.key("firstSeen") { $0.string(flow.firstSeen.description) }
            $0.key("id") { $0.int(flow.id) }
            $0.key("lastSeen") { $0.string(flow.lastSeen.description) }
            $0.key("packets") { $0.counts(flow.packets) }
            $0.key("protocol") { $0.string(flow.proto.rawValue) }
            $0.key("server") { $0.string(flow.server) }
            $0.key("starttls") { $0.bool(flow.starttls) }
            $0.key("tls") { writer in
                if let tls = flow.tls { writer.write(tls) } else { writer.null() }
            }
            $0.key("transport") { $0.string(flow.transport.rawValue) }
            $0.key("truncated") { $0.bool(flow.truncated) }
            if let tunnel = flow.tunnel {
                $0.key("tunnel") { $0.write(tunnel) }
            }
        }
    }

    mutating func write(_ tunnel: TunnelRecord) {
        self.object {
            $0.key("destination") { $0.optionalString(tunnel.destination) }
            $0.key("hops") { writer in writer.array(tunnel.hops) { $0.write($1) } }
            $0.key("proxy") { $0.string(tunnel.proxy) }
        }
    }

    mutating func write(_ hop: TunnelHop) {
        self.object {
            $0.key("authentication") { $0.optionalString(hop.authentication) }
            $0.key("destination") { $0.optionalString(hop.destination) }
            $0.key("kind") { $0.string(hop.kind) }
            $0.key("outcome") { $0.string(hop.outcome) }
            $0.key("reply") { writer in if let reply = hop.reply { writer.int(reply) } else { writer.null() } }
        }
    }

    mutating func write(_ tls: TLSSummary) {
        self.object {
            $0.key("acceptableCAs") { $0.strings(tls.acceptableCAs) }
            $0.key("alerts") { writer in writer.array(tls.alerts) { $0.write($1) } }
            $0.key("alpn") { $0.optionalString(tls.alpn) }
            $0.key("alpnOffered") { $0.strings(tls.alpnOffered) }
            $0.key("certificateRequested") { writer in
                if let requested = tls.certificateRequested { writer.bool(requested) } else { writer.null() }
            }
            $0.key("cipher") { $0.optionalString(tls.cipher) }
            $0.key("clientCertificate") { $0.string(tls.clientCertificate.rawValue) }
            $0.key("clientCertificates") { writer in writer.array(tls.clientCertificates) { $0.write($1) } }
            $0.key("clientFlightRecordSizes") { writer in
                if let sizes = tls.clientFlightRecordSizes { writer.array(sizes) { $0.int($1) } } else { writer.null() }
            }
            $0.key("clientRandom") { $0.optionalString(tls.clientRandom) }
            $0.key("decrypted") { $0.bool(tls.decrypted) }
            $0.key("decryptionProblem") { $0.optionalString(tls.decryptionProblem) }
            $0.key("established") { $0.bool(tls.established) }
            $0.key("establishedBasis") { $0.string(tls.establishedBasis) }
            $0.key("helloRetryRequest") { $0.bool(tls.helloRetryRequest) }
            $0.key("innerProtocol") { $0.optionalString(tls.innerProtocol) }
            $0.key("offeredVersions") { $0.strings(tls.offeredVersions) }
            $0.key("renegotiated") { $0.bool(tls.renegotiated) }
            $0.key("requestedSignatureAlgorithms") { $0.strings(tls.requestedSignatureAlgorithms) }
            $0.key("resumed") { $0.bool(tls.resumed) }
            $0.key("serverCertificates") { writer in writer.array(tls.serverCertificates) { $0.write($1) } }
            $0.key("sni") { $0.optionalString(tls.sni) }
            $0.key("version") { $0.optionalString(tls.version) }
        }
    }

    mutating func write(_ layer: EncapsulationLayer) {
        self.object {
            $0.key("destination") { $0.string(layer.destination) }
            $0.key("id") { writer in if let id = layer.id { writer.uint(UInt64(id)) } else { writer.null() } }
            $0.key("kind") { $0.string(layer.kind.rawValue) }
            $0.key("source") { $0.string(layer.source) }
        }
    }

    mutating func write(_ esp: ESPSummary) {
        self.object {
            $0.key("clientSPIs") { $0.strings(esp.clientSPIs) }
            $0.key("serverSPIs") { $0.strings(esp.serverSPIs) }
            $0.key("udpEncapsulated") { $0.bool(esp.udpEncapsulated) }
        }
    }

    mutating func write(_ certificate: CertificateSummary) {
        self.object {
            $0.key("curve") { $0.optionalString(certificate.curve) }
            $0.key("extendedKeyUsage") { $0.strings(certificate.extendedKeyUsage) }
            $0.key("isCA") { $0.bool(certificate.isCA) }
            $0.key("issuer") { $0.string(certificate.issuer) }
            $0.key("keyBits") { $0.int(certificate.keyBits) }
            $0.key("keyType") { $0.string(certificate.keyType) }
            $0.key("keyUsage") { $0.strings(certificate.keyUsage) }
            $0.key("notAfter") { $0.optionalString(certificate.notAfter?.description) }
            $0.key("notBefore") { $0.optionalString(certificate.notBefore?.description) }
            // Only a certificate that could not be read carries the key, as its Codable form has it.
            if let reason = certificate.parseError { $0.key("parseError") { $0.string(reason) } }
            $0.key("sans") { $0.strings(certificate.sans) }
            $0.key("selfSigned") { $0.bool(certificate.selfSigned) }
            $0.key("serial") { $0.string(certificate.serial) }
            $0.key("sha256") { $0.string(certificate.sha256) }
            $0.key("signatureAlgorithm") { $0.string(certificate.signatureAlgorithm) }
            $0.key("subject") { $0.string(certificate.subject) }
        }
    }

    mutating func write(_ credential: Credential) {
        self.object {
            $0.key("kind") { $0.string(credential.kind) }
            $0.key("note") { $0.optionalString(credential.note) }
            $0.key("redacted") { $0.string(credential.redacted) }
            $0.key("user") { $0.optionalString(credential.user) }
        }
    }

    mutating func write(_ alert: TLSAlert) {
        self.object {
            $0.key("code") { writer in if let code = alert.code { writer.int(code) } else { writer.null() } }
            $0.key("description") { $0.string(alert.description) }
            $0.key("from") { $0.string(alert.from) }
            $0.key("inferred") { $0.bool(alert.inferred) }
            $0.key("level") { $0.string(alert.level) }
        }
    }

    mutating func counts(_ counts: DirectionCounts) {
        self.object {
            $0.key("toClient") { $0.uint(counts.toClient) }
            $0.key("toServer") { $0.uint(counts.toServer) }
        }
    }

    // MARK: - JSON

    private var needsComma = false

    mutating func object(_ body: (inout FlowJSONWriter) -> Void) {
        self.bytes.append(UInt8(ascii: "{"))
        self.needsComma = false
        body(&self)
        self.bytes.append(UInt8(ascii: "}"))
        self.needsComma = true
    }

    mutating func key(_ name: StaticString, _ value: (inout FlowJSONWriter) -> Void) {
        if self.needsComma { self.bytes.append(UInt8(ascii: ",")) }
        self.bytes.append(UInt8(ascii: "\""))
        self.bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        self.bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        value(&self)
        self.needsComma = true
    }

    mutating func array<T>(_ values: [T], _ element: (inout FlowJSONWriter, T) -> Void) {
        self.bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { self.bytes.append(UInt8(ascii: ",")) }
            element(&self, value)
        }
        self.bytes.append(UInt8(ascii: "]"))
        self.needsComma = true
    }

    mutating func strings(_ values: [String]) {
        self.array(values) { $0.string($1) }
    }

    mutating func null() {
        self.bytes.append(contentsOf: [0x6e, 0x75, 0x6c, 0x6c])
    }

    mutating func bool(_ value: Bool) {
        self.bytes.append(contentsOf: value ? [0x74, 0x72, 0x75, 0x65] : [0x66, 0x61, 0x6c, 0x73, 0x65])
    }

    mutating func int(_ value: Int) {
        self.bytes.append(contentsOf: String(value).utf8)
    }

    mutating func uint(_ value: UInt64) {
        self.bytes.append(contentsOf: String(value).utf8)
    }

    mutating func optionalString(_ value: String?) {
        if let value { self.string(value) } else { self.null() }
    }

    /// A JSON string: `"`, `\`, and control characters escaped; everything else (UTF-8) as is.
    mutating func string(_ value: String) {
        self.bytes.append(UInt8(ascii: "\""))
        // Fast path: nothing to escape (almost always).
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            self.bytes.append(contentsOf: value.utf8)
            self.bytes.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): self.bytes.append(contentsOf: [0x5c, 0x22])
            case UInt8(ascii: "\\"): self.bytes.append(contentsOf: [0x5c, 0x5c])
            case 0x0a: self.bytes.append(contentsOf: [0x5c, 0x6e])
            case 0x0d: self.bytes.append(contentsOf: [0x5c, 0x72])
            case 0x09: self.bytes.append(contentsOf: [0x5c, 0x74])
            case 0..<0x20:
                let digits = Array("0123456789abcdef".utf8)
                self.bytes.append(contentsOf: [
                    0x5c, 0x75, 0x30, 0x30, digits[Int(byte >> 4)], digits[Int(byte & 0x0f)],
                ])
            default: self.bytes.append(byte)
            }
        }
        self.bytes.append(UInt8(ascii: "\""))
    }
}
