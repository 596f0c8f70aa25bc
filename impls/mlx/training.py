"""``MlxModel``: the SGD step in each mode, the epoch loop, evaluation, weights in and out, sync.

The step is MLX's own: ``nn.value_and_grad(model, loss_fn)`` of the mean
``nn.losses.cross_entropy``, ``optimizer.update(model, grads)`` with ``mlx.optimizers.SGD`` (plain:
no momentum, no weight decay). MLX is lazy: a step only builds a graph, and ``mx.eval`` runs it.

``eager``    one step per batch, ``mx.eval`` of the model, the optimizer state and the epoch's
             running sums after each (the loop MLX's documentation writes).
``compile``  the same step under ``mx.compile`` with the state captured as MLX documents it:
             ``partial(mx.compile, inputs=state, outputs=state)`` with ``state = [model.state,
             optimizer.state]``; the learning rate lives in ``optimizer.state``, so a new lr is new
             data, not a recompilation. A new batch shape (the epoch's smaller last batch) traces once
             more. On a Linux CPU, ``mx.compile`` fuses element-wise ops into C++ that it builds with
             the system's ``g++`` (cached under the temp directory); without ``g++`` it still
             simplifies the graph but fuses nothing (``settings()`` records which).

Each batch is gathered lazily from the resident data by the harness's permutation (uploaded once per
epoch) and fed to the step, as MLX's MNIST example does; with ``--input native`` the batches come
from an ``mlx.data`` pipeline instead (``impls.mlx.native``) and go through the same step. The loss
sum and correct count stay MLX arrays, evaluated with each step and fetched once per epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

from bench.contract import EVAL_BATCH, EpochStats, EvalStats, NativeSource, Unsupported
from bench.layouts import canonical_batch
from bench.specs import ModelSpec
from impls.mlx.models import build_module, canonical_weights, load_canonical


@dataclass(frozen=True)
class DeviceData:
    """A data set as MLX arrays: NHWC float32 images and int32 labels."""

    images: mx.array
    labels: mx.array


def loss_fn(model: nn.Module, x: mx.array, y: mx.array) -> tuple[mx.array, mx.array]:
    """The mean softmax cross-entropy, and the logits (for the epoch's accuracy)."""
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean"), logits


class MlxModel:
    """An ``mlx.nn`` model on MLX's CPU device, trained eagerly or by a compiled step."""

    def __init__(self, spec: ModelSpec, mode: str) -> None:
        self.spec = spec
        self.mode = mode
        self.model = build_module(spec)
        mx.eval(self.model.parameters())
        self.optimizer = optim.SGD(learning_rate=spec.lr)
        self.optimizer.init(self.model.trainable_parameters())
        self._last: Any = None  # the latest outputs (what sync waits for besides the state)
        model, optimizer = self.model, self.optimizer
        loss_and_grad = nn.value_and_grad(model, loss_fn)

        def step(x: mx.array, y: mx.array, loss_sum: mx.array, correct: mx.array):
            (loss, logits), grads = loss_and_grad(model, x, y)
            optimizer.update(model, grads)
            hits = mx.sum(mx.argmax(logits, axis=-1) == y)
            return loss_sum + loss * y.shape[0], correct + hits

        def forward(x: mx.array) -> mx.array:
            return model(x)

        self.state = [model.state, optimizer.state]
        if mode == "compile":
            self._step = partial(mx.compile, inputs=self.state, outputs=self.state)(step)
            self._forward = partial(mx.compile, inputs=model.state)(forward)
        else:
            self._step, self._forward = step, forward

    # -- weights --------------------------------------------------------------------------------

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load canonical-layout weights; the optimizer starts afresh."""
        load_canonical(self.model, self.spec, weights)
        self.optimizer.init(self.model.trainable_parameters())
        mx.eval(self.state)

    def get_weights(self) -> dict[str, np.ndarray]:
        """The weights in the canonical layout."""
        return canonical_weights(self.model, self.spec)

    # -- data -----------------------------------------------------------------------------------

    def put(self, images: np.ndarray, labels: np.ndarray) -> DeviceData:
        """The data set as MLX arrays, images NHWC (evaluated here, off the clock)."""
        nhwc = np.ascontiguousarray(np.transpose(images, (0, 2, 3, 1)), dtype=np.float32)
        data = DeviceData(mx.array(nhwc), mx.array(np.asarray(labels, dtype=np.int32)))
        mx.eval(data.images, data.labels)
        return data

    def native_input(self, source: NativeSource) -> Any:
        """The ``mlx.data`` pipeline over the verified arrays (``impls.mlx.native``); mlx.data is
        imported here, so an environment without it still trains from the resident data."""
        try:
            from impls.mlx.native import NativeInput
        except ImportError as exc:
            raise Unsupported(
                f"the native input needs mlx-data, which is not installed here ({exc}); "
                "pip install mlx-data (version in impls/mlx/requirements.txt)"
            ) from exc
        return NativeInput(source)

    def native_batches(
        self, data: Any, order: np.ndarray, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The pipeline's batches for ``order``, from the iterator ``train_epoch`` draws from, in the
        canonical layout (NHWC -> N x 1 x 28 x 28, labels int64)."""
        for x, y in data.epoch(order, batch_size):
            yield canonical_batch(x, y)

    # -- training -------------------------------------------------------------------------------

    def _batches(self, data: Any, order: np.ndarray, batch_size: int) -> Iterator[tuple[mx.array, mx.array]]:
        if isinstance(data, DeviceData):
            perm = mx.array(np.asarray(order, dtype=np.int32))  # one upload of the order per epoch
            for start in range(0, len(order), batch_size):
                index = perm[start : start + batch_size]
                yield data.images[index], data.labels[index]
        else:  # native_input's pipeline: host batches
            for x, y in data.epoch(order, batch_size):
                yield mx.array(x), mx.array(y)

    def train_epoch(self, data: Any, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """Plain SGD over the batches given by ``order``, one ``mx.eval`` per step."""
        n = len(order)
        self.optimizer.learning_rate = lr  # an array in optimizer.state: no recompilation
        acc = (mx.array(0.0, dtype=mx.float32), mx.array(0, dtype=mx.int32))
        for x, y in self._batches(data, order, batch_size):
            acc = self._step(x, y, *acc)
            mx.eval(self.state, acc)
        self._last = acc
        loss_sum, correct = acc
        return EpochStats(loss=loss_sum.item() / n, accuracy=int(correct.item()) / n)

    def evaluate(self, data: DeviceData) -> EvalStats:
        """Mean loss and accuracy over ``data``."""
        n = int(data.labels.shape[0])
        loss_sum, correct = mx.array(0.0, dtype=mx.float32), mx.array(0, dtype=mx.int32)
        for start in range(0, n, EVAL_BATCH):
            x, y = data.images[start : start + EVAL_BATCH], data.labels[start : start + EVAL_BATCH]
            logits = self._forward(x)
            loss_sum = loss_sum + nn.losses.cross_entropy(logits, y, reduction="sum")
            correct = correct + mx.sum(mx.argmax(logits, axis=-1) == y)
            mx.eval(loss_sum, correct)
        self._last = (loss_sum, correct)
        return EvalStats(loss=loss_sum.item() / n, accuracy=int(correct.item()) / n)

    def logits(self, data: DeviceData) -> np.ndarray:
        """Logits for ``data`` as float32 numpy."""
        n = int(data.images.shape[0])
        chunks = [self._forward(data.images[s : s + EVAL_BATCH]) for s in range(0, n, EVAL_BATCH)]
        mx.eval(chunks)
        return np.concatenate([np.array(c) for c in chunks]).astype(np.float32, copy=False)

    def sync(self) -> None:
        """Block until the model's state and its latest outputs are computed.

        MLX is lazy: nothing runs until ``mx.eval``, and an array it has not evaluated is only a
        graph. ``mx.eval`` of the state and the latest outputs runs what is pending and waits for it;
        ``mx.synchronize`` then waits for anything else queued on the default stream (work started
        by ``mx.async_eval``).
        """
        mx.eval(self.state, self._last)
        mx.synchronize()
