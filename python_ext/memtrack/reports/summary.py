"""Text and HTML summaries of one record, for when no frontend listens (terminal, nbconvert,
VS Code)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from ..record import died_text
from ..units import format_bytes
from .cluster import cluster_text


def format_summary(record: Mapping[str, Any], peak_scope: str | None = None) -> str:
    """``memtrack [5] 'label': +50.1 MB allocated, +50.0 MB traced (peak 80.0 MB), RSS 100.0 MB
    -> 150.0 MB (peak 200.0 MB), 0.25 s`` (one line). ``peak_scope='process'`` marks a lifetime
    RSS peak."""
    head = "memtrack"
    if record.get("execution_count") is not None:
        head += f" [{record['execution_count']}]"
    if record.get("label"):
        head += f" {record['label']!r}"
    parts = []
    if record.get("alloc_delta") is not None:
        parts.append(f"{format_bytes(record['alloc_delta'], signed=True)} allocated")
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
    if record.get("died"):
        parts.append(died_text(record))
    elif record.get("error"):
        parts.append(f"raised {record['error']}")
    return f"{head}: {', '.join(parts)}"


# --------------------------------------------------------------------------- rich summary


def _top_lines_text(record: Mapping[str, Any], n: int = 3) -> list[str]:
    return [
        f"line {r['line']}: {'~' if r.get('sampled') else ''}"
        f"{format_bytes(r['increment'], signed=True)}  {r['code']}"
        for r in (record.get("top_lines") or [])[:n]
    ]


def _types_text(record: Mapping[str, Any], n: int = 3) -> list[str]:
    out = []
    for r in (record.get("types") or [])[:n]:
        approx = "~" if r.get("sampled") or r.get("size_estimated") else ""
        out.append(
            f"{r['type']} {r['count_delta']:+d} ({approx}{format_bytes(r.get('size_delta'))})"
        )
    return out


def _vars_text(record: Mapping[str, Any], n: int = 5) -> list[str]:
    out = []
    for r in (record.get("variables") or [])[:n]:
        approx = "\u2265" if r.get("partial") else ""
        change = f" {r['change']}" if r.get("change") else ""
        delta = r.get("delta")
        extra = f", {format_bytes(delta, signed=True)}" if delta is not None else ""
        out.append(f"{r['name']}: {r['type']}{change} {approx}{format_bytes(r['size'])}{extra}")
    return out


def _leaks_text(record: Mapping[str, Any], n: int = 3) -> list[str]:
    return [
        f"{r.get('name')} ({r.get('kind')}, {format_bytes(r.get('size'))})"
        for r in (record.get("leaks") or [])[:n]
    ]


def format_text(record: Mapping[str, Any]) -> str:
    """The one-line summary, then top lines, types and changed variables (text/plain)."""
    lines = [format_summary(record, record.get("rss_peak_scope"))]
    if record.get("traced_delta_method") == "cell+freed-estimate" and record.get("freed_estimate"):
        lines.append(f"  older memory freed (estimated): {format_bytes(record['freed_estimate'])}")
    cluster = cluster_text(record.get("cluster"))
    if cluster:
        lines.append(f"  {cluster}")
    for title, rows in (
        ("lines", _top_lines_text(record)),
        ("types", _types_text(record)),
        ("variables", _vars_text(record)),
        ("leak suspects (%memtrack leaks)", _leaks_text(record)),
    ):
        if rows:
            lines.append(f"  {title}: " + "; ".join(rows))
    return "\n".join(lines)


def format_html(record: Mapping[str, Any]) -> str:
    """The same summary as a small HTML block (text/html)."""
    head = html.escape(format_summary(record, record.get("rss_peak_scope")))
    parts = [f"<div class='memtrack-summary'><b>{head}</b>"]
    cluster = cluster_text(record.get("cluster"))
    if cluster:
        parts.append(f"<div>{html.escape(cluster)}</div>")
    for title, rows in (
        ("lines", _top_lines_text(record)),
        ("types", _types_text(record)),
        ("variables", _vars_text(record)),
    ):
        if rows:
            items = "".join(f"<li><code>{html.escape(r)}</code></li>" for r in rows)
            parts.append(f"<div>{title}:<ul style='margin:0'>{items}</ul></div>")
    parts.append("</div>")
    return "".join(parts)
