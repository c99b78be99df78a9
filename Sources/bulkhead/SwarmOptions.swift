import ArgumentParser

/// `--swarm`: read the engine's Docker Swarm view too (`inventory`, `audit`).
struct SwarmOptions: ParsableArguments {
    @Flag(
        help: ArgumentHelp(
            "Read the node's Docker Swarm view: cluster and node identity, nodes, services, tasks, swarm networks; "
                + "the other nodes' tasks become probe destinations (a worker sees its own tasks and the overlays' "
                + "endpoints, and says so)."))
    var swarm = false

    @Option(
        name: .customLong("swarm-node-certificate"),
        help: ArgumentHelp(
            "The node's Swarm certificate, whose subject names the cluster on a worker "
                + "(default: <DockerRootDir>/swarm/certificates/swarm-node.crt).", valueName: "file"))
    var nodeCertificate: String?
}
