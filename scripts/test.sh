#!/usr/bin/env bash
# Set up (with the dev extras) and run the whole test suite and the linter.  Usage: scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
.venv/bin/nox --no-color   # sessions whose dependencies cannot share .venv (noxfile.py)
