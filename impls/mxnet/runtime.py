"""MXNet's devices and versions for ``impls.mxnet``: the context of a device kind, why there is no
GPU and what to install, the GPU's name and memory, the peak matmul, the build's features. Imports
mxnet: import it only after ``impls.mxnet.MxnetFramework`` has set the threading environment."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import nd

import impls
from bench.contract import Unsupported, time_peak_matmul

HERE = Path(__file__).resolve().parent


def gpu_requirement() -> str:
    """The pinned GPU build from ``requirements-gpu.txt`` (its first requirement line)."""
    pins = impls.pins(HERE / "requirements-gpu.txt")
    if not pins:
        raise RuntimeError("impls/mxnet/requirements-gpu.txt names no requirement")
    return pins[0]


def no_gpu_reason(version: str, cuda_build: bool, error: str | None = None) -> str:
    """Why mxnet has no usable GPU, and what a user with network access installs.

    ``cuda_build``: this mxnet was built with CUDA; ``error``: what ``num_gpus()`` raised, if it did.
    """
    fix = (
        f"`{gpu_requirement()}` (impls/mxnet/requirements-gpu.txt), which needs the CUDA 11.2 runtime "
        "libraries (libcudart, cuBLAS, cuDNN 8) on the machine and an NVIDIA driver for CUDA 11.2"
    )
    if not cuda_build:
        return f"no GPU visible to mxnet {version} (a CPU-only build); on a CUDA machine, install {fix}"
    if error:
        return f"no GPU visible to mxnet {version} (a CUDA build): CUDA failed to initialise ({error}); {fix}"
    return (
        f"no GPU visible to mxnet {version} (a CUDA build): num_gpus() is 0 — no NVIDIA GPU or driver "
        "on this machine (check nvidia-smi)"
    )


def _gpu_count() -> tuple[int, str | None]:
    """(GPUs visible, the error num_gpus() raised or None)."""
    try:
        return mx.context.num_gpus(), None
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install means "no GPU", not a crash
        return 0, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"


def num_gpus() -> int:
    """GPUs visible to this mxnet build (0 on a CPU build, or when CUDA cannot be initialised)."""
    return _gpu_count()[0]


def context(device: str) -> mx.Context:
    """The mxnet context of a device kind, or Unsupported with the reason."""
    if device == "cpu":
        return mx.cpu()
    if device == "gpu":
        count, error = _gpu_count()
        if count == 0:
            raise Unsupported(no_gpu_reason(mx.__version__, mx.runtime.Features().is_enabled("CUDA"), error))
        return mx.gpu(0)
    raise Unsupported(f"unknown device {device!r}; choose one of: cpu, gpu")


def gpu_name() -> str:
    """The GPU's model name: mxnet has no API for it, so ask nvidia-smi (or fall back to gpu(0))."""
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader", "-i", "0"],
                capture_output=True, text=True, timeout=10, check=True,
            )  # fmt: skip
            if out.stdout.strip():
                return out.stdout.strip().splitlines()[0]
        except (OSError, subprocess.SubprocessError):
            pass
    return "gpu(0)"


def peak_gflops(device: str) -> dict[str, Any]:
    """Time a large fp32 nd.dot (best of 5 after a warm-up) on the device."""
    ctx = context(device)
    n = 8192 if device == "gpu" else 2048  # big enough to reach the BLAS's plateau on each device
    a = nd.random.normal(shape=(n, n), ctx=ctx, dtype="float32")
    b = nd.random.normal(shape=(n, n), ctx=ctx, dtype="float32")
    return time_peak_matmul(lambda: nd.dot(a, b).wait_to_read(), nd.waitall, n, "mxnet nd.dot")


def device_memory_in_use(device: str) -> int | None:
    """Device memory in use on the GPU (None on CPU).

    MXNet has no peak counter; its pooled allocator keeps what it ever allocated, so total - free
    is an upper bound of the peak (it also counts the CUDA context and any other process).
    """
    if device != "gpu" or num_gpus() == 0:
        return None
    try:
        free, total = mx.context.gpu_memory_info(0)
    except Exception:  # noqa: BLE001 - no memory info is "unknown", not a failed run
        return None
    return int(total - free)


BLAS_FEATURES = {
    "BLAS_MKL": "mkl",
    "BLAS_OPEN": "openblas",
    "BLAS_ATLAS": "atlas",
    "BLAS_APPLE": "accelerate",
}


def versions() -> dict[str, str]:
    """mxnet, its backends and numpy."""
    features = mx.runtime.Features()
    blas = [name for feature, name in BLAS_FEATURES.items() if features.is_enabled(feature)]
    return {
        "mxnet": mx.__version__,
        "cuda_build": "yes" if features.is_enabled("CUDA") else "no",
        "mkldnn": "yes" if features.is_enabled("MKLDNN") else "no",
        "blas": blas[0] if blas else "unknown",
        "numpy": np.__version__,
    }
