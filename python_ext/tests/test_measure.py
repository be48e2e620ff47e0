"""memtrack.measure: real measurements of real allocations (Linux /proc where available)."""

from __future__ import annotations

import gc
import json
import mmap
import os
import subprocess
import sys
import tracemalloc

import pytest
from memtrack.measure import cell as measure
from memtrack.measure import engine
from memtrack.measure.cell import CellMeasurement

MB = 1_000_000
LINUX = sys.platform.startswith("linux")


def test_rss_is_positive_bytes():
    value = measure.rss()
    if LINUX:
        assert isinstance(value, int)
        assert value > 1 * MB
    else:  # no cheap current RSS elsewhere
        assert value is None or value > 1 * MB


def test_peak_rss_at_least_current():
    current, peak = measure.rss(), measure.peak_rss()
    assert isinstance(peak, int)
    if current is not None:
        assert peak >= current - 64 * 1024


def test_50mb_allocation_shows_in_traced_delta_and_peak(no_tracing):
    m = CellMeasurement(deep=True).start()
    x = bytearray(50 * MB)
    # The RSS check needs pages new to the process: malloc may hand the bytearray memory it
    # freed earlier and kept resident (it depends on what ran before), an anonymous map never.
    fresh = mmap.mmap(-1, 50 * MB)
    for offset in range(0, 50 * MB, mmap.PAGESIZE):
        fresh[offset] = 1
    result = m.finish()
    fresh.close()
    try:
        assert result["mode"] == "deep"
        assert 49 * MB <= result["traced_delta"] <= 52 * MB
        assert 49 * MB <= result["traced_peak"] <= 55 * MB
        assert result["traced_peak"] >= result["traced_delta"]
        if LINUX:
            assert result["rss_after"] - result["rss_before"] >= 40 * MB
    finally:
        del x
    # memtrack started tracemalloc for this cell, so it must not stay on.
    assert not tracemalloc.is_tracing()


def test_temporary_80mb_buffer_shows_only_in_peaks(no_tracing):
    m = CellMeasurement(deep=True).start()
    tmp = b"\x01" * (80 * MB)  # bytes: every page is written, so RSS really grows
    del tmp
    result = m.finish()
    assert abs(result["traced_delta"]) < 2 * MB
    assert 79 * MB <= result["traced_peak"] <= 85 * MB
    if LINUX:
        assert result["rss_peak_scope"] == measure.PEAK_CELL
        assert result["rss_peak"] - result["rss_before"] >= 70 * MB
        assert result["rss_peak"] >= result["rss_after"]


_CHILD_PEAKS = """
import json, resource
from memtrack.measure import cell as measure
from memtrack.measure.cell import CellMeasurement
inherited = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
read_status, status_reads = measure.peak_rss, []
measure.peak_rss = lambda: status_reads.append(1) or read_status()
cells = []
for size in (0, 20_000_000, 30_000_000, 0, 0, 0):
    reads = len(status_reads)
    m = CellMeasurement().start()
    tmp = b"\\x01" * size
    del tmp
    r = m.finish()
    cells.append([r["rss_before"], r["rss_after"], r["rss_peak"], size, len(status_reads) - reads])
print(json.dumps({"inherited": inherited, "cells": cells}))
"""


def test_a_process_started_by_a_bigger_one_reports_its_own_peaks():
    # A kernel inherits at exec the ru_maxrss of the server that started it: its cells must
    # still report their own peak, never the server's size. ru_maxrss says nothing there:
    # VmHWM is read, unless no page was faulted in during the cell.
    ballast = bytearray(300 * MB)
    ballast[:: mmap.PAGESIZE] = b"\x01" * len(range(0, len(ballast), mmap.PAGESIZE))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD_PEAKS], env=env, capture_output=True, text=True, check=True
    )
    del ballast
    child = json.loads(out.stdout)
    assert child["inherited"] >= 300 * MB  # the condition under test
    for before, after, peak, size, _ in child["cells"]:
        assert max(before, after) <= peak < 250 * MB
        assert peak - before >= size * 0.9
    reads = [cell[4] for cell in child["cells"]]
    assert reads[1:3] == [1, 1]  # the buffers faulted pages in: VmHWM
    assert reads[3:] == [0, 0, 0], reads  # nothing faulted in: the ends are the peak


def test_reuses_user_tracemalloc_session_with_its_frame_limit(no_tracing):
    tracemalloc.start(5)
    try:
        m = CellMeasurement(deep=True).start()
        assert not m.tracing_started_here
        x = bytearray(10 * MB)
        result = m.finish()
        del x
        assert tracemalloc.is_tracing(), "memtrack stopped the user's tracemalloc session"
        assert tracemalloc.get_traceback_limit() == 5
        assert 9 * MB <= result["traced_delta"] <= 11 * MB
    finally:
        tracemalloc.stop()


def test_keep_tracing_leaves_the_engine_on(no_tracing, engine_name):
    m = CellMeasurement(deep=True, keep_tracing=True).start()
    assert m.tracing_started_here and m.engine.name == engine_name
    result = m.finish()
    assert result["traced_engine"] == engine_name
    assert engine.counting() is not None and engine.counting().name == engine_name
    # The next deep cell reuses it: every free is seen.
    again = CellMeasurement(deep=True).start()
    assert not again.tracing_started_here and again.engine.name == engine_name
    assert again.finish()["traced_delta_method"] == "continuous"
    assert engine.counting() is not None


def test_light_mode_does_not_touch_tracemalloc(no_tracing):
    result = CellMeasurement(deep=False).start().finish()
    assert result["traced_delta"] is None and result["traced_peak"] is None
    assert not tracemalloc.is_tracing()
    assert result["mode"] == "light"


def test_gc_deltas_count_collections():
    m = CellMeasurement().start()
    gc.collect()
    result = m.finish()
    assert len(result["gc"]["collections"]) == len(gc.get_stats())
    assert result["gc"]["collections"][-1] >= 1
    assert result["gc"]["collected"] >= 0


def test_nested_measurement_keeps_the_outer_peak(no_tracing):
    outer = CellMeasurement(deep=True).start()
    tmp = b"\x01" * (40 * MB)  # traced
    del tmp
    # RSS: fresh anonymous pages, touched one by one (a freed Python buffer may come back from
    # heap memory that earlier tests left resident, and then RSS does not grow).
    pages = mmap.mmap(-1, 40 * MB)
    for i in range(0, 40 * MB, mmap.PAGESIZE):
        pages[i] = 1
    pages.close()
    inner = CellMeasurement(deep=True).start()  # resets the peaks (tracemalloc and VmHWM)
    inner_result = inner.finish()
    outer_result = outer.finish()
    assert inner_result["traced_peak"] < 5 * MB
    assert outer_result["traced_peak"] >= 39 * MB
    if LINUX:
        assert outer_result["rss_peak"] - outer_result["rss_before"] >= 35 * MB
    assert not tracemalloc.is_tracing()


def test_error_name_and_timing_are_reported():
    m = CellMeasurement().start()
    result = m.finish(error="ZeroDivisionError")
    assert result["error"] == "ZeroDivisionError"
    assert result["duration_s"] >= 0
    assert result["started_at"].endswith("+00:00")


def test_start_finish_misuse_raises():
    m = CellMeasurement()
    with pytest.raises(RuntimeError):
        m.finish()
    m.start()
    with pytest.raises(RuntimeError):
        m.start()
    m.finish()
    with pytest.raises(RuntimeError):
        m.finish()
