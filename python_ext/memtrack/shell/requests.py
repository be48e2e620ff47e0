"""The leak sidebar's requests that read or change the user namespace: why a value is alive, and
releasing what IPython keeps (the bridge calls these on the kernel's main thread, between cells)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..leaks.detector import LeakDetector
from ..leaks.release import release_request
from ..leaks.roots import BUDGET_REQUEST_S, roots_from_shell
from ..leaks.why_alive import why_alive
from ..measure.cell import CellMeasurement
from ..record import new_record


class SidebarRequests:
    """``flush()`` stores what waits first; ``cells_running()`` says whether a cell runs now;
    ``add_entry(record)`` stores and sends a history entry that is not a cell (a release)."""

    def __init__(
        self,
        shell: Any,
        leaks: LeakDetector,
        flush: Callable[[], None],
        cells_running: Callable[[], int],
        add_entry: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        self.shell = shell
        self.leaks = leaks
        self._flush = flush
        self._cells_running = cells_running
        self._add_entry = add_entry

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
        measurement = None if dry_run else CellMeasurement().start()
        result = release_request(roots, target.split(), dry_run)
        if measurement is None:
            return result
        measurement.stop()
        if result["ok"]:
            result["suspects"] = self.leaks.current(roots)
            if self._add_entry is not None:
                self._add_entry(release_record(measurement, result))
        return result


def release_record(measurement: CellMeasurement, result: dict[str, Any]) -> dict[str, Any]:
    """The history entry of a release done from the sidebar (mode ``release``): what was
    released, the figures around it (the plot and table follow it) and the suspects after it,
    from which the released one is gone."""
    values = measurement.light_result()
    values.update(
        mode="release",
        label=f"release: {result['action']}",
        rss_peak=None,  # a release has no peak of its own
        rss_peak_scope=None,
        gc=None,
        leaks=list(result.get("suspects") or ()),
        release={
            "action": result["action"],
            "expected_bytes": result.get("expected_bytes"),
            "freed_bytes": result.get("freed_bytes"),
            "freed_measure": result.get("freed_measure"),
        },
    )
    return new_record(values)
