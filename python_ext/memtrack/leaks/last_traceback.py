"""``traceback`` suspects: the locals of the functions whose frames the last exception's
traceback keeps alive (``sys.last_traceback``, IPython's formatter), often large tensors.

The traceback is read again only when it changed (compared by identity), so a kept traceback
costs four ``id`` calls per cell. Pure: no IPython import.
"""

from __future__ import annotations

import sys
from collections.abc import Container
from typing import Any

from ..measure.sizes import type_name
from ..measure.tensors import device_bytes
from ..units import format_bytes
from .roots import Roots, instance_attr
from .suspects import suspect
from .why_alive import traceback_locals


def _traceback_identity(roots: Roots) -> tuple[int, ...]:
    """The ids of what keeps the last traceback: a change of any means a new one."""
    d = sys.__dict__
    itb = getattr(roots.shell, "InteractiveTB", None) if roots.shell is not None else None
    tb = instance_attr(itb, "tb") if itb is not None else None
    return (
        id(d.get("last_traceback")),
        id(d.get("last_value")),
        id(d.get("last_exc")),
        id(tb),
    )


class TracebackWatcher:
    """The kept traceback's locals as ``(frame, local, id, size)`` rows (no strong reference),
    and the cell whose error made it."""

    def __init__(self) -> None:
        self._key: tuple[int, ...] | None = None  # _traceback_identity when last read
        # frame, local, oid, size, GPU bytes its torch tensors hold
        self._rows: list[tuple[str, str, int, int | None, int]] = []
        self._oids: set[int] = set()
        self._seen: tuple[int, int | None] | None = None  # (id of the traceback, cell)

    def clear(self) -> None:
        self._key, self._rows, self._oids = None, [], set()
        self._seen = None

    def keeps(self, oid: int) -> bool:
        """Whether the kept traceback's locals hold the object ``oid`` (as last read)."""
        return oid in self._oids

    def update(
        self,
        roots: Roots,
        named: Container[int],
        count: int | None,
        error: str | None,
        deadline: float,
        quick: bool,
        full: bool,
    ) -> bool:
        """Re-read the last traceback's locals when it changed (compared by identity), skipping
        the values whose id is in ``named`` (a variable names them); True when some local's
        size did not fit (read again next time)."""
        key = _traceback_identity(roots)
        if not full and key == self._key:
            return False
        heads = roots.traceback_heads()
        if not heads:
            self._seen = None
            self._rows, self._oids, self._key = [], set(), key
            return False
        hk = id(heads[0])
        if self._seen is None or self._seen[0] != hk:
            self._seen = (hk, count if error else None)
        rows = traceback_locals(heads, named, deadline, quick)
        heads = []
        storages: set[int] = set()  # a view and its base, in two locals: counted once
        self._rows = [
            (desc, local, id(v), size, device_bytes(v, counted=storages))
            for desc, local, v, size in rows
        ]
        rows.clear()
        self._oids = {r[2] for r in self._rows}
        cut = any(r[3] is None for r in self._rows)
        self._key = None if cut else key  # cut: read again next time
        return cut

    def suspect(self, threshold: int) -> dict[str, Any] | None:
        total = device = 0
        biggest: tuple[int, str, str] | None = None
        for frame_desc, local, _oid, size, on_gpu in self._rows:
            if size is None:
                continue
            total += size
            device += on_gpu
            if biggest is None or size + on_gpu > biggest[0]:
                biggest = (size + on_gpu, frame_desc, local)
        if total + device < threshold or biggest is None or self._seen is None:
            return None
        exc = sys.__dict__.get("last_exc") or sys.__dict__.get("last_value")
        ename = type_name(type(exc)) if exc is not None else "the last error"
        exc = None
        cell = self._seen[1]
        where = f" in cell [{cell}]" if cell is not None else ""
        kept = format_bytes(total)
        if device:
            kept += f" and {format_bytes(device)} of GPU memory"
        reason = (
            f"sys.last_traceback ({ename}{where}) keeps {kept} of function "
            f"locals alive ({biggest[1]}: `{biggest[2]}` {format_bytes(biggest[0])}); "
            "`%memtrack release traceback` frees them"
        )
        s = suspect("sys.last_traceback", "traceback", total, reason, cells=[cell] if cell else [])
        if device:
            s["device_bytes"] = device
        s["chain"] = ["sys.last_traceback", f"frame {biggest[1]} local {biggest[2]!r}"]
        return s
