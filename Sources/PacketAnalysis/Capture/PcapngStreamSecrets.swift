import BulkheadModel
import CBulkheadStreams

#if canImport(Glibc)
    import Glibc
#endif

/// Follows the blocks of a pcapng stream as its bytes go by, and keeps the contents of its Decryption Secrets Blocks.
///
/// libpcap reads standard input and decompressed files as streams and passes over secrets blocks; a stream cannot be
/// read twice, so they are picked out of the bytes on their way to libpcap (``TappedCaptureStream``). The blocks are
/// followed by the packet walk's rules (``PcapngBlocks``): where libpcap stops at damage, following stops too, so no
/// secrets are taken from beyond what is analysed. A stream that is not pcapng (classic pcap) is not followed past
/// its first bytes. Memory: 28 bytes of a block's head, and a secrets block whole (at most
/// ``PcapngBlocks/blockLimit``).
package struct PcapngStreamSecrets {
    /// What a secrets block held (or why it was skipped), and where its block ended in the stream.
    package struct Found {
        package var secrets: Result<EmbeddedSecrets, CaptureError>
        package var endOffset: Int
    }

    let path: String
    /// Secrets blocks that end at or before this offset were read another way (a compressed file's first bytes are
    /// scanned before it is read): not taken again.
    let knownUpTo: Int

    /// The blocks' secrets found so far and not yet taken.
    private(set) var found: [Found] = []
    /// Whether blocks are still followed (false once the stream is not pcapng or is damaged).
    package private(set) var following = true

    private var sections = PcapngBlocks.Sections()
    private var interfaces = 0
    /// Where the current block starts in the stream.
    private var blockStart = 0
    /// The current block's first bytes as they arrive (up to 28).
    private var head: (UInt64, UInt64, UInt64, UInt32) = (0, 0, 0, 0)
    private var headCount = 0
    /// The current block's type and length, once its head is read.
    private var block: (type: UInt32, length: Int)?
    /// Bytes of the current block still to come after its head.
    private var remaining = 0
    /// The last four bytes seen of the current block (its trailer once `remaining` reaches zero).
    private var trailer: UInt32 = 0
    /// A secrets block's bytes after its head, as they arrive.
    private var secretsTail: [UInt8] = []

    package init(path: String, knownUpTo: Int = 0) {
        self.path = path
        self.knownUpTo = knownUpTo
    }

    /// Takes and clears the secrets found so far.
    package mutating func take() -> [Found] {
        defer { self.found.removeAll() }
        return self.found
    }

    /// Follows the blocks through the stream's next bytes.
    package mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        var index = 0
        while index < bytes.count, self.following {
            if self.block == nil, self.headCount == 0, let length = self.wholeBlock(bytes, at: index) {
                index += length
                continue
            }
            if self.block == nil || self.headCount < self.headWanted {
                index += self.readHead(UnsafeRawBufferPointer(rebasing: bytes[index...]))
                continue
            }
            let step = min(self.remaining, bytes.count - index)
            let piece = UnsafeRawBufferPointer(rebasing: bytes[index..<(index + step)])
            if self.block?.type == PcapngBlocks.decryptionSecrets { self.secretsTail.append(contentsOf: piece) }
            self.keepTrailer(piece)
            self.remaining -= step
            index += step
            if self.remaining == 0 { self.endBlock() }
        }
    }

    /// A block that lies whole in `bytes` from `index`, followed in place: its length, or nil when it must be read
    /// piece by piece (it goes on in the next read, or its head does not check out: the piecewise reading meets the
    /// same problem and stops there). Most blocks are read this way: reads are a megabyte, blocks a packet's size.
    private mutating func wholeBlock(_ bytes: UnsafeRawBufferPointer, at index: Int) -> Int? {
        guard bytes.count - index >= 28 else { return nil }
        var sections = self.sections
        guard
            let (type, length, begins) = try? Self.typeAndLength(
                UnsafeRawBufferPointer(rebasing: bytes[index..<(index + 28)]), sections: &sections,
                at: self.blockStart, path: self.path),
            length <= bytes.count - index
        else { return nil }
        self.sections = sections
        if begins { self.interfaces = 0 }
        let block = UnsafeRawBufferPointer(rebasing: bytes[index..<(index + length)])
        self.finishBlock(
            type: type, length: length, head: UnsafeRawBufferPointer(rebasing: block[..<min(28, length)]),
            trailer: block.loadUnaligned(fromByteOffset: length - 4, as: UInt32.self), whole: { body in body(block) })
        return length
    }

    /// How many head bytes the current block needs: 8 for its type and length, a section header's 28, else 28 or the
    /// whole block when it is shorter.
    private var headWanted: Int {
        guard let block = self.block else {
            return self.headCount >= 8 && self.storedType == PcapngBlocks.sectionHeader ? 28 : 8
        }
        return min(28, block.length)
    }

    private var storedType: UInt32 { UInt32(truncatingIfNeeded: self.head.0) }

    /// Takes head bytes from `bytes`; returns how many were used.
    private mutating func readHead(_ bytes: UnsafeRawBufferPointer) -> Int {
        let wanted = self.headWanted
        let step = min(wanted - self.headCount, bytes.count)
        guard step > 0, let source = bytes.baseAddress else { return 0 }
        let at = self.headCount
        withUnsafeMutableBytes(of: &self.head) { head in
            head.baseAddress.map { ($0 + at).copyMemory(from: source, byteCount: step) }
        }
        self.headCount += step
        guard self.headCount == wanted else { return step }
        if self.block == nil {
            guard self.headWanted == wanted else { return step }  // a section header: 20 more bytes to come
            self.beginBlock()
            guard self.following, let block = self.block else { return step }
            if self.headCount < min(28, block.length) { return step }
        }
        if let block = self.block {
            self.remaining = block.length - self.headCount
            let (head, at) = (self.head, self.headCount - 4)
            self.trailer = withUnsafeBytes(of: head) { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) }
            if self.remaining == 0 { self.endBlock() }
        }
        return step
    }

    /// The type and length of the block whose first bytes are `head` (8, or a section header's 28), checked as the
    /// walk checks them, and whether it begins a section. A stream that does not start with a section header is not
    /// pcapng.
    private static func typeAndLength(
        _ head: UnsafeRawBufferPointer, sections: inout PcapngBlocks.Sections, at offset: Int, path: String
    ) throws(CaptureError) -> (type: UInt32, length: Int, begins: Bool) {
        let stored = head.loadUnaligned(as: UInt32.self)
        let type = try sections.type(stored: stored, header: { head }, at: offset, path: path)
        let length = try PcapngBlocks.length(
            stored: head.loadUnaligned(fromByteOffset: 4, as: UInt32.self), swapped: sections.swapped, at: offset,
            fileSize: .max, path: path)
        return (type.type, length, type.begins)
    }

    /// The current block's type and length, once its head (``headWanted``) is in.
    private mutating func beginBlock() {
        let (head, headCount) = (self.head, self.headCount)
        var sections = self.sections
        do throws(CaptureError) {
            let block = try withUnsafeBytes(of: head) { (head) throws(CaptureError) in
                try Self.typeAndLength(
                    UnsafeRawBufferPointer(rebasing: head[..<headCount]), sections: &sections, at: self.blockStart,
                    path: self.path)
            }
            self.sections = sections
            if block.begins { self.interfaces = 0 }
            self.block = (block.type, block.length)
        } catch {
            self.following = false  // not pcapng, or damaged: libpcap stops here too, and says why
        }
    }

    /// Keeps the last four bytes seen of the block.
    private mutating func keepTrailer(_ piece: UnsafeRawBufferPointer) {
        if piece.count >= 4 {
            self.trailer = piece.loadUnaligned(fromByteOffset: piece.count - 4, as: UInt32.self)
        } else {
            for byte in piece {
                self.trailer = self.trailer >> 8 | UInt32(byte) << 24
            }
        }
    }

    /// The block read piece by piece is whole.
    private mutating func endBlock() {
        guard let block = self.block else { return }
        let (head, headCount, tail) = (self.head, self.headCount, self.secretsTail)
        withUnsafeBytes(of: head) { head in
            let head = UnsafeRawBufferPointer(rebasing: head[..<headCount])
            self.finishBlock(
                type: block.type, length: block.length, head: head, trailer: self.trailer,
                whole: { body in (Array(head) + tail).withUnsafeBytes(body) })
        }
        self.secretsTail = []
        self.block = nil
        self.headCount = 0
        self.remaining = 0
    }

    /// A whole block: its trailer and content checked, a secrets block's contents kept (`whole` gives the block's
    /// bytes, asked for only then).
    private mutating func finishBlock(
        type: UInt32, length: Int, head: UnsafeRawBufferPointer, trailer: UInt32,
        whole: ((UnsafeRawBufferPointer) -> Void) -> Void
    ) {
        let (offset, path, swapped) = (self.blockStart, self.path, self.sections.swapped)
        do throws(CaptureError) {
            try PcapngBlocks.checkTrailer(stored: trailer, swapped: swapped, length: length, at: offset, path: path)
            try PcapngBlocks.checkContent(
                type: type, length: length, head: head, swapped: swapped, interfaces: &self.interfaces, at: offset,
                path: path)
        } catch {
            self.following = false
            return
        }
        if type == PcapngBlocks.decryptionSecrets, offset + length > self.knownUpTo {
            whole { block in
                let secrets = PcapngBlocks.secrets(
                    in: UnsafeRawBufferPointer(rebasing: block[8..<(length - 4)]), swapped: swapped, at: offset,
                    path: path)
                self.found.append(Found(secrets: secrets, endOffset: offset + length))
            }
        }
        self.blockStart += length
    }
}

/// A stdio stream for libpcap over standard input or another stream, whose bytes pass through
/// ``PcapngStreamSecrets`` on their way (a cookie stream: `fopencookie(3)`, through ``bh_cookie_stream``).
///
/// Read on the thread that reads the packets, so the secrets of a block are known before the packets after it are
/// handed on.
final class TappedCaptureStream {
    /// Where the bytes come from.
    enum Source {
        /// A descriptor, closed with the stream.
        case descriptor(Int32)
        /// Another stdio stream (a decompressor's), closed with this one.
        case stream(UnsafeMutablePointer<FILE>)
    }

    private let source: Source
    /// The blocks followed.
    var secrets: PcapngStreamSecrets
    /// The stream's first bytes (up to 8): what it is, when libpcap refuses it.
    private(set) var firstBytes: [UInt8] = []
    /// Bytes read so far.
    private(set) var offset = 0

    private init(source: Source, secrets: PcapngStreamSecrets) {
        self.source = source
        self.secrets = secrets
    }

    /// Opens a stdio stream over `source`; nil (with `errno` set, and `source` closed) when it cannot be made. The
    /// tap lives as long as the stream: closing the stream closes the source and frees it.
    static func open(_ source: Source, secrets: PcapngStreamSecrets) -> (
        UnsafeMutablePointer<FILE>, TappedCaptureStream
    )? {
        let tap = TappedCaptureStream(source: source, secrets: secrets)
        let cookie = Unmanaged.passRetained(tap).toOpaque()
        let stream = bh_cookie_stream(
            cookie,
            { cookie, buffer, size in
                guard let cookie, let buffer else { return -1 }
                return Unmanaged<TappedCaptureStream>.fromOpaque(cookie).takeUnretainedValue().read(buffer, size)
            },
            { cookie in
                guard let cookie else { return 0 }
                Unmanaged<TappedCaptureStream>.fromOpaque(cookie).takeRetainedValue().closeSource()
                return 0
            })
        guard let stream else {
            let error = errno
            Unmanaged<TappedCaptureStream>.fromOpaque(cookie).takeRetainedValue().closeSource()
            errno = error
            return nil
        }
        return (stream, tap)
    }

    private func read(_ buffer: UnsafeMutablePointer<CChar>, _ size: Int) -> Int {
        let count: Int
        switch self.source {
        case .descriptor(let descriptor):
            var result: Int
            repeat { result = Glibc.read(descriptor, buffer, size) } while result < 0 && errno == EINTR
            count = result
        case .stream(let stream):
            count = fread(buffer, 1, size, stream)
            if count == 0, ferror(stream) != 0 { return -1 }
        }
        guard count > 0 else { return count }
        let bytes = UnsafeRawBufferPointer(start: buffer, count: count)
        if self.firstBytes.count < 8 { self.firstBytes += bytes.prefix(8 - self.firstBytes.count) }
        if self.secrets.following { self.secrets.feed(bytes) }
        self.offset += count
        return count
    }

    private func closeSource() {
        switch self.source {
        case .descriptor(let descriptor): close(descriptor)
        case .stream(let stream): fclose(stream)
        }
    }
}
