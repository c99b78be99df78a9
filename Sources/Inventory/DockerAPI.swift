import Foundation

/// The parts of the Docker Engine API's JSON that inventory reads (the same shapes come from Podman's
/// Docker-compatible API and from `docker inspect` / `docker network inspect` output).
enum DockerAPI {
    struct Network: Decodable {
        var Name: String
        var Id: String
        var Driver: String?
        var Scope: String?
        var Internal: Bool?
        var Attachable: Bool?
        var EnableIPv6: Bool?
        var IPAM: IPAM?
        var Options: [String: String]?
        var Labels: [String: String]?
        var Containers: [String: NetworkEndpoint]?

        struct IPAM: Decodable {
            var Config: [IPAMConfig]?
        }

        struct IPAMConfig: Decodable {
            var Subnet: String?
            var Gateway: String?
            var IPRange: String?
        }

        struct NetworkEndpoint: Decodable {
            var Name: String?
            var IPv4Address: String?
            var IPv6Address: String?
        }
    }

    struct ContainerSummary: Decodable {
        var Id: String
        var Names: [String]?
        var State: String?
    }

    struct Container: Decodable {
        var Id: String
        var Name: String?
        var Image: String?
        var State: State?
        var Config: Config?
        var HostConfig: HostConfig?
        var NetworkSettings: NetworkSettings?
        var Mounts: [Mount]?

        struct State: Decodable {
            var Status: String?
            var Running: Bool?
            var Pid: Int?
        }

        struct Config: Decodable {
            var Image: String?
            var Labels: [String: String]?
            var ExposedPorts: [String: EmptyObject]?
        }

        struct HostConfig: Decodable {
            var NetworkMode: String?
            var Privileged: Bool?
            var CapAdd: [String]?
            var CapDrop: [String]?
            var PortBindings: [String: [PortBinding]?]?
        }

        struct PortBinding: Decodable {
            var HostIp: String?
            var HostPort: String?
        }

        struct NetworkSettings: Decodable {
            var SandboxKey: String?
            var Ports: [String: [PortBinding]?]?
            var Networks: [String: Endpoint]?
        }

        struct Endpoint: Decodable {
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

        struct Mount: Decodable {
            var `Type`: String?
            var Source: String?
            var Destination: String?
        }
    }

    struct EmptyObject: Decodable {}

    struct Version: Decodable {
        var Version: String?
        var ApiVersion: String?
        var MinAPIVersion: String?
    }

    struct Info: Decodable {
        var Name: String?
        var ServerVersion: String?
    }

    struct ErrorMessage: Decodable {
        var message: String
    }
}
