import BulkheadModel
import Foundation

/// Who owns an address, from an inventory: containers by their addresses on each network, the host by each
/// network's gateway (`host (network NAME)`), and other network namespaces by their addresses (`netns NAME`;
/// loopback and link-local addresses, which every namespace has, are left out).
public struct EndpointNames: Sendable {
    /// Name by address.
    public private(set) var byAddress: [IPAddress: String] = [:]

    /// An empty map (no names).
    public init() {}

    /// Names from an inventory (``InventoryReport`` from `InventoryCollector.fromEngine` or files).
    ///
    /// A container with addresses on several networks gets the same name for each. An address claimed by two
    /// containers (possible across networks with overlapping subnets) keeps both names, joined by ` / `.
    public init(inventory: InventoryReport) {
        for network in inventory.networks {
            for gateway in network.gateways {
                self.add(gateway, "host (network \(network.name))")
            }
        }
        for namespace in inventory.namespaces {
            for address in namespace.addresses where !Self.isLocalOnly(address) {
                self.add(address, "netns \(namespace.name)")
            }
        }
        for container in inventory.containers {
            for network in container.networks {
                if let ipv4 = network.ipv4 { self.add(ipv4, container.name) }
                if let ipv6 = network.ipv6 { self.add(ipv6, container.name) }
            }
        }
    }

    /// Adds (or joins) a name for `address` (an address, or a CIDR whose address part is used).
    public mutating func add(_ address: String, _ name: String) {
        let bare = address.split(separator: "/", maxSplits: 1).first.map(String.init) ?? address
        guard let ip = IPAddress(bare) else { return }
        if let existing = self.byAddress[ip] {
            if !existing.components(separatedBy: " / ").contains(name) {
                self.byAddress[ip] = existing + " / " + name
            }
        } else {
            self.byAddress[ip] = name
        }
    }

    /// Loopback (127/8, ::1) and link-local (169.254/16, fe80::/10) addresses: the same in every namespace.
    static func isLocalOnly(_ address: String) -> Bool {
        let bare = address.split(separator: "/", maxSplits: 1).first.map(String.init) ?? address
        return bare.hasPrefix("127.") || bare == "::1" || bare.hasPrefix("169.254.")
            || bare.lowercased().hasPrefix("fe80:")
    }

    /// The name of an endpoint as flows write it (`198.18.1.2:8080`, `[fd00::2]:443`), or of a bare address.
    public func name(ofEndpoint endpoint: String) -> String? {
        guard let address = Self.address(ofEndpoint: endpoint) else { return nil }
        return self.byAddress[address]
    }

    /// The address part of `ip:port` / `[ipv6]:port` (or a bare address).
    public static func address(ofEndpoint endpoint: String) -> IPAddress? {
        EndpointText.split(endpoint)?.address
    }
}

/// An interface to capture on, and the network it belongs to (for reports).
public struct CaptureInterface: Hashable, Sendable {
    public var name: String
    /// The Docker network whose bridge it is, when known.
    public var network: String?

    public init(name: String, network: String? = nil) {
        self.name = name
        self.network = network
    }

    /// The bridge interface of every bridge network in the inventory (`docker0`, `br-<id>`), in inventory
    /// order, without duplicates. Networks without a host bridge (host, none, overlay, macvlan) are skipped.
    public static func bridges(of inventory: InventoryReport) -> [CaptureInterface] {
        var seen = Set<String>()
        var interfaces: [CaptureInterface] = []
        for network in inventory.networks {
            guard let bridge = network.bridge, seen.insert(bridge).inserted else { continue }
            interfaces.append(CaptureInterface(name: bridge, network: network.name))
        }
        return interfaces
    }
}
