"""The sidebar's variables section, kernel side: the user namespace's largest variables with
their deep sizes, finished in bounded slices while the kernel is idle.

A ``variables`` request is answered at once with what is known after one short pass (never while
a cell runs: the bridge runs requests between cells, on the main thread). What is left is sized
in slices of :data:`SLICE_S` on the kernel's event loop, :data:`SLICE_GAP_S` apart, so an execute
request waits at most one slice. Any execution that may run user code (a cell, another comm's
message such as a widget's callback) first drops the suspended walks: no user code ever runs
while a walk holds references to its values; those walks begin again afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from ..measure.namespace import NamespaceSizer
from .lifecycle import warn

REQUEST_PASS_S = 0.03  # a request's own pass, before it answers
SLICE_S = 0.02  # one idle slice
SLICE_GAP_S = 0.05  # between slices: the loop serves what came in meanwhile
DEFAULT_LIMIT = 200


class VariablesView:
    """``request(limit)`` answers the sidebar; ``cell_starting()``/``cell_finished(count)``
    come from the tracker's hooks; ``attached()`` says whether a frontend listens."""

    def __init__(
        self,
        shell: Any,
        attached: Callable[[], bool],
        cells_running: Callable[[], int],
        last_seq: Callable[[], int | None],
    ) -> None:
        self.shell = shell
        self.sizer = NamespaceSizer()
        self._attached = attached
        self._cells_running = cells_running
        self._last_seq = last_seq
        self._timer: asyncio.TimerHandle | None = None
        self.requested = False  # a frontend has asked: keep its sizes current

    def request(self, limit: int | None) -> dict[str, Any]:
        """``{variables, total, pending, seq}`` for a ``variables_result``."""
        self.requested = True
        ns = self.shell.user_ns
        pending = self.sizer.size_pass(ns, REQUEST_PASS_S)
        if pending:
            self._arm()
        return {
            "variables": self.sizer.rows(int(limit or DEFAULT_LIMIT)),
            "total": len(self.sizer.entries),
            "pending": pending,
            "seq": self._last_seq(),
        }

    def cell_starting(self) -> None:
        self._disarm()
        self.sizer.drop_walks()

    def cell_finished(self, execution_count: int | None) -> None:
        """A cell ended: its sizes go to the history, and the slices size what changed."""
        if not self.requested:
            return
        try:
            self.sizer.note_cell(execution_count)
        except Exception as e:
            warn("variable sizes skipped", e)
        self._arm()

    def clear(self) -> None:
        self._disarm()
        self.sizer.clear()

    # -- idle slices ----------------------------------------------------------------------------

    def _arm(self) -> None:
        if self._timer is not None:
            return
        with contextlib.suppress(RuntimeError):  # no running loop: requests drive the passes
            self._timer = asyncio.get_running_loop().call_later(SLICE_GAP_S, self._slice)

    def _disarm(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _slice(self) -> None:
        self._timer = None
        if self._cells_running() > 0 or not self._attached():
            return  # the next cell's end arms it again
        try:
            pending = self.sizer.size_pass(self.shell.user_ns, SLICE_S)
        except Exception as e:
            warn("variable sizes skipped", e)
            return
        if pending:
            self._arm()
