"""The memory limit (cgroup v1 and v2 hierarchies laid out in directories, and this machine's
own), the flight record and the history spool: round trips and bad files."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from memtrack import flight, spool
from memtrack.measure import limits
from memtrack.shell.session import KernelSession, died_record

GIB = 1 << 30


def _proc(tmp_path, cgroup_lines, meminfo="MemTotal:       16384000 kB\n"):
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text(cgroup_lines)
    (proc / "meminfo").write_text(meminfo)
    return proc


def test_a_cgroup_v2_limit_is_the_smallest_up_the_hierarchy(tmp_path):
    proc = _proc(tmp_path, "0::/user.slice/kernel.scope\n")
    root = tmp_path / "cgroup"
    scope = root / "user.slice" / "kernel.scope"
    scope.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    (root / "user.slice" / "memory.max").write_text(f"{2 * GIB}\n")
    (scope / "memory.max").write_text("max\n")
    (scope / "memory.current").write_text(f"{GIB}\n")
    (scope / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n")
    reader = limits.LimitReader(str(proc / "self"), str(root), str(proc))
    assert (reader.source, reader.limit) == ("cgroup-v2", 2 * GIB)
    assert reader.oom_kills() == 2
    assert reader.describe(rss=123) == {
        "bytes": 2 * GIB,
        "source": "cgroup-v2",
        "usage": GIB,
        "headroom": GIB,
    }
    assert limits.oom_kills_at(reader.group.oom_file) == 2


def test_a_cgroup_v1_limit_and_its_oom_counter(tmp_path):
    proc = _proc(tmp_path, "5:cpu:/\n4:memory:/k8s/pod\n0::/\n")
    group = tmp_path / "cgroup" / "memory" / "k8s" / "pod"
    group.mkdir(parents=True)
    (group.parent.parent / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (group / "memory.limit_in_bytes").write_text("314572800\n")
    (group / "memory.usage_in_bytes").write_text("104857600\n")
    (group / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 7\n")
    reader = limits.LimitReader(str(proc / "self"), str(tmp_path / "cgroup"), str(proc))
    assert (reader.source, reader.limit, reader.usage(), reader.oom_kills()) == (
        "cgroup-v1",
        314572800,
        104857600,
        7,
    )


def test_no_cgroup_limit_falls_back_to_memtotal_and_then_to_nothing(tmp_path):
    proc = _proc(tmp_path, "0::/\n")
    reader = limits.LimitReader(str(proc / "self"), str(tmp_path / "none"), str(proc))
    assert (reader.source, reader.limit) == ("meminfo", 16384000 * 1024)
    assert reader.describe(rss=1000)["usage"] == 1000  # RSS counts against MemTotal
    bare = limits.LimitReader(str(tmp_path / "x"), str(tmp_path / "y"), str(tmp_path / "z"))
    assert (bare.source, bare.limit, bare.oom_kills()) == ("none", None, None)
    assert bare.describe(rss=None) == {
        "bytes": None,
        "source": "none",
        "usage": None,
        "headroom": None,
    }


def test_this_machines_limit():
    """These machines run in a cgroup v1 memory group without a limit of its own: MemTotal."""
    reader = limits.LimitReader()
    assert reader.group.version == 1 and reader.group.path.startswith("/sys/fs/cgroup/memory")
    assert reader.oom_kills() is not None
    with open("/proc/meminfo") as f:
        total = int(f.readline().split()[1]) * 1024
    assert reader.limit <= total and reader.source in ("cgroup-v1", "meminfo")


def test_a_flight_record_round_trip_and_bad_files(tmp_path):
    path = str(tmp_path / "k.flight")
    recorder = flight.FlightRecorder(path)
    recorder.cell_started(0, 12, "cell-\u00e9" * 40, 1_700_000_000.5, 300_000_000)
    recorder.limits(2 * GIB, "cgroup-v1", 4, "/sys/fs/cgroup/memory/x/memory.oom_control")
    recorder.sampled(900_000_000, 950_000_000, 1_700_000_008.0)
    state = flight.read_flight(path)
    assert state.state == flight.RUNNING and state.pid == os.getpid()
    assert (state.execution_count, state.rss_before, state.last_rss, state.peak) == (
        12,
        300_000_000,
        900_000_000,
        950_000_000,
    )
    assert state.cell_id.startswith("cell-\u00e9") and len(state.cell_id.encode()) <= 126
    assert (state.limit, state.limit_source, state.oom_baseline) == (2 * GIB, "cgroup-v1", 4)
    record = died_record(state)
    assert record["error"] == "KernelDied" and record["duration_s"] == 7.5
    assert record["died"]["oom_killed"] is None  # that counter file cannot be read here
    recorder.cell_finished()
    assert flight.read_flight(path).state == flight.IDLE
    recorder.shut_down()
    recorder.close()
    assert flight.read_flight(str(tmp_path / "missing")) is None
    for name, data in (
        ("short", b"MTFLIGHT"),
        ("foreign", b"{}" * 600),
        ("newer", b"MTFLIGHT" + (99).to_bytes(4, "little") + bytes(1012)),
        ("truncated", Path(path).read_bytes()[:500]),
    ):
        bad = tmp_path / name
        bad.write_bytes(data)
        with pytest.raises(flight.FlightError):
            flight.read_flight(str(bad))


def _record(seq, **extra):
    return {"seq": seq, "execution_count": seq, "label": f"c{seq}", **extra}


def test_the_spool_keeps_sessions_and_skips_a_truncated_line(tmp_path):
    path = str(tmp_path / "k.spool")
    first = spool.Spool(path, 100, "2026-12-01T12:00:00+00:00", None)
    first.append([_record(1), _record(2, label="caf\u00e9")])
    first.flush()
    first.close()
    second = spool.Spool(path, 200, "2026-12-01T12:05:00+00:00", "died")
    second.append([_record(1)])
    second.flush()
    second.close()
    with open(path, "ab") as f:
        f.write(b'{"seq": 2, "label": "cut')  # killed mid-write
    sessions = spool.read_sessions(path)
    assert [(s.pid, s.ended) for s in sessions] == [(100, "died"), (200, "restart")]
    assert [r["label"] for r in sessions[0].records()] == ["c1", "caf\u00e9"]
    assert [r["seq"] for r in sessions[1].records()] == [1]
    described = sessions[0].describe()
    assert described["started_at"] == "2026-12-01T12:00:00+00:00" and described["ended"] == "died"


def test_a_foreign_or_newer_spool_is_set_aside_not_lost(tmp_path, capsys):
    for content in (b"not json at all\n", b'{"format": "memtrack-spool", "version": 9}\n'):
        path = tmp_path / "memtrack-k1.spool"
        path.write_bytes(content)
        with pytest.raises(spool.SpoolError):
            spool.read_sessions(str(path))
        session = KernelSession(None, directory=str(tmp_path))
        session.kernel_id = "k1"
        assert session.open("2026-12-01T12:00:00+00:00") is None
        assert session.earlier == []
        assert (tmp_path / "memtrack-k1.spool.bad").read_bytes() == content  # kept
        err = capsys.readouterr().err
        assert err.count("ignoring the history spool") == 1
        session.close(remove=True)
        assert not path.exists()


def test_the_spool_stays_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(spool, "MAX_BYTES", 20_000)
    path = str(tmp_path / "k.spool")
    s = spool.Spool(path, 1, "2026-12-01T12:00:00+00:00", None)
    for i in range(400):
        s.append([_record(i, label="x" * 100)])
        s.flush()
    s.close()
    assert os.path.getsize(path) <= 2 * 20_000
    (session,) = spool.read_sessions(path)
    seqs = [r["seq"] for r in session.records()]
    assert seqs[-1] == 399 and seqs == sorted(seqs) and len(seqs) < 400


def test_stale_files_are_removed(tmp_path):
    old = tmp_path / "memtrack-gone.spool"
    new = tmp_path / "memtrack-here.flight"
    other = tmp_path / "kernel-gone.json"
    for p in (old, new, other):
        p.write_text("x")
    past = time.time() - spool.STALE_S - 10
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    assert spool.remove_stale(str(tmp_path)) == 1
    assert not old.exists() and new.exists() and other.exists()


def test_a_session_that_died_is_read_back_as_earlier(tmp_path):
    """What a new process of the same kernel finds: the previous one's flight record says a
    cell ran, so that cell died, and the spool gives back the previous process's records."""
    directory = str(tmp_path)
    path = os.path.join(directory, "memtrack-k2.flight")
    previous = flight.FlightRecorder(path)
    previous.cell_started(1, 5, "abc", time.time() - 3, 1000)
    previous.sampled(5000, 6000, time.time())
    previous.close()
    # As if another process (pid 1) had written it: the pid field follows state and mode.
    fd = os.open(path, os.O_RDWR)
    os.pwrite(fd, (1).to_bytes(8, "little"), len(flight.MAGIC) + 4 + 2)
    os.close(fd)
    old_spool = spool.Spool(os.path.join(directory, "memtrack-k2.spool"), 1, "t0", None)
    old_spool.append([_record(1)])
    old_spool.flush()
    old_spool.close()
    session = KernelSession(None, directory=directory)
    session.kernel_id = "k2"
    died = session.open("2026-12-01T12:00:00+00:00")
    assert died["error"] == "KernelDied" and died["execution_count"] == 5
    assert died["died"]["pid"] == 1 and died["died"]["peak"] == 6000
    (earlier,) = session.earlier_sessions()
    assert earlier["ended"] == "died" and [r["seq"] for r in earlier["records"]] == [1]
    with open(os.path.join(directory, "memtrack-k2.spool"), "rb") as f:
        heads = [json.loads(line) for line in f if line.startswith(b'{"format"')]
    assert heads[-1]["after"] == "died" and heads[-1]["pid"] == os.getpid()
    session.close(remove=False)
    assert flight.read_flight(path).state == flight.SHUT_DOWN


def test_a_died_record_reads_as_what_happened():
    from conftest import SCHEMA_DIR
    from memtrack.record import died_text
    from memtrack.reports.text import format_text

    record = json.loads((SCHEMA_DIR / "fixtures" / "valid" / "record-died.json").read_text())
    record = record["record"]
    assert died_text(record) == "kernel died during [12] at 1.1 GB of 2.0 GB: out of memory"
    record["died"]["oom_killed"] = False
    assert died_text(record).endswith(": killed (not by the out-of-memory killer)")
    record["died"]["oom_killed"] = None
    assert died_text(record, with_cell=False) == "died at 1.1 GB of 2.0 GB: cause unknown"
    assert "died at 1.1 GB of 2.0 GB" in format_text([record])


def test_a_bad_flight_record_is_set_aside_with_one_warning(tmp_path, capsys):
    path = tmp_path / "memtrack-k3.flight"
    path.write_bytes(b"MTFLIGHT" + (7).to_bytes(4, "little") + bytes(1012))  # version 7
    session = KernelSession(None, directory=str(tmp_path))
    session.kernel_id = "k3"
    assert session.open("2026-12-01T12:00:00+00:00") is None
    err = capsys.readouterr().err
    assert err.count("ignoring the flight record") == 1 and "version 7" in err
    assert (tmp_path / "memtrack-k3.flight.bad").exists()
    assert flight.read_flight(str(path)).state == flight.IDLE  # this process's, fresh
    session.close(remove=True)
