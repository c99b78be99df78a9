import ArgumentParser
import Reachability
import TLSVerification
import Testing

@testable import bulkhead

/// The command lines themselves, parsed as ArgumentParser parses them (no process, no engine): the option groups
/// several commands share mean the same everywhere, and bad values are refused before anything runs. The
/// end-to-end tests run the binary.
@Suite("Command-line parsing")
struct CommandParsingTests {
    /// The validation error's message for a command line that must be refused.
    func refusal(_ arguments: [String]) -> String? {
        do {
            _ = try Bulkhead.parseAsRoot(arguments)
            return nil
        } catch {
            return Bulkhead.message(for: error)
        }
    }

    /// ArgumentParser derives a command's name from its type with `String(describing:)` when the configuration has
    /// none, and that call's protocol-conformance lookups cost about 2 ms of every run's start (callgrind: 6.7 M of
    /// the 41 M instructions of `analyze` on a ten-packet file). Every command names itself, so none pays it.
    @Test("every command names itself in its configuration")
    func everyCommandIsNamed() {
        var unnamed: [String] = []
        var pending: [any ParsableCommand.Type] = [Bulkhead.self]
        while let command = pending.popLast() {
            if command.configuration.commandName == nil { unnamed.append("\(command)") }
            pending.append(contentsOf: command.configuration.subcommands)
        }
        #expect(unnamed.isEmpty, "commands without commandName: \(unnamed)")
    }

    /// ArgumentParser re-wraps prose to the terminal (80 columns when it is not one) but keeps every line break it
    /// is given: an indented example longer than the width wraps to column 0, where it no longer reads as one
    /// command, and a hard break inside a paragraph leaves a short ragged line. So in every discussion an indented
    /// line fits in 80 columns, and a prose line ends its paragraph, ends with a colon (a list follows), or is
    /// followed by an indented line.
    @Test("every --help lays out at 80 columns: examples whole, paragraphs unbroken")
    func helpLayout() {
        var problems: [String] = []
        var pending: [any ParsableCommand.Type] = [Bulkhead.self]
        while let command = pending.popLast() {
            let name = command.configuration.commandName ?? "\(command)"
            pending.append(contentsOf: command.configuration.subcommands)
            let lines = command.configuration.discussion.split(separator: "\n", omittingEmptySubsequences: false)
            for (index, line) in lines.enumerated() where !line.isEmpty {
                let indented = line.first == " "
                if indented && line.count > 80 {
                    problems.append("\(name): example wider than 80 columns: \(line)")
                }
                let next = index + 1 < lines.count ? lines[index + 1] : ""
                if !indented && !line.hasSuffix(":") && !next.isEmpty && next.first != " " {
                    problems.append("\(name): paragraph broken after: \(line)")
                }
            }
        }
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    @Test("probe and audit share --policy, --attempts, --timeout and --quiet, with one meaning")
    func sharedGroups() throws {
        let probe = try Bulkhead.Probe.parse(["--policy", "p.yaml", "--attempts", "3", "--timeout", "0.5", "--quiet"])
        let audit = try Bulkhead.AuditCommand.parse([
            "--policy", "p.yaml", "--attempts", "3", "--timeout", "0.5", "--quiet",
        ])
        #expect(probe.policyOptions.policy == "p.yaml" && audit.policyOptions.policy == "p.yaml")
        #expect(probe.timing.attempts == 3 && audit.timing.attempts == 3)
        #expect(probe.progress.quiet && audit.progress.quiet)
        var fromProbe = ProbeOptions()
        var fromAudit = ProbeOptions()
        probe.timing.apply(to: &fromProbe)
        audit.timing.apply(to: &fromAudit)
        for options in [fromProbe, fromAudit] {
            #expect(
                options.attempts == 3 && options.tcpTimeout == 0.5 && options.udpTimeout == 0.5
                    && options.icmpTimeout == 0.5)
        }
        // A protocol's own timeout wins over --timeout in probe.
        let tcp = try Bulkhead.Probe.parse(["--timeout", "0.5", "--tcp-timeout", "2"]).options()
        #expect(tcp.tcpTimeout == 2 && tcp.udpTimeout == 0.5)
        // Without them, the engine's defaults.
        let plain = try Bulkhead.AuditCommand.parse([])
        #expect(plain.timing.attempts == 2 && plain.timing.timeout == nil && plain.policyOptions.policy == nil)
        #expect(plain.policyOptions.directory == nil)
        #expect(audit.policyOptions.directory == ".")
        #expect(
            try Bulkhead.AuditCommand.parse(["--policy", "/etc/bulkhead/policy.yaml"]).policyOptions.directory
                == "/etc/bulkhead")
    }

    @Test(
        "bad values are refused with what is allowed, in every command that takes them", arguments: ["probe", "audit"])
    func refusedValues(command: String) {
        #expect(self.refusal([command, "--attempts", "0"])?.contains("--attempts must be between 1 and 20") == true)
        #expect(self.refusal([command, "--attempts", "21"])?.contains("--attempts must be between 1 and 20") == true)
        #expect(
            self.refusal([command, "--timeout", "0"])?.contains("--timeout must be between 0 and 60 seconds") == true)
        #expect(self.refusal([command, "--timeout", "61"])?.contains("--timeout") == true)
        #expect(self.refusal([command, "--attempts", "two"]) != nil)
        #expect(self.refusal([command, "--attempts", "2"]) == nil)
    }

    @Test("audit: outputs naming the same file, an unknown format, and --evidence with live-only options are refused")
    func auditOutputs() {
        #expect(
            self.refusal(["audit", "--output", "json=a.json", "--output", "html=a.json"])?.contains(
                "name the same file") == true)
        #expect(self.refusal(["audit", "--output", "xml=a.xml"])?.contains("unknown format 'xml'") == true)
        #expect(
            self.refusal(["audit", "--evidence", "e.json", "--no-probe"])?.contains(
                "--evidence re-evaluates a stored report") == true)
        #expect(
            self.refusal(["audit", "--write-capture", "c.pcapng"])?.contains("--write-capture needs --capture-seconds")
                == true)
        #expect(self.refusal(["audit", "--output", "json=a.json", "--output", "sarif=a.sarif"]) == nil)
    }

    @Test("probe: per-protocol timeouts in range, --evidence alone")
    func probeOptions() {
        #expect(
            self.refusal(["probe", "--udp-timeout", "0"])?.contains("timeouts must be between 0 and 60 seconds") == true
        )
        #expect(
            self.refusal(["probe", "--evidence", "e.json", "--ports", "tcp/22"])?.contains(
                "--evidence re-evaluates stored cells") == true)
        #expect(self.refusal(["probe", "--max-per-destination", "0"]) != nil)
    }

    @Test("tls: --attempts has its own range (connections per forged certificate), checked before any traffic")
    func tlsAttempts() throws {
        #expect(throws: (any Error).self) {
            try Bulkhead.TLS.parse(["--endpoint", "127.0.0.1:443", "--attempts", "101"]).options()
        }
        #expect(throws: (any Error).self) {
            try Bulkhead.TLS.parse(["--endpoint", "127.0.0.1:443", "--read-wait", "9", "--timeout", "2"]).options()
        }
        #expect(try Bulkhead.TLS.parse(["--endpoint", "127.0.0.1:443", "--attempts", "50"]).options().attempts == 50)
    }

    /// Review item 10: `--threads -1` said "Missing value for '--threads <n>'": ArgumentParser took `-1` for an
    /// option. Every numeric option now takes the next word as its value, whatever it starts with, so a negative
    /// number meets the option's own range check.
    @Test("a negative number is refused by the option's range, not as a missing value, in every command")
    func negativeNumbers() throws {
        let refused: [([String], String)] = [
            (["analyze", "x.pcap", "--threads", "-1"], "--threads must be between 1 and 64"),
            (["analyze", "x.pcap", "--inspect-bytes", "-5"], "--inspect-bytes must be between 64 and 16777216"),
            (["analyze", "x.pcap", "--max-open-flows", "-1"], "--max-open-flows must be at least 1024"),
            (["capture", "--interface", "lo", "--snaplen", "-1"], "--snaplen must be between 64 and 262144"),
            (["capture", "--interface", "lo", "--duration", "-1"], "--duration must be more than 0"),
            (["capture", "--interface", "lo", "--packets", "-1"], "--packets must be at least 1"),
            (["capture", "--interface", "lo", "--inspect-bytes", "-1"], "--inspect-bytes must be between"),
            (["capture", "--interface", "lo", "--progress-interval", "-1"], "--progress-interval must be more than 0"),
            (["probe", "--tcp-timeout", "-1"], "timeouts must be between 0 and 60 seconds"),
            (["probe", "--udp-timeout", "-1"], "timeouts must be between 0 and 60 seconds"),
            (["probe", "--icmp-timeout", "-1"], "timeouts must be between 0 and 60 seconds"),
            (["probe", "--max-in-flight", "-1"], "--max-in-flight must be 0 (auto) or more"),
            (["probe", "--max-per-destination", "-1"], "--max-per-destination at least 1"),
            (["probe", "--attempts", "-1"], "--attempts must be between 1 and 20"),
            (["probe", "--timeout", "-1"], "--timeout must be between 0 and 60 seconds"),
            (["audit", "--capture-seconds", "-1"], "--capture-seconds must be between 0 and 86400"),
            (["audit", "--attempts", "-1"], "--attempts must be between 1 and 20"),
        ]
        for (arguments, expected) in refused {
            let message = self.refusal(arguments)
            #expect(message?.contains(expected) == true, "\(arguments): \(message ?? "accepted")")
        }
        // `tls` checks its numbers when it builds its options, before any traffic.
        for (option, value) in [
            ("--max-validity", "-5"), ("--timeout", "-1"), ("--read-wait", "-1"), ("--attempts", "-2"),
        ] {
            let command = try Bulkhead.TLS.parse(["--endpoint", "127.0.0.1:443", option, value])
            #expect(throws: (any Error).self, "\(option) \(value)") { try command.options() }
        }
        // Numbers too large to become a deadline (a Double past UInt64 or Int32 trapped when converted): refused.
        for (arguments, expected) in [
            (["capture", "--interface", "lo", "--duration", "1e308"], "at most a year"),
            (["capture", "--interface", "lo", "--progress-interval", "1e308"], "at most a day"),
        ] {
            let message = self.refusal(arguments)
            #expect(message?.contains(expected) == true, "\(arguments): \(message ?? "accepted")")
        }
        let huge = try Bulkhead.TLS.parse(["--endpoint", "127.0.0.1:443", "--timeout", "3000000"])
        #expect(throws: (any Error).self, "--timeout 3000000") { try huge.options() }
        // An option word where a number belongs is named as that value, not taken as the option.
        #expect(self.refusal(["analyze", "x.pcap", "--threads", "--quiet"])?.contains("--quiet") == true)
    }
}
