"""memtrack.bridge with stand-in comms (the real kernel path is in test_kernel.py)."""

from __future__ import annotations

from conftest import message_validator
from memtrack import bridge as bridge_mod
from memtrack.bridge import TARGET_NAME, Bridge
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
