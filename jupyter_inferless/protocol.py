"""What the kernel runtime and the server bridge agree on. No imports beyond the stdlib.

Server → kernel, as comm messages on a kernel subshell:
  comm_open  data {"protocol", "server_url"}
  {"op": "infer", "rid", "model", "inputs", "credit": [events, bytes]}
  {"op": "ack", "seq", "credit": {rid: [events, bytes]}, "resend": bool}
  {"op": "cancel", "rid"}

Kernel → server, published on IOPub under the topic ``comm-<comm id>``:
  on ANNOUNCE_COMM_ID: {"op": "announce", "runtime", "protocol"}
  {"op": "hello", "runtime", "models": [...]}, then {"op": "models", "models": [...]}
  {"op": "frame", "seq", "runs": [[rid, events, ended, error]]} with one buffer
      holding the events' JSON lines, each ended by a newline, in run order.
"""

from __future__ import annotations

PROTOCOL_VERSION = 1
TARGET_NAME = "jupyter_inferless"
ANNOUNCE_COMM_ID = "jupyter_inferless.announce"
LINK_COMM_PREFIX = "jupyter_inferless.link."
# Every comm message the kernel publishes for us starts with this ZMQ topic, so the
# server subscribes to it alone and never parses the user's other output.
TOPIC_PREFIX = b"comm-jupyter_inferless"

DEFAULT_CREDIT_EVENTS = 16_384
DEFAULT_CREDIT_BYTES = 8 * 1024 * 1024
