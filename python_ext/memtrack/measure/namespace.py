"""The user namespace's live variables and their deep sizes, over several bounded passes.

A pass sizes what it can within its budget and remembers, per value, where it stopped; the next
pass goes on from there. A value whose top-level signature (identity, type, shallow size, length)
is unchanged since it was finished is not walked again. A big container (exact lists, tuples and
dicts, numpy object arrays: where millions of items live) resumes by the index of its next item,
holding no reference. Any other value's walk (a DataFrame) is suspended with what it has left to
visit, and :meth:`NamespaceSizer.drop_walks` forgets those before any user code runs again (the
tracker calls it at every execution), so no walk keeps a value alive across a cell.

Limits (said where the sizes are shown): items shared by two chunks of a big container count once
per chunk; a change deep inside a value that leaves its top level as it was keeps the older size
until the value is rebound, resized or re-walked (entries older than :data:`STALE_PASSES` are).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from .ledger import user_name
from .sizes import (
    SKIP,
    DeepWalk,
    deep_size,
    holds_objects,
    is_ndarray,
    sizeof,
    type_module,
    type_name,
)

CHUNK = 4096  # items of a big container sized per step (a step either finishes or is redone)
HISTORY = 32  # sizes kept per name, after the last cells (the sidebar's sparkline)
STALE_PASSES = 50  # a finished value is walked again after this many passes
MAX_ENTRIES = 20_000  # names remembered (a namespace bigger than that is sized by its largest)

# Frameworks whose values keep their data elsewhere: what is counted is the host part.
_DEVICE = frozenset({"torch", "cupy", "jax", "jaxlib", "tensorflow"})
_LAZY = frozenset({"dask", "distributed", "pyspark", "polars", "ray", "modin", "vaex"})


def _sliceable(value: Any, t: type) -> bool:
    if t is list or t is tuple or t is dict:
        return True
    if not (is_ndarray(t) and holds_objects(value)):
        return False
    try:
        return value.base is None  # owning its items (a view's are its base's)
    except Exception:
        return False


def _length(value: Any, t: type) -> int:
    """The number of items of a sliceable value, read without user code (exact types)."""
    if t is list or t is tuple or t is dict:
        return len(value)
    try:
        return int(value.size)  # numpy's C getter
    except Exception:
        return 0


def _items(value: Any, t: type, start: int, stop: int) -> list[Any]:
    if t is list or t is tuple:
        return list(value[start:stop])
    if t is dict:
        # Keys and values, in the dict's order (a mutation changes the signature: restart).
        pairs = islice(value.items(), start, stop)
        return [x for pair in pairs for x in pair]
    return list(value.flat[start:stop])  # an object array's items, through numpy's C iterator


def where(t: type) -> str:
    """'host', or where the data of a framework value lives ('device', 'lazy')."""
    top = type_module(t).partition(".")[0]
    if top in _DEVICE:
        return "device"
    if top in _LAZY:
        return "lazy"
    return "host"


@dataclass
class _Entry:
    """What passes know of one name's value (ids and numbers only: no reference to it)."""

    oid: int
    type_id: int
    type_name: str
    sig: tuple[Any, ...]
    size: int = 0
    partial: bool = True
    unknown: int = 0
    index: int = 0  # the next item to size (sliceable values)
    chunk: int = CHUNK
    finished_at: int = -1  # the pass that finished it
    where: str = "host"
    history: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    cell: int | None = None
    walk: DeepWalk | None = None  # suspended between passes of one idle time (drop_walks)

    def matches(self, value: Any, sig: tuple[Any, ...]) -> bool:
        return self.oid == id(value) and self.type_id == id(type(value)) and self.sig == sig


def listed(name: str) -> bool:
    """A user variable: not IPython's (``In``, ``Out``, ``_3``, ...) nor a module dunder
    (``__name__``, ``__doc__``, ``__builtins__``, ...)."""
    return user_name(name) and not (name[:2] == "__" and name[-2:] == "__")


def signature(value: Any) -> tuple[Any, ...]:
    """Identity, type, shallow size and (exact containers) length: what says "unchanged"."""
    t = type(value)
    return (id(value), id(t), sizeof(value), _length(value, t) if _sliceable(value, t) else -1)


class NamespaceSizer:
    """Deep sizes of a namespace's user variables, finished over passes. ``size_pass`` runs one
    bounded pass; ``rows`` lists the largest; ``note_cell`` records each name's size after a
    cell (its history)."""

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        self.passes = 0

    # -- passes -------------------------------------------------------------------------------

    def size_pass(self, ns: Mapping[str, Any], budget_s: float, names: Iterable[str] = ()) -> int:
        """Size what is unfinished or changed, ``names`` first (a cell touched them), within
        ``budget_s``; returns how many values remain unfinished."""
        self.passes += 1
        deadline = time.perf_counter() + budget_s
        live = [n for n in ns if listed(n)]
        for gone in [n for n in self.entries if n not in ns or not listed(n)]:
            del self.entries[gone]
        first = [n for n in names if n in ns and listed(n)]
        order = first + [n for n in live if n not in set(first)]
        pending = 0
        for name in order:
            value = ns.get(name)
            if type(value) in SKIP:  # functions, classes, modules: infrastructure, not data
                self.entries.pop(name, None)
                continue
            entry = self._entry(name, value)
            if entry is None:
                continue
            if entry.partial or self.passes - entry.finished_at > STALE_PASSES:
                if time.perf_counter() < deadline:
                    self._walk(entry, value, deadline)
                if entry.partial:
                    pending += 1
            value = None
        return pending

    def _entry(self, name: str, value: Any) -> _Entry | None:
        try:
            sig = signature(value)
        except Exception:
            return None
        entry = self.entries.get(name)
        if entry is not None and entry.matches(value, sig):
            return entry
        if entry is None and len(self.entries) >= MAX_ENTRIES:
            return None
        t = type(value)
        fresh = _Entry(id(value), id(t), type_name(t), sig, where=where(t))
        if entry is not None:
            fresh.history = entry.history
            fresh.cell = entry.cell
        self.entries[name] = fresh
        return fresh

    def _walk(self, entry: _Entry, value: Any, deadline: float) -> None:
        t = type(value)
        if entry.finished_at >= 0 and not entry.partial:  # stale: walk it again from the start
            entry.size, entry.index, entry.unknown, entry.partial = 0, 0, 0, True
        if not _sliceable(value, t):
            walk = entry.walk
            if walk is None:
                walk = entry.walk = DeepWalk(value, max_objects=50_000_000)
            value = None
            if walk.step(deadline):
                entry.walk = None
                r = walk.result()
                self._done(entry, r["size"] or 0, r["partial"], r["unknown"])
            else:
                entry.size = walk.total  # a lower bound until it is done
            return
        if entry.index == 0 and entry.size == 0:
            entry.size = sizeof(value) or 0  # the container itself
        n = _length(value, t)
        while entry.index < n:
            if time.perf_counter() >= deadline:
                return  # unfinished: the next pass goes on from entry.index
            stop = min(n, entry.index + entry.chunk)
            items = _items(value, t, entry.index, stop)
            holder = sizeof(items) or 0
            r = deep_size(items, deadline=deadline, max_objects=10_000_000)
            items = None
            if r["partial"]:
                # Redo this chunk next time, smaller; one item that never fits counts as far
                # as it got, and the value stays a lower bound.
                if entry.chunk > 1:
                    entry.chunk = max(1, entry.chunk // 4)
                    return
                entry.size += max(0, (r["size"] or 0) - holder)
                entry.index = stop
                entry.unknown += 1
                continue
            entry.size += max(0, (r["size"] or 0) - holder)
            entry.unknown += r["unknown"]
            entry.index = stop
        self._done(entry, entry.size, False, entry.unknown)

    def drop_walks(self) -> None:
        """Forget the suspended walks (their references) before user code runs: those values
        start again at a later pass."""
        for entry in self.entries.values():
            if entry.walk is not None:
                entry.walk.drop()
                entry.walk = None
                entry.size = 0

    def _done(self, entry: _Entry, size: int, partial: bool, unknown: int) -> None:
        entry.size, entry.unknown = int(size), int(unknown)
        entry.partial = bool(partial) or unknown > 0 or entry.where != "host"
        entry.finished_at = self.passes
        if not entry.history:  # the sparkline's first point: its size when first known
            entry.history.append(entry.size)

    # -- what the sidebar reads -----------------------------------------------------------------

    def note_cell(self, execution_count: int | None, touched: Iterable[str] = ()) -> None:
        """After a cell: each known name's size goes to its history; the names the cell created
        or rebound take its execution count."""
        for name in touched:
            entry = self.entries.get(name)
            if entry is not None and execution_count is not None:
                entry.cell = execution_count
        for entry in self.entries.values():
            entry.history.append(None if entry.partial and entry.size == 0 else entry.size)

    def rows(self, limit: int, releasable: Mapping[str, bool] | None = None) -> list[dict]:
        """The largest variables, as the wire's ``liveVariable`` rows."""
        ranked = sorted(self.entries.items(), key=lambda kv: (-kv[1].size, kv[0]))[:limit]
        out = []
        for name, e in ranked:
            history = list(e.history)
            known = [h for h in history if h is not None]
            out.append(
                {
                    "name": name,
                    "type": e.type_name,
                    "size": e.size,
                    "partial": e.partial,
                    "where": e.where,
                    "history": history,
                    "change": known[-1] - known[0] if len(known) >= 2 else None,
                    "cell": e.cell,
                    "releasable": True if releasable is None else bool(releasable.get(name)),
                }
            )
        return out

    def pending(self) -> int:
        return sum(1 for e in self.entries.values() if e.partial and e.where == "host")

    def clear(self) -> None:
        self.drop_walks()
        self.entries.clear()
