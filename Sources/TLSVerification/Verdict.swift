#if canImport(Glibc)
import Glibc
#endif
import BulkheadModel
import CBulkheadOpenSSL
import Certificates

/// Turns connection outcomes into probe results, and an endpoint's probes into its verdict and findings.
enum Verdicts {
    // MARK: - One probe

    static func record(_ kind: TLSProbeKind, _ variant: String?, _ outcome: ConnectionOutcome, endpoint: String, source: String) -> TLSProbeRecord {
        let (result, detail) = Self.classify(kind, outcome)
        return TLSProbeRecord(
            endpoint: endpoint, source: source, probe: kind, variant: variant, result: result, alert: outcome.alertReceived,
            alertName: outcome.alertReceived.map(Self.alertName), tlsVersion: outcome.tlsVersion, cipher: outcome.cipher,
            certificateRequest: kind == .plaintext || !outcome.serverHelloSeen ? nil : outcome.certificateRequestSeen,
            acceptableCAs: outcome.acceptableCAs, detail: detail, durationMilliseconds: (outcome.seconds * 1e4).rounded() / 10)
    }

    static func classify(_ kind: TLSProbeKind, _ outcome: ConnectionOutcome) -> (TLSProbeResult, String?) {
        guard outcome.connected else {
            if let code = outcome.connectErrno, code == ECONNREFUSED || code == EHOSTUNREACH || code == ENETUNREACH || code == ETIMEDOUT {
                return (.unreachable, outcome.failure)
            }
            return (outcome.timedOut ? .timeout : .error, outcome.failure ?? (outcome.timedOut ? "no connection before the deadline" : nil))
        }
        if kind == .plaintext { return Self.classifyPlaintext(outcome) }
        if kind == .protocolVersion || kind == .cipher {
            // Acceptance is judged at the ServerHello: a server that then wants a client certificate still
            // accepted the version or suite.
            // A server that answers an offer it cannot meet with a ServerHello for another version is refusing it:
            // only a handshake that got past the ServerHello counts.
            if outcome.serverHelloAccepted || outcome.handshakeCompleted {
                return (.accepted, outcome.handshakeCompleted ? nil : "ServerHello accepted; handshake then ended: \(outcome.failure ?? "-")")
            }
            if outcome.serverHelloSeen { return (.rejected, "the server chose something not offered: \(outcome.failure ?? "-")") }
            if outcome.timedOut { return (.timeout, "no ServerHello before the deadline") }
            return (.rejected, outcome.failure)
        }
        if outcome.handshakeCompleted {
            if !outcome.response.isEmpty {
                let text = Self.printable(outcome.response)
                if let refusal = Self.applicationRefusal(outcome.response) { return (.rejected, "refused by the application: \(refusal)") }
                return (.accepted, "answered: \(text.prefix(80))")
            }
            if outcome.alertReceived != nil { return (.rejected, "handshake completed, then alert on the first read: \(outcome.failure ?? "-")") }
            if outcome.closedByPeer { return (.rejected, "handshake completed, then the server closed: \(outcome.failure ?? "-")") }
            return (.accepted, "handshake completed and no rejection within the read wait")
        }
        if outcome.timedOut { return (.timeout, "handshake did not finish before the deadline") }
        return (.rejected, outcome.failure)
    }

    private static func classifyPlaintext(_ outcome: ConnectionOutcome) -> (TLSProbeResult, String?) {
        let response = outcome.response
        if response.count >= 2 && (response[0] == 0x15 || response[0] == 0x16) && response[1] == 0x03 {
            return (.plaintextRefused, "answered with a TLS record")
        }
        if !response.isEmpty {
            let text = Self.printable(response)
            if Self.printable(response, limit: response.count).contains("plain HTTP request was sent to HTTPS port") { return (.plaintextRefused, "HTTP refusal: \(text)") }
            return (.plaintextAnswered, "answered in clear: \(text)")
        }
        if outcome.timedOut { return (.plaintextRefused, "no answer in clear before the deadline") }
        return (.plaintextRefused, outcome.failure ?? "closed without answering")
    }

    /// nginx completes the handshake whatever certificate it gets and refuses in HTTP (`400 No required SSL
    /// certificate was sent`, `400 The SSL certificate error`): that is a refusal, not an acceptance.
    static func applicationRefusal(_ response: [UInt8]) -> String? {
        let text = Self.printable(response, limit: response.count)
        guard text.hasPrefix("HTTP/") else { return nil }
        for phrase in ["No required SSL certificate was sent", "The SSL certificate error", "SSL certificate error"] where text.contains(phrase) {
            return phrase
        }
        if text.hasPrefix("HTTP/1.1 495") || text.hasPrefix("HTTP/1.1 496") { return String(text.prefix(40)) }
        return nil
    }

    /// The first line-ish of an answer, with control bytes escaped (a hostile server cannot write escape
    /// sequences into a terminal report).
    static func printable(_ bytes: [UInt8], limit: Int = 200) -> String {
        var text = ""
        for byte in bytes.prefix(limit) {
            switch byte {
            case 0x0d: continue
            case 0x0a: text += " "
            case 0x20..<0x7f: text.unicodeScalars.append(Unicode.Scalar(byte))
            default: text += "\\x" + String(byte, radix: 16)
            }
        }
        return text
    }

    static func alertName(_ alert: Int) -> String {
        let names: [Int: String] = [
            0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow", 40: "handshake_failure",
            42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
            46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
            51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
            86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension", 110: "unsupported_extension",
            112: "unrecognized_name", 116: "certificate_required", 120: "no_application_protocol",
        ]
        return names[alert] ?? "alert_\(alert)"
    }

    // MARK: - One endpoint

    static func report(for state: EndpointState, at now: Timestamp, lint: CertificateLint.Options) -> TLSEndpointReport {
        let target = state.target
        let expectations = target.expectations
        let location = "\(target.endpoint) (from \(target.source))"
        let order = TLSProbeKind.allCases
        let probes = state.records.sorted {
            (order.firstIndex(of: $0.probe) ?? 0, $0.variant ?? "") < (order.firstIndex(of: $1.probe) ?? 0, $1.variant ?? "")
        }
        func result(_ kind: TLSProbeKind) -> TLSProbeRecord? { probes.first { $0.probe == kind && $0.variant == nil } }
        var findings: [Finding] = []
        func add(_ kind: String, _ severity: Severity, _ title: String, _ detail: String) {
            findings.append(Finding(kind: kind, severity: severity, title: title, detail: detail, location: location))
        }

        let noCert = state.outcomes[.noClientCertificate]
        let noCertRecord = result(.noClientCertificate)
        let plaintext = result(.plaintext)
        let speaksTLS = noCert?.serverHelloSeen == true || probes.contains { $0.probe == .protocolVersion && $0.result == .accepted }
        let requested = noCert?.certificateRequestSeen == true
        let forgedAccepted = probes.filter { $0.probe.isForgedCertificate && $0.result == .accepted }

        // Verdict.
        var verdict: TLSVerdict
        var clientAuth = ClientAuthMode.unknown
        if plaintext?.result == .plaintextAnswered {
            verdict = .plaintextAccepted
        } else if let noCertRecord, !speaksTLS {
            switch noCertRecord.result {
            case .unreachable: verdict = .unreachable
            case .timeout: verdict = .timeout
            default: verdict = .error
            }
        } else if noCertRecord == nil {
            verdict = .error
        } else if !requested {
            verdict = noCert?.handshakeCompleted == true ? .tlsNoClientAuth : .error
            if verdict == .tlsNoClientAuth { clientAuth = .none }
        } else if noCertRecord?.result == .accepted {
            verdict = .mtlsOptional
            clientAuth = .optional
        } else {
            clientAuth = .required
            verdict = forgedAccepted.isEmpty ? .mtlsEnforced : .tlsAcceptsRogueClient
        }
        if requested && clientAuth == .unknown { clientAuth = noCertRecord?.result == .accepted ? .optional : .required }

        switch verdict {
        case .plaintextAccepted:
            add("plaintext-accepted", expectations.required ? .high : .medium, "the TLS port answers a plaintext request",
                "\(plaintext?.detail ?? ""). A client that never starts TLS is served: permissive mode.")
        case .tlsNoClientAuth:
            add("tls-no-client-auth", expectations.required ? .high : .info, "the server never asks for a client certificate",
                "TLS without client authentication: any client that reaches the port is served.")
        case .mtlsOptional:
            add("mtls-optional", expectations.required ? .high : .low, "client certificates are optional",
                "The server sent a CertificateRequest but served a client that sent no certificate (\(noCertRecord?.detail ?? "")).")
        case .unreachable, .timeout, .error:
            add("endpoint-untested", .info, "the endpoint could not be tested (\(verdict.rawValue))",
                noCertRecord?.detail ?? "no TLS handshake")
        default: break
        }
        for probe in forgedAccepted {
            let what: String
            switch probe.probe {
            case .rogueCA: what = "a client certificate from an untrusted CA"
            case .expired: what = "an expired client certificate from the right CA"
            case .serverAuthOnly: what = "a client certificate whose EKU is serverAuth only"
            default: what = "a self-signed client certificate with the right identity"
            }
            add("rogue-client-accepted", .critical, "the server accepts \(what)",
                "Probe \(probe.probe.rawValue): \(probe.detail ?? "accepted"). Anyone can forge such a certificate: authentication is not enforced.")
        }
        if let client = result(.clientCertificate), client.result != .skipped, client.result != .accepted, speaksTLS {
            add("valid-client-refused", .high, "the supplied client certificate is refused",
                "Probe client-cert: \(client.result.rawValue) \(client.alertName.map { "(alert \($0))" } ?? ""): \(client.detail ?? "").")
        }
        var authorization: String?
        if let other = result(.otherIdentity), other.result == .accepted || other.result == .rejected {
            authorization = other.result.rawValue
            if other.result == .accepted {
                add("authorization-any-identity", .medium, "the server accepts another workload's valid certificate",
                    "A valid certificate of another identity from the same CA was accepted: authentication holds, authorization is not restricted to the expected clients.")
            }
        }
        for probe in probes where probe.probe == .protocolVersion && probe.result == .accepted {
            if probe.variant == "TLSv1" || probe.variant == "TLSv1.1" {
                add("legacy-tls-version", .medium, "\(probe.variant ?? "") accepted", "The server negotiated \(probe.tlsVersion ?? "?") with \(probe.cipher ?? "?").")
            }
        }
        for probe in probes where probe.probe == .cipher && probe.result == .accepted {
            let name = probe.variant ?? "?"
            add("weak-cipher", WeakCiphers.severity(name), "\(name) cipher suites accepted",
                "Offered only \(name) suites; the server chose \(probe.cipher ?? "?") (\(probe.tlsVersion ?? "?")).")
        }

        // Server chain: from the first probe that saw one (the user's identity gets furthest on strict servers).
        var chainReport: ServerChainReport?
        let chain = [TLSProbeKind.clientCertificate, .noClientCertificate, .rogueCA, .otherIdentity]
            .compactMap { state.outcomes[$0]?.peerChain }.first { !$0.isEmpty }
        if let chain {
            let report = ChainValidation.report(chain: chain, anchors: state.material.anchors, expectations: expectations, at: now, options: lint)
            chainReport = report
            if report.pathValidation == "invalid" {
                add("server-chain-untrusted", .high, "the server chain does not validate against the trust bundle", report.pathError ?? "")
            }
            if !report.missingDNSNames.isEmpty {
                add("server-identity-mismatch", .high, "the server certificate lacks the expected DNS name",
                    "Expected \(report.missingDNSNames.joined(separator: ", ")); the leaf has \(report.certificates.first?.sans.joined(separator: ", ") ?? "no SAN").")
            }
            if report.spiffeMatch == false {
                add("server-spiffe-mismatch", .high, "the server certificate does not carry exactly the expected SPIFFE ID",
                    "Expected exactly one URI SAN \(expectations.expectedSPIFFEID ?? ""); the leaf has \(report.certificates.first?.sans.filter { $0.hasPrefix("URI:") }.joined(separator: ", ") ?? "none").")
            }
            findings += CertificateLint.findings(report.lint, about: "server certificate", location: location)
        }
        if let client = state.material.clientSummary {
            let issues = CertificateLint.lint(client, role: .client, position: 0, at: now, options: lint)
            findings += CertificateLint.findings(issues, about: "client certificate", location: location)
        }
        return TLSEndpointReport(
            endpoint: target.endpoint.description, source: target.source.description, verdict: verdict, clientAuth: clientAuth,
            authorization: authorization, serverChain: chainReport, probes: probes, findings: findings.sorted { $0.severity > $1.severity })
    }
}
