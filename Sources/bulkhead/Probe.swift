import ArgumentParser
import BulkheadModel
import ContainerEngine
import Foundation
import Inventory
import Policy
import Reachability
import Reporting

extension Bulkhead {
    /// `bulkhead probe`: which containers can reach which, proven by packets from inside their namespaces.
    struct Probe: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "probe",
            abstract:
                "Probe reachability between containers from inside their network namespaces, and check it against a policy.",
            discussion: """
                For every running (or paused) container, probes start inside its own network namespace (no exec, nothing added to \
                the container): TCP connects, UDP datagrams (a reply or ICMP port-unreachable is needed to mean \
                anything) and ICMP echo, to every other container's addresses on every network, on the ports they \
                listen on (read from their namespaces) plus --ports, and to the host side (gateways: Docker API ports \
                2375/2376, published ports). Only enumerated addresses and --target ones are ever probed.

                Cell states: reachable, reachable-closed (RST/port-unreachable from a port nothing listens on: the \
                path is open), rejected (ICMP error; or an RST/port-unreachable from a port the destination still \
                listens on, read again from its namespace: a firewall's REJECT), filtered (silence after every \
                attempt), flapping (mixed), unknown (UDP without answer), \
                skipped, error (the tool could not probe: never counted as blocked; also silence from a destination \
                whose kernel, probed again, kept dropping connection attempts at its listening sockets (a hung \
                server, or no route back for its answers) or receiving echo requests it did not answer; and silence or a host-unreachable when the source's \
                neighbour entry for the next hop is INCOMPLETE or FAILED: the destination or its router is down or \
                absent, and the probes never left the source).

                Without --policy the cells are checked against what Docker's configuration intends (shared network \
                with ICC on: allowed; across networks: denied; the host side unless internal). A policy file (YAML, \
                see README) has allow/deny rules between selectors and a baseline (deny or docker).

                A paused container is probed to and from: its namespace lives, and its kernel still completes TCP \
                handshakes for its frozen server (an open path). A container started with --network container:X is \
                on X's networks; that namespace is probed once, from X, and the sharer's cells are copies of X's. A \
                source with no address of a family has no path of that family: those cells are skipped, saying so. \
                No route from the source's own kernel to an address on a network the inventory puts it on is an \
                error (its routes disagree with the engine); elsewhere it is the source's isolation (rejected, \
                noted: no route).

                Exit status: 0 no violation, 1 violations, 2 usage or unreadable input, 3 incomplete (some cells are \
                errors: a namespace could not be entered, a container died or a namespace was deleted mid-probe, a \
                destination did not answer at the link layer).

                Examples:
                  bulkhead probe
                  bulkhead probe --policy policy.yaml --format json --output evidence.json
                  bulkhead probe --evidence evidence.json --policy stricter.yaml
                  bulkhead probe --ports tcp/22,udp/53 --attempts 3 --timeout 2
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case table, json
        }

        @OptionGroup var policyOptions: PolicyOptions

        @Option(
            help: ArgumentHelp(
                "Re-evaluate a stored probe report (JSON from --format json) instead of probing.", valueName: "file"))
        var evidence: String?

        @Option(
            help: ArgumentHelp(
                "Plan from an inventory JSON (`bulkhead inventory --format json`) instead of asking the engine.",
                valueName: "file"))
        var inventory: String?

        @Option(
            help: ArgumentHelp(
                "Probe only containers and networks with this label (key=value, or a key): from and to them alone, as `audit --scope-label` does. Plain namespaces carry no labels and are left out.",
                valueName: "label"))
        var scopeLabel: String?

        @Option(
            parsing: .singleValue,
            help: ArgumentHelp(
                "More ports to probe on every destination: tcp/22, udp/53, tcp/8000-8010 (comma-separated, repeatable).",
                valueName: "ports"))
        var ports: [String] = []

        @Option(
            name: .customLong("target"),
            help: ArgumentHelp(
                "An extra address to probe from every source (repeatable; single unicast hosts only: not 0.0.0.0/::, multicast, 255.255.255.255, nor an enumerated subnet's network or broadcast address).",
                valueName: "ip"))
        var targets: [String] = []

        @Option(
            name: .customLong("source"),
            help: ArgumentHelp("Probe only from this container (repeatable).", valueName: "name"))
        var sources: [String] = []

        @OptionGroup var timing: ProbeTimingOptions

        @Option(parsing: .unconditional, help: ArgumentHelp("Seconds to wait for a TCP answer.", valueName: "seconds"))
        var tcpTimeout: Double?

        @Option(parsing: .unconditional, help: ArgumentHelp("Seconds to wait for a UDP answer.", valueName: "seconds"))
        var udpTimeout: Double?

        @Option(
            parsing: .unconditional, help: ArgumentHelp("Seconds to wait for an ICMP echo reply.", valueName: "seconds")
        )
        var icmpTimeout: Double?

        @Option(
            parsing: .unconditional,
            help: "Probes in flight at once, over all sources (0: as many as the open-file limit allows, up to 16384).")
        var maxInFlight: Int = 0

        @Option(parsing: .unconditional, help: "Probes in flight at once towards one address.")
        var maxPerDestination: Int = 256

        @Flag(help: "Do not send ICMP echo.")
        var noICMP = false

        @Flag(help: "Do not probe UDP ports.")
        var noUDP = false

        @Flag(help: "Do not probe the host side (gateways).")
        var noHost = false

        @Flag(help: "Probe only addresses on networks the source is attached to.")
        var sharedNetworksOnly = false

        @Flag(
            help:
                "Also probe from and to the host's other network namespaces (ip netns, containerd/CNI sandboxes): hosts without Docker, or beside it."
        )
        var namespaces = false

        @Option(help: "Output format: table or json (the evidence, re-usable with --evidence).")
        var format: Format = .table

        @OptionGroup var progress: ProgressOptions

        @OptionGroup var report: ReportDestination

        // Not the shared option: here every violation exits 1 whatever its severity, and `--fail-on` decides only
        // for the other findings (a policy rule that selects nothing).
        @Option(
            help: ArgumentHelp(
                "Every violation exits with status 1, whatever its severity; another finding (policy-rule-selects-nothing, low) does when at least this severe: info, low, medium, high, critical.",
                valueName: "severity"))
        var failOn: Severity = .high

        func validate() throws {
            for (name, value) in [
                ("--tcp-timeout", self.tcpTimeout), ("--udp-timeout", self.udpTimeout),
                ("--icmp-timeout", self.icmpTimeout),
            ] {
                if let value, !(value > 0 && value <= 60) {
                    throw ValidationError("\(name) \(value): timeouts must be between 0 and 60 seconds")
                }
            }
            if self.maxInFlight < 0 || self.maxPerDestination < 1 {
                throw ValidationError("--max-in-flight must be 0 (auto) or more, --max-per-destination at least 1")
            }
            // Stored cells are re-evaluated, never probed again: an option that shapes probing would be silently ignored.
            let probing: [(String, Bool)] = [
                ("--inventory", self.inventory != nil), ("--scope-label", self.scopeLabel != nil),
                ("--ports", !self.ports.isEmpty),
                ("--target", !self.targets.isEmpty),
                ("--source", !self.sources.isEmpty), ("--tcp-timeout", self.tcpTimeout != nil),
                ("--udp-timeout", self.udpTimeout != nil), ("--icmp-timeout", self.icmpTimeout != nil),
                ("--max-in-flight", self.maxInFlight != 0), ("--max-per-destination", self.maxPerDestination != 256),
                ("--no-icmp", self.noICMP), ("--no-udp", self.noUDP), ("--no-host", self.noHost),
                ("--shared-networks-only", self.sharedNetworksOnly), ("--namespaces", self.namespaces),
                ("--attempts", self.timing.attempts != 2), ("--timeout", self.timing.timeout != nil),
            ]
            let ignored = probing.filter(\.1).map(\.0)
            if self.evidence != nil && !ignored.isEmpty {
                throw ValidationError(
                    "--evidence re-evaluates stored cells without probing: \(ignored.joined(separator: ", ")) do(es) not apply"
                )
            }
        }

        func options() throws -> ProbeOptions {
            var options = ProbeOptions()
            self.timing.apply(to: &options)
            options.tcpTimeout = self.tcpTimeout ?? options.tcpTimeout
            options.udpTimeout = self.udpTimeout ?? options.udpTimeout
            options.icmpTimeout = self.icmpTimeout ?? options.icmpTimeout
            options.maxInFlight = self.maxInFlight
            options.maxInFlightPerDestination = self.maxPerDestination
            options.icmp = !self.noICMP
            options.udp = !self.noUDP
            options.hostSide = !self.noHost
            options.allNetworks = !self.sharedNetworksOnly
            options.explicitTargets = self.targets
            options.sources = self.sources
            options.namespaces = self.namespaces
            for text in self.ports.flatMap({
                $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            }) where !text.isEmpty {
                guard let spec = PortSpec(text) else {
                    throw failInput("--ports \(text): use tcp/80, udp/53 or tcp/8000-8010")
                }
                options.extraPorts.append(spec)
            }
            return options
        }

        func run() throws {
            let (policy, policyName) = try self.policyOptions.load()

            var evidence: ProbeReport
            if let path = self.evidence {
                evidence = try Self.loadEvidence(path)
            } else {
                let options = try self.options()
                var inventory = try self.loadInventory()
                if self.namespaces && self.inventory == nil { InventoryCollector.addNamespaces(to: &inventory) }
                if let label = self.scopeLabel { inventory = inventory.scoped(label: label) }
                let plan: ProbePlan
                do { plan = try ProbePlanner.plan(inventory: inventory, options: options) } catch {
                    throw failInput(error.description)
                }
                for name in self.sources where !plan.sources.contains(where: { $0.name == name }) {
                    throw failInput(
                        "--source \(name): no such container\(self.namespaces ? " or namespace" : "") in the inventory")
                }
                try checkAddressLimit()
                let quiet = self.progress.quiet
                if !quiet {
                    writeStandardError(
                        "bulkhead: probing \(plan.cells.count) cells from \(plan.sources.count) sources (\(options.attempts) attempts, timeouts tcp \(options.tcpTimeout) s / udp \(options.udpTimeout) s / icmp \(options.icmpTimeout) s)\n"
                    )
                }
                let result = ProbeEngine.run(plan: plan, options: options) { progress in
                    guard !quiet else { return }
                    let again =
                        progress.recheck
                        ? "silent cells of destinations that dropped or ignored probes, probed again: " : ""
                    writeStandardError(
                        "bulkhead: \(again)"
                            + String(
                                format: "%d/%d cells decided, %d probes in flight, %.1f s\n", progress.cellsDone,
                                progress.cellsTotal, progress.inFlight, progress.elapsedSeconds))
                }
                evidence = result.report(inventory: inventory, options: options)
            }
            evidence = evidence.evaluated(with: policy, name: policyName)

            let sink = try self.report.openSink()
            do {
                switch self.format {
                case .table:
                    sink.write(
                        ReachabilityTableReport.render(
                            evidence, style: TerminalStyle.forDescriptor(self.report.descriptor)))
                case .json: sink.write(try ProbeJSON.document(evidence))
                }
                try sink.commit()
            } catch {
                sink.abandon()
                throw OutputSink.failure(error)
            }
            if self.format == .json || self.report.output != nil {
                // The report has every violation; standard error gets the first few, each with its reproduction.
                let violations = evidence.violations
                for cell in violations.prefix(20) {
                    if let line = ReproCommand.line(for: cell) {
                        writeStandardError(
                            "bulkhead: \(cell.violation?.rawValue ?? ""): \(cell.source) -> \(cell.destination)/\(cell.protocol.rawValue): \(line)\n"
                        )
                    }
                }
                if violations.count > 20 {
                    writeStandardError("bulkhead: … and \(violations.count - 20) more violations in the report\n")
                }
            }
            for problem in evidence.problems { warn(problem) }
            // Every violation fails the run, as it always has; any other finding at least --fail-on too (it was ignored).
            try ExitStatus.finish(
                incomplete: !evidence.complete,
                findings: !evidence.violations.isEmpty
                    || evidence.findings.contains { $0.severity >= self.failOn })
        }

        func loadInventory() throws -> InventoryReport {
            if let path = self.inventory {
                do { return try JSONInput.load(InventoryReport.self, path: path, expected: .inventoryReport) } catch {
                    throw failInput(error.description)
                }
            }
            do {
                return try InventoryCollector.fromEngine(DockerEngine(socketPath: try DockerEngine.socketPath()))
            } catch {
                // A host without Docker (containerd/CNI, plain `ip netns`) is still probed between its namespaces.
                guard self.namespaces else { throw failInput(error.description) }
                warn("no container engine (\(error.description)); probing the network namespaces only")
                return InventoryReport(
                    sources: [], networks: [], containers: [], namespaces: [], findings: [], complete: true,
                    problems: [], summary: InventorySummary())
            }
        }

        static func loadEvidence(_ path: String) throws -> ProbeReport {
            do { return try JSONInput.load(ProbeReport.self, path: path, expected: .probeReport) } catch {
                throw failInput(error.description)
            }
        }
    }
}
