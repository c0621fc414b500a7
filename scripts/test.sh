#!/usr/bin/env bash
# Install with the test extras, then lint, type-check, test, and smoke the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,bench
bash scripts/browser-deps.sh  # Debian's chromium, for the browser tests
.venv/bin/ruff check jupyter_inferless tests benchmarks
.venv/bin/ruff format --check jupyter_inferless tests benchmarks
.venv/bin/mypy
# The lab panel's Jest tests and lint (Prettier, ESLint); pip install above already ran
# jlpm install in labextension/. The lint scripts call jlpm, so .venv/bin goes on PATH.
(cd labextension && ../.venv/bin/jlpm install --immutable && ../.venv/bin/jlpm test --ci \
  && PATH="$PWD/../.venv/bin:$PATH" ../.venv/bin/jlpm lint:check)
# Real SSE clients the tests read streams with (Node's eventsource package), from the lock file.
(cd tests/node && npm ci --no-audit --no-fund --silent)
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
if [ "$code" -ne 0 ]; then exit "$code"; fi
.venv/bin/python benchmarks/sse_throughput.py --smoke
.venv/bin/python benchmarks/load.py --smoke
.venv/bin/python benchmarks/replay_memory.py --smoke
