"""Check that the lock files in requirements/ match what they were compiled from.

Usage: python scripts/check_lock.py [--stamp]

Each lock (``requirements/NAME.txt``, written by ``scripts/lock.sh``) records a fingerprint
of its sources: pyproject.toml's dependency tables for the project's locks, the ``.in``
file for a side venv's. The check fails, naming the lock and what disagrees, when a
fingerprint is stale (a dependency was added, removed or changed since the lock was
compiled) or when a requirement is not pinned at a version it allows. ``--stamp`` writes
the fingerprints (``scripts/lock.sh`` calls it after compiling).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
STAMP = "# sources-sha256: "
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", re.M)
REFRESH = "run `bash scripts/lock.sh` and commit requirements/"


@dataclass(frozen=True)
class Lock:
    """One lock file and what it is compiled from."""

    name: str
    extras: tuple[str, ...] | None = None  # the project's extras; None: a side venv's .in

    @property
    def path(self) -> Path:
        return ROOT / "requirements" / f"{self.name}.txt"

    def sources(self) -> tuple[str, list[str]]:
        """The canonical text the fingerprint is taken of, and the direct requirements."""
        if self.extras is None:
            source = ROOT / "requirements" / f"{self.name}.in"
            lines = [line.split("#")[0].strip() for line in source.read_text().splitlines()]
            requirements = [line for line in lines if line]
            return "\n".join(requirements), requirements
        project = tomllib.loads(PYPROJECT.read_text())
        optional: dict[str, list[str]] = project["project"].get("optional-dependencies", {})
        extras = sorted(optional) if self.extras == ("*",) else list(self.extras)
        hook = project["tool"]["hatch"]["build"]["hooks"]["jupyter-builder"]
        build = project["build-system"]["requires"] + hook.get("dependencies", [])
        requirements = list(project["project"]["dependencies"]) + build
        for extra in extras:
            requirements += optional[extra]
        canonical = {
            "requires-python": project["project"].get("requires-python"),
            "dependencies": project["project"]["dependencies"],
            "extras": {extra: optional[extra] for extra in extras},
            "build": build,
        }
        return json.dumps(canonical, sort_keys=True), requirements


LOCKS = (
    Lock("test", ("*",)),  # scripts/test.sh: every extra
    Lock("demo", ("torch",)),  # scripts/demo.sh
    Lock("inferless-cli"),
    Lock("enterprise-gateway"),
    Lock("litserve"),
)


def fingerprint(lock: Lock) -> str:
    """The sha256 of the lock's sources."""
    return hashlib.sha256(lock.sources()[0].encode()).hexdigest()


def problems(lock: Lock) -> list[str]:
    """What disagrees between ``lock`` and its sources; empty when they match."""
    if not lock.path.exists():
        return [f"{lock.path.name} is missing: {REFRESH}"]
    text = lock.path.read_text()
    found: list[str] = []
    stamped = next((line for line in text.splitlines() if line.startswith(STAMP)), None)
    if stamped is None or stamped.removeprefix(STAMP).strip() != fingerprint(lock):
        found.append(f"{lock.path.name} was compiled from other sources than today's: {REFRESH}")
    pins = {canonicalize_name(name): Version(version) for name, version in PIN.findall(text)}
    for line in lock.sources()[1]:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            found.append(f"{lock.path.name} pins no {requirement.name} ({line}): {REFRESH}")
        elif not requirement.specifier.contains(pinned, prereleases=True):
            found.append(
                f"{lock.path.name} pins {requirement.name}=={pinned}, outside {line!r}: {REFRESH}"
            )
    return found


def stamp(lock: Lock) -> None:
    """Write the lock's fingerprint as its first line (replacing an older one)."""
    lines = [line for line in lock.path.read_text().splitlines() if not line.startswith(STAMP)]
    lock.path.write_text("\n".join([STAMP + fingerprint(lock), *lines]) + "\n")


def main(argv: list[str]) -> int:
    if argv == ["--stamp"]:
        for lock in LOCKS:
            stamp(lock)
    elif argv:
        print(__doc__, file=sys.stderr)
        return 2
    found = [problem for lock in LOCKS for problem in problems(lock)]
    for problem in found:
        print(f"lock check: {problem}", file=sys.stderr)
    if not found:
        print(f"lock check: {len(LOCKS)} lock files match pyproject.toml and requirements/*.in")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
