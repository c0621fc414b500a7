"""``jupyter inferless serve`` on the bundled demo notebook, as a user runs it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "text_generation.ipynb"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_until(process: subprocess.Popen[str], pattern: str, timeout: float) -> str:
    """Read the process's stdout until a line matches; return everything read."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return "".join(seen)
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(seen)}")


@pytest.fixture
def demo_service(tmp_path):
    command = [
        sys.executable, "-m", "jupyter_inferless.cli", "serve", str(NOTEBOOK),
        "--port", str(free_port()),
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    yield process
    if process.poll() is None:
        process.kill()
        process.wait(10)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the printed line is a curl command")
def test_the_demo_prints_a_curl_line_that_streams_tokens(demo_service):
    printed = read_until(demo_service, r"^Press Ctrl-C", timeout=120)
    assert "tiny-lm: InferlessPythonModel, streaming, on cpu" in printed
    assert "/inferless/v2/models/tiny-lm/generate_stream" in printed
    (curl,) = [line.strip() for line in printed.splitlines() if line.strip().startswith("curl -N")]
    assert "Authorization: token " in curl
    streamed = subprocess.run(
        ["bash", "-c", curl + " -s"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    tokens = re.findall(r'^data: \{"OUT":"(.*)"\}$', streamed, flags=re.MULTILINE)
    ids = re.findall(r"^id: (\d+)$", streamed, flags=re.MULTILINE)
    assert len(tokens) == 64, streamed
    assert ids == [str(i) for i in range(64)]
    demo_service.send_signal(signal.SIGINT)
    rest = demo_service.communicate(timeout=60)[0]
    assert "stopping: finalizing models" in rest
    assert demo_service.returncode == 0


def test_a_missing_path_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_inferless.cli", "serve", str(tmp_path / "nope.ipynb")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr
