#!/usr/bin/env bash
# Builds the image `bulkhead:latest` for the fleet audit with `docker import` (no registry needed): the bulkhead
# binary with the shared libraries ldd names for it, busybox for a shell, and the Debian docker client (the
# launcher starts the audit container with it). Load it on every node (docker save | docker load, or a registry).
# Usage: DOCKER_HOST=unix:///var/run/docker.sock deploy/swarm/build-image.sh [path/to/bulkhead]
set -euo pipefail
docker=${DOCKER:-/usr/bin/docker}
image=${BULKHEAD_IMAGE:-bulkhead:latest}
here=$(cd "$(dirname "$0")" && pwd)
binary=${1:-$here/../../.build/release/bulkhead}
[[ -x "$binary" ]] || { echo "error: no bulkhead binary at $binary (swift build -c release)" >&2; exit 2; }
for tool in busybox "$docker"; do command -v "$tool" >/dev/null || { echo "error: $tool is missing" >&2; exit 2; }; done

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,usr/bin,etc,tmp,reports,proc,sys,dev}
chmod 1777 "$root/tmp"
cp "$(command -v busybox)" "$root/bin/busybox"
for applet in sh cat ls mkdir hostname date; do ln -s busybox "$root/bin/$applet"; done
copy_with_libraries() {
    install -D "$1" "$root$2"
    ldd "$1" | grep -oE '/[^ ]+' | while read -r library; do
        [[ -e "$root$library" ]] || install -D "$library" "$root$library"
    done
}
copy_with_libraries "$(readlink -f "$binary")" /usr/bin/bulkhead
copy_with_libraries "$(readlink -f "$docker")" /usr/bin/docker
install -m 0755 "$here/launch.sh" "$root/usr/bin/bulkhead-launch"
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
tar -C "$root" -c . | "$docker" import --change 'ENV PATH=/bin:/usr/bin' --change 'CMD ["/usr/bin/bulkhead-launch"]' - "$image" >/dev/null
echo "built $image"
