import BulkheadModel
import Foundation
import Policy
import Reachability

/// A key of `expect.reachability`: `source -> destination[@network] proto[/port]`, names with `*`/`?` wildcards.
struct ReachabilityPattern: Hashable, Sendable {
    var source: String
    var destination: String
    var network: String?
    /// `tcp`, `udp`, `icmp` or `*`.
    var proto: String
    /// nil: any port.
    var port: Int?
    /// `tcp/*`: written as a wildcard.
    var anyPort = false

    init?(_ text: String) {
        let sides = text.components(separatedBy: "->")
        guard sides.count == 2 else { return nil }
        let source = sides[0].trimmingCharacters(in: .whitespaces)
        let rest = sides[1].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard !source.isEmpty, !source.contains(" "), rest.count == 2 else { return nil }
        let target = rest[0].split(separator: "@", maxSplits: 1).map(String.init)
        guard let destination = target.first, !destination.isEmpty else { return nil }
        self.source = source
        self.destination = destination
        self.network = target.count == 2 ? target[1] : nil
        let protoParts = rest[1].lowercased().split(separator: "/", maxSplits: 1).map(String.init)
        guard let proto = protoParts.first, ["tcp", "udp", "icmp", "*"].contains(proto) else { return nil }
        self.proto = proto
        if protoParts.count == 2 && protoParts[1] == "*" {
            guard proto == "tcp" || proto == "udp" else { return nil }
            self.anyPort = true
        } else if protoParts.count == 2 {
            guard proto == "tcp" || proto == "udp", let port = Int(protoParts[1]), (1...65535).contains(port) else {
                return nil
            }
            self.port = port
        }
    }

    func matches(_ key: CellKey) -> Bool {
        Selector.glob(self.source, matches: key.source)
            && Selector.glob(self.destination, matches: key.destination)
            && (self.network.map { network in key.network.map { Selector.glob(network, matches: $0) } ?? false } ?? true)
            && (self.proto == "*" || self.proto == key.proto)
            && (self.port == nil || self.port == key.port)
    }

    var hasWildcards: Bool {
        self.anyPort
            || "\(self.source)\(self.destination)\(self.network ?? "")\(self.proto)".contains { $0 == "*" || $0 == "?" }
    }
}

/// A cell named with the scenario's own names.
struct CellKey: Hashable, Sendable, CustomStringConvertible {
    var source: String
    var destination: String
    var network: String?
    var proto: String
    var port: Int?

    var description: String {
        "\(self.source) -> \(self.destination)\(self.network.map { "@\($0)" } ?? "") \(self.proto)\(self.port.map { "/\($0)" } ?? "")"
    }
}

/// How a probed matrix compares with `expect.reachability`.
public struct ReachabilityComparison: Codable, Sendable {
    public struct Mismatch: Codable, Sendable, Hashable {
        public var cell: String
        public var expected: String
        public var observed: String
        /// The expectation entry that matched the cell (nil: none did).
        @ExplicitNull public var entry: String?
    }

    /// Cells whose state (or violation) differs from the entry that matched them, and cells no entry matched.
    public var mismatches: [Mismatch]
    /// Entries without wildcards that matched no probed cell.
    public var unusedEntries: [String]
    public var cellsCompared: Int
    public var matches: Bool { self.mismatches.isEmpty && self.unusedEntries.isEmpty }
}

/// The scenario side of reachability: the probe options and policy a scenario declares, and the comparison of a
/// probed matrix with `expect.reachability`.
public enum ScenarioProbe {
    public static func options(for scenario: Scenario) -> ProbeOptions {
        var options = ProbeOptions()
        if let attempts = scenario.probe?.attempts { options.attempts = max(1, attempts) }
        if let timeout = scenario.probe?.timeout, timeout > 0 {
            options.tcpTimeout = timeout
            options.udpTimeout = timeout
            options.icmpTimeout = timeout
        }
        options.extraPorts = (scenario.probe?.ports ?? []).compactMap(PortSpec.init)
        options.icmp = scenario.probe?.icmp ?? true
        options.udp = scenario.probe?.udp ?? true
        return options
    }

    /// The scenario's policy with engine-side names, or Docker's intent when it has none.
    public static func policy(for scenario: Scenario) -> (Policy, String) {
        guard let policy = scenario.policy else {
            return (.dockerDefault, "docker default (the scenario has no policy)")
        }
        return (policy.qualified(prefix: "\(scenario.name)-"), "scenario \(scenario.name)")
    }

    /// Compares every probed cell with the scenario's expected matrix.
    public static func compare(_ scenario: Scenario, cells: [ReachabilityCell]) -> ReachabilityComparison {
        let prefix = "\(scenario.name)-"
        func local(_ name: String) -> String { name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name }
        let entries = (scenario.expect?.reachability ?? [:]).compactMap { key, value in
            ReachabilityPattern(key).map { (key, $0, value) }
        }
        // Exact entries first, then the more specific wildcard ones: the first match decides.
        .sorted { ($0.1.hasWildcards ? 1 : 0, -$0.0.count, $0.0) < ($1.1.hasWildcards ? 1 : 0, -$1.0.count, $1.0) }
        var used = Set<String>()
        var mismatches: [ReachabilityComparison.Mismatch] = []
        for cell in cells {
            let key = CellKey(
                source: local(cell.source),
                destination: cell.destinationKind == .gateway ? "host" : local(cell.destinationName),
                network: cell.network.map(local), proto: cell.protocol.rawValue, port: cell.port
            )
            let observed = cell.state.rawValue + (cell.violation.map { " (\($0.rawValue))" } ?? "")
            guard let (text, _, expected) = entries.first(where: { $0.1.matches(key) }) else {
                mismatches.append(.init(cell: key.description, expected: "(no entry)", observed: observed, entry: nil))
                continue
            }
            used.insert(text)
            let violation = cell.violation?.rawValue ?? "none"
            let expectedViolation = expected.violation ?? "none"
            if expected.state != cell.state || expectedViolation != violation {
                let expectedText =
                    expected.state.rawValue + (expectedViolation == "none" ? "" : " (\(expectedViolation))")
                mismatches.append(.init(cell: key.description, expected: expectedText, observed: observed, entry: text))
            }
        }
        let unused = entries.filter { !$0.1.hasWildcards && !used.contains($0.0) }.map(\.0).sorted()
        return ReachabilityComparison(
            mismatches: mismatches.sorted { $0.cell < $1.cell }, unusedEntries: unused, cellsCompared: cells.count)
    }
}
