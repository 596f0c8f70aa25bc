"""The torch code of ``impls.keras_torch``: the Keras guide's custom train step (``TorchStepModel``)
and ``model.fit`` (``TorchFitModel``). Imported by ``KerasTorchFramework.__init__`` after Keras was
imported on the torch backend.

The custom step follows keras.io's "Writing a training loop from scratch in PyTorch": forward with
``model(x, training=True)``, a Keras loss, the gradients released (``p.grad = None`` on each
trainable tensor: what ``model.zero_grad()`` does, without its walk over the module tree),
``loss.backward()``, the gradients of ``model.trainable_weights``, and ``optimizer.apply(grads,
weights)`` under ``torch.no_grad()``. As in the torch row, the order is uploaded once per epoch and
sliced on the device. The steps' losses and logits are kept (detached: no op per step) and reduced
once per epoch, fetched with one sync.

Keras keeps the model channels-last on every backend; on torch its conv and pooling layers permute
NHWC to torch's NCHW and back around each call (Keras's cost, measured as such).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import torch

from bench.contract import EVAL_BATCH, EpochStats, EvalStats
from bench.specs import ModelSpec
from impls.keras_common.training import FitModel, KerasNet, fit_description

COMPILED = (
    "torch.compile of Keras's train step (compile(jit_compile=True)): forward, loss, metrics, "
    "backward and optimizer.apply, with Dynamo's graph breaks; model.evaluate/predict compiled too"
)
LOOPS = {
    "step": (
        "custom loop (Keras guide, PyTorch): model(x, training=True), keras loss, grads released "
        "(p.grad = None, what model.zero_grad() does), "
        "loss.backward(), optimizer.apply(grads, trainable_weights) under torch.no_grad(); eager"
    ),
    "fit": fit_description(False, 1, "eager (Keras's torch default)"),
    "fit-compile": fit_description(True, 1, COMPILED),
}


def keras_device(device: torch.device) -> str:
    """The device string ``keras.device`` takes for a torch device ("cpu", "cuda:0")."""
    return "cpu" if device.type == "cpu" else f"{device.type}:{device.index or 0}"


class TorchIO:
    """Data on the device and ``sync`` for every torch mode."""

    torch_device: torch.device

    def put(self, images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Copy a data set to the device once, images as NHWC."""
        nhwc = np.ascontiguousarray(np.transpose(images, (0, 2, 3, 1)), dtype=np.float32)
        labels = np.asarray(labels, dtype=np.int64)
        return torch.from_numpy(nhwc).to(self.torch_device), torch.from_numpy(labels).to(self.torch_device)

    def _device_order(self, order: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(order, dtype=np.int64)).to(self.torch_device)

    def sync(self) -> None:
        """Wait for queued CUDA work; CPU ops are synchronous."""
        if self.torch_device.type == "cuda":
            torch.cuda.synchronize(self.torch_device)


class TorchStepModel(TorchIO, KerasNet):
    """A Keras network trained by the guide's custom torch loop (see the module docstring)."""

    def __init__(self, spec: ModelSpec, device: torch.device, mode: str) -> None:
        self.torch_device = device
        super().__init__(spec, keras_device(device), mode)
        with keras.device(self.device):
            self.optimizer = keras.optimizers.SGD(learning_rate=float(spec.lr))  # momentum 0: plain SGD
            self.optimizer.build(self.net.trainable_variables)
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)  # batch mean
        self.sum_loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")

    def train_epoch(self, data: Any, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """Plain SGD over the batches ``order[i:i + batch_size]`` of the resident data."""
        images, labels = data
        n = len(order)
        self.optimizer.learning_rate = float(lr)  # assigns the optimizer's lr variable
        weights = self.net.trainable_weights
        tensors = [v.value for v in weights]  # the torch Parameters under the Keras variables
        with keras.device(self.device):
            index = self._device_order(order)
            kept = []  # each step's mean loss and logits, detached; reduced once, after the epoch
            for start in range(0, n, batch_size):
                batch = index[start : start + batch_size]
                x, y = torch.index_select(images, 0, batch), torch.index_select(labels, 0, batch)
                logits = self.net(x, training=True)
                loss = self.loss_fn(y, logits)
                for tensor in tensors:  # the gradients released, as model.zero_grad() would, without
                    tensor.grad = None  # its walk over the module tree
                loss.backward()
                grads = [tensor.grad for tensor in tensors]
                with torch.no_grad():
                    self.optimizer.apply(grads, weights)
                kept.append((loss.detach(), logits.detach()))
            with torch.no_grad():
                sizes = torch.tensor([min(batch_size, n - s) for s in range(0, n, batch_size)])
                loss_sum = (torch.stack([loss for loss, _ in kept]) * sizes.to(self.torch_device)).sum()
                predictions = torch.cat([logits for _, logits in kept]).argmax(dim=1)
                correct = (predictions == torch.index_select(labels, 0, index)).sum()
        return EpochStats(loss=loss_sum.item() / n, accuracy=correct.item() / n)  # the epoch's only sync

    @torch.no_grad()
    def evaluate(self, data: Any) -> EvalStats:
        """Mean loss and accuracy over ``data``."""
        images, labels = data
        n = len(labels)
        with keras.device(self.device):
            loss_sum = torch.zeros((), device=self.torch_device)
            correct = torch.zeros((), dtype=torch.int64, device=self.torch_device)
            for start in range(0, n, EVAL_BATCH):
                x, y = images[start : start + EVAL_BATCH], labels[start : start + EVAL_BATCH]
                logits = self.net(x, training=False)
                loss_sum += self.sum_loss_fn(y, logits)
                correct += (logits.argmax(dim=1) == y).sum()
        return EvalStats(loss=loss_sum.item() / n, accuracy=correct.item() / n)

    @torch.no_grad()
    def logits(self, data: Any) -> np.ndarray:
        """Logits for ``data`` as float32 numpy."""
        images = data[0]
        with keras.device(self.device):
            starts = range(0, len(images), EVAL_BATCH)
            chunks = [self.net(images[i : i + EVAL_BATCH], training=False).cpu() for i in starts]
        return torch.cat(chunks).numpy()


class TorchFitModel(TorchIO, FitModel):
    """``model.fit`` on torch (``impls.keras_common.training``): eager, or ``torch.compile`` of Keras's train
    step with ``jit_compile``; ``steps_per_execution`` 1 (the only value Keras's torch trainer takes)."""

    def __init__(self, spec: ModelSpec, device: torch.device, mode: str, jit_compile: bool) -> None:
        self.torch_device = device
        super().__init__(spec, keras_device(device), mode, jit_compile=jit_compile, steps_per_execution=1)
