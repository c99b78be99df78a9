import BulkheadModel

/// The readable `inventory` report: networks, then containers, then other namespaces, then findings.
public enum InventoryTableReport {
    /// Every value from the engine or the namespaces is escaped (``TerminalText``): a container name holding
    /// `ESC[2J` prints as text.
    public static func render(_ report: InventoryReport, style: TerminalStyle) -> String {
        let e = TerminalText.escape as (String) -> String
        var sections: [String] = []
        var networks = TextTable(header: [
            "NETWORK", "DRIVER", "SUBNETS", "GATEWAYS", "INTERNAL", "ICC", "BRIDGE", "CONTAINERS",
        ])
        for network in report.networks {
            networks.rows.append(
                TerminalText.escape([
                    network.name, network.driver, network.subnets.joined(separator: ","),
                    network.gateways.joined(separator: ","),
                    network.internal ? "yes" : "no", network.icc ? "yes" : "no", network.bridge ?? "-",
                    network.containers.isEmpty ? "-" : network.containers.joined(separator: ","),
                ]))
        }
        sections.append(style.bold("Networks") + "\n" + (report.networks.isEmpty ? "None." : networks.render()))
        var containers = TextTable(header: [
            "CONTAINER", "STATE", "PID", "MODE", "ADDRESSES", "LISTENING", "PUBLISHED", "CAPS",
        ])
        for container in report.containers {
            let addresses = container.networks.flatMap { network in
                [network.ipv4.map { "\(network.name)=\($0)" }, network.ipv6.map { "\(network.name)=\($0)" }].compactMap
                { $0 }
            }
            let listening = container.listening.map { "\($0.proto)/\($0.port)" }
            let published = container.publishedPorts.map {
                "\($0.hostIP):\($0.hostPort)->\($0.containerPort)/\($0.proto)"
            }
            var capabilities = container.capabilities.filter { $0 != "NET_BIND_SERVICE" }
            if container.privileged { capabilities.insert("privileged", at: 0) }
            if container.dockerSocketMounted { capabilities.append("docker.sock") }
            containers.rows.append(
                TerminalText.escape([
                    container.name, container.state, container.pid.map(String.init) ?? "-", container.networkMode,
                    addresses.isEmpty ? "-" : addresses.joined(separator: " "),
                    listening.isEmpty ? "-" : listening.joined(separator: ","),
                    published.isEmpty ? "-" : published.joined(separator: ","),
                    capabilities.isEmpty ? "-" : capabilities.joined(separator: ","),
                ]))
        }
        sections.append(style.bold("Containers") + "\n" + (report.containers.isEmpty ? "None." : containers.render()))
        if !report.namespaces.isEmpty {
            var namespaces = TextTable(header: ["NAMESPACE", "NETNS", "PIDS", "ADDRESSES", "LISTENING"])
            for namespace in report.namespaces {
                namespaces.rows.append(
                    TerminalText.escape([
                        namespace.name, namespace.netns,
                        namespace.pids.prefix(5).map(String.init).joined(separator: ",")
                            + (namespace.pids.count > 5 ? ",…" : ""),
                        namespace.addresses.isEmpty ? "-" : namespace.addresses.joined(separator: " "),
                        namespace.listening.isEmpty
                            ? "-" : namespace.listening.map { "\($0.proto)/\($0.port)" }.joined(separator: ","),
                    ]))
            }
            sections.append(style.bold("Other network namespaces") + "\n" + namespaces.render())
        }
        var findings: [String] = []
        for finding in report.findings {
            findings.append(
                "\(style.severity(finding.severity.rawValue.uppercased().padding(8), finding.severity)) \(e(finding.kind.identifier)): \(e(finding.title))"
            )
            findings.append("         \(e(finding.detail))")
        }
        sections.append(
            style.bold("Findings") + "\n" + (findings.isEmpty ? "No findings." : findings.joined(separator: "\n")))
        var summary = "Sources: " + e(report.sources.joined(separator: "; "))
        summary +=
            "\nNetworks: \(report.summary.networks), containers: \(report.summary.containers), other namespaces: \(report.summary.namespaces)"
        if report.summary.apiCalls > 0 {
            summary += ", \(report.summary.apiCalls) API calls in \(String(format3: report.summary.durationSeconds)) s"
        }
        if !report.complete {
            summary += "\n" + style.severity("INCOMPLETE", .high) + ": " + e(report.problems.joined(separator: "; "))
        }
        sections.append(summary)
        return sections.joined(separator: "\n\n") + "\n"
    }
}
