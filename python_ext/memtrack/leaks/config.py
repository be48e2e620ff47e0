"""The leak detector's settings (:class:`LeakConfig`) and the time budgets every watcher shares."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_THRESHOLD = 1_000_000  # bytes; the frontend setting ``leakThreshold`` has the same default
DEFAULT_GROWTH_RUNS = 3
MAX_SUSPECTS = 10
# Light mode: a hard cap per cell; the work is bounded by construction (QUICK_*, RECHECK_*,
# DISCOVER_*, SCAN_*), so a trivial cell takes far less (tens of microseconds).
BUDGET_LIGHT_S = 0.0003
BUDGET_DEEP_S = 0.05
HISTORY_MAX = 8  # size history kept per name
QUICK_PER_VALUE_S = 0.0002  # light mode: the most one value's size estimate may take


@dataclass
class LeakConfig:
    """``threshold``: bytes under which nothing is a suspect (and the least growth);
    ``growth_runs``: growth steps in a row that make a growing variable."""

    threshold: int = DEFAULT_THRESHOLD
    growth_runs: int = DEFAULT_GROWTH_RUNS
    max_suspects: int = MAX_SUSPECTS
    budget_light_s: float = BUDGET_LIGHT_S
    budget_deep_s: float = BUDGET_DEEP_S

    def update(self, threshold: int | None = None, growth_runs: int | None = None) -> None:
        if threshold is not None:
            if type(threshold) is not int or threshold < 0:
                raise ValueError(
                    f"the leak threshold must be a whole number >= 0, not {threshold!r}"
                )
            self.threshold = threshold
        if growth_runs is not None:
            if type(growth_runs) is not int or not 1 <= growth_runs <= HISTORY_MAX - 1:
                raise ValueError(
                    f"growth runs must be a whole number from 1 to {HISTORY_MAX - 1}, "
                    f"not {growth_runs!r}"
                )
            self.growth_runs = growth_runs
