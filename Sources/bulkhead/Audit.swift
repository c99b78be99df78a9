import ArgumentParser
import Audit
import BulkheadModel
import ContainerEngine
import Foundation
import Inventory
import Kubernetes
import Policy
import Reachability
import Reporting

extension Bulkhead {
    /// `bulkhead audit`: every stage against a policy, one report centred on the edge table.
    struct AuditCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract:
                "Run inventory → probe → tls → capture against a policy and report every edge: allowed, reachable, encrypted, mutually authenticated.",
            discussion: """
                The report's centre is the edge table: for each source → destination:port, whether the policy allows \
                it, whether a probe got through, what traffic showed (plaintext, TLS, mTLS), what the endpoint's TLS \
                check found (the mTLS battery of `bulkhead tls`, on every TCP container endpoint a probe reached, from \
                inside a container that reached it; a policy's mtls section adds trust bundles and identities, with \
                paths relative to its folder), the identities on both sides, and one verdict (mtls-enforced, \
                tls-accepts-rogue-client, mtls-optional, tls-no-client-auth, inconclusive, plaintext, open-unverified, \
                blocked, violation, unknown). The evidence of every stage is kept in the JSON report, so `--evidence \
                report.json --policy other.yaml` judges it again offline, and names what that policy needs that the \
                evidence lacks (exit 3).

                Formats: table, json (schema bulkhead.audit/1), sarif (2.1.0), junit (an incomplete audit is an \
                error there: each stage that failed or did not finish, each problem), prometheus (node-exporter \
                textfile), markdown, html (self-contained, with the topology picture), dot (Graphviz). Several at once: \
                --output html=report.html --output prometheus=/var/lib/node_exporter/bulkhead.prom. Files are written \
                atomically.

                For cron and CI: a lock keeps two runs from overlapping; --baseline reports only what is new or \
                resolved since an accepted report (findings matched by kind, location and what tells them apart \
                there, such as the port or the credential kind; one grown more severe is new); --ignore takes \
                accepted risks with a reason and an expiry date.

                Exit status: 0 clean, 1 findings at or above --fail-on (default high; with --baseline, new findings \
                only), 2 usage or configuration error, 3 incomplete (a stage failed, a container died mid-audit, or \
                another audit holds the lock); --exit-zero turns 1 and 3 into 0 (a usage or configuration error is still 2).

                Examples:
                  bulkhead audit --policy policy.yaml
                  bulkhead audit --policy policy.yaml \\
                      --output json=audit.json --output html=audit.html
                  bulkhead audit --evidence audit.json --policy stricter.yaml
                  bulkhead audit --capture bridge.pcapng \\
                      --baseline accepted.json --ignore risks.yaml
                  bulkhead audit --policy policy.yaml \\
                      --capture-seconds 60 --write-capture audit.pcapng
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case table, json, sarif, junit, prometheus, markdown, html, dot
        }

        @OptionGroup var policyOptions: PolicyOptions

        @Option(
            help: ArgumentHelp(
                "Re-evaluate a stored audit report (JSON) instead of running the stages.", valueName: "file"))
        var evidence: String?

        @Option(
            name: .customLong("capture"),
            help: ArgumentHelp("A pcap/pcapng file to analyse as the capture stage (repeatable).", valueName: "file"))
        var captures: [String] = []

        @Option(
            parsing: .unconditional,
            help: ArgumentHelp(
                "Capture live on the audited networks' bridges for this long, after the probes (needs root or CAP_NET_RAW).",
                valueName: "seconds"))
        var captureSeconds: Double?

        @Option(help: ArgumentHelp("Write the live capture to this pcapng file.", valueName: "file"))
        var writeCapture: String?

        @Flag(help: "Skip the reachability probes (and so the TLS checks, which test what the probes reached).")
        var noProbe = false

        @Flag(name: .customLong("no-tls"), help: "Skip the mTLS battery.")
        var noTLS = false

        @Flag(
            name: .customLong("tls-required-only"),
            help:
                "Run the mTLS battery only on the endpoints the policy requires mTLS on (default: every TCP container endpoint a probe reached)."
        )
        var tlsRequiredOnly = false

        /// Kept so that older crontabs keep working: every reached endpoint is the default now.
        @Flag(name: .customLong("tls-all"), help: .hidden)
        var tlsAll = false

        @OptionGroup var timing: ProbeTimingOptions

        @OptionGroup var swarm: SwarmOptions

        @Option(
            help: ArgumentHelp("Audit only containers and networks with this label (key=value).", valueName: "label"))
        var scopeLabel: String?

        @Option(
            help: ArgumentHelp(
                "Findings accepted as risks: YAML with kind, location, reason and expires for each.", valueName: "file")
        )
        var ignore: String?

        @Option(
            help: ArgumentHelp(
                "An accepted earlier report (JSON): report only what is new or resolved since.", valueName: "file"))
        var baseline: String?

        @Option(
            help: ArgumentHelp(
                "Where the lock and the last-success time live (default /var/lib/bulkhead for root).", valueName: "dir")
        )
        var stateDir: String?

        @Option(
            name: .customLong("k8s"),
            help: ArgumentHelp(
                "A kubectl dump (file, folder or -): probe this node's pod namespaces too and report where the measured matrix contradicts the NetworkPolicy intent.",
                valueName: "dump"))
        var kubernetesDump: String?

        @OptionGroup var progress: ProgressOptions

        @OptionGroup var reporting: AuditReportOptions

        func validate() throws {
            // A stored report is re-judged, its stages never run again: an option that shapes a stage would be ignored.
            let staging: [(String, Bool)] = [
                ("--capture", !self.captures.isEmpty), ("--capture-seconds", self.captureSeconds != nil),
                ("--write-capture", self.writeCapture != nil), ("--no-probe", self.noProbe), ("--no-tls", self.noTLS),
                ("--tls-required-only", self.tlsRequiredOnly), ("--scope-label", self.scopeLabel != nil),
                ("--attempts", self.timing.attempts != 2), ("--timeout", self.timing.timeout != nil),
            ]
            let ignored = staging.filter(\.1).map(\.0)
            if self.evidence != nil && !ignored.isEmpty {
                throw ValidationError(
                    "--evidence re-evaluates a stored report without running its stages: \(ignored.joined(separator: ", ")) do(es) not apply"
                )
            }
            if let seconds = self.captureSeconds, !(seconds > 0 && seconds <= 86_400) {
                throw ValidationError("--capture-seconds must be between 0 and 86400")
            }
            if !self.captures.isEmpty && self.captureSeconds != nil {
                throw ValidationError("--capture (files) and --capture-seconds (live) exclude each other")
            }
            if self.writeCapture != nil && self.captureSeconds == nil {
                throw ValidationError("--write-capture needs --capture-seconds")
            }
            _ = try self.destinations()
        }

        /// `--output` values as (format, path); a bare path takes --format. Two outputs naming the same file (also
        /// through a symlink, or `-` twice) are a usage error: one would silently replace the other.
        func destinations() throws -> [(Format, String?)] { try self.reporting.destinations() }

        /// `--output` values as (format, path), for any command writing the audit's formats (`audit`, `merge`).
        static func destinations(_ output: [String], format: Format) throws -> [(Format, String?)] {
            if output.isEmpty { return [(format, nil)] }
            let list: [(Format, String?)] = try output.map { value in
                if let (format, path) = try Self.formatAndFile(value, option: "--output") { return (format, path) }
                return (format, value)
            }
            var seen: [String: String] = [:]
            for case (_, let path?) in list {
                let identity = path == "-" ? "-" : ((OutputSink.resolvingLinks(path) as NSString).standardizingPath)
                if let earlier = seen[identity] {
                    throw ValidationError(
                        "--output \(earlier) and --output \(path) name the same file: give each report its own")
                }
                seen[identity] = path
            }
            return list
        }

        /// `html=report.html` → (.html, "report.html"); nil when the text names no format (a bare file name, which
        /// may hold `=` after a `/` or a `.`: `./a=b.json`). A word before `=` that is not a format is an error
        /// listing the formats.
        static func formatAndFile(_ value: String, option: String) throws -> (Format, String)? {
            guard let equals = value.firstIndex(of: "=") else { return nil }
            let word = String(value[..<equals])
            guard let format = Format(rawValue: word.lowercased()) else {
                if !word.isEmpty && word.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) {
                    throw ValidationError(
                        "\(option) \(value): unknown format '\(word)'; use one of \(Format.allCases.map(\.rawValue).joined(separator: ", ")) (write ./\(value) for a file of that name)"
                    )
                }
                return nil
            }
            let path = String(value[value.index(after: equals)...])
            guard !path.isEmpty else { throw ValidationError("\(option) \(value): the file name is missing") }
            return (format, path)
        }

        func run() throws {
            let (policy, policyName) = try self.policyOptions.load()
            let risks: AcceptedRisks?
            do { risks = try self.ignore.map { path throws(PathError) in try AcceptedRisks.load(path: path) } } catch {
                throw failInput(error.description)
            }
            let baselineReport: AuditReport?
            do {
                baselineReport = try self.baseline.map { path throws(PathError) in try Baseline.load(path: path) }
            } catch { throw failInput(error.description) }
            let stateDirectory = self.stateDir ?? AuditLock.defaultStateDirectory()
            let kubernetes: ClusterDump?
            do { kubernetes = try self.kubernetesDump.map { try ClusterDump.load(paths: [$0]) } } catch {
                throw failInput("\(error)")
            }

            let gathered: GatheredEvidence
            var lock: AuditLock?
            if let path = self.evidence {
                do { gathered = GatheredEvidence(stored: try Baseline.load(path: path)) } catch {
                    throw failInput(error.description)
                }
            } else {
                do { lock = try AuditLock(stateDirectory: stateDirectory) } catch {
                    reportError(error.description)
                    throw ExitCode(self.reporting.exitZero ? ExitStatus.clean : ExitStatus.incomplete)
                }
                let engine: DockerEngine
                do { engine = DockerEngine(socketPath: try DockerEngine.socketPath()) } catch {
                    throw failInput(error.description)
                }
                var options = AuditOptions()
                options.policy = policy
                options.policyName = policyName
                options.probe = !self.noProbe
                options.tls = !self.noTLS
                options.tlsAll = !self.tlsRequiredOnly
                options.policyDirectory = self.policyOptions.directory
                self.timing.apply(to: &options.probeOptions)
                options.captureFiles = self.captures
                options.captureSeconds = self.captureSeconds
                options.captureWrite = self.writeCapture
                options.scopeLabel = self.scopeLabel
                options.swarm = self.swarm.swarm
                options.swarmNodeCertificate = self.swarm.nodeCertificate
                if let kubernetes {
                    options.probeOptions.namespaces = true
                    options.inventoryHook = { inventory in
                        InventoryCollector.addNamespaces(to: &inventory)
                        NodeAudit.scope(&inventory, dump: kubernetes)
                    }
                }
                let quiet = self.progress.quiet
                try checkAddressLimit()
                gathered = AuditRunner.gather(engine: engine, options: options) { line in
                    if !quiet { writeStandardError("bulkhead: \(line)\n") }
                }
            }
            var baseline: AuditJudgement.BaselineReport?
            if let baselineReport, let path = self.baseline {
                baseline = AuditJudgement.BaselineReport(report: baselineReport, path: path)
            }
            let judged = AuditJudgement.judge(
                gathered, policy: policy, policyName: policyName,
                risks: risks.map { ($0, source: self.ignore ?? "ignore file") }, baseline: baseline)
            var report = judged.report
            if let kubernetes { NodeAudit.judge(&report, engine: PolicyEngine(kubernetes)) }
            for note in judged.notes { warn(note) }

            let state = AuditState(directory: stateDirectory).record(report, holding: lock)
            if let problem = state.problem { warn(problem.description) }
            let lastSuccess = state.lastSuccess
            // Every output is attempted: one that fails (a full disk, a missing folder) does not cost the others.
            var writeFailed = false
            for (format, path) in try self.destinations() {
                if let failure = Self.write(
                    report, format: format, path: path, failOn: self.reporting.failOn, lastSuccess: lastSuccess,
                    wide: self.reporting.wide)
                {
                    reportError(failure)
                    writeFailed = true
                }
            }
            for problem in report.problems { warn(problem) }
            withExtendedLifetime(lock) {}
            let failing = (report.baseline?.new ?? report.findings).contains { $0.severity >= self.reporting.failOn }
            // --exit-zero hides findings and incompleteness, never a report that was not written.
            try ExitStatus.finish(
                usageError: writeFailed, incomplete: !self.reporting.exitZero && !report.complete,
                findings: !self.reporting.exitZero && failing)
        }

        static func render(
            _ report: AuditReport, format: Format, style: TerminalStyle, failOn: Severity, lastSuccess: Double?,
            wide: Bool
        ) throws -> Data {
            switch format {
            case .table: return Data(AuditReports.table(report, style: style, wide: wide).utf8)
            case .json: return try JSONReport.document(report)
            case .sarif:
                return try SARIFReport.render(
                    findings: report.findings, toolVersion: Bulkhead.configuration.version, complete: report.complete,
                    problems: report.problems, baseline: report.baseline)
            case .junit: return Data(JUnitReport.render(report, failOn: failOn).utf8)
            case .prometheus: return Data(PrometheusReport.render(report, lastSuccess: lastSuccess).utf8)
            case .markdown: return Data(AuditReports.markdown(report).utf8)
            case .html: return Data(AuditReports.html(report).utf8)
            case .dot: return Data(TopologyGraph(report).dot().utf8)
            }
        }

        /// Renders and writes one report; returns what went wrong (naming the file), nil when it was written.
        static func write(
            _ report: AuditReport, format: Format, path: String?, failOn: Severity, lastSuccess: Double?, wide: Bool
        ) -> String? {
            Self.write(format: format, path: path) { style in
                try Self.render(
                    report, format: format, style: style, failOn: failOn, lastSuccess: lastSuccess, wide: wide)
            }
        }

        /// Renders (with the terminal style of the destination) and writes one report; returns what went wrong
        /// (naming the file), nil when it was written.
        static func write(format: Format, path: String?, render: (TerminalStyle) throws -> Data) -> String? {
            let sink: OutputSink
            do { sink = try OutputSink(path: path) } catch { return error.description }
            do {
                sink.write(try render(TerminalStyle.forDescriptor(path == nil ? STDOUT_FILENO : -1)))
            } catch {
                sink.abandon()
                return "cannot render the \(format.rawValue) report: \(error.localizedDescription)"
            }
            do { try sink.commit() } catch { return error.description }
            return nil
        }
    }
}
