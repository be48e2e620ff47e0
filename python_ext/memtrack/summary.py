"""Text and HTML summaries of records, for when no frontend listens (terminal, nbconvert,
VS Code), and the 2 KB cap on a stored record."""

from __future__ import annotations

import html
import json
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


# --------------------------------------------------------------------------- record size

RECORD_MAX_BYTES = 2048  # stored history: at most this much JSON per record
_TEXT_MAX = 120


def _json_size(record: Mapping[str, Any]) -> int:
    return len(json.dumps(record, separators=(",", ":"), default=str))


# A record with at most 3 table rows and no leak suspects takes at most SMALL_RECORD_FIXED
# bytes of JSON besides its strings (keys, numbers, punctuation: tests/test_store.py builds
# the largest); its strings may take the rest when they are plain ASCII (one JSON byte each).
SMALL_RECORD_FIXED = 1400
_SMALL_ROWS = 3


def _fits_unencoded(record: Mapping[str, Any], limit: int = RECORD_MAX_BYTES) -> bool:
    """True when ``record`` surely fits in ``limit`` bytes of JSON without encoding it (~13 us
    for a light record): few rows, no suspects, short plain strings. A string with another
    character may take 12 bytes of JSON per character (``\\uXXXX`` twice); such records are
    measured."""
    tables = [record.get(key) or () for key in ("top_lines", "types", "variables")]
    if sum(map(len, tables)) > _SMALL_ROWS or record.get("leaks"):
        return False
    budget = limit - SMALL_RECORD_FIXED
    for values in (record.values(), *(row.values() for table in tables for row in table)):
        for value in values:
            if type(value) is str:
                if not (value.isascii() and value.isprintable()) or '"' in value or "\\" in value:
                    return False
                budget -= len(value)
                if budget < 0:
                    return False
    return True


def fit_record(record: dict[str, Any], limit: int = RECORD_MAX_BYTES) -> dict[str, Any]:
    """Shrink ``record`` in place until its JSON is at most ``limit`` bytes: long strings are cut,
    then the last (smallest) rows of the longest table are dropped."""
    label = record.get("label")
    if isinstance(label, str) and len(label) > _TEXT_MAX:
        record["label"] = label[: _TEXT_MAX - 1] + "\u2026"
    if _fits_unencoded(record):
        return record
    size = _json_size(record)
    while size > limit:
        tables = [k for k in ("top_lines", "types", "variables") if record.get(k)]
        if not tables:
            method = record.get("types_method")
            if isinstance(method, str) and len(method) > 40:
                record["types_method"] = method[:39] + "\u2026"
                size = _json_size(record)
                continue
            if record.get("leaks"):  # the smallest suspect last (memtrack.leaks sorts them)
                record["leaks"] = record["leaks"][:-1]
                size = _json_size(record)
                continue
            break
        longest = max(tables, key=lambda k: len(record[k]))
        record[longest] = record[longest][:-1]
        size = _json_size(record)
    return record


# --------------------------------------------------------------------------- rich summary


def _top_lines_text(record: Mapping[str, Any], n: int = 3) -> list[str]:
    return [
        f"line {r['line']}: {format_bytes(r['increment'], signed=True)}  {r['code']}"
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
