"""The interface every framework implementation in ``impls/`` provides.

The harness (``bench.runner``) owns the data, the initial weights, the shuffling order and the
clock; an implementation owns only its framework. Nothing here imports a deep-learning framework.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from bench.specs import ModelSpec

EVAL_BATCH = 1024  # evaluation batch in every framework; large enough to amortise per-batch overhead
PRECISIONS: tuple[str, ...] = ("fp32", "tf32")  # fp32 (TF32 off) is the default everywhere
INPUTS: tuple[str, ...] = ("device", "native")  # data resident on the device, or the framework's loader


class Unsupported(Exception):
    """A combination (device, mode) this framework or environment cannot run; recorded as skipped."""


@dataclass(frozen=True)
class NativeSource:
    """What a framework's native input pipeline reads: one verified split of Fashion-MNIST.

    ``images`` are the raw uint8 N x 28 x 28 pixels and ``labels`` int64 N, exactly as decoded and
    verified by ``bench.data``; ``data_dir`` holds the four verified ``*-ubyte.gz`` files (for a
    loader that reads them itself, e.g. torchvision's ``FashionMNIST``); ``workers`` is
    ``--loader-workers`` (0 = load in the training process). The pipeline must deliver the same
    float32 values in [0, 1] (pixel / 255) as ``put`` and follow the harness's order exactly.
    """

    images: np.ndarray
    labels: np.ndarray
    data_dir: str
    split: str  # "train" or "test"
    workers: int = 0


@dataclass(frozen=True)
class EpochStats:
    """Training statistics over one epoch, averaged over examples."""

    loss: float
    accuracy: float


@dataclass(frozen=True)
class EvalStats:
    """Evaluation statistics over a whole data set."""

    loss: float
    accuracy: float


class Model(Protocol):
    """One model, built by a framework on one device in one mode."""

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load weights given in the canonical layout (conv OIHW, dense out x in, flatten C*H*W)."""

    def get_weights(self) -> dict[str, np.ndarray]:
        """Return the weights in the canonical layout, as float32 numpy arrays."""

    def put(self, images: np.ndarray, labels: np.ndarray) -> Any:
        """Copy a data set to the device once (not timed).

        ``images`` is float32 N x 1 x 28 x 28 in [0, 1]; ``labels`` is int64 N.
        """

    def train_epoch(self, data: Any, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """Run plain SGD over ``data`` in the given example order, batch by batch.

        Batches are ``order[i:i + batch_size]``; the last one may be smaller. The loss is the mean
        softmax cross-entropy over the batch. Returns the epoch's mean loss and accuracy.
        """

    def evaluate(self, data: Any) -> EvalStats:
        """Return mean loss and accuracy over ``data`` (no weight update; ``data`` from ``put``)."""

    # --- optional: the native input path (``--input native``); without it such runs are skipped ---

    def native_input(self, source: NativeSource) -> Any:
        """Build the framework's own input pipeline over ``source`` (not timed); ``train_epoch``
        accepts what this returns in place of ``put``'s result and draws its batches from it."""

    def native_batches(
        self, data: Any, order: np.ndarray, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield, as host numpy arrays (float32 B x 1 x 28 x 28, int64 B), exactly the batches the
        native pipeline ``data`` feeds ``train_epoch`` for this order (for the same-batches test)."""

    def logits(self, data: Any) -> np.ndarray:
        """Return the logits for ``data`` as a float32 N x 10 numpy array (for conformance tests)."""

    def sync(self) -> None:
        """Block until all queued device work has finished (before the clock is read)."""


class Framework(Protocol):
    """A deep-learning framework behind the common contract; one class per folder in ``impls/``.

    Optional: a static ``preload(threads) -> list[str]`` that imports what the constructor imports,
    touching no device and starting no thread, and returns the modules' names. With it, ``bench run
    --start fork`` forks each run from a server that preloaded once (bench.forkserver)."""

    NAME: ClassVar[str]
    MODES: ClassVar[tuple[str, ...]]  # the first is the default
    # Optional: modes that compile a whole epoch at once (a scan over its steps, one graph of it): a
    # timing run in one warms up by a whole epoch, since a shorter one would compile another program.
    # Every other mode warms up by steps (bench.child.warmup_order).
    WHOLE_EPOCH_MODES: ClassVar[tuple[str, ...]]

    def __init__(self, threads: int) -> None:
        """Import the framework and set its CPU threading (intra-op = threads, inter-op = 1)."""

    def versions(self) -> dict[str, str]:
        """Return the versions of the framework and the libraries that matter for speed."""

    def devices(self) -> list[str]:
        """Return the device kinds (``cpu``, ``gpu``) this environment can really use."""

    def device_name(self, device: str) -> str:
        """Return a human-readable name of the device (e.g. the GPU model)."""

    def settings(self, device: str, mode: str, precision: str = "fp32") -> dict[str, Any]:
        """Return the numerics/threading settings in effect (recorded with every run)."""

    def build(self, spec: ModelSpec, device: str, mode: str, precision: str = "fp32") -> Model:
        """Build ``spec`` on ``device`` in ``mode``; raise Unsupported early if that cannot run.

        ``precision`` is one of PRECISIONS: "fp32" (true fp32, TF32 off) or "tf32" (TF32 tensor
        cores allowed for matmul/conv; GPU only: raise Unsupported where it has no meaning)."""

    def peak_gflops(self, device: str) -> dict[str, Any]:
        """Measure fp32 matrix-product throughput on ``device``; return gflops and the method."""

    def peak_device_memory_bytes(self, device: str) -> int | None:
        """Return the peak device-memory allocation so far (None on CPU)."""


# ----------------------------------------------------------------------------------------------
# helpers shared by implementations (plain Python/numpy: no framework is imported here)


def check_mode(framework: Any, mode: str) -> str:
    """Return ``mode`` if ``framework`` declares it, else raise Unsupported naming the valid ones."""
    if mode not in framework.MODES:
        raise Unsupported(
            f"{framework.NAME} has no mode {mode!r}; choose one of: {', '.join(framework.MODES)}"
        )
    return mode


def check_precision(precision: str, device: str) -> str:
    """Validate ``precision``; TF32 exists only on a GPU's tensor cores (CPU runs are fp32)."""
    if precision not in PRECISIONS:
        raise Unsupported(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if precision == "tf32" and device != "gpu":
        raise Unsupported("tf32 is a GPU tensor-core setting; CPU runs are fp32 only")
    return precision


def time_peak_matmul(
    matmul: Callable[[], Any], sync: Callable[[], None], n: int, label: str, repeats: int = 5
) -> dict[str, Any]:
    """Time ``matmul`` (one n x n by n x n fp32 product, its result forced) best of ``repeats``,
    after one warm-up call; return the contract's ``peak_gflops`` dict."""
    timings = []
    for _ in range(repeats + 1):  # the first call warms up the BLAS / autotuner and is dropped
        sync()
        start = time.perf_counter()
        matmul()
        sync()
        timings.append(time.perf_counter() - start)
    best = min(timings[1:])
    return {"gflops": 2 * n**3 / best / 1e9, "method": f"{label} fp32 {n}x{n}, best of {repeats}"}
