"""Suspects as records carry them: small JSON-safe dicts (the ``leaks`` items of a record),
built by :func:`suspect`, fitted into the record's 2 KB by :func:`fit_leaks` and written out for
``%memtrack leaks`` by :func:`format_suspects`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..units import format_bytes
from .config import HISTORY_MAX

LEAKS_MAX_BYTES = 1100  # JSON of one record's leaks: the record stays within 2 KB
REASON_MAX = 200


def suspect(
    name: str,
    kind: str,
    size: int | None,
    reason: str,
    cells: Iterable[int | None] = (),
    growth: int | None = None,
    history: list[int] | None = None,
    partial: bool = False,
) -> dict[str, Any]:
    """One suspect: ``name`` as the user would type it, its ``kind``, the bytes it keeps, why (cut
    to ``REASON_MAX``) and the cells involved (the last ``HISTORY_MAX``)."""
    s: dict[str, Any] = {"name": name[:80], "kind": kind, "size": int(size or 0)}
    if growth is not None:
        s["growth"] = int(growth)
    if len(reason) > REASON_MAX:
        reason = reason[: REASON_MAX - 1] + "\u2026"
    s["reason"] = reason
    s["cells"] = [int(c) for c in cells if type(c) is int][-HISTORY_MAX:]
    if history:
        s["history"] = [int(h) for h in history]
    if partial:
        s["partial"] = True
    return s


def fit_leaks(suspects: list[dict[str, Any]], limit: int = LEAKS_MAX_BYTES) -> list[dict[str, Any]]:
    """Drop the smallest suspects (the list is sorted largest first) until the JSON fits."""
    if not suspects:
        return []

    def size(items: list[dict[str, Any]]) -> int:
        return len(json.dumps(items, separators=(",", ":"), ensure_ascii=False).encode())

    out = list(suspects)
    if size(out) <= limit:
        return out
    for s in out:  # first shed the optional detail
        s.pop("chain", None)
        if len(s.get("history") or ()) > 4:
            s["history"] = s["history"][-4:]
    while out and size(out) > limit:
        if len(out) == 1:
            s = out[0]
            s["reason"] = s["reason"][:100]
            break
        out.pop()
    return out


def format_suspects(suspects: list[dict[str, Any]], partial: bool = False) -> str:
    if not suspects:
        text = "memtrack: no leak suspects"
    else:
        lines = [f"memtrack: {len(suspects)} leak suspect(s), largest first"]
        for s in suspects:
            growth = f", +{format_bytes(s['growth'])}" if s.get("growth") else ""
            kind = f"{s['kind']}, watching" if s.get("watching") else s["kind"]
            lines.append(
                f"  {s['name']} [{kind}] {format_bytes(s.get('size'))}{growth}: {s['reason']}"
            )
            if s.get("history"):
                lines.append("    sizes: " + " -> ".join(format_bytes(h) for h in s["history"]))
        text = "\n".join(lines)
    if partial:
        text += "\n  (analysis cut by its time budget: more may exist)"
    return text
