import Glibc

/// Values memoised by the exact bytes they were made from, in bounded memory: a capture repeats the same certificates
/// and chains on every flow, and reading them again costs far more than finding them.
///
/// Entries are found by a hash of the length and the two ends of the bytes (a certificate's start holds its serial
/// number and its end its signature, so two different ones almost never share both, and a lookup costs neither a copy
/// nor a pass over every byte), then compared in full. When `limit` entries are held the memo starts over: a cache,
/// not a record, whatever a hostile capture shows. Not thread-safe: each analysis lane owns its own. Inlinable, so that
/// each user (the certificate-list cache in `PacketAnalysis`) has it specialised for its value type.
public struct BytesMemo<Value> {
    @usableFromInline struct Entry {
        @usableFromInline var bytes: [UInt8]
        @usableFromInline var value: Value

        @inlinable init(bytes: [UInt8], value: Value) {
            self.bytes = bytes
            self.value = value
        }
    }

    @usableFromInline var buckets: [Int: [Entry]] = [:]
    @usableFromInline var count = 0
    @usableFromInline let limit: Int

    @inlinable
    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// The value made from `bytes`: kept from an earlier call with the same bytes, or made now by `make` and kept.
    @inlinable
    public mutating func value(for bytes: UnsafeRawBufferPointer, make: () -> Value) -> Value {
        let hash = Self.bucketHash(bytes)
        if let bucket = self.buckets[hash] {
            for entry in bucket where Self.equal(entry.bytes, bytes) { return entry.value }
        }
        let value = make()
        if self.count >= self.limit {
            self.buckets.removeAll(keepingCapacity: true)
            self.count = 0
        }
        self.buckets[hash, default: []].append(Entry(bytes: [UInt8](bytes), value: value))
        self.count += 1
        return value
    }

    /// A hash of the length and the first and last 64 bytes.
    @usableFromInline
    static func bucketHash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes.count)
        let edge = min(64, bytes.count)
        hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: bytes[0..<edge]))
        hasher.combine(bytes: UnsafeRawBufferPointer(rebasing: bytes[(bytes.count - edge)...]))
        return hasher.finalize()
    }

    @usableFromInline
    static func equal(_ stored: [UInt8], _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard stored.count == bytes.count else { return false }
        return stored.withUnsafeBytes { storedBytes in
            guard let left = storedBytes.baseAddress, let right = bytes.baseAddress else { return true }
            return memcmp(left, right, bytes.count) == 0
        }
    }
}
