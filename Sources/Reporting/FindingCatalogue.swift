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

    public static func entry(_ kind: String) -> Entry? { Self.entries[kind] }

    static let entries: [String: Entry] = [
        // Traffic (analyze / capture)
        "plaintext-flow": Entry(name: "Plaintext service traffic", help: "Service-to-service traffic crossed in clear. Move the service behind TLS (ideally mutual TLS) or confirm it carries nothing sensitive."),
        "credentials-in-cleartext": Entry(name: "Credentials sent in clear", help: "A password, token or hash crossed unencrypted (shown redacted). Rotate it and require TLS on the endpoint."),
        "tls-no-client-auth": Entry(name: "TLS without client authentication", help: "The TLS handshake authenticated only the server. Where services must prove who they are, require client certificates (mutual TLS)."),
        "tls-handshake-failure": Entry(name: "TLS handshake failed", help: "A handshake ended with an alert: a misconfiguration, a rejected client, or a probe."),
        "tls-legacy-version": Entry(name: "Legacy TLS version", help: "TLS 1.0/1.1 or SSL was negotiated. Allow TLS 1.2 and 1.3 only."),
        "certificate-expired": Entry(name: "Expired certificate", help: "A certificate seen was past its notAfter date. Renew it and automate renewal."),
        "certificate-not-yet-valid": Entry(name: "Certificate not yet valid", help: "A certificate's notBefore lies in the future: clock skew or a mis-issued certificate."),
        "certificate-self-signed": Entry(name: "Self-signed certificate", help: "A self-signed leaf cannot be validated against a trust bundle. Issue it from the service CA."),
        "certificate-weak-key": Entry(name: "Weak certificate key", help: "RSA below 2048 bits or a weak curve. Reissue with RSA ≥ 2048 or P-256."),
        "certificate-weak-signature": Entry(name: "Weak certificate signature", help: "SHA-1 or MD5 signature. Reissue with SHA-256 or better."),
        "unidentified-flow": Entry(name: "Unidentified traffic", help: "Traffic whose protocol could not be identified; review what the service speaks."),
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
