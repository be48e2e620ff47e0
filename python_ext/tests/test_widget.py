"""memtrack.widget(): the ipywidgets widget with the live plot and the last cells."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from queue import Empty

import memtrack
import pytest
from conftest import REPO, real_kernel, record_validator
from memtrack.shell.widget import MemtrackWidget
from memtrack.store import RecordStore

PYTHON_EXT = str(Path(__file__).resolve().parents[1])
TIMEOUT = 60


def run(ip, code):
    result = ip.run_cell(code, store_history=True)
    assert result.success, result.error_in_exec or result.error_before_exec
    return result


def package_version() -> str:
    return json.loads((REPO / "package.json").read_text("utf-8"))["version"]


def sample(label: str) -> dict:
    record = json.loads((REPO / "schema/fixtures/valid/record.json").read_text("utf-8"))["record"]
    return {**record, "label": label}


# -- in a real IPython shell -------------------------------------------------------------------


def test_records_are_the_history_and_grow_with_each_tracked_cell(shell):
    run(shell, "%memtrack on")
    run(shell, "first = list(range(10_000))")
    run(shell, "second = bytearray(1_000_000)")
    w = memtrack.widget()
    try:
        assert len(w.records) == 2
        assert w.records == memtrack.history()
        validator = record_validator()
        for record in w.records:
            validator.validate(record)
        run(shell, "third = [0] * 50_000")
        assert len(w.records) == 3
        assert w.records == memtrack.history()
        assert "third" in [v["name"] for v in w.records[-1]["variables"]]
        # The widget holds copies: changing them leaves the history alone.
        w.records[-1]["label"] = "changed"
        assert memtrack.history()[-1]["label"] is None
    finally:
        w.close()


def test_widget_sends_only_the_last_records(shell):
    run(shell, "%memtrack on")
    for i in range(5):
        run(shell, f"value_{i} = {i}")
    w = memtrack.widget(max_records=3)
    try:
        assert w.records == memtrack.history()[-3:]
        run(shell, "value_5 = 5")
        history = memtrack.history()
        assert len(history) == 6
        assert w.records == history[-3:]
        assert [r["seq"] for r in w.records] == [r["seq"] for r in history[3:]]
    finally:
        w.close()


def test_reset_empties_the_widget(shell):
    run(shell, "%%memtrack --label kept\nkept = 1")
    w = memtrack.widget()
    try:
        assert [r["label"] for r in w.records] == ["kept"]
        run(shell, "%memtrack reset")
        assert w.records == []
        run(shell, "%%memtrack --label after\nafter = 1")
        assert [r["label"] for r in w.records] == ["after"]
    finally:
        w.close()


def test_widget_module_and_version_match_the_frontend(shell):
    w = memtrack.widget()
    try:
        state = w.get_state()
        assert state["_model_module"] == state["_view_module"] == "jupyterlab-memtrack"
        assert state["_model_name"] == "MemtrackWidgetModel"
        assert state["_view_name"] == "MemtrackWidgetView"
        # src/widget.ts registers package.json's version; the kernel asks for the same.
        assert state["_model_module_version"] == package_version()
        assert state["_view_module_version"] == package_version()
        assert state["records"] == []
        assert repr(w) == "<memtrack widget: 0 tracked cell(s)>"
    finally:
        w.close()


def test_bad_max_records_is_a_clear_error(shell):
    with pytest.raises(ValueError, match="max_records must be a positive integer"):
        memtrack.widget(max_records=0)


def test_closed_widget_is_garbage_collected_and_recording_goes_on(shell, capfd):
    run(shell, "%memtrack on")
    run(shell, "a = 1")
    w = memtrack.widget()
    ref = weakref.ref(w)
    w.close()
    del w
    gc.collect()
    assert ref() is None
    capfd.readouterr()
    run(shell, "b = 2")
    assert len(memtrack.history()) == 2
    assert "listener failed" not in capfd.readouterr().err


def test_store_holds_the_widget_by_weak_reference(shell):
    spare = RecordStore()
    w = memtrack.widget()
    # Registered with a second store that close() does not know about: only the weak
    # reference there remains once the widget is closed.
    spare.add_listener(w._on_history)
    ref = weakref.ref(w)
    w.close()
    del w
    gc.collect()
    assert ref() is None
    spare.add(sample("after the widget is gone"))
    assert len(spare) == 1


def test_listener_failure_does_not_stop_the_store(capfd):
    class Broken:
        def on_history(self, event, record):
            raise RuntimeError("boom")

    store = RecordStore()
    broken = Broken()
    store.add_listener(broken.on_history)
    stored = store.add(sample("x"))
    assert stored["seq"] == 1 and len(store) == 1
    assert "memtrack: a history listener failed (RuntimeError: boom)" in capfd.readouterr().err
    store.remove_listener(broken.on_history)
    store.add(sample("y"))
    assert capfd.readouterr().err == ""


def test_changes_from_another_thread_are_applied_on_the_main_loop():
    store = RecordStore()
    loop = asyncio.new_event_loop()
    w = MemtrackWidget(store, main_loop=loop)
    try:
        store.add(sample("main"))
        assert [r["label"] for r in w.records] == ["main"]
        seen_in_thread = []

        def from_comm_thread():
            store.clear()  # like a reset from the sidebar on an ipykernel subshell
            seen_in_thread.append(list(w.records))

        worker = threading.Thread(target=from_comm_thread)
        worker.start()
        worker.join()
        # Not touched off the main thread...
        assert [r["label"] for r in seen_in_thread[0]] == ["main"]
        # ...but replayed by the kernel's loop, on the main thread.
        loop.run_until_complete(asyncio.sleep(0))
        assert w.records == []
    finally:
        w.close()
        loop.close()


def test_widget_follows_the_new_history_after_unload_and_load(shell):
    run(shell, "%%memtrack --label before\nbefore = 1")
    w = memtrack.widget()
    closed = memtrack.widget()
    # Not made by memtrack.widget(): listens to its own store whatever the extension does.
    own_store = RecordStore()
    own = MemtrackWidget(own_store)
    try:
        old_store = memtrack._tracker.store
        assert [r["label"] for r in w.records] == ["before"]
        closed.close()
        run(shell, "%unload_ext memtrack")
        run(shell, "%load_ext memtrack")
        new_store = memtrack._tracker.store
        assert new_store is not old_store
        # The new tracker starts with an empty history: so does the widget.
        assert w.records == memtrack.history() == []
        run(shell, "%%memtrack --label after\nafter = [0] * 10_000")
        assert [r["label"] for r in w.records] == ["after"]
        assert w.records == memtrack.history()
        run(shell, "%memtrack on")
        run(shell, "tracked = 2")
        assert w.records == memtrack.history()
        assert len(w.records) == 2
        # The old store no longer feeds it; the closed and the standalone widgets stayed put.
        old_store.add(sample("into the old store"))
        assert len(w.records) == 2
        assert [r["label"] for r in closed.records] == ["before"]
        assert own.records == []
        own_store.add(sample("own"))
        assert [r["label"] for r in own.records] == ["own"]
    finally:
        w.close()
        own.close()


def test_reload_from_another_thread_resyncs_on_the_main_loop():
    from memtrack.shell.widget import follow_tracker

    old, new = RecordStore(), RecordStore()
    old.add(sample("old"))
    new.add(sample("new"))
    loop = asyncio.new_event_loop()
    w = MemtrackWidget(old, main_loop=loop, follow_reloads=True)
    try:
        worker = threading.Thread(target=follow_tracker, args=(new, loop))
        worker.start()
        worker.join()
        # No trait change off the main thread...
        assert [r["label"] for r in w.records] == ["old"]
        # ...the kernel's loop applies it.
        loop.run_until_complete(asyncio.sleep(0))
        assert [r["label"] for r in w.records] == ["new"]
        new.add(sample("newer"))
        assert [r["label"] for r in w.records] == ["new", "newer"]
    finally:
        w.close()
        loop.close()


def test_missing_ipywidgets_gives_a_clear_message(shell, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with pytest.raises(ImportError, match=r"memtrack\.widget\(\) needs ipywidgets: pip install"):
        memtrack.widget()


def test_memtrack_never_imports_ipywidgets_by_itself():
    code = (
        "import sys, memtrack\n"
        "from IPython.testing.globalipapp import start_ipython\n"
        "ip = start_ipython()\n"
        "ip.run_cell('%load_ext memtrack')\n"
        "ip.run_cell('%memtrack on')\n"
        "ip.run_cell('x = 1')\n"
        "assert memtrack.history(), 'nothing recorded'\n"
        "print('ipywidgets' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": PYTHON_EXT}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=TIMEOUT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


# -- in a real kernel: what the frontend receives ----------------------------------------------


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    with real_kernel(tmp_path_factory) as (_, kc):
        yield kc


def execute(kc, code):
    """Run ``code``; its reply and its iopub messages up to idle."""
    msg_id = kc.execute(code)
    msgs = []
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=TIMEOUT)
        except Empty:  # pragma: no cover - only when the kernel hangs
            raise AssertionError(f"no idle status for {code!r}; got {msgs}") from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        msgs.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=TIMEOUT)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=TIMEOUT)
    assert reply["content"]["status"] == "ok", reply["content"]
    return msgs


def _widget_opened(msgs):
    """The content of the one comm_open of a memtrack widget among these messages."""
    (opened,) = [
        m["content"]
        for m in msgs
        if m["msg_type"] == "comm_open"
        and m["content"]["data"]["state"].get("_model_name") == "MemtrackWidgetModel"
    ]
    return opened


def _widget_messages(msgs, opened):
    """The data of the comm messages sent to that widget."""
    return [
        m["content"]["data"]
        for m in msgs
        if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == opened["comm_id"]
    ]


def test_kernel_sends_the_records_and_each_new_one(kernel):
    execute(kernel, "%load_ext memtrack\n%memtrack on")
    execute(kernel, "numbers = list(range(100_000))")
    msgs = execute(kernel, "import memtrack\nw = memtrack.widget()\nw")
    opened = _widget_opened(msgs)
    state = opened["data"]["state"]
    assert state["_view_module"] == "jupyterlab-memtrack"
    assert state["_view_module_version"] == package_version()
    assert [r["execution_count"] for r in state["records"]] == [2]
    shown = [m for m in msgs if m["msg_type"] == "execute_result"]
    view = shown[0]["content"]["data"]["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == opened["comm_id"]

    # Each new record goes alone, not the whole list again.
    msgs = execute(kernel, "more = bytearray(2_000_000)")
    (sent,) = _widget_messages(msgs, opened)
    assert sent["method"] == "custom" and sent["content"]["type"] == "append"
    record = sent["content"]["record"]
    record_validator().validate(record)
    # The cell creating the widget was tracked after it was made: appended too, one cell ago.
    assert record["execution_count"] == 4
    assert record["rss_after"] is not None
    execute(kernel, "assert [r['execution_count'] for r in w.records] == [2, 3, 4]")
    execute(kernel, "assert w.records == memtrack.history()")

    # A reset sends the (empty) list.
    msgs = execute(kernel, "%memtrack reset")
    updates = [d for d in _widget_messages(msgs, opened) if d["method"] == "update"]
    assert updates and updates[-1]["state"]["records"] == []

    execute(kernel, "w.close()")
    assert _widget_messages(execute(kernel, "after_close = 1"), opened) == []


def test_kernel_widget_keeps_updating_after_unload_and_load(kernel):
    execute(kernel, "%load_ext memtrack\nimport memtrack\n%memtrack off")
    execute(kernel, "memtrack.reset()")
    execute(kernel, "%%memtrack --label before\nbefore = 1")
    msgs = execute(kernel, "w2 = memtrack.widget()\nw2")
    opened = _widget_opened(msgs)
    assert [r["label"] for r in opened["data"]["state"]["records"]] == ["before"]

    execute(kernel, "%unload_ext memtrack")
    # The new tracker's (empty) history replaces the old one in the frontend.
    msgs = execute(kernel, "%load_ext memtrack")
    updates = [d for d in _widget_messages(msgs, opened) if d["method"] == "update"]
    assert updates and updates[-1]["state"]["records"] == []
    msgs = execute(kernel, "%%memtrack --label after\nafter = 1")
    (sent,) = _widget_messages(msgs, opened)
    assert sent["content"]["type"] == "append"
    assert sent["content"]["record"]["label"] == "after"
    execute(kernel, "assert w2.records == memtrack.history()\nw2.close()")
