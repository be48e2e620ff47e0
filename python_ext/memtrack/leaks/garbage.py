"""``cycle`` suspects of the garbage collector: the bytes collections freed during a cell (a gc
callback) and the uncollectable objects in ``gc.garbage``.

The callback is installed only while tracking is on in deep mode or a deep cell runs (the
tracker decides): it costs O(1) per collection. Pure: no IPython import.
"""

from __future__ import annotations

import gc
from itertools import islice
from typing import Any

from .. import interrupts
from ..measure import engine
from ..measure.cell import rss
from ..units import format_bytes
from .roots import estimate_size, memory_now
from .suspects import suspect

GARBAGE_SAMPLE = 64  # objects of gc.garbage sized; more are estimated from their mean


class GarbageWatcher:
    """Bytes freed by the collector since the last pass, and the estimated size of
    ``gc.garbage`` (re-estimated only when its length changes)."""

    def __init__(self) -> None:
        self._garbage: tuple[int, int] = (0, 0)  # (len(gc.garbage), estimated bytes)
        self._gc_mark: tuple[str, int] | None = None  # memory when a collection started
        self._gc_freed = 0  # bytes collections freed since the last pass
        self._gc_hooked = False

    def clear(self) -> None:
        self._garbage = (0, 0)
        self._gc_freed = 0

    @property
    def gc_hooked(self) -> bool:
        return self._gc_hooked

    def install_gc_hook(self) -> None:
        """Only while deep tracking is on or a deep cell runs (the tracker decides)."""
        interrupts.start_redelivery()
        if not self._gc_hooked:
            gc.callbacks.append(self._gc_callback)
            self._gc_hooked = True

    def uninstall_gc_hook(self) -> None:
        while self._gc_callback in gc.callbacks:
            gc.callbacks.remove(self._gc_callback)
        self._gc_hooked = False
        self._gc_mark = None

    def _gc_callback(self, phase: str, info: dict) -> None:
        # O(1): one read of the traced memory (or RSS, for the older generations only: a young
        # collection without an engine rarely moves RSS and runs every few hundred objects).
        try:
            if phase == "start":
                counting = engine.counting()
                if counting is not None:
                    self._gc_mark = ("traced", counting.traced()[0])
                elif info.get("generation", 2) > 0:
                    self._gc_mark = ("rss", rss() or 0)
                else:
                    self._gc_mark = None
            elif self._gc_mark is not None:
                kind, before = self._gc_mark
                self._gc_mark = None
                if info.get("collected"):
                    now = memory_now()
                    if now[0] == kind and before > now[1]:
                        self._gc_freed += before - now[1]
        except KeyboardInterrupt:
            # The collector swallows a callback's exceptions: a Ctrl-C that landed here would
            # be lost and the cell would run on. Deliver it again, to the user's code, a few
            # milliseconds later from the redelivery thread: called here, interrupt_main()
            # would raise in this callback again (and starting a thread here waits for it).
            self._gc_mark = None
            interrupts.redeliver()
        except Exception:  # never raise from a gc callback
            self._gc_mark = None

    def freed_suspect(self, count: int | None, threshold: int) -> dict[str, Any] | None:
        """What collections freed since the last pass (then forgotten): memory that stayed in
        use until a collection, laid to the cell ``count``."""
        freed, self._gc_freed = self._gc_freed, 0
        if freed < threshold or count is None:
            return None
        return suspect(
            "gc",
            "cycle",
            freed,
            f"the garbage collector freed {format_bytes(freed)} of reference cycles "
            f"during cell [{count}]: that memory stayed in use until a collection; "
            "break the cycles (weakref) or call gc.collect()",
            cells=[count],
        )

    def garbage_suspects(self, deadline: float, full: bool, threshold: int) -> list[dict[str, Any]]:
        """``gc.garbage`` when it holds at least ``threshold`` bytes (sized again when its
        length changed, or on a ``full`` look)."""
        n_garbage = len(gc.garbage)
        if n_garbage != self._garbage[0] or (full and n_garbage):
            size = 0
            for o in list(islice(gc.garbage, GARBAGE_SAMPLE)):
                s, _ = estimate_size(o, deadline, 0.001)
                size += s or 0
            o = None
            if n_garbage > GARBAGE_SAMPLE:
                size = size * n_garbage // GARBAGE_SAMPLE
            self._garbage = (n_garbage, size)
        size = self._garbage[1]
        if not n_garbage or size < threshold:
            return []
        return [
            suspect(
                "gc.garbage",
                "cycle",
                size,
                f"gc.garbage holds {n_garbage} uncollectable objects "
                f"({format_bytes(size)}); break their cycles, then gc.garbage.clear()",
                partial=True,
            )
        ]
