#!/usr/bin/env bash
# Refresh the lock files in requirements/ (pip-compile, with hashes) from pyproject.toml and
# requirements/*.in, then stamp each with the fingerprint of its sources.
# Usage: scripts/lock.sh [pip-compile options], e.g. --upgrade, or --upgrade-package NAME.
# Without options a lock keeps its pins where its sources still allow them. The locks are
# for CPython 3.11 on Linux x86_64, the machines CI runs on; pip-compile reads pip's own
# configuration, so torch resolves to the CPU build pip is configured to find.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/pip-compile ]; then bash scripts/setup.sh test; fi
compile=(.venv/bin/pip-compile --quiet "$@")  # options: [tool.pip-tools] in pyproject.toml
# The project's locks also pin what building it needs (scripts/setup.sh builds it from them).
"${compile[@]}" --all-extras --all-build-deps -o requirements/test.txt pyproject.toml
"${compile[@]}" --extra torch --all-build-deps -o requirements/demo.txt pyproject.toml
"${compile[@]}" -o requirements/inferless-cli.txt requirements/inferless-cli.in
"${compile[@]}" -o requirements/enterprise-gateway.txt requirements/enterprise-gateway.in
"${compile[@]}" -o requirements/litserve.txt requirements/litserve.in
.venv/bin/python scripts/check_lock.py --stamp
