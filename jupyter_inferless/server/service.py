"""The serving logic behind the handlers: validate, start, collect, cancel.

Refusals are the errors of ``errors.py`` (and the contract's InputError and
ModelNameError); the HTTP layer alone turns them into statuses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import tornado
import traitlets
from traitlets import Bool, Float, Instance, Int
from traitlets.config import LoggingConfigurable

from ..contract import DEFAULT_MAX_INPUT_DEPTH, MAX_INPUT_DEPTH, ModelSchema, check_model_name
from ..contract.datatypes import infer_datatype
from .decode.bodies import Body, Read
from .decode.decoding import Decoding
from .decode.json_pack import RawJSON
from .errors import Busy, InputRejected, KernelUnavailable, RunFailed
from .kernels.catalog import Catalog
from .kernels.outgoing import UNPACKABLE
from .kernels.registry import ModelEntry
from .kernels.replicas import Replicas
from .observe.metrics import Metrics
from .streams.broker import Broker
from .streams.reader import End, Events
from .streams.stream import Stream
from .tornado_direct import ON_TESTED_TORNADO, TESTED
from .turns import TurnGate

Inputs = dict[str, Any]
COLLECT_WAIT = 3600.0  # seconds a one-shot request waits between events: it sends no heartbeat


class Service(LoggingConfigurable):
    """What the HTTP handlers call; configured as ``c.Service.…``."""

    heartbeat_interval = Float(
        15.0, config=True, help="Seconds between ':' heartbeat comments on an idle stream."
    )
    retry_ms = Int(2000, config=True, help="The retry: hint (milliseconds) sent to SSE clients.")
    disconnect_grace = Float(
        30.0,
        config=True,
        help="Seconds a stream with no client is kept before its request is cancelled.",
    )
    stall_timeout = Float(
        60.0,
        min=0.001,
        config=True,
        help="Seconds a client may drain none of the events waiting for it (each write "
        "holds at most 256 KiB of them) before it is treated as gone: its connection is "
        "closed, and with no other client the request is cancelled after disconnect_grace.",
    )
    max_body_bytes = Int(
        10 * 1024 * 1024, config=True, help="Largest request body accepted, in bytes."
    )
    max_input_depth = Int(
        DEFAULT_MAX_INPUT_DEPTH,
        min=1,
        max=MAX_INPUT_DEPTH,
        config=True,
        help="How many levels an input's value may nest (lists, objects); a request nested "
        "deeper is refused with 400 before anything checks or packs it recursively.",
    )
    decode_threads = Int(2, min=1, config=True, help="Threads that read large bodies off the loop.")
    decode_inline_bytes = Int(64 * 1024, config=True, help="Largest body read on the loop.")
    decode_processes = Int(1, min=0, config=True, help="Processes reading the largest bodies.")
    decode_process_bytes = Int(2**20, config=True, help="Smallest body a process reads.")
    requests_per_turn = Int(
        16,
        config=True,
        help="Requests handled per turn of the server's loop; the others of a burst wait "
        "for the next turns, so that the events of running streams keep moving.",
    )
    direct_writes = Bool(
        True,
        config=True,
        help="Write event streams straight to the connection once the head is out, never "
        "compressed, when the installed tornado is one this version was tested with "
        "(server/tornado_direct.py); False, or another tornado, uses only tornado's public "
        "RequestHandler.write and flush.",
    )
    catalog = Instance(Catalog)
    broker = Instance(Broker)
    metrics = Instance(Metrics, args=(), help="The server's metrics, counted by the handlers.")
    session_manager = traitlets.Any(None, allow_none=True, help="The server's session manager.")

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.turns = TurnGate(self.requests_per_turn)
        bounds = (self.decode_inline_bytes, self.decode_processes, self.decode_process_bytes)
        self.decoding = Decoding(self.decode_threads, *bounds)
        if self.direct_writes and not ON_TESTED_TORNADO:
            tested = ", ".join(f"{major}.{minor}" for major, minor in sorted(TESTED))
            self.log.info(
                "tornado %s is not one the direct write path was tested with (%s): event "
                "streams use RequestHandler.write and flush",
                tornado.version,
                tested,
            )

    async def list_models(self) -> list[dict[str, Any]]:
        """Every served model: its description, replicas (kernel, notebook, device,
        counters), refused kernels, and the counters summed."""
        sessions = await self.notebook_paths()
        return [model.listing(sessions) for model in self.catalog.served().values()]

    async def notebook_paths(self) -> dict[str, str]:
        """Kernel id to the path of the notebook (session) using it."""
        if self.session_manager is None:
            return {}
        sessions = await self.session_manager.list_sessions()
        return {s["kernel"]["id"]: s.get("path") for s in sessions if s.get("kernel")}

    def model(self, name: str) -> Replicas:
        """The model called ``name`` and its replicas; ModelNameError or ModelNotFound."""
        check_model_name(name)
        return self.catalog.find(name)

    def start(self, model: Replicas, decode: Callable[[ModelSchema], Inputs | RawJSON]) -> Stream:
        """Validate inputs with the schema of ``model`` (as ``model()`` found it; InputError)
        and start the request on the least-loaded replica with room.

        Busy when every replica's queue is full; KernelUnavailable when the kernel is not
        linked; InputRejected for inputs the kernel protocol cannot carry.
        """
        name = model.name
        inputs = decode(model.schema)
        replica = model.pick()
        if replica is None:
            counts = model.counters()
            several = f" on all {len(model.replicas)} replicas" if len(model.replicas) > 1 else ""
            raise Busy(
                f"model {name!r} is busy: {counts['active']} requests running or queued"
                f"{several} (max concurrency {model.max_concurrency}, queue {model.queue_size})"
            )
        bridge = replica.bridge
        stream = self.broker.create(name, bridge, self.disconnect_grace)
        try:
            bridge.start(stream, inputs)
        except KernelUnavailable as err:
            bridge.abandon(stream, err)
            raise
        except UNPACKABLE as err:  # the protocol cannot carry them
            bridge.abandon(stream, err)
            raise InputRejected(f"the inputs cannot be sent to the kernel: {err}") from None
        return stream

    async def start_large(self, model: Replicas, body: Body) -> tuple[Stream, Read]:
        """``start`` for a large body: a decode thread or process reads it, checks its
        inputs and packs them; the loop never holds them (``decoding.py``)."""
        schema = model.schema
        read = await self.decoding.read(body, schema)

        def unchanged(current: ModelSchema) -> RawJSON:
            if current != schema:
                raise KernelUnavailable(f"model {model.name!r} changed while the request was read")
            return read.packed

        return self.start(self.model(model.name), unchanged), read

    async def collect(self, stream: Stream) -> list[dict[str, Any]]:
        """Wait for a request's end and return its outputs; an in-band error (or its events
        dropped before they were read) raises RunFailed."""
        outputs: list[dict[str, Any]] = []
        with stream.reader(0, COLLECT_WAIT) as reader:
            async for item in reader:
                if isinstance(item, Events):
                    outputs.extend(json.loads(line) for line in item.lines)
                elif isinstance(item, End) and item.error is not None:
                    raise RunFailed(item.error)
        return outputs


def v2_outputs(output: dict[str, Any]) -> list[dict[str, Any]]:
    """A model's output dict as KServe v2 output tensors."""
    tensors = []
    for key, value in output.items():
        data = value if isinstance(value, list) else [value]
        tensors.append(
            {"name": key, "datatype": infer_datatype(data), "shape": [len(data)], "data": data}
        )
    return tensors


def v2_metadata(entry: ModelEntry) -> dict[str, Any]:
    """KServe v2 model metadata."""
    return {
        "name": entry.name,
        "versions": ["1"],
        "platform": "jupyter_inferless",
        "inputs": [
            {"name": spec.name, "datatype": spec.datatype, "shape": list(spec.shape)}
            for spec in entry.schema.inputs
        ],
        "outputs": [],
        "parameters": {"streaming": entry.schema.streaming},
    }
