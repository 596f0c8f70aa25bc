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

from collections.abc import Iterator

import numpy as np

from bench.loops import LoopArgs, skilled_loop, timed_epochs


def _resident(images: np.ndarray, labels: np.ndarray):
    import mlx.core as mx

    x = mx.array(np.ascontiguousarray(images.transpose(0, 2, 3, 1)))  # NHWC
    y = mx.array(labels.astype(np.int32))
    mx.eval(x, y)
    return x, y


def plain_epochs(args: LoopArgs) -> Iterator[float]:
    """Train from ``args.weights`` with a textbook loop; yield the wall seconds of each epoch, forever."""
    from functools import partial

    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim

    from impls.mlx.models import build_module, canonical_weights, load_canonical

    mx.set_default_device(mx.cpu)
    model = build_module(args.spec)
    load_canonical(model, args.spec, dict(args.weights))
    optimizer = optim.SGD(learning_rate=args.lr)

    def loss_fn(model, X, y):
        return nn.losses.cross_entropy(model(X), y, reduction="mean")

    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)

    @partial(mx.compile, inputs=model.state, outputs=model.state)
    def step(X, y):
        loss, grads = loss_and_grad_fn(model, X, y)
        optimizer.update(model, grads)
        return loss

    train_images, train_labels = _resident(args.images, args.labels)
    rng = np.random.RandomState(args.seed)  # the example seeds np.random; a local one leaves others alone

    def batch_iterate(batch_size, X, y):
        perm = mx.array(rng.permutation(y.size))
        for s in range(0, y.size, batch_size):
            ids = perm[s : s + batch_size]
            yield X[ids], y[ids]

    def epoch(_: None) -> None:
        for X, y in batch_iterate(args.batch_size, train_images, train_labels):
            step(X, y)
            mx.eval(model.state)

    def sync() -> None:
        mx.eval(model.state)
        mx.synchronize()

    return timed_epochs(
        epoch,
        sync=sync,
        trained=args.trained,
        read=lambda _: {"weights": canonical_weights(model, args.spec)},
    )


SKILLED: dict[str, str] = {
    "eager": "nn.value_and_grad of the mean cross-entropy, optim.SGD's update, mx.eval(model.parameters(), "
    "optimizer.state) after each step; data resident, the epoch's permutation uploaded once and each batch "
    "gathered from it",
    "compile": "the same step under partial(mx.compile, inputs=state, outputs=state) with state = "
    "[model.state, optimizer.state], mx.eval(state) after each step",
}


@skilled_loop("mlx", SKILLED)
def skilled_epochs(args: LoopArgs) -> Iterator[float]:
    """Train from ``args.weights`` with the loop a skilled MLX user writes for ``args.mode``
    (``SKILLED``); yield the wall seconds of each epoch, forever."""
    from functools import partial

    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim

    from impls.mlx.models import build_module, canonical_weights, load_canonical

    mx.set_default_device(mx.cpu)
    model = build_module(args.spec)
    load_canonical(model, args.spec, dict(args.weights))
    optimizer = optim.SGD(learning_rate=args.lr)
    optimizer.init(model.trainable_parameters())

    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, optimizer.state]

    def step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        return loss

    if args.mode == "compile":
        step = partial(mx.compile, inputs=state, outputs=state)(step)
    x_all, y_all = _resident(args.images, args.labels)
    rng = np.random.default_rng(args.seed)

    def epoch(_: None) -> np.ndarray:
        order = rng.permutation(args.n)  # on the clock, as an MLX user draws it
        perm = mx.array(order.astype(np.int32))
        for i in range(0, args.n, args.batch_size):
            index = perm[i : i + args.batch_size]
            step(x_all[index], y_all[index])
            mx.eval(state)
        return order

    def sync() -> None:
        mx.eval(state)
        mx.synchronize()

    def read(order: np.ndarray) -> dict:
        return {"weights": canonical_weights(model, args.spec), "order": order}

    return timed_epochs(epoch, sync=sync, trained=args.trained, read=read)
