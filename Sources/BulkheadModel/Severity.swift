/// How much a finding matters, from `info` to `critical`. Ordered: `critical > high > … > info`.
public enum Severity: String, Codable, Sendable, CaseIterable, Comparable {
    case info
    case low
    case medium
    case high
    case critical

    private var rank: Int {
        switch self {
        case .info: 0
        case .low: 1
        case .medium: 2
        case .high: 3
        case .critical: 4
        }
    }

    public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}
