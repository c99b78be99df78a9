import BulkheadModel

extension FlowJSONWriter {
    /// An audit edge, keys sorted and absent values `null`, as its Codable form (held equal by a test): a fleet
    /// report has tens of thousands, and `JSONEncoder` spent most of `bulkhead merge`'s time on them.
    public mutating func write(_ edge: Edge) {
        self.beginObject()
        self.key("address")
        self.string(edge.address)
        self.key("allowed")
        if let allowed = edge.allowed { self.bool(allowed) } else { self.null() }
        self.key("destination")
        self.string(edge.destination)
        self.key("network")
        self.optionalString(edge.network)
        self.key("port")
        self.int(edge.port)
        self.key("protocol")
        self.string(edge.protocol.rawValue)
        self.key("reachability")
        self.optionalString(edge.reachability?.rawValue)
        self.key("reasons")
        self.strings(edge.reasons)
        self.key("rule")
        self.optionalString(edge.rule)
        self.key("source")
        self.string(edge.source)
        self.key("tls")
        if let tls = edge.tls { self.write(tls) } else { self.null() }
        self.key("traffic")
        if let traffic = edge.traffic { self.write(traffic) } else { self.null() }
        self.key("verdict")
        self.string(edge.verdict.rawValue)
        self.endObject()
    }

    mutating func write(_ tls: EndpointTLS) {
        self.beginObject()
        self.key("checks")
        if let checks = tls.checks { self.strings(checks.map(\.rawValue)) } else { self.null() }
        self.key("probedFrom")
        self.optionalString(tls.probedFrom)
        self.key("reason")
        self.optionalString(tls.reason)
        self.key("refusesBadClients")
        if let refuses = tls.refusesBadClients { self.bool(refuses) } else { self.null() }
        self.key("serverIdentities")
        self.strings(tls.serverIdentities)
        self.key("verdict")
        self.string(tls.verdict.rawValue)
        self.endObject()
    }

    mutating func write(_ traffic: EdgeTraffic) {
        self.beginObject()
        self.key("clientCertificateInferred")
        self.int(traffic.clientCertificateInferred)
        self.key("clientIdentities")
        self.strings(traffic.clientIdentities)
        self.key("credentialsInClear")
        self.int(traffic.credentialsInClear)
        self.key("flows")
        self.int(traffic.flows)
        self.key("mutualTLSFlows")
        self.int(traffic.mutualTLSFlows)
        self.key("plaintextFlows")
        self.int(traffic.plaintextFlows)
        self.key("protocols")
        self.strings(traffic.protocols)
        self.key("servedWithoutCertificate")
        self.int(traffic.servedWithoutCertificate)
        self.key("serverIdentities")
        self.strings(traffic.serverIdentities)
        self.key("tlsFlows")
        self.int(traffic.tlsFlows)
        self.endObject()
    }

    /// `{"edge": <edge>, "seenBy": [...]}`: a fleet edge, keys sorted, as its Codable form.
    public mutating func write(edge: Edge, seenBy: [String]) {
        self.beginObject()
        self.key("edge")
        self.write(edge)
        self.key("seenBy")
        self.strings(seenBy)
        self.endObject()
    }
}
