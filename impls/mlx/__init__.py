"""Apple's MLX (its Linux CPU build) behind the common contract: ``mlx.nn`` models, ``mlx.optimizers.SGD``.

Modes: ``eager`` (one step per batch, ``mx.eval`` after each; the default) and ``compile`` (the step
under ``mx.compile`` with the model's and the optimizer's state captured as MLX documents it). No
third mode: MLX's other idioms (``mx.async_eval`` to overlap building the next step's graph with
running this one, ``shapeless=True`` compilation) are what LLM generation loops reach for, not a
training loop over resident data; a scan-like whole-epoch program does not exist in MLX.

Threads, truthfully: MLX's CPU backend runs every operation, in order, on one worker thread per
stream (``mlx/scheduler.cpp``; the default CPU stream's thread starts at the first evaluation),
and the Linux wheels (``mlx-cpu``) link the reference (netlib) BLAS, which is single-threaded.
There is no thread-count setting, and ``OMP_NUM_THREADS`` & co. apply to nothing in it. So one
thread computes whatever the matrix asks for: ``settings()`` reports ``intra_op_threads`` 1 when
the matrix asked for 1, and "1, not pinnable" with a ``threads_note`` otherwise.

The module imports no MLX: ``MlxFramework.__init__`` imports ``impls.mlx.training`` (the registry and
``bench.baseline`` import this package before constructing the framework). Importing MLX starts
no thread, so ``preload`` can serve the fork server.

``models.py``    the ``mlx.nn`` modules and the canonical weight exchange
``training.py``  ``MlxModel``: the step in each mode, the epoch loop, evaluation, sync
``native.py``    the native input: an ``mlx.data`` pipeline in the harness's order
``baseline.py``  the textbook loop (MLX's MNIST example) and the skilled loop per mode
"""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from bench.contract import Unsupported, check_mode, check_precision, time_peak_matmul
from bench.specs import ModelSpec

if TYPE_CHECKING:
    from impls.mlx.training import MlxModel

CUDA_PIN = "mlx[cuda12]==0.32.4"  # MLX's CUDA build (or mlx[cuda13] with an NVIDIA driver >= 580)


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def blas_library() -> str:
    """The BLAS the mlx-cpu wheel bundles (its file name in ``mlx_cpu.libs``), or what is known."""
    try:
        files = importlib.metadata.files("mlx-cpu") or []
    except importlib.metadata.PackageNotFoundError:
        return "unknown (mlx-cpu not installed)"
    names = sorted(Path(str(f)).name for f in files if Path(str(f)).name.startswith("libblas"))
    if names:  # e.g. libblas-<hash>.so.3.10.0: the reference (netlib) BLAS 3.10.0, single-threaded
        return f"reference BLAS {names[0].rpartition('.so.')[2]} ({names[0]}, bundled by mlx-cpu)"
    return "unknown (no libblas in mlx-cpu)"


class MlxFramework:
    """MLX (CPU build) behind the common contract."""

    NAME: ClassVar[str] = "mlx"
    MODES: ClassVar[tuple[str, ...]] = ("eager", "compile")

    @staticmethod
    def preload(threads: int) -> list[str]:
        """What a fork server imports once (bench.forkserver): mlx.core, mlx.nn, mlx.optimizers and
        this package's MLX code. Importing MLX starts no thread; its CPU stream thread starts at the
        first evaluation, in each run."""
        from impls.mlx import training  # noqa: F401

        return ["mlx.core", "mlx.nn", "mlx.optimizers"]

    def __init__(self, threads: int) -> None:
        self.threads = int(threads)
        import mlx.core as mx

        from impls.mlx import training

        self._mx = mx
        self._training = training

    # -- environment ----------------------------------------------------------------------------

    def versions(self) -> dict[str, str]:
        """MLX, its CPU backend wheel, its BLAS, mlx-data and numpy."""
        import numpy as np

        return {
            "mlx": self._mx.__version__,
            "mlx-cpu": _dist_version("mlx-cpu"),
            "blas": blas_library(),
            "mlx-data": _dist_version("mlx-data"),
            "numpy": np.__version__,
        }

    def devices(self) -> list[str]:
        """CPU only: framebench runs MLX's CPU build (see ``device_name`` for the GPU)."""
        return ["cpu"]

    def device_name(self, device: str) -> str:
        """'cpu'; a GPU is refused with what to install."""
        if device == "cpu":
            return "cpu"
        if device != "gpu":
            raise Unsupported(f"unknown device {device!r}; choose one of: cpu, gpu")
        if self._mx.cuda.is_available():
            raise Unsupported(
                f"mlx {self._mx.__version__} has its CUDA backend here, but framebench's MLX rows are "
                "CPU-only so far (impls/mlx has no GPU pins or GPU tests); run --devices cpu"
            )
        where = "this machine has an NVIDIA GPU" if shutil.which("nvidia-smi") else "on a GPU machine"
        raise Unsupported(
            f"mlx here is the CPU-only build (mlx-cpu {_dist_version('mlx-cpu')}); {where}, MLX's CUDA "
            f"build is `pip install {CUDA_PIN}` (SM 7.5+, CUDA 12+, glibc 2.35+), which framebench's "
            "MLX rows do not use yet"
        )

    def settings(self, device: str, mode: str, precision: str = "fp32") -> dict[str, Any]:
        """Threading and numerics in effect (see the module docstring for threads)."""
        check_precision(precision, device)
        if self.threads == 1:
            intra: int | str = 1
            note = "MLX's CPU backend computes on one thread (its stream thread, single-threaded BLAS)"
        else:
            intra = "1, not pinnable"
            note = (
                f"asked for {self.threads}: MLX's CPU backend has no thread-count setting; every op runs "
                "on the CPU stream's one worker thread and the bundled reference BLAS is "
                "single-threaded, so 1 thread computes (OMP/MKL/OPENBLAS variables apply to nothing)"
            )
        return {
            "intra_op_threads": intra,
            "inter_op_threads": 1,
            "threads_note": note,
            "blas": blas_library(),
            "dtype": "float32",
            "precision": precision,
            "tf32": False,
            "mode": mode,
            "cpu_compile": (
                "mx.compile fuses element-wise ops into C++ built by g++ at run time"
                if shutil.which("g++")
                else "no g++ on PATH: mx.compile fuses nothing on the CPU (graph simplification only)"
            )
            if mode == "compile"
            else "n/a",
        }

    def build(self, spec: ModelSpec, device: str, mode: str, precision: str = "fp32") -> MlxModel:
        """Build the model on the CPU (a GPU is refused by ``device_name``)."""
        check_mode(self, mode)
        check_precision(precision, device)
        self.device_name(device)
        self._mx.set_default_device(self._mx.cpu)
        return self._training.MlxModel(spec, mode)

    def peak_gflops(self, device: str) -> dict[str, Any]:
        """Time a large fp32 matrix product (best of several) on the CPU."""
        mx = self._mx
        self.device_name(device)
        n = 1024  # the reference BLAS runs at a few GFLOP/s: 2048 would take seconds per product
        a, b = mx.random.normal((n, n), key=mx.random.key(0)), mx.random.normal((n, n), key=mx.random.key(1))
        mx.eval(a, b)
        return time_peak_matmul(lambda: mx.eval(mx.matmul(a, b)), mx.synchronize, n, "mx.matmul (CPU)")

    def peak_device_memory_bytes(self, device: str) -> int | None:
        """None: CPU only."""
        return None
