import BulkheadModel
import CBulkheadOpenSSL
import Certificates

#if canImport(Glibc)
    import Glibc
#endif

/// One connection of a probe, read in the evidence model (see ``TLSEvidence``).
struct Attempt {
    var result: TLSProbeResult
    var evidence: TLSEvidence
    var detail: String?
    /// How an ambiguous attempt ended (`closed:close_notify`, `alert:80`, `silent`): two connections the server
    /// cannot tell apart end the same way.
    var signature: String
    var outcome: ConnectionOutcome
}

/// Turns connection outcomes into evidence, a probe's attempts into its result (judged against the control
/// probes of the same endpoint), and an endpoint's probes into its verdict and findings.
enum Verdicts {
    /// Alerts that name authentication: after the handshake, only these prove a refusal.
    static let authenticationAlerts: Set<Int> = [40, 42, 43, 44, 45, 46, 48, 49, 51, 116]

    // MARK: - One connection

    /// What one connection of a TLS probe proves.
    static func attempt(_ outcome: ConnectionOutcome) -> Attempt {
        func make(_ result: TLSProbeResult, _ evidence: TLSEvidence, _ detail: String?, _ signature: String = "")
            -> Attempt
        {
            Attempt(result: result, evidence: evidence, detail: detail, signature: signature, outcome: outcome)
        }
        guard outcome.connected else {
            if let code = outcome.connectErrno,
                code == ECONNREFUSED || code == EHOSTUNREACH || code == ENETUNREACH || code == ETIMEDOUT
            {
                return make(.unreachable, .none, outcome.failure)
            }
            return make(
                outcome.timedOut ? .timeout : .error, .none,
                outcome.failure ?? (outcome.timedOut ? "no connection before the deadline" : nil))
        }
        if let failure = outcome.upgradeFailure {
            return make(.error, .none, "cleartext upgrade to TLS failed: \(failure)")
        }
        if outcome.certificateOffered && outcome.clientCertificateSent == false {
            // What the server answered was its answer to a client without a certificate: this connection tested
            // nothing about the certificate it was meant to present.
            return make(
                .inconclusive, .none,
                "the client certificate was not sent: its key fits none of the signature algorithms the server's CertificateRequest allows, so OpenSSL sent an empty Certificate (\(Self.attemptEnding(outcome)))"
            )
        }
        if !outcome.handshakeCompleted {
            if let alert = outcome.alertReceived {
                return make(.rejected, .refusedByTLS, "alert \(alert) \(Self.alertName(alert)) during the handshake")
            }
            if outcome.timedOut {
                return make(
                    .timeout, .none,
                    outcome.serverHelloSeen
                        ? "handshake did not finish before the deadline" : "no TLS answer before the deadline")
            }
            if let ending = outcome.ending, outcome.serverHelloSeen {
                return make(
                    .rejected, .handshakeAborted,
                    "the server ended the handshake (\(ending.rawValue)) before it completed: no session, nothing served"
                )
            }
            return make(.error, .none, outcome.failure ?? "the handshake failed")
        }
        let application = outcome.applicationName.map { " (\($0))" } ?? ""
        switch outcome.applicationAnswer {
        case .served(let text)?, .failed(let text)?:
            return make(.accepted, .served, "served\(application): \(text)")
        case .refused(let text)?:
            return make(.rejected, .refusedByApplication, "refused by the application\(application): \(text)")
        case .denied(let status, let text)?:
            return make(
                .inconclusive, .deniedByApplication,
                "denied by the application\(application): \(text), naming no certificate", "denied:\(status)")
        case .closed(let text)?:
            return make(
                .inconclusive, .closedWithoutReason,
                "handshake completed, then \(text) before any answer, without a reason", "closed:\(text)")
        case nil: break
        }
        if let alert = outcome.alertReceived {
            if Self.authenticationAlerts.contains(alert) {
                return make(
                    .rejected, .refusedByTLS,
                    "alert \(alert) \(Self.alertName(alert)) \(outcome.alertAfterHandshake ? "after" : "at the end of") the handshake"
                )
            }
            return make(
                .inconclusive, .closedWithoutReason,
                "alert \(alert) \(Self.alertName(alert)) after the handshake (not about authentication)",
                "alert:\(alert)")
        }
        if let ending = outcome.ending {
            // An answer that proves nothing by itself (MySQL's ERR 1045, which does not name the certificate) is shown.
            let answered =
                outcome.response.isEmpty ? "" : " (it had answered: \(Line.printable(outcome.response, limit: 100)))"
            return make(
                .inconclusive, .closedWithoutReason,
                "handshake completed, then the server closed (\(ending.rawValue)) without a reason\(answered)",
                "closed:\(ending.rawValue)")
        }
        if outcome.silentAfterHandshake {
            return make(
                .inconclusive, .silent,
                "handshake completed, request sent\(application), nothing came back within the read wait", "silent")
        }
        return make(.error, .none, outcome.failure ?? "the connection failed after the handshake")
    }

    /// How a connection ended, in a few words (for an attempt that tested nothing).
    static func attemptEnding(_ outcome: ConnectionOutcome) -> String {
        if let alert = outcome.alertReceived { return "then alert \(alert) \(Self.alertName(alert))" }
        if case .served? = outcome.applicationAnswer { return "then served" }
        if let ending = outcome.ending { return "then closed (\(ending.rawValue))" }
        return outcome.handshakeCompleted ? "the handshake completed" : "the handshake did not complete"
    }

    /// The plaintext probe: served in clear only on a success reply of the protocol.
    static func plaintext(_ outcome: ConnectionOutcome) -> Attempt {
        var attempt = Self.attempt(outcome)
        guard outcome.connected else { return attempt }
        switch outcome.clearAnswer {
        case .served(let text)?:
            (attempt.result, attempt.evidence, attempt.detail) = (
                .plaintextAnswered, .servedInClear, "served in clear: \(text)"
            )
        case .refused(let text)?, .failed(let text)?, .denied(_, let text)?, .closed(let text)?:
            (attempt.result, attempt.evidence, attempt.detail) = (
                .plaintextRefused, .refusedInClear, "refused in clear: \(text)"
            )
        case nil:
            let detail =
                outcome.timedOut
                ? "no answer in clear before the deadline"
                : outcome.ending.map { "closed without answering (\($0.rawValue))" }
                    ?? (outcome.failure ?? "no answer in clear")
            (attempt.result, attempt.evidence, attempt.detail) = (.plaintextRefused, .refusedInClear, detail)
        }
        return attempt
    }

    /// A protocol version or cipher category alone: acceptance is judged at the ServerHello (a server that then
    /// wants a client certificate still accepted the version or suite); a ServerHello for something not offered
    /// is a refusal.
    static func negotiation(_ outcome: ConnectionOutcome) -> Attempt {
        var attempt = Self.attempt(outcome)
        // What is judged here is the negotiation, not client authentication: no evidence class applies.
        attempt.evidence = .none
        guard outcome.connected, outcome.upgradeFailure == nil else { return attempt }
        if outcome.serverHelloAccepted || outcome.handshakeCompleted || outcome.stoppedBeforeCertificate {
            let ended = outcome.handshakeCompleted || outcome.stoppedBeforeCertificate
            (attempt.result, attempt.detail) = (
                .accepted, ended ? nil : "ServerHello accepted; handshake then ended: \(outcome.failure ?? "-")"
            )
        } else if outcome.serverHelloSeen {
            (attempt.result, attempt.detail) = (
                .rejected, "the server chose something not offered: \(outcome.failure ?? "-")"
            )
        } else if outcome.timedOut {
            (attempt.result, attempt.detail) = (.timeout, "no ServerHello before the deadline")
        } else {
            (attempt.result, attempt.detail) = (
                .rejected, outcome.alertReceived.map { "alert \($0) \(Self.alertName($0))" } ?? outcome.failure
            )
        }
        return attempt
    }

    /// A probe record from its attempts (already judged).
    static func record(
        _ kind: TLSProbeKind, _ variant: String?, _ attempts: [Attempt], judged: Judgement, endpoint: String,
        source: String
    ) -> TLSProbeRecord {
        let decisive = attempts.first { $0.evidence == judged.evidence } ?? attempts.first
        let outcome = decisive?.outcome ?? ConnectionOutcome()
        return TLSProbeRecord(
            endpoint: endpoint, source: source, probe: kind, variant: variant, result: judged.result,
            alert: outcome.alertReceived,
            alertName: outcome.alertReceived.map(Self.alertName), tlsVersion: outcome.tlsVersion,
            cipher: outcome.cipher,
            // A probe stopped at the server's Certificate (or at a TLS 1.3 CertificateRequest's header) did not read a
            // CertificateRequest: it claims none either way.
            certificateRequest: kind == .plaintext || !outcome.serverHelloSeen
                || (outcome.stoppedBeforeCertificate && !outcome.certificateRequestSeen)
                ? nil : outcome.certificateRequestSeen,
            acceptableCAs: outcome.acceptableCAs, detail: judged.detail,
            durationMilliseconds: ((attempts.map(\.outcome.seconds).max() ?? 0) * 1e4).rounded() / 10,
            evidence: judged.evidence,
            attempts: attempts.count, servedAttempts: judged.served, refusedAttempts: judged.refused,
            comparedWith: judged.comparedWith,
            application: kind == .plaintext ? nil : outcome.applicationName)
    }

    // MARK: - One probe, against the controls

    /// What a probe's attempts add up to.
    struct Judgement {
        var result: TLSProbeResult
        var evidence: TLSEvidence
        var detail: String?
        var served = 0
        var refused = 0
        var comparedWith: String?
    }

    /// The control connections an ambiguous attempt is compared with.
    struct Controls {
        /// The user's valid certificate: its attempt (any served attempt wins).
        var valid: [Attempt] = []
        /// No certificate.
        var noCertificate: [Attempt] = []

        /// Served in every attempt: first, and again after the forged certificates (a valid certificate refused after
        /// them, by a rate limit or a connection cap, voids every comparison with it).
        var validServed: Bool { !self.valid.isEmpty && self.valid.allSatisfy { $0.evidence == .served } }
        /// Served in every attempt, after the forged certificates too (see ``validServed``).
        var noCertificateServed: Bool {
            !self.noCertificate.isEmpty && self.noCertificate.allSatisfy { $0.evidence == .served }
        }
        /// A control served at first and not after the forged certificates (a rate limit, a connection cap): no
        /// comparison with it holds, and the reason says so.
        var servedOnlySometimes: Bool {
            (self.valid.contains { $0.evidence == .served } && !self.validServed)
                || (self.noCertificate.contains { $0.evidence == .served } && !self.noCertificateServed)
        }
    }

    /// Judges the attempts of one probe. One served attempt is an acceptance. A refusal needs evidence of its own in
    /// every attempt, or, for a close or an application's denial, a control connection that was served where this one
    /// was not (the server told them apart), in every attempt, after the forged ones too. Silence is never resolved that
    /// way: a slow server that accepts anything is silent within the read wait too. A denial or a close that is exactly
    /// the valid certificate's proves nothing (a request denied whoever asks; a server that closes a refused certificate
    /// at the TLS layer and the valid one after a request it does not speak). Anything else is inconclusive.
    static func judge(_ attempts: [Attempt], against controls: Controls, comparesWithNoCertificate: Bool) -> Judgement {
        guard let first = attempts.first else { return Judgement(result: .skipped, evidence: .none, detail: "not run") }
        let served = attempts.filter { $0.evidence == .served }
        if let proof = served.first {
            return Judgement(
                result: .accepted, evidence: .served,
                detail: "\(proof.detail ?? "served") [\(served.count) of \(attempts.count) attempts served]",
                served: served.count, refused: attempts.filter { $0.evidence.isRefusal }.count)
        }
        var refused = attempts.filter { $0.evidence.isRefusal }.count
        var comparedWith: String?
        var unresolved: [Attempt] = []
        for attempt in attempts where attempt.evidence.isAmbiguous {
            let sameAsValid = controls.valid.first { $0.evidence.isAmbiguous && $0.signature == attempt.signature }
            if attempt.evidence == .silent {
                unresolved.append(attempt)
            } else if controls.validServed {
                refused += 1
                comparedWith = "client-cert: served"
            } else if comparesWithNoCertificate && controls.noCertificateServed {
                refused += 1
                comparedWith = "no-client-cert: served"
            } else {
                if let valid = sameAsValid { comparedWith = "client-cert: \(valid.signature) too" }
                unresolved.append(attempt)
            }
        }
        let failed = attempts.filter { $0.evidence == .none }
        if let failure = failed.first {
            if failed.count == attempts.count {
                return Judgement(result: failure.result, evidence: .none, detail: failure.detail, refused: refused)
            }
            return Judgement(
                result: .inconclusive, evidence: .none,
                detail:
                    "\(failed.count) of \(attempts.count) attempts could not be completed (\(failure.detail ?? failure.result.rawValue)): a refusal is not proven for every attempt",
                refused: refused, comparedWith: comparedWith)
        }
        if let open = unresolved.first {
            let why: String
            if controls.servedOnlySometimes {
                why =
                    "a control connection served at first was not served after the forged certificates (a rate limit or a connection cap refuses whatever comes later), so no comparison with it holds"
            } else if open.evidence == .silent {
                why =
                    "silence proves nothing (a slow server that accepts the certificate is silent too; a longer --read-wait may show its answer)"
            } else if comparedWith != nil && open.evidence == .deniedByApplication {
                why =
                    "the valid client certificate gets the same denial, so the request is denied whoever asks (a path or an application probe that your certificate is served on would tell)"
            } else if comparedWith != nil {
                why =
                    "the valid client certificate's connection ends the same way, so nothing tells a refusal from the end of an exchange the server does not speak (an application probe, --app-protocol, that it serves would)"
            } else {
                why = "no served control connection to compare with"
            }
            return Judgement(
                result: .inconclusive, evidence: open.evidence,
                detail: "\(open.detail ?? ""); \(why) [\(unresolved.count) of \(attempts.count) attempts]",
                refused: refused, comparedWith: comparedWith)
        }
        let own = attempts.first { $0.evidence.isRefusal } ?? first
        let detail =
            own.evidence.isRefusal ? own.detail : "\(first.detail ?? ""): refused by comparison (\(comparedWith ?? ""))"
        return Judgement(
            result: .rejected, evidence: own.evidence.isRefusal ? own.evidence : first.evidence,
            detail: "\(detail ?? "") [\(refused) of \(attempts.count) attempts refused]", refused: refused,
            comparedWith: comparedWith)
    }

    /// An attempt of a forgery from the right CA (``TLSProbeKind/expired``, ``TLSProbeKind/serverAuthOnly``): refused
    /// as from an unknown CA, it never reached what it tests (the server did not find the issuer of a certificate the
    /// right CA signed), so it proves nothing.
    static func fromRightCA(_ attempt: Attempt) -> Attempt {
        guard attempt.evidence == .refusedByTLS, attempt.outcome.alertReceived == 48 else { return attempt }
        var untested = attempt
        untested.result = .inconclusive
        untested.evidence = .none
        untested.detail =
            "\(attempt.detail ?? "alert 48 unknown_ca"): the server did not take this certificate from the CA of --ca-key for one it trusts (it does not trust that CA, or the chain to its root is not in --ca-bundle), so the flaw it tests was never reached"
        return untested
    }

    /// What a server whose every forged connection ended ambiguously does, in a few words.
    static func ambiguousBehaviour(_ evidence: TLSEvidence) -> String {
        switch evidence {
        case .silent: "stays silent"
        case .deniedByApplication: "denies every forged request (HTTP 401 or 403 naming no certificate)"
        default: "closes every connection"
        }
    }

    /// The first line-ish of an answer, with control bytes escaped.
    static func printable(_ bytes: [UInt8], limit: Int = 200) -> String { Line.printable(bytes, limit: limit) }

    static func alertName(_ alert: Int) -> String {
        let names: [Int: String] = [
            0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
            40: "handshake_failure",
            42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
            46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied",
            50: "decode_error",
            51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
            86: "inappropriate_fallback", 90: "user_canceled", 109: "missing_extension", 110: "unsupported_extension",
            112: "unrecognized_name", 116: "certificate_required", 120: "no_application_protocol",
        ]
        return names[alert] ?? "alert_\(alert)"
    }

    // MARK: - One endpoint

    /// An endpoint the operator's fence (``AddressLimit``) kept the battery from: not one connection was made, so it
    /// is untested (`error`), with the fence named as the reason.
    static func outsideFence(_ target: TLSTarget) -> TLSEndpointReport {
        TLSEndpointReport.untested(target, reason: TLSScope.refusal(target.endpoint), because: "error")
    }

    static func report(for state: EndpointState, at now: Timestamp, lint: CertificateLint.Options) -> TLSEndpointReport
    {
        let target = state.target
        let expectations = target.expectations
        let location = "\(target.endpoint) (from \(target.source))"
        let endpointText = target.endpoint.description
        let sourceText = target.source.description
        var findings: [Finding] = []
        func add(_ kind: FindingKind, _ severity: Severity, _ title: String, _ detail: String) {
            findings.append(Finding(kind: kind, severity: severity, title: title, detail: detail, location: location))
        }

        // Every probe judged: the controls first, then what is compared with them.
        let controls = Controls(
            valid: state.attempts[.clientCertificate] ?? [], noCertificate: state.attempts[.noClientCertificate] ?? [])
        let validOnly = Controls(valid: controls.valid)
        var judged: [TLSProbeKind: Judgement] = [:]
        var records = state.records
        for (kind, attempts) in state.attempts {
            let judgement: Judgement
            switch kind {
            case .plaintext:
                let attempt = attempts[0]
                judgement = Judgement(result: attempt.result, evidence: attempt.evidence, detail: attempt.detail)
            case .noClientCertificate, .otherIdentity:
                judgement = Self.judge(attempts, against: validOnly, comparesWithNoCertificate: false)
            case .clientCertificate:
                judgement = Self.judge(attempts, against: Controls(), comparesWithNoCertificate: false)
            case .expired, .serverAuthOnly:
                judgement = Self.judge(
                    attempts.map(Self.fromRightCA), against: controls, comparesWithNoCertificate: true)
            default: judgement = Self.judge(attempts, against: controls, comparesWithNoCertificate: true)
            }
            judged[kind] = judgement
            records.append(
                Self.record(kind, nil, attempts, judged: judgement, endpoint: endpointText, source: sourceText))
        }
        let order = TLSProbeKind.allCases
        let probes = records.sorted {
            (order.firstIndex(of: $0.probe) ?? 0, $0.variant ?? "") < (
                order.firstIndex(of: $1.probe) ?? 0, $1.variant ?? ""
            )
        }
        func result(_ kind: TLSProbeKind) -> TLSProbeRecord? { probes.first { $0.probe == kind && $0.variant == nil } }

        let noCert = state.outcomes[.noClientCertificate]
        let noCertRecord = result(.noClientCertificate)
        let plaintext = result(.plaintext)
        let plaintextServed = plaintext?.evidence == .servedInClear
        let speaksTLS =
            noCert?.serverHelloSeen == true
            || probes.contains { $0.probe == .protocolVersion && $0.result == .accepted }
        let requested = noCert?.certificateRequestSeen == true
        let forged = probes.filter { $0.probe.isForgedCertificate && $0.result != .skipped }
        let forgedAccepted = forged.filter { $0.result == .accepted }
        let forgedOpen = forged.filter { $0.result != .accepted && $0.result != .rejected }

        // Verdict: the worst proven fact.
        var verdict: TLSVerdict
        var reason: String
        var clientAuth = ClientAuthMode.unknown
        // On a port with no TLS at all, any HTTP answer in clear (a 404 too) is the service speaking in clear; on a TLS
        // port, an HTTP 4xx in clear is the server refusing plain HTTP.
        let httpInClear = Line.text(Array((state.plaintextOutcome?.clearBytes ?? []).prefix(5))) == "HTTP/"
        if !speaksTLS {
            if plaintextServed || httpInClear {
                verdict = .plaintextAccepted
                reason = "no TLS on this port; \(plaintext?.detail ?? "served in clear")"
            } else {
                switch noCertRecord?.result {
                case .unreachable?: verdict = .unreachable
                case .timeout?: verdict = .timeout
                default: verdict = .error
                }
                reason = noCertRecord?.detail ?? "no TLS handshake"
            }
        } else if !forgedAccepted.isEmpty {
            verdict = .tlsAcceptsRogueClient
            clientAuth = noCertRecord?.result == .accepted ? .optional : .required
            reason =
                "a forged client certificate was accepted: "
                + forgedAccepted.map {
                    "\($0.probe.rawValue) (\($0.evidence.rawValue)\($0.comparedWith.map { ", compared with \($0)" } ?? ""))"
                }.joined(separator: ", ")
        } else if !requested {
            if noCert?.handshakeCompleted == true {
                verdict = .tlsNoClientAuth
                clientAuth = .none
                reason = "the server never sent a CertificateRequest"
            } else {
                verdict = .error
                reason = noCertRecord?.detail ?? "the handshake did not complete"
            }
        } else if noCertRecord?.result == .accepted {
            verdict = .mtlsOptional
            clientAuth = .optional
            reason =
                "a client without a certificate is served (\(noCertRecord?.evidence.rawValue ?? ""))"
                + (forgedOpen.isEmpty ? "" : "; forged certificates could not all be judged")
        } else if noCertRecord?.result != .rejected {
            verdict = .inconclusive
            clientAuth = .unknown
            reason = "the client without a certificate could not be judged: \(noCertRecord?.detail ?? "-")"
        } else if let open = forgedOpen.first {
            verdict = .inconclusive
            clientAuth = .required
            let closesEverything = forgedOpen.allSatisfy { $0.evidence.isAmbiguous }
            reason =
                closesEverything && (controls.valid + controls.noCertificate).contains { $0.evidence == .served }
                ? "\(open.probe.rawValue): \(open.detail ?? open.result.rawValue)"
                : closesEverything
                    ? "the server \(Self.ambiguousBehaviour(open.evidence)) after the handshake and no control connection was served; supply a client certificate it accepts (--client-cert/--client-key), or an application probe (--app-protocol)"
                    : "\(open.probe.rawValue): \(open.detail ?? open.result.rawValue)"
        } else if forged.isEmpty {
            verdict = .inconclusive
            clientAuth = .required
            reason = "no forged certificate could be presented"
        } else {
            verdict = .mtlsEnforced
            clientAuth = .required
            reason =
                "no certificate and every forged certificate refused in every attempt ("
                + forged.map { "\($0.probe.rawValue): \($0.evidence.rawValue)" }.joined(separator: ", ") + ")"
        }
        if plaintextServed && (verdict == .mtlsEnforced || verdict == .inconclusive) {
            reason = "\(plaintext?.detail ?? "served in clear"); over TLS: \(verdict.rawValue) (\(reason))"
            verdict = .plaintextAccepted
        }

        let starttls = state.startTLS
        if plaintextServed || verdict == .plaintextAccepted {
            if let starttls {
                add(
                    .starttlsOptional, expectations.required ? .high : .medium,
                    "the service offers STARTTLS but serves \(starttls.rawValue) in clear without it",
                    "\(plaintext?.detail ?? ""). A client that never upgrades is served: an attacker on the path can strip STARTTLS."
                )
            } else {
                add(
                    .plaintextAccepted, expectations.required ? .high : .medium,
                    "the TLS port answers a plaintext request",
                    "\(plaintext?.detail ?? ""). A client that never starts TLS is served: permissive mode.")
            }
        }
        switch verdict {
        case .tlsNoClientAuth:
            add(
                .tlsNoClientAuth, expectations.required ? .high : .info,
                "the server never asks for a client certificate",
                "TLS without client authentication: any client that reaches the port is served.")
        case .mtlsOptional:
            add(
                .mtlsOptional, expectations.required ? .high : .low, "client certificates are optional",
                "The server sent a CertificateRequest but served a client that sent no certificate (\(noCertRecord?.detail ?? ""))."
            )
        case .unreachable, .timeout, .error:
            add(.endpointUntested, .info, "the endpoint could not be tested (\(verdict.rawValue))", reason)
        case .inconclusive:
            add(
                .tlsInconclusive, expectations.required ? .medium : .low,
                "the battery cannot tell whether forged client certificates are refused", reason)
        default: break
        }
        if verdict == .tlsAcceptsRogueClient && noCertRecord?.result == .accepted {
            add(
                .mtlsOptional, expectations.required ? .high : .low, "client certificates are optional",
                "Besides accepting forged certificates, the server serves a client that sends none (\(noCertRecord?.detail ?? ""))."
            )
        }
        for probe in forgedAccepted {
            let what: String
            switch probe.probe {
            case .rogueCA: what = "a client certificate from an untrusted CA"
            case .expired: what = "an expired client certificate from the right CA"
            case .serverAuthOnly: what = "a client certificate whose EKU is serverAuth only"
            default: what = "a self-signed client certificate with the right identity"
            }
            add(
                .rogueClientAccepted, .critical, "the server accepts \(what)",
                "Probe \(probe.probe.rawValue): \(probe.detail ?? "accepted"). Anyone can forge such a certificate: authentication is not enforced; the forged identity reaches the application."
            )
        }
        if let client = result(.clientCertificate), client.result != .skipped, client.result != .accepted, speaksTLS {
            if client.result == .rejected {
                add(
                    .validClientRefused, .high, "the supplied client certificate is refused",
                    "Probe client-cert: \(client.evidence.rawValue) \(client.alertName.map { "(alert \($0))" } ?? ""): \(client.detail ?? ""). The client this certificate belongs to would be refused."
                )
            } else {
                add(
                    .validClientNotServed, .medium, "the supplied client certificate is not served",
                    "Probe client-cert: \(client.result.rawValue): \(client.detail ?? ""). Either the service serves no one, or it needs another application probe (--app-protocol)."
                )
            }
        }
        var authorization: String?
        if let other = result(.otherIdentity), other.result == .accepted || other.result == .rejected {
            authorization = other.result.rawValue
            if other.result == .accepted {
                add(
                    .authorizationAnyIdentity, .medium, "the server accepts another workload's valid certificate",
                    "A valid certificate of another identity from the same CA was accepted: authentication holds, authorization is not restricted to the expected clients."
                )
            }
        }
        for probe in probes where probe.probe == .protocolVersion && probe.result == .accepted {
            if probe.variant == "TLSv1" || probe.variant == "TLSv1.1" {
                add(
                    .tlsLegacyVersion, .medium, "\(probe.variant ?? "") accepted",
                    "The server negotiated \(probe.tlsVersion ?? "?") with \(probe.cipher ?? "?").")
            }
        }
        for probe in probes where probe.probe == .cipher && probe.result == .accepted {
            let name = probe.variant ?? "?"
            add(
                .weakCipher, WeakCiphers.severity(name), "\(name) cipher suites accepted",
                "Offered only \(name) suites; the server chose \(probe.cipher ?? "?") (\(probe.tlsVersion ?? "?")).")
        }

        // Server chain: from the first probe that saw one (the user's identity gets furthest on strict servers).
        var chainReport: ServerChainReport?
        let chain = [TLSProbeKind.clientCertificate, .noClientCertificate, .rogueCA, .otherIdentity]
            .compactMap { state.outcomes[$0]?.peerChain }.first { !$0.isEmpty }
        if let chain {
            let report = ChainValidation.report(
                chain: chain, anchors: state.material.anchors, expectations: expectations, at: now, options: lint)
            chainReport = report
            if report.pathValidation == .invalid {
                add(
                    .serverChainUntrusted, .high, "the server chain does not validate against the trust bundle",
                    report.pathError ?? "")
            }
            if !report.missingDNSNames.isEmpty {
                add(
                    .serverIdentityMismatch, .high, "the server certificate lacks the expected DNS name",
                    "Expected \(report.missingDNSNames.joined(separator: ", ")); the leaf has \(report.certificates.first?.sans.joined(separator: ", ") ?? "no SAN")."
                )
            }
            if report.spiffeMatch == false {
                add(
                    .serverSPIFFEMismatch, .high,
                    "the server certificate does not carry exactly the expected SPIFFE ID",
                    "Expected exactly one URI SAN \(expectations.expectedSPIFFEID ?? ""); the leaf has \(report.certificates.first?.sans.filter { $0.hasPrefix("URI:") }.joined(separator: ", ") ?? "none")."
                )
            }
            findings += CertificateLint.findings(
                report.lint, about: "server certificate", family: .server, location: location)
        }
        if let client = state.material.clientSummary {
            let issues = CertificateLint.lint(client, role: .client, position: 0, at: now, options: lint)
            findings += CertificateLint.findings(
                issues, about: "client certificate", family: .client, location: location)
        }
        return TLSEndpointReport(
            endpoint: endpointText, source: sourceText, verdict: verdict, reason: reason, clientAuth: clientAuth,
            authorization: authorization, startTLS: starttls?.rawValue, serverChain: chainReport, probes: probes,
            findings: findings.sorted { $0.severity > $1.severity })
    }
}

extension TLSEndpointReport {
    /// An endpoint no connection was made to, for `reason`: untested (`error`), with an `endpoint-untested` finding
    /// titled by `because` (`the endpoint could not be tested (paused)`).
    public static func untested(_ target: TLSTarget, reason: String, because: String) -> TLSEndpointReport {
        TLSEndpointReport(
            endpoint: target.endpoint.description, source: target.source.description, verdict: .error, reason: reason,
            clientAuth: .unknown, authorization: nil, serverChain: nil, probes: [],
            findings: [
                Finding(
                    kind: .endpointUntested, severity: .info, title: "the endpoint could not be tested (\(because))",
                    detail: reason, location: "\(target.endpoint) (from \(target.source))")
            ])
    }
}
