import BulkheadModel
import NetworkNamespaces

/// A TCP endpoint to probe: an IPv4 address and a port.
public struct TLSEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// Host byte order.
    public var address: UInt32
    public var port: Int

    public init(address: UInt32, port: Int) {
        self.address = address
        self.port = port
    }

    /// Parses `A.B.C.D:PORT`. Names are not resolved: what is probed is exactly what was listed.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (1...65_535).contains(port)
        else { return nil }
        let parts = text[..<colon].split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var address: UInt32 = 0
        for part in parts {
            guard part.count <= 3, let octet = UInt8(part) else { return nil }
            address = address << 8 | UInt32(octet)
        }
        self.init(address: address, port: port)
    }

    public var description: String { "\(IPAddress(ipv4: self.address)):\(self.port)" }
}

/// Where the TLS battery may send: the scope guard's rule (DESIGN §2, as for the reachability probe's
/// ``ScopeGuard``). The battery is only ever handed endpoints that belong to enumerated containers
/// (``TLSTarget/fromInventory(_:source:expectations:)``, the audit's reached container endpoints) or that the user named
/// one by one (`--endpoint`); it derives no address of its own, never sweeps a range, and resolves no names. On top,
/// before the first packet, the engine checks every endpoint against the operator's ``AddressLimit``
/// (`BULKHEAD_ALLOWED_RANGES`), whatever the caller asked for.
public enum TLSScope {
    /// Whether `endpoint` may be probed (inside the operator's limit).
    public static func permits(_ endpoint: TLSEndpoint) -> Bool {
        AddressLimit.current.permits(IPAddress(ipv4: endpoint.address))
    }

    /// The reason a refused endpoint is refused.
    public static func refusal(_ endpoint: TLSEndpoint) -> String {
        "refusing to probe \(endpoint): \(AddressLimit.current.refusal(IPAddress(ipv4: endpoint.address)))"
    }
}

/// Where the probes of an endpoint start from.
public enum TLSSource: Hashable, Sendable, CustomStringConvertible {
    /// The namespace Bulkhead runs in.
    case host
    /// Inside a container's network namespace (sockets are made there, then driven from the shared loop).
    case container(name: String, namespace: NetworkNamespace)

    public var description: String {
        switch self {
        case .host: "host"
        case .container(let name, _): "container:\(name)"
        }
    }
}

/// One endpoint to verify, from one source, against one set of expectations.
public struct TLSTarget: Sendable {
    public var endpoint: TLSEndpoint
    public var source: TLSSource
    public var expectations: TLSExpectations

    public init(endpoint: TLSEndpoint, source: TLSSource = .host, expectations: TLSExpectations) {
        self.endpoint = endpoint
        self.source = source
        self.expectations = expectations
    }
}

extension TLSTarget {
    /// Every TCP listener of every running (or paused) container, at each of its network addresses, probed from
    /// `source`, or (nil) from another such container on that network — from the host when the container is alone
    /// there. Listeners bound to loopback are left out (not reachable from another container). Addresses outside the
    /// operator's ``AddressLimit`` stay in: the battery reports them untested, with the reason; so are a paused
    /// container's endpoints (see ``settingAsidePaused(_:containers:)``).
    public static func fromInventory(
        _ containers: [ContainerRecord], source: TLSSource? = nil, expectations: TLSExpectations
    ) -> [TLSTarget] {
        var targets: [TLSTarget] = []
        var seen = Set<TLSEndpoint>()
        let running = containers.filter { $0.hasLiveNamespace && ($0.pid ?? 0) > 0 }
        for container in running {
            let ports = Set(
                container.listening.filter { $0.proto.hasPrefix("tcp") && !$0.isLoopbackOnly }.map(\.port))
            for network in container.networks {
                guard let ipv4 = network.ipv4?.split(separator: "/").first else { continue }
                for port in ports.sorted() {
                    guard let endpoint = TLSEndpoint("\(ipv4):\(port)"), seen.insert(endpoint).inserted
                    else { continue }
                    var from = source ?? .host
                    if source == nil,
                        let peer = running.first(where: { peer in
                            peer.name != container.name && peer.networks.contains { $0.name == network.name }
                        }), let pid = peer.pid
                    {
                        from = .container(name: peer.name, namespace: NetworkNamespace(pid: pid))
                    }
                    targets.append(TLSTarget(endpoint: endpoint, source: from, expectations: expectations))
                }
            }
        }
        return targets
    }
}

extension TLSTarget {
    /// `targets` without the endpoints of a paused container among `containers`, and an untested report for each of
    /// those, saying why: its kernel completes the TCP handshake for it (the path is open), but its frozen server
    /// cannot answer, so the battery would only wait out its timeouts and prove nothing. Never counted as secure.
    public static func settingAsidePaused(_ targets: [TLSTarget], containers: [ContainerRecord]) -> (
        targets: [TLSTarget], paused: [TLSEndpointReport]
    ) {
        var paused: [IPAddress: String] = [:]
        for container in containers where container.state == "paused" {
            for network in container.networks {
                for address in [network.ipv4, network.ipv6].compactMap({ $0.flatMap(IPAddress.init) }) {
                    paused[address] = container.name
                }
            }
        }
        guard !paused.isEmpty else { return (targets, []) }
        var kept: [TLSTarget] = []
        var untested: [TLSEndpointReport] = []
        for target in targets {
            guard let name = EndpointText.split(target.endpoint.description).flatMap({ paused[$0.address] }) else {
                kept.append(target)
                continue
            }
            untested.append(
                TLSEndpointReport.untested(
                    target,
                    reason: "not tested: \(name) is paused; its kernel completes TCP handshakes for it (the path is "
                        + "open), but its server cannot answer until it is unpaused", because: "paused"))
        }
        return (kept, untested)
    }
}

/// A battery that cannot start: `path` names the endpoint (or the file, or the namespace) at fault.
public typealias TLSProbeError = CodedPathError<TLSProbeErrorCode>

/// The codes of ``TLSProbeError``.
public enum TLSProbeErrorCode: String, Sendable {
    /// A file the expectations name cannot be used (the message says why).
    case unusableFile = "unusable-file"
    /// The forged client certificates could not be made.
    case forgery
    /// No socket could be made (in the host, or inside a container's namespace).
    case socket
}
