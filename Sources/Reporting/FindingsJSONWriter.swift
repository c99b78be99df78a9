import BulkheadModel

/// The findings of a document as `JSONEncoder` writes them with `[.prettyPrinted, .sortedKeys,
/// .withoutEscapingSlashes]`, byte for byte, already indented for their place in the document: written by hand
/// because `analyze` on a capture of many short flows has tens of thousands of findings, and encoding them through
/// `JSONEncoder` was a tenth of the run. A test holds the two equal on hostile text.
enum FindingsJSONWriter {
    /// `findings` as the value of a top-level key (every line after the first indented by `indent` spaces).
    static func pretty(_ findings: [Finding], indent: Int = 2) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(findings.count * 400)
        let outer = [UInt8](repeating: 0x20, count: indent)
        let inner = outer + [0x20, 0x20]
        let field = inner + [0x20, 0x20]
        let element = field + [0x20, 0x20]
        func key(_ name: StaticString) {
            out += field
            out.append(0x22)
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out += [0x22, 0x20, 0x3a, 0x20]  // `" : `
        }
        out.append(0x5b)  // [
        out.append(0x0a)
        // An empty array is `[`, a blank line, `]`; the document's indentation puts its spaces on the blank line too.
        if findings.isEmpty {
            out += outer
            out.append(0x0a)
            out += outer
            out.append(0x5d)
            return out
        }
        for (index, finding) in findings.enumerated() {
            if index > 0 { out += [0x2c, 0x0a] }
            out += inner
            out += [0x7b, 0x0a]  // {
            key("detail")
            Self.string(finding.detail, into: &out)
            out += [0x2c, 0x0a]
            key("flowCount")
            out += Array(String(finding.flowCount).utf8)
            out += [0x2c, 0x0a]
            key("flowIDs")
            out += [0x5b, 0x0a]
            if finding.flowIDs.isEmpty {
                out += outer
                out.append(0x0a)
            } else {
                for (position, id) in finding.flowIDs.enumerated() {
                    if position > 0 { out += [0x2c, 0x0a] }
                    out += element
                    out += Array(String(id).utf8)
                }
                out.append(0x0a)
            }
            out += field
            out += [0x5d, 0x2c, 0x0a]  // ],
            key("kind")
            Self.string(finding.kind.identifier, into: &out)
            out += [0x2c, 0x0a]
            key("location")
            if let location = finding.location { Self.string(location, into: &out) } else { out += Array("null".utf8) }
            out += [0x2c, 0x0a]
            key("severity")
            Self.string(finding.severity.rawValue, into: &out)
            out += [0x2c, 0x0a]
            key("title")
            Self.string(finding.title, into: &out)
            out.append(0x0a)
            out += inner
            out.append(0x7d)  // }
        }
        out.append(0x0a)
        out += outer
        out.append(0x5d)  // ]
        return out
    }

    /// A JSON string escaped as `JSONEncoder` escapes it: `"` and `\`, the short forms `\b \t \n \f \r`, every
    /// other control character as `\u00xx` (lower-case hex); `/`, DEL and everything else as is.
    static func string(_ value: String, into out: inout [UInt8]) {
        out.append(0x22)
        let hex = Array("0123456789abcdef".utf8)
        for byte in value.utf8 {
            switch byte {
            case 0x22: out += [0x5c, 0x22]
            case 0x5c: out += [0x5c, 0x5c]
            case 0x08: out += [0x5c, 0x62]
            case 0x09: out += [0x5c, 0x74]
            case 0x0a: out += [0x5c, 0x6e]
            case 0x0c: out += [0x5c, 0x66]
            case 0x0d: out += [0x5c, 0x72]
            case 0..<0x20: out += [0x5c, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0x0f)]]
            default: out.append(byte)
            }
        }
        out.append(0x22)
    }
}
