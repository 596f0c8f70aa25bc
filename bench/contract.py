"""The interface every framework implementation in ``impls/`` provides.

The harness (``bench.runner``) owns the data, the initial weights, the shuffling order and the
clock; an implementation owns only its framework. Nothing here imports a deep-learning framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np

from bench.config import DEVICE_KINDS  # noqa: F401 - re-exported for implementations
from bench.specs import ModelSpec


class Unsupported(Exception):
    """A combination (device, mode) this framework or environment cannot run; recorded as skipped."""


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
        """Return mean loss and accuracy over ``data`` (no weight update)."""

    def logits(self, data: Any) -> np.ndarray:
        """Return the logits for ``data`` as a float32 N x 10 numpy array (for conformance tests)."""

    def sync(self) -> None:
        """Block until all queued device work has finished (before the clock is read)."""


class Framework(Protocol):
    """A deep-learning framework behind the common contract; one class per folder in ``impls/``."""

    NAME: ClassVar[str]
    MODES: ClassVar[tuple[str, ...]]  # the first is the default

    def __init__(self, threads: int) -> None:
        """Import the framework and set its CPU threading (intra-op = threads, inter-op = 1)."""

    def versions(self) -> dict[str, str]:
        """Return the versions of the framework and the libraries that matter for speed."""

    def devices(self) -> list[str]:
        """Return the device kinds (``cpu``, ``gpu``) this environment can really use."""

    def device_name(self, device: str) -> str:
        """Return a human-readable name of the device (e.g. the GPU model)."""

    def settings(self, device: str, mode: str) -> dict[str, Any]:
        """Return the numerics/threading settings in effect (recorded with every run)."""

    def build(self, spec: ModelSpec, device: str, mode: str) -> Model:
        """Build ``spec`` on ``device`` in ``mode``; raise Unsupported early if that cannot run."""

    def peak_gflops(self, device: str) -> dict[str, Any]:
        """Measure fp32 matrix-product throughput on ``device``; return gflops and the method."""

    def peak_device_memory_bytes(self, device: str) -> int | None:
        """Return the peak device-memory allocation so far (None on CPU)."""
