/// The transport of a flow.
public enum Transport: String, Codable, Sendable, Hashable, CaseIterable {
    case tcp
    case udp
    /// IPsec ESP straight over IP (protocol 50): a flow between two hosts, whose ports are written as 0.
    case esp
}

/// The application protocol of a flow, identified by content, never by port.
///
/// The raw values are the stable JSON vocabulary. For an upgrade to TLS (SMTP STARTTLS, PostgreSQL
/// SSLRequest…) the flow keeps its outer protocol and sets ``FlowRecord/starttls``.
public enum ApplicationProtocol: String, Codable, Sendable, Hashable, CaseIterable {
    case tls
    case dtls
    case http
    case http2
    case redis
    case postgresql
    case mysql
    case mongodb
    case memcached
    case smtp
    case ftp
    case pop3
    case imap
    case ldap
    case dns
    case amqp
    case kafka
    /// Apache ZooKeeper's client protocol (a session's ConnectRequest): the coordination store of Kafka, HBase,
    /// Solr and ClickHouse clusters.
    case zookeeper
    case ssh
    /// XMPP (client-to-server `jabber:client` or server-to-server `jabber:server` streams).
    case xmpp
    /// IRC (RFC 2812, with IRCv3 `STARTTLS`).
    case irc
    /// MQTT 3.1, 3.1.1 and 5 (a client's CONNECT): the publish/subscribe protocol of IoT and event pipelines
    /// (Mosquitto, EMQX, HiveMQ).
    case mqtt
    /// NATS (the server's `INFO {…}` or the client's `CONNECT {…}`), with its in-place upgrade to TLS after `INFO`.
    case nats
    /// STOMP 1.0-1.2 (a client's `CONNECT` or `STOMP` frame): the text messaging protocol of RabbitMQ's and
    /// ActiveMQ's STOMP listeners.
    case stomp
    /// A SOCKS 4 or 4a proxy request that nothing crossed, or that the proxy refused (the tunnel itself is in
    /// ``FlowRecord/tunnel``; a granted tunnel's flow has the protocol that crossed it).
    case socks4
    /// A SOCKS 5 proxy request, as for ``socks4``.
    case socks5
    /// IPsec ESP (RFC 4303), over IP protocol 50 or in UDP on port 4500 (NAT traversal, RFC 3948): encrypted
    /// traffic between two hosts; see ``FlowRecord/esp``.
    case ipsecESP = "ipsec-esp"
    /// QUIC (RFC 9000), versions 1 and 2: TLS 1.3 inside UDP, HTTP/3's transport; see ``FlowRecord/quic``. The
    /// ClientHello and ServerHello are read from its Initial packets (``FlowRecord/tls``); the rest of the handshake
    /// only with a key log.
    case quic
    /// WireGuard (UDP): an encrypted tunnel between two hosts, as Kubernetes CNIs encrypt node-to-node traffic
    /// (Calico, Cilium, Flannel's wireguard backend). Recognised by its handshake messages, or by four messages in a
    /// row of its format when the capture began after the handshake.
    case wireguard
    case unknownPlaintext = "unknown-plaintext"
    case unknownBinary = "unknown-binary"
    /// No payload was seen in either direction (a handshake only, or a port scan).
    case empty

    /// Whether the protocol's payload is encrypted by nature (without an upgrade).
    public var isEncryptedByNature: Bool {
        switch self {
        case .tls, .dtls, .ssh, .ipsecESP, .quic, .wireguard: true
        default: false
        }
    }
}

/// How Bulkhead decided which side of a flow is the client.
public enum ClientBasis: String, Codable, Sendable, CaseIterable {
    /// The side that sent the first SYN.
    case syn
    /// The side whose first bytes were a request (a ClientHello, an HTTP request, a startup message…).
    case content
    /// Neither: the side with the higher, ephemeral-looking port. A guess, and said to be one.
    case port
    /// UDP: the sender of the first datagram.
    case firstPacket = "first-packet"
}

/// A credential seen in clear. The secret itself is never kept: only its kind, the user name where the
/// protocol carries one, and a redacted description (e.g. `password: 8 characters`).
public struct Credential: Codable, Hashable, Sendable {
    /// `http-basic`, `http-bearer`, `redis-auth`, `postgresql-cleartext-password`, `postgresql-md5`,
    /// `mysql-native-auth`, `ftp`, `smtp-auth-plain`, `smtp-auth-login`, `imap-login`, `imap-auth-plain`,
    /// `pop3`, `pop3-auth-plain`, `mqtt`, `amqp-plain`, `amqp-amqplain`, `nats-password`, `nats-token`, `nats`, `stomp`,
    /// `http-token`, `http-api-key`, `http-url-secret`, `http-form-secret`, `http-json-secret`, `etcd-password`,
    /// `etcd-token`, `graphql-ws-init`, `kafka-sasl-plain`, `kafka-sasl-oauthbearer`, `zookeeper-digest`,
    /// `zookeeper-auth`, `zookeeper-sasl-digest`, `memcached-sasl-plain`.
    public var kind: String
    /// The user name, when the protocol sends one in clear (it is not a secret on its own). Never a user that
    /// ``userCouldBeSecret(_:)`` calls a possible key: the initializer withholds it.
    @ExplicitNull public var user: String?
    /// A description that never contains the secret, e.g. `password: 12 characters`.
    public var redacted: String
    /// Why it matters, where it is not obvious (e.g. a hash that can be attacked offline).
    @ExplicitNull public var note: String?

    /// `user` is kept only when it reads as a name (``userCouldBeSecret(_:)``): every extractor goes through here,
    /// so no protocol can report a key found in its user field.
    public init(kind: String, user: String?, redacted: String, note: String? = nil) {
        self.kind = kind
        let withheld = user.map { Self.userCouldBeSecret($0.utf8) } ?? false
        self.user = withheld ? nil : user
        self.redacted = redacted
        // Said, so that no user does not read as no user sent.
        let why = "the user field was sent but is not shown: it reads like a key or token"
        self.note = withheld ? (note.map { "\($0); \(why)" } ?? why) : note
    }

    enum CodingKeys: String, CodingKey { case kind, user, redacted, note }
}

/// One TLS alert seen on a flow.
public struct TLSAlert: Codable, Hashable, Sendable {
    /// `client` or `server`.
    public var from: String
    /// `warning`, `fatal`, or `unknown` when the alert was encrypted.
    public var level: String
    /// The IANA description (`handshake_failure`, `certificate_required`…), or `encrypted` when only its
    /// record was seen.
    public var description: String
    /// The alert code, when it was readable.
    @ExplicitNull public var code: Int?
    /// True when the alert was inferred from an encrypted record's size rather than read.
    public var inferred: Bool

    public init(from: String, level: String, description: String, code: Int?, inferred: Bool) {
        self.from = from
        self.level = level
        self.description = description
        self.code = code
        self.inferred = inferred
    }

    enum CodingKeys: String, CodingKey { case from, level, description, code, inferred }
}

/// Whether the client of a TLS flow authenticated with a certificate.
///
/// TLS ≤ 1.2 shows the messages in clear, so the first three states are exact. TLS 1.3 encrypts them; without
/// keys Bulkhead infers the state from the sizes of the client's first encrypted records (the `likely-` states).
public enum ClientCertificateState: String, Codable, Sendable, CaseIterable {
    case presented
    /// The server sent a CertificateRequest and the client answered with an empty Certificate.
    case declined
    case notRequested = "not-requested"
    case likelyPresented = "likely-presented"
    case likelyDeclined = "likely-declined"
    case likelyNotRequested = "likely-not-requested"
    case unknown

    /// Whether the state was inferred from record sizes rather than read.
    public var isHeuristic: Bool {
        switch self {
        case .likelyPresented, .likelyDeclined, .likelyNotRequested: true
        default: false
        }
    }

    /// Whether a client certificate was (or was very likely) presented.
    public var isPresented: Bool { self == .presented || self == .likelyPresented }
}

/// What a TLS (or DTLS) handshake on a flow showed.
public struct TLSSummary: Codable, Hashable, Sendable {
    /// Negotiated version: `1.0`, `1.1`, `1.2`, `1.3`, `ssl3`, `ssl2`; nil when no ServerHello was seen.
    @ExplicitNull public var version: String?
    /// Versions the client offered (supported_versions, else its legacy version).
    public var offeredVersions: [String]
    @ExplicitNull public var sni: String?
    /// ALPN protocol the server selected (TLS ≤ 1.2; encrypted in TLS 1.3).
    @ExplicitNull public var alpn: String?
    public var alpnOffered: [String]
    /// The negotiated cipher suite's IANA name (`TLS_AES_128_GCM_SHA256`), or `0xC0FF` when unknown.
    @ExplicitNull public var cipher: String?
    public var helloRetryRequest: Bool
    /// Session resumption (TLS ≤ 1.2 session id / ticket, TLS 1.3 pre-shared key).
    public var resumed: Bool
    /// Whether the handshake completed and the session carried on. See ``establishedBasis``.
    public var established: Bool
    /// `handshake` (TLS ≤ 1.2: both Finished messages after ChangeCipherSpec, no fatal alert) or
    /// `heuristic` (TLS 1.3: record sizes, see README) or `incomplete` (the capture does not show enough).
    public var establishedBasis: String
    @ExplicitNull public var certificateRequested: Bool?
    public var clientCertificate: ClientCertificateState
    /// Acceptable CA names the server listed in its CertificateRequest (TLS ≤ 1.2).
    public var acceptableCAs: [String]
    public var alerts: [TLSAlert]
    public var serverCertificates: [CertificateSummary]
    public var clientCertificates: [CertificateSummary]
    /// Sizes of the client's first encrypted records after the ServerHello (TLS 1.3): the evidence of the
    /// client-certificate heuristic.
    @ExplicitNull public var clientFlightRecordSizes: [Int]?
    /// Client random, hex: the key for matching SSLKEYLOGFILE entries.
    @ExplicitNull public var clientRandom: String?
    /// Whether the handshake was decrypted with secrets from a key log (then the client-certificate state,
    /// certificates and alerts are read, not inferred).
    public var decrypted: Bool
    /// Why secrets that matched this connection could not decrypt it (wrong key, unsupported cipher…).
    @ExplicitNull public var decryptionProblem: String?
    /// The protocol inside the TLS session, read from the first decrypted application record (never printed).
    @ExplicitNull public var innerProtocol: String?
    /// Signature algorithms a TLS 1.3 server listed in its (decrypted) CertificateRequest.
    public var requestedSignatureAlgorithms: [String]
    /// A TLS ≤ 1.2 renegotiation was seen (read from decrypted records; its messages count like the first
    /// handshake's, e.g. a client certificate requested only on renegotiation).
    public var renegotiated: Bool

    public init() {
        self.version = nil
        self.offeredVersions = []
        self.sni = nil
        self.alpn = nil
        self.alpnOffered = []
        self.cipher = nil
        self.helloRetryRequest = false
        self.resumed = false
        self.established = false
        self.establishedBasis = "incomplete"
        self.certificateRequested = nil
        self.clientCertificate = .unknown
        self.acceptableCAs = []
        self.alerts = []
        self.serverCertificates = []
        self.clientCertificates = []
        self.clientFlightRecordSizes = nil
        self.clientRandom = nil
        self.decrypted = false
        self.decryptionProblem = nil
        self.innerProtocol = nil
        self.requestedSignatureAlgorithms = []
        self.renegotiated = false
    }
}

/// Per-direction packet and byte counts.
public struct DirectionCounts: Codable, Hashable, Sendable {
    public var toServer: UInt64
    public var toClient: UInt64

    public init(toServer: UInt64 = 0, toClient: UInt64 = 0) {
        self.toServer = toServer
        self.toClient = toClient
    }
}

/// Everything Bulkhead concluded about one TCP or UDP flow.
public struct FlowRecord: Codable, Hashable, Sendable {
    /// The number of the flow's first packet, counted from 1 across the files of one analysis: within a
    /// single file it is the Wireshark frame number (`frame.number == id` finds it). Unique, and in order of
    /// first packet, whatever the number of threads.
    public var id: Int
    /// `"ip:port"`, IPv6 as `"[addr]:port"`.
    public var client: String
    public var server: String
    public var clientBasis: ClientBasis
    public var transport: Transport
    public var proto: ApplicationProtocol
    /// True when the payload is protected: TLS/DTLS/SSH, or a plaintext protocol upgraded to TLS.
    public var encrypted: Bool
    /// A plaintext protocol upgraded to TLS in the same connection (STARTTLS, SSLRequest, AUTH TLS…).
    public var starttls: Bool
    @ExplicitNull public var tls: TLSSummary?
    public var credentials: [Credential]
    /// Some packets were cut by the capture's snap length: what follows them was not analysed.
    public var truncated: Bool
    /// Stream irregularities: `gap-to-server`, `gap-to-client`, `midstream`, `out-of-order`, `retransmission`,
    /// `overlap-conflict`, `inspection-limit`, `malformed-tls`.
    public var anomalies: [String]
    public var firstSeen: Timestamp
    public var lastSeen: Timestamp
    public var packets: DirectionCounts
    /// Transport payload bytes.
    public var bytes: DirectionCounts
    /// The capture file the flow came from.
    @ExplicitNull public var file: String?
    /// The proxy tunnel (SOCKS, HTTP CONNECT) the client opened before the conversation in ``proto`` and
    /// ``tls``; nil for a flow that went through no proxy, and then absent from the JSON.
    public var tunnel: TunnelRecord?
    /// The tunnels the flow was found inside, outermost first (VXLAN, Geneve, GRE, ERSPAN, IP in IP); nil for a
    /// flow that crossed the capture point bare. Flows are told apart by their tunnels as well as their
    /// addresses and ports: overlays reuse inner addresses.
    public var encapsulation: [EncapsulationLayer]?
    /// The SPIs of an IPsec ESP flow (``ApplicationProtocol/ipsecESP``); nil for every other flow.
    public var esp: ESPSummary?
    /// The QUIC version and what the connection's packets showed (``ApplicationProtocol/quic``); nil for every other
    /// flow.
    public var quic: QUICSummary?
    /// The WebSocket the flow was upgraded to (an HTTP/1.1 `Upgrade: websocket` the server accepted); ``proto`` is
    /// then what its messages carry (`mqtt`, `stomp`…), or `http` when that is not a protocol Bulkhead knows. nil for
    /// every other flow, and then absent from the JSON.
    public var webSocket: WebSocketSummary?
    /// The HTTP/2 the flow was upgraded to (an HTTP/1.1 `Upgrade: h2c` request the server answered `101`); ``proto``
    /// is then `http2`, read from the frames after the handshake. nil for every other flow, and then absent from the
    /// JSON.
    public var h2cUpgrade: H2CUpgradeSummary?
    /// A container engine's API (Docker's, Podman's) that answered the flow's first request over plain HTTP; nil for
    /// every other flow, and then absent from the JSON.
    public var containerEngineAPI: ContainerEngineAPISummary?
    /// etcd's v3 API, answering the flow's gRPC calls over cleartext HTTP/2; nil for every other flow, and then absent
    /// from the JSON.
    public var etcdAPI: EtcdAPISummary?

    enum CodingKeys: String, CodingKey {
        case id, client, server, clientBasis, transport
        case proto = "protocol"
        case encrypted, starttls, tls, credentials, truncated, anomalies, firstSeen, lastSeen, packets, bytes, file
        case tunnel, encapsulation, esp, quic, webSocket, h2cUpgrade, containerEngineAPI, etcdAPI
    }

    // Inlinable: built once per flow from another module, a call made it build the record aside and copy it out (a
    // retain and release of every string and array in it).
    @inlinable
    public init(
        id: Int, client: String, server: String, clientBasis: ClientBasis, transport: Transport,
        proto: ApplicationProtocol, encrypted: Bool, starttls: Bool, tls: TLSSummary?, credentials: [Credential],
        truncated: Bool, anomalies: [String], firstSeen: Timestamp, lastSeen: Timestamp,
        packets: DirectionCounts, bytes: DirectionCounts, file: String?, tunnel: TunnelRecord? = nil,
        encapsulation: [EncapsulationLayer]? = nil, esp: ESPSummary? = nil, quic: QUICSummary? = nil,
        webSocket: WebSocketSummary? = nil, h2cUpgrade: H2CUpgradeSummary? = nil,
        containerEngineAPI: ContainerEngineAPISummary? = nil, etcdAPI: EtcdAPISummary? = nil
    ) {
        self.id = id
        self.client = client
        self.server = server
        self.clientBasis = clientBasis
        self.transport = transport
        self.proto = proto
        self.encrypted = encrypted
        self.starttls = starttls
        self.tls = tls
        self.credentials = credentials
        self.truncated = truncated
        self.anomalies = anomalies
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
        self.packets = packets
        self.bytes = bytes
        self.file = file
        self.tunnel = tunnel
        self.encapsulation = encapsulation
        self.esp = esp
        self.quic = quic
        self.webSocket = webSocket
        self.h2cUpgrade = h2cUpgrade
        self.containerEngineAPI = containerEngineAPI
        self.etcdAPI = etcdAPI
    }

    /// Whether ``tls`` describes a TLS handshake of the flow's own: TLS, QUIC's TLS 1.3, or a plaintext protocol's
    /// STARTTLS upgrade (a DTLS flow's summary holds only the version its first record named).
    @inlinable
    public var hasTLSHandshake: Bool { self.proto == .tls || self.proto == .quic || self.starttls }
}

/// A container engine's API that answered in clear: dockerd listening on `tcp://…:2375` without `--tlsverify`, or
/// `podman system service tcp:…`. Whoever reaches it can start privileged containers, unless an authorization plugin
/// refuses them.
public struct ContainerEngineAPISummary: Codable, Hashable, Sendable {
    /// `docker` or `podman`.
    public var engine: String
    /// The API version the engine answered with (`Api-Version`, or Podman's `Libpod-Api-Version`).
    public var apiVersion: String
    /// The engine's `Server` header (`Docker/24.0.7 (linux)`, `Libpod/4.3.1 (linux)`); nil when it sent none.
    @ExplicitNull public var server: String?

    public init(engine: String, apiVersion: String, server: String?) {
        self.engine = engine
        self.apiVersion = apiVersion
        self.server = server
    }

    enum CodingKeys: String, CodingKey { case engine, apiVersion, server }
}

/// etcd answering in clear: its v3 API (gRPC over cleartext HTTP/2, or its JSON gateway: etcd without `--cert-file`),
/// or its peer API between members (raft over plain HTTP: without `--peer-cert-file`). For a Kubernetes cluster etcd
/// holds every object, Secrets included.
public struct EtcdAPISummary: Codable, Hashable, Sendable {
    /// `client` (the v3 API clients call) or `peer` (the API members replicate the store over).
    public var interface: String
    /// The cluster's id, as etcd prints it (16 hexadecimal digits), from the header of an answer; nil when the only
    /// answer read was an error.
    @ExplicitNull public var clusterID: String?
    /// The answering member's id, likewise; nil where the answer does not name it (the peer API's).
    @ExplicitNull public var memberID: String?
    /// What the client called: over gRPC the methods called within the inspection window, without their package
    /// (`KV/Range`, `Auth/Authenticate`, `Lock/Lock`), in order, each once, at most eight; over HTTP/1.1 the first
    /// request's method and path (`GET /raft/stream/msgapp/…`, `POST /v3/kv/range`).
    public var methods: [String]

    public init(interface: String, clusterID: String?, memberID: String?, methods: [String]) {
        self.interface = interface
        self.clusterID = clusterID
        self.memberID = memberID
        self.methods = methods
    }

    enum CodingKeys: String, CodingKey { case interface, clusterID, memberID, methods }
}

/// A WebSocket (RFC 6455) a flow was upgraded to: what its opening handshake asked for and the server agreed to.
public struct WebSocketSummary: Codable, Hashable, Sendable {
    /// The upgrade request's path (`/ws`, `/mqtt`…), without its query (which may carry a token).
    public var path: String
    /// The subprotocol the server chose (`Sec-WebSocket-Protocol`: `mqtt`, `v12.stomp`…); nil when it chose none.
    @ExplicitNull public var subprotocol: String?
    /// The compression the server agreed to (`permessage-deflate`); nil when none. Compressed messages are read
    /// inflated.
    @ExplicitNull public var compression: String?

    public init(path: String, subprotocol: String?, compression: String?) {
        self.path = path
        self.subprotocol = subprotocol
        self.compression = compression
    }

    enum CodingKeys: String, CodingKey { case path, subprotocol, compression }
}

/// An HTTP/1.1 connection switched to cleartext HTTP/2 by the upgrade (RFC 7540 §3.2: `Upgrade: h2c`, answered
/// `101`), which curl `--http2` and Java's `HttpClient` send on `http://` URLs.
public struct H2CUpgradeSummary: Codable, Hashable, Sendable {
    /// The upgrade request's path, without its query (which may carry a token).
    public var path: String

    public init(path: String) {
        self.path = path
    }

    enum CodingKeys: String, CodingKey { case path }
}

/// What a QUIC flow's packets showed besides its TLS handshake.
public struct QUICSummary: Codable, Hashable, Sendable {
    /// `quic-v1`, `quic-v2`, `quic-draft-29`…; the number in hex (`0x…`) for a version Bulkhead does not read.
    public var version: String
    /// The server sent a Retry first (it asked the client to prove its address; RFC 9000 §8.1.2).
    public var retry: Bool
    /// A CONNECTION_CLOSE with a transport error that was readable (in an Initial packet, or decrypted with the key
    /// log): who sent it, the error's name and its code, `server: CONNECTION_REFUSED (0x2)`. A close that carries a
    /// TLS alert is in ``TLSSummary/alerts`` instead; NO_ERROR and an application's own close are not errors.
    @ExplicitNull public var transportError: String?

    public init(version: String, retry: Bool, transportError: String?) {
        self.version = version
        self.retry = retry
        self.transportError = transportError
    }

    enum CodingKeys: String, CodingKey { case version, retry, transportError }
}

/// A proxy tunnel at the start of a flow: the client asked the proxy (the flow's server) to connect it
/// onward, and what follows the proxy's answer is a conversation with that destination.
public struct TunnelRecord: Codable, Hashable, Sendable {
    /// The proxy the client connected to (the flow's server), `"ip:port"`.
    public var proxy: String
    /// Where the innermost granted tunnel leads, `"host:port"` as the client asked for it: the peer of the
    /// flow's inner protocol and TLS session. nil when no tunnel was granted.
    @ExplicitNull public var destination: String?
    /// Each proxy request, outermost first: a CONNECT sent through a SOCKS tunnel is the second.
    public var hops: [TunnelHop]

    public init(proxy: String, destination: String?, hops: [TunnelHop]) {
        self.proxy = proxy
        self.destination = destination
        self.hops = hops
    }

    enum CodingKeys: String, CodingKey { case proxy, destination, hops }
}

/// One proxy request of a tunnel and the proxy's answer.
public struct TunnelHop: Codable, Hashable, Sendable {
    /// `socks4`, `socks4a`, `socks5` or `http-connect`.
    public var kind: String
    /// The destination asked for, `"host:port"` (IPv6 as `"[addr]:port"`); nil when the request was unreadable.
    @ExplicitNull public var destination: String?
    /// `granted`, `refused`, `incomplete` (the capture or the inspection window ended before the answer),
    /// `malformed` (a length or field that cannot be right) or `unsupported` (a command or authentication
    /// method that is not a plain CONNECT Bulkhead can follow).
    public var outcome: String
    /// The proxy's answer code: SOCKS 4 CD (90 granted), SOCKS 5 REP (0 granted), the HTTP status.
    @ExplicitNull public var reply: Int?
    /// How the client authenticated to the proxy: `none`, `username-password` (SOCKS 5), `userid` (SOCKS 4),
    /// or the HTTP `Proxy-Authorization` scheme (`basic`…); nil when not seen.
    @ExplicitNull public var authentication: String?

    public init(kind: String, destination: String?, outcome: String, reply: Int?, authentication: String?) {
        self.kind = kind
        self.destination = destination
        self.outcome = outcome
        self.reply = reply
        self.authentication = authentication
    }

    enum CodingKeys: String, CodingKey { case kind, destination, outcome, reply, authentication }
}

// Absent values are written as explicit `null` (`@ExplicitNull`) so that every documented key is always present in
// JSON. The keys added for proxy tunnels, encapsulated, IPsec and QUIC traffic — `tunnel`, `encapsulation`, `esp` and
// `quic` — are the exception: plain optionals, which the synthesized encoder leaves out when nil, so that the JSON of
// every other flow stays byte for byte what it was.

extension TLSSummary {
    enum CodingKeys: String, CodingKey {
        case version, offeredVersions, sni, alpn, alpnOffered, cipher, helloRetryRequest, resumed, established
        case establishedBasis, certificateRequested, clientCertificate, acceptableCAs, alerts, serverCertificates
        case clientCertificates, clientFlightRecordSizes, clientRandom, decrypted, decryptionProblem, innerProtocol
        case requestedSignatureAlgorithms, renegotiated
    }
}
