"""``%%memtrack`` and ``%memtrack``: the user-facing magics.

The magics only parse arguments and hand over to the tracker (``memtrack.tracker``). A
``%%memtrack`` cell run from a notebook or the terminal normally never reaches the cell magic
below: the tracker takes the ``%%memtrack`` line off the cell so IPython runs the body natively
(results, tracebacks, top-level ``await`` and Ctrl-C behave exactly as without the magic). The
cell magic is the fallback for the other ways of calling it (inside ``%%time``,
``get_ipython().run_cell_magic(...)``, silent executions).
"""

from __future__ import annotations

import argparse
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    cell_magic,
    line_magic,
    magics_class,
    no_var_expand,
)
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

LINE_ACTIONS = ("on", "off", "status", "reset")


def _cell_options(line: str) -> argparse.Namespace:
    return parse_argstring(MemtrackMagics.memtrack_cell, line)


def _unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word


def parse_cell_options(line: str) -> dict[str, Any]:
    """Parse the options of a ``%%memtrack`` line; raises UsageError like the magic does."""
    opts = _cell_options(line)
    # IPython splits magic arguments without removing quotes: --label 'load data' -> one token
    # "'load data'"; unquote each token so quoted and unquoted labels read the same.
    words = [_unquote(w) for w in opts.label or ()]
    label = " ".join(words) if words else None
    return {"label": label, "quiet": bool(opts.quiet)}


@magics_class
class MemtrackMagics(Magics):
    """Magics of jupyterlab-memtrack."""

    def __init__(self, shell: Any, tracker: Any) -> None:
        super().__init__(shell)
        self.tracker = tracker

    @no_var_expand
    @magic_arguments("%memtrack")  # usage line: %%memtrack ...
    @argument(
        "--label",
        "-l",
        nargs="+",
        metavar="TEXT",
        help="Name of this cell in the history and the sidebar (quotes optional).",
    )
    @argument(
        "--quiet",
        "-q",
        action="store_true",
        help="Print no summary line, even when no frontend is attached.",
    )
    @cell_magic("memtrack")
    def memtrack_cell(self, line: str, cell: str) -> Any:
        """Measure the memory of one cell (deep mode).

        Records the RSS before/after and its peak during the cell, the net change and the peak
        of the memory Python allocated (tracemalloc), and garbage-collector activity. The record
        goes to the JupyterLab sidebar when it is open, otherwise a one-line summary is printed.
        The cell runs exactly as it would without the magic: same result in ``Out``/``_``, same
        exceptions and tracebacks, top-level ``await`` works.

        tracemalloc is turned on for the cell only (and off again after), unless it is already
        running, in which case that session is reused untouched.

        Example::

            %%memtrack --label load data
            df = load()
        """
        opts = parse_cell_options(line)
        return self.tracker.run_cell_fallback(cell, label=opts["label"], quiet=opts["quiet"])

    @magic_arguments("memtrack")
    @argument(
        "action",
        nargs="?",
        default="status",
        help="on: track every cell (light: RSS, peak, time); off: stop; "
        "status: show the mode and the number of records; reset: clear the history.",
    )
    @argument(
        "--deep",
        action="store_true",
        help="With 'on': track every cell in deep mode (tracemalloc stays on; slower).",
    )
    @line_magic("memtrack")
    def memtrack_line(self, line: str) -> None:
        """Control memory tracking of every cell: ``%memtrack on|off|status|reset``.

        ``%memtrack on`` records every following cell (light mode: RSS before/after, peak RSS,
        duration, gc activity). ``%memtrack on --deep`` also keeps tracemalloc on for every cell.
        ``%memtrack off`` stops, ``%memtrack status`` shows what is going on, ``%memtrack reset``
        clears the history (also in the sidebar). Use ``%%memtrack`` to measure one cell deeply.
        """
        opts = parse_argstring(self.memtrack_line, line)
        action = opts.action
        if action not in LINE_ACTIONS:
            raise UsageError(
                f"unknown %memtrack subcommand {action!r}; use one of: {', '.join(LINE_ACTIONS)}"
            )
        if opts.deep and action != "on":
            raise UsageError("--deep only goes with '%memtrack on'")
        tracker = self.tracker
        if action == "on":
            tracker.start(deep=opts.deep)
            print(f"memtrack: tracking every cell ({tracker.mode} mode)")
        elif action == "off":
            tracker.stop()
            print("memtrack: tracking of every cell is off (%%memtrack still works)")
        elif action == "reset":
            tracker.reset()
            print("memtrack: history cleared")
        else:
            print(tracker.status_line())
