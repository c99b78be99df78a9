import BulkheadModel
import ContainerEngine
import Foundation
import Inventory

/// The IPv4 ranges this host already uses, so that a lab network is never made on top of one.
///
/// Docker refuses a network whose subnet overlaps another network's ("Pool overlaps with other one on this address
/// space"), and a subnet that overlaps a route of the host would send the lab's traffic, or the host's, the wrong
/// way. Users' hosts are busy: a scenario's declared subnets may be taken by the time it is stood up.
public struct LabAddressSpace: Sendable, Equatable {
    /// A range in use, and what uses it.
    public struct TakenRange: Sendable, Equatable, CustomStringConvertible {
        /// An IPv4 CIDR, e.g. `198.18.40.0/24`.
        public var cidr: String
        /// What holds it: `Docker network shop-front`, `route on eth0`.
        public var holder: String

        public init(cidr: String, holder: String) {
            self.cidr = cidr
            self.holder = holder
        }

        public var description: String { "\(self.holder) (\(self.cidr))" }
    }

    public var taken: [TakenRange]

    public init(taken: [TakenRange]) { self.taken = taken }

    /// The first taken range that overlaps `cidr`, if any.
    public func holder(overlapping cidr: String) -> TakenRange? {
        self.taken.first { CIDR.overlap($0.cidr, cidr) }
    }

    /// What the engine and this host use now: every network's IPv4 subnets and the host's IPv4 routes (the default
    /// route left out: it covers everything and takes nothing).
    ///
    /// The networks labelled for scenario `ignoring` are left out, and so are the routes onto their subnets: `up`
    /// removes them before it makes the scenario again. `engine` must be connected (``DockerEngine/connect()``).
    public static func current(engine: DockerEngine, ignoring scenario: String? = nil) throws(EngineError)
        -> LabAddressSpace
    {
        let networks = try engine.get("/networks", as: [DockerAPI.Network].self)
        var taken: [TakenRange] = []
        var ignored = Set<String>()
        for network in networks {
            let subnets = (network.IPAM?.Config ?? []).compactMap(\.Subnet).filter {
                CIDR.parse($0).map { !$0.address.isIPv6 } ?? false
            }
            if let scenario, network.Labels?["bulkhead.scenario"] == scenario {
                ignored.formUnion(subnets)
                continue
            }
            taken += subnets.map { TakenRange(cidr: $0, holder: "Docker network \(network.Name)") }
        }
        // Without the route table (no /proc) only the engine's networks are checked: the engine itself refuses an
        // overlap with those, so nothing can be made on top of one either way.
        let routes = (try? String(contentsOfFile: "/proc/net/route", encoding: .utf8)) ?? ""
        taken += Self.routes(fromProcNetRoute: routes).filter { !ignored.contains($0.cidr) }
        return LabAddressSpace(taken: taken)
    }

    /// The IPv4 routes in the text of `/proc/net/route`, except the default route.
    ///
    /// Each line holds the interface, then the destination and (eighth) the mask as the kernel's 32-bit values in
    /// hexadecimal: the address's bytes in memory order, so `0012A8C6` on a little-endian host is 198.168.18.0.
    static func routes(fromProcNetRoute text: String) -> [TakenRange] {
        text.split(separator: "\n").dropFirst().compactMap { line -> TakenRange? in
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 8, let destination = UInt32(fields[1], radix: 16),
                let mask = UInt32(fields[7], radix: 16), mask != 0
            else { return nil }
            let address = UInt32(bigEndian: destination)
            let prefix = mask.nonzeroBitCount
            let octets = (0..<4).map { String((address >> (24 - 8 * $0)) & 0xff) }.joined(separator: ".")
            return TakenRange(cidr: "\(octets)/\(prefix)", holder: "route on \(fields[0])")
        }
    }
}
