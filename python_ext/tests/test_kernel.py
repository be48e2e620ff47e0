"""End to end with a REAL ipykernel: the comm target, history, records, errors, await."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from queue import Empty

import pytest
from conftest import message_validator
from jupyter_client.manager import start_new_kernel

TIMEOUT = 60
PYTHON_EXT = str(Path(__file__).resolve().parents[1])


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PYTHON_EXT, env.get("PYTHONPATH")) if p)
    env["IPYTHONDIR"] = str(tmp_path_factory.mktemp("ipython"))
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=TIMEOUT, env=env)
    try:
        reply = execute(kc, "%load_ext memtrack")
        assert reply["content"]["status"] == "ok", reply["content"]
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def collect(kc, msg_id):
    """iopub messages caused by request ``msg_id``, until the kernel is idle again."""
    msgs = []
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=TIMEOUT)
        except Empty:  # pragma: no cover - only when the kernel hangs
            raise AssertionError(f"no idle status for {msg_id}; got {msgs}") from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        msgs.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return msgs


def execute(kc, code):
    msg_id = kc.execute(code)
    reply = kc.get_shell_msg(timeout=TIMEOUT)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=TIMEOUT)
    reply["iopub"] = collect(kc, msg_id)
    return reply


def send_shell(kc, msg_type, content):
    msg = kc.session.msg(msg_type, content)
    kc.shell_channel.send(msg)
    return collect(kc, msg["header"]["msg_id"])


def comm_data(msgs, comm_id):
    return [
        m["content"]["data"]
        for m in msgs
        if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id
    ]


def stdout_text(msgs):
    return "".join(
        m["content"]["text"]
        for m in msgs
        if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
    )


def open_comm(kc):
    comm_id = uuid.uuid4().hex
    msgs = send_shell(
        kc,
        "comm_open",
        {
            "comm_id": comm_id,
            "target_name": "jupyterlab-memtrack",
            "data": {"v": 1, "type": "hello", "client": "test", "version": "0"},
        },
    )
    return comm_id, msgs


def test_comm_history_records_errors_and_await(kernel):
    kc = kernel
    validator = message_validator()

    # A record made before any frontend exists shows up in the history sent on open.
    before = execute(kc, "%%memtrack --label early\nearly = 1")
    assert "memtrack [" in stdout_text(before["iopub"])  # no frontend yet: summary printed

    comm_id, msgs = open_comm(kc)
    data = comm_data(msgs, comm_id)
    assert len(data) == 1, msgs
    history = data[0]
    validator.validate(history)
    assert history["type"] == "history"
    assert [r["label"] for r in history["records"]] == ["early"]
    assert history["kernel"]["pid"] > 0
    assert isinstance(history["kernel"]["python"], str)

    # Two tracked cells: two record messages, valid, seq increasing, no summary printed.
    seqs = []
    for i, code in enumerate(["x = bytearray(20_000_000)\nlen(x)", "del x\n7"]):
        reply = execute(kc, f"%%memtrack --label cell{i}\n{code}")
        assert reply["content"]["status"] == "ok"
        records = [d for d in comm_data(reply["iopub"], comm_id) if d.get("type") == "record"]
        assert len(records) == 1, reply["iopub"]
        validator.validate(records[0])
        record = records[0]["record"]
        assert record["label"] == f"cell{i}"
        assert record["mode"] == "deep"
        assert record["execution_count"] == reply["content"]["execution_count"]
        assert record["cell_id"] is None or isinstance(record["cell_id"], str)
        assert "memtrack [" not in stdout_text(reply["iopub"])
        seqs.append(record["seq"])
    assert seqs[0] < seqs[1]
    assert seqs[0] > history["records"][-1]["seq"]

    # request_history answers with everything so far.
    msgs = send_shell(
        kc, "comm_msg", {"comm_id": comm_id, "data": {"v": 1, "type": "request_history"}}
    )
    (again,) = comm_data(msgs, comm_id)
    validator.validate(again)
    assert [r["seq"] for r in again["records"]][-2:] == seqs

    # Malformed, unknown and newer messages get an error back, and the kernel lives on.
    for bad in ["not an object", {"v": 1, "type": "frobnicate"}, {"v": 99, "type": "hello"}, {}]:
        msgs = send_shell(kc, "comm_msg", {"comm_id": comm_id, "data": bad})
        replies = comm_data(msgs, comm_id)
        assert len(replies) == 1, msgs
        validator.validate(replies[0])
        assert replies[0]["type"] == "error" and replies[0]["message"]
    assert "frobnicate" in str(
        comm_data(
            send_shell(
                kc, "comm_msg", {"comm_id": comm_id, "data": {"v": 1, "type": "frobnicate"}}
            ),
            comm_id,
        )
    )
    reply = execute(kc, "1+1")
    assert reply["content"]["status"] == "ok"
    results = [m for m in reply["iopub"] if m["msg_type"] == "execute_result"]
    assert results[0]["content"]["data"]["text/plain"] == "2"

    # Top-level await in a %%memtrack cell; the value lands in the execute_result.
    reply = execute(kc, "%%memtrack\nimport asyncio\nawait asyncio.sleep(0)\n'awaited'")
    assert reply["content"]["status"] == "ok", reply["content"]
    results = [m for m in reply["iopub"] if m["msg_type"] == "execute_result"]
    assert results[0]["content"]["data"]["text/plain"] == "'awaited'"
    records = [d for d in comm_data(reply["iopub"], comm_id) if d.get("type") == "record"]
    assert len(records) == 1 and records[0]["record"]["error"] is None

    # Errors keep the kernel's error reply and are recorded.
    reply = execute(kc, "%%memtrack\nboom = 1\n1/0")
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "ZeroDivisionError"
    records = [d for d in comm_data(reply["iopub"], comm_id) if d.get("type") == "record"]
    assert records[0]["record"]["error"] == "ZeroDivisionError"

    # %memtrack reset sends a reset message.
    reply = execute(kc, "%memtrack reset")
    assert {"v": 1, "type": "reset"} in comm_data(reply["iopub"], comm_id)

    # After the frontend closes the comm, the summary line is printed again.
    send_shell(kc, "comm_close", {"comm_id": comm_id, "data": {}})
    reply = execute(kc, "%%memtrack --label after\nz = 1")
    assert not comm_data(reply["iopub"], comm_id)
    assert "memtrack [" in stdout_text(reply["iopub"])
    assert "'after'" in stdout_text(reply["iopub"])


def test_bad_hello_gets_an_error_and_no_history(kernel):
    comm_id = uuid.uuid4().hex
    msgs = send_shell(
        kernel,
        "comm_open",
        {
            "comm_id": comm_id,
            "target_name": "jupyterlab-memtrack",
            "data": {"v": 2, "type": "hello"},
        },
    )
    data = comm_data(msgs, comm_id)
    assert len(data) == 1 and data[0]["type"] == "error"
    assert "newer" in data[0]["message"]
    reply = execute(kernel, "%%memtrack\n3")
    assert not comm_data(reply["iopub"], comm_id)
    assert reply["content"]["status"] == "ok"
