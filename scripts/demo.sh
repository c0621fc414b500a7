#!/usr/bin/env bash
# Install from the lock, then serve the bundled demo notebook headless. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh demo  # from requirements/demo.txt
args=()
if [ "$(id -u)" = "0" ]; then args+=(--allow-root); fi
exec .venv/bin/jupyter inferless serve notebooks/text_generation.ipynb "${args[@]}" "$@"
