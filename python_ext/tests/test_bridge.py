"""memtrack.bridge with stand-in comms (the real kernel path is in test_kernel.py)."""

from __future__ import annotations

import memtrack
from conftest import message_validator
from memtrack.shell import bridge as bridge_mod
from memtrack.shell.bridge import TARGET_NAME, Bridge
from memtrack.store import RecordStore
from test_protocol import _measured_record


class FakeComm:
    def __init__(self, comm_id, fail=False):
        self.comm_id = comm_id
        self.fail = fail
        self.sent = []
        self.closed = False
        self.msg_handler = None
        self.close_handler = None

    def send(self, data):
        if self.fail:
            raise RuntimeError("socket gone")
        self.sent.append(data)

    def on_msg(self, handler):
        self.msg_handler = handler

    def on_close(self, handler):
        self.close_handler = handler

    def close(self):
        self.closed = True


class FakeManager:
    def __init__(self):
        self.targets = {}

    def register_target(self, name, f):
        self.targets[name] = f

    def unregister_target(self, name, f):
        return self.targets.pop(name)


def hello(comm_id, data=None):
    return {"content": {"comm_id": comm_id, "data": data or {"v": 1, "type": "hello"}}}


def opened(bridge, comm_id, **kw):
    comm = FakeComm(comm_id, **kw)
    bridge._on_open(comm, hello(comm_id))
    return comm


def test_open_sends_history_and_tracks_comms():
    store = RecordStore()
    store.add(_measured_record())
    bridge = Bridge(store)
    assert not bridge.attached()
    comm = opened(bridge, "a")
    assert bridge.attached()
    (history,) = comm.sent
    message_validator().validate(history)
    assert history["type"] == "history" and [r["seq"] for r in history["records"]] == [1]
    assert set(history["kernel"]) == {"pid", "python", "memtrack"}
    comm.close_handler({"content": {"comm_id": "a"}})
    assert not bridge.attached()


def test_publish_reaches_every_open_comm_and_survives_send_failures(capsys):
    bridge = Bridge(RecordStore())
    good, bad = opened(bridge, "good"), opened(bridge, "bad", fail=True)
    assert len(bad.sent) == 0
    captured = capsys.readouterr()
    assert "could not send 'history'" in captured.err
    record = dict(_measured_record(), seq=5)
    assert bridge.publish(record) == 1
    assert good.sent[-1] == {"v": 1, "type": "record", "record": record}
    assert "memtrack: could not send 'record' to the frontend (RuntimeError: socket gone)" in (
        capsys.readouterr().err
    )
    assert bridge.publish_reset() == 1
    assert good.sent[-1] == {"v": 1, "type": "reset"}


def test_records_queued_together_wait_for_a_send_or_send_now(monkeypatch):
    store = RecordStore()
    bridge = Bridge(store)
    comm = opened(bridge, "m")
    comm.sent.clear()
    recs = [store.add(_measured_record()) for _ in range(5)]
    bridge.queue_many(recs[:2], send=False)
    assert comm.sent == []  # the next send takes them along
    bridge.publish(recs[2])
    assert [(m["type"], m.get("records") or [m.get("record")]) for m in comm.sent] == [
        ("records", recs[:2]),
        ("record", [recs[2]]),
    ]
    comm.sent.clear()
    bridge.queue_many(recs[3:4], send=True)
    assert comm.sent == [{"v": 1, "type": "records", "records": recs[3:4]}]
    comm.sent.clear()
    monkeypatch.setattr(bridge_mod, "BATCH_MAX", 2)
    bridge.queue_many(recs[3:5], send=False)  # a full queue sends itself
    assert comm.sent == [{"v": 1, "type": "records", "records": recs[3:5]}]


def test_queued_records_share_one_message_and_keep_their_order():
    import asyncio

    from memtrack.leaks.detector import LeakDetector
    from memtrack.shell import batching

    store = RecordStore()
    bridge = Bridge(store)
    # The records that wait for a batch's message are the batcher's; the bridge sends them.
    batcher = batching.RecordBatcher(None, store, bridge, LeakDetector(), lambda: 0)
    comm = opened(bridge, "q")
    comm.sent.clear()
    validate = message_validator().validate
    recs = [store.add(_measured_record()) for _ in range(4)]

    async def queue_two_then_wait():
        loop = asyncio.get_running_loop()
        batcher.queue_record(recs[0], loop)
        batcher.queue_record(recs[1], loop)
        assert comm.sent == []  # waits for the timer
        await asyncio.sleep(batching.BATCH_DELAY_S * 2)

    asyncio.run(queue_two_then_wait())
    (batch,) = comm.sent
    validate(batch)
    assert batch["type"] == "records" and [r["seq"] for r in batch["records"]] == [1, 2]

    # A single record (deep or synchronous cell) goes after what is queued, never before it.
    comm.sent.clear()

    async def queue_then_publish():
        batcher.queue_record(recs[2], asyncio.get_running_loop())
        bridge.publish(recs[3])
        await asyncio.sleep(batching.BATCH_DELAY_S * 2)  # the timer finds nothing left

    asyncio.run(queue_then_publish())
    assert [(m["type"], m.get("record", m.get("records"))) for m in comm.sent] == [
        ("records", [recs[2]]),
        ("record", recs[3]),
    ]

    # Without a loop the record goes now; a reset drops what waits; a history request sends
    # the queue first (else those records would come twice).
    comm.sent.clear()
    batcher.queue_record(recs[0], None)
    assert comm.sent == [{"v": 1, "type": "records", "records": [recs[0]]}]
    loop = asyncio.new_event_loop()
    try:
        batcher.queue_record(recs[1], loop)
        bridge.publish_reset()
        assert comm.sent[-1] == {"v": 1, "type": "reset"}
        assert bridge.flush_records() == 0
        batcher.queue_record(recs[2], loop)
        bridge.send_history(comm)
    finally:
        loop.close()
    assert [m["type"] for m in comm.sent[-2:]] == ["records", "history"]

    # At most BATCH_MAX records wait.
    comm.sent.clear()
    loop = asyncio.new_event_loop()
    try:
        for _ in range(bridge_mod.BATCH_MAX):
            batcher.queue_record(recs[0], loop)
    finally:
        loop.close()
    (full,) = comm.sent
    assert len(full["records"]) == bridge_mod.BATCH_MAX


def test_messages_from_the_frontend_never_raise():
    resets = []
    bridge = Bridge(RecordStore(), on_reset=lambda: resets.append(1))
    comm = opened(bridge, "c")
    comm.sent.clear()
    for msg in [None, {}, {"content": None}, {"content": {"data": [1]}}, {"content": {}}]:
        comm.msg_handler(msg)
        assert comm.sent[-1]["type"] == "error"
    comm.msg_handler({"content": {"data": {"v": 1, "type": "request_history"}}})
    assert comm.sent[-1]["type"] == "history"
    comm.msg_handler({"content": {"data": {"v": 1, "type": "record", "record": {}}}})
    assert comm.sent[-1]["type"] == "error"
    n = len(comm.sent)
    comm.msg_handler({"content": {"data": {"v": 1, "type": "error", "message": "x"}}})
    assert len(comm.sent) == n  # no error ping-pong
    comm.msg_handler({"content": {"data": {"v": 1, "type": "reset"}}})
    assert resets == [1]
    for sent in comm.sent:
        message_validator().validate(sent)


def test_bad_open_data_gets_error_and_close():
    bridge = Bridge(RecordStore())
    comm = FakeComm("x")
    bridge._on_open(comm, hello("x", {"v": 1, "type": "request_history"}))
    assert comm.closed and comm.sent[0]["type"] == "error"
    assert "hello" in comm.sent[0]["message"]
    assert not bridge.attached()


def test_register_needs_a_kernel(monkeypatch):
    import comm as comm_pkg

    manager = FakeManager()
    monkeypatch.setattr(comm_pkg, "get_comm_manager", lambda: manager)
    bridge = Bridge(RecordStore())

    class Terminal:
        kernel = None

    assert bridge.register(Terminal()) is False
    assert manager.targets == {}

    class KernelShell:
        kernel = object()

    assert bridge.register(KernelShell()) is True
    assert manager.targets[TARGET_NAME] == bridge._on_open
    comm = opened(bridge, "k")
    bridge.unregister()
    assert manager.targets == {}
    assert comm.closed and not bridge.attached()


def test_module_level_helpers():
    bridge = Bridge(RecordStore())
    bridge_mod.set_active(None)
    assert bridge_mod.attached() is False
    assert bridge_mod.publish(_measured_record()) == 0
    bridge_mod.set_active(bridge)
    try:
        comm = opened(bridge, "m")
        assert bridge_mod.attached() is True
        assert bridge_mod.publish(_measured_record()) == 1
        assert comm.sent[-1]["type"] == "record"
    finally:
        bridge_mod.set_active(None)


# --------------------------------------------------------------------------- leak sidebar requests


def request(comm, data, entries=None):
    """Send one comm message through the bridge; return what it answered (one message or none).
    The history entries it sent first (a release's record) go to ``entries``."""
    n = len(comm.sent)
    comm.msg_handler({"content": {"comm_id": comm.comm_id, "data": data}})
    answers = comm.sent[n:]
    for answer in answers:
        message_validator().validate(answer)
    records = [a for a in answers if a["type"] == "record"]
    answers = [a for a in answers if a["type"] != "record"]
    assert entries is not None or not records, records
    if entries is not None:
        entries.extend(a["record"] for a in records)
    assert len(answers) <= 1, answers
    return answers[0] if answers else None


def run(ip, code):
    assert ip.run_cell(code, store_history=True).success


def test_why_and_release_with_a_real_shell(shell):
    import tracemalloc

    import memtrack

    ip = shell
    comm = opened(memtrack._tracker.bridge, "leaks")
    tracemalloc.start()  # the freed bytes are measured exactly (RSS would depend on malloc)
    run(ip, "big = bytearray(30_000_000)")
    run(ip, "big")
    n = ip.execution_count - 1
    run(ip, "del big")
    assert n in ip.user_ns["Out"]

    why = request(comm, {"v": 1, "type": "why", "request_id": "w1", "name": f"Out[{n}]"})
    assert why["type"] == "why_result" and why["request_id"] == "w1"
    assert why["status"] == "found" and why["chain"] == ["user_ns['Out']", f"dict[{n}]"]

    # A variable held by a container too: the chain names the container.
    run(ip, "holder = {'k': bytearray(10)}\nalias = holder['k']")
    why = request(comm, {"v": 1, "type": "why", "request_id": "w2", "name": "alias"})
    assert why["status"] == "found" and why["chain"] == ["user_ns['holder']", "dict['k']"]
    gone = request(comm, {"v": 1, "type": "why", "request_id": "w3", "name": "no_such"})
    assert gone["status"] == "gone" and gone["chain"] is None and "no_such" in gone["message"]

    # Dry run: says what it would do and frees nothing.
    msg = {"v": 1, "type": "release", "request_id": "r1", "target": f"out {n}", "dry_run": True}
    dry = request(comm, msg)
    assert dry["type"] == "release_result" and dry["request_id"] == "r1" and dry["ok"] is True
    assert dry["action"] == f"delete Out[{n}], _{n} and _"
    assert 30_000_000 <= dry["expected_bytes"] < 30_001_000
    assert dry["freed_bytes"] is None and "suspects" not in dry
    assert n in ip.user_ns["Out"] and f"_{n}" in ip.user_ns

    entries: list = []
    real = request(comm, dict(msg, request_id="r2", dry_run=False), entries)
    assert real["ok"] is True and real["dry_run"] is False
    assert real["freed_bytes"] >= 29_000_000, real
    assert n not in ip.user_ns["Out"] and f"_{n}" not in ip.user_ns
    assert all(s["name"] != f"Out[{n}]" for s in real["suspects"])
    # The release is an entry of the history, sent before the answer: what it freed, the
    # figures around it, and the suspects after it (the released one gone).
    [entry] = entries
    assert entry == memtrack.history()[-1]
    assert entry["mode"] == "release" and entry["execution_count"] is None
    assert entry["label"] == f"release: delete Out[{n}], _{n} and _"
    assert entry["release"]["action"] == real["action"]
    assert entry["release"]["freed_bytes"] == real["freed_bytes"]
    assert entry["release"]["freed_measure"] == "traced"
    if entry["alloc_method"] in ("mallinfo2", "native"):  # (given up when too slow)
        assert entry["alloc_delta"] <= -29_000_000, entry
    else:
        assert entry["alloc_method"] == "too-slow" and "alloc_delta" not in entry
    assert entry["rss_peak"] is None and entry["rss_before"] is not None
    assert all(s["name"] != f"Out[{n}]" for s in entry["leaks"])

    # Refusals are answers, not errors.
    again = request(comm, dict(msg, request_id="r3"))
    assert again["ok"] is False and again["expected_bytes"] is None
    assert f"Out[{n}] is not in the output history" in again["message"]
    tb = request(comm, dict(msg, request_id="r4", target="traceback"))
    assert tb["ok"] is False and tb["message"] == "no traceback is kept"
    bad = request(comm, dict(msg, request_id="r5", target="nope"))
    assert bad["ok"] is False and "'nope' is not a variable" in bad["message"]


def test_release_a_variable_and_a_traceback(shell):
    import memtrack

    ip = shell
    comm = opened(memtrack._tracker.bridge, "names")
    run(ip, "import weakref\nclass Box(list): pass\ncache = Box([bytearray(2_000_000)])")
    run(ip, "cache_ref = weakref.ref(cache)")
    msg = {"v": 1, "type": "release", "request_id": "a", "target": "cache", "dry_run": True}
    dry = request(comm, msg)
    assert dry["ok"] and dry["action"] == "delete `cache`" and dry["expected_bytes"] >= 2_000_000
    assert ip.user_ns["cache_ref"]() is not None
    real = request(comm, dict(msg, dry_run=False), [])
    assert real["ok"] and isinstance(real["freed_bytes"], int) and real["freed_bytes"] >= 0
    assert "cache" not in ip.user_ns and ip.user_ns["cache_ref"]() is None

    assert not ip.run_cell(
        "refs = []\ndef f():\n    t = bytearray(3_000_000)\n    refs.append(t)\n    1 / 0\nf()",
        store_history=True,
    ).success
    run(ip, "refs.clear()")
    msg = {"v": 1, "type": "release", "request_id": "t", "target": "traceback", "dry_run": True}
    dry = request(comm, msg)
    assert dry["ok"] and dry["action"].startswith("forget the last exception")
    assert dry["expected_bytes"] >= 3_000_000
    real = request(comm, dict(msg, dry_run=False), [])
    assert real["ok"] and "last_traceback" not in __import__("sys").__dict__


def test_release_is_refused_while_a_cell_runs(shell):
    """A comm handler interleaved with a running cell (ipykernel dispatches comm messages while
    an async cell awaits) must not pull values from under it."""
    import memtrack

    ip = shell
    comm = opened(memtrack._tracker.bridge, "busy")
    msg = {"v": 1, "type": "release", "request_id": "b", "target": "x", "dry_run": False}
    ip.user_ns["_answer_inside"] = lambda: request(comm, msg)
    run(ip, "x = bytearray(10)\nanswer = _answer_inside()")
    answer = ip.user_ns["answer"]
    assert answer["ok"] is False and "a cell is running" in answer["message"]
    assert "x" in ip.user_ns


def test_configure_sets_the_leak_threshold(shell):
    import memtrack

    comm = opened(memtrack._tracker.bridge, "cfg")
    config = memtrack._tracker.leaks.config
    assert request(comm, {"v": 1, "type": "configure", "leak_threshold": 5_000_000}) is None
    assert config.threshold == 5_000_000
    for bad in (-1, 1.5, "1000", None, True):
        err = request(comm, {"v": 1, "type": "configure", "leak_threshold": bad})
        assert err["type"] == "error" and "leak_threshold" in err["message"]
    assert config.threshold == 5_000_000


def test_malformed_requests_get_an_error_with_their_request_id():
    bridge = Bridge(RecordStore(), on_why=lambda *a: {}, on_release=lambda *a: {})
    comm = opened(bridge, "bad")
    cases = [
        ({"v": 1, "type": "why", "name": "x"}, None),
        ({"v": 1, "type": "why", "request_id": 7, "name": "x"}, None),
        ({"v": 1, "type": "why", "request_id": "a", "name": ""}, "a"),
        ({"v": 1, "type": "why", "request_id": "b", "name": "x", "budget_s": 60}, "b"),
        ({"v": 1, "type": "release", "request_id": "c", "target": "x"}, "c"),
        ({"v": 1, "type": "release", "request_id": "d", "target": "x", "dry_run": "yes"}, "d"),
        ({"v": 1, "type": "release", "request_id": "e", "target": 3, "dry_run": True}, "e"),
        ({"v": 1, "type": "configure"}, None),
        ({"v": 1, "type": "why_result", "request_id": "f"}, None),
        ({"v": 1, "type": "export", "request_id": "g"}, "g"),
        ({"v": 1, "type": "export", "request_id": "h", "format": "pdf"}, "h"),
        ({"v": 1, "type": "export_result", "request_id": "i", "format": "html"}, None),
    ]
    for data, rid in cases:
        err = request(comm, data)
        assert err["type"] == "error", data
        assert err.get("request_id") == rid, (data, err)


def test_request_handlers_that_fail_never_raise(capsys):
    def boom(*args):
        raise RuntimeError("kaput")

    comm = opened(Bridge(RecordStore(), on_why=boom, on_release=boom), "boom")
    err = request(comm, {"v": 1, "type": "why", "request_id": "x", "name": "a"})
    assert err == {
        "v": 1,
        "type": "error",
        "message": "internal error: RuntimeError",
        "request_id": "x",
    }
    assert "kaput" in capsys.readouterr().err
    # Without handlers (a bridge that knows no leaks): an error, not silence.
    comm = opened(Bridge(RecordStore()), "none")
    for data in (
        {"v": 1, "type": "why", "request_id": "y", "name": "a"},
        {"v": 1, "type": "release", "request_id": "z", "target": "a", "dry_run": True},
        {"v": 1, "type": "configure", "leak_threshold": 1},
    ):
        assert request(comm, data)["type"] == "error"


def test_requests_from_another_thread_run_on_the_main_loop():
    import asyncio
    import threading

    ran_on = []

    def on_release(target, dry_run):
        ran_on.append(threading.current_thread())
        return {"ok": True, "action": "a", "expected_bytes": 1, "freed_bytes": None, "message": ""}

    bridge = Bridge(RecordStore(), on_release=on_release)
    comm = opened(bridge, "threads")
    loop = asyncio.new_event_loop()
    bridge.main_loop = loop
    msg = {"v": 1, "type": "release", "request_id": "t", "target": "x", "dry_run": True}
    worker = threading.Thread(target=comm.msg_handler, args=({"content": {"data": msg}},))
    try:
        worker.start()
        worker.join()
        assert ran_on == [] and len(comm.sent) == 1  # queued, not run beside the main thread
        loop.run_until_complete(asyncio.sleep(0.01))
    finally:
        loop.close()
    assert ran_on == [threading.main_thread()]
    assert comm.sent[-1]["type"] == "release_result" and comm.sent[-1]["request_id"] == "t"


def test_export_renders_the_html_report_of_the_store():
    store = RecordStore()
    store.add(dict(_measured_record(), label="<script>alert(1)</script>"))
    store.add(_measured_record(2))
    comm = opened(Bridge(store), "export")
    answer = request(comm, {"v": 1, "type": "export", "request_id": "x1", "format": "html"})
    assert answer["type"] == "export_result"
    assert answer["request_id"] == "x1" and answer["format"] == "html"
    page = answer["content"]
    assert page.startswith("<!DOCTYPE html>") and "<title>memtrack report</title>" in page
    assert "2 cell(s)" in page and f"memtrack {memtrack.__version__}" in page
    # The label is the user's: escaped, and the page runs no script at all.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()


def test_export_of_an_empty_history_is_still_a_page():
    comm = opened(Bridge(RecordStore()), "empty")
    answer = request(comm, {"v": 1, "type": "export", "request_id": "x2", "format": "html"})
    assert answer["type"] == "export_result" and "0 cell(s)" in answer["content"]
