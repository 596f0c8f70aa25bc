"""Why TensorFlow sees no GPU, and what a user installs to get one: the reason ``TensorflowFramework``
gives in ``Unsupported`` for ``--devices gpu``."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import impls

HERE = Path(__file__).resolve().parent
# The PyPI distributions that install the ``tensorflow`` package, CPU-only builds first.
TF_DISTRIBUTIONS = ("tensorflow-cpu", "tensorflow", "tensorflow-gpu", "tf-nightly-cpu", "tf-nightly")


def distribution() -> str:
    """The installed PyPI distribution that provides ``tensorflow`` (e.g. ``tensorflow-cpu``)."""
    for name in TF_DISTRIBUTIONS:
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        return name
    return "tensorflow"


def gpu_requirement() -> str:
    """The pinned GPU requirement from ``requirements-gpu.txt`` (its first requirement line)."""
    pins = impls.pins(HERE / "requirements-gpu.txt")
    if not pins:
        raise RuntimeError("impls/tensorflow/requirements-gpu.txt names no requirement")
    return pins[0]


def no_gpu_reason(distribution: str, version: str, cuda_version: str | None, nvidia_gpu_present: bool) -> str:
    """Why TensorFlow sees no GPU, and what a user with network access installs.

    ``cuda_version`` is the CUDA version TF was built with, None for a CPU-only build;
    ``nvidia_gpu_present``: ``nvidia-smi`` exists on this machine.
    """
    short = ".".join(version.split(".")[:2])
    fix = f"`{gpu_requirement()}` (impls/tensorflow/requirements-gpu.txt)"
    if cuda_version is None:
        where = "this machine has an NVIDIA GPU" if nvidia_gpu_present else "on a CUDA machine"
        return f"no GPU visible to {distribution} {short} (a CPU-only build); {where}, install {fix}"
    if not nvidia_gpu_present:
        return (
            f"no GPU visible to {distribution} {short} (a CUDA {cuda_version} build): this machine has "
            "no NVIDIA driver (nvidia-smi not found); run on a machine with an NVIDIA GPU and driver"
        )
    return (
        f"no GPU visible to {distribution} {short} (a CUDA {cuda_version} build) although nvidia-smi "
        f"exists: TF found no usable CUDA/cuDNN libraries or the driver is too old for CUDA "
        f"{cuda_version}; install {fix}, which brings the NVIDIA CUDA/cuDNN wheels"
    )
