"""make test-compat: IPython's, ipykernel's and nbclient's own test suites, from the sdists of
the installed versions, bare and with memtrack in each mode (light, deep, every cell under
%%memtrack), compared test by test; then real notebooks executed with nbclient, compared cell by
cell (compat/notebooks.py). Exits 1 on any test that passes bare and fails tracked.

    python compat/run.py [--suites ipython,ipykernel,nbclient,notebooks] [--modes light,deep,cell]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import Comparison, compare, settle
from expected import CELL_TEXT
from sources import installed_version
from suites import MODES, SUITES, run_suite

TRACKED = tuple(m for m in MODES if m != "bare")


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def suite_rows(name: str, bare_s: float, results: dict[str, tuple[Comparison, float]]):
    rows = []
    for mode, (c, wall) in results.items():
        rows.append(
            (
                f"{name} {installed_version(name)}",
                mode,
                str(c.passed_bare),
                str(len(c.failed_bare)),
                str(len(c.regressions)),
                str(len(c.flaky)),
                str(len(c.expected)),
                f"{wall / bare_s:.2f}x ({wall:.0f} s / {bare_s:.0f} s)",
            )
        )
    return rows


def run_suites(names: list[str], modes: list[str]) -> tuple[list[tuple[str, ...]], int]:
    rows: list[tuple[str, ...]] = []
    regressions = 0
    for suite in (s for s in SUITES if s.name in names):
        print(f"== {suite.name}: bare", flush=True)
        bare = run_suite(suite, "bare")
        if not bare.outcomes:
            print(f"   no outcomes: see {bare.log}")
            regressions += 1
            continue
        results: dict[str, tuple[Comparison, float]] = {}
        for mode in modes:
            print(f"== {suite.name}: {mode}", flush=True)
            tracked = run_suite(suite, mode)
            c = compare(bare.outcomes, tracked.outcomes)
            if c.regressions:
                settle(c, run_suite(suite, mode, only=c.regressions).outcomes)
            if mode == "cell":
                c.expected = [n for n in c.regressions if n in CELL_TEXT]
                c.regressions = [n for n in c.regressions if n not in CELL_TEXT]
            results[mode] = (c, tracked.wall_s)
            for nodeid in c.regressions:
                print(f"   REGRESSION {mode}: {nodeid} (log: {tracked.log})")
            for nodeid in c.flaky:
                print(f"   flaky {mode}: {nodeid} (failed, then passed when run again)")
            for nodeid in c.expected:
                print(f"   cell text {mode}: {nodeid}: {CELL_TEXT[nodeid]}")
            regressions += len(c.regressions)
        failed = results[modes[0]][0].failed_bare if modes else []
        if failed:
            print(f"   failing bare here, ignored ({len(failed)}): " + ", ".join(failed))
        rows += suite_rows(suite.name, bare.wall_s, results)
    return rows, regressions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", default="ipython,ipykernel,nbclient,notebooks")
    parser.add_argument("--modes", default=",".join(TRACKED))
    args = parser.parse_args()
    names = [n for n in args.suites.split(",") if n]
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in TRACKED]
    if unknown:
        parser.error(f"unknown mode(s) {unknown}; use {', '.join(TRACKED)}")
    rows, regressions = run_suites(names, modes)
    header = (
        "suite", "mode", "pass bare", "fail bare", "regressions", "flaky", "cell text",
        "wall time",
    )  # fmt: skip
    if rows:
        print("\n" + _table([header, *rows]))
    if "notebooks" in names:
        from notebooks import run_notebooks

        regressions += run_notebooks(modes)
    print(f"\ntest-compat: {regressions} regression(s)")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
