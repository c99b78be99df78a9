import BulkheadModel
import Foundation
import Inventory
import LiveCapture
import PacketAnalysis
import Policy
import Reachability

#if canImport(Glibc)
    import ContainerEngine
    import Glibc
#endif

/// What an audit runs and against what.
public struct AuditOptions: Sendable {
    public var policy: Policy = .dockerDefault
    public var policyName = "docker default (no --policy given)"
    /// Run the reachability probes.
    public var probe = true
    /// Run the mTLS battery (needs the probe's results).
    public var tls = true
    /// Run it on every TCP container endpoint a probe reached (the default); false: only where the policy requires mTLS.
    public var tlsAll = true
    /// Where relative paths in the policy's mTLS requirements start (the policy file's folder).
    public var policyDirectory: String?
    public var probeOptions = ProbeOptions()
    /// Capture files (pcap/pcapng) to analyse as the capture stage.
    public var captureFiles: [String] = []
    /// Capture live on the bridges of the audited networks for this long (seconds), after the other stages (so the
    /// audit's own probes are not in it).
    public var captureSeconds: Double?
    /// Write the live capture to this pcapng file.
    public var captureWrite: String?
    /// Traffic to make while capturing (a lab scenario's); the capture ends when it returns (or at
    /// `captureSeconds`, 60 s when unset).
    public var duringCapture: (@Sendable () -> Void)?
    /// Restrict the audit to containers and networks with this label (`key=value`), e.g. one lab scenario's.
    public var scopeLabel: String?
    /// Called on the inventory before the probes plan from it: `audit --k8s` adds the node's pod namespaces.
    public var inventoryHook: (@Sendable (inout InventoryReport) -> Void)?
    /// Read the node's Docker Swarm view too (`--swarm`): the cluster, its services and tasks, the other nodes'
    /// tasks as probe destinations, and the node's control-plane ports probed from the local tasks.
    public var swarm = false
    /// The Swarm node certificate that names the cluster on a worker (default: under the engine's root directory).
    public var swarmNodeCertificate: String?

    public init() {}
}

/// Runs the audit's stages in order — inventory → probe → tls → capture — and gathers their evidence, facts only:
/// judging it against the policy is ``AuditJudgement``'s work, done once. A stage that fails leaves the evidence
/// incomplete (never clean), and every stage that finished keeps its results.
public enum AuditRunner {
    /// Runs every stage against the live engine. `progress` receives one line per stage event. The policy is only
    /// handed to the TLS stage as configuration (trust bundles, identities, which endpoints require mTLS).
    public static func gather(
        engine: DockerEngine, options: AuditOptions, progress: @escaping @Sendable (String) -> Void = { _ in }
    ) -> GatheredEvidence {
        let started = monotonicSeconds()
        var stages: [AuditStage] = []
        var problems: [String] = []

        progress("inventory: asking the engine")
        var inventory: InventoryReport?
        let inventoryStart = monotonicSeconds()
        do {
            var report = try InventoryCollector.fromEngine(engine)
            if options.swarm {
                try SwarmCollector.extend(&report, engine: engine, nodeCertificate: options.swarmNodeCertificate)
                if options.probe { SwarmControlPlane.probe(&report, timeout: options.probeOptions.tcpTimeout) }
            }
            if let label = options.scopeLabel { report = report.scoped(label: label) }
            options.inventoryHook?(&report)
            inventory = report
            stages.append(
                AuditStage(
                    name: "inventory", status: report.complete ? .ran : .incomplete,
                    durationSeconds: Self.since(inventoryStart),
                    note: report.complete
                        ? "\(report.containers.count) containers, \(report.networks.count) networks"
                        : report.problems.joined(separator: "; ")))
        } catch {
            problems.append("inventory: \(error.description)")
            stages.append(
                AuditStage(
                    name: "inventory", status: .failed, durationSeconds: Self.since(inventoryStart),
                    note: error.description))
        }

        var probe: ProbeReport?
        if options.probe, let inventory {
            let probeStart = monotonicSeconds()
            do {
                let plan = try ProbePlanner.plan(inventory: inventory, options: options.probeOptions)
                progress("probe: \(plan.cells.count) cells from \(plan.sources.count) sources")
                // A line every few seconds on long matrices (the engine reports twice a second).
                let last = ProgressClock()
                let result = ProbeEngine.run(plan: plan, options: options.probeOptions) { update in
                    guard last.due(every: 5) else { return }
                    progress(
                        "probe: \(update.recheck ? "silent cells probed again: " : "")\(update.cellsDone)/"
                            + "\(update.cellsTotal) cells decided, \(update.inFlight) in flight")
                }
                let report = result.report(inventory: inventory, options: options.probeOptions)
                probe = report
                stages.append(
                    AuditStage(
                        name: "probe", status: report.complete ? .ran : .incomplete,
                        durationSeconds: Self.since(probeStart),
                        note: "\(report.cells.count) cells, \(report.summary.attemptsSent) probes"))
            } catch {
                problems.append("probe: \(error.description)")
                stages.append(
                    AuditStage(
                        name: "probe", status: .failed, durationSeconds: Self.since(probeStart), note: error.description
                    ))
            }
        } else {
            stages.append(
                AuditStage(
                    name: "probe", status: .skipped, durationSeconds: 0,
                    note: options.probe ? "no inventory" : "switched off (--no-probe)"))
        }

        var tlsEndpoints: [String: EndpointTLS]?
        var tlsFindings: [Finding]?
        if options.tls, let probe {
            let tlsStart = monotonicSeconds()
            do {
                let outcome = try TLSStage.run(
                    probe: probe, policy: options.policy,
                    policyDirectory: options.policyDirectory, all: options.tlsAll)
                progress(
                    "tls: \(outcome.report.endpoints.count) endpoint(s), \(outcome.report.connections) connections")
                tlsEndpoints = outcome.endpoints
                tlsFindings = outcome.findings
                let untested = outcome.report.endpoints.filter { !$0.verdict.tested }.map {
                    "\($0.endpoint): \($0.verdict.rawValue): \($0.reason)"
                }
                problems += untested.map { "tls: \($0) (not judged, never counted as secure)" }
                stages.append(
                    AuditStage(
                        name: "tls", status: untested.isEmpty ? .ran : .incomplete,
                        durationSeconds: Self.since(tlsStart),
                        note: outcome.report.endpoints.isEmpty
                            ? (options.tlsAll ? "no reachable TCP endpoint" : "no endpoint requires mTLS")
                            : "\(outcome.report.endpoints.count) endpoint(s)"))
            } catch {
                problems.append("tls: \(error.description)")
                stages.append(
                    AuditStage(
                        name: "tls", status: .failed, durationSeconds: Self.since(tlsStart), note: error.description))
            }
        } else {
            stages.append(
                AuditStage(
                    name: "tls", status: .skipped, durationSeconds: 0,
                    note: options.tls ? "needs the probe stage" : "switched off (--no-tls)"))
        }

        var capture: AnalysisReport?
        let names = inventory.map { EndpointNames(inventory: $0) } ?? EndpointNames()
        if options.captureSeconds != nil || options.duringCapture != nil, let inventory {
            let captureStart = monotonicSeconds()
            let interfaces = CaptureInterface.bridges(of: inventory)
            progress(
                "capture: \(interfaces.map(\.name).joined(separator: ", "))\(options.captureSeconds.map { " for \($0) s" } ?? " while the traffic runs")"
            )
            do {
                let stop = try CaptureStop()
                let hook = options.duringCapture
                let result = try LiveCapture.run(
                    interfaces: interfaces, duration: options.captureSeconds ?? (hook == nil ? nil : 60),
                    write: options.captureWrite, names: names,
                    stop: stop,
                    progress: { update in
                        // Called once when every interface captures: the moment to start the traffic.
                        guard update.elapsedSeconds == 0, let hook else { return }
                        let thread = Thread {
                            hook()
                            usleep(300_000)  // the last answers and FINs
                            stop.request()
                        }
                        thread.start()
                    })
                let flows = result.flows.map(\.record)
                capture = AnalysisReport(
                    flows: flows, findings: Self.locate(result.analysis.findings, names: names, flows: flows),
                    summary: result.analysis.summary)
                problems += result.problems.map { "capture: \($0)" }
                stages.append(
                    AuditStage(
                        name: "capture", status: result.complete ? .ran : .incomplete,
                        durationSeconds: Self.since(captureStart),
                        note: "\(result.flows.count) flows on \(interfaces.count) interface(s)"))
            } catch {
                problems.append("capture: \(error.description)")
                stages.append(
                    AuditStage(
                        name: "capture", status: .failed, durationSeconds: Self.since(captureStart),
                        note: error.description))
            }
        } else if !options.captureFiles.isEmpty {
            let captureStart = monotonicSeconds()
            progress("capture: analysing \(options.captureFiles.count) file(s)")
            do {
                let flows = FlowList()
                let result = try CaptureAnalysis.run(files: options.captureFiles, onFlow: { flows.append($0) })
                let records = flows.sorted()
                capture = AnalysisReport(
                    flows: records, findings: Self.locate(result.findings, names: names, flows: records),
                    summary: result.summary)
                // Damage in a file (a truncated or corrupt capture) leaves part of it unexamined: the stage is incomplete.
                problems += result.warnings.map { "capture: \($0.description)" }
                stages.append(
                    AuditStage(
                        name: "capture", status: result.complete ? .ran : .incomplete,
                        durationSeconds: Self.since(captureStart),
                        note: "\(result.summary.flows) flows from files"))
            } catch {
                problems.append("capture: \(error.description)")
                stages.append(
                    AuditStage(
                        name: "capture", status: .failed, durationSeconds: Self.since(captureStart),
                        note: error.description))
            }
        } else {
            stages.append(
                AuditStage(
                    name: "capture", status: .skipped, durationSeconds: 0,
                    note: "no --capture file and no --capture-seconds"))
        }

        let evidence = AuditEvidence(
            inventory: inventory, probe: probe, tls: tlsEndpoints, capture: capture, tlsFindings: tlsFindings)
        return GatheredEvidence(
            evidence: evidence, stages: stages, problems: problems, durationSeconds: Self.round(Self.since(started)))
    }

    /// Builds the report from evidence against a policy: the policy's one evaluation
    /// (``AuditJudgement/evaluate(_:policy:policyName:)``), edges, findings, problems, totals, without accepted risks
    /// or a baseline. ``AuditJudgement/judge(_:policy:policyName:risks:baseline:today:)`` is the whole judgement;
    /// tests call this directly on evidence they build.
    public static func assemble(
        evidence: AuditEvidence, stages: [AuditStage], policy: Policy, policyName: String, problems: [String]
    ) -> AuditReport {
        AuditJudgement.assemble(
            evidence: evidence, evaluation: AuditJudgement.evaluate(evidence, policy: policy, policyName: policyName),
            stages: stages, policyName: policyName, problems: problems, host: ProcessInfo.processInfo.hostName,
            generatedAt: ISO8601DateFormatter().string(from: Date()))
    }

    /// Traffic findings name the server endpoint (`198.18.41.50:6379`); in an audit they are located like edges:
    /// `cache 198.18.41.50:6379/tcp`.
    static func locate(_ findings: [Finding], names: EndpointNames, flows: [FlowRecord]) -> [Finding] {
        var transports: [String: String] = [:]
        for flow in flows { transports[flow.server] = flow.transport.rawValue }
        return findings.map { finding in
            guard let location = finding.location, let name = names.name(ofEndpoint: location) else { return finding }
            var copy = finding
            copy.location = FindingLocation.endpoint(
                name: name, endpoint: location, transport: transports[location] ?? "tcp")
            return copy
        }
    }

    static func since(_ start: Double) -> Double { monotonicSeconds() - start }
    static func round(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}

func monotonicSeconds() -> Double { MonotonicClock.now() }

/// Rate-limits progress lines (called from one thread at a time).
final class ProgressClock: @unchecked Sendable {
    private var last = MonotonicClock.now()

    func due(every seconds: Double) -> Bool {
        let now = MonotonicClock.now()
        guard now - self.last >= seconds else { return false }
        self.last = now
        return true
    }
}

/// Collects flows from the analysis threads (one call at a time, per CaptureAnalysis.run's contract).
final class FlowList: @unchecked Sendable {
    private var flows: [FlowRecord] = []
    private let lock = NSLock()

    func append(_ flow: FlowRecord) {
        self.lock.lock()
        self.flows.append(flow)
        self.lock.unlock()
    }

    func sorted() -> [FlowRecord] {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.flows.sorted { $0.id < $1.id }
    }
}
