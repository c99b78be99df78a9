import Foundation

/// The parts of the Docker Engine API's Swarm answers that the Swarm inventory reads (API 1.41, Docker 20.10):
/// `GET /info` (its `Swarm` part), `GET /nodes`, `GET /services`, `GET /tasks`, `GET /networks/{id}?verbose=true`.
/// Every field is optional: an engine that leaves one out is read, and what is missing is reported, never guessed.
public enum SwarmAPI {
    /// `GET /info`, what the Swarm inventory reads of it.
    public struct Info: Decodable, Sendable {
        public var Name: String?
        public var ServerVersion: String?
        public var DockerRootDir: String?
        public var Swarm: SwarmInfo?
    }

    /// `Info.Swarm`.
    public struct SwarmInfo: Decodable, Sendable {
        public var NodeID: String?
        public var NodeAddr: String?
        /// `inactive`, `pending`, `active`, `error`, `locked`.
        public var LocalNodeState: String?
        /// True on a manager.
        public var ControlAvailable: Bool?
        public var Cluster: Cluster?
    }

    /// The cluster as a manager describes it (absent on a worker).
    public struct Cluster: Decodable, Sendable {
        public var ID: String?
        public var Spec: ClusterSpec?
    }

    public struct ClusterSpec: Decodable, Sendable {
        public var EncryptionConfig: EncryptionConfig?
    }

    public struct EncryptionConfig: Decodable, Sendable {
        public var AutoLockManagers: Bool?
    }

    /// `GET /nodes` element.
    public struct Node: Decodable, Sendable {
        public var ID: String
        public var Spec: NodeSpec?
        public var Description: NodeDescription?
        public var Status: NodeStatus?
        public var ManagerStatus: ManagerStatus?
    }

    public struct NodeSpec: Decodable, Sendable {
        public var Role: String?
        public var Availability: String?
    }

    public struct NodeDescription: Decodable, Sendable {
        public var Hostname: String?
        public var Engine: NodeEngine?
    }

    public struct NodeEngine: Decodable, Sendable {
        public var EngineVersion: String?
    }

    public struct NodeStatus: Decodable, Sendable {
        public var State: String?
        public var Addr: String?
    }

    public struct ManagerStatus: Decodable, Sendable {
        public var Leader: Bool?
        public var Addr: String?
    }

    /// `GET /services` element.
    public struct Service: Decodable, Sendable {
        public var ID: String
        public var Spec: ServiceSpec?
        public var Endpoint: ServiceEndpoint?
    }

    public struct ServiceSpec: Decodable, Sendable {
        public var Name: String?
        public var TaskTemplate: TaskTemplate?
        public var Mode: ServiceMode?
        public var EndpointSpec: EndpointSpec?
        /// Before API 1.25 networks sat here, not in the task template.
        public var Networks: [NetworkAttachmentConfig]?
    }

    public struct TaskTemplate: Decodable, Sendable {
        public var ContainerSpec: ContainerSpec?
        public var Networks: [NetworkAttachmentConfig]?
    }

    public struct ContainerSpec: Decodable, Sendable {
        public var Image: String?
        public var Mounts: [Mount]?
        public var CapabilityAdd: [String]?
        public var CapabilityDrop: [String]?
    }

    public struct Mount: Decodable, Sendable {
        public var `Type`: String?
        public var Source: String?
        public var Target: String?
        public var ReadOnly: Bool?
    }

    public struct NetworkAttachmentConfig: Decodable, Sendable {
        public var Target: String?
    }

    public struct ServiceMode: Decodable, Sendable {
        public var Replicated: Replicated?
        public var Global: Empty?
        public var ReplicatedJob: Empty?
        public var GlobalJob: Empty?
    }

    public struct Replicated: Decodable, Sendable {
        public var Replicas: Int?
    }

    /// An object whose content does not matter (`"Global": {}`).
    public struct Empty: Decodable, Sendable {}

    public struct EndpointSpec: Decodable, Sendable {
        public var Mode: String?
        public var Ports: [Port]?
    }

    public struct ServiceEndpoint: Decodable, Sendable {
        public var Spec: EndpointSpec?
        public var Ports: [Port]?
    }

    public struct Port: Decodable, Sendable {
        public var `Protocol`: String?
        public var TargetPort: Int?
        public var PublishedPort: Int?
        public var PublishMode: String?
    }

    /// `GET /tasks` element.
    public struct Task: Decodable, Sendable {
        public var ID: String
        public var ServiceID: String?
        public var NodeID: String?
        public var Slot: Int?
        public var Status: TaskStatus?
        public var DesiredState: String?
        public var NetworksAttachments: [NetworkAttachment]?
    }

    public struct TaskStatus: Decodable, Sendable {
        public var State: String?
        public var ContainerStatus: ContainerStatus?
    }

    public struct ContainerStatus: Decodable, Sendable {
        public var ContainerID: String?
    }

    public struct NetworkAttachment: Decodable, Sendable {
        public var Network: AttachedNetwork?
        public var Addresses: [String]?
    }

    public struct AttachedNetwork: Decodable, Sendable {
        public var ID: String?
        public var Spec: AttachedNetworkSpec?
    }

    public struct AttachedNetworkSpec: Decodable, Sendable {
        public var Name: String?
    }

    /// `GET /networks/{id}?verbose=true`: a swarm-scoped network with its peers and service task endpoints.
    public struct VerboseNetwork: Decodable, Sendable {
        public var Name: String
        public var Id: String
        public var Driver: String?
        public var Scope: String?
        public var Attachable: Bool?
        public var Ingress: Bool?
        public var IPAM: IPAM?
        public var Options: [String: String]?
        public var Peers: [Peer]?
        public var Services: [String: NetworkService]?
    }

    public struct IPAM: Decodable, Sendable {
        public var Config: [IPAMConfig]?
    }

    public struct IPAMConfig: Decodable, Sendable {
        public var Subnet: String?
    }

    public struct Peer: Decodable, Sendable {
        public var Name: String?
        public var IP: String?
    }

    public struct NetworkService: Decodable, Sendable {
        public var Tasks: [NetworkTask]?
    }

    /// A task endpoint on an overlay, as the overlay's gossip knows it (on managers and workers alike).
    public struct NetworkTask: Decodable, Sendable {
        /// `service.slot-or-node.taskID`.
        public var Name: String?
        public var EndpointIP: String?
        public var Info: [String: String]?
    }
}
