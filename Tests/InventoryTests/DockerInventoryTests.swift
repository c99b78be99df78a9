import BulkheadModel
import BulkheadTestSupport
import Foundation
import Testing

@testable import ContainerEngine
@testable import Inventory

/// Inventory against a real Docker engine and real containers from the lab image.
@Suite(
    "Inventory from a real Docker engine", .serialized,
    .enabled(
        if: DockerCLI.isAvailable, "no Docker engine or lab image (scripts/test.sh starts dockerd and builds the image)"
    ))
struct DockerInventoryTests {
    static let label = "bulkhead.test=inventory"

    /// What ``makeLab()`` made that the expectations depend on.
    struct Lab {
        var front: DockerCLI.TestSubnet
        /// The host ports the web container's 8080 is published on: on every interface, and on 127.0.0.1.
        var publishedAll: Int
        var publishedLoopback: Int
    }

    /// Two networks, five containers covering the modes and risks inventory must report.
    static func makeLab() throws -> Lab {
        DockerCLI.removeLabelled(label)
        let image = DockerCLI.labImage
        let front = try DockerCLI.createNetwork("bh-inv-front", options: ["--label", label]).subnet
        let back = try DockerCLI.createNetwork(
            "bh-inv-back",
            options: ["--label", label, "--internal", "-o", "com.docker.network.bridge.enable_icc=false"]
        ).subnet
        // Host ports no other program holds (a fixed pair failed on hosts where one was taken); one binding on every
        // interface, which Docker lists once per family (0.0.0.0 and ::) and inventory must report once.
        let ports = try DockerCLI.runPublishing(
            portCount: 2,
            { ports in
                [
                    "run", "-d", "--label", label, "--name", "bh-inv-web", "--network", "bh-inv-front", "--ip",
                    front.address(10), "-p", "\(ports[0]):8080", "-p", "127.0.0.1:\(ports[1]):8080", image, "busybox",
                    "httpd", "-f", "-p", "8080",
                ]
            }, cleanUp: { _ = try? DockerCLI.run(["rm", "-f", "bh-inv-web"]) })
        try DockerCLI.must([
            "run", "-d", "--label", label, "--name", "bh-inv-db", "--network", "bh-inv-back", "--ip", back.address(10),
            "--cap-drop", "NET_RAW", image, "redis-server", "--port", "6379", "--protected-mode", "no",
        ])
        try DockerCLI.must([
            "create", "--label", label, "--name", "bh-inv-bridge", "--network", "bh-inv-front", "--cap-add",
            "NET_ADMIN",
            "-v", "/var/run/docker.sock:/var/run/docker.sock", image, "sleep", "600",
        ])
        try DockerCLI.must(["network", "connect", "bh-inv-back", "bh-inv-bridge"])
        try DockerCLI.must(["start", "bh-inv-bridge"])
        try DockerCLI.must([
            "run", "-d", "--label", label, "--name", "bh-inv-side", "--network", "container:bh-inv-web", image, "sleep",
            "600",
        ])
        try DockerCLI.must([
            "run", "-d", "--label", label, "--name", "bh-inv-host", "--network", "host", image, "sleep", "600",
        ])
        // The servers bind a moment after their containers start.
        try DockerCLI.waitUntilListening("bh-inv-web", port: 8080)
        try DockerCLI.waitUntilListening("bh-inv-db", port: 6379)
        return Lab(front: front, publishedAll: ports[0], publishedLoopback: ports[1])
    }

    @Test("networks, containers, addresses, listening sockets, modes and findings")
    func liveInventory() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        let lab = try Self.makeLab()
        let subnet = lab.front
        defer { DockerCLI.removeLabelled(Self.label) }
        let report = try InventoryCollector.fromEngine(DockerEngine(socketPath: "/var/run/docker.sock"))
        #expect(report.complete)
        #expect(report.summary.apiCalls > 5)

        let front = try #require(report.networks.first { $0.name == "bh-inv-front" })
        let back = try #require(report.networks.first { $0.name == "bh-inv-back" })
        #expect(front.subnets == [subnet.cidr])
        #expect(front.icc && !front.internal)
        #expect(!back.icc && back.internal)
        #expect(front.bridge?.hasPrefix("br-") == true)
        #expect(Set(front.containers) == ["bh-inv-web", "bh-inv-bridge"])
        #expect(Set(back.containers) == ["bh-inv-db", "bh-inv-bridge"])

        let web = try #require(report.containers.first { $0.name == "bh-inv-web" })
        #expect(web.networks.map(\.ipv4) == [subnet.address(10)])
        #expect(
            web.listening.contains(ListeningSocket(proto: "tcp", address: "0.0.0.0", port: 8080))
                || web.listening.contains(ListeningSocket(proto: "tcp", address: "::", port: 8080)))
        #expect(
            web.publishedPorts.contains(
                PublishedPort(containerPort: 8080, proto: "tcp", hostIP: "0.0.0.0", hostPort: lab.publishedAll)))
        #expect(
            web.publishedPorts.contains(
                PublishedPort(containerPort: 8080, proto: "tcp", hostIP: "127.0.0.1", hostPort: lab.publishedLoopback)))
        #expect(web.pid != nil && web.netns?.hasPrefix("net:[") == true)
        #expect(web.capabilities.contains("NET_RAW"), "Docker's default set includes NET_RAW")

        let db = try #require(report.containers.first { $0.name == "bh-inv-db" })
        #expect(db.listening.contains { $0.proto == "tcp" && $0.port == 6379 })
        #expect(!db.capabilities.contains("NET_RAW"))

        let bridge = try #require(report.containers.first { $0.name == "bh-inv-bridge" })
        #expect(bridge.capabilities.contains("NET_ADMIN"))
        #expect(bridge.dockerSocketMounted)
        #expect(Set(bridge.networks.map(\.name)) == ["bh-inv-front", "bh-inv-back"])

        let side = try #require(report.containers.first { $0.name == "bh-inv-side" })
        #expect(side.networkMode == "container:bh-inv-web")
        #expect(side.netns == web.netns, "a shared namespace is the same namespace")
        let host = try #require(report.containers.first { $0.name == "bh-inv-host" })
        #expect(host.networkMode == "host")

        func finding(_ kind: FindingKind, _ location: String) -> Finding? {
            report.findings.first { $0.kind == kind && $0.location == location }
        }
        #expect(finding(.hostNetworkMode, "bh-inv-host")?.severity == .high)
        #expect(finding(.sharedNetworkNamespace, "bh-inv-side") != nil)
        #expect(finding(.portPublishedAllInterfaces, "bh-inv-web") != nil)
        #expect(
            report.findings.filter { $0.kind == .portPublishedAllInterfaces && $0.location == "bh-inv-web" }.count == 1,
            "the 127.0.0.1 binding is fine")
        #expect(finding(.netAdminCapability, "bh-inv-bridge")?.severity == .high)
        #expect(finding(.dockerSocketMounted, "bh-inv-bridge")?.severity == .critical)
        #expect(finding(.bridgesNetworks, "bh-inv-bridge") != nil)
        #expect(finding(.netRawCapability, "bh-inv-db") == nil)
        #expect(report.findings.first?.severity == .critical, "most severe first")
    }

    @Test("test networks go where nothing else is: never on a range a network already holds")
    func freeSubnets() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        let label = "bulkhead.test=subnets-\(getpid())"
        DockerCLI.removeLabelled(label)
        defer { DockerCLI.removeLabelled(label) }
        let first = try DockerCLI.createNetwork("bh-subnet-a-\(getpid())", options: ["--label", label]).subnet
        let second = try DockerCLI.createNetwork("bh-subnet-b-\(getpid())", options: ["--label", label]).subnet
        #expect(first != second)
        DockerCLI.removeLabelled(label)
        // The whole range taken by another network: a clear failure, not a network on top of it.
        try DockerCLI.must(["network", "create", "--label", label, "--subnet", "198.18.128.0/17", "bh-subnet-all"])
        #expect(throws: ProcessRunner.Failure.self) {
            try DockerCLI.createNetwork("bh-subnet-c-\(getpid())", options: ["--label", label])
        }
    }

    @Test("a container that vanishes between listing and inspection is reported, not dropped")
    func vanished() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        DockerCLI.removeLabelled(Self.label)
        defer { DockerCLI.removeLabelled(Self.label) }
        try DockerCLI.must([
            "run", "-d", "--label", Self.label, "--name", "bh-inv-gone", "--network", "none", DockerCLI.labImage,
            "sleep", "600",
        ])
        let engine = DockerEngine(socketPath: "/var/run/docker.sock")
        try engine.connect()
        let listed = try engine.get("/containers/json?all=true", as: [DockerAPI.ContainerSummary].self)
        #expect(listed.contains { $0.Names?.contains("/bh-inv-gone") == true })
        try DockerCLI.must(["rm", "-f", "bh-inv-gone"])
        let report = InventoryCollector.inspect(engine, networkList: [], containerList: listed)
        #expect(!report.complete)
        #expect(report.problems.contains("container bh-inv-gone vanished while being inventoried"))
        #expect(report.containers.first { $0.name == "bh-inv-gone" }?.state == "vanished")
    }

    @Test("offline: docker inspect and docker network inspect files give the same picture")
    func offlineFiles() throws {
        LabLock.acquire()
        defer { LabLock.release() }
        _ = try Self.makeLab()
        defer { DockerCLI.removeLabelled(Self.label) }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bh-inv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let containers = try DockerCLI.must([
            "inspect", "bh-inv-web", "bh-inv-db", "bh-inv-bridge", "bh-inv-side", "bh-inv-host",
        ])
        let networks = try DockerCLI.must(["network", "inspect", "bh-inv-front", "bh-inv-back"])
        let containersFile = directory.appendingPathComponent("containers.json")
        let networksFile = directory.appendingPathComponent("networks.json")
        try Data(containers.utf8).write(to: containersFile)
        try Data(networks.utf8).write(to: networksFile)
        let offline = try InventoryCollector.fromFiles([containersFile.path, networksFile.path])
        let live = try InventoryCollector.fromEngine(DockerEngine(socketPath: "/var/run/docker.sock"))
        #expect(
            offline.containers.map(\.name) == [
                "bh-inv-bridge", "bh-inv-db", "bh-inv-host", "bh-inv-side", "bh-inv-web",
            ])
        #expect(offline.networks.map(\.name) == ["bh-inv-back", "bh-inv-front"])
        for container in offline.containers {
            let twin = try #require(live.containers.first { $0.name == container.name })
            #expect(container.networks == twin.networks)
            #expect(container.publishedPorts == twin.publishedPorts)
            #expect(container.networkMode == twin.networkMode)
            #expect(container.dockerSocketMounted == twin.dockerSocketMounted)
        }
        #expect(
            Set(offline.findings.map(\.kind)).isSuperset(of: [
                .hostNetworkMode, .dockerSocketMounted, .bridgesNetworks, .netAdminCapability,
            ]))
    }
}

@Suite("Inventory input errors")
struct InventoryErrorTests {
    @Test("no socket, a non-unix DOCKER_HOST, malformed and unrecognised files: clear errors")
    func errors() throws {
        #expect(throws: EngineError.self) { try DockerEngine(socketPath: "/nonexistent/docker.sock").connect() }
        do { try DockerEngine(socketPath: "/nonexistent/docker.sock").connect() } catch {
            #expect(error.code == .noSocket)
            #expect(error.message.contains("/nonexistent/docker.sock"))
        }
        #expect(throws: EngineError.self) {
            try DockerEngine.socketPath(environment: ["DOCKER_HOST": "tcp://198.18.0.1:2375"])
        }
        #expect(
            try DockerEngine.socketPath(environment: ["DOCKER_HOST": "unix:///run/podman/podman.sock"])
                == "/run/podman/podman.sock")
        let directory = FileManager.default.temporaryDirectory
        let broken = directory.appendingPathComponent("bh-broken-\(UUID().uuidString).json")
        try Data("[{\"Id\": \"abc\", ".utf8).write(to: broken)
        defer { try? FileManager.default.removeItem(at: broken) }
        do {
            _ = try InventoryCollector.fromFiles([broken.path])
            Issue.record("a truncated file must be refused")
        } catch {
            #expect(error.description.contains(broken.lastPathComponent))
        }
        let unknown = directory.appendingPathComponent("bh-unknown-\(UUID().uuidString).json")
        try Data("[{\"hello\": 1}]".utf8).write(to: unknown)
        defer { try? FileManager.default.removeItem(at: unknown) }
        #expect(throws: InventoryFileError.self) { try InventoryCollector.fromFiles([unknown.path]) }
    }

    /// A `docker network inspect` element and two `docker inspect` elements on it, as one file's JSON text.
    static func inspectText(
        subnet: String = "198.18.1.0/24", webAddress: String = "198.18.1.2", apiName: String = "/api",
        apiID: String = "c2"
    ) -> String {
        func container(_ id: String, _ name: String, _ address: String) -> String {
            """
            {"Id": "\(id)", "Name": "\(name)", "State": {"Status": "running", "Pid": 0},
             "Config": {"Image": "lab", "Labels": {}}, "HostConfig": {"NetworkMode": "shop"},
             "NetworkSettings": {"Networks": {"shop": {"IPAddress": "\(address)", "Gateway": "198.18.1.1"}}}}
            """
        }
        return """
            [{"Name": "shop", "Id": "n1", "Driver": "bridge", "Scope": "local", "Internal": false, "Labels": {},
              "IPAM": {"Config": [{"Subnet": "\(subnet)", "Gateway": "198.18.1.1"}]}, "Options": {}},
            \(container("c1", "/web", webAddress)),
            \(container(apiID, apiName, "198.18.1.3"))]
            """
    }

    @Test(
        "inspect files: one object given twice is read once; the same name or Id twice, bad addresses and subnets refused at their line"
    )
    func inspectFileContents() throws {
        let good = try ScratchSpace.file("inspect.json", Self.inspectText())
        let twice = try InventoryCollector.fromFiles([good, good])
        #expect(twice.containers.map(\.name) == ["api", "web"] && twice.networks.count == 1)
        #expect(!twice.findings.contains { $0.kind == .overlappingSubnets }, "a network does not overlap itself")
        func refusal(_ text: String) throws -> String {
            let path = try ScratchSpace.file("inspect.json", text)
            do {
                let report = try InventoryCollector.fromFiles([good, path])
                return "read \(report.containers.count) containers"
            } catch { return error.description.replacingOccurrences(of: path, with: "FILE") }
        }
        #expect(
            try refusal(Self.inspectText(webAddress: "999.1.1.1")).hasPrefix(
                "FILE:5:57: element 1, NetworkSettings.Networks.shop.IPAddress: '999.1.1.1' is not an IP address"))
        #expect(
            try refusal(Self.inspectText(subnet: "198.18.1.0/33")).hasPrefix(
                "FILE:2:34: element 0, IPAM.Config[0].Subnet: '198.18.1.0/33' is not a subnet"))
        #expect(
            try refusal(Self.inspectText(apiName: "/web", apiID: "c9")).contains(
                "a second container named web (the first at \(good):3:1)"))
        #expect(try refusal(Self.inspectText(apiName: "/other")).contains("has the Id c2 of the object at \(good):"))
    }

    @Test("HTTP responses: content-length, chunked, and cut short")
    func httpParsing() throws {
        let plain = Data("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nApi-Version: 1.41\r\n\r\n{}".utf8)
        let parsed = try UnixSocketHTTPClient.parse(plain, request: "GET /")
        #expect(parsed.status == 200)
        #expect(parsed.headers["api-version"] == "1.41")
        #expect(parsed.body == Data("{}".utf8))
        let chunked = Data("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n".utf8)
        #expect(try UnixSocketHTTPClient.parse(chunked, request: "GET /").body == Data("[1,2]".utf8))
        #expect(throws: EngineError.self) {
            try UnixSocketHTTPClient.parse(Data("HTTP/1.1 200 OK\r\nContent-".utf8), request: "GET /")
        }
        #expect(throws: EngineError.self) {
            try UnixSocketHTTPClient.parse(
                Data("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".utf8), request: "GET /")
        }
    }
}
