#!/usr/bin/env bash
# Set up and run the main job: a demo sweep on the embedded Rooms world (both domains, baselines), then its summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/crossview envs
.venv/bin/crossview sweep examples/demo.yaml --out runs
