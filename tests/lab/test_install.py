"""pip install gives JupyterLab with the panel enabled, at the Python package's version."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from packaging.version import Version

import jupyter_inferless


def test_the_panel_is_installed_enabled_and_versioned(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
    }
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text = listed.stdout + listed.stderr
    line = next(line for line in text.splitlines() if "jupyter-inferless" in line)
    assert "enabled" in line and "OK" in line and "jupyter_inferless" in line, line

    # One version (npm spelling in labextension/package.json, PEP 440 in Python).
    python_version = Version(jupyter_inferless.__version__)
    listed_version = re.search(r"jupyter-inferless v(\S+)", line)
    assert listed_version and Version(listed_version.group(1)) == python_version, line
    prefix = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "jupyter-inferless"
    package = json.loads((prefix / "package.json").read_text())
    assert Version(package["version"]) == python_version
