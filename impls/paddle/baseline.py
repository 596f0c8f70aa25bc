"""A plain idiomatic Paddle training loop (d2l-zh's ``train_ch6`` without its metrics): what our
harness path is compared against for speed by ``nox -s "baseline(framework='paddle')"``.

The data already in device tensors, a new ``paddle.randperm`` each epoch, batches indexed from it,
``net(X)``, ``nn.CrossEntropyLoss()``, ``loss.backward()``, ``optimizer.step()``,
``optimizer.clear_grad()``. No metrics: the least work a loop can do.

paddle is imported inside ``plain_epochs``, not here: ``bench.baseline`` imports this module before
it constructs ``PaddleFramework``, which sets the environment Paddle reads at import.
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
    import paddle
    from paddle import nn

    from impls.paddle import models

    place = "gpu:0" if device == "gpu" else "cpu"
    paddle.set_device(place)
    paddle.seed(seed)
    net = models.BUILDERS[spec.name]()
    models.set_weights(net, spec, weights)
    optimizer = paddle.optimizer.SGD(learning_rate=lr, parameters=net.parameters())
    loss_fn = nn.CrossEntropyLoss()
    x, y = paddle.to_tensor(images, place=place), paddle.to_tensor(labels, place=place)
    n = len(labels)

    def wait() -> None:
        if place != "cpu":
            paddle.device.synchronize(place)

    while True:
        wait()
        start = time.perf_counter()
        perm = paddle.randperm(n)
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            optimizer.clear_grad()
        wait()
        yield time.perf_counter() - start
