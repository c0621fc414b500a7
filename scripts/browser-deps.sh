#!/usr/bin/env bash
# Install the browser the widget tests drive: Debian's chromium at /usr/bin/chromium.
# Idempotent; runs as root (CI) or through sudo when available. Playwright's own browser
# downloads are never used: the tests launch this chromium by path.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "browser-deps: /usr/bin/chromium is missing and this user cannot install it" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq chromium
/usr/bin/chromium --version 2>/dev/null
