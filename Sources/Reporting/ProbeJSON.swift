import BulkheadModel
import Foundation

/// The `probe` JSON document with its cells written by hand (a 50-container matrix has ten thousand of them, and
/// `JSONEncoder` spent half a second on them): the same object as ``ProbeReport``'s Codable form, held equal by a test.
public enum ProbeJSON {
    public static func document(_ report: ProbeReport) throws -> Data {
        var writer = FlowJSONWriter()
        var lines: [Data] = []
        lines.reserveCapacity(report.cells.count)
        for cell in report.cells {
            writer.reset()
            writer.write(cell)
            lines.append(Data(writer.bytes))
        }
        return try JSONReport.assemble([
            ("cells", .lines(lines)), ("complete", .value(report.complete)), ("findings", .value(report.findings)),
            ("generatedAt", .value(report.generatedAt)), ("inventory", .value(report.inventory)),
            ("policy", .value(report.policy)),
            ("problems", .value(report.problems)), ("schema", .value(report.schema)),
            ("settings", .value(report.settings)),
            ("sources", .value(report.sources)), ("summary", .value(report.summary)),
        ])
    }
}

extension FlowJSONWriter {
    /// A reachability cell, keys sorted and absent values `null`, as its Codable form.
    public mutating func write(_ cell: ReachabilityCell) {
        self.beginObject()
        self.key("address")
        self.string(cell.address)
        self.key("attempts")
        self.int(cell.attempts)
        self.key("destination")
        self.string(cell.destination)
        self.key("destinationKind")
        self.string(cell.destinationKind.rawValue)
        self.key("destinationName")
        self.string(cell.destinationName)
        self.key("evidence")
        self.array(cell.evidence) { writer, attempt in
            writer.beginObject()
            writer.key("errno")
            writer.optionalString(attempt.errno)
            writer.key("icmpCode")
            if let code = attempt.icmpCode { writer.int(code) } else { writer.null() }
            writer.key("icmpFrom")
            writer.optionalString(attempt.icmpFrom)
            writer.key("icmpType")
            if let type = attempt.icmpType { writer.int(type) } else { writer.null() }
            writer.key("latencyMs")
            writer.double(attempt.latencyMs)
            writer.key("outcome")
            writer.string(attempt.outcome.rawValue)
            writer.endObject()
        }
        self.key("expected")
        self.optionalString(cell.expected?.rawValue)
        self.key("latencyMs")
        if let latency = cell.latencyMs { self.double(latency) } else { self.null() }
        self.key("network")
        self.optionalString(cell.network)
        self.key("note")
        self.optionalString(cell.note)
        self.key("port")
        if let port = cell.port { self.int(port) } else { self.null() }
        self.key("protocol")
        self.string(cell.protocol.rawValue)
        self.key("reason")
        self.string(cell.reason)
        self.key("rule")
        self.optionalString(cell.rule)
        self.key("source")
        self.string(cell.source)
        self.key("sourcePid")
        if let pid = cell.sourcePid { self.int(pid) } else { self.null() }
        self.key("state")
        self.string(cell.state.rawValue)
        self.key("violation")
        self.optionalString(cell.violation?.rawValue)
        self.endObject()
    }

    /// A finite number in Swift's shortest round-trip form (valid JSON); a non-finite one (never produced) as null.
    mutating func double(_ value: Double) {
        guard value.isFinite else { return self.null() }
        self.raw("\(value)")
    }
}
