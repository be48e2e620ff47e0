"""The extension installs the way users install it: one wheel, prebuilt.

These tests need the frontend built (`make setup` does it; `make test-py`
depends on it).
"""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LABEXT = ROOT / "python_ext" / "memtrack" / "labextension"
SHARE = "jupyterlab_memtrack-{version}.data/data/share/jupyter/labextensions/jupyterlab-memtrack"


def _version() -> str:
    return json.loads((ROOT / "package.json").read_text())["version"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    assert (LABEXT / "static" / "style.js").exists(), (
        "the labextension is not built: run `make setup` first"
    )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-build-isolation",
            "--no-deps",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        check=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    (built,) = out.glob("jupyterlab_memtrack-*.whl")
    return built


def test_wheel_ships_the_prebuilt_labextension(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    share = SHARE.format(version=_version())
    assert f"{share}/package.json" in names
    assert f"{share}/install.json" in names
    assert f"{share}/schemas/jupyterlab-memtrack/plugin.json" in names
    assert any(n.startswith(f"{share}/static/remoteEntry.") for n in names)
    # The kernel side and the wire schema travel in the same wheel.
    assert "memtrack/__init__.py" in names
    assert "memtrack/wire/message.schema.json" in names


def test_wheel_install_json_names_the_python_package(wheel):
    share = SHARE.format(version=_version())
    install = json.loads(zipfile.ZipFile(wheel).read(f"{share}/install.json"))
    assert install["packageManager"] == "python"
    assert install["packageName"] == "jupyterlab-memtrack"


def test_labextension_is_enabled_and_ok():
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    listing = result.stdout + result.stderr
    line = next((ln for ln in listing.splitlines() if "jupyterlab-memtrack" in ln), "")
    assert "enabled" in line and "OK" in line, listing
