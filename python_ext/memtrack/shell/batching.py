"""Every record that waits, from a cell's end until it is complete, stored and sent.

A record is stored and announced once, complete: the store's listeners (``memtrack.widget()``),
the store itself and the comm message carry the same dict, leak suspects included.

What waits here, in the order of the cells:

* light cells measured but not yet analysed (:meth:`RecordBatcher.defer`): with a frontend
  listening, a light cell returns first; its variables are compared on the kernel's loop right
  after the reply, before the next cell can change them (:meth:`RecordBatcher.flush` with
  ``batch=True``, or the next cell's ``pre_run_cell``);
* light cells analysed whose record is not built yet: they are built together when the batch
  timer fires (``BATCH_DELAY_S``), when the batch is full (``BATCH_MAX``), before any later
  record, or on :meth:`RecordBatcher.flush`. One warm loop costs less than a cold build after
  every cell. Cells run back to back share one leak pass: it runs for the batch's last record
  (the namespace that cell left), before that record is stored, with the budget of the cells it
  stands for; the records before it carry the previous pass's suspects;
* stored records of light cells that raised, which go out with the batch's message.

Deep and synchronous cells are built, completed, stored and sent at once (after what waits, so
``seq`` and the messages keep the cells' order); without a frontend their summary is displayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ..leaks.detector import LeakDetector
from ..leaks.roots import roots_from_shell
from ..record import fit_record
from ..reports.summary import format_html, format_text
from ..store import RecordStore
from .bridge import BATCH_MAX, Bridge
from .lifecycle import RunningCell, light_record, source_variables, warn

# Light records wait at most this long for their batch's message.
BATCH_DELAY_S = 0.05
# The leak pass of a batch of light records runs after the replies, while the kernel is idle:
# a cell's budget each, within these bounds.
BATCH_PASS_MIN_S, BATCH_PASS_MAX_S = 0.001, 0.003
# Deep mode's leak pass shares the cell's analysis budget: engine and leaks together within
# LEAKS_TOTAL_S (at least LEAKS_MIN_S for the leaks).
LEAKS_TOTAL_S = 0.045
LEAKS_MIN_S = 0.002


def batch_pass_budget(cells: int, per_cell_s: float) -> float:
    """Seconds for the leak pass of a batch of light records: the pass stands for every cell
    since the last one and gets their budgets, bounded (one cell's 0.3 ms can run out on a busy
    machine before the output history is looked at)."""
    return min(BATCH_PASS_MAX_S, max(BATCH_PASS_MIN_S, cells * per_cell_s))


def show_summary(record: dict[str, Any], in_kernel: bool) -> None:
    """In a kernel: a text/plain + text/html display in the cell's output. In terminal IPython:
    the text on stderr, apart from the cell's own output (see :func:`print_apart`)."""
    if not in_kernel:
        print_apart(format_text(record))
        return
    try:
        from IPython.display import display

        display({"text/plain": format_text(record), "text/html": format_html(record)}, raw=True)
    except Exception:
        print(format_text(record))


def print_apart(text: str) -> None:
    """A line for the person at the terminal that is no part of the cell's output: on stderr
    (stdout, ``_`` and the cell's displays stay the cell's own), written through the stream's
    class, past the write that IPython's run_cell puts on the stream's instance to keep what the
    cell printed (its history outputs, which ``%notebook`` saves)."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()  # after what the cell printed
    stream = sys.stderr
    try:
        type(stream).write(stream, text + "\n")
        stream.flush()
    except Exception:
        with contextlib.suppress(Exception):
            print(text, file=stream)


class RecordBatcher:
    """Owns the waiting records of one shell (see the module's docstring).

    ``cells_running()`` says how many cells are between ``pre_run_cell`` and ``post_run_cell``:
    a batch's leak pass waits for none to be running (a timer during an awaiting cell sees a
    namespace half-way), unless a synchronous flush inside a cell asked for it.
    """

    def __init__(
        self,
        shell: Any,
        store: RecordStore,
        bridge: Bridge,
        leaks: LeakDetector,
        cells_running: Callable[[], int],
    ) -> None:
        self.shell = shell
        self.store = store
        self.bridge = bridge
        self.leaks = leaks
        self._cells_running = cells_running
        self.deferred: list[RunningCell] = []  # measured, not analysed yet
        self._flush_handle: asyncio.Handle | None = None
        # Analysed light cells: (identity, measurement, variables, analysis seconds).
        self.unbuilt: list[tuple[Any, ...]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None  # the loop of _timer
        # The names the cells since the last leak pass touched, and how many cells it owes.
        self._leak_names: set[str] = set()
        self._leak_owed = 0
        self._sync = False  # flush(batch=False) is building: the pass may run mid-cell
        self.spool: Any = None  # memtrack.spool.Spool: every stored record goes there too
        # Without a frontend, whether cells of "every cell" tracking display their summary
        # (%%memtrack cells always do). Off in a kernel: a headless run (nbconvert, papermill)
        # must save the notebook's own outputs; on in terminal IPython, its only display.
        self.in_kernel = getattr(shell, "kernel", None) is not None
        self.every_cell_summaries = not self.in_kernel

    def __len__(self) -> int:
        """Records that wait to be built (counted as recorded: history() includes them)."""
        return len(self.unbuilt)

    # -- entry points -------------------------------------------------------------------------

    def defer(self, loop: asyncio.AbstractEventLoop, running: RunningCell) -> None:
        """A light cell measured (its clock and RSS read): analyse it on ``loop`` after the
        reply."""
        deferred = self.deferred
        deferred.append(running)
        if len(deferred) > self.store.max_records:
            del deferred[: -self.store.max_records]  # bounded if the loop never runs it
        if self._flush_handle is None:
            self._flush_handle = loop.call_soon(self._flush_from_loop)

    def record(self, running: RunningCell, record: dict[str, Any]) -> dict[str, Any]:
        """A finished cell's record, now: completed, stored, sent (or its summary shown)."""
        return self._store_and_send(running, record, None)

    def flush(self, batch: bool = False) -> None:
        """Analyse the deferred light cells now (before the next cell runs, so the namespace
        they describe is the one they left), then build, store and send every record that waits.
        ``batch``: only analyse; their records wait for their batch. Never raises."""
        handle, self._flush_handle = self._flush_handle, None
        if handle is not None:
            handle.cancel()
        loop = None
        if batch:
            with contextlib.suppress(RuntimeError):
                loop = asyncio.get_running_loop()
        while self.deferred:
            running = self.deferred.pop(0)
            try:
                self._analyse(running, loop)
            except KeyboardInterrupt:
                warn("interrupted while analysing")
            except Exception as e:
                warn("could not finish measuring", e)
        if not batch:
            self._sync = True
            try:
                self._build(send=True)
            except Exception as e:
                warn("could not store the records", e)
            finally:
                self._sync = False

    def queue_record(self, stored: dict[str, Any], loop: asyncio.AbstractEventLoop | None) -> None:
        """Send a stored, complete record with the batch's message: within ``BATCH_DELAY_S``
        when ``loop`` (the running loop of this thread) can wait, else now."""
        self.bridge.queue_many([stored], send=loop is None)
        if loop is not None:
            self._arm(loop)

    def add_entry(self, record: dict[str, Any]) -> dict[str, Any]:
        """A history entry that is not a cell (a release from the sidebar), between cells:
        after the records that wait, stored, spooled and sent now."""
        self.flush()
        stored = self.store.add(fit_record(record), owned=True, copy_back=False)
        self._spool([stored])
        if self.bridge.attached():
            self.bridge.publish(stored)
        return stored

    def restored(self, record: dict[str, Any]) -> dict[str, Any]:
        """A record this process did not measure (the ``KernelDied`` record of the cell the
        previous process died in): stored and spooled; frontends get it with the history."""
        stored = self.store.add(fit_record(record), owned=True, copy_back=False)
        self._spool([stored])
        return stored

    def _spool(self, stored: list[dict[str, Any]]) -> None:
        spool = self.spool
        if spool is not None and stored:
            try:
                spool.append(stored)
                spool.flush()
            except Exception as e:
                warn("could not spool the records", e)

    def clear(self) -> None:
        """Forget what waits (the history is being reset)."""
        self.deferred.clear()
        self.unbuilt.clear()
        handle, self._timer = self._timer, None
        if handle is not None:
            handle.cancel()
        self._leak_names.clear()
        self._leak_owed = 0

    # -- light cells --------------------------------------------------------------------------

    def _flush_from_loop(self) -> None:
        self._flush_handle = None
        self.flush(batch=True)

    def _analyse(self, running: RunningCell, loop: asyncio.AbstractEventLoop | None) -> None:
        """A deferred light cell, after its reply: its variables (they describe the namespace the
        cell left, so before the next cell runs). A cell that ran without an error while a
        frontend listens and the loop can wait has its record built later with the others of
        its batch; any other gets its record now."""
        t0 = time.perf_counter()
        variables = source_variables(self.shell.user_ns, running)
        m = running.measurement
        if m.error is None and loop is not None and self.bridge.attached():
            # Its suspects are the last pass's, carried forward, unless it ends its batch.
            self._note_touched(running)
            self._leak_owed += 1
            self.unbuilt.append((running.identity, m, variables, time.perf_counter() - t0))
            if len(self.unbuilt) >= BATCH_MAX:
                self._build(send=True)
            else:
                self._arm(loop)
            return
        record = light_record(running.identity, m, variables, time.perf_counter() - t0)
        self._store_and_send(running, record, loop)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """The batch timer, on ``loop`` (a timer left on another or a closed loop would never
        fire: one on this one)."""
        if self._timer is None or self._timer_loop is not loop:
            self._timer = loop.call_later(BATCH_DELAY_S, self._on_timer)
            self._timer_loop = loop

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self._build(send=True)
        except Exception as e:
            warn("could not store the records", e)

    def _build(self, send: bool) -> None:
        """Build the records of the analysed light cells, in order, complete the batch's last
        one with the owed leak pass when it is sent now, store them and queue them; ``send``:
        send the batch now (else the record that follows takes them along)."""
        handle, self._timer = self._timer, None
        if handle is not None:
            handle.cancel()
        unbuilt, self.unbuilt = self.unbuilt, []
        records = []
        if unbuilt:
            carried = self.leaks.last
            for identity, m, variables, analysis_s in unbuilt:
                record = light_record(identity, m, variables, analysis_s)
                record["leaks"] = list(carried)
                records.append(record)
            if send:
                self._complete(records[-1])
        add = self.store.add
        stored = [add(fit_record(r), owned=True, copy_back=False) for r in records]
        self._spool(stored)
        self.bridge.queue_many(stored, send)

    def _complete(self, record: dict[str, Any]) -> None:
        """The owed leak pass, for the batch's last record, when the namespace is the one that
        cell left (no cell running, or a synchronous flush inside the cell that asked for it).
        Otherwise the next batch pays it, and this record keeps the carried suspects."""
        if not self._leak_owed:
            return
        if self._cells_running() > 0 and not self._sync:
            return  # a timer during an awaiting cell: its namespace is half-way
        if threading.current_thread() is not threading.main_thread():
            return
        budget = batch_pass_budget(self._leak_owed, self.leaks.config.budget_light_s)
        deadline = time.perf_counter() + budget
        record["leaks"] = self.leak_pass(record.get("execution_count"), False, None, deadline)

    # -- storing and sending ------------------------------------------------------------------

    def _store_and_send(
        self,
        running: RunningCell,
        record: dict[str, Any],
        loop: asyncio.AbstractEventLoop | None,
    ) -> dict[str, Any]:
        """Add the leak suspects, store the record, send it (or display its summary)."""
        if self.unbuilt:
            self._build(send=False)  # records keep the order of their cells
        attached = self.bridge.attached()
        # (A light cell that raised gets its own pass: its traceback is attributed to it.)
        record["leaks"] = self.leak_suspects(record, running)
        # The stored dict itself (no copy per cell): only read here, serialized by the comm.
        stored = self.store.add(fit_record(record), owned=True, copy_back=False)
        self._spool([stored])
        if attached:
            if loop is not None:
                self.queue_record(stored, loop)
            else:
                self.bridge.publish(stored)
        elif not running.quiet and (running.armed or self.every_cell_summaries):
            show_summary(stored, self.in_kernel)
        return stored

    # -- leak passes --------------------------------------------------------------------------

    def leak_suspects(self, record: dict[str, Any], running: RunningCell) -> list[dict[str, Any]]:
        """The current leak suspects (memtrack.leaks), incremental: the names the cell touched
        (none known without a ledger), those of batched cells not analysed yet, and what changed
        since the last pass. Deep mode shares the analysis budget (engine + leaks <=
        LEAKS_TOTAL_S); light mode has the detector's tiny fixed budget."""
        deep = record.get("mode") == "deep"
        deadline = None
        if deep:
            spent = record.get("analysis_s") or 0.0
            deadline = time.perf_counter() + max(LEAKS_MIN_S, LEAKS_TOTAL_S - spent)
        self._note_touched(running)
        return self.leak_pass(running.execution_count, deep, record.get("error"), deadline)

    def leak_pass(
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
            warn("interrupted during leak analysis")
        except Exception as e:
            warn("leak analysis skipped", e)
        return []

    def _note_touched(self, running: RunningCell) -> None:
        """Add the names the cell touched to those the next leak pass looks at."""
        touched = running.touched
        if type(touched) is tuple:  # a light cell's: (snapshots, names it created)
            self._leak_names.update(touched[0])
            self._leak_names.update(touched[1])
        elif touched:
            self._leak_names.update(touched)
