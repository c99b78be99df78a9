/// Totals for one `analyze` run.
public struct AnalysisSummary: Codable, Hashable, Sendable {
    public var files: [String]
    public var packets: UInt64
    /// Captured bytes of all packets (frame lengths as captured).
    public var bytes: UInt64
    public var flows: Int
    /// Flow count per ``ApplicationProtocol`` raw value.
    public var byProtocol: [String: Int]
    /// TLS flow count per ``ClientCertificateState`` raw value.
    public var byClientCertificate: [String: Int]
    public var plaintextFlows: Int
    public var encryptedFlows: Int
    public var tlsFlows: Int
    /// TLS flows where the client presented (or very likely presented) a certificate.
    public var mutualTLSFlows: Int
    /// TLS flows whose handshake was decrypted with key-log secrets.
    public var decryptedFlows: Int
    /// One line per key log source: lines read, secrets, connections matched and not, malformed lines.
    public var keyLogs: [String]
    public var findingsBySeverity: [String: Int]
    /// Packets whose link or IP layer Bulkhead does not decode (ARP, ICMP, other link types…).
    public var otherPackets: UInt64
    /// IP fragments (counted, not reassembled).
    public var ipFragments: UInt64
    /// Packets cut by the snap length.
    public var truncatedPackets: UInt64
    /// Packets with impossible headers (bad lengths, bad offsets), skipped.
    public var malformedPackets: UInt64
    public var durationSeconds: Double
    /// False when part of the input could not be examined (a damaged or truncated file, a file of a folder that
    /// could not be read, an interface whose link type is not decoded): a clean result then proves nothing about
    /// the rest. `analyze` exits 3.
    public var complete: Bool
    /// What could not be examined, each with its file and byte offset.
    public var problems: [AnalysisProblem]

    public init() {
        self.files = []
        self.packets = 0
        self.bytes = 0
        self.flows = 0
        self.byProtocol = [:]
        self.byClientCertificate = [:]
        self.plaintextFlows = 0
        self.encryptedFlows = 0
        self.tlsFlows = 0
        self.mutualTLSFlows = 0
        self.decryptedFlows = 0
        self.keyLogs = []
        self.findingsBySeverity = [:]
        self.otherPackets = 0
        self.ipFragments = 0
        self.truncatedPackets = 0
        self.malformedPackets = 0
        self.durationSeconds = 0
        self.complete = true
        self.problems = []
    }

    private enum CodingKeys: String, CodingKey {
        case files, packets, bytes, flows, byProtocol, byClientCertificate, plaintextFlows, encryptedFlows, tlsFlows,
            mutualTLSFlows
        case decryptedFlows, keyLogs, findingsBySeverity, otherPackets, ipFragments, truncatedPackets, malformedPackets,
            durationSeconds
        case complete, problems
    }

    /// Reads reports written before `complete` and `problems` existed as complete with no problem.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.files = try container.decode([String].self, forKey: .files)
        self.packets = try container.decode(UInt64.self, forKey: .packets)
        self.bytes = try container.decode(UInt64.self, forKey: .bytes)
        self.flows = try container.decode(Int.self, forKey: .flows)
        self.byProtocol = try container.decode([String: Int].self, forKey: .byProtocol)
        self.byClientCertificate = try container.decode([String: Int].self, forKey: .byClientCertificate)
        self.plaintextFlows = try container.decode(Int.self, forKey: .plaintextFlows)
        self.encryptedFlows = try container.decode(Int.self, forKey: .encryptedFlows)
        self.tlsFlows = try container.decode(Int.self, forKey: .tlsFlows)
        self.mutualTLSFlows = try container.decode(Int.self, forKey: .mutualTLSFlows)
        self.decryptedFlows = try container.decode(Int.self, forKey: .decryptedFlows)
        self.keyLogs = try container.decode([String].self, forKey: .keyLogs)
        self.findingsBySeverity = try container.decode([String: Int].self, forKey: .findingsBySeverity)
        self.otherPackets = try container.decode(UInt64.self, forKey: .otherPackets)
        self.ipFragments = try container.decode(UInt64.self, forKey: .ipFragments)
        self.truncatedPackets = try container.decode(UInt64.self, forKey: .truncatedPackets)
        self.malformedPackets = try container.decode(UInt64.self, forKey: .malformedPackets)
        self.durationSeconds = try container.decode(Double.self, forKey: .durationSeconds)
        self.problems = try container.decodeIfPresent([AnalysisProblem].self, forKey: .problems) ?? []
        self.complete = try container.decodeIfPresent(Bool.self, forKey: .complete) ?? self.problems.isEmpty
    }
}

/// Part of a capture analysis's input that could not be examined, and where.
public struct AnalysisProblem: Codable, Hashable, Sendable {
    /// The capture file (or folder) at fault.
    public var file: String
    /// Byte offset in the file where reading stopped or the damage starts; null when there is none (a file that
    /// cannot be opened, a folder) or it is not a place in the file (a compressed file's damage, whose position in
    /// the decompressed bytes the message says in words). Always written, as `null` when absent.
    @ExplicitNull public var offset: Int?
    /// A stable word for scripts: `truncated`, `malformed`, `not-a-capture`, `unreadable`, `unsupported-link-type`,
    /// `not-a-regular-file`, `undecodable`.
    public var code: String
    public var message: String

    public init(file: String, offset: Int?, code: String, message: String) {
        self.file = file
        self.offset = offset
        self.code = code
        self.message = message
    }
}

/// The JSON document `bulkhead analyze --format json` writes: `{ "flows", "findings", "summary" }`.
public struct AnalysisReport: Codable, Sendable {
    public var flows: [FlowRecord]
    public var findings: [Finding]
    public var summary: AnalysisSummary

    public init(flows: [FlowRecord], findings: [Finding], summary: AnalysisSummary) {
        self.flows = flows
        self.findings = findings
        self.summary = summary
    }
}
