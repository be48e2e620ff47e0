"""Instructions per cell (`make bench`): what light tracking costs, counted instead of timed.

The timings of bench/run.py move with the machine (this one alternates between two states ~1.5x
apart) and a 2% target on a 2 ms cell sits inside that noise. Valgrind counts the instructions
the process executes, the same on a busy or an idle machine, so two runs (two commits) compare
to within a fraction of a percent. It does not see cache misses or system-call time: the timed
bench stays the judge of the targets; this one says where the instructions go and whether a
change added any.

Each figure is the difference between two runs of the same cells (N and 4N cells, so start-up
cancels out), divided by 3N. Arms: ``bare`` (memtrack loaded, tracking off), ``floor`` (the
light readings alone, bench/run.py's ReadingsOnly) and ``light`` (``%memtrack on``). Cells run
as ipykernel runs them (bench/run.py's kernel_like), records serialized and signed; batched
messages go out every BATCH_MAX records (the 50 ms timer would fire at a valgrind-dependent
moment). The figures go to bench/instructions.json (untracked); the next run prints the change.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
PREVIOUS = HERE / "instructions.json"
CELLS = {  # name: (cell, N); "notebook": bench/run.py's NOTEBOOK_CELL
    "trivial": ("x = 1", 100),
    "10k objects": ("objs = [{'i': i} for i in range(10_000)]", 10),
    "19-line cell": ("notebook", 40),
}
ARMS = ("bare", "floor", "light")


def child(arm: str, cell: str, n: int) -> None:
    """Under valgrind: run ``cell`` ``n`` times in ``arm`` (after a warm-up). The cell
    "notebook" is bench/run.py's NOTEBOOK_CELL, after its NOTEBOOK_SETUP."""
    sys.path.insert(0, str(HERE))
    import run  # bench/run.py: the shell, the kernel-like loop, the floor arm; this tree's memtrack

    memtrack = run.memtrack
    bridge = importlib.import_module("memtrack.shell.bridge")
    bridge.BATCH_DELAY_S = 1e9  # batches by size only: the same messages in every run
    ip = run.shell()
    if cell == "notebook":
        ip.run_cell(run.NOTEBOOK_SETUP)
        cell = run.NOTEBOOK_CELL
    memtrack._tracker.bridge._comms["bench"] = run.FakeComm()
    if arm == "floor":
        run.ReadingsOnly(ip).start()
    elif arm == "light":
        memtrack.start()
    run.kernel_like(ip, cell, 20)
    run.kernel_like(ip, cell, n)
    run.kernel_like(ip, "pass", 1)  # the last batch goes out inside the counted cells


def count(arm: str, cell: str, n: int) -> int:
    """Instructions of the whole child process (valgrind's cachegrind, no cache simulation)."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(
        [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            sys.executable,
            __file__,
            "--child",
            arm,
            cell,
            str(n),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", proc.stderr)
    if proc.returncode != 0 or found is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"valgrind run failed ({arm}, {n} cells): {' | '.join(tail)}")
    return int(found.group(1).replace(",", ""))


def per_cell(pool: ThreadPoolExecutor, arm: str, cell: str, n: int) -> float:
    few, many = pool.map(lambda k: count(arm, cell, k), (n, 4 * n))
    return (many - few) / (3 * n)


def main() -> None:
    if shutil.which("valgrind") is None:
        print("instructions per cell: skipped, no valgrind (`make valgrind` installs Debian's)")
        return
    t0 = time.perf_counter()
    previous = json.loads(PREVIOUS.read_text()) if PREVIOUS.exists() else {}
    figures: dict[str, float] = {}
    print("instructions per cell (valgrind: the same on a busy or an idle machine):")
    with ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
        for name, (cell, n) in CELLS.items():
            got = {arm: per_cell(pool, arm, cell, n) for arm in ARMS}
            bare = got["bare"]
            light, floor = got["light"] - bare, got["floor"] - bare
            figures[f"{name}: bare"] = bare
            figures[f"{name}: light added"] = light
            figures[f"{name}: floor added"] = floor
            print(
                f"  {name:<12} bare {bare:>12,.0f}"
                f"   light +{light:>9,.0f} ({1 + light / bare:.3f}x)"
                f"   floor +{floor:>8,.0f} ({1 + floor / bare:.3f}x)"
                f"   light/floor {light / floor:.1f}x"
            )
    if previous:
        print("  vs the previous run (bench/instructions.json):")
        for key, value in figures.items():
            if previous.get(key):
                print(f"    {key:<28} {value / previous[key]:.3f}x")
    PREVIOUS.write_text(json.dumps(figures, indent=1) + "\n")
    print(f"  ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
