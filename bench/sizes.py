"""Variable sizes (issue 20): how long memtrack takes to finish the deep sizes of data-science
values, in bounded passes, against ``pympler.asizeof`` on the same values, and how close each
comes to the truth (pandas' ``memory_usage(deep=True)``, numpy's ``nbytes``, ``sys.getsizeof``
summed). Then the cost of one pass at 1e6 and 5e6 live objects in the namespace.

Targets: every value within 5% of its truth once finished; no pass longer than its budget plus
5 ms. ``BENCH_QUICK=1``: smaller values.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python_ext"))

import numpy as np
import pandas as pd
from memtrack.measure.namespace import NamespaceSizer

QUICK = bool(os.environ.get("BENCH_QUICK"))
N = 200_000 if QUICK else 1_000_000
PASS_S = 0.02  # an idle slice's budget
SLACK_S = 0.005


def values() -> dict[str, tuple[object, int]]:
    df = pd.DataFrame(
        {"i": np.arange(N), "x": np.random.rand(N), "s": [f"name {i}" for i in range(N)]}
    )
    words = [f"word {i}" for i in range(N)]
    arrays = {f"k{i}": np.ones(N // 5) for i in range(5)}
    dicts = [{"i": i} for i in range(N // 4)]
    return {
        "DataFrame (int, float, str)": (df, int(df.memory_usage(deep=True).sum())),
        "list of strings": (words, sys.getsizeof(words) + sum(map(sys.getsizeof, words))),
        "dict of 5 arrays": (arrays, sum(a.nbytes for a in arrays.values())),
        # Each dict and its int (ints above 256 are objects of their own), the key "i" once.
        "list of small dicts": (
            dicts,
            sys.getsizeof(dicts)
            + sum(sys.getsizeof(d) + (sys.getsizeof(d["i"]) if d["i"] > 256 else 0) for d in dicts)
            + sys.getsizeof("i"),
        ),
    }


def finish(ns: dict) -> tuple[float, int, float, NamespaceSizer]:
    """Passes until nothing is pending: (seconds in all, passes, longest pass)."""
    sizer = NamespaceSizer()
    total, passes, longest = 0.0, 0, 0.0
    while True:
        t0 = time.perf_counter()
        pending = sizer.size_pass(ns, PASS_S)
        took = time.perf_counter() - t0
        total, passes, longest = total + took, passes + 1, max(longest, took)
        if not pending:
            return total, passes, longest, sizer


def main() -> None:
    try:
        from pympler import asizeof
    except ImportError:
        asizeof = None
    print(f"variable sizes, {N:,} items, passes of {PASS_S * 1e3:.0f} ms:")
    ok = met = 0
    for label, (value, truth) in values().items():
        gc.collect()
        seconds, passes, longest, sizer = finish({"v": value})
        (row,) = sizer.rows(1)
        err = (row["size"] - truth) / truth * 100
        line = (
            f"  {label:<28} memtrack {seconds:6.2f} s in {passes:3d} passes (longest "
            f"{longest * 1e3:4.1f} ms), {err:+.1f}%"
        )
        if asizeof is not None:
            t0 = time.perf_counter()
            theirs = asizeof.asizeof(value)
            their_s, their_err = time.perf_counter() - t0, (theirs - truth) / truth * 100
            line += f"; pympler.asizeof {their_s:6.2f} s, {their_err:+.1f}%"
        good = abs(err) <= 5 and longest <= PASS_S + SLACK_S
        ok += good
        met += 1
        print(("  ok " if good else "  MISS") + line[1:])
    for live in (1_000_000, 5_000_000):
        heap = [{} for _ in range(live // 2)]  # ~live objects with their dicts' items
        ns = {f"name{i}": [i] * 10 for i in range(2000)}
        ns["heap"] = heap
        sizer = NamespaceSizer()
        t0 = time.perf_counter()
        sizer.size_pass(ns, PASS_S)
        took = time.perf_counter() - t0
        good = took <= PASS_S + SLACK_S
        ok += good
        met += 1
        print(
            ("  ok " if good else "  MISS")
            + f" one pass at {live:.0e} live objects, 2,001 names: {took * 1e3:.1f} ms (budget "
            f"{PASS_S * 1e3:.0f} ms)"
        )
        del heap, ns
    print(f"{ok}/{met} variable-size targets met")


if __name__ == "__main__":
    main()
