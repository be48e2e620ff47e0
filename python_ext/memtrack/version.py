"""The package's version: package.json's, written into ``_version.py`` by the build (hatch's
version hook), or read from the installed distribution when running from a bare checkout."""

from __future__ import annotations

try:
    from ._version import __version__
except ImportError:  # a source checkout that was never built
    from importlib.metadata import PackageNotFoundError, version

    try:
        __version__ = version("jupyterlab-memtrack")
    except PackageNotFoundError:
        __version__ = "0+unknown"
