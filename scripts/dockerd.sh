#!/usr/bin/env bash
# Starts a Docker engine for the tests if none answers, on the RFC 2544 benchmarking range only
# (198.18.0.0/15: the default bridge on 198.19.255.0/24, new networks from 198.18.0.0/16), and stops
# the one it started. Usage: scripts/dockerd.sh start|stop
set -euo pipefail
state=${BULKHEAD_DOCKERD_STATE:-/tmp/bulkhead-dockerd}
socket=/var/run/docker.sock

answers() { /usr/bin/docker version >/dev/null 2>&1; }

case "${1:-}" in
start)
    if answers; then
        echo "dockerd already running; using it" >&2
        exit 0
    fi
    if [[ $(id -u) -ne 0 ]]; then echo "dockerd.sh: starting dockerd needs root; Docker tests will be skipped" >&2; exit 0; fi
    mkdir -p "$state"
    dockerd --bip 198.19.255.1/24 --default-address-pool base=198.18.0.0/16,size=24 \
        --host "unix://$socket" --pidfile "$state/dockerd.pid" >"$state/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do
        if answers; then echo "started dockerd (log: $state/dockerd.log)" >&2; exit 0; fi
        sleep 0.5
    done
    echo "dockerd did not come up; its log follows" >&2
    tail -n 30 "$state/dockerd.log" >&2 || true
    exit 1
    ;;
stop)
    if [[ -f "$state/dockerd.pid" ]]; then
        pid=$(cat "$state/dockerd.pid")
        kill "$pid" 2>/dev/null || true
        # dockerd stops its containers first, which can take longer than 10 s: wait for the process itself (up to
        # 30 s), so that whoever runs next does not meet a half-stopped engine.
        for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "dockerd (pid $pid) is still running 30 s after SIGTERM; its log: $state/dockerd.log" >&2
            exit 1
        fi
        rm -f "$state/dockerd.pid"
        echo "stopped dockerd" >&2
    fi
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
