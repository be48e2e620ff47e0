"""%%memtrack and %memtrack in a real IPython InteractiveShell."""

from __future__ import annotations

import gc
import re
import tracemalloc

import memtrack
from conftest import record_validator
from IPython.core.error import UsageError
from memtrack.measure import cell as measure
from memtrack.measure import engine

MB = 1_000_000


def run(ip, code):
    return ip.run_cell(code, store_history=True)


def cell_lineno(result):
    """Line number, in the cell, of the innermost traceback frame that belongs to the cell."""
    tb = result.error_in_exec.__traceback__
    lineno = None
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "<module>":
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


def test_value_lands_in_out_like_without_magic(shell):
    plain = run(shell, "[1, 2, 3]")
    plain_count = plain.execution_count
    tracked = run(shell, "%%memtrack\nvalue = [1, 2, 3]\nvalue")
    count = tracked.execution_count
    assert tracked.success
    assert tracked.result == plain.result == [1, 2, 3]
    out = shell.user_ns["Out"]
    assert out[count] is tracked.result
    assert shell.user_ns["_"] is tracked.result
    assert shell.user_ns[f"_{count}"] is tracked.result
    assert out[plain_count] == [1, 2, 3]
    assert shell.user_ns["__"] is out[plain_count]
    # The cell's own variable is there, and memtrack keeps no reference to it.
    assert shell.user_ns["value"] is tracked.result


def test_statement_cell_has_no_output(shell):
    result = run(shell, "%%memtrack\nx = 1")
    assert result.success and result.result is None
    assert result.execution_count not in shell.user_ns["Out"]
    assert shell.user_ns["x"] == 1


def test_exception_and_traceback_line_like_without_magic(shell):
    body = "y = 1\n\n1 / 0\n"
    plain = run(shell, body)
    tracked = run(shell, "%%memtrack\n" + body)
    assert type(tracked.error_in_exec) is type(plain.error_in_exec) is ZeroDivisionError
    assert tracked.error_before_exec is None
    # The body is numbered as the body typed alone (as IPython numbers any cell magic's body).
    assert cell_lineno(plain) == 3
    assert cell_lineno(tracked) == cell_lineno(plain)
    assert shell.user_ns["y"] == 1
    record = memtrack.history()[-1]
    assert record["error"] == "ZeroDivisionError"
    assert record["execution_count"] == tracked.execution_count


def test_syntax_error_reported_like_without_magic(shell):
    result = run(shell, "%%memtrack\nx = (\n")
    assert isinstance(result.error_before_exec, SyntaxError)
    assert memtrack.history()[-1]["error"] == "SyntaxError"


def test_history_records_match_schema(shell):
    run(shell, "%%memtrack --label load data\nbig = bytearray(50_000_000)")
    run(shell, "%%memtrack\ndel big")
    records = memtrack.history()
    assert [r["seq"] for r in records] == [1, 2]
    validator = record_validator()
    for record in records:
        validator.validate(record)
        assert record["mode"] == "deep"
        assert record["leaks"] == []
        assert record["traced_delta_method"] == "cell+freed-estimate"
    first, second = records
    assert first["label"] == "load data"
    assert second["label"] is None
    assert 49 * MB <= first["traced_delta"] <= 52 * MB
    # del of a 50 MB value allocated before the (one-off) cell: about -50 MB.
    assert -52 * MB <= second["traced_delta"] <= -49 * MB
    assert first["top_lines"][0]["line"] == 2
    assert first["top_lines"][0]["code"] == "big = bytearray(50_000_000)"
    assert first["traced_peak"] >= first["traced_delta"]
    assert first["rss_peak"] >= first["rss_before"]
    assert second["execution_count"] == first["execution_count"] + 1
    # history() hands out copies
    records[0]["label"] = "changed"
    assert memtrack.history()[0]["label"] == "load data"
    assert not tracemalloc.is_tracing()


def test_bad_option_is_usage_error_and_records_nothing(shell):
    result = run(shell, "%%memtrack --bogus\n1")
    assert isinstance(result.error_in_exec, UsageError)
    assert "--bogus" in str(result.error_in_exec)
    assert memtrack.history() == []


def test_unknown_subcommand_is_usage_error(shell):
    result = run(shell, "%memtrack frobnicate")
    assert isinstance(result.error_in_exec, UsageError)
    assert "frobnicate" in str(result.error_in_exec)
    assert "on, off, status, report, reset" in str(result.error_in_exec)
    result = run(shell, "%memtrack off --deep")
    assert isinstance(result.error_in_exec, UsageError)


def test_summary_line_printed_without_frontend(shell, capsys):
    result = run(shell, "%%memtrack --label 'my cell'\nz = bytearray(5_000_000)")
    out = capsys.readouterr().err  # terminal IPython: on stderr, apart from the cell's output
    pattern = (
        rf"memtrack \[{result.execution_count}\] 'my cell': "
        r"(\+\d+\.\d MB allocated, )?\+\d+\.\d MB traced \(peak [\d.]+ MB\), "
        r"RSS [\d.]+ MB -> [\d.]+ MB \(peak [\d.]+ MB\), \d+\.\d\d s"
    )
    assert re.search(pattern, out), out


def test_quiet_prints_nothing(shell, capsys):
    run(shell, "%%memtrack --quiet\nq = 1")
    captured = capsys.readouterr()
    assert "memtrack" not in captured.out and "memtrack" not in captured.err
    assert len(memtrack.history()) == 1


def test_help_shows_documentation(shell, capsys):
    run(shell, "%memtrack?")
    out = capsys.readouterr().out
    assert "%memtrack [--why NAME] [--threshold BYTES] [--runs N] [--dry-run]" in out
    assert "[--deep]" in out and "[action] [args ...]" in out
    assert "on|off|status|report|reset|leaks|release" in out
    run(shell, "%%memtrack?")
    out = capsys.readouterr().out
    assert "%%memtrack [--label TEXT [TEXT ...]] [--top N] [--no-lines] [--no-types]" in out
    for option in ("--no-vars", "--quiet", "--top N", "--no-lines"):
        assert option in out


def test_time_magic_inside(shell, capsys):
    result = run(shell, "%%memtrack\n%%time\nt = 20\nt + 1")
    out = capsys.readouterr().out
    assert result.success
    assert result.result == 21
    assert "Wall time" in out
    assert len(memtrack.history()) == 1


def test_memtrack_inside_time_uses_the_cell_magic(shell, capsys):
    result = run(shell, "%%time\n%%memtrack -l inner\nu = 5\nu * 2")
    assert result.success and result.result == 10
    records = memtrack.history()
    assert [r["label"] for r in records] == ["inner"]
    assert records[0]["mode"] == "deep"
    assert records[0]["execution_count"] == result.execution_count


def test_nested_run_cell_uses_the_cell_magic(shell):
    result = run(shell, "inner = get_ipython().run_cell('%%memtrack -l nested\\n5')")
    assert result.success
    assert shell.user_ns["inner"].result == 5
    assert [r["label"] for r in memtrack.history()] == ["nested"]


def test_silent_execution_runs_untracked_and_arms_nothing(shell, capsys):
    result = shell.run_cell("%%memtrack\nsilent_value = 9\nsilent_value", silent=True)
    assert result.success
    assert shell.user_ns["silent_value"] == 9
    assert memtrack.history() == []
    assert "memtrack" not in capsys.readouterr().out
    run(shell, "plain = 1")  # not tracked: the silent run left nothing armed
    assert memtrack.history() == []


def test_run_cell_magic_fallback_returns_value_and_raises(shell):
    result = run(shell, "get_ipython().run_cell_magic('memtrack', '--label f', 'v = 41\\nv + 1')")
    assert result.result == 42
    failing = run(shell, "get_ipython().run_cell_magic('memtrack', '', 'raise KeyError(3)')")
    assert isinstance(failing.error_in_exec, KeyError)
    records = memtrack.history()
    assert [r["label"] for r in records] == ["f", None]
    assert records[1]["error"] == "KeyError"
    record_validator().validate(records[1])


def test_top_level_await(shell):
    result = run(shell, "%%memtrack\nimport asyncio\nawait asyncio.sleep(0)\n'done'")
    assert result.success, result.error_in_exec
    assert result.result == "done"
    assert memtrack.history()[-1]["error"] is None


def test_keyboard_interrupt_interrupts_and_is_recorded(shell):
    result = run(shell, "%%memtrack\nk = 1\nraise KeyboardInterrupt\nk = 2")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert shell.user_ns["k"] == 1
    assert memtrack.history()[-1]["error"] == "KeyboardInterrupt"
    assert run(shell, "1 + 1").result == 2


def test_light_mode_on_off_status(shell, capsys):
    run(shell, "%memtrack on")
    run(shell, "a = 1")
    run(shell, "b = a + 1")
    run(shell, "%memtrack status")
    out = capsys.readouterr().out
    assert "mode light, 2 cell(s) recorded" in out  # a and b; the status cell ends later
    run(shell, "%memtrack off")
    run(shell, "c = 3")
    records = memtrack.history()
    assert len(records) == 3  # a, b, status; not the `off` cell nor c
    validator = record_validator()
    for record in records:
        validator.validate(record)
        assert record["mode"] == "light"
        assert record["traced_delta"] is None and record["traced_peak"] is None
    assert not tracemalloc.is_tracing()


def test_deep_every_cell_and_stop_releases_the_engine(shell, engine_name):
    memtrack.start(deep=True)
    run(shell, "d = bytearray(3_000_000)")
    assert engine.counting() is not None and engine.counting().name == engine_name
    memtrack.stop()
    assert engine.counting() is None and not tracemalloc.is_tracing()
    record = memtrack.history()[-1]
    assert record["mode"] == "deep" and record["traced_engine"] == engine_name
    assert 2 * MB <= record["traced_delta"] <= 4 * MB


def test_deep_cell_reuses_user_tracemalloc(shell):
    tracemalloc.start(5)
    run(shell, "%%memtrack\nw = bytearray(2_000_000)")
    assert tracemalloc.is_tracing()
    assert tracemalloc.get_traceback_limit() == 5
    assert memtrack.history()[-1]["traced_delta"] >= 1 * MB


def test_reset_clears_history_but_seq_keeps_counting(shell, capsys):
    run(shell, "%%memtrack\nr = 1")
    run(shell, "%memtrack reset")
    assert memtrack.history() == []
    assert "history cleared" in capsys.readouterr().out
    run(shell, "%%memtrack\nr = 2")
    assert [r["seq"] for r in memtrack.history()] == [2]


def test_loading_twice_is_harmless(shell):
    run(shell, "%load_ext memtrack")
    memtrack.load_ipython_extension(shell)
    tracker = memtrack._tracker
    assert shell.input_transformers_cleanup.count(tracker.transformer) == 1
    assert shell.events.callbacks["post_run_cell"].count(tracker._post_run_cell) == 1
    run(shell, "%%memtrack\nn = 1")
    assert len(memtrack.history()) == 1


def test_unload_removes_everything(shell):
    tracker = memtrack._tracker
    memtrack.unload_ipython_extension(shell)
    assert tracker.transformer not in shell.input_transformers_cleanup
    assert tracker._post_run_cell not in shell.events.callbacks["post_run_cell"]
    assert "memtrack" not in shell.magics_manager.magics["cell"]
    assert memtrack.history() == []
    memtrack.load_ipython_extension(shell)  # the fixture unloads again


def test_tracker_failure_never_loses_the_result(shell, capsys, monkeypatch):
    def broken(self, error=None, analyze=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(measure.CellMeasurement, "finish", broken)
    result = run(shell, "%%memtrack\n6 * 7")
    assert result.success and result.result == 42
    assert shell.user_ns["_"] == 42
    captured = capsys.readouterr()
    assert "memtrack: could not finish measuring (RuntimeError: boom)" in captured.err
    assert "tracking skipped for this cell" in captured.err
    assert "Error in callback" not in captured.out
    monkeypatch.undo()
    result = run(shell, "%%memtrack\n6 * 8")
    assert result.result == 48
    assert len(memtrack.history()) == 1


def test_indented_body_and_blank_lines(shell):
    result = run(shell, "%%memtrack\n    s = 3\n    s")
    assert result.success and result.result == 3
    result = run(shell, "%%memtrack\n\n\nblank = 1\n1 / 0")
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    assert cell_lineno(result) == cell_lineno(run(shell, "\n\nblank = 1\n1 / 0")) == 2
    assert shell.user_ns["blank"] == 1


def test_label_quotes_and_words(shell):
    run(shell, "%%memtrack --label 'my cell'\n1")
    run(shell, "%%memtrack -l two words --quiet\n1")
    run(shell, '%%memtrack -l "x"\n1')
    assert [r["label"] for r in memtrack.history()] == ["my cell", "two words", "x"]


def test_tracker_keeps_no_reference_to_user_objects(shell):
    memtrack.start()
    run(shell, "%%memtrack\nimport weakref\nclass Blob: pass\nblob = Blob()")
    run(shell, "%%memtrack\nref = weakref.ref(blob)\nsize = len(str(blob))")
    memtrack.stop()
    ref = shell.user_ns["ref"]
    assert ref() is not None
    del shell.user_ns["blob"]
    gc.collect()
    assert ref() is None, gc.get_referrers(ref())
    assert len(memtrack.history()) == 2
