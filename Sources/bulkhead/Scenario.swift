import ArgumentParser
import BulkheadModel
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

        struct Up: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Create the scenario's networks and containers and start them.")
            @OptionGroup var options: Options

            func run() throws {
                let (scenario, lab) = try self.options.load()
                do { try lab.up(scenario) } catch {
                    throw failInput("\(scenario.name): \(error.description) (what was made is labelled \(scenario.label); `bulkhead scenario down` removes it)")
                }
                writeStandardError("bulkhead: scenario \(scenario.name) is up (\(scenario.networks.count) networks, \(scenario.services.count) containers)\n")
            }
        }

        struct Down: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Remove everything the scenario created (by its label).")
            @OptionGroup var options: Options

            func run() throws {
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
                abstract: "Up, run the traffic, inventory, probe, compare with the expected findings and matrix, down.",
                discussion: "When the scenario has a policy or expect.reachability, every container is probed from its own namespace and the matrix compared cell by cell. Exit status: 0 the findings, the traffic and the matrix match the expectations, 1 they do not, 2 the file or the engine cannot be used, 3 the lab could not be stood up."
            )
            @OptionGroup var options: Options

            @Option(help: "Output format: table or json.")
            var format: Bulkhead.Inventory.Format = .table

            @Flag(help: "Leave the lab up afterwards (for a closer look; `scenario down` removes it).")
            var keep = false

            func run() throws {
                let (scenario, lab) = try self.options.load()
                defer {
                    if !self.keep { try? lab.down(scenario) }
                }
                let report: InventoryReport
                let traffic: [TrafficResult]
                var probe: ProbeReport?
                do {
                    try lab.up(scenario)
                    guard try lab.waitUntilRunning(scenario) else {
                        writeStandardError("bulkhead: error: \(scenario.name): not every container is running after 20 s\n")
                        throw ExitCode(ExitStatus.incomplete)
                    }
                    usleep(300_000)  // servers bind just after their containers start
                    traffic = try lab.generateTraffic(scenario)
                    report = try InventoryCollector.fromEngine(lab.engine)
                    if scenario.policy != nil || scenario.expect?.reachability != nil {
                        probe = try ScenarioProbe.run(scenario, inventory: report)
                    }
                } catch let error as EngineError {
                    writeStandardError("bulkhead: error: \(scenario.name): \(error.description)\n")
                    throw ExitCode(ExitStatus.incomplete)
                } catch let error as ProbePlanError {
                    throw failInput("\(scenario.name): \(error.description)")
                }
                let comparison = ScenarioComparison.compare(scenario, findings: report.findings)
                let reachability = probe.map { ScenarioProbe.compare(scenario, cells: $0.cells) }
                switch self.format {
                case .json:
                    FileHandle.standardOutput.write(try JSONReport.document(ScenarioRun(comparison: comparison, traffic: traffic, reachability: reachability, probe: probe)))
                case .table:
                    var lines = ["Scenario \(scenario.name): " + (comparison.matches ? "findings match the expectations" : "findings DIFFER from the expectations")]
                    for finding in comparison.observed {
                        let mark = comparison.unexpected.contains(finding) ? "unexpected" : "expected  "
                        lines.append("  \(mark)  \(finding.kind) at \(finding.location)")
                    }
                    for finding in comparison.missing { lines.append("  MISSING     \(finding.kind) at \(finding.location)") }
                    for result in traffic {
                        let status = result.exitCode.map { "exit \($0)" } ?? "did not finish"
                        lines.append("  traffic from \(result.from): \(result.command.prefix(3).joined(separator: " ")) … \(status)"
                            + (result.asExpected ? "" : " (expected exit \(result.expectedExit))"))
                    }
                    if let probe, let reachability {
                        lines.append("")
                        lines.append(ReachabilityTableReport.render(probe, style: TerminalStyle.forDescriptor(STDOUT_FILENO)))
                        lines.append("Reachability: \(reachability.cellsCompared) cells " + (reachability.matches ? "match the expected matrix" : "DIFFER from the expected matrix"))
                        for mismatch in reachability.mismatches {
                            lines.append("  \(mismatch.cell): expected \(mismatch.expected), observed \(mismatch.observed)\(mismatch.entry.map { " (entry \"\($0)\")" } ?? "")")
                        }
                        for entry in reachability.unusedEntries { lines.append("  UNUSED entry \"\(entry)\": no probed cell matches it") }
                    }
                    print(lines.joined(separator: "\n"))
                }
                if !report.complete || probe?.complete == false { throw ExitCode(ExitStatus.incomplete) }
                if !comparison.matches || !traffic.allSatisfy(\.asExpected) || reachability?.matches == false { throw ExitCode(ExitStatus.findings) }
            }
        }
    }
}

/// `scenario run --format json`: the findings comparison and the traffic outcomes.
struct ScenarioRun: Encodable {
    var comparison: ScenarioComparison
    var traffic: [TrafficResult]
    /// The probed matrix against `expect.reachability` (null when the scenario declares no reachability).
    var reachability: ReachabilityComparison?
    var probe: ProbeReport?

    enum CodingKeys: String, CodingKey { case comparison, traffic, reachability, probe }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.comparison, forKey: .comparison)
        try container.encode(self.traffic, forKey: .traffic)
        try container.encode(self.reachability, forKey: .reachability)
        try container.encode(self.probe, forKey: .probe)
    }
}
