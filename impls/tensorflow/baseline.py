"""The plain idiomatic Keras loop: ``model.compile`` + ``model.fit``, the yardstick for our train step.

This is how a Keras user trains without thinking about speed: numpy arrays in, ``fit`` shuffles and
batches them, callbacks and logging machinery included. ``impls.tensorflow`` replaces it with a
GradientTape step on device-resident data; comparing the two shows what that buys (or costs).
Keras's defaults are kept on purpose, e.g. ``jit_compile="auto"`` (no XLA on a CPU-only machine,
XLA on a GPU). Construct ``KerasFramework(threads)`` first so the threading is declared as in a run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf

from bench.specs import ModelSpec
from impls.tensorflow import TF_DEVICES, KerasModel


def plain_epochs(
    spec: ModelSpec,
    weights: dict[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    lr: float,
    seed: int,
    device: str,
) -> Iterator[float]:
    """Train with ``model.fit``, one call per epoch, from canonical ``weights``; yield seconds per epoch.

    ``images`` is the canonical float32 N x 1 x 28 x 28, ``labels`` int64 N; both are handed to
    ``fit`` as NHWC numpy arrays, as a plain user would.
    """
    keras.utils.set_random_seed(seed)  # fit's shuffling
    model = KerasModel(spec, device, mode="function")  # only to build the same net with the same start
    model.set_weights(weights)
    x = np.ascontiguousarray(np.transpose(images, (0, 2, 3, 1)), dtype=np.float32)
    y = np.asarray(labels, dtype=np.int64)
    with tf.device(TF_DEVICES[device]):
        net = model.net
        net.compile(
            optimizer=keras.optimizers.SGD(learning_rate=lr),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        while True:
            start = time.perf_counter()
            net.fit(x, y, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
            tf.test.experimental.sync_devices()  # fit has fetched its logs already; this makes sure
            yield time.perf_counter() - start
