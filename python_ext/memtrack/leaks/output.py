"""``output-history`` suspects: a value of at least ``threshold`` bytes that IPython's output
history (``Out``, ``_12``, ``_``/``__``/``___``) keeps alive while no variable names it.

The :class:`OutputWatcher` sizes each ``Out`` entry once (only new entries are looked at after
a cell) and keeps ids, type names and sizes, never the values. Pure: no IPython import.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..measure.sizes import type_name
from ..measure.tensors import device_bytes
from ..units import format_bytes
from .config import QUICK_PER_VALUE_S, LeakConfig
from .names import NameWatcher, Observation, is_observed
from .roots import MISSING, Roots, estimate_size
from .suspects import suspect


class OutputWatcher:
    """What the output history holds, by entry number ``N``: the id, type name and size of each
    entry, the large ones, and those a namespace scan found no variable for."""

    def __init__(self, config: LeakConfig) -> None:
        self.config = config
        # N -> oid, type, size, approximate, GPU bytes its torch tensors hold
        self._entries: dict[Any, tuple[int, str, int | None, bool, int]] = {}
        self._key_of: dict[int, Any] = {}  # oid -> N
        self._big: set[Any] = set()  # N of entries >= threshold
        self._unnamed: set[Any] = set()  # N verified unnamed by a namespace scan
        self._retry: set[Any] = set()  # N whose size did not fit: measured next time
        self._len = -1  # len(Out) when last read
        self._last: Any = MISSING  # its newest key then

    def clear(self) -> None:
        self._entries.clear()
        self._key_of.clear()
        self._big.clear()
        self._unnamed.clear()
        self._retry.clear()
        self._len, self._last = -1, MISSING

    def apply_config(self) -> None:
        """The large entries again, after the threshold changed."""
        thr = self.config.threshold
        self._big = {k for k, e in self._entries.items() if (e[2] or 0) + e[4] >= thr}

    def holds(self, out: dict | None, obs: Observation) -> bool:
        """Whether the output history still holds the observed value (its own suspect then
        reports it)."""
        key = self._key_of.get(obs.oid, MISSING)
        if key is MISSING or out is None:
            return False
        value = out.get(key, MISSING)
        hit = value is not MISSING and is_observed(value, obs)
        value = None
        return hit

    def update(self, out: dict | None, deadline: float, quick: bool, full: bool) -> bool:
        """Size the new entries of the output history (all of them when ``full``); True when
        some did not fit (measured next time)."""
        known = self._entries
        if not out:
            if known or self._len:
                known.clear()
                self._key_of.clear()
                self._big.clear()
                self._unnamed.clear()
                self._retry.clear()
            self._len, self._last = 0, MISSING
            return False
        n = len(out)
        try:
            last = next(reversed(out))
        except Exception:
            last = MISSING
        prev = self._last
        same_last = last is prev or (type(last) is int and type(prev) is int and last == prev)
        if (
            not full
            and not self._retry
            and n == self._len
            and same_last
            and last in known
            and known[last][0] == id(out[last])
        ):
            return False  # nothing new
        new: list[Any] = []
        try:
            if not full:
                added = 0
                for k in reversed(out):
                    e = known.get(k)
                    if e is not None and e[0] == id(out[k]):
                        break
                    new.append(k)
                    added += e is None
                if len(known) + added != n:
                    full = True
            if full:
                for k in [k for k in known if k not in out]:
                    self._forget(k)
                new = [k for k, v in out.items() if k not in known or known[k][0] != id(v)]
        except RuntimeError:  # changed size while read (another thread): next time
            return True
        new.extend(k for k in self._retry if k in out and k not in new)
        self._retry.clear()
        self._len, self._last = n, last
        cut = False
        thr = self.config.threshold
        for k in new:
            if k in known:
                self._forget(k)
            value = out.get(k, MISSING)
            if value is MISSING:
                continue
            size, approx = estimate_size(
                value, deadline, QUICK_PER_VALUE_S if quick else 0.003, quick
            )
            if size is None and time.perf_counter() > deadline:
                self._retry.add(k)
                cut = True
                value = None
                continue
            oid = id(value)
            device = device_bytes(value)  # a CUDA tensor's host part is ~100 bytes
            known[k] = (oid, type_name(type(value)), size, approx, device)
            value = None
            self._key_of[oid] = k
            if (size or 0) + device >= thr:
                self._big.add(k)
        return cut

    def _forget(self, k: Any) -> None:
        e = self._entries.pop(k, None)
        if e is not None and self._key_of.get(e[0], MISSING) == k:
            del self._key_of[e[0]]
        self._big.discard(k)
        self._unnamed.discard(k)
        self._retry.discard(k)

    def suspects(
        self,
        roots: Roots,
        named_ids: set[int] | None,
        names: NameWatcher,
        deleted: Mapping[int, tuple[str, int | None, str]],
    ) -> list[dict[str, Any]]:
        """The large entries of the output history no variable names (only the entries at
        least ``threshold``: a handful; naming is checked through the name index, or against
        ``named_ids`` when every variable was just read). ``deleted``: oid -> (what unbound it,
        cell, type name), so that the reason can say which ``del`` left it there."""
        out = roots.out
        if not out or not self._big:
            return []
        ns = roots.ns
        hidden = roots.hidden or {}
        result = []
        for n in list(self._big):
            entry = self._entries.get(n)
            value = out.get(n, MISSING)
            if entry is None or value is MISSING or id(value) != entry[0]:
                value = None
                continue  # changed since measured: the next update sees it
            oid, tname, size, device = entry[0], entry[1], entry[2], entry[4]
            if named_ids is not None:
                named = oid in named_ids
            elif names.is_named(ns, oid):
                named = True
            elif n in self._unnamed:
                named = False
            else:  # once per entry: a namespace scan for a variable memtrack has not observed
                named = names.observe_holder(ns, hidden, value)
                if not named:
                    self._unnamed.add(n)
            if named:
                self._unnamed.discard(n)
                value = None
                continue
            also = [f"_{n}"] if ns.get(f"_{n}") is value else []
            also += [u for u in ("_", "__", "___") if ns.get(u) is value]
            value = None
            deletion = deleted.get(oid)
            if deletion is not None and deletion[2] != tname:
                deletion = None  # the id of another, freed value
            where = f" (also {', '.join(also)})" if also else ""
            held = format_bytes(size)
            if device:
                held += f" and {format_bytes(device)} of GPU memory"
            if deletion is not None:
                reason = (
                    f"Out[{n}]{where} still holds {held} after {deletion[0]}; "
                    f"`%memtrack release out {n}` frees it"
                )
            else:
                reason = (
                    f"Out[{n}]{where} holds {held} ({tname}) that no variable "
                    f"names: the output history keeps it alive; `%memtrack release out {n}` "
                    "frees it"
                )
            cells = [n] if type(n) is int else []
            if deletion is not None and deletion[1] is not None and deletion[1] not in cells:
                cells.append(deletion[1])
            s = suspect(f"Out[{n}]", "output-history", size, reason, cells=cells)
            s["type"] = tname
            if device:
                s["device_bytes"] = device
            s["chain"] = ["user_ns['Out']", f"dict[{n!r}]"]
            result.append(s)
        return result
