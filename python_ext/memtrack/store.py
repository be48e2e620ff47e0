"""Thread-safe, bounded store of records.

Comm handlers may run on another thread than the cells (ipykernel 7 subshells), so every access
goes through one lock. Records are plain JSON-safe dicts; copies go in and out, so nobody can
change the stored history by mutating what they were handed.

Only the newest records stay dicts. Older ones are kept as their compact JSON: a light record
takes ~3.7 KB as dicts, ints and strings and ~0.5 KB as JSON; a deep one ~14 KB and at most 2 KB.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

# Called with ("add", copy of the stored record) or ("clear", None); see RecordStore.add_listener.
Listener = Callable[[str, "dict[str, Any] | None"], None]

DEFAULT_MAX_RECORDS = 10_000
# Records kept as dicts, at least (at most twice as many): the bridge may still be sending the
# newest ones (a batch's last record gets its leak suspects just before the send; a batch holds
# at most memtrack.bridge.BATCH_MAX records, fewer than this), and they are the ones read most.
# Older ones are packed this many at a time, every HOT_RECORDS records: ~6 us of JSON encoding a
# light record, up to ~30 us a deep one (~2 to ~8 ms at once).
HOT_RECORDS = 256


def _copy(value: Any) -> Any:
    """Copy of JSON-like data (dicts, lists, scalars): 10x cheaper than ``copy.deepcopy``."""
    t = type(value)
    if t is dict:
        return {k: _copy(v) for k, v in value.items()}
    if t is list or t is tuple:
        return [_copy(v) for v in value]
    return value


def _pack(record: dict[str, Any]) -> bytes | dict[str, Any]:
    """A stored record's compact form: its JSON (records are JSON-safe: string keys, lists, so
    it gives them back equal), or the record itself when json cannot encode it."""
    try:
        return json.dumps(record, separators=(",", ":")).encode()
    except (TypeError, ValueError):
        return record


def _unpack(packed: bytes | dict[str, Any]) -> dict[str, Any]:
    """A new dict of a stored record (both forms)."""
    return json.loads(packed) if type(packed) is bytes else _copy(packed)


def _nbytes(value: Any) -> int:
    t = type(value)
    size = sys.getsizeof(value)
    if t is dict:
        size += sum(_nbytes(k) + _nbytes(v) for k, v in value.items())
    elif t is list:
        size += sum(_nbytes(v) for v in value)
    return size


class RecordStore:
    """Records, oldest first, with ``seq`` assigned from 1 (never reused in this process)."""

    def __init__(self, max_records: int = DEFAULT_MAX_RECORDS) -> None:
        if max_records < 1:
            raise ValueError("max_records must be >= 1")
        self._lock = threading.Lock()
        self._max = max_records
        self._cold: deque[bytes | dict[str, Any]] = deque()  # the older records, packed
        self._records: deque[dict[str, Any]] = deque()  # the newest, oldest first
        self._next_seq = 1
        self._listeners: list[weakref.WeakMethod] = []

    @property
    def max_records(self) -> int:
        return self._max

    def add(
        self, record: Mapping[str, Any], owned: bool = False, copy_back: bool = True
    ) -> dict[str, Any]:
        """Store a copy of ``record`` with the next ``seq``; return another copy of it.

        ``owned``: the caller hands ``record`` over and never touches it again, so it is stored
        as it is (one copy less per cell). ``copy_back=False`` (with ``owned``): return the
        stored dict itself, for a caller that only reads it (serializes it for the frontend)
        and keeps no reference. The oldest record is dropped when the store is full.
        """
        if owned:
            stored = record if type(record) is dict else dict(record)
        else:
            stored = _copy(dict(record))
        with self._lock:
            stored["seq"] = self._next_seq
            self._next_seq += 1
            hot, cold = self._records, self._cold
            hot.append(stored)
            if len(hot) >= 2 * HOT_RECORDS:
                cold.extend(_pack(hot.popleft()) for _ in range(HOT_RECORDS))
            excess = len(cold) + len(hot) - self._max
            for _ in range(max(0, excess)):
                (cold or hot).popleft()  # the oldest record goes
        if self._listeners:
            self._notify("add", stored)
        return _copy(stored) if copy_back or not owned else stored

    def snapshot(self) -> list[dict[str, Any]]:
        """Copies of all records, oldest first."""
        with self._lock:
            records = [*self._cold, *self._records]
        return [_unpack(r) for r in records]

    def tail(self, count: int) -> list[dict[str, Any]]:
        """Copies of the last ``count`` records, oldest first."""
        with self._lock:
            records = [*self._cold, *self._records][-count:] if count > 0 else []
        return [_unpack(r) for r in records]

    def add_listener(self, method: Listener) -> None:
        """Call the bound ``method("add", record)`` after each :meth:`add` (with a copy of the
        stored record) and ``method("clear", None)`` after :meth:`clear`, in the thread that
        called them. Only a weak reference is kept, so a listening widget can still be
        garbage-collected; an exception in it prints one line and never stops the store."""
        ref = weakref.WeakMethod(method)
        with self._lock:
            self._listeners.append(ref)

    def remove_listener(self, method: Listener) -> None:
        with self._lock:
            self._listeners = [r for r in self._listeners if r() not in (None, method)]

    def _notify(self, event: str, record: dict[str, Any] | None) -> None:
        with self._lock:
            self._listeners = [r for r in self._listeners if r() is not None]
            methods = [m for m in (r() for r in self._listeners) if m is not None]
        for method in methods:
            try:
                method(event, None if record is None else _copy(record))
            except Exception as e:
                with contextlib.suppress(Exception):  # no stderr at all: nothing left to tell
                    print(
                        f"memtrack: a history listener failed ({type(e).__name__}: {e})",
                        file=sys.stderr,
                    )

    def nbytes(self) -> int:
        """Memory the stored records take (Python objects, shared small values counted each
        time: an upper bound)."""
        with self._lock:
            records = [*self._cold, *self._records]
        return (
            sys.getsizeof(self._cold)
            + sys.getsizeof(self._records)
            + sum(_nbytes(r) for r in records)
        )

    def clear(self) -> None:
        """Forget every record; ``seq`` keeps counting (it is unique per kernel process)."""
        with self._lock:
            self._cold.clear()
            self._records.clear()
        if self._listeners:
            self._notify("clear", None)

    @property
    def last_seq(self) -> int | None:
        """The ``seq`` of the last record stored (None before any)."""
        return self._next_seq - 1 if self._next_seq > 1 else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._cold) + len(self._records)
