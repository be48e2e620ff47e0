"""The memory limit that will kill the kernel, and the counter that says the OOM killer did.

Inside a container or a cgroup, the limit is the cgroup's: v2 ``memory.max`` (the smallest one
up the hierarchy), v1 ``memory.limit_in_bytes`` (likewise); else the machine's ``MemTotal``.
``MemAvailable`` is not used: inside a cgroup it tells the host's memory (19.6 GB "available"
inside a 300 MiB group, docs/design-notes.md). What counts against a cgroup limit is its usage
(``memory.current`` / ``memory.usage_in_bytes``, page cache included); without a cgroup, the
process's RSS. The OOM-kill counter (v2 ``memory.events``, v1 ``memory.oom_control``, line
``oom_kill``) is what tells an out-of-memory kill from another SIGKILL.

Pure file reads (1-3 us each on kept paths), no IPython. Where there is no ``/proc`` or cgroup
(macOS) the limit is the machine's memory from ``sysconf``; where not even that is known, the
source is ``none`` and every number is None; nothing raises.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

SOURCE_V2 = "cgroup-v2"
SOURCE_V1 = "cgroup-v1"
SOURCE_MEMINFO = "meminfo"
SOURCE_NONE = "none"
# cgroup v1 writes "no limit" as the largest page-aligned signed 64-bit number.
_V1_UNLIMITED = 1 << 60


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _read_int(path: str) -> int | None:
    text = _read(path)
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.isdigit() else None


def _counter(path: str, key: str = "oom_kill") -> int | None:
    """The value of ``key`` in a flat-keyed cgroup file (``memory.events``, ``oom_control``)."""
    text = _read(path)
    if text is None:
        return None
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


@dataclass(frozen=True)
class MemoryGroup:
    """The cgroup the process is in: its version and its directory (None: none found)."""

    version: int | None
    path: str | None

    @property
    def oom_file(self) -> str | None:
        if self.path is None:
            return None
        return os.path.join(
            self.path, "memory.events" if self.version == 2 else "memory.oom_control"
        )


def find_group(proc: str = "/proc/self", root: str = "/sys/fs/cgroup") -> MemoryGroup:
    """The memory cgroup of the process (``proc``: its /proc directory, ``root``: where cgroup
    filesystems are mounted; both can point at a copy laid out the same way, for tests)."""
    text = _read(os.path.join(proc, "cgroup"))
    if text is None:
        return MemoryGroup(None, None)
    v1 = v2 = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if "memory" in controllers.split(","):
            v1 = path
        elif parts[0] == "0" and controllers == "":
            v2 = path
    candidates = []
    if v1 is not None:
        candidates.append((1, os.path.join(root, "memory"), v1))
    if v2 is not None:
        # A pure v2 host mounts the unified hierarchy at root; a hybrid one under unified/.
        for base in (root, os.path.join(root, "unified")):
            if os.path.exists(os.path.join(base, "cgroup.controllers")):
                candidates.append((2, base, v2))
                break
    for version, mount, path in candidates:
        probe = "memory.limit_in_bytes" if version == 1 else "memory.max"
        # Inside a container the group's path is often not visible below the mount: the
        # container's own group is then the mount's root.
        for directory in (os.path.join(mount, path.lstrip("/")), mount):
            if os.path.exists(os.path.join(directory, probe)):
                return MemoryGroup(version, os.path.normpath(directory))
    return MemoryGroup(None, None)


def _group_limit(group: MemoryGroup, root: str) -> int | None:
    """The smallest limit from the group up to its hierarchy's root (None: unlimited)."""
    name = "memory.limit_in_bytes" if group.version == 1 else "memory.max"
    mount = os.path.normpath(os.path.join(root, "memory") if group.version == 1 else root)
    best = None
    directory = group.path
    while directory is not None:
        text = _read(os.path.join(directory, name))
        if text is not None:
            text = text.strip()
            if text.isdigit():
                value = int(text)
                if value < _V1_UNLIMITED and (best is None or value < best):
                    best = value
        parent = os.path.dirname(directory)
        if len(directory) <= len(mount) or parent == directory:
            break
        directory = parent
    return best


def _mem_total(proc_root: str) -> int | None:
    text = _read(os.path.join(proc_root, "meminfo"))
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1]) * 1024
    return None


def _physical_memory() -> int | None:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * size if pages > 0 and size > 0 else None


class LimitReader:
    """Reads the limit, the usage against it and the OOM-kill counter; the group is found once
    (:meth:`refresh` finds it again: a process can be moved to another group)."""

    def __init__(
        self, proc: str = "/proc/self", root: str = "/sys/fs/cgroup", proc_root: str = "/proc"
    ) -> None:
        self._proc, self._root, self._proc_root = proc, root, proc_root
        self.group = MemoryGroup(None, None)
        self.limit: int | None = None
        self.source = SOURCE_NONE
        self.refresh()

    def refresh(self) -> None:
        self.group = group = find_group(self._proc, self._root)
        limit = _group_limit(group, self._root) if group.path is not None else None
        if limit is not None:
            self.limit, self.source = limit, SOURCE_V2 if group.version == 2 else SOURCE_V1
            return
        total = _mem_total(self._proc_root)
        if total is None and self._proc_root == "/proc":
            total = _physical_memory()  # no /proc (macOS): what the platform says
        self.limit, self.source = total, SOURCE_MEMINFO if total is not None else SOURCE_NONE

    def usage(self) -> int | None:
        """What counts against the limit now, when a cgroup sets it (else None: use RSS)."""
        if self.source == SOURCE_V2:
            return _read_int(os.path.join(self.group.path or "", "memory.current"))
        if self.source == SOURCE_V1:
            return _read_int(os.path.join(self.group.path or "", "memory.usage_in_bytes"))
        return None

    def oom_kills(self) -> int | None:
        path = self.group.oom_file
        return _counter(path) if path is not None else None

    def describe(self, rss: int | None) -> dict[str, object]:
        """The wire's ``memoryLimit``: bytes, source, usage (the cgroup's, else ``rss``) and
        headroom."""
        usage = self.usage()
        if usage is None:
            usage = rss
        headroom = self.limit - usage if self.limit is not None and usage is not None else None
        return {"bytes": self.limit, "source": self.source, "usage": usage, "headroom": headroom}


def oom_kills_at(oom_file: str | None) -> int | None:
    """The OOM-kill counter in ``oom_file`` (a group's memory.events or memory.oom_control, as a
    flight record names it), None when it cannot be read."""
    return _counter(oom_file) if oom_file else None
