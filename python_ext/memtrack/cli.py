"""``jupyter memtrack enable|disable|status [--sys-prefix|--user]``: load memtrack in every IPython
kernel of an environment (or of the user), so that a notebook with ``%%memtrack`` cells runs
under ``jupyter nbconvert --execute`` or papermill unchanged, where no JupyterLab loads it.

It adds ``memtrack`` to ``InteractiveShellApp.extra_extensions`` in an
``ipython_kernel_config.json`` that IPython kernels read at start: ``{sys.prefix}/etc/ipython``
(``--sys-prefix``, the default: this environment's kernels) or the IPython profile
(``--user``: ``$IPYTHONDIR/profile_default``). A JSON file beside any ``.py`` config: the
user's own settings are kept, and the file is edited, never replaced (written whole or not at
all). Terminal IPython is not affected.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

EXTENSION = "memtrack"
CONFIG_NAME = "ipython_kernel_config.json"
SECTION, KEY = "InteractiveShellApp", "extra_extensions"


class ConfigError(Exception):
    """A config file memtrack cannot edit safely (the text says which and why)."""


def config_path(user: bool) -> Path:
    """The kernel config file of this environment, or of the user's IPython profile."""
    if user:
        from IPython.paths import get_ipython_dir

        return Path(get_ipython_dir()) / "profile_default" / CONFIG_NAME
    return Path(sys.prefix) / "etc" / "ipython" / CONFIG_NAME


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text("utf-8") or "{}")
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read {path}: {e}; fix or remove it, then run this again") from e
    if not isinstance(data, dict) or not isinstance(data.get(SECTION, {}), dict):
        raise ConfigError(f"{path} is not an IPython JSON config (an object of sections)")
    extensions = data.get(SECTION, {}).get(KEY, [])
    if not isinstance(extensions, list):
        raise ConfigError(f"{path}: {SECTION}.{KEY} is not a list")
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def is_enabled(path: Path) -> bool:
    return EXTENSION in _read(path).get(SECTION, {}).get(KEY, [])


def enable(path: Path) -> bool:
    """Add memtrack to the file's extensions; False when it was there already."""
    data = _read(path)
    extensions = data.setdefault(SECTION, {}).setdefault(KEY, [])
    if EXTENSION in extensions:
        return False
    extensions.append(EXTENSION)
    _write(path, data)
    return True


def disable(path: Path) -> bool:
    """Take memtrack out of the file's extensions (the file goes when nothing else is left in
    it); False when it was not there."""
    data = _read(path)
    section = data.get(SECTION, {})
    extensions = section.get(KEY, [])
    if EXTENSION not in extensions:
        return False
    section[KEY] = [e for e in extensions if e != EXTENSION]
    if not section[KEY]:
        del section[KEY]
    if not section:
        data.pop(SECTION, None)
    if data:
        _write(path, data)
    else:
        path.unlink()
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="jupyter memtrack",
        description="Load memtrack in every IPython kernel of this environment (or of the "
        "user), so that notebooks with %%memtrack cells run headless (nbconvert, papermill).",
    )
    parser.add_argument("action", choices=("enable", "disable", "status"))
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--sys-prefix",
        action="store_true",
        help=f"this environment's kernels ({Path(sys.prefix) / 'etc' / 'ipython'}; the default)",
    )
    where.add_argument(
        "--user", action="store_true", help="the user's kernels (the IPython profile)"
    )
    args = parser.parse_args(argv)
    path = config_path(user=args.user)
    try:
        if args.action == "enable":
            done = enable(path)
            state = "enabled" if done else "already enabled"
            print(f"memtrack {state}: every IPython kernel started from now on loads it ({path})")
        elif args.action == "disable":
            done = disable(path)
            state = "disabled" if done else "was not enabled"
            print(f"memtrack {state} in {path}")
        else:
            on = is_enabled(path)
            print(f"memtrack is {'enabled' if on else 'not enabled'} in {path}")
    except (ConfigError, OSError) as e:
        print(f"jupyter memtrack: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - python -m memtrack.cli
    sys.exit(main())
