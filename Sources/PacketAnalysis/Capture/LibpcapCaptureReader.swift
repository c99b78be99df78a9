import BulkheadModel
import CBulkheadPcap

/// Reads a capture file through libpcap (`pcap_open_offline` + `pcap_next_ex`).
///
/// ``CaptureFile`` is faster for files (it does not copy each record); this reader exists because libpcap is
/// the reference implementation of the formats, the path live capture takes, and the floor the benchmark
/// compares against. `bulkhead analyze --reader libpcap` selects it.
public final class LibpcapCaptureReader {
    public let path: String
    private let handle: OpaquePointer
    public let linkType: UInt32

    /// Opens `path` with libpcap.
    ///
    /// - Throws: ``CaptureError`` (`notACapture` with libpcap's own message).
    public init(path: String) throws(CaptureError) {
        self.path = path
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let handle = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errorBuffer) else {
            let message = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw CaptureError(.notACapture, path: path, "libpcap cannot read it: \(message)")
        }
        self.handle = handle
        self.linkType = UInt32(bitPattern: pcap_datalink(handle))
        guard LinkType.isSupported(self.linkType) else {
            pcap_close(handle)
            throw CaptureError(.unsupportedLinkType, path: path, "link type \(self.linkType) is not supported")
        }
    }

    deinit { pcap_close(self.handle) }

    /// Calls `body` for every packet. Returns libpcap's error text when reading stopped early.
    @discardableResult
    public func forEachPacket(_ body: (borrowing CapturedPacket) -> Void) -> CaptureError? {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        while true {
            let status = pcap_next_ex(self.handle, &header, &data)
            if status == 1, let header, let data {
                let record = header.pointee
                body(CapturedPacket(
                    timestamp: Timestamp(seconds: Int64(record.ts.tv_sec), nanoseconds: UInt32(clamping: record.ts.tv_usec)),
                    linkType: self.linkType,
                    originalLength: Int(max(record.len, record.caplen)),
                    bytes: UnsafeRawBufferPointer(start: data, count: Int(record.caplen))
                ))
            } else if status == PCAP_ERROR_BREAK {
                return nil
            } else {
                let message = pcap_geterr(self.handle).map { String(cString: $0) } ?? "read error"
                return CaptureError(.truncated, path: self.path, message)
            }
        }
    }
}
