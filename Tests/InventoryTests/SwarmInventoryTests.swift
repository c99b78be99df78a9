import BulkheadModel
import ContainerEngine
import Foundation
import Testing

@testable import Inventory

/// The Swarm inventory's readers and static findings, on Engine API JSON written here (the live reading is tested
/// on the two-node lab by SwarmFleetTests).
@Suite("Swarm inventory")
struct SwarmInventoryTests {
    static let service = """
        {"ID":"s1","Spec":{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"img","CapabilityAdd":["CAP_NET_ADMIN"],
        "Mounts":[{"Type":"bind","Source":"/var/run/docker.sock","Target":"/var/run/docker.sock","ReadOnly":true}]},
        "Networks":[{"Target":"n1"}]},"Mode":{"Replicated":{"Replicas":3}},"EndpointSpec":{"Mode":"vip"}},
        "Endpoint":{"Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}}
        """

    @Test("a service's mode, endpoint mode, ports, mounts, capabilities and networks are read")
    func serviceRecord() throws {
        let decoded = try JSONDecoder().decode(SwarmAPI.Service.self, from: Data(Self.service.utf8))
        let record = SwarmCollector.record(decoded, networkNames: ["n1": "front"])
        #expect(record.mode == "replicated" && record.replicas == 3 && record.endpointMode == "vip")
        #expect(record.publishedPorts == [.init(targetPort: 80, publishedPort: 8080, proto: "tcp", mode: "ingress")])
        #expect(record.networks == ["front"] && record.capabilitiesAdded == ["CAP_NET_ADMIN"])
        #expect(record.mounts.first?.source == "/var/run/docker.sock")
    }

    @Test("an engine's answer missing every optional field still reads, as unknowns")
    func sparseAnswers() throws {
        let service = try JSONDecoder().decode(SwarmAPI.Service.self, from: Data(#"{"ID":"x"}"#.utf8))
        #expect(SwarmCollector.record(service, networkNames: [:]).mode == "unknown")
        let task = try JSONDecoder().decode(SwarmAPI.Task.self, from: Data(#"{"ID":"t"}"#.utf8))
        let record = SwarmCollector.record(task, serviceName: "?", localNode: "n", container: nil)
        #expect(record.state == "unknown" && record.addresses.isEmpty && !record.local)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(SwarmAPI.Task.self, from: Data("[".utf8)) }
    }

    @Test("ingress ports, the Docker socket, added capabilities, autolock and a cross-node plain overlay are findings")
    func staticFindings() throws {
        let decoded = try JSONDecoder().decode(SwarmAPI.Service.self, from: Data(Self.service.utf8))
        let service = SwarmCollector.record(decoded, networkNames: ["n1": "front"])
        let node = ClusterNode(
            orchestrator: .swarm, clusterID: "c", nodeID: "a", nodeName: "one", role: .manager, fullView: true)
        let tasks = ["a", "b"].map { nodeID in
            SwarmTaskRecord(
                id: "t\(nodeID)", name: "web.\(nodeID)", serviceID: "s1", serviceName: "web", nodeID: nodeID,
                state: "running", desiredState: "running", container: nil,
                addresses: [SwarmTaskAddress(network: "front", address: "198.18.0.\(nodeID == "a" ? 2 : 3)")],
                local: nodeID == "a")
        }
        let network = SwarmNetworkRecord(
            id: "n1", name: "front", driver: "overlay", subnets: ["198.18.0.0/24"], encrypted: false, attachable: false,
            ingress: false, vxlanIDs: [4097], peers: [])
        let view = SwarmInventory(
            node: node, nodeAddress: "198.18.9.1", autolock: false, nodes: [], services: [service], tasks: tasks,
            networks: [network], limits: [])
        let kinds = Set(SwarmFindings.evaluate(view).map(\.kind.identifier))
        #expect(
            kinds == [
                "swarm-ingress-published-port", "swarm-service-docker-socket", "swarm-service-added-capabilities",
                "swarm-autolock-off", "swarm-cross-node-plaintext-overlay",
            ])
        var encrypted = view
        encrypted.networks[0].encrypted = true
        encrypted.autolock = true
        #expect(!SwarmFindings.evaluate(encrypted).contains { $0.kind == .swarmCrossNodePlaintextOverlay })
        #expect(!SwarmFindings.evaluate(encrypted).contains { $0.kind == .swarmAutolockOff })
    }

    static let nodeCertificate = """
        -----BEGIN CERTIFICATE-----
        MIICFTCCAbugAwIBAgIUB03RJg74ohJf+WNIO/ybXblrxx4wCgYIKoZIzj0EAwIw
        XzEiMCAGA1UECgwZM3JoNDZsOTJ4MmdsNDRicGY2Ymx5eGt2NDEVMBMGA1UECwwM
        c3dhcm0td29ya2VyMSIwIAYDVQQDDBlpeTV0d2l4cHRkbDVubzVoNjI3YjBkYWUy
        MCAXDTI2MTIwNDIyNDExMVoYDzIxMjYxMTEwMjI0MTExWjBfMSIwIAYDVQQKDBkz
        cmg0Nmw5MngyZ2w0NGJwZjZibHl4a3Y0MRUwEwYDVQQLDAxzd2FybS13b3JrZXIx
        IjAgBgNVBAMMGWl5NXR3aXhwdGRsNW5vNWg2MjdiMGRhZTIwWTATBgcqhkjOPQIB
        BggqhkjOPQMBBwNCAARIUV5Dv4tM+25HxCof9bCrc+ppnQ8pUOpy17aL4HgCHyTc
        WExUlJwHyIiydJ0/DKuTZdKg4l1Rr+UHiepzzPLeo1MwUTAdBgNVHQ4EFgQUdpOq
        twRAW7xVhIKhXQfoHZg+634wHwYDVR0jBBgwFoAUdpOqtwRAW7xVhIKhXQfoHZg+
        634wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBmz24j87zQAC2x
        4hj+Xfes7NLe8ZLWHG6F5vQa8SPr0wIhAPwS3hh7Ycrx2WFsi8zvist8LFByP8Dl
        ARRCyGi4CbVf
        -----END CERTIFICATE-----
        """

    @Test("a worker's cluster ID comes from its node certificate's organisation; a bad file is an error, not a guess")
    func clusterIDFromCertificate() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swarm-cert-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // A certificate shaped like a Swarm node's (made once with openssl req; its subject is what Swarm issues).
        let certificate = folder.appendingPathComponent("c.pem").path
        let key = folder.appendingPathComponent("not-a-certificate.pem").path
        try Self.nodeCertificate.write(toFile: certificate, atomically: true, encoding: .utf8)
        try "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".write(
            toFile: key, atomically: true, encoding: .utf8)
        #expect(try SwarmCollector.clusterID(certificatePath: certificate).get() == "3rh46l92x2gl44bpf6blyxkv4")
        #expect(throws: SwarmCertificateError.self) { try SwarmCollector.clusterID(certificatePath: key).get() }
        #expect(throws: SwarmCertificateError.self) {
            try SwarmCollector.clusterID(certificatePath: folder.appendingPathComponent("none").path).get()
        }
    }
}
