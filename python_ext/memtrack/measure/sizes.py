"""Sizes of user values without running user code. Pure: no IPython import.

Rules (docs/design-notes.md, failure modes 1, 2, 4-7): types are compared exactly
(``type(o) is X``; no ``isinstance``, which can run a ``__class__`` property), children come from
C-level
``gc.get_referents`` (plus a dict's keys, which 3.11 does not report, and an ndarray's
``base``), no ``repr``/``len``/``__getattr__``. ``sys.getsizeof`` calls ``__sizeof__``: the only
user hook called, never for the classes of frameworks with lazy or device-backed values, and one
that raises leaves the size unknown. Walks stop at a deadline checked inside the child loop.
"""

from __future__ import annotations

import gc
import sys
import time
import types
import weakref
from itertools import chain
from typing import Any

from .arrow import Reader, reader_for

# Values whose size is their getsizeof and that own no other Python object worth following.
ATOMIC: frozenset[type] = frozenset(
    {
        int,
        float,
        complex,
        bool,
        str,
        bytes,
        bytearray,
        type(None),
        range,
        slice,
        memoryview,
        type(Ellipsis),
        type(NotImplemented),
        weakref.ReferenceType,
        weakref.ProxyType,
        weakref.CallableProxyType,
    }
)
# Shared infrastructure: never counted as part of a value (a function's module, a class, ...).
SKIP: frozenset[type] = frozenset(
    {
        type,
        types.ModuleType,
        types.FunctionType,
        types.BuiltinFunctionType,
        types.MethodType,
        types.CodeType,
        types.FrameType,
        types.TracebackType,
        types.GetSetDescriptorType,
        types.MemberDescriptorType,
        types.WrapperDescriptorType,
        types.MethodDescriptorType,
        types.MappingProxyType,
    }
)
CONTAINERS: frozenset[type] = frozenset({list, tuple, dict, set, frozenset})
# Top-level packages whose objects may be lazy, remote or on a device: no __sizeof__ call.
FRAMEWORKS = frozenset(
    {
        "pandas",
        "dask",
        "distributed",
        "polars",
        "pyspark",
        "torch",
        "tensorflow",
        "jax",
        "jaxlib",
        "cupy",
        "modin",
        "vaex",
        "ray",
        "xarray",
        "pyarrow",
    }
)

_type_name = type.__dict__["__name__"].__get__
_type_qualname = type.__dict__["__qualname__"].__get__
_type_module = type.__dict__["__module__"].__get__
_type_basicsize = type.__dict__["__basicsize__"].__get__
_type_mro = type.__dict__["__mro__"].__get__
_type_dict = type.__dict__["__dict__"].__get__


def type_module(t: type) -> str:
    """The module name of a class, read without running a metaclass property."""
    try:
        mod = _type_module(t)
    except Exception:
        return ""
    return mod if type(mod) is str else ""


def type_name(t: type) -> str:
    """``module.QualName`` (builtins without module), read with ``type``'s own descriptors."""
    try:
        qual = _type_qualname(t)
    except Exception:
        qual = None
    if type(qual) is not str:
        try:
            qual = _type_name(t)
        except Exception:
            qual = "?"
    mod = type_module(t)
    if mod in ("", "builtins"):
        return qual
    return f"{mod}.{qual}"


def is_framework_type(t: type) -> bool:
    return type_module(t).partition(".")[0] in FRAMEWORKS


def is_ndarray(t: type) -> bool:
    """numpy's exact ndarray type (by its module and name: no import of numpy)."""
    return type_module(t) == "numpy" and _type_name(t) == "ndarray"


def basicsize(t: type) -> int:
    try:
        return int(_type_basicsize(t))
    except Exception:
        return 0


def sizeof(o: Any) -> int | None:
    """``sys.getsizeof`` where allowed, None when unknown (a raising ``__sizeof__``).

    For framework classes (pandas, torch, dask, ...), whose ``__sizeof__`` may compute or touch a
    device, the instance's basic size only; their data is found by walking referents.
    """
    return _size_and_reader(o, type(o))[0]


def _size_and_reader(o: Any, t: type) -> tuple[int | None, Reader | None]:
    """sizeof, and for pyarrow data the reader of its buffers (one module lookup for both)."""
    if t not in ATOMIC and t not in CONTAINERS:
        module = type_module(t)
        if module.partition(".")[0] in FRAMEWORKS:
            reader = None
            if module == "pyarrow.lib":
                try:
                    reader = _ARROW_READERS[t]
                except KeyError:
                    reader = _ARROW_READERS[t] = reader_for(t, module)
            return basicsize(t), reader
    try:
        return int(sys.getsizeof(o)), None
    except KeyboardInterrupt:
        raise
    except BaseException:
        return None, None


# pyarrow's own classes (never a user's): their buffer readers.
_ARROW_READERS: dict[type, Reader | None] = {}


def shallow_size(o: Any) -> tuple[int | None, bool]:
    """``(size, partial)`` of the object alone: partial when it holds other objects."""
    t = type(o)
    size = sizeof(o)
    return size, t not in ATOMIC


def _children(o: Any, t: type) -> Any:
    # Exact builtin containers are iterated in place: gc.get_referents (or unpacking) would copy
    # every reference first, 100 MB for a list of 12.5M items, counted in the cell's peak.
    if t is list or t is tuple or t is set or t is frozenset:
        return iter(o)
    if t is dict:
        return chain(o.keys(), o.values())  # 3.11's dict traverse skips str keys
    try:
        refs = gc.get_referents(o)
    except Exception:
        return ()
    if is_ndarray(t):
        try:
            base = o.base  # a C getter on the exact ndarray type: a view's data lives there
        except Exception:
            base = None
        if base is not None:
            refs.append(base)
        elif holds_objects(o):
            # An object array (pandas' object and python-storage string columns) holds its items
            # without telling the collector: numpy arrays are not gc-tracked. Its own flat
            # iterator (C) yields them, one at a time.
            return chain(refs, o.flat)
    return refs


_NPY_OBJECT = 17  # numpy's type number of the object dtype (NPY_OBJECT)


def holds_objects(arr: Any) -> bool:
    """An exact ndarray (the caller checked) of the object dtype, read with numpy's C getters."""
    try:
        return arr.dtype.num == _NPY_OBJECT
    except Exception:
        return False


SHARDS = 64
SHARD_MASK = SHARDS - 1
# A walk reads the clock once per this many objects + 1 (a power of two less one): often enough
# to keep a 20 us budget (a dict with its items takes ~0.3 us), rare enough to cost ~1%.
CLOCK_EVERY = 63


class DeepWalk:
    """A deep size walk that can stop at a deadline and go on later (:meth:`step`).

    While suspended it holds references to the objects still to visit: its owner drops it
    (:meth:`drop`) before any user code runs again, so a walk never keeps a value alive across
    a cell. Objects reachable twice count once; classes, modules, functions and code are shared
    infrastructure, never counted; ``unknown`` counts objects whose ``__sizeof__`` raised.
    """

    __slots__ = (
        "buffers",
        "count",
        "max_objects",
        "partial",
        "root_unknown",
        "seen",
        "stack",
        "total",
        "unknown",
    )

    def __init__(self, root: Any, max_objects: int = 1_000_000) -> None:
        # The ids seen, in SHARDS sets: one set of millions of ids would stop the walk for tens
        # of milliseconds each time it grows (a resize copies it whole, past any deadline).
        self.seen: list[set[int]] = [set() for _ in range(SHARDS)]
        self.seen[(id(root) >> 4) & SHARD_MASK].add(id(root))
        self.stack: list[Any] = [root]
        self.buffers: set[int] = set()  # addresses of pyarrow buffers counted (arrow.py)
        self.max_objects = max_objects
        self.total = 0
        self.unknown = 0
        self.count = 0
        self.partial = False  # stopped for good by max_objects, or a container changed size
        self.root_unknown = False

    @property
    def done(self) -> bool:
        return not self.stack

    def drop(self) -> None:
        """Forget what is left to visit (its references): the size stays a lower bound."""
        if self.stack:
            self.partial = True
        self.stack = []
        self.seen = [set() for _ in range(SHARDS)]
        self.buffers = set()

    def step(self, deadline: float | None = None) -> bool:
        """Walk until done or ``deadline`` (a ``time.perf_counter()`` value); True when done.
        A child loop cut by the deadline is taken up again from its parent, whose children
        already counted are skipped by ``seen``."""
        stack, seen, mask = self.stack, self.seen, SHARD_MASK
        clock = time.perf_counter
        tick = 0
        while stack:
            tick += 1
            if tick & CLOCK_EVERY == 0 and deadline is not None and clock() > deadline:
                return False
            o = stack.pop()
            first_visit = self.count == 0
            self.count += 1
            t = type(o)
            children = None
            if t is _Resume:  # a parent whose children were cut short: go on where they stopped
                o, children = o.obj, o.children
                t = type(o)
            else:
                s, arrow = _size_and_reader(o, t)
                if s is None:
                    self.unknown += 1
                    self.root_unknown = self.root_unknown or first_visit
                else:
                    self.total += s
                if arrow is not None:  # pyarrow data: its buffers, no referents to follow
                    try:
                        self.total += arrow(o, self.buffers)
                    except Exception:
                        self.unknown += 1
                    continue
            if t in ATOMIC:
                continue
            try:
                if children is None:
                    children = iter(_children(o, t))
                for c in children:
                    tick += 1
                    if tick & CLOCK_EVERY == 0 and deadline is not None and clock() > deadline:
                        stack.append(_Resume(o, children))  # its other children: next step
                        return False
                    ci = id(c)
                    shard = seen[(ci >> 4) & mask]  # objects are 16-byte aligned
                    if ci in shard:
                        continue
                    ct = type(c)
                    if ct in SKIP:
                        continue
                    shard.add(ci)
                    if ct in ATOMIC:  # leaf: size it here, skip the stack round trip
                        self.count += 1
                        cs = sizeof(c)
                        if cs is None:
                            self.unknown += 1
                        else:
                            self.total += cs
                    else:
                        stack.append(c)
            except RuntimeError:  # another thread resized a dict or set being walked
                self.partial = True
            c = o = children = None
            if self.count >= self.max_objects:
                self.partial = self.partial or bool(stack)
                self.drop()
                return True
        return True

    def result(self) -> dict:
        return {
            "size": None if self.root_unknown else self.total,
            "partial": self.partial or bool(self.stack),
            "unknown": self.unknown,
            "objects": self.count,
        }


class _Resume:
    """On a walk's stack: an object whose children were cut short (not to be sized again) and
    the iterator of the rest of them."""

    __slots__ = ("children", "obj")

    def __init__(self, obj: Any, children: Any) -> None:
        self.obj = obj
        self.children = children


def deep_size(root: Any, deadline: float | None = None, max_objects: int = 1_000_000) -> dict:
    """Deep size of ``root``: ``{"size", "partial", "unknown", "objects"}`` (see
    :class:`DeepWalk`); ``partial`` when cut by ``deadline`` (a ``time.perf_counter()`` value)
    or ``max_objects``."""
    if type(root) in SKIP:  # a function or class: its own size, not its module's globals
        size = sizeof(root)
        return {"size": size, "partial": False, "unknown": int(size is None), "objects": 1}
    walk = DeepWalk(root, max_objects)
    walk.step(deadline)
    result = walk.result()
    walk.drop()
    return result


def resize_base(t: type) -> int | None:
    """getsizeof of an empty instance of a builtin container type (its size without a buffer)."""
    return _EMPTY_SIZE.get(t)


_EMPTY_SIZE: dict[type, int] = {t: sys.getsizeof(t()) for t in (list, dict, set, bytearray)}
