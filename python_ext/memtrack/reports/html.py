"""The HTML report: one offline page (no script, no network) with the memory plot, the cell
table with each cell's top lines, types and variables, and the leak suspects; light and dark."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..record import METRIC_LABELS, cell_ref, default_metric, is_int, latest_suspects, record_delta
from ..units import format_bytes
from .cluster import WORKER_HEADERS, cluster_text, worker_rows

Record = Mapping[str, Any]


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _bytes_html(n: int | None, signed: bool = False) -> str:
    """Human-readable bytes with the exact integer in a tooltip."""
    if n is None:
        return '<span class="jp-Memtrack-na">\u2014</span>'
    return f'<span title="{int(n)}">{_e(format_bytes(n, signed=signed))}</span>'


def _title(record: Record) -> str:
    label = record.get("label")
    return f"{cell_ref(record)} {label}" if label else cell_ref(record)


_CSS = """
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--muted:#656d76;--line:#d0d7de;
--card:#f6f8fa;--rss:#1f6feb;--alloc:#bf3989;--cluster:#8250df;--up:#cf222e;--down:#1a7f37;
--warn:#9a6700}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#8d96a0;
--line:#30363d;--card:#161b22;--rss:#58a6ff;--alloc:#f778ba;--cluster:#bc8cff;--up:#ff7b72;
--down:#3fb950;--warn:#d29922}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1200px;padding:24px;background:var(--bg);color:var(--fg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.jp-Memtrack-meta,.jp-Memtrack-note,figcaption{color:var(--muted);font-size:12px}
.jp-Memtrack-cards{display:flex;flex-wrap:wrap;gap:8px;margin-top:16px}
.jp-Memtrack-card{background:var(--card);border:1px solid var(--line);border-radius:6px;
padding:8px 12px;min-width:130px}
.jp-Memtrack-card b{display:block;font-size:17px}
.jp-Memtrack-card small{color:var(--muted)}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:6px;padding:8px}
svg{display:block;width:100%;height:auto}
svg text{fill:var(--muted);font-size:11px}
.jp-Memtrack-grid{stroke:var(--line);stroke-width:1}
.jp-Memtrack-zero{stroke:var(--muted);stroke-width:1}
.jp-Memtrack-rss{fill:none;stroke:var(--rss);stroke-width:2}
.jp-Memtrack-alloc{fill:none;stroke:var(--alloc);stroke-width:2}
.jp-Memtrack-cluster{fill:none;stroke:var(--cluster);stroke-width:2;stroke-dasharray:6 3}
.jp-Memtrack-up{fill:var(--up)}.jp-Memtrack-down{fill:var(--down)}
.jp-Memtrack-key{display:inline-block;width:12px;height:3px;vertical-align:middle;
margin:0 4px 0 12px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{position:sticky;top:0;background:var(--bg);font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.t{white-space:nowrap}
tbody tr:hover{background:var(--card)}
.jp-Memtrack-na{color:var(--muted)}
.jp-Memtrack-badge{display:inline-block;font-size:11px;padding:0 6px;border-radius:8px;
border:1px solid var(--line);color:var(--warn);margin-left:4px}
.jp-Memtrack-error{color:var(--up)}
details summary{cursor:pointer;color:var(--muted)}
details table{margin:4px 0 8px;font-size:12px}
details h4{margin:6px 0 2px;font-size:12px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;
word-break:break-all}
"""

_DOT = " \u00b7 "
_MAX_POINTS = 600  # plotted points; longer histories keep the largest change of each bucket


def _plotted(records: Sequence[Record], metric: str) -> list[int]:
    n = len(records)
    if n <= _MAX_POINTS:
        return list(range(n))
    keep = {n - 1}
    step = n / _MAX_POINTS
    for b in range(_MAX_POINTS):
        bucket = range(int(b * step), min(n, int((b + 1) * step)))
        if bucket:
            keep.add(max(bucket, key=lambda i: abs(record_delta(records[i], metric) or 0)))
    return sorted(keep)


def _nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(value)
        value += step
    if ticks[-1] < hi:
        ticks.append(ticks[-1] + step)
    return ticks


def _rss_level(record: Record) -> int | None:
    """The RSS after the cell, less what of it is tracemalloc's own tables."""
    after = record.get("rss_after")
    return None if after is None else int(after) - int(record.get("rss_after_tracer") or 0)


def _cluster_level(record: Record) -> int | None:
    """The dask cluster's RSS after the cell (its workers' sum), where it was read."""
    cluster = record.get("cluster")
    if not isinstance(cluster, Mapping) or cluster.get("status") != "measured":
        return None
    after = cluster.get("rss_after")
    return int(after) if after is not None else None


def _svg_plot(records: Sequence[Record], metric: str) -> str:
    """Levels after each cell (RSS, allocated memory, a dask cluster's RSS) over each cell's
    change in ``metric`` (cells without it have no bar: never another metric in its place)."""
    width, left, right = 900, 70, 12
    top_h, bar_h, gap, axis_h = 200, 90, 28, 22
    plot_w = width - left - right
    height = 8 + top_h + gap + bar_h + axis_h
    n = len(records)
    kept = _plotted(records, metric)

    rss = [_rss_level(r) for r in records]
    allocated = [r.get("alloc_after") for r in records]
    cluster = [_cluster_level(r) for r in records]
    deltas = [record_delta(r, metric) for r in records]

    def x_of(i: int) -> float:
        return left + (i + 0.5) * plot_w / n

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Memory over the executions">'
    ]

    # Upper panel: the two cumulative lines on one byte axis.
    values = [v for v in rss + allocated + cluster if v is not None]
    y0 = 8
    if values:
        ticks = _nice_ticks(min(0, *values), max(0, *values), 5)
        lo, hi = ticks[0], ticks[-1]

        def y_top(v: float) -> float:
            return y0 + top_h - (v - lo) / (hi - lo) * top_h

        for t in ticks:
            y = y_top(t)
            out.append(
                f'<line class="jp-Memtrack-grid" x1="{left}" x2="{width - right}" '
                f'y1="{y:.1f}" y2="{y:.1f}"/><text x="{left - 6}" y="{y + 4:.1f}" '
                f'text-anchor="end">{_e(format_bytes(int(t)))}</text>'
            )
        for series, css in (
            (rss, "jp-Memtrack-rss"),
            (allocated, "jp-Memtrack-alloc"),
            (cluster, "jp-Memtrack-cluster"),
        ):
            path, pen_down = [], False
            for i in kept:
                v = series[i]
                if v is None:
                    pen_down = False
                    continue
                path.append(f"{'L' if pen_down else 'M'}{x_of(i):.1f} {y_top(v):.1f}")
                pen_down = True
            if path:
                out.append(f'<path class="{css}" d="{" ".join(path)}"/>')

    # Lower panel: each cell's net change as a bar around zero.
    by = y0 + top_h + gap
    known = [d for d in deltas if d is not None]
    if known:
        ticks = _nice_ticks(min(0, *known), max(0, *known), 2)
        lo, hi = ticks[0], ticks[-1]

        def y_bar(v: float) -> float:
            return by + bar_h - (v - lo) / (hi - lo) * bar_h

        for t in (lo, hi):
            out.append(
                f'<text x="{left - 6}" y="{y_bar(t) + 4:.1f}" text-anchor="end">'
                f"{_e(format_bytes(int(t), signed=t != 0))}</text>"
            )
        zero = y_bar(0)
        bar_w = max(1.0, plot_w / max(len(kept), 1) * 0.7)
        for i in kept:
            d = deltas[i]
            if d is None:
                continue
            y = y_bar(d)
            css = "jp-Memtrack-up" if d > 0 else "jp-Memtrack-down"
            tip = f"{_title(records[i])}: {format_bytes(d, signed=True)} {METRIC_LABELS[metric]}"
            out.append(
                f'<rect class="{css}" x="{x_of(i) - bar_w / 2:.1f}" y="{min(y, zero):.1f}" '
                f'width="{bar_w:.1f}" height="{max(abs(zero - y), 0.5):.1f}">'
                f"<title>{_e(tip)}</title></rect>"
            )
        out.append(
            f'<line class="jp-Memtrack-zero" x1="{left}" x2="{width - right}" '
            f'y1="{zero:.1f}" y2="{zero:.1f}"/>'
        )

    # x axis: positions in the history.
    base = by + bar_h + 15
    marks = sorted({0, n - 1, *(round(k * (n - 1) / 5) for k in range(1, 5))})
    for i in marks:
        out.append(f'<text x="{x_of(i):.1f}" y="{base}" text-anchor="middle">{i + 1}</text>')
    out.append("</svg>")
    return "".join(out)


def _sub_table(headers: Sequence[str], rows: list[list[str]], numeric: set[int]) -> str:
    head = "".join(
        f'<th class="n">{h}</th>' if i in numeric else f"<th>{h}</th>"
        for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _details(record: Record) -> str:
    parts = []
    lines = record.get("top_lines") or []
    if lines:
        rows = [
            [
                _e(r.get("line")),
                ("~" if r.get("sampled") else "") + _bytes_html(r.get("increment"), signed=True),
                f"<code>{_e(r.get('code', ''))}</code>",
            ]
            for r in lines
        ]
        parts.append("<h4>Top lines</h4>" + _sub_table(("line", "change", "code"), rows, {0, 1}))
    types = record.get("types") or []
    if types:
        rows = []
        for t in types:
            approx = "~" if t.get("sampled") or t.get("size_estimated") else ""
            count = t.get("count_delta")
            rows.append(
                [
                    _e(t.get("type", "")),
                    _e(f"{approx}{count:+d}" if is_int(count) else "?"),
                    _bytes_html(t.get("size_delta"), signed=True),
                ]
            )
        parts.append("<h4>Types</h4>" + _sub_table(("type", "objects", "size"), rows, {1, 2}))
    variables = record.get("variables") or []
    if variables:
        rows = [
            [
                f"<code>{_e(v.get('name', ''))}</code>",
                _e(v.get("type", "")),
                _e(v.get("change", "")),
                ("\u2265" if v.get("partial") else "") + _bytes_html(v.get("size")),
                _bytes_html(v.get("delta"), signed=True),
            ]
            for v in variables
        ]
        parts.append(
            "<h4>Variables</h4>"
            + _sub_table(("name", "type", "change", "size", "change of size"), rows, {3, 4})
        )
    cluster = record.get("cluster")
    if isinstance(cluster, Mapping):
        part = (
            f"<h4>Cluster {_e(cluster.get('scheduler', ''))}</h4><p>{_e(cluster_text(cluster))}</p>"
        )
        rows = [
            [_e(who), _e(status), _bytes_html(before), _bytes_html(change, signed=True),
             _bytes_html(peak), _bytes_html(stored, signed=True)]
            for who, status, before, change, peak, stored in worker_rows(cluster)
        ]  # fmt: skip
        if rows:
            part += _sub_table(WORKER_HEADERS, rows, {2, 3, 4, 5})
        parts.append(part)
    notes = []
    if record.get("traced_delta_method"):
        notes.append(f"traced delta: {_e(record['traced_delta_method'])}")
    if record.get("freed_estimate"):
        notes.append(f"older memory freed (estimated) {_bytes_html(record['freed_estimate'])}")
    gc_stats = record.get("gc")
    if isinstance(gc_stats, dict) and gc_stats.get("collections") is not None:
        notes.append(
            f"gc collections {_e(gc_stats.get('collections'))}, "
            f"collected {_e(gc_stats.get('collected', 0))}"
        )
    if record.get("rss_peak_scope") == "process":
        notes.append("RSS peak is the process's lifetime peak")
    if notes:
        parts.append(f'<p class="jp-Memtrack-note">{"; ".join(notes)}</p>')
    if not parts:
        return '<span class="jp-Memtrack-na">\u2014</span>'
    what = ", ".join(
        f"{len(rows)} {name}{'s' if len(rows) != 1 else ''}"
        for rows, name in ((lines, "line"), (types, "type"), (variables, "variable"))
        if rows
    )
    if isinstance(cluster, Mapping):
        what = f"{what}, cluster" if what else "cluster"
    return f"<details><summary>{_e(what or 'notes')}</summary>{''.join(parts)}</details>"


def _cell_row(record: Record) -> str:
    label = _e(record.get("label") or "")
    if record.get("error"):
        label += f' <span class="jp-Memtrack-error">raised {_e(record["error"])}</span>'
    if record.get("leaks"):
        label += f'<span class="jp-Memtrack-badge">{len(record["leaks"])} leak suspect(s)</span>'
    rss_delta = None
    if record.get("rss_before") is not None and record.get("rss_after") is not None:
        rss_delta = int(record["rss_after"]) - int(record["rss_before"])
    started = str(record.get("started_at") or "").replace("T", " ")[:19]
    cells = [
        ("n", _e(record.get("seq", ""))),
        ("n", _e(cell_ref(record))),
        ("", label),
        ("", _e(record.get("mode", ""))),
        ("t", f'<span title="{_e(record.get("started_at") or "")}">{_e(started)}</span>'),
        ("n", _e(f"{float(record.get('duration_s') or 0.0):.3f} s")),
        ("n", _bytes_html(record.get("traced_delta"), signed=True)),
        ("n", _bytes_html(record.get("traced_peak"))),
        ("n", _bytes_html(rss_delta, signed=True)),
        ("n", _bytes_html(record.get("alloc_delta"), signed=True)),
        ("n", _bytes_html(record.get("rss_after"))),
        ("n", _bytes_html(record.get("rss_peak"))),
        ("", _details(record)),
    ]
    tds = "".join(f'<td class="{c}">{v}</td>' if c else f"<td>{v}</td>" for c, v in cells)
    return f'<tr class="jp-Memtrack-cell" id="cell-{_e(record.get("seq", ""))}">{tds}</tr>'


def to_html(report: Mapping[str, Any]) -> str:
    """One offline page: summary, plot (inline SVG), leak suspects and the cell table. No
    script, no remote resource; every value from the history is escaped."""
    records: list[Record] = list(report.get("cells") or [])
    kernel = report.get("kernel") or {}
    meta = [f"{len(records)} cell(s)", f"created {report.get('created', '')}"]
    if report.get("python"):
        meta.append(f"Python {report['python']}")
    if report.get("platform"):
        meta.append(str(report["platform"]))
    if kernel.get("memtrack"):
        meta.append(f"memtrack {kernel['memtrack']}")
    if kernel.get("pid") is not None:
        meta.append(f"kernel pid {kernel['pid']}")

    traced = [r["traced_delta"] for r in records if r.get("traced_delta") is not None]
    allocated = [r["alloc_delta"] for r in records if r.get("alloc_delta") is not None]
    metric = default_metric(records)
    peaks = [r["rss_peak"] for r in records if r.get("rss_peak") is not None]
    suspects = latest_suspects(records)
    cards = [
        ("cells", _e(len(records))),
        ("net allocated change", _bytes_html(sum(allocated), signed=True) if allocated else None),
        ("net traced change", _bytes_html(sum(traced), signed=True) if traced else None),
        (
            "RSS first \u2192 last",
            f"{_bytes_html(records[0].get('rss_before'))} \u2192 "
            f"{_bytes_html(records[-1].get('rss_after'))}"
            if records
            else None,
        ),
        ("highest RSS peak", _bytes_html(max(peaks)) if peaks else None),
        ("time in cells", _e(f"{sum(float(r.get('duration_s') or 0) for r in records):.2f} s")),
        ("leak suspects now", _e(len(suspects))),
    ]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f"<title>memtrack report</title><style>{_CSS}</style></head><body>",
        "<header><h1>memtrack report</h1>",
        f'<div class="jp-Memtrack-meta">{_e(_DOT.join(meta))}</div>',
        '<div class="jp-Memtrack-cards">',
        *(
            f'<div class="jp-Memtrack-card"><small>{_e(name)}</small><b>{value}</b></div>'
            for name, value in cards
            if value is not None
        ),
        "</div></header>",
    ]
    if records:
        legend = []
        if any(r.get("rss_after") is not None for r in records):
            legend.append(
                '<span class="jp-Memtrack-key" style="background:var(--rss)"></span>RSS after'
            )
        if allocated:
            legend.append(
                '<span class="jp-Memtrack-key" style="background:var(--alloc)"></span>'
                "allocated after (malloc heap in use and mmapped chunks)"
            )
        if any(_cluster_level(r) is not None for r in records):
            legend.append(
                '<span class="jp-Memtrack-key" style="background:var(--cluster)"></span>'
                "dask cluster RSS after (sum over its workers)"
            )
        legend.append(
            '<span class="jp-Memtrack-key" style="background:var(--up)"></span>/'
            '<span class="jp-Memtrack-key" style="background:var(--down);margin-left:0"></span>'
            f"per-cell change of the {_e(METRIC_LABELS[metric])} memory"
        )
        out += [
            "<h2>Memory over the executions</h2>",
            f"<figure>{_svg_plot(records, metric)}<figcaption>{''.join(legend)}; x: executions in "
            "history order</figcaption></figure>",
        ]
    out.append("<h2>Leak suspects after the last cell</h2>")
    if suspects:
        rows = [
            [
                f"<code>{_e(s.get('name', '?'))}</code>",
                _e(s.get("kind", "")),
                ("~" if s.get("partial") else "") + _bytes_html(s.get("size")),
                _e(s.get("reason", "")),
                _e(", ".join(f"[{c}]" for c in s.get("cells") or ())),
            ]
            for s in suspects
        ]
        out.append(_sub_table(("name", "kind", "size", "reason", "cells"), rows, {2}))
    else:
        out.append('<p class="jp-Memtrack-note">None.</p>')
    head = (
        ("n", "#"), ("n", "[n]"), ("", "label"), ("", "mode"), ("", "started"),
        ("n", "duration"), ("n", "traced \u0394"), ("n", "traced peak"), ("n", "RSS \u0394"),
        ("n", "allocated \u0394"), ("n", "RSS after"), ("n", "RSS peak"), ("", "details"),
    )  # fmt: skip
    ths = "".join(f'<th class="{c}">{h}</th>' if c else f"<th>{h}</th>" for c, h in head)
    out += [
        "<h2>Cells</h2>",
        f'<table id="cells"><thead><tr>{ths}</tr></thead><tbody>',
        *(_cell_row(r) for r in records),
        "</tbody></table>",
        '<p class="jp-Memtrack-note">Sizes in decimal units (1 MB = 1,000,000 bytes); hover a '
        "size for the exact bytes. Traced: memory Python allocated (tracemalloc), peak above "
        "the cell's start. Allocated: what the process's allocators hold for live blocks (glibc's "
        "heap in use plus mmapped chunks: C buffers and blocks over 512 bytes; pymalloc's small "
        "objects not counted), unlike the RSS unmoved by memory the allocator reuses. "
        "Written by jupyterlab-memtrack.</p>",
        "</body></html>",
    ]
    return "\n".join(out) + "\n"
