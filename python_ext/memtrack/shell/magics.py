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

LINE_ACTIONS = ("on", "off", "status", "report", "reset", "leaks", "release", "export", "guard")
TOP_MAX = 50


def _cell_options(line: str) -> argparse.Namespace:
    return parse_argstring(MemtrackMagics.memtrack_cell, line)


def _unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "'\"":
        return word[1:-1]
    return word


# Parsed ``%%memtrack`` lines (argparse costs 20-100 us, paid inside the measured cell): a
# re-run cell parses nothing. Bounded; only valid lines are kept.
_PARSED: dict[str, dict[str, Any]] = {}
PARSED_CACHE_MAX = 256


def parse_cell_options(line: str) -> dict[str, Any]:
    """Parse the options of a ``%%memtrack`` line; raises UsageError like the magic does."""
    cached = _PARSED.get(line)
    if cached is None:
        cached = _parse_cell_options(line)
        if len(_PARSED) >= PARSED_CACHE_MAX:
            _PARSED.clear()
        _PARSED[line] = cached
    return dict(cached)  # a copy: callers may change theirs


def _parse_cell_options(line: str) -> dict[str, Any]:
    opts = _cell_options(line)
    # IPython splits magic arguments without removing quotes: --label 'load data' -> one token
    # "'load data'"; unquote each token so quoted and unquoted labels read the same.
    words = [_unquote(w) for w in opts.label or ()]
    label = " ".join(words) if words else None
    top = opts.top
    if top is None:
        top = 5
    else:
        try:
            top = int(_unquote(top))
        except ValueError:
            raise UsageError(f"--top N: N must be a whole number, got {top!r}") from None
        if not 1 <= top <= TOP_MAX:
            raise UsageError(f"--top N: N must be between 1 and {TOP_MAX}, got {top}")
    return {
        "label": label,
        "quiet": bool(opts.quiet),
        "top": top,
        "lines": not opts.no_lines,
        "types": not opts.no_types,
        "vars": not opts.no_vars,
    }


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
        "--top",
        "-n",
        metavar="N",
        help="Rows kept in the line, type and variable tables (1-50; default 5).",
    )
    @argument(
        "--no-lines",
        action="store_true",
        help="No line table (memory change per top-level statement of the cell).",
    )
    @argument(
        "--no-types",
        action="store_true",
        help="No object counts by type (they pause full gc collections' view for the cell).",
    )
    @argument(
        "--no-vars",
        action="store_true",
        help="No table of the variables the cell created, rebound, resized or deleted.",
    )
    @argument(
        "--quiet",
        "-q",
        action="store_true",
        help="Show no summary, even when no frontend is attached.",
    )
    @cell_magic("memtrack")
    def memtrack_cell(self, line: str, cell: str) -> Any:
        """Measure the memory of one cell (deep mode).

        Records the RSS before/after and its peak during the cell, the net change and the peak
        of the memory Python allocated (the native engine, or tracemalloc), a line table (net
        change per top-level statement, including what the functions it calls allocate; a loop
        counts as its first line), object counts by type (objects the cell created and kept),
        the variables it created, rebound, resized or deleted (deep sizes, within a time
        budget), and garbage-collector activity. The record goes to the JupyterLab sidebar when
        it is open, otherwise a short summary is shown. The cell runs exactly as it would
        without the magic: same result in ``Out``/``_``, same exceptions and tracebacks,
        top-level ``await`` works. No user code runs while measuring (``__sizeof__`` aside).

        The allocation engine counts for the cell only (and stops after: no tax on later
        cells): memtrack's native hooks where built (``traced_engine: native``), tracemalloc
        otherwise or when ``MEMTRACK_ENGINE=tracemalloc``; a tracemalloc session already
        running is reused untouched. Frees of values older than the cell are then estimated
        from the values it unbinds (``traced_delta_method``: ``cell+freed-estimate``;
        ``continuous`` when reused).

        Example::

            %%memtrack --label load data
            df = load()
        """
        opts = parse_cell_options(line)
        return self.tracker.run_cell_fallback(
            cell, label=opts["label"], quiet=opts["quiet"], opts=opts
        )

    @magic_arguments("memtrack")
    @argument(
        "action",
        nargs="?",
        default="status",
        help="on: track every cell (light: time, RSS, peak RSS, changed variables); "
        "off: stop; status: mode, cells recorded, memtrack's own memory; "
        "report: a table of the cells and the leak suspects; export PATH: write the history to "
        "a JSON, CSV or HTML report file; reset: clear the history; "
        "leaks: the leak suspects now; release out [N] | traceback | NAME: free what IPython "
        "keeps alive (output history, the last traceback, a variable and its hidden references); "
        "guard SHARE | off: interrupt a cell when memory passes that share of the limit.",
    )
    @argument(
        "args",
        nargs="*",
        help="With 'release': out [N] | traceback | NAME. With 'export': PATH. "
        "With 'guard': 90%% or 0.9, or off.",
    )
    @argument(
        "--why",
        metavar="NAME",
        help="With 'leaks': why NAME (a variable, Out[N], or a deleted suspect) is still alive: "
        "a referrer chain from a namespace root.",
    )
    @argument(
        "--threshold",
        metavar="BYTES",
        help="With 'leaks': from now on, values smaller than BYTES are no suspects "
        "(default 1000000).",
    )
    @argument(
        "--runs",
        metavar="N",
        help="With 'leaks': from now on, a variable is growing after N growth steps in a row "
        "(default 3).",
    )
    @argument(
        "--dry-run",
        action="store_true",
        help="With 'release': only show what would be released and the bytes expected.",
    )
    @argument(
        "--deep",
        action="store_true",
        help="With 'on': track every cell in deep mode (the allocation engine keeps counting "
        "between cells: every free is seen, but allocation-heavy code runs slower until 'off': "
        "1.1-2x with the native engine, 2-20x with tracemalloc).",
    )
    @argument(
        "--summaries",
        action="store_true",
        help="With 'on': without a sidebar, every tracked cell displays its summary (the "
        "default in terminal IPython; in a kernel they stay quiet, so that headless runs save "
        "the notebook's own outputs: '%%memtrack report' shows them).",
    )
    @argument(
        "--format",
        "-f",
        metavar="FORMAT",
        help="With 'export': json, csv or html (default: from PATH's extension, "
        ".json/.csv/.html/.htm).",
    )
    @line_magic("memtrack")
    def memtrack_line(self, line: str) -> None:
        """Control memory tracking: ``%memtrack on|off|status|report|reset|leaks|release|export``,
        ``guard``.

        ``%memtrack on`` records every following cell (light mode: RSS before/after, peak RSS,
        duration, gc activity, variables created/rebound/resized with shallow sizes; no
        allocation engine). ``%memtrack on --deep`` keeps the engine counting and records every
        cell like
        ``%%memtrack``. ``%memtrack off`` stops, ``%memtrack status`` shows the mode, the cells
        recorded and memtrack's own memory, ``%memtrack report`` prints a table of the cells (delta,
        peak, RSS after, duration) and the leak suspects, ``%memtrack reset`` clears the history
        (also in the sidebar). Use ``%%memtrack`` to measure one cell deeply. Python API:
        ``memtrack.start(deep=False)``, ``memtrack.stop()``, ``memtrack.history()``,
        ``memtrack.reset()``.

        ``%memtrack leaks`` lists the leak suspects (growing variables, output history, the last
        traceback, reference cycles, deletions that freed little); ``--why NAME`` shows why a
        value is alive. ``%memtrack release out [N]`` drops output history (``Out[N]``, ``_N``,
        ``_``), ``release traceback`` the last exception's frames, ``release NAME`` a variable and
        IPython's hidden references to it; each prints the bytes it expects to free first
        (``--dry-run``: only that). Python API: ``memtrack.suspects()``, ``memtrack.why(name)``,
        ``memtrack.configure(leak_threshold=..., leak_runs=...)``.

        ``%memtrack export PATH [--format json|csv|html]`` writes this kernel's history to PATH
        (the format comes from its extension: .json, .csv, .html/.htm). JSON: the
        ``memtrack-report`` of ``schema/report/report.schema.json``, read back with
        ``memtrack.report.load_report``; CSV: one row per cell, bytes as integers; HTML: one
        offline page with the plot, the cell table and the leak suspects. Quote a PATH with
        spaces. Python API: ``memtrack.export(path, format=None)``.

        ``%memtrack guard 90%`` interrupts a running cell (a KeyboardInterrupt, with a line saying
        why) when the kernel's memory passes 90% of the limit that would kill it (the cgroup's,
        else the machine's memory); ``%memtrack guard off`` stops; ``%memtrack guard`` shows it.
        """
        opts = parse_argstring(self.memtrack_line, line)
        action = opts.action
        if action not in LINE_ACTIONS:
            raise UsageError(
                f"unknown %memtrack subcommand {action!r}; use one of: {', '.join(LINE_ACTIONS)}"
            )
        if (opts.deep or opts.summaries) and action != "on":
            raise UsageError("--deep and --summaries only go with '%memtrack on'")
        if opts.format is not None and action != "export":
            raise UsageError("--format only goes with '%memtrack export PATH'")
        if action in ("leaks", "release"):
            self._leak_command(opts)
            return
        if action == "export":
            self._export_command(opts)
            return
        if action == "guard":
            self._guard_command(opts)
            return
        if opts.args or opts.why or opts.threshold or opts.runs or opts.dry_run:
            raise UsageError(f"'%memtrack {action}' takes no more arguments")
        tracker = self.tracker
        if action == "on":
            tracker.start(deep=opts.deep, summaries=True if opts.summaries else None)
            line = f"memtrack: tracking every cell ({tracker.mode} mode)"
            if not tracker.bridge.attached() and not tracker.batch.every_cell_summaries:
                line += (
                    "; no sidebar listens, so cells print nothing: '%memtrack report' shows "
                    "them, '%memtrack on --summaries' prints one per cell"
                )
            print(line)
        elif action == "off":
            tracker.stop()
            print("memtrack: tracking of every cell is off (%%memtrack still works)")
        elif action == "reset":
            tracker.reset()
            print("memtrack: history cleared")
        elif action == "report":
            print(tracker.report_text())
        else:
            print(tracker.status_line())

    def _guard_command(self, opts: argparse.Namespace) -> None:
        """``%memtrack guard 90%`` (or ``0.9``): interrupt a running cell when memory passes
        that share of the limit; ``off``; no argument: say what it is."""
        if opts.why or opts.threshold or opts.runs or opts.dry_run or len(opts.args) > 1:
            raise UsageError("use: %memtrack guard SHARE (90% or 0.9) | off")
        tracker = self.tracker
        if opts.args:
            word = opts.args[0].strip()
            if word.lower() == "off":
                share = None
            else:
                try:
                    share = float(word[:-1]) / 100 if word.endswith("%") else float(word)
                except ValueError:
                    raise UsageError(
                        f"%memtrack guard: {word!r} is not a share of the memory limit "
                        "(use 90% or 0.9, or off)"
                    ) from None
            try:
                tracker.set_guard(share)
            except ValueError as e:
                raise UsageError(f"%memtrack guard: {e}") from None
        print(tracker.guard_line())

    def _export_command(self, opts: argparse.Namespace) -> None:
        """``%memtrack export PATH [--format json|csv|html]`` (the writing is in
        :mod:`memtrack.report`)."""
        from ..reports import files as report

        if opts.why or opts.threshold or opts.runs or opts.dry_run:
            raise UsageError("use: %memtrack export PATH [--format json|csv|html]")
        if len(opts.args) != 1:
            raise UsageError(
                "use: %memtrack export PATH [--format json|csv|html] (quote a PATH with spaces)"
            )
        tracker = self.tracker
        tracker.flush()  # the light cells whose records wait for an idle kernel
        records = tracker.store.snapshot()
        fmt = _unquote(opts.format) if opts.format is not None else None
        try:
            path = report.write_report(
                _unquote(opts.args[0]), records, tracker.bridge.kernel_info(), fmt
            )
        except report.ReportError as e:
            raise UsageError(f"%memtrack export: {e}") from None
        print(f"memtrack: wrote {len(records)} cell(s) to {path}")

    def _leak_command(self, opts: argparse.Namespace) -> None:
        """``%memtrack leaks [--why NAME] [--threshold B] [--runs N]`` and ``%memtrack release``
        (the logic is in :mod:`memtrack.leaks` and :mod:`memtrack.release`)."""
        from ..leaks.detector import command_leaks
        from ..leaks.release import command_release
        from ..leaks.roots import roots_from_shell

        roots = roots_from_shell(self.shell)
        detector = self.tracker.leaks
        if opts.action == "release":
            if opts.why or opts.threshold or opts.runs:
                raise UsageError("--why, --threshold and --runs go with '%memtrack leaks'")
            try:
                print(command_release(roots, [_unquote(a) for a in opts.args], opts.dry_run))
            except ValueError as e:
                raise UsageError(str(e)) from None
            return
        if opts.args or opts.dry_run:
            raise UsageError("use: %memtrack leaks [--why NAME] [--threshold BYTES] [--runs N]")
        try:
            threshold = int(_unquote(opts.threshold).replace("_", "")) if opts.threshold else None
            runs = int(_unquote(opts.runs)) if opts.runs else None
            detector.config.update(threshold=threshold, growth_runs=runs)
        except ValueError as e:
            raise UsageError(f"--threshold BYTES / --runs N: {e}") from None
        if threshold is not None or runs is not None:
            cfg = detector.config
            print(
                f"memtrack: leak threshold {cfg.threshold} bytes, growing after "
                f"{cfg.growth_runs} growth steps"
            )
        why_target = _unquote(opts.why) if opts.why else None
        print(command_leaks(detector, roots, why_target))
