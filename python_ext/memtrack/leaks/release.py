"""The safe release of what IPython keeps alive: ``%memtrack release out [N] | traceback | NAME``.

Each target has a plan (what would go, and the bytes expected to be freed) and an action that
drops every reference IPython keeps to the value (output history, ``_N``, ``_``/``__``/``___``,
the displayhook, the last execution result, ``sys.last_*`` and the traceback formatter), like
``%xdel``. :func:`release_request` serves the sidebar (dry run, then the release, with the memory
freed measured around it). Pure: no IPython import.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from typing import Any

from ..units import format_bytes
from .roots import (
    BUDGET_REQUEST_S,
    MISSING,
    Roots,
    estimate_size,
    instance_attr,
    memory_now,
    user_name,
    user_values,
)
from .why_alive import iter_frames, traceback_locals

# --------------------------------------------------------------------------- release


def release_plan_out(roots: Roots, n: int | None = None) -> tuple[list[Any], int]:
    """The output-history entries to release (all when ``n`` is None) and their bytes."""
    out = roots.out or {}
    keys = list(out) if n is None else [n]
    missing = [k for k in keys if k not in out]
    if missing:
        raise KeyError(f"Out[{missing[0]}] is not in the output history")
    deadline = time.perf_counter() + BUDGET_REQUEST_S
    seen: set[int] = set()
    named = {id(v) for _, v in user_values(roots)}
    total = 0
    for k in keys:
        value = out[k]
        if id(value) in seen or id(value) in named:
            continue  # a variable keeps it alive anyway
        seen.add(id(value))
        size, _ = estimate_size(value, deadline, 0.02)
        total += size or 0
    value = None
    return keys, total


def release_out(roots: Roots, n: int | None = None) -> tuple[int, int]:
    """Remove ``Out[n]`` (all entries when None) with ``_n``, and ``_``/``__``/``___`` and the
    displayhook's and last result's references when they point to a released value.
    Returns ``(entries released, bytes expected to be freed)``."""
    keys, expected = release_plan_out(roots, n)
    out = roots.out if roots.out is not None else {}
    values = {}
    for k in keys:
        v = out.pop(k, None)
        values[id(v)] = v
        for d in (roots.ns, roots.hidden):
            if d is not None and type(k) is int and d.get(f"_{k}") is v:
                del d[f"_{k}"]
    _drop_refs(roots, values)
    values.clear()
    return len(keys), expected


def _drop_refs(roots: Roots, values: dict[int, Any]) -> None:
    """Forget IPython's other references (``_``, ``__``, ``___``, the displayhook's, the last
    execution result's) to the values in ``values`` (by identity)."""
    for u in ("_", "__", "___"):
        for d in (roots.ns, roots.hidden):
            if d is not None and u in d and values.get(id(d[u]), MISSING) is d[u]:
                d[u] = ""
        dh = roots.displayhook
        if dh is not None:
            cur = instance_attr(dh, u)
            if cur is not None and id(cur) in values:
                with contextlib.suppress(Exception):
                    setattr(dh, u, "")
    shell = roots.shell
    if shell is not None:
        last = getattr(shell, "last_execution_result", None)
        res = instance_attr(last, "result") if last is not None else None
        if res is not None and id(res) in values:
            with contextlib.suppress(Exception):
                last.result = None


def release_plan_traceback(roots: Roots) -> tuple[list[Any], int]:
    heads = roots.traceback_heads()
    named = {id(v) for _, v in user_values(roots)}
    rows = traceback_locals(heads, named, time.perf_counter() + BUDGET_REQUEST_S)
    total = sum(r[3] or 0 for r in rows)
    rows.clear()
    return heads, total


def release_traceback(roots: Roots) -> tuple[int, int]:
    """Forget the last exception (``sys.last_*``, IPython's traceback formatter, the last
    result) and clear its finished frames' locals. Returns ``(frames cleared, bytes)``."""
    heads, expected = release_plan_traceback(roots)
    frames = iter_frames(heads)
    heads = []
    for attr in ("last_type", "last_value", "last_traceback", "last_exc"):
        if attr in sys.__dict__:
            with contextlib.suppress(AttributeError):
                delattr(sys, attr)
    shell = roots.shell
    if shell is not None:
        for tb_attr in ("InteractiveTB", "SyntaxTB"):
            formatter = getattr(shell, tb_attr, None)
            if formatter is not None and instance_attr(formatter, "tb") is not None:
                with contextlib.suppress(Exception):
                    formatter.tb = None
        last = getattr(shell, "last_execution_result", None)
        if last is not None and instance_attr(last, "error_in_exec") is not None:
            with contextlib.suppress(Exception):
                last.error_in_exec = None
    cleared = 0
    for f in frames:
        if f.f_code.co_name == "<module>":
            continue  # its locals are a namespace, not a function's
        try:
            # 3.11 keeps the dict f_locals made (ours included) after clear(): empty it first.
            loc = f.f_locals
            if type(loc) is dict:
                loc.clear()
            loc = None
            f.clear()
            cleared += 1
        except RuntimeError:  # still executing
            pass
    frames.clear()
    return cleared, expected


def release_plan_name(roots: Roots, name: str) -> tuple[list[str], int]:
    """Where the value of variable ``name`` is held (the name first), and the bytes that
    releasing it would free (0 when another variable still names it)."""
    if name not in roots.ns:
        raise KeyError(f"{name!r} is not a variable")
    value = roots.ns[name]
    places = [f"`{name}`"]
    for k, v in (roots.out or {}).items():
        if v is value:
            places.append(f"Out[{k}]")
    places += [u for u in ("_", "__", "___") if roots.ns.get(u) is value]
    others = [n for n, v in user_values(roots) if v is value and n != name]
    size, _ = estimate_size(value, time.perf_counter() + BUDGET_REQUEST_S, 0.05)
    value = None
    if others:
        places.append(f"(still named {', '.join(others)})")
        return places, 0
    return places, size or 0


def release_name(roots: Roots, name: str) -> tuple[list[str], int]:
    """``del name`` and every reference IPython keeps to its value (like ``%xdel``: output
    history, ``_N``, ``_``/``__``/``___``, the displayhook, the last result)."""
    places, expected = release_plan_name(roots, name)
    value = roots.ns.pop(name)
    values = {id(value): value}
    for d in (roots.ns, roots.hidden, roots.out):
        if d is None:
            continue
        for k in [k for k, v in d.items() if v is value]:
            if d is roots.out or (type(k) is str and re.fullmatch(r"_\d+", k)):
                del d[k]
    _drop_refs(roots, values)
    values.clear()
    value = None
    return places, expected


# --------------------------------------------------------------------------- commands

RELEASE_USAGE = "use: %memtrack release out [N] | traceback | NAME"


def parse_release_args(roots: Roots, args: list[str]) -> tuple[str, Any]:
    """What ``%memtrack release ARGS`` names: ``("out", N or None)``, ``("traceback", None)`` or
    ``("name", NAME)``; ValueError (with the usage) on anything else."""
    if not args:
        raise ValueError(RELEASE_USAGE)
    what, rest = args[0], args[1:]
    if what == "out":
        if len(rest) > 1:
            raise ValueError(RELEASE_USAGE)
        n = None
        if rest:
            text = rest[0].removeprefix("Out[").removesuffix("]").lstrip("_")
            if not text.isdigit():
                raise ValueError(f"release out N: N must be an output number, got {rest[0]!r}")
            n = int(text)
        return "out", n
    if rest:
        raise ValueError(RELEASE_USAGE)
    if what in ("traceback", "tb", "sys.last_traceback"):
        return "traceback", None
    if what not in roots.ns or not user_name(what):
        raise ValueError(f"{what!r} is not a variable; {RELEASE_USAGE}")
    return "name", what


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _out_places(roots: Roots, keys: list[Any]) -> list[str]:
    """``Out[N]`` and the other names IPython binds to those outputs (``_N``, ``_``...)."""
    out, ns = roots.out or {}, roots.ns
    places, ids = [], set()
    for k in keys:
        value = out.get(k, MISSING)
        places.append(f"Out[{k}]")
        if value is MISSING:
            continue
        ids.add(id(value))
        if type(k) is int and ns.get(f"_{k}", MISSING) is value:
            places.append(f"_{k}")
    places += [u for u in ("_", "__", "___") if u in ns and id(ns[u]) in ids]
    return places


def release_request(roots: Roots, args: list[str], dry_run: bool) -> dict[str, Any]:
    """``%memtrack release ARGS`` for the sidebar: ``ok``, ``action`` (what it does, e.g.
    "delete Out[12], _12 and _"), ``expected_bytes``, ``freed_bytes`` (the drop of traced memory
    while tracemalloc traces, else of RSS, measured around the release; None for a dry run) and
    a ``message``. Refusals (bad target, nothing to release) come back with ``ok`` False."""
    result: dict[str, Any] = {
        "ok": False,
        "action": "",
        "expected_bytes": None,
        "freed_bytes": None,
        "message": "",
    }
    try:
        what, key = parse_release_args(roots, args)
        if what == "out":
            keys, expected = release_plan_out(roots, key)
            if not keys:
                raise ValueError("the output history is empty")
            places = _out_places(roots, keys) if len(keys) <= 3 else [f"{len(keys)} outputs"]
            action = "delete " + _and(places)
            if key is None:
                action = f"clear the output history ({_and(places)})"
        elif what == "traceback":
            heads, expected = release_plan_traceback(roots)
            if not heads:
                raise ValueError("no traceback is kept")
            n = len([f for f in iter_frames(heads) if f.f_code.co_name != "<module>"])
            heads = []
            action = f"forget the last exception and clear the locals of its {n} frame(s)"
        else:
            places, expected = release_plan_name(roots, key)
            named = [p for p in places if not p.startswith("(")]
            action = "delete " + _and(named) + "".join(f" {p}" for p in places if p.startswith("("))
    except (ValueError, KeyError) as e:
        result["message"] = str(e.args[0] if e.args else e)
        return result
    result.update(ok=True, action=action, expected_bytes=int(expected))
    if dry_run:
        result["message"] = f"would {action}; expected to free {format_bytes(expected)}"
        return result
    measure, before = memory_now()
    if what == "out":
        release_out(roots, key)
    elif what == "traceback":
        release_traceback(roots)
    else:
        release_name(roots, key)
    measure_after, after = memory_now()
    freed = max(0, before - after) if measure_after == measure else None
    result["freed_bytes"] = freed
    result["freed_measure"] = measure if freed is not None else None
    label = "traced memory" if measure == "traced" else "RSS"
    dropped = f"{label} dropped by {format_bytes(freed)}" if freed is not None else "not measured"
    result["message"] = f"released ({action}); expected to free {format_bytes(expected)}, {dropped}"
    return result


def command_release(roots: Roots, args: list[str], dry_run: bool = False) -> str:
    """Text of ``%memtrack release out [N] | traceback | NAME``; ValueError on bad usage."""
    what, key = parse_release_args(roots, args)
    verb = "would free" if dry_run else "expects to free"
    if what == "out":
        try:
            keys, expected = release_plan_out(roots, key)
        except KeyError as e:
            raise ValueError(e.args[0]) from None
        target = f"Out[{key}]" if key is not None else f"the output history ({len(keys)} entries)"
        if not dry_run:
            release_out(roots, key)
        done = "" if dry_run else "released "
        return f"memtrack: {done}{target}; {verb} {format_bytes(expected)}"
    if what == "traceback":
        heads, expected = release_plan_traceback(roots)
        if not heads:
            return "memtrack: no traceback is kept"
        heads = []
        if dry_run:
            return f"memtrack: the last traceback; {verb} {format_bytes(expected)}"
        cleared, expected = release_traceback(roots)
        return (
            f"memtrack: released the last traceback ({cleared} frames cleared); "
            f"{verb} {format_bytes(expected)}"
        )
    places, expected = release_plan_name(roots, key)
    if not dry_run:
        release_name(roots, key)
    done = "would release" if dry_run else "released"
    return f"memtrack: {done} {', '.join(places)}; {verb} {format_bytes(expected)}"
