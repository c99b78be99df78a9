import ArgumentParser
import BulkheadModel
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Where a report goes: shared by every subcommand that reports (``ReportOptions``, and `probe`, whose `--fail-on`
/// means something else).
struct ReportDestination: ParsableArguments {
    @Option(
        name: [.short, .long],
        help: ArgumentHelp("Write the report to this file (atomically) instead of standard output.", valueName: "file"))
    var output: String?

    /// Opens the report's destination, or fails with the input/usage status naming the file.
    func openSink() throws -> OutputSink {
        do { return try OutputSink(path: self.output) } catch { throw failInput(error.description) }
    }

    /// The descriptor the report is written to, for deciding on colour (a file never gets colour).
    var descriptor: Int32 { self.output == nil ? STDOUT_FILENO : -1 }
}

/// Where a report goes and when findings fail the run: shared by every subcommand that reports.
struct ReportOptions: ParsableArguments {
    @OptionGroup var destination: ReportDestination

    @Option(
        help: ArgumentHelp(
            "Exit with status 1 when a finding is at least this severe: info, low, medium, high, critical.",
            valueName: "severity"))
    var failOn: Severity = .high

    /// `-o FILE`, or nil for standard output.
    var output: String? { self.destination.output }

    /// Opens the report's destination, or fails with the input/usage status naming the file.
    func openSink() throws -> OutputSink { try self.destination.openSink() }

    /// The descriptor the report is written to, for deciding on colour (a file never gets colour).
    var descriptor: Int32 { self.destination.descriptor }

    /// Ends the command by the shared precedence rule (``ExitStatus``): 3 when incomplete, else 1 when a finding is at
    /// least `--fail-on`, else returns.
    func failIfNeeded(_ findings: [Finding], complete: Bool = true) throws {
        try ExitStatus.finish(incomplete: !complete, findings: findings.contains { $0.severity >= self.failOn })
    }

    /// ``failIfNeeded(_:complete:)`` from how many findings there are of each severity (by name), for findings
    /// that are not all held.
    func failIfNeeded(severities: [String: Int]) throws {
        let failing = severities.contains { name, count in
            count > 0 && (Severity(rawValue: name).map { $0 >= self.failOn } ?? false)
        }
        try ExitStatus.finish(incomplete: false, findings: failing)
    }
}
