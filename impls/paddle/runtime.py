"""What Paddle really runs with: OpenMP/MKL threads, oneDNN, TF32 switches, library versions and
the GPU, read back from the libraries the wheel bundles (``paddle/libs``) rather than assumed.

Imported by ``PaddleFramework.__init__`` after the environment Paddle reads at import is set.
"""

from __future__ import annotations

import ctypes
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import paddle
from paddle.base import core

from bench.contract import Unsupported

LIBS = Path(paddle.__file__).resolve().parent / "libs"
GPU_REQUIREMENTS = Path(__file__).resolve().parent / "requirements-gpu.txt"

# What FLAGS_use_mkldnn changes, found for paddle 3.3.1 (impls/paddle/test_paddle.py checks both):
# dygraph training selects no oneDNN kernel for these models, and to_static training fails with it.
ONEDNN_NOTE = (
    "FLAGS_use_mkldnn is read from the environment at import (framebench leaves Paddle's default, "
    "off); in paddle 3.3.1 dygraph training it selects no oneDNN kernel for these models (an epoch "
    "ends in bit-identical weights with it on or off, and oneDNN's verbose log stays empty); "
    "to_static training fails with it on, so that combination is refused"
)
ONEDNN_TO_STATIC = (
    "FLAGS_use_mkldnn=1 makes paddle 3.3.1's run_program fail on the first to_static training step "
    "on the CPU ('dst_tensor shall be defined'); unset it (or FLAGS_use_mkldnn=0) for to-static-net, "
    "or use mode dygraph"
)


def _library(name: str) -> ctypes.CDLL | None:
    """One of the wheel's bundled libraries (already loaded by paddle), or None if absent."""
    path = LIBS / name
    return ctypes.CDLL(str(path)) if path.exists() else None


def set_threads(threads: int) -> None:
    """Intra-op threads: OpenMP's and MKL's (``core.set_num_threads`` sets both)."""
    core.set_num_threads(int(threads))


def omp_threads() -> int | None:
    lib = _library("libiomp5.so")
    return int(lib.omp_get_max_threads()) if lib else None


def mkl_threads() -> int | None:
    lib = _library("libmklml_intel.so")
    return int(lib.MKL_Get_Max_Threads()) if lib else None


def thread_settings(asked: int, mode: str) -> dict[str, Any]:
    """The intra-op thread count in effect (OpenMP's, which MKL and Paddle's CPU kernels use)."""
    omp, mkl = omp_threads(), mkl_threads()
    static = mode != "dygraph"
    return {
        "intra_op_threads": omp if omp is not None else "not readable",
        "mkl_threads": mkl if mkl is not None else "n/a",
        "inter_op_threads": "not pinnable" if static else 1,
        "threads_note": (
            f"core.set_num_threads({asked}) (omp_set_num_threads + MKL_Set_Num_Threads), read back "
            "with omp_get_max_threads/MKL_Get_Max_Threads; FLAGS_paddle_num_threads is not applied by "
            "a oneDNN build; "
            + (
                "the static program runs on Paddle's PIR interpreter, which may schedule independent "
                "ops on its own worker threads (its 'multi-thread mode'); that pool is not sized here"
                if static
                else "dygraph runs one op at a time in the calling thread"
            )
        ),
    }


def onednn_enabled() -> bool:
    return bool(paddle.get_flags(["FLAGS_use_mkldnn"])["FLAGS_use_mkldnn"])


def onednn_settings() -> dict[str, Any]:
    return {
        "onednn": onednn_enabled(),
        "onednn_compiled": bool(core.is_compiled_with_onednn()),
        "onednn_note": ONEDNN_NOTE,
    }


def onednn_version() -> str:
    """oneDNN's version from ``dnnl_version()`` of the bundled library."""

    class Version(ctypes.Structure):
        _fields_ = [
            ("major", ctypes.c_int),
            ("minor", ctypes.c_int),
            ("patch", ctypes.c_int),
            ("hash", ctypes.c_char_p),
        ]

    lib = _library("libdnnl.so.3")
    if lib is None:
        return "not bundled"
    lib.dnnl_version.restype = ctypes.POINTER(Version)
    v = lib.dnnl_version().contents
    return f"{v.major}.{v.minor}.{v.patch} ({(v.hash or b'').decode()[:12]})"


def mkl_version() -> str:
    lib = _library("libmklml_intel.so")
    if lib is None:
        return "not bundled" if paddle.version.with_mkl != "ON" else "unknown"
    buffer = ctypes.create_string_buffer(256)
    lib.MKL_Get_Version_String(buffer, len(buffer))
    return buffer.value.decode()


def versions() -> dict[str, str]:
    out = {
        "paddle": paddle.__version__,
        "paddle_commit": str(paddle.version.commit)[:12],
        "onednn": onednn_version(),
        "mkl": mkl_version(),
        "cuda": str(paddle.version.cuda()) if paddle.is_compiled_with_cuda() else "n/a (CPU build)",
        "cudnn": str(paddle.version.cudnn()) if paddle.is_compiled_with_cuda() else "n/a (CPU build)",
        "numpy": np.__version__,
    }
    if gpu_unavailable_reason() is None:
        out["gpu"] = gpu_name()
    return out


def gpu_pin() -> str:
    """The GPU build's requirement line in requirements-gpu.txt."""
    for line in GPU_REQUIREMENTS.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement and not requirement.startswith("-"):
            return requirement
    raise RuntimeError("impls/paddle/requirements-gpu.txt names no requirement")


def gpu_unavailable_reason(
    compiled_with_cuda: bool | None = None,
    device_count: int | None = None,
    has_nvidia_smi: bool | None = None,
) -> str | None:
    """Why Paddle cannot use a GPU here (None when it can), naming what to install or check.
    The arguments default to this environment's; tests pass them to check each branch."""
    if compiled_with_cuda is None:
        compiled_with_cuda = bool(paddle.is_compiled_with_cuda())
    if has_nvidia_smi is None:
        has_nvidia_smi = shutil.which("nvidia-smi") is not None
    if not compiled_with_cuda:
        where = "this machine has an NVIDIA GPU" if has_nvidia_smi else "on a machine with an NVIDIA GPU"
        return (
            f"paddlepaddle {paddle.__version__} here is a CPU-only build; {where}, install `{gpu_pin()}` "
            "from Paddle's CUDA index (impls/paddle/requirements-gpu.txt)"
        )
    if device_count is None:
        device_count = int(paddle.device.cuda.device_count())
    if device_count == 0:
        return (
            f"paddle {paddle.__version__} is a CUDA {paddle.version.cuda()} build but sees no GPU "
            "(no NVIDIA driver, or one too old for that CUDA); check nvidia-smi"
        )
    return None


def place(device: str) -> str:
    """The ``paddle.set_device`` string for a device kind, or Unsupported with the reason."""
    if device == "cpu":
        return "cpu"
    if device != "gpu":
        raise Unsupported(f"unknown device {device!r}; choose one of: cpu, gpu")
    why = gpu_unavailable_reason()
    if why is not None:
        raise Unsupported(why)
    return "gpu:0"


def select(where: str) -> None:
    """``paddle.set_device`` (process-wide)."""
    paddle.set_device(where)


def tf32_enabled() -> bool:
    """Whether either TF32 switch is on (False on a CPU build, which has none)."""
    return bool(paddle.is_compiled_with_cuda() and (core.get_cublas_switch() or core.get_cudnn_switch()))


def set_tf32(enabled: bool) -> None:
    """cuBLAS and cuDNN TF32 (Paddle's default: on); process-wide, CUDA builds only."""
    if paddle.is_compiled_with_cuda():
        core.set_cublas_switch(enabled)
        core.set_cudnn_switch(enabled)


def gpu_name() -> str:
    return str(paddle.device.cuda.get_device_name(0))


def gpu_settings() -> dict[str, Any]:
    props = paddle.device.cuda.get_device_properties(0)
    return {
        "gpu": props.name,
        "gpu_total_memory_bytes": int(props.total_memory),
        "gpu_compute_capability": f"{props.major}.{props.minor}",
        "tf32_cublas": bool(core.get_cublas_switch()),
        "tf32_cudnn": bool(core.get_cudnn_switch()),
    }
