import BulkheadModel
import SystemCalls

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The container format of a capture file.
public enum CaptureFormat: String, Sendable {
    case pcap
    case pcapng
}

/// A capture file mapped into memory and walked record by record without copying.
///
/// Reads classic pcap (both byte orders, micro- and nanosecond timestamps) and pcapng (several sections and
/// interfaces with different link types; Enhanced, Simple and obsolete Packet Blocks; Decryption Secrets
/// Blocks). Mapping the file and walking it by hand costs a few instructions per packet, where libpcap's
/// `pcap_next_ex` copies every record (see BENCHMARKS.md for both measured); ``LibpcapCaptureReader`` reads the
/// same files through libpcap and stays the path for live capture.
///
/// Damage is reported, never trusted: a record that claims more bytes than the file holds ends the walk with a
/// ``CaptureError`` in ``warnings`` (the analysis is then incomplete) and everything read before it is kept.
public final class CaptureFile {
    public let path: String
    public let format: CaptureFormat
    /// Problems found while walking (a truncated last record, a malformed block); the packets before them
    /// were delivered.
    public private(set) var warnings: [CaptureError] = []
    /// Decryption secrets found in pcapng Decryption Secrets Blocks.
    public private(set) var embeddedSecrets: [EmbeddedSecrets] = []

    private let base: UnsafeRawPointer?
    private let size: Int
    /// Whether `base` is this object's own mapping (unmapped on deinit) or memory the caller lends.
    private let ownsMapping: Bool
    /// Bytes at the start of the mapping already handed back to the kernel.
    private var releasedUpTo = 0
    /// Set to end a walk after the packet being handed over (``firstPacketTime()``).
    private var stopWalking = false
    /// Whether the walker itself releases pages behind it. A caller that hands packet bytes to other threads
    /// turns this off and releases with ``releaseMapping(before:)`` once those threads are done with them.
    public var releasesBehindWalker = true
    /// How far the walker gets ahead before it releases what it has read.
    private static let releaseStep = 4 << 20
    /// The mapped file's device and inode, to read it again by its path only if the path still names it.
    private let identity: FileIdentity?

    private struct FileIdentity: Equatable {
        var device: UInt64
        var inode: UInt64
    }

    /// Opens and maps `path`, and checks that it is a capture.
    ///
    /// - Throws: ``CaptureError`` with code `unreadable` or `notACapture`.
    public init(path: String) throws(CaptureError) {
        self.path = path
        let fd: Int32
        let size: Int
        switch RegularFile.openForReading(path) {
        case .success(let opened): (fd, size) = opened
        case .failure(.notRegular(let message)): throw CaptureError(.notARegularFile, path: path, message)
        case .failure(.cannotOpen(let message)): throw CaptureError(.unreadable, path: path, message)
        }
        defer { close(fd) }
        var info = stat()
        self.identity =
            fstat(fd, &info) == 0 ? FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)) : nil
        guard size >= 4 else {
            throw CaptureError(
                .notACapture, path: path, offset: 0,
                "not a capture: only \(size) bytes, too short for a pcap or pcapng header")
        }
        guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapping != MAP_FAILED else {
            throw CaptureError(.unreadable, path: path, "cannot map: \(SystemCallError.last("mmap").message)")
        }
        _ = madvise(mapping, size, MADV_SEQUENTIAL)
        self.base = UnsafeRawPointer(mapping)
        self.size = size
        self.ownsMapping = true
        do {
            self.format = try Self.format(of: UnsafeRawBufferPointer(start: mapping, count: size), path: path)
        } catch {
            munmap(mapping, size)
            throw error
        }
    }

    /// Reads a capture held in memory (for tests and fuzzing). The bytes must stay valid while this object
    /// is used.
    ///
    /// - Throws: ``CaptureError`` `notACapture` when the bytes do not start like a capture.
    public init(borrowing bytes: UnsafeRawBufferPointer, name: String) throws(CaptureError) {
        self.path = name
        self.base = bytes.baseAddress
        self.size = bytes.count
        self.ownsMapping = false
        self.identity = nil
        guard bytes.count >= 4, bytes.baseAddress != nil else {
            throw CaptureError(
                .notACapture, path: name, offset: 0,
                "not a capture: only \(bytes.count) bytes, too short for a pcap or pcapng header")
        }
        self.format = try Self.format(of: bytes, path: name)
    }

    /// The format, once the file header passes the checks libpcap makes (it is the reference: what it refuses
    /// to open, this refuses too).
    private static func format(of bytes: UnsafeRawBufferPointer, path: String) throws(CaptureError) -> CaptureFormat {
        let magic = bytes.loadUnaligned(as: UInt32.self)
        switch magic {
        case 0xa1b2_c3d4, 0xd4c3_b2a1, 0xa1b2_3c4d, 0x4d3c_b2a1:
            try Self.checkPcapHeader(bytes, swapped: magic == 0xd4c3_b2a1 || magic == 0x4d3c_b2a1, path: path)
            return .pcap
        case 0x0a0d_0d0a:
            _ = try PcapngBlocks.checkSectionHeader(bytes, at: 0, path: path)
            return .pcapng
        default:
            if let compression = CaptureCompression.of(bytes) { throw compression.refusal(path: path) }
            throw CaptureError(
                .notACapture, path: path, offset: 0,
                "not a capture: unknown magic 0x\(String(magic.bigEndian, radix: 16)) (expected pcap or pcapng)"
            )
        }
    }

    /// The classic pcap file header: complete, version 2.0–2.4 (or DG/UX's 543.0, as libpcap allows), a link
    /// type that is decoded.
    private static func checkPcapHeader(_ file: UnsafeRawBufferPointer, swapped: Bool, path: String)
        throws(CaptureError)
    {
        guard file.count >= 24 else {
            throw CaptureError(
                .truncated, path: path, offset: 0, "pcap file header is cut short (\(file.count) of 24 bytes)")
        }
        func u16(_ offset: Int) -> UInt16 {
            let value = file.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
            return swapped ? value.byteSwapped : value
        }
        let major = u16(4)
        let minor = u16(6)
        guard (major == 2 && minor <= 4) || (major == 543 && minor == 0) else {
            throw CaptureError(
                .notACapture, path: path, offset: 4,
                "unsupported pcap version \(major).\(minor) (libpcap reads 2.0 to 2.4)")
        }
        let rawLinkType = file.loadUnaligned(fromByteOffset: 20, as: UInt32.self)
        let linkType = (swapped ? rawLinkType.byteSwapped : rawLinkType) & 0x03ff_ffff
        guard LinkType.isSupported(linkType) else {
            throw CaptureError(.unsupportedLinkType, path: path, offset: 20, "link type \(linkType) is not supported")
        }
    }

    deinit {
        if self.ownsMapping, let base = self.base { munmap(UnsafeMutableRawPointer(mutating: base), self.size) }
    }

    /// Total size of the file in bytes.
    public var fileSize: Int { self.size }

    /// Calls `body` for every packet in file order. The packet's bytes are only valid during the call.
    ///
    /// - Throws: ``CaptureError`` when the file's first header is unusable (nothing could be read); later
    ///   damage ends the walk and is added to ``warnings``.
    public func forEachPacket(_ body: (borrowing CapturedPacket) -> Void) throws(CaptureError) {
        guard let base = self.base else { return }
        let bytes = UnsafeRawBufferPointer(start: base, count: self.size)
        switch self.format {
        case .pcap: try self.walkPcap(bytes, body)
        case .pcapng: try self.walkPcapng(bytes, body)
        }
    }

    /// Drops the pages behind `offset` from this process (they stay in the page cache). Mapped pages count
    /// as resident memory; without this, walking a multi-gigabyte file would look like a multi-gigabyte RSS.
    @inline(__always)
    private func release(before offset: Int) {
        guard self.releasesBehindWalker else { return }
        self.releaseAll(before: offset)
    }

    /// Releases the mapped pages before `pointer` (which must point into this file's mapping).
    public func releaseMapping(before pointer: UnsafeRawPointer) {
        guard let base = self.base, pointer >= base, pointer <= base + self.size else { return }
        self.releaseAll(before: pointer - base)
    }

    /// The capture time of the file's first packet, found by walking to it; nil when it has none that can be read.
    /// Leaves the file as it was (its warnings and secrets are found again by the walk that analyses it).
    public func firstPacketTime() -> Timestamp? {
        let (warnings, secrets, releases) = (self.warnings, self.embeddedSecrets, self.releasesBehindWalker)
        self.releasesBehindWalker = false
        defer {
            (self.warnings, self.embeddedSecrets, self.releasesBehindWalker) = (warnings, secrets, releases)
            self.stopWalking = false
        }
        var first: Timestamp?
        try? self.forEachPacket { packet in
            first = packet.timestamp
            self.stopWalking = true
        }
        return first
    }

    /// Releases every mapped page of the file (it stays mapped, and is read back from the page cache if walked again):
    /// for a file that is done with, when many are analysed in turn.
    public func releaseAllPages() {
        guard self.ownsMapping, let base = self.base, self.size > 0 else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base), self.size, MADV_DONTNEED)
        self.releasedUpTo = 0
    }

    private func releaseAll(before offset: Int) {
        guard self.ownsMapping, offset - self.releasedUpTo >= Self.releaseStep, let base = self.base else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let end = (offset / page) * page
        guard end > self.releasedUpTo else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base) + self.releasedUpTo, end - self.releasedUpTo, MADV_DONTNEED)
        self.releasedUpTo = end
    }

    /// The contents of the file's pcapng Decryption Secrets Blocks, wherever they are, found before its first packet is
    /// analysed (a block may come after the packets it decrypts) without walking the packets (see
    /// ``PcapngSecretsScan``). The walk finds the same blocks again, in ``embeddedSecrets``.
    ///
    /// - Throws: ``CaptureError`` when the file does not start with a usable section header (as the walk would), or
    ///   cannot be read.
    public func scanEmbeddedSecrets() throws(CaptureError) -> [EmbeddedSecrets] {
        guard self.format == .pcapng, let base = self.base else { return [] }
        let mapped = UnsafeRawBufferPointer(start: base, count: self.size)
        // Read again by the path when it still names the mapped file (the mapping's pages would have to be faulted
        // in one by one); otherwise from the mapping.
        guard let descriptor = self.reopened() else {
            var scan = PcapngSecretsScan(source: .memory(mapped), fileSize: self.size, path: self.path)
            // The pages it reads are given back behind it, and the walk that follows starts releasing from the top.
            scan.readUpTo = { self.releaseAll(before: $0) }
            defer { self.releasedUpTo = 0 }
            return try scan.run()
        }
        defer { close(descriptor) }
        return try PcapngSecretsScan(source: .descriptor(descriptor), fileSize: self.size, path: self.path).run()
    }

    /// The file opened again by its path, if the path still names the file that is mapped, at the same size.
    private func reopened() -> Int32? {
        guard self.ownsMapping, let identity = self.identity,
            case .success(let opened) = RegularFile.openForReading(self.path)
        else { return nil }
        var info = stat()
        guard fstat(opened.descriptor, &info) == 0, opened.size == self.size,
            FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)) == identity
        else {
            close(opened.descriptor)
            return nil
        }
        return opened.descriptor
    }

    // MARK: - Classic pcap

    private func walkPcap(_ file: UnsafeRawBufferPointer, _ body: (borrowing CapturedPacket) -> Void)
        throws(CaptureError)
    {
        try Self.checkPcapHeader(file, swapped: self.swappedPcap(file), path: self.path)
        let magic = file.loadUnaligned(as: UInt32.self)
        let swapped = magic == 0xd4c3_b2a1 || magic == 0x4d3c_b2a1
        let nanoseconds = magic == 0xa1b2_3c4d || magic == 0x4d3c_b2a1
        @inline(__always) func u32(_ offset: Int) -> UInt32 {
            let value = file.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
            return swapped ? value.byteSwapped : value
        }
        let snaplen = Int(u32(16))
        // The upper 16 bits of the link type field can carry FCS information (pcap-linktype(7)).
        let linkType = u32(20) & 0x03ff_ffff
        // Records larger than this are not packets but damage; 256 KiB is libpcap's own maximum snap length,
        // and libpcap refuses a larger record whatever the header's snap length says.
        let recordLimit = 262_144
        var offset = 24
        while offset < file.count && !self.stopWalking {
            guard offset + 16 <= file.count else {
                self.warnings.append(
                    CaptureError(.truncated, path: self.path, offset: offset, "file ends inside a record header"))
                return
            }
            let seconds = u32(offset)
            let fraction = u32(offset + 4)
            let captured = Int(u32(offset + 8))
            let original = Int(u32(offset + 12))
            guard captured <= recordLimit else {
                self.warnings.append(
                    CaptureError(
                        .malformed, path: self.path, offset: offset,
                        "record claims \(captured) captured bytes, more than any snap length (header: \(snaplen), most: \(recordLimit)); stopped reading"
                    ))
                return
            }
            guard offset + 16 + captured <= file.count else {
                self.warnings.append(
                    CaptureError(.truncated, path: self.path, offset: offset, "file ends inside a packet record"))
                return
            }
            let nanos = nanoseconds ? min(fraction, 999_999_999) : min(fraction, 999_999) &* 1000
            let packet = CapturedPacket(
                timestamp: Timestamp(seconds: Int64(seconds), nanoseconds: nanos),
                linkType: linkType,
                originalLength: max(original, captured),
                bytes: UnsafeRawBufferPointer(rebasing: file[(offset + 16)..<(offset + 16 + captured)])
            )
            body(packet)
            offset += 16 + captured
            self.release(before: offset)
        }
    }

    private func swappedPcap(_ file: UnsafeRawBufferPointer) -> Bool {
        let magic = file.loadUnaligned(as: UInt32.self)
        return magic == 0xd4c3_b2a1 || magic == 0x4d3c_b2a1
    }

    // MARK: - pcapng

    private struct Interface {
        var linkType: UInt32
        var snaplen: Int
        /// Timestamp units per second, and whether that is a power of two (if_tsresol high bit).
        var unitsPerSecond: UInt64
        var offsetSeconds: Int64
    }

    private func walkPcapng(_ file: UnsafeRawBufferPointer, _ body: (borrowing CapturedPacket) -> Void)
        throws(CaptureError)
    {
        var offset = 0
        var sections = PcapngBlocks.Sections()
        var interfaces: [Interface] = []
        while offset < file.count && !self.stopWalking {
            var type: UInt32 = 0
            let length: Int
            let swapped: Bool
            do throws(CaptureError) {
                try PcapngBlocks.checkHeaderFits(at: offset, fileSize: file.count, path: self.path)
                // A Section Header Block's byte-order magic decides how everything in its section is read.
                let block = try sections.type(
                    stored: file.loadUnaligned(fromByteOffset: offset, as: UInt32.self),
                    header: { UnsafeRawBufferPointer(rebasing: file[offset...]) }, at: offset, path: self.path)
                type = block.type
                if block.begins { interfaces.removeAll() }
                swapped = sections.swapped
                length = try PcapngBlocks.length(
                    stored: file.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self), swapped: swapped,
                    at: offset, fileSize: file.count, path: self.path)
                try PcapngBlocks.checkTrailer(
                    stored: file.loadUnaligned(fromByteOffset: offset + length - 4, as: UInt32.self),
                    swapped: swapped, length: length, at: offset, path: self.path)
                try PcapngBlocks.checkFixedFields(
                    type: type, bodyCount: length - 12, length: length, at: offset, path: self.path)
            } catch {
                // Before the first section header is read, nothing is: the file is not a capture. After it, damage
                // ends the walk, and what came before it stands.
                if !sections.begun { throw error }
                self.warnings.append(error)
                return
            }
            let block = UnsafeRawBufferPointer(rebasing: file[(offset + 8)..<(offset + length - 4)])
            @inline(__always) func u32(_ at: Int) -> UInt32 {
                let value = block.loadUnaligned(fromByteOffset: at, as: UInt32.self)
                return swapped ? value.byteSwapped : value
            }
            @inline(__always) func u16(_ at: Int) -> UInt16 {
                let value = block.loadUnaligned(fromByteOffset: at, as: UInt16.self)
                return swapped ? value.byteSwapped : value
            }
            switch type {
            case PcapngBlocks.interfaceDescription:
                var interface = Interface(
                    linkType: UInt32(u16(0)), snaplen: Int(u32(4)), unitsPerSecond: 1_000_000, offsetSeconds: 0)
                // Options: if_tsresol (9) and if_tsoffset (14) change how timestamps are read.
                var at = 8
                while at + 4 <= block.count {
                    let code = u16(at)
                    let optionLength = Int(u16(at + 2))
                    if code == 0 { break }
                    guard at + 4 + optionLength <= block.count else { break }
                    if code == 9, optionLength >= 1 {
                        let resolution = block[at + 4]
                        let exponent = UInt64(resolution & 0x7f)
                        if resolution & 0x80 != 0 {
                            interface.unitsPerSecond = exponent < 63 ? 1 << exponent : 1_000_000
                        } else {
                            interface.unitsPerSecond =
                                exponent <= 18 ? (0..<exponent).reduce(UInt64(1)) { r, _ in r * 10 } : 1_000_000
                        }
                    } else if code == 14, optionLength >= 8 {
                        let raw = block.loadUnaligned(fromByteOffset: at + 4, as: UInt64.self)
                        interface.offsetSeconds = Int64(bitPattern: swapped ? raw.byteSwapped : raw)
                    }
                    at += 4 + ((optionLength + 3) & ~3)
                }
                if !LinkType.isSupported(interface.linkType) {
                    self.warnings.append(
                        CaptureError(
                            .unsupportedLinkType, path: self.path, offset: offset,
                            "interface \(interfaces.count) has link type \(interface.linkType), not supported; its packets are skipped"
                        ))
                }
                interfaces.append(interface)
            case PcapngBlocks.enhancedPacket, PcapngBlocks.packet:
                let interfaceID = PcapngBlocks.interface(type: type, body: block, swapped: swapped)
                guard interfaceID < interfaces.count else {
                    self.warnings.append(
                        CaptureError(
                            .malformed, path: self.path, offset: offset,
                            "packet names interface \(interfaceID), which was never described; skipped"))
                    break
                }
                let interface = interfaces[interfaceID]
                let units = UInt64(u32(4)) << 32 | UInt64(u32(8))
                let captured = Int(u32(12))
                let original = Int(u32(16))
                do throws(CaptureError) {
                    try PcapngBlocks.checkCapturedLength(
                        captured, bodyCount: block.count, at: offset, path: self.path)
                } catch {
                    self.warnings.append(error)
                    return
                }
                guard LinkType.isSupported(interface.linkType) else { break }
                body(
                    CapturedPacket(
                        timestamp: Self.timestamp(units, interface),
                        linkType: interface.linkType,
                        originalLength: max(original, captured),
                        bytes: UnsafeRawBufferPointer(rebasing: block[20..<(20 + captured)])
                    ))
            case PcapngBlocks.simplePacket:  // interface 0, no timestamp
                guard let interface = interfaces.first else {
                    self.warnings.append(
                        CaptureError(
                            .malformed, path: self.path, offset: offset,
                            "simple packet block before any interface was described; skipped"))
                    break
                }
                let original = Int(u32(0))
                var captured = min(original, block.count - 4)
                if interface.snaplen > 0 { captured = min(captured, interface.snaplen) }
                guard LinkType.isSupported(interface.linkType) else { break }
                body(
                    CapturedPacket(
                        timestamp: .zero, linkType: interface.linkType, originalLength: max(original, captured),
                        bytes: UnsafeRawBufferPointer(rebasing: block[4..<(4 + captured)])
                    ))
            case PcapngBlocks.decryptionSecrets:
                switch PcapngBlocks.secrets(in: block, swapped: swapped, at: offset, path: self.path) {
                case .success(let secrets): self.embeddedSecrets.append(secrets)
                case .failure(let skipped): self.warnings.append(skipped)
                }
            default:
                break  // Name resolution, statistics, custom blocks: nothing to analyse.
            }
            offset += length
            self.release(before: offset)
        }
    }

    private static func timestamp(_ units: UInt64, _ interface: Interface) -> Timestamp {
        let perSecond = max(interface.unitsPerSecond, 1)
        let seconds = units / perSecond
        let remainder = units % perSecond
        let nanos: UInt64 =
            perSecond >= 1_000_000_000
            ? remainder / (perSecond / 1_000_000_000)
            : remainder.multipliedReportingOverflow(by: 1_000_000_000).overflow
                ? 0 : remainder * 1_000_000_000 / perSecond
        return Timestamp(
            seconds: Int64(truncatingIfNeeded: seconds) &+ interface.offsetSeconds,
            nanoseconds: UInt32(min(nanos, 999_999_999)))
    }
}
