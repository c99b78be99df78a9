import ArgumentParser
import BulkheadModel
import ContainerEngine
import Foundation
import Inventory
import Reporting

#if canImport(Glibc)
    import Glibc
#endif

extension Bulkhead {
    /// `bulkhead inventory`: what networks, containers and namespaces exist, and how they are configured.
    struct Inventory: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "inventory",
            abstract:
                "List container networks, containers, their addresses and listening sockets, and static findings.",
            discussion: """
                Sources: the Docker Engine API on its unix socket (DOCKER_HOST honoured; Podman's Docker-compatible \
                socket works the same), the host's network namespaces (/run/netns and /proc/*/ns/net: containerd/CNI \
                hosts without Docker), or `docker inspect` / `docker network inspect` JSON files for analysis away \
                from the host. Listening sockets are read from each container's own namespace.

                Findings are mapped by title to the CIS Docker Benchmark network items: ICC on the default bridge, \
                host network mode, shared namespaces, ports published on every interface, privileged ports, \
                NET_RAW/NET_ADMIN/privileged, docker.sock mounted, userland proxy, unencrypted overlays, overlapping \
                subnets, containers joining several networks.

                Exit status: 0 clean, 1 findings at or above --fail-on, 2 usage or unreadable input, 3 incomplete \
                (e.g. a container vanished mid-way: it is listed as `vanished`, not dropped; or the engine failed to \
                answer its inspection: listed as `uninspected`, named in the problems, and the rest kept).

                Examples:
                  bulkhead inventory
                  bulkhead inventory --format json > inventory.json
                  bulkhead inventory --from-file containers.json --from-file networks.json
                  bulkhead inventory --source netns
                """
        )

        enum Source: String, ExpressibleByArgument, CaseIterable {
            case docker, netns, all
        }

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case table, json
        }

        @Option(help: "What to read: docker (the engine API), netns (network namespaces), all (both).")
        var source: Source = .docker

        @Option(
            name: .customLong("from-file"),
            help: ArgumentHelp(
                "Read `docker inspect` / `docker network inspect` JSON instead of a live engine (repeatable).",
                valueName: "file"))
        var files: [String] = []

        @Option(help: "Output format: table or json.")
        var format: Format = .table

        @OptionGroup var swarm: SwarmOptions

        @OptionGroup var report: ReportOptions

        func run() throws {
            var report: InventoryReport
            if !self.files.isEmpty {
                do { report = try InventoryCollector.fromFiles(self.files) } catch {
                    throw failInput(error.description)
                }
            } else if self.source == .netns {
                report = InventoryReport(
                    sources: [], networks: [], containers: [], namespaces: [], findings: [], complete: true,
                    problems: [], summary: InventorySummary())
            } else {
                do {
                    let engine = DockerEngine(socketPath: try DockerEngine.socketPath())
                    report = try InventoryCollector.fromEngine(engine)
                    if self.swarm.swarm {
                        try SwarmCollector.extend(&report, engine: engine, nodeCertificate: self.swarm.nodeCertificate)
                    }
                } catch {
                    throw failInput(error.description)
                }
            }
            if self.files.isEmpty && (self.source == .netns || self.source == .all) {
                InventoryCollector.addNamespaces(to: &report)
            }
            let sink = try self.report.openSink()
            do {
                switch self.format {
                case .table:
                    sink.write(
                        InventoryTableReport.render(report, style: TerminalStyle.forDescriptor(self.report.descriptor)))
                case .json:
                    sink.write(try JSONReport.document(report))
                }
                try sink.commit()
            } catch {
                sink.abandon()
                throw OutputSink.failure(error)
            }
            for problem in report.problems { warn(problem) }
            try self.report.failIfNeeded(report.findings, complete: report.complete)
        }
    }
}
