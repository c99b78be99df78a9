import SystemCalls

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The checks a pcapng block passes before its content is used, shared by the packet walk (``CaptureFile``) and the
/// secrets scan (``PcapngSecretsScan``) so that both stop at the same block. They are libpcap's: what it refuses to
/// read, the walk does not read either. Each failure is the ``CaptureError`` the walk reports (the scan reports none:
/// the walk that follows it does).
enum PcapngBlocks {
    /// Section Header Block.
    static let sectionHeader: UInt32 = 0x0a0d_0d0a
    /// Interface Description Block.
    static let interfaceDescription: UInt32 = 1
    /// Obsolete Packet Block.
    static let packet: UInt32 = 2
    /// Simple Packet Block.
    static let simplePacket: UInt32 = 3
    /// Enhanced Packet Block.
    static let enhancedPacket: UInt32 = 6
    /// Decryption Secrets Block.
    static let decryptionSecrets: UInt32 = 0x0000_000a

    /// Section Header Blocks longer than this are damage (libpcap's BT_SHB_INSANE_MAX).
    static let sectionHeaderLimit = 1 << 20
    /// Other blocks longer than this are damage (libpcap's largest block without a huge snap length).
    static let blockLimit = 16 << 20

    /// Where a walk of the blocks is: whether a section has begun, and in which byte order its numbers are.
    struct Sections {
        private(set) var swapped = false
        private(set) var begun = false

        /// The type of the block stored as `stored`, in its section's byte order. A Section Header Block, checked
        /// from its first bytes (`header`: 28 bytes, or what the file has), begins a new section: `begins` is then
        /// true. Until one has begun, no other block may come.
        mutating func type(
            stored: UInt32, header: () throws(CaptureError) -> UnsafeRawBufferPointer, at offset: Int, path: String
        ) throws(CaptureError) -> (type: UInt32, begins: Bool) {
            if stored == PcapngBlocks.sectionHeader {
                self.swapped = try PcapngBlocks.checkSectionHeader(header(), at: offset, path: path)
                self.begun = true
                return (stored, true)
            }
            guard self.begun else {
                throw CaptureError(
                    .notACapture, path: path, offset: 0, "pcapng file does not start with a section header")
            }
            return (self.swapped ? stored.byteSwapped : stored, false)
        }
    }

    /// Whether a block header (type and length, and the trailer of the shortest block) fits before the file's end.
    @inline(__always)
    static func checkHeaderFits(at offset: Int, fileSize: Int, path: String) throws(CaptureError) {
        guard offset + 12 <= fileSize else {
            throw CaptureError(.truncated, path: path, offset: offset, "file ends inside a block header")
        }
    }

    /// A Section Header Block: a known byte order, a sane length, version 1.0 or 1.2. `bytes` starts at the block and
    /// holds its first 28 bytes or what the file has of them; `offset` is where the block is in the file. Returns
    /// whether the section's numbers are byte-swapped.
    static func checkSectionHeader(_ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws(CaptureError)
        -> Bool
    {
        guard bytes.count >= 28 else {
            throw CaptureError(.truncated, path: path, offset: offset, "file ends inside a pcapng section header")
        }
        let byteOrder = bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        guard byteOrder == 0x1a2b_3c4d || byteOrder == 0x4d3c_2b1a else {
            throw CaptureError(
                .malformed, path: path, offset: offset + 8, "pcapng section header has a bad byte-order magic")
        }
        let swapped = byteOrder == 0x4d3c_2b1a
        let rawLength = bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let length = Int(swapped ? rawLength.byteSwapped : rawLength)
        guard length >= 28, length <= Self.sectionHeaderLimit else {
            throw CaptureError(
                .malformed, path: path, offset: offset + 4,
                "pcapng section header length \(length) is impossible (28 to \(Self.sectionHeaderLimit) bytes)")
        }
        let rawMajor = bytes.loadUnaligned(fromByteOffset: 12, as: UInt16.self)
        let rawMinor = bytes.loadUnaligned(fromByteOffset: 14, as: UInt16.self)
        let major = swapped ? rawMajor.byteSwapped : rawMajor
        let minor = swapped ? rawMinor.byteSwapped : rawMinor
        guard major == 1, minor == 0 || minor == 2 else {
            throw CaptureError(
                .notACapture, path: path, offset: offset + 12,
                "unsupported pcapng version \(major).\(minor) (libpcap reads 1.0 and 1.2)")
        }
        return swapped
    }

    /// The block's length, from its header's field as stored: a multiple of four from 12 bytes to ``blockLimit``,
    /// within the file.
    @inline(__always)
    static func length(stored: UInt32, swapped: Bool, at offset: Int, fileSize: Int, path: String)
        throws(CaptureError) -> Int
    {
        let length = Int(swapped ? stored.byteSwapped : stored)
        guard length >= 12, length % 4 == 0, length <= Self.blockLimit else {
            throw CaptureError(
                .malformed, path: path, offset: offset, "pcapng block length \(length) is impossible; stopped reading")
        }
        guard offset + length <= fileSize else {
            throw CaptureError(.truncated, path: path, offset: offset, "file ends inside a pcapng block")
        }
        return length
    }

    /// The trailer (the length repeated at the block's end, as stored) agrees with the header.
    @inline(__always)
    static func checkTrailer(stored: UInt32, swapped: Bool, length: Int, at offset: Int, path: String)
        throws(CaptureError)
    {
        let trailer = Int(swapped ? stored.byteSwapped : stored)
        guard trailer == length else {
            throw CaptureError(
                .malformed, path: path, offset: offset,
                "pcapng block length \(length) and its trailer (\(trailer)) disagree; stopped reading")
        }
    }

    /// The block's body (between length and trailer, `bodyCount` bytes) holds its type's fixed fields.
    @inline(__always)
    static func checkFixedFields(type: UInt32, bodyCount: Int, length: Int, at offset: Int, path: String)
        throws(CaptureError)
    {
        let least: Int
        switch type {
        case Self.interfaceDescription, Self.decryptionSecrets: least = 8
        case Self.enhancedPacket, Self.packet: least = 20
        case Self.simplePacket: least = 4
        default: return
        }
        // libpcap refuses a block too short for its fixed fields; skipping it would lose what it holds.
        guard bodyCount >= least else {
            throw CaptureError(
                .malformed, path: path, offset: offset,
                "pcapng block of type \(type) is too short (\(length) bytes); stopped reading")
        }
    }

    /// The interface a packet block names: 32 bits in an Enhanced Packet Block, 16 in an obsolete one.
    @inline(__always)
    static func interface(type: UInt32, body: UnsafeRawBufferPointer, swapped: Bool) -> Int {
        if type == Self.enhancedPacket {
            let stored = body.loadUnaligned(as: UInt32.self)
            return Int(swapped ? stored.byteSwapped : stored)
        }
        let stored = body.loadUnaligned(as: UInt16.self)
        return Int(swapped ? stored.byteSwapped : stored)
    }

    /// A packet block's captured length fits in its body (checked for packets of a described interface only, as
    /// libpcap does).
    @inline(__always)
    static func checkCapturedLength(_ captured: Int, bodyCount: Int, at offset: Int, path: String)
        throws(CaptureError)
    {
        guard captured <= bodyCount - 20 else {
            throw CaptureError(
                .malformed, path: path, offset: offset,
                "packet block claims \(captured) bytes, more than the block holds; stopped reading")
        }
    }

    /// The checks of a block's content that follow its header and trailer, as the walk makes them: its type's fixed
    /// fields, and a packet's captured length when its interface was described. `head` holds the block's first bytes
    /// (28, or the whole block when it is shorter); `interfaces` counts the section's Interface Description Blocks so
    /// far, and is counted on here.
    static func checkContent(
        type: UInt32, length: Int, head: UnsafeRawBufferPointer, swapped: Bool, interfaces: inout Int, at offset: Int,
        path: String
    ) throws(CaptureError) {
        try Self.checkFixedFields(type: type, bodyCount: length - 12, length: length, at: offset, path: path)
        switch type {
        case Self.interfaceDescription:
            interfaces += 1
        case Self.enhancedPacket, Self.packet:
            let fixed = UnsafeRawBufferPointer(rebasing: head[8..<28])
            if Self.interface(type: type, body: fixed, swapped: swapped) < interfaces {
                let stored = fixed.loadUnaligned(fromByteOffset: 12, as: UInt32.self)
                try Self.checkCapturedLength(
                    Int(swapped ? stored.byteSwapped : stored), bodyCount: length - 12, at: offset, path: path)
            }
        default:
            break
        }
    }

    /// The secrets a Decryption Secrets Block's body holds; the error is a warning, and the walk goes on past it.
    static func secrets(in body: UnsafeRawBufferPointer, swapped: Bool, at offset: Int, path: String)
        -> Result<EmbeddedSecrets, CaptureError>
    {
        func u32(_ at: Int) -> UInt32 {
            let value = body.loadUnaligned(fromByteOffset: at, as: UInt32.self)
            return swapped ? value.byteSwapped : value
        }
        let secretsLength = Int(u32(4))
        guard secretsLength <= body.count - 8 else {
            return .failure(
                CaptureError(
                    .malformed, path: path, offset: offset,
                    "decryption secrets block claims \(secretsLength) bytes, more than it holds; skipped"))
        }
        return .success(EmbeddedSecrets(type: u32(0), data: Array(body[8..<(8 + secretsLength)])))
    }
}

/// Finds the Decryption Secrets Blocks of a pcapng file before its packets are analysed (a block may come after the
/// packets it decrypts), without walking the packets: each block's header, trailer and a few fixed fields are read
/// through a buffer with `pread`, and only a secrets block is read whole.
///
/// Walking the mapped file for them instead (the packet walk with nothing to do per packet) took 112 ms at 300 MB,
/// before the analysis could start: every page of the mapping faulted in, and each block's header a load from memory
/// that waited on the one before. Read ahead by the kernel into a buffer that stays in the cache, the same scan takes
/// about a third of that (BENCHMARKS.md, session 15). It stops where the packet walk would stop, by the same rules
/// (``PcapngBlocks``), so it finds exactly the secrets the walk finds.
struct PcapngSecretsScan {
    /// Where the file's bytes come from: a descriptor read with `pread`, or memory (a capture held in memory, or the
    /// mapping when the file cannot be opened again).
    enum Source {
        case descriptor(Int32)
        case memory(UnsafeRawBufferPointer)
    }

    let source: Source
    let fileSize: Int
    let path: String
    /// Called with how far a ``Source/memory`` source has been read, for a mapping to give back its pages behind the
    /// scan (mapped pages count as resident memory, and the scan reads the whole file).
    var readUpTo: ((Int) -> Void)? = nil

    /// How much of the file is read at once.
    static let bufferSize = 256 << 10

    /// The secrets blocks' contents in file order.
    ///
    /// - Throws: ``CaptureError`` when the first block is not a usable section header (the walk throws the same), and
    ///   `unreadable` when reading fails.
    func run() throws(CaptureError) -> [EmbeddedSecrets] {
        var window = Window(source: self.source, fileSize: self.fileSize, path: self.path, readUpTo: self.readUpTo)
        defer { window.deallocate() }
        var found: [EmbeddedSecrets] = []
        var offset = 0
        var sections = PcapngBlocks.Sections()
        var interfaces = 0
        while offset < self.fileSize {
            window.blockStart = offset
            let length: Int
            do throws(CaptureError) {
                try PcapngBlocks.checkHeaderFits(at: offset, fileSize: self.fileSize, path: self.path)
                let size = self.fileSize
                let block = try sections.type(
                    stored: window.word(at: offset),
                    header: { () throws(CaptureError) in try window.bytes(at: offset, count: min(28, size - offset)) },
                    at: offset, path: self.path)
                if block.begins { interfaces = 0 }
                let swapped = sections.swapped
                length = try PcapngBlocks.length(
                    stored: window.word(at: offset + 4), swapped: swapped, at: offset, fileSize: self.fileSize,
                    path: self.path)
                try PcapngBlocks.checkTrailer(
                    stored: window.word(at: offset + length - 4), swapped: swapped, length: length, at: offset,
                    path: self.path)
                try PcapngBlocks.checkContent(
                    type: block.type, length: length, head: window.bytes(at: offset, count: min(28, length)),
                    swapped: swapped, interfaces: &interfaces, at: offset, path: self.path)
                if block.type == PcapngBlocks.decryptionSecrets,
                    case .success(let secrets) = PcapngBlocks.secrets(
                        in: try window.bytes(at: offset + 8, count: length - 12), swapped: swapped, at: offset,
                        path: self.path)
                {
                    found.append(secrets)
                }
            } catch  where error.code == .unreadable || !sections.begun {
                // A file that cannot be read, or is not a capture: the walk would fail the same way.
                throw error
            } catch {
                // The walk's warnings are the walk's to give: here, any of them just ends the scan.
                return found
            }
            offset += length
        }
        return found
    }

    /// A stretch of the file held in a buffer, read again from wherever it is asked for past its end.
    private struct Window {
        let source: Source
        let fileSize: Int
        let path: String
        let readUpTo: ((Int) -> Void)?
        private let buffer = UnsafeMutableRawBufferPointer.allocate(
            byteCount: PcapngSecretsScan.bufferSize, alignment: 16)
        private var start = 0
        private var count = 0
        /// A block larger than the buffer (a large secrets block), read on its own.
        private var large: UnsafeMutableRawBufferPointer?
        /// Where the block being read starts: the buffer is filled from there when it can hold what is asked for, so
        /// that a block read piece by piece (header, trailer, fixed fields) is read from the file once.
        var blockStart = 0

        init(source: Source, fileSize: Int, path: String, readUpTo: ((Int) -> Void)?) {
            self.source = source
            self.fileSize = fileSize
            self.path = path
            self.readUpTo = readUpTo
        }

        func deallocate() {
            self.buffer.deallocate()
            self.large?.deallocate()
        }

        /// The 32 bits at `offset`, as stored.
        mutating func word(at offset: Int) throws(CaptureError) -> UInt32 {
            try self.bytes(at: offset, count: 4).loadUnaligned(as: UInt32.self)
        }

        /// `count` bytes at `offset` (which the caller knows the file holds), valid until the next call.
        mutating func bytes(at offset: Int, count: Int) throws(CaptureError) -> UnsafeRawBufferPointer {
            if offset >= self.start, offset + count <= self.start + self.count, let base = self.buffer.baseAddress {
                return UnsafeRawBufferPointer(start: base + (offset - self.start), count: count)
            }
            if count > self.buffer.count {
                self.large?.deallocate()
                let large = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 16)
                self.large = large
                try self.read(into: large, at: offset)
                return UnsafeRawBufferPointer(large)
            }
            let from = offset + count - self.blockStart <= self.buffer.count ? min(self.blockStart, offset) : offset
            let wanted = min(self.buffer.count, self.fileSize - from)
            try self.read(into: UnsafeMutableRawBufferPointer(rebasing: self.buffer[0..<wanted]), at: from)
            self.start = from
            self.count = wanted
            return UnsafeRawBufferPointer(rebasing: self.buffer[(offset - from)..<(offset - from + count)])
        }

        private func read(into target: UnsafeMutableRawBufferPointer, at offset: Int) throws(CaptureError) {
            guard let base = target.baseAddress else { return }
            switch self.source {
            case .memory(let bytes):
                guard offset >= 0, offset + target.count <= bytes.count, let from = bytes.baseAddress else {
                    throw CaptureError(.unreadable, path: self.path, offset: offset, "cannot read: past the end")
                }
                base.copyMemory(from: from + offset, byteCount: target.count)
                self.readUpTo?(offset + target.count)
            case .descriptor(let descriptor):
                var done = 0
                while done < target.count {
                    let got: Int
                    do throws(SystemCallError) {
                        got = try SystemCall.retrying("pread") {
                            pread(descriptor, base + done, target.count - done, off_t(offset + done))
                        }
                    } catch {
                        throw CaptureError(
                            .unreadable, path: self.path, offset: offset, "cannot read: \(error.message)")
                    }
                    // The file was checked to hold these bytes: an early end means it shrank while being read.
                    guard got > 0 else {
                        throw CaptureError(
                            .unreadable, path: self.path, offset: offset + done, "cannot read: the file got shorter")
                    }
                    done += got
                }
            }
        }
    }
}
