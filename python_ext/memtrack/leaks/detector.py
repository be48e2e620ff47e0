"""Leak suspects after each tracked cell: the per-shell :class:`LeakDetector`.

Pure analysis: no IPython import (the IPython objects come in as duck-typed :class:`Roots`, see
:mod:`memtrack.roots`; why a value is alive is :mod:`memtrack.holders`, releasing what IPython
keeps alive is :mod:`memtrack.release`).
Notebooks leak in a few well-known ways; each becomes a suspect (a small JSON-safe dict, the
``leaks`` items of a record) named the way the user would type it:

* ``growing-variable`` (``cache``): a name whose size grew at every one of its last
  ``growth_runs`` changes (default 3) by at least ``threshold`` bytes in all; sizes are watched
  between tracked cells per name, so a cell that only calls a function appending to a global
  list counts too;
* ``output-history`` (``Out[12]``): a value of at least ``threshold`` bytes that IPython's output
  history (``Out``, ``_12``, ``_``/``__``/``___``) keeps alive while no variable names it;
* ``traceback`` (``sys.last_traceback``): the locals of the functions of the last exception's
  frames (often tensors) that nothing else keeps alive;
* ``cycle``: a deleted value still alive that only a reference cycle holds; bytes the garbage
  collector (not reference counting) freed during the cell; uncollectable ``gc.garbage``;
* ``shared-after-del`` (``b``): a ``del a`` (or rebind) that freed little because another
  variable or a container still holds the value, or shares its items (a deep copy of a list of
  ints shares the ints).

Rules (design notes, failure modes 1-8): no user code runs (``type(o) is X``, C-level referents,
``len`` of exact builtin containers only, sizes through :mod:`memtrack.sizes`); nothing keeps a
strong reference to a user value between cells (ids + type names + weakrefs); every loop checks
a deadline, and what does not fit is skipped, never waited for.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import time
import types
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from ..measure.sizes import ATOMIC, SKIP, sizeof, type_name
from ..units import format_bytes
from .config import HISTORY_MAX, MAX_SUSPECTS, QUICK_PER_VALUE_S, LeakConfig
from .garbage import GarbageWatcher
from .last_traceback import TracebackWatcher
from .roots import (
    BUDGET_REQUEST_S,
    CONTAINER_TYPES,
    MAX_NAMES,
    MISSING,
    Roots,
    estimate_size,
    sample_items,
    user_name,
    user_values,
)
from .suspects import fit_leaks, format_suspects, suspect
from .why_alive import step_label, why

# Per cell, besides the names the cell touched: watched names re-checked in turn, namespace keys
# looked at for variables never observed, items searched per container for a deleted value (and
# four times that in all), deletions explained.
RECHECK_LIGHT, RECHECK_DEEP = 4, 64
DISCOVER_LIGHT, DISCOVER_DEEP = 4, 512
SCAN_ITEMS_LIGHT, SCAN_ITEMS_DEEP = 256, 10_000
EXPLAIN_LIGHT, EXPLAIN_DEEP = 8, 64


# --------------------------------------------------------------------------- observations


@dataclass
class _Obs:
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


def _signature(value: Any, t: type) -> tuple[int | None, int]:
    n = len(value) if t in CONTAINER_TYPES else -1
    return sizeof(value), n


def _is_obs(value: Any, obs: _Obs) -> bool:
    """Whether ``value`` is the object observed (an id can be reused once it is freed: the
    weakref decides where there is one, else type and shallow size must match too)."""
    if id(value) != obs.oid:
        return False
    if obs.ref is not None:
        return obs.ref() is value
    return id(type(value)) == obs.tid and sizeof(value) == obs.sig[0]


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


@dataclass
class _Sticky:
    """A suspect that stays current while its holder holds (re-checked after every cell)."""

    suspect: dict[str, Any]
    holder: str | None = None  # user name that holds or shares the value
    holder_oid: int = 0
    ref: Any = None  # weakref of the kept value (cycle)


# --------------------------------------------------------------------------- the detector


class LeakDetector:
    """Per-shell leak state: size history per name, suspects that stay, gc bookkeeping.

    After a cell (:meth:`after_cell`) the work is incremental: only the names the cell touched,
    a few watched names in turn (``RECHECK_*``) and not yet seen ones (``DISCOVER_*``), new
    ``Out`` entries, a changed last traceback (by identity) and a changed ``gc.garbage`` are
    looked at; the current suspects are carried forward and re-validated cheaply. A whole
    namespace is looked at only on request (:meth:`current`) or without ``changed``."""

    def __init__(self, config: LeakConfig | None = None) -> None:
        self.config = config or LeakConfig()
        self._obs: dict[str, _Obs] = {}
        self._by_oid: dict[int, list[str]] = {}  # oid -> observed names that held it
        self._containers: set[str] = set()  # observed names of exact builtin containers
        self._with_children: set[str] = set()  # observed names with sampled children
        self._recheck: list[str] = []  # round robin over observed names
        self._discover: list[str] = []  # round robin over the namespace's keys
        self._discover_ns = 0
        self._pending: set[str] = set()  # names whose size did not fit: measured next time
        self._growing: dict[str, dict[str, Any]] = {}
        self._cfg_key: tuple[int, int] | None = None
        self._out: dict[Any, tuple[int, str, int | None, bool]] = {}  # N -> oid, type, size
        self._out_oids: dict[int, Any] = {}  # oid -> N
        self._out_big: set[Any] = set()  # N of entries >= threshold
        self._out_unnamed: set[Any] = set()  # N verified unnamed by a namespace scan
        self._out_retry: set[Any] = set()
        self._out_len = -1
        self._out_last: Any = MISSING
        self._deleted_for: dict[int, tuple[str, int | None, str]] = {}  # oid -> what, cell, type
        self._deleted_names: dict[str, tuple[int, str]] = {}  # name -> (oid, type) unbound
        self._sticky: dict[str, _Sticky] = {}
        self.traceback = TracebackWatcher()
        self.garbage = GarbageWatcher()
        self.last: list[dict[str, Any]] = []  # the suspects of the latest analysis
        self.last_partial = False
        self.last_s = 0.0  # seconds the latest after_cell took

    def clear(self) -> None:
        self._obs.clear()
        self._by_oid.clear()
        self._containers.clear()
        self._with_children.clear()
        self._recheck.clear()
        self._discover.clear()
        self._pending.clear()
        self._growing.clear()
        self._out.clear()
        self._out_oids.clear()
        self._out_big.clear()
        self._out_unnamed.clear()
        self._out_retry.clear()
        self._out_len, self._out_last = -1, MISSING
        self._deleted_for.clear()
        self._deleted_names.clear()
        self._sticky.clear()
        self.traceback.clear()
        self.garbage.clear()
        self.last = []

    # -- the gc callback (bytes freed by collections): the garbage watcher's ----------------

    @property
    def gc_hooked(self) -> bool:
        return self.garbage.gc_hooked

    def install_gc_hook(self) -> None:
        self.garbage.install_gc_hook()

    def uninstall_gc_hook(self) -> None:
        self.garbage.uninstall_gc_hook()

    # -- observations: the name index ----------------------------------------------------------

    def _set_obs(self, name: str, obs: _Obs) -> None:
        old = self._obs.get(name)
        if old is not None:
            self._drop_obs(name, old)
        self._obs[name] = obs
        self._by_oid.setdefault(obs.oid, []).append(name)
        if obs.container:
            self._containers.add(name)
        if obs.children:
            self._with_children.add(name)

    def _drop_obs(self, name: str, obs: _Obs) -> None:
        if self._obs.get(name) is obs:
            del self._obs[name]
        names = self._by_oid.get(obs.oid)
        if names is not None:
            with contextlib.suppress(ValueError):
                names.remove(name)
            if not names:
                del self._by_oid[obs.oid]
        self._containers.discard(name)
        self._with_children.discard(name)
        self._growing.pop(name, None)

    def _named(self, ns: dict, oid: int) -> bool:
        """Whether an observed variable still holds the object ``oid`` (verified)."""
        for name in self._by_oid.get(oid, ()):
            value = ns.get(name, MISSING)
            hit = value is not MISSING and id(value) == oid
            value = None
            if hit:
                return True
        return False

    def _check_config(self) -> None:
        cfg = self.config
        key = (cfg.threshold, cfg.growth_runs)
        if key == self._cfg_key:
            return
        self._cfg_key = key
        self._growing.clear()
        for name, obs in self._obs.items():
            s = _growth_suspect(name, obs, cfg)
            if s is not None:
                self._growing[name] = s
        self._out_big = {k for k, e in self._out.items() if (e[2] or 0) >= cfg.threshold}

    # -- after a tracked cell ------------------------------------------------------------------

    def after_cell(
        self,
        roots: Roots,
        count: int | None,
        deep: bool = False,
        error: str | None = None,
        budget_s: float | None = None,
        changed: Iterable[str] | None = None,
        deadline: float | None = None,
    ) -> list[dict[str, Any]]:
        """The current suspects after a cell (updates the per-name history).

        ``changed``: the names the cell bound, deleted or referenced (the tracker's ledger
        knows them): only those, a few other names in turn and the current suspects are looked
        at. None: every variable (bounded by the budget). ``deadline`` (a
        ``time.perf_counter()`` value, the tracker's shared analysis deadline in deep mode)
        replaces ``budget_s``."""
        t0 = time.perf_counter()
        if deadline is None:
            if budget_s is None:
                budget_s = self.config.budget_deep_s if deep else self.config.budget_light_s
            deadline = t0 + budget_s
        try:
            suspects, partial = self._after(roots, count, deep, error, deadline, changed)
        finally:
            self.last_s = time.perf_counter() - t0
        self.last, self.last_partial = suspects, partial
        return suspects

    def current(self, roots: Roots, budget_s: float = BUDGET_REQUEST_S) -> list[dict[str, Any]]:
        """The suspects now (``%memtrack leaks``, :func:`memtrack.suspects`): a full look at the
        output history, the last traceback and the variables; the history is not extended."""
        deadline = time.perf_counter() + budget_s
        users = user_values(roots)
        named_ids = {id(v) for _, v in users}
        names = [n for n, _ in users]
        users = []
        self._check_config()
        ns = roots.ns
        suspects = [dict(s) for n, s in self._growing.items() if n in ns]
        suspects.extend(self._sticky_suspects(ns))
        partial = self._update_out(roots, deadline, False, True)
        out, more = self._output_suspects(roots, named_ids, names)
        suspects.extend(out)
        partial |= more
        partial |= self.traceback.update(roots, named_ids, None, None, deadline, False, True)
        tb = self.traceback.suspect(self.config.threshold)
        if tb is not None:
            suspects.append(tb)
        suspects.extend(self.garbage.garbage_suspects(deadline, True, self.config.threshold))
        self.last_partial = partial
        return self._finish(suspects)

    def _finish(self, suspects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cfg = self.config
        suspects = [s for s in suspects if (s.get("size") or 0) >= cfg.threshold]
        suspects.sort(key=lambda s: s.get("size") or 0, reverse=True)
        return fit_leaks(suspects[: cfg.max_suspects])

    def _after(
        self,
        roots: Roots,
        count: int | None,
        deep: bool,
        error: str | None,
        deadline: float,
        changed: Iterable[str] | None,
    ) -> tuple[list[dict[str, Any]], bool]:
        cfg = self.config
        ns = roots.ns
        hidden = roots.hidden or {}
        quick = not deep
        full = changed is None
        partial = False
        self._check_config()
        named_ids: set[int] | None = None
        all_names: list[str] | None = None
        if full:
            users = user_values(roots)
            named_ids = {id(v) for _, v in users}
            all_names = [n for n, _ in users]
            users = []
            touched = set(all_names)
            visit = [*all_names, *(n for n in self._obs if n not in touched)]
        else:
            touched = {n for n in changed if type(n) is str}
            extra = [*self._pending, *self._growing]
            extra += self._next_recheck(RECHECK_DEEP if deep else RECHECK_LIGHT, touched)
            visit = [*touched, *extra]
        self._pending.difference_update(visit)

        # 1. the names: measure what changed, note what was deleted or rebound
        unbound: list[tuple[str, _Obs, str]] = []
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
        if not full:
            k = DISCOVER_DEEP if deep else DISCOVER_LIGHT
            self._discover_step(ns, hidden, count, quick, deadline, k, unbound)

        # 2. new Out entries and a changed traceback (by identity)
        partial |= self._update_out(roots, deadline, quick, full)
        named: Any = named_ids if named_ids is not None else self._by_oid
        partial |= self.traceback.update(roots, named, count, error, deadline, quick, full)

        # 3. what a deletion or rebind left alive (the cheap checks even past the deadline;
        # the scans inside stop at it)
        for name, obs, what in unbound[: EXPLAIN_DEEP if deep else EXPLAIN_LIGHT]:
            self._explain_unbound(
                name, obs, what, count, ns, roots.out, touched, deadline, quick, full
            )

        # 4. the suspects: carried forward, re-validated cheaply
        suspects = [dict(s) for s in self._growing.values()]
        suspects.extend(self._sticky_suspects(ns))
        out, more = self._output_suspects(roots, named_ids, all_names)
        suspects.extend(out)
        partial |= more
        tb = self.traceback.suspect(cfg.threshold)
        if tb is not None:
            suspects.append(tb)

        # 5. garbage only the collector frees
        freed = self.garbage.freed_suspect(count, cfg.threshold)
        if freed is not None:
            suspects.append(freed)
        suspects.extend(self.garbage.garbage_suspects(deadline, full, cfg.threshold))
        return self._finish(suspects), partial

    def _next_recheck(self, k: int, skip: set[str]) -> list[str]:
        out: list[str] = []
        refilled = False
        while len(out) < k:
            if not self._recheck:
                if refilled or not self._obs:
                    break
                self._recheck = list(self._obs)
                refilled = True
            name = self._recheck.pop()
            if name in self._obs and name not in skip:
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
        unbound: list[tuple[str, _Obs, str]],
    ) -> None:
        """Look at up to ``k`` namespace keys in turn for variables never observed (bound
        before tracking started, or by a function through ``global``)."""
        if self._discover_ns != id(ns):
            self._discover_ns = id(ns)
            self._discover = []
        refilled = False
        obs = self._obs
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
        unbound: list[tuple[str, _Obs, str]],
    ) -> bool:
        """Observe one name; True when its size did not fit in the time left."""
        thr = self.config.threshold
        obs = self._obs.get(name)
        value = ns.get(name, MISSING)
        if value is not MISSING and not _watchable(name, value, hidden):
            value = MISSING
        if value is MISSING:
            if obs is not None:
                self._drop_obs(name, obs)
                if obs.big(thr):
                    unbound.append((name, obs, f"`del {name}`"))
            return False
        if obs is None and len(self._obs) >= MAX_NAMES:
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
                self._drop_obs(name, obs)
                if obs.big(thr):
                    unbound.append((name, obs, f"rebinding `{name}`"))
            cut = self._measure(name, value, t, _signature(value, t), obs, count, deadline, quick)
        value = None
        new = self._obs.get(name)
        if new is not None:
            new.sole = sys.getrefcount(ns[name]) <= 2
            s = _growth_suspect(name, new, self.config)
            if s is None:
                self._growing.pop(name, None)
            else:
                self._growing[name] = s
        return cut

    def _measure(
        self,
        name: str,
        value: Any,
        t: type,
        sig: tuple[int | None, int],
        prev: _Obs | None,
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
        obs = _Obs(
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
        self._set_obs(name, obs)
        return size is None and time.perf_counter() > deadline

    # -- deleted or rebound values --------------------------------------------------------------

    def _explain_unbound(
        self,
        name: str,
        obs: _Obs,
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
        cells = [count] if count is not None else []
        self._deleted_for[obs.oid] = (what, count, obs.tname)
        self._deleted_names[name] = (obs.oid, obs.tname)
        while len(self._deleted_for) > 256:
            del self._deleted_for[next(iter(self._deleted_for))]
        while len(self._deleted_names) > 256:
            del self._deleted_names[next(iter(self._deleted_names))]
        # another variable, the same object (the name index: O(1))
        for other in list(self._by_oid.get(obs.oid, ())):
            if other == name:
                continue
            value = ns.get(other, MISSING)
            hit = value is not MISSING and _is_obs(value, obs)
            value = None
            if hit:
                reason = (
                    f"{what} freed nothing: `{other}` holds the same {obs.tname} "
                    f"({format_bytes(obs.size)}); `del {other}` too to free it"
                )
                self._stick(other, "shared-after-del", obs, reason, cells, [f"user_ns[{other!r}]"])
                return
        # Out[N] and the last traceback are reported by their own scans (with this deletion)
        if self.traceback.keeps(obs.oid):
            return
        key = self._out_oids.get(obs.oid, MISSING)
        if key is not MISSING and roots_out_holds(out, key, obs):
            return
        alive = obs.ref() if obs.ref is not None else None
        if obs.ref is None or alive is not None:
            # a container in the namespace (one level): every observed one when the value had
            # other holders, else only those the cell touched (bounded per cell)
            names = self._containers if full or not obs.sole else self._containers & touched
            item_cap = None if full else (SCAN_ITEMS_LIGHT if quick else SCAN_ITEMS_DEEP)
            budget = item_cap * 4 if item_cap is not None else None
            for other in list(names):
                if time.perf_counter() > deadline:
                    break
                o2 = self._obs.get(other)
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
            for other in list(self._with_children):
                o2 = self._obs.get(other)
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

    def deleted_value(self, name: str) -> tuple[int, str] | None:
        """``(id, type name)`` of the value a deleted or rebound name had (for :func:`why`)."""
        return self._deleted_names.get(name)

    def _stick(
        self,
        holder: str,
        kind: str,
        obs: _Obs,
        reason: str,
        cells: list[int],
        chain: list[str],
    ) -> None:
        s = suspect(holder, kind, obs.size, reason, cells=cells)
        s["type"] = obs.tname
        s["chain"] = chain
        self._sticky[f"{kind}:{holder}:{obs.oid}"] = _Sticky(
            s, holder=holder, holder_oid=self._obs[holder].oid if holder in self._obs else 0
        )

    def _sticky_suspects(self, ns: dict) -> list[dict[str, Any]]:
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

    # -- output history ------------------------------------------------------------------------

    def _update_out(self, roots: Roots, deadline: float, quick: bool, full: bool) -> bool:
        """Size the new entries of the output history (all of them when ``full``); True when
        some did not fit (measured next time)."""
        out = roots.out
        known = self._out
        if not out:
            if known or self._out_len:
                known.clear()
                self._out_oids.clear()
                self._out_big.clear()
                self._out_unnamed.clear()
                self._out_retry.clear()
            self._out_len, self._out_last = 0, MISSING
            return False
        n = len(out)
        try:
            last = next(reversed(out))
        except Exception:
            last = MISSING
        prev = self._out_last
        same_last = last is prev or (type(last) is int and type(prev) is int and last == prev)
        if (
            not full
            and not self._out_retry
            and n == self._out_len
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
                    self._forget_out(k)
                new = [k for k, v in out.items() if k not in known or known[k][0] != id(v)]
        except RuntimeError:  # changed size while read (another thread): next time
            return True
        new.extend(k for k in self._out_retry if k in out and k not in new)
        self._out_retry.clear()
        self._out_len, self._out_last = n, last
        cut = False
        thr = self.config.threshold
        for k in new:
            if k in known:
                self._forget_out(k)
            value = out.get(k, MISSING)
            if value is MISSING:
                continue
            size, approx = estimate_size(
                value, deadline, QUICK_PER_VALUE_S if quick else 0.003, quick
            )
            if size is None and time.perf_counter() > deadline:
                self._out_retry.add(k)
                cut = True
                value = None
                continue
            oid = id(value)
            known[k] = (oid, type_name(type(value)), size, approx)
            value = None
            self._out_oids[oid] = k
            if (size or 0) >= thr:
                self._out_big.add(k)
        return cut

    def _forget_out(self, k: Any) -> None:
        e = self._out.pop(k, None)
        if e is not None and self._out_oids.get(e[0], MISSING) == k:
            del self._out_oids[e[0]]
        self._out_big.discard(k)
        self._out_unnamed.discard(k)
        self._out_retry.discard(k)

    def _output_suspects(
        self, roots: Roots, named_ids: set[int] | None, names: list[str] | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """The large entries of the output history no variable names (only the entries at
        least ``threshold``: a handful; naming is checked through the name index)."""
        out = roots.out
        if not out or not self._out_big:
            return [], False
        ns = roots.ns
        hidden = roots.hidden or {}
        result = []
        for n in list(self._out_big):
            entry = self._out.get(n)
            value = out.get(n, MISSING)
            if entry is None or value is MISSING or id(value) != entry[0]:
                value = None
                continue  # changed since measured: the next update sees it
            oid, tname, size = entry[0], entry[1], entry[2]
            if named_ids is not None:
                named = oid in named_ids
            elif self._named(ns, oid):
                named = True
            elif n in self._out_unnamed:
                named = False
            else:  # once per entry: a namespace scan for a variable memtrack has not observed
                holder = _holder_name(ns, hidden, value)
                named = holder is not None
                if named:  # observe it: the name index knows it from now on
                    self._visit(
                        holder, ns, hidden, None, True, False, time.perf_counter() + 0.001, []
                    )
                else:
                    self._out_unnamed.add(n)
            if named:
                self._out_unnamed.discard(n)
                value = None
                continue
            also = [f"_{n}"] if ns.get(f"_{n}") is value else []
            also += [u for u in ("_", "__", "___") if ns.get(u) is value]
            value = None
            deleted = self._deleted_for.get(oid)
            if deleted is not None and deleted[2] != tname:
                deleted = None  # the id of another, freed value
            where = f" (also {', '.join(also)})" if also else ""
            if deleted is not None:
                reason = (
                    f"Out[{n}]{where} still holds {format_bytes(size)} after {deleted[0]}; "
                    f"`%memtrack release out {n}` frees it"
                )
            else:
                reason = (
                    f"Out[{n}]{where} holds {format_bytes(size)} ({tname}) that no variable "
                    f"names: the output history keeps it alive; `%memtrack release out {n}` "
                    "frees it"
                )
            cells = [n] if type(n) is int else []
            if deleted is not None and deleted[1] is not None and deleted[1] not in cells:
                cells.append(deleted[1])
            s = suspect(f"Out[{n}]", "output-history", size, reason, cells=cells)
            s["type"] = tname
            s["chain"] = ["user_ns['Out']", f"dict[{n!r}]"]
            result.append(s)
        return result, False


def roots_out_holds(out: dict | None, key: Any, obs: _Obs) -> bool:
    if out is None:
        return False
    value = out.get(key, MISSING)
    hit = value is not MISSING and _is_obs(value, obs)
    value = None
    return hit


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


def _growth_suspect(name: str, obs: _Obs, cfg: LeakConfig) -> dict[str, Any] | None:
    hist = obs.history
    if len(hist) <= cfg.growth_runs or obs.size is None or obs.size < cfg.threshold:
        return None
    i = len(hist) - 1
    while i > 0 and hist[i][1] > hist[i - 1][1]:
        i -= 1
    steps = len(hist) - 1 - i
    growth = hist[-1][1] - hist[i][1]
    if steps < cfg.growth_runs or growth < cfg.threshold:
        return None
    cells = [c for c, _ in hist[i + 1 :] if c is not None]
    shown = ", ".join(f"[{c}]" for c in cells[-4:])
    reason = (
        f"`{name}` grew {steps} times in a row, by {format_bytes(growth)} to "
        f"{format_bytes(hist[-1][1])} (cells {shown}); a re-run cell may be appending to it: "
        f"reset it in that cell or `del {name}`"
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
    return s


def _find_in(container: Any, t: type, obs: _Obs, deadline: float) -> Any:
    """The index or key under which ``container`` holds the observed object (one level)."""
    oid = obs.oid
    try:
        if t is dict:
            for i, (k, v) in enumerate(container.items()):
                if id(v) == oid and _is_obs(v, obs):
                    return k if type(k) in (int, str) else "…"
                if i & 1023 == 1023 and time.perf_counter() > deadline:
                    return None
        elif t is list or t is tuple:
            for i, v in enumerate(container):
                if id(v) == oid and _is_obs(v, obs):
                    return i
                if i & 1023 == 1023 and time.perf_counter() > deadline:
                    return None
        else:
            for i, v in enumerate(container):
                if id(v) == oid and _is_obs(v, obs):
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


def command_leaks(detector: LeakDetector, roots: Roots, why_target: str | None = None) -> str:
    """Text of ``%memtrack leaks [--why NAME]``."""
    if why_target:
        _chain, text = why(roots, why_target, detector)
        return f"memtrack: {text}"
    suspects = detector.current(roots)
    return format_suspects(suspects, detector.last_partial)
