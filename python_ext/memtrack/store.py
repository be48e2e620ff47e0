"""Thread-safe, bounded store of records.

Comm handlers may run on another thread than the cells (ipykernel 7 subshells), so every access
goes through one lock. Records are plain JSON-safe dicts; copies go in and out, so nobody can
change the stored history by mutating what they were handed.
"""

from __future__ import annotations

import copy
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

DEFAULT_MAX_RECORDS = 10_000


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

    def add(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Store a copy of ``record`` with the next ``seq``; return another copy of it.

        The oldest record is dropped when the store is full.
        """
        stored = copy.deepcopy(dict(record))
        with self._lock:
            stored["seq"] = self._next_seq
            self._next_seq += 1
            self._records.append(stored)
            return copy.deepcopy(stored)

    def snapshot(self) -> list[dict[str, Any]]:
        """Copies of all records, oldest first."""
        with self._lock:
            records = list(self._records)
        return copy.deepcopy(records)

    def clear(self) -> None:
        """Forget every record; ``seq`` keeps counting (it is unique per kernel process)."""
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
