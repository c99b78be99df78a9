#!/usr/bin/env bash
# Set-up command 1: install what is missing, build a release binary, and run the main job on the embedded
# default — the demo shop (scenarios/demo.yaml) stood up as real containers in a Docker engine on 198.18.0.0/15,
# audited (inventory → probe → tls → capture while its traffic runs), compared with its expected findings, and
# torn down; on free subnets when this host already uses the demo's (--relocate). Prints the audit; writes
# demo-report.html (self-contained, with the topology) and demo-report.json.
# Starts dockerd if none answers, and stops the one it started. Exit status is bulkhead's: 0 when the audit found
# exactly the shop's planted problems, 1 when it found something else, 2/3 when it could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --demo
swift build -c release --product bulkhead
started_dockerd=0
if ! /usr/bin/docker version >/dev/null 2>&1; then
    bash scripts/dockerd.sh start
    started_dockerd=1
fi
trap 'if [[ $started_dockerd == 1 ]]; then bash scripts/dockerd.sh stop; fi' EXIT
bash scenarios/lab-image/build.sh
status=0
# The demo's probes stay on its lab networks and loopback, whatever else this host runs (README, "Scope guard").
export BULKHEAD_ALLOWED_RANGES="${BULKHEAD_ALLOWED_RANGES:-127.0.0.0/8,::1/128,198.18.0.0/15}"
.build/release/bulkhead scenario run scenarios/demo.yaml --relocate --report html=demo-report.html --report json=demo-report.json || status=$?
echo
echo "HTML report (open it in a browser, it needs nothing else): $(pwd)/demo-report.html"
echo "JSON report (bulkhead audit --evidence demo-report.json --policy … re-evaluates it): $(pwd)/demo-report.json"
exit "$status"
