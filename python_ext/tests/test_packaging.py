"""The extension installs the way users install it: one wheel, prebuilt.

These tests need the frontend built (`make setup` does it; `make test-py`
depends on it).
"""

import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LABEXT = ROOT / "python_ext" / "memtrack" / "labextension"
SHARE = "jupyterlab_memtrack-{version}.data/data/share/jupyter/labextensions/jupyterlab-memtrack"


def _version() -> str:
    return json.loads((ROOT / "package.json").read_text())["version"]


def _build_wheel(out: Path, **env: str) -> tuple[Path, str]:
    """`pip wheel .` into out, verbose so that the build's own lines are in the output.

    The labextension is not rebuilt (the jupyter-builder hook skips when style.js exists).
    """
    environ = {k: v for k, v in os.environ.items() if k not in ("MEMTRACK_NO_NATIVE", "CC")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-v",
            "--no-build-isolation",
            "--no-deps",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        env={**environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **env},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    (built,) = out.glob("jupyterlab_memtrack-*.whl")
    return built, output


def _native_warnings(output: str) -> list[str]:
    return [ln for ln in output.splitlines() if "WARNING: memtrack: native engine" in ln]


def _has_compiler() -> bool:
    cc = sysconfig.get_config_var("CC")
    return bool(cc) and shutil.which(shlex.split(cc)[0]) is not None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    assert (LABEXT / "static" / "style.js").exists(), (
        "the labextension is not built: run `make setup` first"
    )
    built, _ = _build_wheel(tmp_path_factory.mktemp("wheel"))
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


def _wheel_tag(wheel: Path) -> str:
    (name,) = (n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/WHEEL"))
    text = zipfile.ZipFile(wheel).read(name).decode()
    return next(ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("Tag:"))


def _native_modules(wheel: Path) -> list[str]:
    return [
        n
        for n in zipfile.ZipFile(wheel).namelist()
        if n.startswith("memtrack/measure/_native") and not n.endswith(".py")
    ]


def test_wheel_with_a_compiler_ships_the_native_engine(wheel, tmp_path):
    # The project's machines have gcc (the brief): without it this fails, it does not skip.
    assert _has_compiler(), "no C compiler (sysconfig's CC) on this machine"
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    assert _native_modules(wheel) == [f"memtrack/measure/_native{suffix}"]
    assert not _wheel_tag(wheel).endswith("none-any")
    assert not wheel.name.endswith("-none-any.whl")
    assert "memtrack/measure/_native.c" not in zipfile.ZipFile(wheel).namelist()
    # The module loads in this interpreter.
    so = tmp_path / f"_native{suffix}"
    so.write_bytes(zipfile.ZipFile(wheel).read(f"memtrack/measure/_native{suffix}"))
    spec = importlib.util.spec_from_file_location("_native", so)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.__name__ == "_native"


def test_wheel_without_a_compiler_is_pure_and_warns_once(tmp_path):
    wheel, output = _build_wheel(tmp_path, CC="/bin/false")
    assert _native_modules(wheel) == []
    assert wheel.name.endswith("-py3-none-any.whl")
    assert _wheel_tag(wheel) == "py3-none-any"
    (warning,) = _native_warnings(output)
    assert "tracemalloc" in warning


def test_memtrack_no_native_skips_the_engine(tmp_path):
    wheel, output = _build_wheel(tmp_path, MEMTRACK_NO_NATIVE="1")
    assert _native_modules(wheel) == []
    assert _wheel_tag(wheel) == "py3-none-any"
    assert _native_warnings(output) == []
    assert "MEMTRACK_NO_NATIVE=1" in output


def test_sdist_ships_the_native_source():
    # hatchling's own per-file test for the sdist (building one walks node_modules: seconds).
    from hatchling.builders.sdist import SdistBuilder

    config = SdistBuilder(str(ROOT)).config
    assert config.include_path("python_ext/memtrack/measure/_native.c")
    assert config.include_path("hatch_build.py")
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    assert not config.include_path(f"python_ext/memtrack/measure/_native{suffix}")
