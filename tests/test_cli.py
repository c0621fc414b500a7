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

import nbformat
import pytest

from jupyter_inferless.cli import kernel_sockets_dir
from tests.support.headless_service import HeadlessService
from tests.support.models import COUNTER, counter_outputs
from tests.support.sse_reader import events_in

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "text_generation.ipynb"
SHOUTER = ROOT / "notebooks" / "shouter"  # a model directory: app.py, input_schema.py, config


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


def start_service(target: Path, tmp_path: Path) -> subprocess.Popen[str]:
    """``jupyter inferless serve TARGET`` on a free port, its stdout piped."""
    command = [
        sys.executable, "-m", "jupyter_inferless.cli", "serve", str(target),
        "--port", str(free_port()),
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )


def stop(process: subprocess.Popen[str]) -> None:
    """Kill the service if a test left it running."""
    if process.poll() is None:
        process.kill()
        process.wait(10)


def run_curl_line(printed: str) -> str:
    """Run the printed curl command; return what it streamed."""
    (curl,) = [line.strip() for line in printed.splitlines() if line.strip().startswith("curl -N")]
    assert "Authorization: token " in curl
    return subprocess.run(
        ["bash", "-c", curl + " -s"], capture_output=True, text=True, timeout=60, check=True
    ).stdout


@pytest.fixture
def demo_service(tmp_path):
    process = start_service(NOTEBOOK, tmp_path)
    yield process
    stop(process)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the printed line is a curl command")
def test_the_demo_prints_a_curl_line_that_streams_tokens(demo_service):
    printed = read_until(demo_service, r"^Press Ctrl-C", timeout=120)
    assert "tiny-lm: InferlessPythonModel, streaming, on cpu" in printed
    assert "/inferless/v2/models/tiny-lm/generate_stream" in printed
    streamed = run_curl_line(printed)
    events = events_in(streamed.encode())
    assert len(events) == 64 and all(set(event.json) == {"OUT"} for event in events), streamed
    assert [event.position for event in events] == list(range(64))
    assert len({str(event.id).rpartition(":")[0] for event in events}) == 1
    demo_service.send_signal(signal.SIGINT)
    rest = demo_service.communicate(timeout=60)[0]
    assert "stopping: finalizing models" in rest
    assert demo_service.returncode == 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="the printed line is a curl command")
def test_serving_a_model_directorys_app_py_serves_its_folder(tmp_path):
    """``serve DIR/app.py`` serves the directory, named after the folder, as ``serve DIR``."""
    folder = tmp_path / "my-shouter"
    shutil.copytree(SHOUTER, folder)
    process = start_service(folder / "app.py", tmp_path)
    try:
        printed = read_until(process, r"^Press Ctrl-C", timeout=120)
        assert "my-shouter: InferlessPythonModel, streaming, on cpu" in printed
        assert "/inferless/v2/models/my-shouter/generate_stream" in printed
        streamed = run_curl_line(printed)
        words = [event.json["generated_text"] for event in events_in(streamed.encode())]
        assert words == ["THERE ", "IS ", "A ", "FINE ", "HOUSE ", "IN ", "THE ", "FOREST "]
        process.send_signal(signal.SIGINT)
        assert "stopping: finalizing models" in process.communicate(timeout=60)[0]
        assert process.returncode == 0
    finally:
        stop(process)


SHOW_CONNECTION = """
from ipykernel.connect import get_connection_info
info = get_connection_info(unpack=True)
print("kernel transport:", info["transport"], info["ip"])
"""


def write_notebook(path: Path, *cells: str) -> Path:
    """A notebook of these code cells."""
    code = [nbformat.v4.new_code_cell(cell) for cell in cells]
    nbformat.write(nbformat.v4.new_notebook(cells=code), path)
    return path


def test_the_kernel_is_reached_over_ipc_in_a_private_directory_and_warns_nothing(tmp_path):
    """On Linux the kernel listens on IPC sockets in a private directory, removed on exit:
    ipykernel has no unencrypted TCP to warn about. Elsewhere it listens on 127.0.0.1."""
    notebook = write_notebook(tmp_path / "counted.ipynb", SHOW_CONNECTION, COUNTER.serve("counted"))
    stderr = tmp_path / "stderr.log"
    service = HeadlessService(notebook, tmp_path / "runtime", stderr=stderr)
    try:
        printed = service.read_until(r"^Press Ctrl-C")
        events = service.stream("counted", {"n": 3})
        assert [event.json for event in events] == counter_outputs(3)
        found = re.search(r"^kernel transport: (\S+) (\S+)$", printed, re.MULTILINE)
        assert found, printed
        transport, where = found.groups()
        sockets = Path(where).parent
        if sys.platform.startswith("linux"):
            assert transport == "ipc"
            assert sockets.is_dir() and sockets.stat().st_mode & 0o077 == 0, "private to us"
            assert sorted(sockets.glob(f"{Path(where).name}-*")), "the kernel's sockets"
        else:
            assert (transport, where) == ("tcp", "127.0.0.1")
    finally:
        code = service.stop()
    assert code == 0
    if transport == "ipc":
        assert not sockets.exists(), "the sockets' directory is removed on exit"
    for output in ("".join(service.printed), stderr.read_text()):
        assert "WARNING" not in output and "without encryption" not in output, output


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="IPC sockets on Linux only")
def test_the_sockets_directory_is_private_removed_on_exit_and_not_too_long(tmp_path):
    with kernel_sockets_dir() as sockets:
        assert sockets is not None
        assert os.stat(sockets).st_mode & 0o077 == 0
    assert not os.path.exists(sockets)
    deep = tmp_path / ("d" * 60)  # a socket's path there would not fit in 107 bytes
    deep.mkdir()
    with kernel_sockets_dir(str(deep)) as too_long:
        assert too_long is None, "the kernel then listens on 127.0.0.1 instead"


def test_a_notebook_that_fails_exits_1_naming_the_cell(tmp_path):
    notebook = write_notebook(tmp_path / "broken.ipynb", "x = 1", "raise ValueError('no model')")
    command = [
        sys.executable, "-m", "jupyter_inferless.cli", "serve", str(notebook),
        "--port", str(free_port()),
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1, result.stderr
    assert "error: cell 2 of 2 failed" in result.stderr
    assert "no model" in result.stderr


def test_a_missing_path_is_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_inferless.cli", "serve", str(tmp_path / "nope.ipynb")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr
