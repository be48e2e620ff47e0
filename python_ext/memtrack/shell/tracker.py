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
4. while it runs, IPython compiles and runs each top-level statement through ``shell.run_code``;
   for the duration of a deep cell the tracker puts a wrapper there (an instance attribute,
   removed in ``post_run_cell``) that lets :class:`memtrack.lines.CellLedger` read the traced
   memory and the names each statement touches: the line table, frees of older values and
   variable changes at a few microseconds per statement, with no line tracer. A light cell has
   no wrapper: the names its source mentions are looked at once, before it runs;
5. ``post_run_cell`` (it gets the ExecutionResult) finishes the measurement, stores the record and
   publishes it to the frontend, or displays a short summary when none is attached. With a
   frontend, a light cell's analysis, record and message wait for the kernel's event loop (after
   the reply); records of cells run back to back go in one message with one leak pass.

Everything else -- ``%%memtrack`` inside ``%%time`` or a nested ``run_cell``,
``get_ipython().run_cell_magic('memtrack', ...)`` -- reaches the registered cell magic, which
measures around running the body itself (:meth:`Tracker.run_cell_fallback`). A silent execution
(``silent=True``) fires no ``pre_run_cell``: its body runs untracked and nothing is printed.

Any failure inside the tracker prints one line and skips tracking of that cell; it never loses the
cell's result and never raises into the kernel. The tracker keeps no reference to user objects.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import re
import sys
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

from ..leaks.detector import LeakDetector
from ..leaks.release import release_request
from ..leaks.roots import BUDGET_REQUEST_S, roots_from_shell
from ..leaks.why_alive import why_alive
from ..measure.cell import PEAK_CELL, PEAK_PROCESS, CellMeasurement
from ..measure.ledger import CellLedger, changed_variables, snap_source
from ..measure.type_counts import TypeCounter
from ..record import RECORD_KEYS, fit_record
from ..reports.summary import format_html, format_text
from ..store import RecordStore
from . import bridge as bridge_mod
from .bridge import Bridge

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


DEFAULT_TOP = 5
# One time budget for a cell's whole analysis (the target: <= 50 ms, whatever the heap size):
# the deep sizes of older values the cell may free (measured while it runs, at most
# FREED_BUDGET_S), then one shared deadline for what is left after the cell: type counts first
# (up to TYPES_SHARE of the rest), then variable sizes. Each part checks the deadline inside its
# loops; the margin up to 50 ms covers listing the new objects and building the rows.
ANALYSIS_BUDGET_S = 0.035
FREED_BUDGET_S = 0.01  # deep sizes of older values the cell may free
MIN_AFTER_S = 0.01  # after the cell, even when the freed sizes used their whole budget
TYPES_SHARE = 0.6
# Leak suspects (memtrack.leaks) take their time from the same budget in deep mode: engine and
# leaks together within LEAKS_TOTAL_S (at least LEAKS_MIN_S for the leaks).
LEAKS_TOTAL_S = 0.045
LEAKS_MIN_S = 0.002
# The leak pass of a batch of light records (Bridge.before_send) runs after the replies, while
# the kernel is idle: a cell's budget each, within these bounds.
BATCH_PASS_MIN_S, BATCH_PASS_MAX_S = 0.001, 0.003
_MISSING = object()


@dataclass
class _Pending:
    first_line: str
    opts: dict[str, Any]
    line_offset: int = 0  # added to compiled line numbers to get the notebook cell's


@dataclass(slots=True)
class _Running:
    info: Any  # IPython's ExecutionInfo of the cell (holds the cell's text, no user objects)
    measurement: CellMeasurement
    label: str | None = None
    quiet: bool = False
    armed: bool = False  # a %%memtrack cell (not one of "every cell")
    execution_count: int | None = None
    cell_id: str | None = None
    opts: dict[str, Any] = field(default_factory=dict)
    ledger: CellLedger | None = None
    counter: TypeCounter | None = None
    # Names the cell referenced, for memtrack.leaks: a set (deep), or a light cell's
    # (snapshots by name, names it created).
    touched: Any = None
    names: Any = None  # light: (snapshots, absent names) of the names its source mentions

    def abandon(self) -> None:
        self.measurement.abandon()
        if self.counter is not None:
            self.counter.abandon()
        if self.ledger is not None:
            self.ledger.release()


def _unfreeze_for_collect(counter: TypeCounter | None, code_obj: Any) -> None:
    # gc.collect() in the cell must free old cycles as it would without memtrack.
    if counter is not None and counter.frozen and "collect" in code_obj.co_names:
        counter.unfreeze("the cell calls gc.collect()")


def batch_pass_budget(cells: int, per_cell_s: float) -> float:
    """Seconds for the leak pass of a batch of light records: the pass stands for every cell
    since the last one and gets their budgets, bounded (one cell's 0.3 ms can run out on a busy
    machine before the output history is looked at)."""
    return min(BATCH_PASS_MAX_S, max(BATCH_PASS_MIN_S, cells * per_cell_s))


def _new_record(*values: Any) -> dict[str, Any]:
    """A record's required keys (protocol.RECORD_KEYS, the wire order) from their values in
    that order, ``seq`` left out (the store assigns it)."""
    return dict(zip(RECORD_KEYS, (0, *values), strict=True))


def _light_record_dict(
    cell: tuple[Any, ...], variables: list[dict[str, Any]], analysis_s: float
) -> dict[str, Any]:
    """A light cell's record (the keys of Tracker._record, built in one go: Run All builds one
    per cell) from ``cell``: (execution_count, cell_id, label, its stopped CellMeasurement)."""
    count, cell_id, label, m = cell
    t0 = time.perf_counter()
    error, duration, rss_before, rss_after, rss_peak, gc_delta = m.light_result()
    # execution_count, cell_id, label, mode, started_at, duration_s, rss_before, rss_after,
    # rss_peak, traced_delta, traced_peak, top_lines, types, variables, gc, error, leaks
    record = _new_record(
        count,
        cell_id if isinstance(cell_id, str) else None,
        label,
        "light",
        m.started_at,
        duration,
        rss_before,
        rss_after,
        rss_peak,
        None,
        None,
        [],
        [],
        variables,
        gc_delta,
        error,
        [],
    )
    if rss_peak is not None:
        record["rss_peak_scope"] = PEAK_CELL if m.peak_reset else PEAK_PROCESS
    record["analysis_s"] = round(analysis_s + time.perf_counter() - t0, 6)
    return record


def _touched_names(ledger: CellLedger) -> set[str]:
    """The names the cell's statements referenced, before the ledger forgets them."""
    return {*ledger._snaps, *ledger._absent}


# The options of a cell tracked by ``%memtrack on`` (shared: read, never changed).
_LIGHT_OPTS = {
    "label": None,
    "quiet": False,
    "top": DEFAULT_TOP,
    "lines": False,
    "types": False,
    "vars": True,
}
_DEEP_OPTS = {**_LIGHT_OPTS, "lines": True, "types": True}


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
        self.bridge = Bridge(
            self.store,
            on_reset=self.reset,
            on_why=self.why_request,
            on_release=self.release_request,
            on_configure=self.configure_leaks,
        )
        self.mode = "off"  # tracking of every cell: off | light | deep
        self.installed = False
        self._depth = 0  # cells executing now (pre_execute .. post_execute)
        # Non-silent cells between pre_run_cell and post_run_cell. Unlike _depth, comm message
        # handlers do not count (comm's handle_msg fires pre_execute/post_execute around them).
        self._cells_running = 0
        self._pending: _Pending | None = None
        self._running: list[_Running] = []
        self._cells: list[tuple[Any, int | None]] = []  # (info, execution_count) in flight
        self._transformer = _Transformer(self)
        self._magics: Any = None
        self._owns_tracing = False  # continuous deep tracking started tracemalloc
        self._saved_run_code: Any = _MISSING  # shell.__dict__["run_code"] before our wrapper
        self._inner_run_code: Any = None
        self._hook = self._run_code_hook  # one bound method: compared by identity
        self.leaks = LeakDetector()  # leak suspects after each tracked cell (memtrack.leaks)
        # Light cells measured but not yet analysed, stored and sent (see _defer).
        self._deferred: list[_Running] = []
        self._flush_handle: asyncio.Handle | None = None
        # Deferred light cells already analysed (readings and variables taken before the next
        # cell): their records are built, stored and queued together, when the batch timer fires
        # or before any later record (see _build_records). One warm loop costs less than a cold
        # build after every cell.
        self._unbuilt: list[tuple[Any, ...]] = []
        self._build_handle: asyncio.TimerHandle | None = None
        self._build_loop: asyncio.AbstractEventLoop | None = None  # the loop of _build_handle
        # Batched light records share one leak pass (see _complete_batch): the names the cells
        # since the last pass touched, and how many cells the owed pass stands for.
        self._leak_names: set[str] = set()
        self._leak_owed = 0
        self._sync_flush = False  # flush(batch=False) is sending: a pass may run mid-cell
        self.bridge.before_send = self._complete_batch

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
        self._sync_gc_hook()

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
        self.flush()
        self.bridge.unregister()
        self.leaks.uninstall_gc_hook()
        if bridge_mod._active is self.bridge:
            bridge_mod.set_active(None)
        for running in self._running:
            running.abandon()
        self._running.clear()
        self._remove_run_code()
        self._pending = None
        self.mode = "off"
        self._release_tracing()
        self.installed = False

    # -- public controls ----------------------------------------------------------------------

    def start(self, deep: bool = False) -> None:
        """Track every following cell (light; deep keeps tracemalloc on between cells)."""
        self.mode = "deep" if deep else "light"
        self._sync_gc_hook()

    def stop(self) -> None:
        """Stop tracking every cell (``%%memtrack`` keeps working). The cell calling this is not
        recorded."""
        self.mode = "off"
        keep = []
        for running in self._running:
            if running.armed:
                keep.append(running)
            else:
                running.abandon()
        self._running = keep
        if not keep:
            self._remove_run_code()
        self._release_tracing()
        self._sync_gc_hook()

    def _sync_gc_hook(self, busy: bool = False) -> None:
        """memtrack.leaks' gc callback (bytes that collections free, read from tracemalloc) is
        registered only while deep tracking is on or a deep cell runs (``busy``: the fallback
        cell magic's). Light mode goes without: the callback would run twice per young
        collection, ~14 times in a cell that makes 10k objects, for a number it cannot read."""
        deep = self.mode == "deep" or any(r.measurement.deep for r in self._running)
        if self.installed and (deep or busy):
            self.leaks.install_gc_hook()
        else:
            self.leaks.uninstall_gc_hook()

    def _release_tracing(self) -> None:
        """Stop tracemalloc if continuous deep tracking turned it on (no tax left behind)."""
        if self._owns_tracing:
            self._owns_tracing = False
            if tracemalloc.is_tracing() and not any(r.armed for r in self._running):
                tracemalloc.stop()

    def reset(self) -> None:
        """Clear the history and tell the frontends."""
        self._deferred.clear()
        self._unbuilt.clear()
        handle, self._build_handle = self._build_handle, None
        if handle is not None:
            handle.cancel()
        self._leak_names.clear()
        self._leak_owed = 0
        self.store.clear()
        self.leaks.clear()
        self.bridge.publish_reset()

    # -- the leak sidebar's requests (the bridge calls these) ---------------------------------

    def why_request(self, name: str, budget_s: float | None = None) -> dict[str, Any]:
        """Why the value ``name`` names is alive: ``{chain, message, status}``."""
        chain, text, status = why_alive(
            roots_from_shell(self.shell), name, self.leaks, budget_s or BUDGET_REQUEST_S
        )
        return {"chain": chain, "message": text, "status": status}

    def release_request(self, target: str, dry_run: bool) -> dict[str, Any]:
        """``%memtrack release TARGET`` for the sidebar (see memtrack.release.release_request);
        after a real release, ``suspects`` are the leak suspects re-evaluated."""
        if self._cells_running > 0 and not dry_run:
            # Only reachable from a comm handler interleaved with a cell (an async cell that
            # awaits): never pull values from under running code.
            return {
                "ok": False,
                "action": "",
                "expected_bytes": None,
                "freed_bytes": None,
                "message": "a cell is running: release once it has finished",
            }
        if not dry_run:
            self.flush()  # deferred records describe the namespace as it was before
        roots = roots_from_shell(self.shell)
        result = release_request(roots, target.split(), dry_run)
        if result["ok"] and not dry_run:
            result["suspects"] = self.leaks.current(roots)
        return result

    def configure_leaks(self, leak_threshold: int) -> None:
        """The frontend's ``leakThreshold`` (ValueError on a bad value)."""
        self.leaks.config.update(threshold=leak_threshold)

    def status_line(self) -> str:
        from ..units import format_bytes

        frontend = "attached" if self.bridge.attached() else "not attached"
        tracing = "on" if tracemalloc.is_tracing() else "off"
        return (
            f"memtrack: mode {self.mode}, {len(self.store) + len(self._unbuilt)} cell(s) recorded "
            f"(history {format_bytes(self.store.nbytes())}, at most "
            f"{self.store.max_records} cells), frontend {frontend}, tracemalloc {tracing}"
        )

    def report_text(self) -> str:
        """``%memtrack report``: a plain-text table of the cells and the leak suspects."""
        from ..reports.text import format_text

        self.flush()
        return format_text(self.store.snapshot())

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
        self._pending = _Pending(lines[0].strip(), opts)
        body = lines[1:]
        if body and body[0].startswith("%%"):
            self._pending.line_offset = 1
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
        if self._deferred:
            self.flush(batch=True)  # the previous cell's record describes the namespace it left
        self._cells_running += 1
        try:
            pending, self._pending = self._pending, None
            shell = self.shell
            count = getattr(shell, "execution_count", None)
            if getattr(info, "store_history", False) and isinstance(count, int):
                count -= 1  # run_cell_async increments before pre_run_cell
            cells = self._cells
            cells.append((info, count))
            if len(cells) > 64:
                del cells[:-64]  # bounded even if post_run_cell never comes
            top_level = self._depth <= 1
            raw = getattr(info, "raw_cell", "") or ""
            offset = 0
            if pending is not None and top_level and _first_code_line(raw) == pending.first_line:
                m = CellMeasurement(deep=True, keep_tracing=self.mode == "deep")
                opts = pending.opts
                offset = pending.line_offset
                running = _Running(info, m, opts["label"], opts["quiet"], armed=True, opts=opts)
            elif self.mode == "light" and top_level:
                self._start_light(info, count, raw)
                return
            elif self.mode == "deep" and top_level:
                m = CellMeasurement(deep=True, keep_tracing=True)
                running = _Running(info, m, opts=_DEEP_OPTS)
            else:
                return
            running.execution_count = count
            running.cell_id = getattr(info, "cell_id", None)
            self._start_deep(running, raw, offset)
            self._running.append(running)
            self._sync_gc_hook()
            if running.ledger is not None:
                self._install_run_code()
        except Exception as e:
            _warn("could not start measuring", e)

    def _start_light(self, info: Any, count: int | None, source: str) -> None:
        """A cell of ``%memtrack on``: no statement hook (it would cost every statement); one
        look at the names the source mentions, before the clock starts."""
        m = CellMeasurement()
        cell_id = getattr(info, "cell_id", None)
        running = _Running(info, m, opts=_LIGHT_OPTS, execution_count=count, cell_id=cell_id)
        try:
            running.names = snap_source(self.shell.user_ns, source)
        except Exception as e:
            _warn("could not start the analysis", e)
        m.start()
        self._running.append(running)

    def _start_deep(self, running: _Running, source: str, line_offset: int) -> None:
        m, opts = running.measurement, running.opts
        m.start()
        if m.tracing_started_here and m.keep_tracing:
            self._owns_tracing = True
        try:
            if opts.get("types"):
                running.counter = TypeCounter().start()
            # A fresh tracemalloc session needs the ledger to see frees of older values.
            if opts.get("lines") or opts.get("vars") or m.tracing_started_here:
                running.ledger = CellLedger(
                    self.shell.user_ns,
                    deep=True,
                    fresh_tracing=m.tracing_started_here,
                    source=source,
                    line_offset=line_offset,
                    size_budget_s=FREED_BUDGET_S,
                )
        except Exception as e:
            _warn("could not start the analysis", e)

    # -- the statement hook -------------------------------------------------------------------

    def _install_run_code(self) -> None:
        shell = self.shell
        if shell.__dict__.get("run_code") is self._hook:
            return
        self._saved_run_code = shell.__dict__.get("run_code", _MISSING)
        self._inner_run_code = shell.run_code
        shell.run_code = self._hook

    def _remove_run_code(self) -> None:
        shell = self.shell
        if shell.__dict__.get("run_code") is self._hook:
            if self._saved_run_code is _MISSING:
                del shell.run_code
            else:
                shell.run_code = self._saved_run_code
        self._saved_run_code = _MISSING
        self._inner_run_code = None

    def _ledger_for(self, code_obj: Any) -> CellLedger | None:
        if self._depth != 1 or not self._running:
            return None
        running = self._running[-1]
        ledger = running.ledger
        if ledger is None or running.info is not (self._cells[-1][0] if self._cells else None):
            return None
        if not ledger.accepts(code_obj):
            return None
        _unfreeze_for_collect(running.counter, code_obj)
        return ledger

    def _run_code_hook(self, code_obj: Any, result: Any = None, *, async_: bool = False):
        """``shell.run_code`` while a deep cell is tracked: returns the awaitable IPython awaits
        (the ledger reads the traced memory before and after each statement). Statements that
        are not the cell's own go straight to IPython's coroutine."""
        inner = self._inner_run_code
        if inner is None:  # removed while a cell ran: the class's own method
            inner = type(self.shell).run_code.__get__(self.shell)
        ledger = None
        try:
            ledger = self._ledger_for(code_obj)
            if ledger is not None:
                ledger.before(code_obj)
        except Exception as e:
            _warn("statement accounting failed", e)
            ledger = None
        if ledger is None:
            return inner(code_obj, result, async_=async_)
        return self._run_with_ledger(inner, ledger, code_obj, result, async_)

    @staticmethod
    async def _run_with_ledger(
        inner: Any, ledger: CellLedger, code_obj: Any, result: Any, async_: bool
    ) -> Any:
        try:
            return await inner(code_obj, result, async_=async_)
        finally:
            try:
                ledger.after()
            except Exception as e:
                _warn("statement accounting failed", e)

    def _post_run_cell(self, result: Any) -> None:
        # post_run_cell fires even for a failed or cancelled cell; the extension's own
        # %load_ext cell only fires it (never below zero).
        self._cells_running = max(0, self._cells_running - 1)
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
                        stale.abandon()
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
            loop = self._idle_loop(running)
            if loop is not None:
                # The clock and RSS are read now; the rest waits until the reply is out.
                running.measurement.stop(error)
                self._defer(loop, running)
                return
            numbers = self._finish(running, error)
            self._record(running, numbers)
        except KeyboardInterrupt:
            # Ctrl-C during our analysis: never let it escape a post-execute hook.
            _warn("interrupted while analysing")
        except Exception as e:
            _warn("could not finish measuring", e)
        finally:
            if not self._running:
                if self._inner_run_code is not None:  # the statement hook is in place
                    self._remove_run_code()
                if self.leaks.gc_hooked:
                    self._sync_gc_hook()

    # -- deferred light cells -------------------------------------------------------------------

    def _idle_loop(self, running: _Running) -> asyncio.AbstractEventLoop | None:
        """The kernel's event loop when this cell's analysis, record and message can wait until
        the cell's reply is sent (a light cell while a frontend listens), else None.

        ipykernel runs cells inside its asyncio loop and sends the execute reply and the idle
        status before the loop runs the next callback; terminal IPython has no running loop, and
        its summary must be printed in the cell's own output."""
        if running.armed or running.measurement.deep or not self.bridge.attached():
            return None
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return None

    def _defer(self, loop: asyncio.AbstractEventLoop, running: _Running) -> None:
        deferred = self._deferred
        deferred.append(running)
        if len(deferred) > self.store.max_records:
            del deferred[: -self.store.max_records]  # bounded if the loop never runs it
        if self._flush_handle is None:
            self._flush_handle = loop.call_soon(self._flush_from_loop)

    def _flush_from_loop(self) -> None:
        self._flush_handle = None
        self.flush(batch=True)

    def flush(self, batch: bool = False) -> None:
        """Analyse the deferred light cells now (before the next cell runs, so the namespace
        they describe is the one they left), then store and send every record that waits.
        ``batch``: only analyse; their records wait for their batch (:meth:`_build_records`,
        one message with the next cells'). Never raises."""
        handle, self._flush_handle = self._flush_handle, None
        if handle is not None:
            handle.cancel()
        loop = None
        if batch:
            with contextlib.suppress(RuntimeError):
                loop = asyncio.get_running_loop()
        while self._deferred:
            running = self._deferred.pop(0)
            try:
                self._light_record(running, loop)
            except KeyboardInterrupt:
                _warn("interrupted while analysing")
            except Exception as e:
                _warn("could not finish measuring", e)
        if not batch:
            try:
                self._build_records()
            except Exception as e:
                _warn("could not store the records", e)
            self._sync_flush = True
            try:
                self.bridge.flush_records()
            finally:
                self._sync_flush = False

    def _light_record(self, running: _Running, queue_in: asyncio.AbstractEventLoop | None) -> None:
        """A deferred light cell, after its reply: its variables (they describe the namespace the
        cell left, so before the next cell runs). A cell that ran without an error while a
        frontend listens and the loop can wait has its record built later with the others of
        its batch (:meth:`_build_records`); any other gets its record now."""
        t0 = time.perf_counter()
        variables = self._source_variables(running)
        m = running.measurement
        cell = (running.execution_count, running.cell_id, running.label, m)
        if m.error is None and queue_in is not None and self.bridge.attached():
            # Its suspects are the last pass's, carried forward. The pass itself runs once per
            # batch, for its last record, just before the batch is sent (_complete_batch): Run
            # All pays one pass per batch, not one per cell.
            self._note_touched(running)
            self._leak_owed += 1
            self._unbuilt.append((cell, variables, time.perf_counter() - t0))
            if len(self._unbuilt) >= bridge_mod.BATCH_MAX:
                self._build_records(send=True)
            elif self._build_handle is None or self._build_loop is not queue_in:
                # (A timer left on another or a closed loop would never fire: one on this one.)
                delay = bridge_mod.BATCH_DELAY_S  # the bridge's batches: read now (tests set it)
                self._build_handle = queue_in.call_later(delay, self._build_from_loop)
                self._build_loop = queue_in
            return
        record = _light_record_dict(cell, variables, time.perf_counter() - t0)
        self._store_and_send(running, record, {"mode": "light", "error": record["error"]}, queue_in)

    def _build_from_loop(self) -> None:
        self._build_handle = None
        try:
            self._build_records(send=True)
        except Exception as e:
            _warn("could not store the records", e)

    def _build_records(self, send: bool = False) -> None:
        """Build, store and queue the records of the analysed light cells, in order; ``send``:
        send the batch now (else whoever sends next takes them: the next record, a flush)."""
        handle, self._build_handle = self._build_handle, None
        if handle is not None:
            handle.cancel()
        unbuilt, self._unbuilt = self._unbuilt, []
        if not unbuilt:
            return
        carried = self.leaks.last
        add = self.store.add
        stored = []
        for cell, variables, analysis_s in unbuilt:
            record = _light_record_dict(cell, variables, analysis_s)
            record["leaks"] = list(carried)
            stored.append(add(fit_record(record), owned=True, copy_back=False))
        self.bridge.queue_many(stored, send)

    def _source_variables(self, running: _Running) -> list[dict[str, Any]]:
        """A light cell's variable changes, from the snapshot of the names its source
        mentions (then forgotten: they become the names the leak pass looks at)."""
        if running.names is None:
            return []
        snaps, absent = running.names
        running.names = None
        ns = self.shell.user_ns
        # Words of the source that still name nothing (attributes, words in strings, keywords)
        # are neither the cell's variables nor worth a look from the leak pass.
        created = [*filter(ns.__contains__, absent)]
        running.touched = (snaps, created)
        try:
            top = int(running.opts.get("top") or DEFAULT_TOP)
            return changed_variables(ns, snaps, created, top)
        except Exception as e:
            _warn("variables skipped", e)
            return []

    def _finish(self, running: _Running, error: str | None) -> dict[str, Any]:
        """Finish the measurement and the analysis (each part failing alone)."""
        try:
            return running.measurement.finish(error=error, analyze=lambda: self._analyze(running))
        finally:
            if running.counter is not None:
                running.counter.abandon()

    def _analyze(self, running: _Running) -> dict[str, Any]:
        """Type counts, line table and variables of a finished cell, within one budget."""
        opts = running.opts
        top = int(opts.get("top") or DEFAULT_TOP)
        ledger, counter = running.ledger, running.counter
        m = running.measurement
        out: dict[str, Any] = {"top_lines": [], "types": [], "variables": []}
        t0 = time.perf_counter()
        spent = ledger.analysis_s if ledger is not None else 0.0
        deadline = t0 + max(MIN_AFTER_S, ANALYSIS_BUDGET_S - spent)
        try:
            if counter is not None:
                out["types"], out["types_method"] = counter.finish(
                    top=top,
                    traced_since_start=m.tracing_started_here,
                    deadline=t0 + (deadline - t0) * TYPES_SHARE,
                )
        except Exception as e:
            _warn("type counts skipped", e)
        try:
            if ledger is not None:
                if m.deep and opts.get("lines"):
                    out["top_lines"] = ledger.top_lines(top)
                    out["top_lines_granularity"] = "statement"
                if opts.get("vars"):
                    out["variables"] = ledger.variables(top, deep=m.deep, deadline=deadline)
                if m.deep and m.tracing_started_here:
                    out["freed_estimate"] = ledger.freed
                    out["resized_estimate"] = ledger.resized
                    out["estimated"] = True
                    if ledger.freed_partial:
                        out["freed_estimate_partial"] = True
        except Exception as e:
            _warn("line table or variables skipped", e)
        finally:
            if ledger is not None:
                out["analysis_s"] = round(ledger.analysis_s + time.perf_counter() - t0, 6)
                running.touched = _touched_names(ledger)
                ledger.release()
        if running.names is not None and opts.get("vars"):
            out["variables"] = self._source_variables(running)
            out["analysis_s"] = round(time.perf_counter() - t0, 6)
        return out

    # -- the fallback cell magic ----------------------------------------------------------------

    def run_cell_fallback(
        self,
        cell: str,
        label: str | None = None,
        quiet: bool = False,
        opts: dict[str, Any] | None = None,
    ) -> Any:
        """Measure around running ``cell`` in the user namespace; return its last expression's
        value (like ``%%time``). Exceptions from the cell propagate unchanged."""
        info, count = self._cells[-1] if self._cells else (None, None)
        opts = dict(opts or _DEEP_OPTS)
        opts["label"], opts["quiet"] = label, quiet
        running: _Running | None = _Running(
            info,
            CellMeasurement(deep=True, keep_tracing=self.mode == "deep"),
            label,
            quiet,
            execution_count=count,
            cell_id=getattr(info, "cell_id", None),
            opts=opts,
        )
        try:
            # The magic's line is line 1 of the notebook cell; the body starts on line 2.
            self._start_deep(running, "\n" + cell, 1)
            self._sync_gc_hook(busy=True)
        except Exception as e:
            _warn("could not start measuring", e)
            running = None
        error = None
        try:
            return self._exec_body(cell, running.ledger if running is not None else None)
        except BaseException as e:
            error = _error_name(e)
            raise
        finally:
            if running is not None:
                try:
                    self._record(running, self._finish(running, error))
                except KeyboardInterrupt:
                    _warn("interrupted while analysing")
                except Exception as e:
                    _warn("could not finish measuring", e)
                finally:
                    self._sync_gc_hook()

    def _running_counter(self, ledger: CellLedger | None) -> TypeCounter | None:
        from ..measure import type_counts

        return type_counts._active

    def _exec_body(self, cell: str, ledger: CellLedger | None = None) -> Any:
        """Run ``cell`` statement by statement (so the ledger sees each), like IPython does."""
        shell = self.shell
        source = shell.transform_cell(cell)
        filename = shell.compile.cache(source, raw_code=cell)
        tree = shell.compile.ast_parse(source, filename=filename)
        tree = shell.transform_ast(tree)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        glob, loc = shell.user_global_ns, shell.user_ns
        steps = [
            (shell.compile(ast.Module([node], []), filename, "exec"), False) for node in tree.body
        ]
        if last is not None:
            steps.append((shell.compile(last, filename, "eval"), True))
        value = None
        counter = self._running_counter(ledger)
        for code, is_last in steps:
            _unfreeze_for_collect(counter, code)
            if ledger is not None:
                try:
                    ledger.before(code)
                except Exception as e:
                    _warn("statement accounting failed", e)
                    ledger = None
            try:
                if is_last:
                    value = eval(code, glob, loc)
                else:
                    exec(code, glob, loc)
            finally:
                if ledger is not None:
                    try:
                        ledger.after()
                    except Exception as e:
                        _warn("statement accounting failed", e)
        return value

    # -- records ------------------------------------------------------------------------------

    def _record(
        self,
        running: _Running,
        numbers: dict[str, Any],
        queue_in: asyncio.AbstractEventLoop | None = None,
    ) -> dict[str, Any]:
        """Store the record and send it (``queue_in``: a loop that may send it batched)."""
        # In protocol.RECORD_KEYS order, as in _light_record_dict.
        record = _new_record(
            running.execution_count,
            running.cell_id if isinstance(running.cell_id, str) else None,
            running.label,
            numbers["mode"],
            numbers["started_at"],
            numbers["duration_s"],
            numbers["rss_before"],
            numbers["rss_after"],
            numbers["rss_peak"],
            numbers["traced_delta"],
            numbers["traced_peak"],
            numbers.get("top_lines") or [],
            numbers.get("types") or [],
            numbers.get("variables") or [],
            numbers["gc"],
            numbers["error"],
            [],  # leaks: the suspects are added when it is stored
        )
        for key in (
            "rss_peak_scope",
            "traced_delta_method",
            "freed_estimate",
            "freed_estimate_partial",
            "top_lines_granularity",
            "types_method",
            "analysis_s",
        ):
            if numbers.get(key) is not None:
                record[key] = numbers[key]
        return self._store_and_send(running, record, numbers, queue_in)

    def _store_and_send(
        self,
        running: _Running,
        record: dict[str, Any],
        numbers: dict[str, Any],
        queue_in: asyncio.AbstractEventLoop | None,
    ) -> dict[str, Any]:
        """Add the leak suspects, store the record, send it (or display its summary)."""
        if self._unbuilt:
            self._build_records()  # records keep the order of their cells
        attached = self.bridge.attached()
        # (A light cell that raised gets its own pass: its traceback is attributed to it.)
        record["leaks"] = self._leak_suspects(numbers, running)
        # The stored dict itself (no copy per cell): only read here, serialized by the comm.
        stored = self.store.add(fit_record(record), owned=True, copy_back=False)
        if attached:
            if queue_in is not None:
                self.bridge.queue(stored, queue_in)
            else:
                self.bridge.publish(stored)
        elif not running.quiet:
            self._display(stored)
        return stored

    def _leak_suspects(self, numbers: dict[str, Any], running: _Running) -> list[dict[str, Any]]:
        """The current leak suspects (memtrack.leaks), incremental: the names the cell touched
        (none known without a ledger), those of batched cells not analysed yet, and what changed
        since the last pass. Deep mode shares the analysis budget (engine + leaks <=
        LEAKS_TOTAL_S); light mode has the detector's tiny fixed budget."""
        deep = numbers.get("mode") == "deep"
        deadline = None
        if deep:
            spent = numbers.get("analysis_s") or 0.0
            deadline = time.perf_counter() + max(LEAKS_MIN_S, LEAKS_TOTAL_S - spent)
        self._note_touched(running)
        return self._leak_pass(running.execution_count, deep, numbers.get("error"), deadline)

    def _leak_pass(
        self, count: int | None, deep: bool, error: str | None, deadline: float | None = None
    ) -> list[dict[str, Any]]:
        names, self._leak_names = self._leak_names, set()
        self._leak_owed = 0
        try:
            return self.leaks.after_cell(
                roots_from_shell(self.shell),
                count,
                deep=deep,
                error=error,
                changed=names,
                deadline=deadline,
            )
        except KeyboardInterrupt:
            _warn("interrupted during leak analysis")
        except Exception as e:
            _warn("leak analysis skipped", e)
        return []

    def _note_touched(self, running: _Running) -> None:
        """Add the names the cell touched to those the next leak pass looks at."""
        touched = running.touched
        if type(touched) is tuple:  # a light cell's: (snapshots, names it created)
            self._leak_names.update(touched[0])
            self._leak_names.update(touched[1])
        elif touched:
            self._leak_names.update(touched)

    def _complete_batch(self, batch: list[Any]) -> None:
        """Bridge.before_send: the owed leak pass, for the batch's last record, when the
        namespace is the one that cell left (no cell running, or a synchronous flush inside the
        cell that asked for it). Otherwise the next batch pays it."""
        if not self._leak_owed or not batch:
            return
        if self._cells_running > 0 and not self._sync_flush:
            return  # a timer during an awaiting cell: its namespace is half-way
        if threading.current_thread() is not threading.main_thread():
            return
        record = batch[-1]
        if not isinstance(record, dict) or record.get("mode") != "light":
            return
        budget = batch_pass_budget(self._leak_owed, self.leaks.config.budget_light_s)
        deadline = time.perf_counter() + budget
        record["leaks"] = self._leak_pass(record.get("execution_count"), False, None, deadline)
        fit_record(record)

    def _display(self, record: dict[str, Any]) -> None:
        """text/plain + text/html summary (terminal IPython shows the text)."""
        try:
            from IPython.display import display

            display({"text/plain": format_text(record), "text/html": format_html(record)}, raw=True)
        except Exception:
            print(format_text(record))
