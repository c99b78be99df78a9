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
        self.object {
            $0.key("address") { $0.string(cell.address) }
            $0.key("attempts") { $0.int(cell.attempts) }
            $0.key("destination") { $0.string(cell.destination) }
            $0.key("destinationKind") { $0.string(cell.destinationKind.rawValue) }
            $0.key("destinationName") { $0.string(cell.destinationName) }
            $0.key("evidence") { writer in
                writer.array(cell.evidence) { writer, attempt in
                    writer.object {
                        $0.key("errno") { $0.optionalString(attempt.errno) }
                        $0.key("icmpCode") { writer in
                            if let code = attempt.icmpCode { writer.int(code) } else { writer.null() }
                        }
                        $0.key("icmpFrom") { $0.optionalString(attempt.icmpFrom) }
                        $0.key("icmpType") { writer in
                            if let type = attempt.icmpType { writer.int(type) } else { writer.null() }
                        }
                        $0.key("latencyMs") { $0.double(attempt.latencyMs) }
                        $0.key("outcome") { $0.string(attempt.outcome.rawValue) }
                    }
                }
            }
            $0.key("expected") { $0.optionalString(cell.expected?.rawValue) }
            $0.key("latencyMs") { writer in
                if let latency = cell.latencyMs { writer.double(latency) } else { writer.null() }
            }
            $0.key("network") { $0.optionalString(cell.network) }
            $0.key("note") { $0.optionalString(cell.note) }
            $0.key("port") { writer in if let port = cell.port { writer.int(port) } else { writer.null() } }
            $0.key("protocol") { $0.string(cell.protocol.rawValue) }
            $0.key("reason") { $0.string(cell.reason) }
            $0.key("rule") { $0.optionalString(cell.rule) }
            $0.key("source") { $0.string(cell.source) }
            $0.key("sourcePid") { writer in if let pid = cell.sourcePid { writer.int(pid) } else { writer.null() } }
            $0.key("state") { $0.string(cell.state.rawValue) }
            $0.key("violation") { $0.optionalString(cell.violation?.rawValue) }
        }
    }

    /// A finite number in Swift's shortest round-trip form (valid JSON); a non-finite one (never produced) as null.
    mutating func double(_ value: Double) {
        guard value.isFinite else { return self.null() }
        self.bytes.append(contentsOf: "\(value)".utf8)
    }
}
