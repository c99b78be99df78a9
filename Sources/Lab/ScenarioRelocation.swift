import BulkheadModel
import Foundation
import Policy

/// Moves a scenario off subnets this host already uses: each /24 holding a network whose subnet is taken goes to a
/// free /24 of 198.18.0.0/15, and every address of the old /24 written anywhere in the file (static addresses,
/// gateways, policy CIDRs, certificate SANs, expected findings' endpoints, traffic commands) moves with it.
///
/// Why the file's text and not the parsed scenario: addresses appear in free-form strings (a traffic command's
/// `redis-cli -h 198.18.41.50`, a finding's `cache 198.18.41.50:6379/tcp`), and a scenario is only consistent if
/// all of them move together. The file may use only 198.18.0.0/15, so a dotted prefix like `198.18.41.` names one
/// /24 wherever it stands.
public struct ScenarioRelocation: Sendable, Equatable {
    /// One network moved.
    public struct Move: Sendable, Equatable, CustomStringConvertible, Encodable {
        public var network: String
        public var from: String
        public var to: String
        /// What holds the old subnet: `Docker network ci (198.18.40.0/24)`.
        public var heldBy: String

        public init(network: String, from: String, to: String, heldBy: String) {
            self.network = network
            self.from = from
            self.to = to
            self.heldBy = heldBy
        }

        public var description: String {
            "network \(self.network) moved from \(self.from) to \(self.to) (\(self.from) overlaps \(self.heldBy))"
        }
    }

    /// The networks moved, in the file's order; empty when every declared subnet is free.
    public var moves: [Move]
    /// Each moved /24 as its dotted prefix: `198.18.40.` → `198.19.40.`.
    public var prefixes: [String: String]

    /// Plans the moves for `scenario` on a host using `space`.
    ///
    /// A taken /24 goes to the /24 with the same third octet in the other half of 198.18.0.0/15 when that one is
    /// free (198.18.40.0/24 → 198.19.40.0/24: the addresses stay recognisable), otherwise to the first free /24.
    ///
    /// - Throws: ``ScenarioError`` when a taken network is larger than a /24 (its addresses are not one prefix of
    ///   the text), or when no free /24 is left.
    public static func plan(_ scenario: Scenario, around space: LabAddressSpace, path: String) throws(ScenarioError)
        -> ScenarioRelocation
    {
        let ownBlocks = Set(scenario.networks.compactMap { Self.block(of: $0.subnet) })
        // Blocks are /24 numbers (an address shifted right by 8): 198.18.0.0/15 is 512 of them, and a block's mirror
        // in the other half differs in the lowest bit of the second octet.
        let first = UInt32(198) << 16 | UInt32(18) << 8
        var prefixes: [String: String] = [:]
        var moves: [Move] = []
        var chosen = Set<UInt32>()
        for network in scenario.networks {
            guard let holder = space.holder(overlapping: network.subnet) else { continue }
            guard let block = Self.block(of: network.subnet) else {
                throw ScenarioError(
                    .invalid, path: path,
                    message:
                        "networks.\(network.name).subnet \(network.subnet) overlaps \(holder), and only networks of a /24 or smaller can be relocated"
                )
            }
            if prefixes[Self.dotted(block)] == nil {
                let candidates = [block ^ 0x100] + (first..<(first + 512))
                let free = candidates.first { candidate in
                    !ownBlocks.contains(candidate) && !chosen.contains(candidate)
                        && space.holder(overlapping: "\(Self.dotted(candidate))0/24") == nil
                }
                guard let free else {
                    throw ScenarioError(
                        .invalid, path: path,
                        message:
                            "networks.\(network.name).subnet \(network.subnet) overlaps \(holder), and no /24 of 198.18.0.0/15 is free to move it to"
                    )
                }
                prefixes[Self.dotted(block)] = Self.dotted(free)
                chosen.insert(free)
            }
            moves.append(
                Move(
                    network: network.name, from: network.subnet,
                    to: Self.rewrite(network.subnet, prefixes: prefixes), heldBy: holder.description))
        }
        return ScenarioRelocation(moves: moves, prefixes: prefixes)
    }

    /// `text` with every address of a moved /24 in its new /24.
    public func apply(to text: String) -> String { Self.rewrite(text, prefixes: self.prefixes) }

    /// Refuses a move that would change what a range wider than a /24 in the file means (a policy's
    /// `cidr: 198.18.40.0/23` over two networks of which one moves): such a range moves only if its first /24 does,
    /// so each moved network must be inside the range after the move exactly when it was before.
    ///
    /// - Throws: ``ScenarioError`` naming the range and the network.
    func checkWideRanges(in text: String, path: String) throws(ScenarioError) {
        for range in Self.cidrs(in: text) {
            guard let (_, prefix) = CIDR.parse(range), prefix < 24 else { continue }
            let moved = Self.rewrite(range, prefixes: self.prefixes)
            for move in self.moves
            where CIDR.overlap(range, move.from) != CIDR.overlap(moved, move.to) {
                throw ScenarioError(
                    .invalid, path: path,
                    message:
                        "network \(move.network) cannot move from \(move.from) to \(move.to) (\(move.from) overlaps \(move.heldBy)): the range \(range) in the file, wider than a /24, would no longer mean the same addresses"
                )
            }
        }
    }

    /// The IPv4 CIDRs written in `text` (`a.b.c.d/n`, standing alone: not inside a longer run of digits and dots).
    static func cidrs(in text: String) -> [String] {
        let bytes = Array(text.utf8)
        func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
        func isPart(_ byte: UInt8) -> Bool { isDigit(byte) || byte == 0x2e || byte == 0x2f }
        var found: [String] = []
        var index = 0
        while index < bytes.count {
            guard isDigit(bytes[index]), index == 0 || !isPart(bytes[index - 1]) else {
                index += 1
                continue
            }
            var end = index
            while end < bytes.count && isPart(bytes[end]) { end += 1 }
            let token = String(decoding: bytes[index..<end], as: UTF8.self)
            if let (address, _) = CIDR.parse(token), !address.isIPv6 { found.append(token) }
            index = end
        }
        return found
    }

    /// The /24 (its number: the address shifted right by 8) holding a subnet of a /24 or smaller; nil for a larger
    /// one.
    static func block(of subnet: String) -> UInt32? {
        guard let (address, prefix) = CIDR.parse(subnet), !address.isIPv6, prefix >= 24 else { return nil }
        return UInt32(truncatingIfNeeded: address.low) >> 8
    }

    /// A /24's dotted prefix, as its addresses begin in the text: `198.18.40.`.
    static func dotted(_ block: UInt32) -> String { "\(block >> 16).\((block >> 8) & 0xff).\(block & 0xff)." }

    /// Replaces each prefix where it begins an address: not preceded by a digit or a dot, followed by a digit (so
    /// `198.18.4.` never matches inside `198.18.40.7`, nor `98.18.40.` inside `198.18.40.7`).
    static func rewrite(_ text: String, prefixes: [String: String]) -> String {
        guard !prefixes.isEmpty else { return text }
        let bytes = Array(text.utf8)
        let table = prefixes.map { (Array($0.key.utf8), Array($0.value.utf8)) }
        func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        scanning: while index < bytes.count {
            let startsAddress = index == 0 || !(isDigit(bytes[index - 1]) || bytes[index - 1] == 0x2e)
            if startsAddress && isDigit(bytes[index]) {
                for (from, to) in table
                where index + from.count < bytes.count && isDigit(bytes[index + from.count])
                    && bytes[index..<(index + from.count)].elementsEqual(from)
                {
                    output += to
                    index += from.count
                    continue scanning
                }
            }
            output.append(bytes[index])
            index += 1
        }
        return String(decoding: output, as: UTF8.self)
    }
}

extension Scenario {
    /// Reads a scenario file and moves it off the subnets `space` holds (see ``ScenarioRelocation``); the scenario
    /// is the file's own when nothing is taken.
    ///
    /// - Throws: ``ScenarioError`` naming the file: it cannot be read or used, or it cannot be moved.
    public static func load(path: String, relocatingAround space: LabAddressSpace) throws(ScenarioError) -> (
        scenario: Scenario, relocation: ScenarioRelocation
    ) {
        try Self.load(text: try Self.text(path: path), path: path, relocatingAround: space)
    }

    /// ``load(path:relocatingAround:)`` on a file's text; `path` names it in errors.
    public static func load(text: String, path: String, relocatingAround space: LabAddressSpace) throws(ScenarioError)
        -> (scenario: Scenario, relocation: ScenarioRelocation)
    {
        let original = try Self.load(text: text, path: path)
        let relocation = try ScenarioRelocation.plan(original, around: space, path: path)
        guard !relocation.moves.isEmpty else { return (original, relocation) }
        try relocation.checkWideRanges(in: text, path: path)
        return (try Self.load(text: relocation.apply(to: text), path: path), relocation)
    }

    /// The scenario's networks whose subnets overlap a range `space` holds, with what holds each.
    public func conflicts(in space: LabAddressSpace) -> [(network: Network, holder: LabAddressSpace.TakenRange)] {
        self.networks.compactMap { network in space.holder(overlapping: network.subnet).map { (network, $0) } }
    }
}
