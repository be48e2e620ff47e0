"""What a ``del`` (or a rebind) left alive: ``shared-after-del`` and deleted-value ``cycle``
suspects.

* ``shared-after-del`` (``b``): a ``del a`` that freed little because another variable or a
  container still holds the value, or shares its items (a deep copy of a list of ints shares the
  ints);
* ``cycle``: a deleted value still alive that only a reference cycle holds.

Values are found again by id and type through the name index (:mod:`.names`): none is kept. The
suspects are "sticky": they stay current while their holder holds, re-checked after every cell.
Pure: no IPython import.
"""

from __future__ import annotations

import gc
import time
import types
from dataclasses import dataclass
from typing import Any

from ..measure.sizes import ATOMIC, type_name
from ..units import format_bytes
from .config import MAX_SUSPECTS, LeakConfig
from .last_traceback import TracebackWatcher
from .names import NameWatcher, Observation, Unbound, is_observed
from .output import OutputWatcher
from .roots import MISSING
from .suspects import suspect
from .why_alive import step_label

# Per cell: items searched per container for a deleted value (and four times that in all), and
# deletions explained.
SCAN_ITEMS_LIGHT, SCAN_ITEMS_DEEP = 256, 10_000
EXPLAIN_LIGHT, EXPLAIN_DEEP = 8, 64
DELETIONS_KEPT = 256  # deleted values remembered (for the output history's reason, and why)


@dataclass
class _Sticky:
    """A suspect that stays current while its holder holds (re-checked after every cell)."""

    suspect: dict[str, Any]
    holder: str | None = None  # user name that holds or shares the value
    holder_oid: int = 0
    ref: Any = None  # weakref of the kept value (cycle)


def _find_in(container: Any, t: type, obs: Observation, deadline: float) -> Any:
    """The index or key under which ``container`` holds the observed object (one level)."""
    oid = obs.oid
    try:
        if t is dict:
            for i, (k, v) in enumerate(container.items()):
                if id(v) == oid and is_observed(v, obs):
                    return k if type(k) in (int, str) else "…"
                if i & 1023 == 1023 and time.perf_counter() > deadline:
                    return None
        elif t is list or t is tuple:
            for i, v in enumerate(container):
                if id(v) == oid and is_observed(v, obs):
                    return i
                if i & 1023 == 1023 and time.perf_counter() > deadline:
                    return None
        else:
            for i, v in enumerate(container):
                if id(v) == oid and is_observed(v, obs):
                    return "…"
                if i & 1023 == 1023 and time.perf_counter() > deadline:
                    return None
    except Exception:
        return None
    return None


def _in_cycle(obj: Any, deadline: float, max_nodes: int = 20_000) -> bool:
    """Whether ``obj`` reaches itself through C-level referents (bounded)."""
    target = id(obj)
    seen = {target}
    frontier = [obj]
    nodes = 0
    while frontier:
        nxt = []
        for o in frontier:
            try:
                refs = gc.get_referents(o)
            except Exception:
                continue
            for r in refs:
                if id(r) == target:
                    return True
                nodes += 1
                if nodes & 255 == 0 and (time.perf_counter() > deadline or nodes > max_nodes):
                    return False
                t = type(r)
                if id(r) in seen or t in ATOMIC or t is types.ModuleType or t is type:
                    continue
                seen.add(id(r))
                nxt.append(r)
        frontier = nxt
    return False


class DeletionWatcher:
    """The values names lost (by id: what unbound them, in which cell), and the sticky suspects
    of those still held elsewhere. Reads the name index; leaves a value the output history or
    the kept traceback holds to their own watchers (they report it, with this deletion)."""

    def __init__(
        self,
        config: LeakConfig,
        names: NameWatcher,
        output: OutputWatcher,
        traceback: TracebackWatcher,
    ) -> None:
        self.config = config
        self._names = names
        self._output = output
        self._traceback = traceback
        self.deleted_for: dict[int, tuple[str, int | None, str]] = {}  # oid -> what, cell, type
        self._deleted_names: dict[str, tuple[int, str]] = {}  # name -> (oid, type) unbound
        self._sticky: dict[str, _Sticky] = {}

    def clear(self) -> None:
        self.deleted_for.clear()
        self._deleted_names.clear()
        self._sticky.clear()

    def deleted_value(self, name: str) -> tuple[int, str] | None:
        """``(id, type name)`` of the value a deleted or rebound name had."""
        return self._deleted_names.get(name)

    def explain(
        self,
        unbound: list[Unbound],
        count: int | None,
        ns: dict,
        out: dict | None,
        touched: set[str],
        deadline: float,
        deep: bool,
        full: bool,
    ) -> None:
        """Who still holds the values the names in ``unbound`` had (the first ``EXPLAIN_*``;
        the cheap checks even past the deadline, the scans inside stop at it)."""
        quick = not deep
        for name, obs, what in unbound[: EXPLAIN_DEEP if deep else EXPLAIN_LIGHT]:
            self._explain(name, obs, what, count, ns, out, touched, deadline, quick, full)

    def _explain(
        self,
        name: str,
        obs: Observation,
        what: str,
        count: int | None,
        ns: dict,
        out: dict | None,
        touched: set[str],
        deadline: float,
        quick: bool,
        full: bool,
    ) -> None:
        """Who still holds the value ``name`` had (found by id and type: none is kept)."""
        cfg = self.config
        index = self._names
        cells = [count] if count is not None else []
        self.deleted_for[obs.oid] = (what, count, obs.tname)
        self._deleted_names[name] = (obs.oid, obs.tname)
        while len(self.deleted_for) > DELETIONS_KEPT:
            del self.deleted_for[next(iter(self.deleted_for))]
        while len(self._deleted_names) > DELETIONS_KEPT:
            del self._deleted_names[next(iter(self._deleted_names))]
        # another variable, the same object (the name index: O(1))
        for other in list(index.by_oid.get(obs.oid, ())):
            if other == name:
                continue
            value = ns.get(other, MISSING)
            hit = value is not MISSING and is_observed(value, obs)
            value = None
            if hit:
                reason = (
                    f"{what} freed nothing: `{other}` holds the same {obs.tname} "
                    f"({format_bytes(obs.size)}); `del {other}` too to free it"
                )
                self._stick(other, "shared-after-del", obs, reason, cells, [f"user_ns[{other!r}]"])
                return
        # Out[N] and the last traceback are reported by their own scans (with this deletion)
        if self._traceback.keeps(obs.oid) or self._output.holds(out, obs):
            return
        alive = obs.ref() if obs.ref is not None else None
        if obs.ref is None or alive is not None:
            # a container in the namespace (one level): every observed one when the value had
            # other holders, else only those the cell touched (bounded per cell)
            names = index.containers if full or not obs.sole else index.containers & touched
            item_cap = None if full else (SCAN_ITEMS_LIGHT if quick else SCAN_ITEMS_DEEP)
            budget = item_cap * 4 if item_cap is not None else None
            for other in list(names):
                if time.perf_counter() > deadline:
                    break
                o2 = index.observed.get(other)
                if o2 is None or o2.oid == obs.oid:
                    continue
                if item_cap is not None:
                    if o2.sig[1] > item_cap or o2.sig[1] > budget:
                        continue
                    budget -= o2.sig[1]
                value = ns.get(other, MISSING)
                if value is MISSING or id(value) != o2.oid:
                    value = None
                    continue
                t = type(value)
                found = _find_in(value, t, obs, deadline)
                value = None
                if found is not None:
                    step = step_label(t, found)
                    reason = (
                        f"{what} freed nothing: {other}{step} still holds the {obs.tname} "
                        f"({format_bytes(obs.size)}); remove it there to free it"
                    )
                    chain = [f"user_ns[{other!r}]", f"{type_name(t)}{step}"]
                    self._stick(other, "shared-after-del", obs, reason, cells, chain)
                    alive = None
                    return
        if alive is not None:
            cyclic = _in_cycle(alive, deadline, 2_000 if quick else 20_000)
            alive = None
            if cyclic:
                reason = (
                    f"{what}: the {obs.tname} ({format_bytes(obs.size)}) is still alive, kept "
                    "only by a reference cycle until the garbage collector runs; gc.collect() "
                    "frees it (or break the cycle with a weakref)"
                )
                s = suspect(name, "cycle", obs.size, reason, cells=cells)
                self._sticky[f"cycle:{obs.oid}"] = _Sticky(s, ref=obs.ref)
            return
        # freed, but were its items shared with another variable (deepcopy of a list of ints)?
        if obs.children:
            mine = set(obs.children)
            for other in list(index.with_children):
                o2 = index.observed.get(other)
                if o2 is None or not o2.children or other == name:
                    continue
                common = len(mine & set(o2.children))
                if common * 2 < len(mine):
                    continue
                shared = (obs.size - obs.shallow) * common // len(mine)
                if shared < cfg.threshold:
                    continue
                reason = (
                    f"{what} freed only about {format_bytes(obs.size - shared)} of "
                    f"{format_bytes(obs.size)}: its items are shared with `{other}` "
                    f"(a copy shares immutable items); `del {other}` too to free them"
                )
                holder = ns.get(other, MISSING)
                if holder is MISSING or id(holder) != o2.oid:
                    holder = None
                    continue
                holder = None
                st = _Sticky(
                    suspect(other, "shared-after-del", shared, reason, cells=cells),
                    holder=other,
                    holder_oid=o2.oid,
                )
                st.suspect["chain"] = [f"user_ns[{other!r}]", f"{o2.tname}[…]"]
                self._sticky[f"shared:{other}:{obs.oid}"] = st
                return

    def _stick(
        self,
        holder: str,
        kind: str,
        obs: Observation,
        reason: str,
        cells: list[int],
        chain: list[str],
    ) -> None:
        s = suspect(holder, kind, obs.size, reason, cells=cells)
        s["type"] = obs.tname
        s["chain"] = chain
        held = self._names.observed.get(holder)
        self._sticky[f"{kind}:{holder}:{obs.oid}"] = _Sticky(
            s, holder=holder, holder_oid=held.oid if held is not None else 0
        )

    def suspects(self, ns: dict) -> list[dict[str, Any]]:
        """The sticky suspects whose holder still holds (the others are dropped)."""
        out = []
        for key, st in list(self._sticky.items()):
            keep = True
            if st.ref is not None:
                keep = st.ref() is not None
            elif st.holder is not None:
                value = ns.get(st.holder, MISSING)
                keep = value is not MISSING and (not st.holder_oid or id(value) == st.holder_oid)
                if keep and not st.holder_oid:
                    st.holder_oid = id(value)
                value = None
            if keep:
                out.append(dict(st.suspect))
            else:
                del self._sticky[key]
        while len(self._sticky) > 4 * MAX_SUSPECTS:
            del self._sticky[next(iter(self._sticky))]
        return out
