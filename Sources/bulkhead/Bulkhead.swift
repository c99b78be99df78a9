import ArgumentParser
import BulkheadModel
import Foundation
import Reporting
import SystemCalls

#if canImport(Glibc)
    import Glibc
#endif

/// `bulkhead`: proves containers are isolated the way their owners think, and that whatever crosses between
/// them is mutually authenticated TLS.
@main
struct Bulkhead: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulkhead",
        abstract: "Prove container isolation and mutual TLS between services.",
        discussion: """
            Each subcommand runs one stage of an audit and can write its evidence as JSON.

            Examples:
              bulkhead analyze captures/
              bulkhead capture --duration 30
              bulkhead inventory --source all
              bulkhead probe --policy policy.yaml
              bulkhead audit --policy policy.yaml --output html=audit.html
              bulkhead merge node1.json node2.json --output html=fleet.html
              bulkhead scenario run scenarios/flat.yaml
              bulkhead k8s intent cluster.json

            Exit status, for every subcommand:
              0  nothing at or above --fail-on was found
              1  findings at or above --fail-on
              2  usage error, input that cannot be read, or a report that cannot be
                 written (the message names the file)
              3  incomplete: something could not be examined (never counted as clean)
            When several apply, the higher in this order wins: 2, then 3, then 1, then 0 (an incomplete run with \
            findings exits 3: its findings are not the whole truth).
            """,
        version: "0.1.0",
        subcommands: [
            Analyze.self, Capture.self, Inventory.self, Probe.self, TLS.self, AuditCommand.self, ScenarioCommand.self,
            KubernetesCommand.self, Merge.self,
        ]
    )

    /// Parses the command line and runs the command, mapping ArgumentParser's usage errors to exit status 2
    /// (its default, 64, is not what scripts of this tool expect).
    static func main() {
        do {
            var command = try Self.parseAsRoot()
            try command.run()
        } catch {
            let code = Self.exitCode(for: error)
            if code == .validationFailure {
                writeStandardError(Self.fullMessage(for: error) + "\n")
                Self.exit(withError: ExitCode(ExitStatus.usage))
            }
            Self.exit(withError: error)
        }
    }
}

/// The exit statuses every subcommand uses, and the one rule that picks among them when several apply:
///
///     usage error 2  >  incomplete 3  >  findings 1  >  clean 0
///
/// A usage or input error (a bad command line, an unreadable input, a report that could not be written) wins: the
/// run did not do what was asked. Then incomplete: something could not be examined, so the findings that were
/// found are not the whole truth, and a cron job or CI gate must not read "1: findings" as "everything else was
/// checked". Findings come only after, and clean only when nothing else applies.
enum ExitStatus {
    static let clean: Int32 = 0
    static let findings: Int32 = 1
    static let usage: Int32 = 2
    static let incomplete: Int32 = 3

    /// The status of a run, by the precedence rule above.
    static func of(usageError: Bool = false, incomplete: Bool, findings: Bool) -> Int32 {
        if usageError { return Self.usage }
        if incomplete { return Self.incomplete }
        if findings { return Self.findings }
        return Self.clean
    }

    /// Ends a command by the precedence rule: returns when the status is 0, throws the `ExitCode` otherwise.
    static func finish(usageError: Bool = false, incomplete: Bool, findings: Bool) throws {
        let status = Self.of(usageError: usageError, incomplete: incomplete, findings: findings)
        if status != Self.clean { throw ExitCode(status) }
    }
}

/// Refuses to start probing when `BULKHEAD_ALLOWED_RANGES` cannot be read (exit 2, naming the variable and the bad
/// item). The engines would refuse every probe anyway (fail closed); saying so before the run beats a report whose
/// every cell is refused.
func checkAddressLimit() throws {
    if let problem = AddressLimit.current.problem { throw failInput(problem) }
}

/// Prints `bulkhead: error: …` on standard error and fails with the usage/input status.
func failInput(_ message: String) -> ExitCode {
    reportError(message)
    return ExitCode(ExitStatus.usage)
}

/// Prints `bulkhead: error: …` on standard error: the one place errors are rendered. Messages repeat what hostile
/// files hold (a YAML line, a label key, a node name), so control characters are shown as escapes, as the tables
/// show them, instead of reaching the terminal.
func reportError(_ message: String) {
    writeStandardError("bulkhead: error: \(TerminalText.message(message))\n")
}

/// Writes text to standard error unbuffered, with write(2) (not the C `stderr` global, which Swift 6 deems unsafe,
/// nor FileHandle.write, which traps when the write fails: `2>/dev/full` must not crash the run). A failure is
/// ignored: there is nowhere left to report it.
func writeStandardError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in
        var done = 0
        while done < bytes.count, let base = bytes.baseAddress {
            let count = try? SystemCall.retrying("write") { write(STDERR_FILENO, base + done, bytes.count - done) }
            guard let count, count > 0 else { return }
            done += count
        }
    }
}

/// Prints `bulkhead: warning: …` on standard error, escaped as ``reportError(_:)`` escapes.
func warn(_ message: String) {
    writeStandardError("bulkhead: warning: \(TerminalText.message(message))\n")
}

/// A line on standard error about how the input was taken, which changes nothing in the result (a file named twice).
func note(_ message: String) {
    writeStandardError("bulkhead: note: \(message)\n")
}

extension Severity: ExpressibleByArgument {}
