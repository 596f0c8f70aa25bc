"""The MXNet training code of ``impls.mxnet``: ``GluonModel`` over the ``HybridSequential`` nets of
``models.py``, hybridized or imperative, fed from resident NDArrays or the DataLoader of ``native.py``.

Importing this module imports mxnet, which reads its threading environment (OMP_NUM_THREADS,
MXNET_CPU_WORKER_NTHREADS, ...) once, at import time. Import it only through
``impls.mxnet.MxnetFramework``, which sets that environment first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import mxnet as mx
import numpy as np
from mxnet import autograd, gluon, nd

from bench.contract import EVAL_BATCH, EpochStats, EvalStats, NativeSource
from bench.specs import ModelSpec
from impls.mxnet import runtime
from impls.mxnet.models import BUILDERS, INITIALIZERS
from impls.mxnet.native import NativeInput


class GluonModel:
    """A Gluon model with data resident on its context and plain SGD through ``gluon.Trainer``."""

    def __init__(self, spec: ModelSpec, ctx: mx.Context, hybridize: bool) -> None:
        self.spec = spec
        self.ctx = ctx
        self.net = BUILDERS[spec.name]()
        self.net.initialize(INITIALIZERS[spec.init](), ctx=ctx)
        self.loss = gluon.loss.SoftmaxCrossEntropyLoss()
        if hybridize:
            # static_alloc reuses the cached graph's buffers between calls; shapes may still vary
            # (the last batch of an epoch is smaller).
            self.net.hybridize(static_alloc=True)
            self.loss.hybridize(static_alloc=True)
        self.trainer = gluon.Trainer(self.net.collect_params(), "sgd", {"learning_rate": spec.lr})

    def _params(self) -> dict[str, gluon.Parameter]:
        """Canonical weight name (``fc1.weight``) -> the Gluon parameter (``fc1_weight``)."""
        params = self.net.collect_params()
        return {
            f"{layer.name}.{kind}": params[f"{layer.name}_{kind}"]
            for layer in self.spec.layers
            for kind in ("weight", "bias")
        }

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load canonical-layout weights."""
        for name, param in self._params().items():
            value = np.ascontiguousarray(weights[name], dtype=np.float32)
            if value.shape != param.shape:
                raise ValueError(f"{name}: shape {value.shape}, expected {param.shape}")
            param.set_data(nd.array(value, ctx=self.ctx, dtype="float32"))

    def get_weights(self) -> dict[str, np.ndarray]:
        """Return the weights in the canonical layout."""
        params = self._params().items()
        return {k: v.data(self.ctx).asnumpy().astype(np.float32, copy=True) for k, v in params}

    def put(self, images: np.ndarray, labels: np.ndarray) -> tuple[nd.NDArray, nd.NDArray]:
        """Copy a data set to the device once."""
        # Labels as float32, Gluon's convention: SoftmaxCrossEntropyLoss picks with them and
        # argmax returns float32; class ids 0..9 are exact in float32.
        x = nd.array(images, ctx=self.ctx, dtype="float32")
        y = nd.array(labels, ctx=self.ctx, dtype="float32")
        nd.waitall()  # the copy is not timed: finish it here, not in the first training step
        return x, y

    def native_input(self, source: NativeSource) -> NativeInput:
        """Gluon's ``DataLoader`` over the verified arrays (see ``NativeInput``)."""
        return NativeInput(source)

    def native_batches(
        self, data: NativeInput, order: np.ndarray, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The loader's batches for ``order``, from the iterator ``train_epoch`` draws from, as host
        numpy (float32 B x 1 x 28 x 28, int64 B)."""
        for x, y in data.epoch(order, batch_size):
            yield x.asnumpy(), y.asnumpy().astype(np.int64)

    def train_epoch(self, data: Any, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """Plain SGD over the batches given by ``order``: from ``put``'s arrays or a ``NativeInput``."""
        self.trainer.set_learning_rate(lr)
        loss_sum = nd.zeros((1,), ctx=self.ctx)
        correct = nd.zeros((1,), ctx=self.ctx)
        n = len(order)
        if isinstance(data, NativeInput):
            # The loader's host batches, copied to the device as a Gluon script does (no-op on CPU).
            batches = (
                (x.as_in_context(self.ctx), y.as_in_context(self.ctx))
                for x, y in data.epoch(order, batch_size)
            )
        else:
            batches = self._device_batches(data, order, batch_size)
        for x, y in batches:
            with autograd.record():
                logits = self.net(x)
                loss = self.loss(logits, y)  # per example
            loss.backward()  # d(sum of losses); trainer.step divides by the batch size -> mean loss
            self.trainer.step(x.shape[0])
            # Accumulate on the device: no host sync inside the epoch.
            loss_sum += loss.sum()
            correct += (logits.argmax(axis=1) == y).sum()
        return EpochStats(loss=loss_sum.asscalar() / n, accuracy=correct.asscalar() / n)

    def _device_batches(
        self, data: Any, order: np.ndarray, batch_size: int
    ) -> Iterator[tuple[nd.NDArray, nd.NDArray]]:
        """Batches gathered on the device from ``put``'s arrays by the harness's order."""
        images, labels = data
        # int32 indices: nd.take accepts them and 2**31 examples is far beyond any data set here.
        index = nd.array(order, ctx=self.ctx, dtype="int32")
        for start in range(0, len(order), batch_size):
            batch = index[start : start + batch_size]
            yield nd.take(images, batch), nd.take(labels, batch)

    def evaluate(self, data: Any) -> EvalStats:
        """Mean loss and accuracy over ``data``."""
        images, labels = data
        n = labels.shape[0]
        loss_sum = nd.zeros((1,), ctx=self.ctx)
        correct = nd.zeros((1,), ctx=self.ctx)
        for start in range(0, n, EVAL_BATCH):
            x, y = images[start : start + EVAL_BATCH], labels[start : start + EVAL_BATCH]
            logits = self.net(x)
            loss_sum += self.loss(logits, y).sum()
            correct += (logits.argmax(axis=1) == y).sum()
        return EvalStats(loss=loss_sum.asscalar() / n, accuracy=correct.asscalar() / n)

    def logits(self, data: Any) -> np.ndarray:
        """Logits for ``data`` as float32 numpy."""
        images = data[0]
        parts = [self.net(images[i : i + EVAL_BATCH]) for i in range(0, images.shape[0], EVAL_BATCH)]
        return nd.concat(*parts, dim=0).asnumpy().astype(np.float32, copy=False)

    def sync(self) -> None:
        """Wait for all queued work: MXNet's engine is asynchronous on every device, CPU included."""
        nd.waitall()


def build(spec: ModelSpec, device: str, hybridize: bool) -> GluonModel:
    """Build ``spec`` on the device (mode and precision are checked by ``MxnetFramework.build``)."""
    return GluonModel(spec, runtime.context(device), hybridize)
