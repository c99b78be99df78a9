import BulkheadModel
import ContainerEngine
import Foundation
import Inventory

/// The scenario's iptables rules in Docker's DOCKER-USER chain (evaluated before Docker's own forwarding rules).
/// Each carries the comment `bulkhead-scenario=<name>`, which is how `down` finds exactly these again. iptables runs
/// with an argument list, never through a shell; every value in it was validated (addresses, ports, fixed words).
enum FirewallRules {
    static let rejectKinds: Set<String> = [
        "icmp-port-unreachable", "icmp-admin-prohibited", "icmp-host-unreachable", "icmp-net-unreachable", "tcp-reset",
    ]
    static let chain = "DOCKER-USER"

    static func comment(_ scenario: Scenario) -> String { "bulkhead-scenario=\(scenario.name)" }

    /// `-p tcp --dport 8081`, `-p icmp --icmp-type echo-request`; nil when the text is neither.
    static func portArguments(_ text: String) -> [String]? {
        if text == "icmp" { return ["-p", "icmp", "--icmp-type", "echo-request"] }
        guard text.contains("/"), let spec = PortSpec(text), spec.range.count == 1 else { return nil }
        return ["-p", spec.proto.rawValue, "--dport", String(spec.range.lowerBound)]
    }

    /// The iptables argument lists that add the scenario's rules.
    static func addCommands(_ scenario: Scenario) -> [[String]] {
        var commands: [[String]] = []
        func addresses(_ service: String?) -> [String?] {
            guard let service else { return [nil] }
            let found = scenario.services.first { $0.name == service }?.networks ?? [:]
            return found.values.compactMap { $0 }.sorted()
        }
        for rule in scenario.firewall ?? [] {
            guard let port = Self.portArguments(rule.port) else { continue }
            for source in addresses(rule.from) {
                for destination in addresses(rule.to) {
                    guard let destination else { continue }
                    var arguments = ["-w", "-I", Self.chain, "1"]
                    if let source { arguments += ["-s", source] }
                    arguments += ["-d", destination] + port + ["-m", "comment", "--comment", Self.comment(scenario)]
                    if rule.action == "drop" {
                        arguments += ["-j", "DROP"]
                    } else {
                        arguments += ["-j", "REJECT", "--reject-with", rule.with ?? "icmp-port-unreachable"]
                    }
                    commands.append(arguments)
                }
            }
        }
        return commands
    }

    static func apply(_ scenario: Scenario) throws(EngineError) {
        for arguments in Self.addCommands(scenario) {
            try Self.iptables(arguments)
        }
    }

    /// Removes every rule carrying the scenario's comment (also those of an earlier, crashed run).
    static func remove(_ scenario: Scenario) throws(EngineError) {
        guard !(scenario.firewall ?? []).isEmpty || Self.hasRules(scenario) else { return }
        let listing = try Self.iptables(["-w", "-S", Self.chain])
        for line in listing.split(separator: "\n") {
            var arguments = Self.words(String(line))
            guard arguments.first == "-A", arguments.dropFirst().first == Self.chain,
                Self.carriesComment(arguments, scenario)
            else { continue }
            arguments[0] = "-D"
            try Self.iptables(["-w"] + arguments)
        }
    }

    static func hasRules(_ scenario: Scenario) -> Bool {
        guard let listing = try? Self.iptables(["-w", "-S", Self.chain]) else { return false }
        return listing.split(separator: "\n").contains { Self.carriesComment(Self.words(String($0)), scenario) }
    }

    static func carriesComment(_ arguments: [String], _ scenario: Scenario) -> Bool {
        zip(arguments, arguments.dropFirst()).contains { $0 == "--comment" && $1 == Self.comment(scenario) }
    }

    /// Splits an `iptables -S` line into arguments; iptables prints comments in double quotes.
    static func words(_ line: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quoted = false
        for character in line {
            if character == "\"" {
                quoted.toggle()
            } else if character == " " && !quoted {
                if !current.isEmpty { words.append(current) }
                current = ""
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    @discardableResult
    static func iptables(_ arguments: [String]) throws(EngineError) -> String {
        guard
            let path = ["/usr/sbin/iptables", "/sbin/iptables", "/usr/bin/iptables"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else {
            throw EngineError(
                .hostCommand,
                "iptables is not installed (apt-get install iptables): the scenario's firewall rules need it")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do { try process.run() } catch {
            throw EngineError(.hostCommand, "iptables: \(error.localizedDescription)")
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw EngineError(
                .hostCommand,
                "iptables \(arguments.joined(separator: " ")) failed: \(text.trimmingCharacters(in: .whitespacesAndNewlines))"
            )
        }
        return text
    }
}

extension EngineError.Code {
    /// A host command the lab needs (iptables, openssl) is missing or failed: the lab's own code, next to the
    /// engine client's.
    public static let hostCommand = EngineError.Code("host-command")
}
