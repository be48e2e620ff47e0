"""GPU bytes that a value keeps alive through torch tensors (for leak suspects: a traceback or
an ``Out`` entry holding CUDA tensors is the classic way a "deleted" model stays on the GPU).

Only when the user's torch has CUDA initialised (before that no tensor can be on a GPU: 0 at
the cost of two lookups and a flag). Only exact ``torch.Tensor`` and ``torch.nn.Parameter``
objects are asked anything, through C-level getters (``device``, ``untyped_storage``): a
subclass could run Python code on any attribute. Builtin containers are looked into, a bounded
number of items; each storage is counted once (by its data pointer). Pure: no IPython import.
"""

from __future__ import annotations

import sys
from typing import Any

ITEMS_MAX = 10_000  # objects looked at per value
DEVICE_TYPES = frozenset({"cuda"})  # where a tensor's data is GPU memory (the tests widen it)


def _tensor_types() -> tuple[type, ...] | None:
    cuda = sys.modules.get("torch.cuda")
    torch = sys.modules.get("torch")
    if cuda is None or torch is None or not cuda.is_initialized():
        return None
    types = [torch.Tensor]
    parameter = sys.modules.get("torch.nn.parameter")
    if parameter is not None and isinstance(getattr(parameter, "Parameter", None), type):
        types.append(parameter.Parameter)
    return tuple(types)


def device_bytes(value: Any, items_max: int = ITEMS_MAX, counted: set[int] | None = None) -> int:
    """Bytes of GPU storage held by the torch tensors in ``value`` (itself, or inside builtin
    lists, tuples, dicts and sets). ``counted``: data pointers of storages already counted
    (shared by the calls for several values: a view and its base count once). Never raises."""
    exact = _tensor_types()
    if exact is None:
        return 0
    try:
        return _walk(value, exact, items_max, set() if counted is None else counted)
    except Exception:
        return 0


def _walk(value: Any, exact: tuple[type, ...], items_max: int, counted: set[int]) -> int:
    base = exact[0].__mro__[1]  # torch._C.TensorBase: its C getters, whatever the class
    device_of = base.__dict__["device"].__get__
    storage_of = base.__dict__["untyped_storage"]
    total = 0
    stack, looked = [value], 0
    while stack and looked < items_max:
        o = stack.pop()
        looked += 1
        t = type(o)
        if t in exact:
            if device_of(o).type in DEVICE_TYPES:
                storage = storage_of(o)
                pointer = storage.data_ptr()
                if pointer not in counted:
                    counted.add(pointer)
                    total += int(storage.nbytes())
        elif t is list or t is tuple:
            stack.extend(o[: items_max - looked])
        elif t is dict:
            stack.extend(list(o.values())[: items_max - looked])
        elif t is set or t is frozenset:
            stack.extend(list(o)[: items_max - looked])
    return total
