"""Peers benchmark (`make bench`): memtrack side by side with the tools users would pick instead.

The same cells run in one real IPython InteractiveShell (history in memory, like bench/run.py)
under: no tracking; memtrack light (``%memtrack on``); memtrack deep (``%%memtrack``) with each
of its engines, native (the default) and tracemalloc (``MEMTRACK_ENGINE=tracemalloc`` around the
tool's cells); bare ``tracemalloc.start(1)`` around the cell (the reference for deep mode, not a
user tool);
ipython_memory_usage (``%imu_start``); memory_profiler ``%%memit``; memray
``%%memray_flamegraph``; objgraph ``show_growth()`` and pympler ``SummaryTracker.print_diff()``
called at the end of the cell. Each tool is loaded as a user would (``%load_ext ...``) and
switched on only for its own runs; the tools take turns in a new random order each round (no
tool always follows the same one), to cancel the drift of a noisy machine.

Cost: wall time of ``run_cell`` (what the user waits for: memit's forked sampler, memray's flame
graph rendering, pympler's heap walk all count), median of the runs, as a ratio to the untracked
median. Extra memory: the kernel's peak RSS growth during the cell (VmHWM reset, free heap
memory given back to the OS with ``malloc_trim`` first) minus the untracked one, read on untimed
runs (see ``sample``).

Accuracy: cells whose sizes are known exactly (``sys.getsizeof``), each tool's reported per-cell
delta and peak parsed from what it shows the user (memtrack's record as the sidebar gets it; the
other tools' printed lines; memray's flame graph page) against that ground truth.

Writes bench/results.md (not in BENCH_QUICK=1 mode, which prints it instead).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import importlib
import importlib.metadata
import io
import os
import platform
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from IPython.core.interactiveshell import InteractiveShell

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "python_ext"))

import memtrack  # noqa: E402

RESULTS = HERE / "results.md"
QUICK = os.environ.get("BENCH_QUICK") == "1"
REPS = 3 if QUICK else 5
# A tool that needs more than this per workload for REPS runs gets fewer runs (marked in the table).
TOOL_BUDGET_S = 3.0 if QUICK else 12.0
ACCURACY_REPS = 1 if QUICK else 3
ACCURACY_SLOW_S = 1.0  # a tool slower than this per cell is read once per accuracy cell
SCALE = 5 if QUICK else 1  # quick runs shrink the allocation-heavy workloads
WARM_BELOW_S = 0.05  # cells faster than this get an untimed run first (caches, lazy state)
BATCH_BELOW_S = 0.02  # ... and a sample is then the median of BATCH runs
BATCH = 5
MIB = 1 << 20


# ------------------------------------------------------------------------------ memory readings


def _status_bytes(field_name: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _libc_trim() -> Callable[[], None]:
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return lambda: None
    return lambda: trim(0) and None


# Free heap memory back to the OS before each run: otherwise a tool's own allocations land in
# pages the process already holds, and its extra memory never shows in the RSS.
trim_heap = _libc_trim()


def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark (VmHWM) of this process; False where impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ------------------------------------------------------------------------------ the tools


@dataclass
class Tool:
    """How a user runs one tool on a cell, and how to read what it reported."""

    key: str
    label: str
    package: str | None = None  # distribution name, for the version and "not installed"
    module: str | None = None  # importable module checked before loading
    load: Callable[[InteractiveShell], None] | None = None
    on: Callable[[InteractiveShell], None] | None = None
    off: Callable[[InteractiveShell], None] | None = None
    wrap: Callable[[str], str] = lambda cell: cell
    # (stdout, shell) -> (delta bytes, peak bytes above the cell's start); None: not reported.
    parse: Callable[[str, InteractiveShell], tuple[int | None, int | None]] | None = None
    sync_before_accuracy: bool = False  # reports relative to its previous tracked cell
    env: dict[str, str] = field(default_factory=dict)  # set around each of its cells
    peer: bool = True  # a tool users would pick instead of memtrack
    missing: str | None = None  # why it cannot run here
    version: str = ""


def _quiet_line_magic(ip: InteractiveShell, name: str, line: str = "") -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        ip.run_line_magic(name, line)


def _last_record(ip: InteractiveShell) -> dict:
    records = memtrack.history()
    if not records:
        raise RuntimeError("memtrack recorded nothing")
    record = records[-1]
    if record.get("execution_count") != ip.execution_count - 1:
        raise RuntimeError("memtrack's last record is not the last cell's")
    return record


def _parse_light(_out: str, ip: InteractiveShell) -> tuple[int | None, int | None]:
    """Delta: the allocated metric (``alloc_delta``); peak: the RSS's above the cell's start
    (light mode has no allocated peak until an engine sees every allocation). Never one metric
    standing in for the other: a record without it reads n/a."""
    r = _last_record(ip)
    before, peak = r.get("rss_before"), r.get("rss_peak")
    return r.get("alloc_delta"), (
        peak - before if peak is not None and before is not None else None
    )


def _parse_deep(engine: str) -> Callable[[str, InteractiveShell], tuple[int | None, int | None]]:
    def parse(_out: str, ip: InteractiveShell) -> tuple[int | None, int | None]:
        r = _last_record(ip)
        if r.get("traced_engine") != engine:
            raise RuntimeError(f"the {engine} engine did not run ({r.get('traced_engine')} did)")
        return r.get("traced_delta"), r.get("traced_peak")

    return parse


_IMU = re.compile(r"used (-?[\d.]+) MiB RAM in .*?peaked (-?[\d.]+) MiB above final usage")


def _parse_imu(out: str, _ip) -> tuple[int | None, int | None]:
    found = _IMU.findall(out)
    if not found:
        raise RuntimeError(f"no ipython_memory_usage line in {out[-300:]!r}")
    used, above = (float(x) for x in found[-1])
    # "peaked N MiB above final usage": the cell's peak over its start is used + N (at least 0:
    # the start is a moment of the cell, even when its sampler missed it).
    return round(used * MIB), round(max(0.0, used + above) * MIB)


_MEMIT = re.compile(r"peak memory: ([\d.]+) MiB, increment: (-?[\d.]+) MiB")


def _parse_memit(out: str, _ip) -> tuple[int | None, int | None]:
    found = _MEMIT.findall(out)
    if not found:
        raise RuntimeError(f"no %memit line in {out[-300:]!r}")
    # "increment" is the sampled peak over the RSS before the statement: a peak, not a delta.
    return None, round(float(found[-1][1]) * MIB)


_MEMRAY_SAVED = re.compile(r"Results saved to\s+(\S+flamegraph\.html)")
_MEMRAY_PEAK = re.compile(r"Peak memory usage:\s*([\d.]+)\s*(Bytes?|kB|MB|GB|TB)")
_DECIMAL = {"Byte": 1, "Bytes": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}


def _parse_memray(out: str, _ip) -> tuple[int | None, int | None]:
    saved = _MEMRAY_SAVED.search(out)
    if not saved:
        raise RuntimeError(f"memray named no flame graph in {out[-300:]!r}")
    page = Path(saved.group(1)).read_text(errors="replace")
    peak = _MEMRAY_PEAK.search(page)
    if not peak:
        raise RuntimeError("no 'Peak memory usage' in memray's flame graph page")
    # The page's run stats: the peak of the heap memray saw while the cell ran (no delta shown).
    return None, round(float(peak.group(1)) * _DECIMAL[peak.group(2)])


_PYMPLER_ROW = re.compile(r"\|\s*(-?\d+)\s*\|\s*(-?\d+(?:\.\d+)?)\s+(B|KB|MB|GB|TB)\s*$")
_BINARY = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


def _parse_pympler(out: str, _ip) -> tuple[int | None, int | None]:
    rows = [_PYMPLER_ROW.search(line) for line in out.splitlines()]
    rows = [m for m in rows if m]
    if not rows and "total size" not in out:
        raise RuntimeError(f"no pympler table in {out[-300:]!r}")
    # The diff's "total size" column summed: the change in the sizes of live objects.
    return round(sum(float(m.group(2)) * _BINARY[m.group(3)] for m in rows)), None


def _tracemalloc_hooks() -> tuple[Callable, Callable]:
    def pre(_info):
        tracemalloc.start(1)

    def post(_result):
        tracemalloc.stop()

    return pre, post


_TM_PRE, _TM_POST = _tracemalloc_hooks()


def _tm_on(ip: InteractiveShell) -> None:
    ip.events.register("pre_run_cell", _TM_PRE)
    ip.events.register("post_run_cell", _TM_POST)


def _tm_off(ip: InteractiveShell) -> None:
    ip.events.unregister("pre_run_cell", _TM_PRE)
    ip.events.unregister("post_run_cell", _TM_POST)


def _load_ext(name: str) -> Callable[[InteractiveShell], None]:
    return lambda ip: _quiet_line_magic(ip, "load_ext", name)


def _run_silent(source: str) -> Callable[[InteractiveShell], None]:
    def load(ip: InteractiveShell) -> None:
        result = ip.run_cell(source, store_history=False, silent=True)
        result.raise_error()

    return load


def make_tools() -> list[Tool]:
    return [
        Tool("none", "none", peer=False),
        Tool(
            "light",
            "memtrack light",
            on=lambda ip: _quiet_line_magic(ip, "memtrack", "on"),
            off=lambda ip: _quiet_line_magic(ip, "memtrack", "off"),
            parse=_parse_light,
            peer=False,
        ),
        *(
            Tool(
                key,
                f"memtrack deep ({engine})",
                wrap=lambda cell: "%%memtrack\n" + cell,
                parse=_parse_deep(engine),
                peer=False,
                env={"MEMTRACK_ENGINE": engine},  # read at each deep cell's start
            )
            for key, engine in (("deep", "native"), ("deep_tm", "tracemalloc"))
        ),
        Tool("tracemalloc", "tracemalloc (ref.)", on=_tm_on, off=_tm_off, peer=False),
        Tool(
            "imu",
            "ipython_memory_usage",
            package="ipython_memory_usage",
            module="ipython_memory_usage",
            load=_load_ext("ipython_memory_usage"),
            on=lambda ip: _quiet_line_magic(ip, "imu_start"),
            off=lambda ip: _quiet_line_magic(ip, "imu_stop"),
            parse=_parse_imu,
            sync_before_accuracy=True,
        ),
        Tool(
            "memit",
            "memory_profiler %memit",
            package="memory_profiler",
            module="memory_profiler",
            load=_load_ext("memory_profiler"),
            wrap=lambda cell: "%%memit\n" + cell,
            parse=_parse_memit,
        ),
        Tool(
            "memray",
            "memray flamegraph",
            package="memray",
            module="memray",
            load=_load_ext("memray"),
            wrap=lambda cell: "%%memray_flamegraph\n" + cell,
            parse=_parse_memray,
        ),
        Tool(
            "objgraph",
            "objgraph show_growth",
            package="objgraph",
            module="objgraph",
            load=_run_silent("import io, objgraph\nobjgraph.show_growth(file=io.StringIO())"),
            wrap=lambda cell: cell + "\nobjgraph.show_growth(limit=10)",
        ),
        Tool(
            "pympler",
            "pympler SummaryTracker",
            package="Pympler",
            module="pympler",
            load=_run_silent(
                "from pympler.tracker import SummaryTracker\npympler_tracker = SummaryTracker()"
            ),
            wrap=lambda cell: cell + "\npympler_tracker.print_diff()",
            parse=_parse_pympler,
            sync_before_accuracy=True,
        ),
    ]


# ------------------------------------------------------------------------------ running cells


@dataclass
class Run:
    seconds: float
    peak_growth: int | None  # peak RSS during the cell over the RSS before it
    out: str


@contextlib.contextmanager
def switched_on(ip: InteractiveShell, tool: Tool):
    """The tool on for a few cells in a row, as a user leaves it on (its first cell after
    switching on may do one-off work)."""
    if tool.on:
        tool.on(ip)
    try:
        yield
    finally:
        if tool.off:
            tool.off(ip)


@contextlib.contextmanager
def environ(values: dict[str, str]):
    """``values`` in os.environ for the block, the previous values back after it."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_once(ip: InteractiveShell, tool: Tool, cell: str, trim: bool = True) -> Run:
    """Run ``cell`` as the user would with ``tool`` (switched on by the caller)."""
    gc.collect(1)  # each run starts from the same young generations
    if trim:
        trim_heap()
    out = io.StringIO()
    can_peak = reset_peak_rss()
    rss0 = _status_bytes("VmRSS")
    with contextlib.redirect_stdout(out), environ(tool.env):
        t0 = time.perf_counter()
        result = ip.run_cell(tool.wrap(cell), store_history=True)
        dt = time.perf_counter() - t0
    hwm = _status_bytes("VmHWM") if can_peak else None
    if not result.success:
        err = result.error_in_exec or result.error_before_exec
        raise RuntimeError(f"{tool.label}: cell failed: {err!r}\n{out.getvalue()[-500:]}")
    growth = hwm - rss0 if hwm is not None and rss0 is not None else None
    return Run(dt, growth, out.getvalue())


def bare(ip: InteractiveShell, source: str) -> None:
    """Untimed set-up / tear-down code, no tool on."""
    with contextlib.redirect_stdout(io.StringIO()):
        result = ip.run_cell(source, store_history=False)
    result.raise_error()


def clean_memray_results() -> None:
    shutil.rmtree("memray-results", ignore_errors=True)


# ------------------------------------------------------------------------------ cost

NBODY = """\
def nbody(steps, dt=0.01):
    b = [[i, i * 0.5, -i, 0.1 * i, -0.2 * i, 0.05 * i, 1.0 + i] for i in (0.0, 1.0, 2.0, 3.0, 4.0)]
    for _ in range(steps):
        for i in range(5):
            bi = b[i]
            for j in range(i + 1, 5):
                bj = b[j]
                dx = bi[0] - bj[0]
                dy = bi[1] - bj[1]
                dz = bi[2] - bj[2]
                d2 = dx * dx + dy * dy + dz * dz + 0.01
                mag = dt / (d2 * d2**0.5)
                mi = bi[6] * mag
                mj = bj[6] * mag
                bi[3] -= dx * mj
                bi[4] -= dy * mj
                bi[5] -= dz * mj
                bj[3] += dx * mi
                bj[4] += dy * mi
                bj[5] += dz * mi
        for p in b:
            p[0] += dt * p[3]
            p[1] += dt * p[4]
            p[2] += dt * p[5]
    return b[0][0]
energy = nbody(STEPS)
"""


@dataclass
class Workload:
    name: str
    cell: str
    setup: str = ""
    teardown: str = ""
    heap: int = 0  # live GC-tracked objects built before the runs


def workloads() -> list[Workload]:
    n = 1_000_000 // SCALE
    heaps = (100_000, 500_000) if QUICK else (1_000_000, 5_000_000)
    return [
        Workload("trivial cell", "x = 1"),
        Workload(
            f"{n:.0e} small dicts",
            f"d = [{{'i': i}} for i in range({n})]",
            teardown="d = None",
        ),
        Workload(
            f"{n:.0e} f-strings joined",
            f"s = ','.join([f'item {{i}}' for i in range({n})])",
            teardown="s = None",
        ),
        Workload("float n-body loop", NBODY.replace("STEPS", str(8000 // SCALE))),
        Workload(
            "json dumps/loads",
            "js = json.dumps(data)\nback = json.loads(js)",
            setup="import json\ndata = [{'id': i, 'name': f'n{i}', 'tags': [i, i + 1], "
            f"'score': i * 0.5}} for i in range({50_000 // SCALE})]",
            teardown="data = js = back = None",
        ),
        Workload("100 MB bytes made and freed", "buf = b'x' * 100_000_000\ndel buf"),
        *(
            Workload(
                f"10k dicts at {h:.0e} live objects",
                "objs = [{'i': i} for i in range(10_000)]",
                teardown="objs = None",
                heap=h,
            )
            for h in heaps
        ),
    ]


@dataclass
class Cost:
    seconds: dict[str, list[float]] = field(default_factory=dict)
    peak: dict[str, list[int]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def median(self, key: str) -> float | None:
        v = self.seconds.get(key)
        return statistics.median(v) if v else None

    def ratio(self, key: str) -> float | None:
        base, t = self.median("none"), self.median(key)
        return t / base if base and t is not None else None

    def extra_peak(self, key: str) -> int | None:
        base, p = self.peak.get("none"), self.peak.get(key)
        if not base or not p:
            return None
        return round(statistics.median(p) - statistics.median(base))


def sample(ip: InteractiveShell, tool: Tool, cell: str, first: bool, cheap: bool) -> Run:
    """One sample, the tool on for a first ``pass`` cell and then the cell.

    The heap is trimmed only before an untimed run (page faults on memory given back to the OS
    would add the same time to every tool and flatten the ratios); that run reads the memory
    and warms the caches the previous tool left. It runs in the first round and before each
    ``cheap`` cell (under WARM_BELOW_S with this tool), whose sample is then the median of a
    batch when under BATCH_BELOW_S. A slow tool's trimmed run is its timed run too.
    """
    with switched_on(ip, tool):
        if tool.on:
            run_once(ip, tool, "pass", trim=False)  # not the first cell after switching on
        pre = run_once(ip, tool, cell, trim=True) if first or cheap else None
        if pre is not None and pre.seconds * REPS > TOOL_BUDGET_S:
            return pre
        if pre is not None and pre.seconds < BATCH_BELOW_S:
            runs = [run_once(ip, tool, cell, trim=False) for _ in range(BATCH)]
            seconds = statistics.median(r.seconds for r in runs)
            return Run(seconds, pre.peak_growth, runs[-1].out)
        timed = run_once(ip, tool, cell, trim=False)
        return Run(timed.seconds, pre.peak_growth if pre else None, timed.out)


def measure_cost(ip: InteractiveShell, tools: list[Tool], w: Workload) -> Cost:
    cost = Cost()
    if w.setup:
        bare(ip, w.setup)
    if w.heap:
        bare(ip, f"_peers_heap = [[] for _ in range({w.heap})]")
    gc.collect()
    bare(ip, w.cell)  # warm-up, untimed
    reps = {t.key: REPS for t in tools}
    last: dict[str, float] = {}
    order = list(tools)
    shuffle = random.Random(w.name).shuffle  # no tool always follows the same one
    for r in range(REPS):
        shuffle(order)
        for tool in order:
            if r >= reps[tool.key] or tool.key in cost.errors:
                continue
            try:
                cheap = last.get(tool.key, 0.0) < WARM_BELOW_S
                run = sample(ip, tool, w.cell, first=r == 0, cheap=cheap)
            except Exception as e:  # one broken tool must not stop the others
                cost.errors[tool.key] = str(e).splitlines()[0][:200]
                print(f"    {tool.label}: {cost.errors[tool.key]}", flush=True)
                continue
            finally:
                clean_memray_results()
            last[tool.key] = run.seconds
            cost.seconds.setdefault(tool.key, []).append(run.seconds)
            if run.peak_growth is not None:
                cost.peak.setdefault(tool.key, []).append(run.peak_growth)
            if r == 0 and run.seconds * REPS > TOOL_BUDGET_S:
                reps[tool.key] = max(1, min(REPS, int(TOOL_BUDGET_S // run.seconds)))
    if w.teardown:
        bare(ip, w.teardown)
    if w.heap:
        bare(ip, "_peers_heap = None")
    gc.collect()
    return cost


# ------------------------------------------------------------------------------ accuracy


@dataclass
class Truth:
    name: str
    cell: str
    delta: int
    peak: int
    before: str = ""  # state the cell starts from (run untracked)

    @property
    def size(self) -> int:
        """What errors are relative to: the largest amount the cell allocates or frees."""
        return max(abs(self.delta), self.peak)


def truths() -> list[Truth]:
    def b(n: int) -> int:
        return sys.getsizeof(b"") + n

    return [
        Truth("keep 50 MB bytes", "keep = b'x' * 50_000_000", b(50_000_000), b(50_000_000)),
        Truth("100 MB made and freed", "buf = b'x' * 100_000_000\ndel buf", 0, b(100_000_000)),
        Truth(
            "keep 100 MB list",
            "ptrs = [None] * 12_500_000",
            sys.getsizeof([]) + 8 * 12_500_000,
            sys.getsizeof([]) + 8 * 12_500_000,
        ),
        Truth(
            "free 50 MB kept earlier",
            "del keep",
            -b(50_000_000),
            0,
            before="keep = b'x' * 50_000_000",
        ),
        Truth("keep 10 MB bytes", "small = b'x' * 10_000_000", b(10_000_000), b(10_000_000)),
    ]


@dataclass
class Reported:
    delta: list[int] = field(default_factory=list)
    peak: list[int] = field(default_factory=list)
    error: str | None = None


def measure_accuracy(ip: InteractiveShell, tools: list[Tool]) -> dict[tuple[str, str], Reported]:
    readers = [t for t in tools if t.parse and not t.missing]
    got: dict[tuple[str, str], Reported] = {}
    slow: set[str] = set()  # read once: their readings repeat, their seconds add up
    for rep in range(ACCURACY_REPS):
        for truth in truths():
            order = readers[rep % len(readers) :] + readers[: rep % len(readers)]
            for tool in order:
                rec = got.setdefault((truth.name, tool.key), Reported())
                if rec.error or (rep and tool.key in slow):
                    continue
                bare(ip, "keep = buf = ptrs = small = None")
                gc.collect()
                if truth.before:
                    bare(ip, truth.before)
                try:
                    # No heap trimming here: RSS readings meet the allocator as a session has it.
                    with switched_on(ip, tool):
                        # imu and pympler count from their previous cell: a cell before.
                        if tool.on or tool.sync_before_accuracy:
                            run_once(ip, tool, "pass", trim=False)
                        run = run_once(ip, tool, truth.cell, trim=False)
                    delta, peak = tool.parse(run.out, ip)
                    if run.seconds > ACCURACY_SLOW_S:
                        slow.add(tool.key)
                except Exception as e:
                    rec.error = str(e).splitlines()[0][:200]
                    print(f"    {tool.label} on {truth.name!r}: {rec.error}", flush=True)
                    continue
                finally:
                    clean_memray_results()
                if delta is not None:
                    rec.delta.append(delta)
                if peak is not None:
                    rec.peak.append(peak)
    bare(ip, "keep = buf = ptrs = small = None")
    gc.collect()
    return got


def error_pct(values: list[int], truth: int, size: int) -> float | None:
    if not values:
        return None
    return (statistics.median(values) - truth) / size * 100


# ------------------------------------------------------------------------------ report

ROWS: list[tuple[str, str, str, bool]] = []  # (target, measured, limit, ok)

# Accuracy is read twice: in a fresh kernel, and in the kernel the cost runs leave behind (big
# structures built and freed: the allocator holds free memory it hands out again).
FRESH = "fresh kernel"
USED = "used kernel"
STATES = {
    FRESH: "right after start, before the cost runs",
    USED: "after the cost runs, which built and freed big heaps (and the tools' walks over them)",
}


def row(target: str, measured: str, limit: str, ok: bool) -> None:
    ROWS.append((target, measured, limit, ok))
    print(f"  {'ok ' if ok else 'MISS'} {target:<58} {measured:>30}   target {limit}", flush=True)


def fmt_mb(n: float | None, signed: bool = False) -> str:
    if n is None:
        return "n/a"
    return f"{n / 1e6:+.1f} MB" if signed else f"{n / 1e6:.1f} MB"


def machine() -> list[str]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = _meminfo_total()
    return [
        f"{os.cpu_count()} CPU(s), {model}",
        f"{ram / 2**30:.1f} GiB RAM" if ram else "RAM unknown",
        f"{platform.system()} {platform.release()}",
    ]


def _meminfo_total() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return None


# Which metric each memtrack figure is (the rows say it: one figure, one meaning).
METRIC_OF = {
    ("light", "delta"): "allocated",
    ("light", "peak"): "RSS",
    ("deep", "delta"): "traced",
    ("deep", "peak"): "traced",
    ("deep_tm", "delta"): "traced",
    ("deep_tm", "peak"): "traced",
}
MEMTRACK_MODES = {"light": "light", "deep": "deep (native)", "deep_tm": "deep (tracemalloc)"}


def check_targets(tools: list[Tool], costs: dict[str, Cost], accs: dict[str, dict]) -> None:
    print("targets:")
    by_key = {t.key: t for t in tools}
    peers = [t for t in tools if t.peer and not t.missing]
    for name, cost in costs.items():
        light = cost.ratio("light")
        ratios = [(cost.ratio(t.key), t.label) for t in peers if cost.ratio(t.key) is not None]
        if light is not None and ratios:
            best, best_label = min(ratios)
            row(
                f"light cheaper than every peer: {name}",
                f"{light:.2f}x vs {best:.2f}x ({best_label})",
                "< every peer",
                light < best,
            )
        # Issue 21: deep mode with its native engine never slower than bare tracemalloc (here
        # all included: the analysis and the printed summary too).
        deep, tm = cost.median("deep"), cost.median("tracemalloc")
        if deep is not None and tm:
            row(
                f"deep (native) vs bare tracemalloc: {name}",
                f"{deep / tm:.2f}x",
                "<= 1.00x",
                deep / tm <= 1.0,
            )
        memray = cost.median("memray")
        if deep is not None and memray and not by_key["memray"].missing:
            row(
                f"deep (native) cheaper than memray's magic: {name}",
                f"{cost.ratio('deep'):.2f}x vs {cost.ratio('memray'):.2f}x",
                "< memray",
                deep < memray,
            )
    for state, acc in accs.items():
        for truth in truths():
            for key, what in MEMTRACK_MODES.items():
                rec = acc.get((truth.name, key))
                where = f"{truth.name}, {state}"
                if rec is None or rec.error:
                    row(f"{what} accuracy: {where}", "error", "a number", False)
                    continue
                if abs(truth.delta) >= 10e6:
                    e = error_pct(rec.delta, truth.delta, truth.size)
                    row(
                        f"{what} delta ({METRIC_OF[key, 'delta']}) within 2%: {where}",
                        "n/a" if e is None else f"{e:+.2f}%",
                        "|error| <= 2%",
                        e is not None and abs(e) <= 2,
                    )
                e = error_pct(rec.peak, truth.peak, truth.size)
                row(
                    f"{what} peak ({METRIC_OF[key, 'peak']}) within 5%: {where}",
                    "n/a" if e is None else f"{e:+.2f}%",
                    "|error| <= 5%",
                    e is not None and abs(e) <= 5,
                )


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def report(tools: list[Tool], costs: dict[str, Cost], accs: dict[str, dict], took_s: float) -> str:
    live = [t for t in tools if not t.missing]
    lines = [
        "# memtrack side by side with the tools users would pick instead",
        "",
        "Generated by `make bench` (`bench/peers.py`); do not edit by hand. "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {took_s:.0f} s"
        f"{' (BENCH_QUICK=1: fewer runs, smaller workloads)' if QUICK else ''}.",
        "",
        "**Machine:** " + "; ".join(machine()) + ".  ",
        f"**Versions:** Python {platform.python_version()}, IPython "
        f"{importlib.metadata.version('ipython')}, memtrack {memtrack.__version__}, "
        + ", ".join(f"{t.package} {t.version or 'not installed'}" for t in tools if t.package)
        + ".",
        "",
    ]
    for t in tools:
        if t.missing:
            lines.append(f"- **{t.label} did not run:** {t.missing}")
    lines += ["", "## Targets", ""]
    met = sum(1 for r in ROWS if r[3])
    lines.append(f"{met}/{len(ROWS)} targets met:")
    lines.append("")
    groups: dict[str, list[bool]] = {}
    for target, _, _, ok in ROWS:
        groups.setdefault(target.split(":")[0], []).append(ok)
    lines += [f"- {g}: {sum(oks)}/{len(oks)}" for g, oks in groups.items()]
    lines.append("")
    lines += _table(
        ["", "target", "measured", "limit"],
        [["ok" if ok else "**MISS**", t, m, lim] for t, m, lim, ok in ROWS],
    )
    lines += [
        "",
        "## Cost: wall time per cell, as a ratio to the untracked cell",
        "",
        f"Median of {REPS} runs per tool (fewer where marked: a tool that needs more than "
        f"{TOOL_BUDGET_S:.0f} s per workload for them), the tools taking turns in a new random "
        "order each round; a run is the cell after a first cell with the tool on. Untimed runs "
        "come first in the first round and before cells under "
        f"{WARM_BELOW_S * 1e3:.0f} ms (under {BATCH_BELOW_S * 1e3:.0f} ms a run is the median of "
        f"{BATCH}); a tool's single run is timed when it is over the budget. `none` is the "
        "untracked median. memtrack runs without a frontend (it prints its summary line per "
        "cell); the other tools print what they print.",
        "",
    ]
    header = ["workload", "none", *[t.label for t in live if t.key != "none"]]
    rows = []
    for name, cost in costs.items():
        base = cost.median("none")
        cells = [name, f"{base * 1e3:.2f} ms" if base else "error"]
        for t in live:
            if t.key == "none":
                continue
            if t.key in cost.errors:
                cells.append("error")
                continue
            r = cost.ratio(t.key)
            n = len(cost.seconds.get(t.key, []))
            cells.append("n/a" if r is None else f"{r:.2f}x" + (f" (n={n})" if n < REPS else ""))
        rows.append(cells)
    lines += _table(header, rows)
    lines += [
        "",
        "## Extra memory: peak RSS growth during the cell, minus the untracked cell's",
        "",
        "Median of the untimed runs (one per tool, more for cells under "
        f"{WARM_BELOW_S * 1e3:.0f} ms). Free heap memory is given back to the OS "
        "(`malloc_trim(0)`) before each reading, so that a tool's own allocations show. The "
        "kernel process only (memit's forked sampler is not in it). A cell read once can be off "
        "by 10-20 MB on the allocation-heavy cells (where the allocator's free lists stand).",
        "",
    ]
    header = ["workload", *[t.label for t in live if t.key != "none"]]
    rows = []
    for name, cost in costs.items():
        rows.append(
            [name] + [fmt_mb(cost.extra_peak(t.key), signed=True) for t in live if t.key != "none"]
        )
    lines += _table(header, rows)
    readers = [t for t in live if t.parse]
    lines += [
        "",
        "## Accuracy: reported per-cell delta and peak against the ground truth",
        "",
        f"Median of {ACCURACY_REPS} run(s) per tool (one for a tool slower than "
        f"{ACCURACY_SLOW_S:.0f} s per cell); error = (reported - truth) / size, size = "
        "the largest amount the cell allocates or frees. Ground truth from `sys.getsizeof` of the "
        "objects (`b'x' * n` and `[None] * n` touch every page they allocate). n/a: the tool "
        "shows no such number. Which metric each figure is: memtrack light's delta is the "
        "allocated metric (what the allocators hold for live blocks: glibc's mallinfo2), its "
        "peak the RSS's above the cell's start; memtrack deep's are traced (by the native engine, "
        "or by tracemalloc with `MEMTRACK_ENGINE=tracemalloc`); "
        "ipython_memory_usage and %memit read the RSS, memray its own allocation records, "
        "pympler the sizes of the objects it finds. The heap is not trimmed here: RSS-based "
        "readings (memtrack light's peak, ipython_memory_usage, %memit) meet the allocator as "
        "the session has it. Once "
        "glibc holds a big enough freed block (below its mmap threshold, which grows up to "
        "32 MiB after such frees, or a large free chunk after big structures went away), it "
        "serves new blocks from it and keeps freed ones for reuse: the process's RSS does not "
        "move, and RSS-based deltas read 0. Here the 10 MB cell meets the block that the same "
        "cell left under the tools read before.",
    ]
    for state, acc in accs.items():
        lines += ["", f"### In a {state}: {STATES[state]}", ""]
        header = ["cell", "", "truth", *[t.label for t in readers]]
        rows = []
        for truth in truths():
            for what, value in (("delta", truth.delta), ("peak", truth.peak)):
                cells = [truth.name, what, fmt_mb(value, signed=what == "delta")]
                for t in readers:
                    rec = acc.get((truth.name, t.key))
                    if rec is None or rec.error:
                        cells.append("error")
                        continue
                    values = rec.delta if what == "delta" else rec.peak
                    e = error_pct(values, value, truth.size)
                    cells.append(
                        "n/a"
                        if e is None
                        else f"{fmt_mb(statistics.median(values), what == 'delta')} ({e:+.1f}%)"
                    )
                rows.append(cells)
        lines += _table(header, rows)
    lines += [
        "",
        "## How each tool was run and read",
        "",
        "- **none**: the cell as is. memtrack stays loaded (tracking off) in every run, as do the "
        "other extensions (their hooks off).",
        "- **memtrack light**: `%memtrack on` before the cell, `%memtrack off` after; delta "
        "`alloc_delta` (the allocated metric), peak `rss_peak - rss_before` (the RSS's) from the "
        "record the sidebar gets.",
        "- **memtrack deep (native)**, **memtrack deep (tracemalloc)**: `%%memtrack` on the "
        "cell (summary printed, no frontend), with `MEMTRACK_ENGINE=native` or "
        "`MEMTRACK_ENGINE=tracemalloc` set around the cell (read at each deep cell's start; "
        "native is the default); `traced_delta`, `traced_peak` of its record (whose "
        "`traced_engine` is checked).",
        "- **tracemalloc (ref.)**: `tracemalloc.start(1)` in `pre_run_cell`, `stop()` in "
        "`post_run_cell`: what deep mode's tracing alone costs (no analysis, no report).",
        "- **ipython_memory_usage**: `%load_ext ipython_memory_usage`, `%imu_start` / "
        "`%imu_stop`; its line `used X MiB RAM ... peaked Y MiB above final usage`: delta X, "
        "peak max(0, X + Y). It counts from its previous tracked cell, so accuracy runs give "
        "it a `pass` cell first.",
        "- **memory_profiler %memit**: `%load_ext memory_profiler`, `%%memit` on the cell (one "
        "run, RSS sampled by a forked process every 0.1 s); `increment` is the sampled peak over "
        "the start: read as the peak, no delta.",
        "- **memray flamegraph**: `%load_ext memray`, `%%memray_flamegraph` on the cell (files "
        "in a temporary directory); the peak is the `Peak memory usage` of the flame graph "
        "page's run stats; it shows no delta.",
        "- **objgraph show_growth**: `objgraph.show_growth(limit=10)` at the end of the cell: "
        "object counts only, so n/a for bytes.",
        "- **pympler SummaryTracker**: `pympler_tracker.print_diff()` at the end of the cell; "
        "delta = the printed `total size` column summed (top 15 rows), no peak; a `pass` cell "
        "first in accuracy runs.",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ main


def shell() -> InteractiveShell:
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"  # no SQLite writer thread in the timings
    ip = InteractiveShell.instance(config=config)
    _quiet_line_magic(ip, "load_ext", "memtrack")
    return ip


def prepare(ip: InteractiveShell, tools: list[Tool]) -> None:
    for tool in tools:
        if tool.package:
            try:
                tool.version = importlib.metadata.version(tool.package)
                importlib.import_module(tool.module or tool.package)
            except Exception as e:  # not installed, or broken on this Python
                tool.missing = f"`{tool.package}` cannot be imported ({type(e).__name__}: {e})"
                continue
        try:
            if tool.load:
                tool.load(ip)
            with switched_on(ip, tool):
                run_once(ip, tool, "x = 1")  # first-use imports out of the timings
        except Exception as e:
            tool.missing = f"could not be loaded ({type(e).__name__}: {str(e).splitlines()[0]})"
        finally:
            clean_memray_results()
        if tool.missing:
            print(f"  {tool.label}: {tool.missing}", flush=True)


def main() -> None:
    t0 = time.perf_counter()
    workdir = tempfile.mkdtemp(prefix="memtrack-peers-")
    os.chdir(workdir)  # memray writes memray-results/ under the current directory
    try:
        ip = shell()
        tools = make_tools()
        print(
            f"peers: python {platform.python_version()}, {os.cpu_count()} cpu(s)"
            f"{', QUICK' if QUICK else ''}",
            flush=True,
        )
        prepare(ip, tools)
        live = [t for t in tools if not t.missing]
        accs: dict[str, dict] = {}
        ta = time.perf_counter()
        accs[FRESH] = measure_accuracy(ip, live)
        print(f"  accuracy, {FRESH} ({time.perf_counter() - ta:.0f} s)", flush=True)
        costs: dict[str, Cost] = {}
        for w in workloads():
            tw = time.perf_counter()
            costs[w.name] = cost = measure_cost(ip, live, w)
            ratios = ", ".join(
                f"{t.label} {cost.ratio(t.key):.2f}x"
                for t in live
                if t.key != "none" and cost.ratio(t.key) is not None
            )
            base = cost.median("none") or 0.0
            print(
                f"  {w.name}: none {base * 1e3:.2f} ms; {ratios} "
                f"({time.perf_counter() - tw:.0f} s)",
                flush=True,
            )
        ta = time.perf_counter()
        accs[USED] = measure_accuracy(ip, live)
        print(f"  accuracy, {USED} ({time.perf_counter() - ta:.0f} s)", flush=True)
        check_targets(tools, costs, accs)
        took = time.perf_counter() - t0
        text = report(tools, costs, accs, took)
    finally:
        os.chdir(HERE)
        shutil.rmtree(workdir, ignore_errors=True)
    missed = [r for r in ROWS if not r[3]]
    print(f"\n{len(ROWS) - len(missed)}/{len(ROWS)} targets met in {took:.0f} s")
    if QUICK:
        print("\n" + text)
    else:
        RESULTS.write_text(text)
        print(f"wrote {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()
