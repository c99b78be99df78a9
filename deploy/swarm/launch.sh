#!/bin/sh
# The fleet audit's launcher, run by the global job on every node: starts one short-lived container on this node's
# engine with exactly what the audit needs (see deploy/swarm/README.md), and waits for it. Swarm services cannot
# join the host's PID namespace themselves, and the audit must read the tasks' namespaces by their host pids.
# Settings (environment of the job): BULKHEAD_IMAGE, BULKHEAD_SOCKET (the engine socket on the node),
# BULKHEAD_CERTIFICATE (the node's swarm-node.crt), BULKHEAD_REPORTS (a volume name or host folder), NODE_NAME.
set -eu
image=${BULKHEAD_IMAGE:-bulkhead:latest}
socket=${BULKHEAD_SOCKET:-/var/run/docker.sock}
certificate=${BULKHEAD_CERTIFICATE:-/var/lib/docker/swarm/certificates/swarm-node.crt}
reports=${BULKHEAD_REPORTS:-bulkhead-reports}
node=${NODE_NAME:-$(hostname)}
exec docker -H "unix:///var/run/docker.sock" run --rm --name "bulkhead-audit-$node" \
    --pid host --network host --cap-drop ALL --cap-add SYS_ADMIN --cap-add SYS_PTRACE --cap-add NET_RAW \
    --security-opt no-new-privileges \
    -v "$socket:/var/run/docker.sock" -v "$certificate:/swarm-node.crt:ro" -v "$reports:/reports" \
    "$image" bulkhead audit --swarm --swarm-node-certificate /swarm-node.crt --quiet --exit-zero \
    --output "json=/reports/$node.json"
