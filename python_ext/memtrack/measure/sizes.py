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


def _is_ndarray(t: type) -> bool:
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
    t = type(o)
    if t not in ATOMIC and t not in CONTAINERS and is_framework_type(t):
        return basicsize(t)
    try:
        return int(sys.getsizeof(o))
    except KeyboardInterrupt:
        raise
    except BaseException:
        return None


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
    if _is_ndarray(t):
        try:
            base = o.base  # a C getter on the exact ndarray type: a view's data lives there
        except Exception:
            base = None
        if base is not None:
            refs.append(base)
    return refs


def deep_size(root: Any, deadline: float | None = None, max_objects: int = 1_000_000) -> dict:
    """Deep size of ``root``: ``{"size", "partial", "unknown", "objects"}``.

    ``partial`` when cut by ``deadline`` (a ``time.perf_counter()`` value) or ``max_objects``;
    ``unknown`` counts objects whose ``__sizeof__`` raised (not added). Objects reachable twice
    count once; classes, modules, functions and code are shared infrastructure, never counted.
    """
    if type(root) in SKIP:  # a function or class: its own size, not its module's globals
        size = sizeof(root)
        return {"size": size, "partial": False, "unknown": int(size is None), "objects": 1}
    seen = {id(root)}
    stack = [root]
    root_unknown = False
    total = 0
    unknown = 0
    partial = False
    count = 0
    clock = time.perf_counter
    tick = 0
    while stack:
        o = stack.pop()
        count += 1
        s = sizeof(o)
        if s is None:
            unknown += 1
            root_unknown = root_unknown or count == 1
        else:
            total += s
        t = type(o)
        if t in ATOMIC:
            continue
        try:
            for c in _children(o, t):
                tick += 1
                if tick & 255 == 0 and deadline is not None and clock() > deadline:
                    partial = True
                    stack.clear()
                    break
                ci = id(c)
                if ci in seen:
                    continue
                ct = type(c)
                if ct in SKIP:
                    continue
                seen.add(ci)
                if ct in ATOMIC:  # leaf: size it here, skip the stack round trip
                    count += 1
                    cs = sizeof(c)
                    if cs is None:
                        unknown += 1
                    else:
                        total += cs
                else:
                    stack.append(c)
        except RuntimeError:  # another thread resized a dict or set being walked
            partial = True
        c = None
        if count >= max_objects:
            partial = bool(stack) or partial
            break
    return {
        "size": None if root_unknown else total,
        "partial": partial,
        "unknown": unknown,
        "objects": count,
    }


def resize_base(t: type) -> int | None:
    """getsizeof of an empty instance of a builtin container type (its size without a buffer)."""
    return _EMPTY_SIZE.get(t)


_EMPTY_SIZE: dict[type, int] = {t: sys.getsizeof(t()) for t in (list, dict, set, bytearray)}
