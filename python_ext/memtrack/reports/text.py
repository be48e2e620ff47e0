"""The plain-text table of ``%memtrack report``: the cells, then the leak suspects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..record import (
    cell_ref,
    default_metric,
    died_text,
    latest_suspects,
    record_delta,
    record_peak,
)
from ..units import format_bytes

Record = Mapping[str, Any]


def _one_line(text: Any, width: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "\u2026"


def _figure(value: int | None, signed: bool) -> str:
    return "\u2014" if value is None else format_bytes(value, signed=signed)


def format_text(records: Sequence[Record], limit: int = 40) -> str:
    """``%memtrack report``: an aligned plain-text table of the cells, then the leak suspects.

    Beyond ``limit`` cells only those that grew memory most are listed (in execution order).
    """
    if not records:
        return "memtrack: no cells recorded yet"
    shown = list(records)
    metric = default_metric(records)  # what "grew memory most" goes by
    if len(shown) > limit:
        largest = sorted(range(len(shown)), key=lambda i: record_delta(shown[i], metric) or 0)
        shown = [shown[i] for i in sorted(largest[-limit:])]
    # Each column is one metric: a record without it shows a dash, never another metric.
    traced = any(r.get("traced_delta") is not None for r in records)
    columns = [("alloc \u0394", "allocated", record_delta), ("RSS \u0394", "rss", record_delta)]
    columns.append(("RSS peak+", "rss", record_peak))
    if traced:
        columns.append(("traced \u0394", "traced", record_delta))
        columns.append(("traced peak+", "traced", record_peak))
    header = ("[n]", "label", "mode", *(c[0] for c in columns), "RSS after", "duration", "")
    rows = [header]
    for r in shown:
        notes = []
        if r.get("died"):
            notes.append(died_text(r, with_cell=False))
        elif r.get("error"):
            notes.append(f"raised {r['error']}")
        if r.get("leaks"):
            notes.append(f"{len(r['leaks'])} leak suspect(s)")
        rows.append(
            (
                cell_ref(r),
                _one_line(r.get("label") or "", 28),
                str(r.get("mode") or ""),
                *(_figure(read(r, m), signed=read is record_delta) for _, m, read in columns),
                format_bytes(r.get("rss_after")),
                f"{float(r.get('duration_s') or 0.0):.2f} s",
                _one_line("; ".join(notes), 40),
            )
        )
    right = {0, *range(3, 3 + len(columns) + 2)}  # numbers align right
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [f"memtrack: {len(records)} cell(s) recorded"]
    if len(shown) < len(records):
        lines[0] += (
            f"; the {len(shown)} that grew memory most are shown "
            "(%memtrack export PATH writes them all)"
        )
    for row in rows:
        cols = [
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append(("  " + "  ".join(cols)).rstrip())
    lines.append(
        "  alloc: what the allocators hold for live blocks; RSS: resident memory; traced: "
        "Python allocations (deep cells); peak+: above the cell's start; \u2014: not measured"
    )
    total = []
    for key, name in (("alloc_delta", "allocated"), ("traced_delta", "traced")):
        known = [r[key] for r in records if r.get(key) is not None]
        if known:
            total.append(f"{name} {format_bytes(sum(known), signed=True)}")
    first, last = records[0].get("rss_before"), records[-1].get("rss_after")
    if first is not None or last is not None:
        total.append(f"RSS {format_bytes(first)} -> {format_bytes(last)}")
    total.append(f"{sum(float(r.get('duration_s') or 0.0) for r in records):.2f} s")
    lines.append("total: " + ", ".join(total))
    suspects = latest_suspects(records)
    if suspects:
        lines.append("leak suspects after the last cell (%memtrack leaks --why NAME explains one):")
        table = [
            (
                _one_line(s.get("name", "?"), 24),
                str(s.get("kind", "")),
                format_bytes(s.get("size")),
                _one_line(s.get("reason", ""), 100),
            )
            for s in suspects
        ]
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        for row in table:
            cols = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2])]
            lines.append(("  " + "  ".join([*cols, row[3]])).rstrip())
    else:
        lines.append("no leak suspects after the last cell")
    return "\n".join(lines)
