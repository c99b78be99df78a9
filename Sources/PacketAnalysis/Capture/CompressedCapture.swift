import BulkheadModel
import CBulkheadStreams

#if canImport(Glibc)
    import Glibc
#endif

/// The compressions a capture file may come in, told by their first bytes (never by the name alone: `cap.pcap` may
/// be gzip, `cap.pcap.gz` may not be).
public enum CaptureCompression: String, Sendable, CaseIterable {
    /// Read: `tcpdump -z gzip`, logrotate and most archives leave these.
    case gzip
    /// Recognised, not read: the message says how to decompress them.
    case zstd, xz, bzip2, lz4

    /// The compression whose magic `bytes` start with, if any.
    public static func of(_ bytes: UnsafeRawBufferPointer) -> CaptureCompression? {
        func starts(_ magic: [UInt8]) -> Bool { bytes.count >= magic.count && bytes.starts(with: magic) }
        if starts([0x1f, 0x8b]) { return .gzip }
        if starts([0x28, 0xb5, 0x2f, 0xfd]) { return .zstd }
        if starts([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) { return .xz }
        if starts([0x42, 0x5a, 0x68]) { return .bzip2 }
        if starts([0x04, 0x22, 0x4d, 0x18]) { return .lz4 }
        return nil
    }

    /// File name endings of compressed captures in a folder (`cap.pcap.gz`, `cap.pcap3.zst`…).
    static let fileExtensions = ["gz", "zst", "xz", "bz2", "lz4"]

    /// The command that writes the decompressed capture to standard output.
    var decompressCommand: String {
        switch self {
        case .gzip: "gzip -dc"
        case .zstd: "zstd -dc"
        case .xz: "xz -dc"
        case .bzip2: "bzip2 -dc"
        case .lz4: "lz4 -dc"
        }
    }

    /// Why a file compressed this way is not read, and what to do instead.
    func refusal(path: String) -> CaptureError {
        CaptureError(
            .notACapture, path: path, offset: 0,
            "not a capture but \(self.rawValue)-compressed data, which is not read here: decompress it first, or pipe "
                + "it in (\(self.decompressCommand) FILE | bulkhead analyze -)"
                + (self == .gzip ? "" : "; gzip-compressed captures are read as they are"))
    }
}

/// A gzip-compressed capture, checked when the inputs are opened (its gzip and capture headers, its first packet's
/// time for the order of the files) and read when its turn comes: a folder of a thousand rotated `.pcap.gz` files does
/// not hold a thousand decompressors open.
struct CompressedCapture {
    let path: String
    /// The compressed file's size.
    let size: Int
    let firstPacketTime: Timestamp?
    /// The Decryption Secrets Blocks of a pcapng within the bytes decompressed to check it (`editcap
    /// --inject-secrets` puts them at the start), known before any packet is read, so they serve packets before them
    /// in those bytes too. Those further on are taken as the file is read (``TappedCaptureStream``).
    let embeddedSecrets: [EmbeddedSecrets]
    /// How many decompressed bytes were scanned for ``embeddedSecrets``.
    let secretsScanned: Int
    /// Whether it decompresses to a pcapng (which may hold secrets blocks).
    let isPcapng: Bool

    /// Bytes decompressed to check a file and find its first packet (and a pcapng's secrets): a pcapng section header,
    /// interface blocks, secrets for thousands of connections and a first packet fit.
    private static let peekSize = 256 << 10

    /// - Throws: ``CaptureError`` as ``CaptureFile`` does for what the file decompresses to, `malformed` or
    ///   `truncated` for gzip data damaged before it.
    init(path: String) throws(CaptureError) {
        let descriptor: Int32
        switch RegularFile.openForReading(path) {
        case .success(let opened): (descriptor, self.size) = opened
        case .failure(.notRegular(let message)): throw CaptureError(.notARegularFile, path: path, message)
        case .failure(.cannotOpen(let message)): throw CaptureError(.unreadable, path: path, message)
        }
        self.path = path
        var message = [CChar](repeating: 0, count: 257)
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.peekSize, alignment: 8)
        defer { bytes.deallocate() }
        let count = bh_gzip_peek(descriptor, bytes.baseAddress, bytes.count, &message, message.count)
        guard count >= 0 else {
            let zlib = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw CaptureError(
                zlib == "unexpected end of file" ? .truncated : .malformed, path: path,
                "the gzip data is damaged before the capture begins (\(zlib))")
        }
        let decompressed = UnsafeRawBufferPointer(rebasing: bytes[..<Int(count)])
        do throws(CaptureError) {
            let capture = try CaptureFile(borrowing: decompressed, name: path)
            self.firstPacketTime = capture.firstPacketTime()
            // The scan ends quietly at the block the check's bytes cut.
            self.embeddedSecrets = (try? capture.scanEmbeddedSecrets()) ?? []
            self.secretsScanned = Int(count)
            self.isPcapng = capture.format == .pcapng
        } catch {
            // The same checks as an uncompressed file's, said of what it decompresses to.
            var error = error
            error.message = "decompressed, \(error.message)"
            throw error
        }
    }

    /// A reader of the whole file, decompressing as it goes.
    func open() throws(CaptureError) -> LibpcapCaptureReader {
        try LibpcapCaptureReader(gzipCompressed: self.path, secretsKnownUpTo: self.secretsScanned)
    }

    /// The compression of the file at `path`, from its first bytes (nil when it has none, or cannot be read: opening
    /// it as a capture then says why).
    static func compression(of path: String) -> CaptureCompression? {
        guard case .success(let opened) = RegularFile.openForReading(path) else { return nil }
        defer { close(opened.descriptor) }
        var magic = [UInt8](repeating: 0, count: 6)
        let count = magic.withUnsafeMutableBytes { pread(opened.descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return magic.withUnsafeBytes { CaptureCompression.of(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
    }
}
