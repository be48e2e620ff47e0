"""Benchmarks (`make bench`): the cost memtrack adds to a cell.

The per-cell measurement engine and the comparison with peer tools grow here
(issues 3 and 7). For now: a trivial cell and an allocating cell, untracked vs
`%%memtrack`, in one real IPython shell, as ratios.
"""

from __future__ import annotations

import statistics
import time

from IPython.core.interactiveshell import InteractiveShell

CELLS = {
    "trivial": "x = 1",
    "1e5 dicts": "rows = [{'i': i} for i in range(100_000)]",
}
REPEAT = 15


def _time_cell(shell: InteractiveShell, source: str) -> float:
    start = time.perf_counter()
    result = shell.run_cell(source, store_history=True)
    elapsed = time.perf_counter() - start
    if not result.success:
        raise RuntimeError(f"benchmark cell failed: {source!r}")
    return elapsed


def main() -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "memtrack")
    print(f"{'cell':<12} {'untracked':>12} {'%%memtrack':>12} {'ratio':>7}")
    for name, source in CELLS.items():
        bare, tracked = [], []
        # Alternate to cancel drift.
        for _ in range(REPEAT):
            bare.append(_time_cell(shell, source))
            tracked.append(_time_cell(shell, f"%%memtrack --quiet\n{source}"))
        b, t = statistics.median(bare), statistics.median(tracked)
        print(f"{name:<12} {b * 1e3:>10.2f}ms {t * 1e3:>10.2f}ms {t / b:>6.2f}x")


if __name__ == "__main__":
    main()
