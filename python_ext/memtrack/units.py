"""How a number of bytes reads in text (the kernel's summaries, reports and leak reasons; the
sidebar formats its own with the byteUnits setting)."""

from __future__ import annotations


def format_bytes(n: int | None, signed: bool = False) -> str:
    """Bytes in base-10 units: ``50.0 MB``; ``+50.0 MB`` when ``signed``; ``?`` for None."""
    if n is None:
        return "?"
    sign = ""
    if signed:
        sign = "+" if n >= 0 else "-"
    elif n < 0:
        sign = "-"
    value = float(abs(n))
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            if unit == "B":
                return f"{sign}{int(value)} B"
            return f"{sign}{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover
