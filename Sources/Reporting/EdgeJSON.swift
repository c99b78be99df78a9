import BulkheadModel

extension FlowJSONWriter {
    /// An audit edge, keys sorted and absent values `null`, as its Codable form (held equal by a test): a fleet
    /// report has tens of thousands, and `JSONEncoder` spent most of `bulkhead merge`'s time on them.
    public mutating func write(_ edge: Edge) {
        self.object {
            $0.key("address") { $0.string(edge.address) }
            $0.key("allowed") { writer in if let allowed = edge.allowed { writer.bool(allowed) } else { writer.null() }
            }
            $0.key("destination") { $0.string(edge.destination) }
            $0.key("network") { $0.optionalString(edge.network) }
            $0.key("port") { $0.int(edge.port) }
            $0.key("protocol") { $0.string(edge.protocol.rawValue) }
            $0.key("reachability") { $0.optionalString(edge.reachability?.rawValue) }
            $0.key("reasons") { $0.strings(edge.reasons) }
            $0.key("rule") { $0.optionalString(edge.rule) }
            $0.key("source") { $0.string(edge.source) }
            $0.key("tls") { writer in
                guard let tls = edge.tls else { return writer.null() }
                writer.object {
                    $0.key("checks") { writer in
                        if let checks = tls.checks { writer.strings(checks.map(\.rawValue)) } else { writer.null() }
                    }
                    $0.key("probedFrom") { $0.optionalString(tls.probedFrom) }
                    $0.key("reason") { $0.optionalString(tls.reason) }
                    $0.key("refusesBadClients") { writer in
                        if let refuses = tls.refusesBadClients { writer.bool(refuses) } else { writer.null() }
                    }
                    $0.key("serverIdentities") { $0.strings(tls.serverIdentities) }
                    $0.key("verdict") { $0.string(tls.verdict.rawValue) }
                }
            }
            $0.key("traffic") { writer in
                guard let traffic = edge.traffic else { return writer.null() }
                writer.object {
                    $0.key("clientIdentities") { $0.strings(traffic.clientIdentities) }
                    $0.key("credentialsInClear") { $0.int(traffic.credentialsInClear) }
                    $0.key("flows") { $0.int(traffic.flows) }
                    $0.key("mutualTLSFlows") { $0.int(traffic.mutualTLSFlows) }
                    $0.key("plaintextFlows") { $0.int(traffic.plaintextFlows) }
                    $0.key("protocols") { $0.strings(traffic.protocols) }
                    $0.key("serverIdentities") { $0.strings(traffic.serverIdentities) }
                    $0.key("tlsFlows") { $0.int(traffic.tlsFlows) }
                }
            }
            $0.key("verdict") { $0.string(edge.verdict.rawValue) }
        }
    }

    /// A JSON object `{"<name>": <edge>, …}` wrapping an edge with other keys written by `rest` (sorted before or
    /// after `name` by the caller): how a record that holds an edge is written without `JSONEncoder`.
    public mutating func object(edge: Edge, named name: StaticString, then rest: (inout FlowJSONWriter) -> Void) {
        self.object {
            $0.key(name) { $0.write(edge) }
            rest(&$0)
        }
    }

    /// A list of strings, for records written outside this module.
    public mutating func key(_ name: StaticString, strings values: [String]) {
        self.key(name) { $0.strings(values) }
    }
}
