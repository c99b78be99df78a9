import BulkheadModel

/// Memoises ``CertificateParser`` by the certificate's bytes: a capture repeats the same server and client
/// certificates on every flow, and parsing is far costlier than hashing.
///
/// Not thread-safe: each analysis worker owns one.
public final class CertificateCache {
    private var memo: BytesMemo<Result<CertificateSummary, CertificateParseError>>

    /// - Parameter limit: entries kept before the cache is cleared (bounds memory on hostile captures that
    ///   show a new certificate on every flow).
    public init(limit: Int = 4096) {
        self.memo = BytesMemo(limit: limit)
    }

    /// The summary of the DER certificate `der`, parsed once.
    public func summary(der: UnsafeRawBufferPointer) -> Result<CertificateSummary, CertificateParseError> {
        self.memo.value(for: der) {
            Result { () throws(CertificateParseError) in try CertificateParser.parse(der: der) }
        }
    }
}
