"""This kernel across its processes: the kernel id (a restart keeps it), the flight record and the
spool in Jupyter's runtime dir, and what the previous process left behind.

When the extension loads in a kernel whose previous process died during a cell (its flight
record says a cell was running), :meth:`KernelSession.open` returns that cell's ``KernelDied``
record; the earlier processes' records come back from the spool as the ``history`` message's
``earlier`` sessions. Terminal IPython has no kernel id: no files, nothing to restore. A file
that is truncated, of another version or not ours is set aside with one warning line.
"""

from __future__ import annotations

import contextlib
import os
import sys
from datetime import datetime, timezone
from typing import Any

from ..flight import RUNNING, FlightError, FlightRecorder, FlightState, read_flight
from ..measure.limits import oom_kills_at
from ..record import new_record
from ..spool import Session, Spool, SpoolError, read_sessions, remove_stale, set_aside


def _warn(text: str) -> None:
    with contextlib.suppress(Exception):
        print(f"memtrack: {text}", file=sys.stderr)


def _iso(ts: float | None) -> str | None:
    if not ts:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat()


def kernel_id(shell: Any) -> str | None:
    """The id of the kernel ``shell`` runs in (from its connection file, ``kernel-<id>.json``);
    None outside a kernel. Looks only at ipykernel modules already imported."""
    if getattr(shell, "kernel", None) is None:
        return None
    app_module = sys.modules.get("ipykernel.kernelapp")
    app_class = getattr(app_module, "IPKernelApp", None)
    try:
        if app_class is None or not app_class.initialized():
            return None
        path = app_class.instance().connection_file
    except Exception:
        return None
    if not isinstance(path, str) or not path:
        return None
    name = os.path.basename(path)
    name = name[:-5] if name.endswith(".json") else name
    return name[7:] if name.startswith("kernel-") else name


def runtime_dir() -> str | None:
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        path = jupyter_runtime_dir()
        os.makedirs(path, exist_ok=True)
        return path
    except Exception:
        return None


def _read_or_set_aside(path: str, read: Any, not_ours: type[Exception], what: str) -> Any:
    """``read(path)``, or None with one warning line: a file that is not ours (``not_ours``:
    truncated, foreign, newer) is also renamed out of the way, never deleted."""
    try:
        return read(path)
    except not_ours as e:
        _warn(f"ignoring {what}: {e}")
        with contextlib.suppress(OSError):
            _warn(f"kept it as {set_aside(path)}")
    except Exception as e:
        _warn(f"could not read {what} ({type(e).__name__}: {e})")
    return None


def died_record(state: FlightState) -> dict[str, Any]:
    """The record of the cell during which the previous process died."""
    now_kills = oom_kills_at(state.oom_file)
    if now_kills is None or state.oom_baseline is None:
        oom_killed = None
    else:
        oom_killed = now_kills > state.oom_baseline
    last = state.last_sample_at or state.started_at
    return new_record(
        {
            "execution_count": state.execution_count,
            "cell_id": state.cell_id,
            "mode": state.mode if state.mode in ("light", "deep") else "light",
            "started_at": _iso(state.started_at),
            "duration_s": round(max(0.0, last - state.started_at), 3),
            "rss_before": state.rss_before,
            "rss_peak": state.peak,
            "error": "KernelDied",
            "died": {
                "oom_killed": oom_killed,
                "last_rss": state.last_rss,
                "peak": state.peak,
                "memory_limit": state.limit,
                "limit_source": state.limit_source,
                "last_sample_at": _iso(state.last_sample_at),
                "pid": state.pid,
            },
        }
    )


class KernelSession:
    """The files of one kernel id; every method is safe to call when there are none."""

    def __init__(self, shell: Any, directory: str | None = None) -> None:
        self.kernel_id = kernel_id(shell)
        self.directory = (
            directory
            if directory is not None
            else (runtime_dir() if self.kernel_id is not None else None)
        )
        self.flight: FlightRecorder | None = None
        self.spool: Spool | None = None
        self.earlier: list[Session] = []
        self._live: Any = None  # the sampler and batcher attach() handed the files to
        self._batch: Any = None
        self._kernel: Any = None  # whose do_shutdown is wrapped

    def _path(self, ext: str) -> str | None:
        if self.kernel_id is None or self.directory is None:
            return None
        return os.path.join(self.directory, f"memtrack-{self.kernel_id}.{ext}")

    def open(self, started_at: str) -> dict[str, Any] | None:
        """Read what the previous process left, then start this process's files; the previous
        process's ``KernelDied`` record, if it died during a cell. Never raises."""
        flight_path, spool_path = self._path("flight"), self._path("spool")
        if flight_path is None or spool_path is None:
            return None
        with contextlib.suppress(Exception):
            remove_stale(self.directory or "")
        died = None
        state = _read_or_set_aside(flight_path, read_flight, FlightError, "the flight record")
        if state is not None and state.state == RUNNING and state.pid != os.getpid():
            died = died_record(state)
        self.earlier = (
            _read_or_set_aside(spool_path, read_sessions, SpoolError, "the history spool") or []
        )
        if died is not None and self.earlier:
            self.earlier[-1].ended = "died"
        try:
            self.flight = FlightRecorder(flight_path)
        except Exception as e:
            _warn(f"no flight record ({type(e).__name__}: {e}); a kernel death will go unexplained")
        try:
            after = "died" if died is not None else ("restart" if self.earlier else None)
            self.spool = Spool(spool_path, os.getpid(), started_at, after)
        except Exception as e:
            _warn(f"no history spool ({type(e).__name__}: {e}); a restart will lose the history")
        return died

    def attach(self, shell: Any, live: Any, batch: Any, flush: Any) -> None:
        """Open this process's files and hand them to the sampler (``live``: the flight record)
        and the batcher (``batch``: the spool; the ``KernelDied`` record of the cell the previous
        process died in goes first). The kernel's ``do_shutdown`` is wrapped, only to tell a
        clean shutdown (the files go) from a restart (they stay); ``flush`` sends what waits to
        the spool before either."""
        from datetime import datetime, timezone

        died = self.open(datetime.now(timezone.utc).isoformat())
        self._live, self._batch = live, batch
        live.flight = self.flight
        batch.spool = self.spool
        if died is not None:
            batch.restored(died)
        kernel = getattr(shell, "kernel", None)
        inner = getattr(kernel, "do_shutdown", None)
        if self.spool is not None and inner is not None:

            def do_shutdown(restart: bool) -> Any:
                flush()
                self.detach(remove=not restart)
                return inner(restart)

            self._kernel = kernel
            kernel.do_shutdown = do_shutdown
        live.start()

    def detach(self, remove: bool) -> None:
        """Stop the sampler, unwrap ``do_shutdown`` and close the files (``remove``: a clean
        shutdown: they go)."""
        live, batch, self._live, self._batch = self._live, self._batch, None, None
        if live is not None:
            live.stop()
            live.flight = None
        if batch is not None:
            batch.spool = None
        kernel, self._kernel = self._kernel, None
        if kernel is not None:
            with contextlib.suppress(AttributeError):
                del kernel.do_shutdown  # the instance attribute: the class's method again
        self.close(remove)

    def describe(self, live: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """What the ``history`` message adds: the memory limit and guard (``live``'s), and
        the earlier sessions."""
        from ..measure.cell import rss

        extra = {"memory_limit": live.limits.describe(rss()), "guard": live.guard}
        return extra, self.earlier_sessions()

    def earlier_sessions(self) -> list[dict[str, Any]]:
        return [s.describe() for s in self.earlier]

    def clear(self) -> None:
        """The history was reset: earlier sessions go too."""
        self.earlier = []
        if self.spool is not None:
            self.spool.clear()

    def close(self, remove: bool) -> None:
        """``remove``: a clean shutdown (not a restart): the files go."""
        if self.flight is not None:
            self.flight.shut_down()
            self.flight.close()
        if self.spool is not None:
            self.spool.flush()
            self.spool.close()
        if remove:
            for ext in ("flight", "spool"):
                path = self._path(ext)
                if path is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(path)
        self.flight = self.spool = None
