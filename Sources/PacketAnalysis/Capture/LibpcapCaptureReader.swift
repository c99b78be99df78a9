import BulkheadModel
import CBulkheadPcap

#if canImport(Glibc)
    import Glibc
#endif

/// Reads a capture file through libpcap (`pcap_open_offline` + `pcap_next_ex`).
///
/// ``CaptureFile`` is faster for files (it does not copy each record); this reader exists because libpcap is
/// the reference implementation of the formats, the path live capture takes, and the floor the benchmark
/// compares against. `bulkhead analyze --reader libpcap` selects it. It is also how standard input is read
/// (`analyze -`): libpcap reads pcap and pcapng as a stream, a record at a time, in bounded memory.
public final class LibpcapCaptureReader {
    /// The file, or `standard input`.
    public let path: String
    private let handle: OpaquePointer
    public let linkType: UInt32

    /// The name `analyze` uses for standard input.
    public static let standardInput = "-"

    /// Opens `path` with libpcap; `-` is standard input.
    ///
    /// - Throws: ``CaptureError`` (`notACapture` with libpcap's own message, `unsupportedLinkType`).
    public init(path: String) throws(CaptureError) {
        let name = path == Self.standardInput ? "standard input" : path
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard
            let handle = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errorBuffer)
        else {
            let message = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw CaptureError(.notACapture, path: name, "libpcap cannot read it: \(message)")
        }
        let linkType = UInt32(bitPattern: pcap_datalink(handle))
        guard LinkType.isSupported(linkType) else {
            // Closed here and only here: no stored property is set yet, so `deinit` does not run for this
            // object (closing in both places was a double free, issue 13).
            pcap_close(handle)
            throw CaptureError(.unsupportedLinkType, path: name, "link type \(linkType) is not supported")
        }
        self.path = name
        self.handle = handle
        self.linkType = linkType
    }

    deinit { pcap_close(self.handle) }

    /// Calls `body` for every packet. Returns libpcap's error text when reading stopped early, with the byte
    /// offset of the record it could not read where that is known.
    @discardableResult
    public func forEachPacket(_ body: (borrowing CapturedPacket) -> Void) -> CaptureError? {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        // Where the next record starts: the stream's position when it has one (a file), else counted (classic
        // pcap only: a pcapng block's length is not visible through libpcap).
        let file = pcap_file(self.handle)
        let classic = pcap_major_version(self.handle) == 2
        var counted: Int? = classic ? 24 : nil
        var packets = 0
        while true {
            let position = file.map { ftello($0) } ?? -1
            let recordStart = position >= 0 ? Int(position) : counted
            let status = pcap_next_ex(self.handle, &header, &data)
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
                return CaptureError(
                    .truncated, path: self.path, offset: recordStart,
                    "\(message) (after \(packets) packets); stopped reading")
            }
        }
    }
}
