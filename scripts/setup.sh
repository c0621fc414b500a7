#!/usr/bin/env bash
# Create .venv and install the project into it. Usage: scripts/setup.sh [EXTRAS]
# torch is pinned first: 2.13.0 is the CPU build this project is tested with, and a
# looser request could pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-torch}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[$extras]"
