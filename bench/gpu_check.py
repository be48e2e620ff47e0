"""The GPU check of issue 24, for a machine with an NVIDIA GPU (`python bench/gpu_check.py`):

1. a tracked cell that makes a 1 GB tensor: its record's GPU delta and peak against
   ``torch.cuda``'s own truths (memory_allocated / max_memory_allocated around the cell);
2. a cell that makes and frees a 2 GB temporary: the peak, exact since the cell set a new
   high-water mark;
3. what a reading costs (the start and end readings, medians);
4. no reading waits for the GPU: with a long chain of matmuls queued and not synchronised, a
   reading returns in microseconds while the queue still runs (``torch.cuda.synchronize``
   afterwards takes the time).

Everything runs in one real IPython shell with memtrack loaded; the cells are run as a user
would run them. Without CUDA it says so and exits 0 (there is nothing to check). It prints
one line per check, "ok" or "FAIL", and exits 1 when any fails.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python_ext"))

from IPython.core.interactiveshell import InteractiveShell

GB = 1_000_000_000
FAILED: list[str] = []


def check(name: str, ok: bool, detail: str) -> None:
    print(f"  {'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)
    if not ok:
        FAILED.append(name)


def run(ip: InteractiveShell, source: str) -> None:
    result = ip.run_cell(source, store_history=True)
    if not result.success:
        raise SystemExit(f"cell failed: {source!r}: {result.error_in_exec!r}")


def last_gpu(ip: InteractiveShell) -> dict:
    import memtrack

    record = memtrack.history()[-1]
    (entry,) = [e for e in record.get("gpu") or () if e["library"] == "torch"]
    return entry


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here: nothing to check (run it where there is one)")
        return 0
    print(f"gpu_check: torch {torch.__version__}, {torch.cuda.get_device_name(0)}")
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "memtrack")
    run(ip, "import torch\nwarm = torch.ones(1, device='cuda')")  # CUDA initialised by the user
    ip.run_line_magic("memtrack", "on")

    before = torch.cuda.memory_allocated()
    run(ip, "big = torch.ones(250_000_000, dtype=torch.float32, device='cuda')")
    after, peak = torch.cuda.memory_allocated(), torch.cuda.max_memory_allocated()
    entry = last_gpu(ip)
    delta = entry["allocated_after"] - entry["allocated_before"]
    check(
        "1 GB tensor: delta", delta == after - before, f"{delta:,} B, torch says {after - before:,}"
    )
    check(
        "1 GB tensor: peak",
        entry["peak"] == peak and entry["peak_scope"] == "cell",
        f"{entry['peak']:,} B ({entry['peak_scope']}), torch says {peak:,}",
    )

    run(ip, "tmp = torch.ones(500_000_000, device='cuda')\ntotal = float(tmp.sum())\ndel tmp")
    entry = last_gpu(ip)
    truth = torch.cuda.max_memory_allocated()
    check(
        "2 GB temporary: peak",
        entry["peak"] == truth and entry["peak_scope"] == "cell"
        and entry["allocated_after"] - entry["allocated_before"] < 0.01 * GB,
        f"peak {entry['peak']:,} B ({entry['peak_scope']}), torch says {truth:,}; "
        f"delta {entry['allocated_after'] - entry['allocated_before']:,} B",
    )  # fmt: skip

    from memtrack.measure import gpu

    starts, ends = [], []
    for _ in range(200):
        t0 = time.perf_counter()
        reading = gpu.GpuReading.begin()
        t1 = time.perf_counter()
        reading.end()
        starts.append(t1 - t0)
        ends.append(time.perf_counter() - t1)
    start_us, end_us = statistics.median(starts) * 1e6, statistics.median(ends) * 1e6
    check(
        "reading cost",
        start_us + end_us < 500,
        f"start {start_us:.0f} us, end {end_us:.0f} us (target < 500 us per cell)",
    )

    a = torch.randn(8192, 8192, device="cuda")
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(50):
        a = a @ a / 8192  # queued, not waited for
    queued = time.perf_counter() - t0
    t1 = time.perf_counter()
    reading = gpu.GpuReading.begin()
    reading.end()
    read = time.perf_counter() - t1
    t2 = time.perf_counter()
    torch.cuda.synchronize()
    waited = time.perf_counter() - t2
    check(
        "no reading waits for the GPU",
        read < 0.01 and waited > 10 * read,
        f"reading {read * 1e6:.0f} us while the queued work still took {waited * 1e3:.0f} ms "
        f"(queueing took {queued * 1e3:.0f} ms)",
    )
    ip.run_line_magic("memtrack", "off")
    print(f"gpu_check: {4 + 1 - len(FAILED)}/5 checks passed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
