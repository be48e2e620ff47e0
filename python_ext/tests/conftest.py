"""Shared test helpers: the wire schema and a real IPython InteractiveShell."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tracemalloc
from pathlib import Path

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
SCHEMA_DIR = REPO / "schema"
MESSAGE_SCHEMA = json.loads((SCHEMA_DIR / "wire" / "message.schema.json").read_text("utf-8"))


def message_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(
        MESSAGE_SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


def record_validator() -> jsonschema.Draft7Validator:
    """Validator for one record (the schema's ``record`` definition)."""
    schema = {
        "$ref": "#/definitions/record",
        "definitions": MESSAGE_SCHEMA["definitions"],
    }
    return jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )


def _stop_engines() -> None:
    from memtrack.measure import engine

    if engine.NativeEngine.is_tracing():
        engine.NativeEngine.stop()
    if tracemalloc.is_tracing():
        tracemalloc.stop()


@pytest.fixture(autouse=True)
def _no_engine_left_behind():
    """A test that leaves an engine counting would make the next one's cells 'continuous'."""
    yield
    _stop_engines()


@pytest.fixture
def no_tracing():
    """Tests start and end with no engine counting (tracemalloc off, the native engine off)."""
    _stop_engines()
    yield
    _stop_engines()


@pytest.fixture(params=["native", "tracemalloc"])
def engine_name(request, monkeypatch):
    """Runs a test under each allocation engine (MEMTRACK_ENGINE); the native one must be
    built here (make setup builds it), so its absence fails rather than skips."""
    from memtrack.measure import engine

    if request.param == "native":
        assert engine.native_available(), engine.missing_reason()
    monkeypatch.setenv("MEMTRACK_ENGINE", request.param)
    return request.param


@pytest.fixture
def shell(tmp_path_factory, no_tracing):
    """The real InteractiveShell singleton with memtrack loaded; cleaned up after each test."""
    import memtrack
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    if not InteractiveShell.initialized():
        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        config.InteractiveShell.colors = "nocolor"
        config.InteractiveShell.ipython_dir = str(tmp_path_factory.mktemp("ipython"))
        InteractiveShell.instance(config=config)
    ip = InteractiveShell.instance()
    ip.reset(new_session=False)
    ip.run_cell("%load_ext memtrack", store_history=True)
    assert memtrack._tracker is not None and memtrack._tracker.shell is ip
    memtrack.reset()
    yield ip
    ip.run_cell("%unload_ext memtrack", store_history=True)
    assert memtrack._tracker is None
    ip.reset(new_session=False)
    # A test's last error would be the next test's "last traceback" leak suspect (and make
    # its records bigger): each test starts without one.
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if hasattr(sys, name):
            delattr(sys, name)
    if getattr(ip.InteractiveTB, "tb", None) is not None:
        ip.InteractiveTB.tb = None  # IPython's formatter keeps it too


KERNEL_TIMEOUT = 60
PYTHON_EXT = str(Path(__file__).resolve().parents[1])


def kernel_env(tmp_path_factory) -> dict[str, str]:
    """The environment of a test kernel: this checkout's memtrack, its own IPython dir and
    runtime dir (where the kernel's flight record and history spool go)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PYTHON_EXT, env.get("PYTHONPATH")) if p)
    env["IPYTHONDIR"] = str(tmp_path_factory.mktemp("ipython"))
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path_factory.mktemp("runtime"))
    return env


@contextlib.contextmanager
def real_kernel(tmp_path_factory):
    """A real ipykernel (jupyter_client) that imports this checkout's memtrack; its client."""
    from jupyter_client.manager import start_new_kernel

    env = kernel_env(tmp_path_factory)
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=KERNEL_TIMEOUT, env=env)
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
