"""A plain MLX training loop as MLX's own MNIST example writes it (``mlx-examples/mnist/main.py``).

The textbook loop, line for line the example's: ``nn.value_and_grad(model, loss_fn)`` of
``nn.losses.cross_entropy(..., reduction="mean")``, ``optim.SGD``, the step under
``partial(mx.compile, inputs=model.state, outputs=model.state)``, a new ``np.random`` permutation
per epoch uploaded as an ``mx.array`` and sliced per batch (``X[ids]``), ``mx.eval(model.state)``
after each step. No metrics. The skilled loops (``SKILLED``) are the same arithmetic written for
each of our modes, without our epoch statistics.

mlx is imported inside the functions, not here: ``bench.baseline`` imports this module before it
constructs ``MlxFramework``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from bench.specs import ModelSpec


def _resident(images: np.ndarray, labels: np.ndarray):
    import mlx.core as mx

    x = mx.array(np.ascontiguousarray(images.transpose(0, 2, 3, 1)))  # NHWC
    y = mx.array(labels.astype(np.int32))
    mx.eval(x, y)
    return x, y


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
    from functools import partial

    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim

    from impls.mlx.models import build_module, load_canonical

    mx.set_default_device(mx.cpu)
    model = build_module(spec)
    load_canonical(model, spec, weights)
    optimizer = optim.SGD(learning_rate=lr)

    def loss_fn(model, X, y):
        return nn.losses.cross_entropy(model(X), y, reduction="mean")

    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)

    @partial(mx.compile, inputs=model.state, outputs=model.state)
    def step(X, y):
        loss, grads = loss_and_grad_fn(model, X, y)
        optimizer.update(model, grads)
        return loss

    train_images, train_labels = _resident(images, labels)
    rng = np.random.RandomState(seed)  # the example seeds np.random; a local one leaves others alone

    def batch_iterate(batch_size, X, y):
        perm = mx.array(rng.permutation(y.size))
        for s in range(0, y.size, batch_size):
            ids = perm[s : s + batch_size]
            yield X[ids], y[ids]

    while True:
        mx.eval(model.state)
        start = time.perf_counter()
        for X, y in batch_iterate(batch_size, train_images, train_labels):
            step(X, y)
            mx.eval(model.state)
        mx.synchronize()
        yield time.perf_counter() - start


SKILLED: dict[str, str] = {
    "eager": "nn.value_and_grad of the mean cross-entropy, optim.SGD's update, mx.eval(model.parameters(), "
    "optimizer.state) after each step; data resident, the epoch's permutation uploaded once and each batch "
    "gathered from it",
    "compile": "the same step under partial(mx.compile, inputs=state, outputs=state) with state = "
    "[model.state, optimizer.state], mx.eval(state) after each step",
}


def skilled_epochs(
    spec: ModelSpec,
    weights: dict[str, np.ndarray],
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    lr: float,
    seed: int,
    device: str,
    mode: str,
    trained: dict[str, np.ndarray] | None = None,
) -> Iterator[float]:
    """Train from ``weights`` with the loop a skilled MLX user writes for ``mode`` (``SKILLED``); yield
    the wall seconds of each epoch, forever. ``trained``, when given, receives the canonical
    ``weights`` and the epoch's ``order`` after each epoch, off the clock (for tests)."""
    if mode not in SKILLED:
        raise ValueError(f"no skilled mlx loop for mode {mode!r}; choose one of: {', '.join(SKILLED)}")
    from functools import partial

    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim

    from impls.mlx.models import build_module, canonical_weights, load_canonical

    mx.set_default_device(mx.cpu)
    model = build_module(spec)
    load_canonical(model, spec, weights)
    optimizer = optim.SGD(learning_rate=lr)
    optimizer.init(model.trainable_parameters())

    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, optimizer.state]

    def step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        return loss

    if mode == "compile":
        step = partial(mx.compile, inputs=state, outputs=state)(step)
    x_all, y_all = _resident(images, labels)
    n = len(labels)
    rng = np.random.default_rng(seed)
    while True:
        mx.eval(state)
        start = time.perf_counter()
        order = rng.permutation(n)
        perm = mx.array(order.astype(np.int32))
        for i in range(0, n, batch_size):
            index = perm[i : i + batch_size]
            step(x_all[index], y_all[index])
            mx.eval(state)
        mx.synchronize()
        seconds = time.perf_counter() - start
        if trained is not None:
            trained.update(weights=canonical_weights(model, spec), order=order)
        yield seconds
