"""``growing-variable`` suspects, and the name index the other watchers look values up in.

The :class:`NameWatcher` keeps an :class:`Observation` per user variable (a size history, no
strong reference to the value) and finds a name whose size grew at every one of its last
``growth_runs`` changes (default 3) by at least ``threshold`` bytes in all (after one change fewer
it is shown as ``watching``, not flagged yet). Sizes are watched
between tracked cells per name, so a cell that only calls a function appending to a global list
counts too (the watched names are re-checked in turn). Names that go or are rebound come back as
:data:`Unbound` for the deletion watcher. Pure: no IPython import.
"""

from __future__ import annotations

import contextlib
import sys
import time
import weakref
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from ..measure.sizes import ATOMIC, SKIP, sizeof, type_name
from ..units import format_bytes
from .config import HISTORY_MAX, QUICK_PER_VALUE_S, LeakConfig
from .roots import CONTAINER_TYPES, MAX_NAMES, MISSING, estimate_size, sample_items, user_name
from .suspects import suspect

# Per cell, besides the names the cell touched: watched names re-checked in turn, and namespace
# keys looked at for variables never observed (bound before tracking started, or by a function
# through ``global``).
RECHECK_LIGHT, RECHECK_DEEP = 4, 64
DISCOVER_LIGHT, DISCOVER_DEEP = 4, 512


@dataclass
class Observation:
    """What is known of a name's value after a tracked cell: no strong reference to it."""

    oid: int
    tid: int  # id of its exact type
    tname: str
    sig: tuple[int | None, int]  # (shallow size, length of an exact builtin container or -1)
    size: int | None
    approx: bool
    count: int | None  # execution count of the observation
    ref: Any = None  # weakref.ref for large values whose type supports it
    shallow: int = 0
    children: tuple[int, ...] = ()  # ids of sampled items (large exact containers)
    history: list[tuple[int | None, int]] = field(default_factory=list)  # (count, size)
    container: bool = False  # an exact builtin container (searched for deleted values)
    sole: bool = False  # only the namespace held it when last looked at

    def big(self, threshold: int) -> bool:
        return self.size is not None and self.size >= threshold


# A name that lost its value this cell: (name, what it held, "`del x`" or "rebinding `x`").
Unbound = tuple[str, Observation, str]


def is_observed(value: Any, obs: Observation) -> bool:
    """Whether ``value`` is the object observed (an id can be reused once it is freed: the
    weakref decides where there is one, else type and shallow size must match too)."""
    if id(value) != obs.oid:
        return False
    if obs.ref is not None:
        return obs.ref() is value
    return id(type(value)) == obs.tid and sizeof(value) == obs.sig[0]


def _signature(value: Any, t: type) -> tuple[int | None, int]:
    n = len(value) if t in CONTAINER_TYPES else -1
    return sizeof(value), n


_weakrefoffset = type.__dict__["__weakrefoffset__"].__get__
_SHAREABLE = ATOMIC | {tuple, frozenset}


def _weakrefable(t: type) -> bool:
    """Whether instances of ``t`` support weak references (read off the type: no user code)."""
    try:
        return _weakrefoffset(t) != 0
    except Exception:
        return True  # try, and catch the TypeError


def _watchable(name: Any, value: Any, hidden: dict) -> bool:
    """What :func:`user_values` keeps: the user's variables, not IPython's or shared code."""
    if type(name) is not str or not user_name(name) or name.startswith("__"):
        return False
    if type(value) in SKIP:
        return False
    return not (name in hidden and hidden[name] is value)


def _holder_name(ns: dict, hidden: dict, value: Any) -> str | None:
    """A variable naming ``value`` (a bounded scan by identity, IPython's names skipped)."""
    oid = id(value)
    try:
        for name, v in islice(ns.items(), 4 * MAX_NAMES):
            if id(v) == oid and _watchable(name, v, hidden):
                return name
    except RuntimeError:
        pass
    return None


def _growth_suspect(name: str, obs: Observation, cfg: LeakConfig) -> dict[str, Any] | None:
    """The name's growing-variable suspect: flagged after ``growth_runs`` growth steps in a row,
    or ``watching`` after one step fewer (a cache re-run twice is seen before it is a leak)."""
    hist = obs.history
    watch_from = max(1, cfg.growth_runs - 1)
    if len(hist) <= watch_from or obs.size is None or obs.size < cfg.threshold:
        return None
    i = len(hist) - 1
    while i > 0 and hist[i][1] > hist[i - 1][1]:
        i -= 1
    steps = len(hist) - 1 - i
    growth = hist[-1][1] - hist[i][1]
    if steps < watch_from or growth < cfg.threshold:
        return None
    watching = steps < cfg.growth_runs
    cells = [c for c, _ in hist[i + 1 :] if c is not None]
    shown = ", ".join(f"[{c}]" for c in cells[-4:])
    if watching:
        reason = (
            f"`{name}` grew {steps} time{'s' if steps != 1 else ''} in a row, by "
            f"{format_bytes(growth)} to {format_bytes(hist[-1][1])} (cells {shown}): watching; "
            "flagged if it grows again"
        )
    else:
        reason = (
            f"`{name}` grew {steps} times in a row, by {format_bytes(growth)} to "
            f"{format_bytes(hist[-1][1])} (cells {shown}); a re-run cell may be appending to "
            f"it: reset it in that cell or `del {name}`"
        )
    s = suspect(
        name,
        "growing-variable",
        hist[-1][1],
        reason,
        cells=cells,
        growth=growth,
        history=[h for _, h in hist],
        partial=obs.approx,
    )
    s["type"] = obs.tname
    if watching:
        s["watching"] = True
    return s


class NameWatcher:
    """The observed user variables, indexed by name and by the id of their value, with the
    growing ones' suspects kept current (the other watchers read ``observed``, ``by_oid``,
    ``containers`` and ``with_children``; only this class writes them)."""

    def __init__(self, config: LeakConfig) -> None:
        self.config = config
        self.observed: dict[str, Observation] = {}
        self.by_oid: dict[int, list[str]] = {}  # oid -> observed names that held it
        self.containers: set[str] = set()  # observed names of exact builtin containers
        self.with_children: set[str] = set()  # observed names with sampled children
        self.growing: dict[str, dict[str, Any]] = {}  # name -> its growing-variable suspect
        self._recheck: list[str] = []  # round robin over observed names
        self._discover: list[str] = []  # round robin over the namespace's keys
        self._discover_ns = 0
        self._pending: set[str] = set()  # names whose size did not fit: measured next time

    def clear(self) -> None:
        self.observed.clear()
        self.by_oid.clear()
        self.containers.clear()
        self.with_children.clear()
        self.growing.clear()
        self._recheck.clear()
        self._discover.clear()
        self._pending.clear()

    def apply_config(self) -> None:
        """The growing variables again, after the threshold or the growth runs changed."""
        self.growing.clear()
        for name, obs in self.observed.items():
            s = _growth_suspect(name, obs, self.config)
            if s is not None:
                self.growing[name] = s

    def growth_suspects(self, ns: dict | None = None) -> list[dict[str, Any]]:
        """Copies of the growing variables' suspects (only the names still in ``ns``)."""
        if ns is None:
            return [dict(s) for s in self.growing.values()]
        return [dict(s) for n, s in self.growing.items() if n in ns]

    def is_named(self, ns: dict, oid: int) -> bool:
        """Whether an observed variable still holds the object ``oid`` (verified)."""
        for name in self.by_oid.get(oid, ()):
            value = ns.get(name, MISSING)
            hit = value is not MISSING and id(value) == oid
            value = None
            if hit:
                return True
        return False

    def observe_holder(self, ns: dict, hidden: dict, value: Any) -> bool:
        """Whether a variable names ``value`` (one bounded namespace scan); the one found is
        observed from now on, so the name index answers next time."""
        holder = _holder_name(ns, hidden, value)
        if holder is None:
            return False
        self._visit(holder, ns, hidden, None, True, False, time.perf_counter() + 0.001, [])
        return True

    # -- after a tracked cell ------------------------------------------------------------------

    def update(
        self,
        ns: dict,
        hidden: dict,
        count: int | None,
        deep: bool,
        deadline: float,
        touched: set[str],
        all_names: list[str] | None,
    ) -> tuple[list[Unbound], bool]:
        """Measure what changed: the ``touched`` names, the ones not measured in time before,
        the growing ones and a few others in turn (``RECHECK_*``), then a few namespace keys
        never observed (``DISCOVER_*``); with ``all_names`` (every variable) those and every
        observed name instead. Returns the names that lost a large value, and whether the
        deadline cut the work."""
        quick = not deep
        partial = False
        if all_names is not None:
            visit = [*all_names, *(n for n in self.observed if n not in touched)]
        else:
            extra = [*self._pending, *self.growing]
            extra += self._next_recheck(RECHECK_DEEP if deep else RECHECK_LIGHT, touched)
            visit = [*touched, *extra]
        self._pending.difference_update(visit)
        unbound: list[Unbound] = []
        seen: set[str] = set()
        for i, name in enumerate(visit):
            if name in seen:
                continue
            seen.add(name)
            if time.perf_counter() > deadline:
                self._pending.update(n for n in visit[i:] if n in touched)
                partial = True
                break
            if self._visit(
                name, ns, hidden, count, quick, name in touched or deep, deadline, unbound
            ):
                self._pending.add(name)
                partial = True
        if all_names is None:
            k = DISCOVER_DEEP if deep else DISCOVER_LIGHT
            self._discover_step(ns, hidden, count, quick, deadline, k, unbound)
        return unbound, partial

    def _next_recheck(self, k: int, skip: set[str]) -> list[str]:
        out: list[str] = []
        refilled = False
        while len(out) < k:
            if not self._recheck:
                if refilled or not self.observed:
                    break
                self._recheck = list(self.observed)
                refilled = True
            name = self._recheck.pop()
            if name in self.observed and name not in skip:
                out.append(name)
        return out

    def _discover_step(
        self,
        ns: dict,
        hidden: dict,
        count: int | None,
        quick: bool,
        deadline: float,
        k: int,
        unbound: list[Unbound],
    ) -> None:
        """Look at up to ``k`` namespace keys in turn for variables never observed (bound
        before tracking started, or by a function through ``global``)."""
        if self._discover_ns != id(ns):
            self._discover_ns = id(ns)
            self._discover = []
        refilled = False
        obs = self.observed
        while k > 0 and len(obs) < MAX_NAMES:
            if not self._discover:
                if refilled:
                    break
                self._discover = list(islice(ns, 4 * MAX_NAMES))
                self._discover.reverse()
                refilled = True
                if not self._discover:
                    break
            name = self._discover.pop()
            k -= 1  # every key counts (IPython's _iN names are most of a long session's)
            if name in obs or type(name) is not str or not user_name(name):
                continue
            if time.perf_counter() > deadline:
                break
            if self._visit(name, ns, hidden, count, quick, True, deadline, unbound):
                self._pending.add(name)

    def _visit(
        self,
        name: str,
        ns: dict,
        hidden: dict,
        count: int | None,
        quick: bool,
        refresh: bool,
        deadline: float,
        unbound: list[Unbound],
    ) -> bool:
        """Observe one name; True when its size did not fit in the time left."""
        thr = self.config.threshold
        obs = self.observed.get(name)
        value = ns.get(name, MISSING)
        if value is not MISSING and not _watchable(name, value, hidden):
            value = MISSING
        if value is MISSING:
            if obs is not None:
                self._drop(name, obs)
                if obs.big(thr):
                    unbound.append((name, obs, f"`del {name}`"))
            return False
        if obs is None and len(self.observed) >= MAX_NAMES:
            return False  # watched names are bounded
        t = type(value)
        if obs is not None and id(value) == obs.oid and id(t) == obs.tid:
            sig = _signature(value, t)
            if sig == obs.sig and not (refresh and obs.big(thr) and t not in ATOMIC):
                value = None
                if refresh:
                    obs.sole = sys.getrefcount(ns[name]) <= 2  # the namespace and the argument
                return False
            cut = self._measure(name, value, t, sig, obs, count, deadline, quick)
        else:
            if obs is not None:
                self._drop(name, obs)
                if obs.big(thr):
                    unbound.append((name, obs, f"rebinding `{name}`"))
            cut = self._measure(name, value, t, _signature(value, t), obs, count, deadline, quick)
        value = None
        new = self.observed.get(name)
        if new is not None:
            new.sole = sys.getrefcount(ns[name]) <= 2
            s = _growth_suspect(name, new, self.config)
            if s is None:
                self.growing.pop(name, None)
            else:
                self.growing[name] = s
        return cut

    def _measure(
        self,
        name: str,
        value: Any,
        t: type,
        sig: tuple[int | None, int],
        prev: Observation | None,
        count: int | None,
        deadline: float,
        quick: bool,
    ) -> bool:
        """Size ``value`` and record it under ``name``; True when cut by the deadline (an
        observation of the same object is then kept as it was, to be measured again)."""
        cfg = self.config
        per_value = QUICK_PER_VALUE_S if quick else 0.005
        size, approx = estimate_size(value, deadline, per_value, quick=quick)
        same = prev is not None and prev.oid == id(value) and prev.tid == id(t)
        if size is None and same:
            return time.perf_counter() > deadline
        tname = prev.tname if prev is not None and prev.tid == id(t) else type_name(t)
        history = prev.history if prev is not None and prev.tname == tname else []
        if size is not None and (not history or history[-1][1] != size):
            history.append((count, size))
            del history[:-HISTORY_MAX]
        ref = None
        children: tuple[int, ...] = ()
        if size is not None and size >= cfg.threshold:
            if _weakrefable(t):
                try:
                    ref = weakref.ref(value)
                except TypeError:
                    ref = None
            # Only immutable items are shared by a copy (a deep copy of a list of ints shares
            # the ints): the children of containers of anything else are not worth keeping.
            if t in CONTAINER_TYPES and all(
                type(c) in _SHAREABLE for c in sample_items(value, t, 2)
            ):
                children = tuple(id(c) for c in sample_items(value, t))
        obs = Observation(
            id(value),
            id(t),
            tname,
            sig,
            size,
            approx,
            count,
            ref,
            sig[0] or 0,
            children,
            history,
            container=t in CONTAINER_TYPES,
        )
        self._set(name, obs)
        return size is None and time.perf_counter() > deadline

    # -- the name index ------------------------------------------------------------------------

    def _set(self, name: str, obs: Observation) -> None:
        old = self.observed.get(name)
        if old is not None:
            self._drop(name, old)
        self.observed[name] = obs
        self.by_oid.setdefault(obs.oid, []).append(name)
        if obs.container:
            self.containers.add(name)
        if obs.children:
            self.with_children.add(name)

    def _drop(self, name: str, obs: Observation) -> None:
        if self.observed.get(name) is obs:
            del self.observed[name]
        names = self.by_oid.get(obs.oid)
        if names is not None:
            with contextlib.suppress(ValueError):
                names.remove(name)
            if not names:
                del self.by_oid[obs.oid]
        self.containers.discard(name)
        self.with_children.discard(name)
        self.growing.pop(name, None)
