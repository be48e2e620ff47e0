"""Test by test: what a tracked run changed against the bare run of the same suite."""

from __future__ import annotations

from dataclasses import dataclass, field

PASS = {"passed", "xfailed"}  # an expected failure that failed as expected is a pass


@dataclass
class Comparison:
    passed_bare: int = 0
    failed_bare: list[str] = field(default_factory=list)  # reported, ignored on both sides
    regressions: list[str] = field(default_factory=list)  # passed bare, not tracked
    flaky: list[str] = field(default_factory=list)  # regressed, then passed when run again
    fixed: list[str] = field(default_factory=list)  # failed bare, passed tracked
    expected: list[str] = field(default_factory=list)  # named in expected.py, with the reason


def compare(bare: dict[str, str], tracked: dict[str, str]) -> Comparison:
    c = Comparison()
    for nodeid, outcome in sorted(bare.items()):
        if outcome == "skipped":
            continue
        after = tracked.get(nodeid, "missing")
        if outcome in PASS:
            c.passed_bare += 1
            if after not in PASS and after != "skipped":
                c.regressions.append(nodeid)
        else:
            c.failed_bare.append(nodeid)
            if after in PASS:
                c.fixed.append(nodeid)
    return c


def settle(c: Comparison, rerun: dict[str, str]) -> None:
    """Regressions that passed when run again alone are flaky, not regressions."""
    still = []
    for nodeid in c.regressions:
        (c.flaky if rerun.get(nodeid) in PASS else still).append(nodeid)
    c.regressions = still
