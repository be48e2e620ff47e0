"""Why a value is alive: the shortest referrer chain from a namespace root.

``%memtrack leaks --why NAME``, :func:`memtrack.why` and the sidebar's "why" ask
:func:`why_alive`: a breadth-first search over C-level referents (no user code runs) from the
user namespace, ``Out``, the last traceback's frames and module globals, within a time budget.
Also the frames of the kept tracebacks and the locals they keep alive (used by the traceback
watcher, :mod:`.last_traceback`, and by the release of the last traceback). Pure: no IPython
import.
"""

from __future__ import annotations

import gc
import re
import sys
import time
import types
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from ..measure.sizes import ATOMIC, SKIP, type_name
from .roots import BUDGET_REQUEST_S, Roots, estimate_size, user_name

# Frames of these packages are the machinery around a cell, not the user's functions.
_INFRA_MODULES = ("IPython", "ipykernel", "asyncio", "memtrack", "tornado", "zmq", "traitlets")
# Objects a search visits at most, besides its time budget: bounds the tracker's own memory
# (the search keeps every object it visited until it returns).
MAX_NODES = 500_000


def step_label(t: type, key: Any) -> str:
    """One step into a container as a chain shows it: ``[3]``, ``['key']``, ``{…}`` (sets)."""
    if t is set or t is frozenset:
        return "{…}"
    if type(key) in (int, str):
        text = repr(key)
        if len(text) > 40:
            text = text[:39] + "\u2026"
        return f"[{text}]"
    return "[…]"


def _infra_frame(frame: Any) -> bool:
    g = frame.f_globals
    name = g.get("__name__") if type(g) is dict else None
    if type(name) is not str:
        return False
    return name.partition(".")[0] in _INFRA_MODULES


def _frame_name(frame: Any) -> str:
    code = frame.f_code
    name = getattr(code, "co_qualname", code.co_name)
    return f"{name}()"


def iter_frames(heads: list[Any], limit: int = 200) -> list[Any]:
    """The frames of tracebacks (each once, outermost first)."""
    frames, seen = [], set()
    for tb in heads:
        while type(tb) is types.TracebackType and len(frames) < limit:
            f = tb.tb_frame
            if id(f) not in seen:
                seen.add(id(f))
                frames.append(f)
            tb = tb.tb_next
    return frames


def traceback_locals(
    heads: list[Any], named_ids: Any, deadline: float, quick: bool = False
) -> list[tuple[str, str, Any, int | None]]:
    """``(frame, local name, value, size)`` of the user functions' locals that the tracebacks
    keep alive and no variable names (values held until the caller drops the list)."""
    rows: list[tuple[str, str, Any, int | None]] = []
    seen: set[int] = set()
    for frame in iter_frames(heads):
        if frame.f_code.co_name == "<module>" or _infra_frame(frame):
            continue
        try:
            local_items = list(frame.f_locals.items())
        except Exception:
            continue
        desc = _frame_name(frame)
        for local, value in local_items:
            oid = id(value)
            t = type(value)
            if oid in named_ids or oid in seen or t in SKIP:
                continue
            seen.add(oid)
            size, _ = estimate_size(value, deadline, 0.003, quick)
            rows.append((desc, str(local), value, size))
        local_items = []
    return rows


# --------------------------------------------------------------------------- why alive


class DeletedValues(Protocol):
    """What :func:`why` asks of the leak detector about a name that is gone: the id and type
    name its value had (a protocol, so that this module needs no import of the detector)."""

    def deleted_value(self, name: str) -> tuple[int, str] | None: ...


def _label(parent: Any, child: Any) -> str:
    t = type(parent)
    tn = type_name(t)
    try:
        if t is dict:
            for k, v in parent.items():
                if v is child:
                    return f"{tn}{step_label(dict, k)}"
            return f"{tn} key"
        if t is list or t is tuple:
            for i, v in enumerate(parent):
                if v is child:
                    return f"{tn}[{i}]"
        if t is types.FrameType:
            for k, v in parent.f_locals.items():
                if v is child:
                    return f"frame {_frame_name(parent)} local {k!r}"
    except Exception:
        pass
    return tn


def find_chain(
    roots: Roots,
    match: Callable[[Any], bool],
    budget_s: float = BUDGET_REQUEST_S,
    skip_names: Iterable[str] = (),
    max_nodes: int = MAX_NODES,
    stats: dict[str, Any] | None = None,
) -> list[str] | None:
    """Shortest referrer chain from a namespace root to the first object ``match`` accepts:
    breadth first over C-level referents from the user namespace, ``Out``, the last traceback's
    frames and module globals, within ``budget_s``. Items read like ``user_ns['cache']``,
    ``list[3]``, ``dict['key']``, ``frame f() local 'x'``. None when not found in time
    (``stats["cut"]`` then says which bound ended it: ``"time"`` or ``"nodes"``) or not found
    at all."""
    deadline = time.perf_counter() + budget_s
    skip = set(skip_names)
    parents: dict[int, int | str] = {}  # id -> parent's id, or a root's label
    keep: dict[int, Any] = {}  # every object visited (dropped on return)
    frontier: list[Any] = []

    def add_root(label: str, value: Any) -> bool:
        if id(value) in parents or type(value) in SKIP:
            return False
        parents[id(value)] = label
        keep[id(value)] = value
        frontier.append(value)
        return bool(match(value))

    def chain_of(obj: Any) -> list[str]:
        items = []
        cur = obj
        while True:
            parent = parents[id(cur)]
            if type(parent) is str:
                items.append(parent)
                break
            pobj = keep[parent]
            items.append(_label(pobj, cur))
            cur = pobj
        items.reverse()
        return items if len(items) <= 12 else [*items[:6], "\u2026", *items[-5:]]

    # The namespaces themselves and IPython's objects are entered only through the roots above.
    for holder in (roots.ns, roots.out, roots.hidden, roots.shell, roots.displayhook):
        if holder is not None:
            parents[id(holder)] = "root"
    try:
        for name, value in list(roots.ns.items()):
            if user_name(name) and name not in skip and add_root(f"user_ns[{name!r}]", value):
                return chain_of(value)
        for n, value in list((roots.out or {}).items()):
            if add_root(f"Out[{n}]", value):
                return chain_of(value)
        for frame in iter_frames(roots.traceback_heads()):
            if frame.f_code.co_name == "<module>" or _infra_frame(frame):
                continue
            for local, value in list(frame.f_locals.items()):
                label = f"sys.last_traceback frame {_frame_name(frame)} local {local!r}"
                if add_root(label, value):
                    return chain_of(value)
        for mod_name, mod in list(sys.modules.items()):
            if type(mod) is not types.ModuleType or mod_name.partition(".")[0] in _INFRA_MODULES:
                continue
            d = mod.__dict__
            if type(d) is dict and id(d) not in parents and d is not roots.ns:
                parents[id(d)] = f"sys.modules[{mod_name!r}].__dict__"
                keep[id(d)] = d
                frontier.append(d)
        nodes = 0
        while frontier:
            nxt = []
            for o in frontier:
                t = type(o)
                if t in ATOMIC:
                    continue
                try:
                    refs = list(o.values()) if t is dict else gc.get_referents(o)
                except Exception:
                    continue
                for r in refs:
                    nodes += 1
                    if nodes & 255 == 0 and (nodes > max_nodes or time.perf_counter() > deadline):
                        if stats is not None:
                            stats["cut"] = "nodes" if nodes > max_nodes else "time"
                        return None
                    rid = id(r)
                    if rid in parents:
                        continue
                    rt = type(r)
                    if rt in SKIP and rt is not types.FrameType:
                        continue
                    parents[rid] = id(o)
                    if match(r):
                        return chain_of(r)
                    if rt not in ATOMIC:
                        keep[rid] = r
                        nxt.append(r)
            frontier = nxt
        return None
    finally:
        keep.clear()
        parents.clear()
        frontier = []


def why(
    roots: Roots,
    target: str,
    detector: DeletedValues | None = None,
    budget_s: float = BUDGET_REQUEST_S,
) -> tuple[list[str] | None, str]:
    """``(chain, text)``: why the value ``target`` names is alive. ``target`` is a variable
    (what else holds its value besides that name), ``Out[N]``/``_N``, ``sys.last_traceback``, or
    a deleted name memtrack still knows as a suspect."""
    chain, text, _status = why_alive(roots, target, detector, budget_s)
    return chain, text


def why_alive(
    roots: Roots,
    target: str,
    detector: DeletedValues | None = None,
    budget_s: float = BUDGET_REQUEST_S,
    max_nodes: int = MAX_NODES,
) -> tuple[list[str] | None, str, str]:
    """:func:`why` with a status for the sidebar: ``found``, ``timeout`` (the search ran out of
    its budget of time or of objects visited), ``not-found`` (searched every root, no holder) or
    ``gone`` (no such value)."""
    target = target.strip()
    m = re.fullmatch(r"(?:Out\[(\d+)\]|_(\d+))", target)
    if m:
        n = int(m.group(1) or m.group(2))
        if roots.out is None or n not in roots.out:
            return None, f"Out[{n}] is not in the output history", "gone"
        chain = ["user_ns['Out']", f"dict[{n}]"]
        text = f"Out[{n}] is held by IPython's output history: " + " -> ".join(chain)
        return chain, text, "found"
    if target in ("sys.last_traceback", "traceback"):
        frames = [f for f in iter_frames(roots.traceback_heads()) if not _infra_frame(f)]
        if not frames:
            return None, "no traceback is kept", "gone"
        chain = ["sys.last_traceback", *(f"frame {_frame_name(f)}" for f in frames[:5])]
        return chain, " -> ".join(chain), "found"
    ns = roots.ns
    if target in ns:
        value = ns[target]
        oid, tname = id(value), type_name(type(value))
        value = None
        skip = [target]
    else:
        obs = detector.deleted_value(target) if detector is not None else None
        if obs is None:
            return None, f"{target!r} is neither a variable nor a suspect memtrack knows", "gone"
        oid, tname = obs
        skip = []

    def match(o: Any) -> bool:
        return id(o) == oid and type_name(type(o)) == tname

    stats: dict[str, Any] = {}
    chain = find_chain(
        roots, match, budget_s=budget_s, skip_names=skip, max_nodes=max_nodes, stats=stats
    )
    if chain is not None:
        return chain, f"`{target}` is alive through: " + " -> ".join(chain), "found"
    cut = stats.get("cut")
    # Say which bound ended the search: a heap with torch or dask in it can exhaust the object
    # count long before the time budget, and "within 5000 ms" would then be untrue.
    bound = f"among {max_nodes:,} objects" if cut == "nodes" else f"within {budget_s * 1000:.0f} ms"
    if skip:
        name_only = [f"user_ns[{target!r}]"]
        if cut:
            text = (
                f"`{target}` is held only by its name, user_ns[{target!r}] (nothing else found "
                f"{bound})"
            )
            return name_only, text, "timeout"
        text = f"`{target}` is held only by its name, user_ns[{target!r}]"
        return name_only, text, "found"
    if cut:
        return None, f"no holder found {bound}", "timeout"
    return None, "no holder found from the namespaces memtrack searches", "not-found"
