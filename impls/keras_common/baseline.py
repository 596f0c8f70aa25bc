"""The Keras reference loops of ``nox -s baseline`` that are the same on every backend: the textbook
``model.compile`` + ``model.fit`` loop and the skilled user's ``model.fit``.

``plain_epochs``  the textbook loop, as ``impls.tensorflow.baseline`` runs it for TF's Keras: numpy
                  arrays handed to ``fit``, which shuffles (``keras.utils.set_random_seed(seed)``) and
                  batches them; Keras's defaults kept (``jit_compile="auto"``: XLA on JAX, eager on
                  torch).
``fit_epochs``    the skilled user's ``fit``: the data resident on the device once, each epoch's
                  permutation drawn on the device and the data taken in that order
                  (``keras.ops.take``), ``fit(shuffle=False)``, no metrics, the compile settings of
                  the harness's fit mode (``jit_compile``, ``steps_per_execution``).

Both build the network with the harness's ``KerasNet`` (only to get the same net and load
``weights``) and train with ``keras.optimizers.SGD`` (momentum 0) on the mean softmax cross-entropy.
What differs between backends (the device, putting data on it, drawing a permutation there, waiting
for it) comes in a ``Backend`` from ``impls.keras_jax.baseline`` / ``impls.keras_torch.baseline``.

Keras is imported inside the functions, not here: ``bench.baseline`` imports the backend's module
before the framework class has chosen Keras's backend (``KERAS_BACKEND``, read at Keras's first
import).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.loops import LoopArgs, timed_epochs


@dataclass(frozen=True)
class Backend:
    """What the Keras loops need from a backend."""

    device: Any  # what keras.device and KerasNet take (a jax.Device, or "cpu"/"cuda:0" on torch)
    put: Callable[[np.ndarray, np.ndarray], tuple[Any, Any]]  # NHWC float32, labels -> on the device
    permutations: Callable[[int, int], Iterator[Any]]  # (n, seed) -> each epoch's order, on the device
    sync: Callable[[Any], None]  # wait for the work queued for a keras.Model (and its optimizer)
    to_numpy: Callable[[Any], np.ndarray]  # an order on the device as numpy (tests only)


def nhwc(images: np.ndarray) -> np.ndarray:
    """Canonical N x 1 x 28 x 28 images as the NHWC float32 array Keras's models take."""
    return np.ascontiguousarray(np.transpose(images, (0, 2, 3, 1)), dtype=np.float32)


def _loss() -> Any:
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)  # mean over the batch


def plain_epochs(backend: Backend, args: LoopArgs) -> Iterator[float]:
    """The textbook loop: ``fit`` on numpy arrays, one call per epoch, shuffled by Keras; yield each
    epoch's wall seconds, forever (with ``args.trained``: its ``"weights"`` after each epoch)."""
    import keras

    from impls.keras_common.training import KerasNet

    keras.utils.set_random_seed(args.seed)  # fit's shuffling
    holder = KerasNet(args.spec, backend.device, "plain")  # only to build the same net with the same start
    holder.set_weights(dict(args.weights))
    net = holder.net
    net.compile(optimizer=keras.optimizers.SGD(learning_rate=args.lr), loss=_loss())
    x, y = nhwc(args.images), np.asarray(args.labels, dtype=np.int64)

    def epoch(_: None) -> None:
        with keras.device(backend.device):
            net.fit(x, y, batch_size=args.batch_size, epochs=1, shuffle=True, verbose=0)

    return timed_epochs(
        epoch,
        sync=lambda: backend.sync(net),
        trained=args.trained,
        read=lambda _: {"weights": holder.get_weights()},
    )


def fit_epochs(
    backend: Backend, args: LoopArgs, jit_compile: bool, steps_per_execution: int
) -> Iterator[float]:
    """The skilled ``fit``: resident data taken in each epoch's device-drawn permutation,
    ``fit(shuffle=False)``, no metrics; yield each epoch's wall seconds, forever (with
    ``args.trained``: its ``"weights"`` and ``"order"`` after each epoch, outside the clock)."""
    import keras

    from impls.keras_common.training import KerasNet

    holder = KerasNet(args.spec, backend.device, "fit")  # only to build the same net with the same start
    holder.set_weights(dict(args.weights))
    net = holder.net
    net.compile(
        optimizer=keras.optimizers.SGD(learning_rate=args.lr),
        loss=_loss(),
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    x, y = backend.put(nhwc(args.images), np.asarray(args.labels, dtype=np.int64))
    orders = backend.permutations(args.n, args.seed)

    def epoch(_: None) -> Any:
        with keras.device(backend.device):
            order = next(orders)
            x_epoch, y_epoch = keras.ops.take(x, order, axis=0), keras.ops.take(y, order, axis=0)
            net.fit(x_epoch, y_epoch, batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0)
        return order

    return timed_epochs(
        epoch,
        sync=lambda: backend.sync(net),
        trained=args.trained,
        read=weights_and_order(holder, backend),
    )


def step_start(on: Backend, args: LoopArgs) -> tuple[Any, Any, Any, Any]:
    """The start of the Keras guides' custom loop on any backend: the same net from ``args.weights``
    (``KerasNet``, only to build it), ``keras.optimizers.SGD`` (momentum 0: plain SGD) built on its
    trainable variables, the mean softmax cross-entropy. Returns (holder, net, optimizer, loss)."""
    import keras

    from impls.keras_common.training import KerasNet

    holder = KerasNet(args.spec, on.device, "step")  # only to build the same net with the same start
    holder.set_weights(dict(args.weights))
    with keras.device(on.device):
        optimizer = keras.optimizers.SGD(learning_rate=args.lr)
        optimizer.build(holder.net.trainable_variables)
    return holder, holder.net, optimizer, _loss()


def weights_and_order(holder: Any, backend: Backend) -> Callable[[Any], dict[str, Any]]:
    """What a skilled loop puts in ``trained`` after an epoch that returned its order: the canonical
    weights and the order as numpy."""
    return lambda order: {"weights": holder.get_weights(), "order": backend.to_numpy(order)}
