/// A tunnel protocol that carried a flow across an underlay network.
///
/// The raw values are the stable JSON vocabulary.
public enum EncapsulationKind: String, Codable, Sendable, Hashable, CaseIterable {
    /// VXLAN (RFC 7348, UDP 4789): Docker overlay and Swarm networks, Flannel, Calico's VXLAN mode.
    case vxlan
    /// Geneve (RFC 8926, UDP 6081): OVN, Cilium, AWS Gateway Load Balancer.
    case geneve
    /// GRE (RFC 2784/2890), carrying IP or Ethernet (transparent Ethernet bridging, `gretap`).
    case gre
    /// ERSPAN type I, II or III over GRE: mirrored traffic sent to a collector.
    case erspan
    /// IP in IP: IPv4 (protocol 4) or IPv6 (protocol 41, `sit`/6in4) inside IPv4 or IPv6.
    case ipip
}

/// One tunnel a flow was found inside: the underlay hosts at its two ends and the virtual network it named.
public struct EncapsulationLayer: Codable, Hashable, Sendable {
    public var kind: EncapsulationKind
    /// The outer (underlay) source address of the packets the client sent. When only the server's packets were
    /// seen, the outer destination of those.
    public var source: String
    /// The outer destination address of the packets the client sent (see ``source``).
    public var destination: String
    /// The VXLAN or Geneve VNI, the GRE key, or the ERSPAN session ID; nil when the layer carries none (GRE without
    /// a key, IP in IP, ERSPAN type I).
    @ExplicitNull public var id: UInt32?

    public init(kind: EncapsulationKind, source: String, destination: String, id: UInt32?) {
        self.kind = kind
        self.source = source
        self.destination = destination
        self.id = id
    }

    enum CodingKeys: String, CodingKey { case kind, source, destination, id }

    /// `vxlan 42 198.19.40.1→198.19.40.2`: the kind, the id when there is one, and the underlay hosts.
    public var label: String {
        "\(self.kind.rawValue)\(self.id.map { " \($0)" } ?? "") \(self.source)→\(self.destination)"
    }
}

/// What an IPsec ESP flow showed: the Security Parameter Indexes of each direction (the payload is encrypted).
public struct ESPSummary: Codable, Hashable, Sendable {
    /// The SPIs of the packets the client sent (in order of first appearance, at most ``spiLimit``), as
    /// `0x`-prefixed eight-digit hex.
    public var clientSPIs: [String]
    /// The SPIs of the packets the server sent.
    public var serverSPIs: [String]
    /// ESP in UDP (RFC 3948 NAT traversal, port 4500) rather than IP protocol 50.
    public var udpEncapsulated: Bool

    /// SPIs kept per direction: a rekeying tunnel adds one per rekey, a hostile capture one per packet.
    public static let spiLimit = 16

    public init(clientSPIs: [String], serverSPIs: [String], udpEncapsulated: Bool) {
        self.clientSPIs = clientSPIs
        self.serverSPIs = serverSPIs
        self.udpEncapsulated = udpEncapsulated
    }

    /// `0x0000c0de`.
    public static func spiText(_ spi: UInt32) -> String {
        let digits = String(spi, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
