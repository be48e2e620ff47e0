"""A ``%%memtrack`` cell's body goes through IPython's whole transform pipeline, exactly as the
body typed alone: automagics, aliases and macros of a one-line body, a blank first line before
indented code, and traceback line numbers (a real InteractiveShell)."""

from __future__ import annotations

import re

import memtrack


def run(ip, code):
    return ip.run_cell(code, store_history=True)


def printed_traceback(ip, capsys, code):
    """What the cell printed (stdout and stderr), its prompt numbers left out (each run has its
    own)."""
    capsys.readouterr()
    result = run(ip, code)
    captured = capsys.readouterr()
    text = re.sub(r"In\[\d+\]", "In[N]", captured.out + captured.err)
    return result, re.sub(r"ipython-input-\d+-", "ipython-input-N-", text)


def test_transformed_body_is_the_untracked_body(shell):
    tracker = memtrack._tracker
    for body in ("pwd\n", "\n    x = 1\n    x\n", ">>> 1 + 1\n", "%time 1\n", "ls -d /\n", "who\n"):
        assert shell.transform_cell("%%memtrack --quiet\n" + body) == shell.transform_cell(body)
        assert tracker.transformer.take() is not None  # and it armed a note for pre_run_cell


def test_one_line_body_gets_automagic_aliases_and_macros(shell, capfd):
    plain = run(shell, "pwd")
    tracked = run(shell, "%%memtrack --quiet\npwd")
    assert tracked.error_in_exec is None
    assert tracked.result == plain.result and isinstance(plain.result, str)
    shell.alias_manager.define_alias("memtrack_echo", "echo memtrack-alias-ran")
    capfd.readouterr()
    assert run(shell, "%%memtrack --quiet\nmemtrack_echo").error_in_exec is None
    assert "memtrack-alias-ran" in capfd.readouterr().out
    run(shell, "macro_value = 40")
    shell.define_macro("add_two", "macro_value += 2\n")
    assert run(shell, "%%memtrack --quiet\nadd_two").error_in_exec is None
    assert shell.user_ns["macro_value"] == 42
    assert [r["mode"] for r in memtrack.history()] == ["deep"] * 3


def test_blank_first_line_then_indented_code(shell):
    body = "\n    total = 0\n    for i in range(3):\n        total += i\n    total\n"
    plain = run(shell, body)
    tracked = run(shell, "%%memtrack --quiet\n" + body)
    assert plain.error_in_exec is None and plain.error_before_exec is None
    assert tracked.error_in_exec is None and tracked.error_before_exec is None
    assert tracked.result == plain.result == 3
    assert len(memtrack.history()) == 1


def test_exception_group_traceback_like_without_magic(shell, capsys):
    body = (
        "\n    def f(): raise ValueError('From f()')\n"
        "    def g(): raise BaseException('From g()')\n"
        "    excs = []\n"
        "    for callback in [f, g]:\n"
        "        try:\n"
        "            callback()\n"
        "        except BaseException as err:\n"
        "            excs.append(err)\n"
        "    raise BaseExceptionGroup('Oops', excs)\n"
    )
    plain, plain_out = printed_traceback(shell, capsys, body)
    tracked, tracked_out = printed_traceback(shell, capsys, "%%memtrack --quiet\n" + body)
    assert type(tracked.error_in_exec) is type(plain.error_in_exec)
    assert type(plain.error_in_exec).__name__ == "BaseExceptionGroup"
    assert "| ValueError: From f()" in plain_out
    assert "line 9, in <module>\n  |     raise BaseExceptionGroup" in plain_out
    assert tracked_out == plain_out


def test_traceback_text_and_line_numbers_like_without_magic(shell, capsys):
    body = "\n\nfirst = 1\nsecond = first / 0\n"
    _, plain_out = printed_traceback(shell, capsys, body)
    _, tracked_out = printed_traceback(shell, capsys, "%%memtrack --quiet\n" + body)
    assert "----> 2 second = first / 0" in plain_out
    assert tracked_out == plain_out
    # The record still numbers lines as in the notebook cell (magic line 1, two blank lines).
    assert memtrack.history()[-1]["error"] == "ZeroDivisionError"
    run(shell, "%%memtrack --quiet\n\nbig = bytearray(20_000_000)\n")
    assert memtrack.history()[-1]["top_lines"][0]["line"] == 3
    assert memtrack.history()[-1]["top_lines"][0]["code"] == "big = bytearray(20_000_000)"


def test_blank_lines_before_the_magic_line(shell):
    result = run(shell, "\n%%memtrack -l after-blank --quiet\nv = 5\nv")
    assert result.result == 5
    assert [r["label"] for r in memtrack.history()] == ["after-blank"]
