import ArgumentParser
import BulkheadModel
import Foundation
import Policy
import Reachability

/// `--policy FILE`, as `probe` and `audit` read it: the expected policy, or Docker's own intent without one.
struct PolicyOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The expected policy (YAML). Default: what Docker's own configuration intends.", valueName: "file"))
    var policy: String?

    /// The name reports give the policy when none is given.
    static let defaultName = "docker default (no --policy given)"

    /// The policy and the name reports give it. A file that cannot be read or parsed is an input error naming the
    /// file and line (exit 2).
    func load() throws -> (Policy, String) {
        guard let path = self.policy else { return (.dockerDefault, Self.defaultName) }
        return (try Self.load(path: path), path)
    }

    /// Reads a policy file, as every command does (`tls --policy` too).
    static func load(path: String) throws -> Policy {
        do { return try Policy.load(path: path) } catch { throw failInput(error.description) }
    }

    /// Where relative paths in the policy's mTLS requirements start: the policy file's folder.
    var directory: String? {
        self.policy.map { ($0 as NSString).deletingLastPathComponent }.map { $0.isEmpty ? "." : $0 }
    }
}

/// `--attempts` and `--timeout` of the reachability probes, as `probe` and `audit` take them.
struct ProbeTimingOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Probe attempts before a failure counts (one success is enough).")
    var attempts: Int = 2

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Seconds to wait for a probe answer, every protocol (default 1).", valueName: "seconds"))
    var timeout: Double?

    func validate() throws {
        if self.attempts < 1 || self.attempts > 20 { throw ValidationError("--attempts must be between 1 and 20") }
        if let timeout = self.timeout, !(timeout > 0 && timeout <= 60) {
            throw ValidationError("--timeout must be between 0 and 60 seconds")
        }
    }

    /// Sets the attempts, and every protocol's timeout when `--timeout` was given.
    func apply(to options: inout ProbeOptions) {
        options.attempts = self.attempts
        if let timeout = self.timeout {
            options.tcpTimeout = timeout
            options.udpTimeout = timeout
            options.icmpTimeout = timeout
        }
    }
}

/// `--quiet`, for the commands that show progress on standard error.
struct ProgressOptions: ParsableArguments {
    @Flag(help: "Do not show progress on standard error.")
    var quiet = false
}

/// How `audit` and `merge` write their report and choose their exit status: the format on standard output, the
/// files, the severity that fails the run, and the table's width.
struct AuditReportOptions: ParsableArguments {
    @Option(help: "The report format on standard output (or in --output FILE).")
    var format: Bulkhead.AuditCommand.Format = .table

    @Option(
        name: [.short, .long], parsing: .singleValue,
        help: ArgumentHelp(
            "Write a report to a file: FILE (in --format) or FORMAT=FILE (repeatable).", valueName: "[format=]file")
    )
    var output: [String] = []

    @Option(help: ArgumentHelp("Exit with status 1 when a finding is at least this severe.", valueName: "severity"))
    var failOn: Severity = .high

    @Flag(help: "Exit 0 even with findings or an incomplete report (reports are still written).")
    var exitZero = false

    @Flag(
        help:
            "Table format: every column of the edge table, in full (default: verdict, source, destination and why, fitted to the terminal)."
    )
    var wide = false

    /// Where each report goes: `(format, nil)` is standard output.
    func destinations() throws -> [(Bulkhead.AuditCommand.Format, String?)] {
        try Bulkhead.AuditCommand.destinations(self.output, format: self.format)
    }
}
