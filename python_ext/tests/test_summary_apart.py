"""In terminal IPython the no-frontend summary is no part of the cell's output: stdout, ``_``,
tracebacks and the outputs IPython keeps for ``%notebook`` stay what the cell alone gives (a
real InteractiveShell, as terminal IPython runs cells)."""

from __future__ import annotations

import memtrack


def run(ip, code):
    return ip.run_cell(code, store_history=True)


def test_summary_goes_to_stderr_and_not_into_the_cells_outputs(shell, capsys):
    run(shell, "%memtrack on")
    capsys.readouterr()
    quiet = run(shell, "40 + 2;")
    shown = run(shell, "'shown'")
    syntax = run(shell, "x = (")
    captured = capsys.readouterr()
    run(shell, "%memtrack off")
    assert quiet.result is None and shown.result == "shown"
    assert isinstance(syntax.error_before_exec, SyntaxError)
    # stdout: the cells' own output only; the SyntaxError's report ends the output.
    assert "memtrack [" not in captured.out
    assert "42" not in captured.out and "'shown'" in captured.out
    assert captured.out.rstrip().splitlines()[-1].startswith("SyntaxError")
    assert captured.err.count("memtrack [") == 3  # one summary per tracked cell, on stderr
    capsys.readouterr()
    assert shell.user_ns["_"] == "shown"
    outputs = shell.history_manager.outputs
    for result in (quiet, shown, syntax):
        kept = outputs.get(result.execution_count, [])
        assert not any("memtrack" in repr(o.bundle) for o in kept), kept
    assert [r["mode"] for r in memtrack.history()] == ["light"] * 3


def test_deep_cell_summary_apart_from_its_output(shell, capsys):
    result = run(shell, "%%memtrack -l apart\nprint('own line')\n7 * 6")
    captured = capsys.readouterr()
    assert result.result == 42 and shell.user_ns["_"] == 42
    assert "own line" in captured.out and "42" in captured.out
    assert "memtrack" not in captured.out and "'apart'" in captured.err
    kept = shell.history_manager.outputs.get(result.execution_count, [])
    assert kept and not any("memtrack" in repr(o.bundle) for o in kept)
