"""The protocol's version, the names both sides meet by, and the defaults they share.

Every message carries ``PROTOCOL_VERSION`` as its ``protocol``; a side refuses a message
of another version, naming both (``mismatch``). Code reads the constant from this module
when it builds or checks a message, so a kernel whose code patched it speaks that version.
"""

from __future__ import annotations

PROTOCOL_VERSION = 7
"""7: a RunError names its type, a refused watch its kind; 6: every message carries its
version; announce names the served models, and a server refuses a kernel of another version
with ``refused``; 5: what the server sends in one turn of its loop goes as one ``batch``;
4: the kernel's views stream over the link (watch, list), no token in comm_open; 3: the
server answers the models with replicas; 2: RunError {kind, ...}."""
STABLE_OPS = frozenset({"announce", "refused"})
"""Messages whose fields every version from 6 on keeps, so that two versions can still
say which models one refuses: read even when their version is another."""

TARGET_NAME = "jupyter_inferless"
ANNOUNCE_COMM_ID = "jupyter_inferless.announce"
LINK_COMM_PREFIX = "jupyter_inferless.link."
# The ZMQ topic of our comm messages: the server reads no other output of the kernel.
TOPIC_PREFIX = b"comm-jupyter_inferless"

DEFAULT_CREDIT_EVENTS = 16_384  # a request's credit: events and bytes ahead of its client
DEFAULT_CREDIT_BYTES = 8 * 1024 * 1024
# Past its credit, a request's events wait in the kernel, up to these bytes per request and
# for every request of a link (kernel/intake.py).
DEFAULT_REQUEST_BACKLOG_BYTES = 8 * 1024 * 1024
DEFAULT_BACKLOG_BYTES = 128 * 1024 * 1024


def mismatch(kernel: int, server: int) -> str:
    """Why a kernel and a server of two protocol versions do not link: the same text on
    both sides (the server lists it, the kernel's serve raises it)."""
    return (
        f"the kernel's jupyter_inferless speaks protocol {kernel}, the server's speaks "
        f"protocol {server}: install the same jupyter_inferless version in both"
    )
