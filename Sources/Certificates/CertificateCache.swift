import BulkheadModel
import Glibc

/// Memoises ``CertificateParser`` by the certificate's bytes: a capture repeats the same server and client
/// certificates on every flow, and parsing is far costlier than hashing.
///
/// Not thread-safe: each analysis worker owns one.
public final class CertificateCache {
    private struct Entry {
        var der: [UInt8]
        var result: Result<CertificateSummary, CertificateParseError>
    }

    /// Entries by a hash of their bytes' ends (``bucketHash(_:)``); each candidate is compared in full.
    private var buckets: [Int: [Entry]] = [:]
    private var count = 0
    private let limit: Int

    /// - Parameter limit: entries kept before the cache is cleared (bounds memory on hostile captures that
    ///   show a new certificate on every flow).
    public init(limit: Int = 4096) {
        self.limit = limit
    }

    /// The summary of the DER certificate `der`, parsed once.
    public func summary(der: UnsafeRawBufferPointer) -> Result<CertificateSummary, CertificateParseError> {
        let hash = Self.bucketHash(der)
        if let bucket = self.buckets[hash] {
            for entry in bucket where Self.equal(entry.der, der) { return entry.result }
        }
        let result = Result { () throws(CertificateParseError) in try CertificateParser.parse(der: der) }
        if self.count >= self.limit {
            self.buckets.removeAll(keepingCapacity: true)
            self.count = 0
        }
        self.buckets[hash, default: []].append(Entry(der: [UInt8](der), result: result))
        self.count += 1
        return result
    }

    /// A hash of the length and the first and last 64 bytes: a certificate's start holds its serial number and its
    /// end its signature, so two different certificates almost never share both, and a lookup costs neither a copy
    /// nor a pass over the whole certificate (which, for the same chain on every flow, was most of its cost).
    static func bucketHash(_ der: UnsafeRawBufferPointer) -> Int {
        var hasher = Hasher()
        hasher.combine(der.count)
        let edge = min(64, der.count)
        hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: der[0..<edge]))
        hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: der[(der.count - edge)...]))
        return hasher.finalize()
    }

    private static func equal(_ stored: [UInt8], _ der: UnsafeRawBufferPointer) -> Bool {
        guard stored.count == der.count else { return false }
        return stored.withUnsafeBytes { storedBytes in
            guard let left = storedBytes.baseAddress, let right = der.baseAddress else { return true }
            return memcmp(left, right, der.count) == 0
        }
    }
}
