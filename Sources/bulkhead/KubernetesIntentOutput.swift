import BulkheadModel
import Foundation
import Kubernetes
import Reporting

/// `k8s intent`'s table and JSON, written as the cells are decided (``IntentEvaluator``), never held: a 2,000-pod
/// cluster is millions of cells and gigabytes of JSON, which the in-memory rendering needed several times over in
/// RAM. The bytes are those of the in-memory rendering (``KubernetesIntentDocument`` through `JSONEncoder`, the
/// table as ``KubernetesText/matrix(_:style:)`` made it), held equal by `KubernetesCommandTests`'s
/// `intentStreamedOutputUnchanged` against files the in-memory code wrote.
enum KubernetesIntentOutput {
    /// The JSON document: the small parts through `JSONEncoder` as before, the cells written by hand in the same
    /// pretty form, through the sink's buffer.
    static func writeJSON(
        _ evaluator: IntentEvaluator, document: KubernetesIntentDocument, to sink: OutputSink
    ) throws {
        let names = JSONNames(evaluator)
        try JSONReport.write(
            [
                ("cells", .pretty({ output in Self.cells(evaluator, names: names, sctp: false, to: output) })),
                ("findings", try Self.nested(document.findings)),
                ("generatedAt", try Self.nested(document.generatedAt)),
                ("inventory", try Self.nested(document.inventory)),
                ("namespaces", try Self.nested(document.namespaces)), ("notes", try Self.nested(document.notes)),
                ("policies", try Self.nested(document.policies)), ("schema", try Self.nested(document.schema)),
                ("sctp", .pretty({ output in Self.cells(evaluator, names: names, sctp: true, to: output) })),
            ], to: { sink.buffered($0) })
    }

    /// `value` as the whole document's encoder wrote it at a top-level key: every line after the first indented two
    /// spaces, but for the blank line of an empty array (`JSONReport`'s `.value` indents that one too).
    static func nested(_ value: some Encodable) throws -> JSONReport.Part {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var text: [UInt8] = []
        var atLineStart = false
        for byte in try encoder.encode(value) {
            if atLineStart && byte != 0x0a { text += [0x20, 0x20] }
            text.append(byte)
            atLineStart = byte == 0x0a
        }
        return .pretty({ output in text.withUnsafeBytes(output) })
    }

    /// The names a cell is spelled with, each JSON-escaped once (by `JSONEncoder`, so exactly as it escaped them),
    /// without quotes.
    struct JSONNames {
        var pods: [[UInt8]]
        /// Per pod, per address.
        var addresses: [[[UInt8]]]
        /// Per pod, per address: whether it is IPv6 (bracketed in `ip:port`).
        var isIPv6: [[Bool]]
        var policies: [[UInt8]]
        var rules: [[UInt8]]

        init(_ evaluator: IntentEvaluator) {
            self.pods = evaluator.pods.map { Self.escaped($0.key) }
            self.addresses = evaluator.pods.map { $0.ips.map(Self.escaped) }
            self.isIPv6 = evaluator.pods.map { $0.ips.map { $0.contains(":") } }
            self.policies = evaluator.policyKeys.map(Self.escaped)
            self.rules = evaluator.ruleLabels.map(Self.escaped)
        }

        /// `text` as a JSON string's content: `JSONEncoder`'s escaping, quotes dropped.
        static func escaped(_ text: String) -> [UInt8] {
            guard let data = try? JSONReport.compact(text), data.count >= 2 else { return Array(text.utf8) }
            return Array(data.dropFirst().dropLast())
        }
    }

    /// The `cells` (TCP and UDP, in the probe's format) or the `sctp` array (``IntentCell``), as the document's
    /// pretty encoder wrote it: elements indented four spaces, their keys six.
    static func cells(
        _ evaluator: IntentEvaluator, names: JSONNames, sctp: Bool, to output: (UnsafeRawBufferPointer) -> Void
    ) {
        var out: [UInt8] = []
        out.reserveCapacity(1 << 17)
        func put(_ text: StaticString) {
            out.append(contentsOf: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }
        func flush() {
            out.withUnsafeBytes(output)
            out.removeAll(keepingCapacity: true)
        }
        var first = true
        evaluator.forEachCell(ports: { ($0.proto == .sctp) == sctp }) { source, destination, address, port, scratch in
            put(first ? "[\n    {\n      \"address\" : \"" : ",\n    {\n      \"address\" : \"")
            first = false
            let addressName = names.addresses[destination][address]
            out += addressName
            let portText = String(port.port).utf8
            func reason() {
                evaluator.tellReason(
                    scratch, text: { put($0) }, exemption: { out += Array($0.text.utf8) },
                    policy: { out += names.policies[$0] }, rule: { out += names.rules[$0] })
            }
            if sctp {
                put("\",\n      \"allowed\" : ")
                put(scratch.allowed ? "true" : "false")
                put(",\n      \"destination\" : \"")
                out += names.pods[destination]
                put("\",\n      \"port\" : {\n        \"port\" : ")
                out += portText
                put(",\n        \"proto\" : \"SCTP\"\n      },\n      \"reason\" : \"")
                reason()
                put("\",\n      \"source\" : \"")
                out += names.pods[source]
                put("\"\n    }")
            } else {
                put("\",\n      \"attempts\" : 0,\n      \"destination\" : \"")
                // `ip:port`, IPv6 in brackets (``ReachabilityCell/destinationText(address:port:)``).
                let six = names.isIPv6[destination][address]
                if six { put("[") }
                out += addressName
                put(six ? "]:" : ":")
                out += portText
                put("\",\n      \"destinationKind\" : \"container\",\n      \"destinationName\" : \"")
                out += names.pods[destination]
                put("\",\n      \"evidence\" : [\n\n      ],\n      \"expected\" : \"")
                put(scratch.allowed ? "allow" : "deny")
                put("\",\n      \"latencyMs\" : null,\n      \"network\" : \"kubernetes-pods\",\n")
                put("      \"note\" : \"intent from NetworkPolicies; not probed\",\n      \"port\" : ")
                out += portText
                put(",\n      \"protocol\" : \"")
                put(port.proto == .udp ? "udp" : "tcp")
                put("\",\n      \"reason\" : \"networkpolicy\",\n      \"rule\" : \"")
                reason()
                put("\",\n      \"source\" : \"")
                out += names.pods[source]
                put(
                    "\",\n      \"sourcePid\" : null,\n      \"state\" : \"skipped\",\n      \"violation\" : null\n    }"
                )
            }
            if out.count >= 1 << 16 { flush() }
        }
        put(first ? "[\n\n  ]" : "\n  ]")
        flush()
    }

    /// The table: one truth table per port (the text the in-memory table was: ✓ when any address of a destination is allowed), a line at a time. Only the
    /// verdicts of the port being written are held: a bit per (source, destination) name.
    static func writeTable(_ evaluator: IntentEvaluator, style: TerminalStyle, to sink: OutputSink) {
        let e = TerminalText.escape as (String) -> String
        let pods = evaluator.pods
        let keys = evaluator.keyIDs
        let keyCount = (keys.max() ?? -1) + 1
        let width = (pods.map { DisplayWidth.of(e($0.key)) }.max() ?? 0) + 2
        func pad(_ text: String) -> String {
            text + String(repeating: " ", count: max(1, width - DisplayWidth.of(text)))
        }
        let padded = pods.map { Array(pad(e($0.key)).utf8) }
        // Every source has a cell to every column, so the blank mark of a missing cell never shows.
        let marks = (allowed: Array(pad("✓").utf8), denied: Array(pad("·").utf8))
        let allPorts = Set(evaluator.ports.joined()).sorted()
        var line: [UInt8] = []
        /// Each line without its trailing spaces (what the regex ` +$` took off each line).
        func endLine(last: Bool) {
            while line.last == UInt8(ascii: " ") { line.removeLast() }
            if !last { line.append(UInt8(ascii: "\n")) }
            line.withUnsafeBytes { sink.buffered($0) }
            line.removeAll(keepingCapacity: true)
        }
        var scratch = IntentEvaluator.Scratch()
        for (section, port) in allPorts.enumerated() {
            if section > 0 { line += [0x0a, 0x0a] }
            // The destinations with a cell on this port, and per (source, destination) name whether any address of
            // it is allowed.
            var allowed = [Bool](repeating: false, count: keyCount * keyCount)
            var isColumn = [Bool](repeating: false, count: keyCount)
            for destination in pods.indices where evaluator.ports[destination].contains(port) {
                isColumn[keys[destination]] = true
                for address in pods[destination].ips.indices {
                    for source in pods.indices where !allowed[keys[source] * keyCount + keys[destination]] {
                        if evaluator.decide(
                            source: source, destination: destination, address: address, port: port,
                            reasons: false, into: &scratch)
                        {
                            allowed[keys[source] * keyCount + keys[destination]] = true
                        }
                    }
                }
            }
            let columns = pods.indices.filter { isColumn[keys[$0]] }
            line += Array((style.bold("\(port)") + "  (✓ allowed  · denied; rows: from, columns: to)").utf8)
            endLine(last: false)
            line += Array(pad("").utf8)
            for column in columns { line += padded[column] }
            endLine(last: false)
            for source in pods.indices {
                line += padded[source]
                for column in columns {
                    line += allowed[keys[source] * keyCount + keys[column]] ? marks.allowed : marks.denied
                }
                endLine(last: source == pods.count - 1)
            }
        }
        if allPorts.isEmpty {
            line += Array("No pod with an address and a port to evaluate (see --ports).".utf8)
            endLine(last: true)
        }
        line.append(UInt8(ascii: "\n"))
        line.withUnsafeBytes { sink.buffered($0) }
    }
}
