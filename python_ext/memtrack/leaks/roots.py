"""Where a notebook's values live, and what the leak modules share.

Pure: no IPython import (the IPython objects come in as duck-typed :class:`Roots`, built by
:func:`roots_from_shell`). Shared by the leak watchers (:mod:`.detector` and its parts),
:mod:`.why_alive` (why a value is alive) and :mod:`.release` (releasing it): the user's variables
without IPython's names, the tracebacks kept after an error, and bounded size estimates that run
no user code (``len`` of exact builtin containers only, sizes through
:mod:`memtrack.measure.sizes`).
"""

from __future__ import annotations

import sys
import time
import types
from dataclasses import dataclass
from itertools import islice
from typing import Any

from ..measure import engine
from ..measure.cell import rss
from ..measure.ledger import user_name as is_user_name
from ..measure.sizes import ATOMIC, SKIP, deep_size, sizeof

BUDGET_REQUEST_S = 0.3  # %memtrack leaks / memtrack.why(): someone waits for the answer
MAX_NAMES = 2000  # names watched per namespace
SAMPLE = 32  # children ids kept per large container (shared-after-del)
_BIG_CONTAINER = 20_000  # items: sizes of larger builtin containers are estimated from a sample
# Light mode sizes (estimate_size(quick=True)): a container of more than QUICK_ITEMS items is
# estimated from QUICK_SAMPLE items of at most QUICK_ITEM_OBJECTS objects each; anything else is
# walked to at most QUICK_OBJECTS objects.
QUICK_ITEMS = 32
QUICK_SAMPLE = 4
QUICK_ITEM_OBJECTS = 16
QUICK_OBJECTS = 128
# Exact builtin containers: their C-level len and items are read without running user code.
CONTAINER_TYPES = (list, tuple, dict, set, frozenset)
_exc_traceback = BaseException.__dict__["__traceback__"].__get__
_exc_context = BaseException.__dict__["__context__"].__get__
_exc_cause = BaseException.__dict__["__cause__"].__get__

MISSING = object()  # "no such key" for dict.get, where None could be a user value


def user_name(name: Any) -> bool:
    """A name of the user's own (not IPython's history names); a namespace key may be any
    object."""
    return type(name) is str and is_user_name(name)


# --------------------------------------------------------------------------- roots


@dataclass
class Roots:
    """Where a notebook's values live: the user namespace and what IPython keeps besides."""

    ns: dict
    out: dict | None = None  # Out / _oh (IPython's history_manager.output_hist)
    hidden: dict | None = None  # user_ns_hidden: IPython's names, _N and _/__/___ too
    displayhook: Any = None  # keeps _/__/___ as attributes
    shell: Any = None  # last_execution_result, InteractiveTB.tb

    def traceback_heads(self) -> list[Any]:
        """Tracebacks IPython and sys keep after an error (deduplicated, oldest kept)."""
        heads: list[Any] = []
        excs: list[Any] = []
        for attr in ("last_exc", "last_value"):
            exc = sys.__dict__.get(attr)
            if exc is not None:
                excs.append(exc)
        tb = sys.__dict__.get("last_traceback")
        if type(tb) is types.TracebackType:
            heads.append(tb)
        itb = getattr(self.shell, "InteractiveTB", None) if self.shell is not None else None
        if itb is not None:
            tb = instance_attr(itb, "tb")
            if type(tb) is types.TracebackType:
                heads.append(tb)
        seen_exc: set[int] = set()
        while excs and len(seen_exc) < 16:
            exc = excs.pop()
            if id(exc) in seen_exc:
                continue
            seen_exc.add(id(exc))
            try:
                tb = _exc_traceback(exc)
                excs.extend(e for e in (_exc_context(exc), _exc_cause(exc)) if e is not None)
            except TypeError:  # not an exception
                continue
            if type(tb) is types.TracebackType:
                heads.append(tb)
        out, ids = [], set()
        for tb in heads:
            if id(tb) not in ids:
                ids.add(id(tb))
                out.append(tb)
        return out


def instance_attr(obj: Any, name: str) -> Any:
    """``obj.name`` from the instance ``__dict__`` only (no properties, no ``__getattr__``)."""
    try:
        d = object.__getattribute__(obj, "__dict__")
    except Exception:
        return None
    return d.get(name) if type(d) is dict else None


def roots_from_shell(shell: Any) -> Roots:
    ns = shell.user_ns
    out = ns.get("_oh")
    if type(out) is not dict:
        hm = getattr(shell, "history_manager", None)
        out = getattr(hm, "output_hist", None) if hm is not None else None
    hidden = getattr(shell, "user_ns_hidden", None)
    return Roots(
        ns=ns,
        out=out if type(out) is dict else None,
        hidden=hidden if type(hidden) is dict else None,
        displayhook=getattr(shell, "displayhook", None),
        shell=shell,
    )


def user_values(roots: Roots, limit: int = MAX_NAMES) -> list[tuple[str, Any]]:
    """The user's variables: ``(name, value)`` without IPython's names, modules, functions and
    classes (strong references: the caller drops the list before the cell ends)."""
    hidden = roots.hidden or {}
    items: list[tuple[str, Any]] = []
    try:  # no copy of a huge namespace: at most 4 x limit entries are looked at
        for name, value in islice(roots.ns.items(), 4 * limit):
            if not user_name(name) or name.startswith("__"):
                continue
            if name in hidden and hidden[name] is value:
                continue  # IPython's own (In, exit, ...)
            if type(value) in SKIP:
                continue
            items.append((name, value))
            if len(items) >= limit:
                break
    except RuntimeError:  # changed size (another thread): what was read so far
        pass
    return items


# --------------------------------------------------------------------------- sizes


def sample_items(value: Any, t: type, k: int = SAMPLE) -> list[Any]:
    """Up to ``k`` children of an exact builtin container, spread over it (C-level access)."""
    try:
        if t is list or t is tuple:
            n = len(value)
            if n <= k:
                return list(value)
            return [value[i * n // k] for i in range(k)]
        if t is dict:
            half = k // 2
            vals = value.values()
            return [*islice(vals, half), *islice(reversed(vals), half)]
        if t is set or t is frozenset:
            return list(islice(value, k))
    except Exception:
        pass
    return []


def _sampled_size(
    value: Any, t: type, n: int, end: float, k: int, max_objects: int
) -> tuple[int | None, bool]:
    """The container plus its length times the mean deep size of ``k`` sampled items."""
    shallow = sizeof(value) or 0
    items = sample_items(value, t, k)
    if t is dict:
        keys = value.keys()
        half = k // 2
        items += [*islice(keys, half), *islice(reversed(keys), half)]
        n *= 2  # keys and values
    sizes = []
    for item in items:
        # The first item is sized whatever the clock says (max_objects bounds it): a deadline
        # passed while sampling must not turn the estimate into the container's shallow size,
        # which a size history would then read as growth on the next, uncut, estimate.
        if sizes and time.perf_counter() > end:
            break
        if type(item) in ATOMIC:
            s = sizeof(item)
        else:
            s = deep_size(item, deadline=end, max_objects=max_objects)["size"]
        if s is not None:
            sizes.append(s)
    items = []
    if not sizes:
        return None, True  # no item's size is known: unknown, not the container alone
    return int(shallow + n * sum(sizes) / len(sizes)), True


def estimate_size(
    value: Any, deadline: float, per_value_s: float = 0.003, quick: bool = False
) -> tuple[int | None, bool]:
    """``(bytes, approximate)``: the deep size, or for builtin containers too big to walk in
    time, the container plus its length times the mean deep size of a sample of its items.

    ``quick`` (light mode, per cell): bounded work whatever the value: a builtin container of
    more than ``QUICK_ITEMS`` items is always estimated from ``QUICK_SAMPLE`` items, anything
    else is walked to at most ``QUICK_OBJECTS`` objects (approximate when cut)."""
    t = type(value)
    now = time.perf_counter()
    if now >= deadline:
        return None, True
    end = min(deadline, now + per_value_s)
    n = -1
    if t in CONTAINER_TYPES:
        n = len(value)  # exact builtin type: its own C length
    if quick:
        if n > QUICK_ITEMS:
            return _sampled_size(value, t, n, end, QUICK_SAMPLE, QUICK_ITEM_OBJECTS)
        r = deep_size(value, deadline=end, max_objects=QUICK_OBJECTS)
        if r["size"] is None:
            return None, True
        return int(r["size"]), bool(r["partial"] or r["unknown"])
    if 0 <= n <= _BIG_CONTAINER:
        r = deep_size(value, deadline=end)
        if r["size"] is None:
            return None, True
        if not r["partial"]:
            return int(r["size"]), r["unknown"] > 0
        if n < 0:
            return int(r["size"]), True
    elif n < 0:
        r = deep_size(value, deadline=end)
        return (None if r["size"] is None else int(r["size"])), bool(r["partial"] or r["unknown"])
    return _sampled_size(value, t, n, end, 16, 2000)


def memory_now() -> tuple[str, int]:
    """``(measure, bytes)``: traced memory while an allocation engine counts (native or
    tracemalloc), else RSS (two readings compare only when their measures are the same)."""
    counting = engine.counting()
    if counting is not None:
        return "traced", counting.traced()[0]
    return "rss", rss() or 0
