import ArgumentParser
import Audit
import BulkheadModel
import ContainerEngine
import Foundation
import Inventory
import Lab
import Reachability
import Reporting

#if canImport(Glibc)
    import Glibc
#endif

extension Bulkhead {
    /// `bulkhead scenario up|down|run FILE`: the lab.
    struct ScenarioCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "scenario",
            abstract: "Stand lab scenarios up as real Docker networks and containers, check them, tear them down.",
            discussion: """
                A scenario file (YAML, see scenarios/README.md) declares networks in 198.18.0.0/15, services from the \
                lab image (scenarios/lab-image/build.sh builds it), and the findings Bulkhead should report. \
                Everything `up` creates is labelled with the scenario's name, and `down` removes exactly that, even \
                after a run that failed half-way.

                Exit status of `run`: 0 the findings match the expectations, 1 they do not, 2 the scenario file or \
                the engine cannot be used, 3 the lab could not be stood up completely.
                """,
            subcommands: [Up.self, Down.self, Run.self]
        )

        struct Options: ParsableArguments {
            @Argument(help: ArgumentHelp("The scenario file (YAML).", valueName: "file"))
            var file: String

            func load() throws -> (Lab.Scenario, LabRunner) {
                let scenario: Lab.Scenario
                do { scenario = try Lab.Scenario.load(path: self.file) } catch { throw failInput(error.description) }
                do {
                    return (scenario, LabRunner(engine: DockerEngine(socketPath: try DockerEngine.socketPath())))
                } catch {
                    throw failInput(error.description)
                }
            }
        }

        /// `--relocate`, for the commands that stand a scenario up.
        struct PlacementOptions: ParsableArguments {
            @Flag(
                help: ArgumentHelp(
                    "Move networks whose subnets this host already uses to free /24s of 198.18.0.0/15, and every address of the file with them.",
                    discussion: """
                        Without it, a taken subnet (another Docker network, a route) stops the command before anything \
                        is made, naming what holds it. Each move is reported; the scenario file is not changed.
                        """))
            var relocate = false

            /// A Swarm scenario's networks are overlays made inside its nodes, where nothing of the host is in the way.
            func checkNotSwarm(_ file: String) throws {
                if self.relocate && SwarmScenario.isSwarm(path: file) {
                    throw failInput(
                        "--relocate: \(file) is a Swarm scenario; its networks live inside its nodes, not on this host")
                }
            }

            /// The scenario to stand up: the file's own, or moved off taken subnets with `--relocate` (the moves
            /// reported on standard error, and returned).
            func place(_ scenario: Lab.Scenario, file: String, lab: LabRunner) throws -> (
                Lab.Scenario, [ScenarioRelocation.Move]
            ) {
                guard self.relocate else { return (scenario, []) }
                let moved: Lab.Scenario
                let relocation: ScenarioRelocation
                do {
                    try lab.engine.connect()
                    let space = try LabAddressSpace.current(engine: lab.engine, ignoring: scenario.name)
                    (moved, relocation) = try Lab.Scenario.load(path: file, relocatingAround: space)
                } catch let error as EngineError {
                    throw failInput("\(scenario.name): \(error.description)")
                } catch let error as ScenarioError {
                    throw failInput(error.description)
                }
                for move in relocation.moves { writeStandardError("bulkhead: \(scenario.name): \(move)\n") }
                return (moved, relocation.moves)
            }
        }

        struct Up: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "up",
                abstract:
                    "Create the scenario's networks and containers, start them, and return once they run and their servers listen."
            )
            @OptionGroup var options: Options
            @OptionGroup var placement: PlacementOptions

            func run() throws {
                try self.placement.checkNotSwarm(self.options.file)
                if SwarmScenario.isSwarm(path: self.options.file) {
                    return try SwarmScenarioCommand.up(self.options.file)
                }
                let (declared, lab) = try self.options.load()
                let (scenario, _) = try self.placement.place(declared, file: self.options.file, lab: lab)
                do { try lab.up(scenario) } catch {
                    // A taken subnet is found before anything is made: there is nothing to take down.
                    let leftovers =
                        error.code == .subnetTaken
                        ? ""
                        : " (what was made is labelled \(scenario.label); `bulkhead scenario down` removes it)"
                    throw failInput("\(scenario.name): \(error.description)\(leftovers)")
                }
                // Up means usable: every container running and its listening sockets settled.
                let ready: Bool
                do { ready = try lab.waitUntilReady(scenario) } catch {
                    reportError("\(scenario.name): \(error.description)")
                    throw ExitCode(ExitStatus.incomplete)
                }
                guard ready else {
                    writeStandardError(
                        "bulkhead: error: \(scenario.name): not every container is running after 20 s (`bulkhead scenario down` removes it)\n"
                    )
                    throw ExitCode(ExitStatus.incomplete)
                }
                writeStandardError(
                    "bulkhead: scenario \(scenario.name) is up (\(scenario.networks.count) networks, \(scenario.services.count) containers)\n"
                )
            }
        }

        struct Down: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "down",
                abstract: "Remove everything the scenario created (by its label).")
            @OptionGroup var options: Options

            func run() throws {
                if SwarmScenario.isSwarm(path: self.options.file) {
                    return try SwarmScenarioCommand.down(self.options.file)
                }
                let (scenario, lab) = try self.options.load()
                do {
                    try lab.engine.connect()
                    try lab.down(scenario)
                } catch {
                    throw failInput("\(scenario.name): \(error.description)")
                }
                writeStandardError("bulkhead: scenario \(scenario.name) is down\n")
            }
        }

        struct Run: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "run",
                abstract: "Up, run the traffic, audit, compare with the expected findings and matrix, down.",
                discussion: """
                    The audit covers the scenario's own containers and networks: inventory, then — when the scenario has \
                    a policy or an expected matrix — reachability probes from every container's namespace, evaluated \
                    against the scenario's policy (Docker's intent when it has none). The findings of every stage are \
                    compared with expect.findings, the matrix cell by cell with expect.reachability.

                    Exit status: 0 the findings, the traffic and the matrix match the expectations, 1 they do not, 2 the \
                    file or the engine cannot be used, 3 the lab could not be stood up or the audit is incomplete.
                    """
            )
            @OptionGroup var options: Options
            @OptionGroup var placement: PlacementOptions

            @Option(help: "Output format on standard output: table or json.")
            var format: Bulkhead.Inventory.Format = .table

            @Option(
                name: .customLong("report"), parsing: .singleValue,
                help: ArgumentHelp(
                    "Also write the audit report: FORMAT=FILE, e.g. html=demo.html (repeatable; formats as for `audit`).",
                    valueName: "format=file"))
            var reports: [String] = []

            @Flag(help: "Leave the lab up afterwards (for a closer look; `scenario down` removes it).")
            var keep = false

            func validate() throws {
                for value in self.reports where try AuditCommand.formatAndFile(value, option: "--report") == nil {
                    throw ValidationError(
                        "--report \(value): use FORMAT=FILE with a format of `audit` (e.g. html=report.html)")
                }
            }

            func run() throws {
                try self.placement.checkNotSwarm(self.options.file)
                if SwarmScenario.isSwarm(path: self.options.file) {
                    return try SwarmScenarioCommand.run(self.options.file, json: self.format == .json, keep: self.keep)
                }
                let (declared, lab) = try self.options.load()
                let (scenario, moves) = try self.placement.place(declared, file: self.options.file, lab: lab)
                try checkAddressLimit()
                defer {
                    if !self.keep { try? lab.down(scenario) }
                }
                do {
                    try lab.up(scenario)
                    guard try lab.waitUntilReady(scenario) else {
                        writeStandardError(
                            "bulkhead: error: \(scenario.name): not every container is running after 20 s\n")
                        throw ExitCode(ExitStatus.incomplete)
                    }
                } catch let error as EngineError {
                    reportError("\(scenario.name): \(error.description)")
                    throw ExitCode(ExitStatus.incomplete)
                }
                let outcome = ScenarioAudit.run(scenario, lab: lab) { line in
                    writeStandardError("bulkhead: \(scenario.name): \(line)\n")
                }
                let report = outcome.report
                let traffic = outcome.traffic
                let comparison = outcome.findings
                let reachability = outcome.reachability
                var writeFailed = false
                for value in self.reports {
                    guard let (format, path) = try AuditCommand.formatAndFile(value, option: "--report") else {
                        continue
                    }
                    if let failure = AuditCommand.write(
                        report, format: format, path: path, failOn: .high, lastSuccess: nil, wide: false)
                    {
                        reportError(failure)
                        writeFailed = true
                    }
                }
                let sink: OutputSink
                do { sink = try OutputSink(path: nil) } catch { throw failInput(error.description) }
                switch self.format {
                case .json:
                    sink.write(
                        try JSONReport.document(
                            ScenarioRun(
                                relocation: moves, comparison: comparison, traffic: traffic,
                                reachability: reachability, audit: report)))
                case .table:
                    var lines = [AuditReports.table(report, style: TerminalStyle.forDescriptor(STDOUT_FILENO))]
                    if let probe = outcome.matrix, scenario.expect?.reachability != nil {
                        lines.append(
                            ReachabilityTableReport.render(probe, style: TerminalStyle.forDescriptor(STDOUT_FILENO)))
                    }
                    lines.append(
                        "Scenario \(scenario.name): "
                            + (comparison.matches
                                ? "findings match the expectations" : "findings DIFFER from the expectations"))
                    for finding in comparison.observed {
                        let mark = comparison.unexpected.contains(finding) ? "unexpected" : "expected  "
                        lines.append("  \(mark)  \(finding.kind) at \(finding.location)")
                    }
                    for finding in comparison.missing {
                        lines.append("  MISSING     \(finding.kind) at \(finding.location)")
                    }
                    for result in traffic {
                        let status = result.exitCode.map { "exit \($0)" } ?? "did not finish"
                        // Only the program: a lab command line may carry a password (the demo's Redis AUTH).
                        lines.append(
                            "  traffic from \(result.from): \(result.command.first ?? "?") … \(status)"
                                + (result.asExpected ? "" : " (expected exit \(result.expectedExit))"))
                    }
                    if let reachability {
                        lines.append(
                            "Reachability: \(reachability.cellsCompared) cells "
                                + (reachability.matches
                                    ? "match the expected matrix" : "DIFFER from the expected matrix"))
                        for mismatch in reachability.mismatches {
                            lines.append(
                                "  \(mismatch.cell): expected \(mismatch.expected), observed \(mismatch.observed)\(mismatch.entry.map { " (entry \"\($0)\")" } ?? "")"
                            )
                        }
                        for entry in reachability.unusedEntries {
                            lines.append("  UNUSED entry \"\(entry)\": no probed cell matches it")
                        }
                    }
                    sink.write(lines.joined(separator: "\n") + "\n")
                }
                do { try sink.commit() } catch { throw failInput(error.description) }
                for problem in report.problems { warn(problem) }
                try ExitStatus.finish(usageError: writeFailed, incomplete: !report.complete, findings: !outcome.matches)
            }
        }
    }
}

/// `scenario run --format json`: the findings comparison and the traffic outcomes.
struct ScenarioRun: Encodable {
    /// The networks `--relocate` moved off subnets the host already used (empty when none moved): the addresses in
    /// the rest of the document are the moved ones.
    var relocation: [ScenarioRelocation.Move]
    var comparison: ScenarioComparison
    var traffic: [TrafficResult]
    /// The probed matrix against `expect.reachability` (null when the scenario declares no reachability).
    @ExplicitNull var reachability: ReachabilityComparison?
    /// The audit of the scenario (schema bulkhead.audit/1).
    var audit: AuditReport
}
