"""The measurement engine's fast paths give the same answers as the slow ones."""

from __future__ import annotations

import gc
import time
import tracemalloc
from datetime import datetime, timezone

import memtrack
from conftest import record_validator
from memtrack.measure import cell as measure
from memtrack.measure import type_counts as objects
from memtrack.measure.cell import CellMeasurement
from memtrack.measure.ledger import changed_variables, snap_source
from memtrack.store import RecordStore

MB = 1_000_000


def run(ip, code):
    return ip.run_cell(code, store_history=True)


def test_iso_matches_datetime():
    for ts in (0.0, 1e9, 1e9 + 0.5, time.time(), time.time() + 3600.25):
        expected = datetime.fromtimestamp(ts, timezone.utc)
        got = datetime.fromisoformat(measure._iso(ts))
        assert abs((got - expected).total_seconds()) <= 2e-6
        assert measure._iso(ts).endswith("+00:00")


def test_gc_delta_with_and_without_collections():
    before = gc.get_stats()
    assert measure._gc_delta(before, gc.get_stats()) == {
        "collections": [0] * len(before),
        "collected": 0,
        "uncollectable": 0,
    }
    gc.collect()
    delta = measure._gc_delta(before, gc.get_stats())
    assert delta["collections"][-1] >= 1
    assert measure._gc_delta([], gc.get_stats()) is None


def test_a_stale_rusage_peak_falls_back_to_vmhwm(monkeypatch):
    # ru_maxrss can stay above anything this process reached (the value exec inherited from a
    # big parent): never report it as the cell's peak, and stop asking while the RSS is below.
    calls = []

    def stale_rusage_peak():
        calls.append(1)
        return 1 << 50

    monkeypatch.setattr(measure, "_rusage_peak", stale_rusage_peak)
    monkeypatch.setattr(measure, "_stale_maxrss", 0)
    monkeypatch.setattr(measure, "_ru_least", None)
    m = CellMeasurement().start()
    result = m.finish()
    assert result["rss_peak"] < 1 << 40
    assert result["rss_peak"] >= max(result["rss_before"], result["rss_after"])
    assert calls == [1] and measure._stale_maxrss == 1 << 50
    result = CellMeasurement().start().finish()
    assert calls == [1]  # known stale: VmHWM read directly
    assert max(result["rss_before"], result["rss_after"]) <= result["rss_peak"] < 1 << 40


def test_a_peak_above_the_exec_value_comes_from_rusage_alone(monkeypatch):
    # Every ru_maxrss reading bounds the value exec left (it never changes while the process
    # lives): a later reading above the lowest one is VmHWM itself, no /proc/self/status.
    assert measure.reset_peak_rss()
    monkeypatch.setattr(measure, "_ru_least", measure._rusage_peak())
    monkeypatch.setattr(measure, "_stale_maxrss", 0)
    status_reads = []
    read_status = measure.peak_rss
    monkeypatch.setattr(measure, "peak_rss", lambda: status_reads.append(1) or read_status())
    m = CellMeasurement().start()
    tmp = b"\x01" * (40 * MB)
    del tmp
    result = m.finish()
    assert status_reads == []
    assert result["rss_peak"] - result["rss_before"] >= 35 * MB
    assert result["rss_peak"] == read_status()  # the same number VmHWM gives


def test_light_peak_sees_a_temporary_buffer():
    m = CellMeasurement().start()
    tmp = b"\x01" * (40 * MB)
    del tmp
    result = m.finish()
    assert result["rss_peak_scope"] == measure.PEAK_CELL
    assert result["rss_peak"] - result["rss_before"] >= 35 * MB


def test_count_types_is_exact():
    items = [[] for _ in range(1000)] + [{} for _ in range(600)] + [set() for _ in range(3)]
    counts: dict = {}
    objects.count_types(items, counts)
    assert counts == {list: 1000, dict: 600, set: 3}


def test_type_counts_stop_at_the_deadline_and_say_sampled(no_tracing):
    tracemalloc.start(1)
    try:
        counter = objects.TypeCounter().start()
        made = [[i] for i in range(100_000)]
        rows, method = counter.finish(top=3, traced_since_start=True, deadline=time.perf_counter())
        assert "sampled" in method
        lists = next(r for r in rows if r["type"] == "list")
        assert lists["sampled"] is True
        assert 50_000 <= lists["count_delta"] <= 200_000  # scaled up from the slices done
        del made
        counter = objects.TypeCounter().start()
        made = [[i] for i in range(20_000)]
        rows, method = counter.finish(top=3, traced_since_start=True, budget_s=10)
        lists = next(r for r in rows if r["type"] == "list")
        assert lists["count_delta"] >= 20_000 and not lists["sampled"]
        del made
    finally:
        tracemalloc.stop()
    assert gc.get_freeze_count() == 0


def test_light_snapshot_comes_from_the_source_names():
    ns = {"a": [1, 2, 3], "untouched": [0]}
    source = "a.extend(range(100)); b = {}  # 300_000"
    snaps, absent = snap_source(ns, source)
    assert set(snaps) == {"a"}  # only what the source mentions; not "_000" in the number
    assert {"b", "extend", "range"} <= absent
    exec(source, ns)
    rows = {r["name"]: r for r in changed_variables(ns, snaps, absent, 5)}
    assert rows["b"]["change"] == "created"
    assert rows["a"]["change"] == "resized" and rows["a"]["delta"] > 0
    assert set(rows) == {"a", "b"}


def test_source_words_hold_every_identifier_of_the_source():
    from memtrack.measure.ledger import _IDENTIFIER, SOURCE_SCAN_MAX, source_words

    ascii_cell = "df2 = df.groupby('key').agg({'v': 'sum'})\nx_1=0x1F+1e5; print(df2[x_1])  # ok"
    words = source_words(ascii_cell)
    identifiers = set(_IDENTIFIER.findall(ascii_cell))
    assert identifiers <= words  # the translate-and-split path misses no name
    assert words - identifiers <= {"0x1F", "1", "1e5"}  # numbers: words that name nothing
    # Other scripts' characters stay in words; a word that is then no name goes through the regex.
    assert source_words("café=naïve+1 # →x, “quoted”") == {"café", "naïve", "1", "x", "quoted"}
    unicode_cell = "données = [x² for x in range(3)]  # 値 → résultat\nprint(données)"
    assert set(_IDENTIFIER.findall(unicode_cell)) <= source_words(unicode_cell)
    assert {"a", "b"} <= source_words("a\ud800b = 1")  # a lone surrogate: no UnicodeError
    assert "late" not in source_words(" " * SOURCE_SCAN_MAX + "late = 1")


def test_light_snapshot_survives_a_name_deleted_after_its_look_up():
    """Another thread (ipykernel 7 subshells) may delete a name between the look-up and the
    snapshot: the name counts as absent, no KeyError."""

    class Vanishing(dict):
        def __contains__(self, key):  # found by the look-up, gone right after it
            return key == "gone" or dict.__contains__(self, key)

    ns = Vanishing(kept=[1])
    snaps, absent = snap_source(ns, "kept.append(gone)")
    assert set(snaps) == {"kept"} and "gone" in absent


def test_store_add_without_copy_back_returns_the_stored_dict():
    store = RecordStore()
    record = {"label": "x", "variables": []}
    stored = store.add(record, owned=True, copy_back=False)
    assert stored is record and stored["seq"] == 1
    copy = store.add({"label": "y"}, owned=True)
    assert copy == store.snapshot()[-1] and copy is not store._records[-1]


def test_light_mode_runs_statements_through_ipythons_own_coroutine(shell):
    memtrack.start()
    try:
        hook = shell.__dict__.get("run_code")
        run(shell, "import asyncio\nlm = [0] * 100\nawait asyncio.sleep(0)\nlm2 = dict(a=lm)")
    finally:
        memtrack.stop()
    assert hook is None  # installed only while a tracked cell runs
    assert "run_code" not in shell.__dict__
    record = memtrack.history()[-1]
    record_validator().validate(record)
    names = {v["name"]: v["change"] for v in record["variables"]}
    assert names == {"asyncio": "created", "lm": "created", "lm2": "created"}


def test_deep_analysis_shares_one_deadline(shell, monkeypatch):
    """After the cell, type counts and variable sizes share one deadline within the analysis
    budget (types first, their share of it): the bench measures the time, this the plan."""
    from memtrack.measure import ledger as lines
    from memtrack.measure import type_counts as objects
    from memtrack.shell import lifecycle as tracker

    calls = {}

    def spy(cls, name):
        inner = getattr(cls, name)

        def wrapper(self, *args, **kwargs):
            calls[name] = (time.perf_counter(), kwargs["deadline"])
            return inner(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, wrapper)

    spy(objects.TypeCounter, "finish")
    spy(lines.CellLedger, "variables")
    shell.user_ns["old_rows"] = [{"i": i} for i in range(100_000)]
    run(shell, "%%memtrack --quiet\nold_rows = None\nmade = [[i] for i in range(60_000)]")
    record = memtrack.history()[-1]
    assert any(t["type"] == "list" for t in record["types"])
    (types_at, types_deadline), (vars_at, vars_deadline) = calls["finish"], calls["variables"]
    assert types_at <= vars_at and types_deadline < vars_deadline
    assert vars_deadline - types_at <= tracker.ANALYSIS_BUDGET_S  # one budget, started once
    share = (types_deadline - types_at) / (vars_deadline - types_at)
    assert share <= tracker.TYPES_SHARE + 1e-6
    shell.user_ns["made"] = None


def test_light_snapshot_is_bounded():
    """A cell mentioning thousands of existing names pays for at most SNAP_MAX snapshots."""
    from memtrack.measure.ledger import SNAP_MAX

    ns = {f"v{i}": i for i in range(3 * SNAP_MAX)}
    snaps, absent = snap_source(ns, " + ".join(ns))
    assert len(snaps) == SNAP_MAX and not absent


def test_global_stores_are_cached_weakly_and_bounded(monkeypatch):
    from memtrack.measure import ledger as lines

    ns: dict = {}
    exec("def gs_f():\n    global gs_a, gs_b\n    gs_a = 1\n    del gs_b", ns)
    func = ns["gs_f"]
    assert lines.global_stores(func) == {"gs_a", "gs_b"}
    key = id(func.__code__)
    assert key in lines._GLOBALS_OF
    del ns["gs_f"], func
    gc.collect()
    assert key not in lines._GLOBALS_OF  # forgotten with the code object
    monkeypatch.setattr(lines, "GLOBALS_SCAN_MAX", 4)
    exec("def gs_g():\n    global gs_c\n    gs_c = 1", ns)
    assert lines.global_stores(ns["gs_g"]) == frozenset()  # too long to scan: nothing


def test_cell_options_are_parsed_once_per_line_and_handed_out_as_copies(monkeypatch):
    import pytest
    from IPython.core.error import UsageError
    from memtrack.shell import magics

    calls = []
    parse = magics._cell_options
    monkeypatch.setattr(magics, "_cell_options", lambda line: calls.append(line) or parse(line))
    monkeypatch.setattr(magics, "_PARSED", {})
    first = magics.parse_cell_options("--label 'load data' --top 7")
    first["top"] = 99  # a caller changing its copy changes nothing cached
    again = magics.parse_cell_options("--label 'load data' --top 7")
    assert again == {
        "label": "load data",
        "quiet": False,
        "top": 7,
        "lines": True,
        "types": True,
        "vars": True,
    }
    assert calls == ["--label 'load data' --top 7"]
    for _ in range(2):  # a bad line is never cached: it raises every time
        with pytest.raises(UsageError):
            magics.parse_cell_options("--top 0")
    assert calls.count("--top 0") == 2
    monkeypatch.setattr(magics, "PARSED_CACHE_MAX", 3)
    for n in range(1, 6):
        magics.parse_cell_options(f"--top {n}")
    assert len(magics._PARSED) <= 3
