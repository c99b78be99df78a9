import ArgumentParser
import BulkheadModel
import Foundation
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
              bulkhead scenario run scenarios/flat.yaml

            Exit status, for every subcommand:
              0  nothing at or above --fail-on was found
              1  findings at or above --fail-on
              2  usage error, or input that cannot be read (the message names the file)
              3  incomplete: something could not be examined (never counted as clean)
            """,
        version: "0.1.0",
        subcommands: [Analyze.self, Capture.self, Inventory.self, Probe.self, TLS.self, AuditCommand.self, ScenarioCommand.self]
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

/// The exit statuses every subcommand uses.
enum ExitStatus {
    static let clean: Int32 = 0
    static let findings: Int32 = 1
    static let usage: Int32 = 2
    static let incomplete: Int32 = 3
}

/// Prints `bulkhead: error: …` on standard error and fails with the usage/input status.
func failInput(_ message: String) -> ExitCode {
    writeStandardError("bulkhead: error: \(message)\n")
    return ExitCode(ExitStatus.usage)
}

/// Writes text to standard error unbuffered (FileHandle, not the C `stderr` global, which Swift 6 deems unsafe).
func writeStandardError(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

func warn(_ message: String) {
    writeStandardError("bulkhead: warning: \(message)\n")
}

extension Severity: ExpressibleByArgument {}
