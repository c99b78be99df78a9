/// The kind of a finding: a registered kind, with its stable identifier, default severity, name and help, or a kind
/// read from a stored report that this build does not know.
///
/// The registry is the one catalogue of what Bulkhead reports: emitters name kinds by case (`.plaintextFlow`,
/// `.certificate(.weakKey, family: .server)`), never by string, and SARIF, the markdown report and the overview
/// read the name, help and CIS reference from here. The identifiers are the strings reports have always carried,
/// so JSON and SARIF output does not change with the type.
///
/// A value is as cheap to copy as the `String` it replaces: the registered cases carry no payload but two one-byte
/// enums, and their identifiers are string literals (or a table built once, for the certificate families).
public enum FindingKind: Sendable {
    // Traffic (analyze / capture)
    /// `plaintext-flow`: Plaintext service traffic
    case plaintextFlow
    /// `credentials-in-cleartext`: Credentials sent in clear
    case credentialsInCleartext
    /// `tls-no-client-auth`: TLS without client authentication
    case tlsNoClientAuth
    /// `tls-handshake-failure`: TLS handshake failed
    case tlsHandshakeFailure
    /// `tls-weak-cipher`: Weak cipher negotiated
    case tlsWeakCipher
    /// `tls-legacy-cipher`: Legacy cipher negotiated
    case tlsLegacyCipher
    /// `tls-legacy-version`: Legacy TLS version, negotiated in traffic or accepted by an endpoint when offered.
    ///
    /// One kind for one defect: the TLS check used to report it as `legacy-tls-version`. `tls-legacy-version`
    /// survives because the TLS kinds both stages share (`tls-no-client-auth`) and analyze's TLS kinds all start
    /// with `tls-`; the TLS check still reports it at `medium` (accepted when offered, not seen in use).
    case tlsLegacyVersion
    /// `unidentified-flow`: Unidentified traffic
    case unidentifiedFlow
    /// `container-engine-api-in-clear`: Container engine API in clear
    case containerEngineAPIInClear
    /// `etcd-api-in-clear`: etcd API in clear
    case etcdAPIInClear
    /// `etcd-peer-traffic-in-clear`: etcd peer traffic in clear
    case etcdPeerTrafficInClear
    // Active TLS checks (`bulkhead tls`, the audit's TLS stage)
    /// `rogue-client-accepted`: Forged client certificate accepted
    case rogueClientAccepted
    /// `mtls-optional`: Client certificate optional
    case mtlsOptional
    /// `plaintext-accepted`: Plaintext accepted
    case plaintextAccepted
    /// `starttls-optional`: STARTTLS optional
    case starttlsOptional
    /// `tls-inconclusive`: mTLS enforcement not proven
    case tlsInconclusive
    /// `endpoint-untested`: Endpoint not tested
    case endpointUntested
    /// `valid-client-refused`: Valid client certificate refused
    case validClientRefused
    /// `valid-client-not-served`: Valid client not served
    case validClientNotServed
    /// `authorization-any-identity`: Any verified identity accepted
    case authorizationAnyIdentity
    /// `server-chain-untrusted`: Server chain not trusted
    case serverChainUntrusted
    /// `server-identity-mismatch`: Server identity mismatch
    case serverIdentityMismatch
    /// `server-spiffe-mismatch`: Server SPIFFE ID mismatch
    case serverSPIFFEMismatch
    /// `weak-cipher`: Weak cipher suites accepted
    case weakCipher
    // Inventory (static configuration)
    /// `default-bridge-icc`: ICC on the default bridge
    case defaultBridgeICC
    /// `host-network-mode`: Host network mode
    case hostNetworkMode
    /// `shared-network-namespace`: Shared network namespace
    case sharedNetworkNamespace
    /// `port-published-all-interfaces`: Port published on every interface
    case portPublishedAllInterfaces
    /// `privileged-port-published`: Privileged host port
    case privilegedPortPublished
    /// `privileged-container`: Privileged container
    case privilegedContainer
    /// `net-admin-capability`: NET_ADMIN capability
    case netAdminCapability
    /// `net-raw-capability`: NET_RAW capability
    case netRawCapability
    /// `docker-socket-mounted`: Docker socket mounted
    case dockerSocketMounted
    /// `userland-proxy`: Userland proxy enabled
    case userlandProxy
    /// `overlay-unencrypted`: Unencrypted overlay network
    case overlayUnencrypted
    /// `overlapping-subnets`: Overlapping subnets
    case overlappingSubnets
    /// `bridges-networks`: Container bridges networks
    case bridgesNetworks
    // Reachability (probe + policy)
    /// `unexpected-reachable`: Isolation breach
    case unexpectedReachable
    /// `unexpected-blocked`: Broken dependency
    case unexpectedBlocked
    /// `policy-rule-selects-nothing`: Policy rule selects nothing
    case policyRuleSelectsNothing
    // Audit (edges)
    /// `mtls-required-not-enforced`: mTLS required but not enforced
    case mtlsRequiredNotEnforced
    // Kubernetes NetworkPolicy intent (`bulkhead k8s intent`, `audit --k8s`)
    /// `k8s-pod-not-isolated`: Pod selected by no NetworkPolicy
    case kubernetesPodNotIsolated
    /// `k8s-policy-allows-all`: NetworkPolicy allows all traffic
    case kubernetesPolicyAllowsAll
    /// `k8s-namespace-without-default-deny`: Namespace without default deny
    case kubernetesNoDefaultDeny
    /// `k8s-rule-selects-nothing`: NetworkPolicy rule selects nothing
    case kubernetesRuleSelectsNothing
    /// `k8s-named-port-unresolved`: Named port resolves nowhere
    case kubernetesNamedPortUnresolved
    /// `k8s-egress-without-dns`: Egress policy without DNS
    case kubernetesEgressWithoutDNS
    /// `k8s-denied-but-open`: Open against NetworkPolicy intent
    case kubernetesDeniedButOpen
    /// `k8s-allowed-but-blocked`: Blocked against NetworkPolicy intent
    case kubernetesAllowedButBlocked
    // Fleet (`bulkhead merge`)
    /// `fleet-evidence-disagreement`: Nodes disagree about an edge
    case fleetEvidenceDisagreement
    // Swarm (inventory, fleet probing, underlay capture)
    /// `swarm-cross-node-plaintext-overlay`: Service traffic between nodes on an unencrypted overlay
    case swarmCrossNodePlaintextOverlay
    /// `swarm-ingress-published-port`: Port published through the ingress routing mesh
    case swarmIngressPublished
    /// `swarm-control-plane-reachable`: Swarm control-plane port reachable from a task
    case swarmControlPlaneReachable
    /// `swarm-autolock-off`: Swarm manager autolock off
    case swarmAutolockOff
    /// `swarm-service-host-network`: Service on the host network
    case swarmServiceHostNetwork
    /// `swarm-service-docker-socket`: Service mounts the Docker socket
    case swarmServiceDockerSocket
    /// `swarm-service-added-capabilities`: Service adds capabilities
    case swarmServiceCapabilities
    /// `swarm-encrypted-overlay-drops-traffic`: Encrypted overlay drops traffic
    case swarmEncryptedOverlayDrops
    /// `swarm-plaintext-between-nodes`: Plaintext service traffic between nodes
    case swarmPlaintextBetweenNodes
    /// A certificate lint rule in one of its families: `certificate-<rule>` (`analyze`, either side of a handshake),
    /// `server-certificate-<rule>` and `client-certificate-<rule>` (`bulkhead tls`).
    case certificate(CertificateLintRule, family: CertificateFindingFamily)
    /// A kind this build does not know, read from a stored report: it keeps its identifier, so it round-trips, and
    /// renders with its finding's title. Made by ``init(identifier:)`` only, never by an emitter.
    case unregistered(String)

    /// What the registry knows of a kind.
    public struct Entry: Hashable, Sendable {
        /// The severity the kind has unless its emitter judges otherwise by context.
        public var defaultSeverity: Severity
        /// A short title of the kind (a SARIF rule's name).
        public var name: String
        /// What it means and what to do about it.
        public var help: String
        /// The CIS Benchmark item the kind maps to, by benchmark and item (`CIS Docker 2.6`, `CIS Kubernetes 2.1`).
        public var reference: String?

        init(_ defaultSeverity: Severity, _ name: String, _ help: String, reference: String? = nil) {
            self.defaultSeverity = defaultSeverity
            self.name = name
            self.help = help
            self.reference = reference
        }
    }

    /// Every registered kind: the plain kinds, then each certificate lint rule in each family.
    public static let allRegistered: [FindingKind] =
        Self.plainKinds
        + CertificateFindingFamily.allCases.flatMap { family in
            CertificateLintRule.allCases.map { .certificate($0, family: family) }
        }

    /// The kinds without a payload. A new case must be listed here too, or its identifier would not decode: the
    /// registry test counts the cases declared above against this list.
    static let plainKinds: [FindingKind] = [
        .plaintextFlow, .credentialsInCleartext, .tlsNoClientAuth, .tlsHandshakeFailure,
        .tlsWeakCipher, .tlsLegacyCipher, .tlsLegacyVersion, .unidentifiedFlow, .containerEngineAPIInClear,
        .etcdAPIInClear, .etcdPeerTrafficInClear,
        .rogueClientAccepted, .mtlsOptional, .plaintextAccepted, .starttlsOptional,
        .tlsInconclusive, .endpointUntested, .validClientRefused, .validClientNotServed,
        .authorizationAnyIdentity, .serverChainUntrusted, .serverIdentityMismatch, .serverSPIFFEMismatch,
        .weakCipher, .defaultBridgeICC, .hostNetworkMode, .sharedNetworkNamespace,
        .portPublishedAllInterfaces, .privilegedPortPublished, .privilegedContainer, .netAdminCapability,
        .netRawCapability, .dockerSocketMounted, .userlandProxy, .overlayUnencrypted,
        .overlappingSubnets, .bridgesNetworks, .unexpectedReachable, .unexpectedBlocked,
        .policyRuleSelectsNothing, .mtlsRequiredNotEnforced,
        .kubernetesPodNotIsolated, .kubernetesPolicyAllowsAll, .kubernetesNoDefaultDeny, .kubernetesRuleSelectsNothing,
        .kubernetesNamedPortUnresolved, .kubernetesEgressWithoutDNS, .kubernetesDeniedButOpen,
        .kubernetesAllowedButBlocked, .fleetEvidenceDisagreement,
        .swarmCrossNodePlaintextOverlay, .swarmIngressPublished, .swarmControlPlaneReachable, .swarmAutolockOff,
        .swarmServiceHostNetwork, .swarmServiceDockerSocket, .swarmServiceCapabilities, .swarmEncryptedOverlayDrops,
        .swarmPlaintextBetweenNodes,
    ]

    private static let byIdentifier: [String: FindingKind] = Dictionary(
        Self.allRegistered.map { ($0.identifier, $0) }, uniquingKeysWith: { first, _ in first })

    /// The kind an identifier names: a registered kind, or an unregistered one that keeps the identifier.
    public init(identifier: String) {
        self = Self.byIdentifier[identifier] ?? .unregistered(identifier)
    }

    /// Whether the registry knows this kind.
    public var isRegistered: Bool {
        if case .unregistered = self { return false }
        return true
    }

    /// The stable identifier reports carry (`plaintext-flow`, `server-certificate-weak-key`).
    public var identifier: String {
        switch self {
        case .plaintextFlow: "plaintext-flow"
        case .credentialsInCleartext: "credentials-in-cleartext"
        case .tlsNoClientAuth: "tls-no-client-auth"
        case .tlsHandshakeFailure: "tls-handshake-failure"
        case .tlsWeakCipher: "tls-weak-cipher"
        case .tlsLegacyCipher: "tls-legacy-cipher"
        case .tlsLegacyVersion: "tls-legacy-version"
        case .unidentifiedFlow: "unidentified-flow"
        case .containerEngineAPIInClear: "container-engine-api-in-clear"
        case .etcdAPIInClear: "etcd-api-in-clear"
        case .etcdPeerTrafficInClear: "etcd-peer-traffic-in-clear"
        case .rogueClientAccepted: "rogue-client-accepted"
        case .mtlsOptional: "mtls-optional"
        case .plaintextAccepted: "plaintext-accepted"
        case .starttlsOptional: "starttls-optional"
        case .tlsInconclusive: "tls-inconclusive"
        case .endpointUntested: "endpoint-untested"
        case .validClientRefused: "valid-client-refused"
        case .validClientNotServed: "valid-client-not-served"
        case .authorizationAnyIdentity: "authorization-any-identity"
        case .serverChainUntrusted: "server-chain-untrusted"
        case .serverIdentityMismatch: "server-identity-mismatch"
        case .serverSPIFFEMismatch: "server-spiffe-mismatch"
        case .weakCipher: "weak-cipher"
        case .defaultBridgeICC: "default-bridge-icc"
        case .hostNetworkMode: "host-network-mode"
        case .sharedNetworkNamespace: "shared-network-namespace"
        case .portPublishedAllInterfaces: "port-published-all-interfaces"
        case .privilegedPortPublished: "privileged-port-published"
        case .privilegedContainer: "privileged-container"
        case .netAdminCapability: "net-admin-capability"
        case .netRawCapability: "net-raw-capability"
        case .dockerSocketMounted: "docker-socket-mounted"
        case .userlandProxy: "userland-proxy"
        case .overlayUnencrypted: "overlay-unencrypted"
        case .overlappingSubnets: "overlapping-subnets"
        case .bridgesNetworks: "bridges-networks"
        case .unexpectedReachable: "unexpected-reachable"
        case .unexpectedBlocked: "unexpected-blocked"
        case .policyRuleSelectsNothing: "policy-rule-selects-nothing"
        case .mtlsRequiredNotEnforced: "mtls-required-not-enforced"
        case .kubernetesPodNotIsolated: "k8s-pod-not-isolated"
        case .kubernetesPolicyAllowsAll: "k8s-policy-allows-all"
        case .kubernetesNoDefaultDeny: "k8s-namespace-without-default-deny"
        case .kubernetesRuleSelectsNothing: "k8s-rule-selects-nothing"
        case .kubernetesNamedPortUnresolved: "k8s-named-port-unresolved"
        case .kubernetesEgressWithoutDNS: "k8s-egress-without-dns"
        case .kubernetesDeniedButOpen: "k8s-denied-but-open"
        case .kubernetesAllowedButBlocked: "k8s-allowed-but-blocked"
        case .fleetEvidenceDisagreement: "fleet-evidence-disagreement"
        case .swarmCrossNodePlaintextOverlay: "swarm-cross-node-plaintext-overlay"
        case .swarmIngressPublished: "swarm-ingress-published-port"
        case .swarmControlPlaneReachable: "swarm-control-plane-reachable"
        case .swarmAutolockOff: "swarm-autolock-off"
        case .swarmServiceHostNetwork: "swarm-service-host-network"
        case .swarmServiceDockerSocket: "swarm-service-docker-socket"
        case .swarmServiceCapabilities: "swarm-service-added-capabilities"
        case .swarmEncryptedOverlayDrops: "swarm-encrypted-overlay-drops-traffic"
        case .swarmPlaintextBetweenNodes: "swarm-plaintext-between-nodes"
        case .certificate(let rule, let family):
            family.identifiers[rule] ?? "\(family.identifierPrefix)-\(rule.rawValue)"
        case .unregistered(let identifier): identifier
        }
    }

    /// The registry's entry, or nil for an unregistered kind.
    public var entry: Entry? {
        switch self {
        case .plaintextFlow:
            Entry(
                .medium, "Plaintext service traffic",
                "Service-to-service traffic crossed in clear. Move the service behind TLS (ideally mutual TLS) or confirm it carries nothing sensitive."
            )
        case .credentialsInCleartext:
            Entry(
                .high, "Credentials sent in clear",
                "A password, token or hash crossed unencrypted (shown redacted). Rotate it and require TLS on the endpoint."
            )
        case .tlsNoClientAuth:
            Entry(
                .medium, "TLS without client authentication",
                "The TLS handshake authenticated only the server. Where services must prove who they are, require client certificates (mutual TLS)."
            )
        case .tlsHandshakeFailure:
            Entry(
                .medium, "TLS handshake failed",
                "A handshake ended with an alert: a misconfiguration, a rejected client, or a probe.")
        case .tlsWeakCipher:
            Entry(
                .high, "Weak cipher negotiated",
                "A broken suite was negotiated (NULL, export, RC4, DES/3DES, anonymous key exchange). Allow only AEAD suites with forward secrecy."
            )
        case .tlsLegacyCipher:
            Entry(
                .low, "Legacy cipher negotiated",
                "A suite without forward secrecy or with CBC mode was negotiated. Prefer ECDHE with AES-GCM or ChaCha20-Poly1305."
            )
        case .tlsLegacyVersion:
            Entry(
                .high, "Legacy TLS version",
                "TLS 1.0/1.1 or SSL was negotiated in traffic (analyze), or the endpoint agrees to it when a client offers only that (the TLS check). Allow TLS 1.2 and 1.3 only."
            )
        case .unidentifiedFlow:
            Entry(
                .low, "Unidentified traffic",
                "Traffic whose protocol could not be identified; review what the service speaks.")
        case .containerEngineAPIInClear:
            Entry(
                .critical, "Container engine API in clear",
                "A Docker or Podman Engine API answered over plain HTTP. It has no authentication of its own: whoever reaches the port can start a privileged container and so owns the host, unless an authorization plugin refuses the request. Bind it to its Unix socket, or require TLS with client certificates (dockerd --tlsverify).",
                reference: "CIS Docker 2.6")
        case .etcdAPIInClear:
            Entry(
                .critical, "etcd API in clear",
                "etcd's v3 API answered over plain HTTP/2: every key read or written crossed readable and alterable on the path (for Kubernetes, every Secret), with the passwords and tokens of etcd's users, and unless etcd also requires client certificates whoever reaches the port reads and writes the store. Serve it over TLS only (--cert-file, --key-file) and require client certificates (--client-cert-auth, --trusted-ca-file).",
                reference: "CIS Kubernetes 2.1")
        case .etcdPeerTrafficInClear:
            Entry(
                .critical, "etcd peer traffic in clear",
                "etcd's members spoke their peer API (raft: the store replicated between them) over plain HTTP: every key (for Kubernetes, every Secret) crosses readable and alterable on the path, and unless members require client certificates whoever reaches the peer port can disturb the cluster. Serve the peer URLs over TLS (--peer-cert-file, --peer-key-file) and require client certificates (--peer-client-cert-auth, --peer-trusted-ca-file).",
                reference: "CIS Kubernetes 2.4")
        case .rogueClientAccepted:
            Entry(
                .critical, "Forged client certificate accepted",
                "The endpoint served a client that presented a certificate from an untrusted CA, a self-signed, expired or wrong-purpose certificate: anyone can claim any identity. Verify client certificates against the service CA and fail the handshake when they do not verify."
            )
        case .mtlsOptional:
            Entry(
                .low, "Client certificate optional",
                "The endpoint asks for a client certificate but serves clients that send none. Make client certificates required."
            )
        case .plaintextAccepted:
            Entry(
                .medium, "Plaintext accepted",
                "The endpoint serves its protocol in clear. Serve it over TLS only, with required client certificates.")
        case .starttlsOptional:
            Entry(
                .medium, "STARTTLS optional",
                "The service offers STARTTLS but also serves its protocol without upgrading. Require the upgrade (or use implicit TLS)."
            )
        case .tlsInconclusive:
            Entry(
                .low, "mTLS enforcement not proven",
                "Nothing the endpoint did proves that it refuses forged certificates, or that it accepts them (it closed or stayed silent with every certificate). Give the check a client certificate the endpoint accepts, or name its application protocol. Never counted as secure."
            )
        case .endpointUntested:
            Entry(
                .info, "Endpoint not tested",
                "The TLS check could not run against this endpoint (unreachable, timed out, or an error): nothing is known about its client authentication."
            )
        case .validClientRefused:
            Entry(
                .high, "Valid client certificate refused",
                "The endpoint refused the client certificate given to the check (--client-cert, or the policy's identity): the client it belongs to would be refused too, or the certificate given is not the right one."
            )
        case .validClientNotServed:
            Entry(
                .medium, "Valid client not served",
                "The handshake with the valid client certificate completed, but the service answered nothing usable: it may serve no one, or speak another protocol than the one probed."
            )
        case .authorizationAnyIdentity:
            Entry(
                .medium, "Any verified identity accepted",
                "The endpoint served a certificate of another identity from the trusted CA: it authenticates clients but does not authorize them. Check the client's identity (SAN / SPIFFE ID) after verification."
            )
        case .serverChainUntrusted:
            Entry(
                .high, "Server chain not trusted",
                "The server's chain does not validate against the trust bundle given: clients that verify would refuse it."
            )
        case .serverIdentityMismatch:
            Entry(
                .high, "Server identity mismatch",
                "The server certificate does not carry the DNS name expected for this service.")
        case .serverSPIFFEMismatch:
            Entry(
                .high, "Server SPIFFE ID mismatch",
                "The server certificate does not carry exactly the SPIFFE ID expected for this service.")
        case .weakCipher:
            Entry(
                .high, "Weak cipher suites accepted",
                "The endpoint agrees to a weak category of suites when a client offers only those. Allow only AEAD suites with forward secrecy."
            )
        case .defaultBridgeICC:
            Entry(
                .medium, "ICC on the default bridge",
                "Containers on docker0 can all talk to each other. Run dockerd with --icc=false and use user-defined networks.",
                reference: "CIS Docker 2.2")
        case .hostNetworkMode:
            Entry(
                .high, "Host network mode",
                "The container shares the host's network namespace: no network isolation applies to it.",
                reference: "CIS Docker 5.10")
        case .sharedNetworkNamespace:
            Entry(
                .medium, "Shared network namespace",
                "Two containers share one namespace (container:X): isolation between them is void.")
        case .portPublishedAllInterfaces:
            Entry(
                .medium, "Port published on every interface",
                "Bind published ports to a specific host address (-p 127.0.0.1:8080:80).", reference: "CIS Docker 5.14")
        case .privilegedPortPublished:
            Entry(
                .low, "Privileged host port",
                "A host port below 1024 is published.", reference: "CIS Docker 5.8")
        case .privilegedContainer:
            Entry(
                .high, "Privileged container",
                "A privileged container can change the host's network configuration.", reference: "CIS Docker 5.5")
        case .netAdminCapability:
            Entry(
                .high, "NET_ADMIN capability",
                "The container can reconfigure interfaces, routes and firewall rules in its namespace.",
                reference: "CIS Docker 5.4")
        case .netRawCapability:
            Entry(
                .low, "NET_RAW capability",
                "Raw sockets allow spoofing and ARP tricks that bypass ICC. Drop NET_RAW (--cap-drop NET_RAW).",
                reference: "CIS Docker 5.4")
        case .dockerSocketMounted:
            Entry(
                .critical, "Docker socket mounted",
                "Whoever controls the container controls the engine, and so the host.", reference: "CIS Docker 5.32")
        case .userlandProxy:
            Entry(
                .low, "Userland proxy enabled",
                "docker-proxy forwards published ports; disable it (--userland-proxy=false) where hairpin NAT works.",
                reference: "CIS Docker 2.16")
        case .overlayUnencrypted:
            Entry(
                .medium, "Unencrypted overlay network",
                "Overlay traffic between hosts is not encrypted (create it with --opt encrypted).",
                reference: "CIS Docker 7.3")
        case .overlappingSubnets:
            Entry(
                .medium, "Overlapping subnets",
                "Two networks share addresses; routing and address-based rules misfire.")
        case .bridgesNetworks:
            Entry(
                .medium, "Container bridges networks",
                "A container attached to several networks joins them: it can relay between networks meant to be apart.")
        case .unexpectedReachable:
            Entry(
                .high, "Isolation breach",
                "The policy denies this path, yet a probe from the source's own namespace got through. Fix the network (separate networks, ICC off, DOCKER-USER rules) or the policy."
            )
        case .unexpectedBlocked:
            Entry(
                .medium, "Broken dependency",
                "The policy allows this path, yet the probe was blocked or timed out.")
        case .policyRuleSelectsNothing:
            Entry(
                .low, "Policy rule selects nothing",
                "A selector of this rule matches no container of the inventory: a typo in a name, label or network, or a rule for something gone. A deny rule written so denies nothing, an allow rule allows nothing."
            )
        case .mtlsRequiredNotEnforced:
            Entry(
                .high, "mTLS required but not enforced",
                "The policy requires mutual TLS on this endpoint, but it accepts plaintext, TLS without a client certificate, or clients it should refuse."
            )
        case .kubernetesPodNotIsolated:
            Entry(
                .medium, "Pod selected by no NetworkPolicy",
                "No NetworkPolicy selects this pod for ingress, so every pod and address may reach it on every port. Add a default-deny policy to its namespace and allow what it needs."
            )
        case .kubernetesPolicyAllowsAll:
            Entry(
                .medium, "NetworkPolicy allows all traffic",
                "A rule with no peers and no ports (or peers that select every namespace) admits everything: the pods it selects are isolated in name only. Narrow the rule to the peers and ports needed."
            )
        case .kubernetesNoDefaultDeny:
            Entry(
                .medium, "Namespace without default deny",
                "The namespace has pods but no policy that selects all of them with no ingress rules: a new pod starts open. Add a default-deny ingress (and egress) policy."
            )
        case .kubernetesRuleSelectsNothing:
            Entry(
                .low, "NetworkPolicy rule selects nothing",
                "A peer of this rule selects no pod or namespace in the dump: a typo in a label, or a rule for something gone. The traffic it was meant to allow is denied."
            )
        case .kubernetesNamedPortUnresolved:
            Entry(
                .medium, "Named port resolves nowhere",
                "A rule names a port that no container of the pods it applies to declares (with that protocol): the rule allows nothing on it."
            )
        case .kubernetesEgressWithoutDNS:
            Entry(
                .medium, "Egress policy without DNS",
                "The pod is isolated for egress and resolves names through the cluster DNS, but no rule allows UDP and TCP port 53 to the DNS pods: name lookups will fail. Allow DNS explicitly."
            )
        case .kubernetesDeniedButOpen:
            Entry(
                .high, "Open against NetworkPolicy intent",
                "The NetworkPolicies deny this connection, yet a probe from the source pod's own network namespace got through: the network plugin does not enforce the policy. Check the CNI plugin's policy support."
            )
        case .kubernetesAllowedButBlocked:
            Entry(
                .medium, "Blocked against NetworkPolicy intent",
                "The NetworkPolicies allow this connection, yet the probe was blocked: something else (a node firewall, another policy engine) drops it."
            )
        case .fleetEvidenceDisagreement:
            Entry(
                .medium, "Nodes disagree about an edge",
                "Two node reports of the fleet saw the same edge or endpoint and their evidence differs (reachability, traffic, the TLS check, or the verdict). The merged report keeps the worse verdict; find out why the nodes see it differently (a node-local firewall rule, a different policy, a service that changed between the runs)."
            )
        case .swarmCrossNodePlaintextOverlay:
            Entry(
                .high, "Service traffic between nodes on an unencrypted overlay",
                "A service's tasks on different nodes share an overlay without the encrypted option: their traffic crosses the underlay as plaintext VXLAN, readable and injectable by anyone on the path. Create the overlay with --opt encrypted (where the kernel has ESP and AES-GCM), or protect the traffic with TLS.",
                reference: "CIS Docker 7.3")
        case .swarmIngressPublished:
            Entry(
                .medium, "Port published through the ingress routing mesh",
                "An ingress-mode published port is open on every node of the swarm, whether or not a task runs there. Publish in host mode on the nodes meant to serve it, or put a load balancer in front."
            )
        case .swarmControlPlaneReachable:
            Entry(
                .high, "Swarm control-plane port reachable from a task",
                "A task can open the node's Swarm management (2377/tcp) or gossip (7946/tcp) port: a compromised task can attack the control plane. Firewall these ports to the underlay (DOCKER-USER or host rules)."
            )
        case .swarmAutolockOff:
            Entry(
                .medium, "Swarm manager autolock off",
                "The managers' Raft keys are stored unencrypted on disk: whoever copies a manager's data directory gets the swarm's secrets. Enable autolock (docker swarm update --autolock=true).",
                reference: "CIS Docker 7.6")
        case .swarmServiceHostNetwork:
            Entry(
                .high, "Service on the host network",
                "The service's tasks share each node's network namespace: no network isolation applies to them and they can bind and reach whatever the node can.",
                reference: "CIS Docker 5.10")
        case .swarmServiceDockerSocket:
            Entry(
                .critical, "Service mounts the Docker socket",
                "Every task of the service controls its node's engine; on a manager, the whole swarm.",
                reference: "CIS Docker 5.32")
        case .swarmServiceCapabilities:
            Entry(
                .high, "Service adds capabilities",
                "The service adds Linux capabilities to its tasks (CapabilityAdd): network ones (NET_ADMIN, NET_RAW) let a task reconfigure or forge traffic on every node it runs on.",
                reference: "CIS Docker 5.4")
        case .swarmEncryptedOverlayDrops:
            Entry(
                .high, "Encrypted overlay drops traffic",
                "An overlay configured encrypted passes traffic between tasks on the same node but nothing between nodes: IPsec (ESP with AES-GCM) is unavailable in the node's kernel (CONFIG_INET_ESP, CONFIG_CRYPTO_GCM) and Docker drops what it cannot encrypt. The service is broken across nodes; this is neither isolation by policy nor proof of encryption."
            )
        case .swarmPlaintextBetweenNodes:
            Entry(
                .high, "Plaintext service traffic between nodes",
                "Captured on the underlay: a service's traffic to a task on another node crossed in clear inside VXLAN. Encrypt the overlay or use TLS between the services."
            )
        case .certificate(let rule, let family): family.entry(of: rule)
        case .unregistered: nil
        }
    }

    /// The severity a finding of this kind has unless its emitter judges otherwise (`.info` for an unregistered kind).
    public var defaultSeverity: Severity { self.entry?.defaultSeverity ?? .info }
}

extension FindingKind: Hashable, Comparable {
    // By identifier: an unregistered kind equals the registered one it names (nothing makes one, but a value
    // decoded elsewhere must not count twice), and reports sort findings by identifier as they always have.
    public static func == (lhs: FindingKind, rhs: FindingKind) -> Bool { lhs.identifier == rhs.identifier }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.identifier) }
    public static func < (lhs: FindingKind, rhs: FindingKind) -> Bool { lhs.identifier < rhs.identifier }
}

extension FindingKind: Codable, CustomStringConvertible {
    /// Decodes the identifier; an identifier this build does not know is kept as ``unregistered(_:)``.
    public init(from decoder: any Decoder) throws {
        self.init(identifier: try decoder.singleValueContainer().decode(String.self))
    }

    /// Encodes the identifier, as reports have always carried the kind.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.identifier)
    }

    /// The identifier.
    public var description: String { self.identifier }
}

/// Which certificates a certificate lint finding is about; each family reports every ``CertificateLintRule``.
public enum CertificateFindingFamily: String, CaseIterable, Hashable, Sendable {
    /// `certificate-<rule>`: a certificate seen in a captured handshake, either side (`analyze` names the side in
    /// the title).
    case captured = "certificate"
    /// `server-certificate-<rule>`: the server chain `bulkhead tls` was shown.
    case server = "server-certificate"
    /// `client-certificate-<rule>`: a client certificate given to `bulkhead tls`.
    case client = "client-certificate"

    /// The identifiers' prefix, before `-<rule>`.
    public var identifierPrefix: String { self.rawValue }

    // Built once per family, so that `identifier` hands out a stored string instead of concatenating per finding.
    private static let capturedIdentifiers = Self.identifiers(.captured)
    private static let serverIdentifiers = Self.identifiers(.server)
    private static let clientIdentifiers = Self.identifiers(.client)

    private static func identifiers(_ family: Self) -> [CertificateLintRule: String] {
        Dictionary(uniqueKeysWithValues: CertificateLintRule.allCases.map { ($0, "\(family.rawValue)-\($0.rawValue)") })
    }

    var identifiers: [CertificateLintRule: String] {
        switch self {
        case .captured: Self.capturedIdentifiers
        case .server: Self.serverIdentifiers
        case .client: Self.clientIdentifiers
        }
    }

    /// The rule's entry in this family: the rule's own name, with the side named for `tls`'s families.
    func entry(of rule: CertificateLintRule) -> FindingKind.Entry {
        var entry = rule.entry
        let side: String
        switch self {
        case .captured: return entry
        case .server: side = "Server"
        case .client: side = "Client"
        }
        entry.name = "\(side) certificate: " + entry.name.prefix(1).lowercased() + entry.name.dropFirst()
        return entry
    }
}

/// A rule of Bulkhead's certificate lint (`CertificateLint`); the raw value is the stable rule id reports carry.
public enum CertificateLintRule: String, CaseIterable, Codable, Hashable, Sendable {
    /// Expired certificate.
    case expired = "expired"
    /// Certificate not yet valid.
    case notYetValid = "not-yet-valid"
    /// Unreadable certificate validity.
    case unreadableValidity = "unreadable-validity"
    /// Self-signed certificate.
    case selfSigned = "self-signed"
    /// Weak certificate key.
    case weakKey = "weak-key"
    /// Weak certificate curve.
    case weakCurve = "weak-curve"
    /// Unknown certificate key type.
    case unknownKey = "unknown-key"
    /// Weak certificate signature.
    case weakSignature = "weak-signature"
    /// Long-lived leaf certificate.
    case longValidity = "long-validity"
    /// Malformed certificate serial.
    case serial = "serial"
    /// Issuer is not a CA.
    case issuerNotCA = "issuer-not-ca"
    /// Issuer cannot sign certificates.
    case issuerKeyUsage = "issuer-key-usage"
    /// Leaf certificate is a CA.
    case leafIsCA = "leaf-is-ca"
    /// Leaf key usage.
    case leafKeyUsage = "leaf-key-usage"
    /// No extended key usage.
    case ekuAbsent = "eku-absent"
    /// Server certificate not for server authentication.
    case ekuMissingServerAuth = "eku-missing-server-auth"
    /// Client certificate not for client authentication.
    case ekuMissingClientAuth = "eku-missing-client-auth"
    /// No subject alternative name.
    case missingSAN = "missing-san"
    /// Several URI SANs on a SPIFFE certificate.
    case spiffeMultipleURI = "spiffe-multiple-uri"
    /// Chain out of order.
    case chainOrder = "chain-order"
    /// Certificate expiring soon.
    case expiringSoon = "expiring-soon"
    /// Unparseable certificate.
    case unparseable = "unparseable"

    /// The severity an issue of this rule has unless the lint judges otherwise (a serial that is only too long is
    /// `low`; a leaf key usage that allows no TLS use is `high`).
    public var defaultSeverity: Severity { self.entry.defaultSeverity }

    /// The rule's entry, as the `certificate-<rule>` family reports it.
    var entry: FindingKind.Entry {
        switch self {
        case .expired:
            FindingKind.Entry(
                .high, "Expired certificate",
                "A certificate was past its notAfter date when the flow was seen. Renew it and automate renewal.")
        case .notYetValid:
            FindingKind.Entry(
                .high, "Certificate not yet valid",
                "A certificate's notBefore lay after the flow: clock skew or a mis-issued certificate.")
        case .unreadableValidity:
            FindingKind.Entry(
                .medium, "Unreadable certificate validity",
                "The certificate's validity dates could not be read; no verifier can judge its lifetime.")
        case .selfSigned:
            FindingKind.Entry(
                .high, "Self-signed certificate",
                "A self-signed leaf cannot be validated against a trust bundle. Issue it from the service CA.")
        case .weakKey:
            FindingKind.Entry(
                .high, "Weak certificate key",
                "RSA below 2048 bits, or DSA. Reissue with RSA ≥ 2048 or P-256.")
        case .weakCurve:
            FindingKind.Entry(
                .medium, "Weak certificate curve",
                "An EC key on a curve other than P-256, P-384 or P-521 (or an explicit curve). Reissue on P-256 or P-384."
            )
        case .unknownKey:
            FindingKind.Entry(
                .medium, "Unknown certificate key type",
                "The certificate's public key is of a type Bulkhead does not know; check that peers can use it.")
        case .weakSignature:
            FindingKind.Entry(
                .high, "Weak certificate signature",
                "SHA-1 or MD5 signature. Reissue with SHA-256 or better.")
        case .longValidity:
            FindingKind.Entry(
                .medium, "Long-lived leaf certificate",
                "A leaf valid for more than 398 days. Issue shorter-lived certificates and automate their renewal.")
        case .serial:
            FindingKind.Entry(
                .medium, "Malformed certificate serial",
                "A zero, negative, unreadable or over-long serial number (RFC 5280 §4.1.2.2).")
        case .issuerNotCA:
            FindingKind.Entry(
                .high, "Issuer is not a CA",
                "A certificate in the chain after the leaf lacks basicConstraints CA:TRUE: strict verifiers refuse the chain."
            )
        case .issuerKeyUsage:
            FindingKind.Entry(
                .high, "Issuer cannot sign certificates",
                "A CA certificate in the chain whose keyUsage lacks keyCertSign.")
        case .leafIsCA:
            FindingKind.Entry(
                .high, "Leaf certificate is a CA",
                "The leaf has basicConstraints CA:TRUE: whoever holds its key can issue certificates. Reissue it as CA:FALSE."
            )
        case .leafKeyUsage:
            FindingKind.Entry(
                .medium, "Leaf key usage",
                "The leaf's keyUsage allows certificate or CRL signing, or allows no TLS key use.")
        case .ekuAbsent:
            FindingKind.Entry(
                .low, "No extended key usage",
                "The leaf has no extendedKeyUsage, so it is valid for any purpose. Restrict it to serverAuth or clientAuth."
            )
        case .ekuMissingServerAuth:
            FindingKind.Entry(
                .high, "Server certificate not for server authentication",
                "The server presented a leaf whose extendedKeyUsage lacks serverAuth.")
        case .ekuMissingClientAuth:
            FindingKind.Entry(
                .high, "Client certificate not for client authentication",
                "A client presented a leaf whose extendedKeyUsage lacks clientAuth.")
        case .missingSAN:
            FindingKind.Entry(
                .medium, "No subject alternative name",
                "The leaf names its identity only in the CN; verifiers match DNS, IP or URI SANs. Add them.")
        case .spiffeMultipleURI:
            FindingKind.Entry(
                .high, "Several URI SANs on a SPIFFE certificate",
                "An X509-SVID must carry exactly one URI SAN.")
        case .chainOrder:
            FindingKind.Entry(
                .medium, "Chain out of order",
                "A certificate in the presented chain did not issue the one before it: wrong order or a foreign certificate."
            )
        case .expiringSoon:
            FindingKind.Entry(
                .medium, "Certificate expiring soon",
                "The certificate expires within the warning window (30 days by default). Renew it now, and automate renewal."
            )
        case .unparseable:
            FindingKind.Entry(
                .high, "Unparseable certificate",
                "A certificate in the handshake could not be read as X.509.")
        }
    }
}
