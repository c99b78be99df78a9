import ArgumentParser
import Audit
import BulkheadModel
import Foundation
import Lab
import Reporting

#if canImport(Glibc)
    import Glibc
#endif

/// `scenario up/run/down` for a Swarm scenario (a file with a `swarm` key): the two-node lab built and torn down by
/// `scenarios/swarm-lab/lab.sh`, the scenario's overlays and services deployed, every node audited.
enum SwarmScenarioCommand {
    static func load(_ path: String) throws -> SwarmScenario {
        do { return try SwarmScenario.load(path: path) } catch { throw failInput(error.description) }
    }

    /// Builds the lab and deploys the services; on any failure, tears down what was built.
    static func standUp(_ scenario: SwarmScenario, path: String) throws -> SwarmLab {
        let script = SwarmScenario.script(scenarioPath: path)
        let lab: SwarmLab
        do { lab = try SwarmLab.up(name: scenario.labName, slot: scenario.swarm.slot ?? 9, script: script) } catch {
            reportError("\(scenario.name): \(error.description)")
            throw ExitCode(ExitStatus.incomplete)
        }
        do { try lab.deploy(scenario.spec) } catch {
            lab.down()
            reportError("\(scenario.name): \(error.description) (the lab is torn down)")
            throw ExitCode(ExitStatus.incomplete)
        }
        return lab
    }

    static func up(_ path: String) throws {
        let scenario = try Self.load(path)
        let lab = try Self.standUp(scenario, path: path)
        writeStandardError(
            "bulkhead: swarm scenario \(scenario.name) is up: lab \(lab.name), manager DOCKER_HOST=unix://\(lab.nodes[0].socket), "
                + "worker DOCKER_HOST=unix://\(lab.nodes[1].socket)\n")
    }

    static func down(_ path: String) throws {
        let scenario = try Self.load(path)
        if let left = SwarmLab.down(name: scenario.labName, script: SwarmScenario.script(scenarioPath: path)) {
            reportError("\(scenario.name): \(left)")
            throw ExitCode(ExitStatus.incomplete)
        }
        writeStandardError("bulkhead: swarm scenario \(scenario.name) is down\n")
    }

    static func run(_ path: String, json: Bool, keep: Bool) throws {
        let scenario = try Self.load(path)
        let lab = try Self.standUp(scenario, path: path)
        defer { if !keep { lab.down() } }
        let outcome = scenario.audit(lab: lab) { writeStandardError("bulkhead: \(scenario.name): \($0)\n") }
        if json {
            for report in outcome.reports {
                print(String(decoding: (try? JSONReport.document(report)) ?? Data(), as: UTF8.self))
            }
        } else {
            for (index, report) in outcome.reports.enumerated() {
                print("Node \(index + 1) (\(report.evidence.inventory?.cluster?.nodeName ?? "?")):")
                print(AuditReports.table(report, style: TerminalStyle.forDescriptor(STDOUT_FILENO)))
            }
            print(
                "Scenario \(scenario.name): "
                    + (outcome.matches ? "findings match the expectations" : "findings DIFFER from the expectations"))
            for line in outcome.missing { print("  MISSING     \(line)") }
        }
        guard outcome.reports.allSatisfy(\.complete) else { throw ExitCode(ExitStatus.incomplete) }
        if !outcome.matches { throw ExitCode(ExitStatus.findings) }
    }
}
