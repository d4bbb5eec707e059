#!/usr/bin/env bash
# Set up crossview on a fresh Debian/Ubuntu machine: system libraries (apt-get, when permitted), a virtual
# environment in .venv and the package with its extras.  Usage: scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."

extras="torch"
apt_packages=(libegl1 libegl-mesa0 libgl1-mesa-dri)   # headless OpenGL for MuJoCo (Rooms)
if [[ "${1:-}" == "--dev" ]]; then
  extras="torch,dev,ray,dmlab,cosysairsim,unreal,realsense,serve,probe"
  apt_packages+=(chromium libusb-1.0-0)                 # the report test's browser; pyrealsense2's USB library
fi

if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if (( ${#missing[@]} )); then
    if [[ "$(id -u)" == 0 ]]; then sudo=""
    elif sudo -n true 2>/dev/null; then sudo="sudo"
    else
      echo "crossview setup: missing system packages ${missing[*]}: run 'sudo apt-get install -y ${missing[*]}' and retry" >&2
      exit 1
    fi
    echo "crossview setup: installing system packages ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
else
  echo "crossview setup: not a Debian system; make sure these (or their equivalents) are installed: ${apt_packages[*]}" >&2
fi

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "crossview setup: $python is older than Python 3.10; set PYTHON=/path/to/python3.10+ and retry" >&2
  exit 1
fi
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]" 2>&1 | grep -v '^WARNING: Location' || true
# the example third-party world (a separate package, as a user's plugin would be): the demo's second engine
.venv/bin/python -m pip install -q --disable-pip-version-check -e ./examples/vizdoom 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/python -c 'import harness, adapters, policies, reports' || { echo "crossview setup: install failed" >&2; exit 1; }
echo "crossview setup: ready (.venv/bin/crossview)"
