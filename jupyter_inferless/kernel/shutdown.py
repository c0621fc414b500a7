"""The kernel runtime's hook into a graceful kernel shutdown or restart, undone on close.

A shutdown or restart request must cancel running requests and run every model's
``finalize()`` before the interpreter starts to exit, and no public hook runs then:

- ``atexit`` runs after the interpreter has joined its non-daemon threads, the model's
  worker threads among them (``concurrent.futures`` joins them before ``atexit``): a
  request still running (a model waiting for its client's credit) would keep the kernel
  from exiting, and ``finalize()`` would come last if at all;
- IPython's events (``pre_execute``, ``post_execute``, ``pre_run_cell``,
  ``post_run_cell``, ``shell_initialized``) have no shutdown event, and its hooks no
  shutdown hook any more (the old one was called from ``atexit`` anyway);
- ipykernel calls nothing else between the ``shutdown_request`` and stopping its loops:
  ``do_shutdown`` is the one place it offers, to kernel subclasses.

We do not own the kernel's class, so :class:`ShutdownHook` wraps ``do_shutdown`` on the
kernel instance, and ``remove`` restores exactly what was there (``%unload_ext`` and the
runtime's close call it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("jupyter_inferless.kernel")
NAME = "do_shutdown"


class ShutdownHook:
    """Calls ``callback`` when ``kernel.do_shutdown`` runs, before the kernel's own."""

    def __init__(self, kernel: Any, callback: Callable[[], None]) -> None:
        self.kernel = kernel
        self._callback: Callable[[], None] | None = callback
        attributes = vars(kernel)
        self._had_own = NAME in attributes  # someone's instance attribute, to put back
        self._saved = attributes.get(NAME)
        original = getattr(kernel, NAME)

        def do_shutdown(restart: bool) -> Any:
            callback = self._callback
            if callback is not None:
                try:
                    callback()
                except Exception:  # the kernel must still shut down
                    log.exception("stopping the models at kernel shutdown failed")
            return original(restart)

        self._wrapper = do_shutdown
        setattr(kernel, NAME, do_shutdown)

    @property
    def installed(self) -> bool:
        """Whether the kernel's ``do_shutdown`` is still this hook's."""
        return vars(self.kernel).get(NAME) is self._wrapper

    def remove(self) -> None:
        """Restore the kernel's ``do_shutdown`` as it was before the hook.

        When something wrapped it again after us, ours stays in that chain but calls
        nothing any more.
        """
        self._callback = None
        if not self.installed:
            return
        if self._had_own:
            setattr(self.kernel, NAME, self._saved)
        else:
            delattr(self.kernel, NAME)  # the class's method shows through again
