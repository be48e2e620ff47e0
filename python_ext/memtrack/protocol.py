"""Wire format of the ``jupyterlab-memtrack`` comm.

The single source of truth is ``schema/wire/message.schema.json``; this module mirrors it by hand
so that the kernel side needs no JSON Schema library, and checks records by their one definition
(:mod:`memtrack.record`). It is pure: no IPython, no comm.

Every message is a JSON object ``{"v": PROTOCOL_VERSION, "type": ..., ...}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .record import LIMIT_SOURCES, RecordError, is_int, is_number
from .record import validate_record as check_record

PROTOCOL_VERSION = 1

#: Every message type the schema knows, in either direction.
MESSAGE_TYPES = (
    "hello",
    "request_history",
    "history",
    "record",
    "records",
    "reset",
    "error",
    "why",
    "why_result",
    "release",
    "release_result",
    "configure",
    "export",
    "export_result",
    "live",
    "variables",
    "variables_result",
    "tracking",
)
#: The tracking of every cell (the ``tracking`` message, ``history.tracking``).
TRACKING_MODES = ("off", "light", "deep")

#: Frontend requests answered by one message carrying the same ``request_id``.
REQUEST_TYPES = ("why", "release", "export", "variables")
VARIABLES_LIMIT_MAX = 10_000
VARIABLE_PLACES = ("host", "device", "lazy")
VARIABLE_HISTORY_MAX = 32

#: Report formats the kernel renders on an ``export`` request (JSON and CSV: the frontend's own).
EXPORT_FORMATS = ("html",)

WHY_STATUSES = ("found", "timeout", "not-found", "gone")
LIVE_STATES = ("running", "done")
EARLIER_ENDINGS = ("restart", "died")
WHY_BUDGET_MAX_S = 5.0
REQUEST_ID_MAX = 100
TARGET_MAX = 200


class ProtocolError(ValueError):
    """A message that does not follow the wire format (the text says why)."""


# --------------------------------------------------------------------------- builders


def _message(type_: str, **fields: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": type_}
    msg.update(fields)
    return msg


def hello_message(client: str = "jupyterlab-memtrack", version: str | None = None) -> dict:
    """Frontend -> kernel (comm open data). Built here for tests and tooling."""
    msg = _message("hello", client=client)
    if version is not None:
        msg["version"] = version
    return msg


def request_history_message() -> dict:
    """Frontend -> kernel: please send the whole history again."""
    return _message("request_history")


def history_message(
    records: Iterable[Mapping], kernel: Mapping | None = None, tracking: str | None = None
) -> dict:
    """Kernel -> frontend: every stored record, oldest first (and the tracking mode now)."""
    msg = _message("history", records=[dict(r) for r in records])
    if kernel is not None:
        msg["kernel"] = dict(kernel)
    if tracking is not None:
        msg["tracking"] = tracking
    return msg


def tracking_message(mode: str) -> dict:
    """Kernel -> frontend: the tracking of every cell is now ``mode`` (off, light, deep)."""
    return _message("tracking", mode=mode)


def record_message(record: Mapping) -> dict:
    """Kernel -> frontend: one new record."""
    return _message("record", record=dict(record))


def records_message(records: Iterable[Mapping]) -> dict:
    """Kernel -> frontend: new records, oldest first (light cells run back to back share one
    message: each message costs more than a record)."""
    return _message("records", records=[dict(r) for r in records])


def reset_message() -> dict:
    """Kernel -> frontend: the history was cleared."""
    return _message("reset")


def error_message(message: str, request_id: str | None = None) -> dict:
    """Either direction: the peer's last message was rejected (``request_id``: the request's)."""
    msg = _message("error", message=str(message))
    if request_id is not None:
        msg["request_id"] = request_id
    return msg


def why_message(request_id: str, name: str, budget_s: float | None = None) -> dict:
    """Frontend -> kernel: why is ``name``'s value alive? Built here for tests and tooling."""
    msg = _message("why", request_id=request_id, name=name)
    if budget_s is not None:
        msg["budget_s"] = budget_s
    return msg


def why_result_message(
    request_id: str, name: str, chain: list[str] | None, message: str, status: str
) -> dict:
    """Kernel -> frontend: the answer to a ``why`` request."""
    return _message(
        "why_result",
        request_id=request_id,
        name=name,
        chain=None if chain is None else [str(c) for c in chain],
        message=str(message),
        status=status,
    )


def variables_message(request_id: str, limit: int | None = None) -> dict:
    """Frontend -> kernel: the largest live variables. Built here for tests and tooling."""
    msg = _message("variables", request_id=request_id)
    if limit is not None:
        msg["limit"] = limit
    return msg


def variables_result_message(
    request_id: str,
    variables: list[Mapping],
    total: int,
    pending: int,
    seq: int | None,
) -> dict:
    """Kernel -> frontend: the answer to a ``variables`` request (rows as
    :mod:`memtrack.measure.namespace` builds them)."""
    return _message(
        "variables_result",
        request_id=request_id,
        variables=[dict(v) for v in variables],
        total=int(total),
        pending=int(pending),
        seq=seq,
    )


def release_message(request_id: str, target: str, dry_run: bool) -> dict:
    """Frontend -> kernel: ``%memtrack release TARGET`` (``dry_run``: only say what it would do)."""
    return _message("release", request_id=request_id, target=target, dry_run=bool(dry_run))


def release_result_message(
    request_id: str,
    target: str,
    dry_run: bool,
    ok: bool,
    expected_bytes: int | None,
    freed_bytes: int | None,
    action: str,
    message: str,
    suspects: list[Mapping] | None = None,
) -> dict:
    """Kernel -> frontend: the answer to a ``release`` request."""
    msg = _message(
        "release_result",
        request_id=request_id,
        target=target,
        dry_run=bool(dry_run),
        ok=bool(ok),
        expected_bytes=expected_bytes,
        freed_bytes=freed_bytes,
        action=str(action),
        message=str(message),
    )
    if suspects is not None:
        msg["suspects"] = [dict(s) for s in suspects]
    return msg


def configure_message(leak_threshold: int) -> dict:
    """Frontend -> kernel: leak detection settings. Built here for tests and tooling."""
    return _message("configure", leak_threshold=leak_threshold)


def export_message(request_id: str, format: str = "html") -> dict:
    """Frontend -> kernel: render the history as a report. Built here for tests and tooling."""
    return _message("export", request_id=request_id, format=format)


def export_result_message(request_id: str, format: str, content: str) -> dict:
    """Kernel -> frontend: the answer to an ``export`` request, the whole file as text."""
    return _message("export_result", request_id=request_id, format=format, content=str(content))


def live_message(
    state: str,
    execution_count: int | None,
    cell_id: str | None,
    started_at: str,
    elapsed_s: float,
    samples: list[dict[str, Any]],
    rss: int | None,
    peak: int | None,
    **extra: Any,
) -> dict:
    """Kernel -> frontend: the running cell's samples since the last ``live`` message
    (``extra``: rss_before, limit, guard_tripped)."""
    msg = _message(
        "live",
        state=state,
        execution_count=execution_count,
        cell_id=cell_id,
        started_at=started_at,
        elapsed_s=elapsed_s,
        samples=samples,
        rss=rss,
        peak=peak,
    )
    msg.update(extra)
    return msg


# --------------------------------------------------------------------------- validation


def _check(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise ProtocolError(f"{where}: {what}")


def _check_opt_str(obj: Mapping, key: str, where: str) -> None:
    if key in obj:
        _check(isinstance(obj[key], str), f"{where}.{key}", "must be a string")


def _nullable_int(value: Any) -> bool:
    return value is None or is_int(value)


def validate_record(record: Any, where: str = "record") -> None:
    """Raise :class:`ProtocolError` unless ``record`` matches the record's definition
    (:mod:`memtrack.record`, the schema's ``record``)."""
    try:
        check_record(record, where)
    except RecordError as e:
        raise ProtocolError(str(e)) from None


def _check_request_id(data: Mapping, where: str) -> None:
    _check("request_id" in data, where, "missing key 'request_id'")
    rid = data["request_id"]
    _check(
        isinstance(rid, str) and 1 <= len(rid) <= REQUEST_ID_MAX,
        f"{where}.request_id",
        f"must be a string of 1 to {REQUEST_ID_MAX} characters",
    )


def _check_string(data: Mapping, key: str, where: str, max_len: int | None = None) -> None:
    _check(key in data, where, f"missing key {key!r}")
    value = data[key]
    if max_len is None:
        _check(isinstance(value, str), f"{where}.{key}", "must be a string")
    else:
        _check(
            isinstance(value, str) and 1 <= len(value) <= max_len,
            f"{where}.{key}",
            f"must be a string of 1 to {max_len} characters",
        )


def _check_bool(data: Mapping, key: str, where: str) -> None:
    _check(key in data, where, f"missing key {key!r}")
    _check(isinstance(data[key], bool), f"{where}.{key}", "must be true or false")


def _check_requests(type_: str, data: Mapping) -> None:
    """The request/answer messages of the sidebar (why, release, export, configure)."""
    if type_ == "why":
        _check_request_id(data, "why")
        _check_string(data, "name", "why", TARGET_MAX)
        if "budget_s" in data:
            b = data["budget_s"]
            _check(
                is_number(b) and 0 < b <= WHY_BUDGET_MAX_S,
                "why.budget_s",
                f"must be a number of seconds > 0 and <= {WHY_BUDGET_MAX_S:g}",
            )
    elif type_ == "why_result":
        _check_request_id(data, "why_result")
        _check_string(data, "name", "why_result")
        _check("chain" in data, "why_result", "missing key 'chain'")
        chain = data["chain"]
        _check(
            chain is None or (isinstance(chain, list) and all(isinstance(c, str) for c in chain)),
            "why_result.chain",
            "must be an array of strings or null",
        )
        _check_string(data, "message", "why_result")
        _check("status" in data, "why_result", "missing key 'status'")
        _check(
            data["status"] in WHY_STATUSES,
            "why_result.status",
            f"must be one of {', '.join(WHY_STATUSES)}",
        )
    elif type_ == "release":
        _check_request_id(data, "release")
        _check_string(data, "target", "release", TARGET_MAX)
        _check_bool(data, "dry_run", "release")
    elif type_ == "release_result":
        _check_request_id(data, "release_result")
        _check_string(data, "target", "release_result")
        _check_bool(data, "dry_run", "release_result")
        _check_bool(data, "ok", "release_result")
        for key in ("expected_bytes", "freed_bytes"):
            _check(key in data, "release_result", f"missing key {key!r}")
            _check(_nullable_int(data[key]), f"release_result.{key}", "must be an integer or null")
        _check_string(data, "action", "release_result")
        _check_string(data, "message", "release_result")
        if "suspects" in data:
            _check(
                isinstance(data["suspects"], list)
                and all(isinstance(x, dict) for x in data["suspects"]),
                "release_result.suspects",
                "must be an array of objects",
            )
    elif type_ == "variables":
        _check_request_id(data, "variables")
        if "limit" in data:
            limit = data["limit"]
            _check(
                is_int(limit) and 1 <= limit <= VARIABLES_LIMIT_MAX,
                "variables.limit",
                f"must be an integer from 1 to {VARIABLES_LIMIT_MAX}",
            )
    elif type_ == "variables_result":
        _check_variables_result(data)
    elif type_ in ("export", "export_result"):
        _check_request_id(data, type_)
        _check("format" in data, type_, "missing key 'format'")
        _check(
            data["format"] in EXPORT_FORMATS,
            f"{type_}.format",
            f"must be one of {', '.join(EXPORT_FORMATS)}",
        )
        if type_ == "export_result":
            _check_string(data, "content", "export_result")
    elif type_ == "configure":
        _check("leak_threshold" in data, "configure", "missing key 'leak_threshold'")
        t = data["leak_threshold"]
        _check(is_int(t) and t >= 0, "configure.leak_threshold", "must be an integer >= 0")
        if "guard" in data:
            _check_guard(data["guard"], "configure.guard")


def _check_variables_result(data: Mapping) -> None:
    where = "variables_result"
    _check_request_id(data, where)
    for key in ("total", "pending"):
        _check(key in data, where, f"missing key {key!r}")
        _check(is_int(data[key]) and data[key] >= 0, f"{where}.{key}", "must be an integer >= 0")
    if "seq" in data:
        _check(_nullable_int(data["seq"]), f"{where}.seq", "must be an integer or null")
    _check("variables" in data, where, "missing key 'variables'")
    rows = data["variables"]
    _check(isinstance(rows, list), f"{where}.variables", "must be an array")
    for i, row in enumerate(rows):
        here = f"{where}.variables[{i}]"
        _check(isinstance(row, dict), here, "must be an object")
        _check_string(row, "name", here)
        _check_string(row, "type", here)
        _check("size" in row, here, "missing key 'size'")
        _check(_nullable_int(row["size"]), f"{here}.size", "must be an integer or null")
        _check_bool(row, "partial", here)
        if "where" in row:
            _check(row["where"] in VARIABLE_PLACES, f"{here}.where", "unknown place")
        if "history" in row:
            history = row["history"]
            _check(
                isinstance(history, list)
                and len(history) <= VARIABLE_HISTORY_MAX
                and all(_nullable_int(h) for h in history),
                f"{here}.history",
                f"must be at most {VARIABLE_HISTORY_MAX} integers or nulls",
            )
        for key in ("change", "cell"):
            if key in row:
                _check(_nullable_int(row[key]), f"{here}.{key}", "must be an integer or null")
        if "releasable" in row:
            _check_bool(row, "releasable", here)


def _check_guard(value: Any, where: str) -> None:
    _check(
        value is None or (is_number(value) and 0 < value <= 1),
        where,
        "must be a share of the memory limit > 0 and <= 1, or null",
    )


def _check_limit(limit: Any, where: str) -> None:
    _check(isinstance(limit, dict), where, "must be an object")
    for key in ("bytes", "source"):
        _check(key in limit, where, f"missing key {key!r}")
    for key in ("bytes", "usage", "headroom"):
        if key in limit:
            _check(_nullable_int(limit[key]), f"{where}.{key}", "must be an integer or null")
    sources = ", ".join(LIMIT_SOURCES)
    _check(limit["source"] in LIMIT_SOURCES, f"{where}.source", f"must be one of {sources}")


def _check_live(data: Mapping) -> None:
    for key in ("state", "execution_count", "cell_id", "started_at", "elapsed_s", "samples"):
        _check(key in data, "live", f"missing key {key!r}")
    _check(data["state"] in LIVE_STATES, "live.state", f"must be one of {LIVE_STATES}")
    _check(_nullable_int(data["execution_count"]), "live.execution_count", "must be int or null")
    cell_id = data["cell_id"]
    _check(cell_id is None or isinstance(cell_id, str), "live.cell_id", "must be str or null")
    _check(isinstance(data["started_at"], str), "live.started_at", "must be a string")
    elapsed = data["elapsed_s"]
    _check(is_number(elapsed) and elapsed >= 0, "live.elapsed_s", "must be a number >= 0")
    samples = data["samples"]
    _check(isinstance(samples, list), "live.samples", "must be an array")
    for i, sample in enumerate(samples):
        _check(
            isinstance(sample, dict)
            and is_number(sample.get("t"))
            and sample["t"] >= 0
            and is_int(sample.get("rss")),
            f"live.samples[{i}]",
            "must be {t: seconds >= 0, rss: integer bytes}",
        )
    for key in ("rss", "peak"):
        _check(key in data, "live", f"missing key {key!r}")
    for key in ("rss", "peak", "rss_before"):
        if key in data:
            _check(_nullable_int(data[key]), f"live.{key}", "must be an integer or null")
    if "limit" in data:
        _check_limit(data["limit"], "live.limit")
    if "guard_tripped" in data:
        _check(isinstance(data["guard_tripped"], bool), "live.guard_tripped", "must be a boolean")


def _check_earlier(earlier: Any) -> None:
    _check(isinstance(earlier, list), "history.earlier", "must be an array")
    for i, session in enumerate(earlier):
        where = f"history.earlier[{i}]"
        _check(isinstance(session, dict), where, "must be an object")
        _check(
            session.get("ended") in EARLIER_ENDINGS,
            f"{where}.ended",
            f"must be one of {EARLIER_ENDINGS}",
        )
        if "pid" in session:
            _check(_nullable_int(session["pid"]), f"{where}.pid", "must be int or null")
        _check(
            "records" in session and isinstance(session["records"], list),
            where,
            "needs a records array",
        )
        for j, rec in enumerate(session["records"]):
            validate_record(rec, f"{where}.records[{j}]")


def parse_message(data: Any) -> tuple[str, dict[str, Any]]:
    """Check one incoming message and return ``(type, payload)``.

    ``payload`` is a shallow copy of the message without ``v`` and ``type``.
    Raises :class:`ProtocolError` with a human-readable reason for anything the schema rejects:
    non-objects, a missing or newer ``v``, an unknown ``type``, or a malformed body.
    """
    if not isinstance(data, dict):
        raise ProtocolError(f"message must be a JSON object, got {type(data).__name__}")
    if "v" not in data:
        raise ProtocolError("message has no protocol version 'v'")
    v = data["v"]
    if not is_int(v):
        raise ProtocolError(f"protocol version 'v' must be an integer, got {v!r}")
    if v > PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version {v} is newer than this kernel's ({PROTOCOL_VERSION}); "
            "upgrade jupyterlab-memtrack in the kernel's environment"
        )
    if v != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {v} (expected {PROTOCOL_VERSION})")
    type_ = data.get("type")
    if not isinstance(type_, str):
        raise ProtocolError("message has no string 'type'")
    if type_ not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown message type {type_!r}")

    if type_ == "hello":
        _check_opt_str(data, "client", "hello")
        _check_opt_str(data, "version", "hello")
    elif type_ == "history":
        _check("records" in data, "history", "missing key 'records'")
        _check(isinstance(data["records"], list), "history.records", "must be an array")
        for i, rec in enumerate(data["records"]):
            validate_record(rec, f"history.records[{i}]")
        if "kernel" in data:
            kernel = data["kernel"]
            _check(isinstance(kernel, dict), "history.kernel", "must be an object")
            if "pid" in kernel:
                _check(is_int(kernel["pid"]), "history.kernel.pid", "must be an integer")
            _check_opt_str(kernel, "python", "history.kernel")
            _check_opt_str(kernel, "memtrack", "history.kernel")
            if "memory_limit" in kernel:
                _check_limit(kernel["memory_limit"], "history.kernel.memory_limit")
            if "guard" in kernel:
                _check_guard(kernel["guard"], "history.kernel.guard")
        if "earlier" in data:
            _check_earlier(data["earlier"])
        if "tracking" in data:
            _check(data["tracking"] in TRACKING_MODES, "history.tracking", "unknown mode")
    elif type_ == "tracking":
        _check("mode" in data, "tracking", "missing key 'mode'")
        _check(data["mode"] in TRACKING_MODES, "tracking.mode", "must be off, light or deep")
    elif type_ == "live":
        _check_live(data)
    elif type_ == "record":
        _check("record" in data, "record message", "missing key 'record'")
        validate_record(data["record"])
    elif type_ == "records":
        _check("records" in data, "records", "missing key 'records'")
        _check(isinstance(data["records"], list), "records.records", "must be an array")
        _check(len(data["records"]) > 0, "records.records", "must not be empty")
        for i, rec in enumerate(data["records"]):
            validate_record(rec, f"records.records[{i}]")
    elif type_ == "error":
        _check("message" in data, "error", "missing key 'message'")
        _check(isinstance(data["message"], str), "error.message", "must be a string")
        if "request_id" in data:
            _check_request_id(data, "error")
    else:
        _check_requests(type_, data)

    payload = {k: val for k, val in data.items() if k not in ("v", "type")}
    return type_, payload
