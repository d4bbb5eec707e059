#!/usr/bin/env bash
# Set up and run the main job: the baselines on the embedded Rooms world.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/crossview envs
.venv/bin/python benchmarks/rooms_baselines.py --episodes 10
