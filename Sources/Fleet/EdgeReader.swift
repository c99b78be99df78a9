import BulkheadModel

/// Reads a report's `edges` array without `Codable`, the largest cost of `bulkhead merge` (a fleet's node reports
/// hold tens of thousands of edges). Accepts exactly what `Edge`'s Codable form accepts for a well-formed report
/// (unknown keys ignored, absent optional values as `null`); on anything else it gives up (nil) and the caller
/// decodes with `Codable`, whose error names the JSON path. A test and a fuzz target hold the two readings equal. A
/// known key written twice in one object is such a thing: which value counts is the decoder's choice.
struct EdgeReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var position: Int

    /// The edges of the JSON array in `range` of `bytes`, or nil when anything is not as expected (the array must
    /// fill the range: text after it is not an edge list the decoder would read).
    static func edges(_ bytes: [UInt8], range: Range<Int>) -> [Edge]? {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = EdgeReader(bytes: buffer, position: range.lowerBound)
            guard let edges = reader.array({ reader in reader.edge() }) else { return nil }
            reader.skipWhitespace()
            return reader.position == range.upperBound ? edges : nil
        }
    }

    // MARK: - Edges

    mutating func edge() -> Edge? {
        var source: String?
        var destination: String?
        var address: String?
        var port: Int?
        var proto: ProbeProtocol?
        var network: String?
        var allowed: Bool?
        var rule: String?
        var reachability: CellState?
        var traffic: EdgeTraffic?
        var tls: EndpointTLS?
        var verdict: EdgeVerdict?
        var reasons: [String]?
        var seen = KeysSeen()
        let complete = self.object { reader, key in
            switch key {
            case "source": return seen.first(0) && reader.string().map { source = $0 } != nil
            case "destination": return seen.first(1) && reader.string().map { destination = $0 } != nil
            case "address": return seen.first(2) && reader.string().map { address = $0 } != nil
            case "port": return seen.first(3) && reader.int().map { port = $0 } != nil
            case "protocol":
                return seen.first(4) && reader.string().flatMap(ProbeProtocol.init(rawValue:)).map { proto = $0 } != nil
            case "network": return seen.first(5) && reader.nullable { $0.string() }.map { network = $0 } != nil
            case "allowed": return seen.first(6) && reader.nullable { $0.bool() }.map { allowed = $0 } != nil
            case "rule": return seen.first(7) && reader.nullable { $0.string() }.map { rule = $0 } != nil
            case "reachability":
                return seen.first(8)
                    && reader.nullable { $0.string().flatMap(CellState.init(rawValue:)) }.map { reachability = $0 }
                        != nil
            case "traffic": return seen.first(9) && reader.nullable { $0.traffic() }.map { traffic = $0 } != nil
            case "tls": return seen.first(10) && reader.nullable { $0.endpointTLS() }.map { tls = $0 } != nil
            case "verdict":
                return seen.first(11)
                    && reader.string().flatMap(EdgeVerdict.init(rawValue:)).map { verdict = $0 } != nil
            case "reasons": return seen.first(12) && reader.array { $0.string() }.map { reasons = $0 } != nil
            default: return reader.skip()
            }
        }
        guard complete, let source, let destination, let address, let port, let proto, let verdict, let reasons else {
            return nil
        }
        return Edge(
            source: source, destination: destination, address: address, port: port, protocol: proto,
            network: network, allowed: allowed, rule: rule, reachability: reachability, traffic: traffic, tls: tls,
            verdict: verdict, reasons: reasons)
    }

    mutating func traffic() -> EdgeTraffic? {
        var traffic = EdgeTraffic()
        var seen = KeysSeen()
        let complete = self.object { reader, key in
            switch key {
            case "flows": return seen.first(0) && reader.int().map { traffic.flows = $0 } != nil
            case "plaintextFlows": return seen.first(1) && reader.int().map { traffic.plaintextFlows = $0 } != nil
            case "tlsFlows": return seen.first(2) && reader.int().map { traffic.tlsFlows = $0 } != nil
            case "mutualTLSFlows": return seen.first(3) && reader.int().map { traffic.mutualTLSFlows = $0 } != nil
            case "protocols": return seen.first(4) && reader.array { $0.string() }.map { traffic.protocols = $0 } != nil
            case "clientIdentities":
                return seen.first(5) && reader.array { $0.string() }.map { traffic.clientIdentities = $0 } != nil
            case "serverIdentities":
                return seen.first(6) && reader.array { $0.string() }.map { traffic.serverIdentities = $0 } != nil
            case "credentialsInClear":
                return seen.first(7) && reader.int().map { traffic.credentialsInClear = $0 } != nil
            case "servedWithoutCertificate":
                return seen.first(8) && reader.int().map { traffic.servedWithoutCertificate = $0 } != nil
            case "clientCertificateInferred":
                return seen.first(9) && reader.int().map { traffic.clientCertificateInferred = $0 } != nil
            default: return reader.skip()
            }
        }
        // Codable requires every key of the traffic record but the last two added (absent from older reports).
        let later = (seen.contains(8) ? 1 : 0) + (seen.contains(9) ? 1 : 0)
        return complete && seen.count - later == 8 ? traffic : nil
    }

    mutating func endpointTLS() -> EndpointTLS? {
        var verdict: TLSVerdict?
        var refuses: Bool?
        var identities: [String]?
        var reason: String?
        var probedFrom: String?
        var checks: [TLSCheck]?
        var seen = KeysSeen()
        let complete = self.object { reader, key in
            switch key {
            case "verdict":
                return seen.first(0) && reader.string().flatMap(TLSVerdict.init(rawValue:)).map { verdict = $0 } != nil
            case "refusesBadClients": return seen.first(1) && reader.nullable { $0.bool() }.map { refuses = $0 } != nil
            case "serverIdentities":
                return seen.first(2) && reader.array { $0.string() }.map { identities = $0 } != nil
            case "reason": return seen.first(3) && reader.nullable { $0.string() }.map { reason = $0 } != nil
            case "probedFrom": return seen.first(4) && reader.nullable { $0.string() }.map { probedFrom = $0 } != nil
            case "checks":
                return seen.first(5)
                    && reader.nullable { $0.array { $0.string().flatMap(TLSCheck.init(rawValue:)) } }.map {
                        checks = $0
                    } != nil
            default: return reader.skip()
            }
        }
        guard complete, let verdict, let identities else { return nil }
        return EndpointTLS(
            verdict: verdict, refusesBadClients: refuses, serverIdentities: identities, reason: reason,
            probedFrom: probedFrom, checks: checks)
    }

    /// The known keys an object has written so far, by number: a second one makes the reader give up.
    struct KeysSeen {
        private var bits: UInt32 = 0

        /// Whether key `index` comes for the first time (noting it).
        mutating func first(_ index: Int) -> Bool {
            let bit = UInt32(1) << index
            defer { self.bits |= bit }
            return self.bits & bit == 0
        }

        var count: Int { self.bits.nonzeroBitCount }

        /// Whether key `index` was seen.
        func contains(_ index: Int) -> Bool { self.bits & (UInt32(1) << index) != 0 }
    }

    // MARK: - JSON

    mutating func skipWhitespace() {
        while self.position < self.bytes.count {
            switch self.bytes[self.position] {
            case 0x20, 0x09, 0x0A, 0x0D: self.position += 1
            default: return
            }
        }
    }

    /// Whether the next byte (after whitespace) is `byte`; consumed when it is.
    mutating func take(_ byte: UInt8) -> Bool {
        self.skipWhitespace()
        guard self.position < self.bytes.count, self.bytes[self.position] == byte else { return false }
        self.position += 1
        return true
    }

    /// An object: `member` reads each value (given its key) and says whether it could.
    mutating func object(_ member: (inout EdgeReader, String) -> Bool) -> Bool {
        guard self.take(UInt8(ascii: "{")) else { return false }
        if self.take(UInt8(ascii: "}")) { return true }
        repeat {
            guard let key = self.string(), self.take(UInt8(ascii: ":")) else { return false }
            self.skipWhitespace()
            guard member(&self, key) else { return false }
        } while self.take(UInt8(ascii: ","))
        return self.take(UInt8(ascii: "}"))
    }

    /// An array of values `element` reads.
    mutating func array<T>(_ element: (inout EdgeReader) -> T?) -> [T]? {
        guard self.take(UInt8(ascii: "[")) else { return nil }
        var values: [T] = []
        if self.take(UInt8(ascii: "]")) { return values }
        repeat {
            self.skipWhitespace()
            guard let value = element(&self) else { return nil }
            values.append(value)
        } while self.take(UInt8(ascii: ","))
        return self.take(UInt8(ascii: "]")) ? values : nil
    }

    /// `null` as `.some(nil)`, a value `read` reads as `.some(value)`, anything else nil.
    mutating func nullable<T>(_ read: (inout EdgeReader) -> T?) -> T?? {
        self.skipWhitespace()
        if self.literal("null") { return .some(nil) }
        return read(&self).map { .some($0) }
    }

    mutating func literal(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard self.position + count <= self.bytes.count else { return false }
        for index in 0..<count where self.bytes[self.position + index] != text.utf8Start[index] { return false }
        self.position += count
        return true
    }

    mutating func bool() -> Bool? {
        self.skipWhitespace()
        if self.literal("true") { return true }
        if self.literal("false") { return false }
        return nil
    }

    /// An integer written as JSONEncoder writes one: an optional minus sign and digits, nothing else.
    mutating func int() -> Int? {
        self.skipWhitespace()
        var negative = false
        if self.position < self.bytes.count, self.bytes[self.position] == UInt8(ascii: "-") {
            negative = true
            self.position += 1
        }
        var value = 0
        var digits = 0
        while self.position < self.bytes.count, (0x30...0x39).contains(self.bytes[self.position]) {
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times.addingReportingOverflow(Int(self.bytes[self.position] - 0x30))
            guard !overflow && !carry else { return nil }
            value = sum
            digits += 1
            self.position += 1
        }
        guard digits > 0, digits == 1 || self.bytes[self.position - digits] != 0x30 else { return nil }
        // A fraction or an exponent: not an integer this reader takes (Codable decides).
        if self.position < self.bytes.count,
            [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(self.bytes[self.position])
        {
            return nil
        }
        return negative ? -value : value
    }

    /// A string, its escapes decoded; nil for anything else (a control character, a bad escape, a lone surrogate).
    mutating func string() -> String? {
        guard self.take(UInt8(ascii: "\"")) else { return nil }
        let start = self.position
        // Fast path: no escape.
        while self.position < self.bytes.count {
            let byte = self.bytes[self.position]
            if byte == UInt8(ascii: "\"") {
                // Invalid UTF-8 is left to Codable to refuse. (Comparing lengths after a repairing decode missed a
                // cut four-byte sequence: its replacement character is three bytes long too. Found by the fuzz
                // target, fuzz/config/regressions/report-edge-invalid-utf8.bin.)
                let bytes = UnsafeBufferPointer(rebasing: self.bytes[start..<self.position])
                self.position += 1
                // ASCII (nearly every string here) needs no validation; `String(validating:)` costs the merge 9 %.
                return bytes.allSatisfy { $0 < 0x80 }
                    ? String(decoding: bytes, as: UTF8.self) : String(validating: bytes, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { break }
            self.position += 1
        }
        var scalars: [UInt8] = Array(self.bytes[start..<self.position])
        while self.position < self.bytes.count {
            let byte = self.bytes[self.position]
            self.position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(validating: scalars, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard self.position < self.bytes.count else { return nil }
                let escape = self.bytes[self.position]
                self.position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    guard var code = self.hex4() else { return nil }
                    if (0xD800...0xDBFF).contains(code) {
                        guard self.literal("\\u"), let low = self.hex4(), (0xDC00...0xDFFF).contains(low) else {
                            return nil
                        }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(code) {
                        return nil
                    }
                    guard let scalar = Unicode.Scalar(code) else { return nil }
                    scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: return nil
                }
            default:
                guard byte >= 0x20 else { return nil }
                scalars.append(byte)
            }
        }
        return nil
    }

    mutating func hex4() -> UInt32? {
        guard self.position + 4 <= self.bytes.count else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = self.bytes[self.position]
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x41...0x46: digit = byte - 0x41 + 10
            case 0x61...0x66: digit = byte - 0x61 + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
            self.position += 1
        }
        return value
    }

    /// Values nested deeper than this in an unknown key's value are left to Codable.
    static let skipDepthLimit = 64

    /// Past any value (an unknown key's), checked as strictly as the decoder checks it: an unknown key's value that
    /// is not JSON makes the reader give up, as it makes the decoder refuse the document. Unknown keys are rare (a
    /// newer writer's), so this path need not be fast.
    mutating func skip(depth: Int = 0) -> Bool {
        self.skipWhitespace()
        guard self.position < self.bytes.count, depth < Self.skipDepthLimit else { return false }
        switch self.bytes[self.position] {
        case UInt8(ascii: "\""): return self.string() != nil
        case UInt8(ascii: "{"): return self.object { reader, _ in reader.skip(depth: depth + 1) }
        case UInt8(ascii: "["): return self.array { reader in reader.skip(depth: depth + 1) ? () : nil } != nil
        case UInt8(ascii: "t"): return self.literal("true")
        case UInt8(ascii: "f"): return self.literal("false")
        case UInt8(ascii: "n"): return self.literal("null")
        default: return self.number()
        }
    }

    /// Past a number as JSON writes one: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    mutating func number() -> Bool {
        func digits(_ reader: inout EdgeReader) -> Int {
            let start = reader.position
            while reader.position < reader.bytes.count, (0x30...0x39).contains(reader.bytes[reader.position]) {
                reader.position += 1
            }
            return reader.position - start
        }
        func next(_ reader: EdgeReader, _ bytes: UInt8...) -> Bool {
            reader.position < reader.bytes.count && bytes.contains(reader.bytes[reader.position])
        }
        if next(self, UInt8(ascii: "-")) { self.position += 1 }
        let start = self.position
        let whole = digits(&self)
        guard whole > 0, whole == 1 || self.bytes[start] != 0x30 else { return false }
        if next(self, UInt8(ascii: ".")) {
            self.position += 1
            guard digits(&self) > 0 else { return false }
        }
        if next(self, UInt8(ascii: "e"), UInt8(ascii: "E")) {
            self.position += 1
            if next(self, UInt8(ascii: "+"), UInt8(ascii: "-")) { self.position += 1 }
            guard digits(&self) > 0 else { return false }
        }
        // A number ends at a delimiter (`1x` or `01` is not JSON).
        return self.position == self.bytes.count
            || [0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")].contains(
                self.bytes[self.position])
    }
}
