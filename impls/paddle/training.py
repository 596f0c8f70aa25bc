"""``PaddleModel``: one network on one device, trained with plain SGD in a mode (dygraph or
to-static-net).

``dygraph``       d2l-zh's loop: ``net(x)``, ``nn.CrossEntropyLoss()`` (mean softmax cross-entropy
                  on logits), ``loss.backward()``, ``optimizer.step()``, ``optimizer.clear_grad()``,
                  each op run eagerly.
``to-static-net`` the same loop with the *network* converted by ``paddle.jit.to_static(net,
                  full_graph=True)``: its forward becomes one static PIR program per batch shape
                  (and its backward the generated gradient program), run by Paddle's executor; loss,
                  ``backward()`` call and SGD update stay in dygraph. Not the whole step: in paddle
                  3.3.1 a whole-step ``to_static`` (with ``loss.backward()`` and ``optimizer.step()``
                  inside) fails under PIR (``'Value' object has no attribute 'backward'``; Paddle's own
                  test of it runs on the legacy IR only), and with the legacy IR
                  (``FLAGS_enable_pir_api=0``) ``paddle.argmax`` refuses a legacy ``Variable``.

Both modes gather each batch on the device from the device-resident data with the harness's order
(uploaded once per epoch) and add the loss sum and correct count into device tensors: one host
fetch per epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import paddle
from paddle import nn

from bench.contract import EVAL_BATCH, EpochStats, EvalStats, NativeSource
from bench.specs import ModelSpec
from impls.paddle import models
from impls.paddle.native import NativeInput

COMPILED_STEP = (
    "paddle.jit.to_static(net, full_graph=True): the network's forward as one static (PIR) program "
    "per batch shape, its backward the program's generated gradient program; the batch gather, "
    "CrossEntropyLoss, backward() call and SGD step run in dygraph; evaluation uses the static forward"
)


def train_step(net, loss_fn, optimizer, images, labels, index):
    """One SGD step on the batch ``images[index]``: d2l-zh's forward, loss, ``backward``, ``step``,
    ``clear_grad``. Returns the batch's mean loss and its count of correct predictions."""
    x = paddle.index_select(images, index)
    y = paddle.index_select(labels, index)
    logits = net(x)
    loss = loss_fn(logits, y)
    loss.backward()
    optimizer.step()
    optimizer.clear_grad()
    correct = paddle.sum(paddle.cast(paddle.argmax(logits, axis=1) == y, "int64"))
    return loss.detach(), correct


class PaddleModel:
    """A ``paddle.nn`` network on one place, trained by ``paddle.optimizer.SGD``."""

    def __init__(self, spec: ModelSpec, place: str, mode: str) -> None:
        self.spec = spec
        self.place = place  # "cpu" or "gpu:0", as given to paddle.set_device
        self.mode = mode
        self.net = models.BUILDERS[spec.name]()  # initial values are replaced by set_weights
        self.optimizer = paddle.optimizer.SGD(learning_rate=spec.lr, parameters=self.net.parameters())
        self.loss_fn = nn.CrossEntropyLoss()  # reduction="mean", soft_label=False: logits in
        self._sum_loss = nn.CrossEntropyLoss(reduction="sum")
        if mode == "to-static-net":  # converts net.forward in place; parameters stay the same
            self.net = paddle.jit.to_static(self.net, full_graph=True)

    # -- weights --------------------------------------------------------------------------------

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load canonical-layout weights (``Parameter.set_value``)."""
        models.set_weights(self.net, self.spec, weights)

    def get_weights(self) -> dict[str, np.ndarray]:
        """Return the weights in the canonical layout."""
        return models.get_weights(self.net, self.spec)

    # -- data -----------------------------------------------------------------------------------

    def put(self, images: np.ndarray, labels: np.ndarray) -> tuple[paddle.Tensor, paddle.Tensor]:
        """Copy a data set to the device once (float32 N x 1 x 28 x 28, int64 N)."""
        return (
            paddle.to_tensor(np.ascontiguousarray(images, dtype=np.float32), place=self.place),
            paddle.to_tensor(np.asarray(labels, dtype=np.int64), place=self.place),
        )

    def native_input(self, source: NativeSource) -> NativeInput:
        """``paddle.io.DataLoader`` over the verified arrays (``impls.paddle.native``)."""
        return NativeInput(source)

    def native_batches(
        self, data: NativeInput, order: np.ndarray, batch_size: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The loader's batches for ``order`` (the iterator ``train_epoch`` draws from), as numpy."""
        for images, labels in data.epoch(order, batch_size):
            yield images.numpy(), labels.numpy().astype(np.int64, copy=False)

    # -- training -------------------------------------------------------------------------------

    def step(self, images: paddle.Tensor, labels: paddle.Tensor, index: paddle.Tensor):
        """One SGD step of this mode on ``images[index]`` (mean loss, correct count)."""
        return train_step(self.net, self.loss_fn, self.optimizer, images, labels, index)

    def train_epoch(self, data: Any, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """Plain SGD over the batches ``order[i:i + batch_size]``, from ``put``'s tensors or the
        ``DataLoader``; one host fetch, at the end of the epoch."""
        n = len(order)
        self.optimizer.set_lr(lr)
        self.net.train()
        loss_sum = paddle.zeros([], dtype="float32")
        correct = paddle.zeros([], dtype="int64")
        if isinstance(data, NativeInput):
            for images, labels in data.epoch(order, batch_size):
                images, labels = images.to(self.place), labels.to(self.place)
                index = paddle.arange(labels.shape[0], dtype="int64")
                loss, hits = self.step(images, labels, index)
                loss_sum += loss * float(labels.shape[0])
                correct += hits
        else:
            images, labels = data
            order_t = paddle.to_tensor(np.asarray(order, dtype=np.int64), place=self.place)
            for start in range(0, n, batch_size):
                index = order_t[start : start + batch_size]
                loss, hits = self.step(images, labels, index)
                loss_sum += loss * float(min(batch_size, n - start))
                correct += hits
        self._last = (loss_sum, correct)
        return EpochStats(loss=float(loss_sum.item()) / n, accuracy=int(correct.item()) / n)

    @paddle.no_grad()
    def evaluate(self, data: Any) -> EvalStats:
        """Mean loss and accuracy over ``data`` (dygraph in every mode)."""
        images, labels = data
        n = int(labels.shape[0])
        self.net.eval()
        loss_sum = paddle.zeros([], dtype="float32")
        correct = paddle.zeros([], dtype="int64")
        for start in range(0, n, EVAL_BATCH):
            x, y = images[start : start + EVAL_BATCH], labels[start : start + EVAL_BATCH]
            logits = self.net(x)
            loss_sum += self._sum_loss(logits, y)
            correct += paddle.sum(paddle.cast(paddle.argmax(logits, axis=1) == y, "int64"))
        self._last = (loss_sum, correct)
        return EvalStats(loss=float(loss_sum.item()) / n, accuracy=int(correct.item()) / n)

    @paddle.no_grad()
    def logits(self, data: Any) -> np.ndarray:
        """Logits for ``data`` as float32 numpy."""
        self.net.eval()
        images = data[0]
        n = int(images.shape[0])
        chunks = [self.net(images[i : i + EVAL_BATCH]).numpy() for i in range(0, n, EVAL_BATCH)]
        return np.concatenate(chunks).astype(np.float32, copy=False)

    def sync(self) -> None:
        """Block until the queued device work is done: ``paddle.device.synchronize`` on a GPU.

        On the CPU, Paddle runs every kernel in the calling thread before the op (dygraph) or the
        static program (to-static) returns, and ``paddle.device.synchronize`` refuses a CPU place,
        so there is nothing to wait for.
        """
        if self.place.startswith("gpu"):
            paddle.device.synchronize(self.place)
