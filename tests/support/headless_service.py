"""``jupyter inferless serve PATH`` as a user runs it: a subprocess on a free port, with a
known token; wait until it prints that it serves, stream from it, stop it with Ctrl-C."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.sse_reader import Event, events_in


def free_port() -> int:
    """A TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class HeadlessService:
    """One ``jupyter inferless serve TARGET [ARGS]`` process, its stdout piped (what was
    read is kept in ``printed``), its stderr written to ``stderr`` or dropped."""

    def __init__(
        self, target: Path, runtime_dir: Path, *args: str, stderr: Path | None = None
    ) -> None:
        self.port = free_port()
        self.token = secrets.token_hex(16)
        command = [
            sys.executable, "-m", "jupyter_inferless.cli", "serve", str(target),
            "--port", str(self.port), "--token", self.token, *args,
        ]  # fmt: skip
        if os.geteuid() == 0:
            command.append("--allow-root")
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime_dir)}
        errors = None if stderr is None else stderr.open("w")
        self.printed: list[str] = []
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if errors is None else errors,
            text=True,
            env=env,
        )
        if errors is not None:
            errors.close()  # the process has its own copy

    def read_until(self, pattern: str, timeout: float = 120.0) -> str:
        """Read stdout until a line matches; everything read."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            seen.append(line)
            self.printed.append(line)
            if re.search(pattern, line):
                return "".join(seen)
        raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(seen)}")

    def stream(self, name: str, body: dict[str, Any]) -> list[Event]:
        """POST a model's generate_stream and read the whole stream."""
        url = f"http://127.0.0.1:{self.port}/inferless/v2/models/{name}/generate_stream"
        headers = {"Authorization": f"token {self.token}"}
        response = httpx.post(url, json=body, headers=headers, timeout=120)
        assert response.status_code == 200, response.text
        return events_in(response.content)

    def stop(self) -> int:
        """Ctrl-C (models finalize), then the exit code; killed if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.printed.append(self.process.communicate(timeout=60)[0])
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate(timeout=10)
        return self.process.returncode


@contextmanager
def headless_service(
    target: Path, runtime_dir: Path, *args: str, stderr: Path | None = None
) -> Iterator[HeadlessService]:
    """A service that serves ``target``, ready; stopped on exit."""
    service = HeadlessService(target, runtime_dir, *args, stderr=stderr)
    try:
        service.read_until(r"^Press Ctrl-C")
        yield service
    finally:
        service.stop()
