"""The input transformer that turns a top-level ``%%memtrack [options]`` cell into a plain cell
IPython runs natively (same ``Out``/``_``, exceptions, tracebacks, top-level ``await``, Ctrl-C),
leaving a pending note for ``pre_run_cell`` (see :mod:`memtrack.shell.tracker`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .lifecycle import warn
from .magics import parse_cell_options

_FIRST_LINE = re.compile(r"^%%memtrack(?:[ \t]+(?P<args>[^\r\n]*))?[ \t]*\r?\n?$")
_INDENT = re.compile(r"^[ \t]+")


@dataclass
class PendingCell:
    """A ``%%memtrack`` cell the transformer rewrote, waiting for its ``pre_run_cell``."""

    first_line: str
    opts: dict[str, Any]
    line_offset: int = 0  # added to compiled line numbers to get the notebook cell's


def first_code_line(raw_cell: str) -> str:
    for line in raw_cell.splitlines():
        if line.strip():
            return line.strip()
    return ""


@dataclass
class CellMagicTransformer:
    """Appended to ``shell.input_transformers_cleanup`` (a callable object: it needs the
    ``has_side_effects`` attribute). ``busy()`` is true while a cell executes: a nested
    transform (``run_cell`` inside a cell) reaches the registered cell magic instead."""

    busy: Callable[[], bool]
    pending: PendingCell | None = None
    # check_complete() skips transformers with side effects: completeness checks must not arm.
    has_side_effects: bool = field(default=True, init=False)

    def __call__(self, lines: list[str]) -> list[str]:
        try:
            return self.transform(lines)
        except Exception as e:
            warn("input transformer failed", e)
            return lines

    def take(self) -> PendingCell | None:
        """The pending note, forgotten (each cell takes it once)."""
        pending, self.pending = self.pending, None
        return pending

    def transform(self, lines: list[str]) -> list[str]:
        if not lines or self.busy():
            return lines
        match = _FIRST_LINE.match(lines[0])
        if match is None:
            return lines
        try:
            opts = parse_cell_options(match.group("args") or "")
        except Exception:
            return lines  # the real cell magic will run and raise the UsageError
        self.pending = PendingCell(lines[0].strip(), opts)
        body = lines[1:]
        if body and body[0].startswith("%%"):
            self.pending.line_offset = 1
            return body  # a cell magic must stay on line 1 (e.g. %%time)
        if body:
            # Like IPython's leading_indent (which saw the %%memtrack line, not the body).
            m = _INDENT.match(body[0])
            if m:
                space = m.group(0)
                body = [ln[len(space) :] if ln.startswith(space) else ln for ln in body]
        return ["\n", *body]
