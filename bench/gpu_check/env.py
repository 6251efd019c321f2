"""Stage ``env``: what this machine has -- GPU, driver, CUDA toolkit, PyTorch build, tiny-cuda-nn."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.gpu_check.stages import write_stage


def _run(cmd: list[str], timeout: float = 30.0) -> str | None:
    """stdout of ``cmd`` (stripped), or None when it is missing or fails."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def probe() -> dict[str, Any]:
    """Everything the report states about the environment (None where a thing is absent)."""
    info: dict[str, Any] = {"python": platform.python_version(), "executable": sys.executable,
                            "machine": platform.machine(), "cpus": _cpu_count()}
    info["nvidia_smi"] = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,compute_cap",
                               "--format=csv,noheader"])
    nvcc = _run(["nvcc", "--version"])
    info["nvcc"] = nvcc.splitlines()[-1] if nvcc else None
    try:
        import torch
    except ImportError as exc:
        info["torch"] = None
        info["torch_error"] = str(exc)
        return info
    info["torch"] = torch.__version__
    info["torch_cuda_build"] = torch.version.cuda
    info["cuda_available"] = bool(torch.cuda.is_available())
    if info["cuda_available"]:
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = props.name
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["compute_capability"] = f"{props.major}.{props.minor}"
        info["cudnn"] = torch.backends.cudnn.version()
    try:
        from sdfrecon.sdf.hashgrid import tcnn_available

        info["tcnn_available"] = tcnn_available()
    except Exception as exc:  # the project itself may not import; say why
        info["tcnn_available"] = None
        info["sdfrecon_error"] = f"{type(exc).__name__}: {exc}"
    return info


def _cpu_count() -> int | None:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def run(out: Path, device: str) -> dict[str, Any]:
    """Probe and record; the stage fails when ``device`` is CUDA and CUDA is not usable."""
    t0 = time.perf_counter()
    info = probe()
    status, note = "ok", ""
    if info.get("torch") is None:
        status, note = "failed", "torch does not import"
    elif device.startswith("cuda") and not info.get("cuda_available"):
        status = "failed"
        note = (f"CUDA not available to torch {info['torch']} (build CUDA {info.get('torch_cuda_build')}); "
                f"nvidia-smi: {'absent' if info['nvidia_smi'] is None else 'present'}")
    return write_stage(out, "env", status, seconds=time.perf_counter() - t0, note=note, data=info)
