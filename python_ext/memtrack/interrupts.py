"""Ctrl-C that lands inside memtrack's own code where it cannot be raised, delivered again to the
user's code a few milliseconds later.

A gc callback's exceptions are swallowed by the collector, and one raised from a ``pre_run_cell``
hook is printed by IPython while the cell runs on: either way the user's Ctrl-C would be lost.
Calling ``_thread.interrupt_main()`` right there would only raise it in memtrack's code again
(and starting a thread from a gc callback waits for it), so an idle thread, started ahead of time,
does it. Pure: no IPython import.
"""

from __future__ import annotations

import _thread
import threading
import time

REDELIVER_S = 0.005  # a caught Ctrl-C is raised again this much later

_pending = threading.Event()  # a Ctrl-C was caught and waits to be delivered again
_thread_lock = threading.Lock()
_redelivery: threading.Thread | None = None


def _redeliver_forever() -> None:
    while True:
        _pending.wait()
        _pending.clear()
        time.sleep(REDELIVER_S)
        _thread.interrupt_main()


def start_redelivery() -> None:
    """Start the idle redelivery thread (once; never from inside a gc callback)."""
    global _redelivery
    with _thread_lock:
        if _redelivery is None or not _redelivery.is_alive():
            _redelivery = threading.Thread(
                target=_redeliver_forever, name="memtrack-interrupts", daemon=True
            )
            _redelivery.start()


def redeliver() -> None:
    """Raise the Ctrl-C just caught again in the main thread, ~5 ms from now (needs
    :func:`start_redelivery` first; safe inside a gc callback: it only sets an event)."""
    _pending.set()
