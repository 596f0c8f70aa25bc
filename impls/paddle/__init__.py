"""PaddlePaddle behind the common contract: d2l-zh's ``paddle.nn`` models, ``paddle.optimizer.SGD``
and ``paddle.io.DataLoader``, in two modes.

``dygraph``       (default) the eager loop d2l-zh teaches; every op runs as it is called.
``to-static-net`` the network converted by ``paddle.jit.to_static(net, full_graph=True)`` (one static
                  program per batch shape for its forward and backward); loss, backward call and SGD
                  update in dygraph. Paddle 3.3.1 cannot convert the whole training step (see
                  ``training``'s docstring for what fails), so the mode is named for what it compiles.

Paddle reads its ``FLAGS_*`` from the environment when it is imported, so this module does not import
paddle: ``PaddleFramework(threads)`` sets the environment first, then imports ``impls.paddle.training``
(the Paddle code). One module per job:

``models.py``    the ``nn.Sequential`` builders and the layout translation (``Linear.weight`` is in x out)
``training.py``  ``PaddleModel``: the step in each mode, the epoch loop, evaluation, sync
``native.py``    the native input: ``paddle.io.Dataset`` + ``DataLoader`` in the harness's order
``runtime.py``   what is really in effect: OpenMP/MKL threads, oneDNN, library versions, the GPU

Threads: the CPU kernels run on Intel OpenMP (``libiomp5``) and MKL. ``core.set_num_threads(threads)``
sets both (``omp_set_num_threads`` and ``MKL_Set_Num_Threads``); ``settings()`` reads back
``omp_get_max_threads()`` and ``MKL_Get_Max_Threads()``. ``FLAGS_paddle_num_threads`` is not used:
a oneDNN build of Paddle never applies it in training. Paddle has no inter-op pool in dygraph.

oneDNN: the wheel bundles oneDNN; ``FLAGS_use_mkldnn`` (Paddle's switch, default off) is read from the
environment and recorded in every run with what it changes (see ``runtime.ONEDNN_NOTE``).
"""

from __future__ import annotations

import os
import sys
import warnings
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from bench.contract import Unsupported, check_mode, check_precision, time_peak_matmul
from bench.specs import ModelSpec

if TYPE_CHECKING:
    from impls.paddle.training import PaddleModel

ONEDNN_FLAG = "FLAGS_use_mkldnn"
ONEDNN_DEFAULT = "0"  # Paddle's own default, made explicit; on is no faster and breaks to_static (runtime.py)


def _import_paddle() -> tuple[ModuleType, ModuleType]:
    """Set what Paddle reads at import, then import the Paddle code (once per process)."""
    if "paddle" not in sys.modules:
        os.environ.setdefault(ONEDNN_FLAG, ONEDNN_DEFAULT)
    else:
        warnings.warn(
            "paddle was imported before PaddleFramework; its FLAGS_* are whatever that import saw",
            RuntimeWarning,
            stacklevel=3,
        )
    from impls.paddle import runtime, training

    return training, runtime


class PaddleFramework:
    """PaddlePaddle behind the common contract."""

    NAME: ClassVar[str] = "paddle"
    MODES: ClassVar[tuple[str, ...]] = ("dygraph", "to-static-net")

    def __init__(self, threads: int) -> None:
        self.threads = int(threads)
        self._training, self._runtime = _import_paddle()
        self._runtime.set_threads(self.threads)
        self._runtime.set_tf32(False)  # declared numerics: true fp32 unless a build asks for tf32

    # -- environment ----------------------------------------------------------------------------

    def versions(self) -> dict[str, str]:
        """paddle, its commit, oneDNN, MKL, numpy; CUDA/cuDNN of the build and the GPU if any."""
        return self._runtime.versions()

    def devices(self) -> list[str]:
        """CPU always; GPU when Paddle is a CUDA build that sees one."""
        return ["cpu", "gpu"] if self._runtime.gpu_unavailable_reason() is None else ["cpu"]

    def _place(self, device: str) -> str:
        return self._runtime.place(device)

    def device_name(self, device: str) -> str:
        """GPU model name, or 'cpu'."""
        place = self._place(device)
        return self._runtime.gpu_name() if place.startswith("gpu") else "cpu"

    def settings(self, device: str, mode: str, precision: str = "fp32") -> dict[str, Any]:
        """Threads, oneDNN and numerics in effect (read back from the libraries)."""
        check_mode(self, mode)
        check_precision(precision, device)
        settings = {
            **self._runtime.thread_settings(self.threads, mode),
            **self._runtime.onednn_settings(),
            "dtype": "float32",
            "precision": precision,
            "tf32": self._runtime.tf32_enabled(),
            "mode": mode,
            "compiled": self._training.COMPILED_STEP if mode == "to-static-net" else "nothing",
            "optimizer": "paddle.optimizer.SGD (p -= lr * g), lr via set_lr each epoch",
            "loss": "paddle.nn.CrossEntropyLoss() (mean softmax cross-entropy on logits)",
        }
        if device == "gpu" and self._runtime.gpu_unavailable_reason() is None:
            settings.update(self._runtime.gpu_settings())
        return settings

    def build(self, spec: ModelSpec, device: str, mode: str, precision: str = "fp32") -> PaddleModel:
        """Build the model on the device (``paddle.set_device``, process-wide: the runner builds one
        model per process). ``precision`` sets cuBLAS's and cuDNN's TF32 switches (Paddle's default is
        on; fp32 turns both off), also process-wide."""
        check_mode(self, mode)
        check_precision(precision, device)
        place = self._place(device)
        if mode == "to-static-net" and place == "cpu" and self._runtime.onednn_enabled():
            raise Unsupported(self._runtime.ONEDNN_TO_STATIC)
        self._runtime.select(place)
        self._runtime.set_tf32(precision == "tf32")
        if place.startswith("gpu"):
            import paddle

            paddle.device.cuda.reset_max_memory_allocated(0)  # peak_device_memory_bytes is per run
        return self._training.PaddleModel(spec, place, mode)

    def peak_gflops(self, device: str) -> dict[str, Any]:
        """Time a large fp32 ``paddle.matmul`` (best of several) on the device."""
        import paddle

        place = self._place(device)
        self._runtime.select(place)
        self._runtime.set_tf32(False)
        n = 8192 if place.startswith("gpu") else 2048
        a, b = paddle.randn([n, n], dtype="float32"), paddle.randn([n, n], dtype="float32")
        result: list[Any] = [None]

        def run() -> None:
            result[0] = paddle.matmul(a, b)

        def sync() -> None:
            if place.startswith("gpu"):
                paddle.device.synchronize(place)

        return time_peak_matmul(run, sync, n, "paddle.matmul")

    def peak_device_memory_bytes(self, device: str) -> int | None:
        """Peak GPU allocation since ``build`` reset it (Paddle's allocator statistics), None on CPU."""
        if device != "gpu" or self._runtime.gpu_unavailable_reason() is not None:
            return None
        import paddle

        return int(paddle.device.cuda.max_memory_allocated(0))
