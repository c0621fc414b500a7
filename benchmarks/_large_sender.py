"""The helper process of ``large_requests.py``: it posts 10 MiB v2 infer requests to the
``big`` model one after the other, binary (Triton's binary tensor extension) or JSON, so
that building and sending them costs the client that reads the stream nothing.

    python benchmarks/_large_sender.py '{"port": P, "headers": {...}, "size": BYTES}'

It says ``{"ready": true}``, then for each ``KIND SECONDS`` line on its stdin posts that
kind for that long and answers with a JSON line: each request's duration, and the failed
ones (a status other than 200, or an answer whose count or sum is not what was sent).
"""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from _servers import ServerStartError

HEADER_LENGTH = "Inference-Header-Content-Length"


def large_bodies(size: int) -> dict[str, tuple[bytes, dict[str, str], int, int]]:
    """Per kind: the body, its headers, and the count and sum of the INT8 values it sends;
    each body at most ``size`` bytes."""
    rng = random.Random(7)
    head = {"inputs": [{"name": "x", "datatype": "INT8", "shape": [0]}]}
    header_room = len(json.dumps(head)) + 64
    raw = rng.randbytes(size - header_room)
    values = [b - 256 if b > 127 else b for b in raw]
    tensor: dict[str, Any] = {"name": "x", "datatype": "INT8", "shape": [len(raw)]}
    tensor["parameters"] = {"binary_data_size": len(raw)}
    header = json.dumps({"inputs": [tensor]}).encode()
    binary = (header + raw, {HEADER_LENGTH: str(len(header))}, len(values), sum(values))
    count = len(values)
    while True:  # as many values as fit in a JSON body of ``size`` bytes
        data = values[:count]
        tensor = {"name": "x", "datatype": "INT8", "shape": [count], "data": data}
        body = json.dumps({"inputs": [tensor]}).encode()
        if len(body) <= size:
            break
        count = int(count * size / len(body) * 0.999)
    plain = {"Content-Type": "application/json"}
    return {"binary": binary, "json": (body, plain, count, sum(data))}


def main(spec: dict[str, Any]) -> int:
    """The helper: build the bodies, say ready; then for each ``KIND SECONDS`` line post
    that kind back to back for that long, and answer with a JSON line of what happened."""
    bodies = large_bodies(spec["size"])
    url = f"http://127.0.0.1:{spec['port']}/inferless/v2/models/big/infer"
    print(json.dumps({"ready": True}), flush=True)
    with httpx.Client(headers=spec["headers"], trust_env=False, timeout=120) as http:
        for line in sys.stdin:
            kind, seconds = line.split()
            body, headers, count, total = bodies[kind]
            durations: list[float] = []
            failed: list[str] = []
            end = time.monotonic() + float(seconds)
            while time.monotonic() < end:
                started = time.monotonic()
                reply = http.post(url, content=body, headers=headers)
                durations.append(time.monotonic() - started)
                outputs = {}
                if reply.status_code == 200:
                    outputs = {o["name"]: o["data"] for o in reply.json()["outputs"]}
                if outputs != {"n": [count], "sum": [total]}:
                    failed.append(f"{reply.status_code}: {reply.text[:200]}")
            answer = {"durations": durations, "failed": failed, "bytes": len(body)}
            print(json.dumps(answer), flush=True)
    return 0


class Sender:
    """The helper process, started from the benchmark."""

    def __init__(self, port: int, headers: dict[str, str], size: int, log: Path) -> None:
        spec = {"port": port, "headers": headers, "size": size}
        argv = [sys.executable, __file__, json.dumps(spec)]
        with log.open("ab") as err:
            pipe = subprocess.PIPE
            self.proc = subprocess.Popen(argv, stdin=pipe, stdout=pipe, stderr=err, text=True)
        self.answer()

    def start(self, kind: str, seconds: float) -> None:
        """Post ``kind`` requests back to back for ``seconds``."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{kind} {seconds:.3f}\n")
        self.proc.stdin.flush()

    def answer(self) -> dict[str, Any]:
        """The helper's next line (blocks until its run ends)."""
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise ServerStartError(f"the sender process exited (code {self.proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def close(self) -> None:
        """Stop the helper."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)
        if self.proc.poll() is None:
            self.proc.kill()


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
