"""The measurement engine in a real IPython shell: record definitions, costs and safety."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
import tracemalloc
import weakref
from pathlib import Path
from typing import ClassVar

import memtrack
import pytest
from conftest import record_validator
from IPython.core.error import UsageError
from memtrack import protocol
from memtrack.measure import ledger as lines
from memtrack.measure import sizes
from memtrack.measure import type_counts as objects
from memtrack.record import RECORD_MAX_BYTES, fit_record
from memtrack.store import RecordStore

MB = 1_000_000
LINUX = sys.platform.startswith("linux")


def run(ip, code):
    return ip.run_cell(code, store_history=True)


def last():
    return memtrack.history()[-1]


def no_tax_left(ip):
    """After a one-off deep cell: no tracing, nothing frozen, IPython's run_code untouched."""
    assert not tracemalloc.is_tracing()
    assert gc.get_freeze_count() == 0
    assert "run_code" not in ip.__dict__
    assert objects._active is None


def test_traced_delta_counts_frees_of_older_values(shell):
    run(shell, "old = bytearray(50_000_000)\nkeep = [0] * 1000")
    run(shell, "%%memtrack\ndel old")
    record = last()
    record_validator().validate(record)
    assert -52 * MB <= record["traced_delta"] <= -49 * MB
    assert record["traced_delta_method"] == "cell+freed-estimate"
    assert record["freed_estimate"] >= 49 * MB
    # Rebinding frees the old value too: +10 MB new, -50 MB old.
    run(shell, "old = bytearray(50_000_000)")
    run(shell, "%%memtrack\nold = bytearray(10_000_000)")
    assert -42 * MB <= last()["traced_delta"] <= -38 * MB
    # A value still referenced elsewhere is not freed by del.
    run(shell, "a = bytearray(20_000_000)\nb = a")
    run(shell, "%%memtrack\ndel a")
    assert abs(last()["traced_delta"]) < 1 * MB
    no_tax_left(shell)


def test_traced_peak_sees_a_temporary_buffer(shell):
    run(shell, "%%memtrack\ntmp = b'1' * 80_000_000\ndel tmp\nsmall = 1")
    record = last()
    assert abs(record["traced_delta"]) < 2 * MB
    assert 79 * MB <= record["traced_peak"] <= 85 * MB
    if LINUX:
        assert record["rss_peak_scope"] == "cell"
        assert record["rss_peak"] - record["rss_before"] >= 60 * MB


def test_rss_peak_is_the_cells_own(shell):
    if not LINUX:
        pytest.skip("clear_refs is Linux only")
    run(shell, "%%memtrack\ntmp = b'1' * 100_000_000\ndel tmp")
    run(shell, "%%memtrack\nsmall = 1")
    record = last()
    assert record["rss_peak"] - record["rss_before"] < 20 * MB


def test_top_lines_numbered_like_the_notebook_cell(shell):
    code = (
        "%%memtrack --top 10\n"
        "def make(n):\n"
        "    return bytearray(n)\n"
        "x = make(30_000_000)\n"
        "for i in range(3):\n"
        "    x += bytearray(1_000_000)\n"
        "y = 1"
    )
    run(shell, code)
    record = last()
    record_validator().validate(record)
    by_line = {r["line"]: r for r in record["top_lines"]}
    assert by_line[4]["code"] == "x = make(30_000_000)"
    # The loop grows the buffer make() allocated: the native engine's sampled lines lay the
    # growth to the line that made it (line 3, inside a function, not a block's line), so no
    # sampled row here, and the statements' rows stay as they are.
    assert record["top_lines_granularity"] == "statement"
    assert 3 not in by_line and not any(r.get("sampled") for r in record["top_lines"])
    # What the called function allocated counts on the calling line.
    assert 29 * MB <= by_line[4]["increment"] <= 31 * MB
    assert by_line[4]["occurrences"] == 1
    assert by_line[5]["code"] == "for i in range(3):"
    assert record["top_lines"][0]["line"] == 4  # largest first


def test_top_lines_after_a_nested_cell_magic(shell, capsys):
    run(shell, "%%memtrack\n%%time\nt = bytearray(5_000_000)")
    record = last()
    assert record["top_lines"][0]["line"] == 2
    assert record["top_lines"][0]["code"] == "%%time"


def test_types_count_new_objects_including_untracked(shell):
    run(shell, "%%memtrack\nrows = [{'i': i, 's': str(i)} for i in range(20_000)]")
    record = last()
    types = {r["type"]: r for r in record["types"]}
    assert 19_000 <= types["dict"]["count_delta"] <= 21_000
    assert 18_000 <= types["str"]["count_delta"] <= 21_000
    assert types["dict"]["size_delta"] > 19_000 * 64
    assert "types_method" in record
    # Class instances (GC-tracked) are counted exactly.
    run(shell, "class Point:\n    pass")
    run(shell, "%%memtrack\npts = [Point() for _ in range(1000)]")
    types = {r["type"]: r for r in last()["types"]}
    assert types["__main__.Point"]["count_delta"] == 1000
    assert types["__main__.Point"]["sampled"] is False


def test_gc_collect_in_the_cell_frees_old_cycles(shell):
    run(shell, "class Node:\n    pass\nn = Node()\nn.self = n\nn.blob = bytearray(30_000_000)")
    run(shell, "%%memtrack\nimport gc\ndel n\ngc.collect()")
    record = last()
    assert record["types_method"].startswith("skipped")
    assert record["gc"]["collected"] >= 1
    assert record["traced_delta"] <= -29 * MB
    no_tax_left(shell)


def test_variables_created_rebound_resized_deleted(shell):
    run(shell, "grow = []\ngone = bytearray(1_000_000)\nswap = 'a'")
    run(shell, "%%memtrack --top 10\nnew = list(range(1000))\ngrow.extend(range(500))\n"
        "del gone\nswap = bytearray(2_000_000)")  # fmt: skip
    variables = {v["name"]: v for v in last()["variables"]}
    assert variables["new"]["change"] == "created"
    assert variables["new"]["size"] >= 8000 + 1000 * 28 - 300 * 28
    assert variables["grow"]["change"] == "resized" and variables["grow"]["delta"] > 0
    assert variables["gone"]["change"] == "deleted"
    assert variables["gone"]["delta"] <= -1 * MB
    assert variables["swap"]["change"] == "rebound"
    assert variables["swap"]["type"] == "bytearray"
    assert variables["swap"]["delta"] >= 1.9 * MB
    record_validator().validate(last())


def test_options_turn_tables_off_and_bad_input_is_usage_error(shell):
    run(shell, "%%memtrack --no-lines --no-types --no-vars\nq = [1] * 100")
    record = last()
    assert record["top_lines"] == [] and record["types"] == [] and record["variables"] == []
    run(shell, "%%memtrack --top 1\na1 = 1\na2 = [0] * 100000")
    assert len(last()["top_lines"]) == 1
    for bad in ("--top 0", "--top x", "--top 51", "--top", "--frob"):
        result = run(shell, f"%%memtrack {bad}\n1")
        assert isinstance(result.error_in_exec, UsageError), bad
    n = len(memtrack.history())
    result = run(shell, "%memtrack sideways")
    assert isinstance(result.error_in_exec, UsageError)
    assert len(memtrack.history()) == n


class Hostile:
    """Every hook a careless inspector might call counts and raises."""

    calls: ClassVar[list] = []

    def __getattr__(self, name):
        Hostile.calls.append(("getattr", name))
        raise RuntimeError("__getattr__ ran")

    def __len__(self):
        Hostile.calls.append("len")
        raise RuntimeError("__len__ ran")

    def __iter__(self):
        Hostile.calls.append("iter")
        raise RuntimeError("__iter__ ran")

    def __repr__(self):
        Hostile.calls.append("repr")
        raise RuntimeError("__repr__ ran")

    def __eq__(self, other):
        Hostile.calls.append("eq")
        raise RuntimeError("__eq__ ran")

    __hash__ = object.__hash__

    @property
    def __class__(self):
        Hostile.calls.append("__class__")
        raise RuntimeError("__class__ ran")

    @property
    def lazy(self):
        Hostile.calls.append("property")
        raise RuntimeError("property ran")


class BadSize:
    def __sizeof__(self):
        raise ValueError("no size")


@pytest.mark.parametrize("mode", ["deep-cell", "light", "deep"])
def test_no_user_code_runs_while_measuring(shell, mode):
    shell.user_ns["Hostile"] = Hostile
    shell.user_ns["BadSize"] = BadSize
    Hostile.calls.clear()
    prefix = "%%memtrack\n" if mode == "deep-cell" else ""
    if mode != "deep-cell":
        memtrack.start(deep=mode == "deep")
    try:
        run(shell, prefix + "h = Hostile()\nhs = [Hostile(), {'k': Hostile()}]\nbad = BadSize()")
        run(shell, prefix + "h2 = h\ndel h\nbad2 = [bad]")
    finally:
        memtrack.stop()
    assert Hostile.calls == []
    variables = {v["name"]: v for r in memtrack.history() for v in r["variables"]}
    assert variables["bad"]["size"] is None  # its __sizeof__ raised: unknown
    assert variables["bad"]["type"] == "test_engine.BadSize"
    assert variables["h"]["type"] == "test_engine.Hostile"


@pytest.mark.parametrize("mode", ["deep-cell", "light", "deep"])
def test_weakref_to_a_tracked_value_dies(shell, mode):
    prefix = "%%memtrack\n" if mode == "deep-cell" else ""
    if mode != "deep-cell":
        memtrack.start(deep=mode == "deep")
    try:
        run(shell, "import weakref\nclass Blob:\n    pass")
        run(shell, prefix + "blob = Blob()\nblob.data = bytearray(1000)\nbig = {'b': blob}")
        run(shell, prefix + "ref = weakref.ref(blob)\nblob.more = [blob]\ndel big")
    finally:
        memtrack.stop()
    ref = shell.user_ns["ref"]
    assert ref() is not None
    shell.user_ns["blob"].more.clear()
    del shell.user_ns["blob"]
    gc.collect()
    assert ref() is None


def test_continuous_deep_mode_and_user_session(shell):
    memtrack.start(deep=True)
    run(shell, "c1 = bytearray(5_000_000)")
    run(shell, "del c1")
    memtrack.stop()
    first, second = memtrack.history()[-2:]
    assert first["traced_delta_method"] == "cell+freed-estimate"  # tracing began here
    assert second["traced_delta_method"] == "continuous"
    assert second["traced_delta"] <= -4.9 * MB
    no_tax_left(shell)
    tracemalloc.start(3)
    run(shell, "%%memtrack\nc2 = bytearray(1_000_000)")
    assert last()["traced_delta_method"] == "continuous"
    assert tracemalloc.is_tracing() and tracemalloc.get_traceback_limit() == 3
    tracemalloc.stop()


def test_light_mode_is_cheap_and_records_variables(shell):
    memtrack.start()
    run(shell, "lv = [0] * 1000")
    memtrack.stop()
    record = last()
    record_validator().validate(record)
    assert record["mode"] == "light" and record["traced_delta"] is None
    assert record["top_lines"] == [] and record["types"] == []
    (var,) = record["variables"]
    # Issue 20: a light cell's names get deep sizes too (here, complete: 1000 pointers to one
    # small int, which counts once).
    assert var["name"] == "lv" and var["partial"] is False
    assert var["size"] == sys.getsizeof([0] * 1000) + sys.getsizeof(0)
    assert not tracemalloc.is_tracing() and gc.get_freeze_count() == 0


def test_summary_text_and_html_without_frontend(shell, capsys):
    run(shell, "%%memtrack -l show\nrows = [{'i': i} for i in range(2000)]")
    out = capsys.readouterr().err
    assert "memtrack [" in out and "'show'" in out
    assert "lines: line 2:" in out
    assert "types: dict +" in out
    assert "variables: rows: list created" in out
    from memtrack.reports.summary import format_html

    html = format_html(last())
    assert html.startswith("<div class='memtrack-summary'>") and "<li>" in html


def test_status_report_and_own_memory(shell, capsys):
    run(shell, "%%memtrack\nsr = 1")
    capsys.readouterr()
    run(shell, "%memtrack status")
    out = capsys.readouterr().out
    assert "mode off, 1 cell(s) recorded" in out and "history" in out and "kB" in out
    run(shell, "%memtrack report")
    out = capsys.readouterr().out
    assert out.startswith("memtrack: 1 cell(s) recorded\n") and "RSS after" in out


def test_records_stay_small_and_the_store_bounded():
    store = RecordStore(max_records=100)
    row = {"line": 1, "code": "x" * 500, "increment": 1, "occurrences": 1}
    record = {
        "label": "l" * 1000,
        "top_lines": [dict(row) for _ in range(50)],
        "types": [{"type": "t" * 100, "count_delta": 1, "size_delta": 1}] * 50,
        "variables": [{"name": "v", "type": "int", "size": 1, "delta": 1}] * 50,
    }
    fitted = fit_record(record)
    assert len(json.dumps(fitted, separators=(",", ":"))) <= RECORD_MAX_BYTES
    for _ in range(1000):
        store.add(fitted)
    assert len(store) == 100


def test_every_record_under_2kb(shell):
    run(shell, "%%memtrack --top 50\n" + "\n".join(f"v{i} = [{i}] * {i * 100}" for i in range(60)))
    assert len(json.dumps(last(), separators=(",", ":"))) <= RECORD_MAX_BYTES


def test_deep_size_respects_its_budget_and_never_calls_user_code(monkeypatch):
    big = {i: str(i) for i in range(300_000)}
    # A clock that moves 1 ms per reading: the walk must stop at the first reading past its
    # deadline (readings every 256 children), whatever the machine's speed.
    readings = []

    def clock():
        readings.append(None)
        return len(readings) * 0.001

    monkeypatch.setattr(sizes.time, "perf_counter", clock)
    r = sizes.deep_size(big, deadline=0.02)
    monkeypatch.undo()
    assert r["partial"] and r["size"] > 0
    assert len(readings) == 21  # 20 readings within the deadline, then the one past it
    assert r["objects"] <= 21 * 256 + 1
    full = sizes.deep_size({i: str(i) for i in range(100)})
    assert not full["partial"] and full["size"] > sys.getsizeof({})
    Hostile.calls.clear()
    sizes.deep_size([Hostile(), {"a": Hostile()}])
    assert Hostile.calls == []
    assert sizes.deep_size(BadSize())["size"] is None


def test_pyarrow_data_counts_its_buffers_once_through_pyarrows_own_getters():
    import numpy as np
    import pyarrow as pa

    n = 100_000
    table = pa.table({"x": np.arange(n), "y": [f"v{i}" for i in range(n)]})
    held = table.get_total_buffer_size()
    got = sizes.deep_size(table)
    assert held <= got["size"] <= held + 1000 and not got["partial"]
    # The same buffers reached three ways (the table, a slice, a column) count once; a slice
    # alone holds its whole buffers (more than pyarrow's nbytes of its range).
    both = sizes.deep_size([table, table.slice(0, 10), table.column("x")])
    assert held <= both["size"] <= held + 2000
    assert sizes.deep_size(table.slice(0, 10))["size"] >= held > table.slice(0, 10).nbytes
    # A dictionary array's dictionary is counted too (buffers() leaves it out).
    encoded = pa.array([f"word {i % 1000}" for i in range(n)]).dictionary_encode()
    assert sizes.deep_size(encoded)["size"] >= encoded.nbytes


def test_sizing_never_imports_pyarrow():
    code = (
        f"import sys; sys.path.insert(0, {str(Path(sizes.__file__).parents[2])!r})\n"
        "from memtrack.measure.sizes import deep_size\n"
        "deep_size([list(range(10)), {'a': b'x'}])\n"
        "print('pyarrow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_store_names_reads_bytecode():
    code = compile("a = 1\ndel b\nc.d = 2\nfor e in f: pass\nimport g", "<x>", "exec")
    assert lines.store_names(code) == {"a", "b", "e", "g"}


def test_someone_elses_freeze_is_left_alone(shell):
    gc.freeze()
    try:
        run(shell, "%%memtrack\nz = [[] for _ in range(10)]")
        assert last()["types_method"].startswith("skipped")
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


class _ListeningComm:
    """Stands for a frontend's comm (the comm target needs a kernel); records what is sent
    (the mode announcements apart: ``tracking``)."""

    comm_id = "listening"

    def __init__(self):
        self.sent = []
        self.tracking = []

    def send(self, data):
        (self.tracking if data.get("type") == "tracking" else self.sent).append(data)


@pytest.fixture
def listening(shell):
    """A frontend comm on the tracker's bridge (light records are then deferred and batched, as
    in a kernel with the sidebar open); closed after the test."""
    comm = _ListeningComm()
    bridges = memtrack._tracker.bridge._comms
    bridges[comm.comm_id] = comm
    yield comm
    bridges.pop(comm.comm_id, None)


def test_light_cell_record_waits_for_the_loop_and_the_next_cell(shell, listening):
    """Inside ipykernel's asyncio loop a light cell returns before it is analysed: the loop
    takes its variables after the reply, and the next cell never runs before that. The records
    of the analysed cells are built, stored and sent together, in one `records` message, when
    the batch timer fires (BATCH_DELAY_S); history() builds and sends what still waits."""
    import asyncio

    from memtrack.shell.batching import BATCH_DELAY_S

    tracker = memtrack._tracker
    comm = listening
    seen = {}

    async def cells():
        memtrack.start()
        run(shell, "light_a = [0] * 1000")
        seen["after_cell"] = (len(tracker.store), len(tracker.batch.deferred))
        await asyncio.sleep(0)  # ipykernel: reply and idle status sent, then the callbacks
        seen["after_loop"] = (
            len(tracker.store),
            len(tracker.batch.deferred),
            len(tracker.batch.unbuilt),
        )
        run(shell, "light_b = 1")  # no loop turn: analysed by the next cell itself
        run(shell, "light_c = 2\nlight_b = 'now a str'")
        seen["after_c"] = (
            len(tracker.store),
            len(tracker.batch.deferred),
            len(tracker.batch.unbuilt),
        )
        seen["status"] = tracker.status_line()
        seen["sent_at_once"] = list(comm.sent)
        await asyncio.sleep(BATCH_DELAY_S * 1.5)  # light_c analysed, then the batch's timer
        seen["batch"] = list(comm.sent)
        seen["stored_after_timer"] = len(tracker.store)
        run(shell, "light_d = 3")
        await asyncio.sleep(0)
        seen["sent_before_history"] = len(comm.sent)  # light_d's record waits for its timer
        memtrack.stop()

    n0 = len(tracker.store)
    asyncio.run(cells())
    assert seen["after_cell"] == (n0, 1)
    assert seen["after_loop"] == (n0, 0, 1)  # analysed, its record not built yet
    assert seen["after_c"] == (n0, 1, 2)  # light_a, light_b analysed; light_c waits
    assert f"{n0 + 2} cell(s) recorded" in seen["status"]
    assert seen["sent_at_once"] == []
    (batch,) = seen["batch"]
    protocol.parse_message(batch)
    assert batch["type"] == "records"
    assert seen["stored_after_timer"] == n0 + 3
    names = [sorted(v["name"] for v in r["variables"]) for r in batch["records"]]
    assert names == [["light_a"], ["light_b"], ["light_b", "light_c"]]
    # light_b's row describes the namespace light_b's cell left, not the next cell's
    assert batch["records"][1]["variables"][0]["type"] == "int"
    assert [r["seq"] for r in batch["records"]] == [n0 + 1, n0 + 2, n0 + 3]
    assert seen["sent_before_history"] == 1
    records = memtrack.history()  # builds and sends what still waits
    (last_msg,) = comm.sent[1:]
    assert [r["variables"][0]["name"] for r in last_msg["records"]] == ["light_d"]
    stored = [sorted(v["name"] for v in r["variables"]) for r in records[-4:]]
    assert stored == [*names, ["light_d"]]
    assert all(r["mode"] == "light" for r in records[-4:])
    assert tracker.batch.deferred == [] and tracker.batch.unbuilt == []
    # Each change of the mode was announced to the frontend, as the schema says.
    for msg in comm.tracking:
        protocol.parse_message(msg)
    assert [m["mode"] for m in comm.tracking] == ["light", "off"]


def test_waiting_light_records_go_out_on_the_next_loop_when_theirs_closed(shell, listening):
    """A batch timer left on a loop that closed never fires: the next light cell on another
    loop arms one there, and the batch carries both cells' records."""
    import asyncio

    from memtrack.shell.batching import BATCH_DELAY_S

    tracker = memtrack._tracker
    comm = listening

    async def first():
        memtrack.start()
        run(shell, "loop_a = 1")
        await asyncio.sleep(0)  # analysed; its timer is on this loop, which then closes

    async def second():
        run(shell, "loop_b = 2")
        await asyncio.sleep(0)
        await asyncio.sleep(BATCH_DELAY_S * 2)
        memtrack.stop()

    asyncio.run(first())
    assert comm.sent == [] and len(tracker.batch.unbuilt) == 1
    asyncio.run(second())
    (batch,) = comm.sent
    assert [r["variables"][0]["name"] for r in batch["records"]] == ["loop_a", "loop_b"]


def test_a_deep_cell_after_waiting_light_cells_keeps_their_order(shell, listening):
    """A %%memtrack cell's record is stored and sent right away: the light records still waiting
    for their batch go first, so seq and the messages keep the order of the cells."""
    import asyncio

    tracker = memtrack._tracker
    comm = listening

    async def cells():
        memtrack.start()
        run(shell, "order_a = 1")
        await asyncio.sleep(0)
        run(shell, "order_b = 2")
        await asyncio.sleep(0)
        run(shell, "%%memtrack --quiet\norder_c = bytearray(1000)")
        memtrack.stop()

    n0 = len(tracker.store)
    asyncio.run(cells())
    records = memtrack.history()[n0:]
    assert [r["mode"] for r in records] == ["light", "light", "deep"]
    assert [r["variables"][0]["name"] for r in records] == ["order_a", "order_b", "order_c"]
    assert [r["seq"] for r in records] == sorted(r["seq"] for r in records)
    sent = [r for msg in comm.sent for r in (msg.get("records") or [msg.get("record")])]
    assert [r["seq"] for r in sent] == [r["seq"] for r in records]


def test_a_light_batch_is_stored_and_announced_once_complete(shell, listening, monkeypatch):
    """Every record of a light batch reaches a store listener (memtrack.widget()), the store and
    the comm message with the same leak suspects: the batch's leak pass completes its last
    record before it is stored, never after (it used to patch the stored dict as it was sent,
    so the listener's copy missed the marks the sidebar showed)."""
    import asyncio

    from memtrack.shell import batching

    tracker = memtrack._tracker
    shell.run_line_magic("memtrack", "reset")
    comm = listening
    heard = []

    class Listener:
        def on_history(self, event, record):
            if event == "add":
                heard.append(record)

    listener = Listener()
    tracker.store.add_listener(listener.on_history)
    # What the passes find is under test here, not whether this machine met their budget.
    monkeypatch.setattr(batching, "BATCH_PASS_MAX_S", 5.0)
    monkeypatch.setattr(tracker.leaks.config, "budget_light_s", 5.0)

    async def batches():
        memtrack.start()
        run(shell, "grown = list(range(300_000))")
        run(shell, "grown_n = 1")
        for step in range(5):  # the list grows in separate batches of two cells each
            await asyncio.sleep(batching.BATCH_DELAY_S * 2)
            run(shell, "grown.extend(range(300_000))")
            run(shell, f"grown_n = {step + 2}")
        await asyncio.sleep(batching.BATCH_DELAY_S * 2)
        memtrack.stop()

    try:
        asyncio.run(batches())
        sent = [r for msg in comm.sent if msg["type"] == "records" for r in msg["records"]]
        stored = memtrack.history()
        assert len(sent) == len(heard) == len(stored) == 12
        assert [r["seq"] for r in sent] == [r["seq"] for r in heard] == [r["seq"] for r in stored]
        for message_copy, listener_copy, store_copy in zip(sent, heard, stored, strict=True):
            assert message_copy["leaks"] == listener_copy["leaks"] == store_copy["leaks"]
        growing = [
            r["seq"] for r in heard if any(s["kind"] == "growing-variable" for s in r["leaks"])
        ]
        assert growing, [r["leaks"] for r in heard]  # the growth was seen, by the listener too
    finally:
        tracker.store.remove_listener(listener.on_history)
        for name in ("grown", "grown_n"):
            shell.user_ns.pop(name, None)
        shell.run_line_magic("memtrack", "reset")


def test_sizing_a_deleted_big_list_allocates_no_copy_of_it(shell):
    """The freed-size estimate walks a 12.5M-item list in place: gc.get_referents would copy its
    100 MB of references and show up as the cell's own peak."""
    run(shell, "big_ptrs = [None] * 12_500_000")
    assert run(shell, "%%memtrack --quiet\ndel big_ptrs").success
    record = last()
    assert record["traced_delta"] < -99_000_000  # the frees of the older list are estimated
    assert record["traced_peak"] < 5_000_000


def test_batched_light_cells_share_one_leak_pass_for_the_last_record(shell):
    """Cells that run back to back (Run All) send their records in one batch; the leak pass runs
    once for it, just before it is sent, and its suspects go to the batch's last record (the
    namespace that cell left). The records before carry the previous pass's suspects."""
    import asyncio

    from memtrack.shell.batching import BATCH_DELAY_S, batch_pass_budget

    tracker = memtrack._tracker
    shell.run_line_magic("memtrack", "reset")  # no suspects left by earlier tests to carry
    comm = _ListeningComm()
    tracker.bridge._comms[comm.comm_id] = comm
    passes = []
    budgets = []
    after_cell = tracker.leaks.after_cell

    def counting_after_cell(*args, **kwargs):
        passes.append(kwargs.get("changed"))
        budgets.append(kwargs["deadline"] - time.perf_counter())
        # What the pass finds is under test here, not whether this machine met its budget.
        kwargs["deadline"] = time.perf_counter() + 5
        return after_cell(*args, **kwargs)

    tracker.leaks.after_cell = counting_after_cell

    async def cells():
        memtrack.start()
        run(shell, "lk_big = list(range(300_000))")
        run(shell, "lk_big")  # Out keeps it
        run(shell, "del lk_big")
        run(shell, "lk_small = 1")
        await asyncio.sleep(BATCH_DELAY_S * 2)  # the last cell's record, then the batch timer
        memtrack.stop()

    try:
        asyncio.run(cells())
        (batch,) = comm.sent
        protocol.parse_message(batch)
        records = batch["records"]
        assert len(records) == 4
        assert len(passes) == 1  # one pass for four cells
        # ... with more than one cell's budget (batch_pass_budget: the four cells')
        light = tracker.leaks.config.budget_light_s
        assert light < budgets[0] <= batch_pass_budget(4, light)
        assert {"lk_big", "lk_small"} <= set(passes[0])  # every cell's names, accumulated
        assert all(r["leaks"] == [] for r in records[:-1])
        held = [s for s in records[-1]["leaks"] if "Out" in s["name"] or "Out" in s["reason"]]
        assert held, records[-1]["leaks"]
        assert memtrack.history()[-1]["leaks"] == records[-1]["leaks"]  # the store agrees
    finally:
        del tracker.leaks.after_cell
        tracker.bridge._comms.pop(comm.comm_id, None)
        shell.user_ns.pop("lk_small", None)
        shell.run_line_magic("memtrack", "reset")


def test_a_batch_pass_has_the_budget_of_its_cells_within_bounds():
    from memtrack.shell.batching import BATCH_PASS_MAX_S, BATCH_PASS_MIN_S, batch_pass_budget

    assert batch_pass_budget(1, 0.0003) == BATCH_PASS_MIN_S
    assert batch_pass_budget(4, 0.0003) == 4 * 0.0003
    assert batch_pass_budget(100, 0.0003) == BATCH_PASS_MAX_S


def test_light_variables_come_from_the_source_magics_included(shell):
    """Light mode has no statement hook: the names the cell's source mentions are looked at
    before it runs, so a name bound inside a line magic is seen too."""
    shell.user_ns["lv_old"] = [1, 2, 3]
    memtrack.start()
    try:
        run(shell, "%time lv_new = [0] * 100\nlv_old.extend(range(1000))")
    finally:
        memtrack.stop()
    rows = {v["name"]: v["change"] for v in last()["variables"]}
    assert rows == {"lv_new": "created", "lv_old": "resized"}
    assert "run_code" not in shell.__dict__
    shell.user_ns.pop("lv_new", None)
    shell.user_ns.pop("lv_old", None)


def test_light_variables_include_globals_a_called_function_rebinds(shell):
    """``load()`` mentions neither name it rebinds: the function's own ``global`` stores are
    snapshotted too. The cache of those names keeps no reference to the function."""
    run(
        shell,
        "def gl_load():\n"
        "    global gl_data, gl_new\n"
        "    gl_data = [0] * 50_000\n"
        "    gl_new = bytearray(10_000)\n"
        "gl_data = []",
    )
    memtrack.start()
    try:
        run(shell, "gl_load()")
    finally:
        memtrack.stop()
    rows = {v["name"]: v for v in last()["variables"]}
    assert rows["gl_data"]["change"] == "rebound"
    assert rows["gl_data"]["delta"] >= 50_000 * 8
    assert rows["gl_new"]["change"] == "created"
    assert set(rows) == {"gl_data", "gl_new"}
    func = weakref.ref(shell.user_ns["gl_load"])
    for name in ("gl_load", "gl_data", "gl_new"):
        shell.user_ns.pop(name, None)
    run(shell, "pass")  # the last cell's Out/_ history holds nothing of gl_load either
    gc.collect()
    assert func() is None


def test_what_an_import_brings_is_one_row_below_the_data(shell):
    """Issue 19: a cell that imports modules and makes 200k strings shows the strings first and
    the import's functions, classes and modules as one row; a cell defining one function keeps
    its own row."""
    from memtrack.measure.type_counts import CODE_ROW, CODE_TYPES

    code = "import xml.dom.minidom, http.cookiejar\ngrouped = [str(i) for i in range(200_000)]"
    assert run(shell, "%%memtrack --quiet\n" + code).success
    types = last()["types"]
    assert types[0]["type"] == "str" and types[0]["count_delta"] >= 200_000
    (row,) = [t for t in types if t["type"] == CODE_ROW]
    assert row["count_delta"] >= 100 and {"function", "type"} <= set(row["group"])
    assert not [t for t in types if t["type"] in CODE_TYPES]  # none left on its own
    record_validator().validate(last())
    assert run(shell, "%%memtrack --quiet\ndef one_def():\n    return 1\nkept = [1] * 10").success
    assert CODE_ROW not in [t["type"] for t in last()["types"]]
    shell.user_ns.pop("grouped", None)
