"""jupyterlab-memtrack: per-cell memory tracking for Jupyter notebooks (kernel side).

Load with ``%load_ext memtrack``; then ``%%memtrack`` measures one cell and ``%memtrack on``
tracks every cell. The JupyterLab sidebar receives the records over the comm target
``jupyterlab-memtrack``; without it a one-line summary is printed per tracked cell.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from .version import __version__

__all__ = [
    "__version__",
    "configure",
    "export",
    "history",
    "load_ipython_extension",
    "reset",
    "start",
    "stop",
    "suspects",
    "unload_ipython_extension",
    "why",
    "widget",
]

_tracker: Any = None  # memtrack.shell.tracker.Tracker of the shell the extension is loaded in


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyterlab-memtrack"}]


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext memtrack``. Loading again in the same shell does nothing."""
    global _tracker
    from .shell.tracker import Tracker

    if _tracker is not None:
        if _tracker.shell is ip and _tracker.installed:
            return
        _tracker.uninstall()  # another shell (tests): move over, keeping nothing behind
        _tracker = None
    tracker = Tracker(ip)
    tracker.install()
    _tracker = tracker
    # Widgets made before an %unload_ext/%load_ext follow the new history. Only if some were
    # made: importing ipywidgets here would tax every kernel that never shows one.
    widgets = sys.modules.get(f"{__name__}.shell.widget")
    if widgets is not None:
        widgets.follow_tracker(tracker.store, tracker.bridge.main_loop)


def unload_ipython_extension(ip: Any) -> None:
    """``%unload_ext memtrack``: remove hooks, magics and the comm target."""
    global _tracker
    if _tracker is not None and _tracker.shell is ip:
        _tracker.uninstall()
        _tracker = None


def _require() -> Any:
    if _tracker is None:
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython is a dependency
            get_ipython = None  # type: ignore[assignment]
        ip = get_ipython() if get_ipython is not None else None
        if ip is None:
            raise RuntimeError("memtrack works inside IPython/Jupyter: run %load_ext memtrack")
        load_ipython_extension(ip)
    return _tracker


def history() -> list[dict[str, Any]]:
    """Copies of every record so far (JSON-safe dicts, oldest first); [] when not loaded."""
    if _tracker is None:
        return []
    _tracker.flush()  # light cells whose record waits for the kernel to be idle
    return _tracker.store.snapshot()


def export(path: str | os.PathLike[str], format: str | None = None) -> str:
    """Write the history to ``path`` like ``%memtrack export``: ``format`` is json, csv or html
    (default: from the extension). Returns the absolute path written; raises
    :class:`memtrack.report.ReportError` (a ValueError) naming the problem."""
    from .reports.files import write_report

    tracker = _require()
    tracker.flush()  # light cells whose record waits for the kernel to be idle
    return write_report(path, tracker.store.snapshot(), tracker.bridge.kernel_info(), format)


def widget(max_records: int = 500) -> Any:
    """An ipywidgets widget with the memory plot and a table of the last tracked cells, updated
    as cells are recorded: for frontends without the sidebar. It holds the last
    ``max_records`` records. Needs ipywidgets (``pip install ipywidgets``)."""
    try:
        import ipywidgets  # noqa: F401  (optional dependency: imported only here)
    except ImportError as e:
        raise ImportError("memtrack.widget() needs ipywidgets: pip install ipywidgets") from e
    from .shell.widget import MemtrackWidget

    tracker = _require()
    tracker.flush()  # light cells whose record waits for the kernel to be idle
    return MemtrackWidget(
        tracker.store, max_records, main_loop=tracker.bridge.main_loop, follow_reloads=True
    )


def start(deep: bool = False, summaries: bool | None = None) -> None:
    """Track every following cell, like ``%memtrack on`` (``deep=True``: ``on --deep``;
    ``summaries=True``: ``on --summaries``, each cell displays its summary when no sidebar
    listens, as in terminal IPython; off by default in a kernel, so that headless runs keep the
    notebook's outputs as they are)."""
    _require().start(deep=deep, summaries=summaries)


def stop() -> None:
    """Stop tracking every cell, like ``%memtrack off``."""
    if _tracker is not None:
        _tracker.stop()


def reset() -> None:
    """Clear the history (and the sidebar's), like ``%memtrack reset``."""
    if _tracker is not None:
        _tracker.reset()


def suspects() -> list[dict[str, Any]]:
    """The leak suspects now (dicts like a record's ``leaks``), like ``%memtrack leaks``."""
    from .leaks.roots import roots_from_shell

    tracker = _require()
    return tracker.leaks.current(roots_from_shell(tracker.shell))


def why(name: str, budget_s: float = 0.3) -> list[str] | None:
    """Why the value of ``name`` (a variable, ``Out[N]``, ``sys.last_traceback`` or a deleted
    suspect) is alive: a referrer chain from a namespace root, found within ``budget_s``."""
    from .leaks.roots import roots_from_shell
    from .leaks.why_alive import why as why_chain

    tracker = _require()
    chain, _ = why_chain(roots_from_shell(tracker.shell), name, tracker.leaks, budget_s)
    return chain


def configure(
    leak_threshold: int | None = None,
    leak_runs: int | None = None,
    gpu_peak_reset: bool | None = None,
) -> None:
    """Leak detection settings: ``leak_threshold`` bytes (values smaller are never suspects;
    the frontend's ``leakThreshold``), ``leak_runs`` growth steps in a row for a growing
    variable (default 3). ``gpu_peak_reset=True``: reset torch's CUDA high-water mark at each
    tracked cell's start, so that every cell's GPU peak is exact (it changes what
    ``torch.cuda.max_memory_allocated`` tells you; off by default)."""
    tracker = _require()
    tracker.leaks.config.update(threshold=leak_threshold, growth_runs=leak_runs)
    if gpu_peak_reset is not None:
        from .measure import gpu

        gpu.configure(peak_reset=gpu_peak_reset)
