import Foundation
import SystemCalls

#if canImport(Glibc)
    import Glibc
#endif

/// Writes a pcapng file (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html) in the host's byte
/// order, which every reader accepts (the Section Header Block's byte-order magic says which it is):
///
/// - one Section Header Block (`shb_userappl` = Bulkhead);
/// - one Interface Description Block per capture interface, written before any packet: link type, snap length,
///   `if_name`, and `if_tsresol` = 9 (timestamps in nanoseconds);
/// - one Enhanced Packet Block per packet: interface id, 64-bit nanosecond timestamp, captured and original
///   lengths, the bytes padded to 32 bits;
/// - at the end, one Interface Statistics Block per interface (`isb_ifrecv`, `isb_ifdrop` from the kernel).
///
/// libpcap's dump functions write classic pcap only (one link type, no interface names), hence this writer.
///
/// The file is written to a hidden temporary file beside `path` (`.NAME.PID.tmp`) and renamed into place by
/// ``commit()``, so `path` never holds half a capture. Blocks are handed to the kernel as they are written
/// (buffered at most ``flushThreshold`` bytes, and on every ``flush()``), so if the process dies, the
/// temporary file still holds everything captured until shortly before, readable by any pcapng reader.
public final class PcapngWriter {
    /// The file it will become.
    public let path: String
    /// Where it is written until ``commit()``.
    public let temporaryPath: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private var interfaceCount = 0
    private var packetsWritten = false
    /// The first write error (errno text); once set, ``commit()`` fails, because blocks were lost.
    /// The first write failure (its errno's text); the capture file is then incomplete.
    private(set) var writeError: String?
    /// Bytes gathered before they are written out.
    public var flushThreshold = 64 << 10

    /// Creates the temporary file and writes the Section Header Block.
    ///
    /// - Throws: ``LiveCaptureError`` (`cannotWrite`) naming `path`.
    public init(path: String, application: String = "Bulkhead") throws(LiveCaptureError) {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        self.temporaryPath = (directory.isEmpty ? "." : directory) + "/.\(name).\(getpid()).tmp"
        self.descriptor = open(self.temporaryPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard self.descriptor >= 0 else {
            throw LiveCaptureError(
                .cannotWrite, file: path, "cannot create the capture file: \(SystemCallError.last("open").message)")
        }
        self.buffer.reserveCapacity(self.flushThreshold + 70_000)
        // Section Header Block: byte-order magic, version 1.0, section length unknown (-1), shb_userappl.
        var body: [UInt8] = []
        Self.append32(&body, 0x1A2B_3C4D)
        Self.append16(&body, 1)
        Self.append16(&body, 0)
        Self.append64(&body, UInt64.max)
        Self.option(&body, code: 4, Array(application.utf8))
        Self.endOfOptions(&body)
        self.block(type: 0x0A0D_0D0A, body)
    }

    deinit {
        if self.descriptor >= 0 {
            close(self.descriptor)
            unlink(self.temporaryPath)
        }
    }

    /// Adds an Interface Description Block and returns the interface's id (0, 1, …) for ``writePacket(interface:timestampNanoseconds:originalLength:bytes:)``.
    /// Every interface must be added before the first packet.
    public func addInterface(name: String, linkType: UInt32, snapLength: UInt32) -> UInt32 {
        precondition(!self.packetsWritten, "pcapng: interfaces are described before packets")
        var body: [UInt8] = []
        Self.append16(&body, UInt16(truncatingIfNeeded: linkType))
        Self.append16(&body, 0)
        Self.append32(&body, snapLength)
        Self.option(&body, code: 2, Array(name.utf8))  // if_name
        Self.option(&body, code: 9, [9])  // if_tsresol: 10^-9 s
        Self.endOfOptions(&body)
        self.block(type: 1, body)
        defer { self.interfaceCount += 1 }
        return UInt32(self.interfaceCount)
    }

    /// Adds an Enhanced Packet Block.
    public func writePacket(
        interface: UInt32, timestampNanoseconds: UInt64, originalLength: Int, bytes: UnsafeRawBufferPointer
    ) {
        self.packetsWritten = true
        let padded = (bytes.count + 3) & ~3
        let total = 32 + padded
        Self.append32(&self.buffer, 6)
        Self.append32(&self.buffer, UInt32(total))
        Self.append32(&self.buffer, interface)
        Self.append32(&self.buffer, UInt32(truncatingIfNeeded: timestampNanoseconds >> 32))
        Self.append32(&self.buffer, UInt32(truncatingIfNeeded: timestampNanoseconds))
        Self.append32(&self.buffer, UInt32(bytes.count))
        Self.append32(&self.buffer, UInt32(clamping: originalLength))
        self.buffer.append(contentsOf: bytes)
        self.buffer.append(contentsOf: repeatElement(0, count: padded - bytes.count))
        Self.append32(&self.buffer, UInt32(total))
        if self.buffer.count >= self.flushThreshold { self.flush() }
    }

    /// Adds an Interface Statistics Block: packets the kernel received and dropped on the interface, at `timestampNanoseconds`.
    public func writeStatistics(interface: UInt32, timestampNanoseconds: UInt64, received: UInt64, dropped: UInt64) {
        var body: [UInt8] = []
        Self.append32(&body, interface)
        Self.append32(&body, UInt32(truncatingIfNeeded: timestampNanoseconds >> 32))
        Self.append32(&body, UInt32(truncatingIfNeeded: timestampNanoseconds))
        var value: [UInt8] = []
        Self.append64(&value, received)
        Self.option(&body, code: 4, value)  // isb_ifrecv
        value.removeAll()
        Self.append64(&value, dropped)
        Self.option(&body, code: 5, value)  // isb_ifdrop
        Self.endOfOptions(&body)
        self.block(type: 5, body)
    }

    /// Hands what is buffered to the kernel (it survives the process from then on). Returns false when the
    /// write failed (disk full…); the capture file is then incomplete.
    @discardableResult
    public func flush() -> Bool {
        var ok = true
        self.buffer.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count, let base = raw.baseAddress {
                let written: Int
                do throws(SystemCallError) {
                    written = try SystemCall.retrying("write") {
                        write(self.descriptor, base + offset, raw.count - offset)
                    }
                } catch {
                    ok = false
                    if self.writeError == nil { self.writeError = error.message }
                    return
                }
                offset += written
            }
        }
        self.buffer.removeAll(keepingCapacity: true)
        return ok
    }

    /// Writes the rest, syncs, and renames the temporary file to ``path``. Fails (and removes the temporary file)
    /// if any earlier write failed, since packets are then missing from it.
    ///
    /// - Throws: ``LiveCaptureError`` (`cannotWrite`) naming the file.
    public func commit() throws(LiveCaptureError) {
        let flushed = self.flush()
        // errno is read at once: close() below may change it.
        let syncFailure = fsync(self.descriptor) == 0 ? nil : SystemCallError.last("fsync")
        close(self.descriptor)
        self.descriptor = -1
        guard flushed, syncFailure == nil, self.writeError == nil else {
            let reason = self.writeError ?? syncFailure?.message ?? "a write failed"
            unlink(self.temporaryPath)
            throw LiveCaptureError(.cannotWrite, file: self.path, "cannot write the capture file: \(reason)")
        }
        guard rename(self.temporaryPath, self.path) == 0 else {
            let reason = SystemCallError.last("rename").message
            unlink(self.temporaryPath)
            throw LiveCaptureError(
                .cannotWrite, file: self.path, "cannot rename the capture file into place: \(reason)")
        }
    }

    // MARK: - Encoding (host byte order; the SHB magic tells readers which)

    private func block(type: UInt32, _ body: [UInt8]) {
        let total = UInt32(12 + body.count)
        Self.append32(&self.buffer, type)
        Self.append32(&self.buffer, total)
        self.buffer.append(contentsOf: body)
        Self.append32(&self.buffer, total)
    }

    private static func option(_ body: inout [UInt8], code: UInt16, _ value: [UInt8]) {
        self.append16(&body, code)
        self.append16(&body, UInt16(value.count))
        body.append(contentsOf: value)
        body.append(contentsOf: repeatElement(0, count: ((value.count + 3) & ~3) - value.count))
    }

    private static func endOfOptions(_ body: inout [UInt8]) {
        self.append32(&body, 0)
    }

    private static func append16(_ bytes: inout [UInt8], _ value: UInt16) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    private static func append32(_ bytes: inout [UInt8], _ value: UInt32) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    private static func append64(_ bytes: inout [UInt8], _ value: UInt64) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }
}
