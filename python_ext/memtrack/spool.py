"""The spool: this kernel's records on disk, so that a restart or a death loses no history.

One JSON-lines file per kernel id (``memtrack-<kernel id>.spool`` in Jupyter's runtime dir; the id
survives restarts). Each process of the kernel appends a header line
``{"format": "memtrack-spool", "version": 1, "pid": ..., "started_at": ..., "after": ...}``
(``after``: how the process before it ended, ``"died"`` or ``"restart"``) and then one line per
stored record. A new process reads the earlier processes' records back
(:func:`read_sessions`) for the ``history`` message's ``earlier`` sessions.

Bounded: past ``MAX_BYTES`` the file is rewritten with its newest half. A truncated last line (a
kill mid-write) is skipped; a file that is not ours, or of a newer version, is set aside
(renamed ``.bad``, never deleted) with one warning. Removed on a clean shutdown; files of
kernels gone for ``STALE_S`` are removed when a kernel starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

FORMAT = "memtrack-spool"
VERSION = 1
MAX_BYTES = 8 << 20
MAX_EARLIER_RECORDS = 10_000
STALE_S = 7 * 24 * 3600


class SpoolError(ValueError):
    """A spool file that cannot be read as one (the text says why)."""


@dataclass
class Session:
    """One earlier process of the kernel: its header and its records (JSON lines, parsed when
    asked for)."""

    pid: int | None
    started_at: str | None
    lines: list[bytes] = field(default_factory=list)
    ended: str = "restart"

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.lines:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if type(record) is dict:
                    out.append(record)
        return out

    def describe(self) -> dict[str, Any]:
        """The wire's ``earlierSession``."""
        return {
            "pid": self.pid,
            "started_at": self.started_at,
            "ended": self.ended,
            "records": self.records(),
        }


def _header(line: bytes) -> dict[str, Any] | None:
    """The header a line holds, None for a record line; SpoolError for a foreign header."""
    if not line.startswith(b'{"format"'):
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None  # a truncated line
    if type(data) is not dict or data.get("format") != FORMAT:
        raise SpoolError("not a memtrack spool")
    version = data.get("version")
    if version != VERSION:
        raise SpoolError(f"spool version {version!r}, not {VERSION}")
    return data


def read_sessions(path: str) -> list[Session]:
    """The sessions in ``path``, oldest first ([] when there is none). Raises SpoolError for a
    file that is not a spool of this version; skips lines that do not parse."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise SpoolError(f"cannot read {path}: {e.strerror or e}") from None
    sessions: list[Session] = []
    for line in data.split(b"\n"):
        if not line:
            continue
        head = _header(line)
        if head is not None:
            if sessions and head.get("after") == "died":
                sessions[-1].ended = "died"
            pid = head.get("pid")
            started = head.get("started_at")
            sessions.append(
                Session(
                    pid if type(pid) is int else None,
                    started if isinstance(started, str) else None,
                )
            )
        elif not sessions:
            raise SpoolError("not a memtrack spool (no header line)")
        elif line.startswith(b"{") and line.endswith(b"}"):
            sessions[-1].lines.append(line)
    # Only the newest MAX_EARLIER_RECORDS are kept.
    budget = MAX_EARLIER_RECORDS
    for session in reversed(sessions):
        session.lines = session.lines[-budget:] if budget > 0 else []
        budget -= len(session.lines)
    return [s for s in sessions if s.lines]


class Spool:
    """This process's spool file: a header, then a line per stored record (written in batches
    by :meth:`flush`)."""

    def __init__(self, path: str, pid: int, started_at: str, after: str | None) -> None:
        self.path = path
        self._pending: list[bytes] = []
        self._fd: int | None = None
        head: dict[str, Any] = {"format": FORMAT, "version": VERSION, "pid": pid}
        head["started_at"] = started_at
        if after is not None:
            head["after"] = after
        self._head = json.dumps(head, separators=(",", ":")).encode() + b"\n"
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._write(self._head)

    def append(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Queue records for the next :meth:`flush` (one write per batch)."""
        dumps = json.dumps
        for record in records:
            with contextlib.suppress(TypeError, ValueError):
                self._pending.append(dumps(record, separators=(",", ":")).encode())

    def flush(self) -> None:
        if not self._pending or self._fd is None:
            return
        data = b"\n".join(self._pending) + b"\n"
        self._pending.clear()
        self._write(data)
        with contextlib.suppress(OSError):
            if os.fstat(self._fd).st_size > MAX_BYTES:
                self._compact()

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, data)
        except OSError:
            self.close()  # disk full or the file went away: the history stays in memory

    def _compact(self) -> None:
        """Rewrite the file with its newest half (headers of the sessions kept)."""
        with open(self.path, "rb") as f:
            lines = [ln for ln in f.read().split(b"\n") if ln]
        keep_from = len(lines) // 2
        head = None
        for line in lines[:keep_from]:
            if line.startswith(b'{"format"'):
                head = line
        kept = [head] if head is not None and not lines[keep_from].startswith(b'{"format"') else []
        kept += lines[keep_from:]
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(b"\n".join(kept) + b"\n")
        os.replace(tmp, self.path)
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def clear(self) -> None:
        """The history was reset: the file starts again with this process's header."""
        self._pending.clear()
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
            self._write(self._head)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def set_aside(path: str) -> str:
    """Rename a file that is not ours out of the way (kept as ``<path>.bad``)."""
    target = path + ".bad"
    os.replace(path, target)
    return target


def remove_stale(directory: str, prefix: str = "memtrack-", now: float | None = None) -> int:
    """Remove spool and flight files not written for ``STALE_S`` (their kernels are gone)."""
    now = time.time() if now is None else now
    removed = 0
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            if not name.startswith(prefix) or not name.endswith((".spool", ".flight")):
                continue
            path = os.path.join(directory, name)
            with contextlib.suppress(OSError):
                if now - os.stat(path).st_mtime > STALE_S:
                    os.unlink(path)
                    removed += 1
    return removed
