"""The tracker: ties IPython's cell execution to measurements, the store and the frontend.

How a ``%%memtrack`` cell runs (IPython >= 8, ipykernel >= 6). Both IPython's ``run_cell`` and
ipykernel's ``do_execute`` call ``shell.transform_cell(raw)`` *before* the ``pre_execute`` and
``pre_run_cell`` events fire, then run the transformed code natively. So:

1. an input transformer (:mod:`memtrack.shell.transformer`), first of
   ``shell.input_transformers_cleanup``, sees the lines of a cell about to run at top level (no
   cell running: :mod:`memtrack.shell.cellstack`). If its first line is ``%%memtrack [options]``
   with valid options, it drops that line and leaves a *pending* note: every later transform
   sees the body as the whole cell. Invalid options leave the cell alone, so the real cell magic
   raises the UsageError;
2. ``pre_run_cell`` finds the pending note for this very cell and starts a measurement;
3. IPython runs the body exactly as the body typed alone: same ``Out``/``_``, exceptions,
   tracebacks and their line numbers, top-level ``await``, Ctrl-C, automagics;
4. while it runs, IPython compiles and runs each top-level statement through ``shell.run_code``;
   for the duration of a deep cell the tracker puts a wrapper there (an instance attribute,
   removed in ``post_run_cell``; :mod:`memtrack.shell.statements`) that lets the ledger read the
   traced memory and the names each statement touches: the line table, frees of older values and
   variable changes at a few microseconds per statement, with no line tracer. A light cell has
   no wrapper: the names its source mentions are looked at once, before it runs;
5. ``post_run_cell`` (it gets the ExecutionResult) finishes the measurement
   (:mod:`memtrack.shell.lifecycle`) and hands the record to :mod:`memtrack.shell.batching`,
   which completes, stores and sends it, or displays a short summary when no frontend is
   attached. With a frontend, a light cell's analysis, record and message wait for the kernel's
   event loop (after the reply); records of cells run back to back go in one message with one
   leak pass.

Everything else -- ``%%memtrack`` inside ``%%time`` or a nested ``run_cell``,
``get_ipython().run_cell_magic('memtrack', ...)`` -- reaches the registered cell magic, which
measures around running the body itself (:meth:`Tracker.run_cell_fallback`). A silent execution
(``silent=True``) fires no ``pre_run_cell``: its body runs untracked and nothing is printed.

Any failure inside the tracker prints one line and skips tracking of that cell; it never loses the
cell's result and never raises into the kernel. The tracker keeps no reference to user objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

from ..leaks.detector import LeakDetector
from ..measure import engine
from ..measure.cell import CellMeasurement
from ..measure.ledger import CellLedger
from ..store import RecordStore
from . import bridge as bridge_mod
from . import lifecycle
from .batching import RecordBatcher
from .bridge import Bridge
from .cellstack import CellStack
from .lifecycle import DEEP_OPTS, RunningCell, error_name, warn
from .live import LiveSampler
from .requests import SidebarRequests
from .session import KernelSession
from .statements import RunCodeHook, exec_body, unfreeze_for_collect
from .status import status_line
from .transformer import CellMagicTransformer, first_code_line
from .variables import VariablesView

MODES = ("off", "light", "deep")
_EVENTS = ("pre_execute", "post_execute", "pre_run_cell", "post_run_cell")


class Tracker:
    """Per-shell state of memtrack. Create with a shell, then :meth:`install`."""

    def __init__(self, shell: Any, store: RecordStore | None = None) -> None:
        self.shell = shell
        self.store = store if store is not None else RecordStore()
        self.bridge = Bridge(
            self.store,
            on_reset=self.reset,
            on_why=lambda name, budget_s: self.requests.why(name, budget_s),
            on_release=lambda target, dry_run: self.requests.release(target, dry_run),
            on_configure=self.configure,
            describe=lambda: self.session.describe(self.live),
            on_variables=lambda limit: self.variables.request(limit),
            tracking=lambda: self.mode,
        )
        self.mode = "off"  # tracking of every cell: off | light | deep
        self.installed = False
        # Executions now (pre_execute .. post_execute); ends the cells that ended unannounced.
        self.cells = CellStack(shell, self._drop_unended)
        # Non-silent cells between pre_run_cell and post_run_cell. Unlike self.cells, comm message
        # handlers do not count (comm's handle_msg fires pre_execute/post_execute around them).
        self._cells_running = 0
        self._running: list[RunningCell] = []
        self.transformer = CellMagicTransformer(busy=self.cells.busy)
        self._magics: Any = None
        self._owned_engine: engine.Engine | None = None  # started by continuous deep tracking
        self.statements = RunCodeHook(shell, self._ledger_for)
        self.leaks = LeakDetector()  # leak suspects after each tracked cell (memtrack.leaks)
        self.batch = RecordBatcher(
            shell, self.store, self.bridge, self.leaks, lambda: self._cells_running
        )
        self.requests = SidebarRequests(
            shell, self.leaks, self.flush, lambda: self._cells_running, self.batch.add_entry
        )  # the leak sidebar's why and release (a release is an entry of the history)
        # This kernel across restarts (flight record, spool) and the running cell's live view.
        self.session = KernelSession(shell)
        self.live = LiveSampler(self.bridge.send_live, self.bridge.attached)
        self.variables = VariablesView(  # the sidebar's variables section
            shell, self.bridge.attached, lambda: self._cells_running, lambda: self.store.last_seq
        )
        self._live_info: Any = None  # the ExecutionInfo of the cell the sampler follows

    # -- installation -------------------------------------------------------------------------

    def _callbacks(self) -> tuple[tuple[str, Any], ...]:
        return tuple(
            zip(
                _EVENTS,
                (self._pre_execute, self._post_execute, self._pre_run_cell, self._post_run_cell),
                strict=True,
            )
        )

    def install(self) -> None:
        if self.installed:
            return
        from .magics import MemtrackMagics

        shell = self.shell
        for name, callback in self._callbacks():
            shell.events.register(name, callback)
        shell.input_transformers_cleanup.insert(0, self.transformer)
        self._magics = MemtrackMagics(shell, self)
        shell.register_magics(self._magics)
        self.bridge.register(shell)
        bridge_mod.set_active(self.bridge)
        self.installed = True
        self._sync_gc_hook()
        self.open_session()

    def uninstall(self) -> None:
        if not self.installed:
            return
        shell = self.shell
        for name, callback in self._callbacks():
            with contextlib.suppress(ValueError):
                shell.events.unregister(name, callback)
        cleanup = shell.input_transformers_cleanup
        while self.transformer in cleanup:
            cleanup.remove(self.transformer)
        magics = shell.magics_manager.magics
        for kind in ("line", "cell"):
            if magics[kind].get("memtrack") is not None:
                owner = getattr(magics[kind]["memtrack"], "__self__", None)
                if owner is self._magics:
                    del magics[kind]["memtrack"]
        self.flush()
        self.close_session(remove=False)
        self.bridge.unregister()
        self.leaks.uninstall_gc_hook()
        if bridge_mod.attached_bridge() is self.bridge:
            bridge_mod.set_active(None)
        for running in self._running:
            running.abandon()
        self._running.clear()
        self.statements.remove()
        self.transformer.pending = None
        self.mode = "off"
        self._release_tracing()
        self.installed = False

    # -- public controls ----------------------------------------------------------------------

    def _announce(self, mode: str) -> None:
        """The kernel is the one source of truth for the mode: every open frontend hears of each
        change, whatever made it (magic, API, the sidebar's button or setting)."""
        changed, self.mode = self.mode != mode, mode
        if changed and self.bridge.attached():
            self.bridge.publish_tracking(mode)

    def start(self, deep: bool = False, summaries: bool | None = None) -> None:
        """Track every following cell (light; deep keeps its engine counting between cells).
        ``summaries``: whether those cells display their summary when no frontend listens
        (None: as before; the default is off in a kernel, on in terminal IPython)."""
        if summaries is not None:
            self.batch.every_cell_summaries = summaries
        self._announce("deep" if deep else "light")
        self._sync_gc_hook()

    def stop(self) -> None:
        """Stop tracking every cell (``%%memtrack`` keeps working). The cell calling this is not
        recorded."""
        self._announce("off")
        keep = []
        for running in self._running:
            if running.armed:
                keep.append(running)
            else:
                running.abandon()
        self._running = keep
        if not keep:
            self.statements.remove()
        self._release_tracing()
        self._sync_gc_hook()

    def flush(self, batch: bool = False) -> None:
        """Analyse, build, store and send every record that waits (see
        :meth:`memtrack.shell.batching.RecordBatcher.flush`). Never raises."""
        self.batch.flush(batch)

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
        """Stop the engine continuous deep tracking started (no tax left behind)."""
        owned, self._owned_engine = self._owned_engine, None
        if owned is not None and owned.is_tracing() and not any(r.armed for r in self._running):
            owned.stop()

    def reset(self) -> None:
        """Clear the history and tell the frontends."""
        self.batch.clear()
        self.session.clear()
        self.store.clear()
        self.leaks.clear()
        self.variables.clear()
        self.bridge.publish_reset()

    def configure(self, settings: dict[str, Any]) -> None:
        """The frontend's settings: ``leak_threshold`` (its ``leakThreshold``) and, when sent,
        ``guard`` (its ``memoryGuard``); ValueError on a bad value."""
        self.leaks.config.update(threshold=settings["leak_threshold"])
        if "guard" in settings:
            self.set_guard(settings["guard"])

    def set_guard(self, share: float | None) -> None:
        """Interrupt a running cell when memory passes ``share`` of the limit (None: off)."""
        self.live.set_guard(share)

    def guard_line(self) -> str:
        return self.live.guard_line()

    # -- this kernel across its processes -----------------------------------------------------

    def open_session(self) -> None:
        """This process's flight record and spool (see KernelSession.attach)."""
        self.session.attach(self.shell, self.live, self.batch, self.flush)

    def close_session(self, remove: bool) -> None:
        self.session.detach(remove)

    def status_line(self) -> str:
        return status_line(self)

    def report_text(self) -> str:
        """``%memtrack report``: a plain-text table of the cells and the leak suspects."""
        from ..reports.text import format_text

        self.flush()
        return format_text(self.store.snapshot())

    # -- events -------------------------------------------------------------------------------

    def _drop_unended(self, info: Any) -> bool:
        """A cell that ended without post_run_cell: its measurement dropped (whether it had
        one), its state undone (engine, run_code wrapper)."""
        self._cells_running = max(0, self._cells_running - 1)
        return self._cell_ended(info, None, keep=False)

    def _pre_execute(self) -> None:
        self.cells.pre_execute()
        if not self.bridge.is_own_message(self.shell):
            # User code may run now (a cell, a widget's callback): no walk holds its values.
            self.variables.cell_starting()

    def _post_execute(self) -> None:
        self.cells.post_execute()
        if not self.cells.levels:
            self.transformer.pending = None  # a silent run consumed no pending note; drop it

    def _pre_run_cell(self, info: Any) -> None:
        if self.batch.deferred:
            self.flush(batch=True)  # the previous cell's record describes the namespace it left
        self._cells_running += 1
        try:
            pending = self.transformer.take()
            shell = self.shell
            count = getattr(shell, "execution_count", None)
            if getattr(info, "store_history", False) and isinstance(count, int):
                count -= 1  # run_cell_async increments before pre_run_cell
            self.cells.pre_run_cell(info, count)
            top_level = self.cells.depth <= 1
            raw = getattr(info, "raw_cell", "") or ""
            offset = 0
            if pending is not None and top_level and first_code_line(raw) == pending.first_line:
                m = CellMeasurement(deep=True, keep_tracing=self.mode == "deep")
                opts = pending.opts
                offset = pending.line_offset
                running = RunningCell(info, m, opts["label"], opts["quiet"], armed=True, opts=opts)
            elif self.mode == "light" and top_level:
                light = lifecycle.start_light(shell.user_ns, info, count, raw)
                self._running.append(light)
                self._live_started(info, count, light)
                return
            elif self.mode == "deep" and top_level:
                m = CellMeasurement(deep=True, keep_tracing=True)
                running = RunningCell(info, m, opts=DEEP_OPTS)
            else:
                if top_level and (self.bridge.attached() or self.live.guard is not None):
                    # Untracked, but the sidebar still sees it live (or the guard watches it).
                    self._live_started(info, count, None)
                return
            running.execution_count = count
            running.cell_id = getattr(info, "cell_id", None)
            self._start_deep(running, raw, offset)
            self._running.append(running)
            self._sync_gc_hook()
            if running.ledger is not None:
                self.statements.install()
            self._live_started(info, count, running)
        except Exception as e:
            warn("could not start measuring", e)

    def _live_started(self, info: Any, count: int | None, running: RunningCell | None) -> None:
        """The sampler follows this top-level cell (its RSS before is the measurement's)."""
        if self._live_info is not None:
            return  # a cell already followed (nested run_cell): the outer one goes on
        m = running.measurement if running is not None else None
        mode = 2 if m is None else (1 if m.deep else 0)
        self._live_info = info
        self.live.cell_started(
            count, getattr(info, "cell_id", None), mode, m.rss_before if m is not None else None
        )

    def _live_finished(self, info: Any) -> None:
        if self._live_info is not None and (info is self._live_info or info is None):
            self._live_info = None
            self.live.cell_finished()

    def _start_deep(self, running: RunningCell, source: str, line_offset: int) -> None:
        lifecycle.start_deep(running, self.shell.user_ns, source, line_offset)
        m = running.measurement
        if m.tracing_started_here and m.keep_tracing:
            self._owned_engine = m.engine

    def _ledger_for(self, code_obj: Any) -> CellLedger | None:
        """The ledger of the cell running now, when ``code_obj`` is one of its statements."""
        if self.cells.depth != 1 or not self._running:
            return None
        running = self._running[-1]
        ledger = running.ledger
        cell = self.cells.innermost_cell()
        if ledger is None or cell is None or running.info is not cell.info:
            return None
        if not ledger.accepts(code_obj):
            return None
        unfreeze_for_collect(running.counter, code_obj)
        return ledger

    def _post_run_cell(self, result: Any) -> None:
        # post_run_cell fires even for a failed or cancelled cell; the extension's own
        # %load_ext cell only fires it (never below zero).
        self._cells_running = max(0, self._cells_running - 1)
        info = getattr(result, "info", None)
        level = self.cells.finished(result)
        if level is not None:
            info = level.info  # IPython rebuilds the info when its runner raised
            self.variables.cell_finished(level.execution_count)
        self._cell_ended(info, result, keep=True)

    def _cell_ended(self, info: Any, result: Any, keep: bool) -> bool:
        """Finish (``keep``) or drop the measurement of the cell of ``info``; whether there was
        one."""
        running = None
        try:
            self._live_finished(info)
            if not self._running:
                return False
            for i in range(len(self._running) - 1, -1, -1):
                if self._running[i].info is info:
                    running = self._running[i]
                    for stale in self._running[i + 1 :]:
                        stale.abandon()
                    del self._running[i:]
                    break
            if running is not None and not keep:
                running.abandon()
                return True
            if running is None:
                if result is not None or not keep:
                    return False  # not a cell we measure
                # ipykernel passes None when the cell's coroutine raised (e.g. cancelled).
                running = self._running.pop()
                error = error_name(sys.exc_info()[1]) or "KeyboardInterrupt"
            else:
                error = error_name(
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
                self.batch.defer(loop, running)
                return True
            self._record(running, error)
        except KeyboardInterrupt:
            # Ctrl-C during our analysis: never let it escape a post-execute hook.
            warn("interrupted while analysing")
        except Exception as e:
            warn("could not finish measuring", e)
        finally:
            if not self._running:
                if self.statements.installed:
                    self.statements.remove()
                if self.leaks.gc_hooked:
                    self._sync_gc_hook()
        return running is not None

    def _idle_loop(self, running: RunningCell) -> asyncio.AbstractEventLoop | None:
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

    def _record(self, running: RunningCell, error: str | None) -> dict[str, Any]:
        """Finish the cell now and hand its record over to be stored and sent."""
        values = lifecycle.finish(running, self.shell.user_ns, error)
        return self.batch.record(running, lifecycle.measured_record(running, values))

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
        level = self.cells.innermost_cell()
        info, count = (level.info, level.execution_count) if level is not None else (None, None)
        opts = dict(opts or DEEP_OPTS)
        opts["label"], opts["quiet"] = label, quiet
        running: RunningCell | None = RunningCell(
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
            warn("could not start measuring", e)
            running = None
        error = None
        try:
            return exec_body(self.shell, cell, running.ledger if running is not None else None)
        except BaseException as e:
            error = error_name(e)
            raise
        finally:
            if running is not None:
                try:
                    self._record(running, error)
                except KeyboardInterrupt:
                    warn("interrupted while analysing")
                except Exception as e:
                    warn("could not finish measuring", e)
                finally:
                    self._sync_gc_hook()
