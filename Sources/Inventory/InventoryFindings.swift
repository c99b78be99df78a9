import BulkheadModel
import Foundation

/// Static findings from the inventory, mapped by title to the CIS Docker Benchmark network items (the
/// numbers drift between benchmark versions; the `cis` text names the v1.6.0 item).
public enum InventoryFindings {
    public static func evaluate(networks: [NetworkRecord], containers: [ContainerRecord]) -> [Finding] {
        var findings: [Finding] = []
        func add(_ kind: FindingKind, _ severity: Severity, _ title: String, _ detail: String, _ location: String) {
            findings.append(
                Finding(
                    kind: kind, severity: severity, title: title, detail: detail, location: location, flowCount: 0,
                    flowIDs: []))
        }
        for network in networks {
            if network.isDefaultBridge && network.icc && !network.containers.isEmpty {
                add(
                    .defaultBridgeICC, .medium,
                    "ICC enabled on the default bridge \(network.name) with \(network.containers.count) containers",
                    "CIS Docker 2.2 (restrict network traffic between containers on the default bridge): every container on docker0 can reach "
                        + "every other. Run dockerd with --icc=false, or move containers to user-defined networks.",
                    network.name)
            }
            if network.driver == "overlay" && network.encrypted == false {
                add(
                    .overlayUnencrypted, .medium, "Overlay network \(network.name) is not encrypted",
                    "CIS Docker 7.3 (encrypt swarm overlay networks): traffic between hosts crosses in clear. Create it with --opt encrypted.",
                    network.name)
            }
        }
        // Overlapping subnets make addresses ambiguous and routing between networks surprising.
        for (index, network) in networks.enumerated() {
            for other in networks[(index + 1)...] {
                for subnet in network.subnets {
                    for otherSubnet in other.subnets where CIDR.overlap(subnet, otherSubnet) {
                        add(
                            .overlappingSubnets, .medium,
                            "Networks \(network.name) and \(other.name) overlap (\(subnet), \(otherSubnet))",
                            "Two networks share addresses: traffic can go to the wrong one and isolation rules keyed on subnets misfire.",
                            "\(network.name),\(other.name)")
                    }
                }
            }
        }
        // Containers the engine could not describe (gone, or its inspection failed) have no configuration to judge.
        for container in containers where container.state != "vanished" && container.state != "uninspected" {
            let name = container.name
            // Joined to a host-network container (`--network container:X`), it is in the host's namespace as much as X:
            // the mode it was started with names X, not the host.
            let owner = container.namespaceOwner(among: containers)
            if container.networkMode == "host" || owner?.networkMode == "host" {
                let through = owner.map { " (it shares the namespace of \($0.name), which uses the host's)" } ?? ""
                add(
                    .hostNetworkMode, .high, "Container \(name) uses the host's network namespace\(through)",
                    "CIS Docker 5.10 (do not share the host's network namespace): it sees every host interface and can reach and bind "
                        + "whatever the host can; no network isolation applies to it.", name)
            }
            if container.networkMode.hasPrefix("container:") {
                add(
                    .sharedNetworkNamespace, .medium,
                    "Container \(name) shares the network namespace of \(container.networkMode.dropFirst(10))",
                    "Both containers are one network endpoint: any isolation between them is void, and each reaches what the other reaches.",
                    name)
            }
            // Docker lists a wildcard binding once per family (0.0.0.0 and ::): one finding per published port.
            var reported = Set<String>()
            for port in container.publishedPorts {
                let key = "\(port.hostPort)/\(port.proto)"
                if port.hostIP == "0.0.0.0" || port.hostIP == "::" || port.hostIP == "[::]",
                    reported.insert("all " + key).inserted
                {
                    add(
                        .portPublishedAllInterfaces, .medium,
                        "Container \(name) publishes \(port.containerPort)/\(port.proto) on every host interface (port \(port.hostPort))",
                        "CIS Docker 5.14 (bind incoming container traffic to a specific host interface): the port is reachable from every "
                            + "network the host is on. Publish it as -p <address>:\(port.hostPort):\(port.containerPort).",
                        name)
                }
                if port.hostPort < 1024, reported.insert("privileged " + key).inserted {
                    add(
                        .privilegedPortPublished, .low,
                        "Container \(name) publishes privileged host port \(port.hostPort)",
                        "CIS Docker 5.8 (do not map privileged ports): host ports below 1024 are reserved for trusted services.",
                        name)
                }
            }
            if container.privileged {
                add(
                    .privilegedContainer, .high, "Container \(name) is privileged",
                    "CIS Docker 5.5: a privileged container has every capability and can reconfigure the host's network stack.",
                    name)
            } else if container.capabilities.contains("NET_ADMIN") {
                add(
                    .netAdminCapability, .high, "Container \(name) has NET_ADMIN",
                    "CIS Docker 5.4 (restrict capabilities): it can change interfaces, routes and firewall rules in its namespace, and "
                        + "with host networking on the host.", name)
            }
            if container.capabilities.contains("NET_RAW") && !container.privileged {
                add(
                    .netRawCapability, .low, "Container \(name) has NET_RAW",
                    "CIS Docker 5.4: raw sockets let it forge packets and bypass inter-container restrictions at layer 2 (moby#36355). "
                        + "Docker grants it by default; drop it with --cap-drop NET_RAW.", name)
            }
            if container.dockerSocketMounted {
                add(
                    .dockerSocketMounted, .critical, "Container \(name) has the Docker socket mounted",
                    "CIS Docker 5.32: whoever controls this container controls the engine, and so every container and the host.",
                    name)
            }
            if container.networks.count >= 2 {
                let names = container.networks.map(\.name).joined(separator: ", ")
                add(
                    .bridgesNetworks, .medium,
                    "Container \(name) is attached to \(container.networks.count) networks (\(names))",
                    "A container on several networks joins them: whatever can reach it on one can use it to reach the others. "
                        + "Make sure these networks were not meant to be separate.", name)
            }
        }
        if ProcessInfo.processInfo.environment["BULKHEAD_SKIP_PROCESS_CHECKS"] == nil,
            containers.contains(where: { !$0.publishedPorts.isEmpty }),
            UserlandProxy.isRunning()
        {
            add(
                .userlandProxy, .low, "Published ports go through docker-proxy (userland proxy enabled)",
                "CIS Docker 2.16 (disable the userland proxy): a docker-proxy process forwards published ports, hiding client "
                    + "addresses from the container and exposing ports on loopback. Run dockerd with --userland-proxy=false.",
                "dockerd")
        }
        return findings.sorted { ($0.severity, $1.kind, $1.title) > ($1.severity, $0.kind, $0.title) }
    }
}

/// Detects the userland proxy by its processes.
enum UserlandProxy {
    static func isRunning() -> Bool {
        let processes = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int.init)
        return processes.contains {
            (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8))?.hasPrefix("docker-proxy") == true
        }
    }
}
