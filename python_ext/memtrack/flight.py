"""The flight record: what the running cell was doing, in a small file that outlives the process.

One fixed-size binary file per kernel id (``memtrack-<kernel id>.flight`` in Jupyter's runtime
dir), mapped into memory: the tracker writes the cell's start and end into it (one
``struct.pack_into`` each, ~0.5 us, no system call), the live sampler its last RSS, peak and
limit. The mapping is the page cache's, so what was written survives a SIGKILL or the OOM killer.
When a kernel starts again with the same id (a restart keeps the id) and finds a cell that never
finished, that cell died with the process: :func:`read_flight` gives what the record last said.

Layout (little-endian): magic ``MTFLIGHT``, format version, then the fields below at fixed
offsets. A file that is shorter, has another magic or a newer version is not read (one warning).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
from dataclasses import dataclass
from typing import Any

MAGIC = b"MTFLIGHT"
VERSION = 1
SIZE = 1024

IDLE, RUNNING, SHUT_DOWN = 0, 1, 2
MODES = ("light", "deep", "untracked")
SOURCES = ("none", "meminfo", "cgroup-v1", "cgroup-v2")

_HEAD = struct.Struct("<8sI")  # magic, version
# state, mode, pid, execution count (-1: none), started at (epoch s), rss before (-1: none)
_CELL = struct.Struct("<BBqqdq")
_SAMPLE = struct.Struct("<qqd")  # last rss, peak (-1: none), last sample at (epoch s, 0: none)
_LIMIT = struct.Struct("<qBq")  # limit (-1: none), source index, OOM-kill count at the cell's start
_TEXT = struct.Struct("<H")  # a length before each text field
CELL_ID_MAX = 126
OOM_FILE_MAX = 510

_CELL_AT = _HEAD.size
_SAMPLE_AT = _CELL_AT + _CELL.size
_LIMIT_AT = _SAMPLE_AT + _SAMPLE.size
_CELL_ID_AT = _LIMIT_AT + _LIMIT.size
_OOM_FILE_AT = _CELL_ID_AT + _TEXT.size + CELL_ID_MAX
assert _OOM_FILE_AT + _TEXT.size + OOM_FILE_MAX <= SIZE


class FlightError(ValueError):
    """A file that is not a readable flight record (the text says why)."""


def _opt(value: int) -> int | None:
    return None if value < 0 else value


def _put_text(mm: Any, at: int, text: str, limit: int) -> None:
    data = text.encode("utf-8", "replace")[:limit]
    _TEXT.pack_into(mm, at, len(data))
    mm[at + _TEXT.size : at + _TEXT.size + len(data)] = data


def _get_text(data: bytes, at: int, limit: int) -> str:
    (n,) = _TEXT.unpack_from(data, at)
    n = min(n, limit)
    return data[at + _TEXT.size : at + _TEXT.size + n].decode("utf-8", "replace")


@dataclass(frozen=True)
class FlightState:
    """What a flight record says (see the module's docstring)."""

    state: int
    mode: str
    pid: int
    execution_count: int | None
    started_at: float
    rss_before: int | None
    last_rss: int | None
    peak: int | None
    last_sample_at: float | None
    limit: int | None
    limit_source: str
    oom_baseline: int | None
    cell_id: str | None
    oom_file: str | None


def read_flight(path: str) -> FlightState | None:
    """The record in ``path``; None when there is no file. Raises FlightError for a file that
    is not a flight record of this version."""
    try:
        with open(path, "rb") as f:
            data = f.read(SIZE + 1)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise FlightError(f"cannot read {path}: {e.strerror or e}") from None
    if len(data) < _HEAD.size:
        raise FlightError(f"{path} is truncated ({len(data)} bytes)")
    magic, version = _HEAD.unpack_from(data, 0)
    if magic != MAGIC:
        raise FlightError(f"{path} is not a memtrack flight record")
    if version != VERSION:
        raise FlightError(f"{path} has flight record version {version}, not {VERSION}")
    if len(data) != SIZE:
        raise FlightError(f"{path} is truncated ({len(data)} of {SIZE} bytes)")
    state, mode, pid, count, started, rss_before = _CELL.unpack_from(data, _CELL_AT)
    last_rss, peak, sampled = _SAMPLE.unpack_from(data, _SAMPLE_AT)
    limit, source, oom = _LIMIT.unpack_from(data, _LIMIT_AT)
    cell_id = _get_text(data, _CELL_ID_AT, CELL_ID_MAX)
    oom_file = _get_text(data, _OOM_FILE_AT, OOM_FILE_MAX)
    return FlightState(
        state=state,
        mode=MODES[mode] if mode < len(MODES) else "untracked",
        pid=pid,
        execution_count=_opt(count),
        started_at=started,
        rss_before=_opt(rss_before),
        last_rss=_opt(last_rss),
        peak=_opt(peak),
        last_sample_at=sampled or None,
        limit=_opt(limit),
        limit_source=SOURCES[source] if source < len(SOURCES) else "none",
        oom_baseline=_opt(oom),
        cell_id=cell_id or None,
        oom_file=oom_file or None,
    )


class FlightRecorder:
    """This process's flight record, mapped for writing (created or taken over at ``path``)."""

    def __init__(self, path: str) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.ftruncate(fd, SIZE)
            self._mm = mmap.mmap(fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        self._mm[:] = bytes(SIZE)
        _HEAD.pack_into(self._mm, 0, MAGIC, VERSION)
        self._pid = os.getpid()
        self.cell_finished()

    def cell_started(
        self,
        mode: int,
        execution_count: int | None,
        cell_id: str | None,
        started_at: float,
        rss_before: int | None,
    ) -> None:
        """Before the cell runs (its main-thread cost: two ``pack_into``)."""
        mm = self._mm
        rss = -1 if rss_before is None else rss_before
        count = -1 if execution_count is None else execution_count
        _SAMPLE.pack_into(mm, _SAMPLE_AT, rss, rss, 0.0)
        _CELL.pack_into(mm, _CELL_AT, RUNNING, mode, self._pid, count, started_at, rss)
        if cell_id:
            _put_text(mm, _CELL_ID_AT, cell_id, CELL_ID_MAX)
        else:
            _TEXT.pack_into(mm, _CELL_ID_AT, 0)

    def sampled(self, rss: int, peak: int, at: float) -> None:
        _SAMPLE.pack_into(self._mm, _SAMPLE_AT, rss, peak, at)

    def limits(
        self, limit: int | None, source: str, oom_baseline: int | None, oom_file: str | None
    ) -> None:
        """The limit and the OOM-kill counter the sampler read at the cell's start."""
        source_index = SOURCES.index(source) if source in SOURCES else 0
        _LIMIT.pack_into(
            self._mm,
            _LIMIT_AT,
            -1 if limit is None else limit,
            source_index,
            -1 if oom_baseline is None else oom_baseline,
        )
        _put_text(self._mm, _OOM_FILE_AT, oom_file or "", OOM_FILE_MAX)

    def cell_finished(self) -> None:
        self._mm[_CELL_AT] = IDLE

    def shut_down(self) -> None:
        """A clean exit: nothing died."""
        with contextlib.suppress(ValueError):  # already closed
            self._mm[_CELL_AT] = SHUT_DOWN

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._mm.close()
