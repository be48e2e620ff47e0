"""The tracker's state cannot stick: a cell whose run_cell_async was awaited directly (no
post_execute, no post_run_cell) and a cell whose runner raised (IPython then rebuilds its
ExecutionInfo) are both ended, and later cells are tracked as top-level cells (a real
InteractiveShell)."""

from __future__ import annotations

import asyncio
import tracemalloc

import memtrack
from memtrack.measure import engine


def run(ip, code):
    return ip.run_cell(code, store_history=True)


def await_directly(ip, raw):
    """What IPython's own tests (and some frontends) do: await run_cell_async, no run_cell."""

    async def go():
        return await ip.run_cell_async(raw, transformed_cell=ip.transform_cell(raw))

    return asyncio.run(go())


def nothing_left_on(ip):
    return (
        engine.counting() is None and not tracemalloc.is_tracing() and "run_code" not in ip.__dict__
    )


def test_directly_awaited_tracked_cell_is_ended_at_the_next_cell(shell, capsys):
    tracker = memtrack._tracker
    result = await_directly(shell, "%%memtrack -l direct\nkept = [1] * 1000")
    assert result.success
    assert tracker.cells.depth == 1  # no post_execute came: still open until the next cell
    capsys.readouterr()
    # The next cell is a top-level cell: the native path (top-level await works, no fallback).
    nxt = run(shell, "%%memtrack -l next\nimport asyncio\nawait asyncio.sleep(0)\nkept[0] + 1")
    err = capsys.readouterr().err
    assert nxt.error_in_exec is None and nxt.result == 2
    assert err.count("memtrack:") == 1
    assert "ended without IPython's post_run_cell" in err
    assert [r["label"] for r in memtrack.history()] == ["next"]  # the unended one dropped
    assert tracker.cells.depth == 0
    assert nothing_left_on(shell)


def test_directly_awaited_untracked_cell_leaves_no_nesting(shell, capsys):
    tracker = memtrack._tracker
    assert await_directly(shell, "plain = 1").success
    capsys.readouterr()
    run(shell, "%memtrack on")
    run(shell, "plain + 1")
    run(shell, "%memtrack off")
    assert "memtrack: a cell ended" not in capsys.readouterr().err  # nothing was measured
    assert [r["mode"] for r in memtrack.history()] == ["light"]
    assert tracker.cells.depth == 0


def test_every_cell_tracking_goes_on_after_direct_awaits(shell):
    run(shell, "%memtrack on --deep")
    for i in range(3):
        assert await_directly(shell, f"direct_{i} = {i}").success
    assert run(shell, "after = 1").success
    run(shell, "%memtrack off")
    # The directly awaited cells are dropped; the run_cell one and %memtrack off are recorded.
    assert [r["mode"] for r in memtrack.history()] == ["deep"]
    assert memtrack._tracker.cells.depth == 0
    assert nothing_left_on(shell)


def test_runner_raising_still_ends_the_tracked_cell(shell):
    cls = type(shell)
    saved = cls.showtraceback
    try:
        result = run(
            shell,
            "%%memtrack -l raising --quiet\n"
            "type(get_ipython()).showtraceback = None\n"
            "assert False, 'the runner itself raises now'",
        )
    finally:
        cls.showtraceback = saved
    # As without memtrack: IPython reports the runner's own error.
    assert isinstance(result.error_in_exec, TypeError)
    records = memtrack.history()
    assert [r["label"] for r in records] == ["raising"]
    assert records[0]["error"] == "TypeError"
    assert nothing_left_on(shell)
    assert memtrack._tracker.cells.depth == 0
    assert run(shell, "%%memtrack -l later --quiet\n1").result == 1
    assert memtrack.history()[-1]["label"] == "later"


def test_nested_and_empty_cells_keep_the_outer_cell_open(shell):
    tracker = memtrack._tracker
    code = (
        "%%memtrack -l outer --quiet\n"
        "ip = get_ipython()\n"
        "ip.run_cell('')\n"
        "depth_inside = __import__('memtrack')._tracker.cells.depth\n"
        "inner = ip.run_cell('%%memtrack -l inner --quiet\\n2')\n"
    )
    result = run(shell, code)
    assert result.error_in_exec is None and shell.user_ns["inner"].result == 2
    assert shell.user_ns["depth_inside"] == 1  # the empty cell did not close the outer one
    assert sorted(r["label"] for r in memtrack.history()) == ["inner", "outer"]
    assert tracker.cells.depth == 0
