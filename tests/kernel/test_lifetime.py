"""The kernel side's own lifetimes, without a kernel: the do_shutdown hook is undone
exactly, the outbox's thread lives only while there is work, a closed mailbox wakes its
reader."""

from __future__ import annotations

import threading
from typing import Any

from jupyter_inferless.kernel.mailboxes import Mailboxes
from jupyter_inferless.kernel.outbox import Outbox
from jupyter_inferless.kernel.shutdown import ShutdownHook
from jupyter_inferless.protocol import watched
from tests.support.waiting import until_sync

BIG = (1000, 1 << 20)


class Kernel:
    """A kernel class with its own do_shutdown, as ipykernel's."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def do_shutdown(self, restart: bool) -> dict[str, Any]:
        self.calls.append(f"kernel {restart}")
        return {"status": "ok", "restart": restart}


def test_the_hook_runs_first_and_remove_gives_the_class_method_back() -> None:
    kernel = Kernel()
    hook = ShutdownHook(kernel, lambda: kernel.calls.append("hook"))
    assert kernel.do_shutdown(False) == {"status": "ok", "restart": False}
    assert kernel.calls == ["hook", "kernel False"]
    hook.remove()
    assert "do_shutdown" not in vars(kernel)
    assert kernel.do_shutdown.__func__ is Kernel.do_shutdown  # type: ignore[attr-defined]
    hook.remove()  # twice is harmless
    assert "do_shutdown" not in vars(kernel)


def test_remove_puts_back_an_instance_attribute_and_leaves_a_later_wrapper() -> None:
    kernel = Kernel()

    def own(restart: bool) -> dict[str, Any]:
        kernel.calls.append("own")
        return {}

    kernel.do_shutdown = own  # type: ignore[method-assign]
    ShutdownHook(kernel, lambda: kernel.calls.append("hook")).remove()
    assert vars(kernel)["do_shutdown"] is own

    hook = ShutdownHook(kernel, lambda: kernel.calls.append("hook"))
    ours = kernel.do_shutdown

    def later(restart: bool) -> Any:
        kernel.calls.append("later")
        return ours(restart)

    kernel.do_shutdown = later  # type: ignore[method-assign]
    hook.remove()
    assert kernel.do_shutdown is later, "another's wrapper stays"
    kernel.do_shutdown(True)
    assert kernel.calls == ["later", "own"], "ours calls nothing any more"


def test_a_failing_callback_still_lets_the_kernel_shut_down() -> None:
    kernel = Kernel()
    ShutdownHook(kernel, lambda: 1 / 0)  # type: ignore[arg-type]
    assert kernel.do_shutdown(True)["status"] == "ok"


def senders() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "inferless-outbox"]


def test_the_sender_thread_starts_with_a_request_and_ends_when_all_is_acknowledged() -> None:
    sent: list[int] = []
    outbox = Outbox(lambda frame, buffers: sent.append(frame["seq"]))
    try:
        assert senders() == [], "no thread before a request"
        channel = outbox.open("a", BIG)
        assert len(senders()) == 1
        channel.event("x")  # a frame of its own, due at once
        channel.end(None)  # the next frame, from the sender thread
        until_sync(lambda: len(sent) == 2, "both frames sent")
        assert len(senders()) == 1, "frames not yet acknowledged: it stays, to resend"
        outbox.ack(sent[-1], {}, False)
        until_sync(lambda: not senders(), "the idle sender thread ending")
        again = outbox.open("b", BIG)
        assert len(senders()) == 1, "the next request starts another"
        again.end(None)
        until_sync(lambda: len(sent) == 3, "the next request's frame sent")
    finally:
        outbox.close()
        outbox.join(2.0)
    until_sync(lambda: not senders(), "the closed outbox's sender thread ending")


def test_closing_a_mailbox_wakes_its_reader() -> None:
    boxes = Mailboxes()
    box = boxes.open("v", "c1")
    got: list[Any] = []
    reader = threading.Thread(target=lambda: got.append(box.get(timeout=5)))
    reader.start()
    boxes.close("v")
    reader.join(5)
    assert got == [None]
    boxes.deliver(watched("v", "r", []))  # a late answer is dropped
    assert box.empty()
