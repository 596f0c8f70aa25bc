"""LeNet-5 and the MLP in PyTorch: idiomatic ``nn.Module`` code in four modes.

``eager``   the textbook loop: data resident on the device, the harness's permutation uploaded once
            and sliced on the device, ``zero_grad``/forward/``cross_entropy``/``backward``/``step``;
            plain SGD (``p -= lr * g``) as one ``foreach`` update (CPU) or the ``fused`` kernel (CUDA).
``compile`` ``torch.compile`` of the whole training step (forward, loss, backward, ``optimizer.step()``)
            with the learning rate a 0-d device tensor, so a new lr never recompiles (see
            ``training.COMPILED_STEP`` for exactly what ends up compiled).
``graph``   the whole SGD step (forward, loss, backward, update) captured in one CUDA graph per batch
            shape (the full batch and the epoch's last, smaller one) and replayed per batch, with the
            batch gathered into the graph's static input buffers on the device (CUDA only).
``epoch-graph`` the whole epoch captured in one CUDA graph (every step's gather from the resident
            data by a static order tensor, forward, loss, backward, update, and the epoch's sums),
            replayed once per epoch: no Python and no launch per step (CUDA only, device input only).
            torch's counterpart of JAX's ``scan``.

Loss and predictions of every step go into preallocated device buffers and are reduced once per
epoch: no host sync inside the epoch. ``--input native`` feeds ``train_epoch`` from torchvision's
``FashionMNIST`` dataset through a ``DataLoader`` whose sampler follows the harness's order.

This module is the framework behind the contract (``TorchFramework``: versions, devices, settings,
the process-wide TF32 switches, build, peak measurement). The rest, one job per module:

``models.py``    the ``nn.Module`` builders, layers named as the canonical weights
``training.py``  ``TorchModel``: the train step in each mode, the epoch loop, evaluation, sync
``native.py``    the native input: torchvision's ``FashionMNIST`` + a ``DataLoader`` in the harness's order
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
from typing import Any, ClassVar

import numpy as np
import torch

from bench.contract import Unsupported, check_mode, check_precision, time_peak_matmul
from bench.specs import ModelSpec
from impls.torch.training import COMPILED_STEP, GRAPH_MODES, TorchModel, optimizer_description

__all__ = ["TorchFramework", "TorchModel", "set_precision", "tf32_enabled"]


# What each CUDA-graph mode captures, as recorded in settings().
CUDA_GRAPH = {
    "graph": "whole SGD step per batch shape (full and last batch), replayed per batch; evaluation eager",
    "epoch-graph": (
        "the whole epoch in one graph (each step's gather from the resident data, forward, loss, "
        "backward, update, and the epoch's loss and accuracy sums), replayed once per epoch after the "
        "epoch's order is copied in; captured again for a new data set, epoch length, batch size or "
        "lr; evaluation eager"
    ),
}


# A directory named here holds Inductor's on-disk caches (FX graph, AOTAutograd, Triton kernels), so
# every run of a compile cell after the first loads the compiled step instead of compiling it again.
COMPILE_CACHE_ENV = "FRAMEBENCH_COMPILE_CACHE"


def use_compile_cache() -> str:
    """Point Inductor's caches at ``$FRAMEBENCH_COMPILE_CACHE/torch`` when that is set (before any
    compilation: Inductor reads the variables when it first needs them); say where they are."""
    root = os.environ.get(COMPILE_CACHE_ENV)
    if root:
        path = os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(root, "torch")
        os.environ["TORCHINDUCTOR_FX_GRAPH_CACHE"] = "1"
        os.environ["TORCHINDUCTOR_AUTOGRAD_CACHE"] = "1"
        return f"FX graph + AOTAutograd + Triton caches in {path} (${COMPILE_CACHE_ENV})"
    where = os.environ.get("TORCHINDUCTOR_CACHE_DIR") or "torch's default (a torchinductor_<user> temp dir)"
    return f"torch's defaults: FX graph + AOTAutograd caches on, in {where}"


def check_compile_toolchain(dev: torch.device) -> None:
    """Unsupported, naming what to install, when torch.compile cannot generate code for ``dev``."""
    if dev.type == "cpu" and not (shutil.which("g++") or shutil.which("c++")):
        raise Unsupported("torch.compile on CPU generates C++ and needs a C++ compiler (g++) on PATH")
    if dev.type == "cuda" and importlib.util.find_spec("triton") is None:
        raise Unsupported(
            "torch.compile on CUDA generates Triton kernels and needs the triton package "
            "(a dependency of torch's CUDA wheels)"
        )


def torchvision_version() -> str:
    """torchvision's version from its package metadata: importing it would cost every run about a
    second of start-up, and only the native input imports it (its failure to import is then that
    run's reason to skip)."""
    try:
        return importlib.metadata.version("torchvision")
    except importlib.metadata.PackageNotFoundError:
        return "not installed (only --input native needs it)"


def set_precision(precision: str) -> None:
    """fp32: TF32 off for cuBLAS and cuDNN; tf32: both on. Process-wide switches, set by ``build``
    (the runner builds one model per process, so the run's model is the one they apply to)."""
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def tf32_enabled() -> bool:
    """Whether either TF32 switch is on."""
    return bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32)


class TorchFramework:
    """PyTorch behind the common contract."""

    NAME: ClassVar[str] = "torch"
    MODES: ClassVar[tuple[str, ...]] = ("eager", "compile", "graph", "epoch-graph")
    WHOLE_EPOCH_MODES: ClassVar[tuple[str, ...]] = ("epoch-graph",)  # one CUDA graph of the whole epoch

    @staticmethod
    def preload(threads: int) -> list[str]:
        """What a fork server imports once for every run (bench.forkserver): torch (this module),
        Dynamo and Inductor, after the compile cache's variables are set as the constructor sets them
        (Inductor's config reads some of them when it is imported). CUDA is not touched: each run
        starts its own context."""
        use_compile_cache()
        import torch._dynamo
        import torch._inductor.compile_fx  # noqa: F401

        return ["torch", "torch._dynamo", "torch._inductor.compile_fx"]

    def __init__(self, threads: int) -> None:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # already set in this process (only possible when reused in tests)
            pass
        set_precision("fp32")  # declared numerics: true fp32 unless a build asks for tf32
        self.compile_cache = use_compile_cache()

    def versions(self) -> dict[str, str]:
        """Framework and backend versions; the GPU's identity when CUDA sees one."""
        vision = torchvision_version()
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        versions = {
            "torch": torch.__version__,
            "torchvision": vision,
            "cuda": str(torch.version.cuda),
            "cudnn": str(cudnn) if cudnn else "n/a",
            "numpy": np.__version__,
        }
        if torch.cuda.is_available():
            versions.update(self._gpu_properties())
        return versions

    @staticmethod
    def _gpu_properties() -> dict[str, str]:
        props = torch.cuda.get_device_properties(0)
        return {
            "gpu": props.name,
            "gpu_total_memory_bytes": str(props.total_memory),
            "gpu_compute_capability": f"{props.major}.{props.minor}",
        }

    def devices(self) -> list[str]:
        """CPU always; GPU when CUDA sees one."""
        return ["cpu", "gpu"] if torch.cuda.is_available() else ["cpu"]

    def _torch_device(self, device: str) -> torch.device:
        if device == "cpu":
            return torch.device("cpu")
        if device == "gpu":
            if not torch.cuda.is_available():
                build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
                raise Unsupported(f"no CUDA GPU visible to torch {torch.__version__} ({build})")
            return torch.device("cuda", 0)
        raise Unsupported(f"unknown device {device!r}")

    def device_name(self, device: str) -> str:
        """GPU model name, or 'cpu'."""
        dev = self._torch_device(device)
        return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"

    def settings(self, device: str, mode: str, precision: str = "fp32") -> dict[str, Any]:
        """Threading and numerics in effect (the TF32 switches as ``build`` left them)."""
        check_mode(self, mode)
        check_precision(precision, device)
        settings = {
            "intra_op_threads": torch.get_num_threads(),
            "inter_op_threads": torch.get_num_interop_threads(),
            "dtype": "float32",
            "precision": precision,
            "tf32": tf32_enabled(),
            "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32),
            "tf32_cudnn": bool(torch.backends.cudnn.allow_tf32),
            "mode": mode,
            "optimizer": optimizer_description(device, mode),
            "compiled": COMPILED_STEP if mode == "compile" else "nothing",
            "compile_cache": self.compile_cache if mode == "compile" else "n/a (nothing compiled)",
            "cuda_graph": CUDA_GRAPH.get(mode, "none"),
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        }
        if device == "gpu" and torch.cuda.is_available():
            settings.update(self._gpu_properties())
        return settings

    def build(self, spec: ModelSpec, device: str, mode: str, precision: str = "fp32") -> TorchModel:
        """Build the model on the device; ``precision`` sets the TF32 switches (see ``set_precision``)."""
        check_mode(self, mode)
        check_precision(precision, device)
        dev = self._torch_device(device)
        if mode in GRAPH_MODES and dev.type != "cuda":
            raise Unsupported(
                f"{mode} mode captures CUDA graphs and needs a CUDA GPU; run it with --devices gpu "
                "on a machine with one"
            )
        if mode == "compile":
            check_compile_toolchain(dev)
        set_precision(precision)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)  # peak_device_memory_bytes is per run
        return TorchModel(spec, dev, mode)

    def peak_gflops(self, device: str) -> dict[str, Any]:
        """Time a large fp32 matrix product (best of several), TF32 off during the measurement."""
        dev = self._torch_device(device)
        n = 8192 if dev.type == "cuda" else 2048
        a = torch.randn(n, n, device=dev)
        b = torch.randn(n, n, device=dev)
        out = torch.empty(n, n, device=dev)

        def sync() -> None:
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)

        saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        set_precision("fp32")
        try:
            return time_peak_matmul(lambda: torch.mm(a, b, out=out), sync, n, "torch.mm")
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved

    def peak_device_memory_bytes(self, device: str) -> int | None:
        """Peak CUDA allocation since ``build`` reset it; None on CPU."""
        if device == "gpu" and torch.cuda.is_available():
            return torch.cuda.max_memory_allocated(torch.device("cuda", 0))
        return None
