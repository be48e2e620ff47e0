"""Real notebooks that need no network, executed with nbclient bare and with memtrack in each
mode, their outputs compared cell by cell.

The notebooks: those the installed nbclient's and nbconvert's sdists ship (their test and
documentation notebooks, ipywidgets' "Widget List" among them; the ipywidgets sdist ships none).
Left out: those that need what executing alone cannot give (a network, stdin, a kernel killed or
interrupted on purpose, another language). Each is run twice bare: a cell whose outputs differ
between the two bare runs (times, random ids) is reported as unstable and not compared.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from pytest_memtrack_compat import prefixed
from sources import installed_version, sdist, unpack
from suites import RUNS, load_memtrack_in_kernels, python_env

SOURCES = ("nbclient", "nbconvert")
LEFT_OUT = {
    "Autokill.ipynb": "kills its kernel",
    "Interrupt.ipynb": "waits to be interrupted",
    "Disable Stdin.ipynb": "reads stdin",
    "notebook_jl.ipynb": "Julia",
    "nbconvert_library.ipynb": "downloads a notebook",
}
CELL_TIMEOUT_S = 60
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_VOLATILE = (
    (re.compile(r"0x[0-9a-fA-F]+"), "0x?"),
    (re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}"), "ID"),  # widgets
    (re.compile(r"ipython-input-\d+-[0-9a-f]+"), "ipython-input"),
    (re.compile(r"/tmp/[^\s'\"]+"), "/tmp/?"),
)


def notebooks() -> list[Path]:
    found = []
    for dist in SOURCES:
        src = unpack(sdist(dist, installed_version(dist)), RUNS / "notebook-sources")
        found += sorted(p for p in src.rglob("*.ipynb") if p.name not in LEFT_OUT)
    return found


def _text(value: Any) -> str:
    text = "".join(value) if isinstance(value, list) else str(value)
    text = _ANSI.sub("", text)
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text


def comparable(cell: dict) -> list[Any]:
    """A code cell's outputs as they can be compared across runs."""
    out: list[Any] = [cell.get("execution_count")]
    for o in cell.get("outputs", []):
        kind = o.get("output_type")
        if kind == "stream":
            out.append((kind, o.get("name"), _text(o.get("text", ""))))
        elif kind == "error":
            out.append((kind, o.get("ename"), _text(o.get("evalue")), _text(o.get("traceback"))))
        else:
            data = {k: _text(v) for k, v in sorted(o.get("data", {}).items())}
            out.append((kind, o.get("execution_count"), data))
    return out


@contextlib.contextmanager
def kernel_env(env: dict[str, str]):
    """nbclient's kernels inherit this process's environment."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def execute_all(
    mode: str, run_name: str, only: set[str] | None = None
) -> tuple[dict[tuple[str, int], list[Any]], float]:
    """Every notebook (``only``: these names) executed in ``mode``: outputs by (name, cell)."""
    where = RUNS / f"notebooks-{run_name}"
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    env = python_env(mode, where / "ipython", None)
    load_memtrack_in_kernels(mode, env)
    cells: dict[tuple[str, int], list[Any]] = {}
    t0 = time.perf_counter()
    with kernel_env(env):
        for path in notebooks():
            if only is not None and path.name not in only:
                continue
            nb = nbformat.read(path, as_version=4)
            run_nb = copy.deepcopy(nb)
            if mode == "cell":
                for cell in run_nb.cells:
                    if cell.cell_type == "code":
                        cell.source = prefixed(cell.source)
            client = NotebookClient(
                run_nb,
                timeout=CELL_TIMEOUT_S,
                kernel_name="python3",
                allow_errors=True,
                resources={"metadata": {"path": str(path.parent)}},
            )
            try:
                client.execute()
            except Exception as e:  # a notebook that cannot run at all: one entry saying why
                cells[(path.name, -1)] = [f"{type(e).__name__}: {_text(str(e))[:200]}"]
            for i, cell in enumerate(run_nb.cells):
                if cell.cell_type == "code":
                    cells[(path.name, i)] = comparable(cell)
    return cells, time.perf_counter() - t0


def differing(
    bare: dict[tuple[str, int], list[Any]],
    tracked: dict[tuple[str, int], list[Any]],
    unstable: set[tuple[str, int]],
    names: set[str] | None = None,
) -> list[tuple[str, int]]:
    """Cells whose outputs differ (a notebook that failed to run only tracked: its (name, -1))."""
    keys = sorted(set(bare) | set(tracked))
    if names is not None:
        keys = [k for k in keys if k[0] in names]
    return [k for k in keys if k not in unstable and tracked.get(k) != bare.get(k)]


def run_notebooks(modes: list[str]) -> int:
    """Execute, compare, print; the number of cells whose outputs tracking changed."""
    print("== notebooks: bare (twice)", flush=True)
    bare, bare_s = execute_all("bare", "bare")
    again, _ = execute_all("bare", "bare-again")
    unstable = {k for k in bare if again.get(k) != bare[k]}
    n_notebooks = len({k[0] for k in bare})
    print(
        f"   {n_notebooks} notebooks, {len(bare)} code cells; {len(unstable)} unstable between "
        f"two bare runs, not compared: " + ", ".join(f"{n}[{i}]" for n, i in sorted(unstable))
    )
    changed_total = 0
    for mode in modes:
        print(f"== notebooks: {mode}", flush=True)
        tracked, wall = execute_all(mode, mode)
        changed = differing(bare, tracked, unstable)
        flaky = []
        if changed:  # run those notebooks again: a difference that goes away is timing
            again, _ = execute_all(mode, f"{mode}-again", {name for name, _ in changed})
            still = set(differing(bare, again, unstable, {name for name, _ in changed}))
            flaky = [k for k in changed if k not in still]
            changed = [k for k in changed if k in still]
        for name, i in flaky:
            print(f"   flaky {mode}: {name} cell {i} (differed, then matched when run again)")
        for name, i in changed:
            print(f"   CHANGED {mode}: {name} cell {i}")
            print(f"      bare:    {bare[(name, i)]!r:.300}")
            print(f"      tracked: {tracked.get((name, i))!r:.300}")
            print(f"      again:   {again.get((name, i))!r:.300}")
        print(
            f"   {mode}: {len(bare) - len(unstable)} cells compared, {len(changed)} changed, "
            f"{len(flaky)} flaky, "
            f"wall time {wall / bare_s:.2f}x ({wall:.0f} s / {bare_s:.0f} s)"
        )
        changed_total += len(changed)
    return changed_total
