/// One thing wrong (or worth knowing), with how much it matters and where it was seen.
///
/// Findings from many flows of the same kind towards the same server are folded into one finding whose
/// ``flowCount`` says how many flows showed it and ``flowIDs`` names the first few.
public struct Finding: Codable, Hashable, Sendable {
    /// The kind of finding; encoded as its stable identifier (`plaintext-flow`, `credentials-in-cleartext`…).
    public var kind: FindingKind
    public var severity: Severity
    /// One line a person reads first.
    public var title: String
    /// What was seen and why it matters.
    public var detail: String
    /// The server endpoint (`ip:port`) or other location the finding is about.
    @ExplicitNull public var location: String?
    public var flowCount: Int
    /// Up to ten flow ids that showed it.
    public var flowIDs: [Int]

    /// A finding of `kind`, at `severity` when the emitter judges it by context, else at the kind's default.
    public init(
        kind: FindingKind, severity: Severity? = nil, title: String, detail: String, location: String?,
        flowCount: Int = 0, flowIDs: [Int] = []
    ) {
        self.kind = kind
        self.severity = severity ?? kind.defaultSeverity
        self.title = title
        self.detail = detail
        self.location = location
        self.flowCount = flowCount
        self.flowIDs = flowIDs
    }

    enum CodingKeys: String, CodingKey { case kind, severity, title, detail, location, flowCount, flowIDs }
}
