#!/usr/bin/env bash
# Builds the lab image `bulkhead-lab:latest` with `docker import` (there is no image registry here):
# a root filesystem of busybox-static plus host binaries with the libraries they need (openssl for TLS
# servers and clients, redis-server for a realistic plaintext protocol). Idempotent: an image whose
# label matches this script's checksum is reused.
set -euo pipefail
docker=${DOCKER:-/usr/bin/docker}
image=${BULKHEAD_LAB_IMAGE:-bulkhead-lab:latest}
here=$(cd "$(dirname "$0")" && pwd)
checksum=$(cat "$here/build.sh" "$here/udp-echo.c" | sha256sum | cut -c1-16)

if [[ "$("$docker" image inspect --format '{{index .Config.Labels "bulkhead.lab.checksum"}}' "$image" 2>/dev/null || true)" == "$checksum" ]]; then
    echo "lab image $image is up to date"
    exit 0
fi

for tool in busybox openssl redis-server; do
    command -v "$tool" >/dev/null || { echo "error: $tool is missing (apt-get install busybox-static openssl redis-server)" >&2; exit 2; }
done

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,usr/bin,etc,tmp,lab,var/run,proc,sys,dev}
chmod 1777 "$root/tmp"
cp "$(command -v busybox)" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [[ -e "$root/bin/$applet" ]] || ln -s busybox "$root/bin/$applet"
done

# Copies a binary and the shared libraries ldd names for it, at the same paths.
copy_with_libraries() {
    local binary=$1
    install -D "$binary" "$root$binary"
    ldd "$binary" | grep -oE '/[^ ]+' | while read -r library; do
        [[ -e "$root$library" ]] || install -D "$library" "$root$library"
    done
}
# Copies a tool (following symlinks to the real binary) and makes it callable by its usual name in /usr/bin.
copy_tool() {
    local name=$1 real
    real=$(readlink -f "$(command -v "$name")")
    copy_with_libraries "$real"
    if [[ "$real" != "/usr/bin/$name" ]]; then ln -sf "$real" "$root/usr/bin/$name"; fi
}
copy_tool openssl
copy_tool redis-server
# A UDP echo service (busybox has no UDP server): static, so it needs no libraries.
compiler=$(command -v cc || command -v gcc || command -v clang || true)
[[ -n "$compiler" ]] || { echo "error: no C compiler for udp-echo (apt-get install gcc)" >&2; exit 2; }
"$compiler" -O2 -static -o "$root/usr/bin/udp-echo" "$here/udp-echo.c"
mkdir -p "$root/usr/lib/ssl" && cp -r /usr/lib/ssl/openssl.cnf "$root/usr/lib/ssl/" 2>/dev/null || true
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"

tar -C "$root" -c . | "$docker" import \
    --change "LABEL bulkhead.lab.checksum=$checksum" \
    --change "LABEL bulkhead.lab=true" \
    --change 'ENV PATH=/bin:/usr/bin' \
    --change 'CMD ["/bin/sh"]' \
    - "$image" >/dev/null
echo "built lab image $image"
