"""One decode per direction: a received message checked once, where it arrives.

``decode_from_kernel`` (on the server) and ``decode_from_server`` and ``decode_open`` (in
the kernel) return the typed message, or raise ``ProtocolError`` naming the message's
op and the field that is missing or wrong, or the op nobody knows. A message of another
protocol version raises ``VersionMismatch``, naming both versions before anything else is
read; of ``announce`` and ``refused`` (``STABLE_OPS``) it carries what every version
keeps, so that the server can list a refused kernel's models and the kernel can say why.
"""

from __future__ import annotations

import contextlib
import typing
from typing import Any, cast

from . import checks, constants, kernel_messages, server_messages
from .checks import Invalid, check_of, json_name
from .kernel_messages import AnnounceMessage, KernelMessage
from .server_messages import CommMessage, OpenData, RefusedMessage, ServerMessage


def _messages(module: Any) -> tuple[Any, ...]:
    """The message TypedDicts a module defines: its public classes with an ``op`` key."""
    return tuple(
        value
        for name, value in vars(module).items()
        if isinstance(value, type)
        and not name.startswith("_")
        and "op" in getattr(value, "__annotations__", {})
    )


FROM_KERNEL = _messages(kernel_messages)  # every message the kernel sends
FROM_SERVER = _messages(server_messages)  # every message the server sends


def op_of(message: Any) -> str:
    """The op a message TypedDict is tagged with."""
    return str(typing.get_args(typing.get_type_hints(message)["op"])[0])


class ProtocolError(ValueError):
    """A message from ``side`` ("kernel" or "server") that this side refuses."""

    def __init__(self, side: str, op: str | None, field: str | None, problem: str) -> None:
        what = f"{op!r} message" if op else "message"
        where = f"field {field!r} " if field else ""
        super().__init__(f"bad {what} from the {side}: {where}{problem}")
        self.side, self.op, self.field = side, op, field


class VersionMismatch(ProtocolError):
    """A message of another protocol version: its text names both (``constants.mismatch``).
    An ``announce`` or a ``refused`` message is read all the same (``STABLE_OPS``)."""

    def __init__(
        self, side: str, op: str | None, theirs: int, stable: dict[str, Any] | None = None
    ) -> None:
        ours = constants.PROTOCOL_VERSION
        kernel, server = (theirs, ours) if side == "kernel" else (ours, theirs)
        super().__init__(side, op, "protocol", f"protocol {theirs}, not {ours}")
        self.args = (constants.mismatch(kernel, server),)
        self.theirs, self.ours = theirs, ours
        self.announced = cast(AnnounceMessage | None, stable if op == "announce" else None)
        self.refused = cast(RefusedMessage | None, stable if op == "refused" else None)


class Complaints:
    """The ways messages were refused, so that each is logged once (the first ``limit``)."""

    def __init__(self, limit: int = 64) -> None:
        self._seen: set[tuple[str, str | None, str | None]] = set()
        self._limit = limit

    def first(self, err: ProtocolError) -> bool:
        """Whether ``err`` is the first of its kind (its class, op and field)."""
        key = (type(err).__name__, err.op, err.field)
        if key in self._seen or len(self._seen) >= self._limit:
            return False
        self._seen.add(key)
        return True


def _tags(messages: tuple[Any, ...]) -> dict[str, checks.Check]:
    return {op_of(message): check_of(message) for message in messages}


_FROM_KERNEL = _tags(FROM_KERNEL)
_FROM_SERVER = _tags(FROM_SERVER)
_IN_BATCH = {op: check for op, check in _FROM_SERVER.items() if op != "batch"}


def _batched(value: Any, field: str) -> Any:
    """One message of a batch: a server message (not a batch) of the batch's version."""
    if not isinstance(value, dict):
        raise Invalid(field, f"must be an object, not {json_name(value)}")
    op = value.get("op")
    check = _IN_BATCH.get(op) if isinstance(op, str) else None
    if check is None:
        raise Invalid(f"{field}.op", f"must be one of {sorted(_IN_BATCH)}, not {op!r}")
    if value.get("protocol") != constants.PROTOCOL_VERSION:
        raise Invalid(f"{field}.protocol", f"must be the batch's {constants.PROTOCOL_VERSION}")
    return check(value, field)


checks.define(ServerMessage, _batched)


def _decode(data: Any, side: str, tags: dict[str, checks.Check]) -> Any:
    if not isinstance(data, dict):
        raise ProtocolError(side, None, None, f"must be an object, not {json_name(data)}")
    op = data.get("op")
    name = op if isinstance(op, str) else None
    version = data.get("protocol")
    if "protocol" not in data or not isinstance(version, int) or isinstance(version, bool):
        problem = "is missing" if "protocol" not in data else "must be an integer"
        raise ProtocolError(side, name, "protocol", problem)
    check = tags.get(name) if name is not None else None
    if version != constants.PROTOCOL_VERSION:
        stable = None
        if check is not None and name in constants.STABLE_OPS:
            with contextlib.suppress(Invalid):  # unread: no models to list as refused
                stable = check(data, "")
        raise VersionMismatch(side, name, version, stable)
    if check is None:
        raise ProtocolError(side, name, "op", f"must be one of {sorted(tags)}, not {op!r}")
    try:
        return check(data, "")
    except Invalid as err:
        raise ProtocolError(side, name, err.field, err.problem) from None


def decode_from_kernel(data: Any) -> KernelMessage:
    """A message the kernel sent, checked; ProtocolError (VersionMismatch) otherwise."""
    return cast(KernelMessage, _decode(data, "kernel", _FROM_KERNEL))


def decode_from_server(data: Any) -> CommMessage:
    """A comm message the server sent (maybe a batch), checked; ProtocolError otherwise."""
    return cast(CommMessage, _decode(data, "server", _FROM_SERVER))


_OPEN = check_of(OpenData)


def decode_open(data: Any) -> OpenData:
    """The server's comm_open data, checked; ProtocolError (VersionMismatch) otherwise."""
    version = data.get("protocol") if isinstance(data, dict) else None
    if isinstance(version, int) and version != constants.PROTOCOL_VERSION:
        raise VersionMismatch("server", "comm_open", version)
    try:
        return cast(OpenData, _OPEN(data, ""))
    except Invalid as err:
        raise ProtocolError("server", "comm_open", err.field, err.problem) from None


def comm_data(msg: Any) -> Any:
    """The data of a Jupyter comm message (``content.data``), as the kernel receives it."""
    content = msg.get("content") if isinstance(msg, dict) else None
    if not isinstance(content, dict) or "data" not in content:
        raise ProtocolError("server", None, "content.data", "is missing")
    return content["data"]
