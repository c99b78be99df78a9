#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A capture timestamp: whole seconds since the Unix epoch plus nanoseconds.
///
/// Encoded as an RFC 3339 UTC string with microseconds (`2026-11-29T08:46:36.123456Z`), which
/// is what packet captures resolve and what people read.
public struct Timestamp: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    public var seconds: Int64
    public var nanoseconds: UInt32

    public init(seconds: Int64, nanoseconds: UInt32) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    public static let zero = Timestamp(seconds: 0, nanoseconds: 0)

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }

    /// Seconds between two timestamps (positive when `self` is later).
    /// Computed in floating point: captures can hold any 64-bit time, and the difference of two of them need
    /// not fit in an `Int64` (found by fuzzing).
    public func seconds(since other: Timestamp) -> Double {
        (Double(self.seconds) - Double(other.seconds)) + (Double(self.nanoseconds) - Double(other.nanoseconds)) / 1e9
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (see ``writeRFC3339(into:)``), or the raw seconds for a time outside years
    /// 0000–9999 (a damaged capture), never trapped on.
    public var description: String {
        let text = String(unsafeUninitializedCapacity: Self.rfc3339Length) { self.writeRFC3339(into: $0) ?? 0 }
        return text.isEmpty ? "\(self.seconds)" : text
    }

    /// The length of the RFC 3339 text, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    public static var rfc3339Length: Int { 27 }

    /// Writes `YYYY-MM-DDTHH:MM:SS.ffffffZ` at the start of `text` (room for ``rfc3339Length`` bytes needed) and
    /// returns its length, or returns nil, writing nothing, for a time outside years 0000–9999.
    ///
    /// Formatted without the C library: it is written for every flow and certificate in a report, so it is built
    /// digit by digit (civil date from a day count, H. Hinnant's algorithm), and report writers put it
    /// straight into their output rather than through a `String` (`description`).
    public func writeRFC3339(into text: UnsafeMutableBufferPointer<UInt8>) -> Int? {
        precondition(text.count >= Self.rfc3339Length, "room for \(Self.rfc3339Length) bytes")
        guard self.seconds > -62_167_219_200, self.seconds < 253_402_300_800 else { return nil }
        // Counted from 0000-01-01 and shifted one 400-year era earlier, every value below is non-negative: unsigned
        // division by a constant is a multiply and a shift, signed division rounds toward zero and needs fixing up.
        let total = UInt64(self.seconds + 62_167_219_200)
        let secondsOfDay = Int(total % 86_400)
        let shifted = total / 86_400 + 146_037  // days since -0400-03-01
        let era = shifted / 146_097
        let dayOfEra = shifted % 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * monthIndex + 2) / 5 + 1)
        let month = Int(monthIndex < 10 ? monthIndex + 3 : monthIndex - 9)
        let year = Int(yearOfEra + era * 400) + (month <= 2 ? 1 : 0) - 400
        guard (0...9999).contains(year) else { return nil }
        // Two digits at a time, unrolled: a loop over a stride cost more than the date arithmetic.
        @inline(__always)
        func two(_ value: Int, at offset: Int) {
            text[offset] = UInt8(truncatingIfNeeded: 48 &+ value / 10)
            text[offset + 1] = UInt8(truncatingIfNeeded: 48 &+ value % 10)
        }
        two(year / 100, at: 0)
        two(year % 100, at: 2)
        text[4] = UInt8(ascii: "-")
        two(month, at: 5)
        text[7] = UInt8(ascii: "-")
        two(day, at: 8)
        text[10] = UInt8(ascii: "T")
        two(secondsOfDay / 3600, at: 11)
        text[13] = UInt8(ascii: ":")
        two(secondsOfDay / 60 % 60, at: 14)
        text[16] = UInt8(ascii: ":")
        two(secondsOfDay % 60, at: 17)
        text[19] = UInt8(ascii: ".")
        // Microseconds; nanoseconds past a second (a damaged capture) keep their last six digits, as they always have.
        let micros = Int(self.nanoseconds / 1000) % 1_000_000
        two(micros / 10_000, at: 20)
        two(micros / 100 % 100, at: 22)
        two(micros % 100, at: 24)
        text[26] = UInt8(ascii: "Z")
        return Self.rfc3339Length
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let parsed = Timestamp(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an RFC 3339 UTC time: \(text)")
        }
        self = parsed
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`.
    public init?(rfc3339 text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int32? {
            var value: Int32 = 0
            for index in range {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                value = value * 10 + Int32(digit)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        var nanos: UInt32 = 0
        if bytes[19] == UInt8(ascii: "."), bytes.count > 21 {
            var scale: UInt32 = 100_000_000
            for byte in bytes[20..<(bytes.count - 1)] {
                let digit = byte &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                nanos += UInt32(digit) * scale
                scale /= 10
            }
        }
        self.init(seconds: Int64(timegm(&parts)), nanoseconds: nanos)
    }
}
