import BulkheadModel
import Foundation

/// What makes `bulkhead merge` refuse its input, as a code a caller can switch on.
public enum FleetMergeErrorCode: String, Sendable, Hashable {
    /// The file cannot be read (missing, a folder, permission, too large).
    case unreadable
    /// The file is empty or its JSON stops before the document ends.
    case truncated
    /// Not JSON.
    case notJSON
    /// JSON, but not an audit report: a key missing or of the wrong type (the message names its JSON path).
    case invalidReport
    /// Another schema or another version of the audit schema.
    case foreignSchema
    /// The report has no cluster identity (`evidence.inventory.cluster`), and plain reports were not allowed.
    case noClusterIdentity
    /// Two reports come from different clusters (or one from a cluster and one from a plain host).
    case differentClusters
    /// Two reports name the same node.
    case duplicateNode
    /// Nothing to merge.
    case noReports
}

/// A refusal of `bulkhead merge`, naming the file.
public typealias FleetMergeError = CodedPathError<FleetMergeErrorCode>

/// What the merge reads of one node's audit report (`bulkhead audit --format json`, schema `bulkhead.audit/1`): the
/// judged edges and findings, the stages and completeness, and of the evidence only the inventory (the node's
/// cluster identity, the containers for the pictures) and the TLS checks per endpoint. The probe cells and the
/// captured flows stay in the node's report and are not decoded.
public struct NodeReport: Sendable {
    /// The file it was read from.
    public var path: String
    public var schema: String
    public var generatedAt: String
    public var host: String
    public var policy: String
    public var stages: [AuditStage]
    public var edges: [Edge]
    public var findings: [Finding]
    public var complete: Bool
    public var problems: [String]
    public var summary: AuditSummary
    public var inventory: InventoryReport?
    /// Per endpoint (`ip:port`), the verdict of the node's TLS check (the edges to it carry the whole check).
    public var tls: [String: TLSVerdict]

    /// The cluster and node the report's inventory was read on; nil for a plain host.
    public var cluster: ClusterNode? { self.inventory?.cluster }

    /// A node report from a report value (what `bulkhead audit` would have written to `path`).
    public init(report: AuditReport, path: String) {
        self.path = path
        self.schema = report.schema
        self.generatedAt = report.generatedAt
        self.host = report.host
        self.policy = report.policy
        self.stages = report.stages
        self.edges = report.edges
        self.findings = report.findings
        self.complete = report.complete
        self.problems = report.problems
        self.summary = report.summary
        self.inventory = report.evidence.inventory
        self.tls = (report.evidence.tls ?? [:]).mapValues(\.verdict)
    }

    /// The largest report read (a node's report with its captured flows can be large; a fleet report is not).
    public static let sizeLimit = 1 << 30

    /// Reads and checks one node report: a regular file within the limit, complete JSON, the audit schema this
    /// build writes, and every key the merge needs of the right type.
    ///
    /// - Throws: `FleetMergeError` naming the file, and for a value of the wrong shape its JSON path
    ///   (`edges[3].verdict`).
    public static func read(path: String) throws(FleetMergeError) -> NodeReport {
        let bytes: [UInt8]
        do { bytes = try InputFile.contents(of: path, limit: Self.sizeLimit) } catch {
            throw FleetMergeError(.unreadable, path: error.path, message: error.message)
        }
        return try Self.decode(bytes, path: path)
    }

    /// Checks and decodes the bytes of a node report read from `path` (named in every error).
    public static func decode(_ bytes: [UInt8], path: String) throws(FleetMergeError) -> NodeReport {
        let whitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
        guard let first = bytes.firstIndex(where: { !whitespace.contains($0) }),
            let last = bytes.lastIndex(where: { !whitespace.contains($0) })
        else {
            throw FleetMergeError(.truncated, path: path, message: "is empty: not an audit report")
        }
        if bytes[first] == UInt8(ascii: "{") && bytes[last] != UInt8(ascii: "}") {
            throw FleetMergeError(
                .truncated, path: path,
                message:
                    "is cut short: the JSON document stops after \(bytes.count) bytes without closing (a copy or a write that did not finish?)"
            )
        }
        // The probe cells and captured flows stay in the node's report: cut before decoding, not read. The edges
        // are read by hand when they are as the audit writes them, else (and for an error naming its JSON path) by
        // the decoder.
        let spans = JSONSkim.spans(of: [["evidence", "probe"], ["evidence", "capture"], ["edges"]], in: bytes)
        var cuts = spans.filter { $0.key != ["edges"] }.map { (range: $0.value, text: "null") }
        // The skim only finds where a value ends; what it cuts unread must still be JSON, as the decoder would
        // require of it: a corrupted or tampered report does not enter a fleet report.
        for cut in cuts.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) {
            if let problem = JSONGrammar.firstProblem(inValueAt: cut.range, of: bytes) {
                throw FleetMergeError(
                    problem.cutShort ? .truncated : .notJSON,
                    path: JSONInput.place(path, at: problem.offset, in: bytes),
                    message: "not JSON: \(problem.message)")
            }
        }
        var edges: [Edge]?
        if let range = spans[["edges"]], let read = EdgeReader.edges(bytes, range: range) {
            edges = read
            cuts.append((range, "[]"))
        }
        let document = cuts.isEmpty ? bytes : JSONSkim.replacing(cuts, in: bytes)
        var content: Content
        do { content = try JSONDecoder().decode(Content.self, from: Data(document)) } catch let error as DecodingError {
            throw Self.describe(error, path: path, document: document, cuts: cuts, original: bytes)
        } catch {
            throw FleetMergeError(.notJSON, path: path, message: "not JSON: \(error.localizedDescription)")
        }
        if let edges { content.report?.edges = edges }
        guard let report = content.report else {
            switch content.schema {
            case nil:
                throw FleetMergeError(
                    .foreignSchema, path: path,
                    message: "has no schema key: not a bulkhead audit report (bulkhead audit --format json)")
            case FleetReport.currentSchema:
                throw FleetMergeError(
                    .foreignSchema, path: path,
                    message:
                        "is a fleet report (\(FleetReport.currentSchema)): merge takes the nodes' own reports (bulkhead audit --format json, \(AuditReport.currentSchema))"
                )
            case let schema?:
                throw FleetMergeError(
                    .foreignSchema, path: path,
                    message:
                        "schema \(schema); this build merges \(AuditReport.currentSchema) (reports of bulkhead audit --format json)"
                )
            }
        }
        var node = report
        node.path = path
        return node
    }

    /// A decoding error said with the file, the line and column, and the JSON path of the value
    /// (`evidence.inventory.cluster.nodeID`). The decoder read `document`, the file's `original` bytes with `cuts`
    /// made: positions are found there and taken back to the file's.
    static func describe(
        _ error: DecodingError, path: String, document: [UInt8], cuts: [(range: Range<Int>, text: String)],
        original: [UInt8]
    ) -> FleetMergeError {
        if case .dataCorrupted(let context) = error, context.codingPath.isEmpty {
            guard let syntax = JSONGrammar.firstProblem(in: original) else {
                // JSON by its grammar, refused by the reader: say which of its limits, and where.
                if let limit = JSONGrammar.readerLimit(in: original) {
                    return FleetMergeError(
                        .notJSON, path: JSONInput.place(path, at: limit.offset, in: original),
                        message: "cannot be read: \(limit.message)")
                }
                return FleetMergeError(.notJSON, path: path, message: "not JSON: \(context.debugDescription)")
            }
            if syntax.cutShort {
                return FleetMergeError(
                    .truncated, path: path,
                    message:
                        "is cut short: \(syntax.message) after \(original.count) bytes (a copy or a write that did not finish?)"
                )
            }
            return FleetMergeError(
                .notJSON, path: JSONInput.place(path, at: syntax.offset, in: original),
                message: "not JSON: \(syntax.message)")
        }
        let (named, at, message) = JSONInput.explain(error)
        let located =
            JSONInput.offset(of: at, in: document).map {
                JSONInput.place(path, at: Self.originalOffset($0, cuts: cuts), in: original)
            } ?? path
        // A key missing: most likely a report of another version of bulkhead.
        let version = if case .keyNotFound = error { " (not an audit report of this version)" } else { "" }
        return FleetMergeError(
            .invalidReport, path: located, message: "\(JSONInput.path(named)): \(message)\(version)")
    }

    /// Where byte `offset` of the cut document was in the file: past each cut before it, the cut's length is the
    /// file's, not its replacement's; within a replacement, the cut value's first byte.
    static func originalOffset(_ offset: Int, cuts: [(range: Range<Int>, text: String)]) -> Int {
        var shift = 0
        for cut in cuts.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) {
            let start = cut.range.lowerBound + shift  // where the replacement starts in the cut document
            if offset < start { break }
            if offset < start + cut.text.utf8.count { return cut.range.lowerBound }
            shift += cut.text.utf8.count - cut.range.count
        }
        return offset - shift
    }

    /// The document: its schema first, and the rest only when the schema is the audit's (another schema is refused
    /// by name, not by the first key it lacks).
    struct Content: Decodable {
        var schema: String?
        var report: NodeReport?

        enum Keys: String, CodingKey {
            case schema, generatedAt, host, policy, stages, edges, findings, complete, problems, summary, evidence
        }

        enum EvidenceKeys: String, CodingKey { case inventory, tls }

        /// Of an endpoint's TLS check, its verdict.
        struct Check: Decodable { var verdict: TLSVerdict }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            self.schema = try container.decodeIfPresent(String.self, forKey: .schema)
            guard self.schema == AuditReport.currentSchema else { return }
            let evidence = try container.nestedContainer(keyedBy: EvidenceKeys.self, forKey: .evidence)
            self.report = NodeReport(
                path: "", schema: AuditReport.currentSchema,
                generatedAt: try container.decode(String.self, forKey: .generatedAt),
                host: try container.decode(String.self, forKey: .host),
                policy: try container.decode(String.self, forKey: .policy),
                stages: try container.decode([AuditStage].self, forKey: .stages),
                edges: try container.decode([Edge].self, forKey: .edges),
                findings: try container.decode([Finding].self, forKey: .findings),
                complete: try container.decode(Bool.self, forKey: .complete),
                problems: try container.decode([String].self, forKey: .problems),
                summary: try container.decode(AuditSummary.self, forKey: .summary),
                inventory: try evidence.decodeIfPresent(InventoryReport.self, forKey: .inventory),
                tls: (try evidence.decodeIfPresent([String: Check].self, forKey: .tls) ?? [:]).mapValues(\.verdict))
        }
    }

    init(
        path: String, schema: String, generatedAt: String, host: String, policy: String, stages: [AuditStage],
        edges: [Edge], findings: [Finding], complete: Bool, problems: [String], summary: AuditSummary,
        inventory: InventoryReport?, tls: [String: TLSVerdict]
    ) {
        self.path = path
        self.schema = schema
        self.generatedAt = generatedAt
        self.host = host
        self.policy = policy
        self.stages = stages
        self.edges = edges
        self.findings = findings
        self.complete = complete
        self.problems = problems
        self.summary = summary
        self.inventory = inventory
        self.tls = tls
    }

    /// Reads every file, in parallel (decoding is the merge's main cost); the first refusal in argument order wins.
    public static func readAll(paths: [String]) throws(FleetMergeError) -> [NodeReport] {
        let results = ResultSlots(count: paths.count)
        DispatchQueue.concurrentPerform(iterations: paths.count) { index in
            let result = Result { () throws(FleetMergeError) -> NodeReport in try Self.read(path: paths[index]) }
            results.set(index, result)
        }
        var reports: [NodeReport] = []
        for result in results.values {
            switch result {
            case .success(let report): reports.append(report)
            case .failure(let error): throw error
            case nil: throw FleetMergeError(.unreadable, path: "-", message: "a report was not read")
            }
        }
        return reports
    }
}

/// Results filled in by concurrent readers, one slot each.
private final class ResultSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [Result<NodeReport, FleetMergeError>?]

    init(count: Int) { self.slots = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: Result<NodeReport, FleetMergeError>) {
        self.lock.lock()
        self.slots[index] = value
        self.lock.unlock()
    }

    var values: [Result<NodeReport, FleetMergeError>?] {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.slots
    }
}
