"""Thread-safe, bounded store of records.

Comm handlers may run on another thread than the cells (ipykernel 7 subshells), so every access
goes through one lock. Records are plain JSON-safe dicts; copies go in and out, so nobody can
change the stored history by mutating what they were handed.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

DEFAULT_MAX_RECORDS = 10_000


def _copy(value: Any) -> Any:
    """Copy of JSON-like data (dicts, lists, scalars): 10x cheaper than ``copy.deepcopy``."""
    t = type(value)
    if t is dict:
        return {k: _copy(v) for k, v in value.items()}
    if t is list or t is tuple:
        return [_copy(v) for v in value]
    return value


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
        self._records: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._next_seq = 1

    @property
    def max_records(self) -> int:
        return self._records.maxlen or 0

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
            self._records.append(stored)
        return _copy(stored) if copy_back or not owned else stored

    def snapshot(self) -> list[dict[str, Any]]:
        """Copies of all records, oldest first."""
        with self._lock:
            records = list(self._records)
        return [_copy(r) for r in records]

    def nbytes(self) -> int:
        """Memory the stored records take (Python objects, shared small values counted each
        time: an upper bound)."""
        with self._lock:
            records = list(self._records)
        return sys.getsizeof(self._records) + sum(_nbytes(r) for r in records)

    def clear(self) -> None:
        """Forget every record; ``seq`` keeps counting (it is unique per kernel process)."""
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
