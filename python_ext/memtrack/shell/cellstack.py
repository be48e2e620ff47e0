"""The cells executing now, outermost first, as IPython's events announce them; and the cells that
ended without saying so.

Every execution IPython starts fires ``pre_execute`` (and ``pre_run_cell`` unless silent) from
``run_cell_async``; but only ``run_cell`` (and ipykernel, which awaits ``run_cell_async`` itself)
fires ``post_execute`` and ``post_run_cell`` after it. A caller that awaits ``run_cell_async``
directly never ends its cell, and a counter of running cells would stay above zero for good:
every later cell would look nested. So each level remembers ``shell.last_execution_result`` as it
was when the level began (``run_cell_async`` sets it as its very last step, whatever the path),
and a level whose own result has since become the last one has ended: :meth:`CellStack.ended`
finds them at the next cell (or the next transform), and ``drop(info)`` ends each (one warning
line when a measurement was dropped).

``post_run_cell`` normally carries the ExecutionResult of the ExecutionInfo that ``pre_run_cell``
had; when IPython's runner itself raised, ``run_cell`` builds a new ExecutionInfo from the same
arguments, so :meth:`CellStack.finished` also matches a level by the cell's text and id.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .lifecycle import warn

MAX_LEVELS = 64  # bounded whatever happens to the events


@dataclass(slots=True)
class Level:
    """One execution between ``pre_execute`` and ``post_execute``."""

    seen: Any  # a weak reference to shell.last_execution_result when the level began, or None
    info: Any = None  # its ExecutionInfo, from pre_run_cell (None: silent, or a comm message)
    execution_count: int | None = None
    run_cell_done: bool = False  # post_run_cell came


def _weak(result: Any) -> Any:
    if result is None:
        return None
    try:
        return weakref.ref(result)
    except TypeError:
        return None


def _same_cell(a: Any, b: Any) -> bool:
    """The ExecutionInfo IPython rebuilt after its runner raised, from the same arguments."""
    return (
        a is not None
        and b is not None
        and getattr(a, "raw_cell", None) == getattr(b, "raw_cell", None)
        and getattr(a, "cell_id", None) == getattr(b, "cell_id", None)
    )


class CellStack:
    """``drop(info)``: end the cell of ``info`` that ended unannounced, its measurement
    dropped; returns whether it had one."""

    def __init__(self, shell: Any, drop: Callable[[Any], bool]) -> None:
        self.shell = shell
        self._drop = drop
        self.levels: list[Level] = []
        # The level post_execute just closed: post_run_cell, which IPython and ipykernel fire
        # right after post_execute, ends it.
        self._closed: Level | None = None

    @property
    def depth(self) -> int:
        return len(self.levels)

    def _last_result(self) -> Any:
        return getattr(self.shell, "last_execution_result", None)

    # -- events -------------------------------------------------------------------------------

    def busy(self) -> bool:
        """Whether an execution is running now (those that ended unannounced are ended
        first)."""
        if self.levels:
            self.end_unannounced()
        return bool(self.levels)

    def end_unannounced(self) -> None:
        """End the cells whose run_cell_async returned without post_execute and post_run_cell:
        their state would otherwise stick (every later cell nested, the engine on, run_code
        wrapped)."""
        dropped = False
        for level in self.ended():
            if level.info is not None and not level.run_cell_done:
                dropped |= self._drop(level.info)
        if dropped:
            warn("a cell ended without IPython's post_run_cell (run_cell_async awaited alone)")

    def pre_execute(self) -> None:
        if self.levels:
            self.end_unannounced()
        levels = self.levels
        levels.append(Level(_weak(self._last_result())))
        if len(levels) > MAX_LEVELS:
            del levels[0]

    def pre_run_cell(self, info: Any, execution_count: int | None) -> None:
        if not self.levels:
            self.pre_execute()  # a pre_run_cell fired by hand: still one level
        level = self.levels[-1]
        level.info, level.execution_count = info, execution_count

    def post_execute(self) -> None:
        levels = self.levels
        if not levels:
            return
        result = self._last_result()
        top = levels[-1]
        seen = top.seen() if top.seen is not None else None
        if result is not seen and result is not None and _blank(result):
            # An empty cell fires post_execute without pre_execute (run_cell_async returns
            # before its events): not the end of the running level.
            self._saw(result)
            return
        self._closed = levels.pop()
        if levels:
            self._saw(result)  # a nested cell that ended: not the end of the one around it

    def finished(self, result: Any) -> Level | None:
        """The level that ``post_run_cell(result)`` ends (marked), or None: not a cell whose
        pre_run_cell this stack saw."""
        info = getattr(result, "info", None)
        closed, self._closed = self._closed, None
        candidates = [*reversed(self.levels)]
        if closed is not None:
            candidates.insert(0, closed)
        candidates = [c for c in candidates if c.info is not None and not c.run_cell_done]
        level = next((c for c in candidates if c.info is info), None)
        if level is None:
            level = next((c for c in candidates if _same_cell(c.info, info)), None)
        if level is not None:
            level.run_cell_done = True
        return level

    # -- what the events did not say ------------------------------------------------------------

    def innermost_cell(self) -> Level | None:
        """The innermost level that is a cell running (pre_run_cell came, post_run_cell not)."""
        for level in reversed(self.levels):
            if level.info is not None and not level.run_cell_done:
                return level
        return None

    def ended(self) -> list[Level]:
        """The levels that ended without their post events (their run_cell_async returned),
        taken off the stack, innermost first: the cell whose result is now the last one, and
        whatever ran inside it. Cheap: one look while nothing ended, done only while a level is
        open."""
        levels = self.levels
        result = self._last_result()
        if not levels or result is None:
            return []  # (reset or %xdel clears it: nothing to tell)
        top = levels[-1]
        if (top.seen() if top.seen is not None else None) is result:
            return []  # no execution ended since the innermost one began
        info = getattr(result, "info", None)
        inward = range(len(levels) - 1, -1, -1)
        found = next((i for i in inward if info is not None and levels[i].info is info), None)
        if found is None:
            found = next((i for i in inward if _same_cell(levels[i].info, info)), None)
        if found is None:
            if top.info is not None or not getattr(info, "silent", False):
                return []  # a comm message's level cannot have ended a cell
            found = len(levels) - 1  # a silent execution (no pre_run_cell) that ended
        out = levels[found:]
        del levels[found:]
        out.reverse()
        if levels:
            self._saw(result)
        return out

    def _saw(self, result: Any) -> None:
        self.levels[-1].seen = _weak(result)

    def clear(self) -> None:
        self.levels.clear()
        self._closed = None


def _blank(result: Any) -> bool:
    raw = getattr(getattr(result, "info", None), "raw_cell", None)
    return isinstance(raw, str) and (not raw or raw.isspace())
