"""One tracked cell from start to record: what a running cell holds, how its measurement starts
(light or deep), how it is finished and analysed within one time budget, and how its record is
built from the measured values (:func:`memtrack.record.new_record`: the field table decides the
keys). Hooks and state across cells are :mod:`memtrack.shell.tracker`'s; waiting records are
:mod:`memtrack.shell.batching`'s.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from ..measure.cell import CellMeasurement
from ..measure.ledger import CellLedger, changed_variables, snap_source
from ..measure.type_counts import TypeCounter
from ..record import new_record

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
# A light cell's variables: deep sizes of the names it touched, after its reply, within a share
# of the cell's own time, LIGHT_SIZES_MIN_S to LIGHT_SIZES_MAX_S (a value cut short is a lower
# bound, "≥"; the variables section finishes it while the kernel is idle).
# The minimum is small: on a 1 ms cell making 10,000 objects, 100 us of sizing was 9% of the
# cell, above the light-mode cost target (bench: floor + 0.05x, all included).
LIGHT_SIZES_SHARE = 0.02
LIGHT_SIZES_MIN_S = 0.00002
LIGHT_SIZES_MAX_S = 0.005

# The options of a cell tracked by ``%memtrack on`` (shared: read, never changed).
LIGHT_OPTS = {
    "label": None,
    "quiet": False,
    "top": DEFAULT_TOP,
    "lines": False,
    "types": False,
    "vars": True,
}
DEEP_OPTS = {**LIGHT_OPTS, "lines": True, "types": True}


def warn(what: str, exc: BaseException | None = None) -> None:
    """The one line a failure inside the tracker prints (the cell itself is never touched)."""
    text = f"memtrack: {what}"
    if exc is not None:
        text += f" ({type(exc).__name__}: {exc})"
    with contextlib.suppress(Exception):  # no stderr at all: nothing left to tell
        print(f"{text} (tracking skipped for this cell)", file=sys.stderr)


def error_name(exc: BaseException | None) -> str | None:
    return type(exc).__name__ if exc is not None else None


@dataclass(slots=True)
class RunningCell:
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

    @property
    def identity(self) -> tuple[int | None, str | None, str | None]:
        """(execution_count, cell_id, label): what names the cell in its record."""
        cell_id = self.cell_id
        return self.execution_count, cell_id if isinstance(cell_id, str) else None, self.label


def start_light(ns: dict, info: Any, count: int | None, source: str) -> RunningCell:
    """A cell of ``%memtrack on``: no statement hook (it would cost every statement); one look
    at the names the source mentions, before the clock starts."""
    m = CellMeasurement()
    cell_id = getattr(info, "cell_id", None)
    running = RunningCell(info, m, opts=LIGHT_OPTS, execution_count=count, cell_id=cell_id)
    try:
        running.names = snap_source(ns, source)
    except Exception as e:
        warn("could not start the analysis", e)
    m.start()
    return running


def start_deep(running: RunningCell, ns: dict, source: str, line_offset: int) -> None:
    """Start a deep cell's measurement, its type counter and statement ledger (as its options
    ask; an engine started for the cell needs the ledger to see frees of older values)."""
    m, opts = running.measurement, running.opts
    m.start()
    try:
        if opts.get("types"):
            running.counter = TypeCounter().start()
        if opts.get("lines") or opts.get("vars") or m.tracing_started_here:
            running.ledger = CellLedger(
                ns,
                deep=True,
                fresh_tracing=m.tracing_started_here,
                source=source,
                line_offset=line_offset,
                size_budget_s=FREED_BUDGET_S,
                counter=m.engine,
            )
    except Exception as e:
        warn("could not start the analysis", e)


def source_variables(ns: dict, running: RunningCell) -> list[dict[str, Any]]:
    """A light cell's variable changes, from the snapshot of the names its source mentions
    (then forgotten: they become the names the leak pass looks at)."""
    if running.names is None:
        return []
    snaps, absent = running.names
    running.names = None
    # Words of the source that still name nothing (attributes, words in strings, keywords)
    # are neither the cell's variables nor worth a look from the leak pass.
    created = [*filter(ns.__contains__, absent)]
    running.touched = (snaps, created)
    try:
        top = int(running.opts.get("top") or DEFAULT_TOP)
        took = running.measurement.duration_s  # None in a deep cell's analysis: its budget
        budget = LIGHT_SIZES_MAX_S
        if took is not None:
            budget = min(budget, max(LIGHT_SIZES_MIN_S, took * LIGHT_SIZES_SHARE))
        deadline = time.perf_counter() + budget
        return changed_variables(ns, snaps, created, top, deep=True, deadline=deadline)
    except Exception as e:
        warn("variables skipped", e)
        return []


def finish(running: RunningCell, ns: dict, error: str | None) -> dict[str, Any]:
    """Finish the measurement and the analysis (each part failing alone): the measured values,
    by record key."""
    try:
        return running.measurement.finish(error=error, analyze=lambda: analyze(running, ns))
    finally:
        if running.counter is not None:
            running.counter.abandon()


def analyze(running: RunningCell, ns: dict) -> dict[str, Any]:
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
        warn("type counts skipped", e)
    try:
        if ledger is not None:
            if m.deep and opts.get("lines"):
                out["top_lines"] = ledger.top_lines(top)
                out["top_lines_granularity"] = ledger.granularity
            if opts.get("vars"):
                out["variables"] = ledger.variables(top, deep=m.deep, deadline=deadline)
            if m.deep and m.tracing_started_here:
                out["freed_estimate"] = ledger.freed
                out["resized_estimate"] = ledger.resized
                out["estimated"] = True
                if ledger.freed_partial:
                    out["freed_estimate_partial"] = True
    except Exception as e:
        warn("line table or variables skipped", e)
    finally:
        if ledger is not None:
            out["analysis_s"] = round(ledger.analysis_s + time.perf_counter() - t0, 6)
            running.touched = ledger.touched_names()
            ledger.release()
    if running.names is not None and opts.get("vars"):
        out["variables"] = source_variables(ns, running)
        out["analysis_s"] = round(time.perf_counter() - t0, 6)
    return out


def measured_record(running: RunningCell, values: dict[str, Any]) -> dict[str, Any]:
    """A finished cell's record from its measured ``values`` (see :func:`finish`), ``leaks``
    empty: the suspects are added when it is stored."""
    values["execution_count"], values["cell_id"], values["label"] = running.identity
    return new_record(values)


def light_record(
    identity: tuple[Any, ...], m: CellMeasurement, variables: list[Any], analysis_s: float
) -> dict[str, Any]:
    """A light cell's record (Run All builds one per cell, after the replies) from its stopped
    measurement and the variables taken after its reply."""
    t0 = time.perf_counter()
    values = m.light_result()
    values["execution_count"], values["cell_id"], values["label"] = identity
    values["variables"] = variables
    record = new_record(values)
    record["analysis_s"] = round(analysis_s + time.perf_counter() - t0, 6)
    return record
