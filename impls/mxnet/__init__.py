"""MXNet Gluon behind the common contract: ``HybridSequential`` models, hybridized or imperative;
data resident on the device, or (``--input native``) Gluon's ``DataLoader`` (``native.NativeInput``).

MXNet reads its threading environment once, when it is imported, so this module does not import
mxnet: ``MxnetFramework(threads)`` sets the environment first and then imports the modules that
import mxnet (``models``, ``native``, ``training``, ``runtime``). In a process where mxnet was already
imported, the threading that process started with stays in effect; ``settings()`` reports what
really applies.
"""

from __future__ import annotations

import os
import sys
import warnings
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from bench.contract import Unsupported, check_mode, check_precision
from bench.specs import ModelSpec

if TYPE_CHECKING:
    from impls.mxnet.training import GluonModel

# What mxnet reads at import; threads are filled in per instance. Declared numerics: true fp32
# (no tensor-core/TF32 math on the GPU), one engine worker thread for the CPU (inter-op = 1).
# MXNET_CUDA_ALLOW_TENSOR_CORE=0 only keeps MXNet from asking for tensor-op math; cuDNN 8 and
# cuBLAS 11 may still pick TF32 kernels for fp32 on Ampere and later unless NVIDIA's process-wide
# NVIDIA_TF32_OVERRIDE=0 forbids it (read by those libraries, harmless on a CPU).
FIXED_ENV = {
    "MXNET_CPU_WORKER_NTHREADS": "1",
    "MXNET_CUDA_ALLOW_TENSOR_CORE": "0",
    "MXNET_CUDA_TENSOR_OP_MATH_ALLOW_CONVERSION": "0",
    "NVIDIA_TF32_OVERRIDE": "0",
}
TF32_REASON = (
    "tf32 is not offered for mxnet: MXNet 1.9 has no TF32 switch worth trusting "
    "(MXNET_CUDA_ALLOW_TENSOR_CORE governs fp16 tensor-core math, and whether cuDNN 8/cuBLAS 11 use "
    "TF32 for fp32 is left to NVIDIA's defaults); its GPU runs are fp32, with NVIDIA_TF32_OVERRIDE=0 "
    "ruling TF32 out"
)
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# The environment mxnet was imported with by this package (None: not imported by us).
_import_env: dict[str, str] | None = None


def _import_mxnet(threads: int) -> tuple[ModuleType, dict[str, str]]:
    """Set the threading environment, then import the mxnet code (once per process).

    Returns the ``impls.mxnet.runtime`` module and the environment mxnet was imported with.
    """
    global _import_env
    if _import_env is None:
        if "mxnet" in sys.modules:
            warnings.warn(
                "mxnet was imported before MxnetFramework; its threading environment "
                "(OMP_NUM_THREADS, MXNET_CPU_WORKER_NTHREADS) is whatever that import saw",
                RuntimeWarning,
                stacklevel=3,
            )
        else:
            os.environ.update({var: str(threads) for var in THREAD_VARS})
            os.environ.update(FIXED_ENV)
        _import_env = {var: os.environ.get(var, "") for var in (*THREAD_VARS, *FIXED_ENV)}
    elif _import_env.get("OMP_NUM_THREADS") != str(threads):
        warnings.warn(
            f"mxnet is already running with OMP_NUM_THREADS={_import_env.get('OMP_NUM_THREADS')}; "
            f"threads={threads} cannot take effect in this process",
            RuntimeWarning,
            stacklevel=3,
        )
    from impls.mxnet import runtime, training  # noqa: F401 - training imported with the threads set

    return runtime, dict(_import_env)


class MxnetFramework:
    """MXNet Gluon behind the common contract."""

    NAME: ClassVar[str] = "mxnet"
    MODES: ClassVar[tuple[str, ...]] = ("hybrid", "imperative")

    def __init__(self, threads: int) -> None:
        self._runtime, self._env = _import_mxnet(threads)

    def versions(self) -> dict[str, str]:
        """Framework and backend versions."""
        return self._runtime.versions()

    def devices(self) -> list[str]:
        """CPU always; GPU when this mxnet build sees one."""
        return ["cpu", "gpu"] if self._runtime.num_gpus() > 0 else ["cpu"]

    def device_name(self, device: str) -> str:
        """GPU model name, or 'cpu'."""
        self._runtime.context(device)  # raises Unsupported for a device this environment lacks
        return self._runtime.gpu_name() if device == "gpu" else "cpu"

    def _intra_op_threads(self) -> int:
        try:
            return int(self._env.get("OMP_NUM_THREADS") or os.cpu_count() or 1)
        except ValueError:  # a malformed value in a pre-existing environment
            return os.cpu_count() or 1

    def settings(self, device: str, mode: str, precision: str = "fp32") -> dict[str, Any]:
        """Threading and numerics in effect."""
        self._check_precision(precision, device)
        return {
            "intra_op_threads": self._intra_op_threads(),
            "inter_op_threads": int(self._env.get("MXNET_CPU_WORKER_NTHREADS") or 1),
            "dtype": "float32",
            "precision": precision,
            # TF32 could only come from cuDNN/cuBLAS defaults on a GPU, which the override forbids.
            "tf32": device == "gpu" and self._env.get("NVIDIA_TF32_OVERRIDE") != "0",
            "tensor_core": device == "gpu" and self._env.get("MXNET_CUDA_ALLOW_TENSOR_CORE", "1") != "0",
            "mode": mode,
            "hybridized": mode == "hybrid",
            "engine": os.environ.get("MXNET_ENGINE_TYPE") or "ThreadedEnginePerDevice",
        }

    @staticmethod
    def _check_precision(precision: str, device: str) -> str:
        """fp32 only: the contract's check, and "tf32" on a GPU is Unsupported as well (TF32_REASON)."""
        check_precision(precision, device)
        if precision == "tf32":
            raise Unsupported(TF32_REASON)
        return precision

    def build(self, spec: ModelSpec, device: str, mode: str, precision: str = "fp32") -> GluonModel:
        """Build the model on the device (fp32 only, see TF32_REASON)."""
        check_mode(self, mode)
        self._check_precision(precision, device)
        from impls.mxnet import training

        return training.build(spec, device, hybridize=mode == "hybrid")

    def peak_gflops(self, device: str) -> dict[str, Any]:
        """Time a large fp32 matrix product (best of several) on the device."""
        return self._runtime.peak_gflops(device)

    def peak_device_memory_bytes(self, device: str) -> int | None:
        """GPU memory held (an upper bound of the peak, see runtime.device_memory_in_use); None on CPU."""
        return self._runtime.device_memory_in_use(device)
