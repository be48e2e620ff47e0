"""The leak sidebar's requests that read or change the user namespace: why a value is alive, and
releasing what IPython keeps (the bridge calls these on the kernel's main thread, between cells)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..leaks.detector import LeakDetector
from ..leaks.release import release_request
from ..leaks.roots import BUDGET_REQUEST_S, roots_from_shell
from ..leaks.why_alive import why_alive


class SidebarRequests:
    """``flush()`` stores what waits first; ``cells_running()`` says whether a cell runs now."""

    def __init__(
        self,
        shell: Any,
        leaks: LeakDetector,
        flush: Callable[[], None],
        cells_running: Callable[[], int],
    ) -> None:
        self.shell = shell
        self.leaks = leaks
        self._flush = flush
        self._cells_running = cells_running

    def why(self, name: str, budget_s: float | None = None) -> dict[str, Any]:
        """Why the value ``name`` names is alive: ``{chain, message, status}``."""
        chain, text, status = why_alive(
            roots_from_shell(self.shell), name, self.leaks, budget_s or BUDGET_REQUEST_S
        )
        return {"chain": chain, "message": text, "status": status}

    def release(self, target: str, dry_run: bool) -> dict[str, Any]:
        """``%memtrack release TARGET`` for the sidebar (see memtrack.leaks.release); after a
        real release, ``suspects`` are the leak suspects re-evaluated."""
        if self._cells_running() > 0 and not dry_run:
            # Only reachable from a comm handler interleaved with a cell (an async cell that
            # awaits): never pull values from under running code.
            return {
                "ok": False,
                "action": "",
                "expected_bytes": None,
                "freed_bytes": None,
                "message": "a cell is running: release once it has finished",
            }
        if not dry_run:
            self._flush()  # deferred records describe the namespace as it was before
        roots = roots_from_shell(self.shell)
        result = release_request(roots, target.split(), dry_run)
        if result["ok"] and not dry_run:
            result["suspects"] = self.leaks.current(roots)
        return result
