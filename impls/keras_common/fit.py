"""``FitModel``: training with ``model.fit`` (the way most Keras users train) on any backend.

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
from bench.specs import ModelSpec
from impls.keras_common.net import KerasNet

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
