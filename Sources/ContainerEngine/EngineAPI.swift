import Foundation

/// The engine API's own messages that the client needs (what it negotiates with, how it reports errors), and the
/// typed bodies of the requests Bulkhead sends: field names as the Docker Engine API spells them (API 1.24–1.47,
/// also what Podman's compatible API reads). Optional fields left nil are left out of the JSON.
public enum EngineAPI {
    /// `GET /version`.
    public struct Version: Decodable, Sendable {
        public var Version: String?
        public var ApiVersion: String?
        public var MinAPIVersion: String?
    }

    /// The body of an error answer: `{"message": "..."}`.
    public struct ErrorMessage: Decodable, Sendable {
        public var message: String
    }

    /// `POST /networks/create`.
    public struct NetworkCreate: Encodable, Sendable {
        public struct IPAM: Encodable, Sendable {
            public var Config: [IPAMConfig]
        }

        public struct IPAMConfig: Encodable, Sendable {
            public var Subnet: String
            public var Gateway: String?
        }

        public var Name: String
        public var Driver = "bridge"
        public var CheckDuplicate = true
        public var Internal: Bool
        public var Labels: [String: String]
        public var IPAM: IPAM
        public var Options: [String: String]

        public init(
            name: String, subnet: String, gateway: String?, internal: Bool, labels: [String: String],
            options: [String: String]
        ) {
            self.Name = name
            self.Internal = `internal`
            self.Labels = labels
            self.IPAM = NetworkCreate.IPAM(Config: [NetworkCreate.IPAMConfig(Subnet: subnet, Gateway: gateway)])
            self.Options = options
        }
    }

    /// One network a container is attached to, with its address and aliases.
    public struct EndpointSettings: Encodable, Sendable {
        public struct IPAMConfig: Encodable, Sendable {
            public var IPv4Address: String
        }

        public var Aliases: [String]
        public var IPAMConfig: IPAMConfig?

        public init(aliases: [String], address: String?) {
            self.Aliases = aliases
            self.IPAMConfig = address.map { EndpointSettings.IPAMConfig(IPv4Address: $0) }
        }
    }

    /// `POST /containers/create`.
    public struct ContainerCreate: Encodable, Sendable {
        public struct HostConfig: Encodable, Sendable {
            public var CapAdd: [String]
            public var CapDrop: [String]
            public var Privileged: Bool
            public var NetworkMode: String
            public var Binds: [String]
            public var PortBindings: [String: [PortBinding]]

            public init(
                capAdd: [String], capDrop: [String], privileged: Bool, networkMode: String, binds: [String],
                portBindings: [String: [PortBinding]]
            ) {
                self.CapAdd = capAdd
                self.CapDrop = capDrop
                self.Privileged = privileged
                self.NetworkMode = networkMode
                self.Binds = binds
                self.PortBindings = portBindings
            }
        }

        public struct PortBinding: Encodable, Sendable {
            public var HostIp: String
            public var HostPort: String

            public init(hostIP: String, hostPort: String) {
                self.HostIp = hostIP
                self.HostPort = hostPort
            }
        }

        public struct NetworkingConfig: Encodable, Sendable {
            public var EndpointsConfig: [String: EndpointSettings]
        }

        /// `{}`: the API's way of naming a port in `ExposedPorts`.
        public struct Empty: Encodable, Sendable {
            public init() {}
        }

        public var Image: String
        public var Labels: [String: String]
        public var HostConfig: HostConfig
        public var ExposedPorts: [String: Empty]
        public var Cmd: [String]?
        public var NetworkingConfig: NetworkingConfig?

        public init(
            image: String, labels: [String: String], host: HostConfig, exposedPorts: [String], command: [String]?,
            network: (name: String, endpoint: EndpointSettings)?
        ) {
            self.Image = image
            self.Labels = labels
            self.HostConfig = host
            self.ExposedPorts = Dictionary(exposedPorts.map { ($0, Empty()) }) { first, _ in first }
            self.Cmd = command
            self.NetworkingConfig = network.map {
                ContainerCreate.NetworkingConfig(EndpointsConfig: [$0.name: $0.endpoint])
            }
        }
    }

    /// `POST /networks/{id}/connect`.
    public struct NetworkConnect: Encodable, Sendable {
        public var Container: String
        public var EndpointConfig: EndpointSettings

        public init(container: String, endpoint: EndpointSettings) {
            self.Container = container
            self.EndpointConfig = endpoint
        }
    }

    /// `POST /containers/{id}/exec`.
    public struct ExecCreate: Encodable, Sendable {
        public var Cmd: [String]
        public var AttachStdout = false
        public var AttachStderr = false

        public init(command: [String]) { self.Cmd = command }
    }

    /// `POST /exec/{id}/start`.
    public struct ExecStart: Encodable, Sendable {
        public var Detach = true

        public init() {}
    }

    /// The answer of a create request: `{"Id": "..."}`.
    public struct Created: Decodable, Sendable {
        public var Id: String
    }

    /// `GET /exec/{id}/json`, what Bulkhead reads of it.
    public struct ExecInspect: Decodable, Sendable {
        public var Running: Bool?
        public var ExitCode: Int?
    }
}
