import BulkheadModel
import PacketAnalysis

/// Why a live capture could not start (or its file could not be written). Problems met once it runs (an
/// interface that vanished) are not errors: they are in ``LiveCaptureResult/problems``.
public struct LiveCaptureError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem it is; stable for scripts and tests.
    public enum Code: String, Hashable, Sendable {
        /// Capturing needs root or CAP_NET_RAW (and CAP_NET_ADMIN for promiscuous mode).
        case permissionDenied = "permission-denied"
        /// No interface of that name exists.
        case noSuchInterface = "no-such-interface"
        /// The interface exists but cannot be captured on (down, wrong type, libpcap error).
        case cannotCapture = "cannot-capture"
        /// A link type the analysis does not decode.
        case unsupportedLinkType = "unsupported-link-type"
        /// The BPF filter does not compile.
        case badFilter = "bad-filter"
        /// The capture file cannot be created, written or renamed into place.
        case cannotWrite = "cannot-write"
        /// Nothing to capture on (no interface given, no bridge network in the inventory).
        case noInterfaces = "no-interfaces"
    }

    public var code: Code
    /// The interface at fault, when there is one.
    public var interface: String?
    /// The file at fault, when there is one.
    public var file: String?
    public var message: String

    public init(_ code: Code, interface: String? = nil, file: String? = nil, _ message: String) {
        self.code = code
        self.interface = interface
        self.file = file
        self.message = message
    }

    public var description: String {
        if let interface { return "interface \(interface): \(self.message)" }
        if let file { return "\(file): \(self.message)" }
        return self.message
    }
}

/// What happened on one capture interface.
public struct InterfaceReport: Codable, Hashable, Sendable {
    public var name: String
    /// The Docker network whose bridge it is, when known.
    @ExplicitNull public var network: String?
    /// LINKTYPE_* of the interface (1 = Ethernet).
    public var linkType: UInt32
    public var snapLength: Int
    /// Packets and captured bytes delivered to Bulkhead.
    public var packets: UInt64
    public var bytes: UInt64
    /// Packets the kernel dropped because Bulkhead did not keep up (`pcap_stats`), when known.
    @ExplicitNull public var dropped: UInt64?
    /// `captured` (ran until the end), or `failed` (stopped early: see `problem`).
    public var state: String
    @ExplicitNull public var problem: String?

    public init(
        name: String, network: String?, linkType: UInt32, snapLength: Int, packets: UInt64 = 0, bytes: UInt64 = 0,
        dropped: UInt64? = nil, state: String = "captured", problem: String? = nil
    ) {
        self.name = name
        self.network = network
        self.linkType = linkType
        self.snapLength = snapLength
        self.packets = packets
        self.bytes = bytes
        self.dropped = dropped
        self.state = state
        self.problem = problem
    }

    enum CodingKeys: String, CodingKey {
        case name, network, linkType, snapLength, packets, bytes, dropped, state, problem
    }
}

/// One flow seen live, with where it was seen and who its endpoints are.
public struct LiveFlow: Sendable {
    /// The flow exactly as `analyze` reports it (same JSON schema).
    public var record: FlowRecord
    /// The interface it was captured on.
    public var interface: String
    /// The container (or `host (network X)`) at each end, from the inventory; nil when unknown.
    public var clientName: String?
    public var serverName: String?

    public init(record: FlowRecord, interface: String, clientName: String?, serverName: String?) {
        self.record = record
        self.interface = interface
        self.clientName = clientName
        self.serverName = serverName
    }
}

/// Why the capture stopped.
public enum CaptureStopReason: String, Codable, Sendable {
    /// `--duration` elapsed.
    case duration
    /// `--packets` were captured.
    case packets
    /// SIGINT/SIGTERM, or ``CaptureStop/request()``.
    case signal
    /// Every interface failed.
    case interfacesFailed = "interfaces-failed"
}

/// The outcome of ``LiveCapture/run(interfaces:duration:packets:filter:write:options:names:stop:progress:onFlow:)``.
public struct LiveCaptureResult: Sendable {
    /// Findings, totals and warnings, as `analyze` reports them for a file with the same packets.
    public var analysis: CaptureAnalysisResult
    /// Every flow, in id order, with its interface and endpoint names.
    public var flows: [LiveFlow]
    /// Per interface, in the order given (the pcapng interface ids).
    public var interfaces: [InterfaceReport]
    /// The names of the addresses seen in flows (`"198.18.230.2": "web"`).
    public var endpoints: [String: String]
    /// False when an interface failed mid-capture or the capture file could not be completed.
    public var complete: Bool
    /// What went wrong, one line each, naming the interface or file.
    public var problems: [String]
    public var stoppedBy: CaptureStopReason
    /// The pcapng file written, if any.
    public var written: String?
    public var durationSeconds: Double
}

/// A live capture's progress, for a status line.
public struct CaptureProgress: Sendable {
    /// Per interface: name, packets and captured bytes so far.
    public var interfaces: [(name: String, packets: UInt64, bytes: UInt64)]
    public var elapsedSeconds: Double
}
