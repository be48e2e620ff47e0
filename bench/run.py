"""Benchmarks (`make bench`): what memtrack costs a cell, against the targets of issue 3.

Everything runs in one real IPython InteractiveShell, tracked and untracked cells alternating
(medians, to cancel drift on a noisy machine). The message to the frontend is included in light
mode: a fake comm serializes and signs every record like ipykernel's Session does (only the
socket write is missing). Untracked timings go to bench/baseline.json; the next run prints the
change against them (is the machine, or IPython, slower today?).

Targets:
  light  <= 100 us added per cell (median, message included); <= 1.02x on a cell making 10k
         objects at 1e6 and 5e6 live objects
  deep   <= 1.10x of bare tracemalloc.start(1) around the same cell code, plus <= 50 ms of
         per-cell analysis when the cell leaves <= 1e5 live allocations, any heap size
  types  <= 20 ms per cell at 5e6 live objects, or marked sampled
  store  <= 2 KB per record; no other growth over 10,000 cells
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

from IPython.core.interactiveshell import InteractiveShell

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python_ext"))

import memtrack  # noqa: E402
from memtrack.summary import RECORD_MAX_BYTES  # noqa: E402

BASELINE = HERE / "baseline.json"
QUICK = os.environ.get("BENCH_QUICK") == "1"
ROWS: list[tuple[str, str, str, bool]] = []  # (target, measured, limit, ok)


class FakeComm:
    """Serializes each message as ipykernel would (json + HMAC signature); sends nowhere."""

    comm_id = "bench"

    def __init__(self) -> None:
        from jupyter_client.session import Session

        self.session = Session(key=b"bench-key")
        self.sent = 0

    def send(self, data):
        msg = self.session.msg("comm_msg", {"comm_id": self.comm_id, "data": data})
        self.session.serialize(msg)
        self.sent += 1


def shell() -> InteractiveShell:
    from traitlets.config import Config

    # History in memory: the SQLite writer thread holds a lock across each commit, and cells
    # waiting on it measure the disk, not the cell.
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "memtrack")
    return ip


def timed(ip: InteractiveShell, source: str) -> float:
    t0 = time.perf_counter()
    result = ip.run_cell(source, store_history=True)
    dt = time.perf_counter() - t0
    if not result.success:
        raise RuntimeError(f"benchmark cell failed: {source!r}: {result.error_in_exec!r}")
    return dt


def alternate(ip, bare, tracked, n, setup_tracked=None, teardown_tracked=None):
    """Median seconds of the bare and the tracked cell, alternating, and the per-pair ratios."""
    b, t = [], []
    for _ in range(n):
        b.append(timed(ip, bare))
        if setup_tracked:
            setup_tracked()
        t.append(timed(ip, tracked))
        if teardown_tracked:
            teardown_tracked()
    return statistics.median(b), statistics.median(t)


def row(target: str, measured: str, limit: str, ok: bool) -> None:
    ROWS.append((target, measured, limit, ok))
    print(f"  {'ok ' if ok else 'MISS'} {target:<46} {measured:>22}   target {limit}", flush=True)


def build_heap(ip: InteractiveShell, n: int) -> None:
    ip.run_cell("_bench_heap = None")
    gc.collect()
    ip.run_cell(f"_bench_heap = [[] for _ in range({n})]")  # n live GC-tracked objects
    gc.collect()


def bench_light(ip: InteractiveShell, tracker, baseline: dict) -> None:
    print("light mode (%memtrack on), the record message serialized for a frontend:")
    comm = FakeComm()
    tracker.bridge._comms["bench"] = comm
    try:
        n = 150 if QUICK else 400
        added = []
        for _ in range(5):
            memtrack.stop()
            bare = [timed(ip, "x = 1") for _ in range(n // 5)]
            memtrack.start()
            tracked = [timed(ip, "x = 1") for _ in range(n // 5)]
            memtrack.stop()
            added.append(statistics.median(tracked) - statistics.median(bare))
        extra = statistics.median(added)
        baseline["trivial_cell_s"] = statistics.median(bare)
        assert comm.sent > 0
        row(
            "light: added per trivial cell (median)",
            f"{extra * 1e6:.0f} us",
            "<= 100 us",
            extra <= 100e-6,
        )
        cell = "objs = [{'i': i} for i in range(10_000)]"
        for live in (1_000_000, 5_000_000):
            build_heap(ip, live)
            ratios = []
            for _ in range(3 if QUICK else 7):
                memtrack.stop()
                b = statistics.median(timed(ip, cell) for _ in range(5))
                memtrack.start()
                t = statistics.median(timed(ip, cell) for _ in range(5))
                ratios.append(t / b)
            memtrack.stop()
            ratio = statistics.median(ratios)
            baseline[f"light_10k_bare_s_{live}"] = b
            row(
                f"light: 10k-object cell at {live:.0e} live objects",
                f"{ratio:.3f}x ({b * 1e3:.2f} ms bare)",
                "<= 1.02x",
                ratio <= 1.02,
            )
    finally:
        tracker.bridge._comms.pop("bench", None)
        memtrack.stop()
        ip.run_cell("_bench_heap = None")


DEEP_CELLS = {
    "1e5 dicts": "rows = [{'i': i} for i in range(100_000)]",
    "strings": "s = [f'item {i}' for i in range(100_000)]\nj = ','.join(s)",
    "calls": "def f(a):\n    return [a]\nt = [f(i) for i in range(50_000)]",
    "bytearray 20 MB": "b = bytearray(20_000_000)\ndel b",
}


def bench_deep(ip: InteractiveShell, baseline: dict) -> None:
    print("deep mode (%%memtrack) vs bare tracemalloc.start(1) around the same cell:")

    def pre(info):
        tracemalloc.start(1)

    def post(result):
        tracemalloc.stop()

    for live in (1_000_000, 5_000_000):
        build_heap(ip, live)
        for name, code in DEEP_CELLS.items():
            ratios, analysis = [], []
            for _ in range(3 if QUICK else 5):
                ip.events.register("pre_run_cell", pre)
                ip.events.register("post_run_cell", post)
                try:
                    bare = timed(ip, code)
                finally:
                    ip.events.unregister("pre_run_cell", pre)
                    ip.events.unregister("post_run_cell", post)
                tracked = timed(ip, "%%memtrack --quiet\n" + code)
                rec = memtrack.history()[-1]
                a = rec.get("analysis_s") or 0.0
                analysis.append(a)
                ratios.append((tracked - a) / bare)
            ratio = statistics.median(ratios)
            am = statistics.median(analysis)
            baseline[f"deep_bare_{name}_{live}"] = bare
            row(
                f"deep: {name} at {live:.0e} live",
                f"{ratio:.3f}x ({bare * 1e3:.0f} ms bare)",
                "<= 1.10x",
                ratio <= 1.10,
            )
            row(
                f"deep: analysis, {name} at {live:.0e} live",
                f"{am * 1e3:.1f} ms",
                "<= 50 ms",
                am <= 0.05,
            )
        ip.run_cell("rows = s = j = t = None")
    ip.run_cell("_bench_heap = None")


def bench_types(ip: InteractiveShell) -> None:
    print("object counts by type at 5e6 live objects:")
    from memtrack.objects import TypeCounter

    build_heap(ip, 5_000_000)
    for n in (10_000, 100_000, 1_000_000):
        tracemalloc.start(1)
        counter = TypeCounter().start()
        ip.user_ns["made"] = [{"i": i} for i in range(n)]
        t0 = time.perf_counter()
        rows, method = counter.finish(top=10, traced_since_start=True)
        dt = time.perf_counter() - t0
        tracemalloc.stop()
        sampled = any(r["sampled"] for r in rows)
        dicts = next((r["count_delta"] for r in rows if r["type"] == "dict"), 0)
        ok = dt <= 0.02 or (sampled and dt <= 0.1)
        row(
            f"types: cell making {n:.0e} dicts",
            f"{dt * 1e3:.1f} ms{' sampled' if sampled else ''}",
            "<= 20 ms or sampled",
            ok,
        )
        print(f"       counted {dicts} dicts ({method})")
        ip.user_ns["made"] = None
    ip.run_cell("_bench_heap = None")


def bench_store(ip: InteractiveShell, tracker) -> None:
    print("stored history over 10,000 cells:")
    memtrack.reset()
    n = 2_000 if QUICK else 10_000
    cells = ["v = [0] * 10", "w = {'a': v}", "del w"]
    gc.collect()
    objs0 = len(gc.get_objects())
    for i in range(n):
        ip.run_cell(cells[i % 3], store_history=False)
    gc.collect()
    bare_growth = len(gc.get_objects()) - objs0
    memtrack.start()
    gc.collect()
    objs0 = len(gc.get_objects())
    for i in range(n):
        ip.run_cell(cells[i % 3], store_history=False)
    memtrack.stop()
    gc.collect()
    tracked_growth = len(gc.get_objects()) - objs0
    records = memtrack.history()
    sizes = [len(json.dumps(r, separators=(",", ":"))) for r in records]
    worst = max(sizes)
    row(
        "store: JSON per record (max)",
        f"{worst} B",
        f"<= {RECORD_MAX_BYTES} B",
        worst <= RECORD_MAX_BYTES,
    )
    # A deep record with full tables.
    ip.run_cell(
        "%%memtrack --quiet --top 50\n" + "\n".join(f"q{i} = [{i}] * {i * 100}" for i in range(60))
    )
    deep = len(json.dumps(memtrack.history()[-1], separators=(",", ":")))
    row(
        "store: JSON per deep record, --top 50",
        f"{deep} B",
        f"<= {RECORD_MAX_BYTES} B",
        deep <= RECORD_MAX_BYTES,
    )

    # GC-tracked containers inside the stored records (dicts of scalars are untracked).
    def tracked(value) -> int:
        n = 1 if gc.is_tracked(value) else 0
        if type(value) is dict:
            n += sum(tracked(v) for v in value.values())
        elif type(value) is list:
            n += sum(tracked(v) for v in value)
        return n

    with tracker.store._lock:
        in_store = sum(tracked(r) for r in tracker.store._records) + 1  # + the deque
    other = tracked_growth - bare_growth - in_store
    row(
        f"store: other growth over {n} cells",
        f"{other:+d} objects",
        "0 (+-50)",
        abs(other) <= 50,
    )
    print(
        f"       history: {len(records)} records, {tracker.store.nbytes() / 1e6:.1f} MB in Python "
        f"objects; tracker lists: cells {len(tracker._cells)}, running {len(tracker._running)}"
    )
    memtrack.reset()


def main() -> None:
    t0 = time.perf_counter()
    ip = shell()
    tracker = memtrack._tracker
    previous = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    baseline: dict = {}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpu(s){', QUICK' if QUICK else ''}")
    bench_light(ip, tracker, baseline)
    bench_deep(ip, baseline)
    bench_types(ip)
    bench_store(ip, tracker)
    print()
    missed = [r for r in ROWS if not r[3]]
    print(f"{len(ROWS) - len(missed)}/{len(ROWS)} targets met in {time.perf_counter() - t0:.0f} s")
    for target, measured, limit, _ in missed:
        print(f"  missed: {target}: {measured} (target {limit})")
    if previous:
        print("untracked baseline vs the previous run (machine drift):")
        for key, value in baseline.items():
            if previous.get(key):
                print(f"  {key:<40} {value / previous[key]:.2f}x")
    BASELINE.write_text(json.dumps(baseline, indent=1) + "\n")


if __name__ == "__main__":
    main()
