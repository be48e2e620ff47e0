"""The allocated metric: the bytes the process's allocators hold for live blocks.

The RSS misses memory the allocator reuses: once glibc keeps freed blocks, "keep 10 MB" moves the
RSS by nothing and "free 50 MB" too. The allocator's own counters see both. On glibc that is
``mallinfo2()``: ``uordblks`` (in use in the heap arenas) plus ``hblkhd`` (mmapped chunks), which
covers every C buffer (numpy's data, bytes and lists over 512 bytes); pymalloc's arenas of small
objects are mmapped by CPython itself and are not counted (the record's ``alloc_method`` says
which reader ran; the schema says what each one counts). On macOS, ``malloc_zone_statistics``
over all zones. Elsewhere nothing: the record says ``unavailable``.

``mallinfo2`` walks the free lists of every thread's arena, so it slows down as the heap
fragments: measured here, 0.4 us with 80 free chunks, 6-12 us in a fresh kernel (~650), but
100-500 us of CPU in a test kernel after a few dozen cells (~5,000 free chunks), 19 ms with
100k. The first reading after the kernel sat idle also meets cold caches (20-170 us at a cell's
start where the same call right after takes 6-12 us). So every reading of a light cell is
timed, and one over :data:`COST_LIMIT_S` is taken again at once, warm (its value is the one
kept), in the thread's CPU time (a busy machine's preemption is not the reader's cost): when
:data:`SLOW_READINGS` warm readings in a row still cost more, the walk itself is too slow, the
session stops reading it (``too-slow``) and light cells keep their RSS figures only. That keeps
light tracking's cost bounded in any kernel; a counter that costs the same in every heap is the
native allocation engine's to give.

With the native extension (engine.py) the reading adds pymalloc's arenas, counted by its arena
hook (one static read, ~0.07 us): small objects then count too, 1 MiB arena at a time
(``alloc_method`` "native"); the too-slow rule still applies to the malloc part.

``malloc_trim`` is here too: a deep cell that started tracemalloc stops it and hands the tracer's
freed tables back to the system before reading the RSS, so the RSS after the cell is the user's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
import time
from collections.abc import Callable

from . import engine

COST_LIMIT_S = 50e-6  # the most one warm reading may cost, in CPU time (light cells read twice)
SLOW_READINGS = 3  # warm readings in a row above the limit: the reader is too slow
_WARM_READINGS = 3  # untimed at the start: the first calls resolve symbols and fill caches

METHOD_MALLINFO2 = "mallinfo2"
METHOD_NATIVE = "native"  # mallinfo2 (or macOS's zones) plus pymalloc's arenas
METHOD_MACOS = "malloc_zone_statistics"
METHOD_TOO_SLOW = "too-slow"
METHOD_UNAVAILABLE = "unavailable"


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


class _MallocStatistics(ctypes.Structure):  # macOS <malloc/malloc.h> malloc_statistics_t
    _fields_ = [
        ("blocks_in_use", ctypes.c_uint),
        ("size_in_use", ctypes.c_size_t),
        ("max_size_in_use", ctypes.c_size_t),
        ("size_allocated", ctypes.c_size_t),
    ]


def _glibc_reader() -> tuple[Callable[[], int] | None, Callable[[], None] | None]:
    """``(read, trim)`` from glibc (>= 2.33 for mallinfo2), each None where missing."""
    if not sys.platform.startswith("linux"):
        return None, None
    try:
        # PyDLL: the call keeps the GIL. With CDLL it is released around the call, and taking it
        # back waits for whichever thread took it meanwhile: 100-150 us per reading at a cell's
        # ends in a real kernel (its IOPub thread is busy then), against 6 us with the GIL kept.
        # Keeping it is safe: malloc's locks never wait for the GIL.
        libc = ctypes.PyDLL(None)
    except OSError:  # pragma: no cover - static interpreters
        return None, None
    read = trim = None
    mallinfo2 = getattr(libc, "mallinfo2", None)
    if mallinfo2 is not None:
        mallinfo2.restype = _MallInfo2
        mallinfo2.argtypes = []

        def read() -> int:
            info = mallinfo2()
            return info.uordblks + info.hblkhd

    malloc_trim = getattr(libc, "malloc_trim", None)
    if malloc_trim is not None:
        malloc_trim.restype = ctypes.c_int
        malloc_trim.argtypes = [ctypes.c_size_t]

        def trim() -> None:
            malloc_trim(0)

    return read, trim


def _macos_reader() -> Callable[[], int] | None:  # pragma: no cover - macOS only
    if sys.platform != "darwin":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        stats = libc.malloc_zone_statistics
    except (OSError, AttributeError, TypeError):
        return None
    stats.restype = None
    stats.argtypes = [ctypes.c_void_p, ctypes.POINTER(_MallocStatistics)]
    out = _MallocStatistics()
    ref = ctypes.byref(out)
    lock = threading.Lock()

    def read() -> int:
        with lock:  # one result struct for every caller
            stats(None, ref)  # NULL: the sum over all zones
            return int(out.size_in_use)

    return read


class AllocatorCounter:
    """The process's allocator counter: :meth:`read` gives the bytes in live blocks, or None once
    the reader is unavailable or too slow (``method`` says which, for the record)."""

    def __init__(self, limit_s: float = COST_LIMIT_S) -> None:
        read, self._trim = _glibc_reader()
        self.method = METHOD_MALLINFO2
        if read is None:
            read = _macos_reader()
            self.method = METHOD_MACOS
        if read is None:
            self.method = METHOD_UNAVAILABLE
        else:
            arenas = engine.arena_reader()
            if arenas is not None:
                read = _plus_arenas(read, arenas)
                self.method = METHOD_NATIVE
        self._read = read
        if read is not None:
            for _ in range(_WARM_READINGS):
                read()
        self.limit_s = limit_s
        self.last_cost_s: float | None = None  # what the last reading cost
        self._slow = 0

    @property
    def available(self) -> bool:
        return self._read is not None

    def read(self, timed: bool = True) -> int | None:
        """Bytes the allocators hold for live blocks now. ``timed``: the reading counts towards
        the too-slow verdict (a deep cell's readings do not: tracemalloc traces the call's own
        allocations, and the reading after a trim meets cold caches)."""
        read = self._read
        if read is None:
            return None
        if not timed:
            try:
                return int(read())
            except Exception:  # pragma: no cover - a foreign libc
                self._give_up(METHOD_UNAVAILABLE)
                return None
        clock = time.perf_counter
        try:
            t0 = clock()
            value = read()
            cost = clock() - t0
            if cost > self.limit_s:
                # Cold caches, a preempted thread, or a slow walk? Again, warm, in this
                # thread's CPU time (a busy machine's preemption is not the reader's cost).
                t0 = time.thread_time()
                value = read()
                cost = time.thread_time() - t0
        except Exception:  # pragma: no cover - a foreign libc
            self._give_up(METHOD_UNAVAILABLE)
            return None
        self.last_cost_s = cost
        if cost > self.limit_s:
            self._slow += 1
            if self._slow >= SLOW_READINGS:
                self._give_up(METHOD_TOO_SLOW)
        else:
            self._slow = 0
        return int(value)

    def _give_up(self, method: str) -> None:
        self._read = None
        self.method = method

    def trim(self) -> bool:
        """Hand the allocator's free memory back to the system (glibc ``malloc_trim``); True when
        it ran. Costs milliseconds on a large heap: only deep cells call it."""
        if self._trim is None:
            return False
        try:
            self._trim()
        except Exception:  # pragma: no cover - a foreign libc
            self._trim = None
            return False
        return True


def _plus_arenas(read: Callable[[], int], arenas: Callable[[], int]) -> Callable[[], int]:
    def read_both() -> int:
        return read() + arenas()

    return read_both


_counter: AllocatorCounter | None = None
_counter_lock = threading.Lock()


def counter() -> AllocatorCounter:
    """The process's one counter (its too-slow verdict holds for the session)."""
    global _counter
    found = _counter
    if found is None:
        with _counter_lock:
            found = _counter
            if found is None:
                found = _counter = AllocatorCounter()
    return found


def reset_counter(limit_s: float = COST_LIMIT_S) -> AllocatorCounter:
    """A fresh counter (tests, and ``%memtrack reset``): the reader is tried again."""
    global _counter
    with _counter_lock:
        _counter = AllocatorCounter(limit_s)
    return _counter
