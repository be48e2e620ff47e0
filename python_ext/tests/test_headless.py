"""Headless runs: ``jupyter memtrack enable`` and a REAL ``jupyter nbconvert --execute`` of a
notebook with ``%%memtrack`` and light cells, its outputs against the same notebook run without
memtrack; the CLI's edits of the kernel config."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import kernel_env

BIN = Path(sys.executable).parent


def _jupyter(*args, env, cwd=None, check=True):
    run = subprocess.run(
        [str(BIN / "jupyter"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert run.returncode == 0, run.stdout + run.stderr
    return run


CELLS = [
    "import sys\nvalues = list(range(1000))\nprint('loaded', len(values))",
    "%%memtrack\nrows = [{'i': i} for i in range(20_000)]\nlen(rows)",
    "%memtrack on",
    "squares = [i * i for i in values]\nprint(sum(squares))\nsquares[:3]",
    "import warnings\nwarnings.warn('careful')\nx = 2\nx",
    "def quiet():\n    pass\nquiet()",
    "%memtrack report",
]
# The same notebook without memtrack: its magics' lines taken out.
BARE = [
    CELLS[0],
    "rows = [{'i': i} for i in range(20_000)]\nlen(rows)",
    "pass",
    CELLS[3],
    CELLS[4],
    CELLS[5],
    "pass",
]


def _notebook(path: Path, sources: list[str]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


def _outputs(path: Path) -> list[list[dict]]:
    """Each cell's outputs, the kernel's pid taken out of its code file names (a warning's)."""
    nb = nbformat.read(path, as_version=4)
    text = re.sub(
        r"ipykernel_\d+", "ipykernel_PID", json.dumps([c.get("outputs", []) for c in nb.cells])
    )
    return json.loads(text)


def _is_summary(output: dict) -> bool:
    return "memtrack-summary" in (output.get("data") or {}).get("text/html", "")


def test_nbconvert_runs_a_memtrack_notebook_after_enable(tmp_path_factory, tmp_path):
    env = kernel_env(tmp_path_factory)  # its own IPYTHONDIR: the user's profile is not touched
    env["PATH"] = os.pathsep.join((str(BIN), env.get("PATH", "")))
    run = _jupyter("memtrack", "enable", "--user", env=env)
    assert "memtrack enabled" in run.stdout
    config = Path(env["IPYTHONDIR"]) / "profile_default" / "ipython_kernel_config.json"
    assert json.loads(config.read_text())["InteractiveShellApp"]["extra_extensions"] == ["memtrack"]

    tracked, bare = tmp_path / "tracked.ipynb", tmp_path / "bare.ipynb"
    _notebook(tracked, CELLS)
    _notebook(bare, BARE)
    for nb in (tracked, bare):
        _jupyter("nbconvert", "--to", "notebook", "--execute", "--inplace", str(nb), env=env)

    got, want = _outputs(tracked), _outputs(bare)
    assert len(got) == len(want)
    # The %%memtrack cell: its own outputs, then its summary (the one output memtrack adds).
    summary = got[1][-1]
    assert _is_summary(summary) and "memtrack" in summary["data"]["text/plain"]
    assert got[1][:-1] == want[1]
    # %memtrack on says what it does; light cells add nothing to the saved notebook.
    (line,) = got[2]
    assert "tracking every cell (light mode)" in line["text"] and "report" in line["text"]
    for i in (0, 3, 4, 5):
        assert got[i] == want[i], (i, got[i], want[i])
    # The report at the end lists the light cells (asked for: the one summary of the run).
    report = "".join(o.get("text", "") for o in got[6])
    assert "squares" in report or "[4]" in report, report

    run = _jupyter("memtrack", "disable", "--user", env=env)
    assert "memtrack disabled" in run.stdout and not config.exists()


def test_cli_edits_the_config_and_keeps_the_users_settings(tmp_path):
    from memtrack import cli

    path = tmp_path / "etc" / "ipython" / cli.CONFIG_NAME
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"IPKernelApp": {"matplotlib": "inline"}}))
    assert cli.enable(path) and not cli.enable(path)  # the second time: already there
    data = json.loads(path.read_text())
    assert data["IPKernelApp"] == {"matplotlib": "inline"}
    assert data["InteractiveShellApp"]["extra_extensions"] == ["memtrack"]
    assert cli.is_enabled(path)
    assert cli.disable(path) and not cli.disable(path)
    assert json.loads(path.read_text()) == {"IPKernelApp": {"matplotlib": "inline"}}

    path.write_text("{not json")
    with pytest.raises(cli.ConfigError, match="cannot read"):
        cli.enable(path)
    assert path.read_text() == "{not json"  # nothing lost
    path.write_text(json.dumps({"InteractiveShellApp": {"extra_extensions": "memtrack"}}))
    with pytest.raises(cli.ConfigError, match="not a list"):
        cli.enable(path)
    assert cli.main(["status", "--sys-prefix"]) == 0
    with pytest.raises(SystemExit):
        cli.main(["enable", "--everywhere"])
