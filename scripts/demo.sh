#!/usr/bin/env bash
# Set up and run the main job: a demo sweep on the embedded Rooms world (baselines and the shipped checkpoint
# series, both domains), then the generalization report. Resumes if interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/crossview envs
status=0
.venv/bin/crossview sweep examples/demo.yaml --out runs || status=$?
.venv/bin/crossview report runs/demo
echo "open runs/demo/report/index.html (summary: runs/demo/report/summary.md)"
exit "$status"
