"""The engine that counts a deep cell's Python allocations: native, or tracemalloc.

Both count what tracemalloc counts (bytes allocated since the engine started and not freed
since, and their peak) and answer the same questions, so the measurement, the statement ledger
and the type counts ask "the engine" and not tracemalloc:

* ``native`` (``memtrack.measure._native``, a C extension built at install when a compiler is
  there): hooks on CPython's allocator domains and numpy's data allocator, for the cell only.
  No traceback, clock or line lookup per allocation: 1.1-2x on allocation-heavy cells where
  tracemalloc costs 5-20x (``make bench``).
* ``tracemalloc``: the fallback when the extension is missing (no compiler at install), when
  ``MEMTRACK_ENGINE=tracemalloc`` asks for it, and always while tracemalloc already traces
  (the user's own ``tracemalloc.start()``, another profiler): its session is reused as it is.

Threads: both engines count every thread's allocations while they count (the hooks are the
process's), as tracemalloc always did.
"""

from __future__ import annotations

import os
import sys
import tracemalloc
from typing import Any

try:
    from . import _native  # type: ignore[attr-defined]
except ImportError as exc:  # not built: no compiler at install, or MEMTRACK_NO_NATIVE
    _native = None
    _MISSING_WHY = f"native engine not built ({exc.__class__.__name__}: {exc})"
else:
    _MISSING_WHY = ""

NATIVE = "native"
TRACEMALLOC = "tracemalloc"
ENGINES = (NATIVE, TRACEMALLOC)


class TracemallocEngine:
    """tracemalloc, as the engines' interface."""

    name = TRACEMALLOC

    @staticmethod
    def is_tracing() -> bool:
        return tracemalloc.is_tracing()

    @staticmethod
    def start() -> None:
        tracemalloc.start()  # default frame limit (1): the cheapest tracing there is

    @staticmethod
    def stop() -> None:
        tracemalloc.stop()

    @staticmethod
    def traced() -> tuple[int, int]:
        return tracemalloc.get_traced_memory()

    @staticmethod
    def notice_imports() -> None:
        """tracemalloc sees every library's allocations already (numpy reports its own)."""

    @staticmethod
    def note_cell_file(filename: str) -> None:
        """No line sampling with tracemalloc (a snapshot per cell costs seconds)."""

    @staticmethod
    def line_samples() -> dict[int, int]:
        return {}

    @staticmethod
    def reset_peak() -> None:
        tracemalloc.reset_peak()

    @staticmethod
    def own_memory() -> int:
        return tracemalloc.get_tracemalloc_memory()

    @staticmethod
    def allocated_here(value: Any) -> bool:
        """Was ``value`` allocated while tracing (so that its free is seen)?"""
        return tracemalloc.get_object_traceback(value) is not None


class NativeEngine:
    """memtrack's C hooks (``_native``), as the engines' interface."""

    name = NATIVE

    @staticmethod
    def is_tracing() -> bool:
        return _native is not None and _native.is_active()

    numpy_seen = False  # numpy's handler is in place for this count

    @classmethod
    def start(cls) -> None:
        # numpy's data is counted through its allocator handler: only when the user has
        # imported numpy (never imported here).
        api = _numpy_api()
        cls.numpy_seen = api is not None
        _native.set_numpy_api(api)
        _native.start(pymalloc=_pymalloc_in_use())

    @classmethod
    def notice_imports(cls) -> None:
        """numpy imported by the running cell (``import numpy`` in it): count its data from
        now on. The ledger asks before each statement; two dict lookups until numpy is there."""
        if not cls.numpy_seen:
            api = _numpy_api()
            if api is not None and _native.is_active():
                cls.numpy_seen = True
                _native.set_numpy_api(api)

    @staticmethod
    def stop() -> None:
        _native.stop()

    @staticmethod
    def traced() -> tuple[int, int]:
        return _native.traced()

    @staticmethod
    def note_cell_file(filename: str) -> None:
        """The cell's code's file: its lines get the sampled allocations (every 64 kB on
        average) from now on (CPython 3.11; elsewhere nothing is sampled)."""
        if _native.is_active():
            _native.set_cell_file(filename)

    @staticmethod
    def line_samples() -> dict[int, int]:
        """{line: bytes} the cell's lines allocated and kept, estimated from the samples."""
        return _native.line_samples() if _native.is_active() else {}

    @staticmethod
    def reset_peak() -> None:
        _native.reset_peak()

    @staticmethod
    def own_memory() -> int:
        return _native.memory() if _native.is_active() else 0

    @staticmethod
    def allocated_here(value: Any) -> bool:
        return _native.allocated_here(value)


Engine = TracemallocEngine | NativeEngine
_TRACEMALLOC = TracemallocEngine()
_NATIVE = NativeEngine()


def _numpy_api() -> Any:
    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        module = sys.modules.get(name)
        if module is not None:
            api = module.__dict__.get("_ARRAY_API")
            if type(api).__name__ == "PyCapsule":
                return api
    return None


def _pymalloc_in_use() -> bool:
    """Small blocks are pymalloc's (16-byte aligned, in pools): the engine's fast path. Not
    with another allocator or the debug hooks (PYTHONMALLOC, -X dev, a debug build)."""
    setting = os.environ.get("PYTHONMALLOC", "")
    debug_build = hasattr(sys, "gettotalrefcount")
    return setting in ("", "pymalloc") and not sys.flags.dev_mode and not debug_build


def wanted() -> str:
    """The engine asked for: MEMTRACK_ENGINE (native, tracemalloc), native by default."""
    asked = os.environ.get("MEMTRACK_ENGINE", "").strip().lower()
    return asked if asked in ENGINES else NATIVE


def native_available() -> bool:
    return _native is not None


def missing_reason() -> str:
    """Why the native engine is not used ('' when it is available and wanted)."""
    if _native is None:
        return _MISSING_WHY
    if wanted() == TRACEMALLOC:
        return "MEMTRACK_ENGINE=tracemalloc"
    return ""


def for_cell() -> Engine:
    """The engine a deep cell starts (or reuses): the one counting already, if any (the
    native engine of continuous deep tracking, tracemalloc's session), else native where
    available and wanted, else tracemalloc."""
    if _NATIVE.is_tracing():
        return _NATIVE
    if tracemalloc.is_tracing() or missing_reason():
        return _TRACEMALLOC
    return _NATIVE


def counting() -> Engine | None:
    """The engine counting now (native first), or None."""
    if _NATIVE.is_tracing():
        return _NATIVE
    if tracemalloc.is_tracing():
        return _TRACEMALLOC
    return None


def arena_reader() -> Any:
    """A reader of pymalloc's arena bytes (the native extension's arena hook, installed on the
    first call and left in place: arenas come and go 1 MiB at a time), or None without the
    extension or when MEMTRACK_ENGINE=tracemalloc."""
    if missing_reason():
        return None
    try:
        _native.count_arenas()
    except Exception:
        return None
    return _native.arena_bytes


def status_line() -> str:
    """'engine: native' or 'engine: tracemalloc (why)', for ``%memtrack status``."""
    why = missing_reason()
    if not why:
        return "engine: native"
    return f"engine: tracemalloc ({why})"
