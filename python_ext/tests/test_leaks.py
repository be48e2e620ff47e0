"""Leak suspects: pure units of memtrack.leaks, .holders, .release and .roots, a real
InteractiveShell, and a real kernel."""

from __future__ import annotations

import copy
import gc
import json
import sys
import time
import weakref

import memtrack
import pytest
from conftest import record_validator
from memtrack.leaks import last_traceback, release
from memtrack.leaks import why_alive as holders
from memtrack.leaks.config import LeakConfig
from memtrack.leaks.detector import LeakDetector
from memtrack.leaks.names import DISCOVER_LIGHT, RECHECK_LIGHT
from memtrack.leaks.roots import MAX_NAMES, Roots, estimate_size
from memtrack.leaks.suspects import LEAKS_MAX_BYTES, fit_leaks, format_suspects, suspect


def _detector() -> LeakDetector:
    """These tests check what is found, not how fast: a light budget no loaded machine misses."""
    return LeakDetector(LeakConfig(budget_light_s=1.0))


MB = 1_000_000


class Big:
    """A large value with weakref support and a small repr."""

    def __init__(self, n: int = 3 * MB) -> None:
        self.data = bytearray(n)

    def __repr__(self) -> str:
        return "Big"


@pytest.fixture(autouse=True)
def no_last_traceback():
    """sys.last_* are process-wide: start and end every test without them."""

    def clear():
        for attr in ("last_type", "last_value", "last_traceback", "last_exc"):
            sys.__dict__.pop(attr, None)

    clear()
    yield
    clear()


def kinds(suspects):
    return [(s["name"], s["kind"]) for s in suspects]


# --------------------------------------------------------------------------- pure units


def test_growing_variable_needs_three_steps_and_ignores_same_size_rebinds():
    ns: dict = {}
    det = _detector()
    roots = Roots(ns=ns)
    ns["cache"] = []
    ns["x"] = bytearray(2 * MB)
    assert det.after_cell(roots, 1) == []
    for count in range(2, 7):
        ns["x"] = bytearray(2 * MB)  # rebinding a same-size value: not growth
        ns["small"] = [0] * count  # grows, but stays far under the threshold
        if count <= 4:
            ns["cache"].append(bytearray(MB))
        got = det.after_cell(roots, count)
        if count == 2:  # one growth step is nothing
            assert got == [], got
        elif count == 3:  # two: watched (shown apart), not flagged yet
            assert kinds(got) == [("cache", "growing-variable")] and got[0]["watching"], got
            assert "watching; flagged if it grows again" in got[0]["reason"]
            assert "watching" in format_suspects(got)
    assert kinds(got) == [("cache", "growing-variable")]
    s = got[0]
    assert "watching" not in s
    assert s["cells"] == [2, 3, 4]
    assert len(s["history"]) == 4 and s["history"] == sorted(s["history"])
    assert s["growth"] >= 3 * MB and s["size"] >= 3 * MB
    assert "`cache` grew 3 times" in s["reason"]
    # The suspect stays current while the name exists, and goes with it.
    del ns["cache"]
    assert det.after_cell(roots, 7) == []


def test_growth_threshold_and_runs_are_configurable():
    ns: dict = {"log": []}
    det = LeakDetector(LeakConfig(threshold=10_000, growth_runs=2))
    roots = Roots(ns=ns)
    det.after_cell(roots, 1)
    for count in (2, 3):
        ns["log"].append(bytearray(20_000))
        got = det.after_cell(roots, count)
    assert kinds(got) == [("log", "growing-variable")]
    with pytest.raises(ValueError):
        det.config.update(threshold=-1)
    with pytest.raises(ValueError):
        det.config.update(growth_runs=0)


def test_big_list_growth_is_estimated_within_budget():
    ns: dict = {"rows": list(range(300_000))}
    det = _detector()
    roots = Roots(ns=ns)
    det.after_cell(roots, 1)
    for count in (2, 3, 4):
        ns["rows"].extend(range(len(ns["rows"]), len(ns["rows"]) + 300_000))
        got = det.after_cell(roots, count)
    assert kinds(got) == [("rows", "growing-variable")]
    assert got[0].get("partial") is True  # estimated from a sample


def test_output_history_after_del_names_out_and_underscore():
    value = Big()
    ns = {"df": value}
    out = {12: value}
    ns["_12"] = ns["_"] = value
    roots = Roots(ns=ns, out=out)
    det = _detector()
    assert det.after_cell(roots, 12) == []  # a variable still names it
    del ns["df"]
    del value
    got = det.after_cell(roots, 13)
    assert kinds(got) == [("Out[12]", "output-history")]
    s = got[0]
    assert s["size"] >= 3 * MB and s["cells"] == [12, 13]
    assert "after `del df`" in s["reason"] and "_12" in s["reason"]
    assert "`%memtrack release out 12`" in s["reason"]
    # Release: Out[12], _12 and _ go; the value dies.
    ref = weakref.ref(out[12])
    released, expected = release.release_out(roots, 12)
    assert released == 1 and expected >= 3 * MB
    assert ref() is None
    assert 12 not in out and "_12" not in ns and ns["_"] == ""
    assert det.after_cell(roots, 14) == []


def test_output_value_nobody_named_is_a_suspect():
    out = {3: Big()}
    got = _detector().after_cell(Roots(ns={}, out=out), 3)
    assert kinds(got) == [("Out[3]", "output-history")]
    assert "no variable names" in got[0]["reason"]


def _fail_with_local():
    tensor = Big(4 * MB)  # noqa: F841 - kept alive by the traceback
    raise RuntimeError("boom")


def test_traceback_locals_and_release():
    try:
        _fail_with_local()
    except RuntimeError as e:
        sys.last_type, sys.last_value, sys.last_traceback = type(e), e, e.__traceback__
    frame = sys.last_traceback.tb_next.tb_frame
    ref = weakref.ref(frame.f_locals["tensor"])
    frame = None
    roots = Roots(ns={})
    got = _detector().after_cell(roots, 5, error="RuntimeError")
    assert kinds(got) == [("sys.last_traceback", "traceback")]
    s = got[0]
    assert s["size"] >= 4 * MB and s["cells"] == [5]
    assert "_fail_with_local()" in s["reason"] and "`tensor`" in s["reason"]
    assert s["chain"][0] == "sys.last_traceback"
    cleared, expected = release.release_traceback(roots)
    assert cleared >= 1 and expected >= 4 * MB
    assert ref() is None
    assert "last_traceback" not in sys.__dict__


def test_shared_after_del_deepcopy_shares_ints():
    ns: dict = {"a": list(range(200_000))}
    ns["b"] = copy.deepcopy(ns["a"])
    roots = Roots(ns=ns)
    det = _detector()
    assert det.after_cell(roots, 1) == []
    del ns["a"]
    got = det.after_cell(roots, 2)
    assert kinds(got) == [("b", "shared-after-del")]
    assert "`del a` freed only about" in got[0]["reason"]
    assert got[0]["cells"] == [2]
    # still current one cell later; gone when b goes
    assert kinds(det.after_cell(roots, 3)) == [("b", "shared-after-del")]
    del ns["b"]
    assert det.after_cell(roots, 4) == []


def test_del_with_another_name_or_container_holding_the_value():
    ns: dict = {"p": Big(), "h": {}}
    ns["q"] = ns["p"]
    ns["h"]["k"] = ns["p"]
    roots = Roots(ns=ns)
    det = _detector()
    det.after_cell(roots, 1)
    del ns["p"]
    got = det.after_cell(roots, 2)
    assert kinds(got) == [("q", "shared-after-del")]
    assert "`q` holds the same" in got[0]["reason"]
    del ns["q"]
    got = det.after_cell(roots, 3)
    assert kinds(got) == [("h", "shared-after-del")]
    assert got[0]["chain"] == ["user_ns['h']", "dict['k']"]
    # why: a referrer chain from a namespace root
    chain, text = holders.why(roots, "q", det)
    assert chain == ["user_ns['h']", "dict['k']"], text


def test_cycle_kept_value_until_collected():
    ns: dict = {}
    gc.disable()
    try:
        node = Big()
        node.me = node
        ns["node"] = node
        del node
        roots = Roots(ns=ns)
        det = _detector()
        det.after_cell(roots, 1)
        del ns["node"]
        got = det.after_cell(roots, 2)
        assert kinds(got) == [("node", "cycle")]
        assert "reference cycle" in got[0]["reason"]
        gc.collect()
        assert det.after_cell(roots, 3) == []
    finally:
        gc.enable()


def test_gc_callback_reports_cycles_freed_by_the_collector():
    import tracemalloc

    det = _detector()
    det.install_gc_hook()
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        gc.disable()
        node = Big(5 * MB)
        node.me = node
        del node
        gc.collect()
        got = det.after_cell(Roots(ns={}), 9, deep=True)
    finally:
        gc.enable()
        det.uninstall_gc_hook()
        if started:
            tracemalloc.stop()
    assert kinds(got) == [("gc", "cycle")]
    assert got[0]["size"] >= 5 * MB and got[0]["cells"] == [9]
    assert det.garbage._gc_callback not in gc.callbacks


def test_small_values_and_plain_namespace_give_no_suspects():
    ns = {"a": 1, "s": "text", "l": [1, 2, 3], "d": {"k": bytearray(1000)}, "f": len}
    det = _detector()
    for count in range(1, 6):
        ns["l"].append(count)
        ns[f"v{count}"] = bytearray(10_000)
        assert det.after_cell(Roots(ns=ns, out={count: "x" * 100}), count) == []


class _Trap:
    """Every user-level hook the analysis must not call counts here."""

    calls = 0

    def __getattr__(self, name):
        type(self).calls += 1
        raise AttributeError(name)

    def __len__(self):
        type(self).calls += 1
        return 0

    def __eq__(self, other):
        type(self).calls += 1
        return False

    __hash__ = object.__hash__

    def __repr__(self):
        type(self).calls += 1
        return "trap"

    def __bool__(self):
        type(self).calls += 1
        return True

    @property
    def __class__(self):
        type(self).calls += 1
        return _Trap


def test_no_user_code_runs():
    _Trap.calls = 0
    trap = _Trap()
    ns = {"t": trap, "box": [trap], "m": {"t": trap}}
    out = {1: trap}
    roots = Roots(ns=ns, out=out)
    det = LeakDetector(LeakConfig(threshold=0))
    det.after_cell(roots, 1)
    del ns["t"]
    det.after_cell(roots, 2)
    holders.why(roots, "box", det)
    holders.find_chain(roots, lambda o: o is trap)
    assert _Trap.calls == 0


def test_budget_bounds_a_huge_namespace():
    ns = {f"v{i}": [i] * 10 for i in range(100_000)}
    det = LeakDetector()
    det.after_cell(Roots(ns=ns), 1, budget_s=0.02)
    assert len(det.names.observed) <= MAX_NAMES


def test_per_cell_analysis_looks_only_at_what_changed():
    """With the names a cell touched, a huge namespace is not walked: only those names, a few
    watched ones in turn and a few keys not yet seen."""
    ns = {f"v{i}": [i] * 10 for i in range(100_000)}
    det = _detector()
    roots = Roots(ns=ns, out={})
    for count in range(1, 21):
        ns["x"] = bytearray(10)
        assert det.after_cell(roots, count, changed={"x"}) == []
    per_cell = 1 + RECHECK_LIGHT + DISCOVER_LIGHT
    assert len(det.names.observed) <= 20 * per_cell
    # a growing variable found through the touched names alone
    ns["cache"] = []
    det.after_cell(roots, 21, changed={"cache"})
    for count in range(22, 25):
        ns["cache"].append(bytearray(MB))
        got = det.after_cell(roots, count, changed={"cache", "append"})
    assert kinds(got) == [("cache", "growing-variable")]


def test_growth_through_a_function_is_found_by_the_rechecks():
    """A cell that only calls a function appending to a global does not touch the global's
    name: the watched names are re-checked in turn."""
    ns: dict = {"cache": [], "other": 1}
    det = _detector()
    roots = Roots(ns=ns)
    det.after_cell(roots, 1, changed={"cache", "other"})
    for count in range(2, 6):
        ns["cache"].append(bytearray(MB))
        got = det.after_cell(roots, count, changed={"f"})
    assert kinds(got) == [("cache", "growing-variable")]


def test_suspects_carry_forward_and_revalidate_cheaply():
    ns: dict = {"p": Big()}
    ns["q"] = ns["p"]
    det = _detector()
    roots = Roots(ns=ns)
    det.after_cell(roots, 1, changed={"p", "q"})
    del ns["p"]
    assert kinds(det.after_cell(roots, 2, changed={"p"})) == [("q", "shared-after-del")]
    # carried forward by cells that touch neither name
    assert kinds(det.after_cell(roots, 3, changed={"z"})) == [("q", "shared-after-del")]
    ns["q"] = None  # the holder let go: gone at the next cell without being touched
    assert det.after_cell(roots, 4, changed=set()) == []


def test_traceback_is_read_again_only_when_it_changes(monkeypatch):
    calls = []
    inner = last_traceback.traceback_locals

    def counting(*args, **kwargs):
        calls.append(1)
        return inner(*args, **kwargs)

    monkeypatch.setattr(last_traceback, "traceback_locals", counting)
    try:
        _fail_with_local()
    except RuntimeError as e:
        sys.last_type, sys.last_value, sys.last_traceback = type(e), e, e.__traceback__
    det = _detector()
    roots = Roots(ns={})
    for count in range(5, 9):
        got = det.after_cell(roots, count, error="RuntimeError" if count == 5 else None, changed=())
        assert kinds(got) == [("sys.last_traceback", "traceback")]
        assert got[0]["cells"] == [5]
    assert len(calls) == 1  # same traceback (identity): carried forward
    release.release_traceback(roots)
    calls.clear()
    assert det.after_cell(roots, 9, changed=()) == []
    assert calls == []  # no traceback left: nothing to read
    assert kinds(det.current(roots)) == []


def test_output_history_named_by_a_variable_seen_before_tracking():
    """A value named before tracking started (never observed) is found by one namespace scan:
    no false output-history suspect, and a real one once the name goes."""
    value = Big()
    ns = {"df": value, "_": value}
    out = {3: value}
    del value
    det = _detector()
    roots = Roots(ns=ns, out=out)
    for count in (4, 5):
        assert det.after_cell(roots, count, changed={"x"}) == []
    del ns["df"]
    got = det.after_cell(roots, 6, changed={"df"})
    assert kinds(got) == [("Out[3]", "output-history")]
    got = det.after_cell(roots, 7, changed=())  # carried forward
    assert kinds(got) == [("Out[3]", "output-history")]
    out.clear()
    assert det.after_cell(roots, 8, changed=()) == []


def test_light_sizes_are_bounded_by_construction():
    rows = [{"i": i, "s": str(i)} for i in range(200_000)]
    size, approx = estimate_size(rows, time.perf_counter() + 1, quick=True)
    exact, _ = estimate_size(rows, time.perf_counter() + 5, per_value_s=5)
    assert approx and 0.5 * exact <= size <= 2 * exact


def test_a_sampled_estimate_cut_by_the_clock_is_never_the_shallow_size():
    # A deadline already passed when sampling starts (a GC pause, a busy machine) once gave the
    # list's own 2.4 MB for a 10.8 MB value: a later uncut estimate then looked like growth.
    big = list(range(300_000))
    exact, _ = estimate_size(big, time.perf_counter() + 5, per_value_s=5)
    size, approx = estimate_size(big, time.perf_counter() + 1, per_value_s=0.0, quick=True)
    assert approx and 0.5 * exact <= size <= 2 * exact
    size, approx = estimate_size(big, time.perf_counter() + 1, per_value_s=0.0)
    assert approx and 0.5 * exact <= size <= 2 * exact
    # Nothing known about any item: unknown, not the container alone.
    assert estimate_size(big, time.perf_counter() - 1, quick=True) == (None, True)


def test_fit_leaks_keeps_records_small():
    suspects = [
        suspect(f"name{i}", "growing-variable", 10 * MB - i, "x" * 500, cells=range(20))
        for i in range(10)
    ]
    for s in suspects:
        s["history"] = list(range(8))
        s["chain"] = ["user_ns['a']"] * 5
    fitted = fit_leaks(suspects)
    assert fitted and len(json.dumps(fitted, separators=(",", ":"))) <= LEAKS_MAX_BYTES
    assert fitted[0]["name"] == "name0"  # the largest stays


def test_release_name_drops_ipython_references():
    value = Big()
    ns = {"big": value, "_4": value, "_": value}
    hidden = {"_4": value, "_": value}
    out = {4: value}
    ref = weakref.ref(value)
    del value
    roots = Roots(ns=ns, out=out, hidden=hidden)
    places, expected = release.release_name(roots, "big")
    assert places[:2] == ["`big`", "Out[4]"] and expected >= 3 * MB
    assert ref() is None
    assert "big" not in ns and "_4" not in ns and 4 not in out and ns["_"] == ""


def test_release_command_usage_errors():
    roots = Roots(ns={"x": 1}, out={})
    for args in ([], ["out", "1", "2"], ["out", "abc"], ["out", "7"], ["nope"], ["x", "y"]):
        with pytest.raises(ValueError):
            release.command_release(roots, args)
    assert "no traceback" in release.command_release(roots, ["traceback"])


# --------------------------------------------------------------------------- real shell


def run(ip, code):
    return ip.run_cell(code, store_history=True).success


def last_leaks():
    return memtrack.history()[-1]["leaks"]


BIG_CLASS = (
    "class Big:\n"
    "    def __init__(self, n=3_000_000):\n"
    "        self.data = bytearray(n)\n"
    "    def __repr__(self):\n"
    "        return 'Big'\n"
)


def test_shell_each_kind_named_and_released(shell, capsys):
    ip = shell
    assert run(ip, BIG_CLASS)
    assert run(ip, "%memtrack on")
    validator = record_validator()

    # growing variable
    assert run(ip, "cache = []")
    for _ in range(3):
        assert run(ip, "cache.append(bytearray(1_500_000))")
    assert ("cache", "growing-variable") in kinds(last_leaks())

    # output history after del
    assert run(ip, "df = Big()")
    assert run(ip, "df")
    out_n = ip.execution_count - 1
    assert run(ip, "ref = __import__('weakref').ref(df)\ndel df")
    got = {s["name"]: s for s in last_leaks()}
    assert got[f"Out[{out_n}]"]["kind"] == "output-history"
    assert "after `del df`" in got[f"Out[{out_n}]"]["reason"]

    # traceback keeping a function's locals
    assert not run(ip, "def f():\n    t = Big(2_000_000)\n    1 / 0\nf()")
    fail_n = ip.execution_count - 1
    got = {s["name"]: s for s in last_leaks()}
    assert got["sys.last_traceback"]["kind"] == "traceback"
    assert got["sys.last_traceback"]["cells"] == [fail_n]

    # a del that frees nothing: another name holds it
    assert run(ip, "p = Big(); q = p")
    assert run(ip, "del p")
    assert ("q", "shared-after-del") in kinds(last_leaks())

    for record in memtrack.history():
        validator.validate(record)
        assert len(json.dumps(record, separators=(",", ":"))) <= 2048

    capsys.readouterr()
    assert run(ip, "%memtrack leaks")
    text = capsys.readouterr().out
    assert f"Out[{out_n}] [output-history]" in text and "cache [growing-variable]" in text

    assert run(ip, "%memtrack leaks --why q")
    assert "user_ns['q']" in capsys.readouterr().out

    # release: prints what it expects to free, and the value dies
    assert run(ip, f"%memtrack release out {out_n} --dry-run")
    assert "would free 3.0 MB" in capsys.readouterr().out
    assert ip.user_ns["ref"]() is not None
    assert run(ip, f"%memtrack release out {out_n}")
    assert "expects to free 3.0 MB" in capsys.readouterr().out
    assert ip.user_ns["ref"]() is None
    assert run(ip, "%memtrack release traceback")
    assert "expects to free 2.0 MB" in capsys.readouterr().out
    assert run(ip, "x = 1")
    names = [n for n, _ in kinds(last_leaks())]
    assert f"Out[{out_n}]" not in names and "sys.last_traceback" not in names
    assert run(ip, "%memtrack off")


def test_shell_release_traceback_frees_the_local(shell, capsys):
    ip = shell
    assert run(ip, BIG_CLASS)
    assert run(
        ip,
        "import weakref\nrefs = []\n"
        "def f():\n    t = Big()\n    refs.append(weakref.ref(t))\n    1 / 0",
    )
    assert not run(ip, "%%memtrack\nf()")
    assert kinds(last_leaks()) == [("sys.last_traceback", "traceback")]
    assert ip.user_ns["refs"][0]() is not None
    assert run(ip, "%memtrack release traceback")
    assert run(ip, "pass")  # the previous cell's result (with the error) is replaced
    assert ip.user_ns["refs"][0]() is None


def test_shell_clean_notebook_has_no_suspects(shell):
    ip = shell
    assert run(ip, "%memtrack on")
    for _ in range(5):
        assert run(ip, "x = bytearray(5_000_000)")
    assert run(ip, "rows = [i * 2 for i in range(1000)]\ntotal = sum(rows)")
    assert run(ip, "total")
    assert run(ip, "names = {'a': 1, 'b': 2}\nnames['c'] = 3")
    assert run(ip, "def g(v):\n    return v + 1\ng(total)")
    assert run(ip, "del rows")
    assert run(ip, "%memtrack off")
    records = memtrack.history()
    assert len(records) >= 10
    assert all(r["leaks"] == [] for r in records), [r["leaks"] for r in records]


def test_shell_gc_callback_only_while_tracking_deep(shell):
    import memtrack as m

    hook = m._tracker.leaks.garbage._gc_callback  # equal to every bound copy of it
    assert hook not in gc.callbacks  # loaded, tracking off: no per-collection cost
    assert run(shell, "%memtrack on")
    assert hook not in gc.callbacks  # light: no per-collection cost either
    assert run(shell, "%memtrack on --deep")
    assert hook in gc.callbacks
    assert run(shell, "%memtrack off")
    assert hook not in gc.callbacks
    seen = []
    shell.user_ns["_probe"] = lambda: seen.append(hook in gc.callbacks)
    assert run(shell, "%%memtrack --quiet\n_probe()")  # a deep cell: hooked while it runs
    assert run(shell, "get_ipython().run_cell_magic('memtrack', '--quiet', '_probe()')")
    assert seen == [True, True]
    assert hook not in gc.callbacks


def test_shell_deep_leak_analysis_shares_the_analysis_deadline(shell, monkeypatch):
    from memtrack.shell import batching as tracker_mod

    det = memtrack._tracker.leaks
    inner = det.after_cell
    calls = []

    def spy(*args, **kwargs):
        calls.append((time.perf_counter(), kwargs))
        return inner(*args, **kwargs)

    monkeypatch.setattr(det, "after_cell", spy)
    shell.user_ns["old_rows"] = [{"i": i} for i in range(100_000)]
    assert run(shell, "%%memtrack --quiet\nold_rows = None\nmade = [[i] for i in range(60_000)]")
    record = memtrack.history()[-1]
    (t_call, kwargs), *_ = calls
    assert kwargs["deep"] is True and kwargs["changed"] >= {"old_rows", "made"}
    allowed = max(tracker_mod.LEAKS_MIN_S, tracker_mod.LEAKS_TOTAL_S - record["analysis_s"])
    assert kwargs["deadline"] - t_call <= allowed + 1e-3
    shell.user_ns["made"] = None
    # light mode: the detector's fixed budget, the touched names only
    calls.clear()
    assert run(shell, "%memtrack on")
    assert run(shell, "y = 2")
    assert run(shell, "%memtrack off")
    kw = calls[-1][1]
    assert kw["deep"] is False and kw["deadline"] is None and "y" in kw["changed"]


# --------------------------------------------------------------------------- real kernel


def test_kernel_detects_each_kind_and_clean_cells(tmp_path_factory):
    import os
    from pathlib import Path

    from jupyter_client.manager import start_new_kernel
    from test_kernel import execute, stdout_text

    env = dict(os.environ)
    ext = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ext, env.get("PYTHONPATH")) if p)
    env["IPYTHONDIR"] = str(tmp_path_factory.mktemp("ipython"))
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60, env=env)

    def leaks_now():
        reply = execute(
            kc,
            "import json as _j, memtrack as _m\n"
            "print(_j.dumps([[s['name'], s['kind']] for s in _m.history()[-1]['leaks']]))",
        )
        return [tuple(x) for x in json.loads(stdout_text(reply["iopub"]).strip().splitlines()[-1])]

    try:
        for code in ("%load_ext memtrack", BIG_CLASS, "%memtrack on"):
            assert execute(kc, code)["content"]["status"] == "ok"
        # a clean stretch: same-size rebinds and ordinary cells
        for _ in range(5):
            execute(kc, "x = bytearray(4_000_000)")
        execute(kc, "y = [1, 2, 3]\nz = sum(y)")
        assert leaks_now() == []
        # growing
        execute(kc, "cache = []")
        for _ in range(3):
            execute(kc, "cache.append(bytearray(1_500_000))")
        assert ("cache", "growing-variable") in leaks_now()
        # output history
        execute(kc, "df = Big()")
        reply = execute(kc, "df")
        n = reply["content"]["execution_count"]
        execute(kc, "import weakref\nref = weakref.ref(df)\ndel df")
        assert (f"Out[{n}]", "output-history") in leaks_now()
        # traceback
        reply = execute(kc, "def f():\n    t = Big(2_000_000)\n    1 / 0\nf()")
        assert reply["content"]["status"] == "error"
        assert ("sys.last_traceback", "traceback") in leaks_now()
        # release
        reply = execute(kc, f"%memtrack release out {n}")
        assert "expects to free 3.0 MB" in stdout_text(reply["iopub"])
        reply = execute(kc, "print(ref() is None)")
        assert stdout_text(reply["iopub"]).strip() == "True"
        reply = execute(kc, "%memtrack release traceback")
        assert "released the last traceback" in stdout_text(reply["iopub"])
        names = leaks_now()
        assert ("sys.last_traceback", "traceback") not in names
        assert (f"Out[{n}]", "output-history") not in names
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_why_alive_says_whether_the_search_finished():
    value = [0]
    ns: dict = {"v": value}
    roots = Roots(ns=ns, out={})
    # Unbounded here: the search scans the process's heap, which holds torch, jax and dask when
    # the whole suite runs, more objects than the default cap (the cap's own wording is below).
    unbounded = {"budget_s": 600, "max_nodes": 10**9}
    chain, text, status = holders.why_alive(roots, "v", **unbounded)
    assert status == "found" and chain == ["user_ns['v']"] and "only by its name" in text
    chain, text, status = holders.why_alive(roots, "v", budget_s=600, max_nodes=1_000)
    assert status == "timeout" and chain == ["user_ns['v']"] and "found among 1,000 objects" in text
    ns["rows"] = [[i] for i in range(2_000)]
    chain, text, status = holders.why_alive(roots, "v", budget_s=1e-9)
    assert status == "timeout" and chain == ["user_ns['v']"] and "within 0 ms" in text
    ns["box"] = {"k": value}
    chain, _, status = holders.why_alive(roots, "v", **unbounded)
    assert status == "found" and chain == ["user_ns['box']", "dict['k']"]
    assert holders.why_alive(roots, "gone_name")[2] == "gone"
    assert holders.why_alive(roots, "Out[3]")[2] == "gone"
    assert holders.why(roots, "v", budget_s=60)[0] == chain  # why() is why_alive() without status
