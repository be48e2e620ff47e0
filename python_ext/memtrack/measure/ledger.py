"""Per-statement accounting of one cell: the line table, frees of older values, variable changes.

Pure: no IPython import. The tracker calls :meth:`CellLedger.before` / :meth:`CellLedger.after`
around each top-level statement of the cell (IPython compiles and runs them one by one), so:

* ``top_lines``: the traced memory (the engine's ``traced()``, ~1 us, see engine.py) read between
  statements gives each top-level statement's net increment, including everything the functions
  it calls allocate, at no per-line cost. Lines inside a loop or ``with`` body are counted in the
  statement that starts the block (``granularity: "statement"``). A line tracer
  (``sys.settrace``) would split blocks but costs 1.5-7x on call-heavy code (measured in 3.11),
  far over the deep-mode target.
* frees of values older than the cell: when the engine was started for this cell it never saw
  their allocation, so their frees are invisible. Before a statement that stores or deletes a
  name (``STORE_NAME``/``DELETE_NAME`` in its bytecode) that holds an older value, that value's
  deep size is measured; after the statement, if the name no longer holds it and it is gone (a
  weakref died, or, for values without weakref support, nothing but the namespace held it), the
  size counts as freed. Older builtin containers that the statement resized (their buffer was
  reallocated: the engine counts the whole new buffer) are corrected by their old buffer size.
* ``variables``: names the statements reference (``co_names``), compared before/after: created,
  rebound, resized, deleted. Light mode has no per-statement hook: it snapshots, before the cell,
  the namespace names among the identifiers of the cell's source (:func:`snap_source`;
  a superset of ``co_names`` that also sees the names inside magics and nested functions).

Nothing here keeps a strong reference to a user value once the statement ends: ids, sizes, type
names and weakrefs only.
"""

from __future__ import annotations

import dis
import re
import sys
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from types import FunctionType
from typing import Any

from . import engine as engines
from .sizes import (
    ATOMIC,
    SKIP,
    deep_size,
    is_ndarray,
    resize_base,
    shallow_size,
    sizeof,
    type_name,
)

_STORE_OPS = frozenset(
    dis.opmap[name]
    for name in ("STORE_NAME", "DELETE_NAME", "STORE_GLOBAL", "DELETE_GLOBAL")
    if name in dis.opmap
)
_GLOBAL_OPS = frozenset(
    dis.opmap[name] for name in ("STORE_GLOBAL", "DELETE_GLOBAL") if name in dis.opmap
)
_EXTENDED_ARG = dis.opmap.get("EXTENDED_ARG", 144)
# Exact builtin containers whose buffer a cell may resize in place (type -> itself: one get).
_RESIZABLE = {t: t for t in (list, dict, set, bytearray)}
# Names of the types most variables have, without type_name()'s descriptor reads per snapshot.
_BUILTIN_NAMES = {t: type_name(t) for t in (*ATOMIC, *SKIP, list, tuple, dict, set, frozenset)}
_MISSING = object()
# IPython's own names (history, output cache): never reported as the cell's variables.
_IPYTHON_WORDS = frozenset({"In", "Out", "exit", "quit", "get_ipython"})
_IPYTHON_NAMES = re.compile(r"^(_+|_\d+|_i+|_i\d+|_ih|_oh|_dh|In|Out|exit|quit|get_ipython)$")
CODE_MAX = 120  # characters of a line's source kept in a record
SOURCE_SCAN_MAX = 20_000  # characters of a light cell's source searched for names
SNAP_MAX = 500  # namespace names a light cell snapshots (~0.5 us each, paid before it runs)
_IDENTIFIER = re.compile(r"(?<!\w)[^\W\d]\w*")
# Every ASCII character that cannot be part of a name, to a space: then ``split()`` gives words
# (for ASCII sources; _UTF8_BREAKS leaves the bytes of other characters, all >= 0x80, alone).
_WORD_BREAKS = bytes(
    c if chr(c).isascii() and (chr(c).isalnum() or c == 95) else 32 for c in range(256)
)
_UTF8_BREAKS = _WORD_BREAKS[:128] + bytes(range(128, 256))


def store_names(code: Any, ops: frozenset[int] = _STORE_OPS) -> set[str]:
    """Names a module-level code object stores or deletes (its own bytecode, not nested code);
    ``ops``: the opcodes that count."""
    names = code.co_names
    out: set[str] = set()
    raw = code.co_code
    ext = 0
    for i in range(0, len(raw) - 1, 2):
        op = raw[i]
        if op == _EXTENDED_ARG:
            ext = (ext | raw[i + 1]) << 8
            continue
        if op in ops:
            arg = ext | raw[i + 1]
            if arg < len(names):
                out.add(names[arg])
        ext = 0
    return out


def first_line(code: Any) -> int | None:
    lines = [ln for _, _, ln in code.co_lines() if ln]
    return min(lines) if lines else None


def last_line(code: Any) -> int | None:
    lines = [ln for _, _, ln in code.co_lines() if ln]
    return max(lines) if lines else None


def user_name(name: str) -> bool:
    if name[:1] != "_":  # most names: no regex (a light cell asks before it runs)
        return name not in _IPYTHON_WORDS
    return _IPYTHON_NAMES.match(name) is None


@dataclass(slots=True)
class _Snap:
    oid: int
    type_name: str
    shallow: int | None
    resizable: type | None  # exact builtin container type, for the resize correction
    untraced: bool  # allocated before the engine started (its frees are invisible)
    shallow0: int | None  # shallow size before the cell (shallow follows resizes)

    def before(self) -> Before:
        return (self.oid, self.type_name, self.shallow0, self.resizable)


# What changed_variables needs of a value before the cell: (id, type name, shallow size,
# exact type when a resizable builtin container, else None). A light cell takes one per name
# its source mentions, before it runs: a plain tuple (a dataclass costs 3x to build).
Before = tuple[int, str, "int | None", "type | None"]
_NOT_SEEN: tuple[None, None, None, None] = (None, None, None, None)


@dataclass
class _Candidate:  # an older value a statement may unbind
    name: str
    oid: int
    size: int
    partial: bool
    ref: Any  # weakref.ref or None
    sole: bool  # only the namespace referenced it before the statement


class CellLedger:
    """Accounting of one cell's top-level statements.

    ``deep``: read traced memory (line table) from ``counter`` (the engine counting, by default
    the one counting now); ``fresh_tracing``: the engine was started for this cell, so older
    frees must be estimated; ``line_offset``: added to the compiled line
    numbers to number lines as in the notebook cell; ``source``: the cell as the user wrote it.
    """

    def __init__(
        self,
        ns: dict,
        *,
        deep: bool,
        fresh_tracing: bool,
        source: str = "",
        line_offset: int = 0,
        size_budget_s: float = 0.03,
        counter: engines.Engine | None = None,
    ) -> None:
        self.ns = ns
        self.counter = counter if counter is not None else engines.counting()
        self.deep = deep and self.counter is not None
        self.fresh = fresh_tracing
        self.source = source
        self.line_offset = line_offset
        self.filename: str | None = None
        self.freed = 0
        self.freed_partial = False
        self.resized = 0
        self.analysis_s = 0.0
        self._budget_end: float | None = None
        self._size_budget = size_budget_s
        self._snaps: dict[str, _Snap] = {}
        self._absent: set[str] = set()  # referenced names that did not exist yet
        self._sizes: dict[int, tuple[int, bool]] = {}  # id -> deep size of an older value
        self._freed_ids: set[int] = set()
        self._rows: dict[int, list[int]] = {}  # line -> [increment, occurrences]
        self._blocks: dict[int, int] = {}  # a statement's first line -> its last (compiled)
        self.granularity = "statement"  # "line" once sampled lines inside blocks are added
        self._pending: list[tuple[int | None, int, list[_Candidate], tuple[str, ...]]] = []
        self._open: list[_Candidate] = []  # unbound but alive (a cycle): re-checked later

    # -- per statement ------------------------------------------------------------------------

    def accepts(self, code: Any) -> bool:
        """Only the cell's own statements (the first one fixes the file name)."""
        filename = getattr(code, "co_filename", None)
        if self.filename is None:
            self.filename = filename
            if self.counter is not None and type(filename) is str:
                self.counter.note_cell_file(filename)  # lines inside blocks, by sampling
        return filename == self.filename

    def before(self, code: Any) -> None:
        t0 = time.perf_counter()
        if self._budget_end is None:
            self._budget_end = t0 + self._size_budget
        ns = self.ns
        names = code.co_names
        candidates: list[_Candidate] = []
        stores = store_names(code) if self.deep and self.fresh else ()
        for name in names:
            value = ns.get(name, _MISSING)
            if value is _MISSING:
                if name not in self._snaps:
                    self._absent.add(name)
                continue
            if name not in self._snaps and name not in self._absent:
                self._snaps[name] = self._snap(value)
            value = None  # no extra reference while the candidate counts them
            if name in stores:
                candidates.append(self._candidate(name))
        traced = 0
        if self.deep:
            self.counter.notice_imports()
            traced = self.counter.traced()[0]
        first = first_line(code)
        if first is not None and first not in self._blocks:
            self._blocks[first] = last_line(code) or first
        self._pending.append((first, traced, candidates, names))
        self.analysis_s += time.perf_counter() - t0

    def after(self) -> None:
        if not self._pending:
            return
        traced_after = self.counter.traced()[0] if self.deep else 0
        t0 = time.perf_counter()
        line, traced_before, candidates, names = self._pending.pop()
        freed = 0
        ns = self.ns
        still_open = []
        for c in self._open:  # unbound earlier, kept alive by a cycle: freed by a collection?
            if c.oid in self._freed_ids:
                continue
            if c.ref() is None:
                self._freed_ids.add(c.oid)
                freed += c.size
                self.freed_partial |= c.partial
            else:
                still_open.append(c)
        self._open = still_open
        for c in candidates:
            if c.oid in self._freed_ids:
                continue
            current = ns.get(c.name, _MISSING)
            if current is not _MISSING and id(current) == c.oid:
                continue
            current = None
            gone = c.ref() is None if c.ref is not None else c.sole
            if gone:
                self._freed_ids.add(c.oid)
                freed += c.size
                self.freed_partial |= c.partial
            elif c.ref is not None:
                self._open.append(c)
        corr = 0
        if self.deep and self.fresh:
            corr = self._resize_correction(names)
        self.freed += freed
        self.resized += corr
        if self.deep and line is not None:
            row = self._rows.setdefault(line + self.line_offset, [0, 0])
            row[0] += traced_after - traced_before - freed - corr
            row[1] += 1
        self.analysis_s += time.perf_counter() - t0

    def _snap(self, value: Any) -> _Snap:
        return _snapshot(value, self.counter if self.fresh else None)

    def _candidate(self, name: str) -> _Candidate:
        value = self.ns[name]
        oid = id(value)
        cached = self._sizes.get(oid)
        if cached is None:
            if self.counter is not None and self.counter.allocated_here(value):
                cached = (0, False)  # allocated during this cell: the engine sees its free
            else:
                r = deep_size(value, deadline=self._budget_end)
                cached = (r["size"] or 0, r["partial"] or r["size"] is None)
            self._sizes[oid] = cached
        try:
            ref = weakref.ref(value)
        except TypeError:
            ref = None
        # References: the namespace and getrefcount's argument (value is dropped first).
        value = None
        sole = sys.getrefcount(self.ns[name]) <= 2
        return _Candidate(name, oid, cached[0], cached[1], ref, sole)

    def _resize_correction(self, names: tuple[str, ...]) -> int:
        corr = 0
        ns = self.ns
        for name in names:
            snap = self._snaps.get(name)
            if snap is None or snap.resizable is None or not snap.untraced:
                continue
            value = ns.get(name, _MISSING)
            if value is _MISSING or id(value) != snap.oid or type(value) is not snap.resizable:
                continue
            shallow, _ = shallow_size(value)
            value = None
            if shallow is None or snap.shallow is None or shallow == snap.shallow:
                continue
            base = resize_base(snap.resizable) or 0
            # The old buffer was freed unseen; the new one is traced whole.
            corr += max(0, snap.shallow - base)
            snap.untraced = False  # its buffer is traced from now on
            snap.shallow = shallow
        return corr

    # -- results ------------------------------------------------------------------------------

    def top_lines(self, top: int) -> list[dict[str, Any]]:
        """The statements' rows (exact: the engine's readings around each), and, where the
        engine samples lines, rows for the lines inside blocks (a loop's body) marked
        ``sampled``: what each allocated and kept, an estimate, already inside its block's
        first-line row."""
        source_lines = self.source.splitlines()

        def code_of(line: int) -> str:
            code = source_lines[line - 1].strip() if 0 < line <= len(source_lines) else ""
            return code[: CODE_MAX - 1] + "\u2026" if len(code) > CODE_MAX else code

        rows = []
        for line, (inc, occ) in self._rows.items():
            rows.append(
                {"line": line, "code": code_of(line), "increment": int(inc), "occurrences": occ}
            )
        samples = self.counter.line_samples() if self.counter is not None else {}
        inner = {ln for first, last in self._blocks.items() for ln in range(first + 1, last + 1)}
        for line, size in samples.items():
            if line in inner and size:
                shown = line + self.line_offset
                rows.append(
                    {
                        "line": shown,
                        "code": code_of(shown),
                        "increment": int(size),
                        "occurrences": 0,
                        "sampled": True,
                    }
                )
                self.granularity = "line"
        rows.sort(key=lambda r: abs(r["increment"]), reverse=True)
        return rows[:top]

    def variables(
        self, top: int, deep: bool, budget_s: float = 0.02, deadline: float | None = None
    ) -> list[dict[str, Any]]:
        """Names created, rebound, resized or deleted by the cell (:func:`changed_variables`);
        deep sizes stop at ``deadline`` (default: now plus ``budget_s``)."""
        if deadline is None:
            deadline = time.perf_counter() + budget_s
        before = {name: snap.before() for name, snap in self._snaps.items()}
        return changed_variables(
            self.ns, before, self._absent, top, deep=deep, deadline=deadline, sizes=self._sizes
        )

    def touched_names(self) -> set[str]:
        """The names the cell's statements referenced (asked before :meth:`release`)."""
        return {*self._snaps, *self._absent}

    def release(self) -> None:
        """Forget everything (ids and weakrefs only, but keep nothing after the cell)."""
        self._pending.clear()
        self._open.clear()
        self._snaps.clear()
        self._sizes.clear()


def _snapshot(value: Any, fresh: engines.Engine | None) -> _Snap:
    """id, type name and shallow size of ``value``; ``fresh`` (the engine started for this
    cell): also whether it missed its allocation (a resizable container older than the cell)."""
    oid, name, shallow, resizable = _before(value)
    untraced = False
    if fresh is not None and resizable is not None:
        untraced = not fresh.allocated_here(value)
    return _Snap(oid, name, shallow, resizable, untraced, shallow)


def changed_variables(
    ns: dict,
    snaps: dict[str, Before],
    absent: Iterable[str],
    top: int,
    deep: bool = False,
    deadline: float = 0.0,
    sizes: dict[int, tuple[int, bool]] | None = None,
) -> list[dict[str, Any]]:
    """Names created, rebound, resized or deleted since ``snaps``/``absent`` were taken,
    largest change first. ``deep``: deep sizes until ``deadline`` (a ``time.perf_counter()``
    value), later names get their shallow size, marked ``partial``; ``sizes``: deep sizes of
    older values, by id (a rebound or deleted value's delta)."""
    sizes = sizes or {}
    rows = []
    for name in [n for n in (*snaps, *absent) if user_name(n)]:
        before = snaps.get(name)
        oid, old_type, shallow0, resizable = _NOT_SEEN if before is None else before
        value = ns.get(name, _MISSING)
        if value is _MISSING:
            if before is None:
                continue
            old = sizes.get(oid)
            old_size = old[0] if old else shallow0
            rows.append(
                {
                    "name": name,
                    "type": old_type,
                    "size": 0,
                    "delta": -old_size if old_size is not None else None,
                    "change": "deleted",
                }
            )
            continue
        t = type(value)
        shallow = None
        if before is not None and id(value) == oid:
            if resizable is None:
                value = None
                continue
            shallow = sys.getsizeof(value)  # an exact builtin container: no user code
            if shallow == shallow0:
                value = None
                continue
            change = "resized"
        else:
            change = "created" if before is None else "rebound"
        if deep and time.perf_counter() < deadline:
            r = deep_size(value, deadline=deadline)
            size, partial = r["size"], r["partial"] or r["unknown"] > 0
        elif t in _BUILTIN_NAMES:
            size, partial = sys.getsizeof(value), t not in ATOMIC
        else:
            size, partial = shallow_size(value)
        # A view: its header only is new; its data is its base's, which something else holds.
        view_header = sizeof(value) if is_ndarray(t) and _views_data(value) else None
        value = None
        if change == "resized":
            delta = shallow - shallow0 if shallow is not None and shallow0 is not None else None
        elif change == "rebound":
            old = sizes.get(oid)
            old_size = old[0] if old else shallow0
            delta = size - old_size if size is not None and old_size is not None else None
        elif view_header is not None:
            delta = view_header
        else:
            delta = size
        rows.append(
            {
                "name": name[:CODE_MAX],
                "type": (_BUILTIN_NAMES.get(t) or type_name(t))[:CODE_MAX],
                "size": size,
                "delta": delta,
                "partial": bool(partial),
                "change": change,
            }
        )
    rows.sort(key=lambda r: (-abs(r["delta"] or 0), r["name"]))  # ties: by name, every run
    return rows[:top]


def _views_data(arr: Any) -> bool:
    try:
        return arr.base is not None  # numpy's C getter on the exact ndarray type
    except Exception:
        return False


def source_words(source: str) -> set[str]:
    """The words of ``source`` (its first ``SOURCE_SCAN_MAX`` characters) that may be names: a
    superset of its identifiers (numbers, ``300_000``, are words too; they name nothing).

    The source is split at ASCII characters that cannot be part of a name, after one
    translate (~9 us on a 900-character cell, against ~40 us for the identifier regex, whose
    cost grows with every character). Other scripts' characters stay in the words; the few
    words that are then no identifier (``→x``, in a comment or a string) go through the regex.
    """
    text = source[:SOURCE_SCAN_MAX]
    if text.isascii():
        return set(text.encode("ascii").translate(_WORD_BREAKS).decode("ascii").split())
    # UTF-8 keeps every byte of another script's characters >= 0x80: the table leaves them be.
    data = text.encode("utf-8", "surrogatepass").translate(_UTF8_BREAKS)
    words = set(data.decode("utf-8", "surrogatepass").split())
    for word in [w for w in words if not w.isascii() and not w.isidentifier()]:
        words.discard(word)
        words.update(_IDENTIFIER.findall(word))
    return words


def snap_source(ns: dict, source: str) -> tuple[dict[str, Before], set[str]]:
    """Light mode, before the cell runs: a snapshot (id, type, shallow size) of the namespace
    names the cell's source mentions (its first ``SOURCE_SCAN_MAX`` characters, at most
    ``SNAP_MAX`` names: one beyond is missed), and the words that name nothing yet (names the
    cell may create; keywords and other words too: a look-up each after the cell). A superset
    of the statements' ``co_names`` that also sees the names inside magics and nested
    functions, at one scan of the source per cell instead of a hook per statement. A plain
    function the source names adds the names it rebinds through ``global``
    (``def load(): global df; df = ...``, then ``load()``): one level of calls, not deeper."""
    words = source_words(source)
    present = [*filter(ns.__contains__, words)]  # the look-ups in C: most words name nothing
    if not present:
        return {}, words
    absent = words.difference(present)
    snaps: dict[str, Before] = {}
    functions = []
    for name in present:
        value = ns.get(name, _MISSING)
        if value is _MISSING:  # deleted since the look-up (another thread: ipykernel subshells)
            absent.add(name)
            continue
        if user_name(name) and len(snaps) < SNAP_MAX:
            snaps[name] = _before(value)
        if type(value) is FunctionType:
            functions.append(value)  # dropped on return, before the cell runs
    for func in functions:
        for stored in global_stores(func):
            if stored not in snaps and stored not in absent:
                _snap_name(ns, stored, snaps, absent)
    return snaps, absent


def _before(value: Any) -> Before:
    """A value's snapshot: builtin types get ``sys.getsizeof`` and their name from a table;
    others their type's name (descriptors) and :func:`sizes.sizeof` (no framework
    ``__sizeof__``; one that raises gives None)."""
    t = type(value)
    name = _BUILTIN_NAMES.get(t)
    if name is None:
        return (id(value), type_name(t), sizeof(value), None)
    return (id(value), name, sys.getsizeof(value), _RESIZABLE.get(t))


def _snap_name(ns: dict, name: str, snaps: dict[str, Before], absent: set[str]) -> None:
    """Snapshot ``name`` into ``snaps`` (or ``absent``)."""
    value = ns.get(name, _MISSING)
    if value is _MISSING:
        absent.add(name)
    elif user_name(name) and len(snaps) < SNAP_MAX:
        snaps[name] = _before(value)


# The names each function's code rebinds through ``global``, by code object: one bytecode scan
# per function, forgotten with its code (a weak reference, no user object kept alive).
_GLOBALS_OF: dict[int, tuple[weakref.ref, frozenset[str]]] = {}
GLOBALS_CACHE_MAX = 4096
GLOBALS_SCAN_MAX = 20_000  # bytes of bytecode scanned per function (generated code: none)


def global_stores(func: FunctionType) -> frozenset[str]:
    """Names the plain function ``func`` stores or deletes through ``global`` (its own code, not
    the functions it calls). ``__code__`` is read on the exact function type: no user code runs."""
    code = func.__code__
    key = id(code)
    hit = _GLOBALS_OF.get(key)
    if hit is not None and hit[0]() is code:
        return hit[1]
    names: frozenset[str] = frozenset()
    if len(code.co_code) <= GLOBALS_SCAN_MAX:
        names = frozenset(store_names(code, _GLOBAL_OPS))
    if len(_GLOBALS_OF) >= GLOBALS_CACHE_MAX:
        _GLOBALS_OF.clear()
    try:
        ref = weakref.ref(code, lambda _, key=key: _GLOBALS_OF.pop(key, None))
    except TypeError:  # an interpreter whose code objects take no weak reference: no cache
        return names
    _GLOBALS_OF[key] = (ref, names)
    return names
