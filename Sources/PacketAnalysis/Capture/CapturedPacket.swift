import BulkheadModel

/// Link-layer header types (the `LINKTYPE_*` registry) Bulkhead decodes.
public enum LinkType {
    public static let null: UInt32 = 0
    public static let ethernet: UInt32 = 1
    public static let rawOpenBSD: UInt32 = 12
    public static let rawBSD: UInt32 = 14
    public static let raw: UInt32 = 101
    public static let loop: UInt32 = 108
    public static let linuxSLL: UInt32 = 113
    public static let ipv4: UInt32 = 228
    public static let ipv6: UInt32 = 229
    public static let linuxSLL2: UInt32 = 276

    /// Whether ``PacketDecoder`` understands the link type.
    public static func isSupported(_ type: UInt32) -> Bool {
        switch type {
        case null, ethernet, rawOpenBSD, rawBSD, raw, loop, linuxSLL, ipv4, ipv6, linuxSLL2: true
        default: false
        }
    }
}

/// One packet as a capture file stores it. The bytes are borrowed from the reader and only valid for the
/// duration of the callback that receives them.
public struct CapturedPacket {
    public var timestamp: Timestamp
    public var linkType: UInt32
    /// The length of the packet on the wire.
    public var originalLength: Int
    /// The captured bytes (`caplen` of them; fewer than ``originalLength`` when the snap length cut it).
    public var bytes: UnsafeRawBufferPointer

    @inlinable
    public init(timestamp: Timestamp, linkType: UInt32, originalLength: Int, bytes: UnsafeRawBufferPointer) {
        self.timestamp = timestamp
        self.linkType = linkType
        self.originalLength = originalLength
        self.bytes = bytes
    }
}

/// Secrets embedded in a pcapng Decryption Secrets Block.
public struct EmbeddedSecrets: Sendable, Hashable {
    /// `TLSK`: the data is an NSS key log.
    public static let tlsKeyLog: UInt32 = 0x544c_534b

    /// The secrets type (`0x544c534b` = TLS key log).
    public var type: UInt32
    public var data: [UInt8]
}
