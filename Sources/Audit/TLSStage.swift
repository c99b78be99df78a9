import BulkheadModel
import Foundation
import NetworkNamespaces
import Policy
import TLSVerification

/// The audit's TLS stage: the active mTLS battery on every TCP container endpoint a probe reached (with `all`
/// false, only on those the policy requires mTLS on), once per endpoint from inside a container that reached it —
/// one the policy allows there when there is one. The policy adds trust bundles, identities and requirements (what
/// the battery is handed, recorded as each endpoint's `checks`); the forged certificates need none of them, so an
/// audit without a policy still learns each endpoint's verdict. Judging the result is the judgement's work.
enum TLSStage {
    struct Outcome {
        var endpoints: [String: EndpointTLS]
        var findings: [Finding]
        var report: TLSReport
        var tested: Int
    }

    static func targets(probe: ProbeReport, policy: Policy, policyDirectory: String?, all: Bool) -> [TLSTarget] {
        let evaluator = PolicyEvaluator(policy: policy, inventory: probe.inventory)
        var chosen: [String: (cell: ReachabilityCell, requirement: MTLSRequirement?, allowed: Bool)] = [:]
        for cell in probe.cells
        where cell.protocol == .tcp && cell.destinationKind == .container && cell.state == .reachable {
            guard let pid = cell.sourcePid, pid > 0 else { continue }
            let requirement = evaluator.mtlsRequirement(for: cell)?.requirement
            guard requirement != nil || all else { continue }
            let key = cell.destination
            // Prefer a source the policy allows to talk to the endpoint: it is the client the server should accept.
            let allowed = evaluator.expectation(for: cell).0 == .allow
            if let existing = chosen[key], existing.allowed || !allowed { continue }
            chosen[key] = (cell, requirement, allowed)
        }
        return chosen.keys.sorted().compactMap { key -> TLSTarget? in
            guard let (cell, requirement, _) = chosen[key], let endpoint = TLSEndpoint(key), let pid = cell.sourcePid
            else { return nil }
            return TLSTarget(
                endpoint: endpoint, source: .container(name: cell.source, namespace: NetworkNamespace(pid: pid)),
                expectations: Self.expectations(requirement, directory: policyDirectory)
            )
        }
    }

    /// The battery's expectations from a policy requirement (paths relative to the policy's folder).
    static func expectations(_ requirement: MTLSRequirement?, directory: String?) -> TLSExpectations {
        requirement?.expectations(relativeTo: directory) ?? TLSExpectations(required: false)
    }

    static func run(probe: ProbeReport, policy: Policy, policyDirectory: String?, all: Bool) throws(TLSProbeError)
        -> Outcome
    {
        let chosen = Self.targets(probe: probe, policy: policy, policyDirectory: policyDirectory, all: all)
        let (targets, paused) = TLSTarget.settingAsidePaused(chosen, containers: probe.inventory.containers)
        var report = try ProbeBattery.run(targets)
        if !paused.isEmpty {
            report = TLSReport(endpoints: report.endpoints + paused, durationSeconds: report.durationSeconds)
        }
        var checks: [String: [TLSCheck]] = [:]
        for target in targets { checks[target.endpoint.description] = target.expectations.checks }
        var names: [String: String] = [:]
        for container in probe.inventory.containers {
            for network in container.networks { if let address = network.ipv4 { names[address] = container.name } }
        }
        var endpoints: [String: EndpointTLS] = [:]
        var findings: [Finding] = []
        for endpoint in report.endpoints {
            let forged = endpoint.probes.filter { $0.probe.isForgedCertificate && $0.result != .skipped }
            // True only when every forged certificate was refused (an inconclusive probe proves nothing either way).
            let refuses: Bool? =
                forged.contains { $0.result == .accepted }
                ? false
                : (forged.isEmpty || forged.contains { $0.result != .rejected } ? nil : true)
            let identities = endpoint.serverChain?.certificates.first?.sans ?? []
            endpoints[endpoint.endpoint] = EndpointTLS(
                verdict: endpoint.verdict, refusesBadClients: refuses, serverIdentities: identities,
                reason: endpoint.reason, probedFrom: endpoint.source,
                checks: checks[endpoint.endpoint])
            let location = Self.location(of: endpoint.endpoint, names: names)
            for finding in endpoint.findings {
                var relocated = finding
                relocated.location = location
                relocated.detail += " (probed from \(endpoint.source))"
                findings.append(relocated)
            }
        }
        return Outcome(
            endpoints: endpoints, findings: findings, report: report,
            tested: report.endpoints.filter(\.verdict.tested).count)
    }

    /// Where a finding of the battery on `endpoint` (`198.18.51.12:8443`) is, located like audit edges
    /// (``FindingLocation``): the container's name by address (`names`), else the address.
    static func location(of endpoint: String, names: [String: String]) -> String {
        let address = EndpointText.split(endpoint)?.address.description ?? endpoint
        return FindingLocation.endpoint(name: names[address] ?? address, endpoint: endpoint, transport: "tcp")
    }
}
