"""The Keras training code every Keras backend shares: ``KerasNet`` (one ``keras.Sequential`` network
built on a device, its weights exchanged in the canonical layout) and ``FitModel`` (training with
``model.fit``, the way most Keras users train).

Keras keeps HWIO conv kernels, in x out dense kernels and an H*W*C flatten on every backend (the
layout is Keras's, not the backend's), so ``bench.layouts`` translates for all of them, as for
``impls.tensorflow``. Imported after :func:`impls.keras_common.import_keras` chose the backend.

``FitModel``:

``compile`` gets plain SGD, the mean softmax cross-entropy on logits and the accuracy metric; each
``train_epoch`` is one ``model.fit(x, y, batch_size, epochs=1, shuffle=False)`` over the data set
gathered on the device in the harness's order (one ``keras.ops.take``, timed with the epoch), so
Keras's own array adapter cuts the harness's batches ``order[i:i + batch_size]`` in that order, the
short last batch kept. The epoch's loss and accuracy are the ones ``fit`` reports (its loss tracker
weights each batch's mean loss by the batch size: the mean over the epoch's examples). Evaluation and
logits use ``model.evaluate`` / ``model.predict``, compiled the same way.

A backend subclass provides ``put``, ``sync`` and ``_device_order`` (the order as an index tensor on
the device).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from bench.contract import EVAL_BATCH, EpochStats, EvalStats
from bench.layouts import flatten_shapes, from_channels_last, to_channels_last
from bench.specs import ModelSpec
from impls.keras_common.models import BUILDERS


class KerasNet:
    """The network of ``spec``, its variables created on ``device`` (anything ``keras.device`` takes:
    a ``jax.Device``, or a torch device string such as ``"cpu"``/``"cuda:0"``)."""

    def __init__(self, spec: ModelSpec, device: Any, mode: str) -> None:
        self.spec = spec
        self.device = device
        self.mode = mode
        self.flatten = flatten_shapes(spec)
        with keras.device(device):
            self.net = BUILDERS[spec.name]()

    def _layers(self) -> dict[str, Any]:
        return {layer.name: self.net.get_layer(layer.name) for layer in self.spec.layers}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load canonical-layout weights into the Keras variables."""
        for name, layer in self._layers().items():
            canonical = np.asarray(weights[f"{name}.weight"], dtype=np.float32)
            kernel = to_channels_last(canonical, self.flatten.get(name))
            layer.kernel.assign(np.ascontiguousarray(kernel))
            layer.bias.assign(np.asarray(weights[f"{name}.bias"], dtype=np.float32))

    def get_weights(self) -> dict[str, np.ndarray]:
        """Return the Keras variables in the canonical layout."""
        weights = {}
        for name, layer in self._layers().items():
            kernel = keras.ops.convert_to_numpy(layer.kernel.value)
            kernel = from_channels_last(np.asarray(kernel), self.flatten.get(name))
            weights[f"{name}.weight"] = np.ascontiguousarray(kernel, dtype=np.float32)
            weights[f"{name}.bias"] = np.array(keras.ops.convert_to_numpy(layer.bias.value), np.float32)
        return weights


LOSS = "keras.losses.SparseCategoricalCrossentropy(from_logits=True) (mean over the batch)"


def fit_description(jit_compile: bool, steps_per_execution: int, compiled: str) -> str:
    """What a fit mode runs, for settings()."""
    return (
        "model.fit(epochs=1, shuffle=False) per epoch over the data gathered in the harness's order; "
        f"compile(optimizer=keras.optimizers.SGD, loss={LOSS}, metrics=[accuracy], "
        f"jit_compile={jit_compile}, steps_per_execution={steps_per_execution}): {compiled}; "
        "evaluation through model.evaluate/model.predict"
    )


class FitModel(KerasNet):
    """A Keras network trained by ``model.fit`` (see the module docstring)."""

    def __init__(
        self, spec: ModelSpec, device: Any, mode: str, jit_compile: bool, steps_per_execution: int
    ) -> None:
        super().__init__(spec, device, mode)
        self.jit_compile = jit_compile
        self.steps_per_execution = steps_per_execution
        self.net.compile(
            optimizer=keras.optimizers.SGD(learning_rate=float(spec.lr)),  # momentum 0: plain SGD
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution,
        )

    # -- backend-specific ---------------------------------------------------------------------

    def put(self, images: np.ndarray, labels: np.ndarray) -> Any:
        raise NotImplementedError

    def sync(self) -> None:
        raise NotImplementedError

    def _device_order(self, order: np.ndarray) -> Any:
        raise NotImplementedError

    # -- the contract ---------------------------------------------------------------------------

    def train_epoch(self, data: Any, order: np.ndarray, batch_size: int, lr: float) -> EpochStats:
        """One ``model.fit`` epoch over the batches ``order[i:i + batch_size]``, in that order."""
        images, labels = data
        self.net.optimizer.learning_rate = float(lr)  # assigns the optimizer's lr variable
        with keras.device(self.device):
            index = self._device_order(order)
            x, y = keras.ops.take(images, index, axis=0), keras.ops.take(labels, index, axis=0)
            history = self.net.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        logs = history.history
        return EpochStats(loss=float(logs["loss"][-1]), accuracy=float(logs["accuracy"][-1]))

    def evaluate(self, data: Any) -> EvalStats:
        """Mean loss and accuracy over ``data``, by ``model.evaluate``."""
        images, labels = data
        with keras.device(self.device):
            logs = self.net.evaluate(images, labels, batch_size=EVAL_BATCH, verbose=0, return_dict=True)
        return EvalStats(loss=float(logs["loss"]), accuracy=float(logs["accuracy"]))

    def logits(self, data: Any) -> np.ndarray:
        """Logits for ``data`` as float32 numpy, by ``model.predict``."""
        images, _ = data
        with keras.device(self.device):
            out = self.net.predict(images, batch_size=EVAL_BATCH, verbose=0)
        return np.asarray(out, dtype=np.float32)
