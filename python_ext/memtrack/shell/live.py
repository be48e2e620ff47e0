"""Live memory while a cell runs: a background thread samples RSS, keeps the running peak, sends
``live`` messages to the sidebar, keeps the flight record up to date and trips the guard.

The thread sleeps (on an Event) once no cell has run for ``IDLE_S``; while cells come, it polls
every ``SAMPLE_S`` and follows any cell that has run for ``FIRST_SAMPLE_S``. A cell's start and
end cost the main thread a few attribute writes and the flight record's two ``pack_into``.
While a cell runs the thread samples every ``SAMPLE_S`` (faster, down to ``FAST_SAMPLE_S``, when
the guard is on and the growth rate would reach it within ``FAST_WITHIN_S``) and sends the
samples about every ``SEND_S`` (a message costs ~70 us across two threads; a sample ~2 us).
While the main thread holds the GIL in one long C call, the thread cannot run: no sample is
taken or sent until the call returns (the sidebar shows that silence as "busy in native code").

The guard: when what counts against the memory limit passes ``guard`` (a share of it), the
running cell is interrupted once (``_thread.interrupt_main``: a KeyboardInterrupt in the cell)
with a line saying why, instead of the kernel being killed.
"""

from __future__ import annotations

import _thread
import contextlib
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ..flight import FlightRecorder
from ..measure import gpu
from ..measure.cell import rss
from ..measure.limits import LimitReader
from ..protocol import live_message
from ..units import format_bytes

SAMPLE_S = 0.04  # 25 Hz
FAST_SAMPLE_S = 0.01
FAST_WITHIN_S = 2.0
SEND_S = 0.2
FIRST_SAMPLE_S = 0.02  # a cell shorter than this is not followed (its end is its record)
IDLE_S = 1.0  # the thread sleeps once no cell has run for this long
MAX_SAMPLES = 64  # per message: a message after a long silence carries the newest


def _iso(ts: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


class _RunningCell:
    __slots__ = (
        "cell_id",
        "count",
        "gpu_capacity",
        "guard_tripped",
        "peak",
        "rss_before",
        "started",
        "wall",
    )

    def __init__(self, count: int | None, cell_id: str | None, rss_before: int | None) -> None:
        self.count, self.cell_id, self.rss_before = count, cell_id, rss_before
        self.wall = time.time()
        self.started = time.perf_counter()
        self.peak = rss_before
        self.guard_tripped = False
        self.gpu_capacity: int | None = None  # the GPU devices' total memory, once sampled


class LiveSampler:
    """One per tracker. ``send(message)`` broadcasts to the sidebar (False: nobody listens);
    ``flight`` is this kernel's flight record, if it has one."""

    def __init__(
        self,
        send: Callable[[dict[str, Any]], int],
        listening: Callable[[], bool],
        flight: FlightRecorder | None = None,
        limits: LimitReader | None = None,
    ) -> None:
        self._send = send
        self._listening = listening
        self.flight = flight
        self.limits = limits if limits is not None else LimitReader()
        self.guard: float | None = None
        self._cell: _RunningCell | None = None
        self._wake = threading.Event()
        self._stop = False
        self._lock = threading.Lock()  # the cell, as the thread and the main thread see it
        self._thread: threading.Thread | None = None
        self._awake = False  # the thread polls (no Event needed to reach it)

    # -- the main thread's side ---------------------------------------------------------------

    def set_guard(self, share: float | None) -> None:
        """Interrupt a running cell when memory passes ``share`` of the limit (None: off)."""
        if share is not None and not (0 < share <= 1):
            raise ValueError(
                f"the guard is a share of the memory limit, > 0 and <= 1 (got {share})"
            )
        self.guard = share

    def guard_line(self) -> str:
        limits = self.limits
        limit = f"{format_bytes(limits.limit)} ({limits.source})" if limits.limit else "unknown"
        if self.guard is None:
            return f"memtrack: the guard is off; the memory limit is {limit}"
        share = f"{self.guard:.0%}"
        return f"memtrack: a cell is interrupted when memory passes {share} of the limit, {limit}"

    def start(self) -> None:
        if self._thread is None:
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="memtrack-live", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop = True
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)

    def cell_started(
        self, count: int | None, cell_id: str | None, mode: int, rss_before: int | None = None
    ) -> None:
        """A top-level cell starts (``mode``: flight.MODES' index; ``rss_before``: when the
        measurement read it already)."""
        if rss_before is None:
            rss_before = rss()
        cell = _RunningCell(count, cell_id if isinstance(cell_id, str) else None, rss_before)
        if self.flight is not None:
            self.flight.cell_started(mode, count, cell.cell_id, cell.wall, rss_before)
        with self._lock:
            self._cell = cell
        if not self._awake:
            self._wake.set()

    def cell_finished(self) -> None:
        with self._lock:
            cell, self._cell = self._cell, None
        if self.flight is not None:
            self.flight.cell_finished()
        if cell is None or not self._listening():
            return
        # Only cells the sidebar saw running get a 'done' (a short one never had a message).
        if time.perf_counter() - cell.started >= FIRST_SAMPLE_S:
            now = rss()
            peak = max(v for v in (cell.peak, now, 0) if v is not None)
            self._broadcast(cell, "done", [], now, peak)

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait()
            try:
                self._poll()
            except Exception as e:  # never let the thread die with an exception
                with contextlib.suppress(Exception):
                    print(
                        f"memtrack: live sampling stopped ({type(e).__name__}: {e})",
                        file=sys.stderr,
                    )
                return

    def _poll(self) -> None:
        """Awake: follow each cell that runs for more than ``FIRST_SAMPLE_S``, until no cell
        has run for ``IDLE_S``. Cells that come back to back find the thread awake and cost
        no wake-up (waking a thread per cell costs the main thread a GIL hand-over each)."""
        self._awake = True
        idle_since = time.perf_counter()
        while not self._stop:
            cell = self._current()
            now = time.perf_counter()
            if cell is not None and now - cell.started >= FIRST_SAMPLE_S:
                self._follow(cell)
                idle_since = time.perf_counter()
            elif cell is not None:
                idle_since = now
            elif now - idle_since > IDLE_S:
                break
            time.sleep(SAMPLE_S)
        self._awake = False
        self._wake.clear()
        if self._current() is not None:
            self._wake.set()  # a cell started as the thread went to sleep: follow it

    def _current(self) -> _RunningCell | None:
        with self._lock:
            return self._cell

    def _follow(self, cell: _RunningCell) -> None:
        """Sample ``cell`` until it ends."""
        limits = self.limits
        limits.refresh()  # the process may have been moved to another group
        flight = self.flight
        if flight is not None:
            flight.limits(limits.limit, limits.source, limits.oom_kills(), limits.group.oom_file)
        samples: list[dict[str, Any]] = []
        last_sent = time.perf_counter()
        interval = SAMPLE_S
        previous: tuple[float, int] | None = None
        while not self._stop and self._current() is cell:
            now_rss = rss()
            t = time.perf_counter() - cell.started
            if now_rss is not None:
                if cell.peak is None or now_rss > cell.peak:
                    cell.peak = now_rss
                sample: dict[str, Any] = {"t": round(t, 4), "rss": now_rss}
                # Counters only (never a sync): a reading never waits for the GPU's work.
                device = gpu.allocated_now()
                if device is not None:
                    sample["gpu"] = device[0]
                    cell.gpu_capacity = device[1]
                samples.append(sample)
                if flight is not None:
                    flight.sampled(now_rss, cell.peak, time.time())
                interval = self._guard(cell, now_rss, t, previous)
                previous = (t, now_rss)
            if time.perf_counter() - last_sent >= SEND_S and self._listening():
                self._broadcast(cell, "running", samples[-MAX_SAMPLES:], now_rss, cell.peak)
                samples = []
                last_sent = time.perf_counter()
            elif len(samples) > 4 * MAX_SAMPLES:
                del samples[:-MAX_SAMPLES]
            time.sleep(interval)

    def _guard(
        self, cell: _RunningCell, now_rss: int, t: float, previous: tuple[float, int] | None
    ) -> float:
        """Trip the guard when usage passes its share of the limit; the next interval."""
        guard, limit = self.guard, self.limits.limit
        if guard is None or limit is None:
            return SAMPLE_S
        usage = self.limits.usage()
        usage = now_rss if usage is None else usage
        line = guard * limit
        if usage >= line and not cell.guard_tripped and self._current() is cell:
            # (Checked again just before: an interrupt meant for this cell must not reach the
            # next one. Outside a cell ipykernel ignores SIGINT, so a late one does nothing.)
            cell.guard_tripped = True
            with contextlib.suppress(Exception):
                print(
                    f"memtrack guard: memory {format_bytes(usage)} passed {guard:.0%} of the "
                    f"{format_bytes(limit)} limit ({self.limits.source}); interrupting the cell "
                    "before the kernel is killed (%memtrack guard off turns this off)",
                    file=sys.stderr,
                )
            _thread.interrupt_main()
        if previous is not None and t > previous[0]:
            rate = (now_rss - previous[1]) / (t - previous[0])
            if rate > 0 and (line - usage) / rate < FAST_WITHIN_S:
                return FAST_SAMPLE_S
        return SAMPLE_S

    def _broadcast(
        self,
        cell: _RunningCell,
        state: str,
        samples: list[dict[str, Any]],
        now_rss: int | None,
        peak: int | None,
    ) -> None:
        limit = self.limits.describe(now_rss)
        if cell.gpu_capacity is not None:
            limit["gpu_capacity"] = cell.gpu_capacity
        extra: dict[str, Any] = {"rss_before": cell.rss_before, "limit": limit}
        if cell.guard_tripped:
            extra["guard_tripped"] = True
        message = live_message(
            state,
            cell.count,
            cell.cell_id,
            _iso(cell.wall),
            round(max(0.0, time.perf_counter() - cell.started), 3),
            samples,
            now_rss,
            peak,
            **extra,
        )
        self._send(message)
