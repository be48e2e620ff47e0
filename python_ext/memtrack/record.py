"""The record: one tracked execution, defined once.

:data:`FIELDS` is the one table of a record's keys (wire order), from which the rest of the kernel
side takes what it needs: the required keys and their order (:data:`RECORD_KEYS`), the optional
keys a measurement may add (:data:`OPTIONAL_KEYS`), the validation of a record
(:func:`validate_record`, used by :mod:`memtrack.protocol`), the CSV columns
(:data:`CSV_COLUMNS`, used by :mod:`memtrack.reports`) and the derived figures every report
shows (:func:`record_delta`, :func:`record_peak`). ``schema/wire/message.schema.json`` stays the
contract with the frontend; tests check this table against it (keys, order, CSV columns).

Adding a measured quantity: a row here, its property in the schema (and in ``x-csv-columns`` when
it is a CSV column), and the code that measures it. Pure: no IPython, no comm.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .units import format_bytes

RECORD_MODES = ("light", "deep", "release")  # release: the leak sidebar freed something
ALLOC_METHODS = ("mallinfo2", "malloc_zone_statistics", "native", "too-slow", "unavailable")
#: The figures a record offers, each with one meaning (see :func:`record_delta`).
METRICS = ("rss", "allocated", "traced", "gpu")
PEAK_SCOPES = ("cell", "process")
DELTA_METHODS = ("continuous", "cell+freed-estimate", "cell-only")
TRACED_ENGINES = ("native", "tracemalloc")  # measure/engine.py
LINE_GRANULARITIES = ("statement", "line")
LIMIT_SOURCES = ("cgroup-v2", "cgroup-v1", "meminfo", "none")
CLUSTER_STATUSES = ("measured", "skipped", "unreachable")  # measure/cluster.py
WORKER_STATUSES = ("stayed", "joined", "gone", "unreadable")
CLUSTER_BYTES = ("rss_before", "rss_after", "rss_peak", "managed_before", "managed_after")
GPU_LIBRARIES = ("torch", "cupy", "jax")  # measure/gpu.py
GPU_PEAK_SCOPES = ("cell", "reset", "bounded", "ends")
GPU_BYTES = (
    "allocated_before",
    "allocated_after",
    "peak",
    "peak_bound",
    "reserved_before",
    "reserved_after",
    "capacity",
    "process_used_before",
    "process_used_after",
)


class RecordError(ValueError):
    """A record that does not match its definition (the text says where and why)."""


def is_int(value: Any) -> bool:
    """An integer that is not a bool (JSON's integers)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool (JSON's numbers)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _check(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise RecordError(f"{where}: {what}")


def _check_rows(value: Any, where: str, required: Mapping[str, Callable[[Any], bool]]) -> None:
    """An array of objects whose ``required`` keys satisfy the given predicates."""
    _check(isinstance(value, list), where, "must be an array")
    for i, item in enumerate(value):
        here = f"{where}[{i}]"
        _check(isinstance(item, dict), here, "must be an object")
        for key, pred in required.items():
            _check(key in item, here, f"missing key {key!r}")
            _check(pred(item[key]), f"{here}.{key}", "has the wrong type")


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_nullable_int(value: Any) -> bool:
    return value is None or is_int(value)


def _check_gc(value: Any, where: str) -> None:
    if value is None:
        return
    _check(isinstance(value, dict), where, "must be an object or null")
    if "collections" in value:
        cols = value["collections"]
        _check(
            isinstance(cols, list) and all(is_int(c) for c in cols),
            f"{where}.collections",
            "must be an array of integers",
        )
    for key in ("collected", "uncollectable"):
        if key in value:
            _check(is_int(value[key]), f"{where}.{key}", "must be an integer")


def _check_objects(value: Any, where: str) -> None:
    _check(
        isinstance(value, list) and all(isinstance(x, dict) for x in value),
        where,
        "must be an array of objects",
    )


def _check_died(value: Any, where: str) -> None:
    _check(isinstance(value, dict), where, "must be an object")
    for key in ("oom_killed", "last_rss", "peak", "memory_limit", "last_sample_at"):
        _check(key in value, where, f"missing key {key!r}")
    oom = value["oom_killed"]
    _check(oom is None or isinstance(oom, bool), f"{where}.oom_killed", "must be a boolean or null")
    for key in ("last_rss", "peak", "memory_limit", "pid"):
        if key in value:
            _check(_is_nullable_int(value[key]), f"{where}.{key}", "must be an integer or null")
    at = value["last_sample_at"]
    _check(at is None or isinstance(at, str), f"{where}.last_sample_at", "must be a string or null")
    if "limit_source" in value:
        _check(value["limit_source"] in LIMIT_SOURCES, f"{where}.limit_source", "unknown source")


def _check_release(value: Any, where: str) -> None:
    _check(isinstance(value, dict), where, "must be an object")
    for key in ("action", "expected_bytes", "freed_bytes"):
        _check(key in value, where, f"missing key {key!r}")
    _check(isinstance(value["action"], str), f"{where}.action", "must be a string")
    for key in ("expected_bytes", "freed_bytes"):
        _check(_is_nullable_int(value[key]), f"{where}.{key}", "must be an integer or null")
    if "freed_measure" in value:
        measure = value["freed_measure"]
        _check(measure in ("traced", "rss", None), f"{where}.freed_measure", "unknown measure")


def _check_cluster(value: Any, where: str) -> None:
    _check(isinstance(value, dict), where, "must be an object")
    for key in ("scheduler", "status"):
        _check(key in value, where, f"missing key {key!r}")
    _check(isinstance(value["scheduler"], str), f"{where}.scheduler", "must be a string")
    _check(value["status"] in CLUSTER_STATUSES, f"{where}.status", "unknown status")
    for key in (*CLUSTER_BYTES, "memory_limit"):
        if key in value:
            _check(_is_nullable_int(value[key]), f"{where}.{key}", "must be an integer or null")
    if "peak_scope" in value:
        _check(value["peak_scope"] in ("cell", "ends"), f"{where}.peak_scope", "unknown scope")
    workers = value.get("workers", [])
    _check_rows(
        workers, f"{where}.workers", {"address": _is_str, "status": WORKER_STATUSES.__contains__}
    )
    for i, worker in enumerate(workers):
        for key in CLUSTER_BYTES:
            if key in worker:
                _check(
                    _is_nullable_int(worker[key]),
                    f"{where}.workers[{i}].{key}",
                    "must be an integer or null",
                )


def _check_gpu(value: Any, where: str) -> None:
    _check(isinstance(value, list), where, "must be an array")
    for i, entry in enumerate(value):
        here = f"{where}[{i}]"
        _check(isinstance(entry, dict), here, "must be an object")
        _check(entry.get("library") in GPU_LIBRARIES, f"{here}.library", "unknown library")
        _check(_is_nullable_int(entry.get("device")), f"{here}.device", "must be int or null")
        for key in GPU_BYTES:
            if key in entry:
                _check(_is_nullable_int(entry[key]), f"{here}.{key}", "must be an integer or null")
        if "peak_scope" in entry:
            _check(entry["peak_scope"] in GPU_PEAK_SCOPES, f"{here}.peak_scope", "unknown scope")


def _rows(**required: Callable[[Any], bool]) -> Callable[[Any, str], None]:
    def check(value: Any, where: str) -> None:
        _check_rows(value, where, required)

    return check


def _check_variables(value: Any, where: str) -> None:
    _check_rows(value, where, {"name": _is_str, "type": _is_str})
    for i, var in enumerate(value):
        _check("size" in var, f"{where}[{i}]", "missing key 'size'")
        _check(_is_nullable_int(var["size"]), f"{where}[{i}].size", "must be int or null")


def _scalar(pred: Callable[[Any], bool], what: str) -> Callable[[Any, str], None]:
    def check(value: Any, where: str) -> None:
        _check(pred(value), where, what)

    return check


def _one_of(choices: tuple[Any, ...]) -> Callable[[Any, str], None]:
    return _scalar(lambda v: v in choices, f"must be one of {choices}")


#: How each kind of value is checked: ``check(value, where)`` raises RecordError.
KINDS: dict[str, Callable[[Any, str], None]] = {
    "seq": _scalar(lambda v: is_int(v) and v >= 1, "must be an integer >= 1"),
    "count": _scalar(_is_nullable_int, "must be int or null"),
    "text": _scalar(lambda v: v is None or isinstance(v, str), "must be str or null"),
    "string": _scalar(_is_str, "must be a string"),
    "timestamp": _scalar(_is_str, "must be a string"),
    "mode": _one_of(RECORD_MODES),
    "seconds": _scalar(lambda v: is_number(v) and v >= 0, "must be a number >= 0"),
    "bytes": _scalar(_is_nullable_int, "must be an integer number of bytes or null"),
    "flag": _scalar(lambda v: isinstance(v, bool), "must be true or false"),
    "peak_scope": _one_of((*PEAK_SCOPES, None)),
    "delta_method": _one_of((*DELTA_METHODS, None)),
    "engine": _one_of((*TRACED_ENGINES, None)),
    "granularity": _one_of(LINE_GRANULARITIES),
    "top_lines": _rows(
        line=is_int,
        code=_is_str,
        increment=is_int,
        occurrences=lambda v: is_int(v) and v >= 0,
    ),
    "types": _rows(type=_is_str, count_delta=is_int),
    "variables": _check_variables,
    "gc": _check_gc,
    "leaks": _check_objects,
    "died": _check_died,
    "alloc_method": _one_of(ALLOC_METHODS),
    "release": _check_release,
    "cluster": _check_cluster,
    "gpu": _check_gpu,
}


@dataclass(frozen=True)
class Field:
    """One key of a record.

    ``kind`` names its check in :data:`KINDS`; ``required``: every record carries it (None where
    not measured, when ``nullable``); ``csv``: a column of the CSV export; ``csv_parts``: for an
    object, its keys that are CSV columns (named ``key.part``); ``empty``: the value a record
    starts with before the measurement fills it in.
    """

    name: str
    kind: str
    required: bool = True
    nullable: bool = False
    csv: bool = False
    empty: Any = None
    csv_parts: tuple[str, ...] = ()


FIELDS: tuple[Field, ...] = (
    Field("seq", "seq", csv=True, empty=0),  # assigned by the store
    Field("execution_count", "count", nullable=True, csv=True),
    Field("cell_id", "text", nullable=True, csv=True),
    Field("label", "text", nullable=True, csv=True),
    Field("mode", "mode", csv=True),
    Field("started_at", "timestamp", csv=True),
    Field("duration_s", "seconds", csv=True),
    Field("rss_before", "bytes", nullable=True, csv=True),
    Field("rss_after", "bytes", nullable=True, csv=True),
    Field("rss_peak", "bytes", nullable=True, csv=True),
    Field("traced_delta", "bytes", nullable=True, csv=True),
    Field("traced_peak", "bytes", nullable=True, csv=True),
    Field("top_lines", "top_lines", empty=()),
    Field("types", "types", empty=()),
    Field("variables", "variables", empty=()),
    Field("gc", "gc", nullable=True),
    Field("error", "text", nullable=True, csv=True),
    Field("leaks", "leaks", csv=True, empty=()),
    # Added by the measurement when it has them (absent otherwise).
    Field("rss_peak_scope", "peak_scope", required=False),
    Field("traced_delta_method", "delta_method", required=False),
    Field("traced_engine", "engine", required=False),
    Field("freed_estimate", "bytes", required=False),
    Field("freed_estimate_partial", "flag", required=False),
    Field("top_lines_granularity", "granularity", required=False),
    Field("types_method", "string", required=False),
    Field("analysis_s", "seconds", required=False),
    # The allocated metric (memtrack.measure.allocators): what the allocators hold for live blocks.
    Field("alloc_before", "bytes", required=False),
    Field("alloc_after", "bytes", required=False),
    Field("alloc_delta", "bytes", required=False, csv=True),
    Field("alloc_peak", "bytes", required=False),
    Field("alloc_method", "alloc_method", required=False, csv=True),
    # tracemalloc's own tables: the tracer's memory, never shown as the user's.
    Field("tracer_memory", "bytes", required=False),
    Field("rss_after_tracer", "bytes", required=False),
    # The record memtrack adds, when a kernel starts again, for the cell its last process died in.
    Field("died", "died", required=False),
    # A release done from the leak sidebar, recorded as its own history entry (mode "release").
    Field("release", "release", required=False),
    # A dask cluster's memory over the cell (memtrack.measure.cluster), when a client is active.
    Field("cluster", "cluster", required=False, csv_parts=CLUSTER_BYTES),
    # GPU memory per library and device (memtrack.measure.gpu), when one is initialised.
    Field("gpu", "gpu", required=False),
)

#: The keys every record carries (the schema's ``record.required``), in wire order.
RECORD_KEYS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.required)
#: Keys a measurement adds when it has a value for them, in wire order.
OPTIONAL_KEYS: tuple[str, ...] = tuple(f.name for f in FIELDS if not f.required)
#: The CSV export's columns (the schema's ``record["x-csv-columns"]``, src/record.ts too).
CSV_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.csv) + tuple(
    f"{f.name}.{part}" for f in FIELDS for part in f.csv_parts
)


def csv_value(record: Mapping[str, Any], column: str) -> Any:
    """The value of one of :data:`CSV_COLUMNS` in ``record`` (``key.part``: that key of an
    object; None where absent)."""
    key, _, part = column.partition(".")
    value = record.get(key)
    if not part:
        return value
    return value.get(part) if isinstance(value, Mapping) else None


_REQUIRED = tuple(f for f in FIELDS if f.required)
_OPTIONAL = tuple(f for f in FIELDS if not f.required)
# (name, empty value, whether it is a fresh list): new_record runs once per cell.
_STARTS = tuple((f.name, f.empty, f.empty == ()) for f in _REQUIRED)


def new_record(values: Mapping[str, Any]) -> dict[str, Any]:
    """A record with every required key in wire order: from ``values`` where given (and not
    None), else the field's empty value (a fresh list for tables); then each optional key that
    ``values`` has a value for. ``seq`` is 0, for the store to assign."""
    record: dict[str, Any] = {}
    get = values.get
    for name, empty, is_list in _STARTS:
        value = get(name)
        if value is None:
            value = [] if is_list else empty
        record[name] = value
    for name in OPTIONAL_KEYS:
        value = get(name)
        if value is not None:
            record[name] = value
    return record


def validate_record(record: Any, where: str = "record") -> None:
    """Raise :class:`RecordError` unless ``record`` matches :data:`FIELDS` (required keys
    present, every known key of its kind; unknown keys are allowed, as in the schema)."""
    _check(isinstance(record, dict), where, "must be an object")
    missing = [k for k in RECORD_KEYS if k not in record]
    _check(not missing, where, f"missing key(s) {', '.join(map(repr, missing))}")
    for f in _REQUIRED:
        KINDS[f.kind](record[f.name], f"{where}.{f.name}")
    for f in _OPTIONAL:
        if f.name in record:
            KINDS[f.kind](record[f.name], f"{where}.{f.name}")


# --------------------------------------------------------------------------- derived figures


def _gpu_entries(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        e
        for e in record.get("gpu") or ()
        if e.get("allocated_before") is not None and e.get("allocated_after") is not None
    ]


def record_delta(record: Mapping[str, Any], metric: str = "allocated") -> int | None:
    """The record's change over the cell in ``metric`` (one of :data:`METRICS`), or None where
    the record lacks that metric (never another metric in its place): ``rss`` the RSS change,
    ``allocated`` ``alloc_delta``, ``traced`` ``traced_delta`` (deep cells), ``gpu`` the change
    of the bytes GPU libraries hold for live allocations, over every device."""
    if metric == "gpu":
        entries = _gpu_entries(record)
        if not entries:
            return None
        return sum(int(e["allocated_after"]) - int(e["allocated_before"]) for e in entries)
    if metric == "allocated":
        value = record.get("alloc_delta")
        return int(value) if value is not None else None
    if metric == "traced":
        value = record.get("traced_delta")
        return int(value) if value is not None else None
    if metric != "rss":
        raise ValueError(f"unknown metric {metric!r}: one of {', '.join(METRICS)}")
    before, after = record.get("rss_before"), record.get("rss_after")
    if before is None or after is None:
        return None
    return int(after) - int(before)  # both ends alike (rss_after_tracer: the plot's level only)


def record_peak(record: Mapping[str, Any], metric: str = "allocated") -> int | None:
    """The peak of ``metric`` above the cell's start, or None where the record lacks it:
    ``rss`` ``rss_peak - rss_before``, ``allocated`` ``alloc_peak``, ``traced`` ``traced_peak``,
    ``gpu`` the sum over devices of each one's peak above its start (a lower bound where a
    device's peak is bounded)."""
    if metric == "gpu":
        entries = [e for e in _gpu_entries(record) if e.get("peak") is not None]
        if not entries:
            return None
        return sum(max(0, int(e["peak"]) - int(e["allocated_before"])) for e in entries)
    if metric == "allocated":
        return record.get("alloc_peak")
    if metric == "traced":
        return record.get("traced_peak")
    if metric != "rss":
        raise ValueError(f"unknown metric {metric!r}: one of {', '.join(METRICS)}")
    peak, before = record.get("rss_peak"), record.get("rss_before")
    if peak is None or before is None:
        return None
    return max(0, int(peak) - int(before))


def default_metric(records: Sequence[Mapping[str, Any]]) -> str:
    """``allocated`` when the latest record has it (the figure that sees reused memory; a
    session whose reader grew too slow has it no more), else ``rss``."""
    if records and records[-1].get("alloc_delta") is not None:
        return "allocated"
    return "rss"


METRIC_LABELS = {"rss": "RSS", "allocated": "allocated", "traced": "traced", "gpu": "GPU"}


def cell_ref(record: Mapping[str, Any]) -> str:
    """``[5]``: the cell's execution count as the notebook shows it (``[ ]`` without one)."""
    count = record.get("execution_count")
    return f"[{count}]" if count is not None else "[ ]"


def died_text(record: Mapping[str, Any], with_cell: bool = True) -> str:
    """``kernel died during [12] at 1.1 GB of 2.0 GB: out of memory`` for a KernelDied record
    (``with_cell=False``: ``died at ...``, where the cell is already shown)."""
    died = record.get("died") or {}
    at = died.get("last_rss") or died.get("peak")
    text = f"kernel died during {cell_ref(record)}" if with_cell else "died"
    if at is not None:
        text += f" at {format_bytes(at)}"
        if died.get("memory_limit"):
            text += f" of {format_bytes(died['memory_limit'])}"
    cause = {True: "out of memory", False: "killed (not by the out-of-memory killer)"}
    return f"{text}: {cause.get(died.get('oom_killed'), 'cause unknown')}"


def latest_suspects(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The leak suspects after the last tracked cell (each record carries the current ones)."""
    return [dict(s) for s in records[-1].get("leaks") or ()] if records else []


# --------------------------------------------------------------------------- size cap

RECORD_MAX_BYTES = 2048  # stored history: at most this much JSON per record
_TEXT_MAX = 120
_TABLES = ("top_lines", "types", "variables")


def _json_size(record: Mapping[str, Any]) -> int:
    return len(json.dumps(record, separators=(",", ":"), default=str))


# A record with at most 3 table rows and no leak suspects takes at most SMALL_RECORD_FIXED
# bytes of JSON besides its strings (keys, numbers, punctuation: tests/test_store.py builds
# the largest); its strings may take the rest when they are plain ASCII (one JSON byte each).
SMALL_RECORD_FIXED = 1775
_SMALL_ROWS = 3
_CLUSTER_WORKERS_KEPT = 2  # per-worker rows kept before table rows are dropped


def _fits_unencoded(record: Mapping[str, Any], limit: int = RECORD_MAX_BYTES) -> bool:
    """True when ``record`` surely fits in ``limit`` bytes of JSON without encoding it (~13 us
    for a light record): few rows, no suspects, short plain strings. A string with another
    character may take 12 bytes of JSON per character (``\\uXXXX`` twice); such records are
    measured."""
    tables = [record.get(key) or () for key in _TABLES]
    if sum(map(len, tables)) > _SMALL_ROWS or record.get("leaks"):
        return False
    if record.get("cluster") or record.get("gpu"):  # their objects may take 1.5 kB
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
        workers = (record.get("cluster") or {}).get("workers")
        if workers and len(workers) > _CLUSTER_WORKERS_KEPT:
            # Beyond the first few workers (those that changed most), the totals say enough.
            record["cluster"] = {**record["cluster"], "workers": workers[:-1]}
            size = _json_size(record)
            continue
        tables = [k for k in _TABLES if record.get(k)]
        if not tables:
            method = record.get("types_method")
            if isinstance(method, str) and len(method) > 40:
                record["types_method"] = method[:39] + "\u2026"
                size = _json_size(record)
                continue
            label = record.get("label")
            if isinstance(label, str) and len(label) > 40:  # non-ASCII: up to 12 bytes each
                record["label"] = label[:39] + "\u2026"
                size = _json_size(record)
                continue
            if workers:
                record["cluster"] = {**record["cluster"], "workers": workers[:-1]}
                size = _json_size(record)
                continue
            devices = record.get("gpu")
            if devices and len(devices) > 1:  # the last libraries' or devices' entries
                record["gpu"] = devices[:-1]
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
