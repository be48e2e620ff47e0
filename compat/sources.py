"""The foreign test sources, pinned to what is installed: each package's sdist from PyPI (pip
download, cached under compat/.cache/sdist), unpacked fresh for each run, and the few packages
the suites need beyond the project's own (installed with --target into compat/.cache/deps, so
the project's .venv stays as it is)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"
SDISTS = CACHE / "sdist"
DEPS = CACHE / "deps"
# What the suites import or configure beyond the project's dependencies (their test extras),
# pinned so that a run today and one next month compare the same things.
TEST_DEPS = (
    "pytest-asyncio==1.5.0",
    "pytest-timeout==2.4.0",
    "testpath==0.6.0",
    "flaky==3.8.1",
    "xmltodict==1.0.4",
    "pytest-cov==7.1.0",
    "coverage==7.17.5",
)


def installed_version(dist: str) -> str:
    return metadata.version(dist)


def sdist(dist: str, version: str) -> Path:
    """The sdist of ``dist==version``, downloaded once."""
    SDISTS.mkdir(parents=True, exist_ok=True)
    name = dist.lower().replace("-", "_")
    found = [p for p in SDISTS.glob("*.tar.gz") if p.name.lower() == f"{name}-{version}.tar.gz"]
    if found:
        return found[0]
    # --no-build-isolation: pip reads the metadata with the build backends already installed
    # instead of installing them (minutes) for each package.
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--no-build-isolation", "--no-binary", ":all:", f"{dist}=={version}",
            "-d", str(SDISTS),
        ],
        check=True,
    )  # fmt: skip
    return sdist(dist, version)


def unpack(archive: Path, into: Path) -> Path:
    """A fresh copy of the sources (suites write into their own tree)."""
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        top = tar.getnames()[0].split("/")[0]
        target = into / top
        if target.exists():
            shutil.rmtree(target)
        tar.extractall(into, filter="data")
    return target


def test_deps() -> Path:
    """The suites' own test dependencies, installed once into compat/.cache/deps."""
    stamp = DEPS / ".installed"
    wanted = "\n".join(TEST_DEPS)
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run(
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade",
                "--target", str(DEPS), *TEST_DEPS,
            ],
            check=True,
        )  # fmt: skip
        stamp.write_text(wanted)
    return DEPS
