/// What an endpoint is expected to enforce and trust: the input of the active mTLS battery.
///
/// A plain value on purpose: flags on the command line build one today, and the policy file's `mtls:` section
/// (endpoint → expectations) can build them later without touching the engine. Paths name PEM files; nothing
/// here is read until the battery runs, and every read error names its file.
public struct TLSExpectations: Codable, Hashable, Sendable {
    /// PEM files of trust anchors (and intermediates) the server chain must validate against.
    public var trustBundles: [String]
    /// PEM private key of the CA in `trustBundles` that issues client certificates. Enables the probes that
    /// need a certificate from the right CA: expired, serverAuth-only EKU.
    @ExplicitNull public var caKey: String?
    /// A client identity that must be accepted.
    @ExplicitNull public var clientIdentity: IdentityFiles?
    /// A valid identity of another workload from the same CA: its acceptance is the authorization result.
    @ExplicitNull public var otherIdentity: IdentityFiles?
    /// DNS names the server certificate must carry as DNS SANs (all of them).
    public var expectedDNSNames: [String]
    /// The SPIFFE ID the server certificate must carry as its only URI SAN.
    @ExplicitNull public var expectedSPIFFEID: String?
    /// Whether mTLS is required here: raises plaintext, no client auth and optional client auth to high.
    public var required: Bool

    public init(
        trustBundles: [String] = [], caKey: String? = nil, clientIdentity: IdentityFiles? = nil,
        otherIdentity: IdentityFiles? = nil, expectedDNSNames: [String] = [], expectedSPIFFEID: String? = nil,
        required: Bool = true
    ) {
        self.trustBundles = trustBundles
        self.caKey = caKey
        self.clientIdentity = clientIdentity
        self.otherIdentity = otherIdentity
        self.expectedDNSNames = expectedDNSNames
        self.expectedSPIFFEID = expectedSPIFFEID
        self.required = required
    }

    enum CodingKeys: String, CodingKey {
        case trustBundles, caKey, clientIdentity, otherIdentity, expectedDNSNames, expectedSPIFFEID, required
    }
}

extension TLSExpectations {
    /// What a battery run with these expectations can check: the facts an mTLS requirement needs from the evidence.
    public var checks: [TLSCheck] {
        var checks: [TLSCheck] = [.forgedCertificates]
        if self.caKey != nil { checks.append(.caIssuedForgeries) }
        if self.clientIdentity != nil { checks.append(.validClientCertificate) }
        if self.otherIdentity != nil { checks.append(.otherIdentity) }
        if !self.trustBundles.isEmpty { checks.append(.serverChainTrust) }
        if !self.expectedDNSNames.isEmpty || self.expectedSPIFFEID != nil { checks.append(.serverIdentity) }
        return checks
    }
}

/// One thing the mTLS battery checked on an endpoint, given what it was handed. An audit's evidence records them,
/// so a later judgement against another policy can say which of its requirements the evidence cannot answer.
public enum TLSCheck: String, Codable, Hashable, Sendable, CaseIterable {
    /// Forged client certificates made in memory (rogue CA, self-signed): needs nothing.
    case forgedCertificates = "forged-certificates"
    /// Expired and serverAuth-only certificates from the right CA: needs the CA key.
    case caIssuedForgeries = "ca-issued-forgeries"
    /// A valid client certificate that must be served: needs the client identity.
    case validClientCertificate = "valid-client-certificate"
    /// Another identity of the same CA (authorization): needs that identity.
    case otherIdentity = "other-identity"
    /// The server chain validated against the trust bundle.
    case serverChainTrust = "server-chain-trust"
    /// The server certificate's DNS names and SPIFFE ID.
    case serverIdentity = "server-identity"

    /// What the auditor must supply for this check (policy keys).
    public var needs: String {
        switch self {
        case .forgedCertificates: "nothing"
        case .caIssuedForgeries: "caKey"
        case .validClientCertificate: "clientCertificate and clientKey"
        case .otherIdentity: "otherCertificate and otherKey"
        case .serverChainTrust: "trustBundle"
        case .serverIdentity: "expectDNS or expectSPIFFE"
        }
    }
}

/// A certificate chain file and its private key file (PEM). Only the paths are ever reported, never the key.
public struct IdentityFiles: Codable, Hashable, Sendable {
    /// PEM file: the leaf first, then any intermediates.
    public var certificate: String
    /// PEM private key (unencrypted).
    public var key: String

    public init(certificate: String, key: String) {
        self.certificate = certificate
        self.key = key
    }
}

/// The overall answer for one endpoint. Only ``mtlsEnforced`` is secure; errors are never counted as secure.
public enum TLSVerdict: String, Codable, Sendable, CaseIterable {
    /// No certificate and every forged certificate refused; a supplied valid certificate (if any) accepted.
    case mtlsEnforced = "mtls-enforced"
    /// The server asks for a certificate but carries on without one.
    case mtlsOptional = "mtls-optional"
    /// TLS, and the server never asks for a client certificate.
    case tlsNoClientAuth = "tls-no-client-auth"
    /// The TLS port answers a plaintext request (permissive mode), or the port is not TLS at all.
    case plaintextAccepted = "plaintext-accepted"
    /// The server accepts a forged client certificate (whether or not it also serves clients without one).
    case tlsAcceptsRogueClient = "tls-accepts-rogue-client"
    /// The observations cannot tell refusal from acceptance (the server closes or stays silent after every
    /// handshake, and no served control connection to compare with): never secure, exit status 3.
    case inconclusive
    /// Nothing listens (connection refused, no route).
    case unreachable
    /// The endpoint did not answer in time.
    case timeout
    /// The endpoint could not be tested (neither TLS nor a plaintext answer, or a local failure).
    case error

    /// Whether the endpoint could be judged at all (false means the run is incomplete: exit status 3).
    public var tested: Bool { self != .unreachable && self != .timeout && self != .error && self != .inconclusive }
}

/// What a client-certificate request by the server amounts to.
public enum ClientAuthMode: String, Codable, Sendable {
    case required, optional, none, unknown
}

/// The kinds of connection the battery makes to an endpoint.
public enum TLSProbeKind: String, Codable, Sendable, CaseIterable {
    /// TCP connection sending a plaintext request.
    case plaintext
    /// TLS without a client certificate.
    case noClientCertificate = "no-client-cert"
    /// A client certificate from a CA generated for this run (untrusted by the server).
    case rogueCA = "rogue-ca-cert"
    /// An expired certificate issued by the right CA (needs the CA key).
    case expired = "expired-cert"
    /// A certificate from the right CA whose EKU is serverAuth only (needs the CA key).
    case serverAuthOnly = "server-auth-only-cert"
    /// A self-signed certificate with the right identity.
    case selfSigned = "self-signed-cert"
    /// The user's valid client certificate.
    case clientCertificate = "client-cert"
    /// A valid certificate of another identity from the same CA (authorization).
    case otherIdentity = "other-identity-cert"
    /// One protocol version offered alone.
    case protocolVersion = "protocol-version"
    /// One category of weak cipher suites offered alone.
    case cipher

    /// Whether this probe presents a certificate the server must refuse.
    public var isForgedCertificate: Bool {
        switch self {
        case .rogueCA, .expired, .serverAuthOnly, .selfSigned: true
        default: false
        }
    }
}

/// The outcome of one probe.
public enum TLSProbeResult: String, Codable, Sendable {
    /// The handshake completed and the server served the connection (answered, or kept it open).
    case accepted
    /// The server refused: an alert, a close or reset during the handshake or on the first read, or an
    /// application-level refusal (nginx answers `400 … SSL certificate …`).
    case rejected
    /// Plaintext probe: the server answered in cleartext.
    case plaintextAnswered = "plaintext-answered"
    /// Plaintext probe: the server did not answer in cleartext (closed, reset, TLS alert, silence).
    case plaintextRefused = "plaintext-refused"
    /// Not run (the reason is in `detail`).
    case skipped
    /// Connection refused or no route.
    case unreachable
    /// No answer before the deadline.
    case timeout
    /// A local failure (the reason is in `detail`).
    case error
    /// The observations of this probe cannot tell refusal from acceptance (the reason is in `detail`).
    case inconclusive
}

/// What one connection showed, in the battery's evidence model. Only `served` proves acceptance; only
/// `refused-by-tls`, `refused-by-application` and `handshake-aborted` prove refusal on their own.
/// `closed-without-reason`, `silent` and `denied-by-application` prove nothing by themselves: they are judged against
/// the control connections of the same endpoint (the valid certificate, no certificate).
public enum TLSEvidence: String, Codable, Sendable {
    /// Application bytes came back over TLS (an answer to a request that fits the service, or its greeting).
    case served
    /// A fatal alert during the handshake, or after it an alert that names authentication.
    case refusedByTLS = "refused-by-tls"
    /// An application-level refusal tied to the certificate (HTTP 400/403/495/496 with a certificate phrase,
    /// a protocol error reply naming the certificate or authentication).
    case refusedByApplication = "refused-by-application"
    /// The server closed or reset the connection before the handshake completed: no session, nothing served.
    case handshakeAborted = "handshake-aborted"
    /// close_notify, FIN, RST, unexpected EOF or a non-authentication alert after the handshake: ambiguous.
    case closedWithoutReason = "closed-without-reason"
    /// Open after the handshake, and nothing came back within the read wait: ambiguous (a slow server looks the same),
    /// and never resolved into a refusal by comparison.
    case silent
    /// An application answer that refuses the request without naming the certificate (HTTP 401 or 403): ambiguous.
    /// A refusal when the valid certificate's same request is served (every time, after the forgeries too); nothing
    /// when it gets the same answer (a request denied whoever asks).
    case deniedByApplication = "denied-by-application"
    /// Plaintext probe: the service was served in clear (HTTP status < 400, or the protocol's success reply).
    case servedInClear = "served-in-clear"
    /// Plaintext probe: refused in clear (an HTTP 4xx, a TLS alert record, a protocol error, a close).
    case refusedInClear = "refused-in-clear"
    /// Nothing to judge: no connection, a timeout before any answer, or a local failure.
    case none

    /// Evidence of acceptance, or of refusal, by itself.
    public var isRefusal: Bool { self == .refusedByTLS || self == .refusedByApplication || self == .handshakeAborted }
    /// Evidence that must be compared with a control connection.
    public var isAmbiguous: Bool {
        self == .closedWithoutReason || self == .silent || self == .deniedByApplication
    }
}

/// One connection made by the battery, with everything observed on it.
public struct TLSProbeRecord: Codable, Hashable, Sendable {
    /// `host:port`.
    public var endpoint: String
    /// Where the connection was made from: `host` or `container:NAME`.
    public var source: String
    public var probe: TLSProbeKind
    /// The protocol version or cipher category for `protocol-version` / `cipher` probes.
    @ExplicitNull public var variant: String?
    public var result: TLSProbeResult
    /// TLS alert number received (48 unknown_ca, 116 certificate_required…).
    @ExplicitNull public var alert: Int?
    /// Its name (`unknown_ca`…).
    @ExplicitNull public var alertName: String?
    /// Negotiated version (`TLSv1.3`…), when a ServerHello was seen.
    @ExplicitNull public var tlsVersion: String?
    /// Negotiated cipher suite (OpenSSL name), when a ServerHello was seen.
    @ExplicitNull public var cipher: String?
    /// Whether the server sent a CertificateRequest (nil when the handshake did not get that far).
    @ExplicitNull public var certificateRequest: Bool?
    /// Distinguished names of the CertificateRequest's acceptable-CA list.
    @ExplicitNull public var acceptableCAs: [String]?
    /// Why, in words (alert text, skipped reason, first bytes of a plaintext answer…).
    @ExplicitNull public var detail: String?
    /// From the start of the connect to the end of the probe (the slowest attempt).
    public var durationMilliseconds: Double
    /// What decided the result (for repeated probes, the decisive attempt's evidence).
    public var evidence: TLSEvidence
    /// Connections made for this probe (forged certificates are tried several times); 0 when another probe's
    /// connection judged it too (versions or cipher categories offered together: the first of them counts it).
    public var attempts: Int
    /// Attempts that were served (acceptance).
    public var servedAttempts: Int
    /// Attempts refused with evidence of their own, or by comparison with a served control.
    public var refusedAttempts: Int
    /// The control connection an ambiguous observation was judged against (`client-cert: served`…).
    @ExplicitNull public var comparedWith: String?
    /// The application protocol spoken after the handshake (`http/1.1`, `h2`, `redis`, `smtp`…).
    @ExplicitNull public var application: String?

    public init(
        endpoint: String, source: String, probe: TLSProbeKind, variant: String? = nil, result: TLSProbeResult,
        alert: Int? = nil, alertName: String? = nil, tlsVersion: String? = nil, cipher: String? = nil,
        certificateRequest: Bool? = nil, acceptableCAs: [String]? = nil, detail: String? = nil,
        durationMilliseconds: Double = 0, evidence: TLSEvidence = .none, attempts: Int = 0, servedAttempts: Int = 0,
        refusedAttempts: Int = 0, comparedWith: String? = nil, application: String? = nil
    ) {
        self.evidence = evidence
        self.attempts = attempts
        self.servedAttempts = servedAttempts
        self.refusedAttempts = refusedAttempts
        self.comparedWith = comparedWith
        self.application = application
        self.endpoint = endpoint
        self.source = source
        self.probe = probe
        self.variant = variant
        self.result = result
        self.alert = alert
        self.alertName = alertName
        self.tlsVersion = tlsVersion
        self.cipher = cipher
        self.certificateRequest = certificateRequest
        self.acceptableCAs = acceptableCAs
        self.detail = detail
        self.durationMilliseconds = durationMilliseconds
    }

    enum CodingKeys: String, CodingKey {
        case endpoint, source, probe, variant, result, alert, alertName, tlsVersion, cipher, certificateRequest
        case acceptableCAs, detail, durationMilliseconds, evidence, attempts, servedAttempts, refusedAttempts,
            comparedWith, application
    }
}

/// One problem the certificate lint found in one certificate.
public struct CertificateLintIssue: Codable, Hashable, Sendable {
    /// The rule; encoded as its stable id (`weak-key`, `weak-signature`, `leaf-is-ca`, `eku-missing-server-auth`…).
    public var rule: CertificateLintRule
    public var severity: Severity
    public var message: String
    /// Position in the chain (0 = leaf), or nil for a lone certificate.
    @ExplicitNull public var position: Int?
    /// Subject of the certificate the issue is about.
    public var subject: String
    /// SHA-256 fingerprint of that certificate.
    public var sha256: String

    public init(
        rule: CertificateLintRule, severity: Severity, message: String, position: Int?, subject: String, sha256: String
    ) {
        self.rule = rule
        self.severity = severity
        self.message = message
        self.position = position
        self.subject = subject
        self.sha256 = sha256
    }

    enum CodingKeys: String, CodingKey { case rule, severity, message, position, subject, sha256 }
}

/// Whether the server's chain validated against the trust bundle.
public enum PathValidation: String, Codable, Hashable, Sendable {
    case valid
    case invalid
    /// No trust bundle was given.
    case notChecked = "not-checked"
}

/// The server's certificate chain as presented, checked against the trust bundle and the expected identity.
public struct ServerChainReport: Codable, Hashable, Sendable {
    /// As sent by the server, leaf first.
    public var certificates: [CertificateSummary]
    public var pathValidation: PathValidation
    /// OpenSSL's reason when invalid (`certificate has expired`, `unable to get local issuer certificate`…).
    @ExplicitNull public var pathError: String?
    /// Expected DNS names that the leaf does not carry.
    public var missingDNSNames: [String]
    /// Whether the leaf carries exactly one URI SAN equal to the expected SPIFFE ID (nil when none expected).
    @ExplicitNull public var spiffeMatch: Bool?
    public var lint: [CertificateLintIssue]

    public init(
        certificates: [CertificateSummary], pathValidation: PathValidation, pathError: String?,
        missingDNSNames: [String],
        spiffeMatch: Bool?, lint: [CertificateLintIssue]
    ) {
        self.certificates = certificates
        self.pathValidation = pathValidation
        self.pathError = pathError
        self.missingDNSNames = missingDNSNames
        self.spiffeMatch = spiffeMatch
        self.lint = lint
    }

    enum CodingKeys: String, CodingKey {
        case certificates, pathValidation, pathError, missingDNSNames, spiffeMatch, lint
    }
}

/// Everything the battery learnt about one endpoint.
public struct TLSEndpointReport: Codable, Hashable, Sendable {
    /// `host:port`.
    public var endpoint: String
    /// `host` or `container:NAME`.
    public var source: String
    public var verdict: TLSVerdict
    /// Why this verdict, in words (what observation proves it, or why nothing does).
    public var reason: String
    public var clientAuth: ClientAuthMode
    /// Authorization result from the other-identity probe: `accepted`, `rejected`, or nil when not probed.
    @ExplicitNull public var authorization: String?
    /// The cleartext upgrade the battery ran before every handshake (`smtp`, `postgres`…), if any.
    @ExplicitNull public var startTLS: String?
    @ExplicitNull public var serverChain: ServerChainReport?
    public var probes: [TLSProbeRecord]
    public var findings: [Finding]

    public init(
        endpoint: String, source: String, verdict: TLSVerdict, reason: String = "", clientAuth: ClientAuthMode,
        authorization: String?,
        startTLS: String? = nil, serverChain: ServerChainReport?, probes: [TLSProbeRecord], findings: [Finding]
    ) {
        self.reason = reason
        self.startTLS = startTLS
        self.endpoint = endpoint
        self.source = source
        self.verdict = verdict
        self.clientAuth = clientAuth
        self.authorization = authorization
        self.serverChain = serverChain
        self.probes = probes
        self.findings = findings
    }

    enum CodingKeys: String, CodingKey {
        case endpoint, source, verdict, reason, clientAuth, authorization, startTLS, serverChain, probes, findings
    }
}

/// The `tls` document: one report per endpoint, every finding, and a summary.
public struct TLSReport: Codable, Hashable, Sendable {
    public var endpoints: [TLSEndpointReport]
    /// Every endpoint's findings, most severe first.
    public var findings: [Finding]
    /// False when an endpoint could not be tested or judged (unreachable, timeout, error, inconclusive).
    public var complete: Bool
    /// Per verdict, how many endpoints.
    public var verdicts: [String: Int]
    /// Connections made (every attempt of every probe; skipped probes make none).
    public var connections: Int
    /// Wall time of the whole battery, every endpoint included.
    public var durationSeconds: Double

    public init(endpoints: [TLSEndpointReport], durationSeconds: Double) {
        self.endpoints = endpoints
        self.findings = endpoints.flatMap(\.findings).sorted { $0.severity > $1.severity }
        self.complete = endpoints.allSatisfy { $0.verdict.tested }
        self.verdicts = Dictionary(endpoints.map { ($0.verdict.rawValue, 1) }, uniquingKeysWith: +)
        self.connections = endpoints.reduce(0) {
            $0 + $1.probes.reduce(0) { $0 + ($1.result == .skipped ? 0 : $1.attempts) }
        }
        self.durationSeconds = durationSeconds
    }
}
