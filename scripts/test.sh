#!/usr/bin/env bash
# Set up (with the dev extras) and run the linter, the whole test suite, then the nox sessions (noxfile.py: the tests
# whose dependencies cannot share .venv, e.g. MineStudio's and the archived airsim client's).
# Usage: scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/ruff check .
status=0
.venv/bin/python -m pytest -q "$@" || status=$?
.venv/bin/nox --no-color || status=$?
exit "$status"
