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

    /// The `analyze` document from flows encoded one by one (see ``compact(_:)``): the same keys as
    /// ``AnalysisReport``, sorted, with one flow per line.
    public static func assembleDocument(findings: [Finding], flows: [Data], summary: AnalysisSummary) throws -> Data {
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
        var document = Data("{\n  \"findings\" : ".utf8)
        document.append(indented(try encoder.encode(findings)))
        document.append(Data(",\n  \"flows\" : [".utf8))
        for (index, flow) in flows.enumerated() {
            document.append(Data((index == 0 ? "\n    " : ",\n    ").utf8))
            document.append(flow)
        }
        document.append(Data((flows.isEmpty ? "],\n  \"summary\" : " : "\n  ],\n  \"summary\" : ").utf8))
        document.append(indented(try encoder.encode(summary)))
        document.append(Data("\n}\n".utf8))
        return document
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
