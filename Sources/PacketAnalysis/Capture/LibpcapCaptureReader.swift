import BulkheadModel
import CBulkheadPcap
import CBulkheadStreams

#if canImport(Glibc)
    import Glibc
#endif

/// Reads a capture file through libpcap (`pcap_open_offline` + `pcap_next_ex`).
///
/// ``CaptureFile`` is faster for files (it does not copy each record); this reader exists because libpcap is
/// the reference implementation of the formats, the path live capture takes, and the floor the benchmark
/// compares against. `bulkhead analyze --reader libpcap` selects it. It is also how streams are read: standard
/// input (`analyze -`) and gzip-compressed files (``init(gzipCompressed:)``); libpcap reads pcap and pcapng as a
/// stream, a record at a time, in bounded memory.
public final class LibpcapCaptureReader {
    /// The file, or `standard input`.
    public let path: String
    private let handle: OpaquePointer
    public let linkType: UInt32
    /// The stdio buffer of standard input (freed after libpcap closes the stream): see ``init(path:)``.
    private let streamBuffer: UnsafeMutablePointer<CChar>?
    /// The decompressor of a gzip-compressed file (freed when libpcap closes the stream it feeds).
    private let gzip: OpaquePointer?
    /// What the bytes of standard input or a decompressed file pass through on their way to libpcap: the secrets
    /// blocks of a pcapng are taken from there (libpcap passes over them). Freed when libpcap closes the stream.
    private let tap: TappedCaptureStream?

    /// The name `analyze` uses for standard input.
    public static let standardInput = "-"

    /// Whether the file was gzip-compressed (byte offsets in its problems then count decompressed bytes).
    public var isCompressed: Bool { self.gzip != nil }

    /// Opens `path` with libpcap; `-` is standard input.
    ///
    /// - Throws: ``CaptureError`` (`notACapture` with libpcap's own message, `unsupportedLinkType`).
    public init(path: String) throws(CaptureError) {
        var tapped: TappedCaptureStream?
        let name = path == Self.standardInput ? "standard input" : path
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        var streamBuffer: UnsafeMutablePointer<CChar>?
        let opened: OpaquePointer?
        if path == Self.standardInput {
            // Standard input through a stream of our own with a 1 MiB buffer: libpcap's `-` reads stdin through
            // stdio's default buffer, one read(2) of 4 KiB at a time (73,000 system calls for 300 MB from a pipe).
            // Its bytes pass a tap for a pcapng's secrets blocks. libpcap closes the stream (and so the duplicate of
            // descriptor 0 it reads) with the handle.
            let descriptor = dup(STDIN_FILENO)
            guard descriptor >= 0,
                let (stream, tap) = TappedCaptureStream.open(
                    .descriptor(descriptor), secrets: PcapngStreamSecrets(path: name))
            else {
                throw CaptureError(.unreadable, path: name, "cannot be read: \(RegularFile.describe(errno))")
            }
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: Self.streamBufferSize)
            setvbuf(stream, buffer, _IOFBF, Self.streamBufferSize)
            opened = pcap_fopen_offline_with_tstamp_precision(stream, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errorBuffer)
            if opened == nil {
                // Refused. Compressed data is said to be so (a pipe cannot be read twice, so it is not decompressed
                // here).
                let compression = tap.firstBytes.withUnsafeBytes { CaptureCompression.of($0) }
                // The stream is still ours to close (libpcap closes only what it opened).
                fclose(stream)
                buffer.deallocate()
                if let compression {
                    throw CaptureError(
                        .notACapture, path: name,
                        "is \(compression.rawValue)-compressed: decompress it in the pipe "
                            + "(\(compression.decompressCommand) FILE | bulkhead analyze -)"
                            + (compression == .gzip ? ", or name the file (gzip is read as it is)" : ""))
                }
            } else {
                streamBuffer = buffer
                tapped = tap
            }
        } else {
            opened = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errorBuffer)
        }
        guard let handle = opened else {
            throw CaptureError(.notACapture, path: name, "libpcap cannot read it: \(Self.text(errorBuffer))")
        }
        self.linkType = try Self.supportedLinkType(handle, name: name) { streamBuffer?.deallocate() }
        self.path = name
        self.handle = handle
        self.streamBuffer = streamBuffer
        self.gzip = nil
        self.tap = tapped
    }

    /// Opens a gzip-compressed capture (`cap.pcap.gz`, as `tcpdump -z gzip` and log rotation leave them): its
    /// decompressed bytes are read by libpcap as a stream, decompressed ahead on a thread of their own.
    ///
    /// Secrets blocks that end within the first `secretsKnownUpTo` decompressed bytes were read before (see
    /// ``CompressedCapture``) and are not taken again.
    ///
    /// - Throws: ``CaptureError`` (`unreadable`; `malformed` or `truncated` for damaged compressed data before the
    ///   capture's header; `notACapture`, `unsupportedLinkType` for what it decompresses to).
    public init(gzipCompressed path: String, secretsKnownUpTo: Int = 0) throws(CaptureError) {
        let descriptor: Int32
        switch RegularFile.openForReading(path) {
        case .success(let opened): descriptor = opened.descriptor
        case .failure(.notRegular(let message)): throw CaptureError(.notARegularFile, path: path, message)
        case .failure(.cannotOpen(let message)): throw CaptureError(.unreadable, path: path, message)
        }
        guard let gzip = bh_gzip_open(descriptor) else {
            throw CaptureError(.unreadable, path: path, "cannot decompress: \(RegularFile.describe(errno))")
        }
        // The decompressed bytes pass a tap for a pcapng's secrets blocks; closing the tap's stream closes the
        // decompressor's.
        guard let decompressed = bh_gzip_stream(gzip),
            let (stream, tap) = TappedCaptureStream.open(
                .stream(decompressed), secrets: PcapngStreamSecrets(path: path, knownUpTo: secretsKnownUpTo))
        else {
            throw CaptureError(.unreadable, path: path, "cannot decompress: \(RegularFile.describe(errno))")
        }
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: Self.streamBufferSize)
        setvbuf(stream, buffer, _IOFBF, Self.streamBufferSize)
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard
            let handle = pcap_fopen_offline_with_tstamp_precision(
                stream, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errorBuffer)
        else {
            let damage = Self.damage(gzip)
            fclose(stream)  // refused: still ours to close; frees the decompressor
            buffer.deallocate()
            if let damage { throw CaptureError(damage.code, path: path, "the gzip data \(damage.words)") }
            throw CaptureError(
                .notACapture, path: path, "decompressed, libpcap cannot read it: \(Self.text(errorBuffer))")
        }
        self.linkType = try Self.supportedLinkType(handle, name: path) { buffer.deallocate() }
        self.path = path
        self.handle = handle
        self.streamBuffer = buffer
        self.gzip = gzip
        self.tap = tap
    }

    private static let streamBufferSize = 1 << 20

    deinit {
        pcap_close(self.handle)
        self.streamBuffer?.deallocate()
    }

    /// The handle's link type, when Bulkhead decodes it; otherwise the handle is closed (`release` frees what else
    /// was made for it) and the error thrown.
    private static func supportedLinkType(_ handle: OpaquePointer, name: String, release: () -> Void)
        throws(CaptureError) -> UInt32
    {
        let linkType = UInt32(bitPattern: pcap_datalink(handle))
        guard LinkType.isSupported(linkType) else {
            // Closed here and only here: no stored property is set yet, so `deinit` does not run for this
            // object (closing in both places was a double free, issue 13).
            pcap_close(handle)
            release()
            throw CaptureError(.unsupportedLinkType, path: name, "link type \(linkType) is not supported")
        }
        return linkType
    }

    /// libpcap's NUL-terminated error text.
    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// What zlib found wrong with the compressed data, if anything: cut short (`truncated`) or corrupt.
    private static func damage(_ gzip: OpaquePointer) -> (code: CaptureError.Code, words: String)? {
        var message = [CChar](repeating: 0, count: 257)
        guard bh_gzip_failed(gzip, &message, message.count) != 0 else { return nil }
        let zlib = Self.text(message)
        if zlib == "unexpected end of file" { return (.truncated, "is cut short (\(zlib))") }
        return (.malformed, "is damaged (\(zlib))")
    }

    /// Compressed bytes read so far (0 for an uncompressed file): progress against the file's size.
    public var compressedBytesRead: UInt64 {
        self.gzip.map { bh_gzip_compressed_offset($0) } ?? 0
    }

    /// Whether the capture is pcapng (which may hold Decryption Secrets Blocks), not classic pcap.
    public var isPcapng: Bool { pcap_major_version(self.handle) != 2 }

    /// Calls `body` for every packet. Returns libpcap's error text when reading stopped early, with the byte
    /// offset of the record it could not read where that is known.
    @discardableResult
    public func forEachPacket(_ body: (borrowing CapturedPacket) -> Void) -> CaptureError? {
        self.forEachPacket(secrets: { _, _ in }, body)
    }

    /// ``forEachPacket(_:)``, and each Decryption Secrets Block of a pcapng stream (standard input, a decompressed
    /// file) to `secrets` as it is read, with the number of packets handed to `body` before it: always before the
    /// packets that follow it in the stream (stdio reads ahead, so often before some that precede it too).
    func forEachPacket(
        secrets: (PcapngStreamSecrets.Found, _ packetsBefore: Int) -> Void, _ body: (borrowing CapturedPacket) -> Void
    ) -> CaptureError? {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        // Where the next record starts, for the message when one cannot be read. Classic pcap: counted (a 24-byte
        // header, then 16 bytes and the captured bytes a record). pcapng: a block's length is not visible through
        // libpcap, so the stream's position, asked only where it has one: `ftello` is an lseek(2) each time, and
        // from a pipe a failing one (one system call per packet, 858,000 for 300 MB, was most of the time of `-`).
        let file = pcap_file(self.handle)
        let classic = pcap_major_version(self.handle) == 2
        let positioned = !classic && file.map { ftello($0) >= 0 } == true
        var counted: Int? = classic ? 24 : nil
        var packets = 0
        defer {
            // Blocks after the last packet.
            if let tap = self.tap { for found in tap.secrets.take() { secrets(found, packets) } }
        }
        while true {
            let recordStart = positioned ? file.map { ftello($0) }.flatMap { $0 >= 0 ? Int($0) : nil } : counted
            let status = pcap_next_ex(self.handle, &header, &data)
            if let tap = self.tap, !tap.secrets.found.isEmpty {
                for found in tap.secrets.take() { secrets(found, packets) }
            }
            if status == 1, let header, let data {
                let record = header.pointee
                packets += 1
                counted = counted.map { $0 + 16 + Int(record.caplen) }
                body(
                    CapturedPacket(
                        timestamp: Timestamp(
                            seconds: Int64(record.ts.tv_sec), nanoseconds: UInt32(clamping: record.ts.tv_usec)),
                        linkType: self.linkType,
                        originalLength: Int(max(record.len, record.caplen)),
                        bytes: UnsafeRawBufferPointer(start: data, count: Int(record.caplen))
                    ))
            } else if status == PCAP_ERROR_BREAK {
                return nil
            } else {
                let message = pcap_geterr(self.handle).map { String(cString: $0) } ?? "read error"
                guard let gzip = self.gzip else {
                    return CaptureError(
                        .truncated, path: self.path, offset: recordStart,
                        "\(message) (after \(packets) packets); stopped reading")
                }
                // A compressed file's byte offsets are not the decompressed capture's: the position is said in words.
                let position = recordStart.map { ", at byte \($0) of the decompressed capture" } ?? ""
                if let damage = Self.damage(gzip) {
                    return CaptureError(
                        damage.code, path: self.path,
                        "the gzip data \(damage.words) after \(packets) packets\(position); stopped reading")
                }
                return CaptureError(
                    .truncated, path: self.path, "\(message) (after \(packets) packets\(position)); stopped reading")
            }
        }
    }
}
