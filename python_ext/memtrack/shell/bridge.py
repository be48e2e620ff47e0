"""The comm bridge to the JupyterLab frontend; the only module that imports ``comm``.

The frontend opens a comm to the target ``jupyterlab-memtrack`` with ``{"v":1,"type":"hello"}``
as open data. The kernel answers at once with the whole history on that comm, and later pushes
the new records to every open comm: a ``record`` message per deep or synchronous cell, and one
``records`` message for a batch of light cells (a message costs more than a record: serializing,
signing, the socket; :mod:`memtrack.shell.batching` decides what waits and for how long). Records
keep their order either way, and are complete when they reach the bridge. Nothing
a frontend sends can raise in the kernel: malformed, unknown or newer-version messages get an
``error`` message back.

The sidebar's requests (``why``, ``release``, ``export``) are answered by one message with the
same ``request_id``; ``configure`` sets the leak threshold. The bridge knows nothing of leaks: the
tracker hands it callbacks. Comm handlers may run off the main thread (ipykernel subshells), so
the requests that read or change the user namespace run on the kernel's main event loop, between
cells, never beside a running cell.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .. import protocol
from ..reports import files as report
from ..store import RecordStore
from ..version import __version__

TARGET_NAME = "jupyterlab-memtrack"
# At most this many records wait for one ``records`` message (memtrack.shell.batching decides
# when the others go).
BATCH_MAX = 100


def _warn(text: str) -> None:
    """One line on stderr: a frontend problem must never become an exception in the kernel."""
    with contextlib.suppress(Exception):  # stderr gone: nothing left to tell
        print(f"memtrack: {text}", file=sys.stderr)


def _comm_id(comm: Any) -> str:
    return str(getattr(comm, "comm_id", id(comm)))


def _main_loop_of(kernel: Any) -> asyncio.AbstractEventLoop | None:
    """The asyncio loop of the kernel's main thread (ipykernel's ``io_loop``), if any."""
    loop = getattr(getattr(kernel, "io_loop", None), "asyncio_loop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) else None


def _request_id_of(data: Any) -> str | None:
    """The request_id of a (possibly malformed) request, when it is readable."""
    if isinstance(data, dict) and data.get("type") in protocol.REQUEST_TYPES:
        rid = data.get("request_id")
        if isinstance(rid, str) and 1 <= len(rid) <= protocol.REQUEST_ID_MAX:
            return rid
    return None


WhyHandler = Callable[[str, float | None], Mapping[str, Any]]
ReleaseHandler = Callable[[str, bool], Mapping[str, Any]]


class Bridge:
    """Keeps the open frontend comms and talks to them.

    Callbacks (from the tracker): ``on_reset()`` when a frontend asks for the history to be
    cleared; ``on_why(name, budget_s)`` -> ``{chain, message, status}``;
    ``on_release(target, dry_run)`` -> ``{ok, expected_bytes, freed_bytes, action, message}``
    (and ``suspects`` after a real release); ``on_configure(settings)`` with the ``configure``
    message's ``leak_threshold`` and, when sent, ``guard`` (ValueError on a bad value);
    ``describe()`` -> what the ``history`` message adds to the kernel's info (memory limit,
    guard) and its ``earlier`` sessions; ``on_variables(limit)`` -> ``{variables, total,
    pending, seq}``. A request without its callback gets an ``error``
    message. ``export`` needs no callback: the report is rendered from the store, as
    ``%memtrack export`` writes it.
    """

    def __init__(
        self,
        store: RecordStore,
        on_reset: Callable[[], None] | None = None,
        on_why: WhyHandler | None = None,
        on_release: ReleaseHandler | None = None,
        on_configure: Callable[[dict[str, Any]], None] | None = None,
        describe: Callable[[], tuple[dict[str, Any], list[dict[str, Any]]]] | None = None,
        on_variables: Callable[[int | None], Mapping[str, Any]] | None = None,
        tracking: Callable[[], str] | None = None,
    ) -> None:
        self.store = store
        self.on_reset = on_reset
        self.on_why = on_why
        self.on_release = on_release
        self.on_configure = on_configure
        self.describe = describe
        self.on_variables = on_variables
        self.tracking = tracking  # the tracking mode now, for the history message
        # Where requests touching the user namespace run when a comm handler is called off the
        # main thread (set by register(); None: run in the caller's thread).
        self.main_loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._comms: dict[str, Any] = {}
        self._manager: Any = None
        self._handler: Callable[[Any, Any], None] | None = None
        self._queued: list[Mapping[str, Any]] = []  # records waiting for one `records` message

    # -- registration -------------------------------------------------------------------------

    def register(self, shell: Any) -> bool:
        """Register the comm target with the kernel's comm manager.

        Returns False (and does nothing) without a kernel: terminal IPython has no frontend.
        """
        if self._manager is not None:
            return True
        if getattr(shell, "kernel", None) is None:
            return False
        try:
            import comm

            manager = comm.get_comm_manager()
            handler = self._on_open  # keep the bound method: unregister needs the same object
            manager.register_target(TARGET_NAME, handler)
        except Exception as e:
            _warn(f"cannot register the comm target ({type(e).__name__}: {e}); no sidebar updates")
            return False
        self._manager, self._handler = manager, handler
        self.main_loop = _main_loop_of(shell.kernel)
        return True

    def unregister(self) -> None:
        """Unregister the target and close every open comm."""
        self.flush_records()
        manager, self._manager = self._manager, None
        if manager is not None:
            try:
                if manager.targets.get(TARGET_NAME) is self._handler:
                    manager.unregister_target(TARGET_NAME, self._handler)
            except Exception:
                pass
        with self._lock:
            comms = list(self._comms.values())
            self._comms.clear()
        for c in comms:
            with contextlib.suppress(Exception):
                c.close()

    @property
    def registered(self) -> bool:
        return self._manager is not None

    # -- state --------------------------------------------------------------------------------

    def attached(self) -> bool:
        """Whether at least one frontend comm is open (one atomic read: no lock, it is asked
        twice per tracked cell)."""
        return bool(self._comms)

    def kernel_info(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "python": platform.python_version(), "memtrack": __version__}

    # -- sending ------------------------------------------------------------------------------

    def _send(self, comm: Any, msg: Mapping[str, Any]) -> bool:
        try:
            comm.send(msg)  # built per message by memtrack.protocol: no copy needed
            return True
        except Exception as e:
            _warn(f"could not send {msg.get('type')!r} to the frontend ({type(e).__name__}: {e})")
            return False

    def _broadcast(self, msg: Mapping[str, Any]) -> int:
        with self._lock:
            comms = list(self._comms.values())
        return sum(self._send(c, msg) for c in comms)

    def send_live(self, msg: Mapping[str, Any]) -> int:
        """A ``live`` message to every open comm (from the sampler's thread: comm sends are
        thread-safe in ipykernel); returns how many got it."""
        return self._broadcast(msg)

    def publish(self, record: Mapping[str, Any]) -> int:
        """Send one record to every open comm (queued ones first); returns how many got it."""
        self.flush_records()
        return self._broadcast(protocol.record_message(record))

    def queue_many(self, records: list[Mapping[str, Any]], send: bool) -> None:
        """Queue ``records`` (in order); ``send``: send the queue now, in one message (else the
        next send takes them along, or a full queue sends itself)."""
        with self._lock:
            self._queued.extend(records)
            full = len(self._queued) >= BATCH_MAX
        if send or full:
            self.flush_records()

    def flush_records(self) -> int:
        """Send the queued records now (one message); returns how many comms got them."""
        with self._lock:
            batch, self._queued = self._queued, []
        if not batch:
            return 0
        return self._broadcast(protocol.records_message(batch))

    def publish_tracking(self, mode: str) -> int:
        """Tell every open comm the tracking mode now (records queued before go first)."""
        self.flush_records()
        return self._broadcast(protocol.tracking_message(mode))

    def publish_reset(self) -> int:
        """Tell every open comm that the history was cleared (queued records with it)."""
        with self._lock:
            self._queued.clear()
        return self._broadcast(protocol.reset_message())

    def send_history(self, comm: Any) -> bool:
        self.flush_records()  # else the comm would get the queued records twice
        kernel, earlier = self.kernel_info(), []
        if self.describe is not None:
            try:
                extra, earlier = self.describe()
                kernel.update(extra)
            except Exception as e:  # the history still goes
                _warn(f"could not describe the kernel ({type(e).__name__}: {e})")
        tracking = self.tracking() if self.tracking is not None else None
        msg = protocol.history_message(self.store.snapshot(), kernel, tracking)
        if earlier:
            msg["earlier"] = earlier
        return self._send(comm, msg)

    # -- receiving ----------------------------------------------------------------------------

    def _on_open(self, comm: Any, open_msg: Any) -> None:
        try:
            data = open_msg["content"].get("data", {})
        except Exception:
            data = None
        try:
            type_, _ = protocol.parse_message(data)
            if type_ != "hello":
                raise protocol.ProtocolError(f"expected 'hello' as open data, got {type_!r}")
        except protocol.ProtocolError as e:
            self._send(comm, protocol.error_message(str(e)))
            with contextlib.suppress(Exception):
                comm.close()
            return
        except Exception as e:  # never raise into the comm manager
            _warn(f"error opening a frontend comm ({type(e).__name__}: {e})")
            return
        try:
            comm.on_msg(self._make_msg_handler(comm))
            comm.on_close(self._make_close_handler(comm))
        except Exception as e:
            _warn(f"cannot listen on the frontend comm ({type(e).__name__}: {e})")
            return
        with self._lock:
            self._comms[_comm_id(comm)] = comm
        self.send_history(comm)

    def _make_msg_handler(self, comm: Any) -> Callable[[Any], None]:
        def on_msg(msg: Any) -> None:
            self.handle_message(comm, msg)

        return on_msg

    def _make_close_handler(self, comm: Any) -> Callable[[Any], None]:
        key = _comm_id(comm)

        def on_close(msg: Any) -> None:
            with self._lock:
                self._comms.pop(key, None)

        return on_close

    def handle_message(self, comm: Any, msg: Any) -> None:
        """Answer one comm message from a frontend. Never raises."""
        data = None
        try:
            try:
                data = msg["content"]["data"]
            except (KeyError, TypeError) as e:
                raise protocol.ProtocolError("comm message without content.data") from e
            type_, payload = protocol.parse_message(data)
            if type_ == "request_history":
                self.send_history(comm)
            elif type_ == "reset":
                if self.on_reset is not None:
                    self.on_reset()
            elif type_ == "error":
                # The frontend rejected something we sent; answering would only ping-pong.
                _warn(f"the frontend reported: {data.get('message')}")
            elif type_ == "hello":
                self.send_history(comm)
            elif type_ in protocol.REQUEST_TYPES:
                self._in_main_thread(lambda: self._answer(comm, type_, payload))
            elif type_ == "configure":
                self._configure(payload)
            else:
                raise protocol.ProtocolError(f"the kernel does not accept {type_!r} messages")
        except protocol.ProtocolError as e:
            self._send(comm, protocol.error_message(str(e), _request_id_of(data)))
        except Exception as e:
            _warn(f"error handling a frontend message ({type(e).__name__}: {e})")
            self._send(
                comm,
                protocol.error_message(f"internal error: {type(e).__name__}", _request_id_of(data)),
            )

    def _configure(self, settings: dict[str, Any]) -> None:
        if self.on_configure is None:
            raise protocol.ProtocolError("this kernel cannot be configured")
        try:
            self.on_configure(settings)
        except ValueError as e:
            raise protocol.ProtocolError(f"configure: {e}") from None

    def _in_main_thread(self, job: Callable[[], None]) -> None:
        """Run ``job`` now on the main thread, else queue it on the kernel's main loop (it then
        runs between cells, as a cell would)."""
        loop = self.main_loop
        if loop is None or threading.current_thread() is threading.main_thread():
            job()
            return
        try:
            loop.call_soon_threadsafe(job)
        except RuntimeError:  # the loop is closed: the kernel is shutting down
            job()

    def _answer(self, comm: Any, type_: str, payload: dict[str, Any]) -> None:
        """Send the one answer to a ``why``, ``release`` or ``export`` request. Never raises."""
        rid = payload["request_id"]
        try:
            answer = {
                "why": self._why,
                "release": self._release,
                "export": self._export,
                "variables": self._variables,
            }[type_]
            reply = answer(rid, payload)
        except KeyboardInterrupt:  # the user interrupted the kernel while we searched
            reply = protocol.error_message(f"{type_} interrupted", rid)
        except Exception as e:
            _warn(f"error answering a {type_!r} request ({type(e).__name__}: {e})")
            reply = protocol.error_message(f"internal error: {type(e).__name__}", rid)
        self._send(comm, reply)

    def _why(self, rid: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self.on_why is None:
            return protocol.error_message("this kernel cannot answer 'why' requests", rid)
        name = payload["name"]
        got = self.on_why(name, payload.get("budget_s"))
        return protocol.why_result_message(rid, name, got["chain"], got["message"], got["status"])

    def _release(self, rid: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self.on_release is None:
            return protocol.error_message("this kernel cannot answer 'release' requests", rid)
        target, dry_run = payload["target"], payload["dry_run"]
        got = self.on_release(target, dry_run)
        return protocol.release_result_message(
            rid,
            target,
            dry_run,
            ok=got["ok"],
            expected_bytes=got["expected_bytes"],
            freed_bytes=got["freed_bytes"],
            action=got["action"],
            message=got["message"],
            suspects=got.get("suspects"),
        )

    def is_own_message(self, shell: Any) -> bool:
        """Whether the message the kernel handles now is a ``comm_msg`` to one of this bridge's
        comms (the sidebar's requests, which run no user code)."""
        parent = getattr(shell, "parent_header", None)
        if not isinstance(parent, dict):
            return False
        header, content = parent.get("header"), parent.get("content")
        if not isinstance(header, dict) or header.get("msg_type") != "comm_msg":
            return False
        comm_id = content.get("comm_id") if isinstance(content, dict) else None
        with self._lock:
            return comm_id in self._comms

    def _variables(self, rid: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self.on_variables is None:
            return protocol.error_message("this kernel cannot answer 'variables' requests", rid)
        got = self.on_variables(payload.get("limit"))
        return protocol.variables_result_message(
            rid, got["variables"], got["total"], got["pending"], got.get("seq")
        )

    def _export(self, rid: str, payload: dict[str, Any]) -> dict[str, Any]:
        fmt = payload["format"]
        built = report.build_report(self.store.snapshot(), self.kernel_info())
        try:
            content = report.render(built, fmt)
        except report.ReportError as e:
            return protocol.error_message(f"export: {e}", rid)
        return protocol.export_result_message(rid, fmt, content)


# Module-level access to the bridge of the loaded extension (set by the tracker).
_active: Bridge | None = None


def set_active(bridge: Bridge | None) -> None:
    global _active
    _active = bridge


def attached_bridge() -> Bridge | None:
    """The bridge of the loaded extension, if any."""
    return _active


def attached() -> bool:
    """Whether a frontend comm is open on the loaded extension."""
    return _active is not None and _active.attached()


def publish(record: Mapping[str, Any]) -> int:
    """Send a record to every open frontend comm (0 when none or not loaded)."""
    return _active.publish(record) if _active is not None else 0
