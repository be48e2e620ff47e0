"""What a record's ``cluster`` (a dask cluster's memory over the cell) reads as, in the summary
line, the HTML report and the ``%memtrack`` status: one wording for every report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..units import format_bytes


def _change(value: Mapping[str, Any], key: str) -> int | None:
    before, after = value.get(f"{key}_before"), value.get(f"{key}_after")
    return None if before is None or after is None else int(after) - int(before)


def peak_above_start(value: Mapping[str, Any]) -> int | None:
    """A cluster's or a worker's RSS peak above its reading at the cell's start."""
    peak, before = value.get("rss_peak"), value.get("rss_before")
    return None if peak is None or before is None else max(0, int(peak) - int(before))


def cluster_text(cluster: Mapping[str, Any] | None) -> str | None:
    """``cluster +400.0 MB RSS (peak +420.0 MB), +400.0 MB stored, 2 workers`` or
    ``cluster not read: <reason>``; None without a cluster."""
    if not cluster:
        return None
    if cluster.get("status") != "measured":
        return f"cluster not read: {cluster.get('reason') or cluster.get('status')}"
    parts = [f"cluster {format_bytes(_change(cluster, 'rss'), signed=True)} RSS"]
    peak = peak_above_start(cluster)
    if peak is not None:
        bound = "" if cluster.get("peak_scope") != "ends" else "\u2265"
        parts[0] += f" (peak {bound}+{format_bytes(peak)})"
    stored = _change(cluster, "managed")
    if stored is not None:
        parts.append(f"{format_bytes(stored, signed=True)} stored")
    total = cluster.get("workers_total")
    if total is not None:
        parts.append(f"{total} worker{'s' if total != 1 else ''}")
    if cluster.get("reason"):
        parts.append(str(cluster["reason"]))
    return ", ".join(parts)


WORKER_HEADERS = ("worker", "status", "RSS before", "RSS change", "peak above start", "stored")


def worker_rows(cluster: Mapping[str, Any]) -> list[tuple[str, str, Any, Any, Any, Any]]:
    """One row per listed worker: its name (and address), status, RSS before, RSS change, peak
    above its start and the change of its stored bytes (None where not read)."""
    rows = []
    for worker in cluster.get("workers") or ():
        address = str(worker.get("address", "?"))
        name = worker.get("name")
        who = f"{name} ({address})" if name else address
        rows.append(
            (
                who,
                str(worker.get("status", "?")),
                worker.get("rss_before"),
                _change(worker, "rss"),
                peak_above_start(worker),
                _change(worker, "managed"),
            )
        )
    return rows
