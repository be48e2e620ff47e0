"""One foreign test suite run in one mode: where its sources go, the environment its pytest and
kernels get, and how memtrack is loaded into them (see pytest_memtrack_compat.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sources import CACHE, installed_version, sdist, test_deps, unpack

HERE = Path(__file__).resolve().parent
RUNS = CACHE / "runs"
MODES = ("bare", "light", "deep", "cell")
# What each tracked mode puts in every kernel's startup, after `jupyter memtrack enable --user`
# (a user's own exec_lines would do the same; the API prints nothing).
KERNEL_STARTUP = {
    "light": ["__import__('memtrack').start()"],
    "deep": ["__import__('memtrack').start(deep=True)"],
    "cell": [],
}
SUITE_TIMEOUT_S = 3600


@dataclass(frozen=True)
class Suite:
    name: str  # the distribution whose sdist holds the tests
    kernels: bool  # its tests start kernels (memtrack goes in through their config)
    args: tuple[str, ...] = ()


SUITES = (
    Suite("ipython", kernels=False),
    Suite("ipykernel", kernels=True),
    Suite("nbclient", kernels=True),
)


@dataclass
class Run:
    outcomes: dict[str, str]  # node id -> passed | failed | error | skipped | xfailed | xpassed
    wall_s: float
    returncode: int
    log: Path


def python_env(mode: str, ipython_dir: Path, results: Path | None) -> dict[str, str]:
    """The environment of a run's pytest, and through it of every kernel it starts."""
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(test_deps())])
    env["MEMTRACK_COMPAT_MODE"] = mode
    if results is not None:
        env["MEMTRACK_COMPAT_RESULTS"] = str(results)
    env["IPYTHONDIR"] = str(ipython_dir)
    env.pop("PYTEST_ADDOPTS", None)
    return env


def load_memtrack_in_kernels(mode: str, env: dict[str, str]) -> None:
    """As a user would: `jupyter memtrack enable --user` into this run's IPython profile, and the
    mode's startup lines beside it."""
    if mode == "bare":
        return
    cli = Path(sys.executable).parent / "jupyter-memtrack"
    subprocess.run([str(cli), "enable", "--user"], env=env, check=True, capture_output=True)
    config = Path(env["IPYTHONDIR"]) / "profile_default" / "ipython_kernel_config.json"
    data = json.loads(config.read_text())
    if KERNEL_STARTUP[mode]:
        data.setdefault("InteractiveShellApp", {})["exec_lines"] = KERNEL_STARTUP[mode]
    config.write_text(json.dumps(data, indent=2))


def run_suite(suite: Suite, mode: str, only: list[str] | None = None) -> Run:
    """Run ``suite`` in ``mode`` (``only``: these node ids) from fresh sources."""
    tag = f"{suite.name}-{mode}" + ("-rerun" if only else "")
    where = RUNS / tag
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    src = unpack(sdist(suite.name, installed_version(suite.name)), where)
    results = where / "outcomes.json"
    env = python_env(mode, where / "ipython", results)
    if suite.kernels:
        load_memtrack_in_kernels(mode, env)
    log = where / "pytest.log"
    cmd = [
        sys.executable, "-m", "pytest", "-q", "--color=no", "-p", "no:cacheprovider",
        "-p", "pytest_memtrack_compat", "-o", "asyncio_default_fixture_loop_scope=function",
        *suite.args, *(only or ()),
    ]  # fmt: skip
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        try:
            proc = subprocess.run(
                cmd, cwd=src, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, timeout=SUITE_TIMEOUT_S,
            )  # fmt: skip
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = -1
    wall = time.perf_counter() - t0
    outcomes = json.loads(results.read_text()) if results.exists() else {}
    return Run(outcomes, wall, code, log)
