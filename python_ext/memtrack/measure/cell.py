"""Pure measurement of one cell: RSS, peak RSS, Python allocations (engine.py), gc. Pure:
no IPython import.

Costs (see docs/design-notes.md): reading RSS with ``pread`` on a kept-open ``/proc/self/statm`` is
~2 us; resetting the kernel's high-water mark through ``/proc/self/clear_refs`` ~10 us;
an engine's ``traced()``/``reset_peak()`` ~1 us. Counting allocations is the expensive part
(native: 1.1-2x on allocation-heavy code; tracemalloc: 2-20x), so only deep measurements do.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, NamedTuple

from . import allocators, cluster, engine, gpu

try:  # not on Windows
    import resource
except ImportError:  # pragma: no cover - platform dependent
    resource = None  # type: ignore[assignment]

_PAGE_SIZE = 4096
with contextlib.suppress(AttributeError, ValueError, OSError):  # no sysconf on Windows
    _PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# Peak scopes reported by CellMeasurement.finish()["rss_peak_scope"].
PEAK_CELL = "cell"  # high-water mark reset at the cell's start: the cell's own peak
PEAK_PROCESS = "process"  # could not reset: the process's lifetime peak (an upper bound)

# How traced_delta was obtained (CellMeasurement.finish()["traced_delta_method"]).
METHOD_CONTINUOUS = "continuous"  # the engine was already counting: every free is seen
METHOD_ESTIMATE = "cell+freed-estimate"  # started for the cell, minus estimated older frees
METHOD_CELL_ONLY = "cell-only"  # started for the cell, older frees not estimated


def _open(path: str, flags: int) -> int | None:
    try:
        return os.open(path, flags)
    except OSError:
        return None


class _ProcFiles:
    """Kept-open ``/proc/self`` files, read with ``pread`` (no open/close per reading)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statm = _open("/proc/self/statm", os.O_RDONLY)
        self.status = _open("/proc/self/status", os.O_RDONLY)
        self.clear_refs = _open("/proc/self/clear_refs", os.O_WRONLY)


_proc: _ProcFiles | None = None


def _forget_files() -> None:
    # After a fork the child's "self" is another process: reopen on first use (no getpid()
    # per reading: it is a system call since glibc 2.25).
    global _proc, _ru_least, _stale_maxrss
    _proc = None
    _ru_least, _stale_maxrss = None, 0  # the child's ru_maxrss is its own


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_files)


def _files() -> _ProcFiles:
    """The process's kept-open files."""
    global _proc
    proc = _proc
    if proc is None:
        proc = _proc = _ProcFiles()
    return proc


def _rusage() -> Any:
    """``getrusage(RUSAGE_SELF)`` (the whole process), or None where it cannot be read."""
    if resource is None:
        return None
    try:
        return resource.getrusage(resource.RUSAGE_SELF)
    except (OSError, ValueError):
        return None


def _maxrss_bytes() -> int | None:
    usage = _rusage()
    if usage is None:
        return None
    maxrss = usage.ru_maxrss
    # Linux and the BSDs report KiB, macOS bytes.
    return int(maxrss) if sys.platform == "darwin" else int(maxrss) * 1024


def rss() -> int | None:
    """Current resident set size in bytes, or None where it cannot be read cheaply."""
    fd = _files().statm
    if fd is not None:
        try:
            return int(os.pread(fd, 64, 0).split(None, 2)[1]) * _PAGE_SIZE
        except (OSError, ValueError, IndexError):
            pass
    # Elsewhere only the lifetime peak is cheap to get; it is no stand-in for the current size.
    return None


def peak_rss() -> int | None:
    """High-water mark of the RSS in bytes (VmHWM), since the process start or the last reset."""
    fd = _files().status
    if fd is not None:
        try:
            data = os.pread(fd, 8192, 0)
            i = data.find(b"VmHWM:")
            if i >= 0:
                parts = data[i + 6 : data.find(b"\n", i)].split()
                value = int(parts[0])
                unit = parts[1].lower() if len(parts) > 1 else b"kb"
                return value * 1024 if unit == b"kb" else value
        except (OSError, ValueError, IndexError):
            pass
    return _maxrss_bytes()


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux ``clear_refs`` 5). True when it worked.

    This resets VmHWM and ``ru_maxrss`` for the whole process: another tool reading them in the
    same process sees the reset too.
    """
    fd = _files().clear_refs
    if fd is None:
        return False
    try:
        return os.write(fd, b"5") == 1
    except OSError:
        return False


# ru_maxrss is max(VmHWM, a value the kernel keeps in the process's signal struct). That value is
# set at exec from the memory of the process that exec'd (Python's subprocess spawns with vfork:
# a kernel started by a 90 MB Jupyter server reports >= 90 MB) and then never changes while the
# process lives (do_exit folds the memory in only when the whole process dies); no reset clears
# it. So every reading is an upper bound of it: a reading above the lowest one seen so far
# (_ru_least) is VmHWM itself, with no /proc/self/status to parse (~9 us). _stale_maxrss: the
# value itself, once a reading above VmHWM showed it; while the RSS stays below it, ru_maxrss
# only repeats it and VmHWM is read directly.
_stale_maxrss = 0
_ru_least: int | None = None


def _note_stale_maxrss(value: int) -> None:
    global _stale_maxrss
    _stale_maxrss = max(_stale_maxrss, value)


def _rusage_peak() -> int | None:
    """``ru_maxrss`` in bytes (Linux: KiB). ~1 us, against ~9 us for parsing /proc/self/status.
    An upper bound of the peak since the last reset: see ``_ru_least``."""
    return _maxrss_bytes()


def _page_faults() -> int | None:
    """Page faults of the whole process so far (minor and major; ~1 us). Every page that becomes
    resident in its page tables is faulted in, populating calls (mmap's MAP_POPULATE, mlock,
    madvise's MADV_POPULATE_*) included: none since the peak's reset means the RSS has not grown
    since. Not seen: a khugepaged collapse filling a huge page (<= 2 MB) or another process
    writing into this one's memory, when freed again before the cell ends."""
    usage = _rusage()
    return None if usage is None else usage.ru_minflt + usage.ru_majflt


def _peak_from_rusage(top: int) -> tuple[int | None, int | None]:
    """``(ru_maxrss, the peak since the reset or None)`` where ``top`` is the larger of the RSS
    readings at both ends: the peak when ru_maxrss alone proves it, else None (read VmHWM)."""
    global _ru_least
    ru = _rusage_peak()
    if ru is None:
        return None, None
    least = _ru_least
    if least is None or ru < least:
        _ru_least = ru  # a real reading: still an upper bound of the exec value
    if ru <= top:
        return ru, top  # VmHWM <= ru_maxrss <= top <= VmHWM: nothing above the ends
    if least is not None and ru > least:
        return ru, ru  # above the exec value: it is VmHWM
    return ru, None


def gc_stats() -> list[tuple[int, int, int]]:
    """(collections, collected, uncollectable) per generation, cumulative since start."""
    try:
        return [
            (
                int(s.get("collections", 0)),
                int(s.get("collected", 0)),
                int(s.get("uncollectable", 0)),
            )
            for s in gc.get_stats()
        ]
    except Exception:  # pragma: no cover - exotic interpreters
        return []


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


_iso_second: tuple[int, str] = (-1, "")  # a whole second and its "YYYY-MM-DDTHH:MM:SS"


def _iso(ts: float) -> str:
    """``time.time()`` value as ISO 8601 UTC with microseconds (half the cost of datetime)."""
    global _iso_second
    sec = int(ts)
    cached = _iso_second  # one tuple, replaced whole: safe to read from any thread
    if cached[0] != sec:
        cached = _iso_second = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
    return f"{cached[1]}.{min(999_999, int((ts - sec) * 1e6)):06d}+00:00"


def _gc_delta(before: list[dict], after: list[dict]) -> dict[str, Any] | None:
    """Difference of two ``gc.get_stats()`` results (read raw: converting costs per cell)."""
    if not before or len(after) != len(before):
        return None
    if after == before:  # most cells: no collection at all
        return {"collections": [0] * len(after), "collected": 0, "uncollectable": 0}
    try:
        collections = []
        collected = uncollectable = 0
        for a, b in zip(after, before, strict=True):
            collections.append(int(a.get("collections", 0)) - int(b.get("collections", 0)))
            collected += int(a.get("collected", 0)) - int(b.get("collected", 0))
            uncollectable += int(a.get("uncollectable", 0)) - int(b.get("uncollectable", 0))
    except Exception:  # pragma: no cover - exotic interpreters
        return None
    return {"collections": collections, "collected": collected, "uncollectable": uncollectable}


def _raw_gc_stats() -> list[dict]:
    try:
        return gc.get_stats()
    except Exception:  # pragma: no cover - exotic interpreters
        return []


# Measurements running right now (nested ones: a %%memtrack inside a tracked cell). Resetting the
# RSS high-water mark or the tracemalloc peak would erase what an outer measurement has not read
# yet, so the value before each reset is handed to every active measurement first.
_active: list[CellMeasurement] = []
_active_lock = threading.Lock()


def _save_peaks_before_reset(rss_hwm: bool, traced: bool) -> None:
    with _active_lock:
        active = list(_active)
    if not active:
        return
    hwm = peak_rss() if rss_hwm else None
    counting = engine.counting() if traced else None
    traced_peak = counting.traced()[1] if counting is not None else None
    for m in active:
        if hwm is not None:
            m._rss_peak_seen = max(m._rss_peak_seen or 0, hwm)
        if traced_peak is not None and m._traced_before is not None:
            m._traced_peak_seen = max(m._traced_peak_seen or 0, traced_peak)


class _Readings(NamedTuple):
    """What :meth:`CellMeasurement.stop` read at the cell's end, for its result."""

    error: str | None
    duration: float
    tracing: bool
    traced_now: int | None
    traced_peak: int | None
    rss_after: int | None
    hwm: int | None
    alloc_after: int | None
    tracer_now: int | None  # the engine's own memory when alloc_after was read
    cluster: dict[str, Any] | None  # the record's ``cluster`` (a dask client is active)
    gpu: list[dict[str, Any]] | None  # the record's ``gpu`` (a GPU library is in use)


class CellMeasurement:
    """Measure one cell: ``start()`` before it runs, ``finish()`` after; ``finish`` returns a dict.

    ``deep=True`` also measures Python allocations with an engine (:mod:`.engine`: native, or
    tracemalloc):

    * if one is already counting (the user's tracemalloc, another profiler, or continuous deep
      tracking) it is reused as it is: never stopped, tracemalloc's frame limit kept;
    * otherwise one is started for this cell and stopped again in ``finish`` unless
      ``keep_tracing`` is set, so no tax stays behind. In that case it only knows blocks
      allocated during the cell: frees of memory allocated before the cell are invisible to it,
      so the caller's ``analyze`` estimates them (``traced_delta_method``).

    The measurement holds no reference to any user object.
    """

    __slots__ = (
        "_alloc_before",
        "_alloc_method",
        "_cluster",
        "_counter",
        "_end",
        "_faults_before",
        "_gc_after",
        "_gc_before",
        "_gpu",
        "_rss_before",
        "_rss_peak_seen",
        "_t0",
        "_traced_before",
        "_traced_peak_seen",
        "_tracer_before",
        "_wall0",
        "deep",
        "engine",
        "error",
        "finished",
        "keep_tracing",
        "peak_reset",
        "started",
        "tracing_started_here",
    )

    def __init__(self, deep: bool = False, keep_tracing: bool = False) -> None:
        self.deep = deep
        self.keep_tracing = keep_tracing
        self.started = False
        self.finished = False
        self.error: str | None = None  # the exception type name stop() was given
        self._wall0: float | None = None
        self.tracing_started_here = False
        self.peak_reset = False
        self._t0 = 0.0
        self._rss_before: int | None = None
        self._faults_before: int | None = None
        self._rss_peak_seen: int | None = None
        self._traced_before: int | None = None
        self._traced_peak_seen: int | None = None
        self._gc_before: list[dict] | tuple = ()
        self._gc_after: list[dict] | tuple = ()
        self._end: _Readings | None = None  # what stop() read, for result()
        self._counter: allocators.AllocatorCounter | None = None
        self._alloc_before: int | None = None
        self._alloc_method: str | None = None
        self._tracer_before = 0  # the engine's own memory when alloc_before was read
        self.engine: engine.Engine | None = None  # what counts a deep cell's allocations
        self._cluster: cluster.ClusterReading | None = None
        self._gpu: gpu.GpuReading | None = None

    @property
    def rss_before(self) -> int | None:
        """The RSS read at :meth:`start`."""
        return self._rss_before

    @property
    def duration_s(self) -> float | None:
        """The cell's duration, once :meth:`stop` read it (until its result is built)."""
        return self._end.duration if self._end is not None else None

    @property
    def started_at(self) -> str | None:
        return _iso(self._wall0) if self._wall0 is not None else None

    def start(self) -> CellMeasurement:
        # Light cells pay this in their latency: few calls, nothing allocated that is not kept.
        if self.started:
            raise RuntimeError("measurement already started")
        self.started = True
        # First: its call to the workers (a few ms) is not the cell's time or memory.
        self._cluster = cluster.ClusterReading.begin()
        self._gpu = gpu.GpuReading.begin()
        self._wall0 = time.time()
        self._gc_before = _raw_gc_stats()
        self._rss_before = rss()
        # Read before tracing starts: the tracer's tables are not the cell's.
        self._counter = counter = allocators.counter()
        self._alloc_method = counter.method
        self._alloc_before = counter.read(timed=not self.deep)
        counting = engine.counting()
        if counting is not None:
            self._tracer_before = counting.own_memory()
        if self._rss_before is not None and self._rss_before < _stale_maxrss:
            self._faults_before = _page_faults()  # ru_maxrss will say nothing: see stop()

        if _active:
            _save_peaks_before_reset(rss_hwm=True, traced=self.deep)
        self.peak_reset = reset_peak_rss()

        if self.deep:
            self.engine = chosen = engine.for_cell()
            if not chosen.is_tracing():
                chosen.start()
                self.tracing_started_here = True
            self._traced_before = chosen.traced()[0]
            chosen.reset_peak()

        with _active_lock:
            _active.append(self)
        self._t0 = time.perf_counter()
        return self

    def finish(
        self,
        error: str | None = None,
        analyze: Callable[[], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Stop measuring; return the numbers (bytes as ints, None where not measurable).

        The clock, RSS and traced memory are read first; then ``analyze`` runs (while the engine
        still counts: it may ask it which objects are new) and may return
        ``freed_estimate``/``resized_estimate`` (bytes of older memory the cell freed unseen, see
        :mod:`memtrack.lines`) plus any extra keys for the result; then tracing stops if this
        measurement started it.
        """
        self.stop(error)
        return self.result(analyze)

    def stop(self, error: str | None = None) -> None:
        """Read the clock, RSS, peaks and gc counters now; :meth:`result` builds the numbers
        later (a light cell's record waits until the kernel has replied)."""
        if not self.started:
            raise RuntimeError("measurement not started")
        if self.finished:
            raise RuntimeError("measurement already finished")
        self.finished = True
        self.error = error
        duration = max(0.0, time.perf_counter() - self._t0)
        with _active_lock:
            if self in _active:
                _active.remove(self)

        traced_now = traced_peak = None
        counter = self.engine
        tracing = (
            self.deep
            and counter is not None
            and self._traced_before is not None
            and counter.is_tracing()
        )
        if tracing:
            current, peak = counter.traced()
            peak = max(peak, self._traced_peak_seen or 0)
            traced_now = int(current)
            traced_peak = int(max(0, peak - (self._traced_before or 0)))
        rss_after = rss()
        alloc_after = tracer_now = None
        if self._counter is not None and self._alloc_before is not None:
            alloc_after = self._counter.read(timed=not self.deep)
            counting = engine.counting()
            tracer_now = counting.own_memory() if counting is not None else 0
        hwm = ru = None
        if self.peak_reset and self._rss_before is not None and rss_after is not None:
            # ru_maxrss (~1 us) proves the peak since the reset for most cells: one that did not
            # peak above its ends, or (once a first reading is known) one that did while the
            # process is above its exec value. The others read VmHWM (~9 us, see _ru_least).
            top = max(self._rss_before, rss_after)
            if top >= _stale_maxrss:  # below it, ru_maxrss only repeats the stale value
                ru, hwm = _peak_from_rusage(top)
            elif self._faults_before is not None and _page_faults() == self._faults_before:
                hwm = top  # no page faulted in since the reset: nothing above the ends
        if hwm is None:
            hwm = peak_rss()
            if ru is not None and hwm is not None and ru > hwm:
                _note_stale_maxrss(ru)
        self._gc_after = _raw_gc_stats()
        reading, self._cluster = self._cluster, None
        device, self._gpu = self._gpu, None
        gpu_value = device.end() if device is not None else None
        self._end = _Readings(
            error,
            duration,
            tracing,
            traced_now,
            traced_peak,
            rss_after,
            hwm,
            alloc_after,
            tracer_now,
            # Last: its call to the workers (a few ms) is not the cell's.
            reading.end(duration, cluster.min_cell_s()) if reading is not None else None,
            gpu_value,
        )

    def light_result(self) -> dict[str, Any]:
        """A light measurement's record keys (mode, started_at, duration_s, rss_before, rss_after,
        rss_peak and its scope, gc, error), read by :meth:`stop`: what :meth:`result` gives for
        it, without the deep parts."""
        if self._end is None or self.deep:
            raise RuntimeError("not a stopped light measurement")
        end, self._end = self._end, None
        error, rss_after = end.error, end.rss_after
        peak = self._rss_peak(rss_after, end.hwm)
        return {
            **self._alloc_figures(end.alloc_after, end.tracer_now),
            "mode": "light",
            "started_at": self.started_at,
            "duration_s": end.duration,
            "rss_before": self._rss_before,
            "rss_after": rss_after,
            "rss_peak": peak,
            "rss_peak_scope": None
            if peak is None
            else (PEAK_CELL if self.peak_reset else PEAK_PROCESS),
            "gc": _gc_delta(self._gc_before, self._gc_after),
            "error": error,
            "cluster": end.cluster,
            "gpu": end.gpu,
        }

    def _alloc_figures(self, alloc_after: int | None, tracer_now: int | None) -> dict[str, Any]:
        """The allocated metric's record keys: ``alloc_method`` always, the figures where both
        ends were read. The tracer's own growth over the cell is not the user's."""
        method = self._alloc_method
        before = self._alloc_before
        if before is None or alloc_after is None:
            if before is not None:  # read at the start, given up since
                method = allocators.METHOD_TOO_SLOW
            return {"alloc_method": method} if method is not None else {}
        after = alloc_after - max(0, (tracer_now or 0) - self._tracer_before)
        return {
            "alloc_before": before,
            "alloc_after": after,
            "alloc_delta": after - before,
            "alloc_method": method,
        }

    def _rss_peak(self, rss_after: int | None, hwm: int | None) -> int | None:
        if not self.peak_reset and hwm is not None:
            return hwm  # lifetime peak: the only honest number when we could not reset
        candidates = [
            v for v in (self._rss_before, rss_after, hwm, self._rss_peak_seen) if v is not None
        ]
        return max(candidates) if candidates else None

    def result(self, analyze: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
        """The numbers read by :meth:`stop`, with ``analyze``'s extra keys (see :meth:`finish`)."""
        if self._end is None:
            raise RuntimeError("measurement not stopped")
        end, self._end = self._end, None
        error, duration, tracing, traced_now, traced_peak, rss_after, hwm = end[:7]
        alloc_after, tracer_now = end.alloc_after, end.tracer_now
        extra: dict[str, Any] = {}
        tracer_memory = tracer_now if tracing else None
        stopped_here = False
        try:
            if analyze is not None:
                extra = dict(analyze() or {})
        finally:
            # Stopping is only done for tracing this cell turned on. (Note: stop() while other
            # threads allocate crashed old CPythons; continuous tracking avoids stopping.)
            counter = self.engine
            if (
                tracing
                and counter is not None
                and self.tracing_started_here
                and not self.keep_tracing
                and counter.is_tracing()
            ):
                counter.stop()
                stopped_here = True
        if stopped_here and self._counter is not None:
            # The tracer's tables are freed now: hand them back to the system (glibc keeps freed
            # blocks), then read the ends again, so that the RSS and allocated figures after the
            # cell are the user's and the next cell does not seem to free the tracer's memory.
            self._counter.trim()
            rss_after = rss() if rss_after is not None else None
            if alloc_after is not None:
                alloc_after = self._counter.read(timed=False)
                tracer_now = self._tracer_before

        traced_delta = method = None
        freed = int(extra.pop("freed_estimate", 0) or 0)
        resized = int(extra.pop("resized_estimate", 0) or 0)
        if traced_now is not None:
            raw = traced_now - (self._traced_before or 0)
            if self.tracing_started_here:
                # The engine never saw older blocks allocated: their frees are estimated.
                traced_delta = raw - freed - resized
                method = METHOD_ESTIMATE if extra.pop("estimated", False) else METHOD_CELL_ONLY
            else:
                traced_delta = raw
                method = METHOD_CONTINUOUS
        # else: the cell itself stopped the engine (tracemalloc.stop()); nothing trustworthy.

        rss_peak = self._rss_peak(rss_after, hwm)
        gc_delta = _gc_delta(self._gc_before, self._gc_after)

        result = {
            **self._alloc_figures(alloc_after, tracer_now),
            "mode": "deep" if self.deep else "light",
            "started_at": self.started_at,
            "duration_s": float(duration),
            "rss_before": self._rss_before,
            "rss_after": rss_after,
            "rss_peak": rss_peak,
            "rss_peak_scope": (PEAK_CELL if self.peak_reset else PEAK_PROCESS)
            if rss_peak is not None
            else None,
            "traced_delta": traced_delta,
            "traced_peak": traced_peak,
            "traced_delta_method": method,
            "traced_engine": self.engine.name
            if self.engine is not None and traced_delta is not None
            else None,
            "freed_estimate": (freed + resized) if method == METHOD_ESTIMATE else None,
            "gc": gc_delta,
            "error": error,
            "tracer_memory": tracer_memory,
            # Tracing goes on after the cell: that much of rss_after is the tracer's tables.
            "rss_after_tracer": tracer_memory if tracing and not stopped_here else None,
            "cluster": end.cluster,
            "gpu": end.gpu,
        }
        result.update(extra)
        return result

    def abandon(self) -> None:
        """Stop without a result (tracking switched off mid-cell); undoes what start() turned on."""
        if not self.started or self.finished:
            return
        self.finished = True
        self._cluster = None  # its start reading only reset the workers' high-water marks
        self._gpu = None
        with _active_lock:
            if self in _active:
                _active.remove(self)
        counter = self.engine
        if (
            counter is not None
            and self.tracing_started_here
            and not self.keep_tracing
            and counter.is_tracing()
        ):
            counter.stop()
