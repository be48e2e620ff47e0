"""Leak suspects after each tracked cell: the per-shell :class:`LeakDetector`.

Pure analysis: no IPython import (the IPython objects come in as duck-typed :class:`Roots`, see
:mod:`.roots`; why a value is alive is :mod:`.why_alive`, releasing what IPython keeps alive is
:mod:`.release`).
Notebooks leak in a few well-known ways; each becomes a suspect (a small JSON-safe dict, the
``leaks`` items of a record, see :mod:`.suspects`) named the way the user would type it, and
each way has its own watcher, which the detector calls once per pass:

* ``growing-variable`` (``cache``): a name whose size grew at every one of its last
  ``growth_runs`` changes (:mod:`.names`, which also keeps the name index the others read);
* ``output-history`` (``Out[12]``): a large value only IPython's output history keeps alive
  (:mod:`.output`);
* ``traceback`` (``sys.last_traceback``): the locals of the last exception's frames that nothing
  else keeps alive (:mod:`.last_traceback`);
* ``shared-after-del`` (``b``) and a deleted value only a reference cycle keeps (``cycle``): a
  ``del a`` (or rebind) that freed little (:mod:`.deletions`);
* ``cycle``: bytes the garbage collector (not reference counting) freed during the cell, and
  uncollectable ``gc.garbage`` (:mod:`.garbage`).

Rules (docs/design-notes.md, failure modes 1-8): no user code runs (``type(o) is X``, C-level
referents, ``len`` of exact builtin containers only, sizes through :mod:`memtrack.measure.sizes`);
nothing keeps a strong reference to a user value between cells (ids + type names + weakrefs); every
loop checks a deadline, and what does not fit is skipped, never waited for.
"""

from __future__ import annotations

import time
from collections.abc import Container, Iterable
from typing import Any

from .config import LeakConfig
from .deletions import DeletionWatcher
from .garbage import GarbageWatcher
from .last_traceback import TracebackWatcher
from .names import NameWatcher
from .output import OutputWatcher
from .roots import BUDGET_REQUEST_S, Roots, user_values
from .suspects import fit_leaks, format_suspects
from .why_alive import why

__all__ = ["LeakConfig", "LeakDetector", "command_leaks", "fit_leaks", "format_suspects"]


class LeakDetector:
    """Per-shell leak state: one watcher per way notebooks leak, and the latest suspects.

    After a cell (:meth:`after_cell`) the work is incremental: only the names the cell touched,
    a few watched names in turn and not yet seen ones (:mod:`.names`), new ``Out`` entries, a
    changed last traceback (by identity) and a changed ``gc.garbage`` are looked at; the
    current suspects are carried forward and re-validated cheaply. A whole namespace is looked
    at only on request (:meth:`current`) or without ``changed``."""

    def __init__(self, config: LeakConfig | None = None) -> None:
        config = config or LeakConfig()
        self._config = config
        self._cfg_key: tuple[int, int] | None = None  # (threshold, growth_runs) last applied
        self.names = NameWatcher(config)
        self.output = OutputWatcher(config)
        self.traceback = TracebackWatcher()
        self.deletions = DeletionWatcher(config, self.names, self.output, self.traceback)
        self.garbage = GarbageWatcher()
        self.last: list[dict[str, Any]] = []  # the suspects of the latest analysis
        self.last_partial = False
        self.last_s = 0.0  # seconds the latest after_cell took

    @property
    def config(self) -> LeakConfig:
        return self._config

    @config.setter
    def config(self, config: LeakConfig) -> None:
        # The watchers read the settings from the same object: a new one goes to each.
        self._config = self.names.config = self.output.config = self.deletions.config = config

    def clear(self) -> None:
        self.names.clear()
        self.output.clear()
        self.deletions.clear()
        self.traceback.clear()
        self.garbage.clear()
        self.last = []

    def deleted_value(self, name: str) -> tuple[int, str] | None:
        """``(id, type name)`` of the value a deleted or rebound name had (for :func:`why`)."""
        return self.deletions.deleted_value(name)

    # -- the gc callback (bytes freed by collections): the garbage watcher's ----------------

    @property
    def gc_hooked(self) -> bool:
        return self.garbage.gc_hooked

    def install_gc_hook(self) -> None:
        self.garbage.install_gc_hook()

    def uninstall_gc_hook(self) -> None:
        self.garbage.uninstall_gc_hook()

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
        users = []
        self._check_config()
        partial = self.output.update(roots.out, deadline, False, True)
        partial |= self.traceback.update(roots, named_ids, None, None, deadline, False, True)
        suspects = self._carried(roots, named_ids, self.names.growth_suspects(roots.ns))
        suspects.extend(self.garbage.garbage_suspects(deadline, True, self.config.threshold))
        self.last_partial = partial
        return self._finish(suspects)

    def _after(
        self,
        roots: Roots,
        count: int | None,
        deep: bool,
        error: str | None,
        deadline: float,
        changed: Iterable[str] | None,
    ) -> tuple[list[dict[str, Any]], bool]:
        ns = roots.ns
        quick = not deep
        full = changed is None
        self._check_config()
        named_ids: set[int] | None = None
        all_names: list[str] | None = None
        if full:
            users = user_values(roots)
            named_ids = {id(v) for _, v in users}
            all_names = [n for n, _ in users]
            users = []
            touched = set(all_names)
        else:
            touched = {n for n in changed if type(n) is str}

        # 1. the names: measure what changed, note what was deleted or rebound
        hidden = roots.hidden or {}
        unbound, partial = self.names.update(ns, hidden, count, deep, deadline, touched, all_names)

        # 2. new Out entries and a changed traceback (by identity)
        partial |= self.output.update(roots.out, deadline, quick, full)
        named: Container[int] = named_ids if named_ids is not None else self.names.by_oid
        partial |= self.traceback.update(roots, named, count, error, deadline, quick, full)

        # 3. what a deletion or rebind left alive
        self.deletions.explain(unbound, count, ns, roots.out, touched, deadline, deep, full)

        # 4. the suspects: carried forward, re-validated cheaply
        suspects = self._carried(roots, named_ids, self.names.growth_suspects())

        # 5. garbage only the collector frees
        threshold = self.config.threshold
        freed = self.garbage.freed_suspect(count, threshold)
        if freed is not None:
            suspects.append(freed)
        suspects.extend(self.garbage.garbage_suspects(deadline, full, threshold))
        return self._finish(suspects), partial

    def _carried(
        self, roots: Roots, named_ids: set[int] | None, growing: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """``growing`` and the suspects of the deletions, the output history and the kept
        traceback, each re-validated by its watcher."""
        suspects = growing
        suspects.extend(self.deletions.suspects(roots.ns))
        deleted = self.deletions.deleted_for
        suspects.extend(self.output.suspects(roots, named_ids, self.names, deleted))
        tb = self.traceback.suspect(self.config.threshold)
        if tb is not None:
            suspects.append(tb)
        return suspects

    def _check_config(self) -> None:
        """After ``config.update``: the watchers that keep suspects by threshold re-grade them."""
        cfg = self.config
        key = (cfg.threshold, cfg.growth_runs)
        if key == self._cfg_key:
            return
        self._cfg_key = key
        self.names.apply_config()
        self.output.apply_config()

    def _finish(self, suspects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cfg = self.config

        def held(s: dict[str, Any]) -> int:  # host bytes, and GPU bytes its tensors keep
            return (s.get("size") or 0) + (s.get("device_bytes") or 0)

        suspects = [s for s in suspects if held(s) >= cfg.threshold]
        suspects.sort(key=held, reverse=True)
        return fit_leaks(suspects[: cfg.max_suspects])


def command_leaks(detector: LeakDetector, roots: Roots, why_target: str | None = None) -> str:
    """Text of ``%memtrack leaks [--why NAME]``."""
    if why_target:
        _chain, text = why(roots, why_target, detector)
        return f"memtrack: {text}"
    suspects = detector.current(roots)
    return format_suspects(suspects, detector.last_partial)
