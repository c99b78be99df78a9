import ArgumentParser
import BulkheadModel
import Foundation
import Inventory
import Kubernetes
import Reachability
import Reporting

extension Bulkhead {
    /// `bulkhead k8s`: Kubernetes clusters from `kubectl get … -o json` dumps, offline.
    struct KubernetesCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "k8s",
            abstract: "Read Kubernetes dumps: pods and services as an inventory, NetworkPolicy intent, policy diffs.",
            discussion: """
                Input: what `kubectl get namespaces,pods,services,endpointslices,networkpolicies -A -o json` writes \
                (a file, or - for standard input), or a folder of such dumps and manifests (JSON or YAML, several \
                documents per file). Kinds other than those five are ignored with a note. No API server is contacted.

                Examples:
                  kubectl get namespaces,pods,services,endpointslices,networkpolicies \\
                      -A -o json > cluster.json
                  bulkhead k8s inventory cluster.json
                  bulkhead k8s intent cluster.json --ports tcp/80,tcp/443,udp/53
                  bulkhead k8s diff before.json after/
                  bulkhead k8s probe cluster.json --ports tcp/80   (on a node, as root)
                """,
            subcommands: [
                KubernetesInventoryCommand.self, KubernetesIntentCommand.self, KubernetesDiffCommand.self,
                KubernetesProbeCommand.self,
            ]
        )
    }
}

/// The dump paths and how to read them, shared by the `k8s` subcommands.
struct KubernetesDumpOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("kubectl JSON dumps, manifest folders, or - for standard input.", valueName: "dump"))
    var dumps: [String]

    func load() throws -> ClusterDump {
        do { return try ClusterDump.load(paths: self.dumps) } catch { throw failInput(error.description) }
    }
}

/// `--ports`: the ports every destination pod is evaluated on.
struct KubernetesPortOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Ports to evaluate on every pod, comma-separated (tcp/80,udp/53,sctp/9000). Default: each pod's declared container ports.",
            valueName: "ports"))
    var ports: String?

    func validate() throws { _ = try self.parsed() }

    /// The ports given, each once, in the order first written: `tcp/80,80,TCP/80` is one port, not three columns
    /// of the same cells.
    func parsed() throws -> [KubePort]? {
        guard let ports = self.ports else { return nil }
        var seen = Set<KubePort>()
        return try ports.split(separator: ",").compactMap { text in
            guard let port = KubePort(String(text)) else {
                throw ValidationError("--ports: '\(text)' is not a port (tcp/80, udp/53, sctp/9000)")
            }
            return seen.insert(port).inserted ? port : nil
        }
    }

    /// The ports for one or more dumps: the list given, else each pod's declared ports.
    func choice() throws -> IntentMatrix.Ports {
        try self.parsed().map { .list($0) } ?? .declared
    }
}

/// `--node` and `--cluster`: which node a report is for, and of which cluster.
struct KubernetesNodeOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The node this report is for: only its pods are listed or expected, and the report names the cluster and node.",
            valueName: "name"))
    var node: String?

    @Option(help: ArgumentHelp("The cluster's identity (default: the kube-system namespace's UID).", valueName: "id"))
    var cluster: String?

    /// Refuses a `--node` that no pod of `dump` runs on (exit 2, naming the nodes the dump holds).
    func check(against dump: ClusterDump) throws {
        guard let node = self.node else { return }
        do { try KubernetesInventory.checkNode(node, in: dump) } catch {
            throw failInput("--node: \(error.description)")
        }
    }
}

enum KubernetesFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// `bulkhead k8s inventory`.
struct KubernetesInventoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory",
        abstract: "Pods, their addresses, ports and labels, in the inventory model `inventory` writes.",
        discussion: """
            With --node, only that node's pods are listed and the report names the cluster and node (what the fleet \
            merge joins by); the cluster's identity is --cluster, else the kube-system namespace's UID. A --node no \
            pod of the dump runs on is refused (exit 2), as is an empty dump file.
            """)

    @OptionGroup var input: KubernetesDumpOptions

    @OptionGroup var place: KubernetesNodeOptions

    @Option(help: "Output format: table or json.")
    var format: KubernetesFormat = .table

    @OptionGroup var report: ReportOptions

    func run() throws {
        let dump = try self.input.load()
        try self.place.check(against: dump)
        let inventory = KubernetesInventory.report(dump, node: self.place.node, clusterID: self.place.cluster)
        try KubernetesText.emit(
            self.report, self.format, table: { InventoryTableReport.render(inventory, style: $0) },
            json: { try JSONReport.document(inventory) })
        for note in dump.notes { warn(note) }
        try self.report.failIfNeeded(inventory.findings)
    }
}

/// The JSON document `k8s intent --format json` writes, but for its cells, which ``KubernetesIntentOutput`` writes
/// as they are decided: `cells`, every TCP and UDP cell in the probe's format (`expected` is the intent, `rule` why;
/// `state` is `skipped`: not probed), and `sctp`, the SCTP cells as ``IntentCell``s (the probe's format cannot hold
/// them: no probe speaks SCTP). Keys are written sorted.
struct KubernetesIntentDocument {
    var schema = "bulkhead.k8s-intent/1"
    var generatedAt: String
    var inventory: InventoryReport
    /// The namespaces and their labels (what namespace selectors see).
    var namespaces: [KubeNamespace]
    var policies: [NetworkPolicy]
    var findings: [Finding]
    var notes: [String]
}

/// `bulkhead k8s intent`.
struct KubernetesIntentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "intent",
        abstract: "The reachability the NetworkPolicies intend (pod × pod × port), and findings about the policies.",
        discussion: """
            networking.k8s.io/v1 semantics: the union of every policy selecting a pod, ingress and egress isolation \
            apart, selectors, ipBlock with except, named ports resolved on the destination pod, endPort ranges, \
            TCP/UDP/SCTP; a pod is never blocked from itself; hostNetwork pods are not isolated.

            The table shows one truth table per port: ✓ allowed, · denied (rows are sources); a dual-stack pod's \
            column is ✓ when any of its addresses is allowed (the JSON keeps each address apart). The JSON holds every \
            TCP and UDP cell in the probe's format, with the intent as `expected` and the deciding rules as `rule`, \
            and the SCTP cells apart (`sctp`). The ports evaluated are --ports, else each pod's declared ports; a \
            note names the rules that allow ports outside those (no ports, a protocol alone, a wider range).
            """)

    @OptionGroup var input: KubernetesDumpOptions
    @OptionGroup var ports: KubernetesPortOptions

    @Option(help: "Output format: table or json.")
    var format: KubernetesFormat = .table

    @OptionGroup var report: ReportOptions

    func run() throws {
        let dump = try self.input.load()
        let engine = PolicyEngine(dump)
        // Cells are decided as they are written, never all held (``KubernetesIntentOutput``).
        let evaluator = IntentEvaluator(engine: engine, ports: try self.ports.choice())
        let findings = IntentFindings.findings(engine)
        let evaluated = Set(
            try self.ports.parsed()
                ?? dump.pods.flatMap(\.ports).map { KubePort(port: $0.containerPort, proto: $0.proto) })
        let beyond = IntentMatrix.rulesReaching(beyond: evaluated, in: dump)
        // The table is a truth table of the ports evaluated only: say which rules open more than it shows.
        let portNote =
            beyond.isEmpty
            ? []
            : [
                "\(beyond.count) rule(s) allow ports outside those evaluated (\(self.ports.ports == nil ? "no pod declares them" : "not in --ports")), "
                    + "which the table does not show: " + KubernetesText.list(beyond)
            ]
        let sink = try self.report.openSink()
        do {
            switch self.format {
            case .table:
                let style = TerminalStyle.forDescriptor(self.report.descriptor)
                KubernetesIntentOutput.writeTable(evaluator, style: style, to: sink)
                sink.write(KubernetesText.findings(findings, style: style))
            case .json:
                try KubernetesIntentOutput.writeJSON(
                    evaluator,
                    document: KubernetesIntentDocument(
                        generatedAt: ISO8601DateFormatter().string(from: Date()),
                        inventory: KubernetesInventory.report(dump), namespaces: dump.namespaces,
                        policies: dump.policies, findings: findings,
                        notes: dump.notes + evaluator.problems + portNote), to: sink)
            }
            try sink.commit()
        } catch {
            sink.abandon()
            throw OutputSink.failure(error)
        }
        for note in dump.notes + evaluator.problems + portNote { warn(note) }
        try self.report.failIfNeeded(findings)
    }
}

/// `bulkhead k8s diff`.
struct KubernetesDiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "The connections a policy change opens and closes (semantic: pods × pods × ports, not text).",
        discussion: """
            Both dumps are evaluated on the same ports. Without --ports, every port of TCP, UDP and SCTP is compared: \
            each port a pod of either dump declares or a policy names by number, and the ranges between them (which \
            every policy treats alike, so one port stands for each; a change is reported on the range, tcp/23-5431). \
            With --ports, only those ports, and a note names the rules that allow others. \
            A dual-stack pod's IPv4 and IPv6 addresses are compared apart (the family is named on its lines). \
            Pods present in one dump only are listed apart; pods in both whose connections cannot all be compared (no \
            address on one side, or an address family on one side only) under "Pods not compared". What either dump \
            ignored or assumed is noted, naming the side. Exit status: 0 no connection opened, 1 the change opens a \
            connection, 2 unreadable input, 3 a pod in both dumps could not be compared.
            """)

    @Argument(help: ArgumentHelp("The dump (file, folder or -) before the change.", valueName: "old"))
    var old: String

    @Argument(help: ArgumentHelp("The dump after the change.", valueName: "new"))
    var new: String

    @OptionGroup var ports: KubernetesPortOptions

    @Option(help: "Output format: table or json.")
    var format: KubernetesFormat = .table

    @Option(
        name: [.short, .long],
        help: ArgumentHelp("Write the report to this file (atomically) instead of standard output.", valueName: "file"))
    var output: String?

    func run() throws {
        let (old, new): (ClusterDump, ClusterDump)
        do {
            try ClusterDump.refuseStandardInputTwice([self.old, self.new])
            old = try ClusterDump.load(paths: [self.old])
            new = try ClusterDump.load(paths: [self.new])
        } catch { throw failInput(error.description) }
        // Without --ports, classes of ports no policy of either dump tells apart: exhaustive, so a rule with no
        // ports, or a range, cannot open anything the comparison does not see.
        let given = try self.ports.parsed()
        let classes =
            given.map { Set($0).sorted().map { PortClass(proto: $0.proto, first: $0.port, last: $0.port) } }
            ?? IntentMatrix.portClasses([old, new])
        let ports = classes.map(\.representative)
        let oldMatrix = IntentMatrix(engine: PolicyEngine(old), ports: .list(ports))
        let newMatrix = IntentMatrix(engine: PolicyEngine(new), ports: .list(ports))
        var diff = IntentDiff(old: oldMatrix, new: newMatrix)
        diff.comparedPorts = classes
        // What each side ignored or assumed, as intent says it, naming the side: a kind not read changes nothing here.
        diff.notes += (old.notes + oldMatrix.problems).map { "before (\(self.old)): \($0)" }
        diff.notes += (new.notes + newMatrix.problems).map { "after (\(self.new)): \($0)" }
        if given != nil {
            let beyond = Set(
                IntentMatrix.rulesReaching(beyond: Set(ports), in: old)
                    + IntentMatrix.rulesReaching(beyond: Set(ports), in: new)
            ).sorted()
            if !beyond.isEmpty {
                diff.notes.append(
                    "only the ports given with --ports were compared; these rules also allow other ports, where a "
                        + "change is not shown (drop --ports to compare every port): " + beyond.joined(separator: ", "))
            }
        }
        let label = Dictionary(classes.map { ($0.representative, $0.description) }, uniquingKeysWith: { a, _ in a })
        // A dual-stack destination's cells say which family changed; a single-stack one's need not.
        let dualStack = Set(
            (old.pods + new.pods).filter { pod in Set(pod.ips.map { $0.contains(":") }).count > 1 }.map(\.key))
        func connection(_ cell: IntentCell) -> String {
            "\(cell.source) -> \(cell.destination) \(label[cell.port] ?? cell.port.description)"
                + (dualStack.contains(cell.destination) ? " \(cell.family)" : "")
        }
        let sink: OutputSink
        do { sink = try OutputSink(path: self.output) } catch { throw failInput(error.description) }
        do {
            switch self.format {
            case .table:
                var lines: [String] = []
                let e = TerminalText.escape as (String) -> String
                lines.append("Connections opened: \(diff.added.count)")
                lines += diff.added.map { "  + \(e(connection($0)))   (\(e($0.reason)))" }
                lines.append("Connections closed: \(diff.removed.count)")
                lines += diff.removed.map { "  - \(e(connection($0)))" }
                if !diff.podsOnlyInOld.isEmpty {
                    lines.append("Pods only before: " + diff.podsOnlyInOld.map(e).joined(separator: ", "))
                }
                if !diff.podsOnlyInNew.isEmpty {
                    lines.append("Pods only after: " + diff.podsOnlyInNew.map(e).joined(separator: ", "))
                }
                if !diff.podsNotCompared.isEmpty {
                    lines.append("Pods not compared: " + diff.podsNotCompared.map(e).joined(separator: ", "))
                }
                lines.append("Ports compared: " + classes.map(\.description).joined(separator: ", "))
                sink.write(lines.joined(separator: "\n") + "\n")
            case .json:
                sink.write(try JSONReport.document(diff))
            }
            try sink.commit()
        } catch {
            sink.abandon()
            throw OutputSink.failure(error)
        }
        for note in diff.notes { warn(note) }
        try ExitStatus.finish(incomplete: diff.isIncomplete, findings: !diff.added.isEmpty)
    }
}

/// The `k8s` tables' common parts (the truth tables are ``KubernetesIntentOutput/writeTable(_:style:to:)``'s).
enum KubernetesText {
    /// Writes the report in `format` where `options` say (atomically to a file), or fails naming the file.
    static func emit(
        _ options: ReportOptions, _ format: KubernetesFormat, table: (TerminalStyle) -> String, json: () throws -> Data
    ) throws {
        let sink = try options.openSink()
        do {
            switch format {
            case .table: sink.write(table(TerminalStyle.forDescriptor(options.descriptor)))
            case .json: sink.write(try json())
            }
            try sink.commit()
        } catch {
            sink.abandon()
            throw OutputSink.failure(error)
        }
    }

    /// Up to ten names, then how many more (a note about 500 policies stays readable).
    static func list(_ names: [String]) -> String {
        names.prefix(10).joined(separator: ", ") + (names.count > 10 ? " and \(names.count - 10) more" : "")
    }

    static func findings(_ findings: [Finding], style: TerminalStyle) -> String {
        guard !findings.isEmpty else { return "\nNo findings.\n" }
        let e = TerminalText.escape as (String) -> String
        var lines = ["", style.bold("Findings (\(findings.count))")]
        for finding in findings.sorted(by: { ($0.severity, $0.kind) > ($1.severity, $1.kind) }) {
            lines.append(
                "  " + style.severity(finding.severity.rawValue.uppercased(), finding.severity) + "  "
                    + e(finding.title) + "  [\(finding.kind.identifier)]")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// `bulkhead k8s probe`: the node's pods, found among its network namespaces, probed, and judged against the intent.
struct KubernetesProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Probe this node's pods from their own network namespaces and compare with the NetworkPolicy intent.",
        discussion: """
            The host's network namespaces (/run/netns, where CNI plugins pin pod sandboxes, and those of processes) \
            are matched to the dump's pods by address; only those are probed, from each to the others (the scope \
            guard: nothing else on the host is a source or a destination). Every TCP/UDP cell is judged against the \
            policies: open where they deny it is k8s-denied-but-open (high), blocked where they allow it \
            k8s-allowed-but-blocked. Cells that prove nothing (UDP without answer, errors) are judged neither way.

            Exit status: 0 clean, 1 findings at or above --fail-on, 2 unreadable input, 3 incomplete (a cell could \
            not be probed, or no pod of the dump was found on this host).
            """)

    @OptionGroup var input: KubernetesDumpOptions
    @OptionGroup var ports: KubernetesPortOptions
    @OptionGroup var timing: ProbeTimingOptions

    @OptionGroup var place: KubernetesNodeOptions

    @Option(help: "Output format: table or json (the probe's evidence, with the intent in each cell).")
    var format: KubernetesFormat = .table

    @OptionGroup var progress: ProgressOptions
    @OptionGroup var report: ReportOptions

    func run() throws {
        let dump = try self.input.load()
        try self.place.check(against: dump)
        let engine = PolicyEngine(dump)
        var inventory = InventoryReport(
            sources: [], networks: [], containers: [], namespaces: [], findings: [], complete: true, problems: [],
            summary: InventorySummary())
        InventoryCollector.addNamespaces(to: &inventory)
        NodeAudit.scope(&inventory, dump: dump, node: self.place.node)
        inventory.cluster = self.place.node.map {
            KubernetesInventory.clusterNode(dump, node: $0, clusterID: self.place.cluster)
        }
        var options = ProbeOptions()
        self.timing.apply(to: &options)
        options.namespaces = true
        options.hostSide = false
        options.icmp = false
        let wanted =
            try self.ports.parsed()
            ?? Array(
                Set(
                    dump.pods.flatMap(\.ports).map { KubePort(port: $0.containerPort, proto: $0.proto) }
                )
            ).sorted()
        options.extraPorts = wanted.compactMap { port in
            port.proto.probeProtocol.map { PortSpec(proto: $0, range: port.port...port.port) }
        }
        options.udp = wanted.contains { $0.proto == .udp }
        let plan: ProbePlan
        do { plan = try ProbePlanner.plan(inventory: inventory, options: options) } catch {
            throw failInput(error.description)
        }
        // Only the ports asked for: the planner adds the namespaces' own listeners too.
        var scoped = plan
        let keep = Set(options.extraPorts.map { "\($0.proto.rawValue)/\($0.range.lowerBound)" })
        scoped.cells = plan.cells.filter { cell in
            cell.port.map { keep.contains("\(cell.protocol.rawValue)/\($0)") } ?? false
        }
        let quiet = self.progress.quiet
        if !quiet {
            writeStandardError(
                "bulkhead: \(inventory.namespaces.count) pods found in this host's namespaces; probing \(scoped.cells.count) cells\n"
            )
        }
        try checkAddressLimit()
        let result = ProbeEngine.run(plan: scoped, options: options)
        var evidence = result.report(inventory: inventory, options: options)
        evidence.policy = "kubernetes NetworkPolicies (\(self.input.dumps.joined(separator: ", ")))"
        let findings = NodeAudit.judge(&evidence, engine: engine)
        evidence.findings += findings
        evidence.summary.violations = Dictionary(
            grouping: evidence.cells.compactMap { $0.violation?.rawValue }, by: { $0 }
        ).mapValues(\.count)
        if inventory.namespaces.isEmpty {
            evidence.complete = false
            evidence.problems.append("no pod of the dump was found in this host's network namespaces")
        }
        let report = evidence
        try KubernetesText.emit(
            self.report, self.format,
            table: { ReachabilityTableReport.render(report, style: $0) + KubernetesText.findings(findings, style: $0) },
            json: { try ProbeJSON.document(report) })
        for problem in evidence.problems { warn(problem) }
        try self.report.failIfNeeded(findings, complete: evidence.complete)
    }
}
