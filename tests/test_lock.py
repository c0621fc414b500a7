"""scripts/check_lock.py: the lock files match pyproject.toml, and a change to either is caught."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of what the check reads: pyproject.toml, requirements/, the script."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "requirements", tmp_path / "requirements")
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "check_lock.py", tmp_path / "scripts")
    return tmp_path


def check(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(project / "scripts" / "check_lock.py")],
        capture_output=True,
        text=True,
        check=False,
    )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_the_committed_locks_match_pyproject(project: Path) -> None:
    result = check(project)
    assert result.returncode == 0, result.stderr


def test_a_changed_range_is_caught_and_named(project: Path) -> None:
    edit(project / "pyproject.toml", '"tornado>=6.4,<7"', '"tornado>=6.99,<7"')
    result = check(project)
    assert result.returncode == 1
    assert "compiled from other sources" in result.stderr
    assert "tornado==" in result.stderr and "scripts/lock.sh" in result.stderr


def test_a_new_dependency_is_caught_and_named(project: Path) -> None:
    edit(project / "pyproject.toml", '"nbformat>=5.10,<6",', '"nbformat>=5.10,<6", "cowsay>=6",')
    result = check(project)
    assert result.returncode == 1
    assert "test.txt pins no cowsay" in result.stderr


def test_a_side_venvs_lock_follows_its_in_file(project: Path) -> None:
    edit(project / "requirements" / "inferless-cli.in", "inferless-cli==2.0.22", "inferless-cli")
    result = check(project)
    assert result.returncode == 1
    assert "inferless-cli.txt was compiled from other sources" in result.stderr


def test_an_edited_pin_is_caught(project: Path) -> None:
    lock = project / "requirements" / "demo.txt"
    pin = next(line for line in lock.read_text().splitlines() if line.startswith("tornado=="))
    edit(lock, pin.split()[0], "tornado==5.1.1")
    result = check(project)
    assert result.returncode == 1
    assert "demo.txt pins tornado==5.1.1, outside 'tornado>=6.4,<7'" in result.stderr
