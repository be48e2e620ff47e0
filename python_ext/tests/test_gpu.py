"""GPU memory per cell (memtrack.measure.gpu), honestly without a GPU here: the REAL CPU build of
torch, jax and cupy in a real kernel never initialise CUDA under tracking; the reading path is
checked against scripted stand-ins whose every init or sync call raises (no real part can run
without a GPU)."""

from __future__ import annotations

import json
import types

import pytest
from conftest import real_kernel, record_validator
from memtrack.measure import gpu
from test_kernel import execute, stdout_text

MB = 1_000_000


def _ok(kc, code):
    reply = execute(kc, code)
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply


def test_real_torch_jax_and_cupy_on_the_cpu_never_wake_cuda(tmp_path_factory):
    """Tracked cells (light and deep) that import and use torch, jax and cupy on the CPU: CUDA
    stays uninitialised, libcuda is never mapped, no /dev/nvidia* is opened, no gpu figures."""
    with real_kernel(tmp_path_factory) as (_km, kc):
        _ok(kc, "%load_ext memtrack")
        _ok(kc, "%memtrack on")
        _ok(kc, "import torch\nx = torch.ones(1000, 1000)\ny = x @ x")
        _ok(kc, "%%memtrack\nz = torch.randn(500, 500).sum()")
        _ok(kc, "import jax, jax.numpy as jnp\na = jnp.ones(1000).sum().block_until_ready()")
        _ok(kc, "import cupy")
        _ok(kc, "w = [torch.zeros(10) for _ in range(100)]")
        _ok(kc, "%memtrack off")
        reply = _ok(
            kc,
            "import os, json, memtrack\n"
            "maps = open('/proc/self/maps').read()\n"
            "fds = [os.readlink(f'/proc/self/fd/{f}') for f in os.listdir('/proc/self/fd')\n"
            "       if os.path.exists(f'/proc/self/fd/{f}')]\n"
            "print(json.dumps({'initialized': torch.cuda.is_initialized(),\n"
            "  'libcuda': 'libcuda' in maps, 'nvidia': [f for f in fds if 'nvidia' in f],\n"
            "  'records': memtrack.history()}))",
        )
        state = json.loads(stdout_text(reply["iopub"]).strip().splitlines()[-1])
    assert state["initialized"] is False
    assert state["libcuda"] is False and state["nvidia"] == []
    records = state["records"]
    assert len(records) >= 5
    for record in records:
        record_validator().validate(record)
        assert record.get("gpu") is None, record["gpu"]


def test_a_notebook_without_gpu_libraries_pays_nothing():
    assert gpu.GpuReading.begin({}) is None
    assert gpu.allocated_now({}) is None
    assert gpu.read_devices({}) == []


# --------------------------------------------------------------------------- stand-ins


class Forbidden(AssertionError):
    pass


def _forbidden(name):
    def call(*args, **kwargs):
        raise Forbidden(f"{name} would initialise or synchronise the GPU")

    return call


def _torch_cuda(stats, initialized=True, reset_allowed=False):
    """A stand-in for torch.cuda: the counters memtrack may read, and raising init/sync calls.
    ``stats[device]`` is a dict the test changes between the readings."""
    cuda = types.SimpleNamespace()
    cuda.is_initialized = lambda: initialized
    cuda.device_count = lambda: len(stats)
    cuda.memory_stats = lambda device: dict(stats[device])
    cuda.get_device_properties = lambda device: types.SimpleNamespace(
        name="Stand-in GPU", total_memory=80_000 * MB
    )
    cuda.resets = []
    starts_or_waits = (
        "init",
        "_lazy_init",
        "synchronize",
        "mem_get_info",
        "current_device",
        "empty_cache",
        "set_device",
        "memory_allocated",
        "max_memory_allocated",
    )
    for name in starts_or_waits:
        setattr(cuda, name, _forbidden(name))
    if reset_allowed:

        def reset(device):
            cuda.resets.append(device)
            now = stats[device]["allocated_bytes.all.current"]
            stats[device]["allocated_bytes.all.peak"] = now

        cuda.reset_peak_memory_stats = reset
    else:
        cuda.reset_peak_memory_stats = _forbidden("reset_peak_memory_stats")
    return cuda


def _stats(allocated, peak, reserved):
    return {
        "allocated_bytes.all.current": allocated,
        "allocated_bytes.all.peak": peak,
        "reserved_bytes.all.current": reserved,
    }


def test_torch_reading_path_with_a_stand_in():
    stats = {0: _stats(100 * MB, 500 * MB, 600 * MB), 1: _stats(0, 0, 0)}
    modules = {"torch": object(), "torch.cuda": _torch_cuda(stats)}
    reading = gpu.GpuReading.begin(modules)
    # The cell allocates 1 GB and sets a new high-water mark, then frees 200 MB.
    stats[0].update(_stats(900 * MB, 1100 * MB, 1200 * MB))
    (entry,) = reading.end(modules)  # device 1 was never used: no entry
    assert entry["library"] == "torch" and entry["device"] == 0 and entry["name"] == "Stand-in GPU"
    assert entry["allocated_before"] == 100 * MB and entry["allocated_after"] == 900 * MB
    assert entry["peak"] == 1100 * MB and entry["peak_scope"] == "cell"
    assert entry["reserved_before"] == 600 * MB and entry["reserved_after"] == 1200 * MB
    assert entry["capacity"] == 80_000 * MB and "error" not in entry

    # A cell below the high-water mark: its peak is bounded, and said.
    reading = gpu.GpuReading.begin(modules)
    stats[0].update(_stats(700 * MB, 1100 * MB, 1200 * MB))
    (entry,) = reading.end(modules)
    assert entry["peak_scope"] == "bounded"
    assert entry["peak"] == 900 * MB and entry["peak_bound"] == 1100 * MB

    from memtrack.record import record_delta, record_peak

    record = {"gpu": [entry]}
    assert record_delta(record, "gpu") == -200 * MB
    assert record_peak(record, "gpu") == 0


def test_torch_peak_reset_is_opt_in():
    stats = {0: _stats(100 * MB, 900 * MB, 1000 * MB)}
    cuda = _torch_cuda(stats, reset_allowed=True)
    modules = {"torch.cuda": cuda}
    gpu.configure(peak_reset=True)
    try:
        reading = gpu.GpuReading.begin(modules)
        stats[0].update(_stats(150 * MB, 400 * MB, 1000 * MB))
        (entry,) = reading.end(modules)
    finally:
        gpu.configure(peak_reset=False)
    assert cuda.resets == [0]
    assert entry["peak_scope"] == "reset" and entry["peak"] == 400 * MB


def test_uninitialised_torch_and_a_library_that_fails_are_never_raised():
    stats = {0: _stats(0, 0, 0)}
    assert gpu.GpuReading.begin({"torch.cuda": _torch_cuda(stats, initialized=False)}).end(
        {"torch.cuda": _torch_cuda(stats, initialized=False)}
    ) is None  # fmt: skip

    broken = _torch_cuda(stats)
    broken.memory_stats = _forbidden("memory_stats")
    entries = gpu.GpuReading.begin({"torch.cuda": broken}).end({"torch.cuda": broken})
    (entry,) = entries
    assert entry["library"] == "torch" and entry["device"] is None
    assert "Forbidden" in entry["error"] and "allocated_after" not in entry


def test_cuda_initialised_during_the_cell_starts_from_zero():
    stats = {0: _stats(0, 0, 0)}
    state = {"on": False}
    cuda = _torch_cuda(stats)
    cuda.is_initialized = lambda: state["on"]
    modules = {"torch.cuda": cuda}
    reading = gpu.GpuReading.begin(modules)
    state["on"] = True
    stats[0].update(_stats(1000 * MB, 1000 * MB, 1024 * MB))
    (entry,) = reading.end(modules)
    assert entry["allocated_before"] == 0 and entry["allocated_after"] == 1000 * MB
    assert entry["peak"] == 1000 * MB and entry["peak_scope"] == "cell"


def test_cupy_is_read_only_once_libcuda_is_mapped(monkeypatch):
    pool = types.SimpleNamespace(used_bytes=lambda: 300 * MB, total_bytes=lambda: 512 * MB)
    cupy = types.SimpleNamespace(
        get_default_memory_pool=lambda: pool,
        cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDevice=lambda: 0)),
    )
    assert gpu.libcuda_mapped() is False  # this machine: no driver loaded
    assert gpu.read_devices({"cupy": cupy}) == []  # so the pool is never asked
    monkeypatch.setattr(gpu, "_libcuda_mapped", True)  # as on a machine where it is
    (device,) = gpu.read_devices({"cupy": cupy})
    assert device["allocated"] == 300 * MB and device["reserved"] == 512 * MB
    reading = gpu.GpuReading.begin({"cupy": cupy})
    (entry,) = reading.end({"cupy": cupy})
    assert entry["peak_scope"] == "ends" and entry["peak"] == 300 * MB


def test_jax_gpu_devices_and_nvml_with_stand_ins(monkeypatch):
    device = types.SimpleNamespace(
        platform="gpu",
        id=0,
        memory_stats=lambda: {"bytes_in_use": 50 * MB, "peak_bytes_in_use": 70 * MB,
                              "bytes_limit": 16_000 * MB},
    )  # fmt: skip
    cpu = types.SimpleNamespace(platform="cpu", id=0, memory_stats=_forbidden("cpu stats"))
    jax = types.SimpleNamespace(devices=lambda: [cpu, device])
    bridge = types.SimpleNamespace(backends_are_initialized=lambda: True)
    modules = {"jax": jax, "jax._src.xla_bridge": bridge}
    (reading,) = gpu.read_devices(modules)
    assert reading["library"] == "jax" and reading["capacity"] == 16_000 * MB
    asleep = {"jax": jax, "jax._src.xla_bridge": types.SimpleNamespace(
        backends_are_initialized=lambda: False)}  # fmt: skip
    assert gpu.read_devices(asleep) == []

    import os

    process = types.SimpleNamespace(pid=os.getpid(), usedGpuMemory=1500 * MB)
    pynvml = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByIndex=lambda i: ("handle", i),
        nvmlDeviceGetComputeRunningProcesses=lambda h: [process],
    )
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    stats = {0: _stats(10 * MB, 10 * MB, 20 * MB)}
    modules = {"torch.cuda": _torch_cuda(stats), "pynvml": pynvml}
    (entry,) = gpu.GpuReading.begin(modules).end(modules)
    assert entry["process_used_before"] == entry["process_used_after"] == 1500 * MB


def test_records_carry_gpu_entries_that_fit():
    from memtrack.record import RECORD_MAX_BYTES, fit_record, new_record, validate_record

    entry = {"library": "torch", "device": 0, "name": "NVIDIA H200", "allocated_before": 10**9,
             "allocated_after": 2 * 10**9, "peak": 3 * 10**9, "peak_scope": "cell",
             "reserved_before": 10**9, "reserved_after": 3 * 10**9, "capacity": 150 * 10**9,
             "read_s": 0.0001}  # fmt: skip
    devices = [dict(entry, device=i) for i in range(8)]
    record = new_record(
        {"seq": 1, "mode": "light", "started_at": "2026-12-02", "duration_s": 1.0, "gpu": devices}
    )
    fitted = fit_record(record)
    validate_record(fitted)
    assert len(json.dumps(fitted, separators=(",", ":"))) <= RECORD_MAX_BYTES
    assert fitted["gpu"][0]["device"] == 0
    with pytest.raises(Exception, match="library"):
        validate_record({**fitted, "gpu": [{"library": "tensorflow", "device": 0}]})


def test_out_and_a_traceback_keeping_tensors_say_their_gpu_bytes(shell, monkeypatch):
    """A tensor kept alive by Out and one by the last traceback: the suspects carry their GPU
    bytes (a CUDA tensor's host part is ~100 bytes, below any threshold). The real CPU torch,
    with its CPU device counted as the GPU and CUDA said initialised: no GPU can run here."""
    import memtrack
    import torch
    from memtrack.measure import tensors

    monkeypatch.setattr(tensors, "DEVICE_TYPES", frozenset({"cpu"}))
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    ip = shell
    assert ip.run_cell("import torch", store_history=True).success
    assert ip.run_cell("%memtrack on", store_history=True).success
    assert ip.run_cell("torch.ones(2_000_000)", store_history=True).success
    out_n = ip.execution_count - 1
    assert ip.run_cell("x = 1", store_history=True).success
    got = {s["name"]: s for s in memtrack.history()[-1]["leaks"]}
    out = got[f"Out[{out_n}]"]
    assert out["kind"] == "output-history" and out["device_bytes"] == 8_000_000
    assert "8.0 MB of GPU memory" in out["reason"] and out["size"] < 10_000

    failing = "def f():\n    t = torch.ones(3_000_000)\n    v = t[:10]\n    1 / 0\nf()"
    assert not ip.run_cell(failing, store_history=True).success
    got = {s["name"]: s for s in memtrack.history()[-1]["leaks"]}
    kept = got["sys.last_traceback"]
    assert kept["device_bytes"] == 12_000_000  # t and its view: one storage
    assert "12.0 MB of GPU memory" in kept["reason"]
    for record in memtrack.history():
        record_validator().validate(record)
    assert ip.run_cell("%memtrack off", store_history=True).success


def test_live_samples_count_each_device_once(monkeypatch):
    """torch and cupy on the same device: its capacity once; cupy's unknown size does not hide
    the device's (torch knows it)."""
    stats = {0: _stats(100 * MB, 100 * MB, 200 * MB)}
    pool = types.SimpleNamespace(used_bytes=lambda: 50 * MB, total_bytes=lambda: 64 * MB)
    cupy = types.SimpleNamespace(
        get_default_memory_pool=lambda: pool,
        cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDevice=lambda: 0)),
    )
    monkeypatch.setattr(gpu, "_libcuda_mapped", True)
    monkeypatch.setattr(gpu, "_capacities", {})
    modules = {"torch.cuda": _torch_cuda(stats), "cupy": cupy}
    assert gpu.allocated_now(modules) == (150 * MB, 80_000 * MB)
    assert gpu.status_line(modules) == "GPU: torch on 1 device(s), cupy on 1 device(s)"
    assert gpu.status_line({}) == "GPU: none in use"
