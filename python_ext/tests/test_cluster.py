"""A dask cluster's memory per cell (memtrack.measure.cluster), with a REAL distributed cluster:
a LocalCluster of two worker processes started by the kernel, and a scheduler and worker
started as their own processes (a remote scheduler address) for the unreachable cases."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import real_kernel, record_validator
from test_kernel import collect, execute, stdout_text

MB = 1_000_000


def _ok(kc, code):
    reply = execute(kc, code)
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply


def _record_of(kc, reply):
    """The record of the cell that gave ``reply`` (read by a cell that is tracked too)."""
    count = reply["content"]["execution_count"]
    reply = _ok(
        kc,
        f"print(_json.dumps([r for r in _mt.history() if r['execution_count'] == {count}][-1]))",
    )
    record = json.loads(stdout_text(reply["iopub"]).strip().splitlines()[-1])
    record_validator().validate(record)
    return record


def _tracked(kc, code):
    """Run ``code`` as one tracked cell (light mode is on) and return its record."""
    return _record_of(kc, _ok(kc, code))


@pytest.fixture(scope="module")
def cluster_kernel(tmp_path_factory):
    """A kernel with memtrack and a LocalCluster(n_workers=2, processes=True) of its own."""
    with real_kernel(tmp_path_factory) as (_km, kc):
        _ok(kc, "%load_ext memtrack")
        _ok(kc, "import memtrack as _mt, json as _json")
        _ok(
            kc,
            "import os, time, signal\n"
            "import dask.array as da\n"
            "from distributed import Client, LocalCluster, wait\n"
            "cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1,\n"
            "                       dashboard_address=None, memory_limit='4GB')\n"
            "client = Client(cluster)\n"
            "client.wait_for_workers(2)\n"
            # Warm: the workers import dask.array and numpy's generator on first use (tens of MB
            # each), which is not the persisted array's memory.
            "da.random.random(1_000_000, chunks=100_000).sum().compute()",
        )
        _ok(kc, "%memtrack on")
        yield kc
        execute(kc, "%memtrack off")
        execute(kc, "client.close(); cluster.close()")


def test_a_persisted_array_shows_on_the_workers(cluster_kernel):
    """400 MB persisted across two workers: their RSS grows by 400 MB +-25% and their managed
    bytes by 400 MB +-5%; per-worker rows, the scheduler's address and the cost are said."""
    kc = cluster_kernel
    record = _tracked(
        kc, "x = da.random.random(50_000_000, chunks=5_000_000).persist()\nwait(x)\nNone"
    )
    c = record["cluster"]
    assert c["status"] == "measured", c
    assert c["scheduler"].startswith("tcp://")
    assert c["workers_total"] == 2 and len(c["workers"]) == 2
    assert {w["status"] for w in c["workers"]} == {"stayed"}
    assert 300 * MB <= c["rss_after"] - c["rss_before"] <= 500 * MB, c
    assert 380 * MB <= c["managed_after"] - c["managed_before"] <= 420 * MB, c
    assert c["rss_peak"] >= c["rss_after"]
    assert c["peak_scope"] == "cell"
    assert c["memory_limit"] == 8_000_000_000
    assert sum(w["managed_after"] for w in c["workers"]) == c["managed_after"]
    assert c["read_s"] < 0.5
    # The kernel's own figures stay the kernel's: the data lives in the workers.
    assert record["rss_after"] - record["rss_before"] < 100 * MB

    # Releasing it frees it on the workers, shortly after (the release goes through the
    # scheduler): a cell that waits for it sees it.
    record = _tracked(kc, "del x\ntime.sleep(1)")
    c = record["cluster"]
    assert c["status"] == "measured", c
    assert c["managed_before"] - c["managed_after"] >= 380 * MB, c


def test_a_temporary_shows_as_the_peak(cluster_kernel):
    """Two 200 MB chunks made and reduced on the workers: the peak, not the ends, shows them."""
    record = _tracked(
        cluster_kernel,
        "total = da.random.random((2, 25_000_000), chunks=(1, 25_000_000)).sum().compute()",
    )
    c = record["cluster"]
    assert c["status"] == "measured", c
    growth = c["rss_peak"] - c["rss_before"]
    # One chunk per worker (400 MB), or both on one worker in turn (200 MB at a time).
    assert 180 * MB <= growth <= 500 * MB, c
    assert c["rss_after"] - c["rss_before"] < growth / 2, c
    assert abs(c["managed_after"] - c["managed_before"]) < MB  # the result is the kernel's


def test_short_cells_skip_the_end_reading_and_deep_cells_read_too(cluster_kernel):
    kc = cluster_kernel
    record = _tracked(kc, "a = 1")
    c = record["cluster"]
    assert c["status"] == "skipped" and "shorter than 50 ms" in c["reason"], c
    assert "rss_before" not in c
    # A short cell that hands the client work is read anyway.
    record = _tracked(kc, "f = client.submit(sum, [1, 2])\nf.result()")
    assert record["cluster"]["status"] == "measured", record["cluster"]
    # A %%memtrack cell carries the cluster too.
    reply = _ok(kc, "%%memtrack\nkept = da.ones(1000, chunks=100).persist()\nwait(kept)")
    record = _record_of(kc, reply)
    assert record["mode"] == "deep" and record["cluster"]["status"] == "measured"
    status = stdout_text(_ok(kc, "%memtrack status")["iopub"])
    assert "dask cluster tcp://" in status and "(client running)" in status, status
    assert "GPU: none in use" in status


def test_a_worker_killed_mid_cell_is_reported_gone(cluster_kernel):
    kc = cluster_kernel
    record = _tracked(
        kc,
        "victim = sorted(client.run(os.getpid).items())[0]\n"
        "os.kill(victim[1], signal.SIGKILL)\n"
        "time.sleep(1.5)",
    )
    c = record["cluster"]
    assert c["status"] == "measured", c
    statuses = {w["address"]: w["status"] for w in c["workers"]}
    assert "gone" in statuses.values(), c
    gone = next(w for w in c["workers"] if w["status"] == "gone")
    assert gone["rss_after"] is None and gone["rss_before"] > 0
    assert "gone" in c["reason"]
    _ok(kc, "client.wait_for_workers(2)")  # the nanny restarts it for the next tests


# --------------------------------------------------------------------------- remote scheduler


def _start_scheduler(tmp_path):
    """A scheduler and one worker as their own processes, found through a scheduler file."""
    file = tmp_path / "scheduler.json"
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False")
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--scheduler-file", str(file),
         "--no-dashboard", "--host", "127.0.0.1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert file.exists(), "the scheduler did not start"
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(file),
         "--no-dashboard", "--nthreads", "1", "--no-nanny"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return file, scheduler, worker


def test_a_remote_scheduler_and_an_unreachable_one(tmp_path_factory, tmp_path):
    """The same readings through a scheduler address; a scheduler that stops answering costs one
    short timeout, said in the record, and nothing in later cells."""
    file, scheduler, worker = _start_scheduler(tmp_path)
    try:
        with real_kernel(tmp_path_factory) as (km, kc):
            _ok(kc, "%load_ext memtrack")
            _ok(kc, "import memtrack as _mt, json as _json")
            _ok(
                kc,
                "from distributed import Client\n"
                f"client = Client(scheduler_file={str(file)!r})\n"
                "client.wait_for_workers(1)\n"
                "import time",
            )
            _ok(kc, "%memtrack on")
            record = _tracked(kc, "time.sleep(0.1)")
            c = record["cluster"]
            assert c["status"] == "measured" and c["workers_total"] == 1, c
            with open(file) as f:
                assert c["scheduler"] == json.load(f)["address"]

            os.kill(scheduler.pid, signal.SIGSTOP)  # alive, but answers nothing
            try:
                # Ctrl-C while the start reading waits goes to the cell, as untracked.
                msg_id = kc.execute("time.sleep(5)")
                time.sleep(0.8)
                km.interrupt_kernel()
                reply = kc.get_shell_msg(timeout=30)
                while reply["parent_header"].get("msg_id") != msg_id:
                    reply = kc.get_shell_msg(timeout=30)
                collect(kc, msg_id)
                assert reply["content"]["status"] == "error", reply["content"]
                assert reply["content"]["ename"] == "KeyboardInterrupt"
                record = _record_of(kc, reply)
                assert record["cluster"]["reason"] == "interrupted (Ctrl-C)", record["cluster"]
                assert record["error"] == "KeyboardInterrupt" and record["duration_s"] < 1

                t0 = time.monotonic()
                record = _tracked(kc, "time.sleep(0.1)")
                took = time.monotonic() - t0
                c = record["cluster"]
                assert c["status"] == "unreachable" and "did not answer" in c["reason"], c
                assert took < 10, took
                # Said once: the next cell does not wait for it again.
                record = _tracked(kc, "time.sleep(0.1)")
                c = record["cluster"]
                assert c["status"] == "unreachable" and c["read_s"] < 0.1, c
                assert record["duration_s"] < 1
            finally:
                os.kill(scheduler.pid, signal.SIGCONT)
            _ok(kc, "%memtrack off")
            execute(kc, "client.close(timeout=5)")
    finally:
        for process in (worker, scheduler):
            process.kill()
            process.wait(timeout=30)


def test_a_notebook_without_dask_never_imports_it(tmp_path_factory):
    with real_kernel(tmp_path_factory) as (_km, kc):
        _ok(kc, "%load_ext memtrack")
        _ok(kc, "%memtrack on")
        _ok(kc, "data = list(range(100_000))")
        _ok(kc, "%%memtrack\nmore = [str(i) for i in range(10_000)]")
        _ok(kc, "%memtrack off")
        reply = _ok(
            kc,
            "import sys, memtrack\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
            "print(sum('cluster' in r for r in memtrack.history()))",
        )
        assert stdout_text(reply["iopub"]).split() == ["[]", "0"]


# --------------------------------------------------------------------------- pure parts


def test_worker_rows_and_totals_from_readings():
    """How readings become the record's value: joined, gone and unreadable workers, peaks."""
    from memtrack.measure.cluster import ClusterReading

    class Client:  # only what ClusterReading reads before any call: never called here
        def __init__(self):
            self.futures = {}

    reading = ClusterReading(Client(), "tcp://s:1")

    def probe(rss, hwm=None, managed=0, reset=True, limit=1000):
        return {"rss": rss, "hwm": hwm, "reset": reset, "managed": managed, "limit": limit,
                "name": None}  # fmt: skip

    before = {"a": probe(100), "b": probe(200), "c": probe(300, managed=5)}
    after = {"a": probe(150, hwm=400), "c": OSError("comm closed"), "d": probe(50, hwm=60)}
    value = reading._measured(before, after)
    rows = {w["address"]: w for w in value["workers"]}
    assert rows["a"]["status"] == "stayed" and rows["a"]["rss_peak"] == 400
    assert rows["b"]["status"] == "gone" and rows["b"]["rss_after"] is None
    assert rows["c"]["status"] == "unreadable"
    assert rows["d"]["status"] == "joined" and rows["d"]["rss_peak"] == 60
    assert value["rss_before"] == 600 and value["rss_after"] == 200
    assert value["memory_limit"] == 2000  # a and d, there at the end
    assert value["workers"][-1]["address"] == "a"  # changed workers first
    assert value["reason"] == "1 worker(s) gone, 1 worker(s) unreadable, 1 worker(s) joined" or (
        sorted(value["reason"].split(", "))
        == ["1 worker(s) gone", "1 worker(s) joined", "1 worker(s) unreadable"]
    )
    # A worker that could not reset its high-water mark: the larger of its ends, said.
    value = reading._measured({"a": probe(100, reset=False)}, {"a": probe(90, hwm=500)})
    assert value["peak_scope"] == "ends" and value["rss_peak"] == 100


def test_records_with_many_workers_fit():
    import json as json_mod

    from memtrack.record import RECORD_MAX_BYTES, fit_record, new_record, validate_record

    worker = {"address": "tcp://10.0.0.1:40000", "status": "stayed", "rss_before": 10**9,
              "rss_after": 10**9, "rss_peak": 10**9, "managed_before": 10**9,
              "managed_after": 10**9}  # fmt: skip
    record = new_record({"mode": "light", "started_at": "2026-12-02T00:00:00+00:00",
                         "duration_s": 1.0,
                         "variables": [{"name": "v", "type": "int", "size": 28}] * 3,
                         "cluster": {"scheduler": "tcp://10.0.0.1:8786", "status": "measured",
                                     "workers_total": 8, "workers": [worker] * 8}})  # fmt: skip
    record["seq"] = 1
    fitted = fit_record(record)
    validate_record(fitted)
    assert len(json_mod.dumps(fitted, separators=(",", ":"))) <= RECORD_MAX_BYTES
    assert len(fitted["cluster"]["workers"]) >= 2  # the first workers go after table rows
    assert fitted["cluster"]["workers_total"] == 8


def test_reports_carry_the_cluster():
    """The summary, the HTML page (plot line, worker table, escaped once), CSV and JSON."""
    from conftest import SCHEMA_DIR
    from memtrack.reports.files import build_report, load_report, to_csv, to_json
    from memtrack.reports.html import to_html
    from memtrack.reports.summary import format_html, format_text

    fixture = SCHEMA_DIR / "fixtures" / "valid" / "record-cluster.json"
    record = json.loads(fixture.read_text())["record"]
    record["cluster"]["workers"][2]["name"] = '<b>"w&1"</b>'
    text = format_text(record)
    assert "cluster +399.9 MB RSS (peak +466.0 MB), +400.0 MB stored, 3 workers" in text
    assert "1 worker(s) joined, 1 worker(s) gone" in text
    assert "cluster +399.9 MB RSS" in format_html(record)

    report = build_report([record], {"pid": 1})
    page = to_html(report)
    assert 'class="jp-Memtrack-cluster"' in page and "dask cluster RSS after" in page
    assert "&lt;b&gt;&quot;w&amp;1&quot;&lt;/b&gt; (tcp://127.0.0.1:46787)" in page
    assert '<b>"w&1"</b>' not in page and "&amp;amp;" not in page
    assert ">gone<" in page and ">joined<" in page

    header, row = csv.reader(io.StringIO(to_csv(report)))
    columns = dict(zip(header, row, strict=True))
    assert columns["cluster.rss_before"] == "545312768"
    assert columns["cluster.managed_after"] == "400000000"
    assert load_report(to_json(report))["cells"][0]["cluster"] == record["cluster"]
