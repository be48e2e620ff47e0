"""``%memtrack status``: one line on the tracker's state (mode, history, frontend, engine,
memory limit, guard, cluster, GPU)."""

from __future__ import annotations

from typing import Any

from ..measure import cluster, engine, gpu
from ..units import format_bytes


def status_line(tracker: Any) -> str:
    frontend = "attached" if tracker.bridge.attached() else "not attached"
    counting = engine.counting()
    tracing = f"{counting.name} counting" if counting is not None else "not counting"
    live = tracker.live
    limits = live.limits
    guard = "off" if live.guard is None else f"{live.guard:.0%}"
    store = tracker.store
    return (
        f"memtrack: mode {tracker.mode}, {len(store) + len(tracker.batch)} cell(s) recorded "
        f"(history {format_bytes(store.nbytes())}, at most "
        f"{store.max_records} cells), frontend {frontend}, "
        f"{engine.status_line()} ({tracing}), "
        f"memory limit {format_bytes(limits.limit)} ({limits.source}), guard {guard}, "
        f"{cluster.status_line()}, {gpu.status_line()}"
    )
