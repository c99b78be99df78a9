import BulkheadModel

/// The readable `analyze` report: one line per flow, then the findings, then a summary.
public enum AnalysisTableReport {
    /// The flow table's column names.
    static let header = ["ID", "CLIENT", "SERVER", "PROTOCOL", "TLS", "CLIENT CERT", "ESTABLISHED", "NOTES"]

    /// The flow table header and rows.
    public static func flows(_ flows: [FlowRecord]) -> String {
        var table = TextTable(header: Self.header)
        for flow in flows { table.rows.append(self.row(flow)) }
        return table.render()
    }

    static func row(_ flow: FlowRecord) -> [String] {
        var proto = flow.transport == .udp ? "\(flow.proto.rawValue)/udp" : flow.proto.rawValue
        if flow.starttls { proto += "+starttls" }
        var tlsColumn = "-"
        var clientCertificate = "-"
        var established = "-"
        if let tls = flow.tls {
            tlsColumn = [tls.version.map { "TLS \($0)" } ?? "?", tls.cipher].compactMap { $0 }.joined(separator: " ")
            clientCertificate = tls.clientCertificate.rawValue
            if let subject = tls.clientCertificates.first?.subject, !subject.isEmpty {
                clientCertificate += " (\(subject))"
            }
            established = tls.established ? "yes" : "no"
            if tls.establishedBasis != "handshake" { established += " (\(tls.establishedBasis))" }
        }
        // Every note can hold text from the traffic (SNI, user names, certificate subjects, alert names): each is
        // escaped for the terminal as it is added. Those made only of fixed words and text the dissectors already
        // escaped off the wire (`\xNN`, a backslash too) are shown as they are, their escapes not doubled.
        var notes: [String] = []
        func note(_ text: String) { notes.append(text.escapingTerminalControls) }
        func wireNote(_ text: String) { notes.append(TerminalText.escapeWireText(text)) }
        // The tunnels first, outermost first: `vxlan 42 198.19.40.1→198.19.40.2`.
        if let layers = flow.encapsulation, !layers.isEmpty {
            note(layers.map(\.label).joined(separator: " > "))
        }
        if let esp = flow.esp {
            note("spi " + (esp.clientSPIs + esp.serverSPIs).joined(separator: ","))
        }
        if let quic = flow.quic {
            note((quic.version == "unknown" ? "quic version unknown" : quic.version) + (quic.retry ? " retry" : ""))
            if let error = quic.transportError { note("closed by \(error)") }
        }
        if let tunnel = flow.tunnel {
            // Where the proxy was asked to connect: the peer of the TLS session in the other columns.
            let hops = tunnel.hops.map { hop in
                "\(hop.kind) to \(hop.destination ?? "?")"
                    + (hop.outcome == "granted" ? "" : " \(hop.outcome)" + (hop.reply.map { " (\($0))" } ?? ""))
            }
            wireNote("tunnel " + hops.joined(separator: " > "))
        }
        if let engine = flow.containerEngineAPI {
            note("\(engine.engine) engine API \(engine.apiVersion)" + (engine.server.map { " (\($0))" } ?? ""))
        }
        if let etcd = flow.etcdAPI {
            note(
                (etcd.interface == "peer" ? "etcd peer API" : "etcd API")
                    + (etcd.clusterID.map { " (cluster \($0))" } ?? "")
                    + (etcd.methods.isEmpty ? "" : " " + etcd.methods.joined(separator: ",")))
        }
        if let webSocket = flow.webSocket {
            // The protocol column says what the messages carry; this, that they crossed a WebSocket, and which.
            wireNote(
                "websocket \(webSocket.path)" + (webSocket.subprotocol.map { " (\($0))" } ?? "")
                    + (webSocket.compression.map { " \($0)" } ?? ""))
        }
        // The protocol column says http2; this, that the connection began as HTTP/1.1 and was upgraded.
        if let upgrade = flow.h2cUpgrade { wireNote("h2c upgrade \(upgrade.path)") }
        if let sni = flow.tls?.sni { wireNote("sni=\(sni)") }
        if let alpn = flow.tls?.alpn { wireNote("alpn=\(alpn)") }
        for credential in flow.credentials {
            // The note says where the secret was (`X-Vault-Token header`, `client_secret in a form body`) or what it
            // allows (a digest attacked offline).
            note(
                "credential \(credential.kind)" + (credential.user.map { " user=\($0)" } ?? "")
                    + " [\(credential.redacted)]" + (credential.note.map { " (\($0))" } ?? ""))
        }
        for alert in flow.tls?.alerts ?? [] where alert.level == "fatal" || alert.inferred {
            note("\(alert.from) alert \(alert.description)")
        }
        if flow.truncated { note("truncated") }
        for anomaly in flow.anomalies
        where anomaly.hasPrefix("gap") || anomaly == "midstream" || anomaly == "malformed-tls" || anomaly == "evicted" {
            note(anomaly)
        }
        // The other cells too can hold text from the traffic (certificate subjects, cipher names).
        return [
            String(flow.id), flow.client, flow.server, proto, tlsColumn, clientCertificate, established,
        ]
        .map(\.escapingTerminalControls) + [notes.joined(separator: "; ")]
    }

    /// Findings, most severe first. `complete: false` says that "no findings" covers only what could be read.
    public static func findings(_ findings: [Finding], style: TerminalStyle, complete: Bool = true) -> String {
        guard !findings.isEmpty else {
            return complete
                ? "No findings."
                : "No findings in what could be read: the analysis is INCOMPLETE (see the problems below)."
        }
        var lines: [String] = []
        for finding in findings {
            let flows = finding.flowCount == 1 ? "1 flow" : "\(finding.flowCount) flows"
            let ids =
                finding.flowIDs.map(String.init).joined(separator: ",")
                + (finding.flowCount > finding.flowIDs.count ? ",…" : "")
            let text = "\(finding.kind.identifier): \(finding.title) [\(flows): \(ids)]".escapingTerminalControls
            lines.append(
                "\(style.severity(finding.severity.rawValue.uppercased().padding(8), finding.severity)) \(text)")
            lines.append("         \(finding.detail.escapingTerminalControls)")
        }
        return lines.joined(separator: "\n")
    }

    public static func summary(_ summary: AnalysisSummary) -> String {
        var lines: [String] = []
        lines.append(
            "Files: \(summary.files.count), packets: \(summary.packets), flows: \(summary.flows) "
                + "(plaintext \(summary.plaintextFlows), encrypted \(summary.encryptedFlows), TLS \(summary.tlsFlows), mutual TLS \(summary.mutualTLSFlows))"
        )
        let protocols = summary.byProtocol.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map {
            "\($0.key) \($0.value)"
        }
        if !protocols.isEmpty { lines.append("Protocols: " + protocols.joined(separator: ", ")) }
        let states = summary.byClientCertificate.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        if !states.isEmpty { lines.append("TLS client certificates: " + states.joined(separator: ", ")) }
        let severities = Severity.allCases.reversed().compactMap { severity in
            summary.findingsBySeverity[severity.rawValue].map { "\(severity.rawValue) \($0)" }
        }
        lines.append("Findings: " + (severities.isEmpty ? "none" : severities.joined(separator: ", ")))
        var skipped: [String] = []
        if summary.ipFragments > 0 { skipped.append("\(summary.ipFragments) IP fragments (not reassembled)") }
        if summary.truncatedPackets > 0 { skipped.append("\(summary.truncatedPackets) packets cut by the snap length") }
        if summary.malformedPackets > 0 { skipped.append("\(summary.malformedPackets) malformed packets skipped") }
        if summary.otherPackets > 0 { skipped.append("\(summary.otherPackets) non-TCP/UDP packets") }
        if !skipped.isEmpty { lines.append("Also: " + skipped.joined(separator: ", ")) }
        lines.append("Analysed in \(String(format3: summary.durationSeconds)) s.")
        if !summary.complete {
            lines.append(
                "INCOMPLETE: \(summary.problems.count) problem\(summary.problems.count == 1 ? "" : "s"); what follows each was not examined:"
            )
            for problem in summary.problems {
                lines.append(
                    "  \(problem.file)\(problem.offset.map { " at byte \($0)" } ?? ""): \(problem.message) [\(problem.code)]"
                        .escapingTerminalControls)
            }
        }
        return lines.joined(separator: "\n")
    }
}

extension String {
    func padding(_ width: Int) -> String {
        self.count >= width ? self : self + String(repeating: " ", count: width - self.count)
    }

    /// A number with three decimals.
    init(format3 value: Double) {
        let scaled = Int((value * 1000).rounded())
        let fraction = String(scaled % 1000)
        let padded = String(repeating: "0", count: 3 - fraction.count) + fraction
        self = "\(scaled / 1000).\(padded)"
    }
}
