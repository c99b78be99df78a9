#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The scope guard: the single addresses probes may go to. Never a subnet: an address is allowed because it belongs
/// to an enumerated container or namespace (or its gateway), or because the user named it. The operator's
/// ``AddressLimit`` (`BULKHEAD_ALLOWED_RANGES`) is checked on top, at the moment a probe would leave.
public struct ScopeGuard: Sendable {
    public private(set) var addresses: Set<IPAddress> = []

    public init() {}

    /// Allows one address, unless it is no single host at all (``notSingleHost(_:)``): whoever enumerated it.
    public mutating func allow(_ text: String) {
        if let address = IPAddress(text), Self.notSingleHost(address) == nil { self.addresses.insert(address) }
    }

    /// Whether a probe may go to `address`: allowed here, and inside the operator's limit.
    public func permits(_ address: IPAddress) -> Bool {
        self.addresses.contains(address) && AddressLimit.current.permits(address)
    }

    /// Why `address` names no single host whatever any inventory says, or nil: the unspecified address (a probe to
    /// it reaches the source itself), a multicast group, or the limited broadcast (every host on the link). A
    /// subnet's own network and broadcast addresses depend on the subnet: the planner refuses those it knows.
    public static func notSingleHost(_ address: IPAddress) -> String? {
        if address.isIPv6 {
            if address.high == 0 && address.low == 0 {
                return "the unspecified address (a probe to it reaches the source itself)"
            }
            if address.high >> 56 == 0xff {
                return "a multicast address (a probe to it reaches every member of the group)"
            }
            return nil
        }
        let value = address.low & 0xffff_ffff
        if value == 0 { return "the unspecified address (a probe to it reaches the source itself)" }
        if value >> 28 == 0xe { return "a multicast address (a probe to it reaches every member of the group)" }
        if value == 0xffff_ffff {
            return "the limited broadcast address (a probe to it reaches every host on the link)"
        }
        return nil
    }

    /// Why a probe to `address` is refused (for a cell's note or an error).
    public func refusal(_ address: IPAddress) -> String {
        if let why = Self.notSingleHost(address) { return "\(address) is \(why): not a single host, never probed" }
        guard self.addresses.contains(address) else {
            return "\(address) is outside the probe scope (not an enumerated container, gateway or listed target)"
        }
        return "\(address): \(AddressLimit.current.refusal(address))"
    }
}

/// The operator's limit on where Bulkhead may send anything, from the environment variable
/// `BULKHEAD_ALLOWED_RANGES`: a comma-separated list of CIDR ranges (`127.0.0.0/8,198.18.0.0/15`). Unset or empty:
/// no limit beyond the scope guard's own rule. Set, every probe (reachability and TLS) to an address outside the
/// ranges is refused before its first packet, whoever enumerated or named the address: a second fence for audits on
/// shared hosts, and the fence the test suite runs behind (lab and loopback addresses only). A value that cannot be
/// read refuses everything (fail closed), and says why.
public enum AddressLimit: Sendable, Equatable {
    /// One range of the limit, as written and as parsed.
    public struct Range: Sendable, Equatable {
        public var text: String
        var network: IPAddress
        var prefix: Int

        func contains(_ address: IPAddress) -> Bool {
            CIDR.contains(network: self.network, prefix: self.prefix, address)
        }
    }

    /// No limit (the variable is unset or empty).
    case none
    /// Only these ranges.
    case ranges([Range])
    /// The variable could not be read (the reason): nothing is allowed.
    case invalid(String)

    /// The environment variable read by ``current``.
    public static let variable = "BULKHEAD_ALLOWED_RANGES"

    /// The limit of this process, read from the environment once.
    public static let current = AddressLimit(environmentValue: getenv(Self.variable).map { String(cString: $0) })

    /// Reads a value of ``variable`` (nil: unset).
    public init(environmentValue value: String?) {
        var ranges: [Range] = []
        for item in (value ?? "").split(separator: ",", omittingEmptySubsequences: false) {
            let text = String(item.filter { $0 != " " && $0 != "\t" })
            if text.isEmpty { continue }
            guard let (network, prefix) = CIDR.parse(text) else {
                self = .invalid(
                    "\(Self.variable): \"\(text)\" is not a CIDR range (expected a comma-separated list such as 127.0.0.0/8,198.18.0.0/15)"
                )
                return
            }
            ranges.append(Range(text: text, network: network, prefix: prefix))
        }
        self = ranges.isEmpty ? .none : .ranges(ranges)
    }

    /// Whether `address` is inside the limit.
    public func permits(_ address: IPAddress) -> Bool {
        switch self {
        case .none: true
        case .ranges(let ranges): ranges.contains { $0.contains(address) }
        case .invalid: false
        }
    }

    /// Why `address` is refused by the limit.
    public func refusal(_ address: IPAddress) -> String {
        switch self {
        case .none: "allowed"
        case .ranges(let ranges):
            "outside \(Self.variable) (\(ranges.map(\.text).joined(separator: ", "))): refused before any packet"
        case .invalid(let reason): "\(reason); nothing is probed until it is fixed"
        }
    }

    /// The problem with the variable's value, if it cannot be read.
    public var problem: String? {
        if case .invalid(let reason) = self { return reason }
        return nil
    }
}
