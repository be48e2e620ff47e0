"""The pytest plugin every run of a foreign suite gets (``-p pytest_memtrack_compat``): it
records each test's outcome by node id (``MEMTRACK_COMPAT_RESULTS``: a JSON file), and loads
memtrack into the tests for the run's mode (``MEMTRACK_COMPAT_MODE``):

* IPython's suite runs in one test shell (the TerminalInteractiveShell singleton its conftest
  makes): memtrack is loaded there as a user would, ``%load_ext memtrack``, then ``%memtrack on``
  (light) or ``%memtrack on --deep`` (deep); in the ``cell`` mode every cell that
  ``run_cell`` gets starts with ``%%memtrack --quiet``.
* ipykernel's and nbclient's suites start kernels: those load memtrack through the IPython
  profile (``jupyter memtrack enable --user``, see ``compat/suites.py``); in the ``cell`` mode
  every code a client sends (``KernelClient.execute``) starts with ``%%memtrack --quiet``.

``--quiet``: a user who wants a cell measured without a summary in its output writes it so;
the summary is a display of its own, which the suites' output checks would see.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

MODE = os.environ.get("MEMTRACK_COMPAT_MODE", "bare")
RESULTS = os.environ.get("MEMTRACK_COMPAT_RESULTS")
CELL_PREFIX = "%%memtrack --quiet\n"

_outcomes: dict[str, str] = {}


def prefixed(code: Any) -> Any:
    """``code`` as a user who tracks every cell with ``%%memtrack`` would have written it."""
    if not isinstance(code, str) or not code.strip() or code.lstrip().startswith("%%memtrack"):
        return code
    return CELL_PREFIX + code


def _track_test_shell() -> None:
    from IPython.terminal.interactiveshell import TerminalInteractiveShell

    if not TerminalInteractiveShell.initialized():
        return  # not IPython's own suite
    ip = TerminalInteractiveShell.instance()
    ip.run_line_magic("load_ext", "memtrack")
    if MODE == "light":
        ip.run_line_magic("memtrack", "on")
    elif MODE == "deep":
        ip.run_line_magic("memtrack", "on --deep")
    elif MODE == "cell":
        run_cell = ip.run_cell

        def run_cell_with_magic(raw_cell, *args, **kwargs):
            return run_cell(prefixed(raw_cell), *args, **kwargs)

        ip.run_cell = run_cell_with_magic


def _prefix_client_cells() -> None:
    from jupyter_client.client import KernelClient

    execute = KernelClient.execute

    def execute_with_magic(self, code, *args, **kwargs):
        return execute(self, prefixed(code), *args, **kwargs)

    KernelClient.execute = execute_with_magic


def pytest_collection_finish(session: pytest.Session) -> None:
    if MODE == "bare":
        return
    _track_test_shell()
    if MODE == "cell":
        _prefix_client_cells()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    nodeid = report.nodeid
    if report.when == "call":
        outcome = report.outcome
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
        _outcomes[nodeid] = outcome
    elif report.failed:
        _outcomes[nodeid] = "error"  # setup or teardown failed
    elif report.skipped and nodeid not in _outcomes:
        _outcomes[nodeid] = "skipped"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if RESULTS:
        with open(RESULTS, "w", encoding="utf-8") as f:
            json.dump(_outcomes, f, indent=0, sort_keys=True)
