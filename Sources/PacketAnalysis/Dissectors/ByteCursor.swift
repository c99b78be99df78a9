import Foundation

/// A bounds-checked reader over borrowed bytes. Every read returns nil instead of reading past the end, so a
/// length field that points outside its message can never be followed.
struct ByteCursor {
    private let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        self.offset = 0
    }

    var remaining: Int { self.bytes.count - self.offset }
    var isAtEnd: Bool { self.offset >= self.bytes.count }

    mutating func u8() -> UInt8? {
        guard self.remaining >= 1 else { return nil }
        defer { self.offset += 1 }
        return self.bytes[self.offset]
    }

    mutating func u16() -> UInt16? {
        guard self.remaining >= 2 else { return nil }
        defer { self.offset += 2 }
        return UInt16(self.bytes[self.offset]) << 8 | UInt16(self.bytes[self.offset + 1])
    }

    mutating func u24() -> Int? {
        guard self.remaining >= 3 else { return nil }
        defer { self.offset += 3 }
        return Int(self.bytes[self.offset]) << 16 | Int(self.bytes[self.offset + 1]) << 8
            | Int(self.bytes[self.offset + 2])
    }

    mutating func u32() -> UInt32? {
        guard let high = self.u16(), let low = self.u16() else { return nil }
        return UInt32(high) << 16 | UInt32(low)
    }

    /// The next `count` bytes, borrowed.
    mutating func bytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, self.remaining >= count else { return nil }
        defer { self.offset += count }
        return UnsafeRawBufferPointer(rebasing: self.bytes[self.offset..<(self.offset + count)])
    }

    /// A sub-cursor over the next `count` bytes.
    mutating func sub(_ count: Int) -> ByteCursor? {
        self.bytes(count).map(ByteCursor.init)
    }

    /// The bytes up to the next NUL, borrowed, and the cursor past that NUL; nil (and the cursor unmoved) when no NUL
    /// is left.
    mutating func cString() -> UnsafeRawBufferPointer? {
        guard self.remaining > 0, let base = self.bytes.baseAddress,
            let found = memchr(base + self.offset, 0, self.remaining)
        else { return nil }
        let end = base.distance(to: UnsafeRawPointer(found))
        defer { self.offset = end + 1 }
        return UnsafeRawBufferPointer(rebasing: self.bytes[self.offset..<end])
    }

    /// A QUIC variable-length integer (RFC 9000 §16): the first byte's two high bits give its length, 1 to 8 bytes.
    mutating func varint() -> Int? {
        guard self.remaining >= 1 else { return nil }
        let length = 1 << Int(self.bytes[self.offset] >> 6)
        guard self.remaining >= length else { return nil }
        var value = UInt64(self.bytes[self.offset] & 0x3f)
        for index in 1..<length { value = value << 8 | UInt64(self.bytes[self.offset + index]) }
        self.offset += length
        // At most 2^62 - 1: fits an Int on 64-bit platforms.
        return Int(exactly: value)
    }

    mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, self.remaining >= count else { return false }
        self.offset += count
        return true
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes as text, for names read off the wire (SNI, ALPN, a tunnel's destination, a path…): printable ASCII as
    /// it is, every other byte and the backslash itself as `\xNN`. Escaping the backslash keeps the form one-to-one:
    /// a real newline is `\x0a`, the four characters `\x0a` are `\x5cx0a`.
    var printableText: String {
        let shown = UnsafeRawBufferPointer(rebasing: self.prefix(512))
        // Almost always: printable ASCII already, taken in one go (appending scalar by scalar was 3% of `analyze`).
        if !shown.contains(where: { $0 < 0x20 || $0 >= 0x7f || $0 == 0x5c }) {
            return String(decoding: shown, as: UTF8.self)
        }
        var text = ""
        for byte in self.prefix(512) {
            if byte >= 0x20 && byte < 0x7f && byte != 0x5c {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                text += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
            }
        }
        return text
    }
}
