"""The widget behind ``memtrack.widget()``: the memory plot and a table of the last cells in a
notebook output, for frontends without the sidebar. Its view is in the JupyterLab extension
(src/widget.ts, registered as the widget module ``jupyterlab-memtrack``).

Imports ipywidgets, an optional dependency: only ``memtrack.widget()`` imports this module. (It
is not called ``widget.py``: importing that submodule would replace the function
``memtrack.widget`` by the module.)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from typing import Any

from ipywidgets import DOMWidget
from traitlets import Dict, Int, List, Unicode

from ..store import RecordStore
from ..version import __version__

MODULE_NAME = "jupyterlab-memtrack"
# The sidebar's default maxPoints: the plot never draws more.
DEFAULT_MAX_RECORDS = 500

# Open widgets made by memtrack.widget(): moved to the new tracker's store when the extension is
# loaded again (follow_tracker). Weak: a closed widget is garbage-collected all the same.
_following: weakref.WeakSet[MemtrackWidget] = weakref.WeakSet()


class MemtrackWidget(DOMWidget):
    """The last ``max_records`` records of a store, kept up to date as cells are recorded.

    The whole list goes to the frontend when the widget opens or the history is cleared; each
    new record is appended to ``records`` in place and sent alone (a custom message), so a cell
    costs the same with 5 records as with 500. The store holds the widget by weak reference
    only; :meth:`close` stops the updates. ``follow_reloads`` (set by ``memtrack.widget()``):
    when the extension is loaded again, the widget moves to the new tracker's store.
    """

    _model_name = Unicode("MemtrackWidgetModel").tag(sync=True)
    _model_module = Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = Unicode(__version__).tag(sync=True)
    _view_name = Unicode("MemtrackWidgetView").tag(sync=True)
    _view_module = Unicode(MODULE_NAME).tag(sync=True)
    _view_module_version = Unicode(__version__).tag(sync=True)

    # Records as the store keeps them (schema/wire/message.schema.json#/definitions/record),
    # oldest first, at most max_records of them.
    records = List(Dict()).tag(sync=True)
    max_records = Int(DEFAULT_MAX_RECORDS, min=1).tag(sync=True)

    def __init__(
        self,
        store: RecordStore,
        max_records: int = DEFAULT_MAX_RECORDS,
        main_loop: asyncio.AbstractEventLoop | None = None,
        *,
        follow_reloads: bool = False,
        **kwargs: Any,
    ) -> None:
        if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
            raise ValueError(f"max_records must be a positive integer, not {max_records!r}")
        self._store = store
        # Where a clear coming from a comm thread is replayed (the kernel's main loop).
        self._main_loop = main_loop
        self._stale = False
        super().__init__(records=store.tail(max_records), max_records=max_records, **kwargs)
        store.add_listener(self._on_history)
        if follow_reloads:
            _following.add(self)

    def __repr__(self) -> str:
        # Shown as text/plain where widgets are not rendered: no dump of the records.
        return f"<memtrack widget: {len(self.records)} tracked cell(s)>"

    def close(self) -> None:
        store = self.__dict__.get("_store")  # absent if __init__ failed early
        if store is not None:
            store.remove_listener(self._on_history)
        _following.discard(self)
        super().close()

    def _on_history(self, event: str, record: dict[str, Any] | None) -> None:
        # Trait changes send comm messages: only from the main thread, where cells are recorded.
        # A reset from a comm handler on another thread is replayed on the main loop.
        if threading.current_thread() is not threading.main_thread():
            self._resync_later()
            return
        if self._stale:
            self._resync()
        elif event == "clear":
            self.records = []
        elif record is not None:
            # In place, so traitlets sends nothing: the frontend gets this one record instead.
            records = self.records
            records.append(record)
            del records[: -self.max_records]
            self.send({"type": "append", "record": record})

    def _follow(self, store: RecordStore, main_loop: asyncio.AbstractEventLoop | None) -> None:
        """Listen to ``store`` instead of the current one and show its records."""
        if store is self._store:
            return
        self._store.remove_listener(self._on_history)
        self._store, self._main_loop = store, main_loop
        store.add_listener(self._on_history)
        if threading.current_thread() is threading.main_thread():
            self._resync()
        else:
            self._resync_later()

    def _resync_later(self) -> None:
        """Off the main thread: resync on the kernel's main loop, or at the next main-thread
        event if there is no loop."""
        self._stale = True
        if self._main_loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed: the kernel is going away
                self._main_loop.call_soon_threadsafe(self._resync)

    def _resync(self) -> None:
        self._stale = False
        self.records = self._store.tail(self.max_records)


def follow_tracker(store: RecordStore, main_loop: asyncio.AbstractEventLoop | None) -> None:
    """Point every widget made by ``memtrack.widget()`` at ``store``, the history of the tracker
    just loaded: after ``%unload_ext memtrack`` + ``%load_ext memtrack`` they show the new
    history instead of the old tracker's, which nothing records into any more."""
    for widget in list(_following):
        widget._follow(store, main_loop)
