import BulkheadModel

/// Derives findings from flow records and folds repeats together: many flows of the same kind towards the
/// same server make one finding with a flow count, not thousands of lines.
public struct FlowFindings {
    private struct Key: Hashable {
        var kind: String
        var location: String
        var discriminator: String
    }

    private var findings: [Key: Finding] = [:]

    public init() {}

    /// Adds what `flow` shows.
    public mutating func add(_ flow: FlowRecord) {
        for finding in Self.findings(for: flow) {
            let key = Key(kind: finding.kind, location: finding.location ?? "", discriminator: finding.title)
            if var existing = self.findings[key] {
                existing.flowCount += 1
                // Keep the ten lowest ids, so the result does not depend on the order flows arrive in.
                if existing.flowIDs.count < 10 || flow.id < existing.flowIDs[existing.flowIDs.count - 1] {
                    let index = existing.flowIDs.firstIndex { $0 > flow.id } ?? existing.flowIDs.endIndex
                    existing.flowIDs.insert(flow.id, at: index)
                    if existing.flowIDs.count > 10 { existing.flowIDs.removeLast() }
                }
                self.findings[key] = existing
            } else {
                var first = finding
                first.flowCount = 1
                first.flowIDs = [flow.id]
                self.findings[key] = first
            }
        }
    }

    /// The findings, most severe first, then by their first flow (then kind and title, for a stable order).
    public var all: [Finding] {
        self.findings.values.sorted {
            if $0.severity != $1.severity { return $0.severity > $1.severity }
            let first0 = $0.flowIDs.first ?? 0
            let first1 = $1.flowIDs.first ?? 0
            if first0 != first1 { return first0 < first1 }
            return ($0.kind, $0.title) < ($1.kind, $1.title)
        }
    }

    /// The findings one flow shows on its own.
    public static func findings(for flow: FlowRecord) -> [Finding] {
        var result: [Finding] = []
        let location = flow.server
        let proto = flow.proto.rawValue
        if !flow.credentials.isEmpty {
            let kinds = Array(Set(flow.credentials.map(\.kind))).sorted().joined(separator: ", ")
            let crossedBefore = flow.starttls ? " before the connection was upgraded to TLS" : ""
            result.append(Finding(
                kind: "credentials-in-cleartext", severity: .high,
                title: "Credentials sent in clear to \(location) (\(kinds))",
                detail: "A client sent \(kinds) credentials over \(proto)\(crossedBefore); anyone on the path can read and replay them. "
                    + "Require TLS (ideally mutual TLS) on this service.",
                location: location))
        } else if !flow.encrypted {
            switch flow.proto {
            case .empty, .unknownBinary:
                break
            case .dns:
                result.append(Finding(
                    kind: "plaintext-flow", severity: .info, title: "Plaintext DNS to \(location)",
                    detail: "DNS queries and answers crossed unencrypted.", location: location))
            default:
                result.append(Finding(
                    kind: "plaintext-flow", severity: .medium, title: "Plaintext \(proto) to \(location)",
                    detail: "Service traffic (\(proto)) crossed without TLS: its content can be read and altered on the path.",
                    location: location))
            }
        }
        if flow.proto == .unknownBinary && !flow.encrypted {
            result.append(Finding(
                kind: "unidentified-flow", severity: .low, title: "Unidentified binary traffic to \(location)",
                detail: "The payload is binary and matches no known protocol. It may be encrypted by something other than TLS; "
                    + "Bulkhead cannot vouch for it.", location: location))
        }
        guard let tls = flow.tls, flow.proto == .tls || flow.starttls else { return result }
        if let version = tls.version, ["ssl2", "ssl3", "1.0", "1.1"].contains(version) {
            result.append(Finding(
                kind: "tls-legacy-version", severity: .high, title: "TLS \(version) negotiated with \(location)",
                detail: "TLS versions below 1.2 are deprecated (RFC 8996) and have known attacks.", location: location))
        }
        if let cipher = tls.cipher, let weakness = TLSRegistry.cipherWeakness(cipher) {
            result.append(Finding(
                kind: weakness.serious ? "tls-weak-cipher" : "tls-legacy-cipher", severity: weakness.serious ? .high : .low,
                title: "Cipher \(cipher) negotiated with \(location)",
                detail: "The negotiated suite uses \(weakness.reason).", location: location))
        }
        let failed = !tls.established && tls.alerts.contains { $0.level == "fatal" || $0.inferred || $0.description == "encrypted" }
        if failed {
            let alert = tls.alerts.first { $0.level == "fatal" || $0.inferred || $0.description == "encrypted" }
            let what = alert.map { $0.inferred ? "an encrypted alert inferred from its size" : "\($0.level) alert \($0.description) from the \($0.from)" } ?? "an alert"
            result.append(Finding(
                kind: "tls-handshake-failure", severity: .medium, title: "TLS handshake with \(location) failed",
                detail: "The handshake ended with \(what). If this was a client without a valid certificate being refused, "
                    + "that is mTLS working; otherwise a dependency is broken.", location: location))
        }
        if tls.established {
            switch tls.clientCertificate {
            case .notRequested, .declined, .likelyNotRequested, .likelyDeclined:
                let how: String
                switch tls.clientCertificate {
                case .notRequested: how = "the server did not ask for a client certificate"
                case .declined: how = "the server asked for a client certificate and the client sent none, yet the session went on"
                case .likelyNotRequested: how = "the server very likely did not ask for a client certificate (TLS 1.3 record-size heuristic)"
                default: how = "the client very likely sent an empty certificate and the session went on (TLS 1.3 record-size heuristic)"
                }
                result.append(Finding(
                    kind: "tls-no-client-auth", severity: .medium, title: "TLS to \(location) without client authentication",
                    detail: "The session is encrypted but not mutually authenticated: \(how).", location: location))
            default:
                break
            }
        }
        let chains: [(String, [CertificateSummary])] = [("server", tls.serverCertificates), ("client", tls.clientCertificates)]
        for (owner, chain) in chains {
            for (index, certificate) in chain.enumerated() {
                let name = certificate.subject.isEmpty ? certificate.sha256.prefix(16) + "…" : Substring(certificate.subject)
                switch certificate.validity(at: flow.firstSeen) {
                case .expired:
                    result.append(Finding(
                        kind: "certificate-expired", severity: .high, title: "Expired \(owner) certificate \(name)",
                        detail: "The \(owner) presented a certificate that had expired (notAfter \(certificate.notAfter.map(String.init(describing:)) ?? "?")) when the flow was seen.",
                        location: location))
                case .notYetValid:
                    result.append(Finding(
                        kind: "certificate-not-yet-valid", severity: .high, title: "Not-yet-valid \(owner) certificate \(name)",
                        detail: "The \(owner) presented a certificate whose validity starts later (notBefore \(certificate.notBefore.map(String.init(describing:)) ?? "?")).",
                        location: location))
                default:
                    break
                }
                guard index == 0 else { continue }  // roots in a chain are self-signed by design
                if certificate.selfSigned {
                    result.append(Finding(
                        kind: "certificate-self-signed", severity: .medium, title: "Self-signed \(owner) certificate \(name)",
                        detail: "The \(owner)'s certificate is signed by its own key: nothing but pinning can vouch for it.",
                        location: location))
                }
                if (certificate.keyType == "rsa" || certificate.keyType == "rsa-pss" || certificate.keyType == "dsa") && certificate.keyBits > 0 && certificate.keyBits < 2048 {
                    result.append(Finding(
                        kind: "certificate-weak-key", severity: .medium, title: "\(certificate.keyBits)-bit \(certificate.keyType.uppercased()) key in \(owner) certificate \(name)",
                        detail: "Keys below 2048 bits are breakable with current means.", location: location))
                }
                let signature = Array(certificate.signatureAlgorithm.lowercased().utf8)
                if signature.containsSequence(Array("sha1".utf8)) || signature.containsSequence(Array("md5".utf8)) {
                    result.append(Finding(
                        kind: "certificate-weak-signature", severity: .medium, title: "\(certificate.signatureAlgorithm) signature on \(owner) certificate \(name)",
                        detail: "SHA-1 and MD5 signatures can be forged.", location: location))
                }
            }
        }
        return result
    }
}
