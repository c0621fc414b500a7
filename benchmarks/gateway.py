"""Remote vs local kernel: the same model through a Kernel Gateway and in a local kernel.

Two Jupyter servers with the extension run on 127.0.0.1 in one run: one with a local
kernel, one in gateway mode (``--GatewayClient.url``) whose kernel runs on a Kernel
Gateway subprocess. Both serve tests/support/models.py's Counter; one client measures events/s
and the time to first event of each, interleaved. Afterwards the logs are searched for
IOPub rate-limit drops (the gateway's "iopub messages resumed") and for frames the server
had to ask again.

    python benchmarks/gateway.py [--smoke] [--events N] [--runs R] [--ttfe-runs T]

Exit code: 0 when every stream was complete (whether or not the targets were met), 1 when
a stream was incomplete or wrong, or a server failed to start.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

from _cli import Size, parse_sizes, run_measured, size_parser
from _client_bench import StreamError
from _servers import JupyterInferless, ServerStartError, describe, launch
from _shared import CellError
from sse_throughput import Results, measure

from tests.support.kernels import Cell
from tests.support.remote_kernels import ChannelsClient, Gateway, running_gateway

TARGET_RATE = 0.5  # gateway events/s at least this times local
TARGET_TTFE_MS = 20.0  # gateway first event at most this much slower than local
SIZES = [
    Size("--events", int, "events per stream", smoke=2000, full=20000),
    Size("--runs", int, "measured runs per server", smoke=1, full=5),
    Size("--ttfe-runs", int, "N=1 streams per server", smoke=5, full=20),
]


class GatewayInferless(JupyterInferless):
    """The extension's server in gateway mode: its kernel runs on ``gateway``."""

    name = "gateway kernel"

    def __init__(self, workdir: Path, gateway: Gateway) -> None:
        (workdir / "remote").mkdir()
        super().__init__(workdir / "remote")
        self.gateway = gateway

    def argv(self) -> list[str]:
        """The local server's command line, pointed at the gateway."""
        return [
            *super().argv(),
            f"--GatewayClient.url={self.gateway.url}",
            f"--GatewayClient.auth_token={self.gateway.token}",
        ]

    def run_code(self, code: str) -> str:
        """Run ``code`` in the remote kernel, over the gateway's kernel websocket."""
        assert self.kernel_id is not None
        client = ChannelsClient(self.gateway.channels_url(self.kernel_id), self.gateway.auth)
        cell = Cell(code)

        async def run() -> dict[str, object]:
            try:
                return await client.execute_interactive(cell.code, cell.hook, timeout=60)
            finally:
                client.stop_channels()

        try:
            return cell.output(asyncio.run(run()), allow_error=False)
        except CellError as err:
            raise ServerStartError(f"{self.name}: kernel code failed: {err}") from None

    def remember_children(self) -> None:
        """The kernel is the gateway's child, not ours."""


class LocalInferless(JupyterInferless):
    """The extension's server with a local kernel."""

    name = "local kernel"

    def __init__(self, workdir: Path) -> None:
        (workdir / "local").mkdir()
        super().__init__(workdir / "local")


def _count(path: Path, text: str) -> int:
    return path.read_text(errors="replace").count(text) if path.exists() else 0


def print_verdict(results: dict[str, Results], drops: int, resends: int) -> None:
    """The table, the ratio lines and PASS or FAIL."""
    local, remote = results[LocalInferless.name], results[GatewayInferless.name]
    print(f"\n{'kernel':<16} {'events/s':>10}   {'first event N=1':>15}")
    for name, res in results.items():
        ttfe = statistics.median(res.small_ttfe) * 1e3
        print(f"{name:<16} {res.median_rate():>10,.0f}   {ttfe:>12.2f} ms")
    rate = remote.median_rate() / local.median_rate()
    ttfe = (remote.median_small_ttfe() - local.median_small_ttfe()) * 1e3
    checks = [
        (f"events/s  gateway / local = {rate:.2f}x (target >= {TARGET_RATE:.2f}x)",
         rate >= TARGET_RATE),
        (f"first event  gateway - local = {ttfe:+.1f} ms (target <= {TARGET_TTFE_MS:.0f} ms)",
         ttfe <= TARGET_TTFE_MS),
        (f"IOPub rate-limit drops on the gateway: {drops} (target 0)", drops == 0),
        (f"frames the server asked again (gateway): {resends}", True),
    ]  # fmt: skip
    print()
    for line, _ in checks:
        print(line)
    missed = [line.split(" (")[0] for line, ok in checks if not ok]
    print("PASS" if not missed else f"FAIL: {', '.join(missed)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the process exit code."""
    parser = size_parser(__doc__, "1 run of N=2000, 5 TTFE runs", SIZES)
    args = parse_sizes(parser, SIZES, argv)
    print(
        f"gateway benchmark: {args.events} events/stream, {args.runs} runs/kernel, "
        f"TTFE from {args.ttfe_runs} streams of 1 event",
        flush=True,
    )

    def run(workdir: Path, stack: contextlib.ExitStack) -> tuple[dict[str, Results], int, int]:
        gateway = stack.enter_context(running_gateway(workdir / "gateway"))
        remote = launch(GatewayInferless(workdir, gateway), stack)
        local = launch(LocalInferless(workdir), stack)
        for server in (local, remote):
            server.wait_ready()
            print(f"ready: {describe(server)}", flush=True)
        results = asyncio.run(measure([local, remote], args.events, args.runs, args.ttfe_runs))
        drops = _count(gateway.log, "iopub messages resumed")
        resends = _count(remote.log_path, "asking for a resend")
        return results, drops, resends

    results, drops, resends = run_measured("gateway-bench-", (ServerStartError, StreamError), run)
    print_verdict(results, drops, resends)
    return 0


if __name__ == "__main__":
    sys.exit(main())
