/// The bytes of a JSON text being written by hand (``FlowJSONWriter``, ``FindingsJSONWriter``), in a buffer of
/// its own: appending to an `Array` costs a uniqueness and capacity check and a call per append, and a flow record
/// is a thousand bytes written a few at a time. Those calls were most of the cost of writing a flow.
struct JSONBuffer: ~Copyable {
    private var start: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int = 2048) {
        self.capacity = max(capacity, 16)
        self.start = .allocate(capacity: self.capacity)
    }

    deinit {
        self.start.deallocate()
    }

    /// What has been written, as an array (a copy).
    var bytes: [UInt8] {
        Array(UnsafeBufferPointer(start: self.start, count: self.count))
    }

    /// What has been written, lent without a copy.
    func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(start: self.start, count: self.count))
    }

    mutating func removeAll() {
        self.count = 0
    }

    @inline(__always)
    mutating func put(_ byte: UInt8) {
        if self.count == self.capacity { self.grow(toHold: 1) }
        self.start[self.count] = byte
        self.count += 1
    }

    @inline(__always)
    mutating func put(literal: StaticString) {
        self.put(UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    @inline(__always)
    mutating func put(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        if self.count + bytes.count > self.capacity { self.grow(toHold: bytes.count) }
        (self.start + self.count).update(from: source.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        self.count += bytes.count
    }

    /// Lets `body` write up to `maximum` bytes in place, after what has been written, and keeps as many as it says
    /// it wrote: text formatted digit by digit goes straight into the buffer, without a `String` in between.
    @inline(__always)
    mutating func put(atMost maximum: Int, _ body: (UnsafeMutableBufferPointer<UInt8>) -> Int) {
        if self.count + maximum > self.capacity { self.grow(toHold: maximum) }
        let written = body(UnsafeMutableBufferPointer(start: self.start + self.count, count: maximum))
        precondition((0...maximum).contains(written), "wrote \(written) bytes of at most \(maximum)")
        self.count += written
    }

    /// An object key, `"name":`, after a comma when `comma`: one capacity check for the whole of it (keys are a
    /// third of a flow record's pieces).
    @inline(__always)
    mutating func put(key name: StaticString, comma: Bool) {
        let length = name.utf8CodeUnitCount
        if self.count + length + 4 > self.capacity { self.grow(toHold: length + 4) }
        var cursor = self.start + self.count
        if comma {
            cursor.pointee = UInt8(ascii: ",")
            cursor += 1
        }
        cursor.pointee = UInt8(ascii: "\"")
        (cursor + 1).update(from: name.utf8Start, count: length)
        cursor += 1 + length
        cursor.pointee = UInt8(ascii: "\"")
        (cursor + 1).pointee = UInt8(ascii: ":")
        self.count = cursor + 2 - self.start
    }

    /// `value` in decimal.
    mutating func put(decimal value: Int) {
        if value < 0 { self.put(UInt8(ascii: "-")) }
        self.put(decimal: UInt64(value.magnitude))
    }

    /// `value` in decimal: its digits counted, then written from the right straight into the buffer, two at a time
    /// from a table (a division per digit through a scratch buffer cost a hundred instructions for a four-digit count).
    mutating func put(decimal value: UInt64) {
        let length = Self.decimalLength(value)
        if self.count + length > self.capacity { self.grow(toHold: length) }
        let first = self.start + self.count
        var cursor = first + length
        var rest = value
        let pairs = Self.digitPairs.utf8Start
        while rest >= 10 {
            let pair = Int(truncatingIfNeeded: rest % 100) &* 2
            rest /= 100
            cursor -= 2
            cursor[0] = pairs[pair]
            cursor[1] = pairs[pair + 1]
        }
        // An odd number of digits leaves the leading one.
        if cursor > first { (cursor - 1).pointee = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest) }
        self.count += length
    }

    /// "00" to "99", each pair's two digits at twice its value.
    private static let digitPairs: StaticString = """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """

    /// The number of decimal digits of `value` (1 to 20).
    static func decimalLength(_ value: UInt64) -> Int {
        var length = 1
        var bound: UInt64 = 10
        while value >= bound {
            length += 1
            if length == 20 { break }
            bound &*= 10
        }
        return length
    }

    /// Writes `value` between quotes and returns true when none of its bytes needs escaping (no `"`, `\` or control
    /// character: most strings of a report, addresses, names, digests); writes nothing and returns false otherwise,
    /// for the caller's own escaping.
    mutating func putPlainString(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { self.putPlain(UnsafeRawBufferPointer($0)) }
    }

    /// ``putPlainString(_:)`` on bytes. They are checked and copied in one pass, eight at a time, and no byte is looked
    /// at alone: the last word overlaps the one before it, and a text shorter than a word is laid over a word of plain
    /// bytes (a flow writes a dozen short strings; a separate scan and `memcpy` cost each a second pass and a call). For
    /// each word, the classic "has a zero byte" test on the word xor'ed with each special byte, and "has a byte below
    /// 0x20": as booleans these tests are exact (bytes of 0x80 and above never match).
    mutating func putPlain(_ text: UnsafeRawBufferPointer) -> Bool {
        let count = text.count
        // Room for a whole word past the text: a short text's word is stored whole, then the quote overwrites the rest
        // (none of it counts as written).
        if self.count + count + 10 > self.capacity { self.grow(toHold: count + 10) }
        let quote = UInt8(ascii: "\"")
        let output = UnsafeMutableRawPointer(self.start + self.count)
        if count < 8 {
            var word: UInt64 = 0x4141_4141_4141_4141  // "AAAAAAAA": matches nothing
            withUnsafeMutableBytes(of: &word) { $0.copyMemory(from: text) }
            if Self.wordNeedsEscaping(word) { return false }
            output.storeBytes(of: word, toByteOffset: 1, as: UInt64.self)
        } else {
            var index = 0
            while index + 8 < count {
                let word = text.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                if Self.wordNeedsEscaping(word) { return false }
                output.storeBytes(of: word, toByteOffset: 1 + index, as: UInt64.self)
                index += 8
            }
            let last = text.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
            if Self.wordNeedsEscaping(last) { return false }
            output.storeBytes(of: last, toByteOffset: 1 + count - 8, as: UInt64.self)
        }
        output.storeBytes(of: quote, as: UInt8.self)
        output.storeBytes(of: quote, toByteOffset: 1 + count, as: UInt8.self)
        self.count += count + 2
        return true
    }

    /// Whether any of the word's eight bytes is `"`, `\` or below 0x20.
    @inline(__always)
    private static func wordNeedsEscaping(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5c)
        let below = (word &- ones &* 0x20) & ~word
        let quoteZero = (quote &- ones) & ~quote
        let backslashZero = (backslash &- ones) & ~backslash
        return (below | quoteZero | backslashZero) & highs != 0
    }

    private mutating func grow(toHold extra: Int) {
        let capacity = max(self.capacity * 2, self.count + extra)
        let larger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        larger.initialize(from: self.start, count: self.count)
        self.start.deallocate()
        self.start = larger
        self.capacity = capacity
    }
}
