import BulkheadModel

/// The readable `tls` report: one verdict line per endpoint, the probes that decided it, then the findings.
public enum TLSTableReport {
    /// The whole report as text; `style` colours verdicts and severities on a terminal.
    /// Every value from the servers (certificate names, alerts, details) is escaped (``TerminalText``).
    public static func render(_ report: TLSReport, style: TerminalStyle) -> String {
        let e = TerminalText.escape as (String) -> String
        var sections: [String] = []
        var table = TextTable(header: [
            "ENDPOINT", "SOURCE", "VERDICT", "CLIENT AUTH", "TLS", "FORGED CERTS", "CHAIN", "FINDINGS",
        ])
        for endpoint in report.endpoints {
            let forged = endpoint.probes.filter { $0.probe.isForgedCertificate && $0.result != .skipped }
            let accepted = forged.filter { $0.result == .accepted }
            let versions = endpoint.probes.filter { $0.probe == .protocolVersion && $0.result == .accepted }.compactMap(
                \.variant)
            let verdict =
                endpoint.verdict == .mtlsEnforced
                ? endpoint.verdict.rawValue
                : style.severity(endpoint.verdict.rawValue, endpoint.verdict.tested ? .high : .medium)
            table.rows.append([
                e(endpoint.endpoint), e(endpoint.source), verdict, endpoint.clientAuth.rawValue,
                versions.isEmpty ? "-" : e(versions.joined(separator: ",")),
                forged.isEmpty
                    ? "-"
                    : (accepted.isEmpty
                        ? "\(forged.count) refused"
                        : "ACCEPTED: " + accepted.map(\.probe.rawValue).joined(separator: ",")),
                endpoint.serverChain?.pathValidation.rawValue ?? "-", "\(endpoint.findings.count)",
            ])
        }
        sections.append(style.bold("Endpoints") + "\n" + (report.endpoints.isEmpty ? "None." : table.render()))
        for endpoint in report.endpoints {
            var probes = TextTable(header: ["PROBE", "RESULT", "EVIDENCE", "ATTEMPTS", "ALERT", "VERSION", "DETAIL"])
            for probe in endpoint.probes {
                let attempts =
                    probe.attempts > 1
                    ? "\(probe.attempts) (\(probe.servedAttempts) served, \(probe.refusedAttempts) refused)"
                    : (probe.attempts == 1 ? "1" : (probe.result == .skipped ? "-" : "shared"))
                probes.rows.append(
                    TerminalText.escape([
                        probe.probe.rawValue + (probe.variant.map { " " + $0 } ?? ""), probe.result.rawValue,
                        probe.evidence == .none ? "-" : probe.evidence.rawValue, attempts,
                        probe.alert.map { "\($0) \(probe.alertName ?? "")" } ?? "-", probe.tlsVersion ?? "-",
                        String((probe.detail ?? "").prefix(90)),
                    ]))
            }
            var text =
                style.bold("\(e(endpoint.endpoint)) from \(e(endpoint.source)): \(endpoint.verdict.rawValue)")
                + "\n  why: \(e(endpoint.reason))"
            if let upgrade = endpoint.startTLS { text += "\n  over STARTTLS (\(upgrade))" }
            text += "\n" + probes.render(indent: "  ")
            if let cas = endpoint.probes.first(where: { $0.acceptableCAs != nil })?.acceptableCAs {
                text += "\n  acceptable client CAs: " + (cas.isEmpty ? "(empty list)" : e(cas.joined(separator: "; ")))
            }
            if let chain = endpoint.serverChain {
                for (index, certificate) in chain.certificates.enumerated() {
                    text +=
                        "\n  chain #\(index): \(e(certificate.subject)) (issuer \(e(certificate.issuer))), \(e(certificate.keyType))-\(certificate.keyBits), until \(certificate.notAfter.map(String.init(describing:)) ?? "?")"
                }
                text +=
                    "\n  path validation: \(chain.pathValidation.rawValue)"
                    + (chain.pathError.map { " (\(e($0)))" } ?? "")
            }
            sections.append(text)
        }
        var findings: [String] = []
        for finding in report.findings {
            findings.append(
                "\(style.severity(finding.severity.rawValue.uppercased().padding(8), finding.severity)) \(e(finding.kind.identifier)): \(e(finding.title)) [\(e(finding.location ?? ""))]"
            )
            findings.append("         \(e(finding.detail))")
        }
        sections.append(
            style.bold("Findings") + "\n" + (findings.isEmpty ? "No findings." : findings.joined(separator: "\n")))
        var summary =
            "\(report.endpoints.count) endpoint(s), \(report.connections) connections in \(String(format3: report.durationSeconds)) s"
        summary +=
            "; verdicts: "
            + report.verdicts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        if !report.complete {
            summary +=
                "\n" + style.severity("INCOMPLETE", .high)
                + ": some endpoints could not be tested or judged (never counted as secure)"
        }
        sections.append(summary)
        return sections.joined(separator: "\n\n") + "\n"
    }
}
