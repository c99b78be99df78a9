import BulkheadModel

/// Turns a flow key into the 64-bit hash that places it in a ``FlowTable``.
protocol FlowKeyHashing {
    func hash(_ key: FlowKey) -> UInt64
}

/// The hash the analyser's flow table uses: a few 64×64→128-bit multiplies over every field of the key, each field
/// first xor'ed with a secret drawn for the table. Not `FlowKey.shardHash(of:)`: that one is unkeyed (anyone can craft
/// keys that collide in all 64 bits, and a table probing on it would slow to a crawl), and within one shard of a
/// sharded run its low bits are not even uniform (the shard is chosen by them).
struct SeededFlowKeyHashing: FlowKeyHashing {
    private let seeds: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    /// Seeds drawn from the system's random source, so that colliding keys cannot be crafted in advance.
    init() {
        var random = SystemRandomNumberGenerator()
        self.init(
            seeds: (
                random.next(), random.next(), random.next(), random.next(), random.next(), random.next(), random.next()
            ))
    }

    init(seeds: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)) {
        self.seeds = seeds
    }

    /// Folds the 128-bit product of two words into one (the "mum" step of wyhash): every bit of each input reaches
    /// the result, and the seed xor'ed in before makes which inputs collide unpredictable.
    @inline(__always)
    private static func fold(_ lhs: UInt64, _ rhs: UInt64) -> UInt64 {
        let product = lhs.multipliedFullWidth(by: rhs)
        return product.high ^ product.low
    }

    @inline(__always)
    func hash(_ key: FlowKey) -> UInt64 {
        let small =
            UInt64(key.lowPort) << 32 | UInt64(key.highPort) << 16 | UInt64(key.ipProtocol)
            | (key.lowAddress.isIPv6 ? 1 << 48 : 0) | (key.highAddress.isIPv6 ? 1 << 49 : 0)
        var mix = Self.fold(key.lowAddress.low ^ self.seeds.0, key.highAddress.low ^ self.seeds.1)
        mix ^= Self.fold(key.lowAddress.high ^ self.seeds.2, key.highAddress.high ^ self.seeds.3)
        mix ^= Self.fold(small ^ self.seeds.4, key.encapsulation ^ self.seeds.5)
        return Self.fold(mix ^ self.seeds.6, 0x9E37_79B9_7F4A_7C15)
    }
}

/// The live flows of one analysis, by key: an open-addressing hash table with linear probing, built for the one
/// lookup every packet makes (a `Dictionary` spent ~300 instructions a packet in `Hasher` and its probing).
///
/// - Capacity is a power of two and the load stays at most 5/8, so a probe always meets an empty slot.
/// - Removal shifts the following entries of the run back (no tombstones), so lookups never wade through deleted
///   slots and the load is exactly `count / capacity`.
/// - The table shrinks when flows end (below 1/8 full), so its memory follows the live flows, not the capture.
/// - Each slot keeps the full 64-bit hash next to the flow: a probe compares hashes and reads a flow (another cache
///   line) only when they match. Keys that collide in all 64 bits still work, compared whole; they only make
///   probes longer.
struct FlowTable<Hashing: FlowKeyHashing>: Sequence {
    fileprivate struct Slot {
        var hash: UInt64
        /// Nil for an empty slot.
        var flow: Flow?
    }

    /// The smallest capacity; the table never shrinks below it.
    static var minimumCapacity: Int { 64 }

    private var slots: [Slot]
    /// `slots.count - 1`: a hash's home slot is `hash & mask`.
    private var mask: Int
    /// The number of flows held.
    private(set) var count = 0
    private let hashing: Hashing

    init(hashing: Hashing) {
        self.hashing = hashing
        self.slots = Array(repeating: Slot(hash: 0, flow: nil), count: Self.minimumCapacity)
        self.mask = Self.minimumCapacity - 1
    }

    /// The number of slots (for tests of growing and shrinking).
    var capacity: Int { self.slots.count }

    var isEmpty: Bool { self.count == 0 }

    /// The flow with `key`, if any.
    @inline(__always)
    func flow(for key: FlowKey) -> Flow? {
        let hash = self.hashing.hash(key)
        return self.slots.withUnsafeBufferPointer { slots in
            var index = Int(truncatingIfNeeded: hash) & self.mask
            while let flow = slots[index].flow {
                if slots[index].hash == hash && flow.key == key { return flow }
                index = (index &+ 1) & self.mask
            }
            return nil
        }
    }

    /// Adds `flow` under its key, replacing (and returning) the flow that had that key.
    @discardableResult
    mutating func insert(_ flow: Flow) -> Flow? {
        let hash = self.hashing.hash(flow.key)
        let mask = self.mask
        let replaced = self.slots.withUnsafeMutableBufferPointer { slots -> Flow?? in
            var index = Int(truncatingIfNeeded: hash) & mask
            while let existing = slots[index].flow {
                if slots[index].hash == hash && existing.key == flow.key {
                    slots[index].flow = flow
                    return .some(existing)
                }
                index = (index &+ 1) & mask
            }
            slots[index] = Slot(hash: hash, flow: flow)
            return .none
        }
        if let replaced { return replaced }
        self.count += 1
        // Load at most 5/8: short probes, and always an empty slot to end them.
        if self.count * 8 > self.slots.count * 5 { self.resize(to: self.slots.count * 2) }
        return nil
    }

    /// Removes and returns the flow with `key`, if any.
    @discardableResult
    mutating func remove(_ key: FlowKey) -> Flow? {
        let hash = self.hashing.hash(key)
        let mask = self.mask
        let removed = self.slots.withUnsafeMutableBufferPointer { slots -> Flow? in
            var index = Int(truncatingIfNeeded: hash) & mask
            while let flow = slots[index].flow {
                if slots[index].hash == hash && flow.key == key {
                    Self.close(hole: index, in: slots, mask: mask)
                    return flow
                }
                index = (index &+ 1) & mask
            }
            return nil
        }
        guard removed != nil else { return nil }
        self.count -= 1
        if self.count * 8 < self.slots.count, self.slots.count > Self.minimumCapacity {
            self.resize(to: Self.capacity(for: self.count))
        }
        return removed
    }

    /// Removes every flow and gives back the memory.
    mutating func removeAll() {
        self.slots = Array(repeating: Slot(hash: 0, flow: nil), count: Self.minimumCapacity)
        self.mask = Self.minimumCapacity - 1
        self.count = 0
    }

    /// Empties slot `hole` and moves back every later entry of its run that may sit there (whose home slot is not
    /// cyclically between the hole and it), so that every entry stays reachable from its home without tombstones.
    private static func close(hole: Int, in slots: UnsafeMutableBufferPointer<Slot>, mask: Int) {
        var hole = hole
        var index = (hole &+ 1) & mask
        while let flow = slots[index].flow {
            let home = Int(truncatingIfNeeded: slots[index].hash) & mask
            // Distance from home to here versus from the hole to here: the entry may move to the hole only when
            // its home is at or before the hole along the run.
            if (index &- home) & mask >= (index &- hole) & mask {
                slots[hole] = Slot(hash: slots[index].hash, flow: flow)
                hole = index
            }
            index = (index &+ 1) & mask
        }
        slots[hole] = Slot(hash: 0, flow: nil)
    }

    /// The power-of-two capacity that holds `count` flows at most half full (and no less than the minimum).
    private static func capacity(for count: Int) -> Int {
        var capacity = Self.minimumCapacity
        while capacity < count * 2 { capacity *= 2 }
        return capacity
    }

    private mutating func resize(to capacity: Int) {
        let old = self.slots
        self.slots = Array(repeating: Slot(hash: 0, flow: nil), count: capacity)
        self.mask = capacity - 1
        let mask = self.mask
        self.slots.withUnsafeMutableBufferPointer { slots in
            for slot in old {
                guard let flow = slot.flow else { continue }
                var index = Int(truncatingIfNeeded: slot.hash) & mask
                while slots[index].flow != nil { index = (index &+ 1) & mask }
                slots[index] = Slot(hash: slot.hash, flow: flow)
            }
        }
    }

    /// The flows for which `isMatch` is true, in slot order. The others are only looked at, through the table's own
    /// reference: iterating the table takes a reference to each flow (a write to its count), which the sweep of a
    /// table of mostly idle flows paid on every one of them.
    func flows(where isMatch: (Flow) -> Bool) -> [Flow] {
        var matching: [Flow] = []
        self.slots.withUnsafeBufferPointer { slots in
            for index in slots.indices {
                guard let flow = slots[index].flow.map(Unmanaged.passUnretained) else { continue }
                if flow._withUnsafeGuaranteedRef(isMatch) { matching.append(flow.takeUnretainedValue()) }
            }
        }
        return matching
    }

    /// The flows in slot order (which says nothing about their ids or arrival: sort before relying on an order).
    struct Iterator: IteratorProtocol {
        fileprivate let slots: [Slot]
        fileprivate var index = 0

        mutating func next() -> Flow? {
            while self.index < self.slots.count {
                defer { self.index += 1 }
                if let flow = self.slots[self.index].flow { return flow }
            }
            return nil
        }
    }

    func makeIterator() -> Iterator {
        Iterator(slots: self.slots)
    }

    var underestimatedCount: Int { self.count }
}
