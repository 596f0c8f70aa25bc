"""The JAX code of ``impls.keras_jax``: the Keras guide's custom train step under ``jax.jit``
(``JaxStepModel``) and ``model.fit`` (``JaxFitModel``). Imported by ``KerasJaxFramework.__init__``
after Keras was imported on the JAX backend.

The custom step follows keras.io's "Writing a training loop from scratch in JAX": a loss function
over ``model.stateless_call(trainable, non_trainable, x)``, ``jax.value_and_grad(..., has_aux=True)``
and ``optimizer.stateless_apply(optimizer_variables, grads, trainable)``, all in one jitted step over
the state (trainable, non-trainable and optimizer variables, donated so XLA updates it in place).
As in the jax row, the batch is gathered on the device from the resident data by a slice of the
harness's order (uploaded once per epoch), and the loss sum and correct count accumulate on the
device, fetched once per epoch. The learning rate is one of the optimizer's variables (state, not a
constant), so a new lr does not recompile.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import keras
import numpy as np

from bench.contract import EVAL_BATCH, EpochStats, EvalStats
from bench.specs import ModelSpec
from impls.keras_common.training import FitModel, KerasNet, fit_description


def fit_loop(steps_per_execution: int) -> str:
    """What mode fit runs on JAX, for settings()."""
    return fit_description(
        True,
        steps_per_execution,
        f"one jax.jit step (state donated) per batch, called {steps_per_execution} at a time by "
        "Keras's train function",
    )


@dataclass(frozen=True)
class DeviceData:
    """A data set resident on the device: NHWC float32 images and int32 labels (as in the jax row)."""

    images: jax.Array
    labels: jax.Array

    def __iter__(self):  # (images, labels), the form FitModel unpacks
        return iter((self.images, self.labels))


class JaxIO:
    """Data on the device and ``sync`` for both JAX modes."""

    device: Any
    net: keras.Model
    _last: Any = None

    def put(self, images: np.ndarray, labels: np.ndarray) -> DeviceData:
        """Copy a data set to the device once, images as NHWC."""
        nhwc = np.ascontiguousarray(np.transpose(images, (0, 2, 3, 1)), dtype=np.float32)
        return DeviceData(
            jax.device_put(nhwc, self.device), jax.device_put(np.asarray(labels, np.int32), self.device)
        )

    def _device_order(self, order: np.ndarray) -> jax.Array:
        return jax.device_put(np.asarray(order, dtype=np.int32), self.device)

    def sync(self) -> None:
        """Block until the Keras variables and the latest dispatched outputs are computed.

        JAX dispatches asynchronously; every computation a model queues produces (a new value of) its
        variables or ``_last``, so waiting for those arrays waits for all the work it queued.
        """
        values = [v.value for v in self.net.variables]
        optimizer = getattr(self, "optimizer", None) or getattr(self.net, "optimizer", None)
        if optimizer is not None:
            values += [v.value for v in optimizer.variables]
        jax.block_until_ready((values, self._last))


class JaxStepModel(JaxIO, KerasNet):
    """A Keras network trained by the guide's jitted stateless step (see the module docstring)."""

    def __init__(self, spec: ModelSpec, device: jax.Device, mode: str) -> None:
        super().__init__(spec, device, mode)
        with keras.device(device):
            self.optimizer = keras.optimizers.SGD(learning_rate=float(spec.lr))  # momentum 0: plain SGD
            self.optimizer.build(self.net.trainable_variables)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)  # mean over the batch
        net, optimizer = self.net, self.optimizer

        def compute_loss_and_updates(trainable, non_trainable, x, y):
            logits, non_trainable = net.stateless_call(trainable, non_trainable, x, training=True)
            return loss_fn(y, logits), (logits, non_trainable)

        grad_fn = jax.value_and_grad(compute_loss_and_updates, has_aux=True)

        def train_step(state, acc, x, y):
            trainable, non_trainable, optimizer_variables = state
            (loss, (logits, non_trainable)), grads = grad_fn(trainable, non_trainable, x, y)
            trainable, optimizer_variables = optimizer.stateless_apply(optimizer_variables, grads, trainable)
            loss_sum, correct = acc
            hits = jnp.sum(jnp.argmax(logits, axis=-1) == y, dtype=jnp.int32)
            acc = (loss_sum + loss * y.shape[0], correct + hits)
            return (trainable, non_trainable, optimizer_variables), acc

        @functools.partial(jax.jit, static_argnames="batch_size", donate_argnums=(0, 1))
        def step(state, acc, images, labels, order, start, batch_size):
            index = jax.lax.dynamic_slice_in_dim(order, start, batch_size)  # the batch, on the device
            return train_step(state, acc, jnp.take(images, index, axis=0), jnp.take(labels, index, axis=0))

        @jax.jit
        def eval_batch(trainable, non_trainable, x, y):
            logits, _ = net.stateless_call(trainable, non_trainable, x, training=False)
            loss = loss_fn(y, logits)
            return loss * y.shape[0], jnp.sum(jnp.argmax(logits, axis=-1) == y, dtype=jnp.int32)

        @jax.jit
        def forward(trainable, non_trainable, x):
            return net.stateless_call(trainable, non_trainable, x, training=False)[0]

        self._step, self._eval_batch, self._forward = step, eval_batch, forward

    def _state(self) -> tuple[list[jax.Array], list[jax.Array], list[jax.Array]]:
        return (
            [v.value for v in self.net.trainable_variables],
            [v.value for v in self.net.non_trainable_variables],
            [v.value for v in self.optimizer.variables],
        )

    def _assign(self, state: tuple[list[jax.Array], list[jax.Array], list[jax.Array]]) -> None:
        """Put the state back into the Keras variables (the guide's sync after the loop)."""
        trainable, non_trainable, optimizer_variables = state
        for variables, values in (
            (self.net.trainable_variables, trainable),
            (self.net.non_trainable_variables, non_trainable),
            (self.optimizer.variables, optimizer_variables),
        ):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)

    def _zero_acc(self) -> tuple[jax.Array, jax.Array]:
        return jax.device_put((np.float32(0.0), np.int32(0)), self.device)

    def train_epoch(self, data: DeviceData, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """Plain SGD over the batches ``order[i:i + batch_size]`` of the resident data."""
        n = len(order)
        self.optimizer.learning_rate = float(lr)  # assigns the lr variable: new data, no recompile
        state, acc = self._state(), self._zero_acc()
        index = self._device_order(order)  # one upload of the order per epoch
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            state, acc = self._step(state, acc, data.images, data.labels, index, start, batch_size=size)
        self._assign(state)
        self._last = acc
        loss_sum, correct = jax.device_get(acc)  # the epoch's only fetch
        return EpochStats(loss=float(loss_sum) / n, accuracy=int(correct) / n)

    def evaluate(self, data: DeviceData) -> EvalStats:
        """Mean loss and accuracy over ``data``."""
        n = int(data.labels.shape[0])
        trainable, non_trainable, _ = self._state()
        loss_sum, correct = self._zero_acc()
        for start in range(0, n, EVAL_BATCH):
            batch_loss, batch_correct = self._eval_batch(
                trainable,
                non_trainable,
                data.images[start : start + EVAL_BATCH],
                data.labels[start : start + EVAL_BATCH],
            )
            loss_sum, correct = loss_sum + batch_loss, correct + batch_correct
        self._last = (loss_sum, correct)
        loss_sum, correct = jax.device_get((loss_sum, correct))
        return EvalStats(loss=float(loss_sum) / n, accuracy=int(correct) / n)

    def logits(self, data: DeviceData) -> np.ndarray:
        """Logits for ``data`` as float32 numpy."""
        trainable, non_trainable, _ = self._state()
        n = int(data.images.shape[0])
        chunks = [
            self._forward(trainable, non_trainable, data.images[start : start + EVAL_BATCH])
            for start in range(0, n, EVAL_BATCH)
        ]
        return np.concatenate(jax.device_get(chunks)).astype(np.float32, copy=False)


class JaxFitModel(JaxIO, FitModel):
    """``model.fit`` on JAX (``impls.keras_common.training``), jit-compiled, ``steps_per_execution`` steps
    per call of Keras's train function."""

    def __init__(self, spec: ModelSpec, device: jax.Device, mode: str, steps_per_execution: int) -> None:
        super().__init__(spec, device, mode, jit_compile=True, steps_per_execution=steps_per_execution)
