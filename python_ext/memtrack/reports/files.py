"""Report files of a kernel's history: building, checking and writing the JSON report, the CSV,
and rendering any format (the HTML page is :mod:`memtrack.reports.html`).

Pure: no IPython, no comm. The JSON report is described by ``schema/report/report.schema.json``
(its cells are the wire schema's records) and has the same keys as the sidebar's export
(``src/export.ts`` ``toJsonReport``); the CSV has the columns of
``memtrack.record.CSV_COLUMNS`` (the schema's ``x-csv-columns``).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ..record import CSV_COLUMNS, RecordError, csv_value, is_int, validate_record
from .html import to_html

REPORT_FORMAT = "memtrack-report"
REPORT_VERSION = 1
FORMATS = ("json", "csv", "html")
EXTENSIONS = {".json": "json", ".csv": "csv", ".html": "html", ".htm": "html"}
REPORT_KEYS = ("format", "version", "created", "python", "platform", "kernel", "cells")

Record = Mapping[str, Any]


class ReportError(ValueError):
    """A report that cannot be written or read; the text says why."""


# --------------------------------------------------------------------------- building


def _now_iso() -> str:
    # The sidebar writes Date.toISOString(): milliseconds and "Z".
    stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def build_report(
    records: Sequence[Record],
    kernel_info: Mapping[str, Any] | None,
    created: str | None = None,
    platform_name: str | None = None,
) -> dict[str, Any]:
    """The JSON report: ``kernel_info`` is the bridge's ``{pid, python, memtrack}``."""
    kernel = dict(kernel_info or {})
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "created": created or _now_iso(),
        "python": kernel.get("python"),
        "platform": platform_name if platform_name is not None else platform.platform(),
        "kernel": kernel,
        "cells": [dict(r) for r in records],
    }


# --------------------------------------------------------------------------- JSON


def to_json(report: Mapping[str, Any]) -> str:
    try:
        return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as e:
        raise ReportError(f"the history is not JSON-safe ({e})") from None


def load_report(path_or_text: str | bytes | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON report (a path, or the JSON text itself) and check it; raises ReportError."""
    if isinstance(path_or_text, bytes):
        text = path_or_text.decode("utf-8", errors="replace")
    elif isinstance(path_or_text, str) and path_or_text.lstrip().startswith("{"):
        text = path_or_text
    else:
        path = os.fspath(path_or_text)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise ReportError(f"cannot read memtrack report {path}: {e}") from None
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ReportError(f"not a memtrack report: invalid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ReportError(f"not a memtrack report: a JSON {type(data).__name__}, not an object")
    if data.get("format") != REPORT_FORMAT:
        raise ReportError(
            f"not a memtrack report: 'format' is {data.get('format')!r}, expected {REPORT_FORMAT!r}"
        )
    version = data.get("version")
    if not is_int(version) or version < 1:
        raise ReportError(f"memtrack report has no valid 'version' (got {version!r})")
    if version > REPORT_VERSION:
        raise ReportError(
            f"memtrack report version {version} is newer than this memtrack supports "
            f"({REPORT_VERSION}); upgrade jupyterlab-memtrack"
        )
    missing = [k for k in REPORT_KEYS if k not in data]
    if missing:
        raise ReportError(f"memtrack report is missing {', '.join(map(repr, missing))}")
    if not isinstance(data["created"], str):
        raise ReportError("memtrack report: 'created' must be a date-time string")
    for key in ("python", "platform"):
        if data[key] is not None and not isinstance(data[key], str):
            raise ReportError(f"memtrack report: {key!r} must be a string or null")
    kernel = data["kernel"]
    if not isinstance(kernel, dict):
        raise ReportError("memtrack report: 'kernel' must be an object")
    if "pid" in kernel and not is_int(kernel["pid"]):
        raise ReportError("memtrack report: 'kernel.pid' must be an integer")
    for key in ("python", "memtrack"):
        if key in kernel and not isinstance(kernel[key], str):
            raise ReportError(f"memtrack report: 'kernel.{key}' must be a string")
    if not isinstance(data["cells"], list):
        raise ReportError("memtrack report: 'cells' must be an array of records")
    for i, cell in enumerate(data["cells"]):
        try:
            validate_record(cell, f"cells[{i}]")
        except RecordError as e:
            raise ReportError(f"memtrack report: {e}") from None
    return data


# --------------------------------------------------------------------------- CSV

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_field(value: Any) -> str:
    """One field as src/export.ts writes it: lists as their length, formulas defused."""
    if value is None:
        return ""
    if isinstance(value, list):
        text = str(len(value))
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    # A spreadsheet runs a text cell starting with these as a formula; numbers stay numbers.
    if isinstance(value, str) and text.startswith(_FORMULA_STARTS):
        text = "'" + text
    if any(c in text for c in '",\r\n'):
        text = '"' + text.replace('"', '""') + '"'
    return text


def to_csv(report: Mapping[str, Any]) -> str:
    """One row per tracked execution after a header row (RFC 4180, CRLF), bytes as integers."""
    rows = [",".join(CSV_COLUMNS)]
    for cell in report["cells"]:
        rows.append(",".join(_csv_field(csv_value(cell, c)) for c in CSV_COLUMNS))
    return "\r\n".join(rows) + "\r\n"


# --------------------------------------------------------------------------- writing


def resolve_format(path: str, format: str | None = None) -> str:
    """``format`` when given (json, csv, html), else from the extension of ``path``."""
    if format is not None:
        fmt = str(format).strip().lower().lstrip(".")
        fmt = "html" if fmt == "htm" else fmt
        if fmt not in FORMATS:
            raise ReportError(f"unknown report format {format!r}; use json, csv or html")
        return fmt
    ext = os.path.splitext(path)[1].lower()
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    raise ReportError(
        f"cannot tell the report format of {os.path.basename(path)!r}: name it .json, .csv, "
        ".html or .htm, or pass --format json|csv|html"
    )


def render(report: Mapping[str, Any], fmt: str) -> str:
    return {"json": to_json, "csv": to_csv, "html": to_html}[fmt](report)


def _new_file_mode(target: str) -> int:
    try:
        return os.stat(target).st_mode & 0o7777  # overwriting: keep its permissions
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _atomic_write(target: str, text: str) -> None:
    """Write through a temporary file in the same directory: never a half-written report."""
    directory = os.path.dirname(target)
    if os.path.isdir(target):
        raise ReportError(f"cannot write {target}: it is a directory; give a file name")
    if not os.path.isdir(directory):
        raise ReportError(f"cannot write {target}: directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=directory
        )
    except OSError as e:
        raise ReportError(f"cannot write {target}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(target))
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise ReportError(f"cannot write {target}: {e.strerror or e}") from None
        raise


def write_report(
    path: str | os.PathLike[str],
    records: Sequence[Record],
    kernel_info: Mapping[str, Any] | None,
    format: str | None = None,
) -> str:
    """Write the history to ``path`` (format from ``format`` or the extension); returns the
    absolute path written. Raises ReportError naming the problem."""
    target = os.path.abspath(os.path.expanduser(os.fspath(path)))
    fmt = resolve_format(target, format)
    _atomic_write(target, render(build_report(records, kernel_info), fmt))
    return target
