/// Reads HTTP/2 header blocks (HPACK, RFC 7541) far enough to find the header fields a client sent as literals: the
/// credentials an h2c (cleartext HTTP/2, gRPC without TLS) client sends, `authorization` among them, are literals the
/// first time (and every time when marked never-indexed, as they should be).
///
/// The dynamic table is not kept: an indexed field repeats one that was a literal earlier on the same connection, and
/// the first one is what a credential finding needs. Literal names and values are read, Huffman-coded or not.
enum HPACK {
    /// Names compared with the literals read.
    static let pathName = Array(":path".utf8)
    static let grpcMessageName = Array("grpc-message".utf8)

    /// Calls `body` with each literal field's name and value, in order. False when the block is malformed (an integer
    /// or string that runs past it, a Huffman code that is not one); the fields read before that were given.
    static func forEachLiteral(
        in block: UnsafeRawBufferPointer, _ body: (_ name: [UInt8], _ value: [UInt8]) -> Void
    ) -> Bool {
        var cursor = ByteCursor(block)
        while let first = cursor.u8() {
            if first & 0x80 != 0 {
                // Indexed field: a name and value from the tables.
                guard Self.integer(first, prefix: 7, &cursor) != nil else { return false }
                continue
            }
            if first & 0xe0 == 0x20 {
                // Dynamic table size update.
                guard Self.integer(first, prefix: 5, &cursor) != nil else { return false }
                continue
            }
            // A literal: with incremental indexing (01), without indexing (0000) or never indexed (0001).
            let prefix = first & 0x40 != 0 ? 6 : 4
            guard let index = Self.integer(first, prefix: prefix, &cursor) else { return false }
            let name: [UInt8]
            if index == 0 {
                guard let literal = Self.string(&cursor) else { return false }
                name = literal
            } else {
                name = Self.staticName(index)
            }
            guard let value = Self.string(&cursor) else { return false }
            body(name, value)
        }
        return true
    }

    /// The names of the static table's entries a credential can be found under (RFC 7541 Appendix A); other
    /// indices give an empty name.
    static func staticName(_ index: Int) -> [UInt8] {
        switch index {
        case 4, 5: Array(":path".utf8)  // `/` and `/index.html`: a literal value under this name is the request's path
        case 23: Array("authorization".utf8)
        case 49: Array("proxy-authorization".utf8)
        case 32: Array("cookie".utf8)
        default: []
        }
    }

    /// An integer with an N-bit prefix (RFC 7541 §5.1), at most 2^28: larger ones are no real header block.
    static func integer(_ first: UInt8, prefix: Int, _ cursor: inout ByteCursor) -> Int? {
        let mask = UInt8((1 << prefix) - 1)
        var value = Int(first & mask)
        guard value == Int(mask) else { return value }
        var shift = 0
        while let byte = cursor.u8() {
            value += Int(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            guard shift <= 21 else { return nil }
        }
        return nil
    }

    /// A string literal (RFC 7541 §5.2): its length with a 7-bit prefix, then its octets, Huffman-coded when the H bit
    /// is set.
    static func string(_ cursor: inout ByteCursor) -> [UInt8]? {
        guard let first = cursor.u8(), let length = Self.integer(first, prefix: 7, &cursor),
            let bytes = cursor.bytes(length)
        else { return nil }
        return first & 0x80 != 0 ? Self.huffmanDecode(bytes) : Array(bytes)
    }

    // MARK: - Huffman code (RFC 7541 Appendix B)

    /// Each symbol's code and its length in bits: the 256 octets, then EOS.
    static let huffmanCodes: [(code: UInt32, length: UInt8)] = [
        (0x1ff8, 13), (0x7fffd8, 23), (0xfffffe2, 28), (0xfffffe3, 28), (0xfffffe4, 28), (0xfffffe5, 28),
        (0xfffffe6, 28), (0xfffffe7, 28), (0xfffffe8, 28), (0xffffea, 24), (0x3ffffffc, 30), (0xfffffe9, 28),
        (0xfffffea, 28), (0x3ffffffd, 30), (0xfffffeb, 28), (0xfffffec, 28), (0xfffffed, 28), (0xfffffee, 28),
        (0xfffffef, 28), (0xffffff0, 28), (0xffffff1, 28), (0xffffff2, 28), (0x3ffffffe, 30), (0xffffff3, 28),
        (0xffffff4, 28), (0xffffff5, 28), (0xffffff6, 28), (0xffffff7, 28), (0xffffff8, 28), (0xffffff9, 28),
        (0xffffffa, 28), (0xffffffb, 28), (0x14, 6), (0x3f8, 10), (0x3f9, 10), (0xffa, 12),
        (0x1ff9, 13), (0x15, 6), (0xf8, 8), (0x7fa, 11), (0x3fa, 10), (0x3fb, 10),
        (0xf9, 8), (0x7fb, 11), (0xfa, 8), (0x16, 6), (0x17, 6), (0x18, 6),
        (0x0, 5), (0x1, 5), (0x2, 5), (0x19, 6), (0x1a, 6), (0x1b, 6),
        (0x1c, 6), (0x1d, 6), (0x1e, 6), (0x1f, 6), (0x5c, 7), (0xfb, 8),
        (0x7ffc, 15), (0x20, 6), (0xffb, 12), (0x3fc, 10), (0x1ffa, 13), (0x21, 6),
        (0x5d, 7), (0x5e, 7), (0x5f, 7), (0x60, 7), (0x61, 7), (0x62, 7),
        (0x63, 7), (0x64, 7), (0x65, 7), (0x66, 7), (0x67, 7), (0x68, 7),
        (0x69, 7), (0x6a, 7), (0x6b, 7), (0x6c, 7), (0x6d, 7), (0x6e, 7),
        (0x6f, 7), (0x70, 7), (0x71, 7), (0x72, 7), (0xfc, 8), (0x73, 7),
        (0xfd, 8), (0x1ffb, 13), (0x7fff0, 19), (0x1ffc, 13), (0x3ffc, 14), (0x22, 6),
        (0x7ffd, 15), (0x3, 5), (0x23, 6), (0x4, 5), (0x24, 6), (0x5, 5),
        (0x25, 6), (0x26, 6), (0x27, 6), (0x6, 5), (0x74, 7), (0x75, 7),
        (0x28, 6), (0x29, 6), (0x2a, 6), (0x7, 5), (0x2b, 6), (0x76, 7),
        (0x2c, 6), (0x8, 5), (0x9, 5), (0x2d, 6), (0x77, 7), (0x78, 7),
        (0x79, 7), (0x7a, 7), (0x7b, 7), (0x7ffe, 15), (0x7fc, 11), (0x3ffd, 14),
        (0x1ffd, 13), (0xffffffc, 28), (0xfffe6, 20), (0x3fffd2, 22), (0xfffe7, 20), (0xfffe8, 20),
        (0x3fffd3, 22), (0x3fffd4, 22), (0x3fffd5, 22), (0x7fffd9, 23), (0x3fffd6, 22), (0x7fffda, 23),
        (0x7fffdb, 23), (0x7fffdc, 23), (0x7fffdd, 23), (0x7fffde, 23), (0xffffeb, 24), (0x7fffdf, 23),
        (0xffffec, 24), (0xffffed, 24), (0x3fffd7, 22), (0x7fffe0, 23), (0xffffee, 24), (0x7fffe1, 23),
        (0x7fffe2, 23), (0x7fffe3, 23), (0x7fffe4, 23), (0x1fffdc, 21), (0x3fffd8, 22), (0x7fffe5, 23),
        (0x3fffd9, 22), (0x7fffe6, 23), (0x7fffe7, 23), (0xffffef, 24), (0x3fffda, 22), (0x1fffdd, 21),
        (0xfffe9, 20), (0x3fffdb, 22), (0x3fffdc, 22), (0x7fffe8, 23), (0x7fffe9, 23), (0x1fffde, 21),
        (0x7fffea, 23), (0x3fffdd, 22), (0x3fffde, 22), (0xfffff0, 24), (0x1fffdf, 21), (0x3fffdf, 22),
        (0x7fffeb, 23), (0x7fffec, 23), (0x1fffe0, 21), (0x1fffe1, 21), (0x3fffe0, 22), (0x1fffe2, 21),
        (0x7fffed, 23), (0x3fffe1, 22), (0x7fffee, 23), (0x7fffef, 23), (0xfffea, 20), (0x3fffe2, 22),
        (0x3fffe3, 22), (0x3fffe4, 22), (0x7ffff0, 23), (0x3fffe5, 22), (0x3fffe6, 22), (0x7ffff1, 23),
        (0x3ffffe0, 26), (0x3ffffe1, 26), (0xfffeb, 20), (0x7fff1, 19), (0x3fffe7, 22), (0x7ffff2, 23),
        (0x3fffe8, 22), (0x1ffffec, 25), (0x3ffffe2, 26), (0x3ffffe3, 26), (0x3ffffe4, 26), (0x7ffffde, 27),
        (0x7ffffdf, 27), (0x3ffffe5, 26), (0xfffff1, 24), (0x1ffffed, 25), (0x7fff2, 19), (0x1fffe3, 21),
        (0x3ffffe6, 26), (0x7ffffe0, 27), (0x7ffffe1, 27), (0x3ffffe7, 26), (0x7ffffe2, 27), (0xfffff2, 24),
        (0x1fffe4, 21), (0x1fffe5, 21), (0x3ffffe8, 26), (0x3ffffe9, 26), (0xffffffd, 28), (0x7ffffe3, 27),
        (0x7ffffe4, 27), (0x7ffffe5, 27), (0xfffec, 20), (0xfffff3, 24), (0xfffed, 20), (0x1fffe6, 21),
        (0x3fffe9, 22), (0x1fffe7, 21), (0x1fffe8, 21), (0x7ffff3, 23), (0x3fffea, 22), (0x3fffeb, 22),
        (0x1ffffee, 25), (0x1ffffef, 25), (0xfffff4, 24), (0xfffff5, 24), (0x3ffffea, 26), (0x7ffff4, 23),
        (0x3ffffeb, 26), (0x7ffffe6, 27), (0x3ffffec, 26), (0x3ffffed, 26), (0x7ffffe7, 27), (0x7ffffe8, 27),
        (0x7ffffe9, 27), (0x7ffffea, 27), (0x7ffffeb, 27), (0xffffffe, 28), (0x7ffffec, 27), (0x7ffffed, 27),
        (0x7ffffee, 27), (0x7ffffef, 27), (0x7fffff0, 27), (0x3ffffee, 26), (0x3fffffff, 30),
    ]

    /// The code as a binary tree: node `n`'s children at `children[2n]` (bit 0) and `children[2n + 1]` (bit 1); a child
    /// below zero is the leaf of symbol `-child - 1`, zero is no child.
    static let huffmanTree: [Int32] = {
        var children = [Int32](repeating: 0, count: 2)
        for (symbol, entry) in Self.huffmanCodes.enumerated() {
            var node = 0
            for bit in stride(from: Int(entry.length) - 1, through: 0, by: -1) {
                let slot = 2 * node + Int(entry.code >> UInt32(bit) & 1)
                if bit == 0 {
                    children[slot] = Int32(-symbol - 1)
                } else {
                    if children[slot] <= 0 {
                        children[slot] = Int32(children.count / 2)
                        children += [0, 0]
                    }
                    node = Int(children[slot])
                }
            }
        }
        return children
    }()

    /// Decodes a Huffman-coded string; nil when it holds EOS, a code that is not one, or padding that is longer than
    /// seven bits or not all ones (RFC 7541 §5.2).
    static func huffmanDecode(_ bytes: UnsafeRawBufferPointer) -> [UInt8]? {
        let tree = Self.huffmanTree
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count * 8 / 5)
        var node = 0
        var depth = 0
        var allOnes = true
        for byte in bytes {
            for bit in stride(from: 7, through: 0, by: -1) {
                let one = byte >> UInt8(bit) & 1
                let child = tree[2 * node + Int(one)]
                depth += 1
                allOnes = allOnes && one == 1
                if child < 0 {
                    let symbol = Int(-child - 1)
                    guard symbol < 256 else { return nil }  // EOS inside a string is an error
                    output.append(UInt8(symbol))
                    node = 0
                    depth = 0
                    allOnes = true
                } else if child == 0 {
                    return nil
                } else {
                    node = Int(child)
                }
            }
        }
        return depth <= 7 && allOnes ? output : nil
    }
}
