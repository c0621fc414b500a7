"""Serve a notebook with ``jupyter inferless serve`` from a venv, stream one request, stop.

Usage: python scripts/check_serve.py VENV NOTEBOOK

What a user of an installed wheel does: the venv's ``jupyter inferless serve NOTEBOOK`` on a
free loopback port prints its endpoints with a ready-made curl line; the request that line
makes must stream events and end, Ctrl-C must stop the service, and nothing the service
printed may be a warning (ipykernel's "running over TCP without encryption" among them).
Only the standard library: it runs from any Python.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

READY = re.compile(r"jupyter_inferless: serving \d+ model")
WARNING = re.compile(r"warn|without encryption|traceback", re.IGNORECASE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def curl_request(output: str) -> urllib.request.Request:
    """The request of the last ``curl -N`` line the service printed (its endpoints' list,
    after whatever the notebook's own cells printed)."""
    lines = [line for line in output.splitlines() if line.strip().startswith("curl -N ")]
    line = lines[-1]
    words = shlex.split(line)
    headers = dict(words[i + 1].split(": ", 1) for i, w in enumerate(words) if w == "-H")
    body = words[words.index("-d") + 1].encode()
    return urllib.request.Request(words[-1], data=body, headers=headers, method="POST")


def main(venv: Path, notebook: Path) -> int:
    port, token = free_port(), secrets.token_hex(16)
    command = [
        str(venv / "bin" / "jupyter"), "inferless", "serve", str(notebook),
        "--port", str(port), "--token", token,
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    service = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=notebook.parent
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert service.stdout is not None
        for line in service.stdout:
            lines.append(line)
            if READY.search(line):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180
        while not ready.is_set() and service.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # the rest of what it prints once ready
        if not ready.is_set():
            print("".join(lines), file=sys.stderr)
            print(f"check-serve: {notebook.name} did not start serving", file=sys.stderr)
            return 1
        request = curl_request("".join(lines))
        with urllib.request.urlopen(request, timeout=120) as response:
            body = response.read().decode()
        events = [line for line in body.splitlines() if line.startswith("data: ")]
        if not events or any('"error"' in event for event in events):
            print(body, file=sys.stderr)
            print(f"check-serve: {notebook.name}: the stream did not deliver", file=sys.stderr)
            return 1
    finally:
        service.send_signal(signal.SIGINT)
        try:
            service.wait(timeout=60)
        except subprocess.TimeoutExpired:
            service.kill()
        reader.join(timeout=10)
    output = "".join(lines)
    warnings = [line for line in output.splitlines() if WARNING.search(line)]
    if warnings:
        print(output, file=sys.stderr)
        print(f"check-serve: {notebook.name} printed warnings: {warnings}", file=sys.stderr)
        return 1
    print(f"check-serve: {notebook.name} streamed {len(events)} events; no warning printed")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()))
