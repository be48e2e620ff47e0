"""Differences that are no divergence of memtrack's, each named with the reason, printed with
every run: in the ``cell`` mode every cell starts with ``%%memtrack --quiet`` as the user typed
it, so a test that reads a cell's own text back (``In``, ``_i``, the history, ``%notebook``)
finds that line there, as it finds ``%%time`` in a cell that starts with ``%%time``."""

from __future__ import annotations

CELL_TEXT = {
    "tests/test_magic.py::test_reset_in": "'parrot' in _i/_ii/_iii: _i holds the cell as typed",
    "tests/test_magic.py::test_notebook_export_json_with_output": (
        "%notebook exports each cell as typed, compared with the command alone (its outputs "
        "are compared in the light and deep modes)"
    ),
}
