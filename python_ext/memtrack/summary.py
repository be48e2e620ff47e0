"""One-line text summary of a record, for when no frontend listens (terminal IPython, nbconvert)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def format_bytes(n: int | None, signed: bool = False) -> str:
    """Bytes in base-10 units: ``50.0 MB``; ``+50.0 MB`` when ``signed``; ``?`` for None."""
    if n is None:
        return "?"
    sign = ""
    if signed:
        sign = "+" if n >= 0 else "-"
    elif n < 0:
        sign = "-"
    value = float(abs(n))
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            if unit == "B":
                return f"{sign}{int(value)} B"
            return f"{sign}{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def format_summary(record: Mapping[str, Any], peak_scope: str | None = None) -> str:
    """``memtrack [5] 'label': +50.0 MB traced (peak 80.0 MB), RSS 100.0 MB -> 150.0 MB
    (peak 200.0 MB), 0.25 s`` (one line). ``peak_scope='process'`` marks a lifetime RSS peak."""
    head = "memtrack"
    if record.get("execution_count") is not None:
        head += f" [{record['execution_count']}]"
    if record.get("label"):
        head += f" {record['label']!r}"
    parts = []
    if record.get("traced_delta") is not None:
        traced = f"{format_bytes(record['traced_delta'], signed=True)} traced"
        if record.get("traced_peak") is not None:
            traced += f" (peak {format_bytes(record['traced_peak'])})"
        parts.append(traced)
    if record.get("rss_before") is not None or record.get("rss_after") is not None:
        before, after = record.get("rss_before"), record.get("rss_after")
        rss = f"RSS {format_bytes(before)} -> {format_bytes(after)}"
    else:
        rss = "RSS ?"
    if record.get("rss_peak") is not None:
        scope = " since start" if peak_scope == "process" else ""
        rss += f" (peak{scope} {format_bytes(record['rss_peak'])})"
    parts.append(rss)
    parts.append(f"{float(record.get('duration_s') or 0.0):.2f} s")
    if record.get("error"):
        parts.append(f"raised {record['error']}")
    return f"{head}: {', '.join(parts)}"
