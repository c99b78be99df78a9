import Foundation

/// The parts of the Docker Engine API's JSON that inventory reads (the same shapes come from Podman's
/// Docker-compatible API and from `docker inspect` / `docker network inspect` output).
public enum DockerAPI {
    public struct Network: Decodable, Sendable {
        public var Name: String
        public var Id: String
        public var Driver: String?
        public var Scope: String?
        public var Internal: Bool?
        public var Attachable: Bool?
        public var EnableIPv6: Bool?
        public var IPAM: IPAM?
        public var Options: [String: String]?
        public var Labels: [String: String]?
        public var Containers: [String: NetworkEndpoint]?

        public struct IPAM: Decodable, Sendable {
            public var Config: [IPAMConfig]?
        }

        public struct IPAMConfig: Decodable, Sendable {
            public var Subnet: String?
            public var Gateway: String?
            public var IPRange: String?
        }

        public struct NetworkEndpoint: Decodable, Sendable {
            public var Name: String?
            public var IPv4Address: String?
            public var IPv6Address: String?
        }
    }

    public struct ContainerSummary: Decodable, Sendable {
        public var Id: String
        public var Names: [String]?
        public var State: String?
        /// Kept on a container whose inspection fails, so that an audit scoped by label still names it.
        public var Labels: [String: String]?
    }

    struct Container: Decodable, Sendable {
        var Id: String
        var Name: String?
        var Image: String?
        var State: State?
        var Config: Config?
        var HostConfig: HostConfig?
        var NetworkSettings: NetworkSettings?
        var Mounts: [Mount]?

        struct State: Decodable, Sendable {
            var Status: String?
            var Running: Bool?
            var Pid: Int?
        }

        struct Config: Decodable, Sendable {
            var Image: String?
            var Labels: [String: String]?
            var ExposedPorts: [String: EmptyObject]?
        }

        struct HostConfig: Decodable, Sendable {
            var NetworkMode: String?
            var Privileged: Bool?
            var CapAdd: [String]?
            var CapDrop: [String]?
            var PortBindings: [String: [PortBinding]?]?
        }

        struct PortBinding: Decodable, Sendable {
            var HostIp: String?
            var HostPort: String?
        }

        struct NetworkSettings: Decodable, Sendable {
            var SandboxKey: String?
            var Ports: [String: [PortBinding]?]?
            var Networks: [String: Endpoint]?
        }

        struct Endpoint: Decodable, Sendable {
            var NetworkID: String?
            var IPAddress: String?
            var IPPrefixLen: Int?
            var Gateway: String?
            var GlobalIPv6Address: String?
            var IPv6Gateway: String?
            var Aliases: [String]?
            var DNSNames: [String]?
            var MacAddress: String?
        }

        struct Mount: Decodable, Sendable {
            var `Type`: String?
            var Source: String?
            var Destination: String?
        }
    }

    struct EmptyObject: Decodable, Sendable {}

    struct Info: Decodable, Sendable {
        var Name: String?
        var ServerVersion: String?
    }
}
