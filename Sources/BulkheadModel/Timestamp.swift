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
    public func seconds(since other: Timestamp) -> Double {
        Double(self.seconds - other.seconds) + (Double(self.nanoseconds) - Double(other.nanoseconds)) / 1e9
    }

    public var description: String {
        var time = time_t(self.seconds)
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil else { return "\(self.seconds)" }
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let micros = String(self.nanoseconds / 1000)
        let fraction = String(repeating: "0", count: max(0, 6 - micros.count)) + micros
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(fraction)Z"
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
