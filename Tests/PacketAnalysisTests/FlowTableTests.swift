import BulkheadModel
import BulkheadTestSupport
import Testing

@testable import PacketAnalysis

/// Every key in one home slot (the last one, so that runs wrap around the end of the table): the worst case a
/// crafted capture could aim for, which must stay correct, only slower.
private struct ConstantHashing: FlowKeyHashing {
    func hash(_ key: FlowKey) -> UInt64 { UInt64.max }
}

/// A handful of home slots for many keys: long interleaved runs, which is where removal shifting entries back can
/// go wrong.
private struct FewSlotsHashing: FlowKeyHashing {
    func hash(_ key: FlowKey) -> UInt64 { UInt64(key.lowPort % 5) &* 13 &+ 60 }
}

@Suite("Flow table")
struct FlowTableTests {
    /// Distinct keys for distinct numbers, with IPv6 ones among them.
    static func key(_ number: Int) -> FlowKey {
        let value = UInt32(truncatingIfNeeded: number)
        let low =
            number % 7 == 0
            ? IPAddress(ipv6High: 0x2001_0002_0000_0000, low: UInt64(value))
            : IPAddress(ipv4: 0xC612_0000 | (value >> 16))
        return FlowKey(
            lowAddress: low, highAddress: IPAddress(ipv4: 0xC613_0001), lowPort: UInt16(truncatingIfNeeded: value),
            highPort: 443, ipProtocol: 6)
    }

    static func flow(_ number: Int) -> Flow {
        Flow(id: number, key: Self.key(number), transport: .tcp, clientIsLow: true, basis: .port, time: .zero)
    }

    /// Checks the table against `model` (number → flow): every flow present is found as the same object, others are
    /// not, iteration yields each exactly once, and the load bound holds.
    func check<H: FlowKeyHashing>(_ table: FlowTable<H>, _ model: [Int: Flow], absent: some Sequence<Int>) {
        #expect(table.count == model.count)
        for (number, flow) in model { #expect(table.flow(for: Self.key(number)) === flow) }
        for number in absent where model[number] == nil { #expect(table.flow(for: Self.key(number)) == nil) }
        #expect(table.map(\.id).sorted() == model.keys.sorted())
        // The sweep's look at every flow: each seen once, exactly the matching ones returned, the table unchanged.
        var seen: [Int] = []
        let even = table.flows { flow in
            seen.append(flow.id)
            return flow.id % 2 == 0
        }
        #expect(seen.sorted() == model.keys.sorted())
        #expect(even.map(\.id).sorted() == model.keys.filter { $0 % 2 == 0 }.sorted())
        #expect(even.allSatisfy { model[$0.id] === $0 })
        #expect(table.count == model.count)
        #expect(table.capacity.nonzeroBitCount == 1)
        #expect(table.count * 8 <= table.capacity * 5)
    }

    @Test("insert, look up, replace and remove")
    func basics() {
        var table = FlowTable(hashing: SeededFlowKeyHashing())
        #expect(table.isEmpty)
        let first = Self.flow(1)
        #expect(table.insert(first) == nil)
        #expect(table.flow(for: Self.key(1)) === first)
        #expect(table.flow(for: Self.key(2)) == nil)
        // Same key, a new flow (port reuse): replaces the old one and hands it back.
        let second = Flow(id: 9, key: Self.key(1), transport: .tcp, clientIsLow: false, basis: .syn, time: .zero)
        #expect(table.insert(second) === first)
        #expect(table.count == 1)
        #expect(table.flow(for: Self.key(1)) === second)
        #expect(table.remove(Self.key(2)) == nil)
        #expect(table.remove(Self.key(1)) === second)
        #expect(table.remove(Self.key(1)) == nil)
        #expect(table.isEmpty)
        #expect(table.flow(for: Self.key(1)) == nil)
    }

    @Test("grows as flows arrive and shrinks back as they end")
    func growsAndShrinks() {
        var table = FlowTable(hashing: SeededFlowKeyHashing())
        var model: [Int: Flow] = [:]
        for number in 0..<20_000 {
            let flow = Self.flow(number)
            table.insert(flow)
            model[number] = flow
        }
        self.check(table, model, absent: 20_000..<20_100)
        #expect(table.capacity >= 32_768)
        for number in 0..<19_990 {
            #expect(table.remove(Self.key(number)) === model[number])
            model[number] = nil
        }
        self.check(table, model, absent: 0..<100)
        // Ten flows left: back to the smallest table, so memory follows the live flows.
        #expect(table.capacity == FlowTable<SeededFlowKeyHashing>.minimumCapacity)
        // The flows the sweep took out hold their own references: they outlive the table's.
        let kept = table.flows { _ in true }
        table.removeAll()
        self.check(table, [:], absent: 19_990..<20_000)
        #expect(kept.map(\.id).sorted() == Array(19_990..<20_000))
        #expect(kept.allSatisfy { $0.key == Self.key($0.id) })
    }

    /// Random inserts and removals checked against a dictionary after every step, under hashes that make every key
    /// (or most of them) collide.
    func randomOperations<H: FlowKeyHashing>(_ hashing: H, keys: Int, steps: Int) {
        var table = FlowTable(hashing: hashing)
        var model: [Int: Flow] = [:]
        var random = SeededGenerator(state: 0x5EED)  // a failing sequence of operations can be replayed
        var peak = 0
        for step in 0..<steps {
            let number = Int(random.next() % UInt64(keys))
            if random.next() % 3 == 0 {
                #expect(table.remove(Self.key(number)) === model[number])
                model[number] = nil
            } else {
                let flow = Self.flow(number)
                #expect(table.insert(flow) === model[number])
                model[number] = flow
            }
            peak = max(peak, model.count)
            if step % 97 == 0 { self.check(table, model, absent: 0..<keys) }
        }
        self.check(table, model, absent: 0..<keys)
        for number in model.keys.sorted() { #expect(table.remove(Self.key(number)) != nil) }
        self.check(table, [:], absent: 0..<keys)
        #expect(peak > FlowTable<H>.minimumCapacity)  // the table grew (and then shrank) along the way
    }

    @Test("every key in one slot: still correct, runs wrap around the end")
    func constantHash() {
        self.randomOperations(ConstantHashing(), keys: 300, steps: 3_000)
    }

    @Test("many keys in a few slots: removal keeps every interleaved run reachable")
    func fewSlots() {
        self.randomOperations(FewSlotsHashing(), keys: 400, steps: 6_000)
    }

    @Test("the seeded hash under random operations")
    func seeded() {
        self.randomOperations(SeededFlowKeyHashing(), keys: 2_000, steps: 20_000)
    }

    @Test("the seeded hash is fixed per table and differs between tables")
    func seeds() {
        let one = SeededFlowKeyHashing()
        let other = SeededFlowKeyHashing()
        let key = Self.key(42)
        #expect(one.hash(key) == one.hash(Self.key(42)))
        #expect(one.hash(key) != other.hash(key))
        // Same inner tuple in another tunnel, or the other protocol: another hash.
        var tunnelled = key
        tunnelled.encapsulation = 1
        #expect(one.hash(tunnelled) != one.hash(key))
        var udp = key
        udp.ipProtocol = 17
        #expect(one.hash(udp) != one.hash(key))
    }
}
