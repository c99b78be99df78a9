/// Values kept by the storage of the array they were made from: a cache for arrays that many values share (a capture's
/// certificate-list cache hands every flow of a server the same array), where finding the array by its storage's
/// address costs a few instructions and building a key from its contents costs thousands.
///
/// An entry keeps its array alive, so no other array can have that storage while the entry is here, and an array
/// whose storage is shared is never changed in place (a change copies it first): the same address and count are the
/// same contents. Bounded: past `limit` entries the memo starts over (a cache, not a record). Not synchronised: its
/// owner locks. Inlinable, so that each user's copy is specialised for its types (unspecialised, a lookup went through
/// the generic witnesses and cost more than the key it saves).
public struct ArrayStorageMemo<Element, Value> {
    @usableFromInline var entries: [UInt: (array: [Element], value: Value)] = [:]
    @usableFromInline let limit: Int

    @inlinable
    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// The value kept for `array` (the same storage), nil when there is none or the array is empty.
    @inlinable
    public func value(for array: [Element]) -> Value? {
        guard let address = Self.address(of: array), let entry = self.entries[address],
            entry.array.count == array.count
        else { return nil }
        return entry.value
    }

    /// Keeps `value` for `array` (nothing for an empty array: all empty arrays share one storage).
    @inlinable
    public mutating func remember(_ value: Value, for array: [Element]) {
        guard let address = Self.address(of: array) else { return }
        if self.entries.count >= self.limit { self.entries.removeAll(keepingCapacity: true) }
        self.entries[address] = (array, value)
    }

    @inlinable
    static func address(of array: [Element]) -> UInt? {
        guard !array.isEmpty else { return nil }
        return array.withUnsafeBufferPointer { $0.baseAddress.map { UInt(bitPattern: $0) } }
    }
}

extension ArrayStorageMemo: Sendable where Element: Sendable, Value: Sendable {}
