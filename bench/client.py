"""Light tracking as a client sees it: a real ipykernel driven by jupyter_client, a sidebar's comm
attached, trivial cells one after the other (as nbclient and papermill run them, or a user
pressing Shift-Enter quickly). Per cell: the time to its execute_reply and to the kernel's idle
status, untracked and with ``%memtrack on``, in alternating rounds; the added time with its 90%
interval over the rounds. ``BENCH_QUICK=1``: fewer rounds.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from jupyter_client.manager import start_new_kernel

HERE = Path(__file__).resolve().parent
QUICK = bool(os.environ.get("BENCH_QUICK"))
ROUNDS, CELLS = (3, 40) if QUICK else (7, 60)
TARGET_S = 0.3e-3
TIMEOUT = 60


def _until_idle(kc, msg_id: str) -> float:
    while True:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if (
            msg["parent_header"].get("msg_id") == msg_id
            and msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
        ):
            return time.perf_counter()


def _run(kc, code: str) -> tuple[float, float]:
    """Seconds to the execute_reply and to idle."""
    t0 = time.perf_counter()
    msg_id = kc.execute(code)
    while True:
        reply = kc.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    replied = time.perf_counter()
    idle = _until_idle(kc, msg_id)
    return replied - t0, idle - t0


def _open_comm(kc) -> None:
    msg = kc.session.msg(
        "comm_open",
        {
            "comm_id": uuid.uuid4().hex,
            "target_name": "jupyterlab-memtrack",
            "data": {"v": 1, "type": "hello", "client": "bench", "version": "0"},
        },
    )
    kc.shell_channel.send(msg)
    _until_idle(kc, msg["header"]["msg_id"])


def _interval(values: list[float]) -> tuple[float, float]:
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(1000))
    return medians[50], medians[949]


def main() -> int:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HERE.parent / "python_ext"), env.get("PYTHONPATH")) if p
    )
    env["JUPYTER_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="memtrack-bench-client-")
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        _run(kc, "%load_ext memtrack")
        _open_comm(kc)
        added: dict[str, list[float]] = {"reply": [], "idle": []}
        for _ in range(ROUNDS):
            arms = []
            for tracked in (False, True):
                _run(kc, "%memtrack on" if tracked else "%memtrack off")
                times = [_run(kc, "x = 1") for _ in range(CELLS)]
                arms.append(
                    (statistics.median(t[0] for t in times), statistics.median(t[1] for t in times))
                )
            added["reply"].append(arms[1][0] - arms[0][0])
            added["idle"].append(arms[1][1] - arms[0][1])
        print(
            f"client-driven (jupyter_client, comm attached, {CELLS} trivial cells back to back, "
            f"{ROUNDS} alternating rounds; bare: {arms[0][0] * 1e3:.2f} ms to the reply, "
            f"{arms[0][1] * 1e3:.2f} ms to idle):"
        )
        met = 0
        for what, values in added.items():
            gain = statistics.median(values)
            lo, hi = _interval(values)
            ok = gain <= TARGET_S or lo <= TARGET_S
            met += ok
            print(
                f"  {'ok  ' if ok else 'MISS'} light: added per trivial cell, to {what:<5} "
                f"{gain * 1e3:+.3f} ms ({lo * 1e3:+.3f} to {hi * 1e3:+.3f})   target <= +0.3 ms"
            )
        print(f"{met}/2 client-driven targets met")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
