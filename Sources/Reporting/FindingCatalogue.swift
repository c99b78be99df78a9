import BulkheadModel

/// Every finding kind Bulkhead reports, with the help a person needs to act on it: SARIF rules, JUnit messages and
/// the markdown report read from here. Kinds missing here (a newer stage) still render, with the finding's title.
public enum FindingCatalogue {
    public struct Entry: Sendable {
        public var name: String
        public var help: String
        /// The CIS Docker Benchmark item the finding maps to, by title.
        public var reference: String?
    }

    /// The entry of `kind`. The certificate lint's kinds come in three families that share their help:
    /// `certificate-<rule>` (analyze, either side of a handshake), `server-certificate-<rule>` and
    /// `client-certificate-<rule>` (`bulkhead tls`).
    public static func entry(_ kind: String) -> Entry? {
        if let entry = Self.entries[kind] { return entry }
        for (prefix, side) in [("server-certificate-", "Server"), ("client-certificate-", "Client")] where kind.hasPrefix(prefix) {
            guard var entry = Self.entries["certificate-" + kind.dropFirst(prefix.count)] else { return nil }
            entry.name = "\(side) certificate: " + entry.name.prefix(1).lowercased() + entry.name.dropFirst()
            return entry
        }
        return nil
    }

    static let entries: [String: Entry] = [
        // Traffic (analyze / capture)
        "plaintext-flow": Entry(name: "Plaintext service traffic", help: "Service-to-service traffic crossed in clear. Move the service behind TLS (ideally mutual TLS) or confirm it carries nothing sensitive."),
        "credentials-in-cleartext": Entry(name: "Credentials sent in clear", help: "A password, token or hash crossed unencrypted (shown redacted). Rotate it and require TLS on the endpoint."),
        "tls-no-client-auth": Entry(name: "TLS without client authentication", help: "The TLS handshake authenticated only the server. Where services must prove who they are, require client certificates (mutual TLS)."),
        "tls-handshake-failure": Entry(name: "TLS handshake failed", help: "A handshake ended with an alert: a misconfiguration, a rejected client, or a probe."),
        "tls-weak-cipher": Entry(name: "Weak cipher negotiated", help: "A broken suite was negotiated (NULL, export, RC4, DES/3DES, anonymous key exchange). Allow only AEAD suites with forward secrecy."),
        "tls-legacy-cipher": Entry(name: "Legacy cipher negotiated", help: "A suite without forward secrecy or with CBC mode was negotiated. Prefer ECDHE with AES-GCM or ChaCha20-Poly1305."),
        "tls-legacy-version": Entry(name: "Legacy TLS version", help: "TLS 1.0/1.1 or SSL was negotiated. Allow TLS 1.2 and 1.3 only."),
        // Certificates seen in captures (CertificateLint, judged at the flow's time)
        "certificate-expired": Entry(name: "Expired certificate", help: "A certificate was past its notAfter date when the flow was seen. Renew it and automate renewal."),
        "certificate-not-yet-valid": Entry(name: "Certificate not yet valid", help: "A certificate's notBefore lay after the flow: clock skew or a mis-issued certificate."),
        "certificate-unreadable-validity": Entry(name: "Unreadable certificate validity", help: "The certificate's validity dates could not be read; no verifier can judge its lifetime."),
        "certificate-self-signed": Entry(name: "Self-signed certificate", help: "A self-signed leaf cannot be validated against a trust bundle. Issue it from the service CA."),
        "certificate-weak-key": Entry(name: "Weak certificate key", help: "RSA below 2048 bits, or DSA. Reissue with RSA ≥ 2048 or P-256."),
        "certificate-weak-curve": Entry(name: "Weak certificate curve", help: "An EC key on a curve other than P-256, P-384 or P-521 (or an explicit curve). Reissue on P-256 or P-384."),
        "certificate-unknown-key": Entry(name: "Unknown certificate key type", help: "The certificate's public key is of a type Bulkhead does not know; check that peers can use it."),
        "certificate-weak-signature": Entry(name: "Weak certificate signature", help: "SHA-1 or MD5 signature. Reissue with SHA-256 or better."),
        "certificate-long-validity": Entry(name: "Long-lived leaf certificate", help: "A leaf valid for more than 398 days. Issue shorter-lived certificates and automate their renewal."),
        "certificate-serial": Entry(name: "Malformed certificate serial", help: "A zero, negative, unreadable or over-long serial number (RFC 5280 §4.1.2.2)."),
        "certificate-issuer-not-ca": Entry(name: "Issuer is not a CA", help: "A certificate in the chain after the leaf lacks basicConstraints CA:TRUE: strict verifiers refuse the chain."),
        "certificate-issuer-key-usage": Entry(name: "Issuer cannot sign certificates", help: "A CA certificate in the chain whose keyUsage lacks keyCertSign."),
        "certificate-leaf-is-ca": Entry(name: "Leaf certificate is a CA", help: "The leaf has basicConstraints CA:TRUE: whoever holds its key can issue certificates. Reissue it as CA:FALSE."),
        "certificate-leaf-key-usage": Entry(name: "Leaf key usage", help: "The leaf's keyUsage allows certificate or CRL signing, or allows no TLS key use."),
        "certificate-eku-absent": Entry(name: "No extended key usage", help: "The leaf has no extendedKeyUsage, so it is valid for any purpose. Restrict it to serverAuth or clientAuth."),
        "certificate-eku-missing-server-auth": Entry(name: "Server certificate not for server authentication", help: "The server presented a leaf whose extendedKeyUsage lacks serverAuth."),
        "certificate-eku-missing-client-auth": Entry(name: "Client certificate not for client authentication", help: "A client presented a leaf whose extendedKeyUsage lacks clientAuth."),
        "certificate-missing-san": Entry(name: "No subject alternative name", help: "The leaf names its identity only in the CN; verifiers match DNS, IP or URI SANs. Add them."),
        "certificate-spiffe-multiple-uri": Entry(name: "Several URI SANs on a SPIFFE certificate", help: "An X509-SVID must carry exactly one URI SAN."),
        "certificate-chain-order": Entry(name: "Chain out of order", help: "A certificate in the presented chain did not issue the one before it: wrong order or a foreign certificate."),
        "certificate-expiring-soon": Entry(name: "Certificate expiring soon", help: "The certificate expires within the warning window (30 days by default). Renew it now, and automate renewal."),
        "certificate-unparseable": Entry(name: "Unparseable certificate", help: "A certificate in the handshake could not be read as X.509."),
        "unidentified-flow": Entry(name: "Unidentified traffic", help: "Traffic whose protocol could not be identified; review what the service speaks."),
        // Active TLS checks (`bulkhead tls`, the audit's TLS stage)
        "rogue-client-accepted": Entry(name: "Forged client certificate accepted", help: "The endpoint served a client that presented a certificate from an untrusted CA, a self-signed, expired or wrong-purpose certificate: anyone can claim any identity. Verify client certificates against the service CA and fail the handshake when they do not verify."),
        "mtls-optional": Entry(name: "Client certificate optional", help: "The endpoint asks for a client certificate but serves clients that send none. Make client certificates required."),
        "plaintext-accepted": Entry(name: "Plaintext accepted", help: "The endpoint serves its protocol in clear. Serve it over TLS only, with required client certificates."),
        "starttls-optional": Entry(name: "STARTTLS optional", help: "The service offers STARTTLS but also serves its protocol without upgrading. Require the upgrade (or use implicit TLS)."),
        "tls-inconclusive": Entry(name: "mTLS enforcement not proven", help: "Nothing the endpoint did proves that it refuses forged certificates, or that it accepts them (it closed or stayed silent with every certificate). Give the check a client certificate the endpoint accepts, or name its application protocol. Never counted as secure."),
        "endpoint-untested": Entry(name: "Endpoint not tested", help: "The TLS check could not run against this endpoint (unreachable, timed out, or an error): nothing is known about its client authentication."),
        "valid-client-refused": Entry(name: "Valid client certificate refused", help: "The endpoint refused the client certificate given to the check (--client-cert, or the policy's identity): the client it belongs to would be refused too, or the certificate given is not the right one."),
        "valid-client-not-served": Entry(name: "Valid client not served", help: "The handshake with the valid client certificate completed, but the service answered nothing usable: it may serve no one, or speak another protocol than the one probed."),
        "authorization-any-identity": Entry(name: "Any verified identity accepted", help: "The endpoint served a certificate of another identity from the trusted CA: it authenticates clients but does not authorize them. Check the client's identity (SAN / SPIFFE ID) after verification."),
        "server-chain-untrusted": Entry(name: "Server chain not trusted", help: "The server's chain does not validate against the trust bundle given: clients that verify would refuse it."),
        "server-identity-mismatch": Entry(name: "Server identity mismatch", help: "The server certificate does not carry the DNS name expected for this service."),
        "server-spiffe-mismatch": Entry(name: "Server SPIFFE ID mismatch", help: "The server certificate does not carry exactly the SPIFFE ID expected for this service."),
        "legacy-tls-version": Entry(name: "Legacy TLS version accepted", help: "The endpoint agrees to TLS 1.0/1.1 (or SSL) when a client offers only that. Allow TLS 1.2 and 1.3 only."),
        "weak-cipher": Entry(name: "Weak cipher suites accepted", help: "The endpoint agrees to a weak category of suites when a client offers only those. Allow only AEAD suites with forward secrecy."),
        // Inventory (static configuration)
        "default-bridge-icc": Entry(name: "ICC on the default bridge", help: "Containers on docker0 can all talk to each other. Run dockerd with --icc=false and use user-defined networks.", reference: "CIS Docker 2.2"),
        "host-network-mode": Entry(name: "Host network mode", help: "The container shares the host's network namespace: no network isolation applies to it.", reference: "CIS Docker 5.10"),
        "shared-network-namespace": Entry(name: "Shared network namespace", help: "Two containers share one namespace (container:X): isolation between them is void."),
        "port-published-all-interfaces": Entry(name: "Port published on every interface", help: "Bind published ports to a specific host address (-p 127.0.0.1:8080:80).", reference: "CIS Docker 5.14"),
        "privileged-port-published": Entry(name: "Privileged host port", help: "A host port below 1024 is published.", reference: "CIS Docker 5.8"),
        "privileged-container": Entry(name: "Privileged container", help: "A privileged container can change the host's network configuration.", reference: "CIS Docker 5.5"),
        "net-admin-capability": Entry(name: "NET_ADMIN capability", help: "The container can reconfigure interfaces, routes and firewall rules in its namespace.", reference: "CIS Docker 5.4"),
        "net-raw-capability": Entry(name: "NET_RAW capability", help: "Raw sockets allow spoofing and ARP tricks that bypass ICC. Drop NET_RAW (--cap-drop NET_RAW).", reference: "CIS Docker 5.4"),
        "docker-socket-mounted": Entry(name: "Docker socket mounted", help: "Whoever controls the container controls the engine, and so the host.", reference: "CIS Docker 5.32"),
        "userland-proxy": Entry(name: "Userland proxy enabled", help: "docker-proxy forwards published ports; disable it (--userland-proxy=false) where hairpin NAT works.", reference: "CIS Docker 2.16"),
        "overlay-unencrypted": Entry(name: "Unencrypted overlay network", help: "Overlay traffic between hosts is not encrypted (create it with --opt encrypted).", reference: "CIS Docker 7.3"),
        "overlapping-subnets": Entry(name: "Overlapping subnets", help: "Two networks share addresses; routing and address-based rules misfire."),
        "bridges-networks": Entry(name: "Container bridges networks", help: "A container attached to several networks joins them: it can relay between networks meant to be apart."),
        // Reachability (probe + policy)
        "unexpected-reachable": Entry(name: "Isolation breach", help: "The policy denies this path, yet a probe from the source's own namespace got through. Fix the network (separate networks, ICC off, DOCKER-USER rules) or the policy."),
        "unexpected-blocked": Entry(name: "Broken dependency", help: "The policy allows this path, yet the probe was blocked or timed out."),
        // Audit (edges)
        "mtls-required-not-enforced": Entry(name: "mTLS required but not enforced", help: "The policy requires mutual TLS on this endpoint, but it accepts plaintext, TLS without a client certificate, or clients it should refuse."),
    ]
}
