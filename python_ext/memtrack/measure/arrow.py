"""Sizes of pyarrow data (pandas' arrow-backed columns, tables) from their buffers.

pyarrow keeps its data in C++ buffers the garbage collector never sees, so a deep walk that
follows referents finds a 56-byte wrapper for a 100 MB column. Here the buffers are reached
through pyarrow's own C getters, taken from its exact classes (a subclass's override is never
called), and counted by address, once per walk: a slice, a column shared by two tables or a
chunk seen twice adds nothing. That is the memory held: a slice counts its whole buffers,
where pyarrow's ``nbytes`` (and pandas' ``memory_usage``) count its range.

The wrappers pyarrow hands out (chunks, columns, buffers) are new objects at each call and die
at once, so they never go into a walk's seen-ids (a freed wrapper's id is soon reused). pyarrow
is never imported here: only read when the user has imported it. Buffers off the CPU (CUDA)
are not host memory and are not counted. A Python subclass of a pyarrow class (an extension
type's array class) is a user class: it is sized by its ``__sizeof__``, like any other.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

# An arrow value's reader: (value, addresses seen) -> bytes of buffers not seen before.
Reader = Callable[[Any, set[int]], int]


class _Getters:
    """pyarrow's C getters, from its classes (read once pyarrow.lib is imported)."""

    def __init__(self, lib: Any) -> None:
        self.array = lib.Array
        self.buffers = lib.Array.buffers
        self.dictionary_array = lib.DictionaryArray
        self.dictionary = lib.DictionaryArray.dictionary.__get__
        self.chunks = lib.ChunkedArray.chunks.__get__
        self.table_columns = lib.Table.columns.__get__
        self.batch_columns = lib.RecordBatch.columns.__get__
        self.address = lib.Buffer.address.__get__
        self.size = lib.Buffer.size.__get__
        self.is_cpu = lib.Buffer.is_cpu.__get__
        self.classes = {
            "Array": lib.Array,
            "ChunkedArray": lib.ChunkedArray,
            "Table": lib.Table,
            "RecordBatch": lib.RecordBatch,
            "Buffer": lib.Buffer,
        }


_getters: _Getters | None = None


def _lib_getters() -> _Getters | None:
    global _getters
    if _getters is None:
        lib = sys.modules.get("pyarrow.lib")
        if lib is None:
            return None
        try:
            _getters = _Getters(lib)
        except Exception:  # a pyarrow without these getters: its values stay wrapper-sized
            return None
    return _getters


def _buffer_bytes(g: _Getters, buffer: Any, seen: set[int]) -> int:
    if buffer is None or not g.is_cpu(buffer):
        return 0
    address = g.address(buffer)
    if address in seen:
        return 0
    seen.add(address)
    return int(g.size(buffer))


def _array_bytes(g: _Getters, array: Any, seen: set[int]) -> int:
    # buffers() lists a nested array's children's buffers too, not a dictionary's.
    total = sum(_buffer_bytes(g, b, seen) for b in g.buffers(array))
    if type(array) is g.dictionary_array:
        total += _array_bytes(g, g.dictionary(array), seen)
    return total


def _chunked_bytes(g: _Getters, chunked: Any, seen: set[int]) -> int:
    return sum(_array_bytes(g, chunk, seen) for chunk in g.chunks(chunked))


def reader_for(t: type, module: str) -> Reader | None:
    """The reader for values of class ``t`` (of module ``module``), None if not pyarrow data."""
    if module != "pyarrow.lib":
        return None
    g = _lib_getters()
    if g is None:
        return None
    try:
        mro = type.__dict__["__mro__"].__get__(t)
    except Exception:
        return None
    classes = g.classes
    if classes["Array"] in mro:
        return lambda o, seen: _array_bytes(g, o, seen)
    if classes["ChunkedArray"] in mro:
        return lambda o, seen: _chunked_bytes(g, o, seen)
    if classes["Table"] in mro:
        return lambda o, seen: sum(_chunked_bytes(g, c, seen) for c in g.table_columns(o))
    if classes["RecordBatch"] in mro:
        return lambda o, seen: sum(_array_bytes(g, c, seen) for c in g.batch_columns(o))
    if classes["Buffer"] in mro:
        return lambda o, seen: _buffer_bytes(g, o, seen)
    return None
