import BulkheadModel
import CBulkheadLinux
import SystemCalls

#if canImport(Glibc)
    import Glibc
#endif

/// What the kernel of the namespace the calling thread is in knows about reaching one address: the route it takes
/// (`ip route get`) and the neighbour entry (ARP, IPv6 neighbour discovery) of the next hop on the link.
///
/// Why: silence, or an ICMP host-unreachable, proves a filter only if the probe left the source. When the next hop
/// never answered at the link layer (its neighbour entry INCOMPLETE or FAILED), the probe sat in the source's
/// neighbour queue and was dropped there: the destination (or its router) is down or absent, whatever a policy
/// says. That state is read inside the source's namespace, where the probe's socket was made.
struct NextHop: Equatable {
    /// How the route delivers: one host, or not (the address is a broadcast, multicast or local one for this
    /// namespace).
    enum Delivery: Equatable {
        case unicast
        case local
        case broadcast
        case multicast
        /// Any other route type (blackhole, unreachable, prohibit, throw…), by its RTN_* number.
        case other(Int)
    }

    /// The neighbour entry of the next hop, as far as it bears on a verdict.
    enum Neighbour: Equatable {
        /// No entry: nothing was sent there yet, or the link needs none (point-to-point, NOARP).
        case none
        /// Resolution is pending: no answer yet, so the probes queued behind it never left.
        case incomplete
        /// Resolution failed: the next hop did not answer ARP / neighbour solicitations.
        case failed
        /// Reachable, stale, delayed, probing, permanent…: the link layer answered at some point.
        case resolved
    }

    var delivery: Delivery
    /// The address resolved at the link layer: the gateway when the route has one, else the destination itself.
    var hop: IPAddress
    var viaGateway: Bool
    var neighbour: Neighbour

    /// Looks up `address` in the calling thread's namespace. Nil when the kernel has no usable route (none:
    /// `ENETUNREACH`; an unreachable, prohibit or blackhole route: `EHOSTUNREACH`, `EACCES`, `EINVAL`), so no next
    /// hop to judge; a failure of the lookup itself otherwise.
    static func lookUp(_ address: IPAddress) -> Result<NextHop?, SystemCallError> {
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let bytes = Self.bytes(of: address)
        var type: Int32 = -1
        var interface: Int32 = 0
        var gateway = [UInt8](repeating: 0, count: 16)
        var hasGateway: Int32 = 0
        let routed = bytes.withUnsafeBufferPointer { pointer in
            bh_route_get(family, pointer.baseAddress, &type, &interface, &gateway, &hasGateway)
        }
        if [ENETUNREACH, EHOSTUNREACH, EACCES, EINVAL].contains(-routed) { return .success(nil) }
        guard routed == 0 else { return .failure(SystemCallError("RTM_GETROUTE", code: -routed)) }
        let delivery: Delivery =
            switch type {
            case BH_RTN_UNICAST: .unicast
            case BH_RTN_LOCAL: .local
            case BH_RTN_BROADCAST: .broadcast
            case BH_RTN_MULTICAST: .multicast
            default: .other(Int(type))
            }
        let hop = hasGateway == 1 ? Self.address(gateway, v6: address.isIPv6) : address
        var state: Int32 = 0
        let found = Self.bytes(of: hop).withUnsafeBufferPointer { pointer in
            bh_neighbour_state(family, pointer.baseAddress, interface, &state)
        }
        guard found >= 0 else { return .failure(SystemCallError("RTM_GETNEIGH", code: -found)) }
        let neighbour: Neighbour =
            found == 0
            ? .none
            : state & BH_NUD_FAILED != 0 ? .failed : state & BH_NUD_INCOMPLETE != 0 ? .incomplete : .resolved
        return .success(NextHop(delivery: delivery, hop: hop, viaGateway: hasGateway == 1, neighbour: neighbour))
    }

    /// Whether `address` is one of the calling thread's namespace's own addresses (its route is `local`).
    static func isLocal(_ address: IPAddress) -> Bool {
        if case .success(let hop?) = Self.lookUp(address) { return hop.delivery == .local }
        return false
    }

    /// The address in network order: 4 bytes for IPv4, 16 for IPv6.
    static func bytes(of address: IPAddress) -> [UInt8] {
        if !address.isIPv6 { return (0..<4).map { UInt8(truncatingIfNeeded: address.low >> (24 - 8 * $0)) } }
        return (0..<8).map { UInt8(truncatingIfNeeded: address.high >> (56 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: address.low >> (56 - 8 * $0)) }
    }

    static func address(_ bytes: [UInt8], v6: Bool) -> IPAddress {
        if !v6 { return IPAddress(ipv4: bytes.prefix(4).reduce(0) { $0 << 8 | UInt32($1) }) }
        return IPAddress(
            ipv6High: bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) },
            low: bytes.dropFirst(8).prefix(8).reduce(0) { $0 << 8 | UInt64($1) })
    }
}
