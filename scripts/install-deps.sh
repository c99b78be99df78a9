#!/usr/bin/env bash
# Installs the Debian packages Bulkhead needs to build (with --demo, what the demo of command 1 needs; with
# --test, what its test suite needs),
# skipping what is already installed. Run as root (or with sudo) on Debian 12 with the Swift toolchain.
set -euo pipefail

# zlib: gzip-compressed captures (Sources/CBulkheadStreams). jemalloc: the release binary's allocator (Package.swift, the bulkhead target).
packages=(libpcap-dev libssl-dev zlib1g-dev libjemalloc-dev pkg-config openssl)
if [[ "${1:-}" == "--demo" ]]; then
    # The demo (command 1) stands a lab scenario up in a real Docker engine.
    packages+=(docker.io iptables busybox-static redis-server)
fi
if [[ "${1:-}" == "--test" ]]; then
    # Peers and oracles used by the tests and the capture script.
    packages+=(tcpdump iproute2 python3 python3-pip tshark docker.io iptables busybox-static redis-server podman nginx graphviz haproxy postgresql
        apache2  # asks for client certificates per location, after the request (Tests/TLSVerificationTests/TLSTruthTests.swift)
        chromium chromium-driver  # a real browser renders the HTML report (Tests/AuditTests/ReportBrowserTests.swift)
        # Real servers for the MySQL, MQTT, AMQP, NATS, LDAP and XMPP probes
        # (Tests/TLSVerificationTests/ApplicationServerTests.swift), each run by the tests as a throwaway instance on
        # 127.0.0.1: together about 70 MB to download, 275 MB installed (Erlang for RabbitMQ and MariaDB are most of it).
        mariadb-server mosquitto slapd prosody rabbitmq-server nats-server
        # etcd, a real gRPC server over TLS with and without client certificates (ApplicationServerTests)
        etcd-server
        # The CNI bridge and host-local plugins make real pod sandboxes (Tests/KubernetesTests/KubernetesNodeTests.swift).
        containernetworking-plugins
        # The race check (scripts/race-check.sh) compiles the capture generator.
        gcc)
fi

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if ((${#missing[@]})); then
    echo "Installing: ${missing[*]}" >&2
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq
    # Servers installed for the tests (MariaDB, Mosquitto, slapd, Prosody, RabbitMQ, PostgreSQL, nginx…) must not be
    # started as system daemons: a policy-rc.d that denies every start while apt runs (unless one is already there).
    # The tests start their own instances, and scripts/test.sh its own dockerd; --demo is left as it was.
    guard=""
    if [[ "${1:-}" == "--test" ]] && [[ ! -e /usr/sbin/policy-rc.d ]]; then
        guard=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\n# Written by Bulkhead scripts/install-deps.sh while apt-get runs: no daemon starts.\nexit 101\n' \
            | "${sudo_cmd[@]}" tee "$guard" >/dev/null
        "${sudo_cmd[@]}" chmod 755 "$guard"
        trap '"${sudo_cmd[@]}" rm -f "$guard"' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [[ -n "$guard" ]]; then "${sudo_cmd[@]}" rm -f "$guard"; trap - EXIT; fi
    # Where systemd runs anyway (a unit started by a socket or a later boot), the test servers' units are stopped and
    # disabled: the tests start their own instances on free ports.
    if [[ "${1:-}" == "--test" ]] && [[ -d /run/systemd/system ]]; then
        for unit in mariadb mosquitto slapd prosody rabbitmq-server nats-server etcd epmd.socket epmd apache2; do
            "${sudo_cmd[@]}" systemctl disable --now "$unit" >/dev/null 2>&1 || true
        done
    fi
fi

if [[ "${1:-}" == "--test" ]]; then
    # Oracles from PyPI: the Prometheus text-format parser (the audit's textfile output is checked with it).
    # selenium drives chromium through chromium-driver (given by path, SE_OFFLINE=true: nothing fetched).
    # kubernetes_validate checks deploy/kubernetes against the Kubernetes API schemas it ships (no fetch).
    for module in prometheus_client jsonschema selenium kubernetes_validate; do
        python3 -c "import $module" 2>/dev/null || python3 -m pip install --quiet "$module" >/dev/null 2>&1 \
            || python3 -m pip install --quiet --break-system-packages "$module" >/dev/null 2>&1 \
            || echo "warning: could not install $module from PyPI; the tests that use it will say so" >&2
    done
    # The SARIF 2.1.0 JSON schema, for validating `audit --format sarif`: Microsoft's sarif-om source package on
    # PyPI carries it (sarif-2.1.0-rtm.4.json); nothing of it is committed here.
    schema_dir="${XDG_CACHE_HOME:-$HOME/.cache}/bulkhead"
    if [[ ! -s "$schema_dir/sarif-schema-2.1.0.json" ]]; then
        mkdir -p "$schema_dir"
        work=$(mktemp -d)
        if python3 -m pip download --quiet --no-deps --no-binary :all: sarif-om==1.0.4 -d "$work" >/dev/null 2>&1 \
            && tar -xzf "$work/sarif_om-1.0.4.tar.gz" -C "$work" sarif_om-1.0.4/sarif-2.1.0-rtm.4.json; then
            mv "$work/sarif_om-1.0.4/sarif-2.1.0-rtm.4.json" "$schema_dir/sarif-schema-2.1.0.json"
        else
            echo "warning: could not fetch the SARIF schema (sarif-om from PyPI); the schema test will say so" >&2
        fi
        rm -rf "$work"
    fi
fi

# sslyze (PyPI) is the comparison oracle of the `tls` tests and benchmark.
if [[ "${1:-}" == "--test" ]] && ! command -v sslyze >/dev/null 2>&1; then
    echo "Installing: sslyze (pip)" >&2
    python3 -m pip install --quiet sslyze 2>/dev/null || python3 -m pip install --quiet --break-system-packages sslyze
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "error: the Swift toolchain (swift) is not on PATH; install Swift 6 first (swift.org/install)." >&2
    exit 2
fi
