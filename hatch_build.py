"""Builds memtrack's native engine, memtrack/measure/_native<EXT_SUFFIX>, from _native.c.

Registered in pyproject.toml as hatchling's custom build hook: `pip install .`, `pip wheel .`
and `pip install -e .` compile the C file with the compiler and flags Python was built with
(sysconfig's CC, CFLAGS, CCSHARED and LDSHARED; the environment's CC, CFLAGS, LDSHARED and
LDFLAGS override or extend them, as distutils did). A wheel with the engine is tagged for this
interpreter and platform; an editable install puts the module next to the C file.

Without a working compiler the build still succeeds: it prints one warning line and the wheel
stays pure (py3-none-any); memtrack then measures with tracemalloc (memtrack.measure.engine).
MEMTRACK_NO_NATIVE=1 skips the engine on purpose.

`python hatch_build.py` (`make native`) compiles it in place for developers, showing the
compiler's output and failing when the compiler does.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).resolve().parent
SOURCE = Path("python_ext", "memtrack", "measure", "_native.c")
WHEEL_DIR = "memtrack/measure"
SKIP_ENV = "MEMTRACK_NO_NATIVE"


class NativeBuildError(Exception):
    """The engine could not be compiled; the message is one line, the details are the output."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


def module_name() -> str:
    return "_native" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")


def _config(name: str) -> str:
    return sysconfig.get_config_var(name) or ""


def commands(source: Path, target: Path, obj: Path) -> list[list[str]]:
    """The compile and the link commands, from sysconfig and the usual environment variables."""
    cc = os.environ.get("CC") or _config("CC")
    if not cc:
        raise NativeBuildError("sysconfig names no C compiler for this Python")
    ldshared = os.environ.get("LDSHARED")
    if not ldshared:
        ldshared = _config("LDSHARED") or f"{_config('CC')} -shared"
        if os.environ.get("CC"):
            # The link step uses the same compiler as the compile step (distutils did the same).
            ldshared = " ".join([cc, *shlex.split(ldshared)[1:]])
    cflags = [
        *shlex.split(_config("CFLAGS")),
        *shlex.split(os.environ.get("CFLAGS", "")),
        *shlex.split(_config("CCSHARED")),
        "-O2",
    ]
    include = sysconfig.get_paths()["include"]
    compile_cmd = [*shlex.split(cc), *cflags, "-I", include, "-c", str(source), "-o", str(obj)]
    link_cmd = [
        *shlex.split(ldshared),
        *shlex.split(os.environ.get("LDFLAGS", "")),
        str(obj),
        "-o",
        str(target),
    ]
    return [compile_cmd, link_cmd]


def compile_native(source: Path, target: Path) -> None:
    """Compiles source into target (a shared module), through a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="memtrack-native-") as tmp:
        built = Path(tmp, target.name)
        for cmd in commands(source, built, Path(tmp, "_native.o")):
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)
            except FileNotFoundError as exc:
                raise NativeBuildError(f"no C compiler: {cmd[0]} not found") from exc
            except (OSError, subprocess.SubprocessError) as exc:
                raise NativeBuildError(f"{cmd[0]} could not run ({exc})") from exc
            if done.returncode != 0:
                output = (done.stdout + done.stderr).strip()
                first = next((ln for ln in output.splitlines() if "error" in ln.lower()), "")
                detail = f": {first.strip()[:200]}" if first else ""
                raise NativeBuildError(
                    f"{Path(cmd[0]).name} exited with {done.returncode}{detail}",
                    "\n".join([shlex.join(cmd), output]).strip(),
                )
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp_target = target.with_name(target.name + ".tmp")
        shutil.copyfile(built, tmp_target)
        os.replace(tmp_target, target)


def _skipped() -> bool:
    return os.environ.get(SKIP_ENV, "").strip() not in ("", "0")


class NativeBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel":
            return  # the sdist ships _native.c as source; nothing to build
        source = Path(self.root, SOURCE)
        editable = version == "editable"
        # The editable install imports the module from the checkout, next to the C file.
        in_place = source.with_name(module_name())
        if _skipped():
            if editable:
                in_place.unlink(missing_ok=True)
            self._say(f"memtrack: {SKIP_ENV}=1: native engine not built; memtrack uses tracemalloc")
            return
        if editable:
            target = in_place
        else:
            self._tmp = tempfile.mkdtemp(prefix="memtrack-native-wheel-")
            target = Path(self._tmp, module_name())
        try:
            compile_native(source, target)
        except NativeBuildError as exc:
            if editable:
                in_place.unlink(missing_ok=True)  # a stale module would hide the fallback
            self._say(
                f"WARNING: memtrack: native engine not built ({exc}); "
                "memtrack falls back to tracemalloc at runtime"
            )
            return
        if not editable:
            build_data["force_include"][str(target)] = f"{WHEEL_DIR}/{module_name()}"
            build_data["pure_python"] = False
            build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict, artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
            self._tmp = None

    @staticmethod
    def _say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)


def main() -> int:
    """Compiles the engine in place (the editable install's location), for `make native`."""
    source = ROOT / SOURCE
    target = source.with_name(module_name())
    try:
        compile_native(source, target)
    except NativeBuildError as exc:
        if exc.output:
            print(exc.output, file=sys.stderr)
        print(f"memtrack: native engine not built: {exc}", file=sys.stderr)
        return 1
    print(f"built {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
