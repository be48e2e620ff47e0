"""Per-cell memory of a Dask cluster: each worker's RSS before and after the cell, its peak during
the cell and the bytes it stores (the record's ``cluster``).

Only when the kernel already has an active ``distributed.Client``: the client is found through
``sys.modules`` (0.24 us when dask is unused, measured here); dask is never imported. One call to
every worker at the cell's start and one at its end (``client.run``, 4-7 ms each on a LocalCluster
of two processes): the start resets each worker's high-water mark through
``/proc/self/clear_refs``, so the end reads the worker's own peak during the cell
(``scheduler_info()`` costs 0.5 ms but is a heartbeat behind, and dask's ``MemorySampler``
missed two thirds of a cluster peak). Workers are not assumed local: the same calls go to a
remote scheduler's workers, and a worker that cannot reset (not Linux) reports the larger of its
ends as its peak (``peak_scope`` "ends").

A worker that joins, leaves or dies during the cell is reported as such. A scheduler that does
not answer within :data:`TIMEOUT_S` is said once per client and not asked again until the client
has reconnected. A cell shorter than the threshold (``cluster_min_s``) that handed the client no
new work is not read at its end (the record says so): its start reading was one call.
"""

from __future__ import annotations

import os
import sys
import time
import weakref
from typing import Any

from .. import interrupts

TIMEOUT_S = 2.0  # the most one reading may wait for the scheduler
MIN_CELL_S = 0.05  # default threshold: shorter cells that submitted nothing skip the end reading
MIN_CELL_ENV = "MEMTRACK_CLUSTER_MIN_MS"  # the threshold in milliseconds (0: read every cell)
WORKERS_LISTED = 8  # per-worker rows kept in a record (those that changed most first)

STATUS_MEASURED = "measured"
STATUS_SKIPPED = "skipped"
STATUS_UNREACHABLE = "unreachable"

WORKER_STAYED = "stayed"
WORKER_JOINED = "joined"
WORKER_GONE = "gone"  # left or died during the cell
WORKER_UNREADABLE = "unreadable"  # still known, but its reading failed

# The function each worker runs. It is compiled here under a module name no worker can import,
# so that dask pickles it by value: a remote worker needs no memtrack installed. It reads only
# its own process (and the worker's counters, never a task's data).
_PROBE_SOURCE = """
def memtrack_worker_memory(reset, dask_worker=None):
    import os
    rss = hwm = None
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if rss is None:
        try:
            import psutil
            rss = int(psutil.Process().memory_info().rss)
        except Exception:
            pass
    was_reset = False
    if reset:
        try:
            with open("/proc/self/clear_refs", "w") as refs:
                refs.write("5")
            was_reset = True
        except OSError:
            pass
    managed = limit = None
    try:
        state = dask_worker.state
        spilled = getattr(getattr(dask_worker.data, "spilled_total", None), "memory", 0) or 0
        managed = max(0, int(state.nbytes) - int(spilled))
    except Exception:
        pass
    try:
        limit = dask_worker.memory_manager.memory_limit
        limit = int(limit) if limit else None
    except Exception:
        pass
    name = getattr(dask_worker, "name", None)
    return {
        "rss": rss,
        "hwm": hwm,
        "reset": was_reset,
        "managed": managed,
        "limit": limit,
        "name": None if name is None else str(name)[:40],
    }
"""


def _compile_probe() -> Any:
    namespace: dict[str, Any] = {"__name__": "memtrack_cluster_probe"}
    exec(compile(_PROBE_SOURCE, "<memtrack cluster probe>", "exec"), namespace)
    return namespace["memtrack_worker_memory"]


_probe = _compile_probe()

# Clients whose scheduler did not answer in time: not asked again until they reconnect.
_unreachable: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def min_cell_s() -> float:
    """The threshold below which a cell that submitted no work is not read at its end:
    :data:`MIN_CELL_ENV` when it holds a number of milliseconds >= 0, else :data:`MIN_CELL_S`."""
    text = os.environ.get(MIN_CELL_ENV)
    if text:
        try:
            value = float(text) / 1000
        except ValueError:
            return MIN_CELL_S
        if value >= 0:
            return value
    return MIN_CELL_S


def active_client() -> Any:
    """The kernel's current ``distributed.Client``, or None: never imports dask (when
    ``distributed.client`` is not in ``sys.modules`` the user has no client)."""
    module = sys.modules.get("distributed.client")
    if module is None:
        return None
    try:
        return module.default_client()
    except Exception:  # ValueError: no client; anything else: not ours to raise
        return None


def status_line() -> str:
    """``dask cluster tcp://...:8786`` (``, not answering`` once timed out), or ``no dask
    client``: what ``%memtrack status`` says, without calling the cluster."""
    client = active_client()
    if client is None:
        return "no dask client"
    line = f"dask cluster {_scheduler_address(client)} (client {getattr(client, 'status', '?')}"
    if client in _unreachable:
        line += ", scheduler not answering: not read"
    return line + ")"


def _scheduler_address(client: Any) -> str:
    try:
        return str(client.scheduler.address)
    except Exception:
        return "unknown"


def _futures_held(client: Any) -> int | None:
    """How many futures the client holds (a cell that persisted or submitted changed it)."""
    try:
        return len(client.futures)
    except Exception:
        return None


class ClusterReading:
    """One cell's readings of the cluster: :meth:`begin` at its start (None without a client),
    :meth:`end` after it; :meth:`end` gives the record's ``cluster`` value."""

    __slots__ = ("_before", "_client", "_futures", "_read_s", "_reason", "_unread", "scheduler")

    def __init__(self, client: Any, scheduler: str) -> None:
        self._client = weakref.ref(client)  # never keeps the user's client alive
        self.scheduler = scheduler
        self._before: dict[str, Any] | None = None
        self._reason: str | None = None  # why a reading is missing
        self._unread = STATUS_SKIPPED  # the record's status when a reading is missing
        self._futures = _futures_held(client)
        self._read_s = 0.0

    @classmethod
    def begin(cls) -> ClusterReading | None:
        """Read every worker now (None, at no cost, when the kernel has no dask client)."""
        client = active_client()
        if client is None:
            return None
        reading = cls(client, _scheduler_address(client))
        reading._start(client)
        return reading

    def _start(self, client: Any) -> None:
        status = getattr(client, "status", None)
        if status != "running":
            _unreachable.pop(client, None)  # reconnecting: asked again once it runs
            self._reason = f"client {status or 'not running'}"
            self._unread = STATUS_UNREACHABLE
            return
        if client in _unreachable:
            self._reason = _unreachable[client]
            self._unread = STATUS_UNREACHABLE
            return
        try:
            if client.asynchronous:
                self._reason = "asynchronous client: its calls cannot block a cell"
                return
        except Exception:
            pass
        self._before = self._read(client, reset=True)

    def _read(self, client: Any, reset: bool) -> dict[str, Any] | None:
        """Every worker's reading by address (an exception for a worker whose reading failed),
        or None when the scheduler did not answer (said once) or Ctrl-C came."""
        t0 = time.perf_counter()
        try:
            return client.run(_probe, reset, on_error="return", callback_timeout=TIMEOUT_S)
        except KeyboardInterrupt:
            self._reason = "interrupted (Ctrl-C)"
            if reset:
                # At the cell's start: the Ctrl-C was meant for the cell, which runs next.
                interrupts.start_redelivery()
                interrupts.redeliver()
            return None
        except Exception as e:
            timed_out = "timeout" in type(e).__name__.lower() or isinstance(e, TimeoutError)
            if timed_out:
                self._reason = (
                    f"scheduler did not answer within {TIMEOUT_S:g} s; "
                    "not asked again until the client reconnects"
                )
                _unreachable[client] = "scheduler did not answer (said before)"
                self._unread = STATUS_UNREACHABLE
            else:
                self._reason = f"reading failed: {type(e).__name__}: {str(e)[:80]}"
            return None
        finally:
            self._read_s += time.perf_counter() - t0

    def end(self, duration_s: float | None, min_s: float = MIN_CELL_S) -> dict[str, Any]:
        """The record's ``cluster`` value, read now unless the cell was shorter than ``min_s``
        and handed the client no work (then its end would read what its start read)."""
        client = self._client()
        before, self._before = self._before, None
        if client is None:
            return self._unread_value("client closed during the cell", STATUS_SKIPPED)
        if before is None:
            return self._unread_value(self._reason or "not read", self._unread)
        if duration_s is not None and duration_s < min_s and _futures_held(client) == self._futures:
            return self._unread_value(
                f"cell shorter than {min_s * 1000:g} ms that submitted no work: "
                "not read at its end",
                STATUS_SKIPPED,
            )
        after = self._read(client, reset=False)
        if after is None:
            return self._unread_value(self._reason or "not read", self._unread)
        return self._measured(before, after)

    def _unread_value(self, reason: str, status: str) -> dict[str, Any]:
        return {
            "scheduler": self.scheduler,
            "status": status,
            "reason": reason,
            "read_s": round(self._read_s, 6),
        }

    def _measured(self, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        rows = [_worker_row(a, before.get(a), after.get(a)) for a in {**before, **after}]
        resets = [(row.pop("_reset"), row["status"]) for row in rows]
        peaks_exact = all(reset for reset, status in resets if status == WORKER_STAYED)
        totals = {
            key: _sum(row.get(key) for row in rows)
            for key in ("rss_before", "rss_after", "rss_peak", "managed_before", "managed_after")
        }
        limits = [row.pop("_limit") for row in rows]  # of the workers there at the end
        rows.sort(key=_change, reverse=True)
        value: dict[str, Any] = {
            "scheduler": self.scheduler,
            "status": STATUS_MEASURED,
            "workers_total": len(rows),
            **totals,
            "memory_limit": _sum(limits),
            "peak_scope": "cell" if peaks_exact else "ends",
            "workers": rows[:WORKERS_LISTED],
            "read_s": round(self._read_s, 6),
        }
        changed = [row["status"] for row in rows if row["status"] != WORKER_STAYED]
        if changed:
            counts = {s: changed.count(s) for s in dict.fromkeys(changed)}
            value["reason"] = ", ".join(f"{n} worker(s) {s}" for s, n in counts.items())
        return value


def _reading(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None  # an exception: the worker failed


def _worker_row(address: str, before: Any, after: Any) -> dict[str, Any]:
    """One worker's figures over the cell; ``_reset`` and ``_limit`` are taken off by the caller."""
    start, end = _reading(before), _reading(after)
    if before is None:
        status = WORKER_JOINED if end is not None else WORKER_UNREADABLE
    elif after is None:
        status = WORKER_GONE
    elif start is None or end is None:
        status = WORKER_UNREADABLE
    else:
        status = WORKER_STAYED
    rss_before = start.get("rss") if start else None
    rss_after = end.get("rss") if end else None
    peak = None
    reset = bool(start and start.get("reset"))
    if end is not None:
        # A worker that joined during the cell: its whole life is inside the cell.
        candidates = [rss_before, rss_after]
        if reset or status == WORKER_JOINED:
            candidates.append(end.get("hwm"))
        peak = _max(candidates)
    elif start is not None:
        peak = rss_before
    row: dict[str, Any] = {"address": str(address)[:80], "status": status}
    name = (end or start or {}).get("name")
    if name is not None and name != str(address):
        row["name"] = name
    row.update(
        rss_before=rss_before,
        rss_after=rss_after,
        rss_peak=peak,
        managed_before=start.get("managed") if start else None,
        managed_after=end.get("managed") if end else None,
        _reset=reset,
        _limit=end.get("limit") if end else None,
    )
    return row


def _max(values: Any) -> int | None:
    known = [int(v) for v in values if isinstance(v, int)]
    return max(known) if known else None


def _sum(values: Any) -> int | None:
    known = [int(v) for v in values if isinstance(v, int)]
    return sum(known) if known else None


def _change(row: dict[str, Any]) -> tuple[int, int]:
    """Sort key: workers that joined, left or failed first, then by their peak above the start."""
    peak, start = row.get("rss_peak"), row.get("rss_before")
    growth = (peak or 0) - (start or 0) if peak is not None else 0
    return (row["status"] != WORKER_STAYED, growth)
