"""Live memory while a cell runs, the memory limit, and a kernel death that explains itself:
a REAL ipykernel (jupyter_client), a real SIGKILL, a real memory-limited cgroup (v1, as the
machines here have it) and a v2 hierarchy laid out in a directory."""

from __future__ import annotations

import contextlib
import os
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import kernel_env, message_validator, real_kernel
from test_kernel import TIMEOUT, collect, execute, open_comm

MB = 1_000_000


def _live_before_reply(kc, code):
    """Run ``code``; the live messages dated before its execute_reply, and the reply."""
    msg_id = kc.execute(code)
    msgs = collect(kc, msg_id)
    reply = kc.get_shell_msg(timeout=TIMEOUT)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=TIMEOUT)
    replied = reply["header"]["date"]
    live = [
        m
        for m in msgs
        if m["msg_type"] == "comm_msg" and m["content"]["data"].get("type") == "live"
    ]
    return [m["content"]["data"] for m in live if m["header"]["date"] < replied], reply


@pytest.fixture(scope="module")
def live_kernel(tmp_path_factory):
    with real_kernel(tmp_path_factory) as (_km, kc):
        assert execute(kc, "%load_ext memtrack")["content"]["status"] == "ok"
        open_comm(kc)  # a sidebar listens
        yield kc


def test_a_growing_cell_streams_live_samples_before_its_reply(live_kernel):
    kc = live_kernel
    code = (
        "import time\n"
        "live_chunks = []\n"
        "for _ in range(15):\n"
        "    live_chunks.append(bytearray(10_000_000))\n"
        "    time.sleep(0.2)\n"
    )
    live, reply = _live_before_reply(kc, code)
    assert reply["content"]["status"] == "ok"
    validate = message_validator().validate
    for message in live:
        validate(message)
    running = [m for m in live if m["state"] == "running"]
    assert len(running) >= 8, len(running)
    count = reply["content"]["execution_count"]
    assert {m["execution_count"] for m in running} == {count}
    rss = [s["rss"] for m in running for s in m["samples"]]
    assert rss[-1] - rss[0] >= 100 * MB  # 150 MB added step by step
    assert running[-1]["peak"] >= max(rss)
    limit = running[-1]["limit"]
    assert limit["source"] in ("cgroup-v1", "cgroup-v2", "meminfo") and limit["bytes"] > 0
    elapsed = [m["elapsed_s"] for m in running]
    assert elapsed == sorted(elapsed) and elapsed[-1] >= 2.0
    execute(kc, "del live_chunks")


def test_sampling_resumes_after_a_call_that_holds_the_gil(live_kernel):
    kc = live_kernel
    code = (
        "import time\n"
        "gil_t0 = time.perf_counter()\n"
        "gil_total = sum(range(80_000_000))  # one C call: the GIL is never released\n"
        "gil_held = time.perf_counter() - gil_t0\n"
        "gil_chunks = []\n"
        "for _ in range(6):\n"
        "    gil_chunks.append(bytearray(10_000_000))\n"
        "    time.sleep(0.2)\n"
        "print(gil_held)\n"
    )
    live, reply = _live_before_reply(kc, code)
    assert reply["content"]["status"] == "ok"
    held = float(execute(kc, "print(gil_held)")["iopub"][-2]["content"]["text"])
    assert held >= 0.5, held  # the call must be long enough to tell
    times = [s["t"] for m in live for s in m["samples"]]
    assert not [t for t in times if 0.15 < t < held - 0.15], (held, times)  # nothing sampled
    after = [t for t in times if t > held]
    assert len(after) >= 10, (held, times)  # sampling went on once the call returned
    execute(kc, "del gil_chunks")


def _died(kc):
    """What a new comm's history says: (KernelDied records, earlier sessions, the message)."""
    _, msgs = open_comm(kc)
    (history,) = [
        m["content"]["data"]
        for m in msgs
        if m["msg_type"] == "comm_msg" and m["content"]["data"].get("type") == "history"
    ]
    message_validator().validate(history)
    died = [r for r in history["records"] if r.get("error") == "KernelDied"]
    return died, history.get("earlier", []), history


def _wait_dead(km, timeout=30):
    deadline = time.monotonic() + timeout
    while km.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not km.is_alive(), "the kernel did not die"


def _restart(km, kc):
    """What jupyter_client's restarter does when a kernel died: the same kernel id again."""
    km.restart_kernel(now=True)
    kc.wait_for_ready(timeout=TIMEOUT)
    assert execute(kc, "%load_ext memtrack")["content"]["status"] == "ok"


def test_a_killed_kernel_leaves_a_record_of_the_cell_it_died_in(tmp_path_factory):
    """SIGKILL mid-cell, and jupyter_client's own auto-restarter (the one the server uses)
    starts the kernel again under the same id."""
    import asyncio

    from jupyter_client import BlockingKernelClient
    from jupyter_client.ioloop import AsyncIOLoopKernelManager

    env = kernel_env(tmp_path_factory)

    async def scenario():
        km = AsyncIOLoopKernelManager(kernel_name="python3")
        await km.start_kernel(env=env)
        km.start_restarter()  # polls the kernel on this loop, as jupyter_server's does
        kc = BlockingKernelClient(connection_file=km.connection_file)
        kc.load_connection_file()
        kc.start_channels()
        try:
            kc.wait_for_ready(timeout=TIMEOUT)
            assert execute(kc, "%load_ext memtrack")["content"]["status"] == "ok"
            execute(kc, "%memtrack on")
            execute(kc, "before_death = bytearray(20_000_000)")
            execute(kc, "%%memtrack --quiet --label deep\nalso = 1")
            pid_before = km.provisioner.pid
            restarted = []
            km.add_restart_callback(lambda: restarted.append(1), "restart")
            kc.execute(
                "import os, signal, time\n"
                "doomed = bytearray(60_000_000)\n"
                "time.sleep(0.5)\n"
                "os.kill(os.getpid(), signal.SIGKILL)\n"
            )
            # The restarter polls every 3 s and restarts in a task on this loop. Wait until
            # that task is done (its ready future set), not just until the new process is
            # up: the blocking client calls below starve the loop, and a restart finishing
            # during our shutdown sets jupyter_client's shared ready future twice.
            for _ in range(600):
                await asyncio.sleep(0.1)
                if (
                    restarted
                    and km.provisioner is not None
                    and km.provisioner.pid != pid_before
                    and km.ready.done()
                    and await km.is_alive()
                ):
                    break
            assert restarted, "jupyter_client's restarter did not restart the kernel"
            assert km.provisioner.pid != pid_before
            kc.wait_for_ready(timeout=TIMEOUT)
            assert execute(kc, "%load_ext memtrack")["content"]["status"] == "ok"
            return pid_before, _died(kc)
        finally:
            km.stop_restarter()
            kc.stop_channels()
            await km.shutdown_kernel(now=True)

    pid_before, (died, earlier, _) = asyncio.run(scenario())
    (record,) = died
    assert record["died"]["oom_killed"] is False  # a SIGKILL, not the OOM killer
    assert record["died"]["pid"] == pid_before
    assert record["died"]["peak"] >= 60 * MB + record["rss_before"]
    assert record["mode"] == "light" and record["duration_s"] >= 0.3
    assert record["died"]["memory_limit"] and record["died"]["last_sample_at"]
    # Every earlier row is still there (the spool): the died session holds the cells
    # recorded before the kill.
    (session,) = earlier
    assert session["ended"] == "died" and session["pid"] == pid_before
    counts = [r["execution_count"] for r in session["records"]]
    assert [r["label"] for r in session["records"]] == [None, "deep"], counts
    assert record["execution_count"] == counts[-1] + 1  # the cell after them


def _own_memory_cgroup() -> Path:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
    raise AssertionError("these machines have the cgroup v1 memory controller; this one has not")


@contextlib.contextmanager
def _memory_group(name: str, limit: int):
    """A child memory cgroup (v1) of the test's own, with ``limit``; removed afterwards."""
    group = _own_memory_cgroup() / f"memtrack-{name}-{os.getpid()}"
    group.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(str(limit))
        yield group
    finally:
        for _ in range(50):  # its last process may still be exiting
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def test_a_kernel_killed_by_the_oom_killer_says_so(tmp_path_factory):
    with (
        _memory_group("oom", 400 * 1024 * 1024) as group,
        real_kernel(tmp_path_factory) as (km, kc),
    ):
        (group / "cgroup.procs").write_text(str(km.provisioner.pid))
        assert execute(kc, "%load_ext memtrack")["content"]["status"] == "ok"
        limit = execute(kc, "%memtrack guard")["iopub"]
        text = "".join(m["content"].get("text", "") for m in limit if m["msg_type"] == "stream")
        assert "cgroup-v1" in text and "419.4 MB" in text, text  # the group's limit
        execute(kc, "%memtrack on")
        kc.execute(
            "import time\n"
            "oom_chunks = []\n"
            "for _ in range(100):\n"
            "    oom_chunks.append(bytearray(20_000_000))\n"
            "    time.sleep(0.05)\n"
        )
        _wait_dead(km, timeout=60)
        _restart(km, kc)
        (record,), _, _ = _died(kc)
        assert record["died"]["oom_killed"] is True
        assert record["died"]["memory_limit"] == 400 * 1024 * 1024
        assert record["died"]["limit_source"] == "cgroup-v1"
        assert record["died"]["peak"] >= 200 * MB
        datetime.fromisoformat(record["died"]["last_sample_at"])


def test_the_guard_interrupts_a_cell_before_the_limit(tmp_path_factory):
    with (
        _memory_group("guard", 400 * 1024 * 1024) as group,
        real_kernel(tmp_path_factory) as (km, kc),
    ):
        (group / "cgroup.procs").write_text(str(km.provisioner.pid))
        assert execute(kc, "%load_ext memtrack")["content"]["status"] == "ok"
        execute(kc, "%memtrack guard 60%")
        reply = execute(
            kc,
            "import time\n"
            "guard_chunks = []\n"
            "for _ in range(100):\n"
            "    guard_chunks.append(bytearray(10_000_000))\n"
            "    time.sleep(0.05)\n",
        )
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        text = "".join(
            m["content"].get("text", "") for m in reply["iopub"] if m["msg_type"] == "stream"
        )
        assert "memtrack guard" in text and "60%" in text, text
        assert km.is_alive()  # interrupted, not killed
        size = execute(kc, "print(len(guard_chunks))")["iopub"]
        kept = int("".join(m["content"].get("text", "") for m in size if m["msg_type"] == "stream"))
        assert 5 <= kept < 40, kept
        km.shutdown_kernel(now=True)


def test_a_clean_shutdown_removes_the_kernels_files(tmp_path_factory):
    with real_kernel(tmp_path_factory) as (km, kc):
        assert execute(kc, "%load_ext memtrack")["content"]["status"] == "ok"
        execute(kc, "%memtrack on")
        execute(kc, "x = 1")
        out = execute(kc, "import jupyter_core.paths as p; print(p.jupyter_runtime_dir())")
        runtime = Path(
            "".join(
                m["content"].get("text", "") for m in out["iopub"] if m["msg_type"] == "stream"
            ).strip()
        )
        assert list(runtime.glob("memtrack-*.spool")) and list(runtime.glob("memtrack-*.flight"))
        km.shutdown_kernel(now=False)  # a shutdown_request, as the server sends it
        assert not list(runtime.glob("memtrack-*.spool"))
        assert not list(runtime.glob("memtrack-*.flight"))


def test_a_restart_keeps_the_history_for_the_next_process(tmp_path_factory):
    """A clean restart (a shutdown_request with restart, as the server's Restart sends) keeps
    the spool: the next process gives the earlier records back, as a 'restart' session."""
    with real_kernel(tmp_path_factory) as (km, kc):
        assert execute(kc, "%load_ext memtrack")["content"]["status"] == "ok"
        execute(kc, "%memtrack on")
        execute(kc, "kept_a = 1")
        execute(kc, "kept_b = 2")
        km.restart_kernel(now=False)
        kc.wait_for_ready(timeout=TIMEOUT)
        assert execute(kc, "%load_ext memtrack")["content"]["status"] == "ok"
        died, earlier, history = _died(kc)
        assert died == [] and history["records"] == []
        (session,) = earlier
        assert session["ended"] == "restart"
        names = [v["name"] for r in session["records"] for v in r["variables"]]
        assert names == ["kept_a", "kept_b"]
