#!/usr/bin/env bash
# Set-up command 1: install what is missing, build a release binary, and run the main job on the
# committed sample captures. Exit status is bulkhead's own: 1 means it found something (the samples
# deliberately contain plaintext credentials), which is the point of the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product bulkhead
exec .build/release/bulkhead analyze captures/
