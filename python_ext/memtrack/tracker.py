"""The tracker: ties IPython's cell execution to measurements, the store and the frontend.

How a ``%%memtrack`` cell runs (IPython >= 8, ipykernel >= 6). Both IPython's ``run_cell`` and
ipykernel's ``do_execute`` call ``shell.transform_cell(raw)`` *before* the ``pre_execute`` and
``pre_run_cell`` events fire, then run the transformed code natively. So:

1. an input transformer appended to ``shell.input_transformers_cleanup`` sees the lines of a cell
   that is about to run at top level (no cell running: tracked with ``pre_execute`` /
   ``post_execute``). If line 1 is ``%%memtrack [options]`` with valid options, it replaces that
   line by an empty one (so traceback line numbers stay the notebook's) -- or drops it when line
   2 is itself a cell magic such as ``%%time``, which must be on line 1 -- and leaves a *pending*
   note. Invalid options leave the cell alone, so the real cell magic raises the UsageError;
2. ``pre_run_cell`` finds the pending note for this very cell and starts a measurement;
3. IPython runs the body as an ordinary cell: same ``Out``/``_``, exceptions, tracebacks,
   top-level ``await``, Ctrl-C;
4. ``post_run_cell`` (it gets the ExecutionResult) finishes the measurement, stores the record and
   publishes it to the frontend, or prints a one-line summary when none is attached.

Everything else -- ``%%memtrack`` inside ``%%time`` or a nested ``run_cell``,
``get_ipython().run_cell_magic('memtrack', ...)`` -- reaches the registered cell magic, which
measures around running the body itself (:meth:`Tracker.run_cell_fallback`). A silent execution
(``silent=True``) fires no ``pre_run_cell``: its body runs untracked and nothing is printed.

Any failure inside the tracker prints one line and skips tracking of that cell; it never loses the
cell's result and never raises into the kernel. The tracker keeps no reference to user objects.
"""

from __future__ import annotations

import ast
import contextlib
import re
import sys
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

from . import bridge as bridge_mod
from .bridge import Bridge
from .measure import CellMeasurement
from .store import RecordStore
from .summary import format_summary

_FIRST_LINE = re.compile(r"^%%memtrack(?:[ \t]+(?P<args>[^\r\n]*))?[ \t]*\r?\n?$")
_INDENT = re.compile(r"^[ \t]+")

MODES = ("off", "light", "deep")


def _warn(what: str, exc: BaseException | None = None) -> None:
    text = f"memtrack: {what}"
    if exc is not None:
        text += f" ({type(exc).__name__}: {exc})"
    with contextlib.suppress(Exception):  # no stderr at all: nothing left to tell
        print(f"{text} (tracking skipped for this cell)", file=sys.stderr)


def _first_code_line(raw_cell: str) -> str:
    for line in raw_cell.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _error_name(exc: BaseException | None) -> str | None:
    return type(exc).__name__ if exc is not None else None


@dataclass
class _Pending:
    first_line: str
    label: str | None
    quiet: bool


@dataclass
class _Running:
    info: Any  # IPython's ExecutionInfo of the cell (holds the cell's text, no user objects)
    measurement: CellMeasurement
    label: str | None = None
    quiet: bool = False
    armed: bool = False  # a %%memtrack cell (not one of "every cell")
    execution_count: int | None = None
    cell_id: str | None = None


@dataclass
class _Transformer:
    """Input transformer (a callable object: it needs the ``has_side_effects`` attribute)."""

    tracker: Tracker
    # check_complete() skips transformers with side effects: completeness checks must not arm.
    has_side_effects: bool = field(default=True, init=False)

    def __call__(self, lines: list[str]) -> list[str]:
        try:
            return self.tracker._transform(lines)
        except Exception as e:
            _warn("input transformer failed", e)
            return lines


class Tracker:
    """Per-shell state of memtrack. Create with a shell, then :meth:`install`."""

    def __init__(self, shell: Any, store: RecordStore | None = None) -> None:
        self.shell = shell
        self.store = store if store is not None else RecordStore()
        self.bridge = Bridge(self.store, on_reset=self.reset)
        self.mode = "off"  # tracking of every cell: off | light | deep
        self.installed = False
        self._depth = 0  # cells executing now (pre_execute .. post_execute)
        self._pending: _Pending | None = None
        self._running: list[_Running] = []
        self._cells: list[tuple[Any, int | None]] = []  # (info, execution_count) in flight
        self._transformer = _Transformer(self)
        self._magics: Any = None
        self._owns_tracing = False  # continuous deep tracking started tracemalloc

    # -- installation -------------------------------------------------------------------------

    def install(self) -> None:
        if self.installed:
            return
        from .magics import MemtrackMagics

        shell = self.shell
        events = shell.events
        events.register("pre_execute", self._pre_execute)
        events.register("post_execute", self._post_execute)
        events.register("pre_run_cell", self._pre_run_cell)
        events.register("post_run_cell", self._post_run_cell)
        shell.input_transformers_cleanup.append(self._transformer)
        self._magics = MemtrackMagics(shell, self)
        shell.register_magics(self._magics)
        self.bridge.register(shell)
        bridge_mod.set_active(self.bridge)
        self.installed = True

    def uninstall(self) -> None:
        if not self.installed:
            return
        shell = self.shell
        for name, cb in (
            ("pre_execute", self._pre_execute),
            ("post_execute", self._post_execute),
            ("pre_run_cell", self._pre_run_cell),
            ("post_run_cell", self._post_run_cell),
        ):
            with contextlib.suppress(ValueError):
                shell.events.unregister(name, cb)
        cleanup = shell.input_transformers_cleanup
        while self._transformer in cleanup:
            cleanup.remove(self._transformer)
        magics = shell.magics_manager.magics
        for kind in ("line", "cell"):
            if magics[kind].get("memtrack") is not None:
                owner = getattr(magics[kind]["memtrack"], "__self__", None)
                if owner is self._magics:
                    del magics[kind]["memtrack"]
        self.bridge.unregister()
        if bridge_mod._active is self.bridge:
            bridge_mod.set_active(None)
        for running in self._running:
            running.measurement.abandon()
        self._running.clear()
        self._pending = None
        self.mode = "off"
        self._release_tracing()
        self.installed = False

    # -- public controls ----------------------------------------------------------------------

    def start(self, deep: bool = False) -> None:
        """Track every following cell (light; deep keeps tracemalloc on between cells)."""
        self.mode = "deep" if deep else "light"

    def stop(self) -> None:
        """Stop tracking every cell (``%%memtrack`` keeps working). The cell calling this is not
        recorded."""
        self.mode = "off"
        keep = []
        for running in self._running:
            if running.armed:
                keep.append(running)
            else:
                running.measurement.abandon()
        self._running = keep
        self._release_tracing()

    def _release_tracing(self) -> None:
        """Stop tracemalloc if continuous deep tracking turned it on (no tax left behind)."""
        if self._owns_tracing:
            self._owns_tracing = False
            if tracemalloc.is_tracing() and not any(r.armed for r in self._running):
                tracemalloc.stop()

    def reset(self) -> None:
        """Clear the history and tell the frontends."""
        self.store.clear()
        self.bridge.publish_reset()

    def status_line(self) -> str:
        frontend = "attached" if self.bridge.attached() else "not attached"
        return (
            f"memtrack: mode {self.mode}, {len(self.store)} cell(s) recorded, frontend {frontend}"
        )

    # -- transformer --------------------------------------------------------------------------

    def _transform(self, lines: list[str]) -> list[str]:
        if not lines or self._depth > 0:
            return lines
        match = _FIRST_LINE.match(lines[0])
        if match is None:
            return lines
        from .magics import parse_cell_options

        try:
            opts = parse_cell_options(match.group("args") or "")
        except Exception:
            return lines  # the real cell magic will run and raise the UsageError
        self._pending = _Pending(lines[0].strip(), opts["label"], opts["quiet"])
        body = lines[1:]
        if body and body[0].startswith("%%"):
            return body  # a cell magic must stay on line 1 (e.g. %%time)
        if body:
            # Like IPython's leading_indent (which saw the %%memtrack line, not the body).
            m = _INDENT.match(body[0])
            if m:
                space = m.group(0)
                body = [ln[len(space) :] if ln.startswith(space) else ln for ln in body]
        return ["\n", *body]

    # -- events -------------------------------------------------------------------------------

    def _pre_execute(self) -> None:
        self._depth += 1

    def _post_execute(self) -> None:
        # An empty cell fires post_execute without pre_execute: never go below zero.
        self._depth = max(0, self._depth - 1)
        if self._depth == 0:
            self._pending = None  # a silent run consumed no pending note; drop it

    def _pre_run_cell(self, info: Any) -> None:
        try:
            pending, self._pending = self._pending, None
            shell = self.shell
            count = getattr(shell, "execution_count", None)
            if getattr(info, "store_history", False) and isinstance(count, int):
                count -= 1  # run_cell_async increments before pre_run_cell
            self._cells.append((info, count))
            del self._cells[:-64]  # bounded even if post_run_cell never comes
            top_level = self._depth <= 1
            raw = getattr(info, "raw_cell", "") or ""
            if pending is not None and top_level and _first_code_line(raw) == pending.first_line:
                m = CellMeasurement(deep=True, keep_tracing=self.mode == "deep")
                running = _Running(info, m, pending.label, pending.quiet, armed=True)
            elif self.mode != "off" and top_level:
                m = CellMeasurement(deep=self.mode == "deep", keep_tracing=True)
                running = _Running(info, m)
            else:
                return
            running.execution_count = count
            running.cell_id = getattr(info, "cell_id", None)
            m.start()
            if m.tracing_started_here and m.keep_tracing:
                self._owns_tracing = True
            self._running.append(running)
        except Exception as e:
            _warn("could not start measuring", e)

    def _post_run_cell(self, result: Any) -> None:
        try:
            info = getattr(result, "info", None)
            for i in range(len(self._cells) - 1, -1, -1):
                if self._cells[i][0] is info:
                    del self._cells[i:]
                    break
            if not self._running:
                return
            running = None
            for i in range(len(self._running) - 1, -1, -1):
                if self._running[i].info is info:
                    running = self._running[i]
                    for stale in self._running[i + 1 :]:
                        stale.measurement.abandon()
                    del self._running[i:]
                    break
            if running is None:
                if result is not None:
                    return  # not a cell we measure
                # ipykernel passes None when the cell's coroutine raised (e.g. cancelled).
                running = self._running.pop()
                error = _error_name(sys.exc_info()[1]) or "KeyboardInterrupt"
            else:
                error = _error_name(
                    getattr(result, "error_before_exec", None)
                    or getattr(result, "error_in_exec", None)
                )
                count = getattr(result, "execution_count", None)
                if isinstance(count, int):
                    running.execution_count = count
            numbers = running.measurement.finish(error=error)
            self._record(running, numbers)
        except Exception as e:
            _warn("could not finish measuring", e)

    # -- the fallback cell magic ----------------------------------------------------------------

    def run_cell_fallback(self, cell: str, label: str | None = None, quiet: bool = False) -> Any:
        """Measure around running ``cell`` in the user namespace; return its last expression's
        value (like ``%%time``). Exceptions from the cell propagate unchanged."""
        info, count = self._cells[-1] if self._cells else (None, None)
        measurement: CellMeasurement | None = CellMeasurement(
            deep=True, keep_tracing=self.mode == "deep"
        )
        try:
            measurement.start()
            if measurement.tracing_started_here and measurement.keep_tracing:
                self._owns_tracing = True
        except Exception as e:
            _warn("could not start measuring", e)
            measurement = None
        error = None
        try:
            return self._exec_body(cell)
        except BaseException as e:
            error = _error_name(e)
            raise
        finally:
            if measurement is not None:
                try:
                    numbers = measurement.finish(error=error)
                    running = _Running(
                        info,
                        measurement,
                        label,
                        quiet,
                        execution_count=count,
                        cell_id=getattr(info, "cell_id", None),
                    )
                    self._record(running, numbers)
                except Exception as e:
                    _warn("could not finish measuring", e)

    def _exec_body(self, cell: str) -> Any:
        shell = self.shell
        source = shell.transform_cell(cell)
        filename = shell.compile.cache(source, raw_code=cell)
        tree = shell.compile.ast_parse(source, filename=filename)
        tree = shell.transform_ast(tree)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        glob, loc = shell.user_global_ns, shell.user_ns
        exec(shell.compile(tree, filename, "exec"), glob, loc)
        if last is not None:
            return eval(shell.compile(last, filename, "eval"), glob, loc)
        return None

    # -- records ------------------------------------------------------------------------------

    def _record(self, running: _Running, numbers: dict[str, Any]) -> dict[str, Any]:
        record = {
            "seq": 0,  # assigned by the store
            "execution_count": running.execution_count,
            "cell_id": running.cell_id if isinstance(running.cell_id, str) else None,
            "label": running.label,
            "mode": numbers["mode"],
            "started_at": numbers["started_at"],
            "duration_s": numbers["duration_s"],
            "rss_before": numbers["rss_before"],
            "rss_after": numbers["rss_after"],
            "rss_peak": numbers["rss_peak"],
            "traced_delta": numbers["traced_delta"],
            "traced_peak": numbers["traced_peak"],
            "top_lines": [],
            "types": [],
            "variables": [],
            "gc": numbers["gc"],
            "error": numbers["error"],
            "leaks": [],
        }
        stored = self.store.add(record)
        if self.bridge.attached():
            self.bridge.publish(stored)
        elif not running.quiet:
            print(format_summary(stored, numbers.get("rss_peak_scope")))
        return stored
