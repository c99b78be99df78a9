import BulkheadModel

/// One tunnel as the decoder met it: its kind, the outer header's addresses and the virtual network it names.
struct EncapsulationHeader: Equatable {
    var kind: EncapsulationKind
    /// VNI, GRE key or ERSPAN session ID.
    var id: UInt32?
    var source: IPAddress
    var destination: IPAddress

    static let none = EncapsulationHeader(
        kind: .ipip, id: nil, source: IPAddress(ipv4: 0), destination: IPAddress(ipv4: 0))

    /// The same tunnel seen from the other direction: its addresses swapped.
    var reversed: EncapsulationHeader {
        EncapsulationHeader(kind: self.kind, id: self.id, source: self.destination, destination: self.source)
    }

    /// The direction-free form: the lower address first, so both directions of a flow name the same tunnel.
    var normalized: EncapsulationHeader { self.destination < self.source ? self.reversed : self }
}

/// The tunnels around one packet, outermost first, held inline (no allocation): at most
/// ``PacketDecoder/maximumEncapsulationDepth`` of them.
struct EncapsulationPath: Equatable {
    private(set) var count = 0
    private var layers = (
        EncapsulationHeader.none, EncapsulationHeader.none, EncapsulationHeader.none, EncapsulationHeader.none
    )

    static func == (lhs: EncapsulationPath, rhs: EncapsulationPath) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for index in 0..<lhs.count where lhs[index] != rhs[index] { return false }
        return true
    }

    subscript(index: Int) -> EncapsulationHeader {
        get {
            switch index {
            case 0: self.layers.0
            case 1: self.layers.1
            case 2: self.layers.2
            default: self.layers.3
            }
        }
        set {
            switch index {
            case 0: self.layers.0 = newValue
            case 1: self.layers.1 = newValue
            case 2: self.layers.2 = newValue
            default: self.layers.3 = newValue
            }
        }
    }

    /// Adds the next inner tunnel; beyond four the decoder has already given up (it never asks).
    mutating func append(_ layer: EncapsulationHeader) {
        guard self.count < 4 else { return }
        self[self.count] = layer
        self.count += 1
    }

    /// Every layer direction-free (see ``EncapsulationHeader/normalized``): what tells one flow's tunnels from
    /// another's.
    var normalized: EncapsulationPath {
        var result = self
        for index in 0..<self.count { result[index] = self[index].normalized }
        return result
    }

    /// A well-mixed 64-bit digest, never 0 (0 is "no tunnel" in a flow key). Equal paths have equal digests; the
    /// flow table checks the path itself, so two paths that share a digest are never taken for one.
    var digest: UInt64 {
        var mix: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(self.count)
        for index in 0..<self.count {
            let layer = self[index]
            mix = Self.absorb(mix, layer.source.high ^ (layer.source.isIPv6 ? 1 << 63 : 0))
            mix = Self.absorb(mix, layer.source.low)
            mix = Self.absorb(mix, layer.destination.high ^ (layer.destination.isIPv6 ? 1 << 63 : 0))
            mix = Self.absorb(mix, layer.destination.low)
            mix = Self.absorb(
                mix, (layer.id.map { UInt64($0) | 1 << 32 } ?? 0) | UInt64(Self.kindCode(layer.kind)) << 40)
        }
        mix = (mix ^ (mix >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mix = (mix ^ (mix >> 27)) &* 0x94D0_49BB_1331_11EB
        mix ^= mix >> 31
        return mix == 0 ? 1 : mix
    }

    @inline(__always)
    private static func absorb(_ mix: UInt64, _ word: UInt64) -> UInt64 {
        let mixed = (mix ^ word) &* 0x9E37_79B9_7F4A_7C15
        return mixed ^ (mixed >> 29)
    }

    private static func kindCode(_ kind: EncapsulationKind) -> UInt8 {
        switch kind {
        case .vxlan: 1
        case .geneve: 2
        case .gre: 3
        case .erspan: 4
        case .ipip: 5
        }
    }

    /// The layers as the report writes them; `reversed` swaps each layer's addresses (the path was seen on a
    /// packet the server sent).
    func records(reversed: Bool) -> [EncapsulationLayer] {
        (0..<self.count).map { index in
            let layer = reversed ? self[index].reversed : self[index]
            return EncapsulationLayer(
                kind: layer.kind, source: layer.source.description, destination: layer.destination.description,
                id: layer.id)
        }
    }
}
