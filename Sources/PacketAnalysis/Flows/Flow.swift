import BulkheadModel

extension UInt64 {
    @inline(__always)
    func rotated(by count: UInt64) -> UInt64 { (self << count) | (self >> (64 - count)) }
}

/// Identifies a flow regardless of direction: the lower (address, port) endpoint comes first.
struct FlowKey: Equatable {
    static func == (lhs: FlowKey, rhs: FlowKey) -> Bool {
        lhs.lowAddress == rhs.lowAddress && lhs.highAddress == rhs.highAddress && lhs.lowPort == rhs.lowPort
            && lhs.highPort == rhs.highPort && lhs.ipProtocol == rhs.ipProtocol
            && lhs.encapsulation == rhs.encapsulation
    }

    var lowAddress: IPAddress
    var highAddress: IPAddress
    var lowPort: UInt16
    var highPort: UInt16
    var ipProtocol: UInt8
    /// The ``EncapsulationPath/digest`` of the tunnels around the flow (direction-free), 0 for a bare flow: overlays
    /// reuse inner addresses, so the same 5-tuple in two VNIs or between two other hosts is another flow.
    var encapsulation: UInt64 = 0

    /// The key of `packet`'s flow and whether the packet travels from the low endpoint to the high one.
    @inline(__always)
    static func of(_ packet: DecodedPacket) -> (FlowKey, fromLow: Bool) {
        let sourceIsLow = (packet.source, packet.sourcePort) <= (packet.destination, packet.destinationPort)
        if sourceIsLow {
            return (
                FlowKey(
                    lowAddress: packet.source, highAddress: packet.destination, lowPort: packet.sourcePort,
                    highPort: packet.destinationPort, ipProtocol: packet.ipProtocol), true
            )
        }
        return (
            FlowKey(
                lowAddress: packet.destination, highAddress: packet.source, lowPort: packet.destinationPort,
                highPort: packet.sourcePort, ipProtocol: packet.ipProtocol), false
        )
    }

    /// A well-mixed 64-bit digest of `packet`'s flow, the same for both directions: picks the thread a flow belongs
    /// to (the flow table has a keyed hash of its own, ``SeededFlowKeyHashing``). Each endpoint is mixed on its own and
    /// the two are added, which does not depend on their order: the reading thread, which computes it for every
    /// packet, does not sort the endpoints into a key first (that and the key's copy were about 70 of the 230
    /// instructions it spent handing a packet out). It leaves the tunnel out (the decoding thread that shares flows out
    /// does not read tunnels): one inner 5-tuple in several tunnels goes to one thread, as several flows.
    @inline(__always)
    static func shardHash(of packet: DecodedPacket) -> UInt64 {
        let sum =
            Self.mixed(packet.source, packet.sourcePort) &+ Self.mixed(packet.destination, packet.destinationPort)
        return Self.avalanche(sum ^ UInt64(packet.ipProtocol))
    }

    @inline(__always)
    private static func mixed(_ address: IPAddress, _ port: UInt16) -> UInt64 {
        var mix = address.low &* 0x9E37_79B9_7F4A_7C15
        mix ^= address.high.rotated(by: 29) &* 0xC2B2_AE3D_27D4_EB4F
        mix ^= UInt64(port) << 40
        return Self.avalanche(mix)
    }

    /// splitmix64's finaliser: every input bit reaches every output bit.
    @inline(__always)
    private static func avalanche(_ value: UInt64) -> UInt64 {
        var mix = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mix = (mix ^ (mix >> 27)) &* 0x94D0_49BB_1331_11EB
        return mix ^ (mix >> 31)
    }

    var low: Endpoint { Endpoint(address: self.lowAddress, port: self.lowPort) }
    var high: Endpoint { Endpoint(address: self.highAddress, port: self.highPort) }
}

/// Stream irregularities, kept as bits while a flow is live and spelled out in its record.
struct FlowAnomalies: OptionSet {
    let rawValue: UInt16
    static let gapFromLow = FlowAnomalies(rawValue: 1 << 0)
    static let gapFromHigh = FlowAnomalies(rawValue: 1 << 1)
    static let midstream = FlowAnomalies(rawValue: 1 << 2)
    static let outOfOrder = FlowAnomalies(rawValue: 1 << 3)
    static let retransmission = FlowAnomalies(rawValue: 1 << 4)
    static let inspectionLimit = FlowAnomalies(rawValue: 1 << 5)
    static let malformedTLS = FlowAnomalies(rawValue: 1 << 6)
    static let idleTimeout = FlowAnomalies(rawValue: 1 << 7)
    /// Ended early: more flows were open than the analysis holds (``AnalysisOptions/openFlowLimit``).
    static let evicted = FlowAnomalies(rawValue: 1 << 8)
}

/// A TCP segment that arrived before the bytes preceding it, held until the hole fills.
struct PendingSegment {
    var sequence: UInt32
    var bytes: [UInt8]
    /// Length on the wire (more than `bytes.count` when the snap length cut the packet).
    var claimedLength: Int
}

/// One direction of a flow: packet counts, TCP sequence tracking and the bytes kept for inspection.
///
/// A value stored inside its ``Flow`` (not an object of its own): a capture of many short flows made and freed two
/// such objects per flow, and retained and released them at every packet.
struct FlowDirection {
    var packets: UInt64 = 0
    var payloadBytes: UInt64 = 0
    var nextSequence: UInt32 = 0
    var sequenceKnown = false
    var pending: [PendingSegment] = []
    var pendingBytes = 0
    /// The first bytes of the stream, kept while the flow is classified or its plaintext inspected.
    var buffer: [UInt8] = []
    /// False once nothing more from this direction is needed (inspection done, or a gap broke the stream).
    var inspecting = true
    var finSeen = false
    var synSequence: UInt32?

    mutating func release() {
        self.inspecting = false
        self.pending = []
        self.pendingBytes = 0
        self.buffer = []
    }
}

/// What the analyser is doing with a flow's bytes.
enum FlowPhase {
    /// Collecting first bytes until the protocol is known.
    case classifying
    /// Following a TLS handshake (directly, or after a STARTTLS-style upgrade).
    case tls
    /// A plaintext protocol: looking for credentials and an upgrade within the inspection window.
    case plaintext
    /// A proxy request (SOCKS, HTTP CONNECT) waiting for the rest of the handshake or the proxy's answer.
    case tunnelSetup
    /// An HTTP/1.1 request that may ask to upgrade the connection (to a WebSocket or to HTTP/2), waiting for its
    /// headers to be whole and for the server's answer (``HTTPUpgrade``).
    case upgradeHandshake
    /// Nothing more to learn from the payload; only counting.
    case done
}

/// The live state of one TCP or UDP flow.
final class Flow {
    // The sweep reads `lastSeen`, `transport` and `closed` of every live flow, most of which are no longer in any
    // cache: declared first, they share the object's first cache line with its reference count (Swift lays a class's
    // stored properties out in declaration order), one memory load per flow instead of two.
    let id: Int
    var lastSeen: Timestamp
    let transport: Transport
    var closed = false
    /// Seconds without packets after which a UDP flow has ended, when its protocol says (QUIC's idle timeout), else 0:
    /// the transport's default. Fits the padding before `key`.
    var idleLimit: UInt16 = 0
    let key: FlowKey
    /// Whether the low endpoint is the client (provisional until a SYN or content says so).
    var clientIsLow: Bool
    var clientBasis: ClientBasis
    /// A SYN fixed the roles; content may no longer swap them.
    var rolesFixed = false
    var low = FlowDirection()
    var high = FlowDirection()
    var firstSeen: Timestamp
    var phase = FlowPhase.classifying
    var proto: ApplicationProtocol?
    var tls: TLSSession?
    /// STARTTLS: the server's TLS start has not been found in its stream yet.
    var serverTLSPending = false
    var starttls = false
    var credentials: [Credential] = []
    var truncated = false
    var anomalies: FlowAnomalies = []
    var reset = false
    /// DNS queries seen on the flow and not answered yet: a DNS flow with none ends as a closed connection does.
    var dnsUnanswered: UInt16 = 0
    /// Windows of the server's plaintext passed over while its TLS start (after a STARTTLS) was looked for.
    var serverPlaintextWindowsPassed: UInt8 = 0
    var datagramDTLSVersion: UInt16?
    /// Proxy requests read at the start of the flow, outermost first; what follows the last granted one is
    /// classified as the flow's own content.
    var tunnelHops: [TunnelHop] = []
    /// The protocol of the outermost proxy request (reported when nothing crossed the tunnel).
    var tunnelProtocol: ApplicationProtocol?
    /// Credentials the client sent before the conversation ``proto`` names: to a proxy (a SOCKS 5 password, a
    /// `Proxy-Authorization` header), or in an HTTP/1.1 upgrade request (to a WebSocket, or h2c).
    var openingCredentials: [Credential] = []
    /// An HTTP/1.1 request that may ask to upgrade the connection: its handshake, and what the flow was upgraded to
    /// (nil for every other flow).
    var upgrade: FlowUpgrade?
    /// The WebSocket the flow was upgraded to; from then on each direction's bytes are its messages' payloads.
    var webSocket: FlowWebSocket? { self.upgrade?.webSocket }
    /// Where an HTTP CONNECT's request and answer end, searched as their bytes arrive (nil for other flows).
    var connectHeaders: FlowHeaderScans?
    /// A request with the shape of a container engine's or etcd's HTTP API: the answer is read for the server's word
    /// (nil for every other flow).
    var apiRequest: FlowAPIRequest?
    /// A cleartext HTTP/2 flow's requests and answers, read for etcd's API (nil for every other flow).
    var etcd: FlowEtcd?
    /// The tunnels the flow crossed (nil for a bare flow).
    var encapsulation: FlowEncapsulation?
    /// The SPIs of an IPsec ESP flow.
    var esp: FlowESP?
    /// A QUIC flow's connection and handshake.
    var quic: QUICSession?
    /// Datagrams in a row in WireGuard's transport format while no handshake was seen (see
    /// ``FlowAnalyzer/wireGuardMessage(_:)``).
    var wireGuardMessages: UInt8 = 0
    /// A UDP flow whose datagrams so far have QUIC's short header: watched for a connection the capture joined after
    /// its handshake (nil for every other flow).
    var quicShortHeaders: FlowQUICShortHeaders?

    init(id: Int, key: FlowKey, transport: Transport, clientIsLow: Bool, basis: ClientBasis, time: Timestamp) {
        self.id = id
        self.key = key
        self.transport = transport
        self.clientIsLow = clientIsLow
        self.clientBasis = basis
        self.firstSeen = time
        self.lastSeen = time
    }

    // The directions are reached through `withDirection`, which hands the stored value over in place: a getter would
    // copy it out (retaining its arrays), and coroutine accessors (`_read`, `_modify`) are not inlined here, while a
    // coroutine that is called allocates its frame on the heap (they cost more than the objects they replaced).

    /// Runs `body` on the direction the low endpoint sends (`fromLow`) or the high one, in place (to read or change
    /// it). `body` must not reach the flow's directions itself.
    @inline(__always)
    func withDirection<Result>(fromLow: Bool, _ body: (inout FlowDirection) -> Result) -> Result {
        fromLow ? body(&self.low) : body(&self.high)
    }

    /// Runs `body` on the client's direction (`client`) or the server's, in place.
    @inline(__always)
    func withDirection<Result>(client: Bool, _ body: (inout FlowDirection) -> Result) -> Result {
        self.withDirection(fromLow: client == self.clientIsLow, body)
    }

    /// Runs `body` on the bytes kept from the client (`client`) or the server.
    @inline(__always)
    func withBuffer<Result>(client: Bool, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        self.withDirection(client: client) { $0.buffer.withUnsafeBytes(body) }
    }

    @inline(__always)
    func side(fromLow: Bool) -> FlowSide { fromLow == self.clientIsLow ? .client : .server }
}

/// The tunnels around one packet, as seen and direction-free, with the digest that goes into its flow's key.
struct PacketEncapsulation {
    let seen: EncapsulationPath
    let identity: EncapsulationPath
    let digest: UInt64

    init(seen: EncapsulationPath) {
        self.seen = seen
        self.identity = seen.normalized
        self.digest = self.identity.digest
    }
}

/// The tunnels around a flow: the direction-free path that identifies them, and the path as the first packet of
/// each direction showed it (so the report can give the underlay source and destination of the client's packets).
final class FlowEncapsulation {
    let identity: EncapsulationPath
    var fromLow: EncapsulationPath?
    var fromHigh: EncapsulationPath?

    init(identity: EncapsulationPath) {
        self.identity = identity
    }

    /// The layers, with the underlay addresses of the client's packets (or the server's, reversed, when the client
    /// sent none that were seen).
    func records(clientIsLow: Bool) -> [EncapsulationLayer] {
        if let client = clientIsLow ? self.fromLow : self.fromHigh { return client.records(reversed: false) }
        if let server = clientIsLow ? self.fromHigh : self.fromLow { return server.records(reversed: true) }
        return self.identity.records(reversed: false)
    }
}

/// The SPIs an IPsec ESP flow used, per direction, in order of first appearance (bounded).
/// Where each side's HTTP headers end, searched as their bytes arrive (see ``HeadersEndScan``).
final class FlowHeaderScans {
    var client = HeadersEndScan()
    var server = HeadersEndScan()
}

/// A flow's HTTP/1.1 upgrade (``HTTPUpgrade``): its handshake while under way, and what the flow was upgraded to.
final class FlowUpgrade {
    /// Where each side's headers end, searched as their bytes arrive during the handshake.
    let headers = FlowHeaderScans()
    /// Whether the request's headers were whole and read for what they ask (``target``).
    var requestRead = false
    /// What the request asked to upgrade to, once read; nil for no upgrade.
    var target: HTTPUpgrade.Target?
    /// The WebSocket the server accepted.
    var webSocket: FlowWebSocket?
    /// Where a request that asked for h2c had the connection switched to HTTP/2, searched as the bytes arrive.
    var h2cScan = HTTPUpgrade.H2CSwitchScan()
    /// The HTTP/2 the server switched to.
    var h2c: H2CUpgradeSummary?
}

/// A flow's WebSocket, made when the server accepted the upgrade: what the handshake showed, and a frame reader for
/// each direction (each direction's bytes are frames from then on).
final class FlowWebSocket {
    /// What the handshake showed.
    let summary: WebSocketSummary
    var client = WebSocket.FrameReader()
    var server = WebSocket.FrameReader()

    init(_ summary: WebSocketSummary) {
        self.summary = summary
    }

    /// The messages' bytes in `bytes` (frames from one side, in order), unmasked.
    func payload(_ bytes: UnsafeRawBufferPointer, fromClient: Bool) -> [UInt8] {
        var output: [UInt8] = []
        if fromClient { self.client.read(bytes, into: &output) } else { self.server.read(bytes, into: &output) }
        return output
    }
}

/// A flow whose first request had the shape of a control plane's HTTP API, a container engine's
/// (``ContainerEngineAPI``) or etcd's (``EtcdAPI``): the answer is read for the server's word.
final class FlowAPIRequest {
    /// The API the request line has the shape of, once it is whole (it may be cut short in its first segment).
    var shape = HTTPAPIRequestShape.incomplete
    /// Whether the answer is still awaited.
    var awaitingAnswer = true
    /// Where the answer's headers end, searched as its bytes arrive.
    var answerHeaders = HeadersEndScan()
    /// The engine that answered, once its headers are read.
    var engine: ContainerEngineAPISummary?
    /// etcd, when it answered.
    var etcd: EtcdAPISummary?
}

/// A cleartext HTTP/2 flow read for etcd's API (``EtcdAPI``): boxed, so that every other flow carries one reference,
/// not the reader.
final class FlowEtcd {
    var reader = EtcdAPI.Reader()
}

/// The watch of a UDP flow that may be a QUIC connection joined mid-way (``QUICShortHeaders``): boxed, so that every
/// other flow carries one reference, not the watch.
final class FlowQUICShortHeaders {
    var watch = QUICShortHeaders()
}

final class FlowESP {
    var fromLow: [UInt32] = []
    var fromHigh: [UInt32] = []
    var udpEncapsulated: Bool

    init(udpEncapsulated: Bool) {
        self.udpEncapsulated = udpEncapsulated
    }

    func note(_ spi: UInt32, fromLow: Bool) {
        if fromLow {
            if self.fromLow.count < ESPSummary.spiLimit && !self.fromLow.contains(spi) { self.fromLow.append(spi) }
        } else {
            if self.fromHigh.count < ESPSummary.spiLimit && !self.fromHigh.contains(spi) { self.fromHigh.append(spi) }
        }
    }

    func summary(clientIsLow: Bool) -> ESPSummary {
        let client = clientIsLow ? self.fromLow : self.fromHigh
        let server = clientIsLow ? self.fromHigh : self.fromLow
        return ESPSummary(
            clientSPIs: client.map(ESPSummary.spiText), serverSPIs: server.map(ESPSummary.spiText),
            udpEncapsulated: self.udpEncapsulated)
    }
}
