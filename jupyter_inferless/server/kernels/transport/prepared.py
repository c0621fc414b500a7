"""A comm message on the serving comm made ready to send by a thread, for a large request.

A request with large inputs goes to the kernel as one comm message whose inputs are a
``json_pack.RawJSON``. Making its wire form takes longer than the server's loop may stop:
the JSON with the inputs put in place, then, over ZMQ, the signature over all of it (40 ms
for 46 MB here; hashlib lets go of the GIL while it hashes). So a decode thread makes it
(``zmq_frames``, ``ws_v1``) and the transport sends it from the loop. The header gets a
random id: the session's message counter is not the thread's to bump.
"""

from __future__ import annotations

import uuid
from typing import Any

from jupyter_client.session import DELIM, Session, msg_header

from ...decode import json_pack

Part = bytes | bytearray


def comm_msg_parts(
    session: Session, comm_id: str | None, subshell_id: str | None, data: Any
) -> list[Part]:
    """The packed header, parent header, metadata and content of a ``comm_msg`` carrying
    ``data`` (with its RawJSON in place); ConnectionError when the comm is closed."""
    if comm_id is None:
        raise ConnectionError("the serving comm is closed")
    header = msg_header(uuid.uuid4().hex, "comm_msg", session.username, session.session)
    if subshell_id is not None:
        header["subshell_id"] = subshell_id
    msg = session.msg("comm_msg", {}, header=header)
    content = json_pack.message({"comm_id": comm_id, "data": data})
    return [session.pack(msg["header"]), session.pack({}), session.pack(msg["metadata"]), content]


def zmq_frames(session: Session, parts: list[Part]) -> list[Part]:
    """The frames of the message on a ZMQ channel: delimiter, signature, parts."""
    return [DELIM, session.sign(parts), *parts]


def ws_v1(channel: str, parts: list[Part]) -> bytearray:
    """The message as one binary websocket message of the ``v1.kernel.websocket.jupyter.org``
    subprotocol: the offsets (little-endian, 8 bytes each), the channel, the parts."""
    name = channel.encode()
    offsets = [8 * (len(parts) + 3)]
    offsets.append(offsets[-1] + len(name))
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    head = b"".join(n.to_bytes(8, "little") for n in [len(offsets), *offsets]) + name
    out = bytearray(offsets[-1])
    out[: len(head)] = head
    position = len(head)
    for part in parts:
        out[position : position + len(part)] = part
        position += len(part)
    return out
