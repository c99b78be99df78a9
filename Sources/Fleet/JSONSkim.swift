/// Cuts values the merge does not read out of a JSON document before it is decoded: a node report's probe cells and
/// captured flows are most of its bytes (a captured night of traffic can be hundreds of megabytes), and the decoder
/// would scan and index every one of them.
///
/// One pass over the bytes, following strings (with escapes), objects and arrays; nothing is decoded. The values
/// cut are replaced by `null`. When the text is not the shape expected (not an object, a key missing, JSON that
/// does not close), nothing is cut: the decoder then reads the whole document and names what is wrong.
enum JSONSkim {
    /// `bytes` with the value of `key` inside the top-level object's `parent` object replaced by `null`, for each of
    /// `keys`; nil when nothing was cut.
    static func cutting(_ keys: Set<String>, in parent: String, of bytes: [UInt8]) -> [UInt8]? {
        let spans = Self.spans(of: keys.map { [parent, $0] }, in: bytes)
        guard !spans.isEmpty else { return nil }
        return Self.replacing(spans.values.map { ($0, "null") }, in: bytes)
    }

    /// Where the values at `paths` (each one or two keys deep from the top-level object) are in `bytes`; paths not
    /// found (or text not of the expected shape) are left out.
    ///
    /// A key written twice in one object, or any key of that object written with an escape (which may spell the key
    /// looked for), leaves the path out too: which of two values a decoder takes is its own choice, and the cut must
    /// never make the merge read another value than the decoder would (the audit writes neither).
    static func spans(of paths: [[String]], in bytes: [UInt8]) -> [[String]: Range<Int>] {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = Reader(bytes: buffer)
            guard let outer = reader.members() else { return [:] }
            var found: [[String]: Range<Int>] = [:]
            var nested: [String: [(key: String, value: Range<Int>)]] = [:]
            for path in paths {
                guard let first = path.first, let span = Self.onlyValue(of: first, in: outer) else { continue }
                if path.count == 1 {
                    found[path] = span
                } else if path.count == 2 {
                    if nested[first] == nil {
                        var inner = Reader(bytes: buffer, position: span.lowerBound)
                        nested[first] = inner.members() ?? []
                    }
                    if let members = nested[first], let value = Self.onlyValue(of: path[1], in: members) {
                        found[path] = value
                    }
                }
            }
            return found
        }
    }

    /// The value of `key` when the object writes it exactly once and no key of the object has an escape.
    private static func onlyValue(of key: String, in members: [(key: String, value: Range<Int>)]) -> Range<Int>? {
        var value: Range<Int>?
        for member in members {
            if member.key.utf8.contains(UInt8(ascii: "\\")) { return nil }
            if member.key == key {
                guard value == nil else { return nil }
                value = member.value
            }
        }
        return value
    }

    /// `bytes` with each range replaced by its text (the ranges do not overlap).
    static func replacing(_ replacements: [(range: Range<Int>, text: String)], in bytes: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var start = 0
        for replacement in replacements.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) {
            result.append(contentsOf: bytes[start..<replacement.range.lowerBound])
            result.append(contentsOf: Array(replacement.text.utf8))
            start = replacement.range.upperBound
        }
        result.append(contentsOf: bytes[start...])
        return result
    }

    /// A cursor over JSON text that finds where values start and end (over the bytes in place: this loop is the
    /// cut's whole cost).
    struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var position = 0

        init(bytes: UnsafeBufferPointer<UInt8>, position: Int = 0) {
            self.bytes = bytes
            self.position = position
        }

        mutating func skipWhitespace() {
            while self.position < self.bytes.count {
                switch self.bytes[self.position] {
                case 0x20, 0x09, 0x0A, 0x0D: self.position += 1
                default: return
                }
            }
        }

        /// The members of the object that starts here (after whitespace): each key (as written, escapes and all)
        /// and the byte range of its value; nil when there is no well-formed object here.
        mutating func members() -> [(key: String, value: Range<Int>)]? {
            self.skipWhitespace()
            guard self.position < self.bytes.count, self.bytes[self.position] == UInt8(ascii: "{") else { return nil }
            self.position += 1
            var result: [(key: String, value: Range<Int>)] = []
            while true {
                self.skipWhitespace()
                guard self.position < self.bytes.count else { return nil }
                if self.bytes[self.position] == UInt8(ascii: "}") {
                    self.position += 1
                    return result
                }
                if !result.isEmpty {
                    guard self.bytes[self.position] == UInt8(ascii: ",") else { return nil }
                    self.position += 1
                    self.skipWhitespace()
                }
                let keyStart = self.position
                guard self.skipString() else { return nil }
                let key = String(decoding: self.bytes[(keyStart + 1)..<(self.position - 1)], as: UTF8.self)
                self.skipWhitespace()
                guard self.position < self.bytes.count, self.bytes[self.position] == UInt8(ascii: ":") else {
                    return nil
                }
                self.position += 1
                self.skipWhitespace()
                let valueStart = self.position
                guard self.skipValue() else { return nil }
                result.append((key, valueStart..<self.position))
            }
        }

        /// Past the string that starts here; false when it does not close.
        mutating func skipString() -> Bool {
            guard self.position < self.bytes.count, self.bytes[self.position] == UInt8(ascii: "\"") else {
                return false
            }
            self.position += 1
            while self.position < self.bytes.count {
                switch self.bytes[self.position] {
                case UInt8(ascii: "\\"): self.position += 2
                case UInt8(ascii: "\""):
                    self.position += 1
                    return true
                default: self.position += 1
                }
            }
            return false
        }

        /// Past the value that starts here (an object or array with everything in it, a string, a number or a
        /// literal); false when it does not close.
        mutating func skipValue() -> Bool {
            guard self.position < self.bytes.count else { return false }
            switch self.bytes[self.position] {
            case UInt8(ascii: "\""):
                return self.skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while self.position < self.bytes.count {
                    switch self.bytes[self.position] {
                    case UInt8(ascii: "\""):
                        guard self.skipString() else { return false }
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 {
                            self.position += 1
                            return true
                        }
                    default: break
                    }
                    self.position += 1
                }
                return false
            default:
                // A number or a literal: up to the next delimiter.
                let start = self.position
                while self.position < self.bytes.count {
                    switch self.bytes[self.position] {
                    case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D:
                        return self.position > start
                    default: self.position += 1
                    }
                }
                return self.position > start
            }
        }
    }
}
