"""The allocated metric in a REAL ipykernel (jupyter_client): light cells see memory the
allocator reuses or keeps (where the RSS does not move), a deep cell's figures after it are the
user's and not tracemalloc's, and a reader that grows too slow is given up for the session."""

from __future__ import annotations

import json

import pytest
from conftest import real_kernel, record_validator
from test_kernel import execute, stdout_text

MB = 1_000_000
KEEP = 10_000_000


@pytest.fixture
def alloc_kernel(tmp_path_factory):
    with real_kernel(tmp_path_factory) as (_km, kc):
        assert execute(kc, "%load_ext memtrack")["content"]["status"] == "ok"
        yield kc


def last_record(kc):
    out = stdout_text(
        execute(kc, "import json, memtrack\nprint(json.dumps(memtrack.history()[-1]))")["iopub"]
    )
    record = json.loads(out.strip().splitlines()[-1])
    record_validator().validate(record)
    return record


def tracked(kc, code):
    assert execute(kc, code)["content"]["status"] == "ok"
    return last_record(kc)


def rss_delta(record):
    return record["rss_after"] - record["rss_before"]


def test_light_cells_count_what_the_rss_does_not_see(alloc_kernel):
    kc = alloc_kernel
    size = json.loads(stdout_text(execute(kc, "import sys\nprint(sys.getsizeof(b''))")["iopub"]))
    # A used kernel, untracked: a freed 20 MB block raises glibc's mmap threshold, so the next
    # 10 MB block comes from the heap and, freed, stays there: the heap keeps its pages.
    execute(kc, "_w = b'x' * 20_000_000\ndel _w\n_w = b'x' * 10_000_000\ndel _w")
    execute(kc, "%memtrack on")
    kept = tracked(kc, f"keep = b'x' * {KEEP}")
    assert kept["mode"] == "light" and kept["alloc_method"] == "native"
    assert abs(rss_delta(kept)) < MB, kept  # the RSS reads +0 MB for 10 MB kept ...
    assert abs(kept["alloc_delta"] - (KEEP + size)) <= 0.02 * KEEP, kept  # ... allocated does not
    assert kept["alloc_after"] - kept["alloc_before"] == kept["alloc_delta"]

    freed = tracked(kc, "del keep")
    assert abs(rss_delta(freed)) < MB, freed  # glibc keeps the freed block: RSS reads 0
    assert abs(freed["alloc_delta"] + KEEP + size) <= 0.02 * KEEP, freed


def test_light_cells_count_small_objects_through_pymallocs_arenas(alloc_kernel):
    kc = alloc_kernel
    execute(kc, "%memtrack on")
    kept = tracked(kc, "small = [{'i': i} for i in range(300_000)]")
    # About 70 MB of small dicts: mallinfo2 alone sees the list's 2.4 MB buffer, the native
    # extension's arena counter sees the dicts' arenas too.
    assert kept["alloc_method"] == "native"
    assert kept["alloc_delta"] >= 40 * MB, kept
    freed = tracked(kc, "del small")
    assert freed["alloc_delta"] <= -30 * MB, freed  # arenas emptied are unmapped
    # With the tracemalloc engine asked for, the reader is mallinfo2's alone.
    execute(kc, "%env MEMTRACK_ENGINE=tracemalloc")
    execute(kc, "from memtrack.measure import allocators\nallocators.reset_counter()")
    again = tracked(kc, "small = [{'i': i} for i in range(300_000)]")
    assert again["alloc_method"] == "mallinfo2" and again["alloc_delta"] < 10 * MB, again


def test_a_deep_cell_leaves_no_tracer_memory_in_the_figures_after_it(alloc_kernel):
    kc = alloc_kernel
    # tracemalloc's tables (the fallback engine's): the native engine's are a few pages.
    execute(kc, "%env MEMTRACK_ENGINE=tracemalloc")
    execute(kc, "from memtrack.measure import allocators\nallocators.reset_counter()")
    execute(kc, "%memtrack on")
    deep = tracked(kc, "%%memtrack\nsmall = [{} for _ in range(300_000)]")
    assert deep["mode"] == "deep"
    # tracemalloc held megabytes of tables at the cell's end: the record says how much ...
    assert deep["tracer_memory"] >= 5 * MB, deep
    assert "rss_after_tracer" not in deep  # ... and they were handed back before rss_after
    after = tracked(kc, "pass")
    # Before: rss_after still held the tracer's tables, so the next cell seemed to free them.
    assert abs(after["rss_before"] - deep["rss_after"]) < 2 * MB, (deep, after)
    assert abs(after["alloc_before"] - deep["alloc_after"]) < 2 * MB, (deep, after)
    # The tracer's tables are not the cell's allocated memory: the list and its dicts
    # (pymalloc's arenas are not counted) come to about 2.5 MB, not the tracer's megabytes.
    assert 2 * MB <= deep["alloc_delta"] < 4 * MB, deep


def test_a_reader_too_slow_for_light_cells_is_given_up(alloc_kernel):
    kc = alloc_kernel
    # Every reading over its limit (0 s): after a few, the session reads RSS only.
    execute(kc, "from memtrack.measure import allocators\nallocators.reset_counter(limit_s=0.0)")
    execute(kc, "%memtrack on")
    records = [tracked(kc, f"x{i} = {i}") for i in range(4)]
    assert records[0]["alloc_method"] == "native" and "alloc_delta" in records[0]
    last = records[-1]
    assert last["alloc_method"] == "too-slow", last
    assert not {"alloc_before", "alloc_after", "alloc_delta"} & set(last)
    assert last["rss_before"] is not None and last["rss_after"] is not None
    report = stdout_text(execute(kc, "%memtrack report")["iopub"])
    assert "\u2014" in report  # the allocated column shows a dash, never the RSS in its place
