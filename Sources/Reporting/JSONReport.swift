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
    /// elements were written one by one (compact, one per line).
    public enum Part {
        case value(any Encodable)
        case lines([Data])
    }

    /// A pretty document with sorted keys from parts; arrays of many records are written one record per line (what
    /// a hand-written writer produced), the rest by `JSONEncoder`. Parses to the same object as the whole value's
    /// Codable form.
    public static func assemble(_ parts: [(key: String, part: Part)]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        func indented(_ data: Data) -> Data {
            var result: [UInt8] = []
            result.reserveCapacity(data.count + data.count / 8)
            for byte in data {
                result.append(byte)
                if byte == 0x0a { result.append(contentsOf: [0x20, 0x20]) }
            }
            return Data(result)
        }
        var document = Data("{".utf8)
        for (index, entry) in parts.sorted(by: { $0.key < $1.key }).enumerated() {
            document.append(Data((index == 0 ? "\n  \"" : ",\n  \"").utf8))
            document.append(Data(entry.key.utf8))
            document.append(Data("\" : ".utf8))
            switch entry.part {
            case .value(let value):
                document.append(indented(try encoder.encode(value)))
            case .lines(let lines):
                document.append(Data("[".utf8))
                for (position, line) in lines.enumerated() {
                    document.append(Data((position == 0 ? "\n    " : ",\n    ").utf8))
                    document.append(line)
                }
                document.append(Data((lines.isEmpty ? "]" : "\n  ]").utf8))
            }
        }
        document.append(Data("\n}\n".utf8))
        return document
    }

    /// The `analyze` document from flows encoded one by one (see ``compact(_:)``): the same keys as
    /// ``AnalysisReport``, sorted, with one flow per line.
    public static func assembleDocument(findings: [Finding], flows: [Data], summary: AnalysisSummary) throws -> Data {
        try Self.assemble([("findings", .value(findings)), ("flows", .lines(flows)), ("summary", .value(summary))])
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
