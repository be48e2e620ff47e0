"""Ctrl-C that lands inside memtrack's own code where it cannot be raised, delivered again to the
user's code a few milliseconds later.

A gc callback's exceptions are swallowed by the collector, and one raised from a ``pre_run_cell``
hook is printed by IPython while the cell runs on: either way the user's Ctrl-C would be lost.
Raising it right there would only raise it in memtrack's code again (and starting a thread from a
gc callback waits for it), so an idle thread, started ahead of time, sends the main thread a real
SIGINT: unlike ``_thread.interrupt_main()``, a signal also cuts a blocking call short (a
``time.sleep``, a wait on a lock), as the user's own Ctrl-C would. Pure: no IPython import.
"""

from __future__ import annotations

import _thread
import signal
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
        _interrupt_main()


def _interrupt_main() -> None:
    main = threading.main_thread().ident
    # Only to a Python handler: with SIG_DFL a real SIGINT would end the process.
    if (
        hasattr(signal, "pthread_kill")
        and main is not None
        and callable(signal.getsignal(signal.SIGINT))
    ):
        signal.pthread_kill(main, signal.SIGINT)
    else:  # Windows, or no Python handler: only the flag (a blocking call ends first)
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
