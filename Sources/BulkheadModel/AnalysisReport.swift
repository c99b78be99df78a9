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
