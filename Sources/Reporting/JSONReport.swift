import BulkheadModel
import Foundation

/// JSON renderings: one pretty document, or JSON Lines (one compact object per line) for huge captures.
public enum JSONReport {
    /// A pretty-printed document with sorted keys (stable for diffs and tests).
    public static func document<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(value)
        data.append(0x0a)
        return data
    }

    /// One compact encoding, without a newline.
    public static func compact<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// A part of a document assembled by ``assemble(_:)``: a value encoded by `JSONEncoder`, or an array whose
    /// elements were written one by one (compact, one per line), held or produced on demand.
    public enum Part {
        case value(any Encodable)
        case lines([Data])
        /// Elements handed over one by one by the producer (each buffer valid only during its call).
        case stream((_ element: (UnsafeRawBufferPointer) -> Void) throws -> Void)
        /// A value written in the document's pretty form, indented for its place (a top-level key's value), handed over
        /// piece by piece by its producer (each buffer valid only during its call).
        case pretty((_ piece: (UnsafeRawBufferPointer) -> Void) throws -> Void)
    }

    /// A pretty document with sorted keys from parts; arrays of many records are written one record per line (what
    /// a hand-written writer produced), the rest by `JSONEncoder`. Parses to the same object as the whole value's
    /// Codable form.
    public static func assemble(_ parts: [(key: String, part: Part)]) throws -> Data {
        var document = Data()
        try Self.write(parts) { document.append(contentsOf: $0) }
        return document
    }

    /// The document ``assemble(_:)`` builds, byte for byte, handed to `output` piece by piece: nothing but the
    /// current piece is held, so a document of any size is written in constant memory.
    ///
    /// The elements of a `.stream` part, and the separators between them, go to `streamOutput` when given: they stay
    /// valid until the part's producer returns (the separators for good), so a writer may gather them and write them
    /// together rather than copy each one. Whatever `streamOutput` holds must be written before the next `output`.
    public static func write(
        _ parts: [(key: String, part: Part)], to output: (UnsafeRawBufferPointer) -> Void,
        streamOutput: ((UnsafeRawBufferPointer) -> Void)? = nil
    ) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        func emit(_ text: StaticString) {
            output(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }
        func emit(_ bytes: [UInt8]) { bytes.withUnsafeBytes(output) }
        /// A nested value: every line after its first indented two more spaces.
        func indented(_ data: Data) {
            data.withUnsafeBytes { bytes in
                var start = 0
                for index in 0..<bytes.count where bytes[index] == 0x0a {
                    output(UnsafeRawBufferPointer(rebasing: bytes[start...index]))
                    emit("  ")
                    start = index + 1
                }
                if start < bytes.count { output(UnsafeRawBufferPointer(rebasing: bytes[start...])) }
            }
        }
        emit("{")
        for (index, entry) in parts.sorted(by: { $0.key < $1.key }).enumerated() {
            emit(index == 0 ? "\n  \"" : ",\n  \"")
            emit(Array(entry.key.utf8))
            emit("\" : ")
            switch entry.part {
            case .value(let value):
                indented(try encoder.encode(value))
            case .lines(let lines):
                emit("[")
                for (position, line) in lines.enumerated() {
                    emit(position == 0 ? "\n    " : ",\n    ")
                    line.withUnsafeBytes(output)
                }
                emit(lines.isEmpty ? "]" : "\n  ]")
            case .pretty(let produce):
                try produce(output)
            case .stream(let produce):
                emit("[")
                var first = true
                func elementOutput(_ bytes: UnsafeRawBufferPointer) {
                    if let streamOutput { streamOutput(bytes) } else { output(bytes) }
                }
                try produce { element in
                    let separator: StaticString = first ? "\n    " : ",\n    "
                    elementOutput(
                        UnsafeRawBufferPointer(start: separator.utf8Start, count: separator.utf8CodeUnitCount))
                    first = false
                    elementOutput(element)
                }
                emit(first ? "]" : "\n  ]")
            }
        }
        emit("\n}\n")
    }

    /// The `analyze` document from flows encoded one by one (see ``compact(_:)``): the same keys as
    /// ``AnalysisReport``, sorted, with one flow per line.
    public static func assembleDocument(findings: [Finding], flows: [Data], summary: AnalysisSummary) throws -> Data {
        try Self.assemble([("findings", .value(findings)), ("flows", .lines(flows)), ("summary", .value(summary))])
    }

    /// ``assembleDocument(findings:flows:summary:)`` written piece by piece, the flows produced on demand.
    public static func writeDocument(
        findings: [Finding], summary: AnalysisSummary,
        flows: @escaping ((UnsafeRawBufferPointer) -> Void) throws -> Void,
        to output: (UnsafeRawBufferPointer) -> Void,
        flowOutput: ((UnsafeRawBufferPointer) -> Void)? = nil
    ) throws {
        try Self.writeDocument(
            findingBatches: { each in each(findings) }, summary: summary, flows: flows, to: output,
            flowOutput: flowOutput)
    }

    /// ``writeDocument(findings:summary:flows:to:flowOutput:)`` with the findings produced on demand too, in order,
    /// a batch at a time (`findingBatches` calls its argument with each): the same bytes as for one array of them.
    public static func writeDocument(
        findingBatches: @escaping (_ each: ([Finding]) -> Void) throws -> Void, summary: AnalysisSummary,
        flows: @escaping ((UnsafeRawBufferPointer) -> Void) throws -> Void,
        to output: (UnsafeRawBufferPointer) -> Void,
        flowOutput: ((UnsafeRawBufferPointer) -> Void)? = nil
    ) throws {
        try Self.write(
            [
                ("findings", .pretty({ try FindingsJSONWriter.write(batches: findingBatches, to: $0) })),
                ("flows", .stream(flows)), ("summary", .value(summary)),
            ], to: output, streamOutput: flowOutput)
    }

    /// One compact line (with its newline).
    public static func line<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(value)
        data.append(0x0a)
        return data
    }
}

/// The records a JSON Lines stream carries: `{"type":"flow","flow":{…}}`, then findings, then the summary.
public enum JSONLinesRecord: Encodable {
    case flow(FlowRecord)
    case finding(Finding)
    case summary(AnalysisSummary)

    enum CodingKeys: String, CodingKey { case type, flow, finding, summary }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .flow(let flow):
            try container.encode("flow", forKey: .type)
            try container.encode(flow, forKey: .flow)
        case .finding(let finding):
            try container.encode("finding", forKey: .type)
            try container.encode(finding, forKey: .finding)
        case .summary(let summary):
            try container.encode("summary", forKey: .type)
            try container.encode(summary, forKey: .summary)
        }
    }
}
