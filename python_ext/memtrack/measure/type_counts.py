"""Object counts by type for one cell, in O(objects the cell created). Pure: no IPython import.

``gc.freeze()`` at the cell's start moves every existing GC-tracked object to the permanent
generation (O(1)), so ``gc.get_objects()`` at the end lists only objects created since, still
alive; ``gc.unfreeze()`` (O(1)) gives the others back. Whole-heap listing costs 69 ms at 5e6
objects plus counting (docs/design-notes.md); this does not depend on the heap size.

What that misses, and how the result says so (``method``/``sampled``):

* frees of objects older than the cell (negative deltas) are not seen;
* GC-untracked objects (int, float, str, bytes) are counted among the referents of the new
  containers only when an allocation engine (engine.py) was started for this cell (it tells a
  block allocated during the cell from an older one), within the time budget;
* an explicit ``gc.collect()`` must see every object to free old cycles: before a statement whose
  code names ``collect`` the tracker calls :meth:`TypeCounter.unfreeze`, so the cell behaves as
  without memtrack, and that cell's type counts are skipped. Automatic full collections during
  the cell see only the cell's objects; cycles of older garbage wait for the next collection;
* someone else's ``gc.freeze()`` (frozen objects before the cell), a nested measurement, or gc
  disabled: skipped, never unfreezing objects that are not ours.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from typing import Any

from . import engine
from .sizes import basicsize, sizeof, type_name

SAMPLE_LIMIT = 200_000  # objects counted exactly; above, a regular sample scaled up
# Counting runs while tracemalloc traces, where every count above 256 would be a new, traced
# int (~0.5 us an object: 46 ms for 60k objects): chunks of CHUNK keep the counts small cached
# ints (6 ms). It goes slice by slice (objs[j::SLICES], each a regular sample) and stops at the
# deadline; the slices done are scaled up. Cells with few new objects are counted in one go.
CHUNK = 256
SLICES = 16
EXACT_UNDER = 8_192
SIZE_VISITS = 4_096  # objects looked at to estimate sizes per type (a regular sample)
SIZE_SAMPLES = 32  # objects sized per type to estimate its size_delta
STRIDE_OVER = 256  # children of one container checked one by one; above, every k-th
UNTRACKED = (int, float, str, bytes, complex)

_active: TypeCounter | None = None

try:
    from collections import _count_elements  # type: ignore[attr-defined]  # C, since 3.2
except ImportError:  # pragma: no cover - other interpreters

    def _count_elements(mapping: dict, iterable: Any) -> None:
        for elem in iterable:
            mapping[elem] = mapping.get(elem, 0) + 1


def count_types(objs: list, into: dict) -> None:
    """Add how many objects of each type ``objs`` holds to ``into`` (chunk by chunk: see
    CHUNK)."""
    get = into.get
    chunk: dict = {}
    for i in range(0, len(objs), CHUNK):
        _count_elements(chunk, map(type, objs[i : i + CHUNK]))
        for t, c in chunk.items():
            into[t] = get(t, 0) + c
        chunk.clear()


def active_counter() -> TypeCounter | None:
    """The counter of the cell being measured now, if any."""
    return _active


# What an import or a class definition brings: shown as one row, so that the types that hold the
# cell's data are not pushed out of the table (a cell with an import: "function +9076, type +785").
CODE_TYPES = frozenset(
    {
        "function",
        "type",
        "module",
        "code",
        "cell",
        "method",
        "property",
        "classmethod",
        "staticmethod",
        "method_descriptor",
        "classmethod_descriptor",
        "getset_descriptor",
        "member_descriptor",
        "wrapper_descriptor",
        "builtin_function_or_method",
        "mappingproxy",
        "ModuleSpec",
        "SourceFileLoader",
        "ExtensionFileLoader",
        "FileFinder",
    }
)
CODE_GROUP_MIN = 50  # objects of those types before they are grouped (one def stays a row)
CODE_ROW = "code (functions, classes, modules)"
CODE_GROUP_NAMES = 6  # type names listed in the merged row (the record stays within 2 KB)


def group_code_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of :data:`CODE_TYPES` merged into one, listing the first ``CODE_GROUP_NAMES`` of them
    in ``group`` (most first), when they count at least ``CODE_GROUP_MIN`` objects together;
    other rows as they are."""
    code = [r for r in rows if r["type"] in CODE_TYPES]
    if sum(r["count_delta"] for r in code) < CODE_GROUP_MIN:
        return rows
    code.sort(key=lambda r: r["count_delta"], reverse=True)
    merged = {
        "type": CODE_ROW,
        "count_delta": sum(r["count_delta"] for r in code),
        "size_delta": sum(r["size_delta"] or 0 for r in code),
        "sampled": any(r["sampled"] for r in code),
        "size_estimated": any(r["size_estimated"] for r in code),
        "group": [r["type"] for r in code][:CODE_GROUP_NAMES],
    }
    return [r for r in rows if r["type"] not in CODE_TYPES] + [merged]


class TypeCounter:
    def __init__(self) -> None:
        self.method: str | None = None  # None while usable
        self.frozen = False
        self.started = False

    def start(self) -> TypeCounter:
        global _active
        self.started = True
        if _active is not None:
            self.method = "skipped: nested measurement"
        elif gc.get_freeze_count() > 0:
            self.method = "skipped: objects were already frozen (gc.freeze)"
        elif not gc.isenabled():
            self.method = "skipped: gc disabled"
        if self.method is not None:
            return self
        gc.freeze()
        self.frozen = True
        _active = self
        return self

    def unfreeze(self, why: str) -> None:
        """Give every object back to the collector now (counts of this cell are skipped)."""
        if self.frozen:
            self._release()
            self.method = f"skipped: {why}"

    def _release(self) -> None:
        global _active
        if self.frozen:
            self.frozen = False
            gc.unfreeze()
        if _active is self:
            _active = None

    def abandon(self) -> None:
        self._release()

    def finish(
        self,
        top: int = 10,
        budget_s: float = 0.02,
        traced_since_start: bool = False,
        deadline: float | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        """Rows ``{type, count_delta, size_delta, sampled, size_estimated}``, largest size
        first, and the method used. ``deadline`` (a ``time.perf_counter()`` value) replaces
        ``budget_s`` when given; listing the new objects is done whatever the deadline."""
        if not self.frozen:
            self._release()
            return [], self.method or "skipped"
        if deadline is None:
            deadline = time.perf_counter() + budget_s
        try:
            objs = gc.get_objects()
        finally:
            self._release()
        try:
            return self._count(objs, top, deadline, traced_since_start)
        finally:
            objs.clear()  # no reference to a user object survives

    def _count(
        self, objs: list, top: int, deadline: float, traced: bool
    ) -> tuple[list[dict[str, Any]], str]:
        n = len(objs)
        step = 1
        if n > SAMPLE_LIMIT:
            step = -(-n // SAMPLE_LIMIT)
        sample = objs[::step] if step > 1 else objs
        clock = time.perf_counter
        counts: dict[type, int] = {}
        done = SLICES
        if len(sample) <= EXACT_UNDER:
            count_types(sample, counts)
        else:
            # Half of what is left for counting, the rest for GC-untracked objects and sizes.
            count_deadline = clock() + max(0.0, deadline - clock()) / 2
            for j in range(SLICES):
                count_types(sample[j::SLICES], counts)
                if clock() > count_deadline and j + 1 < SLICES:
                    done = j + 1
                    break
        scale = step * SLICES / done  # objects each counted one stands for
        method = "new objects (frees of older objects not seen)"
        sampled_types: set[type] = set()
        if scale != 1:
            method = f"new objects, sampled 1 in {scale:.3g}"
        untracked: Counter = Counter()
        untracked_sizes: Counter = Counter()
        counting = engine.counting() if traced else None
        if counting is not None:
            cut = self._untracked(
                sample, deadline, untracked, untracked_sizes, sampled_types, counting
            )
            if step > 1:
                sampled_types.update(untracked)
            method += "; GC-untracked objects found in new containers"
            if cut:
                method += " (cut by the time budget: sampled)"
        else:
            method += "; GC-untracked objects (int, str, atomic dicts) not counted"

        # Sizes: the mean of a few objects of each type (a regular sample), within the budget.
        totals: dict[type, list[int]] = {}
        visits = sample[:: -(-len(sample) // SIZE_VISITS)] if len(sample) > SIZE_VISITS else sample
        for i, o in enumerate(visits):
            if i & 255 == 0 and clock() > deadline:
                break
            t = type(o)
            acc = totals.get(t)
            if acc is None:
                acc = totals[t] = [0, 0]
            elif acc[1] >= SIZE_SAMPLES:
                continue
            acc[0] += sizeof(o) or 0
            acc[1] += 1
        rows = []
        for t, c in counts.items():
            if c <= 0:
                continue
            count = round(c * scale)
            acc = totals.get(t)
            if acc and acc[1]:
                size = int(acc[0] / acc[1] * count)
                exact = scale == 1 and acc[1] >= c
            else:
                size = basicsize(t) * count
                exact = False
            rows.append(
                {
                    "type": type_name(t),
                    "count_delta": int(count),
                    "size_delta": size,
                    "sampled": scale != 1,
                    "size_estimated": not exact,
                }
            )
        merged = {r["type"]: r for r in rows}
        for t, c in untracked.items():
            row = merged.get(type_name(t))
            if row is not None:
                row["count_delta"] += int(c * step)
                row["size_delta"] = (row["size_delta"] or 0) + int(untracked_sizes[t] * step)
                row["sampled"] = row["sampled"] or t in sampled_types
                continue
            rows.append(
                {
                    "type": type_name(t),
                    "count_delta": int(c * step),
                    "size_delta": int(untracked_sizes[t] * step),
                    "sampled": t in sampled_types,
                    "size_estimated": False,
                }
            )
        rows = group_code_rows(rows)
        rows.sort(key=lambda r: (r["size_delta"] or 0, r["count_delta"]), reverse=True)
        return rows[:top], method

    @staticmethod
    def _untracked(
        sample: list,
        deadline: float,
        counts: Counter,
        sizes: Counter,
        sampled_types: set,
        counting: engine.Engine,
    ) -> bool:
        """Count GC-untracked objects (ints, strs, floats; dicts and tuples holding only such)
        held by the new containers, new iff the engine ``counting`` saw them allocated. Level 1:
        children of the new tracked objects (a lower bound when cut); level 2: children of the
        untracked dicts/tuples found (a sample scaled up when cut). Returns whether the budget
        cut it."""
        allocated_here = counting.allocated_here
        is_tracked = gc.is_tracked
        clock = time.perf_counter
        seen: set[int] = set()
        inner: list = []
        tick = 0

        def visit(
            children: Any, found: Counter, found_sizes: Counter, keep: bool, weight: int = 1
        ) -> bool:
            nonlocal tick
            n = len(children)
            if n > STRIDE_OVER:  # a big container: every k-th child, counted k times
                k = -(-n // STRIDE_OVER)
                children = children[::k]
                weight *= k
                if k > 1:
                    stride_used[0] = True
            for c in children:
                tick += 1
                if tick & 127 == 0 and clock() > deadline:
                    return True
                ct = type(c)
                if ct in UNTRACKED or ((ct is dict or ct is tuple) and not is_tracked(c)):
                    ci = id(c)
                    if ci in seen:
                        continue
                    seen.add(ci)
                    if allocated_here(c):
                        found[ct] += weight
                        found_sizes[ct] += (sizeof(c) or 0) * weight
                        if keep and (ct is dict or ct is tuple):
                            inner.append((c, weight))
            return False

        stride_used = [False]

        def children_of(o: Any) -> Any:
            if type(o) is dict:
                return (*o.keys(), *o.values())
            try:
                return gc.get_referents(o)
            except Exception:
                return ()

        cut = False
        for o in sample:
            if visit(children_of(o), counts, sizes, True):
                cut = True
                sampled_types.update(counts)
                break
        level2: Counter = Counter()
        level2_sizes: Counter = Counter()
        done = 0
        if not cut:
            for o, w in inner:
                if visit(children_of(o), level2, level2_sizes, False, w):
                    cut = True
                    break
                done += 1
        if inner and level2:
            scale = len(inner) / max(1, done) if cut else 1.0
            for ct, c in level2.items():
                counts[ct] += int(c * scale)
                sizes[ct] += int(level2_sizes[ct] * scale)
                if cut:
                    sampled_types.add(ct)
        inner.clear()
        if stride_used[0]:
            sampled_types.update(counts)
        return cut
