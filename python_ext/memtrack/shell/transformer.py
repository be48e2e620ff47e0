"""The input transformer that turns a top-level ``%%memtrack [options]`` cell into its body, which
IPython then transforms and runs exactly as it would run the body typed alone (same ``Out``/``_``,
exceptions, traceback line numbers, top-level ``await``, Ctrl-C, automagics and aliases), leaving
a pending note for ``pre_run_cell`` (see :mod:`memtrack.shell.tracker`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .lifecycle import warn
from .magics import parse_cell_options

_FIRST_LINE = re.compile(r"^%%memtrack(?:[ \t]+(?P<args>[^\r\n]*))?[ \t]*\r?\n?$")


@dataclass
class PendingCell:
    """A ``%%memtrack`` cell the transformer rewrote, waiting for its ``pre_run_cell``."""

    first_line: str
    opts: dict[str, Any]
    # Added to the body's compiled line numbers to number the record's lines as in the notebook
    # cell: the magic's line and the blank lines IPython strips before the body.
    line_offset: int = 1


def first_code_line(raw_cell: str) -> str:
    for line in raw_cell.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _blank(line: str) -> bool:
    return not line or line.isspace()


@dataclass
class CellMagicTransformer:
    """Put first in ``shell.input_transformers_cleanup`` (a callable object: it needs the
    ``has_side_effects`` attribute), so that every other transform, IPython's cleanup
    (leading blank lines, common indentation, prompts) included, sees the body as if it were the
    whole cell, and IPython's single-line dynamic transforms (automagic, aliases, autocall) apply
    to a one-line body as they would to the body alone. ``busy()`` is true while another
    cell executes: a nested transform (``run_cell`` inside a cell) reaches the registered cell
    magic instead."""

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
        first = 0
        while first < len(lines) and _blank(lines[first]):
            first += 1  # IPython would strip them before finding a cell magic
        if first == len(lines):
            return lines
        match = _FIRST_LINE.match(lines[first])
        if match is None or self.busy():
            return lines
        try:
            opts = parse_cell_options(match.group("args") or "")
        except Exception:
            return lines  # the real cell magic will run and raise the UsageError
        body = lines[first + 1 :]
        offset = first + 1
        while offset - first - 1 < len(body) and _blank(body[offset - first - 1]):
            offset += 1  # IPython's leading_empty_lines strips them from the body
        self.pending = PendingCell(lines[first].strip(), opts, offset)
        return body
