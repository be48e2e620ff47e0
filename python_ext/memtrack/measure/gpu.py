"""Per-cell GPU memory (the record's ``gpu``), without ever waking a GPU the user did not use.

Only libraries the user has imported (``sys.modules``: importing torch alone takes 1.7 s) *and*
already initialised on a GPU are read, each through counters that neither initialise nor
synchronise anything:

* torch: ``torch.cuda.is_initialized()`` (a plain flag, 0.03 us) gates everything; then one
  ``memory_stats(device)`` per device (the caching allocator's own counters: allocated, its
  high-water mark, reserved). ``mem_get_info``, ``current_device`` and ``synchronize`` would start
  or wait for CUDA and are never called. The high-water mark gives the cell's peak exactly when
  the cell set a new one; otherwise the peak is bounded by the mark (``peak_scope`` "bounded").
  Resetting it (``reset_peak_memory_stats``) changes the user's own ``max_memory_allocated``,
  so it is opt-in: ``memtrack.configure(gpu_peak_reset=True)`` (``peak_scope`` "reset").
* cupy: it has no "initialised" flag and its pool counters call ``cudaGetDeviceCount``, which
  starts the runtime: read only once libcuda is already mapped in the process
  (``dlopen(RTLD_NOLOAD)``, ~60 us, cached once true). The pool's bytes in use and held; no peak
  counter (``peak_scope`` "ends": the larger of the ends, a lower bound).
* jax: its backends are read only once initialised (``backends_are_initialized``); then each GPU
  device's ``memory_stats()`` (bytes in use, their peak, the limit).

NVML's figure for this process per device (other libraries' allocations and the CUDA context
included) is added where ``pynvml`` is importable and a library above is on the GPU.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

GPU_LIBRARIES = ("torch", "cupy", "jax")
PEAK_RESET_ENV = "MEMTRACK_GPU_PEAK_RESET"  # "1": reset torch's high-water mark per cell

SCOPE_CELL = "cell"  # the cell set a new high-water mark: peak exact
SCOPE_RESET = "reset"  # the mark was reset at the cell's start (opt-in): peak exact
SCOPE_BOUNDED = "bounded"  # peak >= the larger of the ends, <= peak_bound (the mark before)
SCOPE_ENDS = "ends"  # no high-water mark: the larger of the ends (a lower bound)

_settings = {"peak_reset": os.environ.get(PEAK_RESET_ENV) == "1"}
_libcuda_mapped = False  # once true, for good: a library never unmaps the driver


def configure(peak_reset: bool | None = None) -> None:
    """``peak_reset``: reset torch's high-water mark at each cell's start, so every cell's
    peak is exact (it changes what ``torch.cuda.max_memory_allocated`` tells the user)."""
    if peak_reset is not None:
        _settings["peak_reset"] = bool(peak_reset)


def libcuda_mapped() -> bool:
    """Whether the CUDA driver library is already loaded in this process (never loads it)."""
    global _libcuda_mapped
    if _libcuda_mapped:
        return True
    try:
        import _ctypes

        _ctypes.dlopen("libcuda.so.1", os.RTLD_NOLOAD | os.RTLD_LAZY)
    except (OSError, AttributeError, ImportError):
        return False
    _libcuda_mapped = True
    return True


# --------------------------------------------------------------------------- per library


def _torch_devices(cuda: Any) -> list[dict[str, Any]]:
    """One reading per device torch's allocator has touched; [] while CUDA is uninitialised."""
    if not cuda.is_initialized():
        return []
    out = []
    for device in range(int(cuda.device_count())):
        stats = cuda.memory_stats(device)
        reserved = int(stats.get("reserved_bytes.all.current", 0))
        peak = int(stats.get("allocated_bytes.all.peak", 0))
        if not reserved and not peak:
            continue  # never used: no figure to give
        out.append(
            {
                "library": "torch",
                "device": device,
                "allocated": int(stats.get("allocated_bytes.all.current", 0)),
                "mark": peak,
                "reserved": reserved,
            }
        )
    return out


def _torch_capacity(cuda: Any, device: int) -> tuple[str | None, int | None]:
    props = cuda.get_device_properties(device)
    return str(getattr(props, "name", "") or "") or None, int(props.total_memory)


def _cupy_devices(cupy: Any) -> list[dict[str, Any]]:
    if not libcuda_mapped():
        return []
    pool = cupy.get_default_memory_pool()
    used, held = int(pool.used_bytes()), int(pool.total_bytes())
    if not used and not held:
        return []
    device = int(cupy.cuda.runtime.getDevice())
    return [
        {"library": "cupy", "device": device, "allocated": used, "mark": None, "reserved": held}
    ]


def _jax_devices(jax: Any, modules: Mapping[str, Any]) -> list[dict[str, Any]]:
    bridge = modules.get("jax._src.xla_bridge")
    if bridge is None or not bridge.backends_are_initialized():
        return []
    out = []
    for device in jax.devices():
        if getattr(device, "platform", "cpu") not in ("gpu", "cuda", "rocm"):
            continue
        stats = device.memory_stats() or {}
        out.append(
            {
                "library": "jax",
                "device": int(getattr(device, "id", 0)),
                "allocated": int(stats.get("bytes_in_use", 0)),
                "mark": int(stats["peak_bytes_in_use"]) if "peak_bytes_in_use" in stats else None,
                "reserved": int(stats["bytes_reserved"]) if "bytes_reserved" in stats else None,
                "capacity": int(stats["bytes_limit"]) if "bytes_limit" in stats else None,
            }
        )
    return out


def read_devices(
    modules: Mapping[str, Any] | None = None, errors: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every initialised GPU library's devices now (``modules``: ``sys.modules`` by default).
    [] at no cost when none of them is imported. A library whose reading fails is left out,
    and said in ``errors`` (library -> text) when given."""
    modules = sys.modules if modules is None else modules
    out: list[dict[str, Any]] = []
    for library, module_name in (("torch", "torch.cuda"), ("cupy", "cupy"), ("jax", "jax")):
        module = modules.get(module_name)
        if module is None:
            continue
        try:
            if library == "torch":
                out += _torch_devices(module)
            elif library == "cupy":
                out += _cupy_devices(module)
            else:
                out += _jax_devices(module, modules)
        except Exception as e:  # a library in a state we do not know: said, never raised
            if errors is not None:
                errors[library] = f"{type(e).__name__}: {str(e)[:80]}"
    return out


def in_use(modules: Mapping[str, Any] | None = None) -> bool:
    """Whether any GPU library is imported at all (three dict lookups)."""
    modules = sys.modules if modules is None else modules
    return "torch.cuda" in modules or "cupy" in modules or "jax" in modules


_capacities: dict[tuple[str, int], int | None] = {}  # a device's total memory does not change


def allocated_now(modules: Mapping[str, Any] | None = None) -> tuple[int, int | None] | None:
    """For the live samples: the bytes all initialised GPU libraries hold for live allocations
    now, and the total memory of the devices they use (each device once, whichever libraries
    use it; None when one device's is unknown); None when no GPU library is in use."""
    if not in_use(modules):
        return None
    modules = sys.modules if modules is None else modules
    devices = read_devices(modules)
    if not devices:
        return None
    by_device: dict[int, int] = {}  # one capacity per device, whichever library reports it
    for d in devices:
        key = (d["library"], d["device"])
        if key not in _capacities:
            _capacities[key] = d.get("capacity")
            if d["library"] == "torch":
                with contextlib.suppress(Exception):
                    _capacities[key] = _torch_capacity(modules["torch.cuda"], d["device"])[1]
        cap = _capacities[key]
        if cap is not None:
            by_device[d["device"]] = max(cap, by_device.get(d["device"], 0))
    known = {d["device"] for d in devices} <= by_device.keys()
    capacity = sum(by_device.values()) if known else None  # a device of unknown size: unknown
    return sum(d["allocated"] for d in devices), capacity


def status_line(modules: Mapping[str, Any] | None = None) -> str:
    """``GPU: torch on 1 device(s)`` or ``GPU: none in use`` (what ``%memtrack status`` says)."""
    devices = read_devices(modules) if in_use(modules) else []
    if not devices:
        return "GPU: none in use"
    libraries: dict[str, int] = {}
    for d in devices:
        libraries[d["library"]] = libraries.get(d["library"], 0) + 1
    return "GPU: " + ", ".join(f"{name} on {n} device(s)" for name, n in libraries.items())


# --------------------------------------------------------------------------- NVML


def _nvml_process_used(modules: Mapping[str, Any], devices: list[int]) -> dict[int, int]:
    """NVML's used memory of this process per CUDA device index (where it can be mapped: without
    CUDA_VISIBLE_DEVICES, or with it as plain indices). {} without pynvml."""
    pynvml = modules.get("pynvml")
    if pynvml is None:
        try:
            import pynvml  # type: ignore[import-not-found, no-redef]  # ctypes only: no GPU work
        except Exception:
            return {}
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        order = [int(v) for v in visible.split(",")] if visible else None
    except ValueError:
        return {}  # UUIDs or MIG names: not mapped
    pynvml.nvmlInit()
    pid = os.getpid()
    out = {}
    for device in devices:
        index = order[device] if order is not None and device < len(order) else device
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        for proc in pynvml.nvmlDeviceGetComputeRunningProcesses(handle):
            if proc.pid == pid and proc.usedGpuMemory is not None:
                out[device] = int(proc.usedGpuMemory)
    return out


# --------------------------------------------------------------------------- one cell


class GpuReading:
    """One cell's GPU readings: :meth:`begin` at its start (None, at no cost, when no GPU
    library is imported), :meth:`end` after it, giving the record's ``gpu`` value."""

    __slots__ = ("_before", "_errors", "_nvml_before", "_read_s", "_reset")

    def __init__(self) -> None:
        self._before: dict[tuple[str, int], dict[str, Any]] = {}
        self._nvml_before: dict[int, int] = {}
        self._reset: set[int] = set()
        self._read_s = 0.0
        self._errors: dict[str, str] = {}  # library -> why its reading failed

    @classmethod
    def begin(cls, modules: Mapping[str, Any] | None = None) -> GpuReading | None:
        if not in_use(modules):
            return None
        reading = cls()
        reading._start(sys.modules if modules is None else modules)
        return reading

    def _start(self, modules: Mapping[str, Any]) -> None:
        t0 = time.perf_counter()
        devices = read_devices(modules, self._errors)
        self._before = {(d["library"], d["device"]): d for d in devices}
        cuda = modules.get("torch.cuda")
        torch_devices = [d["device"] for d in devices if d["library"] == "torch"]
        if _settings["peak_reset"] and cuda is not None and torch_devices:
            try:
                for device in torch_devices:  # initialised (it has readings): safe to call
                    cuda.reset_peak_memory_stats(device)
                    self._reset.add(device)
            except Exception as e:
                self._errors["torch"] = f"peak reset: {type(e).__name__}: {str(e)[:80]}"
        if devices:
            self._nvml_before = self._nvml(modules, devices)
        self._read_s += time.perf_counter() - t0

    def _nvml(self, modules: Mapping[str, Any], devices: list[dict[str, Any]]) -> dict[int, int]:
        cuda_devices = sorted({d["device"] for d in devices if d["library"] in ("torch", "cupy")})
        try:
            return _nvml_process_used(modules, cuda_devices) if cuda_devices else {}
        except Exception:
            return {}

    def end(self, modules: Mapping[str, Any] | None = None) -> list[dict[str, Any]] | None:
        """The record's ``gpu``: one entry per library and device used before or during the
        cell; None when none was."""
        modules = sys.modules if modules is None else modules
        t0 = time.perf_counter()
        devices = read_devices(modules, self._errors)
        nvml = self._nvml(modules, devices) if devices else {}
        entries = [self._entry(modules, d, nvml) for d in devices]
        seen = {(d["library"], d["device"]) for d in devices}
        for key, before in self._before.items():
            if key not in seen:  # gone (the library freed everything it held)
                entries.append(self._entry(modules, None, nvml, before))
        # A library that could not be read: one entry saying why (no figures).
        entries += [
            {"library": library, "device": None, "error": text}
            for library, text in self._errors.items()
            if not any(e["library"] == library for e in entries)
        ]
        if not entries:
            return None
        read_s = round(self._read_s + time.perf_counter() - t0, 6)
        for entry in entries:
            entry["read_s"] = read_s
            if entry["library"] in self._errors and "error" not in entry:
                entry["error"] = self._errors[entry["library"]]
        return entries

    def _entry(
        self,
        modules: Mapping[str, Any],
        now: dict[str, Any] | None,
        nvml: dict[int, int],
        before: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        key = (now or before or {})["library"], (now or before or {})["device"]
        library, device = key
        before = self._before.get(key) if before is None else before
        # Not initialised at the start: nothing was allocated on it then (exactly 0).
        start = before["allocated"] if before is not None else 0
        after = now["allocated"] if now is not None else 0
        entry: dict[str, Any] = {"library": library, "device": device}
        name, capacity = None, (now or {}).get("capacity")
        if library == "torch":
            with contextlib.suppress(Exception):  # a name and capacity are extras
                name, capacity = _torch_capacity(modules["torch.cuda"], device)
        if name:
            entry["name"] = name[:60]
        entry.update(allocated_before=start, allocated_after=after)
        entry.update(self._peak(library, device, before, now, start, after))
        entry.update(
            reserved_before=before.get("reserved") if before is not None else 0,
            reserved_after=now.get("reserved") if now is not None else None,
            capacity=capacity,
        )
        if device in nvml or device in self._nvml_before:
            entry.update(
                process_used_before=self._nvml_before.get(device),
                process_used_after=nvml.get(device),
            )
        return entry

    def _peak(
        self,
        library: str,
        device: int,
        before: dict[str, Any] | None,
        now: dict[str, Any] | None,
        start: int,
        after: int,
    ) -> dict[str, Any]:
        ends = max(start, after)
        mark_now = (now or {}).get("mark")
        if mark_now is None:
            return {"peak": ends, "peak_scope": SCOPE_ENDS}
        if library == "torch" and device in self._reset:
            return {"peak": max(int(mark_now), ends), "peak_scope": SCOPE_RESET}
        mark_before = before.get("mark") if before is not None else 0
        if mark_before is None or mark_now > mark_before:
            return {"peak": int(mark_now), "peak_scope": SCOPE_CELL}  # a new high-water mark
        return {"peak": ends, "peak_scope": SCOPE_BOUNDED, "peak_bound": int(mark_before)}
