"""A plain idiomatic Flax NNX training loop: what our harness path is compared against for speed.

Written the way Flax's MNIST tutorial does it, with the data already in device arrays: an
``nnx.Optimizer`` over the model's ``nnx.Param``s with ``optax.sgd``, a train step decorated with
``nnx.jit`` that takes the model and the optimizer (NNX's reference semantics: the step updates
them in place), ``nnx.value_and_grad`` of the mean softmax cross-entropy, a new permutation from
``jax.random`` each epoch and batches indexed from it. No metrics: the least work a loop can do.

jax is imported inside ``plain_epochs``, not here: ``bench.baseline`` imports this module before it
constructs ``FlaxFramework``, which must set XLA's environment before jax starts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from bench.specs import ModelSpec


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
    """Train from ``weights`` with a textbook loop; yield the wall seconds of each epoch, forever."""
    import jax
    import optax
    from flax import nnx

    from impls.jax.nnx_models import FlaxModel

    def loss_fn(model, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()

    @nnx.jit
    def train_step(model, optimizer, x, y):
        loss, grads = nnx.value_and_grad(loss_fn)(model, x, y)
        optimizer.update(model, grads)
        return loss

    dev = jax.devices("gpu" if device == "gpu" else "cpu")[0]
    holder = FlaxModel(spec, dev, "jit")  # only to build the same nnx.Module and load the weights
    holder.set_weights(weights)
    model = nnx.merge(holder.graphdef, holder.params)
    optimizer = nnx.Optimizer(model, optax.sgd(lr), wrt=nnx.Param)
    x = jax.device_put(np.ascontiguousarray(images.transpose(0, 2, 3, 1)), dev)  # NHWC
    y = jax.device_put(labels.astype(np.int32), dev)
    key = jax.random.key(seed)
    n = len(labels)
    while True:
        jax.block_until_ready(nnx.state(model))
        start = time.perf_counter()
        # The device scope is left before the yield: a scope held across a yield would also apply
        # to the caller (jax.default_device is thread-local configuration).
        with jax.default_device(dev):
            key, subkey = jax.random.split(key)
            perm = jax.random.permutation(subkey, n)
            for i in range(0, n, batch_size):
                idx = perm[i : i + batch_size]
                train_step(model, optimizer, x[idx], y[idx])
        jax.block_until_ready(nnx.state(model))
        yield time.perf_counter() - start
