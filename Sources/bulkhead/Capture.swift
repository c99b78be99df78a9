import ArgumentParser
import BulkheadModel
import ContainerEngine
import Foundation
import Inventory
import LiveCapture
import PacketAnalysis
import Reporting

#if canImport(Glibc)
    import Glibc
#endif

extension Bulkhead {
    /// `bulkhead capture`: live capture on the container bridges, analysed as it goes.
    struct Capture: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "capture",
            abstract: "Capture live on the container bridges and analyse the traffic as it arrives (like analyze).",
            discussion: """
                Captures with libpcap on the bridge of every Docker bridge network (or on each --interface), for \
                --duration seconds and/or --packets packets (whichever comes first; with neither, until SIGINT or \
                SIGTERM). Every packet goes straight into the analyze engine: plaintext flows, credentials \
                (redacted), TLS and mutual TLS, findings. Flow endpoints are named after the containers (and the \
                host side of each network) that own their addresses. --write keeps the packets as pcapng, one \
                interface block per capture interface.

                Needs root (or CAP_NET_RAW and CAP_NET_ADMIN). Only listens: it sends nothing.

                Examples:
                  bulkhead capture --duration 60
                  bulkhead capture --interface br-1a2b3c4d5e6f --filter 'tcp port 6379' \\
                      --write redis.pcapng
                  bulkhead capture --packets 10000 --format json -o capture.json

                Exit status: 0 no finding at or above --fail-on, 1 such findings, 2 usage error, unknown interface, \
                no permission, bad filter, 3 incomplete (an interface vanished mid-capture, or the file could not \
                be written).
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case table, json
        }

        @Option(
            name: .customLong("interface"),
            help: ArgumentHelp(
                "Capture on this interface instead of every Docker bridge (repeatable).", valueName: "name"))
        var interfaces: [String] = []

        @Option(parsing: .unconditional, help: ArgumentHelp("Stop after this many seconds.", valueName: "seconds"))
        var duration: Double?

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp("Stop after this many packets (over all interfaces).", valueName: "n"))
        var packets: Int?

        @Option(help: ArgumentHelp("A BPF filter in tcpdump syntax, e.g. 'tcp port 443'.", valueName: "expression"))
        var filter: String?

        @Option(
            name: [.short, .customLong("write")],
            help: ArgumentHelp(
                "Also write the packets to this pcapng file (atomically, renamed into place at the end).",
                valueName: "file"))
        var write: String?

        @Option(parsing: .unconditional, help: ArgumentHelp("Bytes kept of each packet.", valueName: "bytes"))
        var snaplen: Int = LiveCapture.defaultSnapLength

        @Option(help: "Output format: table (readable) or json (one document).")
        var format: Format = .table

        @OptionGroup var report: ReportOptions

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "Bytes of each direction of a plaintext flow inspected for credentials and STARTTLS.",
                valueName: "bytes"))
        var inspectBytes: Int = 16_384

        @Option(
            name: .customLong("keylog"),
            help: ArgumentHelp("An SSLKEYLOGFILE whose secrets decrypt TLS handshakes (repeatable).", valueName: "file")
        )
        var keyLogs: [String] = []

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp("Seconds between progress lines on standard error.", valueName: "seconds"))
        var progressInterval: Double = 5

        @Flag(help: "No progress lines.")
        var quiet = false

        func validate() throws {
            // A year at most: a longer one is a typo (and past 584 years no clock counts in nanoseconds).
            if let duration = self.duration, !(duration > 0 && duration <= 366 * 86_400) {
                throw ValidationError("--duration must be more than 0 seconds and at most a year (31,622,400)")
            }
            if let packets = self.packets, packets < 1 { throw ValidationError("--packets must be at least 1") }
            guard self.snaplen >= 64 && self.snaplen <= 262_144 else {
                throw ValidationError("--snaplen must be between 64 and 262144")
            }
            guard self.inspectBytes >= 64 && self.inspectBytes <= 16 << 20 else {
                throw ValidationError("--inspect-bytes must be between 64 and 16777216")
            }
            guard self.progressInterval > 0, self.progressInterval <= 86_400 else {
                throw ValidationError("--progress-interval must be more than 0 and at most a day (86,400 seconds)")
            }
        }

        func run() throws {
            let keyLog = try loadKeyLogs(self.keyLogs)
            let (inventory, interfaces) = try self.interfacesAndInventory()
            let sink = try self.report.openSink()
            let stop: CaptureStop
            do { stop = try CaptureStop() } catch { throw failInput(error.description) }
            stop.installSignalHandlers()
            defer { stop.removeSignalHandlers() }
            let announcement =
                "bulkhead: capturing on \(interfaces.map(\.name).joined(separator: ", "))"
                + (self.duration.map { " for \(Self.seconds($0)) s" } ?? "")
                + (self.packets.map { ", up to \($0) packets" } ?? "")
                + (self.duration == nil && self.packets == nil ? " until interrupted (Ctrl-C)" : "") + "\n"
            let progress: ((CaptureProgress) -> Void)? =
                self.quiet
                ? nil
                : { update in
                    guard update.elapsedSeconds > 0 else { return writeStandardError(announcement) }
                    let parts = update.interfaces.map { "\($0.name) \($0.packets) packets \(Self.size($0.bytes))" }
                    writeStandardError(
                        "bulkhead: capturing \(String(format: "%.0f", update.elapsedSeconds)) s: \(parts.joined(separator: ", "))\n"
                    )
                }
            let result: LiveCaptureResult
            do {
                result = try LiveCapture.run(
                    interfaces: interfaces, duration: self.duration, packets: self.packets, filter: self.filter,
                    write: self.write,
                    snapLength: self.snaplen,
                    options: AnalysisOptions(inspectionWindow: self.inspectBytes, keyLog: keyLog),
                    names: EndpointNames(inventory: inventory), stop: stop, progressInterval: self.progressInterval,
                    progress: progress)
            } catch {
                sink.abandon()
                throw failInput(error.description)
            }
            for problem in result.problems { warn(problem) }
            for warning in result.analysis.warnings { warn(warning.description) }
            do {
                switch self.format {
                case .table: sink.write(self.table(result))
                case .json: sink.write(try Self.document(result))
                }
                try sink.commit()
            } catch {
                sink.abandon()
                throw OutputSink.failure(error)
            }
            try self.report.failIfNeeded(result.analysis.findings, complete: result.complete)
        }

        /// The interfaces to capture on, and the inventory that names endpoints: Docker's networks and containers
        /// (required when no --interface is given) plus the host's other network namespaces.
        private func interfacesAndInventory() throws -> (InventoryReport, [CaptureInterface]) {
            var inventory = InventoryReport(
                sources: [], networks: [], containers: [], namespaces: [], findings: [], complete: true,
                problems: [], summary: InventorySummary())
            do {
                inventory = try InventoryCollector.fromEngine(DockerEngine(socketPath: try DockerEngine.socketPath()))
                // A container the engine failed to inspect has no name here: its flows show its addresses only.
                if !self.quiet { for problem in inventory.problems { warn("inventory: \(problem)") } }
            } catch {
                // Without --interface the bridges come from the engine, so it must answer.
                if self.interfaces.isEmpty {
                    throw failInput(
                        "\(error.description) (capture needs the Docker engine to find the bridges; or give --interface)"
                    )
                }
                // No engine (or not allowed to use it: capturing then fails too, with its own one line) is quiet.
                if error.code != .noSocket && error.code != .permissionDenied && !self.quiet {
                    warn("no container names: \(error.description)")
                }
            }
            InventoryCollector.addNamespaces(to: &inventory)
            if self.interfaces.isEmpty {
                let bridges = CaptureInterface.bridges(of: inventory)
                guard !bridges.isEmpty else {
                    throw failInput("the Docker engine has no bridge network to capture on; give --interface")
                }
                return (inventory, bridges)
            }
            let networkByBridge = Dictionary(
                CaptureInterface.bridges(of: inventory).map { ($0.name, $0.network) },
                uniquingKeysWith: { first, _ in first })
            var seen = Set<String>()
            let chosen = self.interfaces.filter { seen.insert($0).inserted }.map {
                CaptureInterface(name: $0, network: networkByBridge[$0] ?? nil)
            }
            return (inventory, chosen)
        }

        // MARK: - Rendering

        /// The `analyze` table with endpoint names, then interfaces, problems and the summary.
        private func table(_ result: LiveCaptureResult) -> String {
            let style = TerminalStyle.forDescriptor(self.report.descriptor)
            let named = result.flows.map { flow in
                var record = flow.record
                if let name = flow.clientName { record.client += " (\(name))" }
                if let name = flow.serverName { record.server += " (\(name))" }
                return record
            }
            var text = AnalysisTableReport.flows(named) + "\n\n"
            text +=
                style.bold("Findings") + "\n" + AnalysisTableReport.findings(result.analysis.findings, style: style)
                + "\n\n"
            text += style.bold("Interfaces") + "\n"
            for interface in result.interfaces {
                var line = "  \(interface.name)" + (interface.network.map { " (network \($0))" } ?? "")
                line += ": \(interface.packets) packets, \(Self.size(interface.bytes))"
                if let dropped = interface.dropped, dropped > 0 { line += ", \(dropped) dropped by the kernel" }
                if let problem = interface.problem { line += " — FAILED: \(problem)" }
                text += line + "\n"
            }
            if !result.problems.isEmpty {
                text +=
                    "\n" + style.bold("Incomplete") + "\n" + result.problems.map { "  " + $0 }.joined(separator: "\n")
                    + "\n"
            }
            text += "\n" + AnalysisTableReport.summary(result.analysis.summary) + "\n"
            text +=
                "Captured for \(Self.seconds(result.durationSeconds)) s, stopped by \(result.stoppedBy.rawValue)"
                + (result.written.map { "; packets written to \($0)" } ?? "") + ".\n"
            return text
        }

        /// The `analyze` JSON document (same `findings`, `flows`, `summary`; each flow gains `clientName`,
        /// `serverName` and `interface`) plus `complete`, `problems`, `interfaces`, `endpoints`, `stoppedBy`,
        /// `written` and `captureSeconds`.
        static func document(_ result: LiveCaptureResult) throws -> Data {
            var writer = FlowJSONWriter()
            var flows: [Data] = []
            for flow in result.flows {
                writer.reset()
                writer.write(flow.record)
                var bytes = writer.bytes
                let extras = try JSONReport.compact(
                    FlowExtras(clientName: flow.clientName, interface: flow.interface, serverName: flow.serverName))
                if bytes.last == UInt8(ascii: "}"), extras.count > 2 {
                    bytes.removeLast()
                    bytes.append(UInt8(ascii: ","))
                    bytes.append(contentsOf: extras.dropFirst())
                }
                flows.append(Data(bytes))
            }
            let analysis = try JSONReport.assembleDocument(
                findings: result.analysis.findings, flows: flows, summary: result.analysis.summary)
            let header = try JSONReport.document(
                CaptureHeader(
                    captureSeconds: result.durationSeconds, complete: result.complete, endpoints: result.endpoints,
                    interfaces: result.interfaces, problems: result.problems, stoppedBy: result.stoppedBy.rawValue,
                    written: result.written))
            // Both are `{\n  …\n}\n` documents with two-space indentation: join their members into one object.
            guard header.count > 4, analysis.count > 2 else { return analysis }
            var document = Data(header.prefix(header.count - 3))  // without "\n}\n"
            document.append(Data(",\n".utf8))
            document.append(analysis.dropFirst(2))  // without "{\n"
            return document
        }

        /// What `capture --format json` adds to each flow record: the names of its ends and the interface it was
        /// captured on (absent names written as `null`).
        struct FlowExtras: Encodable {
            @ExplicitNull var clientName: String?
            var interface: String
            @ExplicitNull var serverName: String?
        }

        /// The members `capture --format json` writes before the analysis document's own.
        struct CaptureHeader: Encodable {
            var captureSeconds: Double
            var complete: Bool
            var endpoints: [String: String]
            var interfaces: [InterfaceReport]
            var problems: [String]
            var stoppedBy: String
            /// The pcapng file written, or `null`.
            @ExplicitNull var written: String?
        }

        static func size(_ bytes: UInt64) -> String {
            if bytes >= 10 << 20 { return "\(bytes >> 20) MiB" }
            if bytes >= 10 << 10 { return "\(bytes >> 10) KiB" }
            return "\(bytes) B"
        }

        static func seconds(_ value: Double) -> String {
            String(format: "%.1f", value)
        }
    }
}
