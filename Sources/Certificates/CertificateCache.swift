import BulkheadModel

/// Memoises ``CertificateParser`` by the certificate's bytes: a capture repeats the same server and client
/// certificates on every flow, and parsing is far costlier than hashing.
///
/// Not thread-safe: each analysis worker owns one.
public final class CertificateCache {
    private var entries: [DERKey: Result<CertificateSummary, CertificateParseError>] = [:]
    private let limit: Int

    /// - Parameter limit: entries kept before the cache is cleared (bounds memory on hostile captures that
    ///   show a new certificate on every flow).
    public init(limit: Int = 4096) {
        self.limit = limit
    }

    /// The summary of the DER certificate `der`, parsed once.
    public func summary(der: UnsafeRawBufferPointer) -> Result<CertificateSummary, CertificateParseError> {
        let key = DERKey(bytes: [UInt8](der))
        if let cached = self.entries[key] { return cached }
        let result = Result { () throws(CertificateParseError) in try CertificateParser.parse(der: der) }
        if self.entries.count >= self.limit { self.entries.removeAll(keepingCapacity: true) }
        self.entries[key] = result
        return result
    }
}

/// Certificate bytes as a dictionary key, hashed in one pass over the buffer (an `[UInt8]` key would feed
/// the hasher one byte at a time).
private struct DERKey: Hashable {
    var bytes: [UInt8]

    func hash(into hasher: inout Hasher) {
        self.bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
