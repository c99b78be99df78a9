import BulkheadModel
import Dispatch

/// The findings of a document as `JSONEncoder` writes them with `[.prettyPrinted, .sortedKeys,
/// .withoutEscapingSlashes]`, byte for byte, already indented for their place in the document: written by hand
/// because `analyze` on a capture of many short flows has tens of thousands of findings, and encoding them through
/// `JSONEncoder` was a tenth of the run. A test holds the two equal on hostile text.
public enum FindingsJSONWriter {
    /// `findings` as the value of a top-level key (every line after the first indented two spaces), handed to `output`
    /// piece by piece. Each run of punctuation and indentation between two values is one literal. A document of tens
    /// of thousands of findings is written at the end of the run, while nothing else is: groups of them are written
    /// side by side on all cores, and each group handed over as soon as those before it are, so only a few groups are
    /// held at once whatever the number of findings.
    static func write(_ findings: [Finding], to output: (UnsafeRawBufferPointer) -> Void) {
        Self.write(batches: { each in each(findings) }, to: output)
    }

    /// ``write(_:to:)`` for findings handed over in batches, in order (read back from a scratch file a few thousand at
    /// a time): the same bytes as for one array of them all.
    static func write(
        batches: (_ each: ([Finding]) -> Void) throws -> Void, to output: (UnsafeRawBufferPointer) -> Void
    ) rethrows {
        // Each batch is written as it comes: `output` is used inside the batches' calls, and by nothing else meanwhile.
        try withoutActuallyEscaping(output) { output in try Self.write(batches: batches, escaping: output) }
    }

    private static func write(
        batches: (_ each: ([Finding]) -> Void) throws -> Void,
        escaping output: @escaping (UnsafeRawBufferPointer) -> Void
    ) rethrows {
        func emit(_ text: StaticString) {
            output(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }
        var wroteAny = false
        try batches { findings in
            if !wroteAny && !findings.isEmpty { emit("[\n") }
            let group = 2048
            let side = 4
            var start = 0
            while start < findings.count {
                let parts = min(side, (findings.count - start + group - 1) / group)
                let rendered = RenderedParts(count: parts)
                let first = start
                let arrayStart = !wroteAny
                DispatchQueue.concurrentPerform(iterations: parts) { part in
                    let range = (first + part * group)..<min(findings.count, first + (part + 1) * group)
                    rendered.store(
                        Self.elements(findings, range, arrayStart: arrayStart && part == 0), at: part)
                }
                for part in rendered.parts { part.withUnsafeBytes(output) }
                start += parts * group
                wroteAny = true
            }
        }
        // An empty array is `[`, a blank line, `]`; the document's indentation puts its spaces on the blank line too.
        emit(wroteAny ? "\n  ]" : "[\n  \n  ]")
    }

    /// Each finding as a JSON Lines record, `{"finding":{…},"type":"finding"}` and a newline, byte for byte what
    /// `JSONEncoder` writes for ``JSONLinesRecord/finding(_:)`` with sorted keys: a capture of many servers has tens
    /// of thousands of them, and the encoder took a millisecond for fifty. A test holds the two equal on hostile text.
    public static func writeLines(_ findings: [Finding], to output: (UnsafeRawBufferPointer) -> Void) {
        var out = JSONBuffer(capacity: 64 << 10)
        func string(_ value: String) { Self.string(value, into: &out) }
        for finding in findings {
            out.put(literal: #"{"finding":{"detail":"#)
            string(finding.detail)
            out.put(literal: #","flowCount":"#)
            out.put(decimal: finding.flowCount)
            out.put(literal: #","flowIDs":["#)
            for (position, id) in finding.flowIDs.enumerated() {
                if position > 0 { out.put(0x2c) }
                out.put(decimal: id)
            }
            out.put(literal: #"],"kind":"#)
            string(finding.kind.identifier)
            out.put(literal: #","location":"#)
            if let location = finding.location { string(location) } else { out.put(literal: "null") }
            out.put(literal: #","severity":"#)
            string(finding.severity.rawValue)
            out.put(literal: #","title":"#)
            string(finding.title)
            out.put(literal: "},\"type\":\"finding\"}\n")
            if out.count >= 60 << 10 {
                out.withBytes(output)
                out.removeAll()
            }
        }
        out.withBytes(output)
    }

    /// The parts rendered side by side. `@unchecked Sendable`: each slot is written by one task, read after all.
    ///
    /// The slots are memory of their own, not the elements of one `Array`: assigning elements of a shared array from
    /// several threads is a modifying access of the array itself on each of them, a race ThreadSanitizer reports.
    private final class RenderedParts: @unchecked Sendable {
        let parts: UnsafeMutableBufferPointer<[UInt8]>

        init(count: Int) {
            self.parts = .allocate(capacity: count)
            self.parts.initialize(repeating: [])
        }

        deinit {
            _ = self.parts.deinitialize()
            self.parts.deallocate()
        }

        func store(_ bytes: [UInt8], at index: Int) { self.parts[index] = bytes }
    }

    /// The elements `range` of `findings`, each after its separator (none before the first when `arrayStart`: it
    /// begins the document's array).
    private static func elements(_ findings: [Finding], _ range: Range<Int>, arrayStart: Bool) -> [UInt8] {
        var out = JSONBuffer(capacity: range.count * 400 + 16)
        func string(_ value: String) { Self.string(value, into: &out) }
        // Fields read in place: binding `findings[index]` copied the finding (a retain and release of each of its
        // strings and its id list), tens of thousands of times on the thread that ends the run.
        for index in range {
            out.put(
                literal: arrayStart && index == range.lowerBound
                    ? "    {\n      \"detail\" : " : ",\n    {\n      \"detail\" : ")
            string(findings[index].detail)
            out.put(literal: ",\n      \"flowCount\" : ")
            out.put(decimal: findings[index].flowCount)
            out.put(literal: ",\n      \"flowIDs\" : [\n")
            if findings[index].flowIDs.isEmpty {
                out.put(literal: "  \n")
            } else {
                for position in findings[index].flowIDs.indices {
                    out.put(literal: position == 0 ? "        " : ",\n        ")
                    out.put(decimal: findings[index].flowIDs[position])
                }
                out.put(0x0a)
            }
            out.put(literal: "      ],\n      \"kind\" : ")
            string(findings[index].kind.identifier)
            out.put(literal: ",\n      \"location\" : ")
            if let location = findings[index].location { string(location) } else { out.put(literal: "null") }
            out.put(literal: ",\n      \"severity\" : ")
            string(findings[index].severity.rawValue)
            out.put(literal: ",\n      \"title\" : ")
            string(findings[index].title)
            out.put(literal: "\n    }")
        }
        return out.bytes
    }

    /// A JSON string escaped as `JSONEncoder` escapes it: `"` and `\`, the short forms `\b \t \n \f \r`, every
    /// other control character as `\u00xx` (lower-case hex); `/`, DEL and everything else as is.
    static func string(_ value: String, into out: inout JSONBuffer) {
        if out.putPlainString(value) { return }
        out.put(0x22)
        let hex: StaticString = "0123456789abcdef"
        for byte in value.utf8 {
            switch byte {
            case 0x22: out.put(literal: #"\""#)
            case 0x5c: out.put(literal: #"\\"#)
            case 0x08: out.put(literal: #"\b"#)
            case 0x09: out.put(literal: #"\t"#)
            case 0x0a: out.put(literal: #"\n"#)
            case 0x0c: out.put(literal: #"\f"#)
            case 0x0d: out.put(literal: #"\r"#)
            case 0..<0x20:
                out.put(literal: #"\u00"#)
                out.put(hex.utf8Start[Int(byte >> 4)])
                out.put(hex.utf8Start[Int(byte & 0x0f)])
            default: out.put(byte)
            }
        }
        out.put(0x22)
    }
}
